"""The docs' worked example must match what the code produces, byte for byte."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
from pathlib import Path

from evidence.verify.checkpoint import verify_checkpoint
from evidence.verify.note import parse_verifier_key

ROOT = Path(__file__).resolve().parents[1]


def _example() -> dict:
    spec = importlib.util.spec_from_file_location("formats_example",
                                                  ROOT / "scripts" / "formats_example.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.build()


def test_formats_worked_example_matches_code() -> None:
    doc = (ROOT / "docs" / "formats.md").read_text(encoding="utf-8")
    ex = _example()
    for data in ex["entries"]:
        assert data.decode() in doc
    for lh in ex["leaves"]:
        assert lh.hex() in doc
    assert ex["node_01"].hex() in doc
    assert ex["root"].hex() in doc
    assert ex["note"] in doc
    assert ex["signer"].to_string() in doc
    vkey = ex["signer"].verifier().to_string()
    assert vkey in doc
    # and the documented shell/Python recipe computes the same thing
    assert hashlib.sha256(b"\x00" + ex["entries"][0]).hexdigest() == ex["leaves"][0].hex()
    v = verify_checkpoint(ex["note"], parse_verifier_key(vkey))
    assert base64.b64encode(v.checkpoint.root).decode() in doc
