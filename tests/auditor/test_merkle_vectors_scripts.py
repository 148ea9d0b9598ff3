"""The stand-alone tools' own RFC 9162 code against transparency-dev/merkle's probes
(``../shared/vectors/transparency-dev-merkle``: a few valid proofs, most deliberately
broken), which tests/verify/test_merkle.py holds the package to: scripts/verify_bundle.py's
inclusion check, which every bundle's proof goes through, and scripts/monitor_log.py's
consistency check, which every new checkpoint it watches goes through. Each accepts
exactly the probes the vectors accept. The page's inclusion check meets the same probes
in tests/browser/test_merkle_vectors_page.py."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.standalone import load_script_module, load_verify_script
from tests.support.vectors import vector_files

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
