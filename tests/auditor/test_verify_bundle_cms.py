"""The stand-alone script's own RFC 3161 / CMS checks (scripts/verify_bundle.py, which needs
only ``cryptography``) against two independent verifiers on real tokens: the package's
``evidence.verify.timestamp`` (rfc3161-client) and ``openssl ts -verify``.

Tokens come from the local OpenSSL TSAs of tests/support/tsa.py (RSA, and a chain with an
intermediate whose certificate SET is not in DER order) and from ECDSA TSAs made here with
``openssl`` (P-256 with SHA-256, P-384 with SHA-384). Each good token is then damaged in one
region at a time (the CMS signature, a signed attribute, the signer certificate, the TSTInfo
genTime): the three verdicts must agree on every one, and the script must say what failed.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from evidence.ledger.anchor.tsa_client import request_timestamp
from evidence.verify import timestamp as pkg_ts
from tests.support.standalone import load_verify_script
from tests.support.tsa import LocalTSA

pytestmark = pytest.mark.tsa

ROOT = Path(__file__).resolve().parents[2]
MESSAGE = b"bundle.example/log\n7\nq83rQ1qS0m9Z2bzTeTt3nH8FyR0tmPb0cJjZ2u6X+pE=\n"


vb = load_verify_script()


# --- the three verifiers, each reduced to "ok", "untrusted" or "fail" -------------------------


def ours(token: bytes, message: bytes, ca_pem: bytes) -> tuple[str, str]:
    from cryptography import x509

    roots = x509.load_pem_x509_certificates(ca_pem)
    try:
        vb.verify_timestamp(token, message, roots)
    except vb.Untrusted as e:
        return "untrusted", str(e)
    except vb.Fail as e:
        return "fail", str(e)
    return "ok", ""


def package(token: bytes, message: bytes, ca_pem: bytes) -> str:
    try:
        pkg_ts.verify_timestamp(token, message, [ca_pem])
    except pkg_ts.TsaCertificateExpired:
        return "fail"  # the package words an expired TSA as a chain error; it is a failure
    except pkg_ts.UntrustedTimestampChain:
        return "untrusted"
    except pkg_ts.TimestampError:
        return "fail"
    return "ok"


def openssl(token: bytes, message: bytes, ca_path: Path, tmp: Path) -> bool:
    path = tmp / f"t-{hashlib.sha256(token).hexdigest()[:16]}.der"
    path.write_bytes(token)
    p = subprocess.run(["openssl", "ts", "-verify", "-in", str(path), "-token_in", "-digest",
                        hashlib.sha256(message).hexdigest(), "-CAfile", str(ca_path)],
                       capture_output=True, text=True, check=False)
    return p.returncode == 0 and "Verification: OK" in p.stdout


# --- ECDSA TSAs made with openssl ---------------------------------------------------------------

EXT = """[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ v3_root ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ v3_tsa ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = critical,timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


@dataclass(frozen=True)
class Tsa:
    """A TSA made here: ``stamp(message)`` is a token from ``openssl ts -reply``."""

    name: str
    ca_path: Path
    stamp: Callable[[bytes], bytes]

    @property
    def ca_pem(self) -> bytes:
        return self.ca_path.read_bytes()


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(list(args), cwd=cwd, check=True, capture_output=True)


def make_ec_tsa(d: Path, curve: str, digest: str, ess: str | None = None) -> Tsa:
    """An ECDSA root and TSA on ``curve``, signing with ``digest``; ``ess = "sha1"`` makes
    OpenSSL write the older SigningCertificate (ESSCertID, SHA-1) instead of V2."""
    d.mkdir(parents=True)
    (d / "ext.cnf").write_text(EXT)
    for k in ("root", "tsa"):
        _run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{curve}",
             "-out", f"{k}.key", cwd=d)
    _run("openssl", "req", "-x509", "-new", "-key", "root.key", "-out", "root.crt", "-days",
         "3650", "-subj", f"/CN=EC Root {curve}", "-config", "ext.cnf", "-extensions", "v3_root",
         cwd=d)
    _run("openssl", "req", "-new", "-key", "tsa.key", "-out", "tsa.csr", "-subj",
         f"/CN=EC TSA {curve}", "-config", "ext.cnf", cwd=d)
    _run("openssl", "x509", "-req", "-in", "tsa.csr", "-CA", "root.crt", "-CAkey", "root.key",
         "-set_serial", "0x5eed", "-days", "365", "-extfile", "ext.cnf", "-extensions", "v3_tsa",
         "-out", "tsa.crt", cwd=d)
    (d / "serial").write_text("01\n")
    (d / "tsa.cnf").write_text(f"""[ tsa ]
default_tsa = t
[ t ]
serial = {d}/serial
crypto_device = builtin
signer_cert = {d}/tsa.crt
signer_key = {d}/tsa.key
signer_digest = {digest}
default_policy = 1.2.3.4.1
digests = sha256
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = {ess or digest}
""")

    def stamp(message: bytes) -> bytes:
        (d / "m.bin").write_bytes(message)
        _run("openssl", "ts", "-query", "-data", "m.bin", "-sha256", "-cert", "-out", "q.tsq",
             cwd=d)
        _run("openssl", "ts", "-reply", "-config", "tsa.cnf", "-queryfile", "q.tsq",
             "-token_out", "-out", "t.der", cwd=d)
        return (d / "t.der").read_bytes()

    return Tsa(f"ecdsa-{curve}", d / "root.crt", stamp)


