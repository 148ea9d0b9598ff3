"""The judges' page on custody links and on the pinned TSA root, in real Chromium, beside the
package on the same bytes (docs/verdict.md sections 1 and 3, docs/formats.md "Custody links"):

- a bundle exported from a real ledger whose custody entries were written by the access
  service (so they carry ``prev_custody``): the honest one is ``verified``; with one custody
  entry dropped from the middle (its entry, its proof and the manifest rewritten so that only
  the link can tell) it is ``failed`` at ``custody``, one line in each language;
- a pinned TSA root whose subjectKeyIdentifier was changed no longer issues the TSA's
  certificate (authorityKeyIdentifier/subjectKeyIdentifier must match, as OpenSSL matches an
  issuer): the page fails the token as the package does, never verified;
- a trust file whose ``#@ tsa`` root does not parse whole is refused, and ``#@`` alone is a
  comment.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from evidence.ledger.access.service import AccessControl, Authorization
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.bundle.export import export_bundle
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger
from evidence.verify.bundle import verify_bundle
from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer
from evidence.verify.trust import TrustFileError, parse_trust
from tests.support.browser import Page
from tests.support.bundle_world import FIXED_NOW, anchor
from tests.support.tsa import LocalTSA
from tests.verdicts import forge as F

pytestmark = pytest.mark.tsa

ORIGIN = "custody-page.example/log"


def _vkey(key: Any) -> str:
    return key if isinstance(key, str) else key.to_string()


def _root_der(tsa: LocalTSA) -> bytes:
    return x509.load_pem_x509_certificate(tsa.ca_cert_pem).public_bytes(Encoding.DER)


def _trust(log_vkey: str, witness_vkey: str, root_der: bytes) -> str:
    return "\n".join([
        f"# evidence trust policy for {ORIGIN}, written by tests/browser/test_custody",
        f"log {log_vkey}", f"witness court-w1 {witness_vkey}",
        "group court 1 court-w1", "quorum court",
        f"#@ tsa local-tsa {base64.b64encode(root_der).decode()}"]) + "\n"


@pytest.fixture(scope="module")
def linked(tsa: LocalTSA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real ledger: one item submitted, then three retrievals and a grant recorded by the
    access service (each linking to the one before), anchored by the local TSA and a
    witness; the item's bundle exported."""
    root = tmp_path_factory.mktemp("custody-page")
    led = Ledger.create(root / "data", ORIGIN, checkpoint_interval=3600)
    store = FilesystemBlobStore(root / "data" / "blobs")
    intake = Intake(led, store)
    ac = AccessControl(led)
    ac.add_case("case-1", "case")
    ac.add_principal("acme", "submitter", "Acme")
    ac.add_member("case-1", "acme")
    f = root / "exhibit.txt"
    f.write_bytes("合同第 3 条 / clause 3\n".encode())
    item = intake.submit(ItemSpec([f], "document", "case-1", "acme")).evidence_id
    acme = ac.get_principal("acme")
    for action in ("metadata", "download", "download"):
        ac.record_access(Authorization(acme, item, "case"), action, remote_addr="127.0.0.1")
    size = led.sign_checkpoint_now().size
    witness = generate_signer("witness-a.example", ALG_COSIGNATURE_V1)
    anchor(led, size, tsa.url, tsa.ca_cert_pem, witness)
    buf = io.BytesIO()
    export_bundle(led, store, item, buf, now=FIXED_NOW)
    bundle = buf.getvalue()
    log_vkey, witness_vkey = _vkey(led.verifier), _vkey(witness.verifier())
    led.close()
    return {"bundle": bundle, "log": log_vkey, "witness": witness_vkey, "dir": root}


def _custody_seqs(bundle: bytes) -> list[int]:
    """The seqs of the item's custody entries in the bundle, in log order."""
    out = []
    for name, data in sorted(F.members(bundle).items()):
        if name.startswith("entries/"):
            e = json.loads(data)
            if "prev_custody" in e["body"]:
                out.append(e["seq"])
    return sorted(out)


