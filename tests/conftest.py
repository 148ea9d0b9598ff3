"""Shared fixtures. Real services (PostgreSQL, S3, TSA) live in tests/support/, one module each;
so do fresh ledgers (``make_ledger``)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins: list[str] = ["tests.support.pg", "tests.support.s3", "tests.support.tsa",
                               "tests.support.intake", "tests.support.ledgers",
                               "tests.support.tiles_go"]

# every test in these folders is in the slow lane (scripts/test.sh --quick leaves them out)
SLOW_FOLDERS = frozenset({"processes", "browser", "capture"})
HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            folder = item.path.relative_to(HERE).parts[0]
            if folder in SLOW_FOLDERS:
                item.add_marker(pytest.mark.slow)
