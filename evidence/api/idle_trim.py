"""An idle worker gives its memory back (docs/operations.md, "Sizing workers"); held by
tests/api/test_idle_trim.py: after the delay the caches are empty, answers stay
byte-identical, and a trim runs once per idle spell.

A busy worker keeps caches that make proofs cheap: the proof node cache
(:class:`~evidence.api.proofs.ProofCache`), the hot path's rendered proofs and kept upper
nodes (:mod:`evidence.api.hot.reads`, :mod:`evidence.api.hot.inclusion`) and SQLite's page
cache of each pooled connection (:mod:`evidence.ledger.db.engine`). They fill up to their
limits and stay full, so a worker that served a burst of proofs over a large log keeps its
peak size for good.
After ``ApiSettings.idle_trim`` seconds without a request, :class:`IdleTrim` gives it back
once:

1. in the event loop, at one instant when no request is in flight, every registered cache
   is swapped for an empty one (one assignment each: a request sees the old cache or the
   new one, never a half-cleared one; a proof planned against an old one keeps it);
2. in a worker thread, the old caches are emptied one entry at a time (the interpreter
   can switch threads between two, so the event loop keeps answering), each idle pooled SQLite
   connection is checked out in turn and runs ``PRAGMA shrink_memory`` (a checked-out
   connection is this thread's alone), then ``gc.collect()`` and glibc's
   ``malloc_trim(0)``, which returns the freed heap to the system (where there is one:
   Linux with glibc). The collection is the one step that holds the interpreter lock
   throughout; after the first trim's, what is alive then is frozen (``gc.freeze``), so
   that later ones only walk what was made since.

A request arriving during step 2 is answered as by a cold worker: from the empty caches,
which it fills again. No trim runs again until a request has come since the last one.
Probes and scrapes (:data:`QUIET_PATHS`) neither count as activity nor postpone a trim:
a load balancer's health checks every few seconds would otherwise keep a worker "busy"
forever. They still count as in flight, so a trim never starts under one.

Not given back: the page caches of the two SQLite connections held outside the pool and
used in the event loop (the hot path's node reader, with SQLite's default 2 MiB cache;
the token and case-membership lookups of :class:`~evidence.ledger.access.AccessControl`,
over small tables), checkpoints kept by size (:class:`~evidence.api.services.Services`,
4,096 at most) and imported modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("evidence.idle_trim")

QUIET_PATHS = frozenset({"/health", "/metrics"})
"""Requests that leave a worker idle: load-balancer probes and metrics scrapes."""

Drop = Callable[[], Iterable[MutableMapping[Any, Any]]]
"""A cache's drop: swaps in empty caches and returns the old ones (for :func:`_free`)."""


@dataclass(frozen=True)
class TrimReport:
    """What one trim did (logged at debug level; read by tests)."""

    entries: int  # cache entries dropped
    connections: int  # pooled SQLite connections shrunk
    collected: int  # unreachable objects gc.collect() found
    malloc_trim: bool  # glibc's malloc_trim was called
    seconds: float  # the thread's part, all of it
    gc_seconds: float  # of which gc.collect() (it holds the interpreter lock throughout)


