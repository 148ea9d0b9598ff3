"""`evidence verify-receipts`: many full proofs checked offline against pinned keys."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from evidence.cli.main import cli
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger
from evidence.verify.full_proof import FullProofChecker, NotYetCovered
from evidence.verify.note import generate_signer

ORIGIN = "receipts.example/log"


def run(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def proofs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[dict], str, Path]]:
    """40 items in two checkpoints (20 and 40) and one item no checkpoint covers."""
    d = tmp_path_factory.mktemp("receipts")
    led = Ledger.create(d / "data", ORIGIN, checkpoint_interval=3600)
    intake = Intake(led, FilesystemBlobStore(d / "data" / "blobs"))
    ids, records = [], []
    for i in range(41):
        f = d / f"f{i}.txt"
        f.write_bytes(f"file {i}".encode())
        ids.append(intake.submit(ItemSpec(files=[f], kind="document", case="C-9",
                                          principal="acme")).evidence_id)
        if i in (19, 39):
            led.sign_checkpoint_now()
            records += [intake.receipt(e) for e in ids[len(records):]]
    records.append(intake.receipt(ids[40]))
    key = led.verifier_key
    led.close()
    yield records, key, d


def _write(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_all_full_proofs_hold(proofs, tmp_path) -> None:
    records, key, _ = proofs
    f = _write(tmp_path / "ok.jsonl", records[:40])
    r = run("verify-receipts", f, "--log-key", key, "--json")
    out = json.loads(r.output)
    assert r.exit_code == 0 and out["ok"], r.output
    assert out["proven"] == 40 and out["checkpoint_sizes"] == [20, 40]
    text = run("verify-receipts", f, "--log-key", key)
    assert text.exit_code == 0 and "40 full proof(s) hold" in text.output
    # a JSON array is read as well
    arr = tmp_path / "ok.json"
    arr.write_text(json.dumps(records[:3]))
    assert run("verify-receipts", arr, "--log-key", key).exit_code == 0


def _damaged(records: list[dict]) -> list[tuple[str, Any]]:
    good = records[5]
    other = records[6]

    def with_(**kw: Any) -> dict:
        return {**good, **kw}

    proof = good["inclusion_proof"]
    flipped = [*proof["proof"]]
    flipped[-1] = ("1" if flipped[-1][0] == "0" else "0") + flipped[-1][1:]
    cp_lines = good["checkpoint"].split("\n")
    cp_lines[1] = "21"
    return [
        ("gives root", with_(inclusion_proof={**proof, "proof": flipped})),
        ("receipt", with_(receipt=other["receipt"])),
        ("inclusion proof is for entry", with_(inclusion_proof=other["inclusion_proof"])),
        ("checkpoint: signature", with_(checkpoint="\n".join(cp_lines))),
        ("proof hash", with_(inclusion_proof={**proof, "proof": ["zz", *proof["proof"][1:]]})),
        ("needs", with_(inclusion_proof={**proof, "proof": proof["proof"][:-1]})),
        ("tree size", with_(inclusion_proof={**proof, "tree_size": 7})),
        ('needs "receipt"', {"entry": good["entry"]}),
        ("JSON object", [1, 2]),
    ]


def test_each_kind_of_damage_is_named_and_fails(proofs, tmp_path) -> None:
    records, key, _ = proofs
    damaged = _damaged(records)
    lines = [records[0], *[rec for _, rec in damaged], records[1]]
    f = _write(tmp_path / "bad.jsonl", lines)
    with f.open("a") as fh:
        fh.write("{not json\n")
    r = run("verify-receipts", f, "--log-key", key, "--json")
    out = json.loads(r.output)
    assert r.exit_code == 1 and not out["ok"]
    assert out["proven"] == 2
    errors = {row["where"]: row["error"] for row in out["failed"]}
    for n, (reason, _) in enumerate(damaged, start=2):
        assert reason in errors[f"{f}:{n}"], (reason, errors[f"{f}:{n}"])
    assert "not JSON" in errors[f"{f}:{len(lines) + 1}"]


def test_pending_receipt_is_reported_apart(proofs, tmp_path) -> None:
    records, key, _ = proofs
    assert records[40]["checkpoint"] is None
    f = _write(tmp_path / "p.jsonl", [records[0], records[40]])
    r = run("verify-receipts", f, "--log-key", key, "--json")
    out = json.loads(r.output)
    assert r.exit_code == 1 and out["proven"] == 1 and not out["failed"]
    assert out["not_yet_covered"][0]["evidence_id"] == records[40]["evidence_id"]
    with pytest.raises(NotYetCovered):
        FullProofChecker(_verifier(key)).check(records[40])


def test_another_log_key_proves_nothing(proofs, tmp_path) -> None:
    records, _, _ = proofs
    other = generate_signer(ORIGIN).verifier().to_string()
    f = _write(tmp_path / "k.jsonl", records[:3])
    out = json.loads(run("verify-receipts", f, "--log-key", other, "--json").output)
    assert out["proven"] == 0 and len(out["failed"]) == 3


def _verifier(key: str):  # type: ignore[no-untyped-def]
    from evidence.verify.note import parse_verifier_key
    return parse_verifier_key(key)
