"""``evidence submit --signed-statement FILE`` as people run it (real processes): on the local
ledger and over HTTP against a real ``evidence serve``, a statement made by pycose
(tests/support/scitt.py) is preserved byte for byte and its COSE receipt
(``evidence receipt ID --cose``) verifies; a statement whose signature fails is refused
with the reason, exit 1, and nothing is appended."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cbor2

from evidence.ledger.log import Ledger
from evidence.verify.cose_receipt import verify_cose_receipt
from tests.support import scitt
from tests.support.api_server import make_world, start_server
from tests.support.cli_run import CLI, add_submitter, init_data_dir, run_cli


def _files(tmp_path: Path) -> tuple[Path, Path]:
    good = tmp_path / "statement.cose"
    good.write_bytes(scitt.statement(scitt.es256_with_certificate()))
    top = cbor2.loads(good.read_bytes())
    top.value[2] = top.value[2] + b" "
    bad = tmp_path / "altered.cose"
    bad.write_bytes(cbor2.dumps(top))
    return good, bad


def test_local_statement_preserved_and_a_bad_one_refused(tmp_path: Path) -> None:
    d = init_data_dir(tmp_path)
    who = add_submitter(d, "C-1")
    good, bad = _files(tmp_path)
    p = run_cli("submit", "--signed-statement", str(good), "--case", "C-1", "--as", who,
                "--data-dir", d, "--json")
    rec = json.loads(p.stdout)
    assert rec["ok"] and rec["files"][0]["name"] == "statement.cose"
    led = Ledger.open(d, read_only=True)
    try:
        size, entry = led.size, led.entry(rec["seq"]).data
        vkey = led.verifier
    finally:
        led.close()
    out = tmp_path / "r.cose"
    run_cli("receipt", rec["evidence_id"], "--cose", str(out), "--data-dir", d)
    got = verify_cose_receipt(out.read_bytes(), vkey, entry)
    assert got.leaf_index == rec["seq"]
    r = run_cli("submit", "--signed-statement", str(bad), "--case", "C-1", "--as", who,
                "--data-dir", d, check=False)
    assert r.returncode == 1 and "does not verify" in r.stderr and "not registered" in r.stderr
    r = run_cli("submit", str(good), "--case", "C-1", "--as", who, "--data-dir", d,
                check=False)
    assert r.returncode == 2 and "--kind is required" in r.stderr
    led = Ledger.open(d, read_only=True)
    try:
        assert led.size == size  # nothing appended by the refusals
    finally:
        led.close()


def test_remote_statement(tmp_path: Path) -> None:
    server = start_server(make_world(tmp_path / "data"))
    try:
        good, bad = _files(tmp_path)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("EVIDENCE_") and k != "XDG_CONFIG_HOME"}
        env.update(EVIDENCE_TOKEN=server.world.tokens["acme"], XDG_CONFIG_HOME=str(tmp_path))

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-c", CLI, *args, "--server", server.base],
                                  env=env, capture_output=True, text=True, timeout=300)

        p = run("submit", "--signed-statement", str(good), "--case", "case-a", "--json")
        assert p.returncode == 0, p.stderr
        rec = json.loads(p.stdout)
        with server.client("acme") as c:
            item = c.get(f"/v1/evidence/{rec['evidence_id']}").json()
            assert c.get(item["files"][0]["url"]).content == good.read_bytes()
        facts = item["metadata"]["extracted"]["files"][0]["scitt_statement"]
        assert facts["subject"] == scitt.SUBJECT
        p = run("submit", "--signed-statement", str(bad), "--case", "case-a")
        assert p.returncode == 1 and "does not verify" in p.stderr
    finally:
        server.stop()
