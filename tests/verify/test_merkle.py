"""RFC 9162 Merkle trees against third-party vectors, plus property tests."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence.verify import merkle
from evidence.verify.checkpoint import Checkpoint, sign_checkpoint, verify_checkpoint
from evidence.verify.errors import (
    IndexOutOfRange,
    MalformedInput,
    ProofError,
    RootMismatch,
    VerificationError,
    WrongProofSize,
)
from evidence.verify.hashing import EMPTY_ROOT, leaf_hash, node_hash
from evidence.verify.note import generate_signer
from tests.support.vectors import load_json, vector_files


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


# --- RFC 6962 classic vectors (google/certificate-transparency via transparency-dev) ---


@pytest.fixture(scope="module")
def classic() -> dict:
    return load_json("rfc6962-classic", "rfc6962_classic_vectors.json")


@pytest.fixture(scope="module")
def classic_leaves(classic: dict) -> list[bytes]:
    return [leaf_hash(bytes.fromhex(x)) for x in classic["leaves_hex"]]


def test_hasher_vectors(classic: dict) -> None:
    hv = classic["hasher_vectors"]
    assert EMPTY_ROOT.hex() == hv["empty_tree_root"]
    assert leaf_hash(b"").hex() == hv["leaf_hash_of_empty_string"]
    assert leaf_hash(b"L123456").hex() == hv["leaf_hash_of_ascii_L123456"]
    assert node_hash(b"N123", b"N456").hex() == hv["node_hash_of_ascii_N123_and_N456"]


def test_roots_by_size(classic: dict, classic_leaves: list[bytes]) -> None:
    for size, want in classic["roots_by_tree_size"].items():
        n = int(size)
        assert merkle.root(classic_leaves[:n]).hex() == want
        fetch = merkle.leaves_fetcher(classic_leaves[:n])
        assert merkle.root_from_nodes(n, fetch).hex() == want


def test_classic_inclusion_proofs(classic: dict, classic_leaves: list[bytes]) -> None:
    for case in classic["inclusion_proofs"]:
        index, size = case["leaf_index_0based"], case["tree_size"]
        leaves = classic_leaves[:size]
        got = merkle.inclusion_proof_from_leaves(index, leaves)
        assert [h.hex() for h in got] == case["proof"]
        merkle.verify_inclusion(index, size, leaves[index], got, merkle.root(leaves))


def test_classic_consistency_proofs(classic: dict, classic_leaves: list[bytes]) -> None:
    for case in classic["consistency_proofs"]:
        s1, s2 = case["size1"], case["size2"]
        got = merkle.consistency_proof_from_leaves(s1, classic_leaves[:s2])
        assert [h.hex() for h in got] == case["proof"]
        merkle.verify_consistency(
            s1, s2, merkle.root(classic_leaves[:s1]), merkle.root(classic_leaves[:s2]), got
        )


# --- transparency-dev/merkle probes: valid ones verify, broken ones are refused ---


@pytest.mark.parametrize("path", vector_files("transparency-dev-merkle", "inclusion"))
def test_transparency_dev_inclusion(path: Path) -> None:
    case = json.loads(path.read_text())
    args = (
        case["leafIdx"], case["treeSize"], _b64(case["leafHash"]),
        [_b64(p) for p in case["proof"] or []], _b64(case["root"]),
    )
    if case["wantErr"]:
        with pytest.raises(VerificationError) as exc:
            merkle.verify_inclusion(*args)
        assert str(exc.value), "the error must name its reason"
    else:
        merkle.verify_inclusion(*args)


@pytest.mark.parametrize("path", vector_files("transparency-dev-merkle", "consistency"))
def test_transparency_dev_consistency(path: Path) -> None:
    case = json.loads(path.read_text())
    args = (
        case["size1"], case["size2"], _b64(case["root1"]), _b64(case["root2"]),
        [_b64(p) for p in case["proof"] or []],
    )
    if case["wantErr"]:
        with pytest.raises(VerificationError) as exc:
            merkle.verify_consistency(*args)
        assert str(exc.value)
    else:
        merkle.verify_consistency(*args)


# --- errors name their reason ---


def _tree(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def test_specific_errors() -> None:
    leaves = _tree(8)
    root = merkle.root(leaves)
    proof = merkle.inclusion_proof_from_leaves(3, leaves)
    with pytest.raises(IndexOutOfRange, match="past the end"):
        merkle.verify_inclusion(8, 8, leaves[0], proof, root)
    with pytest.raises(WrongProofSize, match="needs 3"):
        merkle.verify_inclusion(3, 8, leaves[3], proof[:2], root)
    with pytest.raises(WrongProofSize, match="needs 3"):
        merkle.verify_inclusion(3, 8, leaves[3], [*proof, proof[0]], root)
    with pytest.raises(MalformedInput, match="32 bytes"):
        merkle.verify_inclusion(3, 8, leaves[3][:31], proof, root)
    with pytest.raises(MalformedInput, match="proof hash 1"):
        merkle.verify_inclusion(3, 8, leaves[3], [proof[0], b"x" * 33, proof[2]], root)
    with pytest.raises(MalformedInput, match="proof hash 0"):
        merkle.verify_inclusion(3, 8, leaves[3], ["a" * 32, proof[1], proof[2]], root)
    with pytest.raises(MalformedInput, match="proof hash 2"):
        merkle.verify_inclusion(3, 8, leaves[3], [proof[0], proof[1], 7], root)
    with pytest.raises(RootMismatch, match="expected"):
        merkle.verify_inclusion(2, 8, leaves[3], proof, root)
    with pytest.raises(IndexOutOfRange, match="larger than"):
        merkle.verify_consistency(5, 4, root, root, [])
    with pytest.raises(IndexOutOfRange):
        merkle.verify_inclusion(2**64, 2**64 + 1, leaves[0], [], root)
    with pytest.raises(IndexOutOfRange, match="past the end"):
        merkle.inclusion_plan(9, 9 - 1)


# --- properties over random trees up to 2,000 leaves ---


def _flip(data: bytes, bit: int) -> bytes:
    b = bytearray(data)
    b[bit // 8 % len(b)] ^= 1 << (bit % 8)
    return bytes(b)


_SIGNER = generate_signer("example.org/property-log")


def _assert_size_flip_refused(size: int, flipped: int, root: bytes, verify) -> None:
    """A changed tree size is refused.

    RFC 9162 audit paths do not encode the size: leaf 0 of a 5-leaf and of a
    7-leaf tree has the same proof shape, so the bare proof check can pass.
    What binds size to root is the signed checkpoint, and our verifiers only
    ever take (size, root) from one verified checkpoint; so the flip is
    refused either by the proof check or by the checkpoint signature.
    """
    try:
        verify(flipped)
    except ProofError:
        return
    note = sign_checkpoint(Checkpoint(_SIGNER.name, size, root), _SIGNER)
    lines = note.split("\n")
    lines[1] = str(flipped)
    with pytest.raises(VerificationError):
        verify_checkpoint("\n".join(lines), _SIGNER.verifier())


@st.composite
def tree_and_index(draw: st.DrawFn) -> tuple[list[bytes], int]:
    n = draw(st.integers(1, 2000))
    return _tree(n), draw(st.integers(0, n - 1))


@settings(max_examples=150, deadline=None)
@given(tree_and_index(), st.integers(0, 255), st.data())
def test_inclusion_property(ti: tuple[list[bytes], int], bit: int, data: st.DataObject) -> None:
    leaves, index = ti
    n = len(leaves)
    root = merkle.root(leaves)
    proof = merkle.inclusion_proof_from_leaves(index, leaves)
    merkle.verify_inclusion(index, n, leaves[index], proof, root)
    # a one-bit change anywhere is refused
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1))
        bad = [*proof[:k], _flip(proof[k], bit), *proof[k + 1 :]]
        with pytest.raises(ProofError):
            merkle.verify_inclusion(index, n, leaves[index], bad, root)
    with pytest.raises(ProofError):
        merkle.verify_inclusion(index, n, _flip(leaves[index], bit), proof, root)
    with pytest.raises(ProofError):
        merkle.verify_inclusion(index, n, leaves[index], proof, _flip(root, bit))
    with pytest.raises(ProofError):
        merkle.verify_inclusion(index ^ (1 << (bit % 11)), n, leaves[index], proof, root)
    _assert_size_flip_refused(
        n, n ^ (1 << (bit % 11)), root,
        lambda size: merkle.verify_inclusion(index, size, leaves[index], proof, root),
    )


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 2000), st.data(), st.integers(0, 255))
def test_consistency_property(n: int, data: st.DataObject, bit: int) -> None:
    leaves = _tree(n)
    m = data.draw(st.integers(1, n))
    r1, r2 = merkle.root(leaves[:m]), merkle.root(leaves)
    proof = merkle.consistency_proof_from_leaves(m, leaves)
    merkle.verify_consistency(m, n, r1, r2, proof)
    if m == n:
        with pytest.raises(ProofError):
            merkle.verify_consistency(m, n, r1, _flip(r2, bit), proof)
        return
    k = data.draw(st.integers(0, len(proof) - 1))
    bad = [*proof[:k], _flip(proof[k], bit), *proof[k + 1 :]]
    with pytest.raises(ProofError):
        merkle.verify_consistency(m, n, r1, r2, bad)
    with pytest.raises(ProofError):
        merkle.verify_consistency(m, n, _flip(r1, bit), r2, proof)
    with pytest.raises(ProofError):
        merkle.verify_consistency(m, n, r1, _flip(r2, bit), proof)
    _assert_size_flip_refused(
        n, n ^ (1 << (bit % 11)), r2,
        lambda size: merkle.verify_consistency(m, size, r1, r2, proof),
    )
    if m ^ (1 << (bit % 11)):
        with pytest.raises(ProofError):
            merkle.verify_consistency(m ^ (1 << (bit % 11)), n, r1, r2, proof)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 600))
def test_stored_nodes_match_in_memory(n: int) -> None:
    """CompactRange's completed nodes are exactly what proofs from storage need."""
    leaves = _tree(n)
    tree, store = merkle.CompactRange(), {}
    for leaf in leaves:
        for node_id, h in tree.append(leaf):
            assert node_id not in store, "a stored node is never rewritten"
            store[node_id] = h
    assert tree.root() == merkle.root(leaves)

    def fetch(ids):
        return {i: store[i] for i in ids}

    assert merkle.root_from_nodes(n, fetch) == merkle.root(leaves)
    assert merkle.CompactRange.from_nodes(n, fetch).root() == tree.root()
    for i in range(0, n, max(1, n // 7)):
        assert merkle.inclusion_proof(i, n, fetch) == merkle.inclusion_proof_from_leaves(i, leaves)
    for m in range(1, n + 1, max(1, n // 5)):
        assert merkle.consistency_proof(m, n, fetch) == merkle.consistency_proof_from_leaves(
            m, leaves
        )


def rfc9162_root_from_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.3.2, transcribed literally: the reference for our faster walk."""
    if index >= size:
        raise IndexOutOfRange("index")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise WrongProofSize("too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise WrongProofSize("too short")
    return r


@settings(max_examples=300, deadline=None)
@given(tree_and_index())
def test_inclusion_walk_equals_rfc_transcription(ti: tuple[list[bytes], int]) -> None:
    leaves, index = ti
    proof = merkle.inclusion_proof_from_leaves(index, leaves)
    want = rfc9162_root_from_inclusion(index, len(leaves), leaves[index], proof)
    assert merkle.root_from_inclusion_proof(index, len(leaves), leaves[index], proof) == want
    assert want == merkle.root(leaves)
