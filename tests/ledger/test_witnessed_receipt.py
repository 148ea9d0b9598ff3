"""Receipts proven to the newest checkpoint the witness quorum cosigned: what
`evidence verify-receipts --trust` with a quorum accepts, where the plain receipt (proven
to the latest, uncosigned checkpoint) is refused."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from evidence.api.app import create_app
from evidence.api.settings import ApiSettings
from evidence.cli.main import cli
from evidence.ledger.access import SUBMITTER, AccessControl
from evidence.ledger.anchor.base import AnchorFailed
from evidence.ledger.anchor.config import (
    add_witness,
    load_anchor_config,
    save_anchor_config,
    trust_policy,
)
from evidence.ledger.anchor.witnessed import witnessed_receipt
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger
from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer, parse_note
from tests.support.anchored_ledger import AnchoredLedger


def _verify(tmp: Path, trust: Path, records: list[dict]) -> dict:
    f = tmp / "r.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in records))
    r = CliRunner().invoke(cli, ["verify-receipts", str(f), "--trust", str(trust), "--json"],
                           catch_exceptions=False)
    out = json.loads(r.output)
    assert (r.exit_code == 0) == out["ok"]
    return out


def test_witnessed_receipt_meets_the_quorum_where_the_latest_does_not(tmp_path: Path) -> None:
    d = tmp_path / "data"
    led = Ledger.create(d, "witnessed.example/log", checkpoint_interval=3600)
    intake = Intake(led, FilesystemBlobStore(d / "blobs"))
    signers = {n: generate_signer(f"{n}.example", ALG_COSIGNATURE_V1) for n in ("w1", "w2")}
    cfg = load_anchor_config(d)
    for name, s in signers.items():
        cfg = add_witness(cfg, name, "http://witness.invalid", s.verifier().to_string())
    cfg = replace(cfg, witness_quorum=2)
    save_anchor_config(cfg)
    world = AnchoredLedger(d, led, "", b"", signers)
    ids = []
    for i in range(6):
        f = tmp_path / f"f{i}.txt"
        f.write_bytes(f"file {i}".encode())
        ids.append(intake.submit(ItemSpec(files=[f], kind="document", case="C-1",
                                          principal="acme")).evidence_id)
        if i in (2, 5):
            led.sign_checkpoint_now()
    world.anchor(3, witnesses=("w1", "w2"))
    world.anchor(6, witnesses=("w1",))  # one of two: below the quorum
    trust = tmp_path / "trust.txt"
    trust.write_bytes(trust_policy(cfg, led.verifier).raw or b"")

    plain = intake.receipt(ids[0])
    assert plain["inclusion_proof"]["tree_size"] == 6
    refused = _verify(tmp_path, trust, [plain])
    assert not refused["ok"] and len(refused["failed"]) == 1

    w = witnessed_receipt(plain, led, cfg)
    assert w["receipt"] == plain["receipt"] and w["entry"] == plain["entry"]
    assert w["inclusion_proof"]["tree_size"] == 3
    assert len(parse_note(w["checkpoint"]).signatures) == 3  # the log and both witnesses
    held = _verify(tmp_path, trust, [w, witnessed_receipt(intake.receipt(ids[2]), led, cfg)])
    assert held["ok"] and held["proven"] == 2 and held["checkpoint_sizes"] == [3]

    later = witnessed_receipt(intake.receipt(ids[4]), led, cfg)  # in 6, witnessed by one
    assert later["checkpoint"] is None and later["inclusion_proof"] is None
    pending = _verify(tmp_path, trust, [later])
    assert not pending["ok"] and len(pending["not_yet_covered"]) == 1

    with pytest.raises(AnchorFailed, match="no witness is configured"):
        witnessed_receipt(plain, led, replace(cfg, witnesses=(), witness_quorum=0))

    # the same receipt from `evidence receipt --witnessed` and GET .../receipt?witnessed=true
    r = CliRunner().invoke(cli, ["receipt", ids[0], "--witnessed", "--json",
                                 "--data-dir", str(d)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == w
    pending_cli = CliRunner().invoke(cli, ["receipt", ids[4], "--witnessed", "--data-dir",
                                           str(d)], catch_exceptions=False)
    assert "witness quorum cosigned covers this entry yet" in pending_cli.output
    ac = AccessControl(led)
    ac.add_principal("acme", SUBMITTER)
    ac.add_case("C-1")
    ac.add_member("C-1", "acme")
    _, token = ac.create_token("acme")
    with TestClient(create_app(ApiSettings(data_dir=str(d), anchor=False))) as c:
        auth = {"Authorization": f"Bearer {token}"}
        got = c.get(f"/v1/evidence/{ids[0]}/receipt", params={"witnessed": "true"},
                    headers=auth)
        assert got.status_code == 200, got.text
        assert {k: got.json()[k] for k in ("checkpoint", "inclusion_proof")} == {
            "checkpoint": w["checkpoint"], "inclusion_proof": w["inclusion_proof"]}
        latest = c.get(f"/v1/evidence/{ids[0]}/receipt", headers=auth).json()
        assert latest["inclusion_proof"]["tree_size"] == 6
    led.close()
