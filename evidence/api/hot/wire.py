"""The public reads answered in uvicorn's HTTP protocol, below ASGI (``ApiSettings.fast_wire``,
on by default; it needs ``fast_reads``).

At 10 M entries a tile costs about 20 us to find and read, and the ASGI machinery around
it (a scope, a task, the middleware stack, two ``send`` messages) several times that: a
bare uvicorn ASGI handler tops out near 16,000 answers a second on the 2-core reference
machine, under the 20,000 tiles/s target (docs/performance.md, "Reads at 10 M entries").
So :class:`~evidence.api.hardening.HardenedHttpProtocol` hands each request head to
:meth:`Wire.answer` once it is parsed, and writes the whole answer to the socket itself
when it gets one. :meth:`Wire.answer` answers only what the ASGI hot paths would answer
themselves, with their functions:

* ``GET /tlog/tile/...`` and ``GET /tlog/checkpoint``:
  :func:`~evidence.api.hot.tiles.tile_file` (the file sent with ``sendfile``),
  :func:`~evidence.api.hot.tiles.checkpoint_answer`;
* ``GET /checkpoint``, ``GET /v1/log/checkpoint`` and ``GET /v1/log/proof/inclusion?seq=N``:
  :meth:`~evidence.api.hot.reads.ReadFastPath.answer_now`, from the same instance as the
  ASGI path (its kept nodes and proof bodies), only when nothing must be awaited (the
  latest checkpoint in memory, a SQLite ledger);

and only plain requests: ``GET``, or ``HEAD`` of a tile route (the ``GET``'s head,
Content-Length included, and no body, as :class:`~evidence.api.hot.tiles.TilesFastPath`
answers it in ASGI; a CDN asks it), no body (no
``Transfer-Encoding``, no ``Content-Length`` but ``0``), no ``Expect``, no ``Origin``
(CORS headers are the CORS middleware's), a path with no percent-escape and no fragment.
Everything else, and every problem (malformed tile paths, tiles past the tree, a stale
checkpoint, a node missing), goes the normal way, to the same routes. These reads are
public: the routes ask for no token and take nothing off a rate limit (evidence/api/
routers/log.py, routers/tiles.py), so there is no admission to apply here.

The answer's bytes are uvicorn's for the same ASGI answer: its status line, its default
headers (``date``, ``server``; the list uvicorn refreshes each second), the hot path's
headers as the app's CORS middleware leaves them (it adds ``vary: Origin``; its own code
makes them, once per shape of headers), ``x-request-id``
(:func:`evidence.api.observe.request_id`, as the observing wrapper adds it) when the app
observes, and ``connection: close`` when the request does not keep the connection alive.
Held byte for byte, with the switch on and off, over a real ``evidence serve``:
tests/equivalence/test_wire_reads.py.

A tile's body is its file, left open by :func:`~evidence.api.hot.tiles.tile_file` and
sent with ``sendfile`` by the protocol (not read into Python; the same bytes:
tests/equivalence/test_wire_reads.py). ``HEAD`` of a tile route gets the ``GET``'s head.

What a tile answer skips, as a CDN or a static file server in front would: the
per-request access line (uvicorn's text line, or the JSON line of ``log_format =
"json"``). The API's reads (checkpoints, proofs) keep theirs: while access lines are
written they go through ASGI, and are answered here only with ``access_log = false``
(what a server under this load runs with). The answers are not timed in
``evidence_http_request_duration_seconds`` either: they are counted by route in
``evidence_http_wire_answers_total``, added up once a second (a worker that stops loses
at most its last second's count). They count as activity for the idle trim.
``[serve] fast_wire = false`` sends them all through ASGI.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Message

from evidence.api.hot.tiles import (
    CHECKPOINT,
    PREFIX,
    TILE_ROUTE,
    Answer,
    TileFile,
    checkpoint_answer,
    is_tile_route,
    state_of,
    tile_file,
)
from evidence.api.idle_trim import IdleTrim

FLUSH_EVERY = 1.0
"""Seconds between two additions of the answers counted to the metric."""
READ_PATHS = frozenset(("/checkpoint", "/v1/log/checkpoint", "/v1/log/proof/inclusion"))
"""The paths of :class:`~evidence.api.hot.reads.ReadFastPath` (labelled by themselves)."""
STATUS_200 = b"HTTP/1.1 200 OK\r\n"
"""uvicorn's status line for 200 (uvicorn.protocols.http.httptools_impl.STATUS_LINE)."""
_LENGTH = b"<content-length>"
_DECLINE = frozenset((b"origin", b"transfer-encoding", b"expect"))
"""Request headers that send a request through ASGI (see the module doc)."""


