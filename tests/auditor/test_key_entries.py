"""The log's key entries under audit (docs/formats.md "Log key rotation"): ``evidence
audit`` and ``scripts/audit_ledger.py`` check every ``key.rotated`` (both keys' signatures,
the sizes, the old key then current) and ``key.revoked`` entry, and each checkpoint
against the key valid at its size as the entries give it.

The log is real (SQLite): three notes, a rotation at seq 3 with overlap 2 (the old key
signs sizes up to 6, the new one from 4), seven more notes, then the old key revoked from
size 5 (seq 11). The forgeries are made as an operator holding every log key would make
them: entries changed, chained again (prev, leaf hashes), every checkpoint signed again
over the new roots by the keys that signed it, the manifest written again; only the key
rules can catch them."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from evidence.cli.main import cli
from evidence.ledger.keyfile import read_private_key
from evidence.ledger.log import Ledger
from evidence.ledger.log_keys import retired_key_path, rotation_message
from evidence.verify.note import Signer, generate_signer, sign_note
from tests.support.cli_run import cli_stdout, failed_entries_audit
from tests.support.forged_export import (
    audit_log_only,
    export_rows,
    forge_export,
    log_check,
    row_entry,
)

ROOT = Path(__file__).resolve().parents[2]
AUDITOR = ROOT / "scripts" / "audit_ledger.py"
ORIGIN = "keys.example/log"
ROTATION_SEQ, REVOCATION_SEQ, REVOKED_FROM = 3, 11, 5


@dataclass
class World:
    data: Path
    export: Path
    old: Signer
    new: Signer
    trust_before_revocation: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    tmp = tmp_path_factory.mktemp("key-entries")
    d = tmp / "data"
    led = Ledger.create(d, ORIGIN, checkpoint_interval=0)
    try:
        old = read_private_key(d / "log.key")
        for i in range(3):
            led.append("test.note", {"n": i})
        new = generate_signer(ORIGIN)
        led.rotate_key(new, overlap=2)
        for i in range(7):
            led.append("test.note", {"m": i})
            led.sign_checkpoint_now()
        trust_before = cli_stdout("trust", "export", "--data-dir", str(d))
        led.revoke_key(old.verifier().to_string(), REVOKED_FROM, "test")
        led.append("test.note", {"after": 1})
        led.sign_checkpoint_now()
    finally:
        led.close()
    assert retired_key_path(d, old.verifier()).exists()
    exp = tmp / "export"
    cli_stdout("log", "export", "--data-dir", str(d), str(exp))
    return World(d, exp, old, new, trust_before)


def _audit(export: Path, trust: str | Path) -> dict[str, Any]:
    if isinstance(trust, str):
        path = export.parent / f"trust-{hashlib.sha256(trust.encode()).hexdigest()[:8]}.txt"
        path.write_text(trust)
        trust = path
    return audit_log_only(export, trust)


def forge(world: World, name: str, change: Callable[[int, dict[str, Any]], None],
          resign: Callable[[int, list[Signer]], list[Signer]] | None = None) -> Path:
    """A copy of the export with ``change(seq, entry)`` applied to its entries, chained
    again and every checkpoint signed again over the new roots (``resign(size, signers)``
    may choose other signers); the manifest written again; tiles dropped."""
    keys = (world.old, world.new)

    def sign(size: int, body: str, note: Any) -> str:
        signers = [s for s in keys if any(sig.key_id == s.key_id for sig in note.signatures)]
        if resign is not None:
            signers = resign(size, signers)
        return sign_note(body, signers)

    return forge_export(world.export, world.export.parent / f"forged-{name}", change, sign)


def test_honest_export_passes_with_either_trust_file(world: World) -> None:
    kinds = [row_entry(r)["body"] for r in export_rows(world.export)
             if row_entry(r)["type"].startswith("key.")]
    assert len(kinds) == 2
    for trust in (world.export / "trust.txt", world.trust_before_revocation):
        r = _audit(world.export, trust)
        assert log_check(r)["status"] == "pass", r
        assert r["exit"] == 0, r


def test_forgery_tools_alone_change_nothing(world: World) -> None:
    """The forger's rewrite with no change is the honest log again (the tools are sound)."""
    out = forge(world, "nothing", lambda seq, e: None)
    r = _audit(out, world.export / "trust.txt")
    assert log_check(r)["status"] == "pass", r


def test_rotation_not_signed_by_the_new_key(world: World) -> None:
    stranger = generate_signer(ORIGIN)

    def change(seq: int, e: dict[str, Any]) -> None:
        if seq == ROTATION_SEQ:
            b = e["body"]
            msg = rotation_message(b["old_key"], b["new_key"], b["from_size"], b["until_size"])
            b["new_signature"] = base64.b64encode(stranger.signature(msg)).decode()

    out = forge(world, "new-sig", change)
    r = _audit(out, world.export / "trust.txt")
    log = log_check(r)
    assert log["status"] == "fail" and r["first_bad_seq"] == ROTATION_SEQ, r
    assert "key.rotated's new_signature does not verify" in log["reason"], log
    assert r["exit"] == 1


