"""``GET /tlog/checkpoint`` and ``GET /tlog/tile/...`` without FastAPI's machinery
(``ApiSettings.fast_reads``).

:class:`TilesFastPath`, an ASGI middleware beside :class:`~evidence.api.hot.reads.ReadFastPath`
(inside the body limit and CORS, so their headers apply unchanged), answers a tile
request itself when it is the common case: a well-formed path (the same
:func:`~evidence.ledger.tiles_layout.parse_tile_path`) of a tile the published
checkpoint covers, whose file the filesystem tile store holds, asked for without gzip.
It reads the file (one ``open``/``read``: the tile store's files are written whole by a
rename, never in place) and answers with the route's headers, in the route's order.
Everything else goes to the route in :mod:`evidence.api.routers.tiles`, the one place for
problems (400 ``bad-tile-path``, 404 ``tile-not-in-tree``, ``tile-missing``, ``no-tiles``),
partial tiles cut from a wider one, gzip-compressed bundles and S3 stores; so every answer
is the route's, byte for byte (tests/equivalence/test_tiles_fastpath.py).

Nothing is kept in memory but the published checkpoint (the route's
:meth:`~evidence.api.routers.tiles.TilesState.published`, re-read each second): the page
cache holds the files, as it does for a static file server, and a tile read from it costs
less than the HTTP around it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evidence.api.problems import Problem
from evidence.api.routers.tiles import TilesState
from evidence.ledger.tiles_layout import ENTRIES, TileId, TilePathError, parse_tile_path, tile_at
from evidence.ledger.tiles_store import FilesystemTileStore, cache_control, content_type

PREFIX = "/tlog/tile/"
CHECKPOINT = "/tlog/checkpoint"
TILE_ROUTE = "/tlog/tile/{path:path}"
"""The route's template: answers made here are labelled with it (evidence/api/observe.py)."""
_OCTETS = content_type(TileId(0, 0)).encode()
_CP_HEADERS = [(b"cache-control", cache_control(None).encode())]
_CP_TYPE = (b"content-type", content_type(None).encode())
Answer = tuple[bytes, list[tuple[bytes, bytes]]]


class TilesFastPath:
    """The tile reads above, answered before FastAPI's router (see the module doc)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._routes: dict[str, object] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD" and is_tile_route(
                scope["path"][len(scope.get("root_path", "")):]):
            await self._head(scope, receive, send)
            return
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path"):
            path = scope["path"]
            answer = None
            if path.startswith(PREFIX):
                answer = tile_answer(state_of(scope.get("app")), path,
                                     accepts_gzip(scope["headers"]))
                if answer is not None:
                    self._label(scope, TILE_ROUTE)
            elif path == CHECKPOINT:
                answer = checkpoint_answer(state_of(scope.get("app")))
                if answer is not None:
                    self._label(scope, CHECKPOINT)
            if answer is not None:
                body, headers = answer
                await send({"type": "http.response.start", "status": 200,
                            "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    async def _head(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``HEAD`` of a tile route (a CDN or cache in front asks it): this middleware
        and the route answer it as the ``GET``, every header the same (Content-Length
        the ``GET``'s body's), with no body, whatever the status. Below ASGI the
        protocol does the same (evidence/api/hot/wire.py); held by
        tests/equivalence/test_wire_reads.py."""
        sub = {**scope, "method": "GET"}  # the server's scope keeps HEAD: it sends no body

        async def headless(message: Message) -> None:
            if message["type"] == "http.response.start" and "route" in sub:
                scope["route"] = sub["route"]  # the router's, for the metrics' label
            elif message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self(sub, receive, headless)

    def _label(self, scope: Scope, template: str) -> None:
        """Put the route on the scope, as the router would (metrics label it so)."""
        route = self._routes.get(template)
        if route is None:
            app = scope.get("app")
            route = next((r for r in getattr(app, "routes", ()) if
                          getattr(r, "path", None) == template), False)
            self._routes[template] = route
        if route:
            scope["route"] = route


def is_tile_route(path: str) -> bool:
    """Whether ``path`` is one of the tile routes' (``HEAD`` is answered as ``GET``)."""
    return path.startswith(PREFIX) or path == CHECKPOINT


