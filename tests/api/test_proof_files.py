"""GET /v1/evidence/{id}/receipt.tlog-proof and /receipt.cose on a real ``evidence serve``:
the files check out with the package's verifiers against the server's own trust file
(GET /v1/log/trust), and a COSE receipt for a size the log never had, or one that does not
hold the entry, is a 400 ``out-of-range`` problem."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from evidence.verify.cose_receipt import verify_cose_receipt
from evidence.verify.note import parse_verifier_key
from evidence.verify.tlog_proof import check_tlog_proof
from evidence.verify.trust import parse_trust
from tests.support.api_server import Server, make_world, problem, start_server, submit, wait_proof


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict]]:
    server = start_server(make_world(tmp_path_factory.mktemp("prooffiles") / "data"))
    try:
        submit(server)
        rec = submit(server).json()  # the second item: its entry is not the first
        with server.client("acme") as c:
            wait_proof(c, rec["seq"])
        yield server, rec
    finally:
        server.stop()


def test_tlog_proof_checks_out_against_the_served_trust_file(srv) -> None:
    server, rec = srv
    trust = parse_trust(httpx.get(server.base + "/v1/log/trust").content)
    with server.client("acme") as c:
        r = c.get(f"/v1/evidence/{rec['evidence_id']}/receipt.tlog-proof")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert r.headers["evidence-proof-witnessed"] == "false"  # this world has no witness
    report = check_tlog_proof(r.content, trust)
    assert report.verdict in ("verified", "incomplete"), report.to_json()
    assert report.failed_check is None and report.index == rec["seq"]


def test_cose_receipt_and_its_bad_sizes(srv) -> None:
    server, rec = srv
    eid = rec["evidence_id"]
    with server.client("acme") as c:
        receipt = c.get(f"/v1/evidence/{eid}/receipt").json()
        r = c.get(f"/v1/evidence/{eid}/receipt.cose")
        assert r.status_code == 200 and r.headers["content-type"] == "application/cose"
        got = verify_cose_receipt(r.content, parse_verifier_key(receipt["log_key"]),
                                  receipt["entry"].encode())
        assert got.leaf_index == rec["seq"]
        assert got.tree_size == receipt["inclusion_proof"]["tree_size"]
        size = got.tree_size
        exact = c.get(f"/v1/evidence/{eid}/receipt.cose", params={"size": size})
        assert verify_cose_receipt(exact.content, parse_verifier_key(receipt["log_key"]),
                                   receipt["entry"].encode()).tree_size == size
        never = c.get(f"/v1/evidence/{eid}/receipt.cose", params={"size": 10**12})
        assert "never had" in problem(never, 400, "out-of-range")["detail"]
        assert rec["seq"] > 0
        before = c.get(f"/v1/evidence/{eid}/receipt.cose", params={"size": rec["seq"]})
        assert "not in the tree" in problem(before, 400, "out-of-range")["detail"]
        problem(c.get(f"/v1/evidence/{eid}/receipt.cose", params={"size": 0}), 422)
        problem(c.get("/v1/evidence/ev_nothing/receipt.cose"), 404)


def test_remote_cli_writes_the_same_files(srv, tmp_path) -> None:
    """``evidence receipt ID --tlog-proof FILE --cose FILE --server URL``: the files the
    routes serve, written by the remote CLI."""
    import os
    import subprocess
    import sys

    server, rec = srv
    eid = rec["evidence_id"]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("EVIDENCE_") and k != "XDG_CONFIG_HOME"}
    env.update(EVIDENCE_TOKEN=server.world.tokens["acme"],
               XDG_CONFIG_HOME=str(tmp_path / "config"))
    p = subprocess.run([sys.executable, "-c", "from evidence.cli.main import main; main()",
                        "receipt", eid, "--tlog-proof", str(tmp_path / "r.tlog-proof"),
                        "--cose", str(tmp_path / "r.cose"), "--server", server.base],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "not witnessed" in p.stderr
    with server.client("acme") as c:
        assert (tmp_path / "r.tlog-proof").read_bytes() == c.get(
            f"/v1/evidence/{eid}/receipt.tlog-proof").content
        receipt = c.get(f"/v1/evidence/{eid}/receipt").json()
    got = verify_cose_receipt((tmp_path / "r.cose").read_bytes(),
                              parse_verifier_key(receipt["log_key"]), receipt["entry"].encode())
    assert got.leaf_index == rec["seq"]
