"""No bundle that can never pass (issue 13, point 6; docs/verdict.md section 2).

A real ledger and intake, the real local OpenSSL TSA, real witness cosignatures and the
operator's real ``anchors.json``:

- the exporter refuses an item whose chosen checkpoint has no RFC 3161 timestamp, or
  fewer cosignatures by configured witnesses than ``witness_quorum``: the library raises
  ``NotAnchoredYet``, ``evidence export`` exits 1 saying when to retry and writes
  nothing, ``GET /v1/evidence/{id}/bundle`` answers 409 ``not-anchored-yet`` with
  ``Retry-After`` (the anchoring interval) and records no access;
- ``--provisional`` / ``?provisional=1`` writes a bundle whose manifest says
  ``"provisional": true``, with no timestamps, whose reports say "provisional: no proof of
  time / 临时证据包：无时间证明" and claim no time, and which verifies as ``provisional``;
- once anchored, the same requests give the ordinary bundle, and the exporter still picks
  the newest timestamped checkpoint covering every entry (preferring, under a quorum, the
  newest that also has it).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from evidence.api.app import create_app
from evidence.api.services import Services
from evidence.api.settings import ApiSettings
from evidence.cli.main import cli
from evidence.ledger.access import COURT
from evidence.ledger.anchor.base import AnchorResult
from evidence.ledger.anchor.config import (
    AnchorConfig,
    WitnessSource,
    add_tsa,
    load_anchor_config,
    save_anchor_config,
)
from evidence.ledger.anchor.store import ensure_rows, record_success
from evidence.ledger.anchor.tsa_client import request_timestamp
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.bundle.export import NotAnchoredYet, export_bundle
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger
from evidence.verify.bundle import TrustRoots, verify_bundle
from evidence.verify.checkpoint import cosign_checkpoint
from evidence.verify.note import ALG_COSIGNATURE_V1, Signer, generate_signer, parse_note
from tests.support.tsa import LocalTSA

pytestmark = pytest.mark.tsa

BANNER = "provisional: no proof of time / 临时证据包：无时间证明"


@dataclass
class Log:
    dir: Path
    led: Ledger
    store: FilesystemBlobStore
    intake: Intake
    tsa: LocalTSA
    w1: Signer
    w2: Signer

    def submit(self, name: str) -> str:
        f = self.dir / name
        f.write_bytes(f"evidence {name}\n".encode())
        return self.intake.submit(ItemSpec(files=[f], kind="other", case="case-1",
                                           principal="acme-ip")).evidence_id

    def timestamp(self, size: int) -> None:
        """What ``evidence anchor`` stores for a TSA: a verified token of the checkpoint."""
        text = parse_note(self.led.checkpoint_at(size).note).text
        now = datetime.now(UTC)
        ensure_rows(self.led.engine, size, [("tsa-local", "tsa", self.tsa.url)], now)
        tok = request_timestamp(self.tsa.url, text.encode(),
                                trusted_ca_pems=[self.tsa.ca_cert_pem], timeout=30)
        v = tok.verdict
        assert v is not None
        record_success(self.led.engine, size, "tsa-local", AnchorResult(
            proof_time=v.gen_time, token=tok.token, certs=tok.certificates,
            gen_time=v.gen_time, serial=v.serial_number, policy=v.policy,
            verifier=v.verifier), now)

    def cosign(self, size: int, name: str, witness: Signer) -> None:
        text = parse_note(self.led.checkpoint_at(size).note).text
        now = datetime.now(UTC)
        t = int(now.timestamp())
        ensure_rows(self.led.engine, size, [(name, "witness", "http://witness.invalid")], now)
        record_success(self.led.engine, size, name, AnchorResult(
            proof_time=datetime.fromtimestamp(t, UTC),
            cosignature=cosign_checkpoint(text, witness, cosigned_at=t), cosigned_at=t,
            verifier="witness-cosignature/v1"), now)

    def configure(self, *, quorum: int, interval: float = 60.0) -> None:
        """The operator's anchors.json: the local TSA and two witnesses."""
        cfg = load_anchor_config(self.led.config.data_dir)
        if not cfg.tsas:
            cfg = add_tsa(cfg, "tsa-local", self.tsa.url, [self.tsa.ca_pem_path])
        ws = (WitnessSource("w1", "http://w1.invalid", self.w1.verifier().to_string()),
              WitnessSource("w2", "http://w2.invalid", self.w2.verifier().to_string()))
        save_anchor_config(AnchorConfig(cfg.data_dir, cfg.tsas, ws, quorum, interval))

    def trust(self, quorum: int = 0) -> TrustRoots:
        return TrustRoots(log_key=self.led.verifier,
                          witness_keys=[self.w1.verifier(), self.w2.verifier()],
                          witness_quorum=quorum, tsa_roots=[self.tsa.ca_cert_pem])

    def export(self, evidence_id: str, **kw: object) -> bytes:
        buf = io.BytesIO()
        export_bundle(self.led, self.store, evidence_id, buf, **kw)  # type: ignore[arg-type]
        return buf.getvalue()


