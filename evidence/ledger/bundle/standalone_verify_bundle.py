#!/usr/bin/env python3
"""Check an evidence bundle (``evidence-bundle/v2`` or ``v1``) offline, trusting only what you pin.

    python verify_bundle.py BUNDLE.zip --trust TRUST.txt [--trust-sha256 HEX]
        [--compare FILE ...] [--json] [--lang zh|en|both] [--tz ZONE] [--debug]
    python verify_bundle.py BUNDLE.zip --log-key VKEY [--witness-key VKEY ...]
        [--witness-quorum N] [--tsa-ca ROOT.pem ...] [--capture-node VKEY ...]
                                                              (shorthand for a trust file)

This is a second, independent implementation of ``evidence verify``, written for a court or
an auditor who does not want to trust the operator's software: one file, readable in an
afternoon, that imports nothing from the ``evidence`` package. It needs only Python 3.11+
and ``cryptography`` (``certifi`` is used when present, for ``#@ tsa-store mozilla``). RFC
3161 timestamp tokens are checked here, CMS and all (section 4). It reads the ZIP in place:
nothing is extracted, written or fetched from the network. Bundles may carry a copy of it as
``tools/verify_bundle.py``; compare that copy's SHA-256 (printed in the report) with the
reference copy, ``scripts/verify_bundle.py`` in the project's source, before relying on it.

It runs the same named checks as ``evidence verify`` and reaches the same verdict on the
same inputs (the project's tests hold the two, and the verify page, together; the contract
is docs/verdict.md): archive, manifest, checkpoint, cosignatures, entries, inclusion, chain,
submission, submitter, custody, files, webcapture (web captures only: the capture node's
signed manifest, the WACZ and its WARC records, section 6b), metadata, timestamps, and
compared_files with ``--compare``. Each is pass, fail or not-checked (nothing pinned for
it, or a provisional bundle); a check that cannot run because an earlier one failed is not
reported. The top verdict and exit status: verified 0 (every check passed), failed 1,
provisional or incomplete (something not checked, named) 3, usage error 2 (nothing
verified).

The rules it checks (see docs/bundle.md and docs/formats.md in the project):

* hashes are SHA-256; Merkle leaf = SHA-256(0x00 || entry bytes), node = SHA-256(0x01 ||
  left || right), inclusion proofs as RFC 9162 section 2.1.3;
* an entry is the canonical JSON of {"v","seq","time","prev","type","body"} (sorted keys,
  no spaces, UTF-8, no floats, ASCII keys, integers within +/-(2^53-1)); ``prev`` is the
  leaf hash of the entry before it;
* the checkpoint is a C2SP tlog-checkpoint in a C2SP signed note (Ed25519), witness
  cosignatures are C2SP tlog-cosignature/v1, and what to trust is a C2SP tlog-policy file
  with TSA roots added on "#@" lines (section 7);
* the metadata commitment is SHA-256(salt || RFC 8785 JCS(metadata));
* in a v2 bundle each file is ``files/<sha256>/<safe name>``, the safe name derived from the
  name in the signed submission entry (``safe_name``, section 5);
* a timestamp is an RFC 3161 token (RFC 5652 CMS SignedData) over SHA-256 of the
  checkpoint text, by a TSA chaining to a pinned root;
* a web capture's manifest is RFC 8785 JSON signed (a C2SP signed note over its SHA-256)
  by a capture node pinned with "#@ capture-node"; it lists every file's SHA-256, and the
  WACZ (a ZIP) and its gzipped WARC records carry their own digests (section 6b).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import hashlib
import hmac
import io
import itertools
import json
import re
import stat
import struct
import sys
import warnings
import zipfile
import zlib
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

try:  # cryptography >= 47 with an OpenSSL that has ML-DSA; needed only when a trust pins one
    from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA44PublicKey
except ImportError:  # pragma: no cover - a pinned ML-DSA-44 key is then refused (exit 2)
    MLDSA44PublicKey = None  # type: ignore[assignment,misc]
from cryptography.x509.oid import ExtendedKeyUsageOID


class Fail(Exception):
    """Something presented as proof is not; the message says what."""


class Untrusted(Fail):
    """A timestamp whose chain ends at a root nobody pinned: skipped, not a sign of
    tampering (a court may pin only some of the TSAs). ``tsa`` names the TSA."""

    def __init__(self, message: str, tsa: str | None = None) -> None:
        super().__init__(message)
        self.tsa = tsa


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

ALG_ED25519, ALG_COSIGNATURE, ALG_MLDSA44 = 0x01, 0x04, 0x06
COSIGNING = (ALG_COSIGNATURE, ALG_MLDSA44)  # tlog-cosignature v1.1: Ed25519 and ML-DSA-44
KEY_SIZES = {ALG_ED25519: 32, ALG_COSIGNATURE: 32, ALG_MLDSA44: 1312}
MLDSA44_SIG = 2420
SIG_PREFIX = "\u2014 "  # an em dash and a space start every signature line


@dataclass(frozen=True)
class Key:
    """A pinned verifier key ``name+keyid+base64(alg || public key)``."""

    name: str
    key_id: int
    alg: int
    public: bytes
    window: tuple[int, int] | None = None  # a log key's (from, until) sizes: #@ log-key
    # (an ML-DSA-44 log key, #@ log-mldsa, is required on every size its window holds)

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
    if not data or KEY_SIZES.get(data[0]) != len(data) - 1:
        raise Fail("verifier key is not an Ed25519 (0x01), cosignature/v1 (0x04) or "
                   "ML-DSA-44 (0x06, 1,312-byte key) key")
    if int(hex_id, 16) != key_id(name, data[0], data[1:]):
        raise Fail(f"verifier key id {hex_id} does not match its key")
    if data[0] == ALG_MLDSA44 and MLDSA44PublicKey is None:
        raise Fail("this Python's cryptography cannot verify ML-DSA-44 (pip install "
                   "'cryptography>=47')")
    try:
        (MLDSA44PublicKey if data[0] == ALG_MLDSA44 else Ed25519PublicKey
         ).from_public_bytes(data[1:])
    except ValueError:
        raise Fail("verifier key is not a valid public key of its type") from None
    return Key(name, int(hex_id, 16), data[0], data[1:])


@dataclass(frozen=True)
class Checkpoint:
    text: str  # the signed text (origin, size, root, extensions)
    origin: str
    size: int
    root: bytes
    cosigners: list[tuple[tuple[str, int], int]]  # ((key name, key id), UNIX time cosigned)


def subtree_message(name: str, t: int, text: bytes) -> bytes:
    """tlog-cosignature v1.1's cosigned_message for a checkpoint of exactly origin, size and
    root lines: "subtree/v1\\n\\0" || u8 len || name || u64 t || u8 len || origin || u64 0 ||
    u64 size || 32-byte root (big-endian). Extension lines have no such message."""
    lines = text.decode("utf-8", "replace").split("\n")
    if len(lines) != 4 or lines[3]:
        raise Fail("an ML-DSA-44 signature covers only a checkpoint of origin, size and root "
                   "lines (no extension lines)")
    origin, size_s = lines[0].encode(), lines[1]
    try:
        root = base64.b64decode(lines[2].encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        root = b""
    who = name.encode()
    if (not re.fullmatch(r"0|[1-9][0-9]*", size_s) or int(size_s) > 2**64 - 1 or len(root) != 32
            or not 1 <= len(origin) <= 255 or not 1 <= len(who) <= 255 or t > 2**63 - 1):
        raise Fail("an ML-DSA-44 signature needs a 1-255 byte origin and name, a canonical "
                   "size, a 32-byte root and a time of at most 2^63-1")
    return (b"subtree/v1\n\x00" + bytes([len(who)]) + who + struct.pack(">Q", t)
            + bytes([len(origin)]) + origin + struct.pack(">QQ", 0, int(size_s)) + root)


def _verify_signature(key: Key, text: bytes, sig: bytes) -> int | None:
    """Verify one signature by a pinned key; return the cosigning time for witnesses."""
    if key.alg == ALG_MLDSA44:  # tlog-cosignature v1.1: 8-byte time || ML-DSA-44 signature
        if len(sig) != 8 + MLDSA44_SIG:
            raise Fail(f"ML-DSA-44 signature by {key.name} has the wrong length")
        (t,) = struct.unpack(">Q", sig[:8])
        try:
            MLDSA44PublicKey.from_public_bytes(key.public).verify(
                sig[8:], subtree_message(key.name, t, text))
        except InvalidSignature:
            raise Fail(f"ML-DSA-44 signature by {key.name} ({key.key_id:08x}) does not "
                       "verify") from None
        return t
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


Signers = dict[tuple[str, int], int | None]  # (key name, key id) -> cosigning time or None


def open_note(note: bytes, pinned: dict[tuple[str, int], Key],
              look: Callable[[str], None] | None = None) -> tuple[str, Signers]:
    """A C2SP signed note opened with the pinned keys, by Go's note.Open rules: unknown
    signers are ignored, a bad signature by a pinned key rejects the note, and at least one
    pinned key must have signed. ``look`` sees the text before any signature is checked.
    Returns the text and the pinned keys whose signature verified."""
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
    if look is not None:
        look(text)
    if len(lines) > 100:
        raise Fail("note has more than 100 signatures")
    verified: Signers = {}
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
    return text, verified


def verify_checkpoint(note: bytes, log_keys: list[Key], witnesses: list[Key]) -> Checkpoint:
    """Open the signed note with the pinned keys (:func:`open_note`), then read the
    checkpoint. It must be signed by a pinned Ed25519 log key whose name is the
    checkpoint's origin and whose window holds its size, and by every pinned ML-DSA-44 log
    key of that origin whose window holds it."""
    pq = [k for k in log_keys if k.alg == ALG_MLDSA44]
    log_keys = [k for k in log_keys if k.alg != ALG_MLDSA44]
    def origin_pinned(text: str) -> None:
        origin = text.split("\n", 1)[0]
        if not any(k.name == origin for k in log_keys):
            raise Fail(f"the checkpoint is of the log {origin[:80]!r}, which is not pinned "
                       f"(pinned: {', '.join(k.name for k in log_keys)[:150]})")

    pinned = {(k.name, k.key_id): k for k in [*log_keys, *pq, *witnesses]}
    text, verified = open_note(note, pinned, origin_pinned)
    origin = text.split("\n", 1)[0]
    body_lines = text[:-1].split("\n")
    if len(body_lines) < 3 or not body_lines[0]:
        raise Fail("checkpoint needs origin, size and root lines")
    _, size_s, root_s, *ext = body_lines
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
    own = [k for k in log_keys if k.name == origin and (k.name, k.key_id) in verified]
    size = int(size_s)
    if not own:
        raise Fail(f"checkpoint is not signed by the pinned log key {origin[:80]}")
    if not any(k.window is None or k.window[0] <= size <= k.window[1] for k in own):
        k = own[0]
        assert k.window is not None
        raise Fail(f"checkpoint of size {size} is signed only by the log key "
                   f"{k.name}+{k.key_id:08x}, which is pinned for checkpoints of sizes "
                   f"{k.window[0]} to {k.window[1]} (rotated out or revoked)")
    for k in pq:  # a pinned post-quantum key is required, not an alternative
        if k.name == origin and k.window is not None and k.window[0] <= size <= k.window[1] \
                and (k.name, k.key_id) not in verified:
            e = Fail(f"checkpoint of size {size} has no signature by the pinned ML-DSA-44 "
                     f"log key {k.name}+{k.key_id:08x}, required from size {k.window[0]}")
            e.zh = (f"大小为 {size} 的检查点缺少固定的 ML-DSA-44 日志公钥 {k.name}+"  # type: ignore[attr-defined]
                    f"{k.key_id:08x} 的签名（自大小 {k.window[0]} 起必须有该抗量子签名）")
            raise e
    logs = {(k.name, k.key_id) for k in [*log_keys, *pq]}
    cosigners = [(who, t) for who, t in verified.items()
                 if pinned[who].alg in COSIGNING and t is not None and who not in logs]
    return Checkpoint(text, origin, int(size_s), root, cosigners)


# ---- the log's key entries (docs/formats.md "Log key rotation") -------------------------
# A bundle carries none; audit_ledger.py and monitor_log.py, which read the log's entries,
# check each key.rotated / key.revoked entry here (the rules of evidence/ledger/log_keys.py,
# held by tests/auditor/test_key_entries.py) and the key.mldsa_added entry (the rules of
# evidence/ledger/pq_key.py, held by tests/auditor/test_monitor_mldsa.py and
# tests/auditor/test_audit_ledger_mldsa.py).

KEY_ROTATED, KEY_REVOKED, KEY_MLDSA_ADDED = "key.rotated", "key.revoked", "key.mldsa_added"
UNTIL_OPEN = 2**64 - 1  # the window of the key now signing: no end


@dataclass
class KeyWindow:
    key: Key
    from_size: int
    until_size: int | None  # None: the key now signing
    revoked: bool = False
    seq: int | None = None  # the key.rotated entry that made it, None for the first key

    @property
    def pinned(self) -> Key:
        """The key with its window, as verify_checkpoint takes it."""
        return replace(self.key, window=(self.from_size, UNTIL_OPEN if self.until_size is None
                                         else self.until_size))


def follow_key_entry(wins: list[KeyWindow], seq: int, typ: str, body: Any) -> None:
    """Apply one ``key.*`` entry to ``wins`` (the log's keys so far, the current one last);
    raise :class:`Fail` naming the rule it breaks: for key.rotated both Ed25519 signatures
    over ``evidence.key.rotated/v1``, ``old_key`` the current key, ``new_key`` never seen,
    ``from_size = seq + 1 <= until_size``; for key.revoked a retired key's window only
    narrowed."""
    if typ == KEY_ROTATED:
        want = {"old_key", "new_key", "from_size", "until_size", "old_signature",
                "new_signature"}
        if not isinstance(body, dict) or set(body) != want:
            raise Fail(f"entry {seq}: key.rotated needs exactly the fields {sorted(want)}")
        f, u = body["from_size"], body["until_size"]
        if not all(isinstance(x, str) for x in (body["old_key"], body["new_key"])):
            raise Fail(f"entry {seq}: key.rotated's keys are verifier keys (text)")
        if body["old_key"] != wins[-1].key.text:
            raise Fail(f"entry {seq}: key.rotated's old key is not the key then signing the "
                       f"log ({wins[-1].key.name}+{wins[-1].key.key_id:08x})")
        if any(w.key.text == body["new_key"] for w in wins):
            raise Fail(f"entry {seq}: key.rotated's new key is one the log already had")
        if type(f) is not int or type(u) is not int or f != seq + 1 or u < f:
            raise Fail(f"entry {seq}: key.rotated's from_size must be its seq + 1 ({seq + 1}) "
                       "and until_size at least that")
        try:
            new = parse_key(body["new_key"])
        except Fail as e:
            raise Fail(f"entry {seq}: key.rotated's new key: {e}") from None
        if new.alg != ALG_ED25519 or new.name != wins[-1].key.name:
            raise Fail(f"entry {seq}: key.rotated's new key is not an Ed25519 key named "
                       f"after the log ({wins[-1].key.name[:80]})")
        msg = (f"evidence.key.rotated/v1\n{body['old_key']}\n{body['new_key']}\n{f}\n{u}\n"
               ).encode()
        for which, key in (("old", wins[-1].key), ("new", new)):
            try:
                sig = base64.b64decode(str(body[f"{which}_signature"]).encode("ascii"),
                                       validate=True)
                Ed25519PublicKey.from_public_bytes(key.public).verify(sig, msg)
            except (binascii.Error, UnicodeEncodeError, ValueError, InvalidSignature):
                raise Fail(f"entry {seq}: key.rotated's {which}_signature does not verify "
                           f"(the {which} key did not sign this rotation)") from None
        wins[-1].until_size = u
        wins.append(KeyWindow(new, f, None, seq=seq))
    elif typ == KEY_REVOKED:
        if not isinstance(body, dict) or not {"key", "until_size"} <= set(body) \
                or not set(body) <= {"key", "until_size", "reason"}:
            raise Fail(f"entry {seq}: key.revoked is {{key, until_size, reason}}")
        w = next((w for w in wins if w.key.text == body["key"]), None)
        n = body["until_size"]
        if w is None:
            raise Fail(f"entry {seq}: key.revoked names a key that is not one of this log's")
        if w is wins[-1] or type(n) is not int or not w.from_size <= n or (
                w.until_size is not None and n > w.until_size):
            raise Fail(f"entry {seq}: key.revoked must narrow the window of a retired key "
                       f"(now {w.from_size}..{w.until_size})")
        w.until_size, w.revoked = n, True


MLDSA_ADDED_FIELDS = frozenset({"log_key", "mldsa_key", "from_size", "log_signature",
                                "mldsa_signature"})


class KeyEntryFail(Fail):
    """A log key entry that breaks the rules; ``seq`` is the entry to name."""

    def __init__(self, seq: int, message: str) -> None:
        super().__init__(message)
        self.seq = seq


class NoMLDSA(Fail):
    """The log added an ML-DSA-44 key and this Python's cryptography cannot verify one: the
    entry could not be checked (a usage error, not a fault of the log)."""


def mldsa_added_key(entries: Iterable[tuple[int, str, Any]], log_keys: list[Key]
                    ) -> tuple[int, Key] | None:
    """The log's ML-DSA-44 key from its ``key.mldsa_added`` entry among ``entries`` ((seq,
    type, body) in seq order; other types are passed over) and the entry's seq, the key
    with its window from ``from_size`` on (required there, as a ``#@ log-mldsa`` line
    makes it); None when the log added none. ``log_keys``: the log's Ed25519 keys (pinned
    or rotated to). The rules of evidence/ledger/pq_key.py (docs/formats.md
    "key.mldsa_added"): one per log, exactly the five fields, ``from_size = seq + 1``,
    ``log_key`` one of ``log_keys``, ``mldsa_key`` a 0x06 key named after the log, both
    signatures over ``evidence.key.mldsa_added/v1``. Raises :class:`KeyEntryFail` naming
    the entry that breaks them (the second one, for a second), :class:`NoMLDSA` when
    ML-DSA-44 cannot be verified here."""
    added = [(seq, body) for seq, typ, body in entries if typ == KEY_MLDSA_ADDED]
    if not added:
        return None
    if len(added) > 1:
        raise KeyEntryFail(added[1][0], f"entry {added[1][0]}: a second {KEY_MLDSA_ADDED} "
                                        "(one ML-DSA-44 key per log)")
    seq, body = added[0]

    def bad(why: str) -> KeyEntryFail:
        return KeyEntryFail(seq, f"entry {seq}: {KEY_MLDSA_ADDED} {why}")

    if not isinstance(body, dict) or set(body) != MLDSA_ADDED_FIELDS:
        raise bad(f"needs exactly the fields {sorted(MLDSA_ADDED_FIELDS)}")
    lk, pk, f = body["log_key"], body["mldsa_key"], body["from_size"]
    if type(f) is not int or f != seq + 1:
        raise bad(f"from_size must be its seq + 1 ({seq + 1})")
    ed = {k.text: k for k in log_keys if k.alg == ALG_ED25519}
    if not isinstance(lk, str) or lk not in ed:
        raise bad("log_key is not one of the log's Ed25519 keys (pinned or rotated to)")
    if MLDSA44PublicKey is None:
        raise NoMLDSA(f"the log added an ML-DSA-44 key at entry {seq}, and this Python's "
                      "cryptography cannot verify ML-DSA-44 (pip install 'cryptography>=47')")
    try:
        pq = parse_key(str(pk))
    except Fail as err:
        raise bad(f"mldsa_key: {err}") from None
    if pq.alg != ALG_MLDSA44 or pq.name != ed[lk].name:
        raise bad("mldsa_key is not an ML-DSA-44 (0x06) key named after the log")
    msg = f"evidence.key.mldsa_added/v1\n{lk}\n{pk}\n{f}\n".encode()
    try:
        log_sig = base64.b64decode(str(body["log_signature"]).encode("ascii"), validate=True)
        pq_sig = base64.b64decode(str(body["mldsa_signature"]).encode("ascii"), validate=True)
        Ed25519PublicKey.from_public_bytes(ed[lk].public).verify(log_sig, msg)
        MLDSA44PublicKey.from_public_bytes(pq.public).verify(pq_sig, msg)
    except (binascii.Error, UnicodeEncodeError, ValueError, InvalidSignature):
        raise bad("has a signature that does not verify (both keys sign the entry)") from None
    return seq, replace(pq, window=(f, UNTIL_OPEN))


# ==== 4. RFC 3161 timestamp tokens, checked here (CMS, RFC 5652) ==========================
#
# A token is a CMS ContentInfo holding a SignedData whose content is a TSTInfo. We read it
# with a small strict DER reader (below), check every signed statement ourselves and let
# ``cryptography`` do only the arithmetic (signatures) and the certificate parsing. The
# order: structure -> signer certificate -> signed attributes (contentType, messageDigest,
# ESSCertID[v2]) -> the CMS signature -> TSTInfo (version, imprint, genTime) -> the chain to
# a pinned root. A chain that ends at a root nobody pinned is Untrusted (skipped, see
# docs/verdict.md); every other failure is Fail: the token is damaged or altered.

OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_TST_INFO = "1.2.840.113549.1.9.16.1.4"
OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
OID_SIGNING_CERTIFICATE = "1.2.840.113549.1.9.16.2.12"  # ESSCertID (SHA-1), RFC 2634
OID_SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"  # ESSCertIDv2, RFC 5035
OID_RSA = "1.2.840.113549.1.1.1"
OID_RSA_PSS = "1.2.840.113549.1.1.10"
OID_MGF1 = "1.2.840.113549.1.1.8"
OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
OID_SHA1 = "1.3.14.3.2.26"
HASHES = {  # the digests a token may use, by OID
    "2.16.840.1.101.3.4.2.1": hashes.SHA256(),
    "2.16.840.1.101.3.4.2.2": hashes.SHA384(),
    "2.16.840.1.101.3.4.2.3": hashes.SHA512(),
}
SHA256_OID = "2.16.840.1.101.3.4.2.1"
RSA_WITH = {"1.2.840.113549.1.1.11": SHA256_OID, "1.2.840.113549.1.1.12":
            "2.16.840.1.101.3.4.2.2", "1.2.840.113549.1.1.13": "2.16.840.1.101.3.4.2.3"}
ECDSA_WITH = {"1.2.840.10045.4.3.2": SHA256_OID, "1.2.840.10045.4.3.3":
              "2.16.840.1.101.3.4.2.2", "1.2.840.10045.4.3.4": "2.16.840.1.101.3.4.2.3"}
CURVES = ("secp256r1", "secp384r1")  # P-256 and P-384
MAX_CHAIN = 8

SEQ, SET, INT, OCTETS, OID, NULL, BOOL, GENTIME = 0x30, 0x31, 0x02, 0x04, 0x06, 0x05, 0x01, 0x18
CTX0, CTX1, CTX2, CTX3 = 0xA0, 0xA1, 0xA2, 0xA3


# -- a strict DER reader (X.690 section 10): definite, minimal lengths; low tag numbers only

@dataclass(frozen=True)
class Tlv:
    """One DER element of ``data``: ``data[start:end]`` is its encoding, ``value`` its content."""

    data: bytes
    tag: int
    start: int
    vstart: int
    end: int

    @property
    def value(self) -> bytes:
        return self.data[self.vstart:self.end]

    @property
    def der(self) -> bytes:
        return self.data[self.start:self.end]

    def children(self, *tags: int | None) -> list[Tlv]:
        """The elements inside this constructed one (they must fill it exactly); with
        ``tags``, their number and tags must be those (None: any tag)."""
        if not self.tag & 0x20:
            raise Fail(f"DER: element at offset {self.start} is not constructed")
        out, pos = [], self.vstart
        while pos < self.end:
            out.append(der_read(self.data, pos, self.end))
            pos = out[-1].end
        if tags and (len(out) != len(tags) or any(
                t is not None and t != c.tag for t, c in zip(tags, out, strict=True))):
            raise Fail(f"DER: unexpected structure at offset {self.start}")
        return out


def der_read(data: bytes, pos: int, limit: int) -> Tlv:
    if pos + 2 > limit or data[pos] & 0x1F == 0x1F:
        raise Fail(f"DER: truncated, or a high tag number, at offset {pos}")
    first, vstart = data[pos + 1], pos + 2
    length = first
    if first == 0x80 or first > 0x84:
        raise Fail(f"DER: indefinite or oversized length at offset {pos}")
    if first > 0x80:
        vstart += first & 0x7F
        octets = data[pos + 2:vstart]
        length = int.from_bytes(octets, "big")
        if vstart > limit or octets[0] == 0 or length < 0x80:
            raise Fail(f"DER: truncated or non-minimal length at offset {pos}")
    if vstart + length > limit:
        raise Fail(f"DER: element at offset {pos} runs past its container")
    return Tlv(data, data[pos], pos, vstart, vstart + length)


def der_parse(data: bytes, tag: int) -> Tlv:
    """``data`` is exactly one element, with this tag."""
    tlv = der_read(data, 0, len(data))
    if tlv.tag != tag or tlv.end != len(data):
        raise Fail("DER: not one element of the expected type")
    return tlv


def der_oid(tlv: Tlv) -> str:
    """An OBJECT IDENTIFIER as dotted text (minimal base-128 arcs, as DER requires)."""
    v = tlv.value
    if tlv.tag != OID or not v or v[-1] & 0x80:
        raise Fail(f"DER: no object identifier at offset {tlv.start}")
    arcs, n = [], 0
    for i, b in enumerate(v):
        if n == 0 and b == 0x80 and (i == 0 or not v[i - 1] & 0x80):
            raise Fail(f"DER: non-minimal object identifier at offset {tlv.start}")
        n = n << 7 | b & 0x7F
        if not b & 0x80:
            arcs.append(n)
            n = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(map(str, [first, arcs[0] - 40 * first, *arcs[1:]]))


def der_int(tlv: Tlv) -> int:
    v = tlv.value
    if tlv.tag != INT or not v or (len(v) > 1 and (v[0], v[1] >> 7) in ((0, 0), (0xFF, 1))):
        raise Fail(f"DER: no minimal INTEGER at offset {tlv.start}")
    return int.from_bytes(v, "big", signed=True)


def der_set_of(elements: list[bytes]) -> bytes:
    """A SET OF in DER: the elements in ascending byte order (X.690 11.6)."""
    return der_encode(SET, b"".join(sorted(elements)))


def der_encode(tag: int, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        return bytes([tag, n]) + value
    octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets + value


def algorithm(tlv: Tlv) -> tuple[str, Tlv | None]:
    """An AlgorithmIdentifier: (OID, parameters or None; an explicit NULL counts as none)."""
    parts = tlv.children()
    if tlv.tag != SEQ or not 1 <= len(parts) <= 2:
        raise Fail(f"DER: no AlgorithmIdentifier at offset {tlv.start}")
    params = parts[1] if len(parts) == 2 else None
    if params is not None and params.tag == NULL and not params.value:
        params = None
    return der_oid(parts[0]), params


def plain_algorithm(tlv: Tlv) -> str:
    """An AlgorithmIdentifier that takes no parameters (a digest, RFC 5754; PKCS#1 v1.5
    and ECDSA signatures, RFC 4055 / RFC 5758): parameters absent or exactly NULL (05 00),
    as OpenSSL and the package's parser read it. Anything else there is a changed token."""
    oid, params = algorithm(tlv)
    if params is not None:
        raise Fail(f"algorithm {oid} has parameters where none are allowed")
    return oid


