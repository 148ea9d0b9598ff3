"""The log's tiles read by a client nobody here wrote: Go's golang.org/x/mod/sumdb/tlog
tile reader and sumdb/note (Debian's golang-golang-x-mod-dev), driven by
tests/interop/go/tiles_client.go. It verifies the checkpoint's signature, authenticates
every tile it reads against the checkpoint's root, hashes each entry of the bundles itself
and checks an inclusion proof for each, and a consistency proof from an older checkpoint;
over a plain static file server (``python -m http.server`` on the tile directory) and over
``evidence serve``'s ``/tlog/``. A tampered tile or bundle makes it fail."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx
import pytest

from evidence.ledger.log import Ledger
from evidence.ledger.tiles import sync_tiles
from evidence.ledger.tiles_store import FilesystemTileStore
from tests.support.api_server import make_world, problem, start_server, submit
from tests.support.tiles_go import entries_digest, run_client


def test_go_reads_the_tiles_from_a_static_server(go_client: Path, static_server,
                                                 tmp_path: Path) -> None:
    led = Ledger.create(tmp_path / "data", "tiles-go.example/log", checkpoint_interval=3600)
    try:
        store = FilesystemTileStore(tmp_path / "tlog")
        led.append_many([("custody.note", {"i": i}) for i in range(300)])
        old = led.sign_checkpoint_now()
        sync_tiles(led, store)
        (tmp_path / "old-checkpoint").write_text(old.note)
        led.append_many([("custody.note", {"i": i, "pad": "x" * i}) for i in range(300, 813)])
        cp = led.sign_checkpoint_now()
        sync_tiles(led, store)
        base = static_server(tmp_path / "tlog")
        r = run_client(go_client, base, led.verifier_key, tmp_path / "old-checkpoint")
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["size"] == cp.size == 813 and out["root"] == cp.root.hex()
        assert out["proofs_checked"] == 813 and out["consistent_from"] == 300
        assert out["entries_digest"] == entries_digest(led, 813)

        # a checkpoint signed by another key is refused
        other = Ledger.create(tmp_path / "other", "tiles-go.example/log")
        try:
            bad = run_client(go_client, base, other.verifier_key)
        finally:
            other.close()
        assert bad.returncode == 1 and "checkpoint signature" in bad.stderr
    finally:
        led.close()


def test_go_refuses_tampered_tiles(go_client: Path, static_server, tmp_path: Path) -> None:
    led = Ledger.create(tmp_path / "data", "tiles-bad.example/log", checkpoint_interval=3600)
    try:
        led.append_many([("custody.note", {"i": i}) for i in range(600)])
        led.sign_checkpoint_now()
        sync_tiles(led, FilesystemTileStore(tmp_path / "tlog"))
        key = led.verifier_key
    finally:
        led.close()
    good = static_server(tmp_path / "tlog")
    assert run_client(go_client, good, key).returncode == 0

    hashes = tmp_path / "hashes"  # one hash of a full level-0 tile changed
    shutil.copytree(tmp_path / "tlog", hashes)
    tile = hashes / "tile" / "0" / "001"
    data = bytearray(tile.read_bytes())
    data[100] ^= 1
    tile.write_bytes(bytes(data))
    r = run_client(go_client, static_server(hashes), key)
    assert r.returncode == 1, r.stdout
    assert "tile" in r.stderr.lower() or "hash" in r.stderr.lower()

    entries = tmp_path / "entries"  # one entry of a bundle changed, same length
    shutil.copytree(tmp_path / "tlog", entries)
    bundle = entries / "tile" / "entries" / "001"
    raw = bundle.read_bytes()
    assert b'"i":300' in raw
    bundle.write_bytes(raw.replace(b'"i":300', b'"i":399', 1))
    r = run_client(go_client, static_server(entries), key)
    assert r.returncode == 1 and "entry 300 hashes to" in r.stderr


@pytest.mark.slow
def test_go_reads_the_tiles_from_evidence_serve(go_client: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The follower in ``evidence serve`` writes the tiles as items are submitted; /tlog/
    serves them with their headers and its problems, and Go reads the log through it."""
    monkeypatch.setenv("EVIDENCE_TILES_PAUSE", "0.1")
    world = make_world(tmp_path / "data")
    srv = start_server(world)
    try:
        for _ in range(3):
            assert submit(srv).status_code == 201
        size = httpx.get(srv.base + "/v1/status").json()["size"]
        note = _wait_tiles(srv.base, size)
        (tmp_path / "old").write_text(note)
        for _ in range(4):
            assert submit(srv).status_code == 201
        size2 = httpx.get(srv.base + "/v1/status").json()["size"]
        _wait_tiles(srv.base, size2)

        r = run_client(go_client, srv.base + "/tlog/", world.vkey, tmp_path / "old")
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["size"] >= size2 and out["consistent_from"] == size
        led = Ledger.open(world.data, read_only=True)
        try:
            assert out["entries_digest"] == entries_digest(led, out["size"])
        finally:
            led.close()

        with httpx.Client(base_url=srv.base + "/tlog/") as c:
            cp = c.get("checkpoint")
            assert cp.headers["cache-control"] == "public, max-age=5"
            assert cp.headers["content-type"].startswith("text/plain")
            n = out["size"]
            partial = c.get(f"tile/0/000.p/{n}")
            assert partial.status_code == 200 and len(partial.content) == 32 * n
            assert partial.headers["cache-control"] == "public, max-age=60"
            assert partial.headers["content-type"] == "application/octet-stream"
            # an older, narrower partial tile: the first hashes of the newest one
            older = c.get("tile/0/000.p/2")
            assert older.status_code == 200 and older.content == partial.content[:64]
            bundle = c.get(f"tile/entries/000.p/{n}", headers={"Accept-Encoding": "gzip"})
            assert bundle.status_code == 200 and bundle.headers["content-encoding"] == "gzip"
            problem(c.get("tile/0/000"), 404, "tile-not-in-tree")
            problem(c.get(f"tile/0/000.p/{n + 1}"), 404, "tile-not-in-tree")
            problem(c.get("tile/0/001.p/1"), 404, "tile-not-in-tree")
            problem(c.get("tile/00/000"), 400, "bad-tile-path")
            problem(c.get("tile/0/000.p/256"), 400, "bad-tile-path")
            doc = problem(c.get("tile/0/0001"), 400, "bad-tile-path")
            assert "3-digit groups" in doc["detail"]
    finally:
        srv.stop()


def _wait_tiles(base: str, size: int) -> str:
    """The /tlog/ checkpoint once it covers ``size`` entries."""
    deadline = time.monotonic() + 60
    while True:
        r = httpx.get(base + "/tlog/checkpoint")
        if r.status_code == 200 and int(r.text.split("\n")[1]) >= size:
            return r.text
        assert time.monotonic() < deadline, (r.status_code, r.text)
        time.sleep(0.1)
