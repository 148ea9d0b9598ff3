"""The mirror's own directory: its copy of the log as tlog-tiles, and what it pins.

Layout (``DIR``)::

    mirror.json        the origin and log key this directory mirrors (written once),
                       the source URL it last followed, and the mirror's verifier key
    mirror.lock        held (flock) by the one `evidence mirror` writing here
    tlog/checkpoint    the last verified checkpoint: the log's note, its signatures
                       as fetched, and the mirror's cosignature; written last
    tlog/tile/...      hash tiles and entry bundles, byte for byte the log's

Everything the mirror needs to resume is in ``tlog/``: the tree's edge and the chain's
last leaf hash and time are read back from its own tiles and bundles at the checkpoint's
size, so a restart (or a crash between two files) continues from the last checkpoint it
wrote. Files past that checkpoint are pending (not yet verified against a signed root):
the mirror's server never serves them and the next round writes them again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from evidence.ledger.tiles_layout import (
    ENTRIES,
    HASH_SIZE,
    TILE_HEIGHT,
    TILE_WIDTH,
    TileId,
    decode_bundle,
    level_count,
    tile_at,
)
from evidence.ledger.tiles_store import CHECKPOINT, FilesystemTileStore
from evidence.mirror.errors import MirrorDamaged, MirrorError
from evidence.verify.checkpoint import Checkpoint, verify_checkpoint_windowed
from evidence.verify.entry import parse_entry
from evidence.verify.errors import VerificationError
from evidence.verify.hashing import ZERO_HASH_HEX
from evidence.verify.log import LogPosition
from evidence.verify.merkle import NodeId, root, root_plan
from evidence.verify.note import Verifier

__all__ = ["Held", "MirrorDir", "Resume"]

CONFIG = "mirror.json"
LOCK = "mirror.lock"
STORE = "tlog"


@dataclass(frozen=True)
class Held:
    """The mirror's last verified checkpoint and the note it publishes for it."""

    checkpoint: Checkpoint
    note: str


@dataclass
class Resume:
    """Where a round continues: the chain and tree at the mirror's size, and the rightmost
    (partial) tile of every level, which the round extends."""

    position: LogPosition
    rightmost: dict[int, list[bytes]]
    old_entries: list[bytes]
    """The entries of the mirror's partial bundle (the first ones of the next bundle)."""


