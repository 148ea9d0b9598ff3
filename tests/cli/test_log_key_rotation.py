"""``evidence log key rotate`` / ``revoke`` (docs/operations.md "Rotating the log key",
docs/formats.md "Log key rotation"): bad keys change nothing; a rotation's overlap
checkpoints carry both keys' lines; the trust file lists the old key with its window;
``evidence audit`` and ``scripts/audit_ledger.py`` accept the log across the rotation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from evidence.cli.main import cli
from evidence.ledger.keyfile import write_private_key
from evidence.ledger.log import Ledger
from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer, parse_note

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "rot.example/log"


def _run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, list(args))
    return r.exit_code, r.stdout, r.stderr


def _state(d: Path) -> tuple[int, str, bytes, list[str]]:
    led = Ledger.open(d, read_only=True)
    try:
        return (led.size, led.verifier_key, (d / "log.key").read_bytes(),
                sorted(p.name for p in (d / "log-keys").glob("*")) if (d / "log-keys").exists()
                else [])
    finally:
        led.close()


def test_rotation_and_revocation(tmp_path: Path) -> None:
    d = tmp_path / "data"
    assert _run("init", "--data-dir", str(d), "--origin", ORIGIN,
                "--checkpoint-interval", "0")[0] == 0
    for i in range(3):
        assert _run("log", "append", "--data-dir", str(d), "test.note",
                    "--body", json.dumps({"n": i}))[0] == 0, "append"
    before = _state(d)
    old_vkey = before[1]

    bad = {"witness": generate_signer(ORIGIN, ALG_COSIGNATURE_V1),
           "other-name": generate_signer("other.example/log")}
    for name, s in bad.items():
        write_private_key(tmp_path / f"{name}.key", s)
        code, _, err = _run("log", "key", "rotate", "--data-dir", str(d),
                            "--new-key", str(tmp_path / f"{name}.key"))
        assert code == 1 and "nothing changed" in err, (name, code, err)
        assert _state(d) == before, name
    write_private_key(tmp_path / "not-old.key", generate_signer(ORIGIN))
    code, _, err = _run("log", "key", "rotate", "--data-dir", str(d),
                        "--old-key", str(tmp_path / "not-old.key"))
    assert code == 1 and "not the key now signing" in err, err
    code, _, err = _run("log", "key", "rotate", "--data-dir", str(d),
                        "--new-key", str(d / "log.key"))
    assert code == 1 and "already had" in err, err
    assert _state(d) == before

    code, out, err = _run("log", "key", "rotate", "--data-dir", str(d), "--overlap", "2",
                          "--old-key", str(d / "log.key"), "--json")
    assert code == 0, err
    got = json.loads(out)
    assert (got["old_key"], got["from_size"], got["until_size"]) == (old_vkey, 4, 6)
    new_vkey = got["verifier_key"]
    for i in range(4):
        assert _run("log", "append", "--data-dir", str(d), "test.note",
                    "--body", json.dumps({"m": i}))[0] == 0
    led = Ledger.open(d, read_only=True)
    try:
        notes = {n: led.checkpoint_at(n) for n in (3, 4, 6, 7)}
    finally:
        led.close()
    lines = {n: len(parse_note(cp.note).signatures) for n, cp in notes.items() if cp}
    assert lines == {3: 1, 4: 2, 6: 2, 7: 1}, lines  # both keys sign sizes 4..6

    code, out, err = _run("trust", "export", "--data-dir", str(d))
    assert code == 0, err
    assert f"log {new_vkey}\n" in out and f"#@ log-key {old_vkey} 0 6\n" in out, out

    code, out, err = _run("audit", "--data-dir", str(d), "--json")
    assert code == 0, (out, err)

    exp = tmp_path / "export"
    assert _run("log", "export", "--data-dir", str(d), str(exp))[0] == 0
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "audit_ledger.py"), str(exp),
                        "--trust", str(exp / "trust.txt"), "--log-only"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, (p.stdout[-800:], p.stderr[-800:])

    # revocation: the current key is refused, a retired key narrowed to size 3
    code, _, err = _run("log", "key", "revoke", "--data-dir", str(d), new_vkey,
                        "--from-size", "3")
    assert code == 1 and "rotate it out first" in err, err
    code, _, err = _run("log", "key", "revoke", "--data-dir", str(d), old_vkey,
                        "--from-size", "9")
    assert code == 1 and "only narrows" in err, err
    size_before = _state(d)[0]
    code, _, err = _run("log", "key", "revoke", "--data-dir", str(d),
                        old_vkey.rsplit("+", 1)[0], "--from-size", "3")
    assert code == 0, err
    assert _state(d)[0] == size_before + 1
    code, out, _ = _run("trust", "export", "--data-dir", str(d))
    assert f"#@ log-key {old_vkey} 0 3\n" in out, out
    code, out, _ = _run("log", "key", "--data-dir", str(d), "--json")
    keys = json.loads(out)["keys"]
    assert [(k["from_size"], k["until_size"], k["revoked"]) for k in keys] == [
        (0, 3, True), (4, None, False)]


def test_rotation_with_a_key_that_does_not_match_changes_nothing(tmp_path: Path) -> None:
    """docs/operations.md "Rotating the log key", bad input: each refusal exits 1 naming
    the mismatch, and the ledger, the key file and DIR/log-keys are as they were."""
    d = tmp_path / "data"
    assert _run("init", "--data-dir", str(d), "--origin", ORIGIN,
                "--checkpoint-interval", "0")[0] == 0
    assert _run("log", "append", "--data-dir", str(d), "test.note", "--body", "{}")[0] == 0
    before = _state(d)
    loose = tmp_path / "loose.key"
    write_private_key(loose, generate_signer(ORIGIN))
    loose.chmod(0o644)  # readable by others: not a key to trust a log to
    cases = {  # (arguments, exit status, words of the error)
        "new key readable by others": (["--new-key", str(loose)], 1, "readable by others"),
        "old key readable by others": (["--old-key", str(loose)], 1, "readable by others"),
        "negative overlap": (["--overlap", "-1"], 2, "--overlap"),
    }
    for why, (args, status, words) in cases.items():
        code, out, err = _run("log", "key", "rotate", "--data-dir", str(d), *args)
        assert code == status and words in err, (why, code, out, err)
        assert _state(d) == before, why
    code, out, err = _run("log", "key", "rotate", "--data-dir", str(d), "--json",
                          "--new-key", str(loose))
    assert code == 1 and json.loads(out)["ok"] is False, (out, err)
    assert "readable by others" in json.loads(out)["error"]
    assert _state(d) == before