@pytest.fixture
def log(tmp_path: Path, tsa: LocalTSA) -> Iterator[Log]:
    led = Ledger.create(tmp_path / "data", "provisional.example/log", checkpoint_interval=3600)
    store = FilesystemBlobStore(tmp_path / "data" / "blobs")
    w1 = generate_signer("w1.example", ALG_COSIGNATURE_V1)
    w2 = generate_signer("w2.example", ALG_COSIGNATURE_V1)
    lg = Log(tmp_path, led, store, Intake(led, store), tsa, w1, w2)
    try:
        yield lg
    finally:
        led.close()


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def test_refused_until_timestamped_then_the_ordinary_bundle(log: Log) -> None:
    item = log.submit("shop.png")
    size = log.led.sign_checkpoint_now().size
    with pytest.raises(NotAnchoredYet) as refused:
        log.export(item)
    e = refused.value
    assert e.missing == ("timestamp",) and e.checkpoint_size == size and e.retry_after == 60
    assert "no RFC 3161 timestamp yet" in str(e) and "evidence anchor" in str(e)
    assert "--provisional" in str(e)
    assert "No TSA is configured" in str(e)  # and what to do about it
    log.configure(quorum=0, interval=15)
    with pytest.raises(NotAnchoredYet) as refused:
        log.export(item)
    assert refused.value.retry_after == 15 and "No TSA is configured" not in str(refused.value)
    assert "every 15 s" in str(refused.value)

    log.timestamp(size)
    data = log.export(item)
    man = json.loads(members(data)["manifest.json"])
    assert "provisional" not in man and len(man["timestamps"]) == 1
    assert verify_bundle(io.BytesIO(data), log.trust()).verdict == "incomplete"  # no witness
    log.cosign(size, "w1", log.w1)
    report = verify_bundle(io.BytesIO(log.export(item)), log.trust(quorum=1))
    assert report.verdict == "verified", [c for c in report.checks if not c.ok]
    # --provisional on an anchored item: the ordinary bundle, not a weaker one
    again = log.export(item, provisional=True)
    assert "provisional" not in json.loads(members(again)["manifest.json"])


def test_provisional_bundle(log: Log) -> None:
    item = log.submit("chat.txt")
    log.led.sign_checkpoint_now()
    log.configure(quorum=0)
    data = log.export(item, provisional=True)
    m = members(data)
    man = json.loads(m["manifest.json"])
    assert man["provisional"] is True and man["timestamps"] == []
    assert not any(n.startswith("timestamps/") for n in m)
    txt = m["report/report.txt"].decode()
    html = m["report/report.html"].decode()
    assert BANNER in txt
    assert "provisional: no proof of time" in html and "临时证据包：无时间证明" in html
    for text in (txt, html):  # no summary claims a time
        assert "Preserved no later than" not in text and "不晚于以下时间已保全" not in text
        assert "No later than (genTime)" not in text
    report = verify_bundle(io.BytesIO(data), log.trust())
    assert report.verdict == "provisional" and report.failed_check is None
    assert report.check("timestamps").status == "not-checked"
    assert report.preserved_no_later_than == []