class MirrorDir:
    def __init__(self, root_dir: str | os.PathLike[str]) -> None:
        self.root = Path(root_dir)
        self.store = FilesystemTileStore(self.root / STORE)
        self._lock: IO[bytes] | None = None

    # --- the pins and the lock ------------------------------------------------------

    def config(self) -> dict[str, str | None]:
        try:
            data = json.loads((self.root / CONFIG).read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise MirrorDamaged(f"{self.root / CONFIG} is unreadable ({e})") from None
        return data if isinstance(data, dict) else {}

    def check_pin(self, origin: str, log_key: Verifier,
                  known: Sequence[Verifier] = ()) -> dict[str, str | None]:
        """Refuse a log other than the one this directory mirrors (origin and key). The
        log's key may have changed to ``log_key`` from one of ``known`` (the keys the
        trust file pins for this origin: a rotation the mirror follows)."""
        cfg = self.config()
        pinned = {log_key.to_string(), *(k.to_string() for k in known)}
        if cfg and (cfg.get("origin") != origin or cfg.get("log_key") not in pinned):
            raise MirrorError(f"{self.root} mirrors {cfg.get('origin')!r} with log key "
                              f"{cfg.get('log_key')}, not {origin!r} with "
                              f"{log_key.to_string()}: use another --dir")
        return cfg

    def pin(self, origin: str, log_key: Verifier, source: str, mirror_key: str | None,
            known: Sequence[Verifier] = ()) -> None:
        """Record what this directory mirrors, the key that signed its checkpoint, and
        where it last read it (after a round that succeeded: a refused one changes
        nothing)."""
        cfg = self.check_pin(origin, log_key, known)
        new = {"format": "evidence-mirror/1", "origin": origin,
               "log_key": log_key.to_string(), "source": source, "mirror_key": mirror_key}
        if new != cfg:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = self.root / f".{CONFIG}.tmp"
            tmp.write_text(json.dumps(new, indent=1) + "\n")
            os.replace(tmp, self.root / CONFIG)

    def lock(self) -> None:
        """Take the directory for this process; refuse if another mirror holds it."""
        self.root.mkdir(parents=True, exist_ok=True)
        f = open(self.root / LOCK, "a+b")  # noqa: SIM115 (held for the process's life)
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            raise MirrorError(f"another evidence mirror is writing {self.root}") from None
        self._lock = f

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # --- what it holds ----------------------------------------------------------------

    def held(self, log_key: Verifier | Sequence[tuple[Verifier, tuple[int, int] | None]]
             ) -> Held | None:
        """The stored checkpoint, verified again with the log's key (a directory holding
        another log's checkpoint, or an altered one, is damaged, not trusted)."""
        raw = self.store.get(CHECKPOINT)
        if raw is None:
            return None
        try:
            keys = [(log_key, None)] if isinstance(log_key, Verifier) else log_key
            cp = verify_checkpoint_windowed(raw, keys)[0].checkpoint
        except (VerificationError, ValueError) as e:
            raise MirrorDamaged(f"the mirror's own checkpoint does not verify with the log "
                                f"key ({e}): {self.store.root} was altered") from None
        return Held(cp, raw.decode())

    def tile(self, tile: TileId) -> bytes:
        """One of the mirror's own files, which must be there and of its size."""
        data = self.store.get(tile.path)
        if data is None:
            raise MirrorDamaged(f"the mirror's own {tile.path} is missing")
        if tile.level != ENTRIES and len(data) != tile.width * HASH_SIZE:
            raise MirrorDamaged(f"the mirror's own {tile.path} is {len(data)} bytes, not "
                                f"{tile.width * HASH_SIZE}")
        return data

    def hashes(self, tile: TileId) -> list[bytes]:
        data = self.tile(tile)
        return [data[i:i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]

    def entries(self, tile: TileId) -> list[bytes]:
        try:
            out = list(decode_bundle(self.tile(tile)))
        except ValueError as e:
            raise MirrorDamaged(f"the mirror's own {tile.path}: {e}") from None
        if len(out) != tile.width:
            raise MirrorDamaged(f"the mirror's own {tile.path} holds {len(out)} entries")
        return out

    def resume(self, size: int) -> Resume:
        """The chain, the tree's edge and the rightmost tiles at ``size``, from the
        mirror's own files (verified again: the edge must fold into the held root by the
        caller's consistency check)."""
        if size == 0:
            return Resume(LogPosition(0, ZERO_HASH_HEX, "", ()), {}, [])
        rightmost: dict[int, list[bytes]] = {}
        level = 0
        while level_count(size, level) > 0:
            count = level_count(size, level)
            if count % TILE_WIDTH:
                rightmost[level] = self.hashes(TileId(level, count // TILE_WIDTH,
                                                      count % TILE_WIDTH))
            level += 1
        fetch = self.fetcher(size)
        plan = root_plan(size)
        found = fetch(plan)
        last = (size - 1) // TILE_WIDTH
        last_tile = tile_at(size, 0, last)
        assert last_tile is not None
        bundle = self.entries(TileId(ENTRIES, last, last_tile.width))
        last_leaf = self.hashes(last_tile)[-1]
        try:
            time = parse_entry(bundle[-1]).time
        except VerificationError as e:
            raise MirrorDamaged(f"the mirror's own entry {size - 1} does not parse: {e}"
                                ) from None
        old = bundle if last_tile.width < TILE_WIDTH else []
        return Resume(LogPosition(size, last_leaf.hex(), time, tuple(found[n] for n in plan)),
                      rightmost, old)

    def fetcher(self, size: int, overlay: dict[str, bytes] | None = None
                ) -> _TileNodes:
        return _TileNodes(self, size, overlay or {})

    def files(self) -> Iterator[Path]:
        """Every file of the copy (tests compare directories with it)."""
        for p in sorted(self.store.root.rglob("*")):
            if p.is_file() and not p.name.startswith("."):
                yield p


class _TileNodes:
    """A :data:`~evidence.verify.merkle.NodeFetcher` over the tiles of a tree of
    ``size``: node ``(h, i)`` is the perfect subtree over hashes ``[i*2^r, (i+1)*2^r)``
    of tile level ``h // 8`` (``r = h % 8``), all in one tile."""

    def __init__(self, mirror: MirrorDir, size: int, overlay: dict[str, bytes]) -> None:
        self.mirror, self.size, self.overlay = mirror, size, overlay
        self.cache: dict[TileId, list[bytes]] = {}

    def _tile(self, level: int, index: int) -> list[bytes] | None:
        tile = tile_at(self.size, level, index)
        if tile is None:
            return None
        if tile not in self.cache:
            data = self.overlay.get(tile.path)
            self.cache[tile] = (self.mirror.hashes(tile) if data is None else
                                [data[i:i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)])
        return self.cache[tile]

    def __call__(self, nodes: Sequence[NodeId]) -> dict[NodeId, bytes]:
        out: dict[NodeId, bytes] = {}
        for n in nodes:
            level, r = divmod(n.level, TILE_HEIGHT)
            start = n.index << r
            hashes = self._tile(level, start // TILE_WIDTH)
            off = start % TILE_WIDTH
            if hashes is None or off + (1 << r) > len(hashes):
                continue
            out[n] = bytes(root(hashes[off:off + (1 << r)]))
        return out


@contextlib.contextmanager
def locked(mirror: MirrorDir) -> Iterator[MirrorDir]:
    mirror.lock()
    try:
        yield mirror
    finally:
        mirror.unlock()
