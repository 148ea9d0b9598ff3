"""The paced finisher of SharedFlush: the next blob flush starts only once the
entries of the previous one are committed (so one flush serves everything that arrived
meanwhile), blobs are still durable and named before their entry commits, and a batch
the ledger refuses does not stop the ones after it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from evidence.ledger.intake import Intake
from evidence.ledger.intake.shared_flush import SharedFlush
from tests.support.intake import one_file_item, submit_grouped


def _files(tmp_path: Path, n: int) -> list[Path]:
    out = []
    for i in range(n):
        p = tmp_path / f"f{i}.txt"
        p.write_bytes(f"paced content {i}".encode())
        out.append(p)
    return out


def test_a_flush_starts_after_the_previous_batch_is_committed(intake: Intake,
                                                             tmp_path: Path,
                                                             monkeypatch) -> None:
    led = intake.ledger
    flushed = 0
    seen: list[tuple[int, int]] = []  # (items flushed before this flush, ledger size)
    lock = threading.Lock()
    real = intake.store.commit

    def recording(pending):  # type: ignore[no-untyped-def]
        nonlocal flushed
        with lock:
            seen.append((flushed, led.size))
            flushed += len(pending)
        return real(pending)

    monkeypatch.setattr(intake.store, "commit", recording)
    files = _files(tmp_path, 80)
    done = submit_grouped(intake, files)
    assert sorted(d.seq for d in done) == list(range(80))
    assert all(before == size for before, size in seen), seen  # nothing left uncommitted
    assert len(seen) < 80
    for d in done:  # every committed item's blob is there
        sha = d.body["files"][0]["sha256"]
        assert intake.store.exists(sha)
    assert led.audit().ok and not intake.holds


def test_a_refused_batch_does_not_stop_the_next(intake: Intake, tmp_path: Path,
                                                 monkeypatch) -> None:
    """The sequencer fails a batch (a database error in its rows); the finisher goes on
    with later items once that batch's futures are done."""
    from evidence.ledger import sequencer

    real = sequencer.execute_ops
    calls = {"n": 0}

    def failing_once(conn, ops, drv=None):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise sequencer.LedgerError("the first batch fails")
        return real(conn, ops, drv)

    monkeypatch.setattr(sequencer, "execute_ops", failing_once)
    first, second = _files(tmp_path, 2)
    grouped = SharedFlush(intake)
    try:
        with pytest.raises(Exception, match="first batch fails"):
            grouped.submit(one_file_item(first))
        assert grouped.submit(one_file_item(second)).seq == 0
    finally:
        grouped.close()
    assert intake.ledger.size == 1 and not intake.holds