def local(t: LocalTSA) -> Tsa:
    return Tsa(t.name, t.ca_pem_path, lambda m: request_timestamp(t.url, m, timeout=30).token)


@pytest.fixture(scope="module")
def tsas(tmp_path_factory: pytest.TempPathFactory, tsa_variant) -> dict[str, Tsa]:
    d = tmp_path_factory.mktemp("ec-tsa")
    return {
        "rsa": local(tsa_variant("good")),
        "rsa-chain-unsorted": local(tsa_variant("quirky")),
        "ecdsa-p256": make_ec_tsa(d / "p256", "P-256", "sha256"),
        "ecdsa-p384": make_ec_tsa(d / "p384", "P-384", "sha384"),
        "ecdsa-p256-ess-v1": make_ec_tsa(d / "p256v1", "P-256", "sha256", ess="sha1"),
    }


# --- where each region of a token is ------------------------------------------------------------


def regions(token: bytes) -> dict[str, int]:
    """Offsets of one byte inside each region, found with the script's DER reader."""
    _, content = vb.der_parse(token, vb.SEQ).children()
    sd = content.children()[0].children()
    certs = next(t for t in sd[3:-1] if t.tag == vb.CTX0).children()
    si = sd[-1].children()[0].children()
    attrs = {vb.der_oid(a.children()[0]): a.children()[1] for a in si[3].children()}
    tst = sd[2].children()[1].children()[0]  # eContent [0] { OCTET STRING }
    tst_fields = vb.der_read(token, tst.vstart, tst.end).children()
    signer = next(c for c in certs if c.der == vb.find_signer(
        si[1], [vb.x509.load_der_x509_certificate(c.der) for c in certs]).public_bytes(
        vb.serialization.Encoding.DER))
    return {
        "signature": si[5].end - 1,
        "signed attribute (messageDigest)": attrs[vb.OID_MESSAGE_DIGEST].end - 1,
        "signed attribute (signingCertificate)":
            (attrs.get(vb.OID_SIGNING_CERTIFICATE_V2) or attrs[vb.OID_SIGNING_CERTIFICATE]).end - 3,
        "signer certificate": signer.end - 1,
        "TSTInfo genTime": tst_fields[4].end - 2,  # a seconds digit: the date stays valid
    }


def flip(token: bytes, at: int) -> bytes:
    b = bytearray(token)
    b[at] = b[at] ^ 0x01 if not 0x30 <= b[at] <= 0x39 else 0x30 + (b[at] - 0x30 + 1) % 10
    return bytes(b)


# --- the tests -----------------------------------------------------------------------------------

KINDS = ["rsa", "rsa-chain-unsorted", "ecdsa-p256", "ecdsa-p384", "ecdsa-p256-ess-v1"]


@pytest.mark.parametrize("kind", KINDS)
def test_good_tokens_verify_alike(kind: str, tsas: dict[str, Tsa], tmp_path: Path) -> None:
    t = tsas[kind]
    token = t.stamp(MESSAGE)
    assert ours(token, MESSAGE, t.ca_pem) == ("ok", "")
    assert openssl(token, MESSAGE, t.ca_path, tmp_path)
    assert package(token, MESSAGE, t.ca_pem) == "ok"
    v = vb.verify_timestamp(token, MESSAGE, vb.x509.load_pem_x509_certificates(t.ca_pem))
    assert v.tsa.startswith(("CN=Evidence Test TSA", "CN=EC TSA"))


