"""The report's eIDAS rows against an EU trusted list (evidence/ledger/bundle/trusted_list.py).

A real ledger (SQLite), an item submitted through the real intake, its checkpoint timestamped
by the local OpenSSL TSA; trusted lists are written here in the ETSI TS 119 612 layout (its
namespace and element names) with a QTST service whose X509Certificate is the TSA's signing
certificate (or its root CA's, or another certificate), and a status timeline. Each bundle's
text and HTML report must then say, for the TSA: qualified (granted at genTime), not qualified
(withdrawn before genTime; granted only later), or not on the list, with the list's date,
sequence number and SHA-256, and that its own signature was not verified.

Hostile lists (billion laughs, an external entity, a DTD, a huge file, not a trusted list)
are refused with a message naming the file, and no bundle is written. The configuration key
``[eidas] trusted_lists`` and ``evidence export --trusted-list`` are exercised through the
CLI."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from evidence.cli.main import cli
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.bundle import trusted_list
from evidence.ledger.bundle.export import ExportError, export_bundle
from evidence.ledger.config_file import resolve
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger
from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer
from tests.support.bundle_world import anchor, members
from tests.support.trusted_list_xml import (
    CA_QC,
    GRANTED,
    QTST,
    WITHDRAWN,
    cert_b64,
    other_cert,
    service,
    tsl,
)
from tests.support.tsa import LocalTSA

pytestmark = pytest.mark.tsa

TSA_LEGAL = "Evidence Test Time-Stamping Authority"
ENV_CLEAN = {name: "" for name in ("EVIDENCE_CONFIG", "EVIDENCE_DATA_DIR", "EVIDENCE_DB_URL",
                                   "EVIDENCE_BLOB_STORE", "EVIDENCE_EIDAS_TRUSTED_LISTS")}


@dataclass
class World:
    dir: Path
    data_dir: Path
    led: Ledger
    store: FilesystemBlobStore
    evidence_id: str
    tsa: LocalTSA

    def export(self, name: str, xml: bytes | None) -> str:
        """The text report of a bundle exported with the list ``xml`` (none: no list)."""
        lists = []
        if xml is not None:
            (self.dir / f"{name}.xml").write_bytes(xml)
            lists = [self.dir / f"{name}.xml"]
        buf = io.BytesIO()
        export_bundle(self.led, self.store, self.evidence_id, buf, forum="eu",
                      trusted_lists=lists)
        m = members(buf.getvalue())
        self.html = m["report/report.html"].decode()
        return " ".join(m["report/report.txt"].decode().split())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> Iterator[World]:
    root = tmp_path_factory.mktemp("trusted-list")
    data_dir = root / "data"
    led = Ledger.create(data_dir, "tl.example/log", checkpoint_interval=3600)
    store = FilesystemBlobStore(data_dir / "blobs")
    (root / "a.txt").write_bytes(b"offer of counterfeit goods\n")
    item = Intake(led, store).submit(ItemSpec(files=[root / "a.txt"], kind="document",
                                              case="case-1", principal="p"))
    size = led.sign_checkpoint_now().size
    anchor(led, size, tsa.url, tsa.ca_cert_pem,
           generate_signer("witness-a.example/w1", ALG_COSIGNATURE_V1))
    (data_dir / "anchors.json").write_text(json.dumps({
        "tsas": [{"name": "tsa-local", "url": tsa.url, "ca": [str(tsa.ca_pem_path)],
                  "legal_name": TSA_LEGAL}]}))
    yield World(root, data_dir, led, store, item.evidence_id, tsa)
    led.close()


def test_qualified_when_granted_at_gen_time(world: World) -> None:
    assert world.tsa.tsa_cert_pem is not None
    xml = tsl(service(cert_b64=cert_b64(world.tsa.tsa_cert_pem)))
    txt = world.export("granted", xml)
    assert f"{TSA_LEGAL}: qualified: at genTime" in txt
    assert "granted (since 2016-07-01T00:00:00Z)" in txt
    assert 'service "Test Qualified Time Stamps" of Test QTSP GmbH' in txt
    assert "matched by its signing certificate" in txt
    assert "snapshot dated 2026-01-15T00:00:00Z" in txt and "sequence number 42" in txt
    sha = hashlib.sha256(xml).hexdigest()
    assert (f"the list's own signature was not verified by this report; the operator "
            f"configured this file (SHA-256 {sha})") in txt
    flat = txt.replace(" ", "")  # Chinese lines wrap anywhere
    assert "本报告未核验该名单自身的签名" in flat and "：合格时间戳——genTime" in flat
    assert sha in txt
    assert "qualified: at genTime" in " ".join(world.html.split())
    assert "not determined" not in txt.split("Art. 41(2)")[1]


def test_the_status_in_force_at_gen_time_counts(world: World) -> None:
    cert = cert_b64(world.tsa.tsa_cert_pem or b"")
    # withdrawn in 2020, granted 2016-2020: not qualified now
    txt = world.export("withdrawn", tsl(service(
        cert_b64=cert, status=WITHDRAWN, start="2020-03-01T00:00:00Z",
        history=((QTST, GRANTED, "2016-07-01T00:00:00Z"),))))
    assert f"{TSA_LEGAL}: not qualified: at genTime" in txt
    assert "had the status withdrawn (QTST, since 2020-03-01T00:00:00Z)" in txt
    assert f"{TSA_LEGAL}: qualified" not in txt
    # withdrawn only after genTime: granted at genTime, so qualified
    txt = world.export("withdrawn-later", tsl(service(
        cert_b64=cert, status=WITHDRAWN, start="2099-01-01T00:00:00Z",
        history=((QTST, GRANTED, "2016-07-01T00:00:00Z"),))))
    assert f"{TSA_LEGAL}: qualified: at genTime" in txt
    # granted only from 2099: the service was not listed yet at genTime
    txt = world.export("granted-later", tsl(service(cert_b64=cert,
                                                    start="2099-01-01T00:00:00Z")))
    assert "the service was not listed yet" in txt and f"{TSA_LEGAL}: qualified" not in txt
    # granted, but as a CA/QC service before it became QTST: the type counts too
    txt = world.export("type-changed", tsl(service(
        cert_b64=cert, start="2099-01-01T00:00:00Z",
        history=((CA_QC, GRANTED, "2016-07-01T00:00:00Z"),))))
    assert "had the status granted (QC, since 2016-07-01T00:00:00Z)" in txt
    assert f"{TSA_LEGAL}: qualified" not in txt


def test_an_issuing_ca_listed_counts(world: World) -> None:
    txt = world.export("root", tsl(service(cert_b64=cert_b64(world.tsa.ca_cert_pem))))
    assert f"{TSA_LEGAL}: qualified: at genTime" in txt
    assert "matched by the CA certificate that issued its signing certificate" in txt


def test_not_on_the_list(world: World) -> None:
    other = base64.b64encode(other_cert().public_bytes(Encoding.DER)).decode()
    tsa_cert = x509.load_pem_x509_certificate(world.tsa.tsa_cert_pem or b"")
    ski = tsa_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier) \
        .value.digest
    for name, svc in (
            ("other", service(cert_b64=other)),
            # a name or a key identifier alone claims nothing: only a certificate matches
            ("ski-only", service(ski=base64.b64encode(ski).decode(),
                                 subject=tsa_cert.subject.rfc4514_string()))):
        txt = world.export(name, tsl(svc))
        assert f"{TSA_LEGAL}: not on the configured trusted list(s)" in txt, name
        assert f"{TSA_LEGAL}: qualified" not in txt
        assert "不在所配置的可信名单上" in txt.replace(" ", "")


def test_no_list_configured_is_not_determined(world: World) -> None:
    txt = world.export("none", None)
    assert "qualified (EU trusted list): not determined (no trusted-list snapshot" in txt
    assert "snapshot dated" not in txt


def test_unverified_chain_is_not_determined(world: World, tmp_path: Path) -> None:
    """A TSA no longer configured: its token is not re-verified, so no claim is made."""
    anchors = world.data_dir / "anchors.json"
    saved = anchors.read_bytes()
    anchors.write_text(json.dumps({"tsas": []}))
    try:
        txt = world.export("unverified", tsl(service(
            cert_b64=cert_b64(world.tsa.tsa_cert_pem or b""))))
    finally:
        anchors.write_bytes(saved)
    assert "not determined (the token's certificate chain could not be re-verified" in txt
    assert ": qualified: at genTime" not in txt


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<TrustServiceStatusList xmlns="http://uri.etsi.org/02231/v2#">&lol3;</TrustServiceStatusList>
"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE t [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<TrustServiceStatusList xmlns="http://uri.etsi.org/02231/v2#">&xxe;</TrustServiceStatusList>
"""
DTD_ONLY = b"""<?xml version="1.0"?>
<!DOCTYPE TrustServiceStatusList SYSTEM "http://attacker.invalid/tsl.dtd">
<TrustServiceStatusList xmlns="http://uri.etsi.org/02231/v2#"/>
"""


