"""The HTTP API end to end: a real ``evidence serve`` (uvicorn) on loopback, real HTTP.

The world (principals, cases, tokens) is made with :class:`AccessControl` before the
server starts (tests/support/api_server.py); everything after goes over HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from evidence.verify.checkpoint import verify_checkpoint
from evidence.verify.entry import parse_entry
from evidence.verify.hashing import hash_from_hex
from evidence.verify.merkle import verify_consistency, verify_inclusion
from evidence.verify.note import parse_verifier_key
from evidence.verify.receipt import verify_receipt
from tests.support.api_server import (
    CLI,
    ORIGIN,
    SOON,
    Server,
    blobs,
    grant,
    log_size,
    make_world,
    problem,
    sql,
    start_server,
    submit,
    wait_proof,
)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Server]:
    """The service on the embedded default (SQLite) and on PostgreSQL with two workers."""
    db, cluster = None, None
    if request.param == "pg":
        cluster = request.getfixturevalue("pg_cluster")
        db = cluster.create_database("api")
    world = make_world(tmp_path_factory.mktemp("api") / "data", db=db)
    srv = start_server(world, "--rate", "1000", "--burst", "1000", "--max-upload", "2MiB",
                       "--max-file-size", "1MiB", workers=2 if db else 1)
    try:
        yield srv
    finally:
        srv.stop()
        if cluster is not None and db is not None:
            cluster.drop_database(db)





# --- the happy path -------------------------------------------------------------------


def test_submit_retrieve_and_prove(server: Server) -> None:
    content = b"screenshot bytes " * 100
    r = submit(server, files=[("shop.png", content), ("mail.eml", b"From: x\r\n\r\nhi")],
               title="Listing", meta=json.dumps({"shop": "example"}))
    assert r.status_code == 201, r.text
    rec = r.json()
    assert r.headers["location"] == f"/v1/evidence/{rec['evidence_id']}"
    sha = hashlib.sha256(content).hexdigest()
    assert [f["name"] for f in rec["files"]] == ["shop.png", "mail.eml"]
    assert rec["files"][0]["sha256"] == sha and rec["log_key"] == server.world.vkey
    key = parse_verifier_key(server.world.vkey)
    eid = rec["evidence_id"]

    with server.client("acme") as c:
        view = c.get(f"/v1/evidence/{eid}").json()
        assert view["metadata"]["title"] == "Listing" and view["commitment_opens"] is True
        assert view["case"] == "case-a" and view["status"] == "preserved"
        # the receipt verifies against the entry's exact bytes
        rc = c.get(f"/v1/evidence/{eid}/receipt").json()
        verify_receipt(rc["receipt"], key, rc["entry"].encode())
        # download: whole, ETag, 304, Range 206, suffix range, 416
        url = f"/v1/evidence/{eid}/files/{sha}"
        d = c.get(url)
        assert d.status_code == 200 and d.content == content
        assert d.headers["etag"] == f'"{sha}"' and d.headers["accept-ranges"] == "bytes"
        assert "shop.png" in d.headers["content-disposition"]
        assert c.get(url, headers={"If-None-Match": f'"{sha}"'}).status_code == 304
        p = c.get(url, headers={"Range": "bytes=10-19"})
        assert p.status_code == 206 and p.content == content[10:20]
        assert p.headers["content-range"] == f"bytes 10-19/{len(content)}"
        s = c.get(url, headers={"Range": "bytes=-5"})
        assert s.status_code == 206 and s.content == content[-5:]
        problem(c.get(url, headers={"Range": f"bytes={len(content)}-"}), 416,
                "range-not-satisfiable")
        problem(c.get(f"/v1/evidence/{eid}/files/{'0' * 64}"), 404, "unknown-file")

        # inclusion proof to the latest checkpoint, checked with verify/ alone
        proof = wait_proof(c, rec["seq"])
        cp = verify_checkpoint(proof["checkpoint"], key).checkpoint
        assert cp.size == proof["tree_size"] and cp.root.hex() == proof["root"]
        verify_inclusion(rec["seq"], cp.size, hash_from_hex(rec["leaf_hash"]),
                         [hash_from_hex(h) for h in proof["proof"]], cp.root)
        by_hash = c.get("/v1/log/proof/inclusion",
                        params={"leaf_hash": rec["leaf_hash"], "size": cp.size}).json()
        assert by_hash["proof"] == proof["proof"] and by_hash["index"] == rec["seq"]
        # consistency from size 1 to the checkpoint
        cons = c.get("/v1/log/proof/consistency", params={"size1": 1, "size2": cp.size}).json()
        verify_consistency(1, cp.size, hash_from_hex(cons["root1"]), cp.root,
                           [hash_from_hex(h) for h in cons["proof"]])

        # custody: submitted, then one accessed entry per retrieval above (not the 304/416)
        cust = c.get(f"/v1/evidence/{eid}/custody").json()["entries"]
        kinds = [(e["type"], parse_entry(base64.b64decode(e["entry_b64"])).body.get("action"))
                 for e in cust]
        assert kinds[0] == ("evidence.submitted", None)
        assert [k for k in kinds[1:]] == [("evidence.accessed", "metadata")] + [
            ("evidence.accessed", "download")] * 3
        ranges = [parse_entry(base64.b64decode(e["entry_b64"])).body.get("range")
                  for e in cust[2:]]
        assert ranges == [None, "bytes=10-19", f"bytes={len(content) - 5}-{len(content) - 1}"]


def test_checkpoint_endpoints(server: Server) -> None:
    assert submit(server).status_code == 201
    assert submit(server).status_code == 201  # at least two entries, whatever ran before
    key = parse_verifier_key(server.world.vkey)
    for path in ("/checkpoint", "/v1/log/checkpoint"):
        r = httpx.get(server.base + path)
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/plain; charset=utf-8"
        cp = verify_checkpoint(r.text, key).checkpoint
        assert cp.origin == ORIGIN
    by_size = httpx.get(f"{server.base}/v1/log/checkpoints/{cp.size}").json()
    assert by_size["note"] == r.text and by_size["root"] == cp.root.hex()
    assert by_size["timestamps"] == [] and by_size["cosignatures"] == []
    problem(httpx.get(f"{server.base}/v1/log/checkpoints/{10**12}"), 404, "no-checkpoint")
    status = httpx.get(server.base + "/v1/status").json()
    assert status["verifier_key"] == server.world.vkey and status["size"] >= cp.size
    with server.client("auditor") as c:
        page = c.get("/v1/log/entries", params={"start": 0, "limit": 2}).json()
    assert [e["seq"] for e in page["entries"]] == [0, 1] and page["next"] == 2
    e0 = base64.b64decode(page["entries"][0]["entry_b64"])
    assert hashlib.sha256(b"\0" + e0).hexdigest() == page["entries"][0]["leaf_hash"]


def test_public_lookup(server: Server) -> None:
    content = b"lookup me " + os.urandom(8).hex().encode()
    r = submit(server, files=[("shop.txt", content)])
    assert r.status_code == 201
    eid, seq = r.json()["evidence_id"], r.json()["seq"]
    wait_proof(httpx.Client(base_url=server.base), seq)
    by_id = httpx.get(server.base + "/v1/lookup", params={"evidence_id": eid}).json()
    sha = hashlib.sha256(content).hexdigest()
    by_hash = httpx.get(server.base + "/v1/lookup", params={"sha256": sha.upper()}).json()
    # the same match both ways; the latest checkpoint may grow between the two requests
    assert [{**x, "checkpoint_size": None} for x in by_id["matches"]] == [
        {**x, "checkpoint_size": None} for x in by_hash["matches"]]
    assert all(x["checkpoint_size"] > seq for x in by_hash["matches"])
    (m,) = by_id["matches"]
    assert (m["evidence_id"], m["seq"], m["purged"]) == (eid, seq, False)
    assert m["checkpoint_size"] > seq
    proof = httpx.get(server.base + "/v1/log/proof/inclusion",
                      params={"seq": seq, "size": m["checkpoint_size"]}).json()
    assert proof["leaf_hash"] == m["leaf_hash"]
    # unknown: same shape, no match; bad input: a problem, never a 500
    none = httpx.get(server.base + "/v1/lookup", params={"sha256": "0" * 64})
    assert none.status_code == 200 and none.json() == {"matches": []}
    problem(httpx.get(server.base + "/v1/lookup"), 400, "bad-request")
    assert httpx.get(server.base + "/v1/lookup", params={"sha256": "xyz"}).status_code == 422
    assert httpx.get(server.base + "/v1/lookup",
                     params={"evidence_id": eid, "sha256": sha}).status_code == 400
    # readable cross-origin (the verify page opened from file://), without credentials
    cors = httpx.get(server.base + "/v1/lookup", params={"evidence_id": eid},
                     headers={"Origin": "null"})
    assert cors.headers["access-control-allow-origin"] == "*"


# --- cross-border sharing and custody ------------------------------------------------------


def _item(server: Server, content: bytes | None = None) -> tuple[str, str]:
    content = content or os.urandom(64)
    rec = submit(server, files=[("evidence.bin", content)]).json()
    return rec["evidence_id"], rec["files"][0]["sha256"]


def test_foreign_download_under_grant_is_in_the_ledger(server: Server) -> None:
    eid, sha = _item(server, b"the file the foreign court needs")
    with server.client("foreign") as f:
        problem(f.get(f"/v1/evidence/{eid}"), 404, "unknown-evidence")  # not yet shared
        g = grant(server, "judge", evidence_ids=[eid], note="MLA request 42")
        assert g.status_code == 201, g.text
        gid = g.json()["id"]
        assert g.json()["status"] == "active" and g.json()["granted_by"] == "judge"
        d = f.get(f"/v1/evidence/{eid}/files/{sha}")
        assert d.status_code == 200 and d.content == b"the file the foreign court needs"
        access_seq = int(d.headers["x-access-seq"])
        assert gid in [x["id"] for x in f.get("/v1/grants").json()["grants"]]
    with server.client("auditor") as a:
        cust = a.get(f"/v1/evidence/{eid}/custody").json()["entries"]
        by_seq = {e["seq"]: parse_entry(base64.b64decode(e["entry_b64"])) for e in cust}
        shared = [e for e in by_seq.values() if e.type == "evidence.shared"]
        assert shared and shared[0].body["grant_id"] == gid and shared[0].body["grantee"] == \
            "foreign"
        acc = by_seq[access_seq]
        assert acc.type == "evidence.accessed"
        before = max(s for s in by_seq if s < access_seq)
        assert acc.body == {"evidence_id": eid, "principal": "foreign", "action": "download",
                            "sha256": sha, "remote_addr": "127.0.0.1", "grant_id": gid,
                            "prev_custody": by_seq[before].leaf_hash.hex()}
        # the same entry, read raw from the log, and an inclusion proof for it
        proof = wait_proof(a, access_seq)
        assert proof["leaf_hash"] == next(e["leaf_hash"] for e in cust if e["seq"] == access_seq)
    db = ["--db", server.world.db] if server.world.db else []
    r = subprocess.run([*CLI, "audit", "--data-dir", str(server.world.data), *db, "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and json.loads(r.stdout)["ok"], r.stdout + r.stderr


def test_revoked_grant_is_refused_at_once(server: Server) -> None:
    eid, sha = _item(server)
    gid = grant(server, evidence_ids=[eid]).json()["id"]
    with server.client("foreign") as f:
        assert f.get(f"/v1/evidence/{eid}").status_code == 200
        with server.client("foreign") as f2:  # the grantee may not revoke
            problem(f2.post(f"/v1/grants/{gid}/revoke"), 403, "role-not-allowed")
        with server.client("lawyer") as law:  # another member of the case may
            r = law.post(f"/v1/grants/{gid}/revoke")
            assert r.status_code == 200 and r.json()["status"] == "revoked"
            problem(law.post(f"/v1/grants/{gid}/revoke"), 409, "already-revoked")
        before = log_size(server)
        problem(f.get(f"/v1/evidence/{eid}"), 403, "grant-revoked")
        problem(f.get(f"/v1/evidence/{eid}/files/{sha}"), 403, "grant-revoked")
        assert log_size(server) == before  # refused retrievals append nothing


def test_download_limit(server: Server) -> None:
    eid, sha = _item(server)
    gid = grant(server, evidence_ids=[eid], max_downloads=2).json()["id"]
    with server.client("foreign") as f:
        url = f"/v1/evidence/{eid}/files/{sha}"
        assert f.get(url).status_code == 200
        assert f.get(url, headers={"Range": "bytes=0-3"}).status_code == 206  # counts too
        problem(f.get(url), 403, "download-limit-reached")
        assert f.get(f"/v1/evidence/{eid}").status_code == 200  # viewing is still allowed
        assert f.get(f"/v1/grants/{gid}").json()["downloads"] == 2


def test_expired_and_future_grants(server: Server) -> None:
    eid, sha = _item(server)
    later = grant(server, evidence_ids=[eid], not_before="2098-01-01T00:00:00+08:00",
                  expires_at="2098-06-01T00:00:00Z")
    assert later.status_code == 201 and later.json()["status"] == "pending"
    with server.client("foreign") as f:
        problem(f.get(f"/v1/evidence/{eid}"), 403, "grant-not-yet-valid")
    gid = grant(server, evidence_ids=[eid]).json()["id"]
    with server.client("foreign") as f:
        assert f.get(f"/v1/evidence/{eid}").status_code == 200
    # time passes: the grant's window ends (set in the database, as a clock jump would)
    sql(server, "UPDATE grants SET expires_at = '2001-01-01T00:00:00.000000Z' "
                "WHERE id IN (:a, :b)", a=gid, b=later.json()["id"])
    with server.client("foreign") as f:
        problem(f.get(f"/v1/evidence/{eid}/files/{sha}"), 403, "grant-expired")
        assert f.get(f"/v1/grants/{gid}").json()["status"] == "expired"


def test_grant_rules(server: Server) -> None:
    eid, _ = _item(server)
    problem(grant(server, "rival", evidence_ids=[eid]), 404, "unknown-evidence")  # not theirs
    problem(grant(server, "foreign", evidence_ids=[eid]), 403, "role-not-allowed")
    problem(grant(server, "auditor", evidence_ids=[eid]), 403, "role-not-allowed")
    # a grantor cannot tell a principal of another role from one that does not exist
    a = grant(server, grantee="judge", evidence_ids=[eid])
    b = grant(server, grantee="nobody", evidence_ids=[eid])
    problem(a, 422, "unknown-grantee")
    problem(b, 422, "unknown-grantee")
    assert "judge" not in a.json()["detail"].replace("'judge'", "")
    assert a.json()["detail"].replace("judge", "X") == b.json()["detail"].replace("nobody", "X")
    problem(grant(server, evidence_ids=[eid], expires_at="2001-01-01T00:00:00Z"), 422)
    problem(grant(server, evidence_ids=[eid], expires_at="tomorrow"), 422, "invalid-input")
    problem(grant(server, evidence_ids=[eid], expires_at="2027-01-01T00:00:00"), 422)
    problem(grant(server, evidence_ids=[eid], expires_at="2099-01-01T00:00:00Z"), 422)
    problem(grant(server, evidence_ids=[eid, eid]), 422)
    problem(grant(server, evidence_ids=[eid], max_downloads=0), 422, "invalid-input")
    problem(grant(server, evidence_ids=[eid], surprise=1), 422, "invalid-input")
    problem(grant(server, evidence_ids=[]), 422, "invalid-input")


# --- bad input ----------------------------------------------------------------------------------


def test_auth_failures(server: Server) -> None:
    problem(httpx.get(server.base + "/v1/me"), 401, "missing-token")
    for who, code in (("revoked", "token-revoked"), ("expired", "token-expired")):
        with server.client(who) as c:
            r = problem(c.get("/v1/me"), 401, code)
            assert r  # and the header that says how to authenticate
            assert c.get("/v1/me").headers["www-authenticate"].startswith("Bearer")
    for bad in ("evk_" + "A" * 43, "nonsense", "evk_../../etc"):
        problem(httpx.get(server.base + "/v1/me", headers={"Authorization": f"Bearer {bad}"}),
                401)
    with server.client("acme") as c:
        me = c.get("/v1/me").json()
    assert me["role"] == "submitter" and me["cases"] == ["case-a"]


def test_other_case_does_not_leak(server: Server) -> None:
    eid, sha = _item(server)
    for who in ("rival", "other-court"):
        with server.client(who) as c:
            for path in (f"/v1/evidence/{eid}", f"/v1/evidence/{eid}/files/{sha}",
                         f"/v1/evidence/{eid}/receipt", f"/v1/evidence/{eid}/custody"):
                a = problem(c.get(path), 404, "unknown-evidence")
                b = problem(c.get(path.replace(eid, "ev_00000000000000000000000000")), 404,
                            "unknown-evidence")
                assert a["title"] == b["title"]  # the same answer as for an id that never was
    problem(submit(server, "rival", case="case-a"), 404, "unknown-case")
    problem(submit(server, "acme", case="no-such-case"), 404, "unknown-case")
    problem(submit(server, "judge"), 403, "role-not-allowed")


def test_upload_bad_input(server: Server) -> None:
    size, blobs_before = log_size(server), blobs(server)
    with server.client("acme") as c:
        for name in ("../../etc/passwd", "a/b.txt", "..", "a\\b.txt", "", "/abs"):
            r = c.post("/v1/evidence", data={"case": "case-a", "kind": "document"},
                       files={"file": (name, b"x", "text/plain")})
            problem(r, 400, "invalid-file-name")
        for raw in (b"tab\there.txt", b"nul\x00.txt", b"\xff\xfe.txt", b"../x"):
            body = (b"--Q\r\nContent-Disposition: form-data; name=\"case\"\r\n\r\ncase-a\r\n"
                    b"--Q\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\nother\r\n"
                    b"--Q\r\nContent-Disposition: form-data; name=\"file\"; filename=\""
                    + raw + b"\"\r\n\r\nx\r\n--Q--\r\n")
            problem(c.post("/v1/evidence", content=body, headers={
                "content-type": "multipart/form-data; boundary=Q"}), 400, "invalid-file-name")
        problem(c.post("/v1/evidence", json={"case": "case-a"}), 415, "unsupported-media-type")
        problem(c.post("/v1/evidence", content=b"x", headers={
            "content-type": "multipart/form-data"}), 400, "bad-multipart")
        problem(c.post("/v1/evidence", data={"case": "case-a", "kind": "document"}), 415)
        no_file = (b"--Q\r\nContent-Disposition: form-data; name=\"case\"\r\n\r\ncase-a\r\n"
                   b"--Q--\r\n")
        problem(c.post("/v1/evidence", content=no_file, headers={
            "content-type": "multipart/form-data; boundary=Q"}), 422, "invalid-input")
        problem(c.post("/v1/evidence", data={"case": "case-a", "kind": "nonsense"},
                       files={"file": ("a.txt", b"x")}), 422, "submission-refused")
        problem(c.post("/v1/evidence", data={"case": "case-a", "kind": "document",
                                             "meta": "{not json"},
                       files={"file": ("a.txt", b"x")}), 400, "malformed-json")
        problem(c.post("/v1/evidence", data={"case": "case-a", "kind": "document",
                                             "colour": "red"},
                       files={"file": ("a.txt", b"x")}), 400, "unknown-field")
        problem(c.post("/v1/evidence", data={"case": "case-a", "kind": "document"},
                       files={"file": ("empty.txt", b"")}), 422, "submission-refused")
        # a file over --max-file-size (1 MiB), a body over --max-upload (2 MiB)
        problem(c.post("/v1/evidence", data={"case": "case-a", "kind": "document"},
                       files={"file": ("big.bin", b"\0" * (1536 * 1024))}), 413,
                "file-too-large")
        problem(c.post("/v1/evidence", data={"case": "case-a", "kind": "document"},
                       files={"file": ("huge.bin", b"\0" * (3 << 20))}), 413, "too-large")
        # a body that ends before its closing boundary
        body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"case\"\r\n\r\ncase-a\r\n"
                b"--XyZ\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\ndocument\r\n"
                b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.txt\""
                b"\r\n\r\nhalf a fi")
        problem(c.post("/v1/evidence", content=body, headers={
            "content-type": "multipart/form-data; boundary=XyZ"}), 400, "truncated-upload")
        # JSON endpoints
        problem(c.post("/v1/grants", content=b"{bad", headers={
            "content-type": "application/json"}), 400, "malformed-json")
        problem(c.post("/v1/grants", content=b"x" * (2 << 20), headers={
            "content-type": "application/json"}), 413, "too-large")
        problem(c.get("/v1/evidence/ev_unknown"), 404, "unknown-evidence")
        problem(c.get("/v1/evidence/..%2F..%2Fetc"), 404)
        problem(c.get("/v1/evidence/ev_x/files/not-a-hash"), 422, "invalid-input")
        problem(c.get("/v1/grants/g-0000000000000000"), 404, "unknown-grant")
        problem(c.get("/v1/nowhere"), 404, "not-found")
        problem(c.delete("/v1/grants"), 405, "method-not-allowed")
    # proofs for sizes past the log, bad parameters
    n = log_size(server)
    for params, status, code in (({"seq": 0, "size": n + 10}, 400, "out-of-range"),
                                 ({"seq": n + 5, "size": n}, 400, "out-of-range"),
                                 ({"seq": 10**15}, 409, "not-yet-checkpointed"),
                                 ({}, 400, "bad-request"),
                                 ({"seq": -1}, 422, "invalid-input"),
                                 ({"seq": "x"}, 422, "invalid-input"),
                                 ({"leaf_hash": "ab" * 32}, 404, "unknown-leaf")):
        problem(httpx.get(server.base + "/v1/log/proof/inclusion", params=params), status, code)
    problem(httpx.get(server.base + "/v1/log/proof/consistency",
                      params={"size1": 1, "size2": n + 100}), 400, "out-of-range")
    problem(httpx.get(server.base + "/v1/log/proof/consistency",
                      params={"size1": 3, "size2": 2}), 400, "out-of-range")
    # none of it wrote anything
    assert log_size(server) == size and blobs(server) == blobs_before
    assert not any((server.world.data / "tmp-uploads").iterdir())


def test_aborted_upload_leaves_nothing(server: Server) -> None:
    size, before = log_size(server), blobs(server)
    head = (b"--B\r\nContent-Disposition: form-data; name=\"case\"\r\n\r\ncase-a\r\n"
            b"--B\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\ndocument\r\n"
            b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.bin\"\r\n\r\n")
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(b"POST /v1/evidence HTTP/1.1\r\nHost: x\r\n"
                  b"Authorization: Bearer " + server.world.tokens["acme"].encode() + b"\r\n"
                  b"Content-Type: multipart/form-data; boundary=B\r\n"
                  b"Content-Length: 900000\r\n\r\n" + head + os.urandom(200_000))
        time.sleep(0.5)  # let the server spool part of it, then hang up mid-body
    spool = server.world.data / "tmp-uploads"
    deadline = time.monotonic() + 30
    while any(spool.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(spool.iterdir())
    assert log_size(server) == size and blobs(server) == before
    assert submit(server).status_code == 201  # and the server is fine


def test_rate_limit(tmp_path: Path) -> None:
    world = make_world(tmp_path / "data")
    srv = start_server(world, "--rate", "0.5", "--burst", "3")
    try:
        with srv.client("auditor") as c:
            codes = [c.get("/v1/me").status_code for _ in range(6)]
            assert codes[:3] == [200, 200, 200] and 429 in codes[3:]
            r = c.get("/v1/me")
            problem(r, 429, "rate-limited")
            assert int(r.headers["retry-after"]) >= 1
        with srv.client("judge") as c:  # per token: another token is not limited
            assert c.get("/v1/me").status_code == 200
    finally:
        srv.stop()


def test_cli_access_round_trip(tmp_path: Path) -> None:
    data = str(tmp_path / "d")

    def ev(*args: str, ok: bool = True) -> dict:
        r = subprocess.run([*CLI, *args, "--data-dir", data, "--json"], capture_output=True,
                           text=True, timeout=60)
        out = json.loads(r.stdout)
        assert (r.returncode == 0) == ok and out["ok"] is ok, r.stdout + r.stderr
        return out

    ev("init", "--checkpoint-interval", "0")
    ev("user", "add", "acme", "--role", "submitter", "--org", "ACME Ltd")
    ev("user", "add", "fr", "--role", "foreign")
    ev("user", "add", "acme", "--role", "submitter", ok=False)
    ev("user", "add", "bad id", "--role", "court", ok=False)
    ev("case", "add", "c1", "--title", "ACME v. Copycat")
    ev("case", "member", "add", "c1", "acme")
    assert ev("case", "member", "add", "c1", "acme", ok=False)["code"] == "exists"
    tok = ev("token", "create", "acme", "--label", "laptop")
    assert tok["token"].startswith("evk_")
    listed = ev("token", "list")["tokens"]
    assert [t["id"] for t in listed] == [tok["id"]] and "token" not in listed[0]
    f = tmp_path / "shot.png"
    f.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(40))
    sub = subprocess.run([*CLI, "submit", str(f), "--kind", "other", "--case", "c1",
                          "--principal", "acme", "--data-dir", data, "--json"],
                         capture_output=True, text=True, timeout=60)
    eid = json.loads(sub.stdout)["evidence_id"]
    g = ev("grant", "add", "--as", "acme", "--to", "fr", "--evidence", eid, "--expires",
           SOON, "--max-downloads", "3")
    assert g["status"] == "active" and g["max_downloads"] == 3
    assert [x["id"] for x in ev("grant", "list", "--principal", "fr")["grants"]] == [g["id"]]
    assert ev("grant", "revoke", g["id"], "--as", "acme")["status"] == "revoked"
    assert ev("grant", "revoke", g["id"], "--as", "acme", ok=False)["code"] == \
        "already-revoked"
    assert ev("token", "revoke", tok["id"])["revoked_at"]
    audit = ev("audit")
    assert audit["size"] == 3  # submitted, shared, share_revoked


@pytest.mark.tsa
def test_serve_runs_anchoring_and_serves_the_tokens(tmp_path: Path, tsa) -> None:
    """With a TSA in anchors.json, `evidence serve` anchors checkpoints itself, and
    /v1/log/checkpoints/{size} hands out the token exactly as the TSA returned it."""
    from evidence.verify.timestamp import verify_timestamp

    world = make_world(tmp_path / "data")
    r = subprocess.run([*CLI, "anchor", "tsa", "add", "local", tsa.url, "--ca",
                        str(tsa.ca_pem_path), "--data-dir", str(world.data), "--json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([*CLI, "anchor", "set", "--interval", "0.5", "--data-dir",
                        str(world.data), "--json"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    srv = start_server(world)
    try:
        assert submit(srv).status_code == 201
        deadline = time.monotonic() + 120
        while True:
            size = httpx.get(srv.base + "/v1/status").json()["checkpoint"]["size"]
            view = httpx.get(f"{srv.base}/v1/log/checkpoints/{size}").json()
            if view["timestamps"] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        (ts,) = view["timestamps"]
        assert ts["source"] == "local" and ts["gen_time"]
        text = view["note"].split("\n\n", 1)[0] + "\n"  # the checkpoint text
        verify_timestamp(base64.b64decode(ts["token_b64"]), text.encode(), [tsa.ca_cert_pem])
    finally:
        srv.stop()


# --- submitter signatures over HTTP: sign=deferred, then sign ----------------------------


def deferred(srv: Server, who: str = "acme", content: bytes | None = None,
             **fields: str) -> httpx.Response:
    content = content or b"signed listing " + os.urandom(8).hex().encode()
    with srv.client(who) as c:
        return c.post("/v1/evidence", data={"case": "case-a", "kind": "document",
                                            "sign": "deferred", **fields},
                      files=[("file", ("listing.txt", content, "text/plain"))])


def pending_dir(srv: Server) -> Path:
    return srv.world.data / "pending-uploads"


def test_deferred_signature_round_trip(server: Server) -> None:
    from evidence.verify.note import generate_signer
    from evidence.verify.submission import submission_text, verify_submission

    me = generate_signer("acme-ip.example")
    size, before = log_size(server), blobs(server)
    content = b"signed evidence " + os.urandom(8).hex().encode()
    r = deferred(server, content=content, title="Signed", meta=json.dumps({"shop": "x"}))
    assert r.status_code == 202, r.text
    p = r.json()
    assert r.headers["location"] == p["sign_url"] == f"/v1/evidence/pending/{p['pending_id']}/sign"
    # the text is exactly what verify/ rebuilds from the entry's fields
    assert p["text"] == submission_text(p["evidence_id"], p["metadata_commitment"], p["files"])
    assert p["files"][0]["sha256"] == hashlib.sha256(content).hexdigest()
    # nothing on the ledger yet, the id is unknown, the blob is stored
    assert log_size(server) == size
    assert p["files"][0]["sha256"] in blobs(server) - before
    with server.client("acme") as c:
        problem(c.get(f"/v1/evidence/{p['evidence_id']}"), 404)
    assert not any((server.world.data / "tmp-uploads").iterdir())

    sig = base64.b64encode(me.signature(p["text"].encode())).decode()
    key = me.verifier().to_string()
    with server.client("rival") as c:  # another principal's pending item: unknown to it
        problem(c.post(p["sign_url"], json={"key": key, "signature": sig}), 404,
                "unknown-pending")
    with server.client("lawyer") as c:  # same case, but not the one who uploaded
        problem(c.post(p["sign_url"], json={"key": key, "signature": sig}), 404,
                "unknown-pending")
    with server.client("acme") as c:
        s = c.post(p["sign_url"], json={"key": key, "signature": sig})
        assert s.status_code == 201, s.text
        rec = s.json()
        assert rec["evidence_id"] == p["evidence_id"] and rec["signed_by_submitter"] is True
        assert rec["metadata_commitment"] == p["metadata_commitment"]
        assert s.headers["location"] == f"/v1/evidence/{p['evidence_id']}"
        # the exported entry carries the signature; verify/ checks it against the key
        rc = c.get(f"/v1/evidence/{p['evidence_id']}/receipt").json()
        verify_receipt(rc["receipt"], parse_verifier_key(server.world.vkey), rc["entry"].encode())
        body = parse_entry(rc["entry"].encode()).body
        assert body["submitter"] == {"key": key, "signature": sig}
        assert verify_submission(body, expected_key=key, required=True).to_string() == key
        view = c.get(f"/v1/evidence/{p['evidence_id']}").json()
        assert view["submitter_key"] == key and view["commitment_opens"] is True
        assert view["metadata"]["title"] == "Signed"
        assert c.get(f"/v1/evidence/{p['evidence_id']}/files/{rec['files'][0]['sha256']}"
                     ).content == content
        # signed once: a second signature finds nothing
        problem(c.post(p["sign_url"], json={"key": key, "signature": sig}), 404,
                "unknown-pending")
    assert log_size(server) == size + 3  # submitted + 2 accessed
    assert not (pending_dir(server) / p["pending_id"]).exists()


def test_deferred_bad_signatures_are_refused(server: Server) -> None:
    from evidence.verify.note import generate_signer

    me, other = generate_signer("acme-ip.example"), generate_signer("someone.example")
    p = deferred(server).json()
    size = log_size(server)
    text = p["text"].encode()
    good = base64.b64encode(me.signature(text)).decode()
    tampered = bytearray(base64.b64decode(good))
    tampered[5] ^= 1
    wrong_text = me.signature(text.replace(p["evidence_id"].encode(), b"ev_OTHER"))
    cases = [
        ({"key": other.verifier().to_string(), "signature": good}, 422, "bad-signature"),
        ({"key": me.verifier().to_string(),
          "signature": base64.b64encode(bytes(tampered)).decode()}, 422, "bad-signature"),
        ({"key": me.verifier().to_string(),
          "signature": base64.b64encode(wrong_text).decode()}, 422, "bad-signature"),
        ({"key": me.verifier().to_string(), "signature": "not base64!"}, 422, "bad-signature"),
        ({"key": me.verifier().to_string(), "signature": base64.b64encode(b"x" * 10).decode()},
         422, "bad-signature"),
        ({"key": "garbage", "signature": good}, 422, "bad-signature"),
        ({"key": me.verifier().to_string()}, 422, None),
        ({"key": me.verifier().to_string(), "signature": good, "extra": 1}, 422, None),
    ]
    with server.client("acme") as c:
        for doc, status, code in cases:
            problem(c.post(p["sign_url"], json=doc), status, code)
        problem(c.post(p["sign_url"], content=b"{not json", headers={
            "content-type": "application/json"}), 400, "malformed-json")
        problem(c.post("/v1/evidence/pending/pd_" + "0" * 32 + "/sign",
                       json={"key": me.verifier().to_string(), "signature": good}), 404,
                "unknown-pending")
        for bad_id, status in (("pd_..%2Fstate.json", 404), ("pd_..", 422), ("x" * 35, 422)):
            problem(c.post(f"/v1/evidence/pending/{bad_id}/sign", json={
                "key": me.verifier().to_string(), "signature": good}), status)
        assert log_size(server) == size  # nothing appended by any refusal
        # the pending item survived the refusals: the right signature still works
        s = c.post(p["sign_url"], json={"key": me.verifier().to_string(), "signature": good})
        assert s.status_code == 201, s.text
    assert log_size(server) == size + 1
    with server.client("judge") as c:  # a court cannot submit, so cannot sign either
        problem(c.post(p["sign_url"], json={"key": "k", "signature": "s"}), 403)
    problem(deferred(server, sign="later"), 422, "invalid-input")


def _expire(srv: Server, pending_id: str) -> None:
    """Move a pending item's expiry into the past, behind the service's back."""
    state = pending_dir(srv) / pending_id / "state.json"
    doc = json.loads(state.read_text())
    doc["expires"] = time.time() - 1
    state.write_text(json.dumps(doc))


def test_deferred_expiry_and_cleanup(server: Server) -> None:
    from evidence.verify.note import generate_signer

    me = generate_signer("acme-ip.example")
    size, before = log_size(server), blobs(server)
    a, b = deferred(server).json(), deferred(server).json()
    assert len(blobs(server) - before) == 2
    # signing after expiry: 410, and the item is gone (folder and blob)
    _expire(server, a["pending_id"])
    sig = base64.b64encode(me.signature(a["text"].encode())).decode()
    with server.client("acme") as c:
        problem(c.post(a["sign_url"], json={"key": me.verifier().to_string(),
                                            "signature": sig}), 410, "pending-expired")
        problem(c.post(a["sign_url"], json={"key": me.verifier().to_string(),
                                            "signature": sig}), 410, "pending-expired")
    assert not (pending_dir(server) / a["pending_id"]).exists()
    # never signed at all: swept when the next pending item is made
    _expire(server, b["pending_id"])
    c_ = deferred(server).json()
    assert not (pending_dir(server) / b["pending_id"]).exists()
    assert {p.name for p in pending_dir(server).iterdir() if p.is_dir()} == {c_["pending_id"]}
    assert blobs(server) - before == {c_["files"][0]["sha256"]}
    assert log_size(server) == size  # nothing ever reached the ledger
    with server.client("acme") as c:
        for p in (a, b):
            problem(c.get(f"/v1/evidence/{p['evidence_id']}"), 404)
    _expire(server, c_["pending_id"])
    with server.client("acme") as c:  # any sign request sweeps too
        problem(c.post("/v1/evidence/pending/pd_" + "1" * 32 + "/sign",
                       json={"key": "k", "signature": "s"}), 404)
    assert not [p for p in pending_dir(server).iterdir() if p.is_dir()]
    assert blobs(server) == before


def test_deferred_same_content_as_a_preserved_item_keeps_its_blob(server: Server) -> None:
    content = b"shared content " + os.urandom(8).hex().encode()
    assert submit(server, files=[("a.txt", content)]).status_code == 201
    sha = hashlib.sha256(content).hexdigest()
    p = deferred(server, content=content).json()
    _expire(server, p["pending_id"])
    deferred(server)  # sweeps p: its blob is the preserved item's too, so it stays
    assert not (pending_dir(server) / p["pending_id"]).exists()
    assert sha in blobs(server)


def test_large_parts_spill_to_the_spool(tmp_path: Path) -> None:
    """A file part over 1 MiB streams to the disk spool; smaller ones stay in memory until
    intake runs. Both kinds in one item, aborted or signed later: same results."""
    world = make_world(tmp_path / "data")
    srv = start_server(world, "--rate", "1000", "--burst", "1000")
    try:
        big, small = os.urandom(3 << 20), b"small part " + os.urandom(8)
        r = submit(srv, files=[("big.bin", big), ("small.txt", small), ("big.bin", big)])
        assert r.status_code == 201, r.text
        rec = r.json()
        assert [f["size"] for f in rec["files"]] == [len(big), len(small), len(big)]
        with srv.client("acme") as c:
            for f, content in zip(rec["files"], (big, small), strict=False):
                got = c.get(f"/v1/evidence/{rec['evidence_id']}/files/{f['sha256']}")
                assert got.content == content
        spool = world.data / "tmp-uploads"
        assert not any(spool.iterdir())
        # deferred, with a spilled part: the pending item holds both files
        p = deferred(srv, content=big)
        assert p.status_code == 202, p.text
        assert p.json()["files"][0]["sha256"] == hashlib.sha256(big).hexdigest()
        assert not any(spool.iterdir())
        # cut off after the spill: no entry, no blob, spool emptied
        size, before = log_size(srv), blobs(srv)
        head = (b"--B\r\nContent-Disposition: form-data; name=\"case\"\r\n\r\ncase-a\r\n"
                b"--B\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\ndocument\r\n"
                b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\n")
        with socket.create_connection(("127.0.0.1", srv.port)) as s:
            s.sendall(b"POST /v1/evidence HTTP/1.1\r\nHost: x\r\n"
                      b"Authorization: Bearer " + world.tokens["acme"].encode() + b"\r\n"
                      b"Content-Type: multipart/form-data; boundary=B\r\n"
                      b"Content-Length: 9000000\r\n\r\n" + head + os.urandom(2 << 20))
            deadline = time.monotonic() + 10
            while not any(spool.iterdir()) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert any(spool.iterdir())  # it did spill
        deadline = time.monotonic() + 30
        while any(spool.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(spool.iterdir())
        assert log_size(srv) == size and blobs(srv) == before
    finally:
        srv.stop()


def test_deferred_is_appended_once_under_concurrent_signatures(server: Server) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from evidence.verify.note import generate_signer

    me = generate_signer("acme-ip.example")
    for _ in range(3):
        p = deferred(server).json()
        doc = {"key": me.verifier().to_string(),
               "signature": base64.b64encode(me.signature(p["text"].encode())).decode()}
        size = log_size(server)

        def sign(_i: int, url: str = p["sign_url"], doc: dict = doc) -> int:
            with server.client("acme") as c:
                return c.post(url, json=doc).status_code

        with ThreadPoolExecutor(8) as pool:
            codes = sorted(pool.map(sign, range(8)))
        assert codes == [201] + [404] * 7, codes
        assert log_size(server) == size + 1