def test_the_token_kinds_are_what_they_say(tsas: dict[str, Tsa]) -> None:
    """The ECDSA tokens really are ECDSA on their curve, the RSA ones RSA, and the chained one
    really has its certificate SET out of DER order (else the tests above prove less)."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    for kind, want in [("rsa", rsa.RSAPublicKey), ("ecdsa-p256", ec.EllipticCurvePublicKey),
                       ("ecdsa-p384", ec.EllipticCurvePublicKey)]:
        token = tsas[kind].stamp(MESSAGE)
        _, content = vb.der_parse(token, vb.SEQ).children()
        sd = content.children()[0].children()
        certs = [vb.x509.load_der_x509_certificate(c.der)
                 for c in next(t for t in sd[3:-1] if t.tag == vb.CTX0).children()]
        key = vb.find_signer(sd[-1].children()[0].children()[1], certs).public_key()
        assert isinstance(key, want)
        if kind.startswith("ecdsa"):
            assert key.curve.name == {"ecdsa-p256": "secp256r1", "ecdsa-p384": "secp384r1"}[kind]
    for kind, attr in [("ecdsa-p256", vb.OID_SIGNING_CERTIFICATE_V2),
                       ("ecdsa-p256-ess-v1", vb.OID_SIGNING_CERTIFICATE)]:
        token = tsas[kind].stamp(MESSAGE)
        _, content = vb.der_parse(token, vb.SEQ).children()
        si = content.children()[0].children()[-1].children()[0].children()
        assert [vb.der_oid(a.children()[0]) for a in si[3].children()
                if vb.der_oid(a.children()[0]).startswith("1.2.840.113549.1.9.16.2.")] == [attr]
    token = tsas["rsa-chain-unsorted"].stamp(MESSAGE)
    _, content = vb.der_parse(token, vb.SEQ).children()
    sd = content.children()[0].children()
    elements = [c.der for c in next(t for t in sd[3:-1] if t.tag == vb.CTX0).children()]
    assert len(elements) == 3 and elements != sorted(elements)


@pytest.mark.parametrize("kind", KINDS)
def test_damaged_tokens_fail_alike(kind: str, tsas: dict[str, Tsa], tmp_path: Path) -> None:
    t = tsas[kind]
    token = t.stamp(MESSAGE)
    for region, at in regions(token).items():
        bad = flip(token, at)
        assert bad != token and len(bad) == len(token)
        verdict, why = ours(bad, MESSAGE, t.ca_pem)
        assert verdict == "fail", (region, verdict, why)
        assert not openssl(bad, MESSAGE, t.ca_path, tmp_path), region
        # rfc3161-client words a damaged signer certificate as a chain error, which the
        # package (before docs/verdict.md) took for "untrusted"; refused either way
        assert package(bad, MESSAGE, t.ca_pem) in (
            ("fail", "untrusted") if region == "signer certificate" else ("fail",)), region
        assert why and "\n" not in why
    # what each region's damage is called
    r = regions(token)
    assert ours(flip(token, r["signature"]), MESSAGE, t.ca_pem)[1] == \
        "the CMS signature does not verify"
    assert ours(flip(token, r["signed attribute (messageDigest)"]), MESSAGE, t.ca_pem)[1] == \
        "messageDigest does not match the TSTInfo"
    assert ours(flip(token, r["TSTInfo genTime"]), MESSAGE, t.ca_pem)[1] == \
        "messageDigest does not match the TSTInfo"
    assert "ESSCertID" in ours(flip(token, r["signer certificate"]), MESSAGE, t.ca_pem)[1]


@pytest.mark.parametrize("kind", KINDS)
def test_other_data_and_other_root_alike(kind: str, tsas: dict[str, Tsa], tmp_path: Path) -> None:
    t = tsas[kind]
    token = t.stamp(MESSAGE)
    other = MESSAGE + b"x"
    assert ours(token, other, t.ca_pem) == ("fail", "it time-stamps other data than this "
                                            "checkpoint")
    assert not openssl(token, other, t.ca_path, tmp_path)
    # another kind's root: the chain ends at a root nobody pinned -> untrusted (skipped)
    stranger = tsas["ecdsa-p256" if kind != "ecdsa-p256" else "rsa"]
    assert ours(token, MESSAGE, stranger.ca_pem)[0] == "untrusted"
    assert not openssl(token, MESSAGE, stranger.ca_path, tmp_path)
    assert package(token, MESSAGE, stranger.ca_pem) == "untrusted"


@pytest.mark.parametrize("variant,want", [
    ("untrusted", "untrusted"), ("expired", "fail"), ("no-eku", "fail"),
    ("noncritical-eku", "fail"),
])
def test_bad_tsas_alike(variant: str, want: str, tsa_variant, tsa: LocalTSA,
                        tmp_path: Path) -> None:
    t = tsa_variant(variant)
    token = request_timestamp(t.url, MESSAGE, timeout=30).token
    assert ours(token, MESSAGE, tsa.ca_cert_pem)[0] == want
    assert package(token, MESSAGE, tsa.ca_cert_pem) == want
    assert not openssl(token, MESSAGE, tsa.ca_pem_path, tmp_path)


def test_garbage_and_truncation_fail_cleanly(tsas: dict[str, Tsa]) -> None:
    t = tsas["rsa"]
    token = t.stamp(MESSAGE)
    for bad in (b"", b"\x30\x00", b"\x30\x80\x00\x00", token[:-1], token + b"\x00",
                token[:100], b"\x31" + token[1:]):
        verdict, why = ours(bad, MESSAGE, t.ca_pem)
        assert verdict == "fail" and "\n" not in why, bad[:8]


# --- tokens built here: RSA-PSS, a signer named by subjectKeyIdentifier -------------------------
# OpenSSL's `ts -reply` signs only PKCS#1 v1.5 or ECDSA, and names the signer by issuer and
# serial number. These tokens are put together from the DER pieces with the script's encoder
# (the TSTInfo is a real one from the local TSA) and cross-checked with `openssl cms -verify`.


def _cert(subject: str, key: Any, issuer: Any = None, issuer_key: Any = None, *,
          ca: bool = False, extra: tuple[tuple[Any, bool], ...] = (),
          ski: bytes | None = None, issuer_name: str | None = None) -> Any:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.now(UTC)
    b = (x509.CertificateBuilder().subject_name(name)
         .issuer_name(issuer.subject if issuer else x509.Name([x509.NameAttribute(
             NameOID.COMMON_NAME, issuer_name)]) if issuer_name else name)
         .public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
         .add_extension(x509.SubjectKeyIdentifier(ski) if ski else
                        x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                        critical=False))
    if not ca:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
                            critical=True)
    for ext, critical in extra:
        b = b.add_extension(ext, critical=critical)
    return b.sign(issuer_key or key, hashes.SHA256())


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.append(0x80 | arc & 0x7F)
        body += bytes(reversed(chunk))
    return vb.der_encode(vb.OID, bytes(body))


def _seq(*parts: bytes) -> bytes:
    return vb.der_encode(vb.SEQ, b"".join(parts))


def _int(n: int) -> bytes:
    return vb.der_encode(vb.INT, n.to_bytes(n.bit_length() // 8 + 1, "big", signed=True))


def built_token(tst_info: bytes, *, pss: bool = True, by_ski: bool = False,
                attrs_unsorted: bool = False, sign_sorted: bool = False,
                signer_extra: tuple[tuple[Any, bool], ...] = (),
                sd_version: int = 3, si_version: int | None = None,
                listed: tuple[str, ...] = ("2.16.840.1.101.3.4.2.1",),
                digest_params: bytes = b"", sig_params: bytes = b"",
                root_ski: bytes | None = None, signer_aki: bool = False,
                root_issuer: str | None = None) -> tuple[bytes, bytes]:
    """A TimeStampToken over ``tst_info`` and the PEM of its root. ``attrs_unsorted``: the
    signed attributes stored out of DER order, signed as stored or (``sign_sorted``) as
    their DER re-encoding. The rest changes one field of a well-formed token: the
    SignedData and SignerInfo versions, the digests SignedData lists, parameters after the
    SignerInfo's digest and (PKCS#1) signature algorithm OIDs, the root's
    subjectKeyIdentifier and whether the signer carries an authorityKeyIdentifier."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root = _cert("Built Root", root_key, ca=True, ski=root_ski, issuer_name=root_issuer)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if signer_aki:  # the identifier of the root's real key, whatever the root says
        signer_extra = (*signer_extra, (vb.x509.AuthorityKeyIdentifier.from_issuer_public_key(
            root_key.public_key()), False))
    signer = _cert("Built TSA", key, root, root_key, extra=signer_extra)
    cert_der = signer.public_bytes(serialization.Encoding.DER)
    sha256 = _seq(_oid("2.16.840.1.101.3.4.2.1"), digest_params)
    attrs = [
        _seq(_oid(vb.OID_CONTENT_TYPE), vb.der_set_of([_oid(vb.OID_TST_INFO)])),
        _seq(_oid(vb.OID_MESSAGE_DIGEST), vb.der_set_of([vb.der_encode(
            vb.OCTETS, hashlib.sha256(tst_info).digest())])),
        _seq(_oid(vb.OID_SIGNING_CERTIFICATE_V2), vb.der_set_of([_seq(_seq(_seq(
            vb.der_encode(vb.OCTETS, hashlib.sha256(cert_der).digest()))))])),
    ]
    in_token = b"".join(sorted(attrs, reverse=attrs_unsorted))  # the order as stored
    # what is signed: the SET OF (tag 0x31) as stored, or its DER re-encoding
    signed = vb.der_set_of(attrs) if sign_sorted else vb.der_encode(vb.SET, in_token)
    if pss:
        sig = key.sign(signed, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                       hashes.SHA256())
        sig_alg = _seq(_oid(vb.OID_RSA_PSS), _seq(
            vb.der_encode(vb.CTX0, sha256),
            vb.der_encode(vb.CTX1, _seq(_oid(vb.OID_MGF1), sha256)),
            vb.der_encode(vb.CTX2, _int(32))))
    else:
        sig = key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
        sig_alg = _seq(_oid("1.2.840.113549.1.1.11"), sig_params)
    if by_ski:
        ski = signer.extensions.get_extension_for_class(vb.x509.SubjectKeyIdentifier).value
        sid = vb.der_encode(0x80, ski.digest)
    else:
        sid = _seq(vb.cert_issuer_der(signer), _int(signer.serial_number))
    if si_version is None:
        si_version = 3 if by_ski else 1
    signer_info = _seq(_int(si_version), sid, sha256,
                       vb.der_encode(vb.CTX0, in_token), sig_alg,
                       vb.der_encode(vb.OCTETS, sig))
    signed_data = _seq(_int(sd_version), vb.der_set_of([_seq(_oid(o)) for o in listed]),
                       _seq(_oid(vb.OID_TST_INFO),
                            vb.der_encode(vb.CTX0, vb.der_encode(vb.OCTETS, tst_info))),
                       vb.der_encode(vb.CTX0, cert_der), vb.der_set_of([signer_info]))
    token = _seq(_oid(vb.OID_SIGNED_DATA), vb.der_encode(vb.CTX0, signed_data))
    return token, root.public_bytes(serialization.Encoding.PEM)