@pytest.mark.parametrize(("xml", "says"), [
    (BILLION_LAUGHS, "refused: the XML declares a DTD, entities or external references"),
    (EXTERNAL, "refused: the XML declares a DTD, entities or external references"),
    (DTD_ONLY, "refused: the XML declares a DTD, entities or external references"),
    (b"<TrustServiceStatusList", "not well-formed XML"),
    (b"<html xmlns='http://www.w3.org/1999/xhtml'/>", "not TrustServiceStatusList"),
    (tsl(service(cert_b64="not base64!")), "a digital identity is not base64"),
    (tsl(service(cert_b64="AAAA", start="yesterday")), "is not an xsd:dateTime"),
])
def test_hostile_or_wrong_lists_are_refused(world: World, xml: bytes, says: str) -> None:
    path = world.dir / "bad.xml"
    path.write_bytes(xml)
    out = world.dir / "never.zip"
    with pytest.raises(ExportError) as e:
        export_bundle(world.led, world.store, world.evidence_id, out, trusted_lists=[path])
    assert says in str(e.value) and str(path) in str(e.value)
    assert not out.exists()


def test_a_huge_file_is_refused_unread(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trusted_list, "MAX_LIST", 4096)
    path = world.dir / "huge.xml"
    path.write_bytes(tsl(service(cert_b64="AAAA" * 2000)))
    with pytest.raises(trusted_list.TrustedListError, match="refused unread"):
        trusted_list.load_trusted_list(path)
    with pytest.raises(trusted_list.TrustedListError, match="cannot read it"):
        trusted_list.load_trusted_list(world.dir / "absent.xml")


