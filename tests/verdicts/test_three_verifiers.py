"""The shared verdict vectors: one bundle, three verifiers, one verdict (docs/verdict.md).

A good bundle is exported from a real ledger (tests/support/bundle_world.py), timestamped by the
real local OpenSSL TSA and cosigned by a witness; tests/verdicts/forge.py turns it into
forgeries that rewrite the manifest consistently (so only the deep check can catch them)
and into the honest variants (trust without a TSA root, ``quorum none``, provisional, a
clerk's re-zip). The court's trust file is written from the test's own keys, exactly as
docs/verdict.md section 3 lays it out.

Every vector goes through

- ``package``: ``evidence verify BUNDLE --trust T --json`` (the installed console script);
- ``script``: ``python -I scripts/verify_bundle.py BUNDLE --trust T --json`` in a venv where
  nothing but ``cryptography`` (and its ``cffi``) is importable beyond the stdlib;
- ``page``: ``EvidenceVerify.verifyBundle`` in Debian's Chromium under Playwright, with the
  trust file read by ``EvidenceVerify.parseTrustPolicy``.

``test_verdict[<vector>:<verifier>]`` says which verifier is wrong on which vector;
``test_three_agree[<vector>]`` that the three give the same verdict, failing check and
check states. The expected verdicts in ``VECTORS`` are written by hand from the contract,
never read back from a verifier. ``WEBCAPTURE_VECTORS`` (part of ``VECTORS``) are bundles of
``webcapture`` items: a real capture of a loopback site by a capture node and variants of
its files, each submitted through the intake as its own item (tests/support/bundle_world.py), with
the node pinned (``#@ capture-node``) or not; ``test_webcapture_summary`` holds the three
to one ``webcapture`` report object, ``test_every_part_of_the_wacz`` to ``failed`` at
``files`` for a WACZ changed after export. ``test_every_token_element`` goes further: one byte
changed in every DER element of the token, about 220 bundles, each verifier's own entry
point run in one process (the page in the same tab), all must say ``failed`` at
``timestamps``; ``test_every_byte_of_a_member`` does the same for other members (the three
must agree), and ``test_trust_file_means_the_same_everywhere`` for the trust file (all
refuse it, or all reach the same verdict). Answers land in test-artifacts/verdicts/.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.support.bundle_world import ORIGIN, World, build_world, members
from tests.support.page_runner import REFUSED, Outcome, PageRunner, outcome_of
from tests.support.tsa import LocalTSA
from tests.verdicts import forge as F

pytestmark = pytest.mark.tsa

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "verify_bundle.py"
ARTIFACTS = ROOT / "test-artifacts" / "verdicts"
WITNESS_NAME = "witness-a.example"  # the key name bundle_world's witness signs with
VERIFIERS = ("package", "script", "page")
#: docs/verdict.md section 2: the exit status of the CLI and the script for each verdict
EXIT_STATUS = {"verified": 0, "failed": 1, "provisional": 3, "incomplete": 3}


@dataclass(frozen=True)
class Vector:
    """One bundle, the trust file and judge's file it is checked with, and what the contract
    says every verifier must answer."""

    name: str
    why: str
    verdict: str
    failed_check: str | None = None
    not_checked: tuple[str, ...] = ()
    trust: str = "full"            # a key of Corpus.trust
    compare: str | None = None     # a key of Corpus.compare
    reported: tuple[tuple[str, str], ...] = ()  # (check, status) that must be in the report
    absent: tuple[str, ...] = ()   # checks that must not be reported


VECTORS = [
    # --- honest bundles --------------------------------------------------------------------
    Vector("good", "the exported bundle, every anchor pinned", "verified",
           absent=("webcapture",)),
    Vector("good+matching-file", "the judge's file is the preserved shop.png", "verified",
           compare="same"),
    Vector("good/no-tsa-pinned", "the trust file has no #@ tsa line", "incomplete",
           not_checked=("timestamps",), trust="no-tsa"),
    Vector("good/quorum-none", "the trust file says quorum none", "incomplete",
           not_checked=("cosignatures",), trust="quorum-none"),
    Vector("provisional", "no timestamps, manifest provisional: true", "provisional",
           not_checked=("timestamps",)),
    Vector("provisional/exported", "evidence export --provisional --checkpoint <latest>: the "
           "newest checkpoint, not yet timestamped nor cosigned (quorum none)",
           "provisional", not_checked=("cosignatures", "timestamps"), trust="quorum-none"),
    Vector("provisional-with-token", "provisional: true, the good token left in (ignored)",
           "provisional", not_checked=("timestamps",)),
    Vector("rezipped", "every member deflated by Python's zipfile (a clerk's re-zip)",
           "failed", "archive"),
    Vector("untrusted-tsa-beside", "a genuine token from a TSA the court did not pin, beside "
           "the good one (skipped)", "verified"),
    Vector("untrusted-tsa-only", "the only token is from a TSA the court did not pin",
           "incomplete", not_checked=("timestamps",)),
    # --- forgeries: bytes changed, manifest rewritten to match ------------------------------
    Vector("token/signature", "a byte of the CMS signature value", "failed", "timestamps"),
    Vector("token/signed-attrs", "a byte of the ESS certHash in the signed attributes",
           "failed", "timestamps"),
    Vector("token/message-digest", "a byte of the messageDigest signed attribute", "failed",
           "timestamps"),
    Vector("token/certificate", "a byte of the signer certificate's signature", "failed",
           "timestamps"),
    Vector("token/gen-time", "TSTInfo genTime one second off (manifest claims it too)",
           "failed", "timestamps"),
    Vector("token/signature-beside-good", "a damaged copy of the token beside the good one",
           "failed", "timestamps"),
    Vector("token/other-checkpoint", "the same TSA's token over another checkpoint, in place "
           "of the good one", "failed", "timestamps"),
    Vector("token/other-checkpoint-beside", "the same TSA's token over another checkpoint, "
           "beside the good one", "failed", "timestamps"),
    Vector("cosignature-removed", "the witness's line removed from the note, quorum 1",
           "failed", "cosignatures"),
    Vector("good+mismatching-file", "the judge's file differs from shop.png in one byte",
           "failed", "compared_files", compare="edited"),
]

#: web captures (docs/verdict.md section 6): bundles of the world's ``webcapture`` items
#: (tests/support/bundle_world.py CAPTURE_VARIANTS: each variant was submitted as its own item, so
#: the ledger proves its files), checked with the capture node pinned (trust ``capture``)
#: or not (``full``)
WEBCAPTURE_VECTORS = [
    Vector("webcapture/good", "a real capture of a loopback site, signed by the pinned node",
           "verified", trust="capture", reported=(("webcapture", "pass"),)),
    Vector("webcapture/good/node-not-pinned", "the same, no #@ capture-node in the trust file",
           "incomplete", not_checked=("webcapture",)),
    Vector("webcapture/other-node", "the manifest names and is signed by a node the court "
           "did not pin, while one node is pinned", "failed", "webcapture", trust="capture"),
    Vector("webcapture/other-node/node-not-pinned", "the same capture, no node pinned: the "
           "files hold, nothing says who made them", "incomplete",
           not_checked=("webcapture",)),
    Vector("webcapture/warc-altered", "a WARC payload changed, WACZ digests recomputed, the "
           "manifest re-signed by the pinned node, submitted that way", "failed", "webcapture",
           trust="capture"),
    Vector("webcapture/warc-altered/node-not-pinned", "the same, no node pinned: the WARC "
           "digests are still checked", "failed", "webcapture"),
    Vector("webcapture/manifest-not-canonical", "the manifest indented (not RFC 8785), signed "
           "by the pinned node", "failed", "webcapture", trust="capture"),
    Vector("webcapture/datapackage-digest", "the WACZ's datapackage-digest.json names another "
           "SHA-256, the manifest re-signed by the pinned node", "failed", "webcapture",
           trust="capture"),
    Vector("webcapture/file-missing", "page.pdf, listed in the signed manifest, is not in the "
           "item", "failed", "webcapture", trust="capture"),
    Vector("webcapture/two-files-one-name", "the item holds the capture's files and a second "
           "screenshot.png with other bytes", "failed", "webcapture", trust="capture"),
    Vector("webcapture/wacz-swapped-after-export", "the good capture's WACZ member replaced "
           "after export by another well-formed WACZ (bundle manifest rewritten to match)",
           "failed", "files", trust="capture", absent=("webcapture",)),
    Vector("good/capture-node-pinned", "the good bundle (not a web capture) with a capture "
           "node pinned: no webcapture check", "verified", trust="capture",
           absent=("webcapture",)),
]
VECTORS += WEBCAPTURE_VECTORS

#: bundle formats (docs/bundle.md "File names (v2)", docs/verdict.md "Bundle formats"): the
#: exporter writes v2 (``good`` above); a v1 export still verifies; each name rule has the
#: check docs/bundle.md gives it. ``odd`` is the world's item whose submitted names a
#: clerk's OS would refuse (tests/support/bundle_world.py ODD_NAMES).
FORMAT_VECTORS = [
    Vector("v1/good", "the good item exported as evidence-bundle/v1 (files/<sha256>)",
           "verified"),
    Vector("v1/v2-name", "the v1 bundle with shop.png moved to files/<sha256>/shop.png",
           "failed", "manifest"),
    Vector("v2/v1-name", "the v2 bundle with shop.png moved to files/<sha256>", "failed",
           "manifest"),
    Vector("v2/odd-names", "backslashes, CON.txt, a bidi override, dots and spaces, two "
           "same.txt, two names for one content, a 180-byte name: stored under their safe "
           "names", "verified"),
    Vector("v2/renamed", "shop.png stored as files/<sha256>/shop.jpg", "failed", "files"),
    Vector("v2/device-name-unprefixed", "the odd item's _CON.txt stored as CON.txt",
           "failed", "files"),
    Vector("v2/second-name-in-folder", "a second copy of shop.png in its folder as "
           "'shop (2).png'", "failed", "files"),
    Vector("v2/unlisted-folder", "an extra file under a SHA-256 the entry does not list",
           "failed", "files"),
    Vector("v2/traversal-slash", "shop.png stored as files/<sha256>/../../shop.png",
           "failed", "archive"),
    Vector("v2/traversal-backslash", "shop.png stored as files/<sha256>/..\\..\\shop.png",
           "failed", "archive"),
    Vector("v2/dot-dot", "shop.png stored as files/<sha256>/..", "failed", "archive"),
    Vector("v2/bidi-name", "the odd item's bidi file stored under its submitted name, "
           "U+202E and all", "failed", "archive"),
    Vector("v2/nul-in-name", "a NUL byte patched into a file member's name", "failed",
           "archive"),
    Vector("v2/name-not-flagged-utf8", "the odd item's Chinese file name without the ZIP's "
           "UTF-8 flag (CP437 to Python, Latin-1 to a browser)", "failed", "archive"),
    Vector("v2/unicode-path-extra", "shop.png's member carries an Info-ZIP Unicode Path "
           "extra field naming shop.exe", "failed", "archive"),
    Vector("v2/index-lies", "index.html replaced by a page that lies, manifest rewritten to "
           "match: the page is not part of the verdict", "verified"),
    Vector("v2/index-edited", "index.html changed, the manifest not", "failed", "manifest"),
]
VECTORS += FORMAT_VECTORS
#: vectors made by patching ZIP headers (a name no library writes) or by leaving the
#: manifest stale on purpose: the member names zipfile reads back differ from the listed ones
BELOW_THE_MANIFEST = {"v2/nul-in-name", "v2/name-not-flagged-utf8", "v2/index-edited"}

#: the bundle's C2SP tlog-proof copy (docs/bundle.md, docs/verdict.md "tlog-proof files"):
#: each forgery replaces tlog-proof/item.tlog-proof and rewrites the manifest to match
TLOG_PROOF_VECTORS = [
    Vector("good/tlog-proof-checked", "the good v2 bundle: its tlog-proof copy proves the "
           "submission to the bundle's checkpoint", "verified",
           reported=(("tlog_proof", "pass"),)),
    Vector("tlog-proof/removed", "the copy removed (a bundle from before it existed)",
           "verified", absent=("tlog_proof",)),
    Vector("tlog-proof/other-checkpoint", "the copy's checkpoint lacks the witness's line "
           "(another note than the bundle's)", "failed", "tlog_proof"),
    Vector("tlog-proof/other-index", "the copy's index line names the entry before", "failed",
           "tlog_proof"),
    Vector("tlog-proof/hash-truncated", "a hash line of the copy cut short", "failed",
           "tlog_proof"),
    Vector("tlog-proof/hash-changed", "a bit of the copy's first hash flipped", "failed",
           "tlog_proof"),
    Vector("tlog-proof/extra-line", "a line that is no signature after the copy's "
           "checkpoint", "failed", "tlog_proof"),
]
VECTORS += TLOG_PROOF_VECTORS
BY_NAME = {v.name: v for v in VECTORS}
CAPTURE_NODE_NAME = "shop-node"  # the name the court gives the capture node it pins


# --- the world: one ledger, one good bundle, its forgeries and the trust files -----------


@dataclass
class Corpus:
    dir: Path
    bundles: dict[str, Path] = field(default_factory=dict)
    unbuilt: dict[str, str] = field(default_factory=dict)  # vector -> why it could not be made
    trust: dict[str, Path] = field(default_factory=dict)
    compare: dict[str, Path] = field(default_factory=dict)


def _vkey(key: Any) -> str:
    return key if isinstance(key, str) else key.to_string()


def trust_text(world: World, *, tsa: bool = True, quorum: bool = True,
               capture_node: bool = False) -> str:
    """The court's pin for this world, per docs/verdict.md section 3."""
    root = x509.load_pem_x509_certificate(world.ca_pem).public_bytes(Encoding.DER)
    lines = [f"# evidence trust policy for {ORIGIN}, written by tests/verdicts",
             f"log {_vkey(world.led.verifier)}",
             f"witness court-w1 {_vkey(world.witness.verifier())}"]
    if quorum:
        lines += ["group court-witnesses 1 court-w1", "quorum court-witnesses"]
    else:
        lines += ["quorum none"]
    if tsa:
        lines += [f"#@ tsa local-tsa {base64.b64encode(root).decode()}"]
    if capture_node:
        assert world.captures is not None, world.capture_error
        lines += [f"#@ capture-node {CAPTURE_NODE_NAME} "
                  f"{world.captures.node.verifier().to_string()}"]
    return "\n".join(lines) + "\n"