def test_rotation_with_wrong_from_size(world: World) -> None:
    old, new = world.old, world.new

    def change(seq: int, e: dict[str, Any]) -> None:
        if seq == ROTATION_SEQ:  # signed by both keys, but the window starts too late
            b = e["body"]
            b["from_size"] += 1
            msg = rotation_message(b["old_key"], b["new_key"], b["from_size"], b["until_size"])
            b["old_signature"] = base64.b64encode(old.signature(msg)).decode()
            b["new_signature"] = base64.b64encode(new.signature(msg)).decode()

    r = _audit(forge(world, "from-size", change), world.export / "trust.txt")
    log = log_check(r)
    assert log["status"] == "fail" and r["first_bad_seq"] == ROTATION_SEQ, r
    assert "from_size must be its seq + 1" in log["reason"], log


def test_revocation_widening_a_window(world: World) -> None:
    def change(seq: int, e: dict[str, Any]) -> None:
        if seq == REVOCATION_SEQ:
            e["body"]["until_size"] = 9  # the old key's window ends at 6

    r = _audit(forge(world, "widen", change), world.export / "trust.txt")
    log = log_check(r)
    assert log["status"] == "fail" and r["first_bad_seq"] == REVOCATION_SEQ, r
    assert "key.revoked must narrow" in log["reason"], log


def test_checkpoint_past_revocation_under_the_revoked_key(world: World) -> None:
    """Size 6 is inside the old key's first window (0..6) but past its revocation (5):
    signed by the old key alone it passes the trust file exported before the revocation,
    and the log's own key.revoked entry refuses it."""
    def resign(size: int, signers: list[Signer]) -> list[Signer]:
        return [world.old] if size == 6 else signers

    out = forge(world, "past-n", lambda seq, e: None, resign)
    r = _audit(out, world.trust_before_revocation)
    log = log_check(r)
    assert log["status"] == "fail" and r["first_bad_seq"] == 5, r
    assert "against the log's own key entries" in log["reason"], log
    assert "sizes 0 to 5" in log["reason"], log
    # the same checkpoint inside the window (size 5) is the honest one
    r = _audit(forge(world, "at-n", lambda seq, e: None,
                     lambda size, s: [world.old] if size == 5 else s),
               world.trust_before_revocation)
    assert log_check(r)["status"] == "pass", r


def _copy(world: World, tmp_path: Path) -> Path:
    """The world's data directory copied for a test to damage."""
    d = tmp_path / "data"
    subprocess.run(["cp", "-a", str(world.data), str(d)], check=True)
    return d


def test_evidence_audit_names_a_tampered_rotation(world: World, tmp_path: Path) -> None:
    d = _copy(world, tmp_path)
    r = CliRunner().invoke(cli, ["audit", "--data-dir", str(d), "--json", "--entries-only"])
    assert r.exit_code == 0, r.stdout
    dbs = [p for p in d.rglob("*.db") if "ledger" in p.name or p.parent == d]
    assert dbs, list(d.iterdir())
    con = sqlite3.connect(dbs[0])
    try:
        (data,) = con.execute("SELECT data FROM entries WHERE seq = ?",
                              (ROTATION_SEQ,)).fetchone()
        e = json.loads(data)
        e["body"]["new_signature"] = e["body"]["old_signature"]
        con.execute("UPDATE entries SET data = ? WHERE seq = ?",
                    (json.dumps(e, sort_keys=True, separators=(",", ":")).encode(),
                     ROTATION_SEQ))
        con.commit()
    finally:
        con.close()
    ledger = failed_entries_audit(d)
    assert ledger["first_bad_seq"] == ROTATION_SEQ, ledger
    assert "key.rotated's new signature does not verify" in ledger["reason"], ledger
    assert os.path.exists(d)


def test_evidence_audit_reads_rotations_from_the_log_not_the_keys_table(
        world: World, tmp_path: Path) -> None:
    """The keys table is what the audit checks, not what it trusts: with the rows of the
    rotated keys gone, the rotation entry is still read, and named."""
    d = _copy(world, tmp_path)
    with contextlib.closing(sqlite3.connect(d / "ledger.db")) as con, con:  # commits
        first = con.execute("SELECT min(id) FROM keys WHERE role LIKE 'log%'").fetchone()[0]
        assert con.execute("DELETE FROM keys WHERE role LIKE 'log%' AND id != ?",
                           (first,)).rowcount >= 1
    ledger = failed_entries_audit(d)
    assert ledger["first_bad_seq"] == ROTATION_SEQ, ledger
    assert "keys table records no other log key" in ledger["reason"], ledger
