"""Signed receipts: the log's promise, given at once, that an entry is in the log.

Like a Certificate Transparency SCT, a receipt is issued when the entry is
durable, before any checkpoint covers it. It is a C2SP signed note by the
log's own key over::

    evidence.receipt/v1
    <origin>
    <seq>
    <hex leaf hash>
    <entry time>

The first line keeps a receipt from ever being read as a checkpoint (whose
first line is the origin, which verify_checkpoint requires to equal the key
name). A receipt is upgraded to proof by an inclusion proof of ``seq`` to a
checkpoint: if the log never includes the entry, the signed receipt is
evidence of the operator's misbehaviour.
"""

from __future__ import annotations

from dataclasses import dataclass

from evidence.verify.entry import parse_entry
from evidence.verify.errors import MalformedInput, VerificationError
from evidence.verify.hashing import hash_from_hex
from evidence.verify.note import Signer, Verifier, check_text, open_note, sign_note

RECEIPT_HEADER = "evidence.receipt/v1"


class ReceiptMismatch(VerificationError):
    """The receipt is genuine but is not about this entry."""


@dataclass(frozen=True)
class Receipt:
    origin: str
    seq: int
    leaf_hash: str
    time: str

    def to_text(self) -> str:
        text = f"{RECEIPT_HEADER}\n{self.origin}\n{self.seq}\n{self.leaf_hash}\n{self.time}\n"
        check_text(text)
        return text


def parse_receipt_text(text: str) -> Receipt:
    lines = text.split("\n")
    if len(lines) != 6 or lines[0] != RECEIPT_HEADER or lines[5] != "":
        raise MalformedInput(f"not an {RECEIPT_HEADER} receipt")
    _, origin, seq_s, leaf_hex, time, _ = lines
    if not seq_s.isascii() or not seq_s.isdigit() or (len(seq_s) > 1 and seq_s[0] == "0"):
        raise MalformedInput("receipt seq is not a canonical decimal")
    hash_from_hex(leaf_hex, "receipt leaf hash")
    if leaf_hex != leaf_hex.lower():
        raise MalformedInput("receipt leaf hash must be lowercase hex")
    return Receipt(origin, int(seq_s), leaf_hex, time)


def sign_receipt(receipt: Receipt, log_signer: Signer) -> str:
    return sign_note(receipt.to_text(), [log_signer])


def verify_receipt(note: str | bytes, log_key: Verifier, entry_bytes: bytes | None = None
                   ) -> Receipt:
    """Check the log's signature on a receipt and, given the entry, that it is this entry's."""
    opened = open_note(note, [log_key])
    receipt = parse_receipt_text(opened.text)
    if receipt.origin != log_key.name:
        raise ReceiptMismatch(f"receipt origin {receipt.origin!r} is not {log_key.name!r}")
    if entry_bytes is not None:
        entry = parse_entry(entry_bytes)
        if entry.leaf_hash.hex() != receipt.leaf_hash:
            raise ReceiptMismatch("receipt leaf hash does not match the entry bytes")
        if entry.seq != receipt.seq or entry.time != receipt.time:
            raise ReceiptMismatch("receipt seq or time does not match the entry")
    return receipt