def _checkpoint_text(world: World, size: int) -> bytes:
    from evidence.verify.note import parse_note

    cp = world.led.checkpoint_at(size)
    assert cp is not None
    return parse_note(cp.note).text.encode()


def _token(url: str, message: bytes) -> bytes:
    from evidence.ledger.anchor.tsa_client import request_timestamp

    return request_timestamp(url, message, timeout=30).token


def build_corpus(world: World, untrusted: LocalTSA, out: Path) -> Corpus:
    good = world.export(world.a)
    good_token = members(good)["timestamps/0.tst"]
    anchored = _checkpoint_text(world, world.anchored_size)
    other = _checkpoint_text(world, world.latest_size)
    assert other != anchored
    other_token = _token(world.tsa_url, other)
    foreign_token = _token(untrusted.url, anchored)
    foreign_chain = F.certificates_pem(foreign_token)

    made: dict[str, bytes] = {
        "good": good,
        "provisional": F.provisional(good),
        "provisional-with-token": F.provisional(good, keep_tokens=True),
        "rezipped": F.deflate_all(good),
        "untrusted-tsa-beside": F.add_token(good, foreign_token, foreign_chain,
                                            tsa="tsa-unpinned"),
        "untrusted-tsa-only": F.with_members(
            F.replace_token(good, foreign_token),
            {"timestamps/0.chain.pem": foreign_chain}),
        "token/signature-beside-good": F.add_token(good, F.flip_region(good_token,
                                                                       "signature")),
        "token/other-checkpoint": F.replace_token(good, other_token),
        "token/other-checkpoint-beside": F.add_token(good, other_token),
        "cosignature-removed": F.drop_cosignature(good, WITNESS_NAME),
    }
    for region in F.REGIONS:
        made[f"token/{region}"] = F.forge_token_region(good, region)
    unbuilt: dict[str, str] = {}
    try:
        made["provisional/exported"] = world.export(world.b, provisional=True,
                                                    checkpoint_size=world.latest_size)
    except Exception as e:  # reported by this vector's tests, not by all of them
        unbuilt["provisional/exported"] = f"evidence export --provisional failed: {e!r}"
    for name in ("good+matching-file", "good/no-tsa-pinned", "good/quorum-none",
                 "good+mismatching-file"):
        made[name] = good
    capture_bundles(world, made, unbuilt)
    format_bundles(world, good, made)
    tlog_proof_bundles(good, made)
    assert set(made) | set(unbuilt) == set(BY_NAME), (set(made) | set(unbuilt)) ^ set(BY_NAME)

    c = Corpus(out, unbuilt=unbuilt)
    for name, data in made.items():
        if not name.startswith("good"):
            assert data != good, name
        p = out / (name.replace("/", "__").replace("+", "_") + ".zip")
        p.write_bytes(data)
        c.bundles[name] = p
    trusts: dict[str, dict[str, bool]] = {"full": {}, "no-tsa": {"tsa": False},
                                          "quorum-none": {"quorum": False}}
    if world.captures is not None:
        trusts["capture"] = {"capture_node": True}
    for key, kw in trusts.items():
        p = out / f"trust-{key}.txt"
        p.write_text(trust_text(world, **kw), "utf-8")
        c.trust[key] = p
    shop = world.files_a[0].read_bytes()
    c.compare["same"] = out / "judge-same" / "shop.png"
    c.compare["edited"] = out / "judge-edited" / "shop.png"
    for key, data in (("same", shop), ("edited", F.flip(shop, len(shop) - 1))):
        c.compare[key].parent.mkdir()
        c.compare[key].write_bytes(data)
    return c


