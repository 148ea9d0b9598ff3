"""RFC 3161 in the judges' page (issue 13, point 1), in real Chromium: the page's own DER/CMS
reader and WebCrypto checks (``EvidenceVerify.verifyTimestampToken``) against real tokens
from the local OpenSSL TSAs (tests/support/tsa.py), an ECDSA P-384 TSA and an RSA-PSS TSA
made here with openssl, and tokens with one byte changed in each region (signature, signed
attributes, certificate, genTime). On every token the page's outcome equals
``evidence.verify.timestamp.verify_timestamp``'s, read through docs/verdict.md section 1:

- ``pass``: the token verifies;
- ``untrusted``: its chain ends at a root that is not pinned (skipped in a bundle);
- ``fail``: anything else. Python raises ``UntrustedTimestampChain`` (or its subclass
  ``TsaCertificateExpired``) also for a certificate whose signature does not verify or that
  was not valid at genTime; the contract makes those failures ("whose ... chain do not
  verify is fail"), so they are read as ``fail`` here. Only "unable to get local issuer
  certificate" is a chain that ends at an unpinned root.

A token whose algorithm the browser's WebCrypto lacks is ``unsupported`` (the bundle's
``timestamps`` check is then not-checked, naming the algorithm), never a pass.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from evidence.ledger.anchor.tsa_client import request_timestamp
from evidence.verify import der
from evidence.verify import timestamp as ts
from tests.support.browser import Page
from tests.support.token_regions import REGIONS, corrupt, flip, later_year
from tests.support.tsa import LocalTSA

pytestmark = pytest.mark.tsa

MESSAGE = b"evidence.test/verify-page\n9\nq83rQ1qS0m9Z2bzTeTt3nH8FyR0tmPb0cJjZ2u6X+pE=\n"
TsaVariant = Callable[[str], LocalTSA]


@dataclass(frozen=True)
class Token:
    der: bytes
    root_pem: bytes  # the tests' trust anchor (the good TSA's root)


def pem_to_der(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


# --- tokens ---------------------------------------------------------------------------------


def _openssl(args: list[str], cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _issue_tsa(pki: Path, d: Path, keyopts: list[str]) -> None:
    """A TSA key and certificate under the tests' root, with the critical timeStamping EKU."""
    d.mkdir(parents=True, exist_ok=True)
    _openssl(["genpkey", *keyopts, "-out", "tsa.key"], d)
    _openssl(["req", "-new", "-key", "tsa.key", "-out", "tsa.csr",
              "-subj", f"/CN=Evidence {d.name} TSA", "-config", str(pki / "ext.cnf")], d)
    serial = "0x" + hashlib.sha256(d.name.encode()).hexdigest()[:16]
    _openssl(["x509", "-req", "-in", "tsa.csr", "-CA", str(pki / "root" / "ca.crt"),
              "-CAkey", str(pki / "root" / "ca.key"), "-set_serial", serial, "-out", "tsa.crt",
              "-days", "1000", "-extfile", str(pki / "ext.cnf"), "-extensions", "v3_tsa"], d)


def openssl_tsa_token(pki: Path, d: Path, keyopts: list[str], digest: str,
                      ess: str = "sha256") -> bytes:
    """A token from `openssl ts -reply` with a TSA made here (e.g. ECDSA P-384); `ess` sha1
    gives the older ESSCertID (signingCertificate), sha256 ESSCertIDv2."""
    _issue_tsa(pki, d, keyopts)
    (d / "serial").write_text("01\n")
    (d / "tsa.cnf").write_text(
        "[ tsa ]\ndefault_tsa = t\n[ t ]\n"
        f"serial = {d}/serial\ncrypto_device = builtin\nsigner_cert = {d}/tsa.crt\n"
        f"signer_key = {d}/tsa.key\nsigner_digest = {digest}\ndefault_policy = 1.2.3.4.1\n"
        "digests = sha256\naccuracy = secs:1\nordering = yes\ntsa_name = yes\n"
        f"ess_cert_id_chain = no\ness_cert_id_alg = {ess}\n")
    (d / "msg.txt").write_bytes(MESSAGE)
    _openssl(["ts", "-query", "-data", "msg.txt", "-sha256", "-cert", "-out", "q.tsq"], d)
    _openssl(["ts", "-reply", "-config", "tsa.cnf", "-queryfile", "q.tsq", "-token_out",
              "-out", "tok.der"], d)
    return (d / "tok.der").read_bytes()


