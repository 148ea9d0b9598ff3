"""The tiles follower (evidence/ledger/tiles.py) against real ledgers (SQLite and
PostgreSQL) and real stores (a directory; SeaweedFS for S3): every tile equals the spec's
formula over the log's leaf hashes, every bundle carries the exact entry bytes, partial
tiles are pruned once full, a follower that dies half-way converges, and nothing wrong
is ever written (a damaged tree, a damaged entry, another log's tiles are refused)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import update

from evidence.ledger.db.engine import write_transaction
from evidence.ledger.db.schema import entries as entries_table
from evidence.ledger.db.schema import nodes as nodes_table
from evidence.ledger.log import Ledger
from evidence.ledger.tiles import TilesError, sync_tiles
from evidence.ledger.tiles_layout import (
    ENTRIES,
    TILE_WIDTH,
    TileId,
    TilePathError,
    decode_bundle,
    encode_index,
    parse_tile_path,
    tile_at,
    tile_path,
)
from evidence.ledger.tiles_store import FilesystemTileStore, S3TileStore, open_tile_store
from evidence.verify.merkle import root
from tests.support.processes import child_env

Factory = Callable[..., Ledger]


# --- paths ---------------------------------------------------------------------------

@pytest.mark.parametrize(("n", "text"), [(0, "000"), (7, "007"), (999, "999"),
                                         (1000, "x001/000"), (1234067, "x001/x234/067"),
                                         (10**9, "x001/x000/x000/000")])
def test_index_groups(n: int, text: str) -> None:
    assert encode_index(n) == text
    assert parse_tile_path(f"tile/3/{text}") == TileId(3, n)
    assert parse_tile_path(f"tile/entries/{text}.p/9") == TileId(ENTRIES, n, 9)


@pytest.mark.parametrize("path", [
    "tile/0", "tile/0/", "tile/0/000/", "/tile/0/000", "tiles/0/000", "tile/00/000",
    "tile/-1/000", "tile/64/000", "tile/x/000", "tile/data/000", "tile/0/1", "tile/0/0000",
    "tile/0/x000/001", "tile/0/001/x234", "tile/0/x1/000", "tile/0/000.p/0",
    "tile/0/000.p/256", "tile/0/000.p/07", "tile/0/000.p/", "tile/0/000.p", "tile/0/000.q/3",
    "tile/0/000.p/3/4", "tile/entries/x000", "tile/0/٠٠٠", "tile/0/../000",
])
def test_malformed_paths_are_refused(path: str) -> None:
    with pytest.raises(TilePathError):
        parse_tile_path(path)


def test_paths_round_trip() -> None:
    for level in (ENTRIES, 0, 1, 63):
        for n in (0, 5, 999, 1000, 123456789):
            for w in (1, 17, 255, 256):
                t = TileId(level, n, w)
                assert parse_tile_path(tile_path(level, n, w)) == t


def test_widths_follow_the_spec_example() -> None:
    """c2sp.org/tlog-tiles: a tree of 70,000 has 273 full level-0 tiles and a partial one
    of 112, one full level-1 tile and a partial one of 17, a partial level-2 tile of 1."""
    assert tile_at(70000, 0, 272) == TileId(0, 272)
    assert tile_at(70000, 0, 273) == TileId(0, 273, 112)
    assert tile_at(70000, 0, 274) is None
    assert tile_at(70000, 1, 0) == TileId(1, 0)
    assert tile_at(70000, 1, 1) == TileId(1, 1, 17)
    assert tile_at(70000, 2, 0) == TileId(2, 0, 1)
    assert tile_at(70000, 3, 0) is None
    assert tile_at(256, 1, 0) == TileId(1, 0, 1)


# --- helpers -------------------------------------------------------------------------

def expected_tile(leaves: list[bytes], level: int, n: int, width: int) -> bytes:
    """The spec's formula: hash i of tile n at level l is
    MTH(D[(n*256+i)*256**l : (n*256+i+1)*256**l]), computed from the leaf hashes alone."""
    span = TILE_WIDTH ** level
    return b"".join(root(leaves[(n * TILE_WIDTH + i) * span:(n * TILE_WIDTH + i + 1) * span])
                    for i in range(width))


def check_store(led: Ledger, store: FilesystemTileStore, size: int) -> None:
    """Every tile of the tree of ``size`` is in the store as the spec says (a partial one
    may have been pruned only if its full tile is there), and so is every entry."""
    all_entries = list(led.entries(0, size))
    leaves = [bytes(e.leaf_hash) for e in all_entries]
    level = 0
    while size >> (8 * level):
        count = size >> (8 * level)
        for n in range(-(-count // TILE_WIDTH)):
            t = tile_at(size, level, n)
            assert t is not None
            data = store.get(t.path)
            assert data == expected_tile(leaves, level, n, t.width), t.path
            if level == 0:
                bundle = store.get(tile_path(ENTRIES, n, t.width))
                assert bundle is not None
                got = list(decode_bundle(bundle))
                assert got == [e.data for e in all_entries[n * TILE_WIDTH:
                                                            n * TILE_WIDTH + t.width]]
            if t.full:  # its partials are gone
                assert not store.file(t.path + ".p").exists(), t.path
        level += 1


def notes(led: Ledger, n: int, start: int = 0) -> None:
    for i in range(start, start + n, 5000):
        led.append_many([("custody.note", {"i": j}) for j in range(i, min(start + n, i + 5000))])


# --- the follower --------------------------------------------------------------------

def test_tiles_follow_the_log(make_ledger: Factory, tmp_path: Path) -> None:
    led = make_ledger(checkpoint_interval=3600)
    store = FilesystemTileStore(tmp_path / "tlog")
    assert sync_tiles(led, store).size == 0 and store.get("checkpoint") is None
    done = 0
    for grow in (1, 254, 1, 300, 3 * 256, 17, 0):
        notes(led, grow, done)
        done += grow
        cp = led.sign_checkpoint_now()
        r = sync_tiles(led, store)
        assert r.size == cp.size == done
        assert store.get("checkpoint") == cp.note.encode()
        check_store(led, store, done)
    assert done % TILE_WIDTH  # the last tile is partial, and there:
    assert (tmp_path / "tlog" / tile_path(0, done // TILE_WIDTH, done % TILE_WIDTH)).is_file()
    assert not (tmp_path / "tlog" / "tile" / "0" / "000.p").exists()
    # a round with nothing new writes nothing
    again = sync_tiles(led, store)
    assert again.written == [] and again.size == done


def test_an_older_checkpoint_is_already_covered(make_ledger: Factory, tmp_path: Path
                                                ) -> None:
    led = make_ledger(checkpoint_interval=3600)
    store = FilesystemTileStore(tmp_path / "tlog")
    notes(led, 10)
    old = led.sign_checkpoint_now()
    notes(led, 10, 10)
    sync_tiles(led, store)
    r = sync_tiles(led, store, checkpoint=old)
    assert r.written == [] and store.get("checkpoint") == led.latest_checkpoint().note.encode()


@pytest.mark.slow
def test_three_levels(tmp_path: Path) -> None:
    """Past 65,536 entries: full level-1 tiles and a partial level-2 tile."""
    led = Ledger.create(tmp_path / "data", "three.example/log", checkpoint_interval=3600)
    try:
        store = FilesystemTileStore(tmp_path / "tlog")
        notes(led, 300)
        led.sign_checkpoint_now()
        sync_tiles(led, store)
        notes(led, 70000 - 300, 300)
        led.sign_checkpoint_now()
        r = sync_tiles(led, store)
        assert r.size == 70000
        check_store(led, store, 70000)
        assert store.get("tile/2/000.p/1") is not None and store.get("tile/1/000") is not None
    finally:
        led.close()


class FailingStore(FilesystemTileStore):
    """A real directory store whose puts stop working after ``allowed`` of them (a disk
    that fills, a network that drops): what a follower that dies half-way leaves."""

    def __init__(self, root: Path, allowed: int) -> None:
        super().__init__(root)
        self.allowed = allowed

    def put(self, path, data, tile=None):  # type: ignore[no-untyped-def]
        if self.allowed <= 0:
            raise OSError("no space left on device (test)")
        self.allowed -= 1
        super().put(path, data, tile)


@pytest.mark.parametrize("allowed", [0, 1, 2, 5, 7])  # 7: all but the checkpoint
def test_a_round_that_dies_half_way_converges(make_ledger: Factory, tmp_path: Path,
                                              allowed: int) -> None:
    led = make_ledger(checkpoint_interval=3600)
    notes(led, 300)
    first = led.sign_checkpoint_now()
    sync_tiles(led, FilesystemTileStore(tmp_path / "tlog"))
    notes(led, 600, 300)
    led.sign_checkpoint_now()
    with pytest.raises(OSError):
        sync_tiles(led, FailingStore(tmp_path / "tlog", allowed))
    store = FilesystemTileStore(tmp_path / "tlog")
    # not published until every tile it needs is there
    assert store.get("checkpoint") == first.note.encode()
    r = sync_tiles(led, store)
    assert r.size == 900
    check_store(led, store, 900)


@pytest.mark.slow
def test_a_killed_follower_converges(tmp_path: Path) -> None:
    """SIGKILL while catching up a long log; the next follower finishes the job."""
    led = Ledger.create(tmp_path / "data", "killed.example/log", checkpoint_interval=3600)
    notes(led, 40000)
    led.sign_checkpoint_now()
    led.close()
    code = textwrap.dedent("""
        import sys
        from evidence.ledger.log import Ledger
        from evidence.ledger.tiles import sync_tiles
        from evidence.ledger.tiles_store import FilesystemTileStore
        sync_tiles(Ledger.open(sys.argv[1]), FilesystemTileStore(sys.argv[2]))
    """)
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "data"),
                              str(tmp_path / "tlog")], env=child_env())
    bundles = tmp_path / "tlog" / "tile" / "entries"
    deadline = time.monotonic() + 120
    while child.poll() is None and time.monotonic() < deadline:
        if bundles.is_dir() and len(list(bundles.iterdir())) >= 40:
            break
        time.sleep(0.01)
    child.kill()
    child.wait()
    store = FilesystemTileStore(tmp_path / "tlog")
    assert store.get("checkpoint") is None, "killed before the end: nothing published"
    led = Ledger.open(tmp_path / "data")
    try:
        assert sync_tiles(led, store).size == 40000
        check_store(led, store, 40000)
    finally:
        led.close()


# --- nothing wrong is written ----------------------------------------------------------

def test_other_bytes_under_a_path_are_not_overwritten(make_ledger: Factory,
                                                      tmp_path: Path) -> None:
    led = make_ledger(checkpoint_interval=3600)
    store = FilesystemTileStore(tmp_path / "tlog")
    notes(led, 300)
    first = led.sign_checkpoint_now()
    sync_tiles(led, store)
    notes(led, 300, 300)
    led.sign_checkpoint_now()
    store.put("tile/0/001", b"\x00" * 8192)  # left by something else
    with pytest.raises(TilesError, match=r"tile/0/001 .* refusing to overwrite"):
        sync_tiles(led, store)
    assert store.get("tile/0/001") == b"\x00" * 8192
    assert store.get("checkpoint") == first.note.encode()


def test_another_logs_store_is_refused(make_ledger: Factory, tmp_path: Path) -> None:
    mine, theirs = make_ledger("mine.example/log"), make_ledger("theirs.example/log")
    store = FilesystemTileStore(tmp_path / "tlog")
    notes(theirs, 3)
    theirs.sign_checkpoint_now()
    sync_tiles(theirs, store)
    notes(mine, 3)
    mine.sign_checkpoint_now()
    with pytest.raises(TilesError, match="not this log's"):
        sync_tiles(mine, store)


def test_a_damaged_stored_node_is_caught(make_ledger: Factory, tmp_path: Path) -> None:
    led = make_ledger(checkpoint_interval=3600)
    store = FilesystemTileStore(tmp_path / "tlog")
    notes(led, 600)
    led.sign_checkpoint_now()
    with write_transaction(led.engine) as conn:  # the level-8 node over entries 256..511
        conn.execute(update(nodes_table).where(nodes_table.c.level == 8,
                                               nodes_table.c.idx == 1)
                     .values(hash=b"\x01" * 32))
    with pytest.raises(TilesError, match="tile/0/001 does not hash to the stored node"):
        sync_tiles(led, store)
    assert store.get("checkpoint") is None and store.get("tile/0/001") is None


def test_a_damaged_partial_tile_node_is_caught_by_the_root(make_ledger: Factory,
                                                           tmp_path: Path) -> None:
    led = make_ledger(checkpoint_interval=3600)
    store = FilesystemTileStore(tmp_path / "tlog")
    notes(led, 600)
    led.sign_checkpoint_now()
    with write_transaction(led.engine) as conn:  # a level-8 node only a partial tile holds
        conn.execute(update(nodes_table).where(nodes_table.c.level == 8,
                                               nodes_table.c.idx == 0)
                     .values(hash=b"\x02" * 32))
    with pytest.raises(TilesError):
        sync_tiles(led, store)
    assert store.get("checkpoint") is None


def test_a_damaged_entry_is_caught(make_ledger: Factory, tmp_path: Path) -> None:
    led = make_ledger(checkpoint_interval=3600)
    store = FilesystemTileStore(tmp_path / "tlog")
    notes(led, 20)
    led.sign_checkpoint_now()
    with write_transaction(led.engine) as conn:
        data = conn.execute(entries_table.select().where(entries_table.c.seq == 7)).one().data
        conn.execute(update(entries_table).where(entries_table.c.seq == 7)
                     .values(data=bytes(data).replace(b'"i":7', b'"i":8')))
    with pytest.raises(TilesError, match="entry 7's bytes do not hash"):
        sync_tiles(led, store)
    assert store.get("checkpoint") is None and store.get("tile/entries/000.p/20") is None


def test_an_entry_too_long_for_a_bundle(make_ledger: Factory, tmp_path: Path) -> None:
    """The spec's uint16 length cannot say more than 65,535 bytes: the hash tile is
    written (proofs still work), the bundle is not, and the round says which entry."""
    led = make_ledger(checkpoint_interval=3600)
    store = FilesystemTileStore(tmp_path / "tlog")
    notes(led, 2)
    led.append("custody.note", {"text": "x" * 70000})
    led.sign_checkpoint_now()
    r = sync_tiles(led, store)
    assert r.oversized == [2]
    assert store.get("tile/0/000.p/3") is not None
    assert store.get("tile/entries/000.p/3") is None
    assert store.get("checkpoint") is not None


def test_store_specs(tmp_path: Path) -> None:
    assert open_tile_store("off", tmp_path) is None
    fs = open_tile_store("tlog", tmp_path)
    assert isinstance(fs, FilesystemTileStore) and fs.root == tmp_path / "tlog"
    s3 = open_tile_store("s3://bucket/some/prefix?endpoint=http://127.0.0.1:1", tmp_path)
    assert isinstance(s3, S3TileStore) and s3.prefix == "some/prefix/"
    for bad in ("s3://user:pw@bucket/x", "ftp://host/x"):
        with pytest.raises(ValueError):
            open_tile_store(bad, tmp_path)
    with pytest.raises(ValueError):
        fs.get("../escape")


@pytest.mark.s3
def test_tiles_in_s3(make_ledger: Factory, tmp_path: Path, s3_endpoint, s3_bucket: str
                     ) -> None:
    """The same objects in a bucket as in a directory, each with its cache headers; the
    partials of a filled tile are deleted there too."""
    led = make_ledger(checkpoint_interval=3600)
    s3 = S3TileStore(s3_bucket, prefix="logs/one", client=s3_endpoint.client())
    fs = FilesystemTileStore(tmp_path / "tlog")
    notes(led, 300)
    led.sign_checkpoint_now()
    sync_tiles(led, s3)
    sync_tiles(led, fs)
    assert s3.get("tile/0/001.p/44") is not None
    notes(led, 300, 300)
    led.sign_checkpoint_now()
    assert sync_tiles(led, s3).pruned == 2  # tile/0/001.p/44 and its bundle
    sync_tiles(led, fs)
    for path in ("checkpoint", "tile/0/000", "tile/0/001", "tile/0/002.p/88",
                 "tile/entries/001", "tile/entries/002.p/88", "tile/1/000.p/2"):
        assert s3.get(path) == fs.get(path) is not None, path
    assert s3.get("tile/0/001.p/44") is None
    client = s3_endpoint.client()
    head = client.head_object(Bucket=s3_bucket, Key="logs/one/tile/0/001")
    assert head["CacheControl"] == "public, max-age=31536000, immutable"
    assert head["ContentType"] == "application/octet-stream"
    head = client.head_object(Bucket=s3_bucket, Key="logs/one/checkpoint")
    assert head["CacheControl"] == "public, max-age=5"
