"""A photo with GPS coordinates (floats in the metadata) is preserved, committed with full
RFC 8785, and its bundle verifies with the package and with the stand-alone script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import rfc8785

from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.bundle.export import export_bundle
from evidence.ledger.evidence_store import load_item
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger
from evidence.verify.bundle import TrustRoots, verify_bundle
from evidence.verify.commitment import verify_commitment
from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer, parse_verifier_key
from tests.support.bundle_world import anchor
from tests.support.tsa import LocalTSA

ROOT = Path(__file__).resolve().parents[3]


def _gps_photo(path: Path) -> Path:
    image = pytest.importorskip("PIL.Image")
    im = image.new("RGB", (16, 16), (200, 30, 30))
    exif = image.Exif()
    exif[0x8825] = {1: "N", 2: (22.0, 32.0, 35.1), 3: "E", 4: (114.0, 3.0, 28.2)}
    im.save(path, exif=exif)
    return path


@pytest.mark.tsa
def test_gps_photo_is_preserved_and_its_bundle_verifies(tmp_path: Path, tsa: LocalTSA) -> None:
    led = Ledger.create(tmp_path / "data", "gps.example/log")
    store = FilesystemBlobStore(tmp_path / "data" / "blobs")
    witness = generate_signer("witness-a.example", ALG_COSIGNATURE_V1)
    try:
        res = Intake(led, store).submit(ItemSpec(files=[_gps_photo(tmp_path / "shop.jpg")],
                                                 kind="image", case="c-1", principal="acme"))
        with led.engine.connect() as conn:
            item = load_item(conn, res.evidence_id)
        metadata = json.loads(item.metadata_jcs)
        gps = metadata["extracted"]["files"][0]["image"]["gps"]
        assert isinstance(gps["latitude"], float) and 22.5 < gps["latitude"] < 22.6
        assert item.metadata_jcs == rfc8785.dumps(metadata)  # full JCS, floats and all
        verify_commitment(item.commitment, item.salt, metadata)
        # anchored by the real local TSA and a witness: export refuses a bundle without
        anchor(led, led.sign_checkpoint_now().size, tsa.url, tsa.ca_cert_pem, witness)
        out = tmp_path / "bundle.zip"
        export_bundle(led, store, res.evidence_id, out)
        vkey = led.verifier_key
    finally:
        led.close()
    report = verify_bundle(str(out), TrustRoots(parse_verifier_key(vkey),
                                                witness_keys=[witness.verifier()],
                                                witness_quorum=1,
                                                tsa_roots=[tsa.ca_cert_pem]))
    assert report.ok, [c for c in report.checks if not c.ok]
    assert {c.name: c.ok for c in report.checks}["metadata"] is True
    script = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "verify_bundle.py"), str(out),
         "--log-key", vkey, "--witness-key", witness.verifier().to_string(),
         "--witness-quorum", "1", "--tsa-ca", str(tsa.ca_pem_path), "--json"],
        capture_output=True, text=True, timeout=120)
    assert script.returncode == 0, script.stdout + script.stderr
    assert json.loads(script.stdout)["ok"] is True
