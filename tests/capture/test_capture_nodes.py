"""Capture nodes elsewhere (issue 14, point 5): ``evidence capture-node`` runs as its own
process, takes the jobs addressed to it from a real ``evidence serve`` over HTTP with its
own token, captures with its own browser, signs with its own key and hands the files
back. The service preserves a result only when the node and the key that signed it are
the ones it lists; two node processes, one listed with its key and one signing with a
key the service does not list."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evidence.ledger.access import AccessControl
from evidence.ledger.keyfile import write_private_key
from evidence.ledger.log import Ledger
from evidence.verify.note import generate_signer
from evidence.verify.webcapture import verify_webcapture
from tests.support.api_server import make_world, start_server
from tests.support.capture_sites import serve

CHROMIUM = os.environ.get("EVIDENCE_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
if not Path(CHROMIUM).exists():
    pytest.skip(f"chromium not found at {CHROMIUM}", allow_module_level=True)
pytest.importorskip("playwright")
pytest.importorskip("wacz")


def _node(srv_base: str, token: Path, key: Path) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen(
        [sys.executable, "-c", "from evidence.cli.main import main; main()", "capture-node",
         "--service", srv_base, "--token-file", str(token), "--key", str(key),
         "--allow-network", "127.0.0.1/32", "--once", "--chromium", CHROMIUM],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_capture_nodes_as_processes(tmp_path: Path) -> None:
    world = make_world(tmp_path / "data")
    # two nodes: their principals and tokens, their keys; the service lists node-a with
    # its key and node-b with a key node-b does NOT sign with
    led = Ledger.open(world.data)
    try:
        ac = AccessControl(led)
        tokens = {}
        for name in ("node-a", "node-b"):
            ac.add_principal(name, "auditor", name)
            tokens[name] = ac.create_token(name, label="capture node")[1]
    finally:
        led.close()
    key_a = generate_signer("capture.test/node-a")
    key_b = generate_signer("capture.test/node-b")
    listed_b = generate_signer("capture.test/node-b")  # what the operator listed for node-b
    (world.data / "capture-nodes").write_text(
        "# name principal verifier-key\n"
        f"node-a node-a {key_a.verifier().to_string()}\n"
        f"node-b node-b {listed_b.verifier().to_string()}\n")
    files = {}
    for name, key in (("node-a", key_a), ("node-b", key_b)):
        write_private_key(tmp_path / f"{name}.key", key)
        (tmp_path / f"{name}.token").write_text(tokens[name])
        files[name] = (tmp_path / f"{name}.token", tmp_path / f"{name}.key")
    # acme's own token is no node's
    (tmp_path / "acme.token").write_text(world.tokens["acme"])

    srv = start_server(world, "--rate", "1000", "--burst", "1000")
    try:
        with serve() as site, srv.client("acme") as c:
            r = c.post("/v1/captures", json={"url": site.base + "/r1", "case": "case-a",
                                             "node": "node-z"})
            assert r.status_code == 422 and r.json()["code"] == "unknown-capture-node"
            job_a = c.post("/v1/captures", json={"url": site.base + "/r1", "case": "case-a",
                                                 "node": "node-a", "click": ["h1"]}).json()
            job_b = c.post("/v1/captures", json={"url": site.base + "/zh", "case": "case-a",
                                                 "node": "node-b", "locale": "zh-CN"}).json()
            assert job_a["status"] == job_b["status"] == "queued"
            assert job_a["node"] == "node-a"

            not_a_node = _node(srv.base, tmp_path / "acme.token", tmp_path / "node-a.key")
            a = _node(srv.base, *files["node-a"])
            b = _node(srv.base, *files["node-b"])
            err = {name: p.communicate(timeout=240)[1]
                   for name, p in (("a", a), ("b", b), ("none", not_a_node))}
            assert not_a_node.returncode == 1 and "not-a-capture-node" in err["none"]
            assert a.returncode == 0 and "preserved ev_" in err["a"], err["a"]
            assert b.returncode == 0, err["b"]
            assert "did not accept it (422)" in err["b"] and "capture-rejected" in err["b"]

            done = c.get(f"/v1/captures/{job_a['id']}").json()
            rejected = c.get(f"/v1/captures/{job_b['id']}").json()
            assert site.served  # both nodes really visited the site
        assert done["status"] == "done" and done["final_url"] == site.base + "/"
        assert rejected["status"] == "refused" and rejected["code"] == "capture-rejected"
        assert rejected["evidence_id"] is None

        with srv.client("acme") as c:
            eid = done["evidence_id"]
            doc = c.get(f"/v1/evidence/{eid}").json()
            got = {f["name"]: c.get(f"/v1/evidence/{eid}/files/{f['sha256']}").content
                   for f in doc["files"]}
        assert verify_webcapture(got, [key_a.verifier()]).status == "pass"
        manifest = json.loads(got["capture-manifest.json"])
        assert manifest["node"]["key"] == key_a.verifier().to_string()
        # the job's options travelled to the node: it clicked as asked
        assert manifest["request"]["options"]["click"] == ["h1"]
        assert [(st["selector"], st["found"]) for st in manifest["steps"]
                if st["action"] == "click"] == [("h1", True)]

        # node-b's capture preserved nothing: one submitted entry in the whole log
        led = Ledger.open(world.data, read_only=True)
        try:
            assert [e.type for e in led.entries()].count("evidence.submitted") == 1
        finally:
            led.close()
        # a finished job cannot be answered again, and only by its node
        with srv.client("acme") as c:
            c.headers["Authorization"] = f"Bearer {tokens['node-a']}"
            again = c.post(f"/v1/captures/{job_a['id']}/refusal",
                           json={"code": "x", "error": "late"})
            assert again.status_code == 409
            c.headers["Authorization"] = f"Bearer {tokens['node-b']}"
            assert c.post(f"/v1/captures/{job_a['id']}/refusal",
                          json={"code": "x", "error": "not mine"}).status_code == 404
    finally:
        srv.stop()
