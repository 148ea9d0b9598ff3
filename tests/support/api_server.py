"""A real ``evidence serve`` (uvicorn) on loopback for tests that speak HTTP.

The world (principals, cases, tokens) is made with :class:`AccessControl` before the
server starts, so that everything a test does afterwards goes over HTTP like a client's
requests. The API, witness, capture and auditor tests start their servers from here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from evidence.ledger.access import AccessControl
from evidence.ledger.log import Ledger
from tests.support.ports import free_ports

CLI = [sys.executable, "-c", "from evidence.cli.main import main; main()"]
PROBLEM = "application/problem+json"
SOON = (datetime.now(UTC) + timedelta(days=30)).isoformat()
ORIGIN = "api.test/log"

# principal -> (role, cases)
PEOPLE = {
    "acme": ("submitter", ["case-a"]),
    "lawyer": ("submitter", ["case-a"]),
    "judge": ("court", ["case-a"]),
    "foreign": ("foreign", []),
    "foreign-b": ("foreign", []),
    "foreign-c": ("foreign", []),
    "auditor": ("auditor", []),
    "admin": ("admin", []),
    "rival": ("submitter", ["case-b"]),
    "other-court": ("court", ["case-b"]),
}


@dataclass
class World:
    data: Path
    db: str | None
    tokens: dict[str, str] = field(default_factory=dict)
    token_ids: dict[str, str] = field(default_factory=dict)
    vkey: str = ""


def make_world(data: Path, db: str | None = None) -> World:
    led = Ledger.create(data, ORIGIN, db_url=db, checkpoint_interval=0)
    try:
        ac = AccessControl(led)
        w = World(data, db, vkey=led.verifier_key)
        for case in ("case-a", "case-b"):
            ac.add_case(case, f"Case {case}")
        for pid, (role, cases) in PEOPLE.items():
            ac.add_principal(pid, role, pid.title())
            for c in cases:
                ac.add_member(c, pid)
            info, tok = ac.create_token(pid, label="tests")
            w.tokens[pid], w.token_ids[pid] = tok, info.id
        info, tok = ac.create_token("acme", label="revoked")
        ac.revoke_token(info.id)
        w.tokens["revoked"] = tok
        info, tok = ac.create_token("acme", label="expired",
                                    expires_at="2000-01-01T00:00:00.000000Z")
        w.tokens["expired"] = tok
    finally:
        led.close()
    return w


@dataclass
class Server:
    world: World
    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, who: str | None = None, **kw) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.world.tokens[who]}"} if who else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=60, **kw)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def start_server(world: World, *args: str, workers: int = 1) -> Server:
    extra = ["--db", world.db] if world.db else []
    for _attempt in range(5):
        (port,) = free_ports(1)
        log = world.data / f"serve-{port}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [*CLI, "serve", "--data-dir", str(world.data), *extra, "--port", str(port),
                 "--workers", str(workers), "--log-level", "warning", *args],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        srv = Server(world, proc, port, log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(srv.base + "/health", timeout=2).status_code == 200:
                    return srv
            except httpx.HTTPError:
                time.sleep(0.1)
        srv.stop()
    raise RuntimeError(f"evidence serve did not start: {log.read_text()[-2000:]}")


def sql(srv: Server, statement: str, **params: object) -> None:
    """Change the service's database behind its back (a clock jump, a test double)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(srv.world.db or f"sqlite:///{srv.world.data / 'ledger.db'}")
    try:
        with engine.begin() as conn:
            conn.execute(text(statement), params)
    finally:
        engine.dispose()


def submit(srv: Server, who: str = "acme", *, case: str = "case-a",
           files: list[tuple[str, bytes]] | None = None, kind: str = "document",
           **fields: str) -> httpx.Response:
    files = files or [("notice.txt", b"infringing listing " + os.urandom(8).hex().encode())]
    with srv.client(who) as c:
        return c.post("/v1/evidence", data={"case": case, "kind": kind, **fields},
                      files=[("file", (n, b, "application/octet-stream")) for n, b in files])


def problem(r: httpx.Response, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith(PROBLEM), r.headers
    doc = r.json()
    assert doc["status"] == status and doc["type"].endswith(doc["code"]), doc
    if code is not None:
        assert doc["code"] == code, doc
    return doc


def wait_proof(c: httpx.Client, seq: int) -> dict:
    deadline = time.monotonic() + 30
    while True:
        r = c.get("/v1/log/proof/inclusion", params={"seq": seq})
        if r.status_code == 200 or time.monotonic() > deadline:
            assert r.status_code == 200, r.text
            return r.json()
        assert r.status_code == 409 and r.json()["code"] == "not-yet-checkpointed", r.text
        time.sleep(0.1)


def log_size(srv: Server) -> int:
    return httpx.get(srv.base + "/v1/status").json()["size"]


def blobs(srv: Server) -> set[str]:
    root = srv.world.data / "blobs"
    return {p.name for p in root.glob("??/??/*")} if root.exists() else set()


def grant(srv: Server, who: str = "acme", **body) -> httpx.Response:
    body.setdefault("grantee", "foreign")
    body.setdefault("expires_at", SOON)
    with srv.client(who) as c:
        return c.post("/v1/grants", json=body)
