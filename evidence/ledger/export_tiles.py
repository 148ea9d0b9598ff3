"""The tlog-tiles part of a log export: ``DIR/tlog/`` (docs/formats.md, "Log export").

When the ledger's tile store is a local directory whose checkpoint covers the newest
exported checkpoint (size ``c``), the export copies the tiles of the tree of size ``c`` into
``DIR/tlog/`` under the store's paths and bytes: every full hash tile and entry bundle, the
rightmost partial tile of each level (cut from a wider or full tile when the store has
gone further: a partial tile is a prefix of it), and ``tlog/checkpoint`` = the bytes of
``DIR/checkpoints/<c>``. ``DIR`` can then be served by any static file server as a C2SP
tlog-tiles log. Full tiles never change, so an incremental export copies only new ones;
the old partial tiles leave the manifest (and DIR) when replaced.

Tiles off, on S3, or not caught up: no ``tlog/`` and the manifest says ``"tiles": null``
with ``"tiles_reason"``; the export itself goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evidence.ledger.tiles_layout import (
    ENTRIES,
    HASH_SIZE,
    TILE_WIDTH,
    TileId,
    decode_bundle,
    level_count,
)
from evidence.ledger.tiles_store import CHECKPOINT, FilesystemTileStore, TileStore

PREFIX = "tlog/"

Put = Callable[[str, bytes], bool]


def tiles_for(size: int) -> list[TileId]:
    """Every tile (hash tiles of each level and entry bundles) of a tree of ``size``."""
    out: list[TileId] = []
    level = 0
    while (count := level_count(size, level)) > 0:
        for lvl in ((level, ENTRIES) if level == 0 else (level,)):
            out += [TileId(lvl, n) for n in range(count // TILE_WIDTH)]
            if count % TILE_WIDTH:
                out.append(TileId(lvl, count // TILE_WIDTH, count % TILE_WIDTH))
        level += 1
    return out


def store_reason(store: TileStore | None, store_size: int | None, size: int) -> str | None:
    """Why the store's tiles cannot be exported for a tree of ``size`` (None: they can)."""
    if store is None:
        return "tiles are off for this data directory (tiles in config.json or EVIDENCE_TILES)"
    if not isinstance(store, FilesystemTileStore):
        return f"the tile store is not a local directory ({store!r}); copy it from there"
    if store_size is None:
        return f"the tile store {store.root} holds no checkpoint yet"
    if store_size < size:
        return (f"the tile store {store.root} publishes size {store_size}, behind the newest "
                f"exported checkpoint ({size}): the tiles follower has not caught up (or "
                f"publishes only witnessed checkpoints); export again later")
    return None


def _read(store: FilesystemTileStore, tile: TileId) -> bytes | None:
    """The bytes of ``tile`` from the store: its own file, else cut from the full tile or
    from any wider partial (the follower prunes the partials of full tiles)."""
    data = store.get(tile.path)
    if data is not None or tile.full:
        return data
    full = store.get(tile.as_full().path)
    if full is None:
        folder = store.file(tile.as_full().path + ".p")
        wider = sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()
                       and int(p.name) > tile.width) if folder.is_dir() else []
        if not wider:
            return None
        full = store.get(TileId(tile.level, tile.index, wider[0]).path)
        if full is None:
            return None
    if tile.level != ENTRIES:
        return full[:tile.width * HASH_SIZE]
    pos = 0
    for _ in range(tile.width):
        pos += 2 + int.from_bytes(full[pos:pos + 2], "big")
    return full[:pos]


def copy_tiles(store: FilesystemTileStore, size: int, note: bytes, files: dict[str, Any], put: Put
               ) -> tuple[int, list[int]]:
    """Copy the tiles of the tree of ``size`` into ``tlog/`` through ``put`` (path, bytes);
    returns (tiles written, indexes of entry bundles the store lacks). A full tile the
    manifest already lists is not read again (its bytes are fixed by the log); a partial
    tile of another width leaves ``files``. Hash tiles are checked for their length and
    bundles for their entry count: the auditor checks the hashes."""
    want = {PREFIX + t.path: t for t in tiles_for(size)}
    for path in [p for p in files if p.startswith(PREFIX + "tile/") and p not in want]:
        del files[path]  # a replaced partial tile (swept from DIR after the manifest)
    written, missing = 0, []
    for path, tile in want.items():
        if tile.full and path in files:  # checked against the manifest when DIR was read
            continue
        data = _read(store, tile)
        if data is None:
            if tile.level == ENTRIES:  # an entry too long for a bundle (docs/formats.md)
                missing.append(tile.index)
                continue
            raise ValueError(f"the tile store {store.root} has no {tile.path}")
        if tile.level == ENTRIES:
            if sum(1 for _ in decode_bundle(data)) != tile.width:
                raise ValueError(f"the tile store's {tile.path} does not hold {tile.width} "
                                 "entries")
        elif len(data) != tile.width * HASH_SIZE:
            raise ValueError(f"the tile store's {tile.path} is {len(data)} bytes, not "
                             f"{tile.width * HASH_SIZE}")
        written += put(path, data)
    written += put(PREFIX + CHECKPOINT, note)
    return written, missing
