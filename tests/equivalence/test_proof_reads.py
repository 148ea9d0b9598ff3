"""Inclusion proofs on the fast path (evidence/api/hot/inclusion.py, read in the event loop
or loaded in a worker thread) are the route's bytes."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from evidence.api import services
from evidence.api.app import create_app
from evidence.api.hot import inclusion
from evidence.api.hot.inclusion import InclusionFast
from evidence.api.hot.reads import ReadFastPath
from evidence.api.proofs import ProofCache
from evidence.api.settings import ApiSettings
from evidence.ledger.db.log_queries import StoredCheckpoint
from evidence.ledger.log import Ledger
from evidence.ledger.tiles import sync_tiles
from evidence.ledger.tiles_store import FilesystemTileStore
from evidence.verify.merkle import verify_inclusion

N = 300


@pytest.mark.parametrize("direct", [True, False], ids=["sqlite-in-loop", "worker-thread"])
def test_fast_path_proofs_equal_the_route_cold_and_warm(tmp_path: Path, monkeypatch,
                                                        direct: bool) -> None:
    """Nodes read in the event loop (SQLite) or, as for other databases, loaded in a
    worker thread: the fast path's answers are the route's, and verify."""
    rendered: list[int] = []
    loads: list[int] = []  # ProofCache.load calls (the route's reads, the fast path's in a thread)
    real_render, real_load = InclusionFast.render, ProofCache.load
    real_kept = InclusionFast.kept_proof

    def counting_render(self, seq, *a):  # type: ignore[no-untyped-def]
        rendered.append(seq)
        return real_render(self, seq, *a)

    def counting_kept(self, seq, *a):  # type: ignore[no-untyped-def]
        body = real_kept(self, seq, *a)
        if body is not None:  # written from the kept levels, no node read
            rendered.append(seq)
        return body

    def counting_load(self, ids, **kw):  # type: ignore[no-untyped-def]
        loads.append(len(ids))
        return real_load(self, ids, **kw)

    monkeypatch.setattr(InclusionFast, "render", counting_render)
    monkeypatch.setattr(InclusionFast, "kept_proof", counting_kept)
    monkeypatch.setattr(ProofCache, "load", counting_load)
    if not direct:
        monkeypatch.setattr(InclusionFast, "direct", lambda self: False)
    led = Ledger.create(tmp_path / "data", "proofs.example/log", checkpoint_interval=3600)
    for start in range(0, N, 100):
        led.append_many([("custody.note", {"i": i}) for i in range(start, start + 100)])
    cp = led.sign_checkpoint_now()
    leaves = {seq: led.entry(seq).leaf_hash for seq in range(N)}
    led.close()
    app = create_app(ApiSettings(data_dir=str(tmp_path / "data"), anchor=False))
    with TestClient(app) as c:
        for cold in (True, False):  # cold: nodes read on the fast path; warm: bodies kept
            for seq in (0, 1, 57, 128, 255, 256, N - 2, N - 1):
                before = len(rendered), len(loads)
                fast = c.get(f"/v1/log/proof/inclusion?seq={seq}")
                # cold, each proof is written by the fast path, its nodes loaded through
                # the proof node cache in a worker thread only when not read in the loop
                assert (len(rendered) > before[0], len(loads) > before[1]) == (
                    (True, not direct) if cold else (False, False)), (seq, cold)
                route = c.get("/v1/log/proof/inclusion", params={"seq": seq, "size": cp.size})
                assert fast.status_code == route.status_code == 200, (fast.text, route.text)
                assert fast.content == route.content
                p = fast.json()
                verify_inclusion(seq, cp.size, leaves[seq], [bytes.fromhex(h) for h in p["proof"]],
                                 cp.root)
        past = c.get(f"/v1/log/proof/inclusion?seq={N}")  # past the checkpoint: the route says
        assert past.status_code == 409 and past.json()["code"] == "not-yet-checkpointed"


@pytest.mark.slow  # every entry of many tree sizes: seconds
def test_fast_proofs_equal_the_routes_for_every_entry_of_many_sizes(tmp_path: Path) -> None:
    """:class:`InclusionFast` (bit loops, kept upper nodes, edge folds, JSON written by
    hand) against the route's :class:`ProofCache` and ``json.dumps``: every entry of every
    tree size up to 129 and of sizes around 256, sampled entries of larger sizes; the
    same process keeps its upper nodes and edge folds from one size to the next. Once with
    the lower nodes read from the database alone, once taken from the entries' level-0
    tiles where the tile store holds them (and the upper ones preloaded)."""
    n_max = 2200
    led = Ledger.create(tmp_path / "data", "proofs.example/log", checkpoint_interval=3600)
    for start in range(0, n_max, 1000):
        led.append_many([("custody.note", {"i": i})
                         for i in range(start, min(n_max, start + 1000))])
    sync_tiles(led, FilesystemTileStore(tmp_path / "tlog"), checkpoint=led.sign_checkpoint_now())
    (tmp_path / "tlog" / "tile" / "0" / "005").unlink()  # a tile not (yet) in the store
    fast, tiled = InclusionFast(led), InclusionFast(led)
    tiled.tiles_root = str(tmp_path / "tlog")
    cache = ProofCache(led)
    assert fast.direct() and tiled.direct()
    # every node from height 8 up, read at once (heights 8..11 in a tree of 2200)
    assert tiled.preload() == sum(n_max >> h for h in range(8, 12))
    from_tiles = 0
    rnd = random.Random(17)
    every = {*range(1, 130), 255, 256, 257, 258, 300}  # every entry of these sizes
    sizes = [*sorted(every), 511, 512, 513, 767, 768, 769, 1024, 1025, 2047, 2048, 2049, n_max]
    try:
        for size in sizes:
            root = led.root(size)
            cp = StoredCheckpoint(size, root, f"proofs.example/log\n{size}\nnote \u2014 ü\n",
                                  "2026-12-07T00:00:00Z")
            seqs = range(size) if size in every else sorted(
                {0, 1, 255, 256, size - 257, size - 256, size - 2, size - 1,
                 *rnd.sample(range(size), 40)} & set(range(size)))
            for seq in seqs:
                nodes = led.nodes(cache.inclusion_ids(seq, size, with_root=False))
                want = json.dumps({**cache.inclusion(seq, size, nodes, root),
                                   "checkpoint": cp.note},
                                  separators=(",", ":"), ensure_ascii=False).encode()
                sh, ids = fast.needed(seq, cp)
                assert fast.render(seq, cp, sh, fast.read(ids)) == want, (seq, size)
                sh, ids = tiled.needed(seq, cp)
                from_tiles += bool(sh[3])
                assert tiled.render(seq, cp, sh, tiled.read(ids)) == want, (seq, size)
        assert from_tiles > 200  # the leaf and lower siblings came from tiles that often
    finally:
        led.close()


@pytest.mark.slow  # seconds, not milliseconds: the full run only
@pytest.mark.parametrize("lowest", [4, 5])
def test_kept_level_proofs_equal_the_routes_up_to_the_right_edge(tmp_path: Path, monkeypatch,
                                                                  lowest: int) -> None:
    """:meth:`InclusionFast.kept_proof` (the upper levels as arrays, the lower siblings
    hashed from a ``pread`` of the entry's level-0 tile) against the route's
    :class:`ProofCache` and ``json.dumps``: every entry of sizes around the tile and
    array boundaries, random entries of others, small trees (no full tile: it declines);
    arrays loaded for a smaller tree than the proof's (then extended), for the same and
    for a larger one (perfect subtrees never change). It answers or declines (None),
    never differs; it declines the last partial tile, a missing tile file and an edge
    fold the general path has not kept yet, and answers most of the rest."""
    monkeypatch.setattr(inclusion, "LEVELS_LOWEST", lowest)
    n_max = 3000
    led = Ledger.create(tmp_path / "data", "proofs.example/log", checkpoint_interval=3600)
    for start in range(0, n_max, 1000):
        led.append_many([("custody.note", {"i": i})
                         for i in range(start, min(n_max, start + 1000))])
    sync_tiles(led, FilesystemTileStore(tmp_path / "tlog"), checkpoint=led.sign_checkpoint_now())
    (tmp_path / "tlog" / "tile" / "0" / "005").unlink()  # a tile not (yet) in the store
    fast = InclusionFast(led)
    fast.tiles_root = str(tmp_path / "tlog")
    cache = ProofCache(led)
    assert fast.direct() and fast.kept_proof(300, _cp(led, 600)) is None  # nothing loaded
    rnd = random.Random(lowest)
    every = {1, 2, 100, 255, 256, 257, 511, 512, 513, 700, 1024, 1025, 1537}
    sizes = [*sorted(every), 767, 768, 2047, 2048, 2049, 2300, 2999, n_max]
    answered = declined_edge = 0
    try:
        for loaded in (1025, 2048, n_max):
            assert fast.load_levels(loaded) > 0
            kl = fast.levels
            assert kl is not None and kl.low == lowest and kl.size == loaded
            assert all(len(kl.levels[h]) == 32 * (loaded >> h)
                       for h in range(lowest, loaded.bit_length()))
            fast.drop()  # the edge folds too: each size starts without them
            fast.levels = kl
            for size in sizes:
                cp = _cp(led, size)
                root = cp.root
                seqs = range(size) if size in every else sorted(
                    {0, 1, 255, 256, size - 257, size - 256, size - 2, size - 1,
                     *rnd.sample(range(size), 60)} & set(range(size)))
                for seq in seqs:
                    nodes = led.nodes(cache.inclusion_ids(seq, size, with_root=False))
                    want = json.dumps({**cache.inclusion(seq, size, nodes, root),
                                       "checkpoint": cp.note},
                                      separators=(",", ":"), ensure_ascii=False).encode()
                    before = fast.kept_proof(seq, cp)
                    sh, ids = fast.needed(seq, cp)
                    assert fast.render(seq, cp, sh, fast.read(ids)) == want, (seq, size)
                    after = fast.kept_proof(seq, cp)  # the edge fold kept by render now
                    assert before in (None, want) and after in (None, want), (seq, size)
                    if after is not None:
                        answered += 1
                        declined_edge += before is None
                    else:  # why it declined: one of these, nothing else
                        far = any(len(kl.levels[h]) < 32 * ((seq >> h) + 1)
                                  for h in range(lowest, size.bit_length()))
                        assert (seq >> 8 >= size >> 8 or seq >> 8 == 5 or far), (seq, size)
                    if size < 256:
                        assert after is None
        assert answered > 2000 and declined_edge > 0
        # extended from 1025 to n_max: the same arrays as loaded at once
        grown = InclusionFast(led)
        grown.load_levels(1025)
        assert grown.load_levels(n_max) == sum((n_max >> h) - (1025 >> h)
                                               for h in range(lowest, n_max.bit_length()))
        assert grown.levels is not None and fast.levels is not None
        assert grown.levels.levels == fast.levels.levels
    finally:
        led.close()


def _cp(led: Ledger, size: int) -> StoredCheckpoint:
    return StoredCheckpoint(size, led.root(size), f"proofs.example/log\n{size}\nnote \u2014 ü\n",
                            "2026-12-07T00:00:00Z")


def test_fast_reads_answer_as_the_routes_headers_included(tmp_path: Path, monkeypatch) -> None:
    """Status, every header (CORS for a saved verify page's origin "null" included) and
    body of the fast reads equal the routes' (``fast_reads=False``); the fast path is
    seen to answer them itself (its inner app is never reached)."""
    monkeypatch.setattr(services, "LATEST_TTL", 3600.0)  # the checkpoint read stays fresh
    reached: list[str] = []
    real_init = ReadFastPath.__init__

    def spying_init(self, app, **kw):  # type: ignore[no-untyped-def]
        async def inner(scope, receive, send):  # type: ignore[no-untyped-def]
            if scope["type"] == "http":
                reached.append(scope["path"])
            await app(scope, receive, send)

        real_init(self, inner, **kw)

    monkeypatch.setattr(ReadFastPath, "__init__", spying_init)
    led = Ledger.create(tmp_path / "data", "proofs.example/log", checkpoint_interval=3600)
    led.append_many([("custody.note", {"i": i}) for i in range(20)])
    led.sign_checkpoint_now()
    led.close()
    paths = ["/checkpoint", "/v1/log/checkpoint", "/v1/log/proof/inclusion?seq=0",
             "/v1/log/proof/inclusion?seq=13", "/v1/log/proof/inclusion?seq=19"]
    origins: list[dict[str, str]] = [{}, {"Origin": "null"},
                                     {"Origin": "https://court.example"}]
    answers = {}
    for fast in (True, False):
        app = create_app(ApiSettings(data_dir=str(tmp_path / "data"), anchor=False,
                                     fast_reads=fast))
        with TestClient(app) as c:
            assert c.get("/v1/log/checkpoint").status_code == 200  # the checkpoint, read once
            reached.clear()
            answers[fast] = [(p, h, r.status_code, sorted(r.headers.items()), r.content)
                             for h in origins for p in paths for r in [c.get(p, headers=h)]]
        if fast:
            assert reached == []
    assert answers[True] == answers[False]
    assert all(dict(a[3]).get("access-control-allow-origin") == "*"
               for a in answers[True] if a[1])


def test_a_stale_checkpoint_is_read_again_on_the_fast_path(tmp_path: Path, monkeypatch) -> None:
    """When the latest checkpoint in memory is older than LATEST_TTL (here: always), the
    fast path reads it again itself (once for the requests that find it stale together)
    instead of sending each of them to the route; a new checkpoint is seen at once."""
    monkeypatch.setattr(services, "LATEST_TTL", 0.0)
    reached: list[str] = []
    real_init = ReadFastPath.__init__

    def spying_init(self, app, **kw):  # type: ignore[no-untyped-def]
        async def inner(scope, receive, send):  # type: ignore[no-untyped-def]
            if scope["type"] == "http":
                reached.append(scope["path"])
            await app(scope, receive, send)

        real_init(self, inner, **kw)

    monkeypatch.setattr(ReadFastPath, "__init__", spying_init)
    led = Ledger.create(tmp_path / "data", "proofs.example/log", checkpoint_interval=3600)
    led.append_many([("custody.note", {"i": i}) for i in range(20)])
    first = led.sign_checkpoint_now()
    app = create_app(ApiSettings(data_dir=str(tmp_path / "data"), anchor=False))
    with TestClient(app) as c:
        assert c.get("/v1/log/checkpoint").text == first.note
        assert c.get("/v1/log/proof/inclusion?seq=7").json()["tree_size"] == 20
        led.append_many([("custody.note", {"i": i}) for i in range(20, 30)])
        second = led.sign_checkpoint_now()
        assert c.get("/checkpoint").text == second.note
        p = c.get("/v1/log/proof/inclusion?seq=25").json()
        assert p["tree_size"] == 30 and p["checkpoint"] == second.note
    led.close()
    assert reached == []


def test_the_latest_checkpoint_is_read_ahead_before_it_expires(tmp_path: Path,
                                                               monkeypatch) -> None:
    """A read that finds the checkpoint in memory older than half of LATEST_TTL is still
    answered from it on the fast path (it is younger than LATEST_TTL) and queues one read
    of it in a worker thread: the copy in memory is then newer, and a checkpoint signed
    meanwhile is what the next requests see, none of them through the route."""
    monkeypatch.setattr(services, "LATEST_TTL", 3600.0)
    reached: list[str] = []
    real_init = ReadFastPath.__init__

    def spying_init(self, app, **kw):  # type: ignore[no-untyped-def]
        async def inner(scope, receive, send):  # type: ignore[no-untyped-def]
            if scope["type"] == "http":
                reached.append(scope["path"])
            await app(scope, receive, send)

        real_init(self, inner, **kw)

    monkeypatch.setattr(ReadFastPath, "__init__", spying_init)
    led = Ledger.create(tmp_path / "data", "proofs.example/log", checkpoint_interval=3600)
    led.append_many([("custody.note", {"i": i}) for i in range(20)])
    first = led.sign_checkpoint_now()
    app = create_app(ApiSettings(data_dir=str(tmp_path / "data"), anchor=False))
    with TestClient(app) as c:
        assert c.get("/v1/log/checkpoint").text == first.note
        svc = services.services_of({"app": app})
        assert svc is not None
        led.append_many([("custody.note", {"i": i}) for i in range(20, 30)])
        second = led.sign_checkpoint_now()
        assert c.get("/checkpoint").text == first.note  # fresh: no read
        at = svc.latest_read_at()
        svc._latest = (at - 1900.0, svc._latest[1])  # past half of LATEST_TTL, not all
        assert c.get("/v1/log/proof/inclusion?seq=3").json()["tree_size"] == 20
        for _ in range(2000):  # the queued read, done in a worker thread
            if svc.latest_read_at() > at - 1900.0:
                break
            time.sleep(0.01)
        assert svc.latest_cached() == second
        assert c.get("/v1/log/proof/inclusion?seq=25").json()["tree_size"] == 30
        assert c.get("/checkpoint").text == second.note
    led.close()
    assert reached == []
