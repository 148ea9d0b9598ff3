"""A log in a list, built from ``evidence.verify`` alone (leaf hashes in a list, roots and
consistency proofs from the leaves, checkpoints signed with a log Signer): the witness's
tests need a log that signs checkpoints and proves consistency, and nothing of the ledger.
"""

from __future__ import annotations

from collections.abc import Sequence

from evidence.ledger.anchor.witness_client import format_add_checkpoint
from evidence.verify.checkpoint import Checkpoint, sign_checkpoint
from evidence.verify.hashing import Hash32, leaf_hash
from evidence.verify.merkle import consistency_proof_from_leaves, root
from evidence.verify.note import Signer, generate_signer

ORIGIN = "example.org/evidence-log"


class TinyLog:
    """A log in a list: enough to sign checkpoints and prove consistency."""

    def __init__(self, origin: str = ORIGIN, signer: Signer | None = None,
                 leaves: Sequence[bytes] = (), tag: str = "") -> None:
        self.origin = origin
        self.signer = signer or generate_signer(origin)
        self.leaves: list[Hash32] = list(leaves)
        self.tag = tag

    def grow(self, n: int) -> TinyLog:
        for _ in range(n):
            self.leaves.append(leaf_hash(f"{self.tag}entry {len(self.leaves)}".encode()))
        return self

    def fork(self, at: int, tag: str = "forked ") -> TinyLog:
        """Another history sharing the first ``at`` leaves, signed by the same key."""
        return TinyLog(self.origin, self.signer, self.leaves[:at], tag)

    @property
    def size(self) -> int:
        return len(self.leaves)

    def checkpoint(self, size: int | None = None) -> Checkpoint:
        size = self.size if size is None else size
        return Checkpoint(self.origin, size, root(self.leaves[:size]))

    def note(self, size: int | None = None, signer: Signer | None = None) -> str:
        return sign_checkpoint(self.checkpoint(size), signer or self.signer)

    def proof(self, old: int, new: int) -> list[Hash32]:
        return consistency_proof_from_leaves(old, self.leaves[:new])

    def request(self, old: int, size: int | None = None, *, proof: Sequence[bytes] | None = None,
                note: str | None = None) -> bytes:
        size = self.size if size is None else size
        if proof is None:
            proof = self.proof(old, size) if 0 < old < size else []
        return format_add_checkpoint(old, proof, self.note(size) if note is None else note)

    @property
    def vkey(self) -> str:
        return self.signer.verifier().to_string()