def digest_of(oid: str, data: bytes) -> bytes:
    if oid not in HASHES:
        raise Fail(f"digest algorithm {oid} is not SHA-256, SHA-384 or SHA-512")
    h = hashes.Hash(HASHES[oid])
    h.update(data)
    return h.finalize()


# -- the certificate fields cryptography does not hand out as DER

def cert_issuer_der(cert: x509.Certificate) -> bytes:
    """The issuer Name exactly as encoded in the certificate (sid and ESS name it so)."""
    tbs = der_parse(cert.tbs_certificate_bytes, SEQ).children()
    i = 1 if tbs and tbs[0].tag == CTX0 else 0  # skip the optional [0] version
    return tbs[i + 2].der  # serialNumber, signature, issuer


def name_text(name_der: bytes) -> str | None:
    """RFC 4514 text of a DER Name (for TSTInfo.tsa), or None if it holds odd strings."""
    try:
        rdns = []
        for rdn in der_parse(name_der, SEQ).children():
            attrs = []
            for atv in rdn.children():
                oid, value = atv.children(OID, None)
                text = (value.value.decode("utf-16-be") if value.tag == 0x1E
                        else value.value.decode("utf-8"))
                attrs.append(x509.NameAttribute(x509.ObjectIdentifier(der_oid(oid)), text))
            rdns.append(x509.RelativeDistinguishedName(attrs))
        return x509.Name(rdns).rfc4514_string()
    except (Fail, ValueError):
        return None


# -- the token

@dataclass(frozen=True)
class TokenVerdict:
    gen_time: datetime
    tsa: str  # TSTInfo.tsa if the TSA named itself, else the signer's subject
    signer: str
    issuer: str
    serial: int
    policy: str
    not_after: datetime | None = None  # the signer certificate's (an RFC 4998 renewal's bound)


def verify_timestamp(token: bytes, message: bytes, roots: list[x509.Certificate],
                     store_roots: list[x509.Certificate] = (), *,
                     imprint: tuple[str, bytes] | None = None) -> TokenVerdict:
    """Check an RFC 3161 TimeStampToken over SHA-256(message), or with ``imprint`` =
    (hash OID, value) one whose message imprint is exactly that (an RFC 4998 archive
    timestamp stamps a hash-tree root).

    ``roots``: the pinned TSA roots; ``store_roots``: roots of an opted-in store (Mozilla's,
    through certifi), trusted the same way. Raises :class:`Untrusted` when the chain ends at
    a root in neither, :class:`Fail` for anything else.
    """
    # ContentInfo ::= SEQUENCE { contentType id-signedData, content [0] EXPLICIT SignedData }
    content_type, content = der_parse(token, SEQ).children(OID, CTX0)
    if der_oid(content_type) != OID_SIGNED_DATA:
        raise Fail("it is not a CMS SignedData")
    (signed_data,) = content.children(SEQ)
    # SignedData ::= SEQUENCE { version, digestAlgorithms SET, encapContentInfo,
    #                           certificates [0] OPTIONAL, crls [1] OPTIONAL, signerInfos SET }
    sd = signed_data.children()
    if len(sd) < 4 or [t.tag for t in sd[:3]] != [INT, SET, SEQ] or sd[-1].tag != SET:
        raise Fail("its SignedData is not version, digestAlgorithms, content, signerInfos")
    if der_int(sd[0]) != 3:  # RFC 5652 section 5.1: the content type is not id-data
        raise Fail("its SignedData version is not 3")
    listed_digests = {plain_algorithm(a) for a in sd[1].children()}
    certs_field = next((t for t in sd[3:-1] if t.tag == CTX0), None)
    if any(t.tag not in (CTX0, CTX1) for t in sd[3:-1]) or len(sd) > 6:
        raise Fail("its SignedData has unexpected fields")
    e_type, e_content = sd[2].children(OID, CTX0)
    if der_oid(e_type) != OID_TST_INFO:
        raise Fail("its content is not a TSTInfo (id-ct-TSTInfo)")
    (octets,) = e_content.children(OCTETS)
    tst_info = octets.value
    signer_infos = sd[-1].children()
    if len(signer_infos) != 1:
        raise Fail(f"it has {len(signer_infos)} SignerInfos, not exactly one")

    # the certificates it carries (an unsigned SET: any order is accepted)
    certs: list[x509.Certificate] = []
    for c in (certs_field.children() if certs_field else []):
        if c.tag != SEQ:  # an attribute or other certificate: nothing a TSA sends
            raise Fail("it carries something other than X.509 certificates")
        try:
            certs.append(x509.load_der_x509_certificate(c.der))
        except ValueError:
            raise Fail("a certificate in it does not parse") from None

    # SignerInfo ::= SEQUENCE { version, sid, digestAlgorithm, signedAttrs [0] IMPLICIT,
    #                           signatureAlgorithm, signature OCTET STRING, unsignedAttrs [1] }
    si = signer_infos[0].children()
    if signer_infos[0].tag != SEQ or len(si) not in (6, 7) or si[0].tag != INT \
            or si[3].tag != CTX0 or si[5].tag != OCTETS or (len(si) == 7 and si[6].tag != CTX1):
        raise Fail("its SignerInfo has no signed attributes, or an unexpected structure")
    # RFC 5652 section 5.3: version 1 with issuerAndSerialNumber, 3 with subjectKeyIdentifier
    if der_int(si[0]) != {SEQ: 1, 0x80: 3}.get(si[1].tag):
        raise Fail("its SignerInfo version does not match how it names the signer")
    signer = find_signer(si[1], certs)
    digest_alg = plain_algorithm(si[2])
    if digest_alg not in listed_digests:
        raise Fail("its SignedData digestAlgorithms does not list the signer's digest")
    attrs = signed_attributes(si[3])
    check_attributes(attrs, digest_alg, tst_info, signer)
    verify_cms_signature(signer, si[4], digest_alg, si[3], si[5].value)

    gen_time, policy, tsa_name = read_tst_info(tst_info, message, imprint)
    chain = build_chain(signer, certs, roots, store_roots)
    check_chain(chain, gen_time)
    subject = signer.subject.rfc4514_string()
    return TokenVerdict(gen_time, tsa_name or subject, subject,
                        signer.issuer.rfc4514_string(), signer.serial_number, policy,
                        signer.not_valid_after_utc)


def find_signer(sid: Tlv, certs: list[x509.Certificate]) -> x509.Certificate:
    """The certificate the SignerInfo names: by issuerAndSerialNumber or by
    subjectKeyIdentifier [0]. It must be among the token's certificates (certReq)."""
    for cert in certs:
        if sid.tag == SEQ:
            issuer, serial = sid.children(SEQ, INT)
            if cert_issuer_der(cert) == issuer.der and cert.serial_number == der_int(serial):
                return cert
        elif sid.tag == 0x80:
            try:
                ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            except x509.ExtensionNotFound:
                continue
            if ski.value.digest == sid.value:
                return cert
        else:
            raise Fail("its SignerInfo names the signer in an unknown way")
    raise Fail("it does not carry the certificate that signed it")


def signed_attributes(field: Tlv) -> dict[str, Tlv]:
    """Attribute ::= SEQUENCE { attrType OID, attrValues SET OF }: type -> the one value.
    A type twice, or with other than one value, is refused (RFC 5652 section 11)."""
    out: dict[str, Tlv] = {}
    for attr in field.children():
        oid, values = attr.children(OID, SET)
        name = der_oid(oid)
        vals = values.children()
        if name in out or len(vals) != 1:
            raise Fail(f"signed attribute {name} is repeated or has {len(vals)} values")
        out[name] = vals[0]
    return out


def check_attributes(attrs: dict[str, Tlv], digest_alg: str, tst_info: bytes,
                     signer: x509.Certificate) -> None:
    """contentType is id-ct-TSTInfo, messageDigest is the hash of the TSTInfo, and an
    ESSCertID or ESSCertIDv2 names the signer certificate (RFC 3161 section 2.4.1): the
    signature then binds the TSTInfo and the certificate, not just some key."""
    if OID_CONTENT_TYPE not in attrs or der_oid(attrs[OID_CONTENT_TYPE]) != OID_TST_INFO:
        raise Fail("its signed contentType is not id-ct-TSTInfo")
    md = attrs.get(OID_MESSAGE_DIGEST)
    if md is None or md.tag != OCTETS:
        raise Fail("it has no signed messageDigest")
    if not hmac.compare_digest(md.value, digest_of(digest_alg, tst_info)):
        raise Fail("messageDigest does not match the TSTInfo")
    ess = [(OID_SHA1, attrs[OID_SIGNING_CERTIFICATE], False)] \
        if OID_SIGNING_CERTIFICATE in attrs else []
    if OID_SIGNING_CERTIFICATE_V2 in attrs:
        ess.append((SHA256_OID, attrs[OID_SIGNING_CERTIFICATE_V2], True))
    if not ess:
        raise Fail("it has no SigningCertificate (ESSCertID) attribute")
    cert_der = signer.public_bytes(serialization.Encoding.DER)
    for default_alg, value, v2 in ess:
        # SigningCertificate[V2] ::= SEQUENCE { certs SEQUENCE OF ESSCertID[v2], policies }
        parts = value.children()
        if value.tag != SEQ or not parts or parts[0].tag != SEQ or not parts[0].children():
            raise Fail("its SigningCertificate attribute is malformed")
        first = parts[0].children()[0].children()  # the first names the signer
        alg = default_alg
        if v2 and first and first[0].tag == SEQ:
            alg = algorithm(first.pop(0))[0]
        if not first or first[0].tag != OCTETS or len(first) > 2:
            raise Fail("its ESSCertID is malformed")
        want = (hashlib.sha1(cert_der).digest() if alg == OID_SHA1
                else digest_of(alg, cert_der))
        if not hmac.compare_digest(first[0].value, want):
            raise Fail("its ESSCertID does not name the signer certificate")
        if len(first) == 2:  # IssuerSerial ::= SEQUENCE { GeneralNames, serialNumber }
            names, serial = first[1].children(SEQ, INT)
            dir_names = [n.children()[0].der for n in names.children() if n.tag == 0xA4]
            if der_int(serial) != signer.serial_number or \
                    cert_issuer_der(signer) not in dir_names:
                raise Fail("its ESSCertID issuerSerial does not name the signer certificate")


