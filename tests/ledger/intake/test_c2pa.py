"""C2PA content credentials at intake (issue 19 point 4; docs/evidence-kinds.md, "C2PA
content credentials").

Every manifest here is made in the test: a root CA and an ES256 signing certificate (EKU
e-mail protection, as c2pa-rs requires) generated with ``cryptography``, and
``c2pa-python``'s Builder signing a JPEG, a PNG and a PDF with actions (created, edited,
cropped, each with its software agent and time) and an ingredient. They are submitted
through the real Intake (SQLite ledger, filesystem blobs) and through the API (the app in
this process), and the recorded ``"c2pa"`` section is read back from the committed
metadata: signer, claim generator, actions, ingredients, validation state.

A file changed after signing is recorded as ``Invalid`` with ``assertion.dataHash.mismatch``
and preserved (even under ``--strict-metadata``); a file without a manifest records
``{"present": false}``; a configured trust list makes the state ``Trusted`` for its own CA
and ``Valid`` with ``signingCredential.untrusted`` for another; hostile stores (garbled
CBOR, a JUMBF box claiming gigabytes, a manifest of 3 MB and 400 actions, a reader past
its time bound) give a clear warning or a bounded record, never a crash. The exported
bundle's text and HTML reports show the facts and what a court can and cannot conclude.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image

from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.intake import Intake, ItemSpec, SubmissionRefused
from evidence.ledger.intake.metadata import (
    c2pa_check,
    extract_metadata,
    file_notices,
    file_warnings,
)
from evidence.ledger.log import Ledger

c2pa = pytest.importorskip("c2pa", reason="pip install 'evidence[c2pa]'")

CREATED = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"


# --- a test CA, a signer, and signed files -------------------------------------------------


@dataclass
class Pki:
    ca_pem: bytes
    chain_pem: bytes
    key_pem: bytes


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Evidence Test Org")])


def make_pki(root_cn: str = "Evidence Test Root") -> Pki:
    """A root CA and an ES256 end-entity certificate c2pa-rs accepts for claim signing."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    no_usage = dict(content_commitment=False, key_encipherment=False, data_encipherment=False,
                    key_agreement=False, encipher_only=False, decipher_only=False)
    ca = (x509.CertificateBuilder().subject_name(_name(root_cn)).issuer_name(_name(root_cn))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1))
          .not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, key_cert_sign=True,
                                       crl_sign=True, **no_usage), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(_name("Evidence Test Signer"))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False,
                                         crl_sign=False, **no_usage), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return Pki(ca.public_bytes(pem), leaf.public_bytes(pem) + ca.public_bytes(pem),
               key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()))


def jpeg(color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (96, 64), color).save(out, "JPEG")
    return out.getvalue()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 120, 220)).save(out, "PNG")
    return out.getvalue()


def pdf() -> bytes:
    from fpdf import FPDF

    doc = FPDF()
    doc.add_page()
    doc.set_font("helvetica", size=12)
    doc.cell(text="Licence agreement, signed copy")
    return bytes(doc.output())


ACTIONS = [
    {"action": "c2pa.created", "softwareAgent": {"name": "TestCam", "version": "3.1"},
     "when": "2026-01-02T03:04:05Z", "digitalSourceType": CREATED},
    {"action": "c2pa.edited", "softwareAgent": {"name": "TestEditor", "version": "2.0"},
     "when": "2026-01-03T10:00:00Z"},
    {"action": "c2pa.cropped", "softwareAgent": {"name": "TestEditor", "version": "2.0"},
     "when": "2026-01-03T10:05:00Z"},
]


