"""COSE Receipts of inclusion (RFC 9942, RFC9162_SHA256), signed by the log's key.

The layout is :mod:`evidence.verify.cose_receipt`'s (that module reads what this one
writes). Signing one needs the log's private key, which a ledger opened read-only does not
hold: :func:`log_signer` reads it from the ledger's key file and refuses a key that is not
the log's.

The protected header carries the CWT Claims RFC 9943 asks of a SCITT receipt (label 15):
``iss`` is the log's name (its C2SP origin), ``sub`` the item's evidence id when the caller
names one. With them the receipt of an item registered from a signed statement
(``POST /v1/evidence/statements``) is the receipt of a SCITT transparent statement
(tests/api/test_signed_statements.py checks one with pycose).

The same Ed25519 key signs C2SP notes and these receipts. A signature can never serve for
the other: a Sig_structure starts with the octet 0x84, which no UTF-8 note text does.
"""

from __future__ import annotations

from collections.abc import Sequence

from evidence.ledger.errors import LedgerError, OutOfRange
from evidence.ledger.keyfile import KeyFileError, read_private_key
from evidence.ledger.log import Ledger
from evidence.verify.cose_receipt import (
    ALG_EDDSA,
    LABEL_VDP,
    LABEL_VDS,
    cbor_head,
    key_kid,
    sig_structure,
)
from evidence.verify.note import Signer

__all__ = ["CoseSizeRefused", "cose_receipt", "encode_cbor", "log_signer"]

LABEL_ALG, LABEL_KID, LABEL_CWT_CLAIMS, VDS_RFC9162_SHA256, PROOF_INCLUSION = 1, 4, 15, 1, -1
CLAIM_ISS, CLAIM_SUB = 1, 2
MEDIA_TYPE = "application/cose"


class CoseSizeRefused(OutOfRange):
    """A receipt was asked for a tree size that does not hold the entry, or that the log
    never had."""


def encode_cbor(value: object) -> bytes:
    """Deterministic CBOR (RFC 8949 section 4.2.1: shortest forms, definite lengths, map
    keys in bytewise order of their encodings) of ints, bytes, str, lists, dicts, None."""
    if value is None:
        return b"\xf6"
    if isinstance(value, bool):
        raise TypeError("booleans are not used in receipts")
    if isinstance(value, int):
        return cbor_head(0, value) if value >= 0 else cbor_head(1, -1 - value)
    if isinstance(value, bytes):
        return cbor_head(2, len(value)) + value
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return cbor_head(3, len(raw)) + raw
    if isinstance(value, list | tuple):
        return cbor_head(4, len(value)) + b"".join(encode_cbor(v) for v in value)
    if isinstance(value, dict):
        pairs = sorted((encode_cbor(k), encode_cbor(v)) for k, v in value.items())
        return cbor_head(5, len(pairs)) + b"".join(k + v for k, v in pairs)
    raise TypeError(f"cannot encode {type(value).__name__} in a receipt")


def log_signer(ledger: Ledger) -> Signer:
    """The log's private key, read from the ledger's key file; it must be the log's key."""
    cfg = ledger.config
    if cfg is None:
        raise LedgerError("no ledger configuration (a database copy opened by URL): the "
                          "log's key is not here, no receipt can be signed")
    try:
        signer = read_private_key(cfg.key_path)
    except KeyFileError as e:
        raise LedgerError(str(e)) from None
    if signer.verifier().to_string() != ledger.verifier_key:
        raise LedgerError(f"the key in {cfg.key_path} is not this log's key")
    return signer


def sign_inclusion(signer: Signer, size: int, index: int, path: Sequence[bytes],
                   root: bytes, subject: str | None = None) -> bytes:
    """The tagged COSE_Sign1 receipt of leaf ``index`` in the tree of ``size`` whose root
    is ``root`` (detached payload); CWT claims iss = the log's name, sub = ``subject``."""
    claims: dict[int, object] = {CLAIM_ISS: signer.verifier().name}
    if subject is not None:
        claims[CLAIM_SUB] = subject
    protected = encode_cbor({LABEL_ALG: ALG_EDDSA, LABEL_KID: key_kid(signer.verifier()),
                             LABEL_VDS: VDS_RFC9162_SHA256, LABEL_CWT_CLAIMS: claims})
    proof = encode_cbor([size, index, [bytes(h) for h in path]])
    signature = signer.private_key.sign(sig_structure(protected, bytes(root)))
    body = encode_cbor([protected, {LABEL_VDP: {PROOF_INCLUSION: [proof]}}, None, signature])
    return b"\xd2" + body  # tag 18 (COSE_Sign1)


def cose_receipt(ledger: Ledger, signer: Signer, seq: int, size: int | None = None,
                 subject: str | None = None) -> bytes:
    """The receipt of entry ``seq`` in the tree of ``size`` (default: the latest checkpoint's
    size, else the log's size now), ``sub`` = ``subject`` (an evidence id). Raises
    :class:`CoseSizeRefused` for a size the log never had or that does not hold the entry."""
    current = ledger.size
    if size is None:
        cp = ledger.latest_checkpoint()
        size = cp.size if cp is not None and cp.size > seq else current
    if type(size) is not int or size < 1 or size > current:
        raise CoseSizeRefused(f"tree size {size}: this log never had it (it has {current} "
                              "entries)")
    if seq >= size:
        raise CoseSizeRefused(f"entry {seq} is not in the tree of size {size} (entries 0 to "
                              f"{size - 1}): ask for a larger size")
    p = ledger.inclusion_proof(seq, size)
    return sign_inclusion(signer, size, seq, p.proof, p.root, subject)
