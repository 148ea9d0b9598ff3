"""A fresh embedded-default intake (SQLite ledger, filesystem blobs) per test, and the
one-file item the grouped-submission tests send through it."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.intake import Intake, ItemSpec, Submitted
from evidence.ledger.intake.shared_flush import SharedFlush
from evidence.ledger.log import Ledger


@pytest.fixture
def intake(tmp_path: Path) -> Iterator[Intake]:
    led = Ledger.create(tmp_path / "data", "intake.example/log", checkpoint_interval=3600)
    yield Intake(led, FilesystemBlobStore(tmp_path / "data" / "blobs"))
    led.close()


def one_file_item(path: Path) -> ItemSpec:
    return ItemSpec(files=[path], kind="document", case="C-1", principal="acme")


def submit_grouped(intake: Intake, files: list[Path], threads: int = 16) -> list[Submitted]:
    """Each file as its own item, sent at once from ``threads`` threads through one
    SharedFlush (as the API's workers send them); the answers in file order."""
    grouped = SharedFlush(intake)
    try:
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(lambda p: grouped.submit(one_file_item(p)), files))
    finally:
        grouped.close()