def sign(pki: Pki, data: bytes, media_type: str, *, title: str = "photo.jpg",
         actions: list[dict] | None = None, ingredient: bytes | None = None,
         thumbnail: bytes | None = None) -> bytes:
    manifest = {"claim_generator_info": [{"name": "EvidenceTestApp", "version": "1.2.3"}],
                "title": title,
                **({"thumbnail": {"format": "image/jpeg", "identifier": "thumb.jpg"}}
                   if thumbnail is not None else {}),
                "assertions": [{"label": "c2pa.actions",
                                "data": {"actions": ACTIONS if actions is None else actions}}]}
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(
        c2pa.C2paSigningAlg.ES256, pki.chain_pem, pki.key_pem, None))
    builder = c2pa.Builder(json.dumps(manifest))
    if thumbnail is not None:
        builder.add_resource("thumb.jpg", io.BytesIO(thumbnail))
    if ingredient is not None:
        builder.add_ingredient({"title": "original.jpg", "relationship": "parentOf"},
                               "image/jpeg", io.BytesIO(ingredient))
    out = io.BytesIO()
    builder.sign(signer, media_type, io.BytesIO(data), out)
    return out.getvalue()


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


@pytest.fixture(scope="module")
def signed_jpeg(pki: Pki) -> bytes:
    return sign(pki, jpeg(), "image/jpeg", ingredient=jpeg((10, 200, 10)))


@pytest.fixture
def intake(tmp_path: Path) -> Iterator[Intake]:
    led = Ledger.create(tmp_path / "data", "c2pa.example/log", checkpoint_interval=3600)
    yield Intake(led, FilesystemBlobStore(tmp_path / "data" / "blobs"))
    led.close()


def submitted(intake: Intake, path: Path, kind: str = "image", **kw) -> tuple[dict, object]:
    res = intake.submit(ItemSpec(files=[path], kind=kind, case="C-1", principal="acme", **kw))
    metadata = json.loads(intake.item(res.evidence_id).metadata_jcs)
    return metadata, res


def facts_of(tmp_path: Path, name: str, data: bytes, kind: str = "image") -> dict:
    p = tmp_path / name
    p.write_bytes(data)
    return extract_metadata(kind, [p])["files"][0]


# --- what is recorded ----------------------------------------------------------------------


def test_a_signed_jpeg_through_intake_records_signer_generator_actions_and_ingredients(
        intake: Intake, tmp_path: Path, signed_jpeg: bytes) -> None:
    p = tmp_path / "photo.jpg"
    p.write_bytes(signed_jpeg)
    metadata, res = submitted(intake, p)
    assert metadata["extraction_errors"] == [] and res.warnings == ()
    facts = metadata["extracted"]["files"][0]
    assert facts["image"]["format"] == "JPEG"  # the image section is still there
    c = facts["c2pa"]
    assert c["present"] is True
    assert c["validation_state"] == "Valid" and c["validation_errors"] == []
    assert c["trusted"] is None and c["trust_list_sha256"] is None  # no list: no trust claim
    assert c["claim_generator"] == "EvidenceTestApp 1.2.3"
    assert c["title"] == "photo.jpg" and c["active_manifest"].startswith("urn:c2pa:")
    assert c["signer"]["subject"] == "CN=Evidence Test Signer, O=Evidence Test Org"
    assert c["signer"]["issuer"] == "CN=Evidence Test Root, O=Evidence Test Org"
    assert c["signer"]["common_name"] == "Evidence Test Signer"
    assert c["signer"]["algorithm"].lower() == "es256"
    assert c["signing_time"] is None  # no timestamp in the manifest
    acts = {a["action"]: a for a in c["actions"]}
    assert acts["c2pa.edited"]["software_agent"] == "TestEditor 2.0"
    assert acts["c2pa.edited"]["when"] == "2026-01-03T10:00:00Z"
    assert acts["c2pa.cropped"]["when"] == "2026-01-03T10:05:00Z"
    assert acts["c2pa.created"]["digital_source_type"] == CREATED
    assert [i["title"] for i in c["ingredients"]] == ["original.jpg"]
    assert c["ingredients"][0]["relationship"] == "parentOf"
    assert c["sdk"] == c2pa.sdk_version()


