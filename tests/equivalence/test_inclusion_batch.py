"""InclusionBatch gives verify_inclusion's verdicts, proof by proof, while it skips shared work."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence.verify import merkle
from evidence.verify.errors import IndexOutOfRange, MalformedInput, VerificationError
from evidence.verify.fast.inclusion_batch import InclusionBatch
from evidence.verify.hashing import leaf_hash
from tests.support.vectors import vector_files


def _tree(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def _stored_fetch(leaves: list[bytes]):  # type: ignore[no-untyped-def]
    """Proofs from stored perfect subtrees, as the ledger serves them (O(log n) each)."""
    store: dict = {}
    tree = merkle.CompactRange()
    for h in leaves:
        store.update(tree.append(h))
    return lambda ids: {i: store[i] for i in ids}


def _flip(data: bytes, bit: int) -> bytes:
    b = bytearray(data)
    b[bit // 8 % len(b)] ^= 1 << (bit % 8)
    return bytes(b)


def _verdict(fn, *args) -> tuple[type, str] | None:  # type: ignore[no-untyped-def]
    try:
        fn(*args)
    except VerificationError as exc:
        return type(exc), str(exc)
    return None


# A request: (index, what to damage, where). "proof" flips one bit of one proof hash,
# "leaf" one bit of the leaf, "index" verifies the proof under a neighbouring index,
# "short"/"long" change the proof's length, "swap" exchanges two proof hashes.
DAMAGE = st.sampled_from(["none", "none", "none", "proof", "leaf", "index", "short", "long",
                          "swap"])


def _request(leaves, proofs, index, damage, where):  # type: ignore[no-untyped-def]
    n = len(leaves)
    leaf, proof = leaves[index], list(proofs[index])
    if damage == "proof" and proof:
        j = where % len(proof)
        proof[j] = _flip(proof[j], where)
    elif damage == "leaf":
        leaf = _flip(leaf, where)
    elif damage == "index":
        index = (index + 1 + where % n) % n
    elif damage == "short" and proof:
        proof = proof[:-1]
    elif damage == "long":
        proof = [*proof, leaves[0]]
    elif damage == "swap" and len(proof) > 1:
        j = where % (len(proof) - 1)
        proof[j], proof[j + 1] = proof[j + 1], proof[j]
    return index, leaf, proof


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 2000),
    st.lists(st.tuples(st.integers(0, 10**6), DAMAGE, st.integers(0, 10**6)), max_size=60),
    st.sampled_from([0, 1, 7, 64, 1 << 18]),
)
def test_same_verdicts_as_verify_inclusion(n: int, requests: list, remember: int) -> None:
    leaves = _tree(n)
    root = merkle.root(leaves)
    fetch = merkle.leaves_fetcher(leaves)
    proofs = {i % n: merkle.inclusion_proof(i % n, n, fetch) for i, _, _ in requests}
    batch = InclusionBatch(n, root, remember=remember)
    # Valid proofs first teach the batch the top of the tree; the damaged ones that
    # follow then meet remembered nodes and must still be refused.
    ordered = sorted(requests, key=lambda r: r[1] != "none")
    for raw_index, damage, where in ordered:
        index, leaf, proof = _request(leaves, proofs, raw_index % n, damage, where)
        want = _verdict(merkle.verify_inclusion, index, n, leaf, proof, root)
        assert _verdict(batch.verify, index, leaf, proof) == want
        if damage == "none":
            assert want is None


def test_damage_above_a_remembered_node_is_refused() -> None:
    """The case the memory must not hide: same lower path, one changed hash above it."""
    n = 1 << 12
    leaves = _tree(n)
    root = merkle.root(leaves)
    fetch = _stored_fetch(leaves)
    batch = InclusionBatch(n, root)
    for i in range(0, n, 2):  # every node of the upper tree is remembered
        batch.verify(i, leaves[i], merkle.inclusion_proof(i, n, fetch))
    proof = merkle.inclusion_proof(5, n, fetch)
    batch.verify(5, leaves[5], proof)  # accepted, from memory above level 1
    for j in range(len(proof)):
        damaged = [*proof]
        damaged[j] = _flip(damaged[j], 0)
        with pytest.raises(VerificationError, match="gives root"):
            batch.verify(5, leaves[5], damaged)


def test_learning_is_bounded() -> None:
    n = 1 << 14
    leaves = _tree(n)
    root = merkle.root(leaves)
    fetch = _stored_fetch(leaves)
    for remember, most in ((10, 10), (1 << 18, 2 * n)):
        batch = InclusionBatch(n, root, remember=remember)
        for i in range(0, n, 3):
            batch.verify(i, leaves[i], merkle.inclusion_proof(i, n, fetch))
        assert 0 < batch.remembered <= most
    assert InclusionBatch(n, root, remember=10).remembered == 0


def test_bad_tree_heads_are_refused() -> None:
    with pytest.raises(IndexOutOfRange, match="tree size"):
        InclusionBatch(0, bytes(32))
    with pytest.raises(IndexOutOfRange, match="tree size"):
        InclusionBatch(2**64, bytes(32))
    with pytest.raises(MalformedInput, match="root hash"):
        InclusionBatch(4, b"short")


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


@pytest.mark.parametrize("path", vector_files("transparency-dev-merkle", "inclusion"))
def test_transparency_dev_vectors(path: Path) -> None:
    """Each third-party probe gives the batch the same verdict as the single verifier."""
    case = json.loads(path.read_text())
    size, root = case["treeSize"], _b64(case["root"])
    args = (case["leafIdx"], _b64(case["leafHash"]), [_b64(p) for p in case["proof"] or []])
    try:
        batch = InclusionBatch(size, root)
    except VerificationError:
        # A head that includes nothing (size 0) or a malformed root: the single verifier
        # refuses every proof against it as well.
        assert _verdict(merkle.verify_inclusion, args[0], size, args[1], args[2], root)
        return
    want = _verdict(merkle.verify_inclusion, args[0], size, args[1], args[2], root)
    assert _verdict(batch.verify, *args) == want
    assert (want is not None) == bool(case["wantErr"])


def test_mutable_hashes_are_checked_but_never_remembered() -> None:
    """A bytearray in a proof is a valid hash, but it could change after the check: the
    batch must not believe it later."""
    n = 1 << 10
    leaves = _tree(n)
    root = merkle.root(leaves)
    fetch = _stored_fetch(leaves)
    batch = InclusionBatch(n, root)
    proof = [bytearray(h) for h in merkle.inclusion_proof(9, n, fetch)]
    batch.verify(9, leaves[9], proof)
    assert batch.remembered == 0
    proof[-1][0] ^= 1  # the caller changes its buffer afterwards
    with pytest.raises(VerificationError, match="gives root"):
        batch.verify(9, leaves[9], proof)
    with pytest.raises(VerificationError, match="gives root"):
        merkle.verify_inclusion(9, n, leaves[9], proof, root)
