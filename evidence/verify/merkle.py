"""RFC 9162 Merkle trees: roots, proof planning, proof generation, verification.

The tree over ``n`` leaves splits at the largest power of two smaller than
``n`` (RFC 9162 section 2.1.1); odd leaves are never duplicated. Proofs are the
RFC 9162 audit paths, so any RFC 6962/9162 verifier accepts them unchanged.

Proof generation is split in two, after transparency-dev/merkle:

* *planning* is pure arithmetic: :func:`inclusion_plan` and
  :func:`consistency_plan` say which **perfect** subtrees (:class:`NodeId`)
  each proof hash is made of;
* *fetching* is the caller's: the ledger stores exactly the perfect subtrees
  (about two node writes per append, never a rewrite) and reads the planned
  nodes in one query, then :func:`fold` combines the few right-edge
  ("ephemeral") pieces. Any proof is O(log n) reads.

:func:`inclusion_proof_from_leaves` and friends do the same from an in-memory
list of leaf hashes, for tests, scripts and small trees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from evidence.verify.errors import IndexOutOfRange, RootMismatch, WrongProofSize
from evidence.verify.hashing import (
    EMPTY_ROOT,
    HASH_SIZE,
    Hash32,
    hash32,
    node_hash,
    node_hashes,
)

MAX_TREE_SIZE = 2**64 - 1
"""Sizes and indexes are unsigned 64-bit integers, as in every RFC 6962 log."""


@dataclass(frozen=True, order=True)
class NodeId:
    """A perfect subtree: the ``2**level`` leaves starting at ``index << level``.

    Level 0 nodes are leaf hashes. Only perfect subtrees are ever stored, so a
    stored node never changes once written.
    """

    level: int
    index: int

    @property
    def start(self) -> int:
        return self.index << self.level

    @property
    def end(self) -> int:
        return (self.index + 1) << self.level


NodeFetcher = Callable[[Sequence[NodeId]], Mapping[NodeId, bytes]]
"""Returns the stored hash of each requested perfect subtree."""


# --- arithmetic ---------------------------------------------------------------


def _split_point(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (n >= 2): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_hashes(hashes: Sequence[bytes], what: str) -> None:
    """Every element is 32 bytes; one cheap pass before the hot loops (in C for the
    common case; element by element only to name the first bad one)."""
    if set(map(type, hashes)) <= {bytes, bytearray} and set(map(len, hashes)) <= {HASH_SIZE}:
        return
    for i, h in enumerate(hashes):
        if not isinstance(h, bytes | bytearray) or len(h) != HASH_SIZE:
            hash32(h, f"{what} {i}")  # raises with the precise complaint


def _check_size(size: int, what: str = "tree size") -> None:
    if not isinstance(size, int) or isinstance(size, bool):
        raise IndexOutOfRange(f"{what} must be an integer")
    if size < 0 or size > MAX_TREE_SIZE:
        raise IndexOutOfRange(f"{what} {size} is outside 0..2^64-1")


def perfect_nodes(start: int, end: int) -> tuple[NodeId, ...]:
    """Split the leaf range ``[start, end)`` of an RFC 9162 tree into perfect subtrees.

    Ranges that occur in RFC 9162 proofs start at a multiple of their largest
    piece, so the pieces come out largest first and aligned.
    """
    nodes = []
    while start < end:
        level = (end - start).bit_length() - 1
        # Alignment: the piece must start at a multiple of its own size.
        while start & ((1 << level) - 1):
            level -= 1
        nodes.append(NodeId(level, start >> level))
        start += 1 << level
    return tuple(nodes)


def fold(hashes: Sequence[bytes]) -> Hash32:
    """Hash of a range from its perfect pieces, largest (leftmost) first.

    RFC 9162's MTH splits at the largest power of two, which is exactly the
    first piece, so the range hash is a right fold:
    ``node(p0, node(p1, ... node(p[-2], p[-1])))``.
    """
    if not hashes:
        raise ValueError("cannot fold an empty range")
    acc = hash32(hashes[-1], "node hash")
    for h in reversed(hashes[:-1]):
        acc = node_hash(hash32(h, "node hash"), acc)
    return acc


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form the inclusion proof, leaf to root (RFC 9162 2.1.3.1)."""
    _check_size(size)
    _check_size(index, "leaf index")
    if index >= size:
        raise IndexOutOfRange(f"leaf index {index} is past the end of a tree of size {size}")
    lo, hi, ranges = 0, size, []
    while hi - lo > 1:
        k = _split_point(hi - lo)
        if index - lo < k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form the consistency proof (RFC 9162 2.1.4.1)."""
    _check_size(size1, "first tree size")
    _check_size(size2, "second tree size")
    if size1 > size2:
        raise IndexOutOfRange(f"first tree size {size1} is larger than second {size2}")
    if size1 == 0 or size1 == size2:
        return []
    m, lo, hi, whole_subtree, ranges = size1, 0, size2, True, []
    while m != hi - lo:
        k = _split_point(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            m -= k
            lo += k
            whole_subtree = False
    if not whole_subtree:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def inclusion_plan(index: int, size: int) -> list[tuple[NodeId, ...]]:
    """Perfect subtrees each inclusion-proof hash is folded from."""
    return [perfect_nodes(a, b) for a, b in inclusion_ranges(index, size)]


def consistency_plan(size1: int, size2: int) -> list[tuple[NodeId, ...]]:
    """Perfect subtrees each consistency-proof hash is folded from."""
    return [perfect_nodes(a, b) for a, b in consistency_ranges(size1, size2)]


def root_plan(size: int) -> tuple[NodeId, ...]:
    """Perfect subtrees the root of a tree of ``size`` leaves is folded from."""
    _check_size(size)
    return perfect_nodes(0, size)


# --- incremental tree -----------------------------------------------------------


class CompactRange:
    """The right edge of a growing tree: one hash per set bit of its size.

    Appending a leaf merges equal-sized perfect subtrees and reports each one
    it completes, which is exactly what a node store must write (never a
    rewrite). The root at any size is a fold of the edge, O(log n).
    """

    __slots__ = ("_edge", "size")

    def __init__(self, size: int = 0, edge: Sequence[bytes] = ()) -> None:
        if len(edge) != size.bit_count():
            raise ValueError(f"a tree of size {size} has {size.bit_count()} edge hashes")
        self.size = size
        self._edge = [hash32(h, "edge hash") for h in edge]

    @classmethod
    def from_nodes(cls, size: int, fetch: NodeFetcher) -> CompactRange:
        """Resume from stored nodes (the perfect subtrees of ``[0, size)``)."""
        plan = root_plan(size)
        found = fetch(plan) if plan else {}
        return cls(size, [found[n] for n in plan])

    def append(self, leaf: bytes) -> list[tuple[NodeId, Hash32]]:
        """Add one leaf hash; return the perfect subtrees it completed, leaf first."""
        h = hash32(leaf, "leaf hash")
        index, level = self.size, 0
        done = [(NodeId(0, index), h)]
        while index & 1:
            h = node_hash(self._edge.pop(), h)
            index >>= 1
            level += 1
            done.append((NodeId(level, index), h))
        self._edge.append(h)
        self.size += 1
        return done

    def root(self) -> Hash32:
        return fold(self._edge) if self._edge else EMPTY_ROOT


# --- generation -----------------------------------------------------------------


def _materialise(plan: Iterable[tuple[NodeId, ...]], fetch: NodeFetcher) -> list[Hash32]:
    plan = list(plan)
    wanted = sorted({node for group in plan for node in group})
    found = fetch(wanted) if wanted else {}
    missing = [n for n in wanted if n not in found]
    if missing:
        raise LookupError(f"node store lacks {len(missing)} planned node(s), e.g. {missing[0]}")
    return [fold([found[n] for n in group]) for group in plan]


def inclusion_proof(index: int, size: int, fetch: NodeFetcher) -> list[Hash32]:
    """Inclusion proof for leaf ``index`` in the tree of ``size`` leaves, from stored nodes."""
    return _materialise(inclusion_plan(index, size), fetch)


def consistency_proof(size1: int, size2: int, fetch: NodeFetcher) -> list[Hash32]:
    """Consistency proof from the tree of ``size1`` leaves to that of ``size2``."""
    return _materialise(consistency_plan(size1, size2), fetch)


def root_from_nodes(size: int, fetch: NodeFetcher) -> Hash32:
    """Tree root from stored perfect subtrees (O(log n) reads)."""
    if size == 0:
        return EMPTY_ROOT
    (root,) = _materialise([root_plan(size)], fetch)
    return root


def root(leaf_hashes: Sequence[bytes]) -> Hash32:
    """Root over in-memory leaf hashes, level by level.

    Promoting an unpaired last node unchanged to the next level yields the
    same tree as RFC 9162's largest-power-of-two split, and needs no recursion.
    """
    if not leaf_hashes:
        return EMPTY_ROOT
    _check_hashes(leaf_hashes, "leaf hash")
    level = list(leaf_hashes)
    while len(level) > 1:
        pairs = iter(level)
        nxt = node_hashes(pairs, pairs)  # (level[0], level[1]), (level[2], level[3]), ...
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return Hash32(bytes(level[0]))


def leaves_fetcher(leaf_hashes: Sequence[bytes]) -> NodeFetcher:
    """A :data:`NodeFetcher` that computes perfect subtrees from in-memory leaves."""

    def fetch(nodes: Sequence[NodeId]) -> dict[NodeId, bytes]:
        out: dict[NodeId, bytes] = {}
        for n in nodes:
            if n.end > len(leaf_hashes):
                continue
            out[n] = root(leaf_hashes[n.start : n.end])
        return out

    return fetch


def inclusion_proof_from_leaves(index: int, leaf_hashes: Sequence[bytes]) -> list[Hash32]:
    return inclusion_proof(index, len(leaf_hashes), leaves_fetcher(leaf_hashes))


def consistency_proof_from_leaves(size1: int, leaf_hashes: Sequence[bytes]) -> list[Hash32]:
    return consistency_proof(size1, len(leaf_hashes), leaves_fetcher(leaf_hashes))


# --- verification ---------------------------------------------------------------


def inclusion_proof_size(index: int, size: int) -> int:
    """How many hashes RFC 9162 prescribes for the inclusion proof of leaf ``index`` in a
    tree of ``size`` leaves: one per level inside the perfect subtree holding the leaf,
    plus one per perfect subtree to its left on the tree's right border."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner + border


