"""The core API on PostgreSQL, served by several uvicorn workers (real processes).

Submissions from concurrent clients land on different workers; the log stays gap-free
and its audit clean; grants, their download limits and revocation hold across workers
(each worker is a separate process: the checks are in the database, not in memory).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.api_server import (
    CLI,
    Server,
    grant,
    make_world,
    problem,
    start_server,
    submit,
    wait_proof,
)

pytestmark = pytest.mark.pg


@pytest.fixture
def pg_server(tmp_path: Path, pg_fresh_url: str) -> Iterator[Server]:
    world = make_world(tmp_path / "data", db=pg_fresh_url)
    srv = start_server(world, "--rate", "1000", "--burst", "1000", workers=2)
    try:
        yield srv
    finally:
        srv.stop()


def test_core_api_on_postgresql_with_two_workers(pg_server: Server) -> None:
    srv = pg_server
    with ThreadPoolExecutor(8) as pool:
        recs = list(pool.map(lambda i: submit(srv, files=[(f"f{i}.txt", os.urandom(300))]),
                             range(40)))
    assert all(r.status_code == 201 for r in recs), [r.text for r in recs if r.status_code != 201]
    seqs = sorted(r.json()["seq"] for r in recs)
    assert seqs == list(range(40))  # gap-free across workers
    rec = recs[7].json()
    eid, sha = rec["evidence_id"], rec["files"][0]["sha256"]
    with srv.client("judge") as c:
        assert c.get(f"/v1/evidence/{eid}").json()["case"] == "case-a"
        d = c.get(f"/v1/evidence/{eid}/files/{sha}", headers={"Range": "bytes=0-9"})
        assert d.status_code == 206 and len(d.content) == 10
        wait_proof(c, rec["seq"])
    # a grant with a download limit, used from many connections (both workers)
    gid = grant(srv, evidence_ids=[eid], max_downloads=3).json()["id"]

    def fetch(_: int) -> int:
        with srv.client("foreign") as f:
            return f.get(f"/v1/evidence/{eid}/files/{sha}").status_code

    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(fetch, range(10)))
    assert sorted(codes) == [200] * 3 + [403] * 7  # exactly the limit, never more
    with srv.client("acme") as c:
        assert c.get(f"/v1/grants/{gid}").json()["downloads"] == 3
        gid2 = grant(srv, evidence_ids=[eid]).json()["id"]
        assert c.post(f"/v1/grants/{gid2}/revoke").status_code == 200
    for _ in range(4):  # whichever worker answers, the revocation holds
        with srv.client("foreign") as f:  # (the first grant is used up, the second revoked)
            problem(f.get(f"/v1/evidence/{eid}/files/{sha}"), 403)
    with srv.client("auditor") as a:
        cust = a.get(f"/v1/evidence/{eid}/custody").json()["entries"]
    types = [e["type"] for e in cust]
    assert types.count("evidence.accessed") == 2 + 3 and types.count("evidence.shared") == 2
    assert types.count("evidence.share_revoked") == 1
    for e in cust:
        assert base64.b64decode(e["entry_b64"])  # exact bytes, decodable
    r = subprocess.run([*CLI, "audit", "--data-dir", str(srv.world.data), "--db",
                        srv.world.db or "", "--json"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and json.loads(r.stdout)["ok"], r.stdout + r.stderr
    assert httpx.get(srv.base + "/v1/status").json()["size"] >= 40 + 2 + 3 + 2 + 1
