"""``evidence keygen`` and ``evidence note verify``, as a user runs them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from evidence.verify.checkpoint import Checkpoint, cosign_checkpoint, sign_checkpoint
from evidence.verify.hashing import sha256
from evidence.verify.note import add_signature_lines, parse_signer_key
from tests.support.vectors import load_json

UNRELATED_KEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"


def run(*args: str, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """Run the real console entry point in a subprocess."""
    return subprocess.run(
        [sys.executable, "-c", "from evidence.cli.main import main; main()", *args],
        cwd=cwd, input=stdin, capture_output=True, timeout=60,
    )


def test_keygen_writes_0600_and_prints_verifier_key(tmp_path: Path) -> None:
    r = run("keygen", "example.org/log", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    vkey = r.stdout.decode().strip()
    key_file = tmp_path / "example.org_log.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    signer = parse_signer_key(key_file.read_text())
    assert signer.verifier().to_string() == vkey
    assert signer.to_string() not in (r.stdout + r.stderr).decode(), "private key never printed"
    # never overwrites
    again = run("keygen", "example.org/log", cwd=tmp_path)
    assert again.returncode != 0 and b"refusing to overwrite" in again.stderr
    assert parse_signer_key(key_file.read_text()).to_string() == signer.to_string()


def test_keygen_json_and_witness(tmp_path: Path) -> None:
    r = run("keygen", "witness.example", "--witness", "--json", "-o", "w.key", cwd=tmp_path)
    out = json.loads(r.stdout)
    assert out["ok"] and out["type"] == "cosignature/v1"
    assert parse_signer_key((tmp_path / "w.key").read_text()).alg == 4
    bad = run("keygen", "bad name", "--json", cwd=tmp_path)
    assert bad.returncode != 0 and json.loads(bad.stdout)["ok"] is False


def test_note_verify_other_softwares_notes(tmp_path: Path) -> None:
    """Go sumdb/note and Tessera notes verify with their published keys."""
    vectors = load_json("signed-note", "note_vectors.json")
    for case in vectors["verify_cases"]:
        f = tmp_path / "note"
        f.write_bytes(case["note"].encode())
        args = ["note", "verify", str(f), "--json"]
        for k in case["vkeys"]:
            args += ["--key", k]
        if not case["vkeys"]:
            # an unrelated, valid pinned key: nothing on the note is by it
            args += ["--key", UNRELATED_KEY]
        r = run(*args, cwd=tmp_path)
        out = json.loads(r.stdout) if r.stdout else None
        if case["expect_verified_names"] is None:
            assert r.returncode == 1, case["id"]
        else:
            assert r.returncode == 0, (case["id"], r.stdout, r.stderr)
            assert [v["name"] for v in out["verified"]] == case["expect_verified_names"]


def test_note_verify_checkpoint_with_cosignature(tmp_path: Path) -> None:
    r1 = run("keygen", "log.example", "-o", "log.key", "--json", cwd=tmp_path)
    r2 = run("keygen", "w.example", "--witness", "-o", "w.key", "--json", cwd=tmp_path)
    log = parse_signer_key((tmp_path / "log.key").read_text())
    wit = parse_signer_key((tmp_path / "w.key").read_text())
    cp = Checkpoint("log.example", 7, sha256(b"root"))
    note = add_signature_lines(sign_checkpoint(cp, log), [cosign_checkpoint(cp.to_text(), wit)])
    (tmp_path / "cp").write_text(note)
    lk, wk = json.loads(r1.stdout)["verifier_key"], json.loads(r2.stdout)["verifier_key"]
    r = run("note", "verify", "cp", "--key", lk, "--key", wk, "--json", cwd=tmp_path)
    out = json.loads(r.stdout)
    assert r.returncode == 0
    assert [v["kind"] for v in out["verified"]] == ["signature", "cosignature"]
    assert out["checkpoint"]["size"] == 7
    # from stdin, human output
    r = run("note", "verify", "-", "--key", lk, cwd=tmp_path, stdin=note.encode())
    assert r.returncode == 0 and b"verified: log.example" in r.stdout
    # tampered
    r = run("note", "verify", "-", "--key", lk, cwd=tmp_path,
            stdin=note.replace("\n7\n", "\n8\n").encode())
    assert r.returncode == 1 and b"does not verify" in r.stderr


@pytest.mark.parametrize(
    "content",
    [b"", b"\xff\xfe garbage", b"no blank line\n\xe2\x80\x94 x AAAA\n", os.urandom(2000)],
)
def test_note_verify_hostile_files(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "n").write_bytes(content)
    key = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    r = run("note", "verify", "n", "--key", key, "--json", cwd=tmp_path)
    assert r.returncode == 1
    assert json.loads(r.stdout)["ok"] is False
    assert b"Traceback" not in r.stderr


def test_note_verify_bad_key_and_missing_file(tmp_path: Path) -> None:
    r = run("note", "verify", "missing", "--key", "x+00000000+AA==", cwd=tmp_path)
    assert r.returncode == 2 and b"bad --key" in r.stderr
    key = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    r = run("note", "verify", "missing", "--key", key, cwd=tmp_path)
    assert r.returncode == 2 and b"cannot read" in r.stderr
