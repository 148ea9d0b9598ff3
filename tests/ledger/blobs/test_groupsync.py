"""Group durability: every waiter is covered by a flush that started after it called."""

from __future__ import annotations

import threading
import time

import pytest

from evidence.ledger.blobs.groupsync import GroupSync, make_flusher


def test_each_waiter_is_covered_by_a_later_flush() -> None:
    events: list[tuple[str, int, float]] = []
    lock = threading.Lock()
    flushes = 0

    def flush() -> None:
        nonlocal flushes
        with lock:
            flushes += 1
            events.append(("start", flushes, time.monotonic()))
        time.sleep(0.002)

    group = GroupSync(flush)
    called: dict[int, float] = {}
    returned_after: dict[int, int] = {}

    def worker(i: int) -> None:
        for _ in range(20):
            called[i] = time.monotonic()
            with lock:
                starts_before = sum(1 for e in events if e[0] == "start")
            group.wait()
            with lock:
                starts_after = sum(1 for e in events if e[0] == "start")
            # at least one flush started after we asked (and it has finished: wait returned)
            assert starts_after > starts_before
            returned_after[i] = starts_after

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(returned_after) == 16
    assert flushes < 16 * 20, "concurrent waiters must share flushes"


def test_flush_error_reaches_the_caller_and_others_retry() -> None:
    calls = 0

    def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError(5, "I/O error")

    group = GroupSync(flaky)
    with pytest.raises(OSError):
        group.wait()
    group.wait()  # a new flush, which succeeds
    assert calls == 2


def test_real_flusher_runs(tmp_path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    make_flusher(tmp_path)()