def _drop_entry(bundle: bytes, seq: int) -> bytes:
    """The bundle without entry ``seq``, the manifest made to agree. Its proof stays when
    the next entry is in the bundle: that proof is what checks the next entry's ``prev``
    (the chain check), so an exporter hiding the entry would keep it."""
    def edit(man: dict[str, Any]) -> None:
        for key in ("custody_seqs", "entries"):
            if isinstance(man.get(key), list):
                man[key] = [s for s in man[key] if s != seq]
    m = F.members(bundle)
    drop = [f"entries/{seq}.entry"]
    if f"entries/{seq + 1}.entry" not in m:
        drop.append(f"proofs/{seq}.json")
    gone = {n: None for n in m if n in drop}
    assert f"entries/{seq}.entry" in gone
    return F.with_members(bundle, gone, edit)


def _write(dir_: Path, name: str, data: bytes | str) -> Path:
    p = dir_ / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return p


def _package(bundle: Path, trust: Path) -> dict[str, Any]:
    return verify_bundle(str(bundle), parse_trust(trust.read_bytes())).to_json()


def test_honest_bundle_verified_and_dropped_custody_entry_fails(
        tab: Page, linked: dict[str, Any], tsa: LocalTSA, tmp_path: Path) -> None:
    trust = _write(tmp_path, "trust.txt", _trust(linked["log"], linked["witness"], _root_der(tsa)))
    honest = _write(tmp_path, "honest.zip", linked["bundle"])
    seqs = _custody_seqs(linked["bundle"])
    assert len(seqs) == 3, seqs
    got = tab.open(trust=trust).verify(honest)
    assert got["verdict"] == "verified", got["report"]["checks"]
    custody = next(c for c in got["report"]["checks"] if c["name"] == "custody")
    assert custody["status"] == "pass"
    assert _package(honest, trust)["verdict"] == "verified"

    forged = _write(tmp_path, "dropped.zip", _drop_entry(linked["bundle"], seqs[1]))
    got = tab.open(trust=trust).verify(forged)
    r = got["report"]
    assert got["verdict"] == r["verdict"] == "failed" and r["failed_check"] == "custody", r
    c = next(c for c in r["checks"] if c["name"] == "custody")
    assert c["status"] == "fail" and f"entry {seqs[2]} " in c["reason"], c
    assert "removed" in c["reason"] and "删除" in c["reason_zh"]
    assert "\n" not in c["reason"] and "\n" not in c["reason_zh"]
    assert "preserved no later than" not in got["text"]
    pkg = _package(forged, trust)
    assert (pkg["verdict"], pkg["failed_check"]) == ("failed", "custody"), pkg
    # dropping the last custody entry leaves no broken link (docs/formats.md: what links
    # cannot show): the page still verifies it, as the package does
    tail = _write(tmp_path, "tail.zip", _drop_entry(linked["bundle"], seqs[-1]))
    assert tab.open(trust=trust).verify(tail)["verdict"] == _package(tail, trust)["verdict"]


def _with_ski_changed(root: bytes) -> bytes:
    """The root with one byte of its subjectKeyIdentifier changed (its own signature no
    longer verifies; a pinned root's is not checked)."""
    at = root.index(bytes.fromhex("0603551d0e")) + 5
    assert root[at] == 0x04  # extnValue OCTET STRING { OCTET STRING keyIdentifier }
    return F.flip(root, at + 2 + 2 + 3)


def _with_issuer_changed(root: bytes) -> bytes:
    """The root with a letter of its issuer name changed: no longer self-issued."""
    at = root.index(b"Root CA")  # the issuer comes before the subject
    return root[:at] + b"Roop CA" + root[at + 7:]


