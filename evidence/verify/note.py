"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys and witness cosignatures.

Byte-compatible with Go's ``golang.org/x/mod/sumdb/note``: a note is UTF-8
text ending in a newline, a blank line, then one line per signature::

    — <key name> <base64(4-byte key id || signature)>\\n

Key ids are ``SHA-256(name || "\\n" || type || public key)[:4]``; type 0x01 is
a plain Ed25519 signature over the text, type 0x04 is a C2SP
``tlog-cosignature/v1``: ``base64(key id || 8-byte big-endian UNIX time ||
Ed25519 signature)`` over ``"cosignature/v1\\ntime <t>\\n" || text``; type 0x06 is
C2SP tlog-cosignature v1.1's ML-DSA-44 (sub)tree cosignature: ``base64(key id || 8-byte
big-endian UNIX time || 2,420-byte ML-DSA-44 signature)`` over the ``cosigned_message``
of :func:`subtree_message` (FIPS 204 pure ML-DSA, empty context), which holds the
checkpoint's origin, size and root but not its text, so a checkpoint with extension lines
has no valid 0x06 signature. The log signs with a 0x06 key too, with the time 0
(docs/decisions.md D23).

Opening a note follows Go's rules exactly, because a court's auditor may
check our checkpoints with Go tooling and we must accept theirs: signatures by
unknown keys are ignored, a bad signature by a known key rejects the whole
note, and a note with no verified signature is rejected.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
import re
import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA44PrivateKey, MLDSA44PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from evidence.verify.errors import (
    BadKey,
    InvalidSignature,
    MalformedNote,
    NoVerifiedSignature,
)

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
ALG_MLDSA44 = 0x06
"""C2SP signed-note type 0x06: timestamped ML-DSA-44 (sub)tree cosignatures."""
COSIGNING_ALGS = (ALG_COSIGNATURE_V1, ALG_MLDSA44)
KEY_SIZES = {ALG_ED25519: 32, ALG_COSIGNATURE_V1: 32, ALG_MLDSA44: 1312}
"""Public key bytes by type (FIPS 204: an ML-DSA-44 public key is 1,312 bytes)."""
MLDSA44_SIGNATURE_SIZE = 2420
MAX_TIMESTAMP = 2**63 - 1
SUBTREE_LABEL = b"subtree/v1\n\x00"

MAX_NOTE_SIZE = 1 << 20
"""Notes larger than 1 MiB are refused before any parsing (hostile input)."""

MAX_SIGNATURES = 100
"""Go's limit: avoid spending forever on a note with many signature lines."""

SIG_PREFIX = "\u2014 "  # em dash, space
COSIGNATURE_HEADER = "cosignature/v1\ntime {t}\n"
PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise MalformedNote(f"{what} is not valid base64") from None


def is_valid_key_name(name: str) -> bool:
    """Go's rule: non-empty, no whitespace, no '+' (it separates key fields)."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_id(name: str, alg: int, public_key: bytes) -> int:
    """The 4-byte key id binding a key to its name and algorithm."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()
    return struct.unpack(">I", digest[:4])[0]


