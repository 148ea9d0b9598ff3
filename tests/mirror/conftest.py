"""Fixtures shared by the mirror tests: ``serve``, a log's tiles served by
``python -m http.server`` from a folder the test swaps (tests/support/served_folder.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.served_folder import serve_folder


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[Path], str]]:
    """One ``python -m http.server`` on a folder whose content the test swaps."""
    yield from serve_folder(tmp_path)
