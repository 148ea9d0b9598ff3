"""E-mail messages (``.eml``, RFC 5322): headers, attachments and DKIM.

Schema of the ``"email"`` section::

    {"from": [Address], "to": [Address], "cc": [Address], "reply_to": [Address],
     "sender": [Address],
     "date": RFC 3339 | null, "date_raw": str | null,
     "message_id": str | null, "in_reply_to": str | null, "subject": str | null,
     "received_count": int,
     "attachments": [{"filename": str | null, "media_type": str, "size": int | null,
                      "sha256": hex | null}],
     "defects": [str],                 # what the parser had to repair, e.g. bad headers
     "dkim": DKIM section (see .dkim_check)}
    Address = {"name": str | null, "address": str}

The message is parsed exactly as preserved; nothing is normalised before DKIM sees it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, cast

from evidence.ledger.intake.metadata.dkim_check import verify_dkim
from evidence.ledger.intake.metadata.errors import MetadataError
from evidence.ledger.intake.metadata.timefmt import clean_text

MAX_MESSAGE_BYTES = 256 * 1024 * 1024
MAX_ATTACHMENTS = 1000
_HEADERS_THAT_MAKE_A_MESSAGE = ("from", "date", "message-id", "to", "subject", "received")


def extract_email(
    path: Path, *, dns_records: Mapping[str, str | bytes] | None = None, allow_dns: bool = False
) -> dict[str, Any]:
    """Describe one ``.eml`` file. Raises :class:`MetadataError` if it is not a message."""
    try:
        size = path.stat().st_size
        if size > MAX_MESSAGE_BYTES:
            raise MetadataError.for_file(
                path.name, f"message is {size} bytes, over the {MAX_MESSAGE_BYTES}-byte limit"
            )
        raw = path.read_bytes()
    except OSError as e:
        raise MetadataError.for_file(path.name, f"cannot be read: {e.strerror or e}") from None
    if b"\x00" in raw[:65536]:
        raise MetadataError.for_file(path.name, "is binary, not an RFC 5322 e-mail message")
    msg = cast(EmailMessage, BytesParser(policy=policy.default).parsebytes(raw))
    present = {k.lower() for k in msg}
    if not present.intersection(_HEADERS_THAT_MAKE_A_MESSAGE):
        raise MetadataError.for_file(
            path.name, "no e-mail headers found (From, Date, Message-ID...): not an .eml message"
        )
    section: dict[str, Any] = {
        "from": _addresses(msg, "from"),
        "to": _addresses(msg, "to"),
        "cc": _addresses(msg, "cc"),
        "reply_to": _addresses(msg, "reply-to"),
        "sender": _addresses(msg, "sender"),
        **_date(msg),
        "message_id": _header_text(msg, "message-id"),
        "in_reply_to": _header_text(msg, "in-reply-to"),
        "subject": _header_text(msg, "subject"),
        "received_count": len(msg.get_all("received") or []),
        "attachments": _attachments(msg),
        "defects": _defects(msg),
        "dkim": verify_dkim(raw, dns_records=dns_records, allow_dns=allow_dns),
    }
    return section


def _header_text(msg: EmailMessage, name: str) -> str | None:
    try:
        value = msg.get(name)
    except Exception:  # the header parser has edge cases that raise; fall back to raw
        value = _raw_header(msg, name)
    return clean_text(str(value), 2000) if value is not None else None


def _raw_header(msg: EmailMessage, name: str) -> str | None:
    for key, value in msg.raw_items():
        if key.lower() == name:
            return str(value)
    return None


def _addresses(msg: EmailMessage, name: str) -> list[dict[str, Any]]:
    try:
        headers = msg.get_all(name) or []
        out = []
        for header in headers:
            for addr in getattr(header, "addresses", ()):
                out.append({"name": clean_text(addr.display_name, 500),
                            "address": clean_text(addr.addr_spec, 500) or ""})
        return out[:500]
    except Exception:
        raw = _raw_header(msg, name)
        return [{"name": None, "address": clean_text(raw, 500) or ""}] if raw else []


def _date(msg: EmailMessage) -> dict[str, Any]:
    raw = _raw_header(msg, "date")
    parsed = None
    try:
        header = msg.get("date")
        when = getattr(header, "datetime", None)
        if when is not None and when.tzinfo is not None:
            parsed = when.isoformat()
    except Exception:
        parsed = None
    return {"date": parsed, "date_raw": clean_text(raw, 200)}


def _attachments(msg: EmailMessage) -> list[dict[str, Any]]:
    out = []
    for part in msg.walk():
        if part.is_multipart() or len(out) >= MAX_ATTACHMENTS:
            continue
        try:
            filename = part.get_filename()
            disposition = part.get_content_disposition()
        except Exception:
            filename, disposition = None, None
        if disposition != "attachment" and filename is None:
            continue
        try:
            payload = part.get_payload(decode=True)
        except Exception:
            payload = None
        out.append({
            "filename": clean_text(filename, 500),
            "media_type": part.get_content_type(),
            "size": len(payload) if isinstance(payload, bytes) else None,
            "sha256": hashlib.sha256(payload).hexdigest() if isinstance(payload, bytes) else None,
        })
    return out


def _defects(msg: EmailMessage) -> list[str]:
    found: list[str] = []
    for part in msg.walk():
        for defect in getattr(part, "defects", []):
            found.append(type(defect).__name__)
    return sorted(set(found))[:50]
