"""Many inclusion proofs against one tree head, without re-hashing shared paths.

Equal to :func:`evidence.verify.merkle.verify_inclusion`, proof by proof (the same
verdicts, exception types and messages); held by
``tests/equivalence/test_inclusion_batch.py``. Auditors may skip this module.

An auditor, a monitor or a court clerk checking a stack of receipts checks
them against one checkpoint, and their audit paths share the top of the tree:
two random leaves of a million-leaf tree part only a few levels above the
leaves, yet :func:`~evidence.verify.merkle.verify_inclusion` hashes all twenty
levels of each.

:class:`InclusionBatch` gives exactly the same verdicts (a property test holds
it equal to ``verify_inclusion`` on valid and damaged proofs) and skips work
it has already done. After a proof reaches the root it remembers, for the
nodes on its path near the top of the tree, the hash it computed there and
the proof hashes that remained above. A later proof that arrives at the same
node with the same hash and carries the same remaining hashes would repeat a
computation already seen to end in the expected root - the same function of
the same inputs - so it is accepted there. Nothing is assumed about SHA-256:
anything that differs, in one bit, is hashed as usual and judged by the root.

Memory is bounded: only the top levels are remembered (at most
``remember`` nodes; about 30 MB by default).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from evidence.verify.errors import IndexOutOfRange, RootMismatch
from evidence.verify.hashing import HASH_SIZE, NODE_PREFIX, hash32
from evidence.verify.merkle import MAX_TREE_SIZE, check_inclusion_shape, inclusion_proof_size

_NODE_STATE = hashlib.sha256(NODE_PREFIX)
"""SHA-256 already fed the interior-node prefix, copied for each node: the same digest
as :func:`evidence.verify.hashing.node_hash` (``SHA-256(0x01 || left || right)``) without
building the concatenation. ``tests/equivalence/test_inclusion_batch.py`` holds every
root computed here to ``verify_inclusion``'s, which hashes with ``node_hash``."""

DEFAULT_REMEMBER = 1 << 18
_BYTES = frozenset({bytes})
_HASH_TYPES = frozenset({bytes, bytearray})
_HASH_LEN = frozenset({HASH_SIZE})


def _checked_shape(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """What :func:`~evidence.verify.merkle.check_inclusion_shape` returns, with the
    common case (exact built-in types, right lengths) decided by a few C-level checks;
    anything else goes to the reference, which accepts it or names the fault."""
    if (type(index) is int and type(size) is int and 0 <= index < size <= MAX_TREE_SIZE
            and type(leaf) is bytes and len(leaf) == HASH_SIZE
            and len(proof) == inclusion_proof_size(index, size)
            and {*map(type, proof)} <= _HASH_TYPES and {*map(len, proof)} <= _HASH_LEN):
        return leaf
    return check_inclusion_shape(index, size, leaf, proof)


class InclusionBatch:
    """Verify inclusion proofs for one tree head ``(size, root)``."""

    def __init__(self, size: int, root: bytes, *, remember: int = DEFAULT_REMEMBER) -> None:
        if type(size) is not int or not 0 < size <= MAX_TREE_SIZE:
            raise IndexOutOfRange(f"tree size must be 1..2**64-1 to include anything, got {size!r}")
        self.size = size
        self.root = bytes(hash32(root, "root hash"))
        self._remember = max(0, remember)
        # Perfect subtrees below this level are too many to remember usefully:
        # remember the top ~log2(remember) levels, where paths meet.
        self._low = max(0, size.bit_length() - max(1, self._remember.bit_length() - 2))
        # key -> (hash computed at that node, the proof that reached the root
        # from there, the step of that proof at which it was there).
        # Perfect node (level, index): index << 6 | level. Right-border node
        # [start, size): -1 - start. Both name one position in this tree.
        self._known: dict[int, tuple[bytes, tuple[bytes, ...], int]] = {}

    @property
    def remembered(self) -> int:
        """How many nodes the batch remembers now: at most ``remember``, and none learnt
        from a proof with a mutable hash. Public so that the bound on its memory can be
        checked from outside (tests/equivalence/test_inclusion_batch.py)."""
        return len(self._known)

    def verify(self, index: int, leaf: bytes, proof: Sequence[bytes]) -> None:
        """Raise exactly when ``verify_inclusion(index, size, leaf, proof, root)`` would."""
        size = self.size
        r = _checked_shape(index, size, leaf, proof)
        proof = tuple(proof)
        known, low = self._known, self._low
        node = _NODE_STATE.copy
        path: list[tuple[int, int, bytes]] = []  # (key, step, hash) worth remembering

        inner = (index ^ (size - 1)).bit_length()
        for level in range(inner):
            if level >= low:  # below it, too many nodes to remember: just hash
                key = (index >> level) << 6 | level
                seen = known.get(key)
                if seen is not None and seen[0] == r and seen[1][seen[2]:] == proof[level:]:
                    self._learn(path, proof)
                    return
                path.append((key, level, r))
            h = node()
            if (index >> level) & 1:
                h.update(proof[level])
                h.update(r)
            else:
                h.update(r)
                h.update(proof[level])
            r = h.digest()

        start = (index >> inner) << inner  # this node covers [start, size)
        for step in range(inner, len(proof)):
            key = -1 - start
            seen = known.get(key)
            if seen is not None and seen[0] == r and seen[1][seen[2]:] == proof[step:]:
                self._learn(path, proof)
                return
            path.append((key, step, r))
            h = node()
            h.update(proof[step])
            h.update(r)
            r = h.digest()
            start -= start & -start  # the left sibling was the perfect subtree ending here

        if r != self.root:
            raise RootMismatch(
                f"inclusion proof for leaf {index} of size {size} gives root {r.hex()}, "
                f"expected {self.root.hex()}"
            )
        self._learn(path, proof)

    def _learn(self, path: list[tuple[int, int, bytes]], proof: tuple[bytes, ...]) -> None:
        """Remember a path that is known to end in the root (until the budget is spent).
        Only immutable hashes are kept: a bytearray changed later must not change what
        the batch believes."""
        known = self._known
        room = self._remember - len(known)
        if not path or room <= 0 or not {*map(type, proof)} <= _BYTES:
            return
        for key, step, r in path:
            if room <= 0:
                return
            if key not in known:
                known[key] = (r, proof, step)
                room -= 1
