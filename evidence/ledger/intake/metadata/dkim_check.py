"""DKIM verification that a court can repeat without network access.

A DKIM signature is checked against a public key published in DNS at
``<selector>._domainkey.<domain>``. DNS changes: keys are rotated and old selectors
removed, so a lookup years later may find nothing. We therefore verify *offline* by
default, against key records supplied with the evidence (``dns_records``, e.g. captured
when the message was preserved), and record the exact key record used so the result can be
re-checked later. A live DNS lookup happens only when the caller explicitly allows it.

Without a key record the result is ``key-unavailable``, never ``fail``: absence of the key
says nothing about the message.

Schema of the ``"dkim"`` section::

    {"result": "pass" | "fail" | "key-unavailable" | "none",   # best over all signatures
     "signatures": [
       {"result": "pass" | "fail" | "key-unavailable",
        "domain": str | null, "selector": str | null, "algorithm": str | null,
        "signed_headers": [str], "body_length_limit": int | null,
        "signed_at": RFC 3339 UTC | null,                      # t= (the signer's claim)
        "key_name": "sel._domainkey.example.com" | null,
        "key_source": "supplied" | "dns" | null,
        "key_record": str | null, "key_record_sha256": hex | null,
        "reason": str}]}
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from typing import Any

_ORDER = ["pass", "fail", "key-unavailable"]
_SIG_HEADER = re.compile(rb"^dkim-signature\s*:", re.IGNORECASE)
MAX_SIGNATURES = 10


def normalise_dns_name(name: str | bytes) -> str:
    if isinstance(name, bytes):
        name = name.decode("ascii", errors="replace")
    return name.strip().rstrip(".").lower()


def _record_text(value: str | bytes) -> bytes:
    """A TXT record as supplied: raw, or as zone-file quoted strings (``"v=DKIM1; " "p=.."``)."""
    data = value.encode() if isinstance(value, str) else bytes(value)
    data = data.strip()
    if data.startswith(b'"'):
        data = b"".join(re.findall(rb'"((?:[^"\\]|\\.)*)"', data))
    return data


class _Resolver:
    """The dnsfunc handed to dkimpy: supplied records first, live DNS only if allowed."""

    def __init__(self, records: Mapping[str, str | bytes] | None, allow_dns: bool) -> None:
        self.records = {normalise_dns_name(k): _record_text(v) for k, v in (records or {}).items()}
        self.allow_dns = allow_dns
        self.last: tuple[str, str | None, bytes | None] | None = None  # name, source, record
        self.dns_error: str | None = None

    def __call__(self, name: bytes | str, timeout: int = 5) -> bytes | None:
        key = normalise_dns_name(name)
        if key in self.records:
            self.last = (key, "supplied", self.records[key])
            return self.records[key]
        if not self.allow_dns:
            self.last = (key, None, None)
            return None
        from dkim import dnsplug

        try:
            found = dnsplug.get_txt(key + ".", timeout=timeout)
        except Exception as e:  # dkim.DnsTimeoutError and resolver failures
            self.dns_error = f"DNS lookup of {key} failed: {e}"
            found = None
        self.last = (key, "dns" if found else None, found or None)
        return found or None


class _Log:
    """Collects dkimpy's log lines: they carry the reason a verification returned False."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def debug(self, *args: Any, **kw: Any) -> None:
        pass

    info = debug

    def warning(self, msg: Any, *args: Any, **kw: Any) -> None:
        self.lines.append(str(msg % args if args else msg))

    error = warning


def _tags(header_value: bytes) -> dict[str, str]:
    out = {}
    for item in header_value.split(b";"):
        if b"=" in item:
            k, _, v = item.partition(b"=")
            out[k.strip().decode("ascii", "replace")] = re.sub(
                r"\s+", "", v.decode("ascii", "replace")
            )
    return out


def verify_dkim(
    message: bytes,
    *,
    dns_records: Mapping[str, str | bytes] | None = None,
    allow_dns: bool = False,
) -> dict[str, Any]:
    """Verify every DKIM-Signature of ``message`` (raw bytes, exactly as preserved)."""
    import dkim

    headers = _signature_headers(message)
    sigs = []
    for idx, value in enumerate(headers[:MAX_SIGNATURES]):
        tags = _tags(value)
        resolver = _Resolver(dns_records, allow_dns)
        log = _Log()
        d = dkim.DKIM(message, logger=log, minkey=1024)
        reason = ""
        try:
            ok = bool(d.verify(idx=idx, dnsfunc=resolver))
        except dkim.DKIMException as e:
            ok, reason = False, str(e)
        except Exception as e:  # dkimpy can raise plain errors on hostile input
            ok, reason = False, f"{type(e).__name__}: {e}"
        key_name, source, record = resolver.last or (None, None, None)
        if ok:
            result, reason = "pass", "signature verifies with the key record shown"
        elif record is None and key_name is not None:
            result = "key-unavailable"
            if resolver.dns_error:
                reason = resolver.dns_error
            elif allow_dns:
                reason = f"no key record for {key_name} was supplied or found in DNS"
            else:
                reason = f"no key record for {key_name} was supplied (DNS lookups not allowed)"
        else:
            result = "fail"
            reason = reason or "; ".join(log.lines) or "signature does not verify"
        sigs.append(_describe(tags, result, reason, key_name, source, record))
    best = min((s["result"] for s in sigs), key=_ORDER.index, default="none")
    return {"result": best, "signatures": sigs}


def _signature_headers(message: bytes) -> list[bytes]:
    """The raw values of the DKIM-Signature header fields (unfolded), in order."""
    head = re.split(rb"\r?\n\r?\n", message, maxsplit=1)[0]
    fields: list[bytes] = []
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        else:
            fields.append(line)
    return [f.split(b":", 1)[1] for f in fields if _SIG_HEADER.match(f)]


def _describe(tags: dict[str, str], result: str, reason: str, key_name: str | None,
              source: str | None, record: bytes | None) -> dict[str, Any]:
    signed_at = None
    if tags.get("t", "").isdigit() and len(tags["t"]) <= 12:
        signed_at = dt.datetime.fromtimestamp(int(tags["t"]), dt.UTC).isoformat()
    limit = tags.get("l")
    return {
        "result": result,
        "domain": tags.get("d"),
        "selector": tags.get("s"),
        "algorithm": tags.get("a"),
        "signed_headers": [h.lower() for h in tags.get("h", "").split(":") if h][:100],
        "body_length_limit": int(limit) if limit and limit.isdigit() else None,
        "signed_at": signed_at,
        "key_name": key_name,
        "key_source": source,
        "key_record": record.decode("ascii", "replace") if record else None,
        "key_record_sha256": hashlib.sha256(record).hexdigest() if record else None,
        "reason": reason[:1000],
    }