def format_bundles(world: World, good: bytes, made: dict[str, bytes]) -> None:
    """The bundles of FORMAT_VECTORS, from the good v2 bundle, a v1 export of the same item
    and the odd item's bundle."""
    from evidence.verify.bundle_names import safe_name

    assert world.odd is not None and world.odd_files is not None
    shop = world.files_a[0]
    sha = sha256(shop.read_bytes()).hexdigest()
    member = f"files/{sha}/shop.png"
    assert member in members(good)
    v1 = world.export(world.a, bundle_format="evidence-bundle/v1")
    odd = world.export(world.odd)
    odd_member = {n: f"files/{sha256(d).hexdigest()}/{safe_name(n)}"
                  for n, d in reversed(world.odd_files)}  # the first name of a content wins
    con, bidi, chinese = (odd_member[n] for n in ("CON.txt", "photo\u202egnp.exe",
                                                  "证据截图" * 15 + ".png"))
    assert con.endswith("/_CON.txt") and bidi.endswith("/photo_gnp.exe_"), (con, bidi)
    index = members(good)["index.html"]
    made.update({
        "v1/good": v1,
        "v1/v2-name": F.rename_member(v1, f"files/{sha}", member),
        "v2/v1-name": F.rename_member(good, member, f"files/{sha}"),
        "v2/odd-names": odd,
        "v2/renamed": F.rename_member(good, member, f"files/{sha}/shop.jpg"),
        "v2/device-name-unprefixed": F.rename_member(odd, con, con.replace("/_CON", "/CON")),
        "v2/second-name-in-folder": F.with_members(
            good, {f"files/{sha}/shop (2).png": shop.read_bytes()}),
        "v2/unlisted-folder": F.with_members(good, {f"files/{'0' * 64}/note.txt": b"extra"}),
        "v2/traversal-slash": F.rename_member(good, member, f"files/{sha}/../../shop.png"),
        "v2/traversal-backslash": F.rename_member(good, member,
                                                  f"files/{sha}/..\\..\\shop.png"),
        "v2/dot-dot": F.rename_member(good, member, f"files/{sha}/.."),
        "v2/bidi-name": F.rename_member(odd, bidi, bidi.replace("photo_gnp.exe_",
                                                                "photo\u202egnp.exe")),
        "v2/nul-in-name": F.patch_member_name(good, member,
                                              member.encode().replace(b"shop", b"sh\0p")),
        "v2/name-not-flagged-utf8": F.patch_member_name(odd, chinese, utf8_flag=False),
        "v2/unicode-path-extra": F.with_extra_field(good, member,
                                                    F.unicode_path_extra(f"files/{sha}/shop.exe")),
        "v2/index-lies": F.with_members(good, {"index.html": index.replace(
            b"shop.png</a>", b"an invoice.pdf</a>")}),
        "v2/index-edited": F.rezip_raw({**members(good), "index.html": index + b"<!-- -->"}),
    })


