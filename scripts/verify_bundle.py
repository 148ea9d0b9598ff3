#!/usr/bin/env python3
"""Check an evidence bundle (``evidence-bundle/v1``) offline, trusting only the keys you pin.

    python verify_bundle.py BUNDLE.zip --log-key VKEY [--witness-key VKEY ...]
        [--witness-quorum N] [--tsa-ca ROOT.pem ...] [--no-timestamps] [--json]

This is a second, independent implementation of ``evidence verify``, written for a court or
an auditor who does not want to trust the operator's software: one file, readable in an
hour, that imports nothing from the ``evidence`` package. It needs Python 3.11+ and
``cryptography``; RFC 3161 timestamp tokens are checked with ``rfc3161-client`` when it is
installed (without it the ``timestamps`` check fails, saying the tokens were *not checked*;
``--no-timestamps`` makes that check optional). It reads the ZIP in place: nothing is
extracted, written or fetched from the network.

It runs the same named checks as ``evidence verify`` and reaches the same verdict on the
same inputs (the project's tests hold the two together): archive, manifest, checkpoint,
cosignatures, entries, inclusion, chain, submission, submitter, custody, files, metadata,
timestamps. A check that cannot run because an earlier one failed is not reported. Exit
status: 0 only when every required check passed; 1 when one failed; 2 for a usage error.

The rules it checks (see docs/bundle.md and docs/formats.md in the project):

* hashes are SHA-256; Merkle leaf = SHA-256(0x00 || entry bytes), node = SHA-256(0x01 ||
  left || right), inclusion proofs as RFC 9162 section 2.1.3;
* an entry is the canonical JSON of {"v","seq","time","prev","type","body"} (sorted keys,
  no spaces, UTF-8, no floats, ASCII keys, integers within +/-(2^53-1)); ``prev`` is the
  leaf hash of the entry before it;
* the checkpoint is a C2SP tlog-checkpoint in a C2SP signed note (Ed25519), witness
  cosignatures are C2SP tlog-cosignature/v1;
* the metadata commitment is SHA-256(salt || RFC 8785 JCS(metadata)).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import itertools
import json
import re
import stat
import struct
import sys
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID

try:  # optional: without it, timestamp tokens are reported as not checked
    import rfc3161_client
except ImportError:  # pragma: no cover - exercised by running without the package
    rfc3161_client = None


class Fail(Exception):
    """Something presented as proof is not; the message says what."""


class Untrusted(Fail):
    """A timestamp whose TSA does not chain to a pinned root (valid at genTime): skipped,
    not a sign of tampering (a court may pin only some of the TSAs)."""


# ==== 1. hashes and the Merkle tree (RFC 9162) ============================================

def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash(entry_bytes: bytes) -> bytes:
    return sha256(b"\x00" + entry_bytes)


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def hash_from_hex(text: Any, what: str) -> bytes:
    if not isinstance(text, str) or len(text) != 64:
        raise Fail(f"{what} must be 64 hex digits")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise Fail(f"{what} is not hexadecimal") from None


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.3.2, written out as the RFC states it."""
    if not 0 <= index < size <= 2**64 - 1:
        raise Fail(f"leaf index {index} is outside a tree of size {size}")
    # the proof length is fixed by the tree shape: a longer or shorter proof is refused
    inner = (index ^ (size - 1)).bit_length()
    want = inner + (index >> inner).bit_count()
    if len(proof) != want:
        raise Fail(f"inclusion proof has {len(proof)} hashes; leaf {index} of a tree of size "
                   f"{size} needs {want}")
    if any(len(p) != 32 for p in proof):
        raise Fail("an inclusion proof hash is not 32 bytes")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise Fail("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Fail("inclusion proof is shorter than the tree is deep")
    return r


# ==== 2. canonical JSON ===================================================================

MAX_SAFE_INTEGER = 2**53 - 1
MAX_ENTRY_SIZE = 1 << 20
ENTRY_FIELDS = {"v", "seq", "time", "prev", "type", "body"}
TIME_RE = re.compile(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z\Z")
TYPE_RE = re.compile(r"\A[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+\Z")
HEX64_RE = re.compile(r"\A[0-9a-f]{64}\Z")


@dataclass(frozen=True)
class Entry:
    seq: int
    time: str
    prev: str
    type: str
    body: dict[str, Any]
    data: bytes  # the exact bytes that were hashed


def _no_float(text: str) -> Any:
    raise Fail(f"floating-point number {text[:30]} is not allowed in entries")


def _safe_int(text: str) -> int:
    value = int(text)
    if abs(value) > MAX_SAFE_INTEGER:
        raise Fail(f"integer {text[:30]} is outside +/-(2^53-1)")
    return value


def _ascii_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    for key, _ in pairs:
        if not key.isascii():
            raise Fail(f"object key {key[:30]!r} is not ASCII")
    return dict(pairs)


def parse_entry(data: bytes) -> Entry:
    """Parse one entry's bytes and check they are the canonical form of what they say.

    Without floats, with ASCII keys and integers in +/-(2^53-1), RFC 8785 JCS equals
    Python's ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``.
    """
    if len(data) > MAX_ENTRY_SIZE:
        raise Fail(f"entry is {len(data)} bytes; the limit is {MAX_ENTRY_SIZE}")
    try:
        obj = json.loads(data.decode("utf-8"), parse_float=_no_float, parse_int=_safe_int,
                         parse_constant=_no_float, object_pairs_hook=_ascii_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise Fail(f"entry is not UTF-8 JSON: {e}") from None
    if not isinstance(obj, dict) or set(obj) != ENTRY_FIELDS:
        raise Fail(f"entry must be an object with exactly the fields {sorted(ENTRY_FIELDS)}")
    v, seq = obj["v"], obj["seq"]
    if v != 1 or isinstance(v, bool):
        raise Fail(f"entry version {v!r} is not 1")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_SAFE_INTEGER:
        raise Fail(f"entry seq {seq!r} is not a non-negative integer")
    if not isinstance(obj["time"], str) or not TIME_RE.match(obj["time"]):
        raise Fail("entry time is not RFC 3339 UTC with microseconds")
    try:
        datetime.fromisoformat(obj["time"][:-1])
    except ValueError:
        raise Fail("entry time is not a valid date and time") from None
    if not isinstance(obj["prev"], str) or not HEX64_RE.match(obj["prev"]):
        raise Fail("entry prev is not 64 lowercase hex digits")
    if not isinstance(obj["type"], str) or not TYPE_RE.match(obj["type"]):
        raise Fail("entry type is not a dotted lowercase name")
    if not isinstance(obj["body"], dict):
        raise Fail("entry body is not a JSON object")
    try:
        canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate such as "\ud800"
        canonical = b""
    if canonical != data:
        raise Fail("entry bytes are not RFC 8785 canonical JSON")
    return Entry(seq, obj["time"], obj["prev"], obj["type"], obj["body"], data)


def jcs(value: Any) -> bytes:
    """Full RFC 8785 JCS (metadata may hold floats): keys sorted by UTF-16 code units,
    numbers as ECMAScript prints them, strings escaped minimally."""
    if value is None or isinstance(value, bool):
        return {None: b"null", True: b"true", False: b"false"}[value]
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise Fail(f"integer {value} has no JCS form (outside +/-(2^53-1))")
        return str(value).encode()
    if isinstance(value, float):
        return _es_number(value).encode()
    if isinstance(value, str):
        try:
            return json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise Fail("string holds a lone surrogate, which is not valid Unicode") from None
    if isinstance(value, list):
        return b"[" + b",".join(jcs(v) for v in value) + b"]"
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: kv[0].encode("utf-16-be"))
        return b"{" + b",".join(jcs(k) + b":" + jcs(v) for k, v in items) + b"}"
    raise Fail(f"{type(value).__name__} has no JSON form")


def _es_number(f: float) -> str:
    """ECMA-262 Number::toString, the number form RFC 8785 requires."""
    if f != f or f in (float("inf"), float("-inf")):
        raise Fail(f"{f} has no JCS form")
    if f == 0:
        return "0"
    if f < 0:
        return "-" + _es_number(-f)
    # shortest digits that round-trip (repr), as digits s (k of them) and exponent n:
    # f = 0.s * 10^n
    _, digits, exp = Decimal(repr(f)).as_tuple()
    s = "".join(map(str, digits)).rstrip("0")
    exp += len(digits) - len(s)
    k, n = len(s), int(exp) + len(s)
    if k <= n <= 21:
        return s + "0" * (n - k)
    if 0 < n <= 21:
        return s[:n] + "." + s[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + s
    e = n - 1
    mantissa = s if k == 1 else s[0] + "." + s[1:]
    return f"{mantissa}e{'+' if e > 0 else '-'}{abs(e)}"


# ==== 3. signed notes and checkpoints (C2SP) ==============================================

ALG_ED25519, ALG_COSIGNATURE = 0x01, 0x04
SIG_PREFIX = "\u2014 "  # an em dash and a space start every signature line


@dataclass(frozen=True)
class Key:
    """A pinned verifier key ``name+keyid+base64(alg || public key)``."""

    name: str
    key_id: int
    alg: int
    public: bytes

    @property
    def text(self) -> str:
        return (f"{self.name}+{self.key_id:08x}+"
                + base64.b64encode(bytes([self.alg]) + self.public).decode())


def key_name_ok(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_id(name: str, alg: int, public: bytes) -> int:
    return struct.unpack(">I", sha256(name.encode() + b"\n" + bytes([alg]) + public)[:4])[0]


def parse_key(text: str) -> Key:
    parts = text.strip().split("+", 2)
    if len(parts) != 3 or not key_name_ok(parts[0]):
        raise Fail("a verifier key looks like name+keyid+base64key")
    name, hex_id, b64 = parts
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
        raise Fail(f"verifier key id {hex_id!r} is not 8 lowercase hex digits")
    try:
        data = base64.b64decode(b64.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise Fail("verifier key data is not base64") from None
    if len(data) != 33 or data[0] not in (ALG_ED25519, ALG_COSIGNATURE):
        raise Fail("verifier key is not an Ed25519 (0x01) or cosignature/v1 (0x04) key")
    if int(hex_id, 16) != key_id(name, data[0], data[1:]):
        raise Fail(f"verifier key id {hex_id} does not match its key")
    try:
        Ed25519PublicKey.from_public_bytes(data[1:])
    except ValueError:
        raise Fail("verifier key is not a valid Ed25519 public key") from None
    return Key(name, int(hex_id, 16), data[0], data[1:])


@dataclass(frozen=True)
class Checkpoint:
    text: str  # the signed text (origin, size, root, extensions)
    origin: str
    size: int
    root: bytes
    cosigners: list[tuple[str, int]]  # (witness name, UNIX time it cosigned)


def _verify_signature(key: Key, text: bytes, sig: bytes) -> int | None:
    """Verify one signature by a pinned key; return the cosigning time for witnesses."""
    public = Ed25519PublicKey.from_public_bytes(key.public)
    cosigned_at = None
    if key.alg == ALG_COSIGNATURE:  # tlog-cosignature/v1: 8-byte time || signature
        if len(sig) != 72:
            raise Fail(f"cosignature by {key.name} has the wrong length")
        (cosigned_at,) = struct.unpack(">Q", sig[:8])
        sig, text = sig[8:], f"cosignature/v1\ntime {cosigned_at}\n".encode() + text
    try:
        public.verify(sig, text)
    except InvalidSignature:
        raise Fail(f"signature by {key.name} ({key.key_id:08x}) does not verify") from None
    return cosigned_at


def verify_checkpoint(note: bytes, log_key: Key, witnesses: list[Key]) -> Checkpoint:
    """Open the signed note with the pinned keys (Go's note.Open rules: unknown signers are
    ignored, a bad signature by a pinned key rejects the note), then read the checkpoint."""
    if len(note) > 1 << 20:
        raise Fail("note is larger than 1 MiB")
    try:
        msg = note.decode("utf-8")
    except UnicodeDecodeError:
        raise Fail("note is not UTF-8") from None
    if any(c < "\x20" and c != "\n" for c in msg) or not msg.endswith("\n"):
        raise Fail("note has control characters or does not end with a newline")
    split = msg.rfind("\n\n")
    if split < 0 or split + 2 == len(msg):
        raise Fail("note has no signature lines after a blank line")
    text, lines = msg[: split + 1], msg[split + 2 :].split("\n")[:-1]
    if len(lines) > 100:
        raise Fail("note has more than 100 signatures")
    pinned = {(k.name, k.key_id): k for k in [log_key, *witnesses]}
    verified: dict[tuple[str, int], int | None] = {}
    for n, line in enumerate(lines, 1):
        name, sep, b64 = line[len(SIG_PREFIX):].partition(" ")
        if not line.startswith(SIG_PREFIX) or not sep or not b64 or not key_name_ok(name):
            raise Fail(f"signature line {n} is not '\u2014 <name> <base64>'")
        try:
            blob = base64.b64decode(b64.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise Fail(f"signature line {n} is not base64") from None
        if len(blob) < 5:
            raise Fail(f"signature line {n} is too short to hold a key id")
        who = (name, struct.unpack(">I", blob[:4])[0])
        if who in pinned and who not in verified:
            verified[who] = _verify_signature(pinned[who], text.encode(), blob[4:])
    if not verified:
        raise Fail("no signature by a pinned key")
    body_lines = text[:-1].split("\n")
    if len(body_lines) < 3 or not body_lines[0]:
        raise Fail("checkpoint needs origin, size and root lines")
    origin, size_s, root_s, *ext = body_lines
    if not (size_s.isascii() and size_s.isdigit()) or (len(size_s) > 1 and size_s[0] == "0"):
        raise Fail(f"checkpoint size {size_s[:30]!r} is not a canonical decimal")
    if int(size_s) > 2**64 - 1:
        raise Fail("checkpoint size is larger than 2^64-1")
    try:
        root = base64.b64decode(root_s.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise Fail("checkpoint root is not base64") from None
    if len(root) != 32 or any(not line for line in ext):
        raise Fail("checkpoint root is not 32 bytes, or an extension line is empty")
    if origin != log_key.name:
        raise Fail(f"checkpoint origin {origin!r} is not {log_key.name!r}")
    if (log_key.name, log_key.key_id) not in verified:
        raise Fail(f"checkpoint is not signed by the pinned log key {log_key.name}")
    cosigners = [(who[0], t) for who, t in verified.items()
                 if pinned[who].alg == ALG_COSIGNATURE and t is not None]
    return Checkpoint(text, origin, int(size_s), root, cosigners)


# ==== 4. RFC 3161 timestamp tokens ========================================================

def _der_element(data: bytes, pos: int, limit: int) -> tuple[int, int, int]:
    """(tag, value start, end) of the strict-DER element at ``pos``."""
    if pos + 2 > limit or data[pos] & 0x1F == 0x1F:
        raise Fail(f"DER: truncated or high tag number at offset {pos}")
    first, start = data[pos + 1], pos + 2
    if first == 0x80 or (first > 0x80 and first & 0x7F > 4):
        raise Fail(f"DER: indefinite or oversized length at offset {pos}")
    length = first
    if first > 0x80:
        start += first & 0x7F
        octets = data[pos + 2 : start]
        length = int.from_bytes(octets, "big")
        if start > limit or octets[0] == 0 or length < 0x80:
            raise Fail(f"DER: truncated or non-minimal length at offset {pos}")
    if start + length > limit:
        raise Fail(f"DER: element at offset {pos} is truncated")
    return data[pos], start, start + length


def _der_children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, value start, end) of each element in data[start:end]."""
    out, pos = [], start
    while pos < end:
        tag, vstart, vend = _der_element(data, pos, end)
        out.append((tag, pos, vstart, vend))
        pos = vend
    return out


def _wrap_granted(token: bytes) -> bytes:
    """A bare token inside a minimal granted TimeStampResp (rfc3161-client reads those)."""
    body = bytes.fromhex("3003020100") + token
    n = len(body)
    length = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + \
        n.to_bytes((n.bit_length() + 7) // 8, "big")
    return b"\x30" + length + body


def _resorted(token: bytes) -> bytes | None:
    """The token with SignedData.certificates put in DER SET OF order, or None if it is in
    order already. OpenSSL TSAs with ``certs = ...`` write it unsorted; the field is not
    covered by the signature (RFC 5652 section 5.4), so sorting changes nothing signed."""
    _, vs, ve = _der_element(token, 0, len(token))
    ci = _der_children(token, vs, ve)
    if len(ci) != 2 or token[ci[0][1]:ci[0][3]] != bytes.fromhex("06092a864886f70d010702") \
            or ci[1][0] != 0xA0:
        raise Fail("token is not a CMS ContentInfo of type signedData")
    inner = _der_children(token, ci[1][2], ci[1][3])
    if len(inner) != 1 or inner[0][0] != 0x30:
        raise Fail("ContentInfo.content is not one SignedData")
    sd = _der_children(token, inner[0][2], inner[0][3])
    if len(sd) < 4 or [f[0] for f in sd[:3]] != [0x02, 0x31, 0x30] or sd[3][0] != 0xA0:
        return None
    certs = [token[c[1]:c[3]] for c in _der_children(token, sd[3][2], sd[3][3])]
    width = max(map(len, certs), default=0)
    ordered = sorted(certs, key=lambda c: c.ljust(width, b"\x00"))
    if ordered == certs:
        return None
    return token[: sd[3][2]] + b"".join(ordered) + token[sd[3][3]:]


def _guarded(fn: Any, what: str) -> Any:
    """Run a parser on hostile bytes; any failure (even a Rust panic) becomes Fail."""
    try:
        return fn()
    except Fail:
        raise
    except BaseException as e:  # rfc3161-client's PanicException derives from BaseException
        if isinstance(e, KeyboardInterrupt | SystemExit):
            raise
        raise Fail(f"not a valid {what}: {e}") from None


def verify_timestamp(token: bytes, message: bytes, roots: list[x509.Certificate]
                     ) -> tuple[datetime, str, str, str]:
    """Check an RFC 3161 TimeStampToken over SHA-256(message) against pinned roots.

    Returns (genTime, TSA name, signer subject, verifier name); raises :class:`Untrusted`
    when the TSA does not chain to a pinned root at genTime, :class:`Fail` otherwise. The
    same checks in the same order as the project's verifier: DER framing, strict parse,
    SHA-256 imprint of this message, critical timeStamping-only EKU, signer valid at
    genTime, CMS signature and chain to a pinned root validated at genTime (rfc3161-client).
    """
    assert rfc3161_client is not None
    _, _, end = _der_element(token, 0, len(token))
    if token[0] != 0x30 or end != len(token):
        raise Fail("token is not one DER SEQUENCE")
    verifier = "rfc3161-client"
    try:
        resp = _guarded(lambda: rfc3161_client.decode_timestamp_response(_wrap_granted(token)),
                        "TimeStampToken")
    except Fail:
        fixed = _resorted(token)
        if fixed is None:
            raise
        resp = _guarded(lambda: rfc3161_client.decode_timestamp_response(_wrap_granted(fixed)),
                        "TimeStampToken (after re-sorting its certificate SET)")
        verifier = "rfc3161-client (certificate SET re-sorted to DER order)"

    def read() -> tuple[str, bytes, datetime, x509.Certificate, str | None]:
        tst = resp.tst_info
        try:
            name = tst.name  # the TSA's name for itself (TSTInfo.tsa), optional
        except ValueError:
            name = None
        if name is not None:
            name = (name.value.rfc4514_string() if isinstance(name.value, x509.Name)
                    else str(name.value))
        infos = list(resp.signed_data.signer_infos)
        if len(infos) != 1:
            raise Fail(f"expected exactly one SignerInfo, found {len(infos)}")
        certs = [x509.load_der_x509_certificate(c) for c in resp.signed_data.certificates]
        signer = next((c for c in certs if c.issuer == infos[0].issuer
                       and c.serial_number == infos[0].serial_number), None)
        if signer is None:
            raise Untrusted("the token does not carry the TSA certificate that signed it")
        return (tst.message_imprint.hash_algorithm.dotted_string,
                bytes(tst.message_imprint.message), tst.gen_time.astimezone(UTC), signer, name)

    algorithm, imprint, gen_time, signer, tsa_name = _guarded(read, "TimeStampToken")
    subject = signer.subject.rfc4514_string()
    if algorithm != "2.16.840.1.101.3.4.2.1":
        raise Fail(f"message imprint uses {algorithm}, not SHA-256")
    digest = sha256(message)
    if imprint != digest:
        raise Fail("token time-stamps other data than this checkpoint")
    try:
        eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        raise Fail(f"TSA certificate {subject} has no extendedKeyUsage") from None
    if not eku.critical or list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise Fail(f"TSA certificate {subject}: EKU is not critical id-kp-timeStamping only")
    if not signer.not_valid_before_utc <= gen_time <= signer.not_valid_after_utc:
        raise Untrusted(f"TSA certificate {subject} was not valid at genTime {gen_time}")
    try:
        _guarded(lambda: rfc3161_client.VerifierBuilder(roots=list(roots)).build()
                 .verify(resp, digest), "token (signature or chain)")
    except Fail as e:  # rfc3161-client words OpenSSL's reason; a chain error is "untrusted"
        if "certificate verify error" in str(e):
            raise Untrusted(f"TSA chain does not verify to a pinned root at genTime: {e}") \
                from None
        raise
    return gen_time, tsa_name or subject, subject, verifier


# ==== 5. reading the archive (hostile input) ==============================================

FORMAT = "evidence-bundle/v1"
MEMBER_PATTERNS = [re.compile(p) for p in (
    r"\Amanifest\.json\Z",
    r"\Aentries/(0|[1-9][0-9]{0,15})\.entry\Z",
    r"\Aproofs/(0|[1-9][0-9]{0,15})\.json\Z",
    r"\Acheckpoint/checkpoint\.note\Z",
    r"\Atimestamps/(0|[1-9][0-9]{0,2})\.(tst|chain\.pem)\Z",
    r"\Ametadata/metadata\.json\Z",
    r"\Afiles/[0-9a-f]{64}\Z",
    r"\Areport/report\.(html|txt|pdf)\Z",
)]
MAX_MEMBERS, MAX_FILE, MAX_TOTAL, MAX_SMALL, MAX_RATIO = 20_000, 64 << 30, 256 << 30, 16 << 20, 200


ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
              zlib.error, NotImplementedError, RuntimeError)  # what zipfile raises when damaged


class Archive:
    """The ZIP, opened with every structural check done before anything is read."""

    def __init__(self, path: str) -> None:
        try:
            self.zip = zipfile.ZipFile(path)
        except ZIP_ERRORS as e:
            raise Fail(f"not a readable ZIP archive: {e}") from None
        try:
            self._check_structure()
        except Fail:
            self.zip.close()
            raise

    def _check_structure(self) -> None:
        infos = self.zip.infolist()
        if len(infos) > MAX_MEMBERS:
            raise Fail(f"archive has {len(infos)} members; the limit is {MAX_MEMBERS}")
        self.infos: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = info.filename
            if not any(p.match(name) for p in MEMBER_PATTERNS):
                raise Fail(f"unexpected member {name[:100]!r} (absolute paths, '..' and "
                           "unknown names are refused)")
            if name in self.infos:
                raise Fail(f"duplicate member {name!r}")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise Fail(f"member {name!r} is a symbolic link")
            if info.flag_bits & 0x1:
                raise Fail(f"member {name!r} is encrypted")
            is_file = name.startswith("files/")
            if info.compress_type not in ((zipfile.ZIP_STORED,) if is_file else
                                          (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)):
                raise Fail(f"member {name!r}: evidence files must be stored, other members "
                           "stored or deflated")
            if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
                raise Fail(f"stored member {name!r} declares {info.file_size} bytes but "
                           f"occupies {info.compress_size}")
            cap = MAX_FILE if is_file else MAX_SMALL
            if info.file_size > cap:
                raise Fail(f"member {name!r} declares {info.file_size} bytes; limit {cap}")
            if info.file_size > 1 << 20 and info.file_size > MAX_RATIO * max(info.compress_size,
                                                                            1):
                raise Fail(f"member {name!r} expands more than {MAX_RATIO}x (zip bomb?)")
            self.infos[name] = info
        total, packed = sum(i.file_size for i in infos), sum(i.compress_size for i in infos)
        if total > MAX_TOTAL:
            raise Fail(f"archive expands to more than {MAX_TOTAL} bytes")
        if total > (1 << 20) + MAX_RATIO * packed:
            raise Fail(f"archive expands {total} bytes from {packed} (zip bomb?)")
        # members must not share bytes (an "overlapping" zip bomb reuses one compressed
        # stream for many members) nor run into the central directory
        spans = sorted((i.header_offset, i.header_offset + 30 + len(
            i.orig_filename.encode("utf-8", "surrogateescape")) + i.compress_size, i.filename)
            for i in infos)
        for (_, end, name), (start, _, other) in itertools.pairwise(spans):
            if end > start:
                raise Fail(f"members {name!r} and {other!r} overlap in the archive")
        start_dir = getattr(self.zip, "start_dir", None)
        if spans and start_dir is not None and spans[-1][1] > start_dir:
            raise Fail(f"member {spans[-1][2]!r} runs into the central directory")
        if "manifest.json" not in self.infos:
            raise Fail("archive has no manifest.json")

    def read(self, name: str) -> bytes:
        """A small member, whole (bounded by the checks above; zipfile checks the CRC)."""
        if name not in self.infos:
            raise Fail(f"member {name!r} is missing")
        try:
            with self.zip.open(self.infos[name]) as f:
                data = f.read(MAX_SMALL + 1)
        except ZIP_ERRORS as e:
            raise Fail(f"member {name!r} is damaged: {e}") from None
        if len(data) != self.infos[name].file_size:
            raise Fail(f"member {name!r} is not the size its header declares")
        return data

    def digest(self, name: str) -> tuple[str, int]:
        """SHA-256 (hex) and size of a member, streamed: memory stays flat for big files.

        A stored member (every evidence file) is read straight from the archive, after its
        local header is checked against the central directory; SHA-256 is the integrity
        check, so zipfile's CRC-32 is not (a damaged file then fails as a digest mismatch).
        Deflated members go through zipfile, CRC included."""
        info, h, n = self.infos[name], hashlib.sha256(), 0
        try:
            if info.compress_type == zipfile.ZIP_STORED:
                self.zip.fp.seek(info.header_offset)
                head = self.zip.fp.read(30)
                if len(head) != 30 or head[:4] != b"PK\x03\x04":
                    raise Fail(f"member {name!r} has no local header")
                method, = struct.unpack_from("<H", head, 8)
                name_len, extra_len = struct.unpack_from("<HH", head, 26)
                if method != 0 or self.zip.fp.read(name_len) != info.filename.encode():
                    raise Fail(f"member {name!r}: local header differs from the directory")
                self.zip.fp.seek(extra_len, 1)
                left = info.compress_size
                while left:
                    chunk = self.zip.fp.read(min(1 << 20, left))
                    if not chunk:
                        raise Fail(f"member {name!r} is truncated")
                    h.update(chunk)
                    n, left = n + len(chunk), left - len(chunk)
            else:
                with self.zip.open(info) as f:
                    while chunk := f.read(1 << 20):
                        h.update(chunk)
                        n += len(chunk)
        except ZIP_ERRORS as e:
            raise Fail(f"member {name!r} is damaged: {e}") from None
        if n != self.infos[name].file_size:
            raise Fail(f"member {name!r} is not the size its header declares")
        return h.hexdigest(), n


def read_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Fail(f"{what} is not UTF-8 JSON") from None


# ==== 6. the checks =======================================================================

@dataclass
class Report:
    checks: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=lambda: {
        "format": FORMAT, "evidence_id": None, "checkpoint": None, "submitted_at": None,
        "preserved_no_later_than": [], "purged": False, "files": [], "custody": [],
        "metadata": None, "still_in_log": None})

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c["ok"] for c in self.checks if c["required"])

    def add(self, name: str, ok: bool, reason: str, reason_zh: str, required: bool = True
            ) -> None:
        self.checks.append({"name": name, "ok": ok, "reason": reason, "reason_zh": reason_zh,
                            "required": required})


@dataclass(frozen=True)
class Trust:
    log_key: Key
    witnesses: list[Key]
    quorum: int
    tsa_roots: list[x509.Certificate]
    require_timestamp: bool


def verify_bundle(path: str, trust: Trust) -> Report:
    report = Report()
    try:
        archive = Archive(path)
    except Fail as e:
        report.add("archive", False, str(e), f"归档文件不安全或已损坏：{e}")
        return report
    with archive.zip:
        report.add("archive", True, "archive structure is safe and within limits",
                   "归档结构安全，且未超出限制")
        try:
            run_checks(archive, trust, report)
        except Exception as e:  # any surprise in hostile input: fail closed, never crash
            report.add("bundle", False, f"bundle is malformed: {e}", f"证据包格式错误：{e}")
    return report


def run_checks(archive: Archive, trust: Trust, report: Report) -> None:
    # -- manifest: exactly the listed members, each with the listed SHA-256 and size
    manifest = read_json(archive.read("manifest.json"), "manifest.json")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return report.add("manifest", False, f"manifest is not {FORMAT}", f"清单不是 {FORMAT}")
    members = manifest.get("members")
    if not isinstance(members, dict):
        return report.add("manifest", False, "manifest has no member list", "清单缺少成员列表")
    present = set(archive.infos) - {"manifest.json"}
    if present != set(members):
        return report.add("manifest", False, f"members missing {sorted(set(members) - present)[:5]}"
                          f", unlisted {sorted(present - set(members))[:5]}",
                          "成员与清单列出的不一致（缺少或多出）")
    digests = {name: archive.digest(name)[0] for name in sorted(members)}
    bad = [n for n in sorted(members) if not isinstance(members[n], dict)
           or members[n].get("sha256") != digests[n] or type(members[n].get("size")) is not int
           or members[n]["size"] != archive.infos[n].file_size]
    if bad:
        return report.add("manifest", False, f"members differ from the manifest: {bad[:5]}",
                          f"成员与清单不符：{bad[:5]}")
    report.add("manifest", True, f"all {len(members)} members match the manifest",
               f"全部 {len(members)} 个成员与清单一致")

    # -- checkpoint: signed by the pinned log key; cosigned by a quorum of pinned witnesses
    try:
        cp = verify_checkpoint(archive.read("checkpoint/checkpoint.note"), trust.log_key,
                               trust.witnesses)
    except Fail as e:
        return report.add("checkpoint", False, f"checkpoint not verified: {e}",
                          f"检查点未能用固定的日志公钥验证：{e}")
    report.facts["checkpoint"] = {"origin": cp.origin, "size": cp.size, "root": cp.root.hex(),
                                  "cosigned_by": [{"name": n, "cosigned_at": t}
                                                  for n, t in cp.cosigners]}
    report.add("checkpoint", True, f"checkpoint of size {cp.size} is signed by the pinned log "
               f"key {trust.log_key.name}", f"大小为 {cp.size} 的检查点由固定的日志公钥签名")
    names, n = ", ".join(n for n, _ in cp.cosigners) or "none", len(cp.cosigners)
    report.add("cosignatures", n >= trust.quorum, f"{n} valid cosignature(s) by pinned "
               f"witnesses ({names}); quorum {trust.quorum}",
               f"{n} 个固定见证方的有效联署（{names}）；法定数 {trust.quorum}",
               required=trust.quorum > 0)

    # -- entries, inclusion and chain
    entries = check_entries(archive, cp, report)
    if entries is None:
        return None

    # -- the submission of this item
    evidence_id = manifest.get("evidence_id")
    subs = [e for e in entries.values()
            if e.type == "evidence.submitted" and e.body.get("evidence_id") == evidence_id]
    if not isinstance(evidence_id, str) or len(subs) != 1:
        return report.add("submission", False, f"{len(subs)} submission entries for "
                          f"{str(evidence_id)[:80]!r}, not exactly one",
                          f"{str(evidence_id)[:80]!r} 的提交记录有 {len(subs)} 条，而非恰好一条")
    sub = subs[0]
    report.facts.update(evidence_id=evidence_id, submitted_at=sub.time)
    report.add("submission", True, f"submitted as entry {sub.seq} at {sub.time} (log time)",
               f"于 {sub.time}（日志时间）作为第 {sub.seq} 条记录提交")
    check_submitter(sub, report)
    check_custody(entries, sub, report)
    check_files(sub, digests, report)
    check_metadata(archive, sub, report)
    check_timestamps(archive, manifest, cp, trust, report)
    return None


def check_entries(archive: Archive, cp: Checkpoint, report: Report) -> dict[int, Entry] | None:
    entries: dict[int, Entry] = {}
    proofs: dict[int, Any] = {}
    for name in archive.infos:  # in archive order, as the project's reader goes
        if name.startswith("entries/"):
            seq = int(name[len("entries/"):-len(".entry")])
            try:
                entry = parse_entry(archive.read(name))
            except Fail as e:
                report.add("entries", False, f"{name}: {e}", f"{name}：记录格式错误 {e}")
                return None
            if entry.seq != seq:
                report.add("entries", False, f"{name} holds entry {entry.seq}",
                           f"{name} 中的记录序号为 {entry.seq}")
                return None
            entries[seq] = entry
        elif name.startswith("proofs/"):
            proofs[int(name[len("proofs/"):-len(".json")])] = read_json(archive.read(name), name)
    if not entries:
        report.add("entries", False, "the bundle holds no entries", "证据包中没有任何记录")
        return None
    report.add("entries", True, f"{len(entries)} entries are canonical, each at its number",
               f"{len(entries)} 条记录均为规范记录，序号与位置一致")

    def included(index: int, leaf: bytes) -> str | None:
        """Why leaf ``index`` is not proven to be ``leaf`` in the checkpoint's tree, or None."""
        p = proofs.get(index)
        if not isinstance(p, dict):
            return f"no inclusion proof for leaf {index}"
        if p.get("index") != index or type(p.get("tree_size")) is not int \
                or p["tree_size"] != cp.size:
            return f"proof for leaf {index} is not to the bundle's checkpoint"
        if p.get("leaf_hash") != leaf.hex():
            return f"proof for leaf {index} is for another leaf"
        if not isinstance(p.get("proof"), list):
            return f"proof for leaf {index} has no list of hashes"
        try:
            path = [hash_from_hex(h, "proof hash") for h in p["proof"]]
            if root_from_inclusion_proof(index, cp.size, leaf, path) != cp.root:
                return f"leaf {index}: the proof leads to another root than the checkpoint's"
        except Fail as e:
            return f"leaf {index}: {e}"
        return None

    for seq, entry in sorted(entries.items()):
        if err := included(seq, leaf_hash(entry.data)):
            report.add("inclusion", False, err, f"包含证明失败：{err}")
            return None
    report.add("inclusion", True, f"all {len(entries)} entries are in the checkpoint's tree",
               f"全部 {len(entries)} 条记录均包含在检查点的默克尔树中")
    for seq, entry in sorted(entries.items()):
        if seq == 0:
            err = None if entry.prev == "0" * 64 else "entry 0 must have a zero prev"
        else:  # the leaf before is proven in the same tree, without revealing its entry
            err = included(seq - 1, bytes.fromhex(entry.prev))
        if err:
            report.add("chain", False, f"entry {seq}'s prev link: {err}",
                       f"第 {seq} 条记录的前序链接：{err}")
            return None
    report.add("chain", True, "each entry's prev hash is the leaf before it in the same tree",
               "每条记录的前序哈希均为同一棵树中前一个叶子")
    return entries


def check_submitter(sub: Entry, report: Report) -> None:
    """The submitter's own Ed25519 signature over the text
    ``evidence.submission/v1\\n<evidence id>\\n<commitment>\\n<SHA-256 of JCS(files)>\\n``."""
    signed = sub.body.get("submitter")
    if signed is None:  # absent (or null): the signature is optional
        return report.add("submitter", True, "not signed by the submitter (optional)",
                          "提交方未签名（可选）", required=False)
    try:
        if not isinstance(signed, dict) or set(signed) != {"key", "signature"} \
                or not all(isinstance(signed[k], str) for k in ("key", "signature")):
            raise Fail('"submitter" must be {"key": str, "signature": str}')
        key = parse_key(signed["key"])
        if key.alg != ALG_ED25519:
            raise Fail("submitter key is not a plain Ed25519 key")
        try:
            sig = base64.b64decode(signed["signature"].encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise Fail("submitter signature is not base64") from None
        if len(sig) != 64:
            raise Fail("submitter signature is not 64 bytes")
        evidence_id, commitment = sub.body.get("evidence_id"), sub.body.get("metadata_commitment")
        if not isinstance(evidence_id, str) or \
                not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}", evidence_id):
            raise Fail("evidence id is not a plain identifier")
        if not isinstance(commitment, str) or not re.fullmatch(r"[0-9a-f]{64}", commitment):
            raise Fail("metadata commitment is not 64 lowercase hex digits")
        files = [dict(f) for f in sub.body.get("files") or []]
        text = (f"evidence.submission/v1\n{evidence_id}\n{commitment}\n"
                f"{sha256(jcs(files)).hex()}\n")
        _verify_signature(key, text.encode(), sig)
    except (Fail, TypeError, ValueError) as e:
        return report.add("submitter", False, f"submitter signature does not verify: {e}",
                          f"提交方签名验证失败：{e}")
    report.add("submitter", True, f"signed by the submitter's own key {key.name}+"
               f"{key.key_id:08x} (compare it with the key the submitter published)",
               f"由提交方自己的密钥 {key.name}+{key.key_id:08x} 签名（请与提交方公布的密钥比对）")


def check_custody(entries: dict[int, Entry], sub: Entry, report: Report) -> None:
    """Every other entry is about this item, after the submission, in time order."""
    ordered = sorted(entries.values(), key=lambda e: e.seq)
    others = [e for e in ordered if e is not sub]
    strangers = [e.seq for e in others if e.body.get("evidence_id") != sub.body["evidence_id"]]
    early = [e.seq for e in others if e.seq < sub.seq]
    backwards = [b.seq for a, b in itertools.pairwise(ordered) if b.time < a.time]
    report.facts["purged"] = any(e.type == "evidence.purged" for e in others)
    report.facts["custody"] = [{"seq": e.seq, "time": e.time, "type": e.type,
                                **{k: e.body[k] for k in ("principal", "action", "reason",
                                                          "grantee", "text") if k in e.body}}
                               for e in ordered]
    if strangers or early or backwards:
        why = (f"entries {strangers[:5]} are about another item" if strangers else
               f"entries {early[:5]} come before the submission" if early else
               f"entries {backwards[:5]} are earlier in time than the entry before them")
        return report.add("custody", False, why,
                          "保管链有误（其他证据的记录、早于提交或时间倒序）：" + why)
    report.add("custody", True, f"{len(others)} custody entries, all about this item, after "
               "its submission, in time order",
               f"{len(others)} 条保管记录，均关于本证据、在提交之后且按时间排列")


def check_files(sub: Entry, digests: dict[str, str], report: Report) -> None:
    declared = sub.body.get("files")
    if not isinstance(declared, list) or not declared or not all(
            isinstance(f, dict) and isinstance(f.get("sha256"), str) for f in declared):
        return report.add("files", False, "the submission lists no files",
                          "提交记录未列出任何文件")
    present = {n[len("files/"):] for n in digests if n.startswith("files/")}
    report.facts["files"] = [{**{k: f.get(k) for k in ("name", "media_type", "size", "sha256")},
                              "included": f["sha256"] in present} for f in declared]
    wanted = {f["sha256"] for f in declared}
    if report.facts["purged"] and not present:
        return report.add("files", True, "the item was purged: no files; the entry still "
                          "proves their SHA-256 and sizes", "该证据已被清除：证据包不含文件",
                          required=False)
    missing, extra = sorted(wanted - present), sorted(present - wanted)
    if missing or extra:
        return report.add("files", False, f"files missing {missing[:3]}, extra {extra[:3]}",
                          f"缺少文件 {missing[:3]}，或多出文件 {extra[:3]}")
    for f in declared:  # files/<h> was hashed above: it must hash to h
        if digests[f"files/{f['sha256']}"] != f["sha256"]:
            return report.add("files", False, f"file {str(f.get('name'))!r} is not the "
                              "preserved one", f"文件 {str(f.get('name'))!r} 不是保全时的文件")
    report.add("files", True, f"all {len(declared)} files are byte for byte the preserved ones",
               f"全部 {len(declared)} 个文件与保全时逐字节一致")


def check_metadata(archive: Archive, sub: Entry, report: Report) -> None:
    if "metadata/metadata.json" not in archive.infos:
        if report.facts["purged"]:
            return report.add("metadata", True, "metadata not included: the item was purged",
                              "未包含元数据：该证据已被清除", required=False)
        return report.add("metadata", False, "metadata and salt are missing", "缺少元数据与盐值")
    opened = read_json(archive.read("metadata/metadata.json"), "metadata/metadata.json")
    try:
        if not isinstance(opened, dict) or set(opened) != {"metadata", "salt"} or \
                not isinstance(opened["metadata"], dict) or not isinstance(opened["salt"], str):
            raise Fail('metadata.json must be {"metadata": {...}, "salt": "<hex>"}')
        salt = bytes.fromhex(opened["salt"])
        if len(salt) != 32:
            raise Fail("salt is not 32 bytes")
        got = sha256(salt + jcs(opened["metadata"])).hex()
        if not hmac.compare_digest(got.encode(), str(sub.body.get("metadata_commitment"))
                                   .encode("utf-8", "replace")):
            raise Fail("metadata and salt do not match the commitment in the ledger")
    except (Fail, ValueError) as e:
        return report.add("metadata", False, f"metadata does not open the commitment: {e}",
                          f"元数据无法打开承诺值：{e}")
    report.facts["metadata"] = opened["metadata"]
    report.add("metadata", True, "the metadata and salt open the commitment in the ledger",
               "元数据与盐值可打开账本中的承诺值")


def check_timestamps(archive: Archive, manifest: dict[str, Any], cp: Checkpoint, trust: Trust,
                     report: Report) -> None:
    """At least one token verifies against a pinned root. A token by a TSA whose chain is
    not pinned is skipped (the court may pin only some TSAs); a damaged or altered token,
    or one over other data, fails the check: it is a sign of tampering."""
    listed, required = manifest.get("timestamps"), trust.require_timestamp
    if not listed:
        return report.add("timestamps", not required, "the bundle carries no RFC 3161 "
                          "timestamp", "证据包未包含 RFC 3161 时间戳", required=required)
    if not isinstance(listed, list):
        raise Fail("manifest timestamps must be a list")
    if not trust.tsa_roots:
        return report.add("timestamps", not required, "no TSA root certificate pinned "
                          "(--tsa-ca); the time is not proven",
                          "未固定时间戳机构根证书；时间未被证明", required=required)
    if rfc3161_client is None:
        return report.add("timestamps", not required, "NOT CHECKED: the rfc3161-client package "
                          "is not installed, so the RFC 3161 tokens were not verified",
                          "未检查：未安装 rfc3161-client，时间戳未经验证", required=required)
    verdicts, untrusted, bad = [], [], []
    for i, t in enumerate(listed):
        where = t.get("token") if isinstance(t, dict) else None
        if not isinstance(where, str) or not where.endswith(".tst"):
            bad.append(f"timestamp {i}: no token member named")
            continue
        try:
            verdicts.append(verify_timestamp(archive.read(where), cp.text.encode(),
                                             trust.tsa_roots))
        except Untrusted as e:
            untrusted.append(f"{where}: {e}")
        except Fail as e:
            bad.append(f"{where}: {e}")
    for gen_time, tsa, signer, verifier in sorted(verdicts, key=lambda v: v[0]):
        report.facts["preserved_no_later_than"].append(
            {"gen_time": gen_time.isoformat(), "tsa": tsa, "signer": signer,
             "verifier": verifier})
    if bad:
        return report.add("timestamps", False, "a timestamp does not verify (altered, or over "
                          "other data): " + "; ".join(bad),
                          "有时间戳未通过验证（被篡改或针对其他数据）：" + "；".join(bad),
                          required=required)
    if not verdicts:
        return report.add("timestamps", False, "no timestamp chains to a pinned TSA root: "
                          + "; ".join(untrusted), "没有时间戳可链接到固定的根证书："
                          + "；".join(untrusted), required=required)
    first = report.facts["preserved_no_later_than"][0]
    report.add("timestamps", True, f"preserved no later than {first['gen_time']} per "
               f"{first['tsa']} ({len(verdicts)} of {len(listed)} timestamps verified)",
               f"据 {first['tsa']}，不晚于 {first['gen_time']} 已保全"
               f"（{len(listed)} 个时间戳中 {len(verdicts)} 个通过验证）", required=required)


# ==== 7. command line =====================================================================

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Check an evidence bundle offline against pinned "
                                 "keys (independent of the evidence package).")
    ap.add_argument("bundle")
    ap.add_argument("--log-key", required=True, help="the log's verifier key name+id+key")
    ap.add_argument("--witness-key", action="append", default=[], help="a witness's key")
    ap.add_argument("--witness-quorum", type=int, default=0)
    ap.add_argument("--tsa-ca", action="append", default=[], help="PEM file of a TSA root CA")
    ap.add_argument("--no-timestamps", action="store_true",
                    help="do not require a verified RFC 3161 timestamp")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args(argv)
    try:
        log_key = parse_key(args.log_key)
        witnesses = [parse_key(k) for k in args.witness_key]
        if log_key.alg != ALG_ED25519:
            raise Fail("--log-key must be an Ed25519 (0x01) key")
        if args.witness_quorum < 0:
            raise Fail("--witness-quorum must not be negative")
        roots: list[x509.Certificate] = []
        for path in args.tsa_ca:
            with open(path, "rb") as f:
                roots += [c for c in x509.load_pem_x509_certificates(f.read()) if c not in roots]
    except (Fail, OSError, ValueError) as e:
        print(f"verify_bundle.py: {e}", file=sys.stderr)
        return 2
    report = verify_bundle(args.bundle, Trust(log_key, witnesses, args.witness_quorum, roots,
                                              not args.no_timestamps))
    if args.json:
        print(json.dumps({"ok": report.ok, **report.facts, "checks": report.checks},
                         ensure_ascii=False, indent=2))
    else:
        for c in report.checks:
            mark = "PASS 通过" if c["ok"] else "FAIL 失败"
            mark += "" if c["required"] else " (optional)"
            print(f"{c['name']:<13} {mark:<20} {c['reason']}\n{'':<34} {c['reason_zh']}")
        print("RESULT 结论: " + ("the bundle is verified 证据包验证通过" if report.ok
                                 else "the bundle is NOT verified 证据包未通过验证"))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
