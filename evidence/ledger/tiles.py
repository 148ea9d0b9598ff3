"""The tiles follower: writes the log as C2SP tlog-tiles (hash tiles, entry bundles and the
checkpoint) to a :class:`~evidence.ledger.tiles_store.TileStore` as the log grows.

Like the leaf index (:mod:`evidence.ledger.leaf_index`) it follows the committed log and
keeps its watermark where its readers look: the store's own ``checkpoint``. One round
(:func:`sync_tiles`) takes the ledger's latest signed checkpoint (size ``b``) and the
store's (size ``a``), then

1. writes the entry bundles and level-0 tiles from the one holding entry ``a`` to the
   last, and at each higher level the tiles whose hashes changed;
2. checks every tile before it is written: each entry's bytes hash to its stored leaf
   hash, each full tile's hashes hash to the stored node one tile-level up, and the
   rightmost tiles of every level fold into the checkpoint's signed root;
3. writes the checkpoint last, so no reader of the store's checkpoint asks for a tile
   that is not there yet;
4. deletes the partial tiles of tiles that became full (the spec allows it; the server
   answers a partial tile from its full tile, :mod:`evidence.api.routers.tiles`).

Crash-safe without a log of its own: every put is atomic, the content of a path is fixed
by the log (a partial tile of width ``W`` is the first ``W`` hashes of its full tile), so
a round that died half-way is simply done again from the unchanged checkpoint; a
different object already under a path stops the follower (another log's tiles, or
damage) rather than being overwritten.

``evidence serve`` runs one :class:`TilesFollower` per data directory (an ``flock`` on
``<data-dir>/run/tiles.lock``; other workers wait and take over if it stops), writing to
``<data-dir>/tlog`` unless ``tiles`` in config.json or ``EVIDENCE_TILES`` says otherwise
(``off``, a directory, or ``s3://bucket/prefix?endpoint=...``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from evidence.ledger.errors import LedgerError
from evidence.ledger.tiles_layout import (
    ENTRIES,
    HASH_SIZE,
    MAX_BUNDLE_ENTRY,
    TILE_HEIGHT,
    TILE_WIDTH,
    TileId,
    encode_bundle,
    level_count,
    tile_path,
)
from evidence.ledger.tiles_store import CHECKPOINT, TileStore, open_tile_store
from evidence.ledger.workers import wait_for_lock
from evidence.verify.checkpoint import Checkpoint, verify_checkpoint_windowed
from evidence.verify.hashing import EMPTY_ROOT, leaf_hash, node_hash
from evidence.verify.merkle import NodeId, fold, root_plan

if TYPE_CHECKING:  # pragma: no cover
    from evidence.ledger.log import Ledger, StoredCheckpoint

__all__ = ["TilesError", "TilesFollower", "TilesRound", "active_shard", "open_configured_store",
           "published_checkpoint", "shard_tile_store", "start_tiles_follower", "sync_tiles",
           "tiles_setting"]

log = logging.getLogger("evidence.tiles")

ENV = "EVIDENCE_TILES"
DEFAULT_STORE = "tlog"
"""``<data-dir>/tlog`` unless configured otherwise."""
GROUP = 64
"""Level-0 tiles read per query while catching up (16384 entries): memory stays flat."""
PAUSE = 1.0
"""Seconds between two rounds of the follower (and two tries for its lock)."""


class TilesError(LedgerError):
    """The tiles cannot be written without writing something wrong; nothing wrong was."""


@dataclass
class TilesRound:
    """What one :func:`sync_tiles` did."""

    size_before: int
    size: int
    written: list[str] = field(default_factory=list)
    pruned: int = 0
    oversized: list[int] = field(default_factory=list)
    """Entries longer than an entry bundle can hold (their bundles are not written)."""


def published_checkpoint(store: TileStore, ledger: Ledger) -> Checkpoint | None:
    """The checkpoint the store publishes, verified with the log's keys, each inside its
    window, and its ML-DSA-44 key from its first size (a store holding another log's
    checkpoint, or a forged one, is refused; one published before a key rotation is the
    log's: tests/mirror/test_mirror_rotation.py; tests/ledger/test_checkpoint_keys.py)."""
    raw = store.get(CHECKPOINT)
    if raw is None:
        return None
    try:
        return verify_checkpoint_windowed(raw, ledger.checkpoint_keys())[0].checkpoint
    except Exception as e:
        raise TilesError(f"the tile store's checkpoint is not this log's ({e}); refusing to "
                         f"write over it: another log's tiles?") from None


def sync_tiles(ledger: Ledger, store: TileStore, *,
               checkpoint: StoredCheckpoint | None = None, prune: bool = True) -> TilesRound:
    """One round of the follower: bring the store up to ``checkpoint`` (default: the
    ledger's latest). Returns what was done; raises :class:`TilesError` (having written
    nothing wrong) when the store or the ledger disagrees with itself."""
    cp = checkpoint if checkpoint is not None else ledger.latest_checkpoint()
    published = published_checkpoint(store, ledger)
    a = published.size if published is not None else 0
    if cp is None:
        return TilesRound(a, a)
    b, root = cp.size, bytes(cp.root)
    if b < a:
        if checkpoint is None:
            raise TilesError(f"the tile store publishes size {a}, but the log's latest "
                             f"checkpoint is size {b}: a restored ledger, or another log")
        return TilesRound(a, a)  # an older checkpoint asked for: already covered
    done = TilesRound(a, b)
    if published is not None and b == a:
        if published.root != root:
            raise TilesError(f"the tile store's checkpoint of size {a} has another root "
                             "than the log's: another log's tiles?")
        return done
    rightmost: dict[int, bytes] = {}  # level -> its partial tile at size b
    level = 0
    while level_count(b, level) > 0:
        count_a, count_b = level_count(a, level), level_count(b, level)
        first, stop = count_a // TILE_WIDTH, -(-count_b // TILE_WIDTH)
        if level == 0:
            _level_zero(ledger, store, b, first, stop, rightmost, done)
        else:
            _upper_level(ledger, store, b, level, first, stop, rightmost, done)
        level += 1
    got = _root_from_tiles(b, rightmost) if b else EMPTY_ROOT
    if got != root:
        raise TilesError(f"the tiles of size {b} fold into {got.hex()}, not the signed root "
                         f"{root.hex()}: the stored tree is damaged; run "
                         "`evidence audit`. The checkpoint was not published.")
    again = published_checkpoint(store, ledger)  # another follower may have gone further
    if again is None or again.size < b:
        store.put(CHECKPOINT, cp.note.encode(), None)
        done.written.append(CHECKPOINT)
    if prune:
        done.pruned = _prune(store, a, b)
    return done


def _publish(store: TileStore, tile: TileId, data: bytes, done: TilesRound) -> None:
    """Write a checked tile unless the very same bytes are there; refuse other bytes."""
    path = tile.path
    existing = store.get(path)
    if existing == data:
        return
    if existing is not None:
        raise TilesError(f"the tile store's {path} ({len(existing)} bytes) differs from the "
                         f"log's ({len(data)} bytes); refusing to overwrite it: another "
                         "log's tiles, or damage")
    store.put(path, data, tile)
    done.written.append(path)


def _level_zero(ledger: Ledger, store: TileStore, size: int, first: int, stop: int,
                rightmost: dict[int, bytes], done: TilesRound) -> None:
    """Entry bundles and level-0 tiles ``first .. stop-1``, read ``GROUP`` tiles at a time."""
    for group in range(first, stop, GROUP):
        end_tile = min(stop, group + GROUP)
        start, end = group * TILE_WIDTH, min(size, end_tile * TILE_WIDTH)
        entries = list(ledger.entries(start, end, chunk=4096))
        if len(entries) != end - start:
            raise TilesError(f"the ledger returned {len(entries)} entries of {start}..{end}")
        full = [n for n in range(group, end_tile) if (n + 1) * TILE_WIDTH <= size]
        above = ledger.nodes(NodeId(TILE_HEIGHT, n) for n in full)
        for n in range(group, end_tile):
            chunk = entries[(n - group) * TILE_WIDTH:(n - group + 1) * TILE_WIDTH]
            hashes = []
            for i, e in enumerate(chunk):
                if e.seq != n * TILE_WIDTH + i or leaf_hash(e.data) != e.leaf_hash:
                    raise TilesError(f"entry {e.seq}'s bytes do not hash to its stored leaf "
                                     "hash; run `evidence audit`")
                hashes.append(bytes(e.leaf_hash))
            tile = TileId(0, n, len(chunk))
            data = b"".join(hashes)
            _check_full(tile, hashes, above)
            if not tile.full:
                rightmost[0] = data
            _publish(store, tile, data, done)
            big = [e.seq for e in chunk if len(e.data) > MAX_BUNDLE_ENTRY]
            if big:  # the spec's uint16 prefix cannot hold them; the hashes are still served
                if not set(big) <= set(done.oversized):
                    log.warning("entries %s are longer than %d bytes: entry bundle %s not "
                                "written (its hash tile is)", big, MAX_BUNDLE_ENTRY,
                                tile_path(ENTRIES, n, len(chunk)))
                done.oversized.extend(big)
                continue
            _publish(store, TileId(ENTRIES, n, len(chunk)),
                     encode_bundle([e.data for e in chunk]), done)


def _upper_level(ledger: Ledger, store: TileStore, size: int, level: int, first: int,
                 stop: int, rightmost: dict[int, bytes], done: TilesRound) -> None:
    """Tiles ``first .. stop-1`` of ``level`` >= 1: the stored nodes of height ``8*level``."""
    height, count = TILE_HEIGHT * level, level_count(size, level)
    for n in range(first, stop):
        width = min(count - n * TILE_WIDTH, TILE_WIDTH)
        ids = [NodeId(height, n * TILE_WIDTH + i) for i in range(width)]
        above_id = NodeId(height + TILE_HEIGHT, n)
        found = ledger.nodes([*ids, above_id] if width == TILE_WIDTH else ids)
        try:
            hashes = [found[i] for i in ids]
        except KeyError as e:
            raise TilesError(f"the stored tree has no node {e.args[0]}; run `evidence audit`"
                             ) from None
        tile = TileId(level, n, width)
        _check_full(tile, hashes, found)
        data = b"".join(hashes)
        if not tile.full:
            rightmost[level] = data
        _publish(store, tile, data, done)


def _check_full(tile: TileId, hashes: Sequence[bytes], stored: dict[NodeId, bytes]) -> None:
    """A full tile's hashes must hash to the stored node one tile-level up."""
    if not tile.full:
        return
    want = stored.get(NodeId(TILE_HEIGHT * (tile.level + 1), tile.index))
    if want is None:
        raise TilesError(f"the stored tree has no node above {tile.path}; run `evidence audit`")
    if _perfect(hashes) != want:
        raise TilesError(f"{tile.path} does not hash to the stored node above it; the stored "
                         "tree is damaged: run `evidence audit`")


def _perfect(hashes: Sequence[bytes]) -> bytes:
    """The hash of a perfect subtree over ``hashes`` (a power of two of them)."""
    level = list(hashes)
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def _root_from_tiles(size: int, rightmost: dict[int, bytes]) -> bytes:
    """The root of the tree of ``size`` from the rightmost (partial) tile of each level,
    as a tiles client computes it: each piece of :func:`root_plan` lies in one of them."""
    pieces = []
    for node in root_plan(size):
        level, r = divmod(node.level, TILE_HEIGHT)
        start = node.index << r
        data = rightmost.get(level)
        if data is None or start // TILE_WIDTH != level_count(size, level) // TILE_WIDTH:
            raise TilesError(f"no partial tile of level {level} holds node {node}")
        off = start % TILE_WIDTH
        chunk = data[off * HASH_SIZE:(off + (1 << r)) * HASH_SIZE]
        pieces.append(_perfect([chunk[i:i + HASH_SIZE]
                                for i in range(0, len(chunk), HASH_SIZE)]))
    return bytes(fold(pieces)) if pieces else b""


def _prune(store: TileStore, a: int, b: int) -> int:
    """Delete the partial tiles (and bundles) of every tile that was partial at size ``a``
    and is full at ``b``."""
    n, level = 0, 0
    while level_count(a, level) > 0:
        count_a = level_count(a, level)
        tile = count_a // TILE_WIDTH
        if count_a % TILE_WIDTH and level_count(b, level) >= (tile + 1) * TILE_WIDTH:
            for lvl in ((level, ENTRIES) if level == 0 else (level,)):
                n += store.delete_prefix(tile_path(lvl, tile) + ".p")
        level += 1
    return n


# --- the follower in `evidence serve` ------------------------------------------------


def tiles_setting(data_dir: Path) -> str:
    """Where tiles go: ``EVIDENCE_TILES``, else ``tiles`` in config.json, else ``tlog``."""
    raw = os.environ.get(ENV)
    if raw is None:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            raw = json.loads((data_dir / "config.json").read_text()).get("tiles")
    return DEFAULT_STORE if raw is None else str(raw)


class TilesFollower(threading.Thread):
    """Runs :func:`sync_tiles` every ``pause`` seconds while it holds the data
    directory's tiles lock."""

    def __init__(self, ledger: Ledger, store: TileStore, lock_path: Path, *,
                 pause: float = PAUSE,
                 choose: Callable[[], StoredCheckpoint | None] | None = None) -> None:
        super().__init__(name="tiles", daemon=True)
        self.ledger, self.store, self.lock_path, self.pause = ledger, store, lock_path, pause
        self.choose = choose
        """Which checkpoint to publish (default: the latest; with publish_when_witnessed the
        newest the witness quorum cosigned, evidence.ledger.anchor.published)."""
        self.stop = threading.Event()
        self.rounds = 0
        self.last_error: str | None = None

    def run(self) -> None:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+b") as lock:
            wait_for_lock(lock, self.stop, self.pause)  # one follower per data directory
            while not self.stop.is_set():
                try:
                    if self.choose is None:
                        sync_tiles(self.ledger, self.store)
                    elif (chosen := self.choose()) is not None:
                        sync_tiles(self.ledger, self.store, checkpoint=chosen)
                    self.rounds += 1
                    self.last_error = None
                except Exception as e:  # a database hiccup, or a refusal: said, retried
                    if str(e) != self.last_error:
                        log.error("tiles not written: %s", e)
                    self.last_error = str(e)
                self.stop.wait(self.pause)

    def close(self) -> None:
        self.stop.set()
        self.join(timeout=30)


def start_tiles_follower(ledger: Ledger, store: TileStore, data_dir: Path, *,
                         choose: Callable[[], StoredCheckpoint | None] | None = None
                         ) -> TilesFollower:
    pause = float(os.environ.get("EVIDENCE_TILES_PAUSE", PAUSE))  # tests: shorter
    follower = TilesFollower(ledger, store, data_dir / "run" / "tiles.lock", pause=pause,
                             choose=choose)
    follower.start()
    return follower


def open_configured_store(data_dir: Path) -> TileStore | None:
    """The tile store of the shard this data directory writes (None: tiles are off)."""
    return shard_tile_store(data_dir, active_shard(data_dir))


def active_shard(data_dir: Path) -> int:
    """The number of the shard ``config.json`` names (``"shard_dir": "shards/<n>"``; 1
    without one). ``load_config`` has checked the value's form."""
    with contextlib.suppress(OSError, ValueError, AttributeError, IndexError):
        rel = json.loads((Path(data_dir) / "config.json").read_text()).get("shard_dir")
        if isinstance(rel, str):
            return int(rel.split("/")[1])
    return 1


def shard_tile_store(data_dir: Path, n: int) -> TileStore | None:
    """Shard ``n``'s tiles: shard 1's where the setting says, shard ``n >= 2``'s under
    ``shards/<n>/`` of that place (docs/formats.md "Temporal shards"), so a new shard's
    tree never meets a frozen one's tiles (tile paths never start with ``shards/``)."""
    return open_tile_store(shard_spec(tiles_setting(data_dir), n), data_dir)


def shard_spec(spec: str, n: int) -> str:
    """The tile store setting ``spec`` moved to shard ``n`` (unchanged for shard 1)."""
    parts = urlsplit(spec.strip())
    if n == 1 or spec.strip().lower() in ("", "off", "none", "0", "false"):
        return spec
    sub = f"shards/{n}"
    if parts.scheme in ("s3", "file"):
        return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + sub))
    return str(Path(spec.strip()) / sub)