def verify_cms_signature(signer: x509.Certificate, sig_alg: Tlv, digest_alg: str,
                         attrs_field: Tlv, signature: bytes) -> None:
    """The signature is over the signed attributes encoded as a SET OF (tag 0x31), not over
    their [0] IMPLICIT form in the token (RFC 5652 section 5.4). They must be DER already,
    so that is the bytes as stored with the first octet changed; were they out of DER order,
    the signature is checked over the bytes as stored, as OpenSSL does."""
    oid, params = algorithm(sig_alg)
    if oid != OID_RSA_PSS and params is not None:
        raise Fail(f"signature algorithm {oid} has parameters where none are allowed")
    if digest_alg not in HASHES:
        raise Fail(f"its digest algorithm {digest_alg} is not SHA-256, SHA-384 or SHA-512")
    signed = bytes([SET]) + attrs_field.der[1:]
    key = signer.public_key()
    try:
        if oid in (OID_RSA, *RSA_WITH):
            if not isinstance(key, rsa.RSAPublicKey) or RSA_WITH.get(oid, digest_alg) != \
                    digest_alg:
                raise Fail(f"signature algorithm {oid} does not fit the key or digest")
            key.verify(signature, signed, padding.PKCS1v15(), HASHES[digest_alg])
        elif oid == OID_RSA_PSS:
            if not isinstance(key, rsa.RSAPublicKey):
                raise Fail("an RSA-PSS signature by a key that is not RSA")
            key.verify(signature, signed, pss_padding(params, digest_alg), HASHES[digest_alg])
        elif oid in (OID_EC_PUBLIC_KEY, *ECDSA_WITH):
            if not isinstance(key, ec.EllipticCurvePublicKey) or \
                    ECDSA_WITH.get(oid, digest_alg) != digest_alg:
                raise Fail(f"signature algorithm {oid} does not fit the key or digest")
            if key.curve.name not in CURVES:
                raise Fail(f"the signer's curve {key.curve.name} is not P-256 or P-384")
            key.verify(signature, signed, ec.ECDSA(HASHES[digest_alg]))
        else:
            raise Fail(f"signature algorithm {oid} is not RSA, RSA-PSS or ECDSA")
    except InvalidSignature:
        raise Fail("the CMS signature does not verify") from None


def pss_padding(params: Tlv | None, digest_alg: str) -> padding.PSS:
    """RSASSA-PSS-params (RFC 4055): hash and MGF1 hash equal to the digest algorithm,
    the salt length as stated, trailer field 1. Defaults (SHA-1) are refused."""
    if params is None or params.tag != SEQ:
        raise Fail("its RSA-PSS signature has no parameters (SHA-1 defaults are refused)")
    fields = {t.tag: t.children()[0] for t in params.children()
              if t.tag in (CTX0, CTX1, CTX2, CTX3) and len(t.children()) == 1}
    if len(fields) != len(params.children()) or CTX0 not in fields or CTX1 not in fields:
        raise Fail("its RSA-PSS parameters are malformed or use SHA-1 defaults")
    mgf, mgf_hash = algorithm(fields[CTX1])
    if algorithm(fields[CTX0])[0] != digest_alg or mgf != OID_MGF1 or mgf_hash is None \
            or algorithm(mgf_hash)[0] != digest_alg:
        raise Fail("its RSA-PSS hash or MGF1 hash is not the digest algorithm")
    salt = der_int(fields[CTX2]) if CTX2 in fields else 20
    if (CTX3 in fields and der_int(fields[CTX3]) != 1) or not 0 <= salt <= 1024:
        raise Fail("its RSA-PSS trailer field or salt length is not allowed")
    return padding.PSS(mgf=padding.MGF1(HASHES[digest_alg]), salt_length=salt)


GENTIME_RE = re.compile(rb"\A(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:\.(\d*[1-9]))?Z\Z")


def read_tst_info(tst_info: bytes, message: bytes, imprint: tuple[str, bytes] | None = None
                  ) -> tuple[datetime, str, str | None]:
    """TSTInfo ::= SEQUENCE { version 1, policy, messageImprint, serialNumber, genTime,
    accuracy, ordering, nonce, tsa [0], extensions [1] }: (genTime, policy, TSA name)."""
    f = der_parse(tst_info, SEQ).children()
    if len(f) < 5 or [t.tag for t in f[:5]] != [INT, OID, SEQ, INT, GENTIME]:
        raise Fail("its TSTInfo is malformed")
    if der_int(f[0]) != 1:
        raise Fail("its TSTInfo version is not 1")
    alg_field, hashed = f[2].children(SEQ, OCTETS)
    if imprint is not None:
        if algorithm(alg_field)[0] != imprint[0] or hashed.value != imprint[1]:
            raise Fail("it does not time-stamp the root of the hash tree")
    elif algorithm(alg_field)[0] != SHA256_OID:
        raise Fail("its message imprint is not SHA-256")
    elif not hmac.compare_digest(hashed.value, sha256(message)):
        raise Fail("it time-stamps other data than this checkpoint")
    m = GENTIME_RE.match(f[4].value)
    if not m:
        raise Fail("its genTime is not a strict GeneralizedTime (UTC, Z)")
    try:
        gen_time = datetime(*map(int, m.groups()[:6]), tzinfo=UTC)
    except ValueError:
        raise Fail("its genTime is not a valid date") from None
    if m.group(7):
        gen_time = gen_time.replace(microsecond=int(m.group(7)[:6].ljust(6, b"0")))
    tsa_name = None
    for t in f[5:]:
        if t.tag == CTX0:  # tsa [0] EXPLICIT GeneralName; directoryName is [4] EXPLICIT Name
            (general,) = t.children()
            if general.tag == 0xA4:
                tsa_name = name_text(general.children(SEQ)[0].der)
    return gen_time, der_oid(f[1]), tsa_name


def build_chain(signer: x509.Certificate, certs: list[x509.Certificate],
                roots: list[x509.Certificate], store_roots: list[x509.Certificate]
                ) -> list[x509.Certificate]:
    """Signer, intermediates from the token, then a pinned (or store) root, each certificate
    signed by the next (``verify_directly_issued_by``). Untrusted when no path reaches one."""
    chain = [signer]
    # a link whose signature does not verify is followed by name and judged only once the
    # chain ends at a pinned root (docs/verdict.md section 1: step 2 by names, signatures in
    # step 3), as the package does; tests/verdicts/test_ers_member.py "broken-chain"
    broken = False
    while len(chain) <= MAX_CHAIN:
        cert = chain[-1]
        for root in [*roots, *store_roots]:
            if root.subject == cert.issuer and issued_by(cert, root):
                if broken:
                    raise Fail("a certificate in its chain is not signed by its issuer")
                if not key_ids_match(cert, root):
                    # named and signed by a pinned root whose key identifier is another:
                    # the package (OpenSSL) refuses this chain, so it fails, not skipped
                    raise Fail(f"the pinned root {root.subject.rfc4514_string()[:120]} has a "
                               "subjectKeyIdentifier other than the authorityKeyIdentifier "
                               "of the certificate it would have issued")
                if root.issuer != root.subject or not key_ids_match(root, root):
                    # OpenSSL (the package) takes only a self-issued certificate as the end
                    # of a path and looks in vain for this one's issuer
                    raise Fail(f"the pinned root {root.subject.rfc4514_string()[:120]} is not "
                               "self-issued (its issuer is another name), so no path ends at it")
                return [*chain, root]
        named = [c for c in certs if c.subject == cert.issuer and c not in chain]
        if not named:
            raise Untrusted(f"its chain ends at {cert.issuer.rfc4514_string()[:120]}, "
                            "which is not a pinned TSA root",
                            tsa=signer.subject.rfc4514_string()[:120])
        nxt = next((c for c in named if issued_by(cert, c) and key_ids_match(cert, c)), None)
        if nxt is None:
            broken = True
            nxt = next((c for c in named if key_ids_match(cert, c)), named[0])
        chain.append(nxt)
    raise Fail(f"its certificate chain is longer than {MAX_CHAIN}")


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def key_ids_match(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """RFC 5280 path building as OpenSSL does it (docs/verdict.md section 1, step 2): when
    the certificate has an authorityKeyIdentifier keyIdentifier and the issuer a
    subjectKeyIdentifier, the two are equal."""
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return True
    except ValueError:  # an extension cryptography cannot read: no path through it
        return False
    return aki.key_identifier is None or aki.key_identifier == ski.digest


def check_chain(chain: list[x509.Certificate], gen_time: datetime) -> None:
    """Every certificate valid at genTime, with no critical extension we do not know (RFC
    5280 section 4.2: such a certificate must be refused); the signer's extendedKeyUsage
    critical and exactly id-kp-timeStamping (RFC 3161 section 2.3) and its keyUsage, if
    any, allowing signatures; every issuer a CA (basicConstraints, path length,
    keyCertSign). No revocation check: none is possible offline."""
    for cert in chain:
        who = cert.subject.rfc4514_string()[:120]
        if not cert.not_valid_before_utc <= gen_time <= cert.not_valid_after_utc:
            raise Fail(f"certificate {who} was not valid at genTime {gen_time.isoformat()}")
        unknown = [e.oid.dotted_string for e in cert.extensions
                   if e.critical and isinstance(e.value, x509.UnrecognizedExtension)]
        if unknown:
            raise Fail(f"certificate {who} has a critical extension this verifier does not "
                       f"know ({', '.join(unknown)[:80]})")
    try:
        signer_ku = chain[0].extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        signer_ku = None
    if signer_ku is not None and not (signer_ku.digital_signature
                                      or signer_ku.content_commitment):
        raise Fail("the TSA certificate's keyUsage does not allow signatures")
    try:
        eku = chain[0].extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        raise Fail("the TSA certificate has no extendedKeyUsage") from None
    if not eku.critical or list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise Fail("the TSA certificate's extendedKeyUsage is not critical "
                   "id-kp-timeStamping only")
    for depth, issuer in enumerate(chain[1:]):
        try:
            bc = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            bc = None
        if bc is None or not bc.ca or (bc.path_length is not None and depth > bc.path_length):
            raise Fail(f"issuer {issuer.subject.rfc4514_string()[:120]} is not a CA "
                       "(basicConstraints)")
        try:
            ku = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            ku = None
        if ku is not None and not ku.key_cert_sign:
            raise Fail(f"issuer {issuer.subject.rfc4514_string()[:120]} may not sign "
                       "certificates (keyUsage)")


# ==== 5. reading the archive (hostile input) ==============================================

FORMAT_V1, FORMAT_V2 = "evidence-bundle/v1", "evidence-bundle/v2"
FORMATS = (FORMAT_V1, FORMAT_V2)
INDEX = "index.html"  # v2: a static page linking the files (informational, like the report)
MEMBER_PATTERNS = [re.compile(p) for p in (
    r"\Amanifest\.json\Z",
    r"\Aentries/(0|[1-9][0-9]{0,15})\.entry\Z",
    r"\Aproofs/(0|[1-9][0-9]{0,15})\.json\Z",
    r"\Acheckpoint/checkpoint\.note\Z",
    r"\Atimestamps/(0|[1-9][0-9]{0,2})\.(tst|chain\.pem)\Z",
    r"\Ametadata/metadata\.json\Z",
    r"\Afiles/[0-9a-f]{64}\Z",
    r"\Areport/report\.(html|txt|pdf)\Z",
    r"\Atools/verify_bundle\.py\Z",  # a copy of this script (docs/verdict.md section 4)
    r"\Atlog-proof/item\.tlog-proof\Z",  # the submission's tlog-proof (docs/bundle.md)
    r"\Aers/item\.ers\Z",  # the item's RFC 4998 evidence record (docs/bundle.md)
    r"\Aindex\.html\Z",
)]
V1_FILE = re.compile(r"\Afiles/[0-9a-f]{64}\Z")
V2_FILE = re.compile(r"\Afiles/([0-9a-f]{64})/(.+)\Z", re.DOTALL)  # the part: name_part_ok

# -- v2 file names (docs/bundle.md "File names (v2)"): the same steps as the package's
# evidence/verify/bundle_names.py and the page, on code points in fixed ranges only, so
# that every verifier of every Python or Unicode version derives the same name.
REPLACED = re.compile(
    "[\x00-\x1f\x7f-\x9f\"*/:<>?\\\\|\ud800-\udfff\u061c\u200b-\u200f\u202a-\u202e"
    "\u2028\u2029\u2060-\u206f\ufeff\ufdd0-\ufdef\ufff0-\uffff\U000e0000-\U000e007f]")
DEVICES = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
           *(p + d for p in ("COM", "LPT") for d in "0123456789\u00b9\u00b2\u00b3")}
PROGRAMS = {"app", "appref-ms", "application", "bat", "cmd", "com", "command", "cpl", "desktop",
            "exe", "hta", "inf", "jar", "js", "jse", "lnk", "msc", "msi", "msp", "pif", "ps1",
            "psm1", "reg", "scf", "scr", "sct", "sh", "url", "vb", "vbe", "vbs", "ws", "wsc",
            "wsf", "wsh"}
MAX_NAME_BYTES, MAX_EXT_BYTES, MAX_PART_BYTES = 120, 16, 255


def replaced(c: str) -> bool:
    """Step 2: a code point that becomes ``_`` (the ranges, and every noncharacter)."""
    return bool(REPLACED.match(c)) or ord(c) & 0xFFFE == 0xFFFE


def utf8_len(s: str) -> int:
    return sum(1 if c < "\x80" else 2 if c < "\u0800" else 3 if c < "\U00010000" else 4
               for c in s)


def safe_name(name: Any) -> str:
    """The name a v2 bundle stores a file under, from the name the entry gives it."""
    s = "".join("_" if replaced(c) else c for c in (name if isinstance(name, str) else ""))
    s = s.strip(" .")
    if utf8_len(s) > MAX_NAME_BYTES:
        dot = s.rfind(".")
        ext = s[dot:] if dot > 0 and utf8_len(s[dot:]) <= MAX_EXT_BYTES else ""
        room, keep = MAX_NAME_BYTES - utf8_len(ext), ""
        for c in s[:len(s) - len(ext)]:
            room -= utf8_len(c)
            if room < 0:
                break
            keep += c
        s = (keep + ext).strip(" .")
    s = s or "file"
    if s.split(".", 1)[0].rstrip(" ").translate(ASCII_UPPER) in DEVICES:
        s = "_" + s
    dot = s.rfind(".")
    if dot >= 0 and s[dot + 1:].translate(ASCII_LOWER) in PROGRAMS:
        s += "_"
    return s


ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def name_part_ok(part: str) -> bool:
    """The archive check's rule for the name part of a v2 file member: 1-255 bytes, no code
    point of step 2 (no ``/``, ``\\``, control or bidi character), no space or dot at
    either end (not ``.`` or ``..``)."""
    return (0 < utf8_len(part) <= MAX_PART_BYTES and not any(replaced(c) for c in part)
            and part.strip(" .") == part)


def known_name(name: str) -> bool:
    if any(p.match(name) for p in MEMBER_PATTERNS):
        return True
    m = V2_FILE.match(name)
    return m is not None and name_part_ok(m.group(2))


def file_members(fmt: str, declared: list[dict[str, Any]]) -> dict[str, str]:
    """SHA-256 -> the member that holds it: v1 files/<sha256>; v2 files/<sha256>/<safe name
    of the first file the entry lists with it>."""
    out: dict[str, str] = {}
    for f in declared:
        h = f["sha256"]
        out.setdefault(h, f"files/{h}" if fmt == FORMAT_V1 else
                       f"files/{h}/{safe_name(f.get('name'))}")
    return out


def extra_ids(extra: bytes) -> Iterator[int]:
    pos = 0
    while pos + 4 <= len(extra):
        ident, size = struct.unpack_from("<HH", extra, pos)
        yield ident
        pos += 4 + size
TOOL_MEMBER = "tools/verify_bundle.py"
MAX_MEMBERS, MAX_FILE, MAX_TOTAL, MAX_SMALL, MAX_RATIO = 20_000, 64 << 30, 256 << 30, 16 << 20, 200


ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
              zlib.error, NotImplementedError, RuntimeError)  # what zipfile raises when damaged


class Rezipped(Fail):
    """The archive was unzipped and zipped again (a clerk's tool, not the exporter): its
    bytes are no longer the ones the log vouches for in the same way, and the court should
    ask for the original file rather than read a technical error."""


def looks_rezipped(infos: list[zipfile.ZipInfo]) -> bool:
    """Signs that a general-purpose ZIP tool wrote the archive: folder entries, a common
    top folder (the bundle was unpacked into one), macOS resource forks, or an evidence file
    compressed (the exporter stores them)."""
    names = [i.filename for i in infos]
    tops = {n.split("/", 1)[0] for n in names}
    return (any(n.endswith("/") or n.startswith("__MACOSX/") for n in names)
            or (len(tops) == 1 and any(n.endswith("/manifest.json") for n in names))
            or any(i.filename.startswith("files/") and i.compress_type != zipfile.ZIP_STORED
                   for i in infos))


class Archive:
    """The ZIP, opened with every structural check done before anything is read."""

    def __init__(self, path: str) -> None:
        try:
            self.zip = zipfile.ZipFile(path)
        except ZIP_ERRORS as e:
            raise Fail(f"not a readable ZIP archive: {e}") from None
        try:
            self._check_structure()
        except Fail as e:
            self.zip.close()
            if looks_rezipped(self.zip.infolist()):
                raise Rezipped(str(e)) from None
            raise

    def _check_structure(self) -> None:
        infos = self.zip.infolist()
        if len(infos) > MAX_MEMBERS:
            raise Fail(f"archive has {len(infos)} members; the limit is {MAX_MEMBERS}")
        self.infos: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = info.filename
            if "\0" in info.orig_filename:
                raise Fail(f"member name {name[:100]!r} has a NUL byte")
            if not info.flag_bits & 0x800 and not info.orig_filename.isascii():
                raise Fail(f"member name {name[:100]!r} is not ASCII and not marked UTF-8")
            if any(i in (0x7075, 0x6375) for i in extra_ids(info.extra)):
                raise Fail(f"member {name[:100]!r} carries a second (Unicode) name that unzip "
                           "tools would show instead")
            if not known_name(name):
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
                for chunk in self._stored(info):
                    h.update(chunk)
                    n += len(chunk)
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

    def read_file(self, name: str) -> bytes:
        """An evidence file (a stored ``files/`` member), whole, read as :meth:`digest`
        reads it, so that its bytes are the ones the ``files`` check hashed (a web
        capture's WACZ). Memory is the file's size."""
        info = self.infos.get(name)
        if info is None or info.compress_type != zipfile.ZIP_STORED:
            raise Fail(f"member {name!r} is missing or not stored")
        try:
            data = b"".join(self._stored(info))
        except ZIP_ERRORS as e:
            raise Fail(f"member {name!r} is damaged: {e}") from None
        if len(data) != info.file_size:
            raise Fail(f"member {name!r} is not the size its header declares")
        return data

    def _stored(self, info: zipfile.ZipInfo) -> Iterator[bytes]:
        """A stored member's bytes straight from the archive, after its local header's
        method and name are checked against the central directory."""
        name = info.filename
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
            left -= len(chunk)
            yield chunk


