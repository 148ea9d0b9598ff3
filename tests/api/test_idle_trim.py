"""An idle worker gives its caches back (evidence/api/idle_trim.py), and answers as before.

A real uvicorn server on loopback, in a thread of this process (so the test can see the
worker's caches and its :class:`IdleTrim`), on a SQLite ledger of a few hundred entries;
proofs are asked for over HTTP, from several threads where it matters. Memory itself is
measured by scripts/bench_memory.py, never asserted here (RSS depends on the machine).
"""

from __future__ import annotations

import asyncio
import ctypes
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from evidence.api.app import create_app
from evidence.api.hot.reads import ReadFastPath
from evidence.api.idle_trim import IdleTrim
from evidence.api.services import Services
from evidence.api.settings import ApiSettings
from evidence.ledger.log import Ledger
from tests.support.ports import free_ports

N = 700
DELAY = 0.3
SEQS = (0, 1, 255, 256, 300, 511, 512, N - 2, N - 1)


@dataclass
class Running:
    app: FastAPI
    base: str
    size: int
    loop: asyncio.AbstractEventLoop  # the server's (where the caches are used)

    @property
    def idle(self) -> IdleTrim:
        idle = self.app.state.idle_trim
        assert isinstance(idle, IdleTrim)
        return idle

    @property
    def svc(self) -> Services:
        return self.app.state.services

    def fast_path(self) -> ReadFastPath:
        layer = self.app.middleware_stack
        while not isinstance(layer, ReadFastPath):
            layer = layer.app  # type: ignore[union-attr]
        return layer

    def on_loop(self, fn: Callable[[], object]) -> object:
        """``fn()`` in the server's event loop (where the caches are used)."""

        async def call() -> object:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout=60)

    def wait_for_trims(self, n: int) -> None:
        deadline = time.monotonic() + 120  # a bound for a stuck test, not a timing claim
        while self.idle.trims < n:
            assert time.monotonic() < deadline, f"{self.idle.trims} trims, waited for {n}"
            time.sleep(0.05)


def answers(base: str, size: int, seqs: tuple[int, ...] = SEQS) -> dict[str, bytes]:
    """Inclusion proofs on the hot path (to the latest checkpoint) and on the route (an
    explicit size: the proof node cache), and a consistency proof: path -> body."""
    paths = [f"/v1/log/proof/inclusion?seq={s}" for s in seqs]
    paths += [f"/v1/log/proof/inclusion?seq={s}&size={size - 1}" for s in seqs if s < size - 1]
    paths += [f"/v1/log/proof/consistency?size1={m}&size2={size}" for m in (1, 300, 512)]
    out = {}
    with httpx.Client(base_url=base, timeout=60) as c:
        for p in paths:
            r = c.get(p)
            assert r.status_code == 200, (p, r.text)
            out[p] = r.content
    return out


@contextmanager
def serving(tmp_path: Path, delay: float = DELAY, db: str | None = None) -> Iterator[Running]:
    data = tmp_path / "data"
    led = Ledger.create(data, "idle.example/log", db_url=db, checkpoint_interval=3600)
    for start in range(0, N, 100):
        led.append_many([("custody.note", {"i": i}) for i in range(start, start + 100)])
    size = led.sign_checkpoint_now().size
    led.close()
    app = create_app(ApiSettings(data_dir=str(data), anchor=False, rate=0, idle_trim=delay))
    (port,) = free_ports(1)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    loop = asyncio.new_event_loop()  # the server's, run here so the test can reach it
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),),
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield Running(app, f"http://127.0.0.1:{port}", size, loop)
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        if not thread.is_alive():
            loop.close()