@pytest.mark.parametrize(("name", "kind", "media_type", "make"), [
    ("shot.png", "screenshot", "image/png", png),
    ("licence.pdf", "document", "application/pdf", pdf),
])
def test_png_and_pdf_carry_their_credentials(intake: Intake, tmp_path: Path, pki: Pki,
                                             name: str, kind: str, media_type: str,
                                             make) -> None:
    p = tmp_path / name
    p.write_bytes(sign(pki, make(), media_type, title=name))
    metadata, _ = submitted(intake, p, kind)
    facts = metadata["extracted"]["files"][0]
    assert ("pdf" if kind == "document" else "image") in facts
    c = facts["c2pa"]
    assert (c["validation_state"], c["title"], c["claim_generator"]) == (
        "Valid", name, "EvidenceTestApp 1.2.3")
    assert "c2pa.edited" in [a["action"] for a in c["actions"]]


def test_a_file_changed_after_signing_is_recorded_invalid_and_preserved(
        intake: Intake, tmp_path: Path, signed_jpeg: bytes) -> None:
    tampered = bytearray(signed_jpeg)
    tampered[-10] ^= 0xFF  # a byte of the picture data, after the manifest was signed
    p = tmp_path / "tampered.jpg"
    p.write_bytes(bytes(tampered))
    # a fact, not an extraction error: preserved even under --strict-metadata
    metadata, res = submitted(intake, p, strict_metadata=True)
    assert metadata["extraction_errors"] == []
    facts = metadata["extracted"]["files"][0]
    c = facts["c2pa"]
    assert c["validation_state"] == "Invalid"
    assert "assertion.dataHash.mismatch" in [e["code"] for e in c["validation_errors"]]
    assert c["signer"]["subject"].startswith("CN=Evidence Test Signer")  # still read
    assert file_warnings(facts) == []
    assert file_notices(facts) == [c["notices"][0]]
    assert "assertion.dataHash.mismatch" in c["notices"][0]
    assert res.warnings == (f"tampered.jpg: {c['notices'][0]}",)  # told, not refused


def test_a_file_without_a_manifest_records_present_false(intake: Intake,
                                                         tmp_path: Path) -> None:
    p = tmp_path / "plain.jpg"
    p.write_bytes(jpeg())
    metadata, _ = submitted(intake, p)
    assert metadata["extracted"]["files"][0]["c2pa"] == {"present": False}
    # a PDF that merely mentions C2PA is read, and has none
    from fpdf import FPDF

    doc = FPDF()
    doc.add_page()
    doc.set_font("helvetica", size=12)
    doc.cell(text="About C2PA and c2pa manifests")
    doc.set_compression(False)
    q = tmp_path / "about.pdf"
    q.write_bytes(bytes(doc.output()))
    metadata, _ = submitted(intake, q, "document")
    assert metadata["extracted"]["files"][0]["c2pa"] == {"present": False}


def test_other_kinds_are_not_checked(tmp_path: Path, signed_jpeg: bytes) -> None:
    assert "c2pa" not in facts_of(tmp_path, "photo.jpg", signed_jpeg, "other")