def openssl_cms(token: bytes, ca_pem: bytes, tmp: Path) -> bool:
    """`openssl cms -verify`: the CMS signature and the chain (any purpose; the EKU and
    the imprint are RFC 3161's and checked by the script)."""
    (tmp / "tok.der").write_bytes(token)
    (tmp / "ca.pem").write_bytes(ca_pem)
    p = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-in", "tok.der",
                        "-CAfile", "ca.pem", "-purpose", "any", "-out", "/dev/null"],
                       cwd=tmp, capture_output=True, text=True, check=False)
    return p.returncode == 0


def _tst_info(token: bytes) -> bytes:
    sd = vb.der_parse(token, vb.SEQ).children()[1].children()[0].children()
    return sd[2].children()[1].children()[0].value


@pytest.mark.parametrize("pss,by_ski,unsorted", [
    (True, False, False), (True, True, False), (False, True, False), (False, False, True),
])
def test_built_tokens(pss: bool, by_ski: bool, unsorted: bool, tsas: dict[str, Tsa],
                      tmp_path: Path) -> None:
    """RSA-PSS, a signer named by subjectKeyIdentifier, signed attributes out of DER order:
    the script and OpenSSL agree, on the good token and on a damaged signature."""
    tst = _tst_info(tsas["rsa"].stamp(MESSAGE))
    token, ca_pem = built_token(tst, pss=pss, by_ski=by_ski, attrs_unsorted=unsorted)
    assert openssl_cms(token, ca_pem, tmp_path)
    assert ours(token, MESSAGE, ca_pem) == ("ok", "")
    bad = bytearray(token)
    bad[-1] ^= 1  # the signature's last byte
    assert not openssl_cms(bytes(bad), ca_pem, tmp_path)
    assert ours(bytes(bad), MESSAGE, ca_pem) == ("fail", "the CMS signature does not verify")


