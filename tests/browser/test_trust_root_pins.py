"""What a ``#@ tsa`` pin may be, held equal in the three verifiers (docs/verdict.md
section 3): a root certificate (self-issued, its own key identifier) with an RSA or EC
P-256/P-384/P-521 key. Anything else is refused when the trust file is read (exit 2), by
the package, the stand-alone script and the page alike, so that no pin means "trusted" to
one verifier and "skipped" or "failed" to another."""

from __future__ import annotations

import base64
import importlib.util
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from evidence.verify.note import generate_signer
from evidence.verify.trust import TrustFileError, parse_trust
from tests.support.browser import Page

ROOT = Path(__file__).resolve().parents[2]
LOG = generate_signer("pins.example/log").verifier().to_string()
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(key: Any, subject: str, issuer: str | None = None, signer: Any = None,
          aki_of: Any = None) -> bytes:
    """A CA certificate for ``key``; self-issued unless ``issuer`` is given."""
    signer = signer or key
    b = (x509.CertificateBuilder().subject_name(_name(subject))
         .issuer_name(_name(issuer or subject)).public_key(key.public_key())
         .serial_number(7).not_valid_before(NOW).not_valid_after(NOW + timedelta(days=3650))
         .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                        critical=False))
    if aki_of is not None:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            aki_of.public_key()), critical=False)
    algo = None if isinstance(signer, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey) \
        else hashes.SHA256()
    return b.sign(signer, algo).public_bytes(Encoding.DER)


def _corpus() -> dict[str, tuple[bytes, bool]]:
    """name -> (DER, accepted)."""
    p256 = ec.generate_private_key(ec.SECP256R1())
    other = ec.generate_private_key(ec.SECP256R1())
    return {
        "rsa-root": (_cert(rsa.generate_private_key(65537, 2048), "RSA Root"), True),
        "p256-root": (_cert(p256, "P256 Root", aki_of=p256), True),
        "p384-root": (_cert(ec.generate_private_key(ec.SECP384R1()), "P384 Root"), True),
        "ed25519-root": (_cert(ed25519.Ed25519PrivateKey.generate(), "Ed Root"), False),
        "ed448-root": (_cert(ed448.Ed448PrivateKey.generate(), "Ed448 Root"), False),
        "secp256k1-root": (_cert(ec.generate_private_key(ec.SECP256K1()), "K1 Root"), False),
        "intermediate": (_cert(other, "TSA CA 2", issuer="P256 Root", signer=p256,
                               aki_of=p256), False),
        "self-issued-other-aki": (_cert(other, "Odd Root", aki_of=p256), False),
    }


CORPUS = _corpus()


def _trust(der: bytes) -> bytes:
    return (f"log {LOG}\nquorum none\n#@ tsa court-tsa {base64.b64encode(der).decode()}\n"
            ).encode()


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("pins_verify_bundle",
                                                  ROOT / "scripts" / "verify_bundle.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_package_and_script_agree_on_pins(case: str) -> None:
    der, accepted = CORPUS[case]
    script = _script()
    try:
        parse_trust(_trust(der))
        package = True
    except TrustFileError as e:
        package = False
        assert "TSA court-tsa" in str(e)
    try:
        script.parse_trust(_trust(der))
        standalone = True
    except script.TrustError:
        standalone = False
    assert (package, standalone) == (accepted, accepted)


def test_script_tsa_ca_option_applies_the_same_rule(tmp_path: Path) -> None:
    script = _script()
    for case, (der, accepted) in CORPUS.items():
        p = tmp_path / f"{case}.der"
        p.write_bytes(der)
        try:
            script.shorthand_trust(LOG, [], 0, [str(p)])
            got = True
        except script.TrustError:
            got = False
        assert got == accepted, case


@pytest.fixture
def tab(browser: Any) -> Iterator[Page]:
    p = Page(browser)
    p.open(keys=False)
    yield p
    p.close()


def test_page_agrees_on_pins(tab: Page) -> None:
    texts = {case: _trust(der).decode() for case, (der, _) in CORPUS.items()}
    got = tab.page.evaluate("""async (texts) => {
        const out = {};
        for (const [k, t] of Object.entries(texts)) {
            try { await EvidenceVerify.parseTrustPolicy(t); out[k] = true; }
            catch (e) { out[k] = false; }
        }
        return out;
    }""", texts)
    assert got == {case: accepted for case, (_, accepted) in CORPUS.items()}
