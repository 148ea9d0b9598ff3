"""The log as C2SP tlog-tiles under ``/tlog/``: ``/tlog/checkpoint`` and ``/tlog/tile/...``
(c2sp.org/tlog-tiles; layouts in docs/formats.md).

The bytes are the tile store's (:mod:`evidence.ledger.tiles_store`), written by the tiles
follower (:mod:`evidence.ledger.tiles`) that this app runs beside the API; the same folder
or bucket may be served by any static server instead. What the server adds:

* headers: full tiles and bundles immutable for a year, partial ones for a minute, the
  checkpoint for seconds; entry bundles gzip-compressed when the client accepts it;
* a partial tile the store no longer holds (pruned once its tile filled, or never written
  because the follower skipped that size) is cut from the wider tile it is a prefix of,
  so every partial tile of every size up to the published checkpoint is served;
* problems: 400 ``bad-tile-path`` for a path that is not the spec's (naming the fault),
  404 ``tile-not-in-tree`` for a tile past the published tree, 404 ``no-tiles`` when no
  checkpoint is published yet (or tiles are off).
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi import Path as PathParam
from fastapi.responses import Response

from evidence.api.deps import Svc
from evidence.api.problems import Problem, problems
from evidence.api.services import Services
from evidence.ledger.config import resolve_data_dir
from evidence.ledger.shards import read_registry
from evidence.ledger.tiles import (
    TilesFollower,
    open_configured_store,
    shard_tile_store,
    start_tiles_follower,
)
from evidence.ledger.tiles_layout import (
    ENTRIES,
    HASH_SIZE,
    MAX_BUNDLE_ENTRY,
    TileId,
    TilePathError,
    decode_bundle,
    encode_bundle,
    parse_tile_path,
    tile_at,
)
from evidence.ledger.tiles_store import (
    CHECKPOINT,
    IMMUTABLE,
    TileStore,
    cache_control,
    content_type,
)
from evidence.verify.checkpoint import parse_checkpoint

log = logging.getLogger("evidence.tiles")
router = APIRouter(tags=["tiles"])
PUBLISHED_TTL = 1.0
"""Seconds the published checkpoint's size is kept in memory (a tile past it is refused)."""


@dataclass
class TilesState:
    """The app's tile store and the follower writing it (None: tiles are off)."""

    store: TileStore | None
    follower: TilesFollower | None = None
    _published: tuple[float, bytes | None, int | None] = (0.0, None, None)

    @classmethod
    def open(cls, svc: Services) -> TilesState:
        ledger = svc.ledger
        data_dir = ledger.config.data_dir if ledger.config else resolve_data_dir(
            svc.settings.data_dir)
        try:
            store = open_configured_store(Path(data_dir))
        except (ValueError, ImportError) as e:  # a bad setting; s3 without boto3
            log.error("tiles are off: %s", e)
            return cls(None)
        if store is None:
            return cls(None)
        choose = None
        if svc.publisher is not None:  # the tiles' checkpoint too: only a witnessed one
            choose = svc.publisher.latest
        return cls(store, start_tiles_follower(ledger, store, Path(data_dir), choose=choose))

    def close(self) -> None:
        if self.follower is not None:
            self.follower.close()

    def published(self) -> tuple[bytes, int]:
        """The published checkpoint and its size (read again after :data:`PUBLISHED_TTL`)."""
        at, note, size = self._published
        if note is None or size is None or time.monotonic() - at > PUBLISHED_TTL:
            if self.store is None:
                raise Problem(404, "no-tiles", "this server does not publish tiles")
            note = self.store.get(CHECKPOINT)
            if note is None:
                raise Problem(404, "no-tiles", "no checkpoint has been published as tiles "
                                               "yet; try again in a few seconds")
            size = parse_checkpoint(note.decode().split("\n\n", 1)[0] + "\n").size
            self._published = (time.monotonic(), note, size)
        return note, size


def tiles_state(request: Request) -> TilesState:
    state = getattr(request.app.state, "tiles", None)
    if not isinstance(state, TilesState):
        raise Problem(503, "starting", "the service is starting; try again in a moment")
    return state


Tiles = Annotated[TilesState, Depends(tiles_state)]


@router.get("/tlog/checkpoint", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "the checkpoint the tiles are published for"},
                       **problems(404)})
def tlog_checkpoint(tiles: Tiles) -> Response:
    """The signed checkpoint the published tiles cover (C2SP tlog-tiles ``<prefix>/checkpoint``).
    May be a little older than ``/checkpoint``: the tiles follower writes it last."""
    note, _ = tiles.published()
    return Response(note, media_type=content_type(None),
                    headers={"Cache-Control": cache_control(None)})


@router.get("/tlog/tile/{path:path}", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}},
                             "description": "a hash tile or an entry bundle"},
                       **problems(400, 404)})
def tlog_tile(path: str, tiles: Tiles,
              accept_encoding: Annotated[str | None, Header()] = None) -> Response:
    """A hash tile (``tile/<L>/<N>[.p/<W>]``) or entry bundle (``tile/entries/<N>[.p/<W>]``)."""
    tile = _parse(path)
    _, size = tiles.published()
    assert tiles.store is not None
    return _tile_answer(tiles.store, tile, size, accept_encoding, cache_control(tile),
                        "/tlog/checkpoint")


