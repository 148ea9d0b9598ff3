"""Ask an RFC 3161 time-stamping authority for a token over HTTP (RFC 3161 section 3.4).

Transport only: build the query and read the reply with :mod:`evidence.verify.timestamp`, POST it
with the stdlib (no HTTP library to trust or pin), and hand back the token exactly as received.
Whether the token proves anything is decided by :func:`evidence.verify.timestamp.verify_timestamp`,
which :func:`request_timestamp` runs when given trust anchors.

A TSA is an untrusted network peer: only http(s) URLs, a connect/read timeout *and* an overall
deadline (a server that trickles one byte a second would otherwise hold us forever), and a cap on
the reply size (a token is a few KiB; the default cap is 256 KiB).
"""

from __future__ import annotations

import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from evidence.ledger.errors import LedgerError
from evidence.verify import der
from evidence.verify.timestamp import (
    IMPRINT_ALGORITHMS,
    TimestampVerdict,
    build_request,
    parse_response,
    token_certificates,
    verify_timestamp,
    verify_timestamp_digest,
)

__all__ = [
    "DEFAULT_MAX_REPLY_BYTES",
    "DEFAULT_TIMEOUT_S",
    "TsaClientError",
    "TsaHttpError",
    "TsaReplyTooLarge",
    "TsaTimeout",
    "TsaToken",
    "request_timestamp",
    "request_timestamp_digest",
]

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPES = ("application/timestamp-reply", "application/timestamp-response")  # 2nd: legacy
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_REPLY_BYTES = 256 * 1024
_CHUNK = 16 * 1024


class TsaClientError(LedgerError):
    """The TSA could not be asked, or did not answer with a time-stamp reply."""


class TsaTimeout(TsaClientError):
    """No complete answer within the time allowed."""


class TsaHttpError(TsaClientError):
    """The TSA answered, but not with HTTP 200 and a timestamp-reply body."""


class TsaReplyTooLarge(TsaClientError):
    """The reply exceeded the size cap: not a time-stamp reply, whatever it is."""


@dataclass(frozen=True)
class TsaToken:
    """A token as received from `url`. Archive `token` byte for byte; `certificates` are the
    DER certificates it carries (TSA certificate and chain) for bundles and reports."""

    url: str
    token: bytes
    nonce: int
    certificates: tuple[bytes, ...]
    verdict: TimestampVerdict | None  # set when request_timestamp was given trust anchors


def request_timestamp(
    url: str,
    message: bytes,
    *,
    trusted_ca_pems: list[bytes] | None = None,
    policy_oid: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
) -> TsaToken:
    """Time-stamp SHA-256(`message`) at the TSA `url`.

    Raises :class:`TsaClientError` for transport failures, and the
    :class:`~evidence.verify.timestamp.TimestampError` subclasses for a reply that is refused
    (not granted), malformed or, when `trusted_ca_pems` is given, does not verify.
    """
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise TsaClientError(f"TSA URL must be http or https, not {scheme or 'relative'}: {url}")
    query = build_request(message)
    body = _post(url, query.der, timeout=timeout, max_reply_bytes=max_reply_bytes)
    token = parse_response(body)
    verdict = None
    if trusted_ca_pems is not None:
        verdict = verify_timestamp(token, message, trusted_ca_pems, policy_oid=policy_oid,
                                   nonce=query.nonce)
    return TsaToken(url=url, token=token, nonce=query.nonce,
                    certificates=tuple(token_certificates(token)), verdict=verdict)


def request_timestamp_digest(
    url: str,
    hash_oid: str,
    digest: bytes,
    *,
    trusted_ca_pems: list[bytes],
    policy_oid: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
) -> TsaToken:
    """Time-stamp `digest` itself (already a hash under `hash_oid`: an RFC 4998 hash-tree root),
    and verify the token against `trusted_ca_pems` with the request's nonce pinned (and its
    policy, when `policy_oid` is given, as :func:`request_timestamp` does)."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise TsaClientError(f"TSA URL must be http or https, not {scheme or 'relative'}: {url}")
    if hash_oid not in IMPRINT_ALGORITHMS:
        raise ValueError(f"not a SHA-2 imprint algorithm: {hash_oid}")
    nonce = secrets.randbits(63) | 1  # positive, never zero
    query = _digest_query(hash_oid, digest, nonce)
    token = parse_response(_post(url, query, timeout=timeout, max_reply_bytes=max_reply_bytes))
    verdict = verify_timestamp_digest(token, hash_oid, digest, trusted_ca_pems,
                                      policy_oid=policy_oid, nonce=nonce)
    return TsaToken(url=url, token=token, nonce=nonce,
                    certificates=tuple(token_certificates(token)), verdict=verdict)


def _digest_query(hash_oid: str, digest: bytes, nonce: int) -> bytes:
    """TimeStampReq { v1, MessageImprint { AlgorithmIdentifier, digest }, nonce, certReq TRUE }
    (RFC 3161 section 2.4.1), written directly because the imprint is given, not computed."""
    arcs = [int(a) for a in hash_oid.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.append(0x80 | (arc & 0x7F))
        body += bytes(reversed(chunk))
    algorithm = der.encode_tlv(0x30, der.encode_tlv(0x06, bytes(body)))
    imprint = der.encode_tlv(0x30, algorithm + der.encode_tlv(0x04, digest))
    nonce_der = der.encode_tlv(0x02, nonce.to_bytes(nonce.bit_length() // 8 + 1, "big"))
    return der.encode_tlv(0x30, b"\x02\x01\x01" + imprint + nonce_der + b"\x01\x01\xff")


def _post(url: str, payload: bytes, *, timeout: float, max_reply_bytes: int) -> bytes:
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(
        url, data=payload, method="POST",
        headers={"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPES[0]},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            ctype = resp.headers.get_content_type()
            if resp.status != 200 or ctype not in REPLY_TYPES:
                raise TsaHttpError(f"{url} answered HTTP {resp.status} {ctype}, "
                                   f"not 200 {REPLY_TYPES[0]}")
            declared = resp.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > max_reply_bytes:
                raise TsaReplyTooLarge(f"{url} announced {declared} bytes "
                                       f"(cap {max_reply_bytes})")
            chunks: list[bytes] = []
            size = 0
            while True:
                if time.monotonic() > deadline:
                    raise TsaTimeout(f"{url} did not finish its reply within {timeout} s")
                chunk = resp.read(min(_CHUNK, max_reply_bytes + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > max_reply_bytes:
                    raise TsaReplyTooLarge(f"{url} sent more than {max_reply_bytes} bytes")
            return b"".join(chunks)
    except urllib.error.HTTPError as exc:
        raise TsaHttpError(f"{url} answered HTTP {exc.code} {exc.reason}") from exc
    except TimeoutError as exc:
        raise TsaTimeout(f"{url} did not answer within {timeout} s") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise TsaTimeout(f"{url} did not answer within {timeout} s") from exc
        raise TsaClientError(f"cannot reach {url}: {exc.reason}") from exc
    except OSError as exc:
        raise TsaClientError(f"cannot reach {url}: {exc}") from exc
