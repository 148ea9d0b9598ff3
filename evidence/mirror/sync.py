"""One mirror round: bring the mirror's copy of a log up to the log's newest checkpoint,
verifying everything before it is published.

A round reads the log's checkpoint (size ``b``) and the mirror's (size ``a``), then

1. checks the log's checkpoint: signed by a pinned log key inside its window (and by the
   pinned ML-DSA-44 key, if any, from its first size: docs/verdict.md section 3), not
   smaller than ``a``, the same root if it is ``a`` (a different root at a size already
   mirrored is a fork);
2. reads the entry bundles from the one holding entry ``a`` on: entries already mirrored
   must be byte for byte the mirror's copy (a rewritten entry is refused), each new entry
   parses and follows the chain rules of :func:`evidence.verify.log.check_entries`
   (``seq`` counts up, ``prev`` is the previous leaf hash, time never goes back);
3. computes every hash tile itself from the entries' leaf hashes and the mirror's own
   tiles at size ``a``, and compares each with the log's tile of the same path (a tile
   that is not its leaves' hashes is refused, naming the hash that differs);
4. checks that the tree so computed has the root the log signed for ``b`` (it is built on
   the mirror's tree of ``a``, so the log at ``b`` extends what was mirrored) and, from
   the written tiles, an RFC 9162 consistency proof from ``a`` to ``b``;
5. only then writes the checkpoint, with the mirror's cosignature (tlog-cosignature/v1)
   added, and deletes the partial tiles that became full.

Each tile and bundle is written (atomically) once it is checked, so memory stays flat for
any catch-up; until step 5 they lie past the mirror's checkpoint and are not served. A
refused round deletes what it wrote; a round that dies leaves files the next one rewrites.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from evidence.ledger.tiles_layout import (
    ENTRIES,
    HASH_SIZE,
    TILE_WIDTH,
    TileId,
    decode_bundle,
    encode_bundle,
    level_count,
    tile_at,
    tile_path,
)
from evidence.ledger.tiles_store import CHECKPOINT
from evidence.mirror.errors import MirrorDamaged, MirrorRefused
from evidence.mirror.mirror_dir import Held, MirrorDir, Resume
from evidence.mirror.source import TileSource
from evidence.verify.checkpoint import (
    Checkpoint,
    MissingPostQuantum,
    cosign_checkpoint,
    verify_checkpoint_windowed,
)
from evidence.verify.errors import VerificationError
from evidence.verify.hashing import leaf_hash
from evidence.verify.log import LogBroken, check_entries
from evidence.verify.merkle import (
    CompactRange,
    consistency_proof,
    root,
    root_from_nodes,
    verify_consistency,
)
from evidence.verify.note import (
    ALG_ED25519,
    SIG_PREFIX,
    Signer,
    Verifier,
    add_signature_lines,
    open_note,
    parse_note,
)

__all__ = ["RoundResult", "cosigned_note", "log_key_for", "mirror_round"]

log = logging.getLogger("evidence.mirror")


@dataclass
class RoundResult:
    """What one round did."""

    origin: str
    size_before: int
    size: int
    root: str
    written: list[str] = field(default_factory=list)
    cosigned: bool = False
    fetched: int = 0

    def as_dict(self) -> dict[str, object]:
        return {"origin": self.origin, "size_before": self.size_before, "size": self.size,
                "root": self.root, "files_written": len(self.written),
                "cosigned": self.cosigned, "fetched": self.fetched}


PinnedKey = Verifier | tuple[Verifier, "tuple[int, int] | None"]
"""A pinned log key, alone (every size) or with its window of tree sizes (``#@ log-key``:
a key rotated out or revoked, docs/formats.md "Log key rotation"; ``#@ log-mldsa``: the
log's ML-DSA-44 key, required from its first size, docs/formats.md "ML-DSA-44 signatures")."""
Windowed = list[tuple[Verifier, "tuple[int, int] | None"]]


def log_keys_for(raw: bytes, keys: Sequence[PinnedKey]) -> Windowed:
    """Every pinned log key of the checkpoint's origin with its window: after a rotation
    the trust file pins the current key and the older ones, and the mirror follows the
    log from one to the next (tests/mirror/test_mirror_rotation.py)."""
    pinned = [(k, None) if isinstance(k, Verifier) else k for k in keys]
    first = log_key_for(raw, [v for v, _ in pinned])
    return [(v, w) for v, w in pinned if v.name == first.name]


def log_key_for(raw: bytes, keys: Sequence[Verifier]) -> Verifier:
    """The pinned log key whose name is the checkpoint's origin (C2SP: a log's key name
    is its origin); with one pinned key, that key (its check then names a wrong origin)."""
    if len(keys) == 1:
        return keys[0]
    try:
        origin = parse_note(raw).text.split("\n", 1)[0]
    except (VerificationError, ValueError) as e:
        raise MirrorRefused("bad-checkpoint", f"the log's checkpoint is not a signed note: "
                                              f"{e}") from None
    for k in keys:
        if k.name == origin:
            return k
    raise MirrorRefused("unknown-origin", f"the log's checkpoint is for {origin!r}, which no "
                                          "pinned log key names")


def cosigned_note(note: str, signer: Signer | None) -> str:
    """The note the mirror publishes: the log's, with any earlier signature of the mirror's
    name replaced by a fresh cosignature (c2sp.org/tlog-mirror: the checkpoint a mirror
    serves carries its cosignature)."""
    if signer is None:
        return note
    body, sigs = note.split("\n\n", 1)
    kept = [line + "\n" for line in sigs.splitlines()
            if not line.startswith(f"{SIG_PREFIX}{signer.name} ")]
    text = body + "\n"
    return add_signature_lines(text + "\n" + "".join(kept),
                               [cosign_checkpoint(text, signer)])


def _has_cosignature(note: str, signer: Signer) -> bool:
    try:
        opened = open_note(note, [signer.verifier()])
    except (VerificationError, ValueError):
        return False
    return any(v.key_id == signer.key_id for v in opened.verified)


def mirror_round(source: TileSource, mirror: MirrorDir, log_keys: Sequence[PinnedKey],
                 signer: Signer | None = None) -> RoundResult:
    """Bring ``mirror`` up to ``source``'s checkpoint. Raises :class:`MirrorRefused`
    (the log is inconsistent; nothing of it published), :class:`SourceUnavailable` or
    :class:`MirrorDamaged`."""
    fetched0 = source.fetched
    raw = source.checkpoint()
    keys = log_keys_for(raw, log_keys)
    known = [v for v, _ in keys if v.alg == ALG_ED25519]
    try:  # one rule for every verifier: windowed Ed25519 keys, a pinned ML-DSA-44 key
        new, log_key = verify_checkpoint_windowed(raw, keys)  # required from its first size
        new = new.checkpoint                                  # (test_mirror_mldsa.py)
    except (VerificationError, ValueError) as e:
        hint = "" if len(known) > 1 or isinstance(e, MissingPostQuantum) else (
            " (if the log rotated its key, give the mirror the operator's new trust file: "
            "it pins every key)")
        raise MirrorRefused("bad-signature", f"the log's checkpoint does not verify with the "
                                             f"pinned log key {keys[0][0].name}: {e}{hint}"
                            ) from None
    mirror.check_pin(new.origin, log_key, known)
    held = mirror.held(keys)
    a = held.checkpoint.size if held else 0
    b = new.size
    result = RoundResult(new.origin, a, b, new.root.hex())
    if b < a:
        raise MirrorRefused("checkpoint-backwards",
                            f"the log's checkpoint went backwards: it says size {b}, the "
                            f"mirror already holds size {a} signed by the same key")
    if held is not None and b == a:
        if held.checkpoint.root != new.root:
            raise MirrorRefused("fork", f"the log signed two roots for size {a}: "
                                        f"{new.root.hex()} now, {held.checkpoint.root.hex()} "
                                        "mirrored before (a fork: split view)")
        if signer is not None and not _has_cosignature(held.note, signer):
            mirror.store.put(CHECKPOINT, cosigned_note(held.note, signer).encode())
            result.cosigned = True
    else:
        if b > 0:
            _copy(source, mirror, held, new, result)
        mirror.store.put(CHECKPOINT, cosigned_note(raw.decode(), signer).encode())
        result.written.append(CHECKPOINT)
        result.cosigned = signer is not None
        _prune(mirror, a, b)
    mirror.pin(new.origin, log_key, source.base,
               None if signer is None else signer.verifier().to_string(), known)
    result.fetched = source.fetched - fetched0
    return result


def _copy(source: TileSource, mirror: MirrorDir, held: Held | None, new: Checkpoint,
          result: RoundResult) -> None:
    """Steps 2-4: write the checked tiles of ``[a, b)``; on any failure delete them."""
    a, b = result.size_before, new.size
    resume = mirror.resume(a)
    if held is not None and CompactRange(a, resume.position.edge).root() != held.checkpoint.root:
        raise MirrorDamaged(f"the mirror's own tiles at size {a} do not fold into the root "
                            f"of its checkpoint: {mirror.store.root} was altered")
    builder = _TileBuilder(source, mirror, b, resume, result)
    try:
        builder.check_history()
        try:
            check_entries(builder.entries(a), expected_roots={b: new.root},
                          start=resume.position)
        except LogBroken as e:
            if e.reason.startswith("tree root at size"):
                raise MirrorRefused(
                    "not-consistent",
                    f"the entries up to {b} (the {a} mirrored and the log's new ones) do not "
                    f"hash to the root the log signed for size {b}: the log's checkpoint is "
                    f"not an extension of the tree the mirror holds (its history before "
                    f"{a} changed, or its root is not its entries')") from None
            raise MirrorRefused("bad-entry", f"entry {e.index} breaks the log's rules: "
                                             f"{e.reason}") from None
        builder.finish()
        fetch = mirror.fetcher(b, builder.overlay)
        got = root_from_nodes(b, fetch)
        if got != new.root:  # the files written, read back, are what was checked
            raise MirrorDamaged(f"the tiles written for size {b} fold into {got.hex()}, not "
                                f"{new.root.hex()}")
        if held is not None and a > 0:
            proof = consistency_proof(a, b, fetch)
            try:
                verify_consistency(a, b, held.checkpoint.root, new.root, proof)
            except VerificationError as e:
                raise MirrorRefused("not-consistent",
                                    f"no consistency proof from the mirrored size {a} to the "
                                    f"log's {b}: {e}") from None
    except BaseException:
        for path in result.written:
            try:
                mirror.store.file(path).unlink(missing_ok=True)
            except OSError:
                log.warning("could not delete the pending %s", path)
        result.written.clear()
        raise


class _TileBuilder:
    """Computes the tiles of ``[a, b)`` level by level as entries arrive, compares each
    with the log's, and writes it."""

    def __init__(self, source: TileSource, mirror: MirrorDir, size: int, resume: Resume,
                 result: RoundResult) -> None:
        self.source, self.mirror, self.size = source, mirror, size
        self.result = result
        self.current: dict[int, list[bytes]] = {k: list(v) for k, v in resume.rightmost.items()}
        self.old_entries = resume.old_entries
        self.overlay: dict[str, bytes] = {}
        """The hash tiles written this round (the consistency proof reads them)."""
        self.fetched: dict[TileId, bytes] = {}
        """The log's tiles above level 0 read this round (1/256 of level 0's)."""

    def check_history(self) -> None:
        """Before any new entry: the log's tiles at ``b`` over the subtrees the mirror
        already holds (the rightmost tile of each level above 0 at ``a``) must have the
        mirror's hashes, else the log rewrote history it had published (level 0 is checked
        entry by entry against the mirror's bundle)."""
        for level, mine in sorted(self.current.items()):
            if level == 0:
                continue
            index = level_count(self.result.size_before, level) // TILE_WIDTH
            tile = tile_at(self.size, level, index)
            assert tile is not None  # the tree only grew
            self._compare(tile, mine)

    def entries(self, a: int) -> Iterator[bytes]:
        """The new entries ``[a, b)``, one bundle at a time, each bundle's hash tile checked
        before its entries are handed on; the tiles are written once the caller has
        checked every entry of the bundle (it asks for the next one)."""
        b = self.size
        for n in range(a // TILE_WIDTH, -(-b // TILE_WIDTH)):
            width = min(b - n * TILE_WIDTH, TILE_WIDTH)
            bundle_id, tile_id = TileId(ENTRIES, n, width), TileId(0, n, width)
            raw = self.source.tile(bundle_id)
            try:
                entries = list(decode_bundle(raw))
            except ValueError as e:
                raise MirrorRefused("bad-bundle", f"the log's {bundle_id.path}: {e}") from None
            if len(entries) != width:
                raise MirrorRefused("bad-bundle", f"the log's {bundle_id.path} holds "
                                                  f"{len(entries)} entries, not {width}")
            start = n * TILE_WIDTH
            old = self.old_entries if start < a else []
            for i, mine in enumerate(old):
                if entries[i] != mine:
                    raise MirrorRefused(
                        "rewritten-entry",
                        f"entry {start + i} in the log's {bundle_id.path} differs from the "
                        "copy the mirror holds: the log rewrote an entry it had published")
            leaves = [bytes(leaf_hash(e)) for e in entries]
            self._compare(tile_id, leaves, what="leaf", entries_path=bundle_id.path)
            yield from entries[len(old):]
            # every entry of this bundle passed the chain check: write it and its tile
            self._write(bundle_id, encode_bundle(entries))
            self._push(0, n, leaves)

    def _compare(self, tile: TileId, mine: list[bytes], *, what: str = "node",
                 entries_path: str | None = None) -> None:
        """The log's tile at ``tile.path`` must begin with ``mine``."""
        theirs = self.fetched.get(tile)
        if theirs is None:
            theirs = self.source.tile(tile)
            if tile.level > 0:  # read twice when history is checked; level 0 once
                self.fetched[tile] = theirs
        if len(theirs) != tile.width * HASH_SIZE:
            raise MirrorRefused("bad-tile", f"the log's {tile.path} is {len(theirs)} bytes, "
                                            f"not {tile.width * HASH_SIZE}")
        for i, h in enumerate(mine):
            if theirs[i * HASH_SIZE:(i + 1) * HASH_SIZE] != h:
                if entries_path is not None:
                    index = tile.index * TILE_WIDTH + i
                    raise MirrorRefused(
                        "tile-mismatch",
                        f"the log's {tile.path} does not match its leaves: hash {i} is not "
                        f"the leaf hash of entry {index} as {entries_path} has it")
                held = level_count(self.result.size_before, tile.level) - tile.index * TILE_WIDTH
                mirrored = i < held
                raise MirrorRefused(
                    "tile-mismatch" if not mirrored else "rewritten-history",
                    f"the log's {tile.path} does not match the tiles below it: hash {i} "
                    "differs from the one the mirror computed"
                    + (" from the entries it mirrored before (the log's history changed)"
                       if mirrored else ""))

    def _push(self, level: int, index: int, hashes: list[bytes]) -> None:
        """Level ``level``'s tile ``index`` now holds ``hashes`` at size ``b``."""
        tile = TileId(level, index, len(hashes))
        if level > 0:
            self._compare(tile, hashes)
        data = b"".join(hashes)
        self._write(tile, data)
        self.overlay[tile.path] = data
        if len(hashes) == TILE_WIDTH:  # full: one more hash one tile-level up
            self.current.pop(level, None)
            up = self.current.setdefault(level + 1, [])
            up.append(bytes(root(hashes)))
            if len(up) == TILE_WIDTH:
                self._push(level + 1, index // TILE_WIDTH, up)
        else:
            self.current[level] = hashes

    def finish(self) -> None:
        """Write the partial tiles of the levels above 0 at size ``b`` (level 0's partial
        went with its bundle)."""
        level = 1
        while level_count(self.size, level) > 0:
            count = level_count(self.size, level)
            if count % TILE_WIDTH:
                hashes = self.current.get(level, [])
                if len(hashes) != count % TILE_WIDTH:
                    raise MirrorDamaged(f"level {level} has {len(hashes)} hashes at size "
                                        f"{self.size}, not {count % TILE_WIDTH}")
                tile = TileId(level, count // TILE_WIDTH, len(hashes))
                self._compare(tile, hashes)
                data = b"".join(hashes)
                self._write(tile, data)
                self.overlay[tile.path] = data
            level += 1

    def _write(self, tile: TileId, data: bytes) -> None:
        if self.mirror.store.get(tile.path) == data:
            return
        self.mirror.store.put(tile.path, data, tile)
        self.result.written.append(tile.path)


def _prune(mirror: MirrorDir, a: int, b: int) -> None:
    """Delete the partial tiles (and bundles) of every tile partial at ``a`` and full at
    ``b`` (the server answers them from the full tile, as the spec allows)."""
    level = 0
    while level_count(a, level) > 0:
        count_a = level_count(a, level)
        n = count_a // TILE_WIDTH
        if count_a % TILE_WIDTH and tile_at(b, level, n) == TileId(level, n):
            for lvl in ((level, ENTRIES) if level == 0 else (level,)):
                mirror.store.delete_prefix(tile_path(lvl, n) + ".p")
        level += 1
