"""Inclusion proofs on the fast path (cached or loaded there) are the route's bytes."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from evidence.api import services
from evidence.api.app import create_app
from evidence.api.hot.reads import ReadFastPath
from evidence.api.settings import ApiSettings
from evidence.ledger.log import Ledger
from evidence.verify.merkle import verify_inclusion

N = 300


def test_fast_path_proofs_equal_the_route_cold_and_warm(tmp_path: Path, monkeypatch) -> None:
    loads: list[int] = []
    real = ReadFastPath._load_and_answer

    async def counting(self, svc, m):  # type: ignore[no-untyped-def]
        loads.append(m.seq)
        return await real(self, svc, m)

    monkeypatch.setattr(ReadFastPath, "_load_and_answer", counting)
    led = Ledger.create(tmp_path / "data", "proofs.example/log", checkpoint_interval=3600)
    for start in range(0, N, 100):
        led.append_many([("custody.note", {"i": i}) for i in range(start, start + 100)])
    cp = led.sign_checkpoint_now()
    leaves = {seq: led.entry(seq).leaf_hash for seq in range(N)}
    led.close()
    app = create_app(ApiSettings(data_dir=str(tmp_path / "data"), anchor=False))
    with TestClient(app) as c:
        for _round in ("cold: nodes loaded on the fast path", "warm: all from memory"):
            for seq in (0, 1, 57, 128, 255, 256, N - 2, N - 1):
                fast = c.get(f"/v1/log/proof/inclusion?seq={seq}")
                route = c.get("/v1/log/proof/inclusion", params={"seq": seq, "size": cp.size})
                assert fast.status_code == route.status_code == 200, (fast.text, route.text)
                assert fast.json() == route.json()
                p = fast.json()
                verify_inclusion(seq, cp.size, leaves[seq], [bytes.fromhex(h) for h in p["proof"]],
                                 cp.root)
        assert loads  # cold proofs were loaded and answered on the fast path
        past = c.get(f"/v1/log/proof/inclusion?seq={N}")  # past the checkpoint: the route says
        assert past.status_code == 409 and past.json()["code"] == "not-yet-checkpointed"


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
