"""No token in any log line (issue 15): a real ``evidence serve`` with its access log on,
tokens sent in query strings (refused) and in paths; the log file is then searched."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.api_server import make_world, start_server


def test_tokens_in_query_strings_never_reach_the_log(tmp_path: Path) -> None:
    world = make_world(tmp_path / "data")
    srv = start_server(world, "--log-level", "info", "--no-anchor")
    tok = world.tokens["acme"]
    try:
        for url in (f"/v1/me?token={tok}", f"/v1/me?x=1&access_token={tok}&y=2",
                    f"/v1/evidence/{tok}", f"/health?api_key={tok}"):
            r = httpx.get(srv.base + url, timeout=30)
            assert r.status_code in (200, 401, 404, 422), (url, r.status_code)
        with httpx.Client(base_url=srv.base, headers={"Authorization": f"Bearer {tok}"}) as c:
            assert c.get("/v1/me").status_code == 200
    finally:
        srv.stop()
    log = srv.log.read_text()
    secret = tok.removeprefix("evk_")
    assert secret not in log
    assert '"GET /v1/me?token=[REDACTED] HTTP/1.1" 401' in log
    assert "access_token=[REDACTED]&y=2" in log
    assert "/v1/evidence/evk_[REDACTED]" in log
