"""``evidence log key mldsa`` (docs/operations.md "Post-quantum signatures", docs/formats.md
"ML-DSA-44 signatures"): bad keys change nothing; from the ``key.mldsa_added`` entry's
next size every checkpoint carries the ML-DSA-44 line; the trust file pins it with
``#@ log-mldsa``; ``evidence audit`` accepts the log and names a stored checkpoint
without the line, also when the keys table has lost the key's row; a log whose ML-DSA-44
key file is gone does not open for writing; a tampered entry is named."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from evidence.cli.main import cli
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.keyfile import write_private_key
from evidence.ledger.log import Ledger
from evidence.ledger.pq_key import MLDSA_ADDED, PostQuantumError, check_added
from evidence.verify.checkpoint import MissingPostQuantum, verify_checkpoint_windowed
from evidence.verify.note import (
    ALG_COSIGNATURE_V1,
    ALG_MLDSA44,
    generate_signer,
    parse_note,
    parse_verifier_key,
)
from evidence.verify.trust import parse_trust

ORIGIN = "pq-cli.example/log"


def _run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, list(args))
    return r.exit_code, r.stdout, r.stderr


def _state(d: Path) -> tuple[int, bool, list[str]]:
    led = Ledger.open(d, read_only=True)
    try:
        return led.size, (d / "log-mldsa.key").exists(), [
            e.data.decode() for e in led.entries(0, led.size)]
    finally:
        led.close()


def test_add_mldsa_key(tmp_path: Path) -> None:
    d = tmp_path / "data"
    assert _run("init", "--data-dir", str(d), "--origin", ORIGIN,
                "--checkpoint-interval", "0")[0] == 0
    for i in range(2):
        assert _run("log", "append", "--data-dir", str(d), "test.note",
                    "--body", json.dumps({"n": i}))[0] == 0
    before = _state(d)
    bad = {"ed25519": generate_signer(ORIGIN),
           "witness-0x04": generate_signer(ORIGIN, ALG_COSIGNATURE_V1),
           "other-name": generate_signer("other.example/log", ALG_MLDSA44)}
    for name, s in bad.items():
        write_private_key(tmp_path / f"{name}.key", s)
        code, _, err = _run("log", "key", "mldsa", "--data-dir", str(d),
                            "--key", str(tmp_path / f"{name}.key"))
        assert code == 1 and "nothing changed" in err, (name, code, err)
        assert _state(d) == before, name

    code, out, err = _run("keygen", ORIGIN, "--mldsa", "-o", str(tmp_path / "pq.key"), "--json")
    assert code == 0 and json.loads(out)["type"] == "ml-dsa-44", (out, err)
    made = json.loads(out)["verifier_key"]
    code, out, err = _run("log", "key", "mldsa", "--data-dir", str(d), "--json",
                          "--key", str(tmp_path / "pq.key"))
    assert code == 0, err
    got = json.loads(out)
    assert got["mldsa_key"] == made
    assert got["from_size"] == 3  # the entry is seq 2
    pq = parse_verifier_key(got["mldsa_key"])
    assert (pq.alg, pq.name, len(pq.public_key)) == (ALG_MLDSA44, ORIGIN, 1312)
    assert (d / "log-mldsa.key").stat().st_mode & 0o777 == 0o600
    size = _state(d)[0]
    code, _, err = _run("log", "key", "mldsa", "--data-dir", str(d))
    assert code == 1 and "already has" in err, err
    assert _state(d)[0] == size

    assert _run("log", "append", "--data-dir", str(d), "test.note", "--body", "{}")[0] == 0
    led = Ledger.open(d, read_only=True)
    try:
        notes = {n: led.checkpoint_at(n) for n in (2, 3, 4)}
        ed = led.verifier
        entry = json.loads(led.entry(2).data)
    finally:
        led.close()
    ids = {n: {s.key_id for s in parse_note(cp.note).signatures} for n, cp in notes.items()}
    assert ids == {2: {ed.key_id}, 3: {ed.key_id, pq.key_id}, 4: {ed.key_id, pq.key_id}}
    vc, _ = verify_checkpoint_windowed(notes[4].note, [(ed, None), (pq, (3, 2**64 - 1))])
    assert vc.checkpoint.size == 4
    with pytest.raises(MissingPostQuantum):  # the checkpoint before the key, held to it
        verify_checkpoint_windowed(notes[2].note, [(ed, None), (pq, (2, 2**64 - 1))])

    code, out, err = _run("trust", "export", "--data-dir", str(d))
    assert code == 0, err
    assert f"log {ed.to_string()}\n" in out and f"#@ log-mldsa {got['mldsa_key']} 3\n" in out
    assert parse_trust(out.encode()).logs_for_origin(ORIGIN)[1].post_quantum
    code, out, err = _run("audit", "--data-dir", str(d), "--json")
    assert code == 0, (out, err)
    # a stored checkpoint from size 3 on without its ML-DSA-44 line: the audit names it
    ed_only = parse_note(notes[4].note).text + "\n" + next(
        s.line for s in parse_note(notes[4].note).signatures if s.key_id == ed.key_id) + "\n"
    with sqlite3.connect(d / "ledger.db") as db:
        db.execute("UPDATE checkpoints SET note = ? WHERE size = 4", (ed_only,))
    code, out, err = _run("audit", "--data-dir", str(d), "--json")
    assert code != 0 and "ML-DSA-44" in out, (code, out, err)
    # the audit reads the key from its entry: the keys table's row gone, it still names it
    with sqlite3.connect(d / "ledger.db") as db:
        row = db.execute("SELECT * FROM keys WHERE role = 'mldsa-log'").fetchone()
        db.execute("DELETE FROM keys WHERE role = 'mldsa-log'")
    code, out, err = _run("audit", "--data-dir", str(d), "--json")
    assert code != 0 and "ML-DSA-44" in out, (code, out, err)
    with sqlite3.connect(d / "ledger.db") as db:
        db.execute(f"INSERT INTO keys VALUES ({','.join('?' * len(row))})", row)
        db.execute("UPDATE checkpoints SET note = ? WHERE size = 4", (notes[4].note,))
    assert _run("audit", "--data-dir", str(d))[0] == 0

    # the entry is the log's own statement: each field is held by both signatures
    assert entry["type"] == MLDSA_ADDED
    body = entry["body"]
    assert check_added(2, body, [ed.to_string()]) == (pq, 3)
    for field, value in (("from_size", 4), ("mldsa_key", generate_signer(
            ORIGIN, ALG_MLDSA44).verifier().to_string()), ("log_signature", body[
            "mldsa_signature"])):
        with pytest.raises(PostQuantumError):
            check_added(2, {**body, field: value}, [ed.to_string()])
    with pytest.raises(PostQuantumError, match="not one of this log's keys"):
        check_added(2, body, [generate_signer(ORIGIN).verifier().to_string()])

    # the key file is needed to write: without it the log does not open for writing
    (d / "log-mldsa.key").rename(tmp_path / "moved.key")
    code, _, err = _run("log", "append", "--data-dir", str(d), "test.note", "--body", "{}")
    assert code != 0 and "log-mldsa.key" in err, (code, err)


def test_verify_receipts_requires_the_pinned_mldsa_line(tmp_path: Path) -> None:
    """``evidence verify-receipts`` holds a trust file's ML-DSA-44 pin as the bundle
    verifiers do: a full proof whose checkpoint lacks the line is refused."""
    d = tmp_path / "data"
    led = Ledger.create(d, ORIGIN, checkpoint_interval=3600)
    try:
        intake = Intake(led, FilesystemBlobStore(d / "blobs"))
        led.add_mldsa_key(generate_signer(ORIGIN, ALG_MLDSA44))
        f = tmp_path / "a.txt"
        f.write_bytes(b"received")
        eid = intake.submit(ItemSpec(files=[f], kind="document", case="C-1",
                                     principal="acme")).evidence_id
        led.sign_checkpoint_now()
        rec = intake.receipt(eid)
        ed = led.verifier
    finally:
        led.close()
    code, trust, err = _run("trust", "export", "--data-dir", str(d))
    assert code == 0 and "#@ log-mldsa " in trust, err
    (tmp_path / "trust.txt").write_text(trust)
    note = parse_note(rec["checkpoint"])
    ed_only = note.text + "\n" + next(s.line for s in note.signatures
                                      if s.key_id == ed.key_id) + "\n"
    for checkpoint, ok in ((rec["checkpoint"], True), (ed_only, False)):
        (tmp_path / "r.jsonl").write_text(json.dumps({**rec, "checkpoint": checkpoint}) + "\n")
        code, out, err = _run("verify-receipts", str(tmp_path / "r.jsonl"), "--trust",
                              str(tmp_path / "trust.txt"), "--json")
        assert (code == 0) is ok and json.loads(out)["ok"] is ok, (ok, code, out, err)
        if not ok:
            assert "ML-DSA-44" in out, out