def check_inclusion_shape(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """Refuse, with the reason named, anything that cannot be an inclusion proof.

    Index inside the tree, a 32-byte leaf hash, exactly as many 32-byte proof
    hashes as RFC 9162 prescribes for ``(index, size)``. Returns the leaf hash
    as ``bytes``. Shared by every inclusion verifier so they refuse alike.
    """
    _check_size(size)
    _check_size(index, "leaf index")
    if index >= size:
        raise IndexOutOfRange(f"leaf index {index} is past the end of a tree of size {size}")
    leaf = hash32(leaf, "leaf hash")
    want = inclusion_proof_size(index, size)
    if len(proof) != want:
        raise WrongProofSize(
            f"inclusion proof has {len(proof)} hashes; leaf {index} of a tree of size "
            f"{size} needs {want}"
        )
    _check_hashes(proof, "proof hash")
    return bytes(leaf)


def root_from_inclusion_proof(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes]
) -> Hash32:
    """Recompute the root from a leaf hash and its audit path (RFC 9162 2.1.3.2).

    RFC 9162 walks up with ``(fn, sn)``; this is the same walk split the way
    transparency-dev/merkle does. Below level ``inner`` the path runs inside the
    perfect subtree holding the leaf, and the index bit says on which side the
    sibling is; above it, every remaining hash is a left sibling on the tree's
    right border. ``tests/verify/test_merkle.py`` holds it equal to a literal
    transcription of the RFC.
    """
    r = check_inclusion_shape(index, size, leaf, proof)
    inner = (index ^ (size - 1)).bit_length()
    for level in range(inner):
        on_the_left = not (index >> level) & 1  # this node; the proof hash is its sibling
        r = node_hash(r, proof[level]) if on_the_left else node_hash(proof[level], r)
    for sibling in proof[inner:]:
        r = node_hash(sibling, r)
    return Hash32(r)


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes
) -> None:
    """Raise unless ``proof`` shows leaf ``index`` is in the tree with ``expected_root``."""
    expected_root = hash32(expected_root, "root hash")
    got = root_from_inclusion_proof(index, size, leaf, proof)
    if got != expected_root:
        raise RootMismatch(
            f"inclusion proof for leaf {index} of size {size} gives root {got.hex()}, "
            f"expected {expected_root.hex()}"
        )


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Raise unless ``proof`` shows tree ``size1`` is a prefix of tree ``size2``.

    RFC 9162 section 2.1.4.2, after an exact proof-length check so that a
    wrong-length proof is named as such rather than as a root mismatch.
    """
    _check_size(size1, "first tree size")
    _check_size(size2, "second tree size")
    if size1 > size2:
        raise IndexOutOfRange(f"first tree size {size1} is larger than second {size2}")
    if size1 == 0:
        # Every tree extends the empty tree; RFC 9162 defines no proof for it,
        # and the vectors demand it be refused rather than vacuously accepted.
        raise IndexOutOfRange("consistency from the empty tree is not a proof of anything")
    if size1 == size2:
        if proof:
            raise WrongProofSize(
                f"trees of equal size {size1} need an empty proof, got {len(proof)} hashes"
            )
        # Compared as given, like transparency-dev/merkle: equal sizes prove
        # nothing beyond "these two values are the same".
        if bytes(root1) != bytes(root2):
            raise RootMismatch(f"two different roots for the same size {size1}")
        return
    root1 = hash32(root1, "first root hash")
    root2 = hash32(root2, "second root hash")
    if not proof:
        raise WrongProofSize(f"consistency proof from {size1} to {size2} is empty")

    shift = (size1 & -size1).bit_length() - 1  # trailing zeros of size1
    inner = (((size1 - 1) ^ (size2 - 1)).bit_length()) - shift
    border = ((size1 - 1) >> (inner + shift)).bit_count()
    start = 0 if size1 == 1 << shift else 1
    want = start + inner + border
    if len(proof) != want:
        raise WrongProofSize(
            f"consistency proof has {len(proof)} hashes; {size1} -> {size2} needs {want}"
        )
    path = [hash32(p, f"proof hash {i}") for i, p in enumerate(proof)]
    if size1 == 1 << shift:  # size1 is a power of two: its root is the seed
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise WrongProofSize("consistency proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise WrongProofSize("consistency proof is shorter than the tree is deep")
    if fr != root1:
        raise RootMismatch(
            f"consistency proof gives first root {fr.hex()}, expected {root1.hex()}"
        )
    if sr != root2:
        raise RootMismatch(
            f"consistency proof gives second root {sr.hex()}, expected {root2.hex()}"
        )