def tlog_proof_bundles(good: bytes, made: dict[str, bytes]) -> None:
    """The bundles of TLOG_PROOF_VECTORS: the good bundle's tlog-proof copy edited."""
    member = "tlog-proof/item.tlog-proof"
    proof = members(good)[member]
    lines = proof.split(b"\n")
    hash_at = 3  # header, extra, index, then the first hash
    first = base64.b64decode(lines[hash_at])
    flipped = base64.b64encode(bytes([first[0] ^ 1]) + first[1:])
    index = lines[2]
    before = b"index " + str(int(index[len(b"index "):]) - 1).encode()
    witness = next(ln for ln in lines if ln.startswith(f"\u2014 {WITNESS_NAME} ".encode()))

    def line(i: int, new: bytes) -> bytes:
        return b"\n".join([*lines[:i], new, *lines[i + 1:]])

    made.update({
        "good/tlog-proof-checked": good,
        "tlog-proof/removed": F.with_members(good, {member: None}),
        "tlog-proof/other-checkpoint": F.with_members(
            good, {member: proof.replace(witness + b"\n", b"")}),
        "tlog-proof/other-index": F.with_members(good, {member: line(2, before)}),
        "tlog-proof/hash-truncated": F.with_members(good, {member: line(hash_at,
                                                                        lines[hash_at][:-4])}),
        "tlog-proof/hash-changed": F.with_members(good, {member: line(hash_at, flipped)}),
        "tlog-proof/extra-line": F.with_members(good, {member: proof + b"trailing\n"}),
    })


def capture_file(world: World, variant: str, name: str) -> str:
    """The bundle member of file ``name`` of the ``variant`` capture item (v2: under its
    safe name; each capture file has its own content)."""
    from evidence.verify.bundle_names import safe_name

    assert world.captures is not None
    return f"files/{sha256(world.captures.files[variant][name]).hexdigest()}/{safe_name(name)}"


def capture_bundles(world: World, made: dict[str, bytes], unbuilt: dict[str, str]) -> None:
    """The bundles of WEBCAPTURE_VECTORS: each variant item exported as it is, and the good
    one with its WACZ swapped after export."""
    if world.captures is None:
        for v in WEBCAPTURE_VECTORS:
            unbuilt[v.name] = world.capture_error or "the world has no web captures"
        return
    items = world.captures.items
    for v in WEBCAPTURE_VECTORS:
        variant = v.name.split("/")[1]
        if variant in items:
            made[v.name] = world.export(items[variant])
    made["good/capture-node-pinned"] = world.export(world.a)
    good = made["webcapture/good"]
    made["webcapture/wacz-swapped-after-export"] = F.with_members(
        good, {capture_file(world, "good", "capture.wacz"):
               world.captures.files["warc-altered"]["capture.wacz"]})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> Iterator[World]:
    w = build_world(tmp_path_factory.mktemp("verdicts"), tsa.url, tsa.ca_cert_pem,
                    tsa.ca_pem_path, webcaptures=True, odd_names=True)
    yield w
    w.led.close()


