"""C2SP tlog-tiles paths against other people's vectors (``../shared/vectors/tlog-tiles``,
from Tessera's ``api/layout`` tests and the C2SP text): every tile and entry-bundle path
:func:`tile_path` writes, :func:`parse_tile_path` reads back, the bundle holding an entry
of a log of a given size, and the tiles a tree of a given size has. Skipped, naming the
folder, when the vectors are absent."""

from __future__ import annotations

import re
from typing import Any

import pytest

from evidence.ledger.tiles_layout import (
    ENTRIES,
    MAX_LEVEL,
    TILE_HEIGHT,
    TILE_WIDTH,
    TileId,
    parse_tile_path,
    tile_at,
    tile_path,
)
from tests.support.vectors import load_json


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    return load_json("tlog-tiles", "tile_path_vectors.json")


def test_tile_paths(vectors: dict[str, Any]) -> None:
    cases = vectors["tile_paths"]
    assert cases
    for c in cases:
        width = c.get("width", TILE_WIDTH)
        assert tile_path(c["level"], c["index"], width) == c["path"], c
        assert parse_tile_path(c["path"]) == TileId(c["level"], c["index"], width), c


def test_entry_bundle_paths(vectors: dict[str, Any]) -> None:
    cases = vectors["entries_paths"]
    assert cases
    for c in cases:
        width = c.get("width", TILE_WIDTH)
        assert tile_path(ENTRIES, c["index"], width) == c["path"], c
        assert parse_tile_path(c["path"]) == TileId(ENTRIES, c["index"], width), c


def test_the_bundle_of_an_entry(vectors: dict[str, Any]) -> None:
    """Tessera's EntriesPathForLogIndex: the bundle (full, or the partial rightmost one)
    that holds entry ``seq`` of a log of ``log_size`` entries."""
    cases = vectors["entries_path_for_log_index"]
    assert cases
    for c in cases:
        tile = tile_at(c["log_size"], ENTRIES, c["seq"] >> TILE_HEIGHT)
        assert tile is not None and tile.path == c["path"], c


def _tiles(size: int) -> dict[int, tuple[int, list[int]]]:
    """Per level: how many full tiles, and the widths of the partial ones."""
    out: dict[int, tuple[int, list[int]]] = {}
    for level in range(MAX_LEVEL + 1):
        tiles = []
        index = 0
        while (t := tile_at(size, level, index)) is not None:
            tiles.append(t)
            index += 1
        if not tiles:
            break
        out[level] = (sum(t.full for t in tiles), [t.width for t in tiles if not t.full])
    return out


_WORDS = {"one": 1}


def _expected(text: str) -> dict[int, tuple[int, list[int]]]:
    """The C2SP text's description ("273 full level-0 tiles, one partial level-0 tile of
    width 112, ...") as :func:`_tiles` gives it."""
    out: dict[int, tuple[int, list[int]]] = {}
    for part in text.split(","):
        part = part.strip().removeprefix("and ")
        m = re.fullmatch(r"(\d+|one) (full|partial) level-(\d+) tiles?(?: of width (\d+))?",
                         part)
        assert m, part
        count = _WORDS.get(m[1]) or int(m[1])
        full, partial = out.get(int(m[3]), (0, []))
        if m[2] == "full":
            full += count
        else:
            partial = [*partial, *[int(m[4])] * count]
        out[int(m[3])] = (full, partial)
    return out


def test_the_tiles_of_a_tree(vectors: dict[str, Any]) -> None:
    cases = vectors["c2sp_tree_shape_examples"]
    assert cases
    for c in cases:
        text = c["expect"].replace(" and a ", ", one ")
        assert _tiles(c["tree_size"]) == _expected(text), c