class Wire:
    """The answers below ASGI of one app (see the module doc); ``app.state.wire``."""

    def __init__(self, app: Any, *, observe: bool, access_lines: bool = False,
                 idle: IdleTrim | None = None) -> None:
        self.app = app
        self._access_lines = access_lines
        self.reads: Any = None
        """The app's :class:`~evidence.api.hot.reads.ReadFastPath`, set by it when the
        middleware stack is built (None until then: proofs go through ASGI)."""
        self._idle = idle
        self._observe = observe
        self._counts: dict[str, int] = {}  # answers per route since the last flush
        self._flushing = False
        self._defaults: tuple[object, bytes] = (None, b"")
        self._shapes: dict[tuple[tuple[bytes, bytes], ...], tuple[bytes, bytes]] = {}
        self._cors: CORSMiddleware | None = None
        self._request_id: Any = None
        self._ids = b""  # request ids not given yet (_fresh_id)
        self._ids_at = 0
        if observe:  # prometheus_client loads only with observe (evidence/api/metrics.py)
            from evidence.api.observe import request_id

            self._request_id = request_id

    def answer(self, method: bytes, url: bytes, headers: list[tuple[bytes, bytes]],
               keep_alive: bool, default_headers: list[tuple[bytes, bytes]],
               logged: bool = False) -> tuple[bytes, bytes | TileFile] | None:
        """The whole HTTP answer to this request head, its head and its body, or None:
        the request goes through ASGI. The body is bytes (written with the head in one
        ``writelines``: not copied) or, for a tile, its open file (a
        :class:`~evidence.api.hot.tiles.TileFile`: the caller sends it and closes it).
        ``headers`` as uvicorn keeps them (names in lower case); ``default_headers``
        uvicorn's (``ServerState.default_headers``); ``logged``: uvicorn writes an
        access line per request."""
        head_only = method == b"HEAD"  # a tile route's: the GET's head, no body
        if (method != b"GET" and not head_only) or url[:1] != b"/" or b"%" in url or (
                b"#" in url):
            return None
        gzip: bool | None = None
        asked_id = False
        for k, v in headers:
            if k in _DECLINE or (k == b"content-length" and v != b"0"):
                return None
            if k == b"x-request-id":
                asked_id = True
            if k == b"accept-encoding" and gzip is None:  # the first, as the route reads it
                gzip = b"gzip" in v.lower()
        raw, _, query = url.partition(b"?")
        try:
            path = raw.decode("ascii")
        except UnicodeDecodeError:
            return None
        found: Answer | None = None
        route = path
        if head_only and not is_tile_route(path):
            return None  # the API's reads answer HEAD as their routes do (405)
        if path.startswith(PREFIX):  # its file left open, sent by the kernel (hardening.py)
            found, route = tile_file(state_of(self.app), path, bool(gzip)), TILE_ROUTE
        elif path == CHECKPOINT:
            found, route = checkpoint_answer(state_of(self.app)), CHECKPOINT
        elif path in READ_PATHS and self.reads is not None and not (
                logged or self._access_lines):
            found = self.reads.answer_now(self.app, path, query)
        if found is None:
            return None
        body, head = found
        key = tuple([(k, b"" if k == b"content-length" else v) for k, v in head])
        shape = self._shapes.get(key) or self._shape(key)
        if shape is None or head_only:
            if type(body) is TileFile:
                os.close(body.fd)
            if shape is None:
                return None
        out = [STATUS_200, self._default_block(default_headers), shape[0], b"%d" % len(body),
               shape[1]]
        if self._request_id is not None:
            rid = self._request_id({"headers": headers}).encode() if asked_id else (
                self._fresh_id())
            out += (b"x-request-id: ", rid, b"\r\n")
        if not keep_alive:
            out.append(b"connection: close\r\n")
        out.append(b"\r\n")
        answer = (b"".join(out), b"" if head_only else body)
        if self._idle is not None:  # activity, as the outermost middleware reports it
            self._idle.started(False)
            self._idle.ended(False)
        if self._observe:
            counts = self._counts
            counts[route] = counts.get(route, 0) + 1
            if not self._flushing:  # in the event loop (the protocol's callback)
                self._flushing = True
                asyncio.get_running_loop().call_later(FLUSH_EVERY, self._flush)
        return answer

    def _fresh_id(self) -> bytes:
        """A new request id as :func:`evidence.api.observe.request_id` makes one (12
        bytes of ``os.urandom`` in hex), cut from a pool read 1,024 ids at a time: one
        system call per 1,024 answers, not one each. Each worker process fills its own
        pool after it started (the app is built in the worker)."""
        at = self._ids_at
        if at >= len(self._ids):
            self._ids, at = os.urandom(12 * 1024).hex().encode(), 0
        self._ids_at = at + 24
        return self._ids[at:at + 24]

    def _shape(self, head: tuple[tuple[bytes, bytes], ...]) -> tuple[bytes, bytes] | None:
        """The header block the app's CORS middleware makes of a hot path's ``head`` for a
        request without ``Origin``, as uvicorn writes it, cut around Content-Length's
        value: made once per shape by that middleware's own code (it adds ``vary:
        Origin``), kept (a few shapes: full or partial tile, bundle, checkpoint, proof).
        None while the app's middleware stack is not built."""
        cors = self._cors
        if cors is None:
            cors = self._cors = _find_cors(self.app)
            if cors is None:
                return None
        sent: list[Message] = []

        async def collect(message: Message) -> None:
            sent.append(message)

        start = {"type": "http.response.start", "status": 200,
                 "headers": [(k, _LENGTH if k == b"content-length" else v) for k, v in head]}
        step = cors.send(start, send=collect, request_headers=Headers(raw=[]))
        try:
            step.send(None)
        except StopIteration:
            pass
        else:  # it waited on something: not the middleware this was written for
            step.close()
            return None
        block = b"".join(k.lower() + b": " + v + b"\r\n" for k, v in sent[0]["headers"])
        pre, mark, post = block.partition(b"content-length: " + _LENGTH + b"\r\n")
        if not mark:
            return None
        if len(self._shapes) > 64:
            self._shapes.clear()
        shape = self._shapes[head] = (pre + b"content-length: ", b"\r\n" + post)
        return shape

    def _default_block(self, default_headers: list[tuple[bytes, bytes]]) -> bytes:
        """uvicorn's default headers as it writes them, encoded once per list (uvicorn
        makes a new list when the date changes, each second)."""
        src, block = self._defaults
        if src is not default_headers:
            block = b"".join(k.lower() + b": " + v + b"\r\n" for k, v in default_headers)
            self._defaults = (default_headers, block)
        return block

    def _flush(self) -> None:
        """The answers counted since the last flush, added to the metric: one write per
        route and second, not one per answer (a histogram observation per answer cost
        about a tenth of a tile's time in this path)."""
        from evidence.api.metrics import WIRE_ANSWERS

        counts, self._counts, self._flushing = self._counts, {}, False
        for route, n in counts.items():
            WIRE_ANSWERS.labels(route).inc(n)


def _find_cors(app: Any) -> CORSMiddleware | None:
    """The CORS middleware in ``app``'s built middleware stack (None before it is built)."""
    layer = getattr(app, "middleware_stack", None)
    for _ in range(32):
        if layer is None or isinstance(layer, CORSMiddleware):
            return layer
        layer = getattr(layer, "app", None)
    return None