def read_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Fail(f"{what} is not UTF-8 JSON") from None


# ==== 6. the checks =======================================================================
#
# Each check is pass, fail or not-checked (docs/verdict.md section 1); the top verdict is
# computed from them alone (section 2). Reasons are one line each in plain words; library
# text goes to ``debug`` (printed with --debug), never into a reason.

PASS, FAIL, NOT_CHECKED = "pass", "fail", "not-checked"
MAX_REASON = 300


def one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_REASON else text[:MAX_REASON - 3] + "..."


@dataclass
class Report:
    checks: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=lambda: {
        "format": None, "evidence_id": None, "provisional": False, "checkpoint": None,
        "submitted_at": None, "preserved_no_later_than": [], "purged": False, "files": [],
        "compared": [], "custody": [], "metadata": None, "still_in_log": None, "tool": None,
        "webcapture": None})
    debug: list[str] = field(default_factory=list)
    running: str = "archive"  # the check in progress: a structural surprise fails this one

    def add(self, name: str, status: bool | str, reason: str, reason_zh: str,
            required: bool = True, detail: str | None = None) -> None:
        """``status``: True (pass), False (fail) or NOT_CHECKED."""
        if status is True:
            status = PASS
        elif status is False:
            status = FAIL
        assert status in (PASS, FAIL, NOT_CHECKED)
        self.checks.append({"name": name, "status": status, "ok": status == PASS,
                            "required": required, "reason": one_line(reason),
                            "reason_zh": one_line(reason_zh)})
        if detail:
            self.debug.append(f"{name}: {detail}")

    def status(self, name: str) -> str | None:
        return next((c["status"] for c in self.checks if c["name"] == name), None)

    @property
    def failed_check(self) -> str | None:
        return next((c["name"] for c in self.checks if c["status"] == FAIL), None)

    @property
    def not_checked(self) -> list[str]:
        return [c["name"] for c in self.checks if c["status"] == NOT_CHECKED]

    @property
    def verdict(self) -> str:
        """failed > provisional > incomplete > verified, from the checks alone."""
        if not self.checks or self.failed_check:
            return "failed"
        if self.facts["provisional"]:
            return "provisional"
        # a supplementary check (required false: evidence_record) not made is listed, not
        # counted; its failure still fails (docs/verdict.md section 2)
        return "incomplete" if any(c["status"] == NOT_CHECKED and c["required"]
                                   for c in self.checks) else "verified"

    def to_json(self) -> dict[str, Any]:
        """After a failure nothing is claimed: no time, no "included" (section 2)."""
        facts = dict(self.facts)
        if self.verdict == "failed":
            facts["preserved_no_later_than"] = []
            facts["webcapture"] = None
            facts["files"] = [{k: v for k, v in f.items() if k != "included"}
                              for f in facts["files"]]
        return {"verdict": self.verdict, "ok": self.verdict == "verified",
                "failed_check": self.failed_check, "not_checked": self.not_checked,
                **facts, "checks": self.checks}


EXIT = {"verified": 0, "failed": 1, "provisional": 3, "incomplete": 3}


def verify_bundle(path: str, trust: Trust, compare: list[tuple[str, str]] = ()) -> Report:
    """Every check, in order; ``compare``: (name, SHA-256 hex) of the judge's own files."""
    report = Report()
    try:
        archive = Archive(path)
    except Rezipped as e:
        report.add("archive", False, "not the original bundle file: ask for the original",
                   "不是原始证据包文件：请索取原件", detail=str(e))
        return report
    except Fail as e:
        report.add("archive", False, str(e), f"归档文件不安全或已损坏：{e}")
        return report
    with archive.zip:
        report.add("archive", True, "archive structure is safe and within limits",
                   "归档结构安全，且未超出限制")
        try:
            run_checks(archive, trust, compare, report)
        except Fail as e:  # a member that cannot be read, JSON that does not parse, ...
            report.add(report.running, False, f"bundle is malformed: {e}",
                       "证据包格式错误（详见英文说明）", detail=str(e))
        except Exception as e:  # any surprise in hostile input: fail closed, never crash
            report.add(report.running, False, f"bundle is malformed ({type(e).__name__}); it "
                       "is not accepted", f"证据包格式错误（{type(e).__name__}）；不予接受",
                       detail=f"{type(e).__name__}: {e}")
    return report


def run_checks(archive: Archive, trust: Trust, compare: list[tuple[str, str]],
               report: Report) -> None:
    # -- manifest: exactly the listed members, each with the listed SHA-256 and size
    report.running = "manifest"
    manifest = read_json(archive.read("manifest.json"), "manifest.json")
    fmt = manifest.get("format") if isinstance(manifest, dict) else None
    if fmt not in FORMATS:
        return report.add("manifest", False, f"manifest is not {FORMAT_V2} or v1 (a newer "
                          "verifier may read it)",
                          f"清单不是 {FORMAT_V2} 或 v1（可能需要更新的验证程序）")
    report.facts["format"] = fmt
    for name in sorted(archive.infos):  # each format has its own file layout
        if ((fmt == FORMAT_V1 and (V2_FILE.match(name) or name == INDEX))
                or (fmt == FORMAT_V2 and V1_FILE.match(name))):
            return report.add("manifest", False, f"member {name[:100]!r} is not of the {fmt} "
                              "layout", f"成员 {name[:100]!r} 不符合 {fmt} 的布局")
    report.facts["provisional"] = manifest.get("provisional") is True
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
    if TOOL_MEMBER in digests:
        report.facts["tool"] = {"name": TOOL_MEMBER, "sha256": digests[TOOL_MEMBER],
                                "size": archive.infos[TOOL_MEMBER].file_size,
                                "reference": REFERENCE_COPY}

    # -- checkpoint: signed by a pinned log key; cosigned by a quorum of pinned witnesses
    report.running = "checkpoint"
    try:
        cp = verify_checkpoint(archive.read("checkpoint/checkpoint.note"), trust.log_keys,
                               list(trust.witnesses.values()))
    except Fail as e:
        return report.add("checkpoint", False, f"checkpoint not verified: {e}",
                          getattr(e, "zh", f"检查点未能用固定的日志公钥验证：{e}"))
    names_of = {(k.name, k.key_id): n for n, k in trust.witnesses.items()}
    cosigned = {names_of[who] for who, _ in cp.cosigners if who in names_of}
    report.facts["checkpoint"] = {"origin": cp.origin, "size": cp.size, "root": cp.root.hex(),
                                  "cosigned_by": [{"name": who[0], "cosigned_at": t}
                                                  for who, t in cp.cosigners]}
    report.add("checkpoint", True, f"checkpoint of size {cp.size} is signed by the pinned log "
               f"key {cp.origin}", f"大小为 {cp.size} 的检查点由固定的日志公钥签名")
    check_cosignatures(cosigned, trust, report)

    # -- entries, inclusion and chain
    report.running = "entries"
    entries = check_entries(archive, cp, report)
    if entries is None:
        return None

    # -- the submission of this item
    report.running = "submission"
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
    if TLOG_PROOF_MEMBER in archive.infos:
        report.running = "tlog_proof"
        check_bundle_tlog_proof(archive, cp, sub, report)
    report.running = "submitter"
    check_submitter(sub, report)
    report.running = "custody"
    check_custody(entries, sub, report)
    report.running = "files"
    check_files(fmt, sub, digests, report)
    files_held = report.status("files") == PASS and all(
        f["included"] for f in report.facts["files"])  # a purged item carries none
    if sub.body.get("kind") == "webcapture" and files_held:
        report.running = "webcapture"
        check_webcapture(fmt, archive, sub, trust, report)
    report.running = "metadata"
    check_metadata(archive, sub, report)
    report.running = "timestamps"
    check_timestamps(archive, manifest, cp, trust, report)
    capture = report.facts["webcapture"]
    if capture is not None and report.status("timestamps") == PASS:
        capture["clock_offset_seconds"] = clock_offset(
            capture["ended_at"], report.facts["preserved_no_later_than"][0]["gen_time"])
    if ERS_MEMBER in archive.infos:
        report.running = "evidence_record"
        check_evidence_record(archive, fmt, sub, trust, report)
    if compare:
        report.running = "compared_files"
        check_compared_files(sub, compare, report)
    return None


def check_cosignatures(cosigned: set[str], trust: Trust, report: Report) -> None:
    """The trust policy's quorum over the witnesses whose cosignature verified."""
    names = ", ".join(sorted(cosigned)) or "none"
    if trust.quorum is None or not trust.witnesses:
        return report.add("cosignatures", NOT_CHECKED, "no witness quorum is pinned "
                          f"(quorum none); cosigned by pinned witnesses: {names}",
                          f"未固定见证方法定数（quorum none）；固定见证方的联署：{names}")
    if trust.satisfied(trust.quorum, cosigned):
        return report.add("cosignatures", True, f"cosigned by pinned witnesses {names}: the "
                          f"quorum {trust.quorum!r} is met",
                          f"固定见证方 {names} 已联署：满足法定数 {trust.quorum!r}")
    report.add("cosignatures", False, f"the witness quorum {trust.quorum!r} is not met "
               f"(valid cosignatures by pinned witnesses: {names})",
               f"未满足见证方法定数 {trust.quorum!r}（固定见证方的有效联署：{names}）")


def check_compared_files(sub: Entry, compare: list[tuple[str, str]], report: Report) -> None:
    """The judge's own files against the SHA-256 the submission entry preserved."""
    preserved = {f.get("sha256"): f.get("name") for f in sub.body.get("files") or []
                 if isinstance(f, dict)}
    report.facts["compared"] = [
        {"name": name, "sha256": h, "matches": str(preserved[h]) if h in preserved else None}
        for name, h in compare]
    strangers = [name for name, h in compare if h not in preserved]
    if strangers:
        return report.add("compared_files", False, f"{', '.join(strangers)[:200]} is not any "
                          "of the preserved files", f"{'、'.join(strangers)[:200]} 与保全的任何"
                          "文件都不一致")
    report.add("compared_files", True, f"{len(compare)} file(s) are byte for byte preserved "
               "ones: " + ", ".join(f"{n} = {preserved[h]}" for n, h in compare)[:200],
               f"{len(compare)} 个文件与保全的文件逐字节一致")


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
    """Every other entry is about this item, after the submission, in time order, and
    each custody link names the entry before it (so none was cut from the middle)."""
    ordered = sorted(entries.values(), key=lambda e: e.seq)
    others = [e for e in ordered if e is not sub]
    strangers = [e.seq for e in others if e.body.get("evidence_id") != sub.body["evidence_id"]]
    early = [e.seq for e in others if e.seq < sub.seq]
    backwards = [b.seq for a, b in itertools.pairwise(ordered) if b.time < a.time]
    report.facts["purged"] = any(e.type == "evidence.purged" for e in others)
    report.facts["custody"] = [{"seq": e.seq, "time": e.time, "type": e.type,
                                **{k: e.body[k] for k in (
                                    "principal", "action", "reason", "grantee", "text",
                                    "purpose", "recipient_jurisdiction",
                                    "recipient_organisation", "legal_basis",
                                    "legal_basis_ref") if k in e.body}}
                               for e in ordered]
    if strangers or early or backwards:
        why = (f"entries {strangers[:5]} are about another item" if strangers else
               f"entries {early[:5]} come before the submission" if early else
               f"entries {backwards[:5]} are earlier in time than the entry before them")
        return report.add("custody", False, why,
                          "保管链有误（其他证据的记录、早于提交或时间倒序）：" + why)
    broken = broken_custody_link(ordered)
    if broken is not None:
        return report.add("custody", False, *broken)
    report.add("custody", True, f"{len(others)} custody entries, all about this item, after "
               "its submission, in time order",
               f"{len(others)} 条保管记录，均关于本证据、在提交之后且按时间排列")


def broken_custody_link(ordered: list[Entry]) -> tuple[str, str] | None:
    """Custody links (docs/formats.md): an entry's ``prev_custody`` is the leaf hash of the
    entry just before it among the bundle's entries about the item, so a custody entry
    dropped from the middle breaks the next one's link. Entries written before links
    existed carry none. The (English, Chinese) reason, or None."""
    leaves = {leaf_hash(e.data).hex(): e.seq for e in ordered}
    for i, e in enumerate(ordered):
        if "prev_custody" not in e.body:
            continue
        link = e.body["prev_custody"]
        if i and isinstance(link, str) and link == leaf_hash(ordered[i - 1].data).hex():
            continue
        if not isinstance(link, str) or not re.fullmatch(r"[0-9a-f]{64}", link):
            return (f"entry {e.seq} has a custody link that is not a hex leaf hash",
                    f"记录 {e.seq} 的保管链接不是十六进制叶哈希")
        if link in leaves:
            return (f"entry {e.seq} links to entry {leaves[link]}, not to the entry just before "
                    "it about this item", f"记录 {e.seq} 链接到记录 {leaves[link]}，"
                    "而非本证据紧邻其前的记录")
        return (f"entry {e.seq} links to a custody entry that is not in the bundle: a custody "
                "entry was removed", f"记录 {e.seq} 链接到证据包中没有的保管记录："
                "有保管记录被删除")
    return None


def check_files(fmt: str, sub: Entry, digests: dict[str, str], report: Report) -> None:
    """Each file at the member its format derives from the entry (v2: under its safe name);
    any other files/ member (a v2 file renamed) is extra."""
    declared = sub.body.get("files")
    if not isinstance(declared, list) or not declared or not all(
            isinstance(f, dict) and isinstance(f.get("sha256"), str) for f in declared):
        return report.add("files", False, "the submission lists no files",
                          "提交记录未列出任何文件")
    expected = file_members(fmt, declared)
    held = {n for n in digests if n.startswith("files/")}
    report.facts["files"] = [{**{k: f.get(k) for k in ("name", "media_type", "size", "sha256")},
                              "included": expected[f["sha256"]] in held} for f in declared]
    if report.facts["purged"] and not held:
        return report.add("files", True, "the item was purged: no files; the entry still "
                          "proves their SHA-256 and sizes", "该证据已被清除：证据包不含文件",
                          required=False)
    missing = sorted(set(expected.values()) - held)
    extra = sorted(held - set(expected.values()))
    renamed = [m for m in missing if fmt == FORMAT_V2 and any(x.startswith(m[:71]) for x in extra)]
    if renamed:
        return report.add("files", False, f"{renamed[0][:160]!r} is stored under another name "
                          "than the entry gives it: the bundle was altered",
                          f"文件 {renamed[0][:160]!r} 未按记录中的名称保存：证据包已被改动")
    if missing or extra:
        return report.add("files", False, f"files missing {missing[:3]}, extra {extra[:3]}",
                          f"缺少文件 {missing[:3]}，或多出文件 {extra[:3]}")
    for f in declared:  # its member was hashed above: it must hash to h
        if digests[expected[f["sha256"]]] != f["sha256"]:
            return report.add("files", False, f"file {str(f.get('name'))!r} is not the "
                              "preserved one", f"文件 {str(f.get('name'))!r} 不是保全时的文件")
    report.add("files", True, f"all {len(declared)} files are byte for byte the preserved ones",
               f"全部 {len(declared)} 个文件与保全时逐字节一致")


def check_webcapture(fmt: str, archive: Archive, sub: Entry, trust: Trust,
                     report: Report) -> None:
    """A web capture's own files hold together and are signed by a pinned capture node
    (section 6b). Its input is the item's files by the names the submission entry gives
    them, so two files of one name leave it unclear which one the capture means."""
    files: dict[str, bytes] = {}
    held: dict[str, bytes] = {}
    members = file_members(fmt, sub.body["files"])
    for f in sub.body["files"]:  # check_files passed: a list of objects, each file held
        name = f.get("name")
        if not isinstance(name, str):
            return report.add("webcapture", False, "the submission entry lists a file with "
                              "no name", "提交记录中有文件没有名称")
        if name in files:
            return report.add("webcapture", False, f"two files of the item are named "
                              f"{name[:100]!r}: which one the capture means cannot be told",
                              f"该证据中有两个文件名为 {name[:100]!r}：无法确定采集所指的是哪一个")
        if f["sha256"] not in held:  # two names, one content: one member, read once
            held[f["sha256"]] = archive.read_file(members[f["sha256"]])
        files[name] = held[f["sha256"]]
    outcome = verify_capture_files(files, trust.capture_nodes)
    report.add("webcapture", outcome.status, outcome.reason, outcome.reason_zh)
    if outcome.status != FAIL:
        report.facts["webcapture"] = dict(outcome.facts)


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
    """At least one token verifies against a pinned root. A token by a TSA whose chain ends
    at a root not pinned is skipped (the court may pin only some TSAs); a damaged or altered
    token, or one over other data, fails the check even beside a good one: it is a sign of
    tampering. A provisional bundle proves no time: its tokens are not looked at."""
    if report.facts["provisional"]:
        return report.add("timestamps", NOT_CHECKED, "provisional bundle: no proof of time "
                          "(the checkpoint had no RFC 3161 timestamp when it was exported)",
                          "临时证据包：无时间证明（导出时检查点尚无 RFC 3161 时间戳）")
    listed = manifest.get("timestamps")
    if not listed:
        return report.add("timestamps", False, "the bundle carries no RFC 3161 timestamp "
                          "and is not marked provisional", "证据包未包含 RFC 3161 时间戳，"
                          "且未标明为临时证据包")
    if not isinstance(listed, list):
        raise Fail("manifest timestamps must be a list")
    if not trust.tsa_roots and not trust.store_roots:
        why = (" ('#@ tsa-store mozilla' needs the certifi package, which is not installed)"
               if trust.tsa_store else "")
        return report.add("timestamps", NOT_CHECKED, "no TSA root is pinned (a '#@ tsa' line "
                          f"in the trust file, or --tsa-ca){why}: the time is not proven",
                          "未固定时间戳机构根证书（信任文件中的 '#@ tsa' 行或 --tsa-ca）："
                          "时间未被证明")
    roots = [cert for _, cert in trust.tsa_roots]
    verdicts, untrusted, bad = [], [], []
    for i, t in enumerate(listed):
        where = t.get("token") if isinstance(t, dict) else None
        if not isinstance(where, str) or not where.endswith(".tst") or where not in archive.infos:
            bad.append(f"token {i}: the manifest names no token member")
            continue
        try:
            verdicts.append(verify_timestamp(archive.read(where), cp.text.encode(), roots,
                                             trust.store_roots))
        except Untrusted as e:
            untrusted.append(e.tsa or f"token {i}")
            report.debug.append(f"timestamps: token {i} ({where}) skipped: {e}")
        except Fail as e:
            bad.append(f"token {i}: {e}")
        except Exception as e:  # a certificate cryptography cannot read, and the like
            bad.append(f"token {i}: it is damaged and cannot be read")
            report.debug.append(f"timestamps: token {i} ({where}): {type(e).__name__}: {e}")
    for v in sorted(verdicts, key=lambda v: v.gen_time):
        report.facts["preserved_no_later_than"].append(
            {"gen_time": v.gen_time.isoformat(), "tsa": v.tsa, "signer": v.signer,
             "issuer": v.issuer, "serial": str(v.serial), "policy": v.policy,
             "verifier": VERIFIER})
    if bad:
        return report.add("timestamps", False, "; ".join(bad), "有时间戳未通过验证（被篡改，"
                          "或针对的不是本检查点）：" + "；".join(bad))
    if not verdicts:
        tsas = "; ".join(sorted(set(untrusted)))
        return report.add("timestamps", NOT_CHECKED, f"no timestamp chains to a pinned TSA "
                          f"root: the bundle's TSAs ({tsas}) are none the court pinned",
                          f"没有时间戳可链接到固定的根证书：证据包中的时间戳机构（{tsas}）"
                          "均未被固定")
    first = report.facts["preserved_no_later_than"][0]
    skipped = f"; {len(untrusted)} by TSAs not pinned were skipped" if untrusted else ""
    # the time is claimed in the summary, and only when nothing failed (docs/verdict.md)
    report.add("timestamps", True, f"{len(verdicts)} of {len(listed)} RFC 3161 timestamps "
               f"verified against pinned roots{skipped}; the earliest is by {first['tsa']}, "
               f"genTime {first['gen_time']}", f"{len(listed)} 个 RFC 3161 时间戳中 "
               f"{len(verdicts)} 个经固定根证书验证；最早的由 {first['tsa']} 签发，"
               f"genTime {first['gen_time']}")


