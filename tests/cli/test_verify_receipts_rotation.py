"""``evidence verify-receipts`` with a trust file that holds a rotated key history
(docs/formats.md "Log key rotation", ``#@ log-key``): full proofs printed before the
rotation (receipt and checkpoint by the old key) and after it (by the new key) all hold
against the trust file exported after the rotation; the old file holds only the first;
after a revocation from size N, the old key's checkpoints past N are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from evidence.cli.main import cli
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger
from evidence.verify.note import generate_signer, parse_note

ORIGIN = "receipts-rot.example/log"


def run(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _submit(intake: Intake, d: Path, n: int, tag: str) -> list[str]:
    ids = []
    for i in range(n):
        f = d / f"{tag}{i}.txt"
        f.write_bytes(f"{tag} {i}".encode())
        ids.append(intake.submit(ItemSpec(files=[f], kind="document", case="C-1",
                                          principal="acme")).evidence_id)
    return ids


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("receipts-rotation")
    led = Ledger.create(d / "data", ORIGIN, checkpoint_interval=3600)
    try:
        intake = Intake(led, FilesystemBlobStore(d / "data" / "blobs"))
        before_ids = _submit(intake, d, 4, "before")
        first = led.sign_checkpoint_now()
        before = [intake.receipt(e) for e in before_ids]
        old_vkey = led.verifier_key
        (d / "old-trust.txt").write_text(f"log {old_vkey}\nquorum none\n")
        w = led.rotate_key(generate_signer(ORIGIN), overlap=0)
        after_ids = _submit(intake, d, 4, "after")
        led.sign_checkpoint_now()
        after = [intake.receipt(e) for e in after_ids]
    finally:
        led.close()
    r = run("trust", "export", "--data-dir", d / "data")
    assert r.exit_code == 0, r.output
    (d / "new-trust.txt").write_text(r.stdout)
    assert f"#@ log-key {old_vkey} 0 {w.from_size}\n" in r.stdout
    return {"dir": d, "before": before, "after": after, "first_size": first.size,
            "old_vkey": old_vkey, "from": w.from_size}


def _check(world: dict, records: list[dict], trust: Path) -> tuple[int, dict]:
    f = world["dir"] / "records.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in records))
    r = run("verify-receipts", f, "--trust", trust, "--json")
    return r.exit_code, json.loads(r.stdout)


def test_proofs_across_the_rotation_hold_with_the_new_trust_file(world: dict) -> None:
    d = world["dir"]
    for rec in world["before"]:
        assert len(parse_note(rec["checkpoint"]).signatures) == 1
    code, out = _check(world, world["before"] + world["after"], d / "new-trust.txt")
    assert code == 0 and out["ok"], out
    assert out["proven"] == 8 and len(out["checkpoint_sizes"]) == 2, out


def test_the_old_trust_file_holds_only_what_the_old_key_signed(world: dict) -> None:
    d = world["dir"]
    code, out = _check(world, world["before"], d / "old-trust.txt")
    assert code == 0 and out["proven"] == 4, out
    code, out = _check(world, world["after"], d / "old-trust.txt")
    assert code == 1 and out["proven"] == 0 and len(out["failed"]) == 4, out


def test_a_revoked_key_is_refused_past_n(world: dict) -> None:
    """The old key revoked from a size below its last checkpoint: that checkpoint (and so
    every proof through it) is refused by the trust file exported after the revocation."""
    d = world["dir"]
    n = world["first_size"] - 1
    r = run("log", "key", "revoke", "--data-dir", d / "data", world["old_vkey"],
            "--from-size", n)
    assert r.exit_code == 0, r.output
    r = run("trust", "export", "--data-dir", d / "data")
    assert f"#@ log-key {world['old_vkey']} 0 {n}\n" in r.stdout, r.stdout
    (d / "revoked-trust.txt").write_text(r.stdout)
    code, out = _check(world, world["before"] + world["after"], d / "revoked-trust.txt")
    assert code == 1 and out["proven"] == 4 and len(out["failed"]) == 4, out
    # the receipt of the entry at seq n (in the tree of size n + 1) is refused by its own
    # window; those before it by their checkpoint's
    errors = sorted(f["error"] for f in out["failed"])
    assert all(f"pinned for checkpoints of sizes 0 to {n}" in e for e in errors[:3]), errors
    assert f"the receipt of entry {n} is signed only by" in errors[3], errors
    assert f"pinned for sizes 0 to {n}" in errors[3], errors