def test_a_configured_trust_list_decides_trusted(tmp_path: Path, pki: Pki, signed_jpeg: bytes,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    own = tmp_path / "anchors.pem"
    own.write_bytes(pki.ca_pem)
    monkeypatch.setenv(c2pa_check.ENV_TRUST_ANCHORS, str(own))
    c = facts_of(tmp_path, "photo.jpg", signed_jpeg)["c2pa"]
    assert (c["validation_state"], c["trusted"]) == ("Trusted", True)
    import hashlib

    assert c["trust_list_sha256"] == hashlib.sha256(pki.ca_pem).hexdigest()
    other = tmp_path / "other.pem"
    other.write_bytes(make_pki("Another Root").ca_pem)
    monkeypatch.setenv(c2pa_check.ENV_TRUST_ANCHORS, str(other))
    c = facts_of(tmp_path, "photo.jpg", signed_jpeg)["c2pa"]
    assert (c["validation_state"], c["trusted"]) == ("Valid", False)
    assert "signingCredential.untrusted" in [e["code"] for e in c["validation_errors"]]
    # a configured list that cannot be read is a warning, never a silent "untrusted"
    monkeypatch.setenv(c2pa_check.ENV_TRUST_ANCHORS, str(tmp_path / "missing.pem"))
    facts = facts_of(tmp_path, "photo.jpg", signed_jpeg)
    assert facts["c2pa"]["validation_state"] is None
    assert "trust list" in file_warnings(facts)[0]


# --- hostile manifests ---------------------------------------------------------------------


def _garbled_claim(signed: bytes) -> bytes:
    """The claim's CBOR overwritten in place: JPEG segments intact, Pillow still reads it."""
    out = bytearray(signed)
    at = out.find(b"c2pa.claim")
    assert at > 0
    for i in range(at + 20, at + 80):
        out[i] = 0xFF
    return bytes(out)


def _jumbf_claiming_gigabytes() -> bytes:
    """A JPEG whose APP11 segment holds a JUMBF superbox declaring 4 GiB - 1 bytes."""
    body = b"JP" + struct.pack(">HI", 1, 1) + struct.pack(">I", 0xFFFFFFFF) + b"jumb" + \
        struct.pack(">I", 0x1A) + b"jumd" + b"c2pa" + b"\x00\x11\x00\x10\x80\x00\x00\xaa" + \
        b"\x00\x38\x9b\x71\x03c2pa\x00" + b"\x00" * 64
    data = jpeg()
    segment = b"\xff\xeb" + struct.pack(">H", len(body) + 2) + body
    return data[:2] + segment + data[2:]


@pytest.mark.parametrize("make", [_garbled_claim, lambda s: _jumbf_claiming_gigabytes()],
                         ids=["malformed-cbor", "jumbf-claims-4gib"])
def test_a_store_that_cannot_be_read_is_a_clear_warning(intake: Intake, tmp_path: Path,
                                                        signed_jpeg: bytes, make) -> None:
    p = tmp_path / "hostile.jpg"
    p.write_bytes(make(signed_jpeg))
    metadata, res = submitted(intake, p)  # preserved, with the reason
    facts = metadata["extracted"]["files"][0]
    c = facts["c2pa"]
    assert c["present"] is True and c["validation_state"] is None and c["error"]
    assert metadata["extraction_errors"] == [
        {"file": "hostile.jpg", "reason": f"C2PA manifest store cannot be read: {c['error']}"}]
    assert any("C2PA manifest store cannot be read" in w for w in res.warnings)
    with pytest.raises(SubmissionRefused) as e:  # --strict-metadata refuses it
        submitted(intake, p, strict_metadata=True)
    assert "C2PA manifest store cannot be read" in str(e.value)


def test_a_huge_manifest_is_read_into_a_bounded_record(tmp_path: Path, pki: Pki) -> None:
    many = [ACTIONS[0], *({"action": "c2pa.edited", "softwareAgent": {"name": "E" * 2000},
                           "when": "2026-01-03T10:00:00Z"} for _ in range(399))]
    data = sign(pki, jpeg(), "image/jpeg", actions=many, thumbnail=os.urandom(3 << 20))
    assert len(data) > 3 << 20
    c = facts_of(tmp_path, "huge.jpg", data)["c2pa"]
    assert c["validation_state"] == "Valid"
    assert c["actions_total"] == 400 and len(c["actions"]) == 50
    assert all(len(a["software_agent"]) <= 500 for a in c["actions"])
    assert len(json.dumps(c)) < 100_000


def test_a_reader_past_its_time_bound_is_stopped(tmp_path: Path, signed_jpeg: bytes,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(c2pa_check, "TIMEOUT", 0.001)  # no child answers that fast
    facts = facts_of(tmp_path, "photo.jpg", signed_jpeg)
    assert facts["c2pa"]["validation_state"] is None
    assert "was stopped" in facts["c2pa"]["error"]
    assert file_warnings(facts) == [f"C2PA manifest store cannot be read: "
                                    f"{facts['c2pa']['error']}"]


@pytest.mark.parametrize(("reader", "named"), [
    ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n", "signal 9"),
    ("raise MemoryError\n", "memory bound"),
    ("import sys\nsys.exit(3)\n", "exit status 3"),
], ids=["killed", "out-of-memory", "exit-status"])
def test_a_reader_killed_or_out_of_memory_is_named(tmp_path: Path, signed_jpeg: bytes,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   reader: str, named: str) -> None:
    """The child that reads the store dies in each way (a stand-in for c2pa_probe.py, run
    as it is): the section names how, and it is a warning, never a crash."""
    probe = tmp_path / "dying_probe.py"
    probe.write_text(reader)
    monkeypatch.setattr(c2pa_check, "PROBE", probe)
    facts = facts_of(tmp_path, "photo.jpg", signed_jpeg)
    assert facts["c2pa"]["validation_state"] is None
    assert named in facts["c2pa"]["error"]
    assert file_warnings(facts) == [f"C2PA manifest store cannot be read: "
                                    f"{facts['c2pa']['error']}"]


# --- through the API, and in the court report ----------------------------------------------


@pytest.mark.slow  # an export with its PDF report: seconds
def test_through_the_api_and_in_the_exported_report(tmp_path: Path, pki: Pki,
                                                    signed_jpeg: bytes) -> None:
    pytest.importorskip("fpdf")
    from fastapi.testclient import TestClient

    from evidence.api.app import create_app
    from evidence.api.services import Services
    from evidence.api.settings import ApiSettings
    from evidence.ledger.bundle.export import export_bundle
    from tests.support.api_server import make_world
    from tests.support.bundle_world import members

    world = make_world(tmp_path / "data")
    tampered = bytearray(signed_jpeg)
    tampered[-10] ^= 0xFF
    svc = Services.open(ApiSettings(data_dir=str(tmp_path / "data"), anchor=False))
    try:
        auth = {"Authorization": f"Bearer {world.tokens['acme']}"}
        with TestClient(create_app(services=svc)) as client:
            r = client.post("/v1/evidence", headers=auth,
                            data={"case": "case-a", "kind": "image", "title": "Shop photo"},
                            files=[("file", ("photo.jpg", signed_jpeg, "image/jpeg")),
                                   ("file", ("edited.jpg", bytes(tampered), "image/jpeg"))])
            assert r.status_code == 201, r.text
            eid = r.json()["evidence_id"]
            view = client.get(f"/v1/evidence/{eid}", headers=auth).json()
        files = view["metadata"]["extracted"]["files"]
        assert [f["c2pa"]["validation_state"] for f in files] == ["Valid", "Invalid"]
        assert files[0]["c2pa"]["signer"]["subject"].startswith("CN=Evidence Test Signer")
        assert view["metadata"]["extraction_errors"] == []
        led = svc.ledger
        led.sign_checkpoint_now()
        buf = io.BytesIO()
        export_bundle(led, svc.store, eid, buf, provisional=True)
    finally:
        svc.close()
    m = members(buf.getvalue())
    txt = m["report/report.txt"].decode("utf-8")
    html = m["report/report.html"].decode("utf-8")
    for text in (txt, html):
        for fact in ("Content credentials (C2PA)", "内容凭证（C2PA）",
                     "CN=Evidence Test Signer, O=Evidence Test Org",
                     "EvidenceTestApp 1.2.3", "c2pa.edited", "TestEditor 2.0",
                     "2026-01-03T10:00:00Z", "original.jpg", "assertion.dataHash.mismatch",
                     "it is not proof of who made the photo", "而非谁拍摄了照片"):
            assert fact in text, fact
    assert "Valid: the manifest is well formed" in txt
    assert "Invalid: the file or the manifest changed after signing" in txt
    assert "no trust list is configured" in txt
    import pypdf

    pdf_text = "\n".join(page.extract_text() for page in
                         pypdf.PdfReader(io.BytesIO(m["report/report.pdf"])).pages)
    for fact in ("Content credentials", "Evidence Test Signer", "c2pa.edited",
                 "assertion.dataHash.mismatch"):
        assert fact in pdf_text, fact