def test_unsorted_attributes_signed_in_another_order_fail_alike(tsas: dict[str, Tsa],
                                                                 tmp_path: Path) -> None:
    """Stored out of order but signed over the sorted form: OpenSSL (and the page) check the
    bytes as stored, and so does the script: both refuse it."""
    tst = _tst_info(tsas["rsa"].stamp(MESSAGE))
    token, ca_pem = built_token(tst, pss=False, attrs_unsorted=True, sign_sorted=True)
    assert not openssl_cms(token, ca_pem, tmp_path)
    assert ours(token, MESSAGE, ca_pem) == ("fail", "the CMS signature does not verify")


def test_pss_parameters_are_read_strictly(tsas: dict[str, Tsa]) -> None:
    """SHA-1 defaults, another MGF1 hash, or a trailer field other than 1 are refused."""
    tst = _tst_info(tsas["rsa"].stamp(MESSAGE))
    token, _ = built_token(tst, pss=True)
    sha256 = _seq(_oid("2.16.840.1.101.3.4.2.1"))
    sha384 = _seq(_oid("2.16.840.1.101.3.4.2.2"))
    good = _seq(vb.der_encode(vb.CTX0, sha256),
                vb.der_encode(vb.CTX1, _seq(_oid(vb.OID_MGF1), sha256)),
                vb.der_encode(vb.CTX2, _int(32)))
    assert good in token
    for params in (
        _seq(),  # every default: SHA-1
        _seq(vb.der_encode(vb.CTX0, sha256),
             vb.der_encode(vb.CTX1, _seq(_oid(vb.OID_MGF1), sha384)),
             vb.der_encode(vb.CTX2, _int(32))),
        _seq(vb.der_encode(vb.CTX0, sha256),
             vb.der_encode(vb.CTX1, _seq(_oid(vb.OID_MGF1), sha256)),
             vb.der_encode(vb.CTX2, _int(32)), vb.der_encode(vb.CTX3, _int(2))),
    ):
        with pytest.raises(vb.Fail, match="RSA-PSS"):
            vb.pss_padding(vb.der_parse(params, vb.SEQ), "2.16.840.1.101.3.4.2.1")
    assert vb.pss_padding(vb.der_parse(good, vb.SEQ), "2.16.840.1.101.3.4.2.1") is not None


