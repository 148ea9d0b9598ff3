"""A grant's legal basis (issue 19, point 2): purpose, the recipient's jurisdiction and
organisation, and the basis for the transfer, on the ledger in every ``evidence.shared``
entry, in the grants table, over the API and the CLI, shown in custody by all three
verifiers; required or optional per deployment (``[grants] require_legal_basis``).

Real ledger, real HTTP app (FastAPI's TestClient on ``create_app``), the real CLI, the
real local TSA for an anchored bundle checked by the package, the stand-alone script and
(when Chromium is there) the page.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi.testclient import TestClient

from evidence.api.app import create_app
from evidence.api.schemas import LegalBasisName
from evidence.api.settings import ApiSettings
from evidence.cli.main import cli
from evidence.ledger.access import (
    BASES,
    AccessControl,
    InvalidInput,
    LegalBasis,
)
from evidence.ledger.access.legal_basis import check_legal_basis
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.bundle.export import export_bundle
from evidence.ledger.config_file import resolve
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger
from evidence.verify.bundle import verify_bundle
from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer
from evidence.verify.trust import parse_trust
from tests.support.bundle_world import anchor
from tests.support.page_runner import PageRunner
from tests.support.tsa import LocalTSA

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "verify_bundle.py"
ORIGIN = "grants-legal.example/log"
SOON = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
LEGAL = {"purpose": "evidence for the infringement trial",
         "recipient_jurisdiction": "us-ny",
         "recipient_organisation": "U.S. District Court, S.D.N.Y.",
         "legal_basis": "treaty-request",
         "legal_basis_ref": "Hague Evidence Convention request 2026-17 / 海牙请求"}
STORED = {**LEGAL, "recipient_jurisdiction": "US-NY"}
SHOWN = ("purpose", "recipient_jurisdiction", "recipient_organisation", "legal_basis",
         "legal_basis_ref")


def make(d: Path) -> tuple[Ledger, Intake, AccessControl, str]:
    led = Ledger.create(d, ORIGIN, checkpoint_interval=3600)
    intake = Intake(led, FilesystemBlobStore(d / "blobs"))
    ac = AccessControl(led)
    ac.add_case("C-1", "case")
    for pid, role in (("acme", "submitter"), ("sdny", "foreign")):
        ac.add_principal(pid, role, pid.upper())
    ac.add_member("C-1", "acme")
    f = d.parent / f"{d.name}-exhibit.txt"
    f.write_bytes("证物 exhibit\n".encode())
    eid = intake.submit(ItemSpec([f], "document", "C-1", "acme")).evidence_id
    return led, intake, ac, eid


def shared_bodies(led: Ledger) -> list[dict[str, Any]]:
    return [json.loads(e.data)["body"] for e in led.entries() if e.type == "evidence.shared"]


# --- the rules ---------------------------------------------------------------------------


def test_the_api_enum_is_the_ledgers() -> None:
    assert get_args(LegalBasisName) == tuple(BASES)


@pytest.mark.parametrize(("given", "needle"), [
    (LegalBasis(purpose="a\u202eb"), "U+202E"),  # a bidi override: text that reads otherwise
    (LegalBasis(purpose="line\nbreak"), "U+000A"),
    (LegalBasis(organisation="Court\x00"), "U+0000"),
    (LegalBasis(organisation="x\u2028y"), "U+2028"),
    (LegalBasis(purpose="p" * 501), "longer than 500"),
    (LegalBasis(organisation="o" * 201), "longer than 200"),
    (LegalBasis(basis="court-order", basis_ref="r" * 201), "longer than 200"),
    (LegalBasis(purpose="   "), "is empty"),
    (LegalBasis(jurisdiction="XX"), "not an ISO 3166 code"),
    (LegalBasis(jurisdiction="USA"), "not an ISO 3166 code"),
    (LegalBasis(jurisdiction="US-NEWYORK"), "not an ISO 3166 code"),
    (LegalBasis(basis="because"), "is not one of"),
    (LegalBasis(basis="other"), "needs legal_basis_ref"),
    (LegalBasis(basis_ref="order 1"), "without legal_basis"),
])
def test_hostile_or_malformed_fields_are_refused(given: LegalBasis, needle: str) -> None:
    with pytest.raises(InvalidInput) as e:
        check_legal_basis(given, required=False)
    assert needle in str(e.value)


def test_required_names_what_is_missing() -> None:
    with pytest.raises(InvalidInput) as e:
        check_legal_basis(LegalBasis(purpose="trial"), required=True)
    assert e.value.code == "legal-basis-required"
    assert "recipient_jurisdiction, recipient_organisation, legal_basis" in str(e.value)
    ok = check_legal_basis(LegalBasis(" trial ", "de-by", "LG München I", "court-order"),
                           required=True)
    assert ok == LegalBasis("trial", "DE-BY", "LG München I", "court-order")
    assert check_legal_basis(None, required=False).is_empty()


def test_the_config_key_is_declared_and_typed() -> None:
    assert resolve(None, {})["grants.require_legal_basis"] is False
    eff = resolve(None, {"EVIDENCE_GRANTS_REQUIRE_LEGAL_BASIS": "yes"})
    assert eff["grants.require_legal_basis"] is True


# --- the ledger ------------------------------------------------------------------------------


def test_the_fields_are_in_every_shared_entry_and_the_grant(tmp_path: Path) -> None:
    led, intake, ac, eid = make(tmp_path / "data")
    f = tmp_path / "second.txt"
    f.write_bytes(b"second exhibit\n")
    eid2 = intake.submit(ItemSpec([f], "document", "C-1", "acme")).evidence_id
    legal = LegalBasis(LEGAL["purpose"], LEGAL["recipient_jurisdiction"],
                       LEGAL["recipient_organisation"], LEGAL["legal_basis"],
                       LEGAL["legal_basis_ref"])
    g = ac.create_grant(ac.get_principal("acme"), "sdny", {eid: "C-1", eid2: "C-1"},
                        expires_at=SOON.replace("Z", ".000000Z"), legal=legal,
                        require_legal_basis=True)
    bodies = shared_bodies(led)
    assert len(bodies) == 2
    for body in bodies:
        assert {k: body[k] for k in SHOWN} == STORED
    assert ac.get_grant(g.id).legal == LegalBasis(*(STORED[k] for k in SHOWN))
    # a grant without them, where they are optional: no member at all (never null)
    g2 = ac.create_grant(ac.get_principal("acme"), "sdny", {eid: "C-1"},
                         expires_at=SOON.replace("Z", ".000000Z"))
    assert not set(SHOWN) & set(shared_bodies(led)[-1])
    assert ac.get_grant(g2.id).legal.is_empty()
    led.close()


def test_required_and_missing_appends_nothing(tmp_path: Path) -> None:
    led, _, ac, eid = make(tmp_path / "data")
    size = led.size
    with pytest.raises(InvalidInput) as e:
        ac.create_grant(ac.get_principal("acme"), "sdny", {eid: "C-1"},
                        expires_at=SOON.replace("Z", ".000000Z"),
                        legal=LegalBasis(purpose="trial"), require_legal_basis=True)
    assert e.value.code == "legal-basis-required"
    assert led.size == size and ac.list_grants() == []
    led.close()


# --- the API ---------------------------------------------------------------------------------


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[Any, str, str]]:
    """(make a client with require_legal_basis on or off, acme's token, the item)."""
    led, _, ac, eid = make(tmp_path / "data")
    _, acme = ac.create_token("acme")
    _, sdny = ac.create_token("sdny")
    led.close()
    opened: list[TestClient] = []

    def client(required: bool, token: str = acme) -> TestClient:
        app = create_app(ApiSettings(data_dir=str(tmp_path / "data"), anchor=False,
                                     require_legal_basis=required))
        c = TestClient(app, headers={"Authorization": f"Bearer {token}"})
        c.__enter__()
        opened.append(c)
        return c

    yield client, sdny, eid
    for c in opened:
        c.__exit__(None, None, None)


def _grant(c: TestClient, eid: str, **extra: Any) -> Any:
    return c.post("/v1/grants", json={"grantee": "sdny", "evidence_ids": [eid],
                                      "expires_at": SOON, **extra})


def test_api_records_returns_and_shows_in_custody(api: Any) -> None:
    client, sdny, eid = api
    c = client(True)
    r = _grant(c, eid, **LEGAL)
    assert r.status_code == 201, r.text
    assert {k: r.json()[k] for k in SHOWN} == STORED
    gid = r.json()["id"]
    assert {k: c.get(f"/v1/grants/{gid}").json()[k] for k in SHOWN} == STORED
    entries = c.get(f"/v1/evidence/{eid}/custody").json()["entries"]
    shared = [json.loads(base64.b64decode(e["entry_b64"]))["body"] for e in entries
              if e["type"] == "evidence.shared"]
    assert [{k: b[k] for k in SHOWN} for b in shared] == [STORED]
    # the grantee sees the grant's basis too
    f = client(True, sdny)
    assert f.get(f"/v1/grants/{gid}").json()["legal_basis"] == "treaty-request"


def test_api_required_and_optional(api: Any) -> None:
    client, _, eid = api
    strict, lax = client(True), client(False)
    size = strict.get("/v1/status").json()["size"]
    r = _grant(strict, eid, purpose="trial")
    assert r.status_code == 422 and r.json()["code"] == "legal-basis-required", r.text
    assert "recipient_jurisdiction" in r.json()["detail"]
    assert strict.get("/v1/status").json()["size"] == size  # nothing appended
    r = _grant(lax, eid)
    assert r.status_code == 201 and r.json()["legal_basis"] is None, r.text


@pytest.mark.parametrize(("extra", "code"), [
    ({"legal_basis": "because-we-can"}, "invalid-input"),  # not in the enum (schema)
    ({"purpose": "x" * 501}, "invalid-input"),
    ({"recipient_organisation": "Court\u202e"}, "invalid-input"),
    ({"purpose": "a\x1b[31mred"}, "invalid-input"),
    ({"recipient_jurisdiction": "ZZ"}, "invalid-input"),
    ({"legal_basis": "other"}, "invalid-input"),
    ({"legal_basis_ref": 7}, "invalid-input"),
    ({"legal_basis_ref": "no basis"}, "invalid-input"),
])
def test_api_hostile_input_is_a_clear_422_and_changes_nothing(api: Any, extra: dict[str, Any],
                                                              code: str) -> None:
    client, _, eid = api
    c = client(False)
    size = c.get("/v1/status").json()["size"]
    r = _grant(c, eid, **extra)
    assert r.status_code == 422 and r.json()["code"] == code, r.text
    assert c.get("/v1/status").json()["size"] == size
    assert c.get("/v1/grants").json()["grants"] == []


# --- the CLI ---------------------------------------------------------------------------------


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env={"EVIDENCE_CONFIG": "",
                                                   "EVIDENCE_SERVER": "", **(env or {})},
                              prog_name="evidence")


