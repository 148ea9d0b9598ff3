"""A bundle carries the item's RFC 4998 evidence record as ``ers/item.ers`` once an anchoring
round made it, and the renewed one after ``renew_records``; the package and the stand-alone
script check it (``evidence_record``). Real ledger, real local OpenSSL TSA through the
anchoring service (tests/support/tsa.py); the page's side is tests/verdicts/test_ers_member.py."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from evidence.ledger.anchor.config import add_tsa, load_anchor_config
from evidence.ledger.anchor.ers_service import named_tsas, renew_records
from evidence.ledger.anchor.ers_store import item_evidence_records
from evidence.ledger.anchor.service import AnchorService
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.bundle.cache import state_key
from evidence.ledger.bundle.export import export_bundle, gather
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger
from evidence.verify.bundle import TrustRoots, verify_bundle
from tests.support.bundle_world import members, rezip
from tests.support.tsa import LocalTSA

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "verify_bundle.py"
MEMBER = "ers/item.ers"


def _export(led: Ledger, store: FilesystemBlobStore, eid: str, **kw) -> bytes:
    buf = io.BytesIO()
    export_bundle(led, store, eid, buf, **kw)
    return buf.getvalue()


def _script(bundle: bytes, tmp: Path, led: Ledger, tsa: LocalTSA) -> dict:
    (b := tmp / "b.zip").write_bytes(bundle)
    p = subprocess.run([sys.executable, "-I", str(SCRIPT), str(b), "--log-key",
                        led.verifier_key, "--tsa-ca", str(tsa.ca_pem_path), "--json"],
                       capture_output=True, text=True, timeout=300)
    return json.loads(p.stdout)


def _state(report: dict) -> dict:
    return {c["name"]: c["status"] for c in report["checks"]}


@pytest.mark.slow  # seconds, not milliseconds: the full run only
def test_bundles_carry_the_record_and_its_renewals(tmp_path: Path, tsa: LocalTSA) -> None:
    d = tmp_path / "data"
    led = Ledger.create(d, "ers-bundle.example/log", checkpoint_interval=3600)
    store = FilesystemBlobStore(d / "blobs")
    intake = Intake(led, store)
    paths = []
    for name, data in (("contract.pdf", b"%PDF-1.7 the contract"), ("photo.jpg", b"\xff\xd8jpeg")):
        (p := tmp_path / name).write_bytes(data)
        paths.append(p)
    eid = intake.submit(ItemSpec(files=paths, kind="document", case="C-1",
                                 principal="acme")).evidence_id
    led.sign_checkpoint_now()
    try:
        before = _export(led, store, eid, provisional=True)
        assert MEMBER not in zipfile.ZipFile(io.BytesIO(before)).namelist()  # none made yet

        cfg = add_tsa(load_anchor_config(d), "tsa-a", tsa.url, [tsa.ca_pem_path])
        AnchorService(led, cfg).run_once()
        trust = TrustRoots(log_key=led.verifier, tsa_roots=[tsa.ca_cert_pem])
        keys = set()
        for step in ("made", "timestamp", "sha512"):
            if step == "timestamp":
                renew_records(led, named_tsas(cfg))
            elif step == "sha512":
                renew_records(led, named_tsas(cfg), hash_tree="sha512", open_blob=store.open)
            bundle = _export(led, store, eid)
            g = gather(led, store, eid)
            keys.add(state_key(g.pieces, g.report_data))  # a renewal: a new kept bundle
            z = zipfile.ZipFile(io.BytesIO(bundle))
            assert z.read(MEMBER) == item_evidence_records(led, eid)[0]
            assert MEMBER in json.loads(z.read("manifest.json"))["members"]
            r = verify_bundle(io.BytesIO(bundle), trust)
            # no witness in this world: cosignatures not-checked, everything else passes
            assert (r.verdict, r.not_checked) == ("incomplete", ["cosignatures"]), [
                c.to_json() for c in r.checks]
            check = r.check("evidence_record")
            assert check is not None and check.status == "pass"
            stamps = {"made": 1, "timestamp": 2, "sha512": 3}[step]
            assert f"its {stamps} archive timestamps" in check.reason
            script = _script(bundle, tmp_path, led, tsa)
            assert script["verdict"] == "incomplete"
            assert _state(script)["evidence_record"] == "pass"
            assert _state(script) == {c.name: c.status for c in r.checks}
        assert len(keys) == 3
        # a v1 bundle, for an older verifier, does not carry it
        v1 = _export(led, store, eid, bundle_format="evidence-bundle/v1")
        assert MEMBER not in zipfile.ZipFile(io.BytesIO(v1)).namelist()
    finally:
        led.close()


def test_a_forged_member_is_red(tmp_path: Path, tsa: LocalTSA) -> None:
    """The member is checked, not trusted: an exported bundle whose record is swapped for the
    record of an item of a later round (the manifest made to agree) fails
    ``evidence_record``. (The record of an item built in the same round may rightly prove
    this one too: a one-file item's first list holds its sibling's hash.)"""
    d = tmp_path / "data"
    led = Ledger.create(d, "ers-bundle.example/log", checkpoint_interval=3600)
    store = FilesystemBlobStore(d / "blobs")
    intake = Intake(led, store)
    cfg = add_tsa(load_anchor_config(d), "tsa-a", tsa.url, [tsa.ca_pem_path])
    ids = []
    try:
        for i in range(2):  # two rounds: the second item's record is of its own tree
            (p := tmp_path / f"f{i}.txt").write_bytes(f"file {i}".encode())
            ids.append(intake.submit(ItemSpec(files=[p], kind="document", case="C-1",
                                              principal="acme")).evidence_id)
            led.sign_checkpoint_now()
            AnchorService(led, cfg).run_once()
        bundle = _export(led, store, ids[0])
        m = members(bundle)
        m[MEMBER] = item_evidence_records(led, ids[1])[0]
        forged = rezip(m)  # the manifest made to agree
        trust = TrustRoots(log_key=led.verifier, tsa_roots=[tsa.ca_cert_pem])
        r = verify_bundle(io.BytesIO(forged), trust)
        assert (r.verdict, r.failed_check) == ("failed", "evidence_record")
        assert "does not stamp the root" in r.check("evidence_record").reason
        script = _script(forged, tmp_path, led, tsa)
        assert (script["verdict"], script["failed_check"]) == ("failed", "evidence_record")
    finally:
        led.close()


@pytest.mark.slow  # seconds, not milliseconds: the full run only
def test_the_report_states_the_record(tmp_path: Path, tsa: LocalTSA) -> None:
    """The human report (text, HTML, PDF; report_ers.py) says the bundle carries an RFC 4998
    evidence record, with its first TSA and date (as the record's token states them) and
    its renewals, in English and Chinese; a bundle without a record (provisional, before any
    round) says nothing of one."""
    from datetime import UTC

    from evidence.verify.evidence_record import bytes_document, verify_evidence_record

    d = tmp_path / "data"
    led = Ledger.create(d, "ers-report.example/log", checkpoint_interval=3600)
    store = FilesystemBlobStore(d / "blobs")
    files = [b"%PDF-1.7 the contract", b"\xff\xd8jpeg"]
    paths = []
    for name, data in zip(("contract.pdf", "photo.jpg"), files, strict=True):
        (p := tmp_path / name).write_bytes(data)
        paths.append(p)
    eid = Intake(led, store).submit(ItemSpec(files=paths, kind="document", case="C-1",
                                             principal="acme")).evidence_id
    led.sign_checkpoint_now()

    def reports(bundle: bytes) -> dict[str, str]:
        z = zipfile.ZipFile(io.BytesIO(bundle))
        out = {"txt": z.read("report/report.txt").decode()}
        if "report/report.html" in z.namelist():
            out["html"] = z.read("report/report.html").decode()
        if "report/report.pdf" in z.namelist():
            import pypdf

            pdf = pypdf.PdfReader(io.BytesIO(z.read("report/report.pdf")))
            out["pdf"] = "".join(pg.extract_text() for pg in pdf.pages)
        return out

    try:
        for text in reports(_export(led, store, eid, provisional=True)).values():
            assert "RFC 4998" not in text and "ers/item.ers" not in text
        cfg = add_tsa(load_anchor_config(d), "tsa-a", tsa.url, [tsa.ca_pem_path])
        AnchorService(led, cfg).run_once()
        for renewed in (False, True):
            if renewed:
                renew_records(led, named_tsas(cfg))
            record = item_evidence_records(led, eid)[0]
            v = verify_evidence_record(record, [bytes_document(b) for b in files],
                                       [tsa.ca_cert_pem])
            first = v.first_gen_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
            got = reports(_export(led, store, eid))
            assert {"txt", "html"} <= set(got)
            for kind, text in got.items():
                flat = " ".join(text.split())
                assert "Evidence Test TSA" in flat, (kind, flat[-3000:])
                if kind == "pdf" and "RFC 4998 证据记录" not in flat:
                    continue  # a PDF without a CJK font is English only (report.py)
                assert "ers/item.ers, an RFC 4998 evidence record" in flat, kind
                assert "RFC 4998 证据记录" in flat, kind
                assert first in flat, (kind, first)
                if renewed:
                    assert "Renewed 1 time(s)" in flat and "已续期 1 次" in flat, kind
                else:
                    assert "Not renewed yet." in flat and "尚未续期" in flat, kind
    finally:
        led.close()
