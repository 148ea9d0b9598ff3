"""COSE Receipts of inclusion (RFC 9942, tree algorithm RFC9162_SHA256), as SCITT uses them.

A receipt is a tagged COSE_Sign1 (RFC 9052) made by the log's key::

    18([ protected   = << {1: -8 (EdDSA), 4: kid, 395 (vds): 1 (RFC9162_SHA256)} >>,
         unprotected = {396 (vdp): {-1 (inclusion proofs): [<< [tree-size, leaf-index,
                                                                 [hash, ...]] >>]}},
         payload     = nil (detached: the tree's root at tree-size),
         signature   = Ed25519 over Sig_structure ["Signature1", protected, h'', root] ])

``kid`` is the UTF-8 of ``<log key name>+<8 hex key id>``, the pinned key's C2SP name and id.
RFC 9942 section 5.2.1: the verifier applies the inclusion proof to the entry (leaf
``SHA-256(0x00 || entry)``), and the root it gets is the payload the signature must cover;
one answer for both. A signature over a root the proof does not lead to cannot verify.

The CBOR reader below takes exactly the items a receipt holds (unsigned and negative
integers, byte and text strings, arrays, maps, tag 18, null), definite lengths and the
shortest argument encoding only, no duplicate map keys, bounded depth and counts, and the
whole input consumed: anything else is :class:`MalformedReceipt`, never a crash.

Imports: stdlib, ``cryptography`` and ``evidence.verify`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence.verify.errors import InvalidSignature, MalformedInput
from evidence.verify.hashing import HASH_SIZE, Hash32, leaf_hash
from evidence.verify.merkle import root_from_inclusion_proof
from evidence.verify.note import ALG_ED25519, Verifier

__all__ = ["ALG_EDDSA", "LABEL_VDP", "LABEL_VDS", "MalformedReceipt", "VerifiedCoseReceipt",
           "cbor_head", "decode_cbor", "key_kid", "sig_structure", "verify_cose_receipt"]

TAG_COSE_SIGN1 = 18
LABEL_ALG, LABEL_CRIT, LABEL_KID = 1, 2, 4
LABEL_VDS, LABEL_VDP = 395, 396
VDS_RFC9162_SHA256 = 1
PROOF_INCLUSION = -1
ALG_EDDSA = -8
MAX_RECEIPT = 64 << 10
_MAX_DEPTH = 8
_MAX_ITEMS = 4096


class MalformedReceipt(MalformedInput):
    """The bytes are not a COSE receipt of inclusion this verifier reads."""


class _Null:
    """CBOR null (distinct from a missing value)."""


NULL = _Null()


@dataclass(frozen=True)
class _Tag:
    tag: int
    value: Any


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos, self.items = data, 0, 0

    def take(self, n: int) -> bytes:
        if n > len(self.data) - self.pos:
            raise MalformedReceipt("CBOR item runs past the end of the input")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def argument(self, info: int) -> int:
        if info < 24:
            return info
        if info > 27:
            raise MalformedReceipt("CBOR indefinite length or reserved encoding")
        size = 1 << (info - 24)
        value = int.from_bytes(self.take(size), "big")
        if value < (24 if size == 1 else 1 << (4 * size)):  # shortest form only
            raise MalformedReceipt("CBOR integer or length not in its shortest encoding")
        return value

    def item(self, depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            raise MalformedReceipt("CBOR nested too deeply")
        self.items += 1
        if self.items > _MAX_ITEMS:
            raise MalformedReceipt("CBOR has too many items")
        head = self.take(1)[0]
        major, info = head >> 5, head & 0x1F
        if major == 7:
            if head == 0xF6:
                return NULL
            raise MalformedReceipt(f"CBOR simple value or float 0x{head:02x} is not expected")
        arg = self.argument(info)
        if major == 0:
            return arg
        if major == 1:
            return -1 - arg
        if major == 2:
            return self.take(arg)
        if major == 3:
            try:
                return self.take(arg).decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedReceipt("CBOR text string is not UTF-8") from None
        if major == 4:
            if arg > len(self.data) - self.pos:
                raise MalformedReceipt("CBOR array longer than the input")
            return [self.item(depth + 1) for _ in range(arg)]
        if major == 5:
            if 2 * arg > len(self.data) - self.pos:
                raise MalformedReceipt("CBOR map longer than the input")
            out: dict[Any, Any] = {}
            for _ in range(arg):
                key = self.item(depth + 1)
                if not isinstance(key, int | str):
                    raise MalformedReceipt("CBOR map key is not an integer or text")
                if key in out:
                    raise MalformedReceipt(f"CBOR map has the key {key!r} twice")
                out[key] = self.item(depth + 1)
            return out
        return _Tag(arg, self.item(depth + 1))  # major 6


def decode_cbor(data: bytes) -> Any:
    """One CBOR item of the kinds a receipt holds, the whole input consumed."""
    if not isinstance(data, bytes | bytearray):
        raise MalformedReceipt("CBOR input must be bytes")
    r = _Reader(bytes(data))
    value = r.item()
    if r.pos != len(r.data):
        raise MalformedReceipt(f"{len(r.data) - r.pos} bytes after the CBOR item")
    return value


def cbor_head(major: int, n: int) -> bytes:
    """A CBOR item's head in its shortest form (RFC 8949 §4.2.1, deterministic)."""
    if n < 24:
        return bytes([major << 5 | n])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | info]) + n.to_bytes(size, "big")
    raise ValueError("CBOR argument too large")


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """RFC 9052 section 4.4 Sig_structure for COSE_Sign1, empty external_aad."""
    return (b"\x84" + cbor_head(3, 10) + b"Signature1" + cbor_head(2, len(protected)) + protected
            + b"\x40" + cbor_head(2, len(payload)) + payload)