def test_cli_grant_add_with_and_without_the_requirement(tmp_path: Path) -> None:
    data = tmp_path / "data"
    led, _, _, eid = make(data)
    led.close()
    conf = tmp_path / "evidence.toml"
    conf.write_text("[grants]\nrequire_legal_basis = true\n", "utf-8")
    base = ["grant", "add", "--as", "acme", "--to", "sdny", "--evidence", eid,
            "--expires", SOON, "--data-dir", str(data)]
    r = run(*base, "--config", str(conf), "--purpose", "trial")
    assert r.exit_code == 1 and "requires the legal basis" in r.output, r.output
    r = run(*base, "--config", str(conf), "--json", "--purpose", LEGAL["purpose"],
            "--jurisdiction", "us-ny", "--organisation", LEGAL["recipient_organisation"],
            "--basis", "treaty-request", "--basis-ref", LEGAL["legal_basis_ref"])
    assert r.exit_code == 0, r.output
    assert {k: json.loads(r.stdout)[k] for k in SHOWN} == STORED
    r = run(*base, "--basis", "court-order", "--basis-ref", "(2026) 京04民初123号",
            "--jurisdiction", "DE")  # optional without the file: given fields are kept
    assert r.exit_code == 0 and "legal_basis court-order" in r.output, r.output
    r = run(*base, "--organisation", "bad\x07bell")
    assert r.exit_code == 1 and "U+0007" in r.output, r.output
    r = run(*base, "--basis", "maybe")
    assert r.exit_code == 2  # click's choice
    r = run("custody", eid, "--data-dir", str(data))
    assert r.exit_code == 0, r.output
    assert "legal_basis treaty-request" in r.output and "recipient_jurisdiction US-NY" in r.output
    assert "legal_basis court-order legal_basis_ref (2026) 京04民初123号" in r.output