def test_the_list_facts_are_read(world: World) -> None:
    tl = trusted_list.parse_trusted_list(tsl(
        service(cert_b64="AAAA", status=WITHDRAWN, start="2020-03-01T00:00:00Z",
                history=((QTST, GRANTED, "2016-07-01T00:00:00Z"),)),
        service(cert_b64="AAAA", type_=CA_QC), seq=7), "x.xml")
    assert (tl.territory, tl.sequence, tl.operator) == ("DE", 7, "Test Supervisory Body")
    assert tl.issued == datetime(2026, 1, 15, tzinfo=UTC) and tl.has_signature
    assert len(tl.services) == 1  # the CA/QC service was never a QTST
    svc = tl.services[0]
    assert svc.name == "Test Qualified Time Stamps" and svc.tsp == "Test QTSP GmbH"
    assert svc.status_at(datetime(2015, 1, 1, tzinfo=UTC)) is None
    assert svc.status_at(datetime(2018, 1, 1, tzinfo=UTC)).qualified  # type: ignore[union-attr]
    assert not svc.status_at(datetime(2021, 1, 1, tzinfo=UTC)).qualified  # type: ignore[union-attr]


# --- configuration and CLI ----------------------------------------------------------------


def _cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, list(args), env={**ENV_CLEAN, **(env or {})},
                           prog_name="evidence")
    return r.exit_code, r.stdout, r.stderr


def _report(zip_path: Path) -> str:
    return " ".join(members(zip_path.read_bytes())["report/report.txt"].decode().split())


def test_cli_option_and_config_key(world: World, tmp_path: Path) -> None:
    good = tmp_path / "DE.xml"
    good.write_bytes(tsl(service(cert_b64=cert_b64(world.tsa.tsa_cert_pem or b""))))
    other = tmp_path / "other.xml"
    other.write_bytes(tsl(service(cert_b64=base64.b64encode(
        other_cert().public_bytes(Encoding.DER)).decode())))
    base = ("export", world.evidence_id, "--data-dir", str(world.data_dir), "--forum", "eu")
    # --trusted-list FILE
    code, _, err = _cli(*base, "-o", str(tmp_path / "a.zip"), "--trusted-list", str(good))
    assert code == 0, err
    assert f"{TSA_LEGAL}: qualified: at genTime" in _report(tmp_path / "a.zip")
    # [eidas] trusted_lists in the configuration file
    conf = tmp_path / "evidence.toml"
    conf.write_text(f'[eidas]\ntrusted_lists = ["{good}"]\n')
    assert resolve(conf, {})["eidas.trusted_lists"] == [str(good)]
    code, _, err = _cli(*base, "-o", str(tmp_path / "b.zip"), "--config", str(conf))
    assert code == 0, err
    assert f"{TSA_LEGAL}: qualified: at genTime" in _report(tmp_path / "b.zip")
    # the flag wins over the file
    code, _, err = _cli(*base, "-o", str(tmp_path / "c.zip"), "--config", str(conf),
                        "--trusted-list", str(other))
    assert code == 0, err
    assert "not on the configured trusted list(s)" in _report(tmp_path / "c.zip")
    # the environment variable
    code, _, err = _cli(*base, "-o", str(tmp_path / "d.zip"),
                        env={"EVIDENCE_EIDAS_TRUSTED_LISTS": str(good)})
    assert code == 0, err
    assert f"{TSA_LEGAL}: qualified: at genTime" in _report(tmp_path / "d.zip")
    # a hostile list: a clear error, nothing written
    bad = tmp_path / "bad.xml"
    bad.write_bytes(EXTERNAL)
    code, _, err = _cli(*base, "-o", str(tmp_path / "e.zip"), "--trusted-list", str(bad))
    assert code != 0 and "refused" in err and str(bad) in err
    assert not (tmp_path / "e.zip").exists()
    # a wrong type in the file is a configuration error (exit 2), before anything is done
    conf.write_text('[eidas]\ntrusted_lists = "DE.xml"\n')
    code, _, err = _cli(*base, "-o", str(tmp_path / "f.zip"), "--config", str(conf))
    assert code == 2 and "eidas.trusted_lists" in err
    # `evidence config check` reads the list it names
    conf.write_text(f'[ledger]\ndata_dir = "{world.data_dir}"\n'
                    f'[eidas]\ntrusted_lists = ["{bad}"]\n')
    code, out, err = _cli("config", "check", str(conf))
    assert code == 2 and re.search(r"eidas\.trusted_lists: trusted list .*bad\.xml: refused",
                                   out + err)