@pytest.mark.parametrize("db", ["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def test_after_the_idle_delay_the_caches_are_empty_and_proofs_unchanged(
        tmp_path: Path, db: str, request: pytest.FixtureRequest) -> None:
    """On SQLite the hot path reads nodes in the event loop and the trim shrinks the
    pooled connections; on PostgreSQL nodes come through the proof node cache in a
    worker thread, and there is no SQLite pool to shrink."""
    url = request.getfixturevalue("pg_fresh_url") if db == "pg" else None
    # a delay far above a request's time: no trim can fall between the requests below
    with serving(tmp_path, delay=2.0, db=url) as run:
        run.wait_for_trims(1)  # a fresh worker trims once (the start's own garbage)
        before = answers(run.base, run.size)
        fast = run.fast_path()
        assert run.svc.proofs.cached_nodes > 0
        kept = run.on_loop(fast.cached)
        assert isinstance(kept, dict) and kept["bodies"] > 0 and kept["tails"] > 0, kept

        run.wait_for_trims(2)
        report = run.idle.last
        assert report is not None and report.entries >= len(before) // 2
        # the pool's idle SQLite connections were shrunk
        assert report.connections >= 1 if db == "sqlite" else report.connections == 0
        if _has_malloc_trim():
            assert report.malloc_trim
        # nothing kept now: the hot path's bodies, kept nodes, edge folds, checkpoint
        # tails and upper levels, and the proof node cache
        left = run.on_loop(lambda: {**fast.cached(), "nodes": run.svc.proofs.cached_nodes})
        assert isinstance(left, dict), left
        assert set(left) == {"bodies", "kept", "edges", "tails", "levels", "nodes"}, left
        assert not any(left.values()), left

        after = answers(run.base, run.size)
        assert after == before  # byte for byte, from empty caches
        refilled = run.on_loop(fast.cached)
        assert isinstance(refilled, dict) and refilled["bodies"] > 0, refilled
        assert run.svc.proofs.cached_nodes > 0


def test_no_second_trim_without_activity_and_probes_do_not_count(tmp_path: Path) -> None:
    with serving(tmp_path) as run:
        run.wait_for_trims(1)
        # probes and scrapes only, for many delays: neither a trim nor a postponed one
        with httpx.Client(base_url=run.base, timeout=60) as c:
            end = time.monotonic() + 8 * DELAY
            while time.monotonic() < end:
                assert c.get("/health").status_code == 200
                time.sleep(DELAY / 6)
        assert run.idle.trims == 1
        # one real request, then health checks more often than the delay: it trims once
        answers(run.base, run.size, (5,))
        deadline = time.monotonic() + 120  # a bound for a broken trim, not a timing claim
        with httpx.Client(base_url=run.base, timeout=60) as c:
            while run.idle.trims < 2:
                assert time.monotonic() < deadline, "health checks kept the worker busy"
                assert c.get("/health").status_code == 200
                time.sleep(DELAY / 6)
        assert run.idle.last is not None and run.idle.last.entries > 0


def test_due_waits_for_the_delay_and_for_activity() -> None:
    """The clock moved by hand: no sleeps."""
    now = [1000.0]
    idle = IdleTrim(60.0, clock=lambda: now[0])
    assert idle.due() > 0  # just started: a whole delay to go
    now[0] += 61
    assert idle.due() == 0  # a fresh worker trims once
    report = asyncio.run(idle.trim())  # no engine, no caches: the collection only
    assert idle.trims == 1 and idle.last == report and report.entries == 0
    assert idle.due() > 0  # nothing since the trim
    idle.started(quiet=True)
    now[0] += 61
    idle.ended(quiet=True)
    assert idle.due() > 0  # a probe is not activity
    idle.started(quiet=False)
    now[0] += 61
    assert idle.due() > 0  # in flight
    idle.ended(quiet=False)
    assert idle.due() > 0  # just ended: a whole delay to go
    now[0] += 61
    assert idle.due() == 0
    idle.started(quiet=True)
    assert idle.due() > 0  # a probe in flight: no trim under it
    now[0] += 1
    idle.ended(quiet=True)
    assert idle.due() == 0  # and its end does not postpone the trim


def test_requests_during_a_trim_are_answered_correctly(tmp_path: Path) -> None:
    """The thread's part of a trim held open while several threads ask for proofs: their
    answers are the same bytes as before (the event loop is not blocked by it), and
    trims forced while requests are in flight never show a half-cleared cache."""
    entered, go = threading.Event(), threading.Event()
    holding = threading.Event()

    class Held(dict):  # type: ignore[type-arg]
        """A cache whose freeing, in the trim's thread, waits for ``go``."""

        def popitem(self):  # type: ignore[no-untyped-def]
            entered.set()
            assert go.wait(120)
            return super().popitem()

    def drop() -> list[dict]:  # type: ignore[type-arg]
        """A cache registered as the hot path registers its own: held while ``holding``."""
        return [Held({"k": b"v"})] if holding.is_set() else []

    with serving(tmp_path, delay=3600) as run:
        expected = answers(run.base, run.size, tuple(range(0, N, 7)))
        paths = list(expected)
        run.on_loop(lambda: run.idle.add(drop))
        holding.set()
        loop = run.loop
        trimming = asyncio.run_coroutine_threadsafe(run.idle.trim(), loop)
        assert entered.wait(60)

        def ask(paths: list[str]) -> list[tuple[str, bytes]]:
            with httpx.Client(base_url=run.base, timeout=60) as c:
                return [(p, c.get(p).content) for p in paths]

        with ThreadPoolExecutor(4) as pool:
            got = [a for part in pool.map(ask, [paths[i::4] for i in range(4)]) for a in part]
        assert got and all(body == expected[p] for p, body in got)
        go.set()
        assert trimming.result(timeout=60).connections >= 1

        # trims forced (out of turn) while four threads ask for proofs at random
        holding.clear()
        stop = threading.Event()
        wrong: list[str] = []

        def hammer(seed: int) -> int:
            rnd, n = random.Random(seed), 0
            with httpx.Client(base_url=run.base, timeout=60) as c:
                while not stop.is_set():
                    p = rnd.choice(paths)
                    if c.get(p).content != expected[p]:
                        wrong.append(p)
                    n += 1
            return n

        with ThreadPoolExecutor(4) as pool:
            counts = [pool.submit(hammer, s) for s in range(4)]
            for _ in range(15):
                asyncio.run_coroutine_threadsafe(run.idle.trim(), loop).result(timeout=60)
            stop.set()
            asked = sum(f.result() for f in counts)
        assert asked > 0 and wrong == []


def _has_malloc_trim() -> bool:
    try:
        return hasattr(ctypes.CDLL(None), "malloc_trim")
    except OSError:
        pytest.skip("no C library to ask")
        return False