# --- the three verifiers show them in custody -----------------------------------------------


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("legal-bundle")
    led, intake, ac, eid = make(d / "data")
    try:
        ac.create_grant(ac.get_principal("acme"), "sdny", {eid: "C-1"},
                        expires_at=SOON.replace("Z", ".000000Z"),
                        legal=LegalBasis(*(LEGAL[k] for k in SHOWN)))
        size = led.sign_checkpoint_now().size
        witness = generate_signer("witness-a.example", ALG_COSIGNATURE_V1)
        anchor(led, size, tsa.url, tsa.ca_cert_pem, witness)
        out = d / "bundle.zip"
        export_bundle(led, intake.store, eid, out, now=datetime.now(UTC))
        root = x509.load_pem_x509_certificate(tsa.ca_cert_pem).public_bytes(Encoding.DER)
        trust = d / "trust.txt"
        trust.write_text(f"log {led.verifier.to_string()}\n"
                         f"witness w1 {witness.verifier().to_string()}\n"
                         "group court 1 w1\nquorum court\n"
                         f"#@ tsa local {base64.b64encode(root).decode()}\n", "utf-8")
    finally:
        led.close()
    return out, trust


def _shared_row(custody: list[dict[str, Any]]) -> dict[str, Any]:
    (row,) = [c for c in custody if c["type"] == "evidence.shared"]
    return {k: row.get(k) for k in SHOWN}


