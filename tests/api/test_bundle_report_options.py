"""A bundle built by the server carries the report ``evidence export`` makes: the reader's
``?tz=`` and ``?forum=``, the server's ``[serve] public_url`` (the QR code's verify page)
and ``[eidas] trusted_lists`` (evidence/api/report_options.py).

A real ledger with an item timestamped by the local OpenSSL TSA and cosigned, served by the
real app; the trusted list is written in the ETSI layout with the TSA's own signing
certificate as a granted QTST service. Each combination of options is its own kept bundle
with its own ETag, and an ETag of one never resumes a download of another."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from evidence.api.app import create_app
from evidence.api.services import Services
from evidence.api.settings import ApiSettings
from evidence.ledger.access import COURT
from evidence.verify.bundle import verify_bundle
from tests.support.bundle_world import World, build_world
from tests.support.trusted_list_xml import cert_b64, service, tsl
from tests.support.tsa import LocalTSA

pytestmark = pytest.mark.tsa

TSA_LEGAL = "Evidence Test Time-Stamping Authority"
PUBLIC = "https://evidence.example/ledger"


@dataclass
class Served:
    world: World
    svc: Services
    client: TestClient
    auth: dict[str, str]

    def get(self, query: str = "", **headers: str):  # type: ignore[no-untyped-def]
        return self.client.get(f"/v1/evidence/{self.world.a}/bundle{query}",
                               headers={**self.auth, **headers})


def text_report(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return " ".join(z.read("report/report.txt").decode().split())


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("report-options")
    w = build_world(root, tsa.url, tsa.ca_cert_pem, tsa.ca_pem_path)
    data_dir = w.led.config.data_dir
    w.led.close()
    # the TSA configured (its tokens are re-verified against this CA: the eIDAS check
    # needs the verified chain), and a trusted list naming its signing certificate
    (data_dir / "anchors.json").write_text(json.dumps({"tsas": [
        {"name": "tsa-local", "url": tsa.url, "ca": [str(tsa.ca_pem_path)],
         "legal_name": TSA_LEGAL}]}))
    assert tsa.tsa_cert_pem is not None
    tl = root / "DE.xml"
    tl.write_bytes(tsl(service(cert_b64=cert_b64(tsa.tsa_cert_pem))))
    svc = Services.open(ApiSettings(data_dir=str(data_dir), anchor=False,
                                    public_url=PUBLIC, trusted_lists=(str(tl),)))
    try:
        svc.access.add_principal("court-a", COURT)
        svc.access.add_case("case-1")
        svc.access.add_member("case-1", "court-a")
        _, token = svc.access.create_token("court-a")
        with TestClient(create_app(services=svc)) as client:
            yield Served(w, svc, client, {"Authorization": f"Bearer {token}"})
    finally:
        svc.close()


def test_zone_and_forum_shape_the_report(served: Served) -> None:
    r = served.get("?tz=Europe/Berlin&forum=eu")
    assert r.status_code == 200, r.text
    txt = text_report(r.content)
    assert "Europe/Berlin (chosen at export)" in txt
    assert "(UTC+01:00)" in txt or "(UTC+02:00)" in txt  # each time in Berlin, offset shown
    # only the EU's checklist
    assert "eIDAS Regulation Art. 41-42" in txt
    assert "902(14)" not in txt and "Online Litigation Rules" not in txt
    assert "Berkeley Protocol" not in txt
    assert verify_bundle(io.BytesIO(r.content), served.world.trust()).ok
    # the same URL: the same bytes; another forum or zone: another bundle, another ETag
    again = served.get("?tz=Europe/Berlin&forum=eu")
    assert again.headers["etag"] == r.headers["etag"] and again.content == r.content
    us = served.get("?tz=America/New_York&forum=us")
    assert us.status_code == 200 and us.headers["etag"] != r.headers["etag"]
    txt_us = text_report(us.content)
    assert "America/New_York (chosen at export)" in txt_us and "902(14)" in txt_us
    assert "eIDAS Regulation Art. 41-42" not in txt_us
    # forum given as a list in another order names the same bundle
    both = served.get("?forum=us,eu")
    assert both.headers["etag"] == served.get("?forum=eu,us").headers["etag"]


def test_an_etag_of_other_options_never_resumes_this_download(served: Served) -> None:
    eu = served.get("?tz=Europe/Berlin&forum=eu")
    cn = served.get("?tz=Asia/Shanghai&forum=cn")
    assert eu.headers["etag"] != cn.headers["etag"]
    # resuming the cn URL with the eu bundle's validator: the whole cn bundle, never a
    # splice of the eu bytes into it
    r = served.get("?tz=Asia/Shanghai&forum=cn", Range="bytes=1000-",
                   **{"If-Range": eu.headers["etag"]})
    assert r.status_code == 200 and r.content == cn.content
    # its own validator resumes it
    part = served.get("?tz=Asia/Shanghai&forum=cn", Range="bytes=1000-",
                      **{"If-Range": cn.headers["etag"]})
    assert part.status_code == 206 and part.content == cn.content[1000:]


def test_the_servers_trusted_list_and_verify_url_apply(served: Served) -> None:
    r = served.get("?forum=eu")
    txt = text_report(r.content)
    assert f"{TSA_LEGAL}: qualified: at genTime" in txt
    assert "sequence number 42" in txt and "the list's own signature was not verified" in txt
    assert "not determined (no trusted-list snapshot" not in txt
    url = f"{PUBLIC}/verify/?id={served.world.a}"
    assert f"verify page / 核验页面: {url}" in txt
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        assert url in z.read("report/report.html").decode()


@pytest.mark.parametrize(("query", "says"), [
    ("?tz=Mars/Olympus", "tz: unknown time zone"),
    ("?tz=../../etc/passwd", "tz: unknown time zone"),
    ("?forum=moon", "forum: unknown forum"),
    ("?forum=,", "forum: unknown forum"),
])
def test_bad_options_are_422_and_record_nothing(served: Served, query: str, says: str) -> None:
    size = served.svc.ledger.size
    r = served.get(query)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid-input" and says in r.json()["detail"]
    assert served.svc.ledger.size == size  # no export access recorded


def test_a_broken_trusted_list_is_the_operators_503(served: Served, tmp_path: Path) -> None:
    from dataclasses import replace

    bad = tmp_path / "broken.xml"
    bad.write_bytes(b"<not-a-list/>")
    old = served.svc.settings
    served.svc.settings = replace(old, trusted_lists=(str(bad),))
    try:
        size = served.svc.ledger.size
        r = served.get("?forum=eu")
        assert r.status_code == 503, r.text
        assert r.json()["code"] == "report-config-unavailable"
        assert "[eidas] trusted_lists" in r.json()["detail"]
        assert served.svc.ledger.size == size
    finally:
        served.svc.settings = old
