"""Shared vectors for the bundle member ``ers/item.ers`` (docs/bundle.md, docs/verdict.md
``evidence_record``): one bundle, three verifiers, one verdict.

A real ledger (tests/support/bundle_world.py, its checkpoint timestamped by the real local
OpenSSL TSA and cosigned) exports a good bundle of item ``a`` (two files); RFC 4998 records
are made for its items with the same TSA (``ledger/anchor/ers.py``), renewed, and forged;
each is put in the bundle as ``ers/item.ers`` with the manifest made to agree
(tests/verdicts/forge.py), so only the record check can catch a forgery. Every vector goes
through the package (``evidence verify``), the stand-alone script (``python -I
scripts/verify_bundle.py``) and the page (``EvidenceVerify.verifyBundle`` in Chromium).
The expected answers are written by hand from the contract."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from evidence.ledger.anchor.ers import ErsTsa, build_records, renew_hash_tree, renew_timestamps
from evidence.verify import der
from evidence.verify.evidence_record import bytes_document, parse_evidence_record
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
    tsa_pinned: bool = True


VECTORS = [
    Vector("good", "the item's record as the ledger made it", "verified"),
    Vector("good/no-tsa-pin", "no TSA root pinned", "incomplete",
           not_checked=("evidence_record", "timestamps"), tsa_pinned=False),
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
           "incomplete", not_checked=("evidence_record",)),
]
BY_NAME = {v.name: v for v in VECTORS}


@dataclass
class Corpus:
    dir: Path
    bundles: dict[str, Path]
    trust: dict[bool, Path]


def _trust(world: World, tsa: bool) -> str:
    root = x509.load_pem_x509_certificate(world.ca_pem).public_bytes(Encoding.DER)
    lines = [f"# trust for {ORIGIN}, written by tests/verdicts/test_ers_member.py",
             f"log {world.led.verifier.to_string()}",
             f"witness court-w1 {world.witness.verifier().to_string()}",
             "group court-witnesses 1 court-w1", "quorum court-witnesses"]
    if tsa:
        lines.append(f"#@ tsa local-tsa {base64.b64encode(root).decode()}")
    return "\n".join(lines) + "\n"


def _flip_signature(record: bytes, chain: int, index: int) -> bytes:
    token = parse_evidence_record(record).chains[chain][index].timestamp
    altered = token[:-5] + bytes([token[-5] ^ 1]) + token[-4:]
    assert record.count(token) == 1
    return record.replace(token, altered)


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
    }
    assert set(records) == set(BY_NAME)
    der.parse_single(records["sha512-forged-chain"], 0x30)  # still one DER element
    bundles = {}
    for name, record in records.items():
        p = out / (name.replace("/", "__") + ".zip")
        p.write_bytes(F.with_members(good, {MEMBER: record}))
        bundles[name] = p
    trust = {}
    for pinned in (True, False):
        (t := out / f"trust-{pinned}.txt").write_text(_trust(world, pinned))
        trust[pinned] = t
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
        args = [str(c.bundles[v.name]), "--trust", str(c.trust[v.tsa_pinned]), "--json"]
        if verifier == "package":
            _SEEN[key] = _command([str(Path(sys.executable).parent / "evidence"), "verify",
                                   *args], c.dir)
        elif verifier == "script":
            _SEEN[key] = _command([sys.executable, "-I", str(SCRIPT), *args], c.dir)
        else:
            runner: PageRunner = request.getfixturevalue("page_runner")
            _SEEN[key] = runner.verify(c.bundles[v.name], c.trust[v.tsa_pinned], None)
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
        if check != "timestamps" or v.tsa_pinned:
            assert states[check] == "pass", (check, o.checks)


@pytest.mark.parametrize("name", [v.name for v in VECTORS])
def test_ers_member_three_agree(name: str, corpus: Corpus,
                                request: pytest.FixtureRequest) -> None:
    v = BY_NAME[name]
    got = {w: _run(request, corpus, v, w) for w in VERIFIERS}
    states = {w: (o.verdict, o.failed_check, o.checks) for w, o in got.items()}
    assert len(set(states.values())) == 1, states