@pytest.fixture(scope="module")
def corpus(world: World, tsa_variant: Callable[[str], LocalTSA],
           tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return build_corpus(world, tsa_variant("untrusted"), tmp_path_factory.mktemp("vectors"))


# --- the three verifiers -----------------------------------------------------------------


def _json_line(stdout: str) -> Any:
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    if len(lines) != 1:  # --json is one line (JSON Lines), nothing else on stdout
        return None
    try:
        return json.loads(lines[0])
    except ValueError:
        return None


def run_command(argv: list[str], cwd: Path) -> Outcome:
    p = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=300,
                       env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    diagnostics = f"exit {p.returncode}; stdout: {p.stdout[-2000:]}; stderr: {p.stderr[-2000:]}"
    return outcome_of(_json_line(p.stdout), p.returncode, diagnostics)


def _args(corpus: Corpus, v: Vector) -> list[str]:
    args = [str(corpus.bundles[v.name]), "--trust", str(corpus.trust[v.trust]), "--json"]
    if v.compare:
        args += ["--compare", str(corpus.compare[v.compare])]
    return args


@pytest.fixture(scope="module")
def page_runner(request: pytest.FixtureRequest) -> PageRunner:
    return PageRunner(request)


_SEEN: dict[tuple[str, str], Outcome] = {}


def run(request: pytest.FixtureRequest, corpus: Corpus, v: Vector, verifier: str) -> Outcome:
    """Each verifier runs once per vector; both tests below read the same outcome."""
    key = (v.name, verifier)
    if v.name in corpus.unbuilt:
        pytest.fail(corpus.unbuilt[v.name])
    if key not in _SEEN:
        if verifier == "package":
            out = run_command([str(Path(sys.executable).parent / "evidence"), "verify",
                               *_args(corpus, v)], corpus.dir)
        elif verifier == "script":
            python = request.getfixturevalue("bare_python")
            out = run_command([str(python), "-I", str(SCRIPT), *_args(corpus, v)], corpus.dir)
        else:
            runner: PageRunner = request.getfixturevalue("page_runner")
            out = runner.verify(corpus.bundles[v.name], corpus.trust[v.trust],
                                corpus.compare[v.compare] if v.compare else None)
        _SEEN[key] = out
    return _SEEN[key]


@pytest.fixture(scope="module", autouse=True)
def _outcomes_table() -> Iterator[None]:
    """Leaves test-artifacts/verdicts/outcomes.txt: every vector's answer from each
    verifier, for whoever has to find which one drifted."""
    yield
    if _SEEN:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        rows = [f"{'vector':40} {'verifier':8} {'expected':28} got"]
        for v in VECTORS:
            want = f"{v.verdict}/{v.failed_check or '-'}"
            for w in VERIFIERS:
                o = _SEEN.get((v.name, w))
                if o is not None:
                    got = f"{o.verdict[:60]}/{o.failed_check or '-'}"
                    mark = "" if (o.verdict, o.failed_check) == (v.verdict, v.failed_check) \
                        else "   <-- DISAGREES"
                    rows.append(f"{v.name:40} {w:8} {want:28} {got}"
                                f" not_checked={list(o.not_checked)}{mark}")
        (ARTIFACTS / "outcomes.txt").write_text("\n".join(rows) + "\n", "utf-8")
    _SEEN.clear()


def _show(o: Outcome) -> str:
    return (f"verdict={o.verdict!r} failed_check={o.failed_check!r} "
            f"not_checked={list(o.not_checked)} checks={[f'{n}:{s}' for n, s in o.checks]}"
            + (f"\n{o.diagnostics[-1500:]}" if o.diagnostics and o.verdict.startswith("<")
               else ""))


# --- the tests ---------------------------------------------------------------------------


@pytest.mark.parametrize("name,verifier", [pytest.param(v.name, w, id=f"{v.name}:{w}")
                                           for v in VECTORS for w in VERIFIERS])
def test_verdict(name: str, verifier: str, corpus: Corpus,
                 request: pytest.FixtureRequest) -> None:
    v = BY_NAME[name]
    o = run(request, corpus, v, verifier)
    want = (v.verdict, v.failed_check, tuple(sorted(v.not_checked)))
    assert (o.verdict, o.failed_check, o.not_checked) == want, (
        f"{verifier} on {v.name} ({v.why}): {_show(o)}")
    assert o.report.get("ok") is (v.verdict == "verified")
    if verifier != "page":
        assert o.exit_status == EXIT_STATUS[v.verdict], _show(o)
    reported = dict(o.checks)
    if v.failed_check is not None:
        assert reported.get(v.failed_check) == "fail", _show(o)
        # after a failure no summary claims anything (docs/verdict.md section 2)
        assert not o.report.get("preserved_no_later_than"), o.report
    for check, status in v.reported:
        assert reported.get(check) == status, f"{check} must be {status}: {_show(o)}"
    for check in v.absent:
        assert check not in reported, f"{check} must not be reported: {_show(o)}"
    for c in o.report["checks"]:
        assert c["status"] in ("pass", "fail", "not-checked"), c
        assert c["ok"] is (c["status"] == "pass"), c
        for k in ("reason", "reason_zh"):
            assert c[k] and "\n" not in c[k] and len(c[k]) <= 300, (k, c)


@pytest.mark.parametrize("name", [v.name for v in VECTORS])
def test_three_agree(name: str, corpus: Corpus, request: pytest.FixtureRequest) -> None:
    v = BY_NAME[name]
    got = {w: run(request, corpus, v, w) for w in VERIFIERS}
    table = "\n".join(f"  {w:8} {_show(o)}" for w, o in got.items())
    assert len({o.key for o in got.values()}) == 1, f"{v.name}: verdicts differ\n{table}"
    assert len({o.checks for o in got.values()}) == 1, f"{v.name}: check states differ\n{table}"


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize("name", [v.name for v in WEBCAPTURE_VECTORS
                                  if v.name.startswith("webcapture/")])
def test_webcapture_summary(name: str, corpus: Corpus, world: World,
                            request: pytest.FixtureRequest) -> None:
    """docs/verdict.md section 6: when ``webcapture`` passed or was not checked and nothing
    failed, every verifier reports the same ``webcapture`` object, read from the signed
    manifest, keys in the documented order (``node_name`` the pinned name, or null;
    ``clock_offset_seconds`` the token's genTime minus ``ended_at``, to the microsecond;
    ``screenshot`` the file of role screenshot); after a failure none reports one."""
    v = BY_NAME[name]
    got = {w: run(request, corpus, v, w) for w in VERIFIERS}
    if v.verdict == "failed":
        carry = [w for w, o in got.items() if o.report.get("webcapture")]
        assert not carry, f"{name}: after a failure {carry} still report a webcapture object"
        return
    assert world.captures is not None
    variant = v.name.split("/")[1]
    m = json.loads(world.captures.files[variant]["capture-manifest.json"])
    res = m["result"]
    token = members(corpus.bundles[name].read_bytes())["timestamps/0.tst"]
    offset = (F.gen_time(token) - _iso(m["ended_at"])).total_seconds()
    want = {"url": m["request"]["url"], "final_url": res["final_url"],
            "http_status": res["http_status"], "title": res["title"],
            "server_ip": res["server_ip"], "tls_subject": None, "tls_issuer": None,
            "started_at": m["started_at"], "ended_at": m["ended_at"], "node": m["node"]["key"],
            "node_name": CAPTURE_NODE_NAME if v.verdict == "verified" else None,
            "labels": res["labels"], "clock_offset_seconds": offset,
            "screenshot": next(f["name"] for f in m["files"] if f["role"] == "screenshot")}
    wrong = []
    for w, o in got.items():
        wc = o.report.get("webcapture")
        if not isinstance(wc, dict):
            wrong.append(f"{w}: no webcapture object ({_show(o)})")
            continue
        if list(wc) != list(want):
            wrong.append(f"{w}: keys {list(wc)}, want {list(want)} in that order")
        off = wc.get("clock_offset_seconds")
        if not isinstance(off, int | float) or isinstance(off, bool) or abs(off - offset) > 2e-6:
            wrong.append(f"{w}: clock_offset_seconds={off!r}, want {offset} (to the µs)")
        have = {k: wc.get(k, "<absent>") for k in want if k != "clock_offset_seconds"}
        if have != {k: x for k, x in want.items() if k != "clock_offset_seconds"}:
            wrong.append(f"{w}: {have} != {want}")
    assert not wrong, "\n".join(wrong)


def test_capture_vectors_differ_only_where_meant(corpus: Corpus, world: World) -> None:
    """Each ``webcapture`` variant item really is what its vector says (so a verifier that
    passes it has missed exactly that), and the swapped bundle differs from the good one
    in the WACZ member (and the bundle manifest) only."""
    if world.captures is None:
        pytest.fail(world.capture_error or "no captures")
    from tests.support.bundle_world import WARC_EDIT, zip_members

    files = world.captures.files
    good = files["good"]
    assert set(files["file-missing"]) == set(good) - {"page.pdf"}
    assert json.loads(files["manifest-not-canonical"]["capture-manifest.json"]) == \
        json.loads(good["capture-manifest.json"])
    for variant in ("warc-altered", "datapackage-digest"):
        assert {n for n in good if files[variant][n] != good[n]} == {
            "capture.wacz", "capture-manifest.json", "capture-manifest.sig"}, variant
    warc = gzip.decompress(next(data for n, data in zip_members(
        files["warc-altered"]["capture.wacz"]).items() if n.endswith(".warc.gz")))
    assert WARC_EDIT[0] not in warc and WARC_EDIT[1] in warc
    a = members(corpus.bundles["webcapture/good"].read_bytes())
    b = members(corpus.bundles["webcapture/wacz-swapped-after-export"].read_bytes())
    assert {n for n in a if a[n] != b.get(n)} == {
        capture_file(world, "good", "capture.wacz"), "manifest.json"}


def test_forgeries_change_bytes_and_keep_the_manifest_consistent(corpus: Corpus) -> None:
    """Only the deep check can catch a forgery: every listed member is present with the
    listed SHA-256 and size, and the token forgeries changed exactly the token."""
    from hashlib import sha256

    good = members(corpus.bundles["good"].read_bytes())
    for v in VECTORS:
        if v.name in corpus.unbuilt or v.name in BELOW_THE_MANIFEST:
            continue
        m = members(corpus.bundles[v.name].read_bytes())
        listed = json.loads(m["manifest.json"])["members"]
        assert set(listed) == set(m) - {"manifest.json"}, v.name
        for n, meta in listed.items():
            assert meta == {"sha256": sha256(m[n]).hexdigest(), "size": len(m[n])}, (v.name, n)
        if v.name.startswith("token/") and not v.name.endswith("beside-good") \
                and "other-checkpoint" not in v.name:
            changed = {n for n in m if m[n] != good.get(n)} - {"manifest.json"}
            assert changed == {"timestamps/0.tst"}, (v.name, changed)
            a, b = good["timestamps/0.tst"], m["timestamps/0.tst"]
            assert len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) == 1