@pytest.mark.parametrize("alter,en,zh", [
    (_with_ski_changed, "key identifier", "密钥标识符"),
])
def test_altered_pinned_root_issues_nothing(tab: Page, linked: dict[str, Any], tsa: LocalTSA,
                                           tmp_path: Path, alter: Any, en: str, zh: str) -> None:
    """A pinned root whose subjectKeyIdentifier differs from the TSA certificate's
    authorityKeyIdentifier did not issue it; one that is not self-issued ends no path
    (OpenSSL's path building, the package's): the token fails, never verified."""
    altered = alter(_root_der(tsa))
    assert x509.load_der_x509_certificate(altered).extensions  # it still parses whole
    trust = _write(tmp_path, "trust.txt", _trust(linked["log"], linked["witness"], altered))
    bundle = _write(tmp_path, "honest.zip", linked["bundle"])
    got = tab.open(trust=trust).verify(bundle)
    r = got["report"]
    pkg = _package(bundle, trust)
    assert (pkg["verdict"], pkg["failed_check"]) == ("failed", "timestamps"), pkg
    assert (r["verdict"], r["failed_check"]) == ("failed", "timestamps"), r["checks"]
    ts = next(c for c in r["checks"] if c["name"] == "timestamps")
    assert en in ts["reason"] and zh in ts["reason_zh"], ts


def test_a_pinned_root_that_is_not_self_issued_is_refused(tab: Page, linked: dict[str, Any],
                                                           tsa: LocalTSA) -> None:
    """No path ends at a certificate that is not self-issued, so such a pin could anchor
    nothing: the trust file is refused (exit 2) by the page and the package alike, before
    any bundle is read (docs/verdict.md section 3)."""
    tab.open(keys=False)
    text = _trust(linked["log"], linked["witness"], _with_issuer_changed(_root_der(tsa)))
    got = _page_trust(tab, text)
    assert not got["ok"] and "not a root certificate" in got["message"], got
    assert "不是根证书" in got["zh"]
    assert not _package_trust(text)


def _page_trust(tab: Page, text: str) -> dict[str, Any]:
    return tab.page.evaluate("""async (text) => {
        try {
            const p = await EvidenceVerify.parseTrustPolicy(text);
            return {ok: true, tsa: p.tsa.length};
        }
        catch (e) { return {ok: false, message: e.message, zh: e.zh}; }
    }""", text)


def _package_trust(text: str) -> bool:
    try:
        parse_trust(text.encode())
    except TrustFileError:
        return False
    return True


def test_pinned_root_must_parse_whole_and_lone_marker_is_a_comment(
        tab: Page, linked: dict[str, Any], tsa: LocalTSA) -> None:
    tab.open(keys=False)
    root = _root_der(tsa)
    good = _trust(linked["log"], linked["witness"], root)
    assert _page_trust(tab, good) == {"ok": True, "tsa": 1}
    lone = good + "#@\n  #@ \t\n"
    assert _page_trust(tab, lone) == {"ok": True, "tsa": 1} and _package_trust(lone)
    ski = root.index(bytes.fromhex("0603551d0e")) + 5
    # the root has no authorityKeyIdentifier; the TSA's own certificate, pinned as a root
    # (nothing requires a pin to be a CA), has one
    assert tsa.tsa_cert_pem is not None
    leaf = x509.load_pem_x509_certificate(tsa.tsa_cert_pem).public_bytes(Encoding.DER)
    aki = leaf.index(bytes.fromhex("0603551d23")) + 5
    assert leaf[aki + 4] == 0x80
    cases = {
        "trailing byte": root + b"\x00",
        "truncated": root[:-1],
        # the SKI extnValue no longer holds an OCTET STRING
        "subjectKeyIdentifier not an OCTET STRING": root[:ski + 2] + b"\x05" + root[ski + 3:],
        # the AKI's [0] keyIdentifier tag made [3], which RFC 5280 does not define
        "authorityKeyIdentifier unknown field": leaf[:aki + 4] + b"\x83" + leaf[aki + 5:],
    }
    for label, der in cases.items():
        text = _trust(linked["log"], linked["witness"], der)
        page = _page_trust(tab, text)
        assert not page["ok"] and not _package_trust(text), (label, page)
        assert "line 6" in page["message"] and "第 6 行" in page["zh"], (label, page)