# --- the DER reader and genTime, strict ----------------------------------------------------------


@pytest.mark.parametrize("data,ok", [
    (b"\x04\x01\x00", True),
    (b"\x04\x81\x01\x00", False),  # a long-form length that fits the short form
    (b"\x04\x82\x00\x01\x00", False),  # a leading zero length octet
    (b"\x30\x80\x00\x00", False),  # indefinite length (BER)
    (b"\x04\x02\x00", False),  # runs past the end
    (b"\x04\x01\x00\x00", False),  # a trailing byte
    (b"\x1f\x01\x01\x00", False),  # a high tag number
    (b"\x04\x85\x00\x00\x00\x00\x01\x00", False),  # five length octets
])
def test_der_framing_is_strict(data: bytes, ok: bool) -> None:
    if ok:
        assert vb.der_parse(data, data[0]).value == data[2:]
    else:
        with pytest.raises(vb.Fail, match="DER"):
            vb.der_parse(data, data[0])


def test_oid_and_integer_are_minimal() -> None:
    assert vb.der_oid(vb.der_parse(bytes.fromhex("06092a864886f70d010702"), vb.OID)) == \
        vb.OID_SIGNED_DATA
    for bad in ("0603808101", "0600", "06022a86"):  # a 0x80 pad, empty, unterminated
        with pytest.raises(vb.Fail):
            vb.der_oid(vb.der_parse(bytes.fromhex(bad), vb.OID))
    assert vb.der_int(vb.der_parse(b"\x02\x02\x00\x80", vb.INT)) == 128
    for bad in (b"\x02\x02\x00\x7f", b"\x02\x02\xff\x80", b"\x02\x00"):
        with pytest.raises(vb.Fail):
            vb.der_int(vb.der_parse(bad, vb.INT))


@pytest.mark.parametrize("text,ok", [
    (b"20261206211500Z", True), (b"20261206211500.5Z", True), (b"20261206211500.123456Z", True),
    (b"20261206211500.50Z", False),  # a trailing zero in the fraction is not DER
    (b"20261206211500.Z", False), (b"20261206211500", False), (b"20261206211500+0800", False),
    (b"202612062115Z", False), (b"20261306211500Z", False), (b"20261206241500Z", False),
])
def test_gen_time_is_parsed_strictly(text: bytes, ok: bool, tsas: dict[str, Tsa]) -> None:
    """A real TSTInfo with its genTime replaced (the length fixed up around it)."""
    token = tsas["rsa"].stamp(MESSAGE)
    sd = vb.der_parse(token, vb.SEQ).children()[1].children()[0].children()
    tst = sd[2].children()[1].children()[0].value
    f = vb.der_parse(tst, vb.SEQ).children()
    body = b"".join(t.der for t in f[:4]) + vb.der_encode(vb.GENTIME, text) + \
        b"".join(t.der for t in f[5:])
    if ok:
        gen_time = vb.read_tst_info(vb.der_encode(vb.SEQ, body), MESSAGE)[0]
        assert gen_time.tzinfo is not None and gen_time.year == 2026
    else:
        with pytest.raises(vb.Fail, match="genTime"):
            vb.read_tst_info(vb.der_encode(vb.SEQ, body), MESSAGE)


def test_signer_key_usage_and_unknown_critical_extensions(tsas: dict[str, Tsa],
                                                          tmp_path: Path) -> None:
    from cryptography import x509

    tst = _tst_info(tsas["rsa"].stamp(MESSAGE))
    unknown = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"),
                                         b"\x05\x00")
    token, ca_pem = built_token(tst, pss=False, signer_extra=((unknown, True),))
    assert not openssl_cms(token, ca_pem, tmp_path)
    verdict, why = ours(token, MESSAGE, ca_pem)
    assert verdict == "fail" and "critical extension" in why
    token, ca_pem = built_token(tst, pss=False, signer_extra=((unknown, False),))
    assert openssl_cms(token, ca_pem, tmp_path) and ours(token, MESSAGE, ca_pem)[0] == "ok"
    ku = x509.KeyUsage(digital_signature=False, content_commitment=False,
                       key_encipherment=True, data_encipherment=False, key_agreement=False,
                       key_cert_sign=False, crl_sign=False, encipher_only=False,
                       decipher_only=False)
    token, ca_pem = built_token(tst, pss=False, signer_extra=((ku, True),))
    assert ours(token, MESSAGE, ca_pem) == ("fail", "the TSA certificate's keyUsage does not "
                                            "allow signatures")


