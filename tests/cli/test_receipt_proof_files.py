"""``evidence receipt ID --tlog-proof [FILE]`` and ``--cose FILE [--tree-size N]`` on a real
data directory (the CLI as a child process): the files check out with the package's
verifiers, stdout carries the tlog-proof without FILE, and a tree size the log never had
is refused with exit status 1 and a reason."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from evidence.ledger.anchor.config import load_anchor_config, trust_policy
from evidence.ledger.log import Ledger
from evidence.verify.cose_receipt import verify_cose_receipt
from evidence.verify.tlog_proof import check_tlog_proof
from tests.support.cli_run import CLI, add_submitter, cli_env, init_data_dir, run_cli


def test_receipt_writes_tlog_proof_and_cose(tmp_path: Path) -> None:
    d = init_data_dir(tmp_path)
    add_submitter(d, "C-1", principal="acme")
    (tmp_path / "a.txt").write_text("offer")
    eid = json.loads(run_cli("submit", str(tmp_path / "a.txt"), "--case", "C-1",
                             "--kind", "document", "--principal", "acme", "--data-dir", d,
                             "--json").stdout
                     )["evidence_id"]
    out = tmp_path / "a.tlog-proof"
    r = run_cli("receipt", eid, "--tlog-proof", str(out), "--data-dir", d)
    assert "not witnessed (no witness is configured)" in r.stderr
    led = Ledger.open(d, read_only=True)
    try:
        policy = trust_policy(load_anchor_config(Path(d)), led.verifier)
        report = check_tlog_proof(out.read_bytes(), policy,
                                  files=[(tmp_path / "a.txt").read_bytes()])
        assert report.verdict == "incomplete" and report.not_checked == ["cosignatures"]
        stdout = subprocess.run([sys.executable, "-c", CLI, "receipt", eid, "--tlog-proof",
                                 "--data-dir", d], env=cli_env(), capture_output=True,
                                check=True).stdout
        assert stdout == out.read_bytes()
        cose = tmp_path / "a.cose"
        run_cli("receipt", eid, "--cose", str(cose), "--data-dir", d)
        got = verify_cose_receipt(cose.read_bytes(), led.verifier, led.entry(0).data)
        assert (got.leaf_index, got.tree_size) == (0, led.size)
    finally:
        led.close()
    never = run_cli("receipt", eid, "--cose", str(tmp_path / "b.cose"), "--tree-size",
                    "99", "--data-dir", d, check=False)
    assert never.returncode == 1 and "never had it" in never.stderr
    assert not (tmp_path / "b.cose").exists()
    alone = run_cli("receipt", eid, "--tree-size", "1", "--data-dir", d, check=False)
    assert alone.returncode == 2 and "--tree-size is for --cose" in alone.stderr
