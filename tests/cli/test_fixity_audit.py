"""Fixity in the audit and honest failure of the CLI (issue 15): real processes on a
real data directory, files damaged and deleted on disk, a database page overwritten.

``evidence audit`` re-hashes every stored file by default and names each missing or
damaged one with its evidence ids (exit 1); ``--entries-only`` skips them; ``evidence
show`` and ``evidence export`` say what is wrong without a traceback; a damaged database
gives a JSON report, never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.support.cli_run import add_submitter, init_data_dir, run_cli


def _submit(d: str, path: Path, case: str = "c1") -> str:
    out = run_cli("submit", str(path), "--case", case, "--kind", "document", "--data-dir", d,
               "--as", add_submitter(d, case), "--json").stdout
    return json.loads(out)["evidence_id"]


def _blob(d: str, content: bytes) -> Path:
    sha = hashlib.sha256(content).hexdigest()
    return Path(d) / "blobs" / sha[:2] / sha[2:4] / sha


def _world(tmp_path: Path) -> tuple[str, dict[str, bytes], dict[str, str]]:
    d = init_data_dir(tmp_path)
    files = {"intact": os.urandom(3000), "damaged": os.urandom(9 * 1024 * 1024 + 7),
             "missing": os.urandom(500), "shared": os.urandom(700)}
    ids = {}
    for name, content in files.items():
        p = tmp_path / f"{name}.bin"
        p.write_bytes(content)
        ids[name] = _submit(d, p)
    ids["shared2"] = _submit(d, tmp_path / "shared.bin", case="c2")  # the same file again
    return d, files, ids


def test_audit_names_every_missing_and_damaged_file(tmp_path: Path) -> None:
    d, files, ids = _world(tmp_path)
    ok = json.loads(run_cli("audit", "--data-dir", d, "--json").stdout)
    assert ok["ok"] and ok["files"]["files"] == 4 and ok["files"]["damaged_count"] == 0
    assert ok["files"]["bytes"] == sum(len(c) for c in files.values())

    p = _blob(d, files["damaged"])
    os.chmod(p, 0o644)
    with open(p, "r+b") as f:  # one bit, deep inside: same size
        f.seek(5 * 1024 * 1024)
        b = f.read(1)
        f.seek(5 * 1024 * 1024)
        f.write(bytes([b[0] ^ 1]))
    _blob(d, files["missing"]).unlink()
    _blob(d, files["shared"]).unlink()

    r = run_cli("audit", "--data-dir", d, "--json", check=False)
    assert r.returncode == 1
    assert len(r.stdout.strip().splitlines()) == 1  # one JSON line
    doc = json.loads(r.stdout)
    assert doc["entries_ok"] and not doc["ok"]
    fx = doc["files"]
    assert [(x["sha256"], x["evidence_ids"]) for x in fx["damaged"]] == [
        (hashlib.sha256(files["damaged"]).hexdigest(), [ids["damaged"]])]
    assert sorted(tuple(x["evidence_ids"]) for x in fx["missing"]) == sorted(
        [(ids["missing"],), tuple(sorted([ids["shared"], ids["shared2"]]))])
    assert "Traceback" not in r.stderr

    text = run_cli("audit", "--data-dir", d, check=False)
    assert text.returncode == 1
    assert f"DAMAGED: file {hashlib.sha256(files['damaged']).hexdigest()} of {ids['damaged']}" \
        in text.stderr
    assert f"MISSING: file {hashlib.sha256(files['missing']).hexdigest()} of {ids['missing']}" \
        in text.stderr

    entries_only = run_cli("audit", "--data-dir", d, "--entries-only", "--json")
    assert json.loads(entries_only.stdout)["files"] is None

    # the alerts and the last full pass are what `evidence status` reports
    alerts = (Path(d) / "fixity" / "alerts.jsonl").read_text().splitlines()
    assert {json.loads(a)["state"] for a in alerts} == {"damaged", "missing"}
    last = json.loads((Path(d) / "fixity" / "last-audit.json").read_text())
    assert last["damaged_count"] == 1 and last["missing_count"] == 2

    st = json.loads(run_cli("status", "--data-dir", d, "--json").stdout)["fixity"]
    assert st["degraded"] and st["last_audit"]["missing_count"] == 2
    assert set(st["known"].values()) == {"damaged", "missing"}
    assert "MISSING: file" in run_cli("status", "--data-dir", d).stdout

    # show: the damaged and missing files are named, no traceback
    shown = json.loads(run_cli("show", ids["missing"], "--data-dir", d, "--json").stdout)
    assert [f["stored"] for f in shown["files"]] == [False]
    text = run_cli("show", ids["damaged"], "--data-dir", d)
    assert "DAMAGED" in text.stdout


def test_export_of_a_missing_or_damaged_file_is_a_clear_error(tmp_path: Path) -> None:
    d, files, ids = _world(tmp_path)
    run_cli("log", "checkpoint", "--data-dir", d)
    _blob(d, files["missing"]).unlink()
    p = _blob(d, files["intact"])
    os.chmod(p, 0o644)
    p.write_bytes(b"X" + files["intact"][1:])
    for name in ("missing", "intact"):
        r = run_cli("export", ids[name], "--data-dir", d, "--output", str(tmp_path / "b.zip"),
                 "--provisional", check=False)
        assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
        assert ("missing" if name == "missing" else "damaged") in r.stderr.lower(), r.stderr
        assert not (tmp_path / "b.zip").exists()


def test_audit_on_a_damaged_database_page_reports_in_json(tmp_path: Path) -> None:
    d, _files, ids = _world(tmp_path)
    db = Path(d) / "ledger.db"
    size = db.stat().st_size
    with open(db, "r+b") as f:  # every page after the first: garbage
        f.seek(4096)
        f.write(os.urandom(size - 4096))
    r = run_cli("audit", "--data-dir", d, "--json", check=False)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and doc["problem"] == "ledger-damaged"
    assert "malformed" in doc["error"] or "not a database" in doc["error"]
    s = run_cli("show", ids["intact"], "--data-dir", d, "--json", check=False)
    assert s.returncode == 1 and "Traceback" not in s.stderr, s.stderr
    assert json.loads(s.stdout)["problem"] == "ledger-damaged"


@pytest.mark.s3
def test_audit_on_s3_names_damaged_and_missing_objects(tmp_path: Path, s3_endpoint,
                                                        s3_bucket: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_endpoint.key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_endpoint.secret)
    url = f"s3://{s3_bucket}/ev?endpoint={s3_endpoint.endpoint}"
    d = init_data_dir(tmp_path)
    contents = [os.urandom(n) for n in (1000, 2000, 3000)]
    ids = []
    for i, c in enumerate(contents):
        p = tmp_path / f"f{i}.bin"
        p.write_bytes(c)
        out = run_cli("submit", str(p), "--case", "c1", "--kind", "document", "--data-dir", d,
                   "--blob-store", url, "--as", add_submitter(d, "c1"), "--json").stdout
        ids.append(json.loads(out)["evidence_id"])
    assert json.loads(run_cli("audit", "--data-dir", d, "--blob-store", url, "--json").stdout)["ok"]
    client = s3_endpoint.client()
    shas = [hashlib.sha256(c).hexdigest() for c in contents]
    client.put_object(Bucket=s3_bucket, Key=f"ev/{shas[0]}", Body=b"Y" + contents[0][1:])
    client.delete_object(Bucket=s3_bucket, Key=f"ev/{shas[1]}")
    r = run_cli("audit", "--data-dir", d, "--blob-store", url, "--json", check=False)
    assert r.returncode == 1, r.stderr
    fx = json.loads(r.stdout)["files"]
    assert [(x["sha256"], x["evidence_ids"]) for x in fx["damaged"]] == [(shas[0], [ids[0]])]
    assert [(x["sha256"], x["evidence_ids"]) for x in fx["missing"]] == [(shas[1], [ids[1]])]
