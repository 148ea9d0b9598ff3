"""Every shard's tiles read by Go's tlog tile client (golang.org/x/mod/sumdb/tlog, driven
by tests/interop/go/tiles_client.go) through ``evidence serve``: three shards (SQLite and
PostgreSQL; each final checkpoint timestamped by the local OpenSSL TSA and cosigned by a
served witness). Each frozen shard's tiles, published by the shard command in its own tile
store, are read under ``/v1/shards/<n>/tlog/`` up to its final checkpoint with that
shard's key (every tile authenticated against the root, every entry hashed and proven),
with immutable cache headers; the active shard's tiles, written by the follower under
``shards/<n>/`` of the store, under ``/tlog/`` and ``/v1/shards/<n>/tlog/``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from evidence.ledger.log import Ledger
from evidence.ledger.shards import open_frozen, read_registry
from evidence.ledger.tiles_store import IMMUTABLE
from tests.support.api_server import World, start_server
from tests.support.shard_world import ShardWorld, shard_world
from tests.support.tiles_go import entries_digest, run_client

pytestmark = pytest.mark.tsa
ORIGINS = ("tiles-shards.example/1", "tiles-shards.example/2", "tiles-shards.example/3")


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def world(request, tmp_path: Path, tsa) -> Iterator[ShardWorld]:  # type: ignore[no-untyped-def]
    cluster = request.getfixturevalue("pg_cluster") if request.param == "pg" else None
    made: list[str] = []

    def new_db() -> str | None:
        if cluster is None:
            return None
        made.append(cluster.create_database("tshard"))
        return made[-1]

    yield from shard_world(tmp_path, tsa, new_db(), new_db, ORIGINS[0])
    for url in made:
        assert cluster is not None
        cluster.drop_database(url)


def _size(note: str) -> int:
    return int(note.split("\n")[1])


def test_go_reads_the_tiles_of_every_shard(go_client: Path, world: ShardWorld,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVIDENCE_TILES_PAUSE", "0.1")
    d = world.dir
    with Ledger.open(d) as led:  # more than a full tile: full and partial tiles
        led.append_many([("custody.note", {"i": i, "pad": "x" * (i % 7)}) for i in range(300)])
    world.shard(ORIGINS[1])
    with Ledger.open(d) as led:
        led.append_many([("custody.note", {"i": i}) for i in range(40)])
    world.shard(ORIGINS[2])
    with Ledger.open(d) as led:
        led.append_many([("custody.note", {"i": i}) for i in range(5)])
        active = led.sign_checkpoint_now()
        active_key = led.verifier_key
    reg = read_registry(d)

    srv = start_server(World(d, None), "--no-anchor")
    try:
        for s in reg.frozen:
            base = f"{srv.base}/v1/shards/{s.n}/tlog/"
            r = run_client(go_client, base, s.key)
            assert r.returncode == 0, r.stderr
            out = json.loads(r.stdout)
            assert out["size"] == s.final_size and out["root"] == s.final_root
            assert out["proofs_checked"] == s.final_size
            with open_frozen(d, s.n) as old:
                assert out["entries_digest"] == entries_digest(old, s.final_size)
            with httpx.Client(base_url=base) as c:
                cp = c.get("checkpoint")
                assert cp.status_code == 200 and cp.headers["cache-control"] == IMMUTABLE
                assert cp.text.startswith(s.origin + "\n") and _size(cp.text) == s.final_size
                last = (s.final_size - 1) // 256  # the rightmost (partial) level-0 tile
                tile = c.get(f"tile/0/{last:03d}.p/{s.final_size - 256 * last}")
                assert tile.status_code == 200 and tile.headers["cache-control"] == IMMUTABLE
                assert c.get(f"tile/0/{last + 1:03d}").json()["code"] == "tile-not-in-tree"
                assert c.get("tile/0/x").json()["code"] == "bad-tile-path"
            # another shard's key does not verify this shard's tiles
            other = reg.frozen[s.n % len(reg.frozen)].key
            assert run_client(go_client, base, other).returncode == 1
        assert httpx.get(f"{srv.base}/v1/shards/9/tlog/checkpoint").json()[
            "code"] == "unknown-shard"

        # the active shard: its own tiles (shards/3/ of the store), under both prefixes
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            cp = httpx.get(f"{srv.base}/tlog/checkpoint")
            if cp.status_code == 200 and _size(cp.text) >= active.size:
                break
            time.sleep(0.2)
        assert cp.status_code == 200 and cp.text.startswith(ORIGINS[2] + "\n"), cp.text
        assert (d / "tlog" / "shards" / "3" / "checkpoint").is_file()
        for base in (f"{srv.base}/tlog/", f"{srv.base}/v1/shards/3/tlog/"):
            r = run_client(go_client, base, active_key)
            assert r.returncode == 0, r.stderr
            assert json.loads(r.stdout)["size"] >= active.size
    finally:
        srv.stop()
