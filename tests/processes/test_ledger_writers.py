"""Real processes against one ledger: several writers on PostgreSQL make one
gap-free log; a writer killed with SIGKILL loses nothing it acknowledged."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from evidence.ledger.log import Ledger
from evidence.verify.entry import parse_entry
from tests.support.processes import child_env, kill_after_acks

WRITER = textwrap.dedent("""
    import sys, threading
    from evidence.ledger.log import Ledger
    data_dir, db_url, proc, n, threads = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
    led = Ledger.open(data_dir, db_url)
    def work(t):
        for i in range(t, n, threads):
            led.append("custody.note", {"p": proc, "i": i})
    ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    [t.start() for t in ts]; [t.join() for t in ts]
    led.close()
    print("done", flush=True)
""")

LOOPER = textwrap.dedent("""
    import sys
    from evidence.ledger.log import Ledger
    led = Ledger.open(sys.argv[1], sys.argv[2])
    i = 0
    while True:
        a = led.append("custody.note", {"i": i})
        sys.stdout.write(f"{a.seq} {a.leaf_hash.hex()}\\n"); sys.stdout.flush()
        i += 1
""")


@pytest.mark.pg
@pytest.mark.slow
def test_four_processes_on_postgres_make_one_gap_free_log(tmp_path, pg_fresh_url) -> None:
    procs, per_proc = 4, 5000
    led = Ledger.create(tmp_path / "data", "multi.example/log", db_url=pg_fresh_url,
                        checkpoint_interval=0.2)
    led.close()
    children = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / "data"),
                                  pg_fresh_url, str(p), str(per_proc), "16"],
                                 env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for p in range(procs)]
    for c in children:
        _out, err = c.communicate(timeout=900)
        assert c.returncode == 0, err.decode()[-2000:]
    with Ledger.open(tmp_path / "data", pg_fresh_url) as led:
        assert led.size == procs * per_proc
        report = led.audit()
        assert report.ok, report
        seen = {(parse_entry(e.data).body["p"], parse_entry(e.data).body["i"])
                for e in led.entries()}
        assert seen == {(p, i) for p in range(procs) for i in range(per_proc)}
        assert report.checkpoints_checked >= 1


def _check_survivors(data_dir: Path, db_url: str, acked: list[tuple[int, str]]) -> None:
    with Ledger.open(data_dir, db_url) as led:
        report = led.audit()
        assert report.ok, report
        assert led.size >= len(acked)
        for seq, h in acked:
            assert led.entry(seq).leaf_hash.hex() == h
        led.append("custody.note", {"after": "crash"})  # and it goes on
        assert led.audit().ok


def test_sigkill_while_appending_sqlite(tmp_path) -> None:
    Ledger.create(tmp_path / "data", "crash.example/log", checkpoint_interval=0).close()
    cfg_url = Ledger.open(tmp_path / "data", read_only=True)
    url = cfg_url.config.db_url
    cfg_url.close()
    acked = kill_after_acks(LOOPER, [str(tmp_path / "data"), url], 300)
    _check_survivors(tmp_path / "data", url, acked)


@pytest.mark.pg
def test_sigkill_and_server_crash_postgres_fsync_on(tmp_path, pg_url_durable,
                                                    pg_cluster_durable) -> None:
    Ledger.create(tmp_path / "data", "crash.example/log", db_url=pg_url_durable,
                  checkpoint_interval=0).close()
    acked = kill_after_acks(LOOPER, [str(tmp_path / "data"), pg_url_durable], 300)
    if pg_cluster_durable.owned:  # a power cut for the server too: WAL recovery on start
        pg_cluster_durable.crash()
        pg_cluster_durable.start()
    _check_survivors(tmp_path / "data", pg_url_durable, acked)


def test_cli_round_trip(tmp_path) -> None:
    from click.testing import CliRunner

    from evidence.cli.main import cli
    from evidence.verify.checkpoint import verify_checkpoint
    from evidence.verify.merkle import verify_consistency, verify_inclusion
    from evidence.verify.note import parse_verifier_key

    run = CliRunner()
    d = str(tmp_path / "data")

    def ok(*args: str) -> str:
        r = run.invoke(cli, [*args, "--data-dir", d])
        assert r.exit_code == 0, r.output
        return r.stdout

    vkey = ok("init", "--origin", "cli.example/log").strip()
    assert run.invoke(cli, ["init", "--data-dir", d]).exit_code != 0  # second init refused
    for i in range(5):
        ok("log", "append", "custody.note", "--body", json.dumps({"i": i}))
    assert ok("log", "key").strip() == vkey
    note = ok("log", "checkpoint")
    verifier = parse_verifier_key(vkey)
    cp = verify_checkpoint(note, verifier).checkpoint
    assert cp.size == 5
    e = json.loads(ok("log", "entry", "2", "--json"))
    assert set(e) == {"seq", "leaf_hash", "entry_b64"}
    p = json.loads(ok("log", "proof", "inclusion", "2", "--json"))
    assert set(p) == {"index", "tree_size", "leaf_hash", "proof", "root"}
    verify_inclusion(2, 5, bytes.fromhex(p["leaf_hash"]), [bytes.fromhex(h) for h in p["proof"]],
                     cp.root)
    c = json.loads(ok("log", "proof", "consistency", "2", "5", "--json"))
    assert set(c) == {"size1", "size2", "root1", "root2", "proof"}
    verify_consistency(2, 5, bytes.fromhex(c["root1"]), bytes.fromhex(c["root2"]),
                       [bytes.fromhex(h) for h in c["proof"]])
    bad = run.invoke(cli, ["log", "proof", "inclusion", "9", "--json", "--data-dir", d])
    assert bad.exit_code != 0 and "past the end" in bad.output
    audit = json.loads(ok("audit", "--json"))
    assert audit["ok"] and audit["size"] == 5
    assert json.loads(ok("audit", "--workers", "2", "--json")) == audit  # worker processes
    out = tmp_path / "export"
    ok("log", "export", str(out))
    lines = (out / "entries.jsonl").read_text().splitlines()
    assert [json.loads(x)["seq"] for x in lines] == list(range(5))
    assert (out / "log.vkey").read_text().strip() == vkey
    assert verify_checkpoint((out / "checkpoints" / "5").read_text(), verifier)