def _tlv(tag: int, *parts: bytes) -> bytes:
    return der.encode_tlv(tag, b"".join(parts))


def _oid(dotted: str) -> bytes:
    nums = [int(x) for x in dotted.split(".")]
    body = bytearray([40 * nums[0] + nums[1]])
    for n in nums[2:]:
        chunk = [n & 0x7F]
        while n > 0x7F:
            n >>= 7
            chunk.append(0x80 | (n & 0x7F))
        body += bytes(reversed(chunk))
    return _tlv(0x06, bytes(body))


SHA256_ALG = _tlv(0x30, _oid("2.16.840.1.101.3.4.2.1"))


def pss_token(pki: Path, d: Path, tstinfo: bytes) -> bytes:
    """A CMS SignedData over `tstinfo` signed with RSA-PSS (SHA-256, MGF1-SHA-256, salt 32),
    with contentType, messageDigest and ESSCertIDv2, assembled here because `openssl ts`
    signs only with PKCS#1 v1.5."""
    _issue_tsa(pki, d, ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
    cert = x509.load_pem_x509_certificate((d / "tsa.crt").read_bytes())
    key = serialization.load_pem_private_key((d / "tsa.key").read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    cert_der = cert.public_bytes(serialization.Encoding.DER)
    attrs = sorted([
        _tlv(0x30, _oid("1.2.840.113549.1.9.3"), _tlv(0x31, _oid("1.2.840.113549.1.9.16.1.4"))),
        _tlv(0x30, _oid("1.2.840.113549.1.9.4"),
             _tlv(0x31, _tlv(0x04, hashlib.sha256(tstinfo).digest()))),
        _tlv(0x30, _oid("1.2.840.113549.1.9.16.2.47"), _tlv(0x31, _tlv(0x30, _tlv(0x30, _tlv(
            0x30, _tlv(0x04, hashlib.sha256(cert_der).digest())))))),
    ])
    signed = _tlv(0x31, *attrs)
    signature = key.sign(signed, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    pss_alg = _tlv(0x30, _oid("1.2.840.113549.1.1.10"), _tlv(
        0x30, _tlv(0xA0, SHA256_ALG),
        _tlv(0xA1, _tlv(0x30, _oid("1.2.840.113549.1.1.8"), SHA256_ALG)),
        _tlv(0xA2, _tlv(0x02, b"\x20"))))
    serial = cert.serial_number.to_bytes((cert.serial_number.bit_length() + 8) // 8, "big")
    signer_info = _tlv(0x30, _tlv(0x02, b"\x01"),
                       _tlv(0x30, cert.issuer.public_bytes(), _tlv(0x02, serial)),
                       SHA256_ALG, _tlv(0xA0, *attrs), pss_alg, _tlv(0x04, signature))
    signed_data = _tlv(0x30, _tlv(0x02, b"\x03"), _tlv(0x31, SHA256_ALG),
                       _tlv(0x30, _oid("1.2.840.113549.1.9.16.1.4"),
                            _tlv(0xA0, _tlv(0x04, tstinfo))),
                       _tlv(0xA0, cert_der), _tlv(0x31, signer_info))
    return _tlv(0x30, _oid("1.2.840.113549.1.7.2"), _tlv(0xA0, signed_data))


def _e_content(token: bytes) -> bytes:
    ci = der.children(token, der.parse_single(token, 0x30))
    sd = der.children(token, der.children(token, ci[1])[0])
    octets = der.children(token, der.children(token, sd[2])[1])[0]
    return token[octets.value_start:octets.end]


@pytest.fixture(scope="module")
def tokens(tsa_variant: TsaVariant, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Token]:
    root = tsa_variant("good").ca_cert_pem
    pki = tsa_variant("good").ca_pem_path.parent.parent
    out = {v: Token(request_timestamp(tsa_variant(v).url, MESSAGE, timeout=30).token, root)
           for v in ("good", "quirky", "untrusted", "expired", "no-eku", "noncritical-eku")}
    work = tmp_path_factory.mktemp("page-tsa")
    p384 = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]
    out["ecdsa-p384"] = Token(openssl_tsa_token(pki, work / "p384", p384, "sha384"), root)
    p256 = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
    out["ecdsa-p256-ess-v1"] = Token(openssl_tsa_token(pki, work / "p256", p256, "sha512",
                                                       ess="sha1"), root)
    # the good token's TSTInfo, one year later: inside the new certificate's validity, which
    # starts now (after the good token's genTime)
    out["rsa-pss"] = Token(pss_token(pki, work / "pss", later_year(_e_content(out["good"].der))),
                           root)
    return out


# --- corruptions, by region: tests/support/token_regions.py ----------------------------


def python_outcome(token: bytes, message: bytes, root_pem: bytes) -> str:
    try:
        ts.verify_timestamp(token, message, [root_pem])
    except ts.TsaCertificateExpired:
        return "fail"
    except ts.UntrustedTimestampChain as e:
        return "untrusted" if "unable to get local issuer certificate" in str(e) else "fail"
    except ts.TimestampError:
        return "fail"
    return "pass"


def openssl_cms_verify(token: bytes, root_pem: bytes) -> bool:
    """`openssl cms -verify` of the token's CMS signature and chain (any purpose)."""
    with tempfile.TemporaryDirectory() as td:
        (Path(td) / "t.der").write_bytes(token)
        (Path(td) / "ca.pem").write_bytes(root_pem)
        r = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-purpose", "any",
                            "-CAfile", "ca.pem", "-in", "t.der", "-out", "/dev/null"],
                           cwd=td, capture_output=True, check=False, timeout=60)
        return r.returncode == 0


# --- the page --------------------------------------------------------------------------------


@pytest.fixture
def tab(browser: Any) -> Iterator[Page]:
    p = Page(browser)
    p.open(keys=False)
    yield p
    assert not p.errors, p.errors
    p.close()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


PAGE_VERIFY = """async ([tok, msg, roots]) => {
    const b = (x) => Uint8Array.from(atob(x), (c) => c.charCodeAt(0));
    try {
        const r = await EvidenceVerify.verifyTimestampToken(b(tok), b(msg),
            roots.map((x) => EvidenceVerify.parseCertificate(b(x))));
        return {kind: 'pass', gen_time: r.genTime, tsa: r.tsa, root: r.root};
    } catch (e) {
        return {kind: e.kind || ('error: ' + e.name + ': ' + e.message),
                reason: e.message, zh: e.zh};
    }
}"""


def page_outcome(tab: Page, token: bytes, message: bytes, roots: list[bytes]) -> dict[str, Any]:
    der_roots = [b64(pem_to_der(r)) for r in roots]
    return tab.page.evaluate(PAGE_VERIFY, [b64(token), b64(message), der_roots])


@pytest.mark.parametrize("name", ["good", "quirky", "untrusted", "expired", "no-eku",
                                  "noncritical-eku", "ecdsa-p384", "ecdsa-p256-ess-v1",
                                  "rsa-pss"])
def test_real_tokens_same_outcome_as_python(tab: Page, tokens: dict[str, Token], name: str) -> None:
    tok = tokens[name]
    got = page_outcome(tab, tok.der, MESSAGE, [tok.root_pem])
    expected = {"good": "pass", "quirky": "pass", "ecdsa-p384": "pass", "rsa-pss": "pass",
                "ecdsa-p256-ess-v1": "pass", "untrusted": "untrusted"}.get(name, "fail")
    if name == "rsa-pss":
        # rfc3161-client verifies with OpenSSL's PKCS7_verify, which knows only PKCS#1 v1.5
        # and refuses this valid token; `openssl cms -verify` is the reference here.
        assert openssl_cms_verify(tok.der, tok.root_pem)
        want = expected
    else:
        want = python_outcome(tok.der, MESSAGE, tok.root_pem)
    assert got["kind"] == want, (name, got, want)
    assert want == expected, name
    if want == "pass":
        if name != "rsa-pss":
            verdict = ts.verify_timestamp(tok.der, MESSAGE, [tok.root_pem])
            assert got["gen_time"] == verdict.gen_time.isoformat()
        assert got["root"] == "CN=Evidence Test Root CA"
    else:
        assert got["reason"] and got["zh"] and "\n" not in got["reason"]


@pytest.mark.parametrize("name", ["good", "ecdsa-p384", "ecdsa-p256-ess-v1", "rsa-pss", "quirky"])
@pytest.mark.parametrize("region", REGIONS)
def test_corrupted_tokens_same_outcome_as_python(tab: Page, tokens: dict[str, Token], name: str,
                                                  region: str) -> None:
    bad = corrupt(tokens[name].der, region)
    assert bad != tokens[name].der and len(bad) == len(tokens[name].der)
    want = python_outcome(bad, MESSAGE, tokens[name].root_pem)
    got = page_outcome(tab, bad, MESSAGE, [tokens[name].root_pem])
    assert want == "fail", (name, region)
    assert got["kind"] == want, (name, region, got)


def test_token_over_other_data_and_unpinned_root(tab: Page, tokens: dict[str, Token],
                                                 tsa_variant: TsaVariant) -> None:
    tok = tokens["good"]
    got = page_outcome(tab, tok.der, MESSAGE + b"x", [tok.root_pem])
    assert got["kind"] == "fail" == python_outcome(tok.der, MESSAGE + b"x", tok.root_pem)
    assert "other data" in got["reason"]
    # the only pinned root is another CA's: the good token's chain ends at a root not pinned
    other_root = tsa_variant("untrusted").ca_cert_pem
    got = page_outcome(tab, tok.der, MESSAGE, [other_root])
    assert got["kind"] == "untrusted" == python_outcome(tok.der, MESSAGE, other_root)
    assert "Evidence Test Root CA" in got["reason"]


def test_an_algorithm_webcrypto_lacks_is_named_never_passed(browser: Any,
                                                          tokens: dict[str, Token]) -> None:
    """A browser whose WebCrypto has no ECDSA P-384: the P-384 token is 'unsupported', with
    the curve named, in both languages; the RSA token still verifies."""
    p = Page(browser)
    p.context.add_init_script("""(() => {
        const orig = crypto.subtle.importKey.bind(crypto.subtle);
        crypto.subtle.importKey = (fmt, key, alg, ...rest) =>
            (alg && alg.namedCurve === 'P-384')
                ? Promise.reject(new DOMException('unsupported', 'NotSupportedError'))
                : orig(fmt, key, alg, ...rest);
    })();""")
    try:
        p.open(keys=False)
        tok = tokens["ecdsa-p384"]
        got = page_outcome(p, tok.der, MESSAGE, [tok.root_pem])
        assert got["kind"] == "unsupported", got
        assert "P-384" in got["reason"] and "P-384" in got["zh"]
        assert page_outcome(p, tokens["good"].der, MESSAGE, [tok.root_pem])["kind"] == "pass"
    finally:
        p.close()


def test_hostile_token_bytes_never_pass(tab: Page, tokens: dict[str, Token]) -> None:
    """Truncations and every-64th-byte flips of a real token: never a pass with a changed
    claim; whatever the page accepts, Python accepts too."""
    tok = tokens["good"]
    cases = [tok.der[:n] for n in (0, 1, 2, 10, 100, len(tok.der) - 1)]
    cases += [flip(tok.der, i, 0x80) for i in range(0, len(tok.der), 64)]
    got = tab.page.evaluate("""async ([cases, msg, root]) => {
        const b = (x) => Uint8Array.from(atob(x), (c) => c.charCodeAt(0));
        const roots = [EvidenceVerify.parseCertificate(b(root))];
        const out = [];
        for (const c of cases) {
            try {
                await EvidenceVerify.verifyTimestampToken(b(c), b(msg), roots);
                out.push('pass');
            }
            catch (e) { out.push(e.kind || ('error: ' + e.message)); }
        }
        return out;
    }""", [[b64(c) for c in cases], b64(MESSAGE), b64(pem_to_der(tok.root_pem))])
    for case, kind in zip(cases, got, strict=True):
        assert kind in ("pass", "fail", "untrusted", "unsupported"), kind
        if kind == "pass":
            assert python_outcome(case, MESSAGE, tok.root_pem) == "pass"
