"""The tiles fast path (evidence/api/hot/tiles.py) answers as the route in
evidence/api/routers/tiles.py: status, every header and the bytes, for good paths,
malformed ones, tiles past the tree, partial tiles the store no longer holds, gzip and a
cross-origin page; and it answers the common ones itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from evidence.api.app import create_app
from evidence.api.hot.tiles import TilesFastPath
from evidence.api.settings import ApiSettings
from evidence.ledger.log import Ledger
from evidence.ledger.tiles import sync_tiles
from evidence.ledger.tiles_store import FilesystemTileStore

N = 700  # level 0: tiles 000, 001 full, 002.p/188; level 1: 000.p/2

SERVED = ["/tlog/checkpoint", "/tlog/tile/0/000", "/tlog/tile/0/001", "/tlog/tile/0/002.p/188",
          "/tlog/tile/1/000.p/2", "/tlog/tile/1/000.p/1", "/tlog/tile/entries/000",
          "/tlog/tile/entries/001",
          "/tlog/tile/entries/002.p/188", "/tlog/tile/0/000?x=1"]
"""Answered by the fast path itself (the store holds each file)."""
ROUTED = [
    # partial tiles the store does not hold: cut by the route from the wider one
    "/tlog/tile/0/002.p/10", "/tlog/tile/entries/002.p/5",
    "/tlog/tile/0/001.p/7",
    # past the published tree
    "/tlog/tile/0/003", "/tlog/tile/0/002", "/tlog/tile/0/002.p/189", "/tlog/tile/2/000.p/1",
    "/tlog/tile/entries/005", "/tlog/tile/1/000", "/tlog/tile/0/x001/000",
    # malformed
    "/tlog/tile/0/0", "/tlog/tile/00/000", "/tlog/tile/0/000.p/0", "/tlog/tile/0/000.p/256",
    "/tlog/tile/0/000.p/01", "/tlog/tile/0/x000/001", "/tlog/tile/64/000", "/tlog/tile/0/000/",
    "/tlog/tile/entries/abc", "/tlog/tile/-1/000", "/tlog/tile/",
    "/tlog/tile/0", "/tlog/tile/0/%C3%A9", "/tlog/tile/0/000.p/", "/tlog/tile/0/000.p",
    "/tlog/tile/0/\u0661\u0662\u0663", "/tlog/tile/checkpoint", "/tlog/tile//0/000",
]
HEADERS = [{"Accept-Encoding": "identity"}, {"Origin": "null", "Accept-Encoding": "identity"},
           {"Accept-Encoding": "gzip"},
           {"Accept-Encoding": "br, GZIP;q=0.5", "Origin": "https://court.example"},
           {"Accept-Encoding": ""}]
"""Accept-Encoding always set: the test client asks for gzip by default."""


def _ledger(data: Path) -> None:
    led = Ledger.create(data, "tiles.example/log", checkpoint_interval=3600)
    try:
        led.append_many([("custody.note", {"i": i}) for i in range(300)])
        sync_tiles(led, FilesystemTileStore(data / "tlog"), checkpoint=led.sign_checkpoint_now())
        led.append_many([("custody.note", {"i": i, "pad": "x" * (i % 50)})
                         for i in range(300, N)])
        sync_tiles(led, FilesystemTileStore(data / "tlog"), checkpoint=led.sign_checkpoint_now())
    finally:
        led.close()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("tiles-fast") / "data"
    _ledger(d)
    return d


def _answers(data: Path, fast: bool, monkeypatch: pytest.MonkeyPatch
             ) -> tuple[dict[tuple[str, int], tuple[int, list[tuple[str, str]], bytes]],
                        list[str]]:
    reached: list[str] = []
    real_init = TilesFastPath.__init__

    def spying_init(self, app):  # type: ignore[no-untyped-def]
        async def inner(scope, receive, send):  # type: ignore[no-untyped-def]
            if scope["type"] == "http":
                reached.append(scope["path"])
            await app(scope, receive, send)

        real_init(self, inner)

    monkeypatch.setattr(TilesFastPath, "__init__", spying_init)
    app = create_app(ApiSettings(data_dir=str(data), anchor=False, fast_reads=fast))
    out = {}
    with TestClient(app) as c:
        for path in SERVED + ROUTED:
            for i, h in enumerate(HEADERS):
                r = c.get(path, headers=h)
                out[(path, i)] = (r.status_code, sorted(r.headers.items()), r.content)
    return out, reached


def test_fast_path_answers_as_the_route(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, reached = _answers(data, True, monkeypatch)
    route, _ = _answers(data, False, monkeypatch)
    assert fast.keys() == route.keys()
    for key in fast:
        assert fast[key] == route[key], key
    # the answers are what they should be, not merely equal
    assert fast[("/tlog/tile/0/001", 0)][0] == 200
    assert len(fast[("/tlog/tile/0/001", 0)][2]) == 256 * 32
    assert dict(fast[("/tlog/tile/0/001", 0)][1])["cache-control"] == (
        "public, max-age=31536000, immutable")
    assert dict(fast[("/tlog/tile/0/002.p/188", 0)][1])["cache-control"] == "public, max-age=60"
    assert fast[("/tlog/tile/0/002.p/10", 0)][2] == fast[("/tlog/tile/0/002.p/188", 0)][2][:320]
    assert dict(fast[("/tlog/tile/entries/000", 2)][1]).get("content-encoding") == "gzip"
    assert "content-encoding" not in dict(fast[("/tlog/tile/entries/000", 0)][1])
    assert dict(fast[("/tlog/tile/0/000", 1)][1])["access-control-allow-origin"] == "*"
    for path in ("/tlog/tile/0/003", "/tlog/tile/0/002.p/189", "/tlog/tile/entries/005"):
        assert fast[(path, 0)][0] == 404 and b"tile-not-in-tree" in fast[(path, 0)][2]
    for path in ("/tlog/tile/0/0", "/tlog/tile/00/000", "/tlog/tile/0/000.p/256",
                 "/tlog/tile/0/x000/001", "/tlog/tile/64/000"):
        assert fast[(path, 0)][0] == 400 and b"bad-tile-path" in fast[(path, 0)][2], path
    # the fast path answered every served path itself, unless gzip was asked of a bundle
    served = {p.split("?")[0] for p in SERVED}
    passed = {p for p in reached if p in served}
    assert passed == {p for p in served if "/entries/" in p}
    assert reached.count("/tlog/tile/entries/000") == 2  # the two gzip requests
    assert set(reached) >= {p.split("?")[0] for p in ROUTED if "%" not in p} - {
        "/tlog/tile//0/000"}


def test_no_tiles_yet_goes_to_the_route(tmp_path: Path) -> None:
    """Before the first published checkpoint the route's 404 no-tiles, both ways."""
    led = Ledger.create(tmp_path / "data", "tiles.example/log", checkpoint_interval=3600)
    led.close()
    answers = []
    for fast in (True, False):
        app = create_app(ApiSettings(data_dir=str(tmp_path / "data"), anchor=False,
                                     fast_reads=fast))
        with TestClient(app) as c:
            answers.append([(r.status_code, r.content) for p in ("/tlog/checkpoint",
                                                                "/tlog/tile/0/000")
                            for r in [c.get(p)]])
    assert answers[0] == answers[1]
    assert all(status == 404 and b"no-tiles" in body for status, body in answers[0])