# ==== 6a. the RFC 4998 evidence record (docs/verdict.md "evidence_record") ================
#
# ers/item.ers is the item's EvidenceRecord (DER, RFC 4998 Appendix A, IMPLICIT tags):
# chains of ArchiveTimeStamps; the first of a chain covers the item's documents through a
# reduced hash tree whose root an RFC 3161 token stamps, each later one the previous token
# (timestamp renewal), each later chain the documents and all earlier chains under a new
# hash (hash-tree renewal). The rules and their order are the package's
# evidence/verify/evidence_record.py (the reference) and docs/formats.md "Evidence records".

ERS_MEMBER = "ers/item.ers"
ERS_HASHES = {"2.16.840.1.101.3.4.2.1": "sha256", "2.16.840.1.101.3.4.2.2": "sha384",
              "2.16.840.1.101.3.4.2.3": "sha512"}
ERS_MAX_DEPTH = 64


class ErsUntrusted(Exception):
    """An archive timestamp whose chain ends at no pinned root: not-checked."""


@dataclass(frozen=True)
class ArchiveStamp:
    oid: str
    tree: list[list[bytes]] | None
    token: bytes


def ers_algorithm(tlv: Tlv) -> str:
    """An AlgorithmIdentifier (or its [0] IMPLICIT form): the OID; parameters absent or
    exactly NULL."""
    parts = tlv.children()
    if not 1 <= len(parts) <= 2 or parts[0].tag != OID:
        raise Fail("an AlgorithmIdentifier is not { OID, parameters OPTIONAL }")
    if len(parts) == 2 and parts[1].der != b"\x05\x00":
        raise Fail("hash AlgorithmIdentifier parameters must be absent or NULL")
    return der_oid(parts[0])


def ers_imprint_oid(token: bytes) -> str:
    """The message imprint algorithm of a token (an ArchiveTimeStamp without [0])."""
    ci = der_parse(token, SEQ).children()
    if len(ci) != 2 or ci[1].tag != CTX0:
        raise Fail("the timeStamp is not a ContentInfo")
    sd = ci[1].children()[0].children()
    if len(sd) < 3 or sd[2].tag != SEQ:
        raise Fail("the timeStamp is not a SignedData")
    encap = sd[2].children()
    if len(encap) != 2 or encap[1].tag != CTX0:
        raise Fail("the timeStamp carries no TSTInfo")
    (octets,) = encap[1].children(OCTETS)
    info = der_parse(octets.value, SEQ).children()
    if len(info) < 3 or info[2].tag != SEQ:
        raise Fail("the TSTInfo has no messageImprint")
    imprint = info[2].children()
    if not imprint or imprint[0].tag != SEQ:
        raise Fail("the messageImprint has no AlgorithmIdentifier")
    return ers_algorithm(imprint[0])


def read_evidence_record(data: bytes) -> tuple[list[str], list[list[ArchiveStamp]],
                                                 list[bytes]]:
    """(digestAlgorithms, chains, each chain's exact DER); Fail for anything else."""
    top = der_parse(data, SEQ).children()
    if len(top) < 3 or top[0].tag != INT or top[0].value != b"\x01":
        raise Fail("it does not start with version 1")
    if top[1].tag != SEQ:
        raise Fail("its digestAlgorithms is not a SEQUENCE")
    oids = []
    for a in top[1].children():
        if a.tag != SEQ:
            raise Fail("digestAlgorithms holds something other than an AlgorithmIdentifier")
        oids.append(ers_algorithm(a))
    if not oids:
        raise Fail("its digestAlgorithms is empty")
    if len(top) != 3:
        raise Fail("it has cryptoInfos or encryptionInfo, which cannot be checked offline")
    if top[2].tag != SEQ:
        raise Fail("its archiveTimeStampSequence is not a SEQUENCE")
    chains, chain_ders = [], []
    for chain in top[2].children():
        if chain.tag != SEQ:
            raise Fail("an ArchiveTimeStampChain is not a SEQUENCE")
        stamps = [read_archive_stamp(a) for a in chain.children()]
        if not stamps:
            raise Fail("an ArchiveTimeStampChain is empty")
        chains.append(stamps)
        chain_ders.append(chain.der)
    if not chains:
        raise Fail("its archiveTimeStampSequence is empty")
    return oids, chains, chain_ders


def read_archive_stamp(tlv: Tlv) -> ArchiveStamp:
    if tlv.tag != SEQ:
        raise Fail("an ArchiveTimeStamp is not a SEQUENCE")
    parts = tlv.children()
    if not parts or parts[-1].tag != SEQ:
        raise Fail("an ArchiveTimeStamp has no timeStamp ContentInfo")
    oid, tree, last = None, None, 0
    for part in parts[:-1]:
        if part.tag <= last or part.tag not in (CTX0, CTX1, CTX2):
            raise Fail(f"unexpected or repeated field 0x{part.tag:02x} in an ArchiveTimeStamp")
        last = part.tag
        if part.tag == CTX0:
            oid = ers_algorithm(part)
        elif part.tag == CTX1:
            raise Fail("ArchiveTimeStamp attributes are not supported")
        else:
            tree = []
            for ph in part.children():
                if ph.tag != SEQ:
                    raise Fail("a PartialHashtree is not a SEQUENCE")
                values = []
                for v in ph.children():
                    if v.tag != OCTETS:
                        raise Fail("a hash in a PartialHashtree is not an OCTET STRING")
                    values.append(v.value)
                if not values:
                    raise Fail("a PartialHashtree is empty")
                tree.append(values)
            if not tree or len(tree) > ERS_MAX_DEPTH:
                raise Fail(f"a reducedHashtree needs 1 to {ERS_MAX_DEPTH} lists")
    token = parts[-1].der
    return ArchiveStamp(oid if oid is not None else ers_imprint_oid(token), tree, token)


def ers_node(name: str, values: list[bytes]) -> bytes:
    """RFC 4998 4.2: the values sorted in binary order, concatenated, hashed; one value is
    its own node."""
    return values[0] if len(values) == 1 else hashlib.new(name, b"".join(sorted(values))).digest()


def ers_fold(name: str, stamp: ArchiveStamp, hashes_: list[bytes]) -> bytes:
    """The root the token must stamp (RFC 4998 4.3 steps 1 to 3)."""
    if stamp.tree is None:
        return ers_node(name, hashes_)
    size = hashlib.new(name).digest_size
    if any(len(v) != size for values in stamp.tree for v in values):
        raise Fail(f"a hash in its tree is not {size} bytes long, as {name} hashes are")
    first = stamp.tree[0]
    covered = hashes_[0] in first if len(hashes_) == 1 else sorted(first) == sorted(hashes_)
    if not covered:
        raise Fail("its hash tree does not cover the item's files")
    node = ers_node(name, first)
    for values in stamp.tree[1:]:
        if len(values) != 1:
            raise Fail("a list past the first holds several hashes (only binary trees)")
        node = ers_node(name, [node, values[0]])
    return node


def check_evidence_record(archive: Archive, fmt: str, sub: Entry, trust: Trust,
                          report: Report) -> None:
    """The record covers the item's files (under SHA-256 the entry's hashes; under another
    hash the carried members) and each archive timestamp verifies against the pinned TSA
    roots; one whose chain ends at no pinned root leaves the check not-checked. The check
    is supplementary (required false): not made, it leaves the verdict to the others."""
    m = ERS_MEMBER
    roots = [cert for _, cert in trust.tsa_roots]
    if not roots:
        return report.add("evidence_record", NOT_CHECKED, "no TSA root is pinned (a '#@ tsa' "
                          "line in the trust file, or --tsa-ca): the evidence record is not "
                          "checked", "未固定任何时间戳机构根证书：未核验证据记录", False)
    declared = sub.body.get("files")
    if not isinstance(declared, list) or not declared or not all(
            isinstance(f, dict) and isinstance(f.get("sha256"), str) for f in declared):
        return report.add("evidence_record", False, "the submission entry lists no files",
                          "提交记录未列出任何文件", False)
    members = file_members(fmt, declared)
    cache: dict[tuple[str, str], bytes] = {}

    def documents(name: str, ha: bytes | None) -> list[bytes]:
        out = []
        for f in declared:
            if name == "sha256":
                h = bytes.fromhex(f["sha256"])
            else:
                key = (name, f["sha256"])
                if key not in cache:
                    member = members[f["sha256"]]
                    if member not in archive.infos:
                        raise Fail(f"it has a {name} chain over the files, which the bundle "
                                   "does not carry")
                    cache[key] = hashlib.new(name, archive.read_file(member)).digest()
                h = cache[key]
            out.append(h if ha is None else hashlib.new(name, h + ha).digest())
        return out

    try:
        first = verify_evidence_record(archive.read(m), documents, roots)
    except ErsUntrusted as e:
        return report.add("evidence_record", NOT_CHECKED, f"{m}: {e}"[:290],
                          "证据记录的时间戳机构不是信任文件所固定的机构：未核验", False)
    except Fail as e:
        return report.add("evidence_record", False, f"{m} does not verify: {e}"[:290],
                          "证据记录未通过验证（结构、算法、哈希树覆盖、时间戳或续期不成立）", False)
    n, algs, when = first
    report.add("evidence_record", True, f"the RFC 4998 evidence record covers the item's "
               f"files; its {n} archive timestamps ({', '.join(algs)}) verify, the first dated "
               f"{when}", f"RFC 4998 证据记录覆盖本证据的文件；其 {n} 个存档时间戳均验证通过，"
               f"最早的时间为 {when}", False)


def verify_evidence_record(data: bytes, documents: Callable[[str, bytes | None], list[bytes]],
                           roots: list[x509.Certificate]) -> tuple[int, list[str], str]:
    """(number of archive timestamps, each chain's hash, first genTime); Fail or
    ErsUntrusted naming the first rule broken, in the package's order."""
    if len(data) > 16 << 20:
        raise Fail("it is larger than any record")
    oids, chains, chain_ders = read_evidence_record(data)
    names = []
    for k, chain in enumerate(chains):
        oid = chain[0].oid
        if oid not in ERS_HASHES:
            raise Fail(f"chain {k + 1} uses hash {oid}, not SHA-256, SHA-384 or SHA-512")
        if any(a.oid != oid for a in chain):
            raise Fail(f"chain {k + 1} mixes hash algorithms")
        if oid not in oids:
            raise Fail(f"chain {k + 1} uses a hash its digestAlgorithms does not list")
        names.append(ERS_HASHES[oid])
    verdicts: list[TokenVerdict] = []
    before: TokenVerdict | None = None  # the last token, if anchored
    untrusted: ErsUntrusted | None = None
    for k, chain in enumerate(chains):
        name = names[k]
        ha = None
        if k:
            ha = hashlib.new(name, der_encode(SEQ, b"".join(chain_ders[:k]))).digest()
        for i, stamp in enumerate(chain):
            where = f"chain {k + 1}, archive timestamp {i + 1}"
            if i == 0:
                hashes_ = documents(name, ha)
            else:
                hashes_ = [hashlib.new(name, chain[i - 1].token).digest()]
            try:
                root = ers_fold(name, stamp, hashes_)
                v = verify_timestamp(stamp.token, b"", roots, imprint=(stamp.oid, root))
            except Untrusted as e:  # skipped; the tokens after it are still checked whole
                untrusted = untrusted or ErsUntrusted(f"{where}: {e}")
                before = None
                continue
            except Fail as e:
                raise Fail(f"{where}: {e}") from None
            except Exception as e:  # a certificate cryptography cannot read, and the like
                raise Fail(f"{where}: the timestamp is damaged and cannot be read "
                           f"({type(e).__name__})") from None
            if before is not None:  # the renewal rules compare two anchored tokens
                if v.gen_time < before.gen_time:
                    raise Fail(f"{where}: a renewal dated before the timestamp it renews")
                if before.not_after is None or v.gen_time > before.not_after:
                    raise Fail(f"{where}: a renewal made after the renewed timestamp's TSA "
                               "certificate expired")
            verdicts.append(v)
            before = v
    if untrusted is not None:
        raise untrusted
    when = verdicts[0].gen_time.strftime("%Y-%m-%dT%H:%M:%SZ")
    return len(verdicts), names, when


# ==== 6b. web captures (docs/verdict.md section 6) ========================================
#
# An item of kind "webcapture" was made by a capture node: a browser that wrote a
# screenshot, a WACZ web archive and more, and listed them with their SHA-256 in a manifest
# the node signed. The check reads the item's files as they were preserved: the manifest and
# its signature by a pinned capture-node key, every file it lists, the WACZ's package
# digests and the digests of every WARC record inside. The rules, limits included, are
# those of the package's evidence/verify/webcapture.py (the reference), so that both give
# every input the same status. With no capture node pinned the files are still checked (a
# mismatch fails) but nothing shows which node made them: not-checked.

CAPTURE_SCHEMA = "evidence.webcapture.manifest/v1"
CAPTURE_SIGNED_HEADER = "evidence.webcapture/v1"
CAPTURE_MANIFEST, CAPTURE_SIGNATURE = "capture-manifest.json", "capture-manifest.sig"
WACZ_PACKAGE, WACZ_PACKAGE_DIGEST = "datapackage.json", "datapackage-digest.json"
MAX_CAPTURE_MANIFEST = 4 << 20
MAX_WACZ_MEMBERS = 10_000
MAX_WARC_RECORDS = 200_000
MAX_WARC_HEADER = 64 << 10  # a record's WARC header; an HTTP header inside a record too
MAX_WARC_INFLATED = 8 << 30  # one WARC file after gunzip: a gzip bomb stops here
WARC_READ = 1 << 16  # compressed bytes read at a time; the most handed on at a time
WARC_INFLATE = 4 * WARC_READ  # the most one inflate step writes
# ended_at as the capture writes it: RFC 3339 with a zone, at most microseconds
RFC3339_RE = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}"
                        r"(\.[0-9]{1,6})?([Zz]|[+-][0-9]{2}:[0-9]{2})\Z")


class CaptureFail(Fail):
    """The capture's files do not hold together; ``zh`` says it in Chinese."""

    def __init__(self, en: str, zh: str) -> None:
        super().__init__(en)
        self.zh = zh


@dataclass(frozen=True)
class CaptureOutcome:
    """The ``webcapture`` check on an item's files, and on pass or not-checked what the
    signed manifest says (``facts``; ``node_name`` is the pinned name of its signer)."""

    status: str
    reason: str
    reason_zh: str
    facts: dict[str, Any] = field(default_factory=dict)
    records: int = 0


def verify_capture_files(files: dict[str, bytes], nodes: dict[str, Key]) -> CaptureOutcome:
    """Check a web capture from its files (name -> bytes, the names the submission entry
    gives) against the pinned capture nodes (name -> key). Never raises: damaged or altered
    files, and anything unexpected in them, are ``fail`` with a one-line reason."""
    try:
        return _verify_capture(files, nodes)
    except CaptureFail as e:
        return CaptureOutcome(FAIL, one_line(str(e)), one_line(e.zh))
    except Exception as e:  # hostile input the rules above did not foresee: fail closed
        return CaptureOutcome(FAIL, one_line(f"the capture's files cannot be read "
                                             f"({type(e).__name__}); they are not accepted"),
                              one_line(f"无法读取采集文件（{type(e).__name__}）；不予接受"))