def test_regions_are_found_by_parsing(corpus: Corpus) -> None:
    """Each region's byte lies inside that region and no other (so the five forgeries test
    five different checks, not one)."""
    token = members(corpus.bundles["good"].read_bytes())["timestamps/0.tst"]
    r = F.token_regions(token)
    assert r.tst_info.end <= r.signer_cert.start < r.signer_cert.end <= r.signed_attrs.start
    assert r.signed_attrs.end <= r.signature.start
    assert r.tst_info.start < r.gen_time.start < r.gen_time.end <= r.tst_info.end
    for region, inside in (("signature", r.signature), ("signed-attrs", r.ess_cert_hash),
                           ("message-digest", r.message_digest),
                           ("certificate", r.signer_cert), ("gen-time", r.gen_time)):
        forged = F.flip_region(token, region)
        pos = next(i for i, (x, y) in enumerate(zip(token, forged, strict=True)) if x != y)
        assert inside.body <= pos < inside.end, region
    assert F.gen_time(F.flip_region(token, "gen-time")) != F.gen_time(token)


# --- the sweep: one byte changed in every element of the token ---------------------------

#: runs a verifier's own command-line entry point in one process for many bundles (argv as
#: one JSON line in, {"rc", "stdout", "stderr"} as one JSON line out): the same code path
#: as the command, without paying an interpreter start per bundle
DRIVER = r'''
import contextlib, importlib, importlib.util, io, json, sys
kind, target = sys.argv[1], sys.argv[2]
if kind == "module":
    name, _, func = target.partition(":")
    entry = getattr(importlib.import_module(name), func)
else:
    spec = importlib.util.spec_from_file_location("verify_bundle_script", target)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    entry = mod.main
for line in sys.stdin:
    out, err = io.StringIO(), io.StringIO()
    sys.argv = [target, *json.loads(line)]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = entry()
        except SystemExit as e:
            rc = e.code
    sys.__stdout__.write(json.dumps({"rc": rc, "stdout": out.getvalue(),
                                     "stderr": err.getvalue()}) + "\n")
    sys.__stdout__.flush()
'''


def run_driver(python: Path, args: list[str], argvs: list[list[str]], cwd: Path) -> list[Outcome]:
    driver = cwd / "driver.py"
    driver.write_text(DRIVER, "utf-8")
    p = subprocess.run([str(python), "-I", str(driver), *args],
                       input="".join(json.dumps(a) + "\n" for a in argvs), capture_output=True,
                       text=True, cwd=cwd, timeout=1800)
    lines = p.stdout.splitlines()
    assert len(lines) == len(argvs), f"driver stopped after {len(lines)}: {p.stderr[-3000:]}"
    outs = []
    for line in lines:
        r = json.loads(line)
        outs.append(outcome_of(_json_line(r["stdout"]), r["rc"],
                               f"exit {r['rc']}; stderr: {r['stderr'][-1500:]}"))
    return outs


def run_all(corpus: Corpus, bare_python: Path, page_runner: PageRunner,
            bundles: list[Path], trusts: list[Path], work: Path,
            *, trust_as_bytes: bool = False) -> dict[str, list[Outcome]]:
    """Many (bundle, trust file) pairs through the three verifiers, one process each."""
    argvs = [[str(b), "--trust", str(t), "--json"] for b, t in zip(bundles, trusts, strict=True)]
    return {
        "package": run_driver(Path(sys.executable), ["module", "evidence.cli.main:main"],
                              [["verify", *a] for a in argvs], work),
        "script": run_driver(bare_python, ["file", str(SCRIPT)], argvs, work),
        "page": [page_runner.verify(b, t, None, trust_as_bytes=trust_as_bytes)
                 for b, t in zip(bundles, trusts, strict=True)],
    }


def _row(label: str, got: dict[str, list[Outcome]], i: int) -> str:
    return f"{label}: " + ", ".join(f"{w}={got[w][i].verdict[:80]}/{got[w][i].failed_check or '-'}"
                                    for w in VERIFIERS)


def sweep_bundles(corpus: Corpus, name: str, forged: list[tuple[str, bytes]]) -> list[Path]:
    work = corpus.dir / "sweeps" / name
    work.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (_, data) in enumerate(forged):
        p = work / f"{i}.zip"
        p.write_bytes(data)
        paths.append(p)
    return paths


