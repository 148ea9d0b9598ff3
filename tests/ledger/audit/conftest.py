"""The audited ledger: one closed SQLite ledger of N entries per module (a checkpoint after
each batch of 7), and a fresh copy of it for each test to tamper with."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from evidence.ledger.log import Ledger
from tests.support.tamper import ORIGIN, N


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A closed SQLite ledger of N entries, a checkpoint after each batch of 7."""
    d = tmp_path_factory.mktemp("audit") / "data"
    led = Ledger.create(d, ORIGIN, checkpoint_interval=0)
    led.append("custody.note", {"first": True})
    for start in range(1, N, 7):
        led.append_many([("evidence.submitted", {"i": i, "name": f"f{i}.png"})
                         for i in range(start, min(N, start + 7))])
    led.close()
    return d


@pytest.fixture
def ledger(base: Path, tmp_path: Path) -> Iterator[Ledger]:
    d = tmp_path / "copy"
    shutil.copytree(base, d)
    led = Ledger.open(d, read_only=True)
    yield led
    led.close()
