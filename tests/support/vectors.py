"""Locating the shared interoperability vectors (never copied into this repository).

They live in ``../shared/vectors`` beside the checkout (override with
``EVIDENCE_VECTORS``). Tests that need them skip with a clear reason when the
folder is absent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

VECTORS = Path(
    os.environ.get("EVIDENCE_VECTORS", Path(__file__).resolve().parents[3] / "shared" / "vectors")
)


def vector_path(*parts: str) -> Path:
    path = VECTORS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"interop vectors not found at {path} (set EVIDENCE_VECTORS to their folder)")
    return path


def load_json(*parts: str) -> Any:
    return json.loads(vector_path(*parts).read_text(encoding="utf-8"))


def vector_files(*parts: str) -> list[Any]:
    """Parameters for every JSON file under a vector folder; one skipped
    parameter naming the missing folder when it is absent."""
    root = VECTORS.joinpath(*parts)
    files = sorted(root.rglob("*.json")) if root.exists() else []
    if files:
        return [pytest.param(f, id=str(f.relative_to(root))) for f in files]
    reason = f"interop vectors not found at {root} (set EVIDENCE_VECTORS to ../shared/vectors)"
    return [pytest.param(None, marks=pytest.mark.skip(reason=reason))]