@pytest.mark.slow
def test_every_token_element(corpus: Corpus, bare_python: Path,
                             page_runner: PageRunner) -> None:
    """A byte changed in each DER element of the good token (tag; first and last content
    byte), manifest rewritten to match: every verifier says ``failed`` at ``timestamps``,
    never ``verified``, and all three agree. Lists every place where one does not."""
    good = corpus.bundles["good"].read_bytes()
    token = members(good)["timestamps/0.tst"]
    cases = [(label, F.with_members(good, {"timestamps/0.tst": F.flip(token, pos)}))
             for label, pos in F.token_positions(token)]
    paths = sweep_bundles(corpus, "token", cases)
    got = run_all(corpus, bare_python, page_runner, paths, [corpus.trust["full"]] * len(paths),
                  paths[0].parent)
    rows = [_row(label, got, i) for i, (label, _) in enumerate(cases)]
    wrong = [rows[i] for i in range(len(cases))
             if {got[w][i].key for w in VERIFIERS} != {("failed", "timestamps")}]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "token-sweep.txt").write_text("\n".join(rows) + "\n", "utf-8")
    assert not wrong, f"{len(wrong)} of {len(cases)} changed bytes:\n" + "\n".join(wrong)


#: member -> (every how many bytes one is flipped, whether every flip must fail): entry and
#: note bytes are all signed or hashed into the tree, so each change must fail; the others
#: may hold bytes no proof covers (the manifest is not trusted), so there the three must
#: only agree
MEMBER_SWEEPS = {
    "checkpoint/checkpoint.note": (3, False),  # base64 padding bits may change nothing
    "entries/<submission>": (7, True),
    "proofs/<submission>": (4, False),  # "root" is not trusted: no check reads it
    "metadata/metadata.json": (9, False),
    "manifest.json": (29, False),  # not trusted: created_at, exporter, ... are not checked
}


@pytest.mark.slow
@pytest.mark.parametrize("member", list(MEMBER_SWEEPS))
def test_every_byte_of_a_member(member: str, corpus: Corpus, bare_python: Path,
                                page_runner: PageRunner) -> None:
    """One byte's low bit flipped at a time in one member (the manifest's member list
    rewritten to match, except when the manifest itself is the member): the three
    verifiers give the same verdict and failing check on each, and where every change must
    be caught, none says anything but ``failed``. Lists every byte on which they differ
    (test-artifacts/verdicts/sweep-<member>.txt has every byte's answers)."""
    good = corpus.bundles["good"].read_bytes()
    m = members(good)
    man = json.loads(m["manifest.json"])
    name = member.replace("<submission>", str(man["submission_seq"]))
    if name.startswith("entries/"):
        name += ".entry"
    elif name.startswith("proofs/"):
        name += ".json"
    step, must_fail = MEMBER_SWEEPS[member]
    data = m[name]
    cases = []
    for pos in range(0, len(data), step):
        label = f"{name} byte {pos} {data[pos:pos + 1]!r}"
        if name == "manifest.json":
            forged = F.rezip_raw({**m, name: F.flip(data, pos)})
        else:
            forged = F.with_members(good, {name: F.flip(data, pos)})
        cases.append((label, forged))
    paths = sweep_bundles(corpus, name.replace("/", "_"), cases)
    got = run_all(corpus, bare_python, page_runner, paths, [corpus.trust["full"]] * len(paths),
                  paths[0].parent)
    rows, wrong = [], []
    for i, (label, _) in enumerate(cases):
        keys = {got[w][i].key for w in VERIFIERS}
        rows.append(_row(label, got, i))
        bad_verdict = must_fail and any(k[0] != "failed" for k in keys)
        if len(keys) != 1 or bad_verdict or any(k[0].startswith("<") for k in keys):
            wrong.append(rows[-1])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"sweep-{name.replace('/', '_')}.txt").write_text("\n".join(rows) + "\n",
                                                                  "utf-8")
    assert not wrong, f"{len(wrong)} of {len(cases)} changed bytes:\n" + "\n".join(wrong)


WACZ_SWEEP = 24  # bytes changed, evenly spaced over the WACZ member