@pytest.mark.tsa
def test_package_and_script_show_the_basis_in_custody(bundle: tuple[Path, Path]) -> None:
    path, trust = bundle
    r = verify_bundle(str(path), parse_trust(trust.read_bytes()), store_roots=())
    assert r.verdict == "verified", [c.to_json() for c in r.checks if c.status != "pass"]
    assert _shared_row(r.custody) == STORED
    p = subprocess.run([sys.executable, "-I", str(SCRIPT), str(path), "--trust", str(trust),
                        "--json"], capture_output=True, text=True, timeout=300)
    out = json.loads(p.stdout)
    assert out["verdict"] == "verified", p.stderr
    assert _shared_row(out["custody"]) == STORED


@pytest.mark.tsa
def test_the_page_shows_the_basis_in_custody(bundle: tuple[Path, Path],
                                             request: pytest.FixtureRequest) -> None:
    path, trust = bundle
    got = PageRunner(request).verify(path, trust, None)
    assert got.key == ("verified", None), got.diagnostics
    assert _shared_row(got.report["custody"]) == STORED


@pytest.mark.tsa
def test_the_reports_show_the_basis_in_custody(bundle: tuple[Path, Path]) -> None:
    """The bundle's text and HTML reports give the grant's recipient, basis (both
    languages, with its reference) and purpose on its custody line."""
    import html
    import zipfile

    path, _ = bundle
    with zipfile.ZipFile(path) as z:
        names = [n for n in z.namelist() if n.startswith("report/")]
        text = z.read(next(n for n in names if n.endswith(".txt"))).decode("utf-8")
        page = [html.unescape(z.read(n).decode("utf-8")) for n in names if n.endswith(".html")]
    for report in [text, *page]:
        assert "recipient / 接收方: U.S. District Court, S.D.N.Y. (US-NY)" in report
        assert LEGAL["legal_basis_ref"] in report
        assert f"purpose / 目的: {LEGAL['purpose']}" in report
        assert "basis / 依据: " in report
