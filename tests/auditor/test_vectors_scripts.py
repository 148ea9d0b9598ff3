"""The stand-alone tools' own RFC 9162 and signed-note code against other people's vectors.

RFC 9162: transparency-dev/merkle's probes
(``../shared/vectors/transparency-dev-merkle``: a few valid proofs, most deliberately
broken), which tests/verify/test_merkle.py holds the package to: scripts/verify_bundle.py's
inclusion check, which every bundle's proof goes through, and scripts/monitor_log.py's
consistency check, which every new checkpoint it watches goes through. Each accepts
exactly the probes the vectors accept. Signed notes: verify_bundle.py's ``open_note``
and key ids against ``../shared/vectors/signed-note``, as tests/verify/test_note.py holds
the package. The page meets the same vectors in tests/browser/test_vectors_page.py."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.standalone import load_script_module, load_verify_script
from tests.support.vectors import load_json, vector_files

ROOT = Path(__file__).resolve().parents[2]


def _b64(text: str | None) -> bytes:
    return base64.b64decode(text or "")


def _inclusion_accepted(vb: Any, case: dict[str, Any]) -> bool:
    try:
        got = vb.root_from_inclusion_proof(case["leafIdx"], case["treeSize"],
                                           _b64(case["leafHash"]),
                                           [_b64(p) for p in case["proof"] or []])
    except vb.Fail as e:
        assert str(e), "a refusal names its reason"
        return False
    return got == _b64(case["root"]) and len(_b64(case["leafHash"])) == 32


@pytest.mark.parametrize("path", vector_files("transparency-dev-merkle", "inclusion"))
def test_verify_bundle_inclusion(path: Path) -> None:
    case = json.loads(path.read_text())
    assert _inclusion_accepted(load_verify_script(), case) is not case["wantErr"], case


@pytest.mark.parametrize("path", vector_files("transparency-dev-merkle", "consistency"))
def test_monitor_log_consistency(path: Path) -> None:
    case = json.loads(path.read_text())
    monitor = load_script_module("monitor_log", ROOT / "scripts" / "monitor_log.py")
    ok = monitor.verify_consistency(case["size1"], case["size2"], _b64(case["root1"]),
                                    _b64(case["root2"]),
                                    [_b64(p) for p in case["proof"] or []])
    assert ok is not case["wantErr"], case


@pytest.fixture(scope="module")
def note_vectors() -> dict[str, Any]:
    return load_json("signed-note", "note_vectors.json")


def test_verify_bundle_opens_notes_as_go_does(note_vectors: dict[str, Any]) -> None:
    """scripts/verify_bundle.py's ``open_note`` against the signed-note cases (Go's
    sumdb/note tests, the C2SP example, Tessera's checkpoints and tampered copies): the
    same keys verified, and a refusal wherever the case says verification must fail."""
    vb = load_verify_script()
    cases = note_vectors["verify_cases"]
    assert cases
    for case in cases:
        keys = [vb.parse_key(k) for k in case["vkeys"]]
        pinned = {(k.name, k.key_id): k for k in keys}
        want = case["expect_verified_names"]
        try:
            _, verified = vb.open_note(case["note"].encode(), pinned)
        except vb.Fail as e:
            assert want is None and str(e), (case["id"], e)
            continue
        assert want is not None, case["id"]
        assert sorted({name for name, _ in verified}) == sorted(want), case["id"]


def test_verify_bundle_key_ids(note_vectors: dict[str, Any]) -> None:
    vb = load_verify_script()
    for case in note_vectors["key_id_cases"]:
        key = vb.parse_key(case["vkey"])
        assert f"{key.key_id:08x}" == case["key_id_hex"] and key.text == case["vkey"], case