@pytest.mark.slow
def test_every_part_of_the_wacz(corpus: Corpus, world: World, bare_python: Path,
                                page_runner: PageRunner) -> None:
    """One byte's low bit flipped at each of WACZ_SWEEP evenly spaced places of the good
    capture's WACZ member after export (the bundle manifest rewritten to match): the
    member no longer has the SHA-256 it is named by, so every verifier says ``failed`` at
    ``files``, before any WACZ or WARC reading."""
    if "webcapture/good" not in corpus.bundles:
        pytest.fail(corpus.unbuilt.get("webcapture/good", "no capture bundle"))
    good = corpus.bundles["webcapture/good"].read_bytes()
    name = capture_file(world, "good", "capture.wacz")
    data = members(good)[name]
    spots = sorted({i * (len(data) - 1) // (WACZ_SWEEP - 1) for i in range(WACZ_SWEEP)})
    cases = [(f"{name[:18]}... byte {pos} of {len(data)}",
              F.with_members(good, {name: F.flip(data, pos)})) for pos in spots]
    paths = sweep_bundles(corpus, "wacz", cases)
    got = run_all(corpus, bare_python, page_runner, paths,
                  [corpus.trust["capture"]] * len(paths), paths[0].parent)
    rows = [_row(label, got, i) for i, (label, _) in enumerate(cases)]
    wrong = [rows[i] for i in range(len(cases))
             if {got[w][i].key for w in VERIFIERS} != {("failed", "files")}
             or any("webcapture" in dict(got[w][i].checks) for w in VERIFIERS)]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "sweep-wacz.txt").write_text("\n".join(rows) + "\n", "utf-8")
    assert not wrong, f"{len(wrong)} of {len(cases)} changed bytes:\n" + "\n".join(wrong)


# --- the trust file, byte for byte: the same file means the same thing everywhere -------


def trust_mutations(text: str) -> list[tuple[str, bytes]]:
    """The court's trust file changed one way at a time: each byte's low bit flipped
    (every 40th inside the TSA root's base64), and the edits a clerk or another tool might
    make (line endings, whitespace, comments, keyword spelling, order, limits)."""
    data = text.encode()
    lines = text.splitlines(keepends=True)
    start = data.index(b"#@ tsa ")
    b64_start = data.index(b" ", start + len(b"#@ tsa ")) + 1
    b64_end = data.index(b"\n", b64_start)
    out = []
    for i in range(len(data)):
        if b64_start < i < b64_end - 3 and (i - b64_start) % 40:
            continue
        out.append((f"byte {i} {data[i:i + 1]!r} flipped", F.flip(data, i)))

    def edit(label: str, new: str | bytes) -> None:
        out.append((label, new if isinstance(new, bytes) else new.encode()))

    def line(prefix: str) -> str:
        return next(ln for ln in lines if ln.startswith(prefix))

    log, wit, grp, quo, tsa = (line(p) for p in ("log ", "witness ", "group ", "quorum ", "#@ "))
    vkey = log.split()[1]
    wkey = wit.split()[2]
    edit("CRLF line endings", text.replace("\n", "\r\n"))
    edit("no LF after the last line", text.rstrip("\n"))
    edit("tabs between items", "".join(ln if ln.startswith("#") else ln.replace(" ", "\t")
                                       for ln in lines))
    edit("runs of blanks, leading and trailing", "".join(
        "  " + ln.rstrip("\n").replace(" ", " \t ") + " \t\n" for ln in lines))
    edit("blank lines between", "\n".join(lines) + "\n")
    edit("UTF-8 BOM first", b"\xef\xbb\xbf" + data)
    edit("a Chinese comment", "# 法院信任文件 court trust file\n" + text)
    edit("invalid UTF-8 in a comment", b"# \xff\xfe\n" + data)
    edit("NUL in a comment", b"# \x00\n" + data)
    edit("DEL in a comment", b"# \x7f\n" + data)
    edit("'#@tsa' glued (a comment)", text.replace("#@ tsa", "#@tsa"))
    edit("'#@<tab>tsa'", text.replace("#@ tsa", "#@\ttsa"))
    edit("'# @ tsa' (a comment)", text.replace("#@ tsa", "# @ tsa"))
    edit("'#@ tsa' indented", text.replace("#@ tsa", "  #@ tsa"))
    edit("'#@' alone", text + "#@\n")
    edit("'#@' and a trailing blank", text + "#@ \n")
    edit("'#@ tsa' with a name only", text + "#@ tsa lonely\n")
    edit("unknown extension", text + "#@ tsa-foo x\n")
    edit("#@ tsa-store mozilla", text + "#@ tsa-store mozilla\n")
    edit("#@ tsa-store other", text + "#@ tsa-store other\n")
    edit("capture-node line", text + f"#@ capture-node n1 {vkey.replace('log', 'cap', 1)}\n")
    edit("TSA root not base64", text.replace(tsa, "#@ tsa local-tsa !!notbase64!!\n"))
    edit("TSA root not a certificate", text.replace(tsa, "#@ tsa local-tsa aGVsbG8=\n"))
    edit("TSA root without a name", text.replace(tsa, "#@ tsa " + tsa.split()[3] + "\n"))
    edit("TSA root twice, two names", text + tsa.replace("local-tsa", "again"))
    edit("TSA root twice, one name", text + tsa)
    edit("no log line", text.replace(log, ""))
    edit("two log lines, same key", text + log)
    edit("log with a URL", text.replace(log, f"log {vkey} https://log.example/\n"))
    edit("log key garbage", text.replace(log, "log not+a+key\n"))
    edit("'LOG' in capitals", text.replace(log, "LOG " + vkey + "\n"))
    edit("unknown keyword", text + "colour red\n")
    edit("witness with a URL", text.replace(wit, f"witness court-w1 {wkey} https://w.example/\n"))
    edit("witness named none", text.replace("court-w1", "none"))
    edit("same witness key twice", text.replace(grp, f"witness court-w2 {wkey}\n" + grp))
    edit("same witness name twice", text.replace(grp, wit + grp))
    edit("witness key given as log key", text + f"log {wkey}\n")
    edit("group before its member", text.replace(wit, "").replace(grp, wit + grp, 1)
         .replace(wit + grp, grp + wit))
    edit("group 2 of 1", text.replace(grp, "group court-witnesses 2 court-w1\n"))
    edit("group 0 of 1", text.replace(grp, "group court-witnesses 0 court-w1\n"))
    edit("group any", text.replace(grp, "group court-witnesses any court-w1\n"))
    edit("group all", text.replace(grp, "group court-witnesses all court-w1\n"))
    edit("group 01", text.replace(grp, "group court-witnesses 01 court-w1\n"))
    edit("group member twice", text.replace(grp, "group court-witnesses 1 court-w1 court-w1\n"))
    edit("group of an unknown name", text.replace(grp, "group court-witnesses 1 nobody\n"))
    edit("quorum names the witness", text.replace(quo, "quorum court-w1\n"))
    edit("quorum names nothing defined", text.replace(quo, "quorum nobody\n"))
    edit("no quorum line", text.replace(quo, ""))
    edit("two quorum lines", text + "quorum none\n")
    edit("quorum with two names", text.replace(quo, "quorum court-witnesses court-w1\n"))
    edit("empty file", b"")
    edit("only comments", "# nothing pinned\n")
    edit("just over 1 MiB", text + "#" + "x" * ((1 << 20) - len(data)) + "\n")
    edit("just under 1 MiB", text + "#" + "x" * ((1 << 20) - len(data) - 3) + "\n")
    return out


@pytest.mark.slow
def test_trust_file_means_the_same_everywhere(corpus: Corpus, world: World, bare_python: Path,
                                              page_runner: PageRunner) -> None:
    """Each mutation of the trust file, with the good bundle: the package, the script and
    the page all refuse it (exit status 2; ``parseTrustPolicy`` throws), or all accept it
    and reach the same verdict. The page is given the file's exact bytes, as its picker
    does. Lists every mutation on which they differ."""
    base = corpus.trust["full"].read_text("utf-8")
    cases = trust_mutations(base)
    work = corpus.dir / "trust-sweep"
    work.mkdir(exist_ok=True)
    bundle = corpus.bundles["good"]
    paths = []
    for i, (_, data) in enumerate(cases):
        p = work / f"trust-{i}.txt"
        p.write_bytes(data)
        paths.append(p)
    got = run_all(corpus, bare_python, page_runner, [bundle] * len(paths), paths, work,
                  trust_as_bytes=True)
    rows, wrong = [], []
    for i, (label, _) in enumerate(cases):
        keys = {w: got[w][i].key for w in VERIFIERS}
        row = f"{label}: " + ", ".join(f"{w}={k[0][:80]}/{k[1] or '-'}" for w, k in keys.items())
        rows.append(row)
        if len(set(keys.values())) != 1 or any(k[0].startswith("<") for k in keys.values()):
            wrong.append(row + "".join(f"\n    {w}: {got[w][i].diagnostics[-300:]!r}"
                                       for w in VERIFIERS if keys[w][0] == REFUSED
                                       or keys[w][0].startswith("<")))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "trust-sweep.txt").write_text("\n".join(rows) + "\n", "utf-8")
    assert got["package"][0].key == ("verified", None) or cases[0][0].startswith("byte 0")
    assert not wrong, f"{len(wrong)} of {len(cases)} trust files:\n" + "\n".join(wrong)