def _even_rsa_modulus(der: bytes) -> bool:
    import warnings

    from cryptography.hazmat.primitives.asymmetric import rsa
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a negative serial number: still read
        key = x509.load_der_x509_certificate(der).public_key()
    return isinstance(key, rsa.RSAPublicKey) and key.public_numbers().n % 2 == 0


def _flip_sweep(der: bytes) -> list[bytes]:
    return [F.flip(der, i, mask) for mask in (0x01, 0x80) for i in range(len(der))]


@pytest.mark.parametrize("which", ["root", "tsa"])
def test_every_byte_of_a_pinned_certificate_refused_as_the_package_refuses(
        tab: Page, linked: dict[str, Any], tsa: LocalTSA, which: str) -> None:
    """Each bit 0 and bit 7 of every byte of the pinned certificate (the root, and the TSA's
    own certificate, which carries an authorityKeyIdentifier and extendedKeyUsage): the page
    refuses the trust file exactly when the package does (docs/verdict.md section 3)."""
    tab.open(keys=False)
    if which == "root":
        der = _root_der(tsa)
    else:
        assert tsa.tsa_cert_pem is not None
        der = x509.load_pem_x509_certificate(tsa.tsa_cert_pem).public_bytes(Encoding.DER)
    texts = [_trust(linked["log"], linked["witness"], d) for d in _flip_sweep(der)]
    page = tab.page.evaluate("""async (texts) => {
        const out = [];
        for (const t of texts) {
            try { await EvidenceVerify.parseTrustPolicy(t); out.push('accepted'); }
            catch (e) { out.push(e.zh ? 'refused' : 'error: ' + e.message); }
        }
        return out;
    }""", texts)
    wrong = []
    for i, (text, got) in enumerate(zip(texts, page, strict=True)):
        want = "accepted" if _package_trust(text) else "refused"
        if want == "accepted" and _even_rsa_modulus(_flip_sweep(der)[i]):
            # Chromium's importKey refuses an RSA key whose modulus is even (no such key
            # can verify anything); cryptography loads it, so the package accepts the pin.
            # The page follows "a key that loads" in its own WebCrypto: a known difference.
            want = "refused"
        if got != want:
            pos, mask = i % len(der), 0x01 if i < len(der) else 0x80
            wrong.append(f"byte {pos} ^{mask:#04x}: package {want}, page {got}")
    assert not wrong, f"{len(wrong)} of {len(texts)}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("keyopts", [
    ["-algorithm", "ED25519"], ["-algorithm", "ED448"],
    ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1"],
])
def test_pinned_root_with_a_key_kind_outside_the_contract_is_refused(
        tab: Page, linked: dict[str, Any], tmp_path: Path, keyopts: list[str]) -> None:
    """docs/verdict.md section 3: a pinned TSA root's key is RSA or EC P-256/P-384/P-521;
    a root with any other key is refused, naming what is supported, in each language."""
    import subprocess

    subprocess.run(["openssl", "genpkey", *keyopts, "-out", "k.pem"], cwd=tmp_path, check=True,
                   capture_output=True, timeout=60)
    subprocess.run(["openssl", "req", "-x509", "-new", "-key", "k.pem", "-subj", "/CN=Odd Root",
                    "-days", "30", "-out", "c.pem"], cwd=tmp_path, check=True,
                   capture_output=True, timeout=60)
    der = x509.load_pem_x509_certificate((tmp_path / "c.pem").read_bytes()).public_bytes(
        Encoding.DER)
    tab.open(keys=False)
    got = _page_trust(tab, _trust(linked["log"], linked["witness"], der))
    assert not got["ok"], got
    assert "does not support" in got["message"] and "P-256" in got["message"], got
    assert "不受支持" in got["zh"] and "第 6 行" in got["zh"], got