def _verify_capture(files: dict[str, bytes], nodes: dict[str, Key]) -> CaptureOutcome:
    for need in (CAPTURE_MANIFEST, CAPTURE_SIGNATURE):
        if need not in files:
            raise CaptureFail(f"the item has no {need}", f"该证据缺少 {need}")
    data = files[CAPTURE_MANIFEST]
    manifest = capture_manifest(data)
    node_name = capture_signer(files[CAPTURE_SIGNATURE], data, manifest, nodes) if nodes \
        else None
    listed = manifest.get("files")
    if not isinstance(listed, list) or not listed:
        raise CaptureFail("the capture manifest lists no files", "采集清单未列出任何文件")
    roles: dict[str, str] = {}
    for f in listed:
        if not isinstance(f, dict) or not isinstance(f.get("name"), str):
            raise CaptureFail("the capture manifest's list of files is malformed",
                              "采集清单的文件列表格式错误")
        name = f["name"]
        if name not in files:
            raise CaptureFail(f"the capture manifest lists {name[:100]}, which the item does "
                              "not hold", f"采集清单列出的 {name[:100]} 不在该证据中")
        held = files[name]
        # compared as JSON values, as the reference compares them (a size of true is 1)
        if f.get("size") != len(held) or f.get("sha256") != hashlib.sha256(held).hexdigest():
            raise CaptureFail(f"{name[:100]} is not the file the capture manifest lists "
                              "(SHA-256 or size differs: altered)",
                              f"{name[:100]} 与采集清单所列的文件不符"
                              "（SHA-256 或大小不同：已被改动）")
        roles[str(f.get("role"))] = name
    for role, zh in (("screenshot", "截图"), ("wacz", "WACZ")):
        if role not in roles:
            raise CaptureFail(f"the capture manifest lists no {role}", f"采集清单未列出{zh}")
    records = check_wacz(files[roles["wacz"]])
    facts = capture_facts(manifest, node_name, roles["screenshot"])
    if node_name is None:
        return CaptureOutcome(
            NOT_CHECKED, "the files, the WACZ and its WARC records match their digests, but "
            "no capture node is pinned ('#@ capture-node' or --capture-node): nothing shows "
            "which node made this capture", "文件、WACZ 及其 WARC 记录均与摘要一致，但未固定"
            "采集节点（'#@ capture-node' 或 --capture-node）：无法确认由哪个采集节点采集",
            facts, records)
    return CaptureOutcome(
        PASS, f"signed by the pinned capture node {node_name}; the screenshot, the WACZ and "
        f"its {records} WARC records match their digests", f"由固定的采集节点 {node_name} "
        f"签名；截图、WACZ 及其 {records} 条 WARC 记录均与摘要一致", facts, records)


def capture_manifest(data: bytes) -> dict[str, Any]:
    """The manifest: at most 4 MiB, JSON that is byte for byte its own RFC 8785 form (so
    the signed hash is over exactly what is read), of the capture schema."""
    if len(data) > MAX_CAPTURE_MANIFEST:
        raise CaptureFail("the capture manifest is over 4 MiB", "采集清单超过 4 MiB")
    try:
        doc = json.loads(data.decode("utf-8"))
        # json.loads nests as deep as the recursion limit allows; jcs needs two frames a
        # level, so it gets room for whatever parsed
        with recursion_room(2 * 1024):
            canonical = jcs(doc)
    except (Fail, ValueError, RecursionError):
        raise CaptureFail("the capture manifest is not valid JSON",
                          "采集清单不是有效的 JSON") from None
    if canonical != data:
        raise CaptureFail("the capture manifest is not in RFC 8785 canonical form",
                          "采集清单不是 RFC 8785 规范格式")
    if not isinstance(doc, dict) or doc.get("schema") != CAPTURE_SCHEMA:
        raise CaptureFail(f"the capture manifest is not of schema {CAPTURE_SCHEMA}",
                          f"采集清单的格式不是 {CAPTURE_SCHEMA}")
    return doc


@contextlib.contextmanager
def recursion_room(frames: int) -> Iterator[None]:
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(old + frames)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def capture_signer(note: bytes, manifest_bytes: bytes, manifest: dict[str, Any],
                   nodes: dict[str, Key]) -> str:
    """The pinned name of the capture node that signed: the signature file is a signed
    note by a pinned node's key over ``evidence.webcapture/v1``, the manifest's SHA-256, and
    the manifest names that key as its node."""
    pinned = {(k.name, k.key_id): k for k in nodes.values()}
    try:
        text, verified = open_note(note, pinned)
    except Fail:
        raise CaptureFail("the capture manifest is not signed by a pinned capture-node key",
                          "采集清单没有经已固定的采集节点密钥签名") from None
    if text != f"{CAPTURE_SIGNED_HEADER}\n{hashlib.sha256(manifest_bytes).hexdigest()}\n":
        raise CaptureFail("the capture signature is over another manifest",
                          "采集签名针对的不是本采集清单")
    signed_by = {k.text: name for name, k in nodes.items() if (k.name, k.key_id) in verified}
    node = manifest.get("node")
    key = node.get("key") if isinstance(node, dict) else None
    if not isinstance(key, str) or key not in signed_by:
        raise CaptureFail("the capture manifest names another capture node than the one that "
                          "signed it", "采集清单载明的采集节点与签名节点不一致")
    return signed_by[key]


def json_object(value: Any) -> dict[str, Any]:
    """A manifest member that should be an object; any other value reads as an empty one
    (the report shows what the manifest says, and nothing for a shape it lacks)."""
    return value if isinstance(value, dict) else {}


def capture_facts(m: dict[str, Any], node_name: str | None, screenshot: str
                  ) -> dict[str, Any]:
    """What the report shows of the capture (docs/verdict.md section 6); the clock offset
    is filled in once the timestamps are checked."""
    result = json_object(m.get("result"))
    tls = json_object(result.get("tls"))
    labels = result.get("labels")
    return {"url": json_object(m.get("request")).get("url"),
            "final_url": result.get("final_url"), "http_status": result.get("http_status"),
            "title": result.get("title"), "server_ip": result.get("server_ip"),
            "tls_subject": tls.get("subject"), "tls_issuer": tls.get("issuer"),
            "started_at": m.get("started_at"), "ended_at": m.get("ended_at"),
            "node": json_object(m.get("node")).get("key"), "node_name": node_name,
            "labels": list(labels) if isinstance(labels, list) else [],
            "clock_offset_seconds": None, "screenshot": screenshot}


def clock_offset(ended_at: Any, gen_time: str) -> float | None:
    """genTime of the earliest verified token minus the manifest's ``ended_at`` (the node's
    clock), in seconds; None when ``ended_at`` is not an RFC 3339 time. Negative: the node's
    clock was ahead by at least that much (docs/evidence-kinds.md)."""
    if not isinstance(ended_at, str) or not RFC3339_RE.match(ended_at):
        return None
    try:
        ended = datetime.fromisoformat(ended_at.upper().replace("Z", "+00:00"))
        return (datetime.fromisoformat(gen_time) - ended).total_seconds()
    except ValueError:  # 25:00, February 30th
        return None


def check_wacz(data: bytes) -> int:
    """The WACZ (a ZIP): ``datapackage-digest.json`` names the SHA-256 of
    ``datapackage.json``, which names the SHA-256 and size of every other member, and every
    gzipped WARC listed there holds. Returns the number of WARC records."""
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except ZIP_ERRORS:
        raise CaptureFail("the WACZ is not a ZIP archive", "WACZ 不是有效的 ZIP 压缩包") \
            from None
    with z:
        infos = z.infolist()
        if len(infos) > MAX_WACZ_MEMBERS:
            raise CaptureFail(f"the WACZ has more than {MAX_WACZ_MEMBERS} members",
                              f"WACZ 成员超过 {MAX_WACZ_MEMBERS} 个")
        names = {i.filename for i in infos}
        if len(names) != len(infos):
            raise CaptureFail("the WACZ has two members with the same name",
                              "WACZ 中有重名成员")
        odd = next((i for i in infos
                    if i.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)), None)
        if odd is not None:  # what every verifier reads (the page has no bzip2 or LZMA)
            raise CaptureFail(f"the WACZ member {odd.filename[:100]} is neither stored nor "
                              "deflated", f"WACZ 成员 {odd.filename[:100]} 既非存储也非 "
                              "deflate 压缩")
        for need in (WACZ_PACKAGE, WACZ_PACKAGE_DIGEST):
            if need not in names:
                raise CaptureFail(f"the WACZ has no {need}", f"WACZ 缺少 {need}")
            if z.getinfo(need).file_size > MAX_CAPTURE_MANIFEST:  # read whole: bounded first
                raise CaptureFail(f"the WACZ's {need} is over 4 MiB", f"WACZ 的 {need} 超过 4 MiB")
        try:
            digest_doc = json.loads(z.read(WACZ_PACKAGE_DIGEST))
            package = z.read(WACZ_PACKAGE)
            pkg = json.loads(package)
        except (*ZIP_ERRORS, RecursionError):
            raise CaptureFail("the WACZ's datapackage files cannot be read as JSON",
                              "无法将 WACZ 的 datapackage 文件读取为 JSON") from None
        named = digest_doc.get("hash") if isinstance(digest_doc, dict) else None
        if not isinstance(named, str) or digest_doc.get("path") != WACZ_PACKAGE or \
                named.lower() != "sha256:" + hashlib.sha256(package).hexdigest():
            raise CaptureFail(f"{WACZ_PACKAGE_DIGEST} does not match {WACZ_PACKAGE} "
                              "(altered)", f"{WACZ_PACKAGE_DIGEST} 与 {WACZ_PACKAGE} 不符"
                              "（已被改动）")
        resources = pkg.get("resources") if isinstance(pkg, dict) else None
        if not isinstance(resources, list) or not resources:
            raise CaptureFail(f"{WACZ_PACKAGE} lists no resources",
                              f"{WACZ_PACKAGE} 未列出任何资源")
        listed: set[str] = set()
        warcs: list[str] = []
        for r in resources:
            path = r.get("path") if isinstance(r, dict) else None
            if not isinstance(path, str) or path not in names or path in listed:
                raise CaptureFail(f"{WACZ_PACKAGE} lists {str(path)[:100]!r}, which is not "
                                  "exactly once in the WACZ", f"{WACZ_PACKAGE} 列出的 "
                                  f"{str(path)[:100]!r} 在 WACZ 中不存在或不止一次列出")
            listed.add(path)
            try:
                got, size = wacz_member_sha256(z, path)
            except ZIP_ERRORS:
                raise CaptureFail(f"the WACZ member {path[:100]} is damaged",
                                  f"WACZ 成员 {path[:100]} 已损坏") from None
            # as the reference compares: the hash's text, any case; the size as a JSON value
            if str(r.get("hash", "")).lower() != "sha256:" + got or r.get("bytes") != size:
                raise CaptureFail(f"the WACZ member {path[:100]} does not match its digest in "
                                  f"{WACZ_PACKAGE} (altered)", f"WACZ 成员 {path[:100]} 与 "
                                  f"{WACZ_PACKAGE} 中的摘要不符（已被改动）")
            if path.startswith("archive/") and path.endswith((".warc.gz", ".warc")):
                warcs.append(path)
        unlisted = sorted(n for n in names - listed - {WACZ_PACKAGE, WACZ_PACKAGE_DIGEST}
                          if not n.endswith("/"))  # folder entries hold nothing
        if unlisted:
            raise CaptureFail(f"the WACZ holds {unlisted[0][:100]}, which {WACZ_PACKAGE} does "
                              "not list", f"WACZ 含有 {WACZ_PACKAGE} 未列出的 {unlisted[0][:100]}")
        if not warcs:
            raise CaptureFail("the WACZ holds no WARC file", "WACZ 中没有 WARC 文件")
        records = 0
        for w in warcs:
            if not w.endswith(".warc.gz"):
                raise CaptureFail(f"{w[:100]}: only gzipped WARC files (.warc.gz) are read",
                                  f"{w[:100]}：仅读取 gzip 压缩的 WARC 文件（.warc.gz）")
            with z.open(w) as f:
                records += check_warc(f, w[:100])
        return records


def wacz_member_sha256(z: zipfile.ZipFile, name: str) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with z.open(name) as f:
        while chunk := f.read(WARC_READ):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


class Gunzip:
    """The gzip members of one WARC file, one after another, inflated as needed, with a cap
    on the total. The header limits are checked against what is buffered, so the buffer
    grows in exactly the reference's steps: read WARC_READ compressed bytes only when the
    inflater has none left, write at most WARC_INFLATE per step, and stop filling once the
    buffer holds what was asked for."""

    def __init__(self, src: Any) -> None:
        self.src = src
        self.inflater = zlib.decompressobj(wbits=31)  # gzip framing, nothing else
        self.buf = bytearray()
        self.inflated = 0
        self.at_end = False

    def fill(self, want: int) -> None:
        while len(self.buf) < want and not self.at_end:
            if self.inflater.eof:  # a member ended: the next one starts after its trailer
                data = self.inflater.unused_data or self.src.read(WARC_READ)
                self.inflater = zlib.decompressobj(wbits=31)
                if not data:
                    self.at_end = True
                    return
            else:
                data = self.inflater.unconsumed_tail or self.src.read(WARC_READ)
                if not data:
                    raise CaptureFail("a WARC file in the WACZ is cut short (a gzip member "
                                      "does not end)",
                                      "WACZ 中的 WARC 文件被截断（gzip 数据不完整）")
            try:
                out = self.inflater.decompress(data, WARC_INFLATE)
            except zlib.error:
                raise CaptureFail("a WARC file in the WACZ is not valid gzip",
                                  "WACZ 中的 WARC 文件不是有效的 gzip 数据") from None
            self.inflated += len(out)
            if self.inflated > MAX_WARC_INFLATED:
                raise CaptureFail("a WARC file in the WACZ inflates to more than 8 GiB",
                                  "WACZ 中的 WARC 文件解压后超过 8 GiB")
            self.buf += out

    def header(self) -> bytes | None:
        """Up to and including the next blank line (CRLF CRLF); None at a clean end (nothing
        but line breaks left)."""
        searched = 0
        while True:
            at = self.buf.find(b"\r\n\r\n", searched)
            if at >= 0 and at + 4 <= MAX_WARC_HEADER:
                head = bytes(self.buf[:at + 4])
                del self.buf[:at + 4]
                return head
            # the header must END within 64 KiB: a rule on the bytes, whatever the gzip split
            if at >= 0 or len(self.buf) >= MAX_WARC_HEADER:
                raise CaptureFail("a WARC record header is over 64 KiB",
                                  "WARC 记录头超过 64 KiB")
            searched, had = max(0, len(self.buf) - 3), len(self.buf)
            self.fill(had + 1)
            if len(self.buf) == had:
                if self.buf.strip(b"\r\n"):
                    raise CaptureFail("a WARC file ends inside a record",
                                      "WARC 文件在记录中途结束")
                return None

    def take(self, size: int) -> Iterator[bytes]:
        """The next ``size`` bytes, in pieces of at most WARC_READ."""
        while size > 0:
            step = min(size, WARC_READ)
            self.fill(step)
            if not self.buf:
                raise CaptureFail("a WARC record is shorter than its Content-Length",
                                  "WARC 记录短于其 Content-Length")
            piece = bytes(self.buf[:step])
            del self.buf[:len(piece)]
            size -= len(piece)
            yield piece


def warc_digest_matches(value: str, hashes: dict[str, Any]) -> bool | None:
    """``algorithm:value`` against the computed hashes; the value may be base32, hex or
    base64. None when the algorithm is neither SHA-1 nor SHA-256."""
    algorithm, _, encoded = value.strip().partition(":")
    h = hashes.get(algorithm.lower().replace("-", ""))
    if h is None:
        return None
    for decode in (lambda t: base64.b32decode(t.upper()), bytes.fromhex,
                   lambda t: base64.b64decode(t, validate=True)):
        try:
            if decode(encoded) == h.digest():
                return True
        except ValueError:  # binascii.Error too
            continue
    return False


def check_warc(src: Any, name: str) -> int:
    """Every record of a gzipped WARC: a WARC/1.x header with a valid Content-Length, the
    block and payload digests where given (a response with an HTTP block must give the
    payload one), and the record ends with CRLF CRLF where its length says. Returns the
    number of records."""
    gz, n = Gunzip(src), 0
    while (head := gz.header()) is not None:
        n += 1
        if n > MAX_WARC_RECORDS:
            raise CaptureFail(f"{name} has more than {MAX_WARC_RECORDS} records",
                              f"{name} 的记录超过 {MAX_WARC_RECORDS} 条")
        lines = head.lstrip(b"\r\n").decode("utf-8", "replace").split("\r\n")
        if not lines[0].startswith("WARC/1."):
            raise CaptureFail(f"{name}: record {n} is not a WARC/1.x record",
                              f"{name}：第 {n} 条记录不是 WARC/1.x 记录")
        fields: dict[str, str] = {}
        for line in lines[1:]:
            if line:  # a later field of the same name wins
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
        try:
            length = int(fields.get("content-length", ""))
        except ValueError:
            length = -1
        if length < 0:
            raise CaptureFail(f"{name}: record {n} has no valid Content-Length",
                              f"{name}：第 {n} 条记录没有有效的 Content-Length")
        kind = fields.get("warc-type", "")
        http = kind in ("response", "request") and \
            fields.get("content-type", "").startswith("application/http")
        block = {"sha1": hashlib.sha1(), "sha256": hashlib.sha256()}
        payload = {"sha1": hashlib.sha1(), "sha256": hashlib.sha256()}
        in_payload, http_head = not http, b""  # an HTTP block's payload follows its header
        for piece in gz.take(length):
            for h in block.values():
                h.update(piece)
            if not in_payload:
                http_head += piece
                end = http_head.find(b"\r\n\r\n")
                if end < 0 or end + 4 > MAX_WARC_HEADER:
                    if end >= 0 or len(http_head) >= MAX_WARC_HEADER:
                        raise CaptureFail(f"{name}: record {n} has an HTTP header over 64 KiB",
                                          f"{name}：第 {n} 条记录的 HTTP 头超过 64 KiB")
                    continue
                in_payload, piece, http_head = True, http_head[end + 4:], b""
            for h in payload.values():
                h.update(piece)
        if b"".join(gz.take(4)) != b"\r\n\r\n":
            raise CaptureFail(f"{name}: record {n} does not end where its Content-Length says",
                              f"{name}：第 {n} 条记录未在其 Content-Length 所示处结束")
        uri = fields.get("warc-target-uri", "")[:120]
        for key, computed, what, what_zh in (("warc-block-digest", block, "block", "记录块"),
                                             ("warc-payload-digest", payload, "payload",
                                              "载荷")):
            if key not in fields:
                if key == "warc-payload-digest" and kind == "response" and http:
                    raise CaptureFail(f"{name}: the response record for {uri} has no "
                                      "WARC-Payload-Digest",
                                      f"{name}：{uri} 的响应记录缺少 WARC-Payload-Digest")
                continue
            if key == "warc-payload-digest" and not in_payload:
                raise CaptureFail(f"{name}: record {n} has no end to its HTTP header",
                                  f"{name}：第 {n} 条记录的 HTTP 头没有结束")
            matches = warc_digest_matches(fields[key], computed)
            if matches is None:
                raise CaptureFail(f"{name}: record {n} uses a digest algorithm other than "
                                  "SHA-1 or SHA-256", f"{name}：第 {n} 条记录使用 SHA-1 与 "
                                  "SHA-256 以外的摘要算法")
            if not matches:
                raise CaptureFail(f"{name}: the {what} digest of the record for {uri} does not "
                                  "match its bytes (altered)",
                                  f"{name}：{uri} 记录的{what_zh}摘要与内容不符（已被改动）")
    return n


