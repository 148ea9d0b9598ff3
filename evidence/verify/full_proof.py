"""Full proofs, many at a time: is every one of my receipts in a checkpoint I trust?

A rights holder who bulk-imported ten thousand files holds ten thousand full
proofs, as ``evidence receipt --json`` prints them: the entry, the log's
signed receipt over it, and (once a checkpoint covers the entry) an inclusion
proof to that checkpoint with the checkpoint itself. Checking them offline
means, for each one:

* the receipt carries the pinned log key's signature and names this entry
  (seq, leaf hash, time);
* the checkpoint carries the log key's signature (and the witness quorum);
* the inclusion proof is for the receipt's seq and leaf hash, in the
  checkpoint's tree size, and reaches the checkpoint's root.

Proofs usually point at a handful of checkpoints, so each checkpoint's
signatures are checked once, and its proofs go to one inclusion verifier made
for that tree head. By default that is :class:`OneByOne`
(:func:`~evidence.verify.merkle.verify_inclusion` for each proof, the
reference); a caller checking thousands of proofs passes
:class:`evidence.verify.fast.inclusion_batch.InclusionBatch`, which gives the
same verdicts and skips the hashing that proofs share.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from evidence.verify.checkpoint import (
    OutsideWindow,
    verify_checkpoint,
    verify_checkpoint_windowed,
)
from evidence.verify.errors import MalformedInput, NoVerifiedSignature, VerificationError
from evidence.verify.hashing import hash_from_hex
from evidence.verify.merkle import verify_inclusion
from evidence.verify.note import ALG_MLDSA44, Verifier
from evidence.verify.receipt import ReceiptMismatch, verify_receipt

MAX_PROOF_HASHES = 64


class NotYetCovered(VerificationError):
    """The receipt is genuine, but no checkpoint covered the entry when it was printed."""


class BadCheckpoint(VerificationError):
    """The checkpoint a full proof points at does not verify against the pinned keys."""


@dataclass(frozen=True)
class ProvenEntry:
    seq: int
    leaf_hash: str
    tree_size: int
    evidence_id: str | None


class InclusionVerifier(Protocol):
    """Inclusion proofs against one tree head: ``verify`` raises exactly when
    ``verify_inclusion(index, size, leaf, proof, root)`` would."""

    def verify(self, index: int, leaf: bytes, proof: Sequence[bytes]) -> None: ...


class OneByOne:
    """:func:`~evidence.verify.merkle.verify_inclusion` for each proof against one head."""

    def __init__(self, size: int, root: bytes) -> None:
        self.size = size
        self.root = root

    def verify(self, index: int, leaf: bytes, proof: Sequence[bytes]) -> None:
        verify_inclusion(index, self.size, leaf, proof, self.root)


Windowed = Sequence[tuple[Verifier, "tuple[int, int] | None"]]
"""Every log key of one origin with its window of tree sizes (None: every size)."""


class FullProofChecker:
    """Check full proofs against the pinned log key (and optional witnesses).

    ``log_key`` is one key, or after a rotation every key of the log with its window
    (``#@ log-key``, docs/verdict.md section 3): a checkpoint must be signed by a key whose
    window holds its size, a receipt by one whose window holds ``seq + 1`` (the size of
    the first tree holding the entry), or by a key pinned for every size (receipts are
    signed when printed, so an old entry's receipt printed today carries today's key).
    ``inclusion`` makes the verifier of a tree head ``(size, root)`` that every proof
    to that head goes through.
    """

    def __init__(self, log_key: Verifier | Windowed, *, witness_keys: Sequence[Verifier] = (),
                 quorum: int = 0,
                 inclusion: Callable[[int, bytes], InclusionVerifier] = OneByOne) -> None:
        self._keys: tuple[tuple[Verifier, tuple[int, int] | None], ...] = (
            ((log_key, None),) if isinstance(log_key, Verifier) else tuple(log_key))
        current = [v for v, w in self._keys if w is None]
        if len(current) != 1 or len({v.name for v, _ in self._keys}) != 1:
            raise ValueError("one log: one key for every size, the others of its name "
                             "with windows")
        log_key = current[0]
        self.log_key = log_key
        self._witnesses = tuple(witness_keys)
        self._quorum = quorum
        self._inclusion = inclusion
        self._heads: dict[str, tuple[int, bytes]] = {}  # checkpoint text -> (size, root)
        self._batches: dict[tuple[int, bytes], InclusionVerifier] = {}

    def check(self, record: Any) -> ProvenEntry:
        """Raise a :class:`VerificationError` naming what is wrong with ``record``."""
        if not isinstance(record, Mapping):
            raise MalformedInput("a full proof must be a JSON object")
        receipt_note, entry, checkpoint, proof = (
            record.get("receipt"), record.get("entry"), record.get("checkpoint"),
            record.get("inclusion_proof"))
        if not isinstance(receipt_note, str) or not isinstance(entry, str):
            raise MalformedInput('a full proof needs "receipt" and "entry" (as printed by '
                                 "`evidence receipt --json`)")
        receipt = self._receipt(receipt_note, entry.encode("utf-8"))
        evidence_id = record.get("evidence_id")
        evidence_id = evidence_id if isinstance(evidence_id, str) else None
        if checkpoint is None and proof is None:
            raise NotYetCovered(f"entry {receipt.seq}: the receipt is valid, but no checkpoint "
                                "covered it yet; print the receipt again to get the full proof")
        if not isinstance(checkpoint, str) or not isinstance(proof, Mapping):
            raise MalformedInput('"checkpoint" must be a signed note and "inclusion_proof" an '
                                 "object")
        size, root = self._head(checkpoint)
        index, tree_size, leaf_hex, hashes = (proof.get("index"), proof.get("tree_size"),
                                              proof.get("leaf_hash"), proof.get("proof"))
        if index != receipt.seq or type(index) is not int:
            raise ReceiptMismatch(f"inclusion proof is for entry {index!r}, the receipt for "
                                  f"{receipt.seq}")
        if leaf_hex != receipt.leaf_hash:
            raise ReceiptMismatch(f"entry {receipt.seq}: inclusion proof is for another leaf hash")
        if tree_size != size or type(tree_size) is not int:
            raise ReceiptMismatch(f"entry {receipt.seq}: inclusion proof is for tree size "
                                  f"{tree_size!r}, the checkpoint's is {size}")
        if proof.get("root") not in (None, root.hex()):
            raise ReceiptMismatch(f"entry {receipt.seq}: inclusion proof names another root "
                                  "than the checkpoint's")
        if not isinstance(hashes, list) or len(hashes) > MAX_PROOF_HASHES:
            raise MalformedInput(f"entry {receipt.seq}: inclusion proof hashes must be a list")
        path = [hash_from_hex(h, f"entry {receipt.seq}: proof hash {i}")
                for i, h in enumerate(hashes)]
        batch = self._batches.get((size, root))
        if batch is None:
            batch = self._batches[(size, root)] = self._inclusion(size, root)
        batch.verify(receipt.seq, bytes.fromhex(receipt.leaf_hash), path)
        return ProvenEntry(receipt.seq, receipt.leaf_hash, size, evidence_id)

    def _receipt(self, note: str, entry: bytes) -> Any:
        if len(self._keys) == 1:
            return verify_receipt(note, self.log_key, entry)
        first: VerificationError | None = None
        for v, w in self._keys:  # tests/cli/test_verify_receipts_rotation.py
            if v.alg == ALG_MLDSA44:  # signs checkpoints only, never receipts
                continue
            try:
                r = verify_receipt(note, v, entry)
            except NoVerifiedSignature as e:
                first = first or e
                continue
            if w is None or w[0] <= r.seq + 1 <= w[1]:
                return r
            first = OutsideWindow(
                f"the receipt of entry {r.seq} is signed only by the log key "
                f"{v.name}+{v.key_id:08x}, which is pinned for sizes {w[0]} to {w[1]} "
                "(rotated out or revoked)")
        assert first is not None
        raise first

    def _head(self, checkpoint: str) -> tuple[int, bytes]:
        head = self._heads.get(checkpoint)
        if head is None:
            try:
                if len(self._keys) == 1:
                    v = verify_checkpoint(checkpoint, self.log_key,
                                          witness_keys=self._witnesses, quorum=self._quorum)
                else:
                    v = verify_checkpoint_windowed(checkpoint, self._keys,
                                                   witness_keys=self._witnesses)[0]
                    if len(v.cosignatures) < self._quorum:
                        raise NoVerifiedSignature(
                            f"checkpoint has {len(v.cosignatures)} valid witness "
                            f"cosignature(s); quorum is {self._quorum}")
            except VerificationError as e:
                raise BadCheckpoint(f"checkpoint: {e}") from e
            head = self._heads[checkpoint] = (v.checkpoint.size, bytes(v.checkpoint.root))
        return head
