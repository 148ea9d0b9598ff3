"""An ML-DSA-44 witness (``evidence witness init --mldsa``, C2SP tlog-cosignature v1.1) over
real HTTP: the log (its own ML-DSA-44 key added) asks it through the anchor service, the
cosignature line is type 0x06 with the witness's time, and a bundle exported afterwards
passes the ``checkpoint`` and ``cosignatures`` checks of the package and the stand-alone
script under the trust file the log exports (``#@ log-mldsa``, the witness's 0x06 key, its
quorum). A checkpoint with extension lines is refused before the witness's state moves:
an ML-DSA-44 cosignature cannot cover them."""

from __future__ import annotations

import base64
import json
import struct
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from evidence.cli.main import cli
from evidence.ledger.anchor.config import (
    AnchorConfig,
    WitnessSource,
    load_anchor_config,
    save_anchor_config,
    trust_policy,
)
from evidence.ledger.anchor.service import AnchorService
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger
from evidence.verify.checkpoint import Checkpoint, sign_checkpoint
from evidence.verify.hashing import Hash32
from evidence.verify.note import ALG_MLDSA44, generate_signer, parse_note
from evidence.witness.core import Refusal
from evidence.witness.cosigner import Witness
from tests.witness.conftest import ServedWitness, serve_witness

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "pq-witnessed.example/log"


@pytest.fixture
def pq_witness(tmp_path: Path) -> Iterator[ServedWitness]:
    yield from serve_witness(Witness.init(tmp_path / "witness", "pq.example/w1", ALG_MLDSA44))


@pytest.mark.slow  # a served witness and whole bundles: seconds
def test_mldsa_witness_cosigns_and_bundles_verify(pq_witness: ServedWitness,
                                                  tmp_path: Path) -> None:
    data = tmp_path / "data"
    led = Ledger.create(data, ORIGIN, checkpoint_interval=3600)
    try:
        pq_witness.witness.add_log(ORIGIN, [led.verifier])
        save_anchor_config(AnchorConfig(data, witnesses=(
            WitnessSource("w1", pq_witness.url, pq_witness.vkey),), witness_quorum=1))
        intake = Intake(led, FilesystemBlobStore(data / "blobs"))
        f = tmp_path / "a.txt"
        f.write_bytes(b"witnessed")
        eid = intake.submit(ItemSpec(files=[f], kind="document", case="C-1",
                                     principal="acme")).evidence_id
        led.add_mldsa_key(generate_signer(ORIGIN, ALG_MLDSA44))
        cp = led.sign_checkpoint_now()
        assert [x.ok for x in AnchorService(led, load_anchor_config(data)).run_once()
                .attempts] == [True]
        trust = trust_policy(load_anchor_config(data), led.verifier, mldsa=led.mldsa_key())
    finally:
        led.close()
    assert trust.raw is not None and b"#@ log-mldsa " in trust.raw
    (tmp_path / "trust.txt").write_bytes(trust.raw)
    w = pq_witness.witness.signer
    line = pq_witness.requests[-1]  # what the log sent: its note with both of its lines
    assert parse_note(line[line.index(b"\n\n") + 2:].decode()).text == parse_note(cp.note).text

    out = tmp_path / "b.zip"
    r = CliRunner().invoke(cli, ["export", eid, "-o", str(out), "--data-dir", str(data),
                                 "--checkpoint", str(cp.size), "--provisional"])
    assert r.exit_code == 0, r.output
    with zipfile.ZipFile(out) as z:
        note = z.read("checkpoint/checkpoint.note").decode()
    mine = [s for s in parse_note(note).signatures if s.key_id == w.key_id]
    assert len(mine) == 1 and len(mine[0].signature) == 8 + 2420
    assert struct.unpack(">Q", mine[0].signature[:8])[0] > 0  # tlog-witness: never time 0

    for head in ([str(Path(sys.executable).parent / "evidence"), "verify"],
                 [sys.executable, "-I", str(ROOT / "scripts" / "verify_bundle.py")]):
        p = subprocess.run([*head, str(out), "--trust", str(tmp_path / "trust.txt"), "--json"],
                           capture_output=True, text=True, timeout=300)
        report = json.loads(p.stdout)
        checks = {c["name"]: c["status"] for c in report["checks"]}
        assert (checks["checkpoint"], checks["cosignatures"]) == ("pass", "pass"), report
        assert report["verdict"] == "provisional", report  # no TSA here: no proof of time


def test_mldsa_witness_refuses_extension_lines_first(tmp_path: Path) -> None:
    w = Witness.init(tmp_path / "w", "pq.example/w2", ALG_MLDSA44)
    log = generate_signer("ext.example/log")
    w.add_log(log.name, [log.verifier()])
    root = Hash32(base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="))
    note = sign_checkpoint(Checkpoint(log.name, 1, root, ("an extension",)), log)
    with pytest.raises(Refusal, match="extension"):
        w.add_checkpoint(b"old 0\n\n" + note.encode())
    assert w.store.get(log.name).size == 0  # the state did not move
