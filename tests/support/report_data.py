"""A sample of the data the court report is made from (``evidence.ledger.bundle.report``):
an item of two files (a Chinese file name among them), its log, checkpoint, timestamp,
witness and custody timeline. Used by tests/ledger/bundle/test_report.py (the PDF, HTML and
QR code) and tests/browser/test_report_layout.py (the layout in a browser and on A4);
copy it (``copy.deepcopy``) before changing it."""

from __future__ import annotations

from typing import Any

__all__ = ["DATA", "ROOT", "SHA_EML", "SHA_PNG", "VKEY"]

VKEY = "evidence.example/log+49077e36+AabHVbnPeZVcp5Cql5Prdtaxw43FcW29VNUtAWpFOzgJ"
SHA_PNG = "5e955b5b339b563f7b05363f6aa552560560026b662aeeaec61cbda1432d0d81"
SHA_EML = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
ROOT = "3b1f9c7a0e6d2c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3"

DATA: dict[str, Any] = {
    "evidence_id": "ev_01J9ZK7QX4", "kind": "screenshot", "case": "case-2026-沪-17",
    "principal": "user:alice", "submitted_at": "2026-11-21T08:00:02.123456Z",
    "submission_seq": 17, "purged": False, "purged_at": None,
    "metadata_commitment": "ab" * 32,
    "files": [
        {"name": "侵权网店截图.png", "media_type": "image/png", "size": 123456,
         "sha256": SHA_PNG},
        {"name": "mail.eml", "media_type": "message/rfc822", "size": 2048, "sha256": SHA_EML},
    ],
    "log": {"origin": "evidence.example/log", "verifier_key": VKEY},
    "checkpoint": {"size": 1234, "root": ROOT, "note": "evidence.example/log\n1234\n...\n"},
    "timestamps": [{"tsa": "CN=Evidence Test TSA", "gen_time": "2026-11-21T08:00:05+00:00",
                    "serial": "4660"}],
    "witnesses": [{"name": "witness.court.example", "cosigned_at": "2026-11-21T08:00:06.0Z"}],
    "custody": [
        {"seq": 17, "time": "2026-11-21T08:00:02.123456Z", "type": "evidence.submitted",
         "principal": "user:alice"},
        {"seq": 40, "time": "2026-11-22T09:00:00.000000Z", "type": "evidence.accessed",
         "principal": "user:judge", "action": "view"},
        {"seq": 41, "time": "2026-11-23T09:00:00.000000Z", "type": "evidence.shared",
         "principal": "user:alice", "grantee": "court:de-muc"},
    ],
    "warnings": [],
    "created_at": "2026-11-24T08:00:00.000000Z", "exporter": "evidence 0.1.0",
    "verify_commands": [
        f"evidence verify ev_01J9ZK7QX4.zip --log-key '{VKEY}' --tsa-ca TSA-ROOT.pem",
        f"python verify_bundle.py ev_01J9ZK7QX4.zip --log-key '{VKEY}' --tsa-ca TSA-ROOT.pem",
    ],
}
