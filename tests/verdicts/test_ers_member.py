"""Shared vectors for the bundle member ``ers/item.ers`` (docs/bundle.md, docs/verdict.md
``evidence_record``): one bundle, three verifiers, one verdict.

A real ledger (tests/support/bundle_world.py, its checkpoint timestamped by the real local
OpenSSL TSA and cosigned) exports a good bundle of item ``a`` (two files); RFC 4998 records
are made for its items with the same TSA (``ledger/anchor/ers.py``), renewed, and forged;
each is put in the bundle as ``ers/item.ers`` with the manifest made to agree
(tests/verdicts/forge.py), so only the record check can catch a forgery. Every vector goes
through the package (``evidence verify``), the stand-alone script (``python -I
scripts/verify_bundle.py``) and the page (``EvidenceVerify.verifyBundle`` in Chromium).
The expected answers are written by hand from the contract.

The record is supplementary (``required: false``): a court that pins only another of the
log's TSAs (``pin="other"``: the bundle then also carries a checkpoint token of that TSA,
``base="two-tsas"``) gets ``verified`` with ``evidence_record`` listed as not checked, while
an altered record still fails. A TSA certificate with a bad key usage is judged after the
anchor (docs/verdict.md section 1): not checked when its root is not pinned, failed when it
is, for the record's archive timestamps and for the checkpoint's tokens alike."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from evidence.ledger.anchor.ers import ErsTsa, build_records, renew_hash_tree, renew_timestamps
from evidence.ledger.anchor.tsa_client import request_timestamp
from evidence.verify import der
from evidence.verify.evidence_record import (
    bytes_document,
    document_hashes,
    leaf_hash,
    parse_evidence_record,
)
from evidence.verify.timestamp import parse_response
from tests.support.bundle_world import ORIGIN, World, build_world
from tests.support.page_runner import Outcome, PageRunner, outcome_of
from tests.support.tsa import LocalTSA
from tests.verdicts import forge as F

pytestmark = pytest.mark.tsa

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "verify_bundle.py"
VERIFIERS = ("package", "script", "page")
MEMBER = "ers/item.ers"
PASSING = ("archive", "manifest", "checkpoint", "cosignatures", "entries", "inclusion",
           "chain", "submission", "submitter", "custody", "files", "metadata", "timestamps")


@dataclass(frozen=True)
class Vector:
    name: str
    why: str
    verdict: str
    failed_check: str | None = None
    not_checked: tuple[str, ...] = ()
    pin: str = "root"  # the trust file's TSA roots: "root" (the log's TSA), "none", "other"
    # (only the untrusted variant's root), "root+bad" (the log's and the bad-EKU TSA's)
    base: str = "good"  # "two-tsas": plus a checkpoint token of the other TSA; "bad-eku":
    # plus a checkpoint token signed by a TSA certificate whose EKU is not critical;
    # "broken-chain": "two-tsas" plus a token whose carried intermediate CA was altered

    @property
    def tsa_pinned(self) -> bool:
        return self.pin != "none"


VECTORS = [
    Vector("good", "the item's record as the ledger made it", "verified"),
    Vector("good/no-tsa-pin", "no TSA root pinned", "incomplete",
           not_checked=("evidence_record", "timestamps"), pin="none"),
    Vector("renewed-timestamp", "a timestamp renewal (two archive timestamps)", "verified"),
    Vector("renewed-sha512", "timestamp then SHA-512 hash-tree renewal", "verified"),
    Vector("other-item", "the record of another item", "failed", "evidence_record"),
    Vector("forged-sibling", "a hash of the reduced tree replaced", "failed",
           "evidence_record"),
    Vector("altered-token", "a byte of the archive timestamp's CMS signature changed",
           "failed", "evidence_record"),
    Vector("altered-renewal", "a byte of the renewing timestamp's signature changed",
           "failed", "evidence_record"),
    Vector("sha512-forged-chain", "the SHA-512 chain's tree hash replaced", "failed",
           "evidence_record"),
    Vector("truncated", "the record cut short by one byte", "failed", "evidence_record"),
    Vector("trailing-byte", "a byte after the record", "failed", "evidence_record"),
    Vector("not-a-record", "the member holds a tlog-proof text", "failed", "evidence_record"),
    Vector("untrusted-tsa", "the record made by a TSA the trust file does not pin",
           "verified", not_checked=("evidence_record",)),
    Vector("genuine/other-tsa-pinned", "the log's record; the court pins only the log's "
           "other TSA, whose checkpoint token verifies", "verified",
           not_checked=("evidence_record",), pin="other", base="two-tsas"),
    Vector("altered-token/other-tsa-pinned", "the altered record, its TSA not pinned",
           "failed", "evidence_record", pin="other", base="two-tsas"),
    Vector("altered-renewal/other-tsa-pinned", "a renewal altered behind an archive "
           "timestamp of a TSA not pinned (still checked whole)", "failed",
           "evidence_record", pin="other", base="two-tsas"),
    Vector("bad-eku/unpinned", "the record stamped by a TSA certificate whose "
           "timeStamping EKU is not critical, its root not pinned", "verified",
           not_checked=("evidence_record",)),
    Vector("bad-eku/pinned", "the record stamped by a TSA certificate whose timeStamping "
           "EKU is not critical, its root pinned", "failed", "evidence_record",
           pin="root+bad"),
    Vector("timestamps/bad-eku-unpinned", "a checkpoint token by a TSA certificate whose "
           "timeStamping EKU is not critical beside the good one, its root not pinned",
           "verified", base="bad-eku"),
    Vector("timestamps/bad-eku-pinned", "a checkpoint token by a TSA certificate whose "
           "timeStamping EKU is not critical beside the good one, its root pinned", "failed",
           "timestamps", pin="root+bad", base="bad-eku"),
    Vector("timestamps/broken-chain-unpinned", "beside the others, a checkpoint token whose "
           "carried intermediate CA certificate was altered (its signature no longer "
           "verifies), its root not pinned: skipped, the chain judged only once anchored",
           "verified", not_checked=("evidence_record",), pin="other", base="broken-chain"),
    Vector("timestamps/broken-chain-pinned", "the same token, its root pinned", "failed",
           "timestamps", base="broken-chain"),
]
BY_NAME = {v.name: v for v in VECTORS}


@dataclass
class Corpus:
    dir: Path
    bundles: dict[str, Path]
    trust: dict[str, Path]


def _trust(world: World, pin: str, other_root: bytes, bad_root: bytes) -> str:
    pems = {"none": [], "root": [world.ca_pem], "other": [other_root],
            "root+bad": [world.ca_pem, bad_root]}[pin]
    lines = [f"# trust for {ORIGIN}, written by tests/verdicts/test_ers_member.py",
             f"log {world.led.verifier.to_string()}",
             f"witness court-w1 {world.witness.verifier().to_string()}",
             "group court-witnesses 1 court-w1", "quorum court-witnesses"]
    for i, pem in enumerate(pems):
        root = x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
        lines.append(f"#@ tsa tsa-{i} {base64.b64encode(root).decode()}")
    return "\n".join(lines) + "\n"


def _flip_signature(record: bytes, chain: int, index: int) -> bytes:
    token = parse_evidence_record(record).chains[chain][index].timestamp
    altered = token[:-5] + bytes([token[-5] ^ 1]) + token[-4:]
    assert record.count(token) == 1
    return record.replace(token, altered)


def _checkpoint_text(world: World) -> bytes:
    from evidence.verify.note import parse_note

    cp = world.led.checkpoint_at(world.anchored_size)
    assert cp is not None
    return parse_note(cp.note).text.encode()


def _raw_digest_token(url: str, root: bytes) -> bytes:
    """A TSA's token over a hash-tree root, not verified (the ledger's client would refuse a
    certificate without the timeStamping key usage, as it should)."""
    from evidence.ledger.anchor import tsa_client

    query = tsa_client._digest_query("2.16.840.1.101.3.4.2.1", root, 12345)
    return parse_response(tsa_client._post(url, query, timeout=30,
                                           max_reply_bytes=tsa_client.DEFAULT_MAX_REPLY_BYTES))


class BadEkuTsa:
    """A TSA whose certificate carries id-kp-timeStamping in a NON-critical
    extendedKeyUsage (RFC 3161 section 2.3 requires it critical), under its own root. It
    signs the real OpenSSL TSA's TSTInfo (so genTime, imprint and serial are a real TSA's)
    with every other field of the token well formed: step 1 of docs/verdict.md passes,
    and only step 3 (chain rules) can refuse it."""

    def __init__(self) -> None:
        from datetime import UTC, datetime, timedelta

        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        now = datetime.now(UTC)

        def cert(cn: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name | None,
                 issuer_key: ec.EllipticCurvePrivateKey, ca: bool) -> x509.Certificate:
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
            b = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name)
                 .public_key(key.public_key()).serial_number(x509.random_serial_number())
                 .not_valid_before(now - timedelta(days=1))
                 .not_valid_after(now + timedelta(days=30))
                 .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
            if not ca:
                b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
                                    critical=False)
            return b.sign(issuer_key, hashes.SHA256())

        root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = cert("Evidence Bad-EKU Root CA", root_key, None, root_key, True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = cert("Evidence Bad-EKU TSA", self.key, self.root.subject, root_key, False)
        self.root_pem = self.root.public_bytes(Encoding.PEM)

    def resign(self, token: bytes) -> bytes:
        """The token's TSTInfo in a new SignedData signed by this TSA (ESSCertIDv2,
        messageDigest, contentType; ECDSA with SHA-256)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        from evidence.ledger.anchor.ers import _algorithm_id

        t = der.encode_tlv
        ci = der.children(token, der.parse_single(token, 0x30))
        sd = der.children(token, der.children(token, ci[1])[0])
        (octets,) = der.children(token, der.children(token, sd[2])[1])
        tst_info = token[octets.value_start:octets.end]
        oid = lambda dotted: _oid_der(dotted)  # noqa: E731
        cert_der = self.cert.public_bytes(Encoding.DER)
        sha256 = t(0x30, _algorithm_id("sha256"))
        attrs = der.set_of_order([
            t(0x30, oid("1.2.840.113549.1.9.3") + t(0x31, oid("1.2.840.113549.1.9.16.1.4"))),
            t(0x30, oid("1.2.840.113549.1.9.4") + t(0x31, t(0x04, hashlib.sha256(
                tst_info).digest()))),
            t(0x30, oid("1.2.840.113549.1.9.16.2.47") + t(0x31, t(0x30, t(0x30, t(0x30, t(
                0x04, hashlib.sha256(cert_der).digest())))))),
        ])
        signature = self.key.sign(t(0x31, b"".join(attrs)), ec.ECDSA(hashes.SHA256()))
        serial = self.cert.serial_number
        sid = t(0x30, self.cert.issuer.public_bytes() + t(0x02, serial.to_bytes(
            serial.bit_length() // 8 + 1, "big")))
        signer_info = t(0x30, b"\x02\x01\x01" + sid + sha256 + t(0xA0, b"".join(attrs))
                        + t(0x30, oid("1.2.840.10045.4.3.2")) + t(0x04, signature))
        signed_data = t(0x30, b"\x02\x01\x03" + t(0x31, sha256)
                        + t(0x30, oid("1.2.840.113549.1.9.16.1.4") + t(0xA0, t(0x04, tst_info)))
                        + t(0xA0, cert_der) + t(0x31, signer_info))
        return t(0x30, oid("1.2.840.113549.1.7.2") + t(0xA0, signed_data))


def _oid_der(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.append(0x80 | (arc & 0x7F))
        body += bytes(reversed(chunk))
    return der.encode_tlv(0x06, bytes(body))


def _record_by(url: str, files: list[bytes], stamp: Callable[[bytes], bytes]) -> bytes:
    """Item a's one-item record (no siblings: the root is its data group's node), its token
    from the TSA at ``url`` passed through ``stamp``; ledger/anchor/ers.py's layout."""
    from evidence.ledger.anchor import ers as E

    docs = [bytes_document(b) for b in files]
    hashes = document_hashes("sha256", docs, None)
    token = stamp(_raw_digest_token(url, leaf_hash("sha256", docs)))
    chain = der.encode_tlv(0x30, E._ats("sha256", [hashes], token))
    return E._record(["sha256"], [chain])


def _altered_intermediate(token: bytes) -> bytes:
    """The token (of the quirky TSA: signer, intermediate CA, root) with one byte of the
    intermediate certificate's signature changed: the signed content and the CMS signature
    are whole (step 1 passes), the chain link is not (step 3)."""
    from evidence.verify.timestamp import token_certificates

    (inter,) = [c for c in token_certificates(token)
                if "Intermediate" in x509.load_der_x509_certificate(c).subject.rfc4514_string()]
    assert token.count(inter) == 1
    return token.replace(inter, inter[:-3] + bytes([inter[-3] ^ 1]) + inter[-2:])


def _replace_tree_hash(record: bytes, chain: int) -> bytes:
    tree = parse_evidence_record(record).chains[chain][0].reduced_hashtree
    assert tree is not None
    old = tree[-1][0]
    assert record.count(old) == 1
    return record.replace(old, hashlib.new("sha256" if len(old) == 32 else "sha512",
                                           b"forged").digest())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> Iterator[World]:
    w = build_world(tmp_path_factory.mktemp("ers-verdicts"), tsa.url, tsa.ca_cert_pem,
                    tsa.ca_pem_path)
    yield w
    w.led.close()


@pytest.fixture(scope="module")
def corpus(world: World, tsa: LocalTSA, tsa_variant: Callable[[str], LocalTSA],
           tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    out = tmp_path_factory.mktemp("ers-vectors")
    good = world.export(world.a)
    files_a = [p.read_bytes() for p in world.files_a]
    items = [[bytes_document(b) for b in files_a], [bytes_document(b"another item")],
             [bytes_document(b"a third")]]
    ep = ErsTsa(tsa.url, (tsa.ca_cert_pem,))
    first = build_records(items, ep)
    renewed = renew_timestamps(first, items, ep)
    rehashed = renew_hash_tree(renewed, items, ep)
    other = tsa_variant("untrusted")
    foreign = build_records(items, ErsTsa(other.url, (other.ca_cert_pem,)))
    bad = BadEkuTsa()
    bad_eku = _record_by(tsa.url, files_a, bad.resign)
    text = _checkpoint_text(world)
    other_token = request_timestamp(other.url, text, timeout=30).token
    bad_token = bad.resign(request_timestamp(tsa.url, text, timeout=30).token)
    broken = _altered_intermediate(request_timestamp(tsa_variant("quirky").url, text,
                                                     timeout=30).token)
    two_tsas = F.add_token(good, other_token, F.certificates_pem(other_token),
                           tsa="tsa-other")
    bases = {"good": good, "two-tsas": two_tsas,
             "bad-eku": F.add_token(good, bad_token, bad.cert.public_bytes(Encoding.PEM),
                                    tsa="tsa-bad-eku"),
             "broken-chain": F.add_token(two_tsas, broken, F.certificates_pem(broken),
                                         tsa="tsa-quirky")}
    records = {
        "good": first[0], "good/no-tsa-pin": first[0], "renewed-timestamp": renewed[0],
        "renewed-sha512": rehashed[0], "other-item": first[1],
        "forged-sibling": _replace_tree_hash(first[0], 0),
        "altered-token": _flip_signature(first[0], 0, 0),
        "altered-renewal": _flip_signature(renewed[0], 0, 1),
        "sha512-forged-chain": _replace_tree_hash(rehashed[0], 1),
        "truncated": first[0][:-1], "trailing-byte": first[0] + b"\x00",
        "not-a-record": b"c2sp.org/tlog-proof@v1\nindex 1\n",
        "untrusted-tsa": foreign[0],
        "genuine/other-tsa-pinned": first[0],
        "altered-token/other-tsa-pinned": _flip_signature(first[0], 0, 0),
        "altered-renewal/other-tsa-pinned": _flip_signature(renewed[0], 0, 1),
        "bad-eku/unpinned": bad_eku, "bad-eku/pinned": bad_eku,
        "timestamps/bad-eku-unpinned": first[0], "timestamps/bad-eku-pinned": first[0],
        "timestamps/broken-chain-unpinned": first[0],
        "timestamps/broken-chain-pinned": first[0],
    }
    assert set(records) == set(BY_NAME)
    der.parse_single(records["sha512-forged-chain"], 0x30)  # still one DER element
    bundles = {}
    for name, record in records.items():
        p = out / (name.replace("/", "__") + ".zip")
        p.write_bytes(F.with_members(bases[BY_NAME[name].base], {MEMBER: record}))
        bundles[name] = p
    trust = {}
    for pin in ("root", "none", "other", "root+bad"):
        (t := out / f"trust-{pin}.txt").write_text(_trust(world, pin, other.ca_cert_pem,
                                                          bad.root_pem))
        trust[pin] = t
    return Corpus(out, bundles, trust)


def _command(argv: list[str], cwd: Path) -> Outcome:
    p = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=300)
    lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
    report = json.loads(lines[0]) if len(lines) == 1 else None
    return outcome_of(report, p.returncode, f"exit {p.returncode}; {p.stderr[-1500:]}")


@pytest.fixture(scope="module")
def page_runner(request: pytest.FixtureRequest) -> PageRunner:
    return PageRunner(request)


_SEEN: dict[tuple[str, str], Outcome] = {}


def _run(request: pytest.FixtureRequest, c: Corpus, v: Vector, verifier: str) -> Outcome:
    key = (v.name, verifier)
    if key not in _SEEN:
        args = [str(c.bundles[v.name]), "--trust", str(c.trust[v.pin]), "--json"]
        if verifier == "package":
            _SEEN[key] = _command([str(Path(sys.executable).parent / "evidence"), "verify",
                                   *args], c.dir)
        elif verifier == "script":
            _SEEN[key] = _command([sys.executable, "-I", str(SCRIPT), *args], c.dir)
        else:
            runner: PageRunner = request.getfixturevalue("page_runner")
            _SEEN[key] = runner.verify(c.bundles[v.name], c.trust[v.pin], None)
    return _SEEN[key]


@pytest.mark.parametrize("name,verifier", [pytest.param(v.name, w, id=f"{v.name}:{w}")
                                           for v in VECTORS for w in VERIFIERS])
def test_ers_member_verdict(name: str, verifier: str, corpus: Corpus,
                            request: pytest.FixtureRequest) -> None:
    v = BY_NAME[name]
    o = _run(request, corpus, v, verifier)
    assert (o.verdict, o.failed_check, o.not_checked) == (
        v.verdict, v.failed_check, tuple(sorted(v.not_checked))), (
        f"{verifier} on {v.name} ({v.why}): {o.verdict} {o.failed_check} {o.checks} "
        f"{o.diagnostics[-800:] if o.diagnostics else ''}")
    states = dict(o.checks)
    assert "evidence_record" in states, o.checks
    for check in PASSING:  # the record is all that differs from the good bundle
        if check != "timestamps" or (v.tsa_pinned and v.failed_check != "timestamps"):
            assert states[check] == "pass", (check, o.checks)
    record = next(c for c in o.report["checks"] if c["name"] == "evidence_record")
    assert record["required"] is False, record  # supplementary in all three (section 1)


@pytest.mark.parametrize("name", [v.name for v in VECTORS])
def test_ers_member_three_agree(name: str, corpus: Corpus,
                                request: pytest.FixtureRequest) -> None:
    v = BY_NAME[name]
    got = {w: _run(request, corpus, v, w) for w in VERIFIERS}
    states = {w: (o.verdict, o.failed_check, o.checks) for w, o in got.items()}
    assert len(set(states.values())) == 1, states


def test_a_supplementary_check_not_made_is_shown_under_green(corpus: Corpus) -> None:
    """The court pinning only the other TSA reads green, and is told the record was not
    checked and why: the package's and the script's text output (exit 0) name it."""
    v = BY_NAME["genuine/other-tsa-pinned"]
    args = [str(corpus.bundles[v.name]), "--trust", str(corpus.trust[v.pin])]
    for argv in ([str(Path(sys.executable).parent / "evidence"), "verify", *args],
                 [sys.executable, "-I", str(SCRIPT), *args]):
        p = subprocess.run(argv, capture_output=True, text=True, cwd=corpus.dir, timeout=300,
                           env={**os.environ, "COLUMNS": "200"})
        out = " ".join(p.stdout.split())
        assert p.returncode == 0, (argv[1], p.stdout[-2000:], p.stderr[-2000:])
        assert "VERIFIED" in out and "evidence_record" in out, (argv[1], out[-2000:])
        assert "not checked" in out and "未" in out, (argv[1], out[-2000:])