# ==== 7. the trust file (docs/verdict.md section 3) =======================================
#
# What a court pins is one text file: a C2SP tlog-policy (log, witness, group, quorum lines)
# whose extension lines ("#@ tsa", "#@ tsa-store", "#@ capture-node") a plain tlog-policy
# parser takes for comments. It is parsed strictly: any line we do not understand is an
# error, because a court's pin must mean exactly what it says.

MAX_TRUST_FILE = 1 << 20
MAX_LOGS = MAX_WITNESSES = MAX_GROUPS = 32
MAX_TSA_ROOTS = MAX_CAPTURE_NODES = 64
WINDOW_SIZE = re.compile(r"\A(0|[1-9][0-9]{0,15})\Z")
BLANKS = re.compile(r"[ \t]+")  # items are separated by runs of space or tab, nothing else


@dataclass
class Trust:
    log_keys: list[Key]
    witnesses: dict[str, Key] = field(default_factory=dict)  # policy name -> key
    groups: dict[str, tuple[int, list[str]]] = field(default_factory=dict)  # name -> (k, members)
    quorum: str | None = None  # None: "quorum none"
    tsa_roots: list[tuple[str, x509.Certificate]] = field(default_factory=list)
    tsa_store: str | None = None  # "mozilla" when opted in
    store_roots: list[x509.Certificate] = field(default_factory=list)  # empty without certifi
    capture_nodes: dict[str, Key] = field(default_factory=dict)  # name -> key (webcapture)

    def satisfied(self, name: str, cosigned: set[str]) -> bool:
        """A witness counts when its cosignature verified; a group when k of its members
        count (names are defined before use, so this recursion ends)."""
        if name in self.witnesses:
            return name in cosigned
        k, members = self.groups[name]
        return sum(self.satisfied(m, cosigned) for m in members) >= k


class TrustError(Exception):
    """The trust file or a pin option is unusable: exit 2, nothing verified."""


def parse_trust(data: bytes) -> Trust:
    """The trust file's bytes, checked byte for byte as docs/verdict.md section 3 says."""
    if len(data) > MAX_TRUST_FILE:
        raise TrustError("the trust file is larger than 1 MiB")
    trust = Trust(log_keys=[])
    names: set[str] = set()  # witness and group names share one space
    keys: set[tuple[str, int]] = set()
    quorums = 0

    lines = data.split(b"\n")
    for n, raw in enumerate(lines, 1):
        where = f"trust file line {n}"
        if b"\r" in raw:
            raise TrustError(f"{where}: a carriage return (CR): lines must end in LF only")
        if n == len(lines) and raw:
            raise TrustError(f"{where}: the last line does not end in LF")
        bad = next((b for b in raw if (b < 0x20 and b != 0x09) or b == 0x7F), None)
        if bad is not None:
            raise TrustError(f"{where}: control octet 0x{bad:02x} is not allowed")
        try:
            line = raw.decode("utf-8").strip(" \t")
        except UnicodeDecodeError:
            raise TrustError(f"{where}: not valid UTF-8") from None
        if not line:
            continue
        if line.startswith("#@") and line[2:3] in (" ", "\t"):
            items = BLANKS.split(line[2:].strip(" \t"))  # an extension line
        elif line.startswith("#"):
            continue  # a comment (also "#@tsa" or a bare "#@": not "#@" and a blank)
        else:
            items = ["", *BLANKS.split(line)]  # a standard line; "" marks it
        kind, args = items[0], items[1:]
        if kind == "":
            kind, args = args[0], args[1:]
            if kind == "log":
                if len(args) not in (1, 2):
                    raise TrustError(f"{where}: 'log <vkey> [<url>]'")
                key = _trust_key(args[0], where, keys)
                if key.alg != ALG_ED25519:
                    raise TrustError(f"{where}: a log key must be an Ed25519 (0x01) key")
                trust.log_keys.append(key)
                if len(trust.log_keys) > MAX_LOGS:
                    raise TrustError(f"{where}: more than {MAX_LOGS} logs")
            elif kind == "witness":
                if len(args) not in (2, 3):
                    raise TrustError(f"{where}: 'witness <name> <vkey> [<url>]'")
                _new_name(args[0], where, names)
                trust.witnesses[args[0]] = _trust_key(args[1], where, keys)
                if trust.witnesses[args[0]].alg not in COSIGNING:
                    raise TrustError(f"{where}: a witness key must be a cosignature/v1 (0x04) "
                                     "or ML-DSA-44 (0x06) key")
                if len(trust.witnesses) > MAX_WITNESSES:
                    raise TrustError(f"{where}: more than {MAX_WITNESSES} witnesses")
            elif kind == "group":
                if len(args) < 3:
                    raise TrustError(f"{where}: 'group <name> <k|any|all> <member>...'")
                members = args[2:]
                for m in members:
                    if m not in names:
                        raise TrustError(f"{where}: {m[:40]!r} is not defined before this line")
                if len(set(members)) != len(members):
                    raise TrustError(f"{where}: a member appears twice in the group")
                k_text = args[1]
                if k_text == "any":
                    k = 1
                elif k_text == "all":
                    k = len(members)
                elif re.fullmatch(r"[1-9][0-9]{0,2}", k_text):
                    k = int(k_text)
                else:
                    raise TrustError(f"{where}: the threshold {k_text[:20]!r} is not a number, "
                                     "'any' or 'all'")
                if not 1 <= k <= len(members):
                    raise TrustError(f"{where}: the threshold {k} is not between 1 and "
                                     f"{len(members)}")
                _new_name(args[0], where, names)
                trust.groups[args[0]] = (k, members)
                if len(trust.groups) > MAX_GROUPS:
                    raise TrustError(f"{where}: more than {MAX_GROUPS} groups")
            elif kind == "quorum":
                quorums += 1
                if quorums > 1:
                    raise TrustError(f"{where}: a second quorum line (exactly one is allowed)")
                if len(args) != 1:
                    raise TrustError(f"{where}: 'quorum <name>|none'")
                if args[0] != "none" and args[0] not in names:
                    raise TrustError(f"{where}: {args[0][:40]!r} is not defined before this line")
                trust.quorum = None if args[0] == "none" else args[0]
            else:
                raise TrustError(f"{where}: unknown line {kind[:40]!r}")
        elif kind == "tsa":
            if len(args) != 2:
                raise TrustError(f"{where}: '#@ tsa <name> <base64 of a DER certificate>'")
            if args[0] in [name for name, _ in trust.tsa_roots]:
                raise TrustError(f"{where}: the TSA name {args[0][:40]!r} is already used")
            try:
                cert = x509.load_der_x509_certificate(
                    base64.b64decode(args[1].encode("ascii"), validate=True))
                read_whole_certificate(cert)
            except Exception:  # binascii.Error, ValueError, UnsupportedAlgorithm, ...
                raise TrustError(f"{where}: the TSA root certificate does not parse") from None
            problem = root_problem(cert)
            if problem:
                raise TrustError(f"{where}: the TSA certificate is {problem}")
            if cert in [c for _, c in trust.tsa_roots]:
                raise TrustError(f"{where}: the same TSA root certificate twice")
            trust.tsa_roots.append((args[0], cert))
            if len(trust.tsa_roots) > MAX_TSA_ROOTS:
                raise TrustError(f"{where}: more than {MAX_TSA_ROOTS} TSA roots")
        elif kind == "tsa-store":
            if args != ["mozilla"] or trust.tsa_store:
                raise TrustError(f"{where}: '#@ tsa-store mozilla' (the only store), once")
            trust.tsa_store = "mozilla"
        elif kind == "log-key":  # a key rotated out or revoked: pinned for a window only
            if len(args) != 3:
                raise TrustError(f"{where}: '#@ log-key <vkey> <from-size> <until-size>'")
            key = _trust_key(args[0], where, keys)
            if key.alg != ALG_ED25519:
                raise TrustError(f"{where}: a log key must be an Ed25519 (0x01) key")
            if not all(WINDOW_SIZE.match(a) and int(a) <= 2**53 - 1 for a in args[1:]):
                raise TrustError(f"{where}: a log key's sizes are decimals from 0 to 2^53-1")
            lo, hi = int(args[1]), int(args[2])
            if lo > hi:
                raise TrustError(f"{where}: from-size {lo} is larger than until-size {hi}")
            trust.log_keys.append(replace(key, window=(lo, hi)))
            if len(trust.log_keys) > MAX_LOGS:
                raise TrustError(f"{where}: more than {MAX_LOGS} logs")
        elif kind == "capture-node":
            if len(args) != 2 or args[0] in trust.capture_nodes:
                raise TrustError(f"{where}: '#@ capture-node <name> <vkey>', names unique")
            trust.capture_nodes[args[0]] = _trust_key(args[1], where, keys)
            if trust.capture_nodes[args[0]].alg == ALG_MLDSA44:
                raise TrustError(f"{where}: a capture node's key is an Ed25519 key")
            if len(trust.capture_nodes) > MAX_CAPTURE_NODES:
                raise TrustError(f"{where}: more than {MAX_CAPTURE_NODES} capture nodes")
        elif kind == "log-mldsa":  # the log's ML-DSA-44 key: required from from-size on
            if len(args) != 2:
                raise TrustError(f"{where}: '#@ log-mldsa <vkey> <from-size>'")
            key = _trust_key(args[0], where, keys)
            if key.alg != ALG_MLDSA44:
                raise TrustError(f"{where}: a log-mldsa key must be an ML-DSA-44 (0x06) key")
            if not WINDOW_SIZE.match(args[1]) or int(args[1]) > 2**53 - 1:
                raise TrustError(f"{where}: a log key's sizes are decimals from 0 to 2^53-1")
            if any(k.alg == ALG_MLDSA44 and k.name == key.name for k in trust.log_keys):
                raise TrustError(f"{where}: a second ML-DSA-44 key for the log {key.name[:64]}")
            trust.log_keys.append(replace(key, window=(int(args[1]), 2**64 - 1)))
            if len(trust.log_keys) > MAX_LOGS:
                raise TrustError(f"{where}: more than {MAX_LOGS} logs")
        else:
            raise TrustError(f"{where}: unknown extension {kind[:40]!r}")
    if quorums != 1:
        raise TrustError(f"the trust file has {quorums} quorum lines; it needs exactly one")
    if not any(k.window is None for k in trust.log_keys):
        raise TrustError("the trust file names no log key (a 'log' line)")
    for k in trust.log_keys:  # a frozen shard's ML-DSA-44 key: beside its #@ log-key lines
        if k.alg == ALG_MLDSA44 and not any(g.alg != ALG_MLDSA44 and g.name == k.name
                                            for g in trust.log_keys):
            raise TrustError(f"the ML-DSA-44 key names the log {k.name[:64]}, which no 'log' "
                             "or '#@ log-key' line pins (it signs beside the log's Ed25519 "
                             "key, never alone)")
    return trust


def read_whole_certificate(cert: x509.Certificate) -> None:
    """cryptography reads a certificate's key, names, validity and extensions only when
    asked: ask now, so that a pin which cannot be read is refused here, not later inside a
    check as something else."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a non-positive serial number: still readable
        cert.public_key()
        cert.subject.rfc4514_string()
        cert.issuer.rfc4514_string()
        _ = cert.extensions, cert.not_valid_before_utc, cert.not_valid_after_utc
        _ = cert.serial_number, cert.signature, cert.tbs_certificate_bytes


def root_problem(cert: x509.Certificate) -> str | None:
    """Why a certificate cannot be a pinned TSA root (docs/verdict.md section 3), or None:
    a pin must be self-issued (same DER issuer and subject; equal key identifiers where
    both are present), since a path ends only at a self-issued certificate, and its key
    RSA (odd modulus, odd exponent >= 3) or EC P-256/P-384/P-521, which every verifier
    can use."""
    if cert.issuer.public_bytes() != cert.subject.public_bytes():
        return "not a root certificate (its issuer is another name): pin the TSA's root"
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        pass
    else:
        if aki.key_identifier is not None and aki.key_identifier != ski.digest:
            return "not a root certificate (its authority key identifier is another key)"
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        nums = key.public_numbers()
        if nums.n % 2 == 0 or nums.e % 2 == 0 or nums.e < 3:
            return "an RSA key that does not parse (even modulus or bad exponent)"
        return None
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(
            key.curve, (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)):
        return None
    return "a public key of a kind not supported (only RSA and EC P-256, P-384, P-521)"


def _new_name(name: str, where: str, names: set[str]) -> None:
    if name == "none" or name in names:
        raise TrustError(f"{where}: the name {name[:40]!r} is reserved or already defined")
    names.add(name)


def _trust_key(text: str, where: str, keys: set[tuple[str, int]]) -> Key:
    try:
        key = parse_key(text)
    except Fail as e:
        raise TrustError(f"{where}: {e}") from None
    if (key.name, key.key_id) in keys:
        raise TrustError(f"{where}: the key {key.name}+{key.key_id:08x} is named twice")
    keys.add((key.name, key.key_id))
    return key


def load_store_roots(trust: Trust) -> None:
    """``#@ tsa-store mozilla``: Mozilla's roots as the certifi package ships them, when it
    is installed. Without it the store is simply not pinned (a token chaining only there is
    not-checked, never pass)."""
    if trust.tsa_store != "mozilla":
        return
    try:
        import certifi
    except ImportError:
        return
    with open(certifi.where(), "rb") as f, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few old roots have serial numbers RFC 5280 forbids
        trust.store_roots = x509.load_pem_x509_certificates(f.read())


def shorthand_trust(log_key: str | None, witness_keys: list[str], quorum: int,
                    tsa_ca: list[str], capture_nodes: list[str] = ()) -> Trust:
    """The pin options as the trust file they stand for: ``--witness-quorum N`` with the
    given witnesses is ``group cli N w1 w2 ...`` and ``quorum cli`` (N = 0: ``quorum
    none``); N above the number of witness keys is a usage error, as in the package. Each
    ``--capture-node VKEY`` is ``#@ capture-node <the key's name> VKEY``."""
    if log_key is None:
        raise TrustError("no log key pinned: give --trust FILE or --log-key VKEY")
    lines = [f"log {log_key}"]
    lines += [f"witness w{i} {k}" for i, k in enumerate(witness_keys, 1)]
    if quorum < 0:
        raise TrustError("--witness-quorum must not be negative")
    if quorum > len(witness_keys):
        raise TrustError(f"--witness-quorum {quorum} needs at least {quorum} --witness-key "
                         f"(got {len(witness_keys)})")
    if quorum and witness_keys:
        lines.append(f"group cli {quorum} " + " ".join(f"w{i}" for i in
                                                       range(1, len(witness_keys) + 1)))
        lines.append("quorum cli")
    else:
        lines.append("quorum none")
    named: set[str] = set()
    for vkey in capture_nodes:  # named by the key's name, as `evidence trust export` does
        try:
            base = parse_key(vkey).name
        except Fail as e:
            raise TrustError(f"--capture-node {vkey[:80]!r}: {e}") from None
        name, k = base, 1
        while name in named:  # names are unique in a trust file; key names need not be
            k += 1
            name = f"{base}-{k}"
        named.add(name)
        lines.append(f"#@ capture-node {name} {vkey}")
    trust = parse_trust(("\n".join(lines) + "\n").encode())
    for path in tsa_ca:
        try:
            with open(path, "rb") as f:
                data = f.read()
            certs = (x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data
                     else [x509.load_der_x509_certificate(data)])
            for c in certs:
                read_whole_certificate(c)
        except Exception:  # OSError, ValueError, UnsupportedAlgorithm, ...
            raise TrustError(f"--tsa-ca {path}: not a readable PEM or DER certificate") \
                from None
        for c in certs:
            problem = root_problem(c)
            if problem:
                raise TrustError(f"--tsa-ca {path}: the certificate is {problem}")
        trust.tsa_roots += [(path, c) for c in certs if c not in [r for _, r in trust.tsa_roots]]
    return trust


# ==== 8. command line =====================================================================

VERIFIER = "verify_bundle.py (RFC 3161 CMS checked by this script)"
REFERENCE_COPY = ("scripts/verify_bundle.py in the evidence project's source; compare its "
                  "SHA-256 with this one before relying on a copy")
STATUS_WORDS = {PASS: ("PASS", "通过"), FAIL: ("FAIL", "失败"),
                NOT_CHECKED: ("NOT CHECKED", "未检查")}
VERDICT_WORDS = {
    "verified": ("VERIFIED: every check passed", "核验通过：全部检查均通过"),
    "failed": ("FAILED: the bundle is NOT verified", "核验失败：证据包未通过验证"),
    "provisional": ("provisional: no proof of time", "临时证据包：无时间证明"),
    "incomplete": ("not fully verified", "未完全核验"),
}


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def show_time(text: str, tz: Any) -> str:
    """A time in UTC and, when a zone is set, in the forum's zone too."""
    t = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    out = t.strftime("%Y-%m-%d %H:%M:%S UTC")
    if tz is not None:
        out += f" ({t.astimezone(tz).strftime('%Y-%m-%d %H:%M:%S')} {tz.key})"
    return out


def print_text(report: Report, lang: str, tz: Any) -> None:
    """One line per check and language (``--lang``); Chinese never cut to a column width.
    The top verdict comes last. After a failure no line claims a time or "included"."""
    english, chinese = lang in ("en", "both"), lang in ("zh", "both")

    def say(en: str, zh: str) -> None:
        if english:
            print(en)
        if chinese:
            print(zh)

    for c in report.checks:
        word_en, word_zh = STATUS_WORDS[c["status"]]
        say(f"{c['name']:<15} {word_en:<12} {c['reason']}",
            f"{'' if english else c['name']:<15} {word_zh:<12} {c['reason_zh']}")
    verdict, facts = report.verdict, report.to_json()
    if verdict != "failed":
        if facts["submitted_at"]:
            when = show_time(facts["submitted_at"], tz)
            say(f"Submitted (log time): {when}", f"提交时间（日志时间）：{when}")
        for t in facts["preserved_no_later_than"][:1]:
            when = show_time(t["gen_time"], tz)
            say(f"Preserved no later than {when} per {t['tsa']}",
                f"据 {t['tsa']}，不晚于 {when} 已保全")
        for f in facts["files"]:
            mark = ""
            if f.get("included"):
                mark = (" (included)" if english else "") + (" （已包含）" if chinese else "")
            print(f"  {f.get('name')}  sha256 {f.get('sha256')}{mark}")
        if facts["webcapture"] is not None:
            print_capture(facts["webcapture"], say, tz)
    if facts.get("tool"):
        digest = facts["tool"]["sha256"]
        say(f"The bundle carries {TOOL_MEMBER}, SHA-256 {digest}; the reference copy is "
            f"{REFERENCE_COPY}.", f"证据包附带 {TOOL_MEMBER}，SHA-256 {digest}；参考副本为本项目"
            "源代码中的 scripts/verify_bundle.py，使用前请比对 SHA-256。")
    word_en, word_zh = VERDICT_WORDS[verdict]
    skipped = [c for c in report.checks if c["status"] == NOT_CHECKED]
    if verdict == "failed":
        word_en += f" (first failing check: {report.failed_check})"
        word_zh += f"（首个失败的检查：{report.failed_check}）"
    elif skipped and verdict in ("incomplete", "verified"):  # verified: supplementary only
        word_en += ": not checked: " + "; ".join(f"{c['name']} ({c['reason']})"
                                                  for c in skipped)
        word_zh += "：未检查：" + "；".join(f"{c['name']}（{c['reason_zh']}）" for c in skipped)
    say(f"RESULT: {word_en}", f"结论：{word_zh}")


