"""The remote CLI against a real ``evidence serve`` whose connection misbehaves: a bundle
download cut off half-way resumes (``Range`` + ``If-Range`` the bundle's ETag, across two
runs of the command) into the very bytes the server holds; a 503 ``unavailable`` (database
busy) is retried, honouring Retry-After; and with lookup off, a submission whose answer
was lost is sent again with the same Idempotency-Key, because the server says (GET
/v1/me) that it honours keys (config ``[serve] idempotency_ttl``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api_server import Server, World, log_size, make_world, start_server
from tests.support.remote_cli import DroppingProxy, js, login, run, the_file

pytestmark = pytest.mark.slow

TTL = 3600


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, Server]]:
    root = tmp_path_factory.mktemp("resume")
    w = make_world(root / "data")
    cfg = root / "evidence.toml"
    cfg.write_text(f"[serve]\npublic_lookup = false\nidempotency_ttl = {TTL}\n"
                   'bundle_cache = "64MiB"\n')
    srv = start_server(w, "--no-anchor", "--config", str(cfg))
    try:
        yield w, srv
    finally:
        srv.stop()


class BusyProxy(DroppingProxy):
    """Answers the first ``times`` requests starting with ``match`` with the 503
    ``unavailable`` problem document a busy database gives (evidence/api/problems.py),
    then passes everything through."""

    def __init__(self, target: int, match: bytes, times: int) -> None:
        self.times = times
        self.busy = 0
        super().__init__(target, match, 1 << 40, "down")

    def _conn(self, c: socket.socket) -> None:
        if self.busy >= self.times:
            super()._conn(c)
            return
        first = c.recv(65536)
        if not first.startswith(self.match):
            self.cut = 1  # the parent would cut this one otherwise
            s = socket.create_connection(("127.0.0.1", self.target))
            s.sendall(first)
            import threading

            threading.Thread(target=self._pipe, args=(c, s, None, False, 0),
                             daemon=True).start()
            self._pipe(s, c, None, False, 0)
            return
        self.busy += 1
        self.heads.append(first[:2048])
        body = json.dumps({"type": "urn:evidence:problem:unavailable", "title": "Service "
                           "unavailable", "status": 503, "code": "unavailable",
                           "detail": "the database is busy or unavailable; retry"}).encode()
        # the rest of a POST body is read and dropped, as a server that refuses it would
        c.settimeout(0.5)
        with contextlib.suppress(OSError):
            while c.recv(1 << 20):
                pass
        with contextlib.suppress(OSError):
            c.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
                      b"application/problem+json\r\nRetry-After: 1\r\nConnection: close\r\n"
                      + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        c.close()


def _env(w: World) -> dict[str, str]:
    return {"EVIDENCE_SERVER": "", "EVIDENCE_TOKEN": w.tokens["acme"]}


def test_bundle_download_cut_half_way_resumes_in_a_second_run(world: tuple[World, Server],
                                                              tmp_path: Path) -> None:
    w, srv = world
    login(tmp_path, srv)
    f = the_file(tmp_path, size=6 << 20)
    eid = js(run(tmp_path, "submit", str(f), "--case", "case-a", "--kind", "other",
                 "--json"))["evidence_id"]
    proxy = DroppingProxy(srv.port, f"GET /v1/evidence/{eid}/bundle".encode(), 2 << 20,
                          "down", graceful=True)
    out = tmp_path / "bundle.zip"
    via = ["--server", f"http://127.0.0.1:{proxy.port}"]
    try:
        # first run: cut off, no retry left: the part and its validator stay
        p = run(tmp_path, "export", eid, "-o", str(out), "--provisional", "--json", *via,
                env={**_env(w), "EVIDENCE_RETRIES": "0"}, ok=False)
        assert p.returncode == 5 and js(p)["problem"] == "server-unreachable", p.stdout
        assert proxy.cut == 1 and not out.exists()
        part = tmp_path / "bundle.zip.part"
        etag = (tmp_path / "bundle.zip.part.etag").read_text().strip()
        have = part.stat().st_size
        assert 0 < have < (6 << 20)
        # second run: resumes from what the first received
        res = js(run(tmp_path, "export", eid, "-o", str(out), "--provisional", "--json",
                     *via, env=_env(w)))
        assert res["ok"] and res["provisional"] and res["bytes"] == out.stat().st_size
    finally:
        proxy.close()
    bundle_gets = [h.lower() for h in proxy.heads
                   if h.startswith(f"GET /v1/evidence/{eid}/bundle".encode())]
    assert len(bundle_gets) == 2
    assert f"\r\nrange: bytes={have}-\r\n".encode() in bundle_gets[1], bundle_gets[1]
    assert f"\r\nif-range: {etag}\r\n".encode().lower() in bundle_gets[1]
    assert not part.exists() and not (tmp_path / "bundle.zip.part.etag").exists()
    # the file is the server's bundle of that ETag, byte for byte, and holds the evidence
    with httpx.Client(base_url=srv.base, timeout=60) as c:
        r = c.get(f"/v1/evidence/{eid}/bundle", params={"provisional": "true"}, headers={
            "Authorization": f"Bearer {w.tokens['acme']}", "Range": "bytes=0-",
            "If-Range": etag})
    assert r.status_code == 206 and r.content == out.read_bytes()
    with zipfile.ZipFile(out) as z:
        assert z.testzip() is None
        sha = hashlib.sha256(f.read_bytes()).hexdigest()
        assert [n for n in z.namelist() if n.startswith(f"files/{sha}/")]


def test_a_busy_server_is_retried(world: tuple[World, Server], tmp_path: Path) -> None:
    w, srv = world
    busy = BusyProxy(srv.port, b"GET /v1/evidence?", 2)
    try:
        doc = js(run(tmp_path, "list", "--json", "--server", f"http://127.0.0.1:{busy.port}",
                     env=_env(w)))
        assert busy.busy == 2 and "items" in doc
    finally:
        busy.close()
    # a submission answered 503 is sent again: one item
    busy = BusyProxy(srv.port, b"POST /v1/evidence ", 1)
    try:
        before = log_size(srv)
        f = the_file(tmp_path, "busy.txt")
        res = js(run(tmp_path, "submit", str(f), "--case", "case-a", "--kind", "other",
                     "--json", "--server", f"http://127.0.0.1:{busy.port}", env=_env(w)))
        assert busy.busy == 1 and res["evidence_id"].startswith("ev_")
        assert log_size(srv) == before + 1
    finally:
        busy.close()
    # busy for good: a clear message and exit 5, after the retries
    busy = BusyProxy(srv.port, b"GET /v1/evidence?", 1000)
    try:
        p = run(tmp_path, "list", "--json", "--server", f"http://127.0.0.1:{busy.port}",
                env={**_env(w), "EVIDENCE_RETRIES": "1"}, ok=False)
        assert p.returncode == 5 and busy.busy == 2
        doc = js(p)
        assert doc["problem"] == "unavailable" and "busy or unavailable" in doc["error"]
    finally:
        busy.close()


def test_lost_answer_with_lookup_off_is_resent_with_the_same_key(
        world: tuple[World, Server], tmp_path: Path) -> None:
    w, srv = world
    with srv.client("acme") as c:
        assert c.get("/v1/me").json()["idempotency_ttl"] == TTL  # from the config file
        assert c.get("/v1/lookup", params={"sha256": "0" * 64}).status_code == 404
    proxy = DroppingProxy(srv.port, b"POST /v1/evidence", 20, "down")
    try:
        f = the_file(tmp_path)
        before = log_size(srv)
        res = js(run(tmp_path, "submit", str(f), "--case", "case-a", "--kind", "other",
                     "--json", "--server", f"http://127.0.0.1:{proxy.port}", env=_env(w)))
        assert proxy.cut == 1
        posts = [h for h in proxy.heads if h.startswith(b"POST /v1/evidence ")]
        assert len(posts) == 2
        keys = {line for h in posts for line in h.lower().split(b"\r\n")
                if line.startswith(b"idempotency-key:")}
        assert len(keys) == 1  # the resend names the same submission
        assert res["files"][0]["sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()
        assert log_size(srv) == before + 1  # one item, answered twice
    finally:
        proxy.close()