# --- RFC 5652 structure, read strictly: versions, digestAlgorithms, parameters -------------------

NULL = b"\x05\x00"


def package_whole(token: bytes, ca_pem: bytes) -> str:
    """The package as a bundle uses it: integrity (step 1), then the strict verification."""
    try:
        pkg_ts.verify_token_integrity(token, MESSAGE)
    except pkg_ts.TimestampError:
        return "fail"
    return package(token, MESSAGE, ca_pem)


def _unnamed_tst_info(tsa: Tsa) -> bytes:
    """A real TSTInfo over MESSAGE without its tsa [0] name, so that `openssl ts -verify`
    can check a token signed by a built TSA certificate (it compares that name)."""
    f = vb.der_parse(_tst_info(tsa.stamp(MESSAGE)), vb.SEQ).children()
    return vb.der_encode(vb.SEQ, b"".join(t.der for t in f if t.tag != vb.CTX0))


@pytest.mark.parametrize("change,why", [
    ({"sd_version": 1}, "SignedData version is not 3"),
    ({"sd_version": 4}, "SignedData version is not 3"),
    ({"si_version": 3}, "SignerInfo version"),
    ({"si_version": 1, "by_ski": True}, "SignerInfo version"),
    ({"listed": ("2.16.840.1.101.3.4.2.2",)}, "does not list the signer's digest"),
    ({"listed": ()}, "does not list the signer's digest"),
    ({"digest_params": b"\x04\x00"}, "has parameters where none are allowed"),
    ({"digest_params": b"\x05\x01\x00"}, "has parameters where none are allowed"),
    ({"sig_params": b"\x04\x00"}, "has parameters where none are allowed"),
    ({"sig_params": b"\x30\x00"}, "has parameters where none are allowed"),
])
def test_signed_data_structure_is_strict(change: dict[str, Any], why: str,
                                         tsas: dict[str, Tsa], tmp_path: Path) -> None:
    """One field of a well-formed built token changed (and signed as changed, so only the
    structure is wrong): the script refuses it, saying what, and so does the package's
    integrity step; what OpenSSL says is in the assertion message for the record."""
    tst = _tst_info(tsas["rsa"].stamp(MESSAGE))
    token, ca_pem = built_token(tst, pss=False, **change)
    verdict, reason = ours(token, MESSAGE, ca_pem)
    note = f"openssl cms: {openssl_cms(token, ca_pem, tmp_path)}"
    assert verdict == "fail" and why in reason, (reason, note)
    assert package_whole(token, ca_pem) == "fail", note


@pytest.mark.parametrize("change", [
    {}, {"digest_params": NULL}, {"sig_params": NULL},
    {"listed": ("2.16.840.1.101.3.4.2.1", "2.16.840.1.101.3.4.2.3")},
])
def test_signed_data_structure_allowed(change: dict[str, Any], tsas: dict[str, Tsa],
                                       tmp_path: Path) -> None:
    """Parameters absent or exactly NULL, a signer named by subjectKeyIdentifier with
    version 3, more digests listed than used: the script, the package and OpenSSL accept."""
    tst = _tst_info(tsas["rsa"].stamp(MESSAGE))
    token, ca_pem = built_token(tst, pss=False, **change)
    assert openssl_cms(token, ca_pem, tmp_path)
    assert ours(token, MESSAGE, ca_pem) == ("ok", "")
    assert package_whole(token, ca_pem) == "ok"


def test_signer_named_by_key_identifier(tsas: dict[str, Tsa], tmp_path: Path) -> None:
    """SignerInfo version 3 naming the signer by subjectKeyIdentifier (RFC 5652 5.3):
    OpenSSL and the script accept it."""
    tst = _tst_info(tsas["rsa"].stamp(MESSAGE))
    token, ca_pem = built_token(tst, pss=False, by_ski=True)
    assert openssl_cms(token, ca_pem, tmp_path)
    assert ours(token, MESSAGE, ca_pem) == ("ok", "")


