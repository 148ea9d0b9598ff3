"""Signed receipts: issued at once, bound to one entry, never mistaken for a checkpoint."""

from __future__ import annotations

import pytest

from evidence.verify.checkpoint import verify_checkpoint
from evidence.verify.entry import encode_entry
from evidence.verify.errors import MalformedInput, NoteError, VerificationError
from evidence.verify.hashing import ZERO_HASH_HEX, leaf_hash
from evidence.verify.note import generate_signer
from evidence.verify.receipt import Receipt, ReceiptMismatch, sign_receipt, verify_receipt

LOG = generate_signer("log.example")
T = "2026-11-21T08:00:00.000000Z"
ENTRY = encode_entry(0, T, ZERO_HASH_HEX, "custody.note", {"text": "x"})


def _receipt(**over) -> str:
    fields = {"origin": "log.example", "seq": 0, "leaf_hash": leaf_hash(ENTRY).hex(), "time": T}
    return sign_receipt(Receipt(**(fields | over)), LOG)


def test_receipt_round_trip() -> None:
    r = verify_receipt(_receipt(), LOG.verifier(), ENTRY)
    assert r.seq == 0 and r.leaf_hash == leaf_hash(ENTRY).hex()


def test_receipt_for_another_entry_is_refused() -> None:
    other = encode_entry(0, T, ZERO_HASH_HEX, "custody.note", {"text": "y"})
    with pytest.raises(ReceiptMismatch, match="leaf hash"):
        verify_receipt(_receipt(), LOG.verifier(), other)
    with pytest.raises(ReceiptMismatch, match="seq or time"):
        verify_receipt(_receipt(time="2026-11-21T08:00:00.000001Z"), LOG.verifier(), ENTRY)
    with pytest.raises(ReceiptMismatch, match="origin"):
        verify_receipt(_receipt(origin="elsewhere"), LOG.verifier(), ENTRY)


def test_receipt_signed_by_another_key_is_refused() -> None:
    with pytest.raises(NoteError):
        verify_receipt(_receipt(), generate_signer("log.example").verifier(), ENTRY)


def test_receipt_is_never_a_checkpoint() -> None:
    with pytest.raises(VerificationError):
        verify_checkpoint(_receipt(), LOG.verifier())


def test_malformed_receipts() -> None:
    from evidence.verify.note import sign_note

    for text in ("evidence.receipt/v1\nlog.example\n01\n" + "a" * 64 + f"\n{T}\n",
                 "evidence.receipt/v1\nlog.example\n1\n" + "A" * 64 + f"\n{T}\n",
                 "evidence.receipt/v2\nlog.example\n1\n" + "a" * 64 + f"\n{T}\n",
                 "evidence.receipt/v1\nlog.example\n1\n" + "a" * 63 + f"\n{T}\n"):
        with pytest.raises(MalformedInput):
            verify_receipt(sign_note(text, [LOG]), LOG.verifier())