class IdleTrim:
    """The idle state of one worker and its trim (see the module doc). The app's
    outermost middleware, :class:`IdleTracker`, reports requests to it; the lifespan runs
    :meth:`run` between :meth:`start` and :meth:`stop`; the hot path registers its caches
    with :meth:`add` when it is built."""

    def __init__(self, delay: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        """``clock``: seconds, for the delay (a test moves it by hand instead of sleeping:
        tests/api/test_idle_trim.py, ``test_due_waits_for_the_delay_and_for_activity``)."""
        self.delay = delay
        self._clock = clock
        self.engine: Any = None  # the ledger's SQLAlchemy engine, while it is open
        self.trims = 0
        self.last: TrimReport | None = None
        self._drops: list[Drop] = []  # the middleware's, for the app's life
        self._open_drops: list[Drop] = []  # the open services', for the lifespan's
        self._task: asyncio.Task[None] | None = None
        self._releasing: asyncio.Future[TrimReport] | None = None
        self._active = 0  # requests in flight, quiet ones too
        self._activity = 0  # requests seen, quiet ones not
        self._trimmed_at = -1  # _activity when the last trim started: a fresh worker trims once
        self._last = clock()  # when the last request (not a quiet one) ended

    def add(self, drop: Drop) -> None:
        self._drops.append(drop)

    def start(self, engine: Any, *drops: Drop) -> None:
        """Trim from now on (the lifespan's start, with the open services' engine and
        caches), in a task of the running event loop."""
        self.engine, self._open_drops = engine, list(drops)
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        """No more trims, and the thread's part of one under way finished (before the
        services it uses are closed)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._releasing is not None:
            with contextlib.suppress(Exception):
                await self._releasing
        self.engine, self._open_drops = None, []

    # --- requests (event loop) -------------------------------------------------------------

    def started(self, quiet: bool) -> None:
        self._active += 1
        if not quiet:
            self._activity += 1

    def ended(self, quiet: bool) -> None:
        self._active -= 1
        if not quiet:
            self._last = self._clock()

    def due(self) -> float:
        """0 when a trim may start now, else the seconds to wait before asking again."""
        if self._active:
            return self.delay  # the request's end moves _last: ask again a delay later
        wait = self.delay - (self._clock() - self._last)
        if wait > 0:
            return wait
        if self._activity == self._trimmed_at:
            return self.delay  # nothing happened since the last trim
        return 0.0

    # --- the trim --------------------------------------------------------------------------

    async def run(self) -> None:
        """Trim whenever :meth:`due` says so, until cancelled (the lifespan's end)."""
        while True:
            wait = self.due()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            try:
                await self.trim()
            except Exception:  # a trim is an optimisation: never take the worker down
                log.exception("idle trim failed")

    async def trim(self) -> TrimReport:
        """One trim: the swaps here (no await between them), the rest in a thread."""
        self._trimmed_at = self._activity
        old: list[MutableMapping[Any, Any]] = []
        for drop in (*self._drops, *self._open_drops):
            old.extend(drop())
        loop = asyncio.get_running_loop()
        self._releasing = loop.run_in_executor(None, _release, old, self.engine)
        del old  # the thread frees them: no reference may stay here
        try:
            report = await asyncio.shield(self._releasing)
        finally:
            if self._releasing.done():
                self._releasing = None
        self.trims += 1
        self.last = report
        log.debug("idle trim: %d cache entries, %d SQLite connections, malloc_trim %s, "
                  "%.3f s (gc %.3f s)", report.entries, report.connections,
                  report.malloc_trim, report.seconds, report.gc_seconds)
        return report


class IdleTracker:
    """The outermost middleware: tells :class:`IdleTrim` when requests start and end."""

    def __init__(self, app: ASGIApp, *, idle: IdleTrim) -> None:
        self.app, self.idle = app, idle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        quiet = scope["path"] in QUIET_PATHS
        self.idle.started(quiet)
        try:
            await self.app(scope, receive, send)
        finally:
            self.idle.ended(quiet)


# --- the thread's part ---------------------------------------------------------------------


def _release(old: list[MutableMapping[Any, Any]], engine: Any) -> TrimReport:
    start = time.perf_counter()
    entries = sum(_free(d) for d in old)
    del old
    connections = _shrink_sqlite_pool(engine) if engine is not None else 0
    t = time.perf_counter()
    collected = gc.collect()
    if not gc.get_freeze_count():
        # Everything alive at the first trim (modules, the app, the open services) stays
        # for the process's life: frozen, the collector skips it from now on, in later
        # trims and in its own full collections while the worker is busy. (Frozen objects
        # are still freed by reference counting; only cycles among them would stay.)
        gc.freeze()
    gc_seconds = time.perf_counter() - t
    trimmed = _malloc_trim()
    return TrimReport(entries, connections, collected, trimmed, time.perf_counter() - start,
                      gc_seconds)


def _free(cache: MutableMapping[Any, Any]) -> int:
    """Empty ``cache`` one entry at a time. ``clear()`` would free them all in one C call
    holding the interpreter lock (for a full node cache, long enough to delay answers);
    between two ``popitem`` calls the event loop can get its turn."""
    n = len(cache)
    popitem = cache.popitem
    with contextlib.suppress(KeyError):
        while cache:
            popitem()
    cache.clear()  # an emptied dict keeps its table until cleared
    return n


def _shrink_sqlite_pool(engine: Any) -> int:
    """``PRAGMA shrink_memory`` (free every page-cache page not in use) on each idle
    connection of a SQLite engine's pool, each checked out in turn (the pool hands them
    out first in, first out, so each turn gets the next idle one). Connections a request
    holds meanwhile are left alone. Returns how many were shrunk."""
    if engine.dialect.name != "sqlite":
        return 0
    checkedin = getattr(engine.pool, "checkedin", None)
    idle = checkedin() if checkedin is not None else 0
    done = 0
    for _ in range(idle):
        raw = engine.raw_connection()
        try:
            cur = raw.driver_connection.cursor()
            try:
                cur.execute("PRAGMA shrink_memory")
            finally:
                cur.close()
            done += 1
        finally:
            raw.close()
    return done


_TRIM: Callable[[int], int] | None = None
_TRIM_TRIED = False


def _malloc_trim() -> bool:
    """glibc's ``malloc_trim(0)``: hand the heap's free pages back to the system (ctypes
    releases the interpreter lock for the call). False where there is no such function
    (musl, macOS, Windows)."""
    global _TRIM, _TRIM_TRIED
    if not _TRIM_TRIED:
        _TRIM_TRIED = True
        with contextlib.suppress(Exception):
            import ctypes  # only here: a worker that never trims never loads it

            _TRIM = ctypes.CDLL(None).malloc_trim
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