def print_capture(c: dict[str, Any], say: Callable[[str, str], None], tz: Any) -> None:
    """What the capture node's signed manifest says (only when no check failed), and a
    warning when its clock was provably ahead of the TSA's."""
    node = c["node_name"] or c["node"]
    say(f"Web capture of {c['url']} by capture node {node}:",
        f"网页采集：{c['url']}，采集节点 {node}：")
    for en, zh, key in (("final URL", "最终网址", "final_url"),
                        ("HTTP status", "HTTP 状态", "http_status"), ("title", "标题", "title"),
                        ("server IP", "服务器 IP", "server_ip"),
                        ("TLS certificate subject", "TLS 证书主体", "tls_subject"),
                        ("TLS certificate issuer", "TLS 证书签发者", "tls_issuer"),
                        ("started (node's clock)", "开始（节点时钟）", "started_at"),
                        ("ended (node's clock)", "结束（节点时钟）", "ended_at"),
                        ("screenshot", "截图", "screenshot")):
        if c[key] is not None:
            value = one_line(str(c[key]))
            say(f"  {en}: {value}", f"  {zh}：{value}")
    if c["labels"]:
        labels = one_line(", ".join(map(str, c["labels"])))
        say(f"  labels: {labels}", f"  标签：{labels}")
    offset = c["clock_offset_seconds"]
    if offset is not None:
        say(f"  first timestamp minus capture end: {offset:+.3f} s",
            f"  首个时间戳减去采集结束时间：{offset:+.3f} 秒")
        if offset < 0:
            say(f"WARNING: the capture node's clock was ahead by at least {-offset:.3f} s: "
                "the manifest's times are later than the TSA vouches for",
                f"警告：采集节点的时钟至少快了 {-offset:.3f} 秒：采集清单中的时间晚于时间戳机构"
                "所证明的时间")


# ==== tlog-proof files (C2SP tlog-proof@v1; docs/verdict.md "tlog-proof files") ===========
#
# ``verify_bundle.py ITEM.tlog-proof --trust T [--entry FILE] [--compare FILE] [--json]``:
# the file is read strictly (header, optional extra line carrying the entry's bytes, index,
# one base64 hash per line, an empty line, the checkpoint note verbatim), then the spec's
# steps are named checks: tlog_proof, checkpoint, cosignatures, entries, inclusion and, with
# --compare, compared_files. The verdict follows from them as for a bundle.

TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"


def _canonical_b64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise Fail(f"{what} is not standard base64") from None
    if base64.b64encode(raw).decode() != text:
        raise Fail(f"{what} is not canonical base64")
    return raw


def note_syntax(note: str) -> None:
    """A signed note's syntax (no signature checked), as the checkpoint check reads it."""
    if len(note.encode("utf-8", "surrogatepass")) > 1 << 20:
        raise Fail("note is larger than 1 MiB")
    if any(c < "\x20" and c != "\n" for c in note) or not note.endswith("\n"):
        raise Fail("note has control characters or does not end with a newline")
    split = note.rfind("\n\n")
    if split < 0 or split + 2 == len(note):
        raise Fail("note has no signature lines after a blank line")
    lines = note[split + 2:].split("\n")[:-1]
    if len(lines) > 100:
        raise Fail("note has more than 100 signatures")
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
    body = note[:split + 1][:-1].split("\n")
    if len(body) < 3 or not body[0]:
        raise Fail("checkpoint needs origin, size and root lines")
    size_s, root_s, ext = body[1], body[2], body[3:]
    if not (size_s.isascii() and size_s.isdigit()) or (len(size_s) > 1 and size_s[0] == "0") \
            or int(size_s) > 2**64 - 1:
        raise Fail("checkpoint size is not a canonical decimal of at most 2^64-1")
    try:
        root = base64.b64decode(root_s.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise Fail("checkpoint root is not base64") from None
    if len(root) != 32 or any(not line for line in ext):
        raise Fail("checkpoint root is not 32 bytes, or an extension line is empty")


def read_tlog_proof(data: bytes) -> tuple[int, list[bytes], bytes, bytes | None]:
    """(index, hashes, checkpoint note, extra) of a tlog-proof@v1 file, or Fail."""
    if len(data) > 3 << 20:
        raise Fail("larger than 3 MiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Fail("not valid UTF-8") from None
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise Fail("no empty line before the checkpoint")
    lines = head.split("\n")
    if lines[0] != TLOG_PROOF_HEADER:
        raise Fail(f"the first line is not {TLOG_PROOF_HEADER}")
    rest, extra = lines[1:], None
    if rest and rest[0].startswith("extra "):
        extra = _canonical_b64(rest.pop(0)[len("extra "):], "the extra line")
        if not extra or len(extra) > 1 << 20:
            raise Fail("the extra data is empty or larger than 1 MiB")
    if not rest or not rest[0].startswith("index "):
        raise Fail("no 'index <n>' line after the header (and extra)")
    n = rest.pop(0)[len("index "):]
    if not n.isascii() or not n.isdigit() or (len(n) > 1 and n[0] == "0"):
        raise Fail(f"index {n[:30]!r} is not a canonical decimal")
    if len(n) > 20 or int(n) >= 2**64 - 1:
        raise Fail("index is past any tree size")
    if len(rest) > 64:
        raise Fail(f"{len(rest)} hash lines; at most 64")
    hashes = []
    for i, line in enumerate(rest, 1):
        h = _canonical_b64(line, f"hash line {i}")
        if len(h) != 32:
            raise Fail(f"hash line {i} is {len(h)} bytes, not 32")
        hashes.append(h)
    try:
        note_syntax(note)
    except Fail as e:
        raise Fail(f"the checkpoint is not a signed checkpoint note: {e}") from None
    return int(n), hashes, note.encode("utf-8"), extra


def verify_tlog_proof(data: bytes, trust: Trust, entry: bytes | None = None,
                      compare: list[tuple[str, str]] = ()) -> Report:
    """The named checks of one tlog-proof file (never raises on bad input)."""
    report = Report()
    report.facts = {"format": TLOG_PROOF_HEADER, "index": None, "checkpoint": None,
                    "entry": None, "provisional": False}
    try:
        index, hashes, note, extra = read_tlog_proof(data)
    except Fail as e:
        report.add("tlog_proof", False, f"not a tlog-proof@v1 file: {e}",
                   f"不是 tlog-proof@v1 文件：{e}")
        return report
    report.facts["index"] = index
    report.add("tlog_proof", True, f"a tlog-proof@v1 file for index {index} with "
               f"{len(hashes)} hashes",
               f"索引 {index} 的 tlog-proof@v1 文件，含 {len(hashes)} 个哈希")
    report.running = "checkpoint"
    try:
        cp = verify_checkpoint(note, trust.log_keys, list(trust.witnesses.values()))
    except Fail as e:
        report.add("checkpoint", False, f"checkpoint not verified: {e}",
                   getattr(e, "zh", f"检查点未能用固定的日志公钥验证：{e}"))
        return report
    names_of = {(k.name, k.key_id): n for n, k in trust.witnesses.items()}
    cosigned = {names_of[who] for who, _ in cp.cosigners if who in names_of}
    report.facts["checkpoint"] = {"origin": cp.origin, "size": cp.size, "root": cp.root.hex(),
                                  "cosigned_by": [{"name": who[0], "cosigned_at": t}
                                                  for who, t in cp.cosigners]}
    report.add("checkpoint", True, f"checkpoint of size {cp.size} is signed by the pinned log "
               f"key {cp.origin}", f"大小为 {cp.size} 的检查点由固定的日志公钥签名")
    check_cosignatures(cosigned, trust, report)
    report.running = "entries"
    if entry is not None and extra is not None and entry != extra:
        report.add("entries", False, "the entry given is not the entry the proof carries",
                   "所给条目与证明文件携带的条目不同")
        return report
    held = entry if entry is not None else extra
    if held is None:
        report.add("entries", False, "the proof carries no entry (no extra line) and none was "
                   "given", "证明文件未携带条目（无 extra 行），也未提供条目")
        return report
    try:
        e = parse_entry(held)
    except Fail as err:
        report.add("entries", False, f"the entry does not parse: {err}", "条目无法解析")
        return report
    if e.seq != index:
        report.add("entries", False, f"the proof is for index {index}, the entry is entry "
                   f"{e.seq}", f"证明针对索引 {index}，而条目的序号是 {e.seq}")
        return report
    report.facts["entry"] = {"seq": e.seq, "time": e.time, "type": e.type,
                             "leaf_hash": leaf_hash(held).hex()}
    report.add("entries", True, f"entry {e.seq} ({e.type}) parses and sits at the proof's "
               "index", f"条目 {e.seq}（{e.type}）可解析，且位于证明所示的索引")
    report.running = "inclusion"
    try:
        root = root_from_inclusion_proof(index, cp.size, leaf_hash(held), hashes)
    except Fail as err:
        report.add("inclusion", False, f"the inclusion proof does not fit: {err}",
                   "包含证明的形式不符（索引或哈希数目不对）")
        return report
    if root != cp.root:
        report.add("inclusion", False, f"entry {index} is not in the checkpoint's tree: the "
                   "proof leads to another root",
                   f"条目 {index} 不在检查点的树中：证明得出的根不同")
        return report
    report.add("inclusion", True, f"entry {index} is in the tree of size {cp.size}",
               f"条目 {index} 包含在大小为 {cp.size} 的树中")
    if compare:
        report.running = "compared_files"
        listed = e.body.get("files") if e.type == "evidence.submitted" else None
        hashes_listed = {f.get("sha256") for f in listed if isinstance(f, dict)} \
            if isinstance(listed, list) else set()
        missing = [h for _, h in compare if h not in hashes_listed]
        report.add("compared_files", not missing,
                   f"{len(missing)} of the {len(compare)} file(s) given is not a file this "
                   "entry lists" if missing else f"each of the {len(compare)} file(s) given "
                   "is one this entry lists (same SHA-256)",
                   f"所给 {len(compare)} 个文件中有 {len(missing)} 个不是该条目列出的文件"
                   if missing else
                   f"所给 {len(compare)} 个文件均为该条目列出的文件（SHA-256 相同）")
    return report


def is_tlog_proof(path: str) -> bool:
    """A tlog-proof file, by name or by its first line."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(TLOG_PROOF_HEADER) + 1)
    except OSError:
        return False
    return path.endswith(".tlog-proof") or head == TLOG_PROOF_HEADER.encode() + b"\n"


def tlog_proof_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description="Check a C2SP tlog-proof file offline against "
                                 "a pinned trust file (its tlog-policy).")
    ap.add_argument("proof")
    ap.add_argument("--trust", metavar="FILE", required=True)
    ap.add_argument("--trust-sha256", metavar="HEX")
    ap.add_argument("--entry", metavar="FILE", help="the entry's exact bytes (else the "
                    "proof's extra line carries them)")
    ap.add_argument("--compare", action="append", default=[], metavar="FILE",
                    help="the judge's own file: one the entry lists? (repeatable)")
    ap.add_argument("--json", action="store_true", help="print the report as one JSON line")
    args = ap.parse_args(argv)
    try:
        with open(args.trust, "rb") as f:
            trust_bytes = f.read(MAX_TRUST_FILE + 1)
        fingerprint = hashlib.sha256(trust_bytes).hexdigest()
        if args.trust_sha256 is not None and fingerprint != args.trust_sha256.strip().lower():
            raise TrustError(f"the trust file's SHA-256 is {fingerprint}, not the pinned "
                             f"{args.trust_sha256[:64]}")
        trust = parse_trust(trust_bytes)
        with open(args.proof, "rb") as f:
            data = f.read((3 << 20) + 1)
        entry = None
        if args.entry:
            with open(args.entry, "rb") as f:
                entry = f.read()
        compare = [(path, file_sha256(path)) for path in args.compare]
    except (TrustError, OSError, ValueError) as e:
        print(f"verify_bundle.py: {one_line(str(e))}", file=sys.stderr)
        return 2
    report = verify_tlog_proof(data, trust, entry, compare)
    out = {"verdict": report.verdict, "ok": report.verdict == "verified",
           "failed_check": report.failed_check, "not_checked": report.not_checked,
           **report.facts, "checks": report.checks, "trust_fingerprint": fingerprint}
    if report.verdict == "failed":
        out["checkpoint"] = out["entry"] = None
    if args.json:
        print(json.dumps(out, ensure_ascii=False, separators=(",", ":")))
    else:
        for c in report.checks:
            print(f"{c['status']:12} {c['name']}: {c['reason']}\n{'':12} {c['reason_zh']}")
        print(f"verdict: {report.verdict}\nTrust file SHA-256: {fingerprint}")
    return EXIT[report.verdict]


TLOG_PROOF_MEMBER = "tlog-proof/item.tlog-proof"


def check_bundle_tlog_proof(archive: Archive, cp: Checkpoint, sub: Entry,
                            report: Report) -> None:
    """The bundle's copy proves the submission entry to the bundle's own checkpoint."""
    m, note = TLOG_PROOF_MEMBER, archive.read("checkpoint/checkpoint.note")
    try:
        index, hashes, proof_note, extra = read_tlog_proof(archive.read(m))
    except Fail as e:
        return report.add("tlog_proof", False, f"{m} is not a tlog-proof@v1 file: {e}",
                          f"{m} 不是 tlog-proof@v1 文件")
    if proof_note != note:
        return report.add("tlog_proof", False, f"{m} proves to another checkpoint than the "
                          "bundle's", f"{m} 所证明的检查点与证据包的检查点不同")
    if index != sub.seq or (extra is not None and extra != sub.data):
        return report.add("tlog_proof", False, f"{m} is about entry {index}, not the "
                          f"submission (entry {sub.seq})",
                          f"{m} 针对第 {index} 条记录，而非提交记录（第 {sub.seq} 条）")
    try:
        root = root_from_inclusion_proof(index, cp.size, leaf_hash(sub.data), hashes)
    except Fail as e:
        return report.add("tlog_proof", False, f"{m}: the inclusion proof does not fit: {e}",
                          f"{m}：包含证明的形式不符")
    if root != cp.root:
        return report.add("tlog_proof", False, f"{m}: the proof leads to another root than "
                          "the checkpoint's", f"{m}：证明得出的根与检查点的根不同")
    report.add("tlog_proof", True, f"{m} proves the submission (entry {sub.seq}) to the "
               "bundle's checkpoint", f"{m} 证明提交记录（第 {sub.seq} 条）包含在证据包的检查点中")


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    if given and not given[0].startswith("-") and is_tlog_proof(given[0]):
        return tlog_proof_main(given)
    ap = argparse.ArgumentParser(description="Check an evidence bundle offline against a "
                                 "pinned trust file (independent of the evidence package).")
    ap.add_argument("bundle")
    ap.add_argument("--trust", metavar="FILE", help="the trust file (docs/verdict.md sec. 3)")
    ap.add_argument("--trust-sha256", metavar="HEX", help="refuse a trust file with another "
                    "SHA-256")
    ap.add_argument("--log-key", help="shorthand: the log's verifier key name+id+key")
    ap.add_argument("--witness-key", action="append", default=[], help="shorthand: a witness")
    ap.add_argument("--witness-quorum", type=int, default=0, help="shorthand: how many "
                    "pinned witnesses must have cosigned (0: none)")
    ap.add_argument("--tsa-ca", action="append", default=[], help="PEM file of a TSA root CA")
    ap.add_argument("--capture-node", action="append", default=[], metavar="VKEY",
                    help="shorthand: a capture node's verifier key (web captures; repeatable)")
    ap.add_argument("--no-timestamps", action="store_true", help="shorthand: pin no TSA root "
                    "(the timestamps check is then not made: at best 'not fully verified')")
    ap.add_argument("--compare", action="append", default=[], metavar="FILE",
                    help="the judge's own file, compared with the preserved ones (repeatable)")
    ap.add_argument("--json", action="store_true", help="print the report as one JSON line")
    ap.add_argument("--lang", choices=("zh", "en", "both"), default="both")
    ap.add_argument("--tz", help="the forum's time zone (default Asia/Shanghai when Chinese "
                    "is printed)")
    ap.add_argument("--debug", action="store_true", help="library detail on stderr")
    args = ap.parse_args(argv)
    try:
        if args.trust:
            if args.log_key or args.witness_key or args.witness_quorum or args.tsa_ca \
                    or args.no_timestamps or args.capture_node:
                raise TrustError("give either --trust or the pin options (--log-key, "
                                 "--witness-key, --witness-quorum, --tsa-ca, --capture-node, "
                                 "--no-timestamps), not both")
            with open(args.trust, "rb") as f:
                data = f.read(MAX_TRUST_FILE + 1)
            if args.trust_sha256 is not None and \
                    hashlib.sha256(data).hexdigest() != args.trust_sha256.strip().lower():
                raise TrustError(f"the trust file's SHA-256 is {hashlib.sha256(data).hexdigest()}"
                                 f", not the pinned {args.trust_sha256[:64]}")
            trust = parse_trust(data)
        elif args.trust_sha256:
            raise TrustError("--trust-sha256 needs --trust FILE")
        else:
            trust = shorthand_trust(args.log_key, args.witness_key, args.witness_quorum,
                                    [] if args.no_timestamps else args.tsa_ca,
                                    args.capture_node)
        load_store_roots(trust)
        compare = [(path, file_sha256(path)) for path in args.compare]
        tz = None
        if args.tz:
            tz = zoneinfo.ZoneInfo(args.tz)
        elif args.lang != "en":
            with contextlib.suppress(zoneinfo.ZoneInfoNotFoundError):
                tz = zoneinfo.ZoneInfo("Asia/Shanghai")
    except (TrustError, OSError, ValueError, zoneinfo.ZoneInfoNotFoundError) as e:
        print(f"verify_bundle.py: {one_line(str(e))}", file=sys.stderr)
        return 2
    report = verify_bundle(args.bundle, trust, compare)
    if args.debug:
        for line in report.debug:
            print(f"debug: {line}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, separators=(",", ":")))
    else:
        print_text(report, args.lang, tz)
    return EXIT[report.verdict]


if __name__ == "__main__":
    sys.exit(main())
