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

from starlette.types import ASGIApp, Receive, Scope, Send

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


class TilesFastPath:
    """The tile reads above, answered before FastAPI's router (see the module doc)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._routes: dict[str, object] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path"):
            path = scope["path"]
            answer = None
            if path.startswith(PREFIX):
                answer = self._tile(scope, path)
            elif path == CHECKPOINT:
                answer = self._checkpoint(scope)
            if answer is not None:
                body, headers = answer
                await send({"type": "http.response.start", "status": 200,
                            "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _tile(self, scope: Scope, path: str) -> tuple[bytes, list[tuple[bytes, bytes]]] | None:
        state = _state(scope)
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
        if tile.level == ENTRIES and _accepts_gzip(scope):
            return None  # compressed by the route
        data = _read(os.path.join(state.store.root, tile.path))
        if data is None:
            return None  # missing, or a partial tile the route cuts from a wider one
        headers = [(b"cache-control", cache_control(tile).encode())]
        if tile.level == ENTRIES:
            headers.append((b"vary", b"Accept-Encoding"))
        headers += [(b"content-length", str(len(data)).encode()), (b"content-type", _OCTETS)]
        self._label(scope, TILE_ROUTE)
        return data, headers

    def _checkpoint(self, scope: Scope) -> tuple[bytes, list[tuple[bytes, bytes]]] | None:
        state = _state(scope)
        if state is None:
            return None
        try:
            note, _ = state.published()
        except Problem:
            return None
        self._label(scope, CHECKPOINT)
        return note, [*_CP_HEADERS, (b"content-length", str(len(note)).encode()), _CP_TYPE]

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


def _state(scope: Scope) -> TilesState | None:
    """The app's tiles (None before its lifespan opened them)."""
    state = getattr(getattr(scope.get("app"), "state", None), "tiles", None)
    return state if isinstance(state, TilesState) else None


def _accepts_gzip(scope: Scope) -> bool:
    """As the route reads it: the first Accept-Encoding header names gzip (any case)."""
    for k, v in scope["headers"]:
        if k == b"accept-encoding":
            return b"gzip" in v.lower()
    return False


def _read(path: str) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)
