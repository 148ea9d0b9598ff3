"""Fresh ledgers on each backend (SQLite file, throwaway PostgreSQL database), for every test
that says ``make_ledger``: the same test runs on both. Registered in tests/conftest.py."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from evidence.ledger.log import Ledger

ORIGIN = "test.example/log"
Factory = Callable[..., Ledger]


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def make_ledger(request, tmp_path) -> Iterator[Factory]:
    """Makes fresh ledgers (each in its own data dir and database) on one backend."""
    made: list[tuple[Ledger, str | None, Path]] = []
    cluster = request.getfixturevalue("pg_cluster") if request.param == "pg" else None

    def factory(origin: str = ORIGIN, **kw) -> Ledger:
        d = Path(tempfile.mkdtemp(dir=tmp_path))
        url = cluster.create_database("ledger") if cluster else None
        led = Ledger.create(d / "data", origin, db_url=url, **kw)
        made.append((led, url, d))
        return led

    factory.backend = request.param  # type: ignore[attr-defined]
    yield factory
    for led, url, d in made:
        led.close()
        if url and cluster:
            cluster.drop_database(url)
        shutil.rmtree(d, ignore_errors=True)
