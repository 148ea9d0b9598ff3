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
# a test that starts a real server carries that server's marker, whether or not its module
# says so: the quick lane's "no PostgreSQL, S3 or TSA server" holds by construction
SERVER_FIXTURES = {"pg_cluster": "pg", "pg_cluster_durable": "pg", "s3_endpoint": "s3",
                   "tsa_server": "tsa"}
HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            folder = item.path.relative_to(HERE).parts[0]
            if folder in SLOW_FOLDERS:
                item.add_marker(pytest.mark.slow)
        used = getattr(item, "fixturenames", ())
        for fixture, marker in SERVER_FIXTURES.items():
            if fixture in used:
                item.add_marker(marker)