def test_a_token_on_the_checkpoint_is_left_out_of_a_provisional_bundle(log: Log) -> None:
    """Timestamped but short of the witness quorum: provisional means no proof of time,
    so the token is not put in (a verifier would ignore it anyway)."""
    item = log.submit("mail.eml")
    size = log.led.sign_checkpoint_now().size
    log.configure(quorum=1)
    log.timestamp(size)
    with pytest.raises(NotAnchoredYet) as refused:
        log.export(item)
    assert refused.value.missing == ("cosignatures",)
    assert "0 of the 1 witness cosignatures" in str(refused.value)
    man = json.loads(members(log.export(item, provisional=True))["manifest.json"])
    assert man["provisional"] is True and man["timestamps"] == []


def test_quorum_counts_only_configured_witnesses(log: Log) -> None:
    item = log.submit("a.txt")
    size = log.led.sign_checkpoint_now().size
    log.configure(quorum=2)
    log.timestamp(size)
    log.cosign(size, "w1", log.w1)
    stranger = generate_signer("stranger.example", ALG_COSIGNATURE_V1)
    log.cosign(size, "stranger", stranger)  # stored, but not one of the operator's witnesses
    with pytest.raises(NotAnchoredYet, match="1 of the 2 witness cosignatures"):
        log.export(item)
    log.cosign(size, "w2", log.w2)
    report = verify_bundle(io.BytesIO(log.export(item)), log.trust(quorum=2))
    assert report.verdict == "verified", [c for c in report.checks if not c.ok]


def test_choice_newest_timestamped_and_under_a_quorum_newest_with_it(log: Log) -> None:
    item = log.submit("b.txt")
    older = log.led.sign_checkpoint_now().size
    log.timestamp(older)
    log.cosign(older, "w1", log.w1)
    log.led.append("custody.note", {"text": "unrelated"})
    newer = log.led.sign_checkpoint_now().size
    log.timestamp(newer)  # timestamped, but no witness has cosigned it yet
    log.led.append("custody.note", {"text": "unrelated, after"})
    log.led.sign_checkpoint_now()  # the latest: neither timestamped nor cosigned
    log.configure(quorum=0)
    assert json.loads(members(log.export(item))["manifest.json"])["checkpoint_size"] == newer
    log.configure(quorum=1)
    assert json.loads(members(log.export(item))["manifest.json"])["checkpoint_size"] == older


def test_cli_refuses_with_exit_1_and_writes_nothing(log: Log, tmp_path: Path) -> None:
    item = log.submit("c.txt")
    size = log.led.sign_checkpoint_now().size
    log.configure(quorum=0, interval=20)
    data_dir = str(log.led.config.data_dir)
    out = tmp_path / "out.zip"
    runner = CliRunner()
    r = runner.invoke(cli, ["export", item, "-o", str(out), "--data-dir", data_dir])
    assert r.exit_code == 1, r.output
    assert "not anchored yet" in r.output and "evidence anchor" in r.output
    assert "--provisional" in r.output and not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.zip")]
    r = runner.invoke(cli, ["export", item, "-o", str(out), "--data-dir", data_dir, "--json"])
    doc = json.loads(r.output)
    assert r.exit_code == 1 and doc["ok"] is False and doc["not_anchored_yet"] is True
    assert doc["retry_after"] == 20 and doc["missing"] == ["timestamp"]
    assert doc["checkpoint_size"] == size
    r = runner.invoke(cli, ["export", item, "-o", str(out), "--data-dir", data_dir,
                            "--provisional"])
    assert r.exit_code == 0 and "PROVISIONAL" in r.output, r.output
    assert json.loads(members(out.read_bytes())["manifest.json"])["provisional"] is True
    # the court's evidence verify: provisional at best, exit 3, never green
    r = runner.invoke(cli, ["verify", str(out), "--log-key", log.led.verifier_key,
                            "--tsa-ca", str(log.tsa.ca_pem_path)])
    assert r.exit_code == 3, r.output
    assert "provisional: no proof of time" in r.output.lower()
    assert "临时证据包：无时间证明" in r.output
    assert "Preserved no later than" not in r.output
    log.timestamp(size)
    r = runner.invoke(cli, ["export", item, "-o", str(out), "--data-dir", data_dir, "--force",
                            "--json"])
    doc = json.loads(r.output)
    assert r.exit_code == 0 and doc["provisional"] is False and doc["timestamps"] == 1


