"""GET /v1/evidence/{id}/bundle: the bundle as ``evidence export`` writes it, recorded as
an ``export`` access before it is served; it verifies against the pinned keys."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from evidence.api.app import create_app
from evidence.api.services import Services
from evidence.api.settings import ApiSettings
from evidence.ledger.access import COURT
from evidence.verify.bundle import verify_bundle
from evidence.verify.entry import parse_entry
from tests.support.bundle_world import build_world
from tests.support.tsa import LocalTSA

pytestmark = pytest.mark.tsa


def test_bundle_endpoint(tmp_path: Path, tsa: LocalTSA) -> None:
    w = build_world(tmp_path, tsa.url, tsa.ca_cert_pem, tsa.ca_pem_path)
    trust = w.trust()
    data_dir = w.led.config.data_dir
    w.led.close()
    svc = Services.open(ApiSettings(data_dir=str(data_dir)))
    try:
        svc.access.add_principal("court-a", COURT)
        svc.access.add_principal("court-b", COURT)
        svc.access.add_case("case-1")
        svc.access.add_member("case-1", "court-a")
        _, token = svc.access.create_token("court-a")
        _, other = svc.access.create_token("court-b")
        with TestClient(create_app(services=svc)) as client:
            r = client.get(f"/v1/evidence/{w.a}/bundle",
                           headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == "application/zip"
            report = verify_bundle(io.BytesIO(r.content), trust)
            assert report.ok, [c for c in report.checks if not c.ok]
            seq = int(r.headers["X-Access-Seq"])
            body = parse_entry(svc.ledger.entry(seq).data).body
            assert body["action"] == "export" and body["evidence_id"] == w.a
            assert client.get(f"/v1/evidence/{w.a}/bundle").status_code == 401
            assert client.get(f"/v1/evidence/{w.a}/bundle", headers={
                "Authorization": f"Bearer {other}"}).status_code == 404
    finally:
        svc.close()
