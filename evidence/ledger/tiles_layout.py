"""C2SP tlog-tiles: the names and byte layouts of tiles and entry bundles (c2sp.org/tlog-tiles).

A tile is 256 consecutive Merkle Tree Hashes of one level (32 bytes each, no framing):
tile ``N`` at level ``L`` holds the hashes of the perfect subtrees of height ``8L`` at
indexes ``N*256 .. N*256+255`` (level 0: the leaf hashes). The rightmost tile of a level
is partial (1..255 hashes, named with ``.p/<W>``) until it fills. An entry bundle
``tile/entries/<N>`` holds the entries of level-0 tile ``N``, each as a big-endian uint16
length and the exact entry bytes that were hashed (``SHA-256(0x00 || bytes)`` is the tile's
hash at the same position).

Paths are the spec's exactly (``tile/<L>/<N>[.p/<W>]``, ``N`` in 3-digit groups, all but
the last prefixed ``x``), so a directory of them is served unchanged by any static file
server. :func:`parse_tile_path` accepts exactly the paths :func:`tile_path` writes; anything
else is a :class:`TilePathError` saying what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = ["ENTRIES", "HASH_SIZE", "MAX_BUNDLE_ENTRY", "MAX_LEVEL", "TILE_HEIGHT", "TILE_WIDTH",
           "TileId", "TilePathError", "decode_bundle", "encode_bundle", "encode_index",
           "level_count", "parse_tile_path", "tile_at", "tile_path"]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
"""Hashes (or entries) in a full tile."""
HASH_SIZE = 32
MAX_LEVEL = 63
"""The spec's highest level (``L`` is 0..63)."""
MAX_BUNDLE_ENTRY = 0xFFFF
"""An entry bundle's length prefix is a uint16: a longer entry cannot be put in one."""
ENTRIES = -1
"""The ``level`` of an entry bundle (its path says ``entries`` where a tile's says ``L``)."""

_GROUP = re.compile(r"(x\d{3}/)*\d{3}")


class TilePathError(ValueError):
    """A path that is not a tile or entry bundle path of the spec; the message says why."""


@dataclass(frozen=True, order=True)
class TileId:
    """One tile: ``level`` (0..63, or :data:`ENTRIES` for an entry bundle), ``index``
    within the level, ``width`` (1..256; 256 is a full tile)."""

    level: int
    index: int
    width: int = TILE_WIDTH

    @property
    def full(self) -> bool:
        return self.width == TILE_WIDTH

    @property
    def path(self) -> str:
        return tile_path(self.level, self.index, self.width)

    def as_full(self) -> TileId:
        return TileId(self.level, self.index)


def encode_index(n: int) -> str:
    """``1234067`` -> ``x001/x234/067``: 3-digit groups, all but the last prefixed ``x``
    (at most 1000 names of each kind in a directory, none both a file and a directory)."""
    if n < 0:
        raise ValueError(f"tile index {n} is negative")
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """The spec's path of a tile (``tile/0/x001/234``) or, for :data:`ENTRIES`, of an
    entry bundle (``tile/entries/001.p/17``)."""
    if not 1 <= width <= TILE_WIDTH:
        raise ValueError(f"tile width {width} is not 1..{TILE_WIDTH}")
    if not (level == ENTRIES or 0 <= level <= MAX_LEVEL):
        raise ValueError(f"tile level {level} is not 0..{MAX_LEVEL}")
    name = "entries" if level == ENTRIES else str(level)
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/{name}/{encode_index(index)}{suffix}"


def parse_tile_path(path: str) -> TileId:
    """The tile a path names (``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]``,
    without a leading slash). Refuses, naming the fault, every path that is not exactly
    what :func:`tile_path` writes: leading zeroes in ``L`` or ``W``, a width of 0 or 256,
    a group without its ``x``, a level above 63, a trailing slash."""
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "tile":
        raise TilePathError(f"{path!r} is not tile/<L>/<N>[.p/<W>] nor "
                            "tile/entries/<N>[.p/<W>]")
    name = parts[1]
    if name == "entries":
        level = ENTRIES
    elif name.isascii() and name.isdigit() and (name == "0" or not name.startswith("0")):
        level = int(name)
        if level > MAX_LEVEL:
            raise TilePathError(f"tile level {level} is above {MAX_LEVEL}")
    else:
        raise TilePathError(f"tile level {name!r} is not a decimal number 0..{MAX_LEVEL} "
                            "without leading zeroes, nor 'entries'")
    rest = parts[2:]
    width = TILE_WIDTH
    if len(rest) >= 2 and rest[-2].endswith(".p"):
        w = rest[-1]
        if not (w.isascii() and w.isdigit() and not w.startswith("0")
                and 1 <= int(w) < TILE_WIDTH):
            raise TilePathError(f"partial tile width {w!r} is not a decimal number "
                                f"1..{TILE_WIDTH - 1} without leading zeroes")
        width = int(w)
        rest = [*rest[:-2], rest[-2][:-2]]
    digits = "/".join(rest)
    if not digits.isascii() or not _GROUP.fullmatch(digits):
        raise TilePathError(f"tile index {digits!r} is not 3-digit groups, all but the last "
                            "prefixed with 'x' (e.g. x001/x234/067)")
    index = int(digits.replace("x", "").replace("/", ""))
    if encode_index(index) != digits:  # x000/001: a leading zero group
        raise TilePathError(f"tile index {digits!r} has a leading zero group "
                            f"(write {encode_index(index)!r})")
    return TileId(level, index, width)


def level_count(size: int, level: int) -> int:
    """How many hashes level ``level`` of the tiles has in a tree of ``size`` entries
    (entry bundles: level 0's)."""
    return size >> (TILE_HEIGHT * max(level, 0))


def tile_at(size: int, level: int, index: int) -> TileId | None:
    """Tile ``index`` of ``level`` as it is in a tree of ``size`` entries (full, or the
    partial rightmost one), or None if the tree has no hash of it."""
    width = min(level_count(size, level) - index * TILE_WIDTH, TILE_WIDTH)
    return TileId(level, index, width) if width > 0 else None


def encode_bundle(entries: Sequence[bytes]) -> bytes:
    """An entry bundle: each entry as a big-endian uint16 length and its bytes."""
    out = bytearray()
    for e in entries:
        if len(e) > MAX_BUNDLE_ENTRY:
            raise ValueError(f"an entry of {len(e)} bytes does not fit an entry bundle "
                             f"(at most {MAX_BUNDLE_ENTRY})")
        out += len(e).to_bytes(2, "big")
        out += e
    return bytes(out)


def decode_bundle(data: bytes) -> Iterator[bytes]:
    """The entries of a bundle, in order; a truncated bundle raises :class:`ValueError`."""
    pos, end = 0, len(data)
    while pos < end:
        if pos + 2 > end:
            raise ValueError(f"entry bundle ends inside a length prefix at byte {pos}")
        n = int.from_bytes(data[pos:pos + 2], "big")
        if pos + 2 + n > end:
            raise ValueError(f"entry bundle ends inside the entry at byte {pos}")
        yield data[pos + 2:pos + 2 + n]
        pos += 2 + n