def test_api_409_not_anchored_yet_then_200(log: Log) -> None:
    item = log.submit("d.txt")
    size = log.led.sign_checkpoint_now().size
    log.configure(quorum=0, interval=45)
    data_dir = log.led.config.data_dir
    log.led.close()
    # anchoring beside the API is off: this test anchors when it chooses to
    svc = Services.open(ApiSettings(data_dir=str(data_dir), anchor=False))
    try:
        svc.access.add_principal("court-a", COURT)
        svc.access.add_case("case-1")
        svc.access.add_member("case-1", "court-a")
        _, token = svc.access.create_token("court-a")
        auth = {"Authorization": f"Bearer {token}"}
        with TestClient(create_app(services=svc)) as client:
            before = svc.ledger.size
            r = client.get(f"/v1/evidence/{item}/bundle", headers=auth)
            assert r.status_code == 409, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.headers["Retry-After"] == "45"
            doc = r.json()
            assert doc["type"] == "urn:evidence:problem:not-anchored-yet"
            assert doc["code"] == "not-anchored-yet" and doc["missing"] == ["timestamp"]
            assert doc["checkpoint_size"] == size and "?provisional=1" in doc["detail"]
            assert svc.ledger.size == before  # nothing served, no access recorded
            r = client.get(f"/v1/evidence/{item}/bundle?provisional=maybe", headers=auth)
            assert r.status_code == 422 and svc.ledger.size == before

            r = client.get(f"/v1/evidence/{item}/bundle?provisional=1", headers=auth)
            assert r.status_code == 200, r.text
            m = members(r.content)
            assert json.loads(m["manifest.json"])["provisional"] is True
            assert BANNER in m["report/report.txt"].decode()
            assert svc.ledger.size == before + 1  # the export access

            log.led = svc.ledger
            log.timestamp(size)
            r = client.get(f"/v1/evidence/{item}/bundle", headers=auth)
            # the access entry just recorded is newer than the timestamped checkpoint:
            # it goes into the next bundle, this one is proven to the anchored checkpoint
            assert r.status_code == 200, r.text
            man = json.loads(members(r.content)["manifest.json"])
            assert "provisional" not in man and man["checkpoint_size"] == size
            assert len(man["timestamps"]) == 1
    finally:
        svc.close()


def test_cli_proves_to_the_older_timestamped_checkpoint(log: Log, tmp_path: Path) -> None:
    """A custody entry newer than the timestamped checkpoint (a download since the last
    anchoring round) does not block the export: the bundle is proven to the newest
    anchored checkpoint covering the submission, the newer entry left out (warned)."""
    item = log.submit("e.txt")
    anchored = log.led.sign_checkpoint_now().size
    log.timestamp(anchored)
    log.led.append("evidence.accessed", {"evidence_id": item, "principal": "court-a",
                                         "action": "view"})
    log.led.sign_checkpoint_now()
    log.configure(quorum=0)
    data_dir = str(log.led.config.data_dir)
    out = tmp_path / "e.zip"
    r = CliRunner().invoke(cli, ["export", item, "-o", str(out), "--data-dir", data_dir])
    assert r.exit_code == 0 and "not in this bundle" in r.output, r.output
    man = json.loads(members(out.read_bytes())["manifest.json"])
    assert man["checkpoint_size"] == anchored and man["custody_seqs"] == []