def _parse(path: str) -> TileId:
    try:
        return parse_tile_path("tile/" + path)
    except TilePathError as e:
        raise Problem(400, "bad-tile-path", f"malformed tile path: {e}") from None


def _tile_answer(store: TileStore, tile: TileId, size: int, accept_encoding: str | None,
                 cache: str, checkpoint_path: str) -> Response:
    """``tile`` of the tree of ``size`` from ``store``: a partial tile no longer stored is
    cut from the wider one it is a prefix of."""
    path = tile.path.removeprefix("tile/")
    have = tile_at(size, max(tile.level, 0), tile.index)
    if have is None or have.width < tile.width:
        raise Problem(404, "tile-not-in-tree",
                      f"tile/{path} is past the tree: the published checkpoint has {size} "
                      f"entries (see {checkpoint_path})")
    data = store.get(tile.path)
    if data is None and not tile.full:
        wider = store.get(TileId(tile.level, tile.index, have.width).path)
        data = None if wider is None else _prefix(tile, wider)
    if data is None:
        why = (f" (an entry in it may be longer than the {MAX_BUNDLE_ENTRY} bytes a bundle "
               "holds: read it from /v1/log/entries)" if tile.level == ENTRIES else "")
        raise Problem(404, "tile-missing", f"tile/{path} is not in the tile store{why}")
    headers = {"Cache-Control": cache}
    if tile.level == ENTRIES:
        headers["Vary"] = "Accept-Encoding"
        if accept_encoding and "gzip" in accept_encoding.lower():
            data = gzip.compress(data, compresslevel=6, mtime=0)
            headers["Content-Encoding"] = "gzip"
    return Response(data, media_type=content_type(tile), headers=headers)


# --- every shard's tiles under /v1/shards/{n}/tlog/ (docs/api.md "Shards") ----------------

ShardNo = Annotated[int, PathParam(ge=1, le=10**6)]
_frozen_lock = threading.Lock()
_frozen_tiles: dict[tuple[str, int], tuple[TileStore, bytes]] = {}  # (dir, n) -> store, note


def _frozen_shard_tiles(svc: Services, n: int) -> tuple[TileStore, bytes, int] | None:
    """A frozen shard's tile store, final checkpoint and size; None for the active shard.
    A frozen shard's tiles never change: found once per process, then kept."""
    led = svc.ledger
    d = led.config.data_dir if led.config else resolve_data_dir(svc.settings.data_dir)
    reg = read_registry(d)
    if n == reg.active:
        return None
    s = reg.shard(n)
    if s is None:
        raise Problem(404, "unknown-shard", f"there is no shard {n} (shards 1..{reg.active})")
    with _frozen_lock:
        kept = _frozen_tiles.get((str(d), n))
    if kept is None:
        try:
            store = shard_tile_store(Path(d), n)
        except (ValueError, ImportError) as e:
            log.error("tiles are off: %s", e)
            store = None
        note = None if store is None else store.get(CHECKPOINT)
        if store is None or note is None or parse_checkpoint(
                note.decode().split("\n\n", 1)[0] + "\n").size != s.final_size:
            raise Problem(404, "no-tiles", f"the tiles of shard {n} are not published (up "
                          "to its final checkpoint) in this server's tile store")
        kept = (store, note)
        with _frozen_lock:
            _frozen_tiles[(str(d), n)] = kept
    return kept[0], kept[1], s.final_size


@router.get("/v1/shards/{n}/tlog/checkpoint", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "the checkpoint shard n's tiles are published "
                                            "for"}, **problems(404, 422)})
def shard_tlog_checkpoint(n: ShardNo, svc: Svc, request: Request) -> Response:
    """Shard ``n``'s ``<prefix>/checkpoint`` (C2SP tlog-tiles): a frozen shard's final
    checkpoint (immutable), the active shard's as ``/tlog/checkpoint``."""
    frozen = _frozen_shard_tiles(svc, n)
    if frozen is None:
        return tlog_checkpoint(tiles_state(request))
    return Response(frozen[1], media_type=content_type(None),
                    headers={"Cache-Control": IMMUTABLE})


@router.get("/v1/shards/{n}/tlog/tile/{path:path}", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}},
                             "description": "a hash tile or an entry bundle of shard n"},
                       **problems(400, 404, 422)})
def shard_tlog_tile(n: ShardNo, path: str, svc: Svc, request: Request,
                    accept_encoding: Annotated[str | None, Header()] = None) -> Response:
    """Shard ``n``'s tiles; a frozen shard's, partial ones included, are immutable (its
    tree never grows)."""
    tile = _parse(path)
    frozen = _frozen_shard_tiles(svc, n)
    if frozen is None:
        return tlog_tile(path, tiles_state(request), accept_encoding)
    store, _note, size = frozen
    return _tile_answer(store, tile, size, accept_encoding, IMMUTABLE,
                        f"/v1/shards/{n}/tlog/checkpoint")


def _prefix(tile: TileId, wider: bytes) -> bytes:
    """The first ``tile.width`` hashes (or entries) of a wider copy of the same tile."""
    if tile.level != ENTRIES:
        return wider[:tile.width * HASH_SIZE]
    return encode_bundle(list(decode_bundle(wider))[:tile.width])