def test_package_integrity_finds_a_signer_named_by_key_identifier(tsas: dict[str, Tsa]
                                                                   ) -> None:
    """Step 1 (integrity, whatever TSA made the token) finds the signer by its
    subjectKeyIdentifier as by issuerAndSerialNumber, so a token of a TSA the court did not
    pin is skipped as the script and the page skip it, not failed; an identifier that names
    no carried certificate still fails."""
    tst = _tst_info(tsas["rsa"].stamp(MESSAGE))
    token, _ = built_token(tst, pss=False, by_ski=True)
    pkg_ts.verify_token_integrity(token, MESSAGE)
    sid = vb.der_parse(token, vb.SEQ).children()[1].children()[0].children()[-1] \
        .children()[0].children()[1]
    assert sid.tag == 0x80
    at = token.index(sid.der) + len(sid.der) - 1
    other = token[:at] + bytes([token[at] ^ 1]) + token[at + 1:]
    with pytest.raises(pkg_ts.UntrustedTimestampChain, match="does not carry"):
        pkg_ts.verify_token_integrity(other, MESSAGE)
    # the court pins another TSA's root: the script skips the token (step 2), and the
    # package, whose step 1 now passes, reaches step 2 and skips it too (bundle_time.py)
    assert ours(token, MESSAGE, tsas["rsa"].ca_pem)[0] == "untrusted"


@pytest.mark.xfail(strict=True, reason="the package's strict step (rfc3161-client) cannot "
                   "parse a SignerInfo that names its signer by subjectKeyIdentifier; "
                   "docs/verdict.md section 5")
def test_package_accepts_a_signer_named_by_key_identifier(tsas: dict[str, Tsa]) -> None:
    tst = _tst_info(tsas["rsa"].stamp(MESSAGE))
    token, ca_pem = built_token(tst, pss=False, by_ski=True)
    assert package_whole(token, ca_pem) == "ok"


def openssl_ts(token: bytes, ca_pem: bytes, tmp: Path) -> bool:
    (tmp / "tok.der").write_bytes(token)
    (tmp / "ca.pem").write_bytes(ca_pem)
    p = subprocess.run(["openssl", "ts", "-verify", "-in", "tok.der", "-token_in", "-digest",
                        hashlib.sha256(MESSAGE).hexdigest(), "-CAfile", "ca.pem"],
                       cwd=tmp, capture_output=True, text=True, check=False)
    return p.returncode == 0 and "Verification: OK" in p.stdout


def test_issuer_matching_uses_key_identifiers(tsas: dict[str, Tsa], tmp_path: Path) -> None:
    """docs/verdict.md section 1, step 2: the signer's authorityKeyIdentifier names the
    root's real key, the pinned root (same name, same key) claims another
    subjectKeyIdentifier. OpenSSL finds no issuer; the package fails the token; so does the
    script (not 'untrusted': a root named and signed by is pinned). With the identifiers
    equal, all three accept."""
    tst = _unnamed_tst_info(tsas["rsa"])
    token, ca_pem = built_token(tst, pss=False, signer_aki=True)
    assert openssl_ts(token, ca_pem, tmp_path)
    assert ours(token, MESSAGE, ca_pem) == ("ok", "")
    assert package_whole(token, ca_pem) == "ok"
    token, ca_pem = built_token(tst, pss=False, signer_aki=True, root_ski=b"\x5a" * 20)
    assert not openssl_ts(token, ca_pem, tmp_path)
    verdict, reason = ours(token, MESSAGE, ca_pem)
    assert verdict == "fail" and "subjectKeyIdentifier" in reason, reason
    # the package's strict step reports the chain error; its bundle check fails the token
    # because the pinned root names the issuer (trust-sweep bytes 393 and 713)
    assert package_whole(token, ca_pem) == "untrusted"
    # without an authorityKeyIdentifier in the signer there is nothing to compare
    token, ca_pem = built_token(tst, pss=False, root_ski=b"\x5a" * 20)
    assert openssl_ts(token, ca_pem, tmp_path)
    assert ours(token, MESSAGE, ca_pem) == ("ok", "")


def test_a_pinned_root_must_be_self_issued(tsas: dict[str, Tsa], tmp_path: Path) -> None:
    """The pinned certificate names the signer's issuer and holds its key, but names
    another issuer itself (trust-sweep byte 393): OpenSSL ends a path only at a
    self-issued certificate and finds no issuer for it; the package fails the token, and
    so does the script."""
    tst = _unnamed_tst_info(tsas["rsa"])
    token, ca_pem = built_token(tst, pss=False, root_issuer="Some Other CA")
    assert not openssl_ts(token, ca_pem, tmp_path)
    verdict, reason = ours(token, MESSAGE, ca_pem)
    assert verdict == "fail" and "not self-issued" in reason, reason
    assert package_whole(token, ca_pem) == "untrusted"  # a chain error; the bundle fails it
