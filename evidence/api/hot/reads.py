"""The two hottest public reads from memory (``ApiSettings.fast_reads``): the latest
checkpoint and an inclusion proof of ``seq`` to it.

:class:`ReadFastPath`, an ASGI middleware, answers ``GET /checkpoint``,
``GET /v1/log/checkpoint`` and ``GET /v1/log/proof/inclusion?seq=N`` itself when, and
only when, the latest checkpoint is in memory (read less than
:data:`~evidence.api.services.LATEST_TTL` ago; the requests that find it older await one
read of it together) and the query is exactly ``seq=<decimal>``. A proof is planned and
written by :mod:`evidence.api.hot.inclusion` (its nodes below height 8 read for each proof
with one prepared statement on SQLite, in the event loop; with one query in a worker
thread elsewhere; the ones above kept). It makes the same bytes as the FastAPI routes
without request validation or dependency resolution. Anything else (other parameters,
errors, a node missing from the store) goes to the FastAPI route, the one place for
validation, errors and the OpenAPI description. Equal bytes, cold and warm, for every
entry of many tree sizes: tests/equivalence/test_proof_reads.py.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from evidence.api import services
from evidence.api.hot.inclusion import InclusionFast, Node, Shape
from evidence.api.idle_trim import IdleTrim
from evidence.api.services import Services, services_of
from evidence.ledger.log import StoredCheckpoint
from evidence.ledger.tiles_store import FilesystemTileStore
from evidence.verify.merkle import NodeId

log = logging.getLogger("evidence.api")
MAX_SEQ = 2**63 - 1
PATHS = ("/checkpoint", "/v1/log/checkpoint", "/v1/log/proof/inclusion")
"""The paths answered here, before the router (the metrics label these answers by them)."""
_JSON = [(b"content-type", b"application/json")]
_TEXT = [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-cache")]
Answer = tuple[bytes, list[tuple[bytes, bytes]]]


class ReadFastPath:
    """The reads above, answered before FastAPI's router (see the module doc)."""

    def __init__(self, app: ASGIApp, *, max_cached: int = 20_000,
                 idle: IdleTrim | None = None, wire: Any = None) -> None:
        self.app = app
        self._bodies: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._max = max_cached
        self._fast: tuple[Services, InclusionFast] | None = None
        self._refreshing: asyncio.Future[StoredCheckpoint | None] | None = None
        if idle is not None:
            idle.add(self.drop)
        if wire is not None:  # answers below ASGI from this instance (hot/wire.py)
            wire.reads = self

    def drop(self) -> list[dict]:
        """Empty the rendered proofs and what the proofs keep (an idle worker's trim,
        evidence/api/idle_trim.py; in the event loop, as every use of them); the old
        dicts are returned to be freed."""
        old: list[dict] = [self._bodies]
        self._bodies = OrderedDict()
        if self._fast is not None:
            old += self._fast[1].drop()
        return old

    def cached(self) -> dict[str, int]:
        """How much this worker's hot path keeps now: rendered proofs (``bodies``) and,
        once the first proof has built it, what :meth:`InclusionFast.cached` counts.
        Read-only, so that an operator or a test can see what :meth:`drop` gives back
        (tests/api/test_idle_trim.py) without reaching in; call it in the event loop,
        where these are used."""
        counts = {"bodies": len(self._bodies)}
        if self._fast is not None:
            counts.update(self._fast[1].cached())
        return counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            svc = services_of(scope)
            if svc is not None:
                path = scope["path"]
                answer: Answer | None = None
                if path == "/v1/log/proof/inclusion":
                    cp = self._ahead(svc) or await self._refresh(svc)
                    found = self._inclusion(svc, cp, scope.get("query_string", b""),
                                            scope.get("app"))
                    answer = (await self._load_and_answer(svc, found)
                              if isinstance(found, _Missing) else found)
                elif path in ("/checkpoint", "/v1/log/checkpoint") and not scope.get(
                        "query_string"):
                    cp = self._ahead(svc) or await self._refresh(svc)
                    if cp is not None:
                        answer = (cp.note.encode(), _TEXT)
                if answer is not None:
                    body, headers = answer
                    await send({"type": "http.response.start", "status": 200, "headers": [
                        *headers, (b"content-length", str(len(body)).encode())]})
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)

    def _ahead(self, svc: Services) -> StoredCheckpoint | None:
        """``svc.latest_cached()``; once it is older than half of LATEST_TTL, also one
        read of it queued in a worker thread (not awaited), so that under a steady load
        it is read again before it expires: every answer still comes from a checkpoint
        read less than LATEST_TTL ago, and no request waits for the read (an expired
        checkpoint sent every request of the moment through ASGI and a thread hop, four
        times a second). Event loop only."""
        cp = svc.latest_cached()
        if cp is not None and time.monotonic() - svc.latest_read_at() > services.LATEST_TTL / 2:
            pending = self._refreshing
            if pending is None or pending.done():
                loop = asyncio.get_running_loop()
                # covering MAX_SEQ: read from the database, not the copy in memory
                pending = self._refreshing = loop.run_in_executor(
                    svc.executor, svc.latest_checkpoint, MAX_SEQ)
                pending.add_done_callback(_retrieved)
        return cp

    async def _refresh(self, svc: Services) -> StoredCheckpoint | None:
        """The latest checkpoint read again (it was read over LATEST_TTL ago), once for
        all the requests that find it stale at the same time: one read in a worker thread
        that they all await, where each of them would otherwise go to the route and read
        it there. None if it cannot be read (the route then answers, as without it)."""
        pending = self._refreshing
        if pending is None or pending.done():
            loop = asyncio.get_running_loop()
            pending = self._refreshing = loop.run_in_executor(svc.executor,
                                                              svc.latest_checkpoint)
        try:
            return await asyncio.shield(pending)
        except Exception:
            return None

    def answer_now(self, app: object, path: str, query: bytes) -> Answer | None:
        """The answer to ``GET path?query`` when it can be made without waiting: the
        latest checkpoint in memory and the proof's nodes readable in the event loop (or
        its body kept). Else None, and the request goes through ASGI, which waits (and
        reads the checkpoint again for the requests after it). For the path below ASGI
        (:mod:`evidence.api.hot.wire`): the same checks, bytes and headers (with
        Content-Length) as :meth:`__call__`."""
        svc = services_of({"app": app})
        if svc is None:
            return None
        cp = self._ahead(svc)
        if cp is None:
            return None
        answer: Answer | _Missing | None = None
        if path == "/v1/log/proof/inclusion":
            answer = self._inclusion(svc, cp, query, app)
        elif path in ("/checkpoint", "/v1/log/checkpoint") and not query:
            answer = (cp.note.encode(), _TEXT)
        if answer is None or isinstance(answer, _Missing):
            return None
        body, headers = answer
        return body, [*headers, (b"content-length", b"%d" % len(body))]

    def _inclusion(self, svc: Services, cp: StoredCheckpoint | None, query: bytes,
                   app: object) -> Answer | _Missing | None:
        if not query.startswith(b"seq=") or not query[4:].isdigit() or len(query) > 24:
            return None
        seq = int(query[4:])
        if cp is None or seq >= cp.size or seq > MAX_SEQ:
            return None
        key = (seq, cp.size)
        body = self._bodies.get(key)
        if body is None:
            fast = self._inclusion_fast(svc, app)
            if fast.levels_due(cp.size):  # the upper levels, read in the background
                svc.executor.submit(_load_levels, fast, cp.size)
            body = fast.kept_proof(seq, cp)
            if body is None:
                sh, want = fast.needed(seq, cp)
                if not fast.direct():
                    return _Missing(seq, cp, sh, want, fast)
                try:
                    read = fast.read(want)
                except sqlite3.Error:
                    return None  # the route reads it again and reports what is wrong
                body = fast.render(seq, cp, sh, read)
            body = self._keep(key, body)
            if body is None:
                return None
        return body, _JSON

    def _inclusion_fast(self, svc: Services, app: object) -> InclusionFast:
        if self._fast is None or self._fast[0] is not svc:
            fast = InclusionFast(svc.ledger)
            tiles = getattr(getattr(app, "state", None), "tiles", None)
            store = getattr(tiles, "store", None)
            if isinstance(store, FilesystemTileStore):
                fast.tiles_root = str(store.root)
            self._fast = (svc, fast)
            if fast.direct():  # the upper nodes, read once in the background
                svc.executor.submit(_preload, fast)
        return self._fast[1]

    async def _load_and_answer(self, svc: Services, m: _Missing) -> Answer | None:
        """A proof to the latest checkpoint with nodes not cached yet: the one query the
        route would make, in a worker thread, then the same bytes. Any failure goes to
        the route, which reports it (the sizes come from a committed checkpoint, so no
        size check is needed)."""
        loop = asyncio.get_running_loop()
        try:
            found = await loop.run_in_executor(svc.executor, svc.proofs.load,
                                               [NodeId(*n) for n in m.want])
        except Exception:
            return None
        read = {(n.level, n.index): h for n, h in found.items()}
        body = self._keep((m.seq, m.cp.size),
                          m.fast.render(m.seq, m.cp, m.shape, read))
        return None if body is None else (body, _JSON)

    def _keep(self, key: tuple[int, int], body: bytes | None) -> bytes | None:
        if body is not None:
            self._bodies[key] = body
            if len(self._bodies) > self._max:
                self._bodies.popitem(last=False)
        return body


@dataclass
class _Missing:
    """A proof the fast path can answer after loading ``missing`` nodes."""

    seq: int
    cp: StoredCheckpoint
    shape: Shape
    want: list[Node]
    fast: InclusionFast


def _retrieved(f: asyncio.Future[Any]) -> None:
    """A read queued ahead that failed: the next request that finds the checkpoint
    expired reads it again (_refresh) and the route reports what is wrong."""
    if not f.cancelled() and f.exception() is not None:
        log.debug("latest checkpoint not read ahead: %s", f.exception())


def _load_levels(fast: InclusionFast, size: int) -> None:
    try:
        fast.load_levels(size)
    except Exception as e:  # only slower without them: said, not raised
        log.warning("upper tree levels not loaded: %s", e)


def _preload(fast: InclusionFast) -> None:
    try:
        fast.preload()
    except Exception as e:  # only slower without it: said, not raised
        log.warning("upper tree nodes not preloaded: %s", e)