@dataclass(frozen=True)
class Sign1:
    """A COSE_Sign1's four parts as read by :func:`open_sign1`."""

    protected_bytes: bytes
    protected: dict[Any, Any]
    unprotected: dict[Any, Any]
    payload: Any
    signature: Any


def open_sign1(data: bytes) -> Sign1:
    """``data`` read as a tagged COSE_Sign1 (RFC 9052 section 4.2): an array of four whose
    protected header is a non-empty byte string holding a map and whose unprotected header
    is a map. What the headers, payload and signature must say is the caller's to check."""
    top = decode_cbor(data)
    if not isinstance(top, _Tag) or top.tag != TAG_COSE_SIGN1:
        raise MalformedReceipt("not a tagged COSE_Sign1 (CBOR tag 18)")
    msg = top.value
    if not isinstance(msg, list) or len(msg) != 4:
        raise MalformedReceipt("the COSE_Sign1 is not an array of four")
    protected_b, unprotected, payload, signature = msg
    if not isinstance(protected_b, bytes) or not protected_b:
        raise MalformedReceipt("the protected header is not a non-empty byte string")
    try:
        protected = decode_cbor(protected_b)
    except MalformedReceipt as e:
        raise MalformedReceipt(f"the protected header: {e}") from None
    if not isinstance(protected, dict) or not isinstance(unprotected, dict):
        raise MalformedReceipt("a COSE header is not a map")
    return Sign1(protected_b, protected, unprotected, payload, signature)


def key_kid(key: Verifier) -> bytes:
    """The ``kid`` a receipt by this key carries: ``<name>+<8 hex key id>``."""
    return f"{key.name}+{key.key_id:08x}".encode()


@dataclass(frozen=True)
class VerifiedCoseReceipt:
    tree_size: int
    leaf_index: int
    root: Hash32
    kid: bytes


def _int(value: Any, what: str) -> int:
    if type(value) is not int or value < 0:
        raise MalformedReceipt(f"{what} is not an unsigned integer")
    return value


def verify_cose_receipt(data: bytes, log_key: Verifier, entry: bytes) -> VerifiedCoseReceipt:
    """Raise unless ``data`` is a receipt by ``log_key`` that ``entry`` is in the log's tree
    (one answer: :class:`MalformedReceipt`, :class:`InvalidSignature` or another
    :class:`VerificationError`)."""
    if log_key.alg != ALG_ED25519:
        raise ValueError("the pinned log key must be an Ed25519 (0x01) verifier key")
    if not isinstance(data, bytes | bytearray) or len(data) > MAX_RECEIPT:
        raise MalformedReceipt(f"a COSE receipt is bytes of at most {MAX_RECEIPT}")
    s1 = open_sign1(data)
    protected_b, protected, unprotected = s1.protected_bytes, s1.protected, s1.unprotected
    payload, signature = s1.payload, s1.signature
    if set(protected) & set(unprotected):
        raise MalformedReceipt("a header label is both protected and unprotected")
    if LABEL_CRIT in protected:
        raise MalformedReceipt("the receipt marks header parameters critical")
    if protected.get(LABEL_ALG) != ALG_EDDSA:
        raise MalformedReceipt(f"alg is {protected.get(LABEL_ALG)!r}, not EdDSA (-8)")
    if protected.get(LABEL_VDS) != VDS_RFC9162_SHA256:
        raise MalformedReceipt("vds (395) is not RFC9162_SHA256 (1)")
    kid = protected.get(LABEL_KID)
    if kid != key_kid(log_key):
        raise MalformedReceipt(f"kid {kid!r:.80} is not the pinned log key "
                               f"{key_kid(log_key).decode()}")
    vdp = unprotected.get(LABEL_VDP)
    if not isinstance(vdp, dict) or set(vdp) != {PROOF_INCLUSION}:
        raise MalformedReceipt("vdp (396) is not a map holding inclusion proofs (-1) only")
    proofs = vdp[PROOF_INCLUSION]
    if not isinstance(proofs, list) or len(proofs) != 1 or not isinstance(proofs[0], bytes):
        raise MalformedReceipt("the inclusion proofs (-1) are not one byte string")
    proof = decode_cbor(proofs[0])
    if not isinstance(proof, list) or len(proof) != 3 or not isinstance(proof[2], list):
        raise MalformedReceipt("the inclusion proof is not [tree-size, leaf-index, [path]]")
    size, index = _int(proof[0], "tree-size"), _int(proof[1], "leaf-index")
    path: Sequence[Any] = proof[2]
    if any(not isinstance(h, bytes) or len(h) != HASH_SIZE for h in path):
        raise MalformedReceipt("an inclusion path hash is not 32 bytes")
    if not isinstance(signature, bytes) or len(signature) != 64:
        raise MalformedReceipt("the signature is not 64 bytes (Ed25519)")
    root = root_from_inclusion_proof(index, size, leaf_hash(bytes(entry)), path)
    if payload is not NULL and payload != root:
        raise MalformedReceipt("an attached payload is not the root the proof leads to")
    try:
        Ed25519PublicKey.from_public_bytes(log_key.public_key).verify(
            signature, sig_structure(protected_b, root))
    except _CryptoInvalidSignature:
        raise InvalidSignature("the receipt's signature does not verify over the root the "
                               "inclusion proof leads to: another entry, or tampered") from None
    return VerifiedCoseReceipt(size, index, root, kid)

