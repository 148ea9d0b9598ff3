"""The intake commands as people run them: real processes on a real data directory.
A bulk import killed with SIGKILL loses nothing it reported, and leaves no half item."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.evidence_store import evidence_items, load_item
from evidence.ledger.log import Ledger
from evidence.verify.commitment import verify_commitment
from evidence.verify.receipt import verify_receipt
from evidence.verify.submission import verify_submission
from tests.support.cli_run import CLI, add_submitter, cli_env, init_data_dir, run_cli


def _consistent(data_dir: str) -> list[str]:
    """Every submitted entry has its item and vice versa, every commitment opens, every
    live item's blobs are there; returns the evidence ids."""
    led = Ledger.open(data_dir, read_only=True)
    store = FilesystemBlobStore(Path(data_dir) / "blobs")
    try:
        assert led.audit().ok
        by_entry = {}
        for e in led.entries():
            if e.type == "evidence.submitted":
                by_entry[json.loads(e.data)["body"]["evidence_id"]] = e
        with led.engine.connect() as c:
            ids = [r[0] for r in c.execute(select(evidence_items.c.evidence_id))]
            assert sorted(ids) == sorted(by_entry)
            for eid in ids:
                item = load_item(c, eid)
                e = by_entry[eid]
                assert item.seq == e.seq
                verify_receipt(item.receipt, led.verifier, e.data)
                body = json.loads(e.data)["body"]
                verify_commitment(body["metadata_commitment"], item.salt,
                                  json.loads(item.metadata_jcs))
                for f in item.files:
                    assert store.exists(f.sha256)
        return ids
    finally:
        led.close()


def test_submit_show_receipt_purge_round_trip(tmp_path) -> None:
    d = init_data_dir(tmp_path)
    add_submitter(d, "C-1", principal="acme")
    (tmp_path / "shot.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 30)
    (tmp_path / "page.html").write_text("<html>offer</html>")
    run_cli("keygen", "acme.example", "-o", str(tmp_path / "acme.key"))
    out = json.loads(run_cli("submit", str(tmp_path / "shot.png"), str(tmp_path / "page.html"),
                          "--case", "C-1", "--kind", "screenshot", "--title", "listing",
                          "--meta", "shop=x", "--captured-at", "2026-01-02T03:04:05+08:00",
                          "--sign-key", str(tmp_path / "acme.key"), "--principal", "acme",
                          "--data-dir", d, "--json").stdout)
    assert out["ok"] and out["signed_by_submitter"] and out["seq"] == 0
    assert out["warnings"]  # the fake PNG cannot be read as an image: preserved, recorded
    eid = out["evidence_id"]
    shown = json.loads(run_cli("show", eid, "--data-dir", d, "--json").stdout)
    assert shown["metadata"]["stated"]["meta"] == {"shop": "x"}
    assert shown["commitment_opens"] is True and all(f["stored"] for f in shown["files"])
    led = Ledger.open(d, read_only=True)
    verify_submission(json.loads(led.entry(0).data)["body"], required=True)
    led.close()
    r = json.loads(run_cli("receipt", eid, "--data-dir", d, "--json").stdout)
    assert r["inclusion_proof"]["tree_size"] == 1  # checkpoint interval 0: already covered
    text = run_cli("receipt", eid, "--data-dir", d).stdout
    assert text.startswith("evidence.receipt/v1\ncli.example/log\n0\n")
    p = json.loads(run_cli("purge", eid, "--reason", "court order", "--data-dir", d,
                        "--json").stdout)
    assert p["ok"] and len(p["deleted_blobs"]) == 2
    again = run_cli("purge", eid, "--reason", "x", "--data-dir", d, check=False)
    assert again.returncode == 1 and "already purged" in again.stderr
    unknown = run_cli("show", "ev_NOPE", "--data-dir", d, check=False)
    assert unknown.returncode == 1 and "no evidence item" in unknown.stderr
    assert json.loads(run_cli("show", eid, "--data-dir", d, "--json").stdout)["status"] == "purged"
    assert json.loads(run_cli("audit", "--data-dir", d, "--json").stdout)["ok"]


def test_each_over_a_folder_reports_every_file(tmp_path) -> None:
    d = init_data_dir(tmp_path)
    top = tmp_path / "export"
    (top / "2026" / "jan").mkdir(parents=True)
    for i in range(5):
        (top / "2026" / "jan" / f"chat{i}.txt").write_text(f"message {i}\n")
    (top / "dangling.png").symlink_to(top / "missing.png")
    os.mkfifo(top / "pipe")
    (top / "empty.txt").write_bytes(b"")
    (top / "big.bin").write_bytes(b"x" * 2048)
    add_submitter(d, "C-2")
    p = run_cli("submit", str(top), "--each", "--case", "C-2", "--kind", "other",
             "--max-file-size", "1k", "--data-dir", d, "--as", "tester", "--json", check=False)
    assert p.returncode == 1
    out = json.loads(p.stdout)
    assert len(out["submitted"]) == 5
    failed = {Path(f["file"]).name: f["reason"] for f in out["failed"]}
    assert failed == {"dangling.png": "is a dangling symbolic link",
                      "pipe": "is a FIFO, not a regular file",
                      "empty.txt": "is empty (0 bytes): nothing to preserve",
                      "big.bin": "is larger than the limit of 1024 bytes"}
    assert len(_consistent(d)) == 5
    text = run_cli("submit", str(top / "2026"), "--each", "--case", "C-2", "--kind", "chat",
                "--data-dir", d, "--as", "tester")
    assert len([ln for ln in text.stdout.splitlines() if ln.startswith("ok ev_")]) == 5
    assert "5 item(s) preserved, 0 file(s) not" in text.stderr


def test_sigkilled_bulk_import_loses_nothing_acknowledged(tmp_path) -> None:
    d = init_data_dir(tmp_path)
    top = tmp_path / "many"
    top.mkdir()
    for i in range(3000):
        (top / f"f{i:05d}.txt").write_text(f"item {i}\n" * (1 + i % 7))
    add_submitter(d, "bulk")
    child = subprocess.Popen([sys.executable, "-c", CLI, "submit", str(top),
                              "--each", "--case", "bulk", "--kind", "document",
                              "--data-dir", d, "--as", "tester"], env=cli_env(),
                             stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    acked = []
    assert child.stdout is not None
    for line in child.stdout:
        if line.startswith("ok "):
            acked.append(line.split())
        if len(acked) >= 200:
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    rest = child.stdout.read()
    acked += [ln.split() for ln in rest.splitlines() if ln.startswith("ok ")]
    ids = set(_consistent(d))
    led = Ledger.open(d, read_only=True)
    try:
        for _, eid, seq, leaf, _path in acked:
            assert eid in ids
            assert led.entry(int(seq)).leaf_hash.hex() == leaf
    finally:
        led.close()
    # blobs a killed submission wrote but never committed: gc removes them, nothing else
    gc = json.loads(run_cli("gc", "--grace", "0", "--data-dir", d, "--json").stdout)
    assert gc["ok"]
    assert set(_consistent(d)) == ids
    store = FilesystemBlobStore(Path(d) / "blobs")
    from evidence.ledger.intake.maintenance import iter_blobs

    assert len(list(iter_blobs(store))) == len(ids)