def subtree_message(name: str, timestamp: int, text: bytes) -> bytes:
    """tlog-cosignature v1.1's ``cosigned_message`` for the checkpoint ``text`` (start 0,
    end its size): ``"subtree/v1\\n\\0" || u8 len || name || u64 time || u8 len ||
    origin || u64 0 || u64 size || root``. Raises :class:`InvalidSignature` for a text
    that is not exactly origin, size and root lines (extension lines are not covered by
    the message, so a 0x06 signature never vouches for them; held by
    tests/verify/test_mldsa.py)."""
    lines = text.decode("utf-8", "replace").split("\n")
    if len(lines) != 4 or lines[3] != "":
        raise InvalidSignature("an ML-DSA-44 signature covers only a checkpoint of origin, "
                               "size and root lines (no extension lines)")
    origin, size_s, root_s = lines[0].encode(), lines[1], lines[2]
    try:
        root = base64.b64decode(root_s.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        root = b""
    if (not size_s.isascii() or not size_s.isdigit() or (len(size_s) > 1 and size_s[0] == "0")
            or int(size_s) > 2**64 - 1 or len(root) != 32 or not 1 <= len(origin) <= 255):
        raise InvalidSignature("an ML-DSA-44 signature needs a checkpoint with a 1-255 byte "
                               "origin, a canonical size and a 32-byte root")
    who = name.encode()
    if not 1 <= len(who) <= 255 or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise InvalidSignature("an ML-DSA-44 cosigner name is 1-255 bytes and its time at "
                               "most 2^63-1")
    return (SUBTREE_LABEL + bytes([len(who)]) + who + struct.pack(">Q", timestamp)
            + bytes([len(origin)]) + origin + struct.pack(">QQ", 0, int(size_s)) + root)


# --- verifiers ---------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedSignature:
    """One signature that verified: who, with which key, and what it asserts."""

    name: str
    key_id: int
    alg: int
    cosigned_at: int | None = None
    """For witness cosignatures: the UNIX time the witness says it signed."""

    @property
    def kind(self) -> str:
        return "cosignature" if self.alg in COSIGNING_ALGS else "signature"


@dataclass(frozen=True)
class Verifier:
    """A pinned public key: the only thing a note is ever trusted against."""

    name: str
    key_id: int
    alg: int
    public_key: bytes = field(repr=False)

    def verify(self, text: bytes, sig: bytes) -> VerifiedSignature:
        """Raise :class:`InvalidSignature` unless ``sig`` signs ``text``."""
        if self.alg == ALG_MLDSA44:
            return self._verify_mldsa(text, sig)
        pub = Ed25519PublicKey.from_public_bytes(self.public_key)
        if self.alg == ALG_ED25519:
            message, cosigned_at = text, None
        elif self.alg == ALG_COSIGNATURE_V1:
            if len(sig) != 8 + 64:
                raise InvalidSignature(f"cosignature by {self.name} has the wrong length")
            (cosigned_at,) = struct.unpack(">Q", sig[:8])
            sig = sig[8:]
            message = COSIGNATURE_HEADER.format(t=cosigned_at).encode() + text
        else:  # parse_verifier_key admits no other algorithm
            raise BadKey(f"unsupported key algorithm {self.alg}")
        try:
            pub.verify(sig, message)
        except _CryptoInvalidSignature:
            raise InvalidSignature(
                f"signature by {self.name} ({self.key_id:08x}) does not verify"
            ) from None
        return VerifiedSignature(self.name, self.key_id, self.alg, cosigned_at)

    def _verify_mldsa(self, text: bytes, sig: bytes) -> VerifiedSignature:
        if len(sig) != 8 + MLDSA44_SIGNATURE_SIZE:
            raise InvalidSignature(f"ML-DSA-44 signature by {self.name} has the wrong length "
                                   f"({len(sig)} bytes, not {8 + MLDSA44_SIGNATURE_SIZE})")
        (t,) = struct.unpack(">Q", sig[:8])
        message = subtree_message(self.name, t, text)
        try:
            MLDSA44PublicKey.from_public_bytes(self.public_key).verify(sig[8:], message)
        except _CryptoInvalidSignature:
            raise InvalidSignature(
                f"ML-DSA-44 signature by {self.name} ({self.key_id:08x}) does not verify"
            ) from None
        return VerifiedSignature(self.name, self.key_id, self.alg, t)

    def to_string(self) -> str:
        """The verifier-key string ``name+keyid+base64(alg || public key)``."""
        data = base64.b64encode(bytes([self.alg]) + self.public_key).decode()
        return f"{self.name}+{self.key_id:08x}+{data}"


def parse_verifier_key(vkey: str) -> Verifier:
    """Parse ``name+<8 hex>+base64(alg || key)``; splits on the first two '+' only."""
    if not isinstance(vkey, str):
        raise BadKey("verifier key must be a string")
    vkey = vkey.strip()
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise BadKey("verifier key must look like name+keyid+base64key")
    name, hex_id, b64 = parts
    if not is_valid_key_name(name):
        raise BadKey(f"verifier key name {name!r} is empty or contains space or '+'")
    if len(hex_id) != 8 or any(c not in "0123456789abcdef" for c in hex_id):
        raise BadKey(f"verifier key id {hex_id!r} is not 8 lowercase hex digits")
    try:
        data = base64.b64decode(b64.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise BadKey("verifier key data is not valid base64") from None
    if not data or KEY_SIZES.get(data[0]) != len(data) - 1:
        raise BadKey("verifier key is not an Ed25519 (0x01), cosignature/v1 (0x04) or "
                     "ML-DSA-44 (0x06, 1,312-byte key) key")
    alg, pub = data[0], data[1:]
    want = key_id(name, alg, pub)
    if int(hex_id, 16) != want:
        raise BadKey(f"verifier key id {hex_id} does not match its key (expected {want:08x})")
    try:
        (MLDSA44PublicKey if alg == ALG_MLDSA44 else Ed25519PublicKey).from_public_bytes(pub)
    except ValueError:
        raise BadKey("verifier key is not a valid public key of its type") from None
    return Verifier(name, want, alg, pub)


# --- signers -----------------------------------------------------------------


@dataclass(frozen=True)
class Signer:
    """A private key with its name. Keep it in a 0600 file; never log it."""

    name: str
    alg: int
    private_key: Ed25519PrivateKey | MLDSA44PrivateKey = field(repr=False)

    @functools.cached_property
    def public_key(self) -> bytes:  # cached: every signature line needs the key id
        return self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @functools.cached_property
    def key_id(self) -> int:
        return key_id(self.name, self.alg, self.public_key)

    def verifier(self) -> Verifier:
        return Verifier(self.name, self.key_id, self.alg, self.public_key)

    def signature(self, text: bytes, *, cosigned_at: int | None = None) -> bytes:
        """Signature bytes (without key id) as they go on a signature line."""
        if self.alg == ALG_ED25519:
            return self.private_key.sign(text)
        t = int(time.time()) if cosigned_at is None else cosigned_at
        if self.alg == ALG_MLDSA44:
            message = subtree_message(self.name, t, text)
        else:
            message = COSIGNATURE_HEADER.format(t=t).encode() + text
        return struct.pack(">Q", t) + self.private_key.sign(message)

    def sign_bytes(self, message: bytes) -> bytes:
        """A bare signature over ``message`` (our own ``evidence.*`` statements, whose
        prefixes no C2SP signed message starts with)."""
        return self.private_key.sign(message)

    def signature_line(self, text: bytes, *, cosigned_at: int | None = None) -> str:
        blob = struct.pack(">I", self.key_id) + self.signature(text, cosigned_at=cosigned_at)
        return f"{SIG_PREFIX}{self.name} {base64.b64encode(blob).decode()}\n"

    def to_string(self) -> str:
        """Go's private-key string ``PRIVATE+KEY+name+keyid+base64(alg || seed)`` (the
        32-byte seed for Ed25519 and for ML-DSA-44, FIPS 204's xi)."""
        seed = self.private_key.private_bytes_raw()
        data = base64.b64encode(bytes([self.alg]) + seed).decode()
        return f"{PRIVATE_KEY_PREFIX}{self.name}+{self.key_id:08x}+{data}"


def _private_key(alg: int, seed: bytes) -> Ed25519PrivateKey | MLDSA44PrivateKey:
    if alg == ALG_MLDSA44:
        return MLDSA44PrivateKey.from_seed_bytes(seed)
    return Ed25519PrivateKey.from_private_bytes(seed)


def generate_signer(name: str, alg: int = ALG_ED25519) -> Signer:
    """A fresh key named ``name``: Ed25519 (0x01), a witness's Ed25519 cosigning key
    (0x04) or an ML-DSA-44 (sub)tree cosigning key (0x06, a log's or a witness's)."""
    if not is_valid_key_name(name):
        raise BadKey(f"key name {name!r} is empty or contains space or '+'")
    if alg not in KEY_SIZES:
        raise BadKey(f"unsupported key algorithm {alg}")
    return Signer(name, alg, _private_key(alg, os.urandom(32)))


def parse_signer_key(skey: str) -> Signer:
    """Parse a ``PRIVATE+KEY+...`` string (Go's format; 0x04 and 0x06 for cosigning keys)."""
    if not isinstance(skey, str) or not skey.startswith(PRIVATE_KEY_PREFIX):
        raise BadKey("signer key must start with PRIVATE+KEY+")
    parts = skey.strip()[len(PRIVATE_KEY_PREFIX) :].split("+", 2)
    if len(parts) != 3:
        raise BadKey("signer key must look like PRIVATE+KEY+name+keyid+base64key")
    name, hex_id, b64 = parts
    if not is_valid_key_name(name):
        raise BadKey(f"signer key name {name!r} is empty or contains space or '+'")
    try:
        data = base64.b64decode(b64.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise BadKey("signer key data is not valid base64") from None
    if len(data) != 33 or data[0] not in KEY_SIZES:
        raise BadKey("signer key is not an Ed25519 (0x01), cosignature/v1 (0x04) or "
                     "ML-DSA-44 (0x06) key")
    signer = Signer(name, data[0], _private_key(data[0], data[1:]))
    if hex_id != f"{signer.key_id:08x}":
        raise BadKey(f"signer key id {hex_id} does not match its key")
    return signer


# --- notes ----------------------------------------------------------------------


@dataclass(frozen=True)
class SignatureLine:
    """One parsed signature line, not yet verified."""

    name: str
    key_id: int
    signature: bytes = field(repr=False)
    line: str = field(repr=False)


@dataclass(frozen=True)
class ParsedNote:
    text: str
    signatures: tuple[SignatureLine, ...]


@dataclass(frozen=True)
class OpenedNote:
    """A note with at least one signature verified by a pinned key."""

    text: str
    verified: tuple[VerifiedSignature, ...]
    unverified: tuple[SignatureLine, ...]
    """Signatures by keys the caller did not pin: ignored, listed for reporting."""

    def verified_names(self) -> list[str]:
        return [v.name for v in self.verified]


def _decode(note: str | bytes) -> str:
    if isinstance(note, bytes | bytearray):
        if len(note) > MAX_NOTE_SIZE:
            raise MalformedNote(f"note is {len(note)} bytes; the limit is {MAX_NOTE_SIZE}")
        try:
            return bytes(note).decode("utf-8")
        except UnicodeDecodeError as e:
            raise MalformedNote(f"note is not valid UTF-8 (byte {e.start})") from None
    if not isinstance(note, str):
        raise MalformedNote("note must be text")
    if len(note) > MAX_NOTE_SIZE or len(note.encode("utf-8", "surrogatepass")) > MAX_NOTE_SIZE:
        raise MalformedNote(f"note is larger than the limit of {MAX_NOTE_SIZE} bytes")
    return note


_BAD_TEXT = re.compile("[\x00-\x09\x0b-\x1f\ud800-\udfff]")


def check_text(text: str) -> None:
    """Note text rules shared by signing and opening: valid UTF-8, no control
    characters but newline, ends with a newline."""
    bad = _BAD_TEXT.search(text)
    if bad is not None:
        raise MalformedNote(f"note contains control character U+{ord(bad.group()):04X} "
                            f"at {bad.start()}")
    if not text.endswith("\n"):
        raise MalformedNote("note text must end with a newline")


def parse_note(note: str | bytes) -> ParsedNote:
    """Split a note into text and signature lines, checking syntax only."""
    msg = _decode(note)
    check_text(msg)
    split = msg.rfind("\n\n")
    if split < 0:
        raise MalformedNote("note has no blank line before its signatures")
    text, sigs = msg[: split + 1], msg[split + 2 :]
    if not sigs:
        raise MalformedNote("note has no signature lines after the blank line")
    lines = sigs.split("\n")[:-1]  # sigs ends with "\n" (check_text)
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNote(f"note has more than {MAX_SIGNATURES} signatures")
    parsed = []
    for n, line in enumerate(lines, 1):
        if not line.startswith(SIG_PREFIX):
            raise MalformedNote(f"signature line {n} does not start with '\u2014 '")
        name, sep, b64 = line[len(SIG_PREFIX) :].partition(" ")
        if not sep or not b64 or not is_valid_key_name(name):
            raise MalformedNote(f"signature line {n} is not '\u2014 <name> <base64>'")
        blob = _b64decode(b64, f"signature line {n}")
        if len(blob) < 5:
            raise MalformedNote(f"signature line {n} is too short to hold a key id")
        parsed.append(SignatureLine(name, struct.unpack(">I", blob[:4])[0], blob[4:], line))
    return ParsedNote(text, tuple(parsed))


def open_note(note: str | bytes, verifiers: Iterable[Verifier]) -> OpenedNote:
    """Verify a note against pinned keys; raise unless at least one verified.

    Signatures by unknown keys are ignored (and reported as unverified); a bad
    signature by a pinned key raises :class:`InvalidSignature` for the whole
    note, because a key we trust signing something else is a red flag, not noise.
    """
    parsed = parse_note(note)
    known = {(v.name, v.key_id): v for v in verifiers}
    text = parsed.text.encode()
    verified: list[VerifiedSignature] = []
    unverified: list[SignatureLine] = []
    seen: set[tuple[str, int]] = set()
    seen_lines: set[str] = set()
    for sig in parsed.signatures:
        v = known.get((sig.name, sig.key_id))
        if v is None:
            if sig.line not in seen_lines:
                seen_lines.add(sig.line)
                unverified.append(sig)
            continue
        if (sig.name, sig.key_id) in seen:
            continue
        seen.add((sig.name, sig.key_id))
        verified.append(v.verify(text, sig.signature))
    if not verified:
        names = ", ".join(sorted({s.name for s in unverified})) or "none"
        raise NoVerifiedSignature(
            f"no signature by a pinned key (signed by: {names}; pinned: "
            f"{', '.join(sorted(n for n, _ in known)) or 'none'})"
        )
    return OpenedNote(parsed.text, tuple(verified), tuple(unverified))


def sign_note(text: str, signers: Sequence[Signer], *, cosigned_at: int | None = None) -> str:
    """Sign ``text`` with each signer; returns the whole note."""
    check_text(text)
    if not signers:
        raise ValueError("sign_note needs at least one signer")
    data = text.encode()
    lines = "".join(s.signature_line(data, cosigned_at=cosigned_at) for s in signers)
    return f"{text}\n{lines}"


def add_signature_lines(note: str, lines: Iterable[str]) -> str:
    """Append signature lines (e.g. witness cosignatures) to an already signed note."""
    parse_note(note)
    out = note
    for line in lines:
        if not line.startswith(SIG_PREFIX) or not line.endswith("\n") or line.count("\n") != 1:
            raise MalformedNote("a signature line must be '\u2014 <name> <base64>\\n'")
        if line not in out:
            out += line
    parse_note(out)
    return out