def tile_answer(state: TilesState | None, path: str, gzip: bool) -> Answer | None:
    """The answer to ``GET path`` (``/tlog/tile/...``) when it is the common case of
    the module doc, else None (the route answers). ``gzip``: whether the request's
    first Accept-Encoding names gzip. Also called below ASGI
    (:mod:`evidence.api.hot.wire`)."""
    tile = _common(state, path, gzip)
    if tile is None:
        return None
    assert state is not None
    # parse_tile_path accepts only what tile_path writes: the path's rest is tile.path
    data = _read(f"{state.store.root}/{path[6:]}")  # type: ignore[union-attr]
    if data is None:
        return None  # missing, or a partial tile the route cuts from a wider one
    return data, _headers(tile, len(data))


class TileFile:
    """A tile's open file and its size, for the protocol to send with ``sendfile``
    (evidence/api/hardening.py): it owns ``fd`` and closes it."""

    __slots__ = ("fd", "size")

    def __init__(self, fd: int, size: int) -> None:
        self.fd, self.size = fd, size

    def __len__(self) -> int:
        return self.size


def tile_file(state: TilesState | None, path: str, gzip: bool
              ) -> tuple[TileFile, list[tuple[bytes, bytes]]] | None:
    """:func:`tile_answer` with the file left open and not read: the same checks and
    headers (Content-Length its size), for the protocol, which has the kernel send the
    file (evidence/api/hot/wire.py). The file's bytes are :func:`tile_answer`'s: a tile
    is written whole by a rename, never in place (tests/equivalence/test_wire_reads.py)."""
    tile = _common(state, path, gzip)
    if tile is None:
        return None
    assert state is not None
    try:
        fd = os.open(f"{state.store.root}/{path[6:]}", os.O_RDONLY)  # type: ignore[union-attr]
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        size = os.fstat(fd).st_size
    except OSError:
        os.close(fd)
        return None
    return TileFile(fd, size), _headers(tile, size)


def _common(state: TilesState | None, path: str, gzip: bool) -> TileId | None:
    """The tile of ``path`` when it is the common case of the module doc, else None."""
    if state is None or not isinstance(state.store, FilesystemTileStore):
        return None
    try:
        tile = parse_tile_path(path[len("/tlog/"):])
        _, size = state.published()
    except (TilePathError, Problem):
        return None  # the route says what is wrong
    have = tile_at(size, max(tile.level, 0), tile.index)
    if have is None or have.width < tile.width:
        return None
    if tile.level == ENTRIES and gzip:
        return None  # compressed by the route
    return tile


def _headers(tile: TileId, size: int) -> list[tuple[bytes, bytes]]:
    headers = [(b"cache-control", cache_control(tile).encode())]
    if tile.level == ENTRIES:
        headers.append((b"vary", b"Accept-Encoding"))
    headers += [(b"content-length", b"%d" % size), (b"content-type", _OCTETS)]
    return headers


def checkpoint_answer(state: TilesState | None) -> Answer | None:
    """The answer to ``GET /tlog/checkpoint``, or None (the route answers)."""
    if state is None:
        return None
    try:
        note, _ = state.published()
    except Problem:
        return None
    return note, [*_CP_HEADERS, (b"content-length", b"%d" % len(note)), _CP_TYPE]


def state_of(app: object) -> TilesState | None:
    """The app's tiles (None before its lifespan opened them)."""
    state = getattr(getattr(app, "state", None), "tiles", None)
    return state if isinstance(state, TilesState) else None


def accepts_gzip(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """As the route reads it: the first Accept-Encoding header names gzip (any case)."""
    for k, v in headers:
        if k == b"accept-encoding":
            return b"gzip" in v.lower()
    return False


def _read(path: str) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        data = os.read(fd, _CHUNK)
        if len(data) < _CHUNK:  # a regular file read short: its end (a tile: one read)
            return data
        chunks = [data]
        while chunk := os.read(fd, _CHUNK):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


_CHUNK = 1 << 17
"""More than a full entry bundle of small entries (the common tile: one ``read``)."""
