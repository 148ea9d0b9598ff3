"""``POST /v1/captures`` and ``GET /v1/captures/{id}`` on a real ``evidence serve``: the
job captures a real loopback site with Debian's chromium and the item is preserved like
any upload (then retrievable, with its receipt). Loopback is allowed by the operator
setting EVIDENCE_CAPTURE_ALLOW_NETWORKS; refusals end the job with nothing preserved."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from evidence.ledger.keyfile import write_private_key
from evidence.verify.note import generate_signer
from evidence.verify.webcapture import verify_webcapture
from tests.support.api_server import PROBLEM, Server, make_world, start_server
from tests.support.capture_sites import serve

CHROMIUM = os.environ.get("EVIDENCE_CHROMIUM", "/usr/bin/chromium")
pytestmark = pytest.mark.slow
if not Path(CHROMIUM).exists():
    pytest.skip(f"chromium not found at {CHROMIUM}", allow_module_level=True)
pytest.importorskip("playwright")
pytest.importorskip("wacz")

NODE = generate_signer("capture.test/api-node")


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    world = make_world(tmp_path_factory.mktemp("capapi") / "data")
    write_private_key(world.data / "capture-node.key", NODE)
    old = os.environ.get("EVIDENCE_CAPTURE_ALLOW_NETWORKS")
    os.environ["EVIDENCE_CAPTURE_ALLOW_NETWORKS"] = "127.0.0.1/32"
    try:
        s = start_server(world, "--rate", "1000", "--burst", "1000")
    finally:
        if old is None:
            del os.environ["EVIDENCE_CAPTURE_ALLOW_NETWORKS"]
        else:
            os.environ["EVIDENCE_CAPTURE_ALLOW_NETWORKS"] = old
    try:
        yield s
    finally:
        s.stop()


def _wait(c: httpx.Client, cid: str) -> dict:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        r = c.get(f"/v1/captures/{cid}")
        assert r.status_code == 200, r.text
        job = r.json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"capture {cid} did not finish")


def test_capture_job_preserves_the_page(srv: Server) -> None:
    with serve() as site, srv.client("acme") as c:
        r = c.post("/v1/captures", json={"url": site.base + "/r1", "case": "case-a",
                                         "locale": "zh-CN"})
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["status"] in ("queued", "running") and job["id"].startswith("cap_")
        assert r.headers["location"] == f"/v1/captures/{job['id']}"
        done = _wait(c, job["id"])
    assert done["status"] == "done", done
    assert done["final_url"] == site.base + "/" and done["server_ip"] == "127.0.0.1"
    eid = done["evidence_id"]
    with srv.client("acme") as c:
        meta = c.get(f"/v1/evidence/{eid}")
        assert meta.status_code == 200, meta.text
        doc = meta.json()
        files = {}
        for f in doc["files"]:
            got = c.get(f"/v1/evidence/{eid}/files/{f['sha256']}")
            assert got.status_code == 200
            files[f["name"]] = got.content
    assert verify_webcapture(files, [NODE.verifier()]).status == "pass"
    # another principal does not see the job
    with srv.client("rival") as c:
        assert c.get(f"/v1/captures/{job['id']}").status_code == 404


def test_capture_refusals(srv: Server) -> None:
    with srv.client("acme") as c:
        r = c.post("/v1/captures", json={"url": "file:///etc/passwd", "case": "case-a"})
        assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
        assert r.json()["code"] == "bad-url"
        r = c.post("/v1/captures", json={"url": "http://127.0.0.1/", "case": "case-b"})
        assert r.status_code == 404  # not a member of case-b
        r = c.post("/v1/captures", json={"url": "http://127.0.0.2:9/", "case": "case-a"})
        assert r.status_code == 202
        job = _wait(c, r.json()["id"])
        assert job["status"] == "refused" and job["code"] == "private-address"
        assert job["evidence_id"] is None
        assert c.get("/v1/captures/cap_" + "0" * 32).status_code == 404
    with srv.client("judge") as c:
        r = c.post("/v1/captures", json={"url": "http://127.0.0.1/", "case": "case-a"})
        assert r.status_code == 403  # a court does not submit


def test_capture_job_clicks_in_order(srv: Server) -> None:
    with srv.client("acme") as c:
        for bad in (["#a"] * 11, ["x" * 501], [""], "#more", [3]):
            r = c.post("/v1/captures", json={"url": "http://127.0.0.1/", "case": "case-a",
                                             "click": bad})
            assert r.status_code == 422 and r.json()["code"] == "invalid-input", bad
        with serve() as site:
            r = c.post("/v1/captures", json={"url": site.base + "/reveal", "case": "case-a",
                                             "click": ["#more", "#not-there"]})
            assert r.status_code == 202, r.text
            assert r.json()["options"]["click"] == ["#more", "#not-there"]
            done = _wait(c, r.json()["id"])
        assert done["status"] == "done", done
        assert done["labels"] == ["click-target-not-found"]  # captured anyway
        eid = done["evidence_id"]
        doc = c.get(f"/v1/evidence/{eid}").json()
        files = {f["name"]: c.get(f"/v1/evidence/{eid}/files/{f['sha256']}").content
                 for f in doc["files"]}
    assert verify_webcapture(files, [NODE.verifier()]).status == "pass"
    assert "Hidden price list: 5 USD each" in files["text.txt"].decode()
    manifest = json.loads(files["capture-manifest.json"])
    assert [(s["selector"], s["found"], s["url_after"]) for s in manifest["steps"]
            if s["action"] == "click"] == [("#more", True, site.base + "/reveal"),
                                           ("#not-there", False, site.base + "/reveal")]
