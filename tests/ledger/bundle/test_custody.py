"""A bundle that leaves out a custody entry fails ``custody`` (issue 15, point 7).

Retrievals recorded through ``AccessControl.record_access`` carry ``prev_custody``, the
leaf hash of the item's entry before them (docs/formats.md, "Custody links"). Every entry
in a bundle stays included in the checkpoint on its own, so without the links a bundle
that quietly drops one retrieval would still verify. Here a real ledger, a real local TSA
and a real export; the forgery removes one custody entry from the middle (its entry, its
proof, its seq in the manifest, the manifest's member list recomputed, as a forger would):
the package, the stand-alone script and (when Chromium is there) the page must fail it at
``custody``. Dropping the *last* custody entry cannot be seen from inside the bundle: that
is the documented limit (docs/bundle.md), and ``still_in_log`` or an auditor covers it.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
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
from evidence.verify.trust import parse_trust
from tests.support.bundle_world import anchor, members, rezip
from tests.support.page_runner import PageRunner
from tests.support.tsa import LocalTSA

pytestmark = pytest.mark.tsa

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "verify_bundle.py"
ORIGIN = "custody-bundle.example/log"
EXIT = {"verified": 0, "failed": 1, "incomplete": 3, "provisional": 3}


@dataclass
class Made:
    dir: Path
    bundle: bytes
    trust: Path
    custody: list[int]  # the seqs of the item's custody entries, in order


def _vkey(key: Any) -> str:
    return key if isinstance(key, str) else key.to_string()


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> Iterator[Made]:
    d = tmp_path_factory.mktemp("custody-bundle")
    led = Ledger.create(d / "data", ORIGIN, checkpoint_interval=3600)
    try:
        store = FilesystemBlobStore(d / "data" / "blobs")
        intake = Intake(led, store)
        ac = AccessControl(led)
        ac.add_case("C-1", "case")
        ac.add_principal("acme", "submitter", "Acme")
        ac.add_member("C-1", "acme")
        f = d / "exhibit.txt"
        f.write_bytes("证物 exhibit 1\n".encode())
        eid = intake.submit(ItemSpec([f], "document", "C-1", "acme")).evidence_id
        acme = ac.get_principal("acme")
        custody = []
        for action in ("metadata", "download", "metadata", "download"):
            led.append("custody.note", {"text": "another entry between the retrievals"})
            custody.append(ac.record_access(Authorization(acme, eid, "case"), action,
                                            remote_addr="127.0.0.1").seq)
        size = led.sign_checkpoint_now().size
        witness = generate_signer("witness-a.example", ALG_COSIGNATURE_V1)
        anchor(led, size, tsa.url, tsa.ca_cert_pem, witness)
        out = d / "honest.zip"
        export_bundle(led, store, eid, out, now=datetime.now(UTC))
        root = x509.load_pem_x509_certificate(tsa.ca_cert_pem).public_bytes(Encoding.DER)
        trust = d / "trust.txt"
        trust.write_text(f"log {_vkey(led.verifier)}\n"
                         f"witness w1 {_vkey(witness.verifier())}\n"
                         "group court 1 w1\nquorum court\n"
                         f"#@ tsa local {base64.b64encode(root).decode()}\n", "utf-8")
        yield Made(d, out.read_bytes(), trust, custody)
    finally:
        led.close()


def without(bundle: bytes, seq: int) -> bytes:
    """The bundle with custody entry ``seq`` cut out, everything else kept consistent."""
    m = members(bundle)
    del m[f"entries/{seq}.entry"]
    del m[f"proofs/{seq}.json"]
    man = json.loads(m["manifest.json"])
    assert seq in man["custody_seqs"]
    man["custody_seqs"] = [s for s in man["custody_seqs"] if s != seq]
    m["manifest.json"] = json.dumps(man).encode()
    return rezip(m)  # the manifest's member list recomputed


def package(path: Path, trust: Path) -> tuple[str, str | None, dict[str, Any]]:
    r = verify_bundle(str(path), parse_trust(trust.read_bytes()), store_roots=())
    failed = next((c for c in r.checks if c.status == "fail"), None)
    custody = next(c for c in r.checks if c.name == "custody")
    return r.verdict, failed.name if failed else None, {"reason": custody.reason,
                                                        "reason_zh": custody.reason_zh}


def script(path: Path, trust: Path) -> tuple[str, str | None, dict[str, Any]]:
    p = subprocess.run([sys.executable, "-I", str(SCRIPT), str(path), "--trust", str(trust),
                        "--json"], capture_output=True, text=True, timeout=300)
    out = json.loads(p.stdout)
    assert p.returncode == EXIT[out["verdict"]], p.stderr
    custody = next(c for c in out["checks"] if c["name"] == "custody")
    return out["verdict"], out["failed_check"], custody


def _write(made: Made, name: str, data: bytes) -> Path:
    p = made.dir / name
    p.write_bytes(data)
    return p


def test_the_retrievals_are_linked(made: Made) -> None:
    m = members(made.bundle)
    man = json.loads(m["manifest.json"])
    assert set(made.custody) <= set(man["custody_seqs"])
    for seq in made.custody:
        body = json.loads(m[f"entries/{seq}.entry"])["body"]
        assert len(body["prev_custody"]) == 64


def test_the_honest_bundle_verifies(made: Made) -> None:
    path = _write(made, "honest.zip", made.bundle)
    for verify in (package, script):
        verdict, failed, _ = verify(path, made.trust)
        assert (verdict, failed) == ("verified", None), verify.__name__


@pytest.mark.parametrize("which", [0, 1, 2])
def test_a_custody_entry_dropped_from_the_middle_fails(made: Made, which: int) -> None:
    """The first, second or third of four retrievals removed: the next one's link names an
    entry the bundle does not hold."""
    gone, after = made.custody[which], made.custody[which + 1]
    path = _write(made, f"without-{gone}.zip", without(made.bundle, gone))
    want = (f"entry {after} links to a custody entry that is not in the bundle: a custody "
            "entry was removed")
    for verify in (package, script):
        verdict, failed, custody = verify(path, made.trust)
        assert (verdict, failed) == ("failed", "custody"), verify.__name__
        assert custody["reason"] == want, verify.__name__
        assert custody["reason_zh"] == (f"记录 {after} 链接到证据包中没有的保管记录："
                                        "有保管记录被删除"), verify.__name__


def test_dropping_the_last_custody_entry_is_the_documented_limit(made: Made) -> None:
    """Nothing in the bundle names an entry after the last one it holds, so leaving the
    newest retrieval off still verifies (docs/bundle.md: still_in_log and an auditor's
    full log are what cover entries after the last one in a bundle)."""
    path = _write(made, "without-last.zip", without(made.bundle, made.custody[-1]))
    for verify in (package, script):
        verdict, failed, _ = verify(path, made.trust)
        assert (verdict, failed) == ("verified", None), verify.__name__


def test_two_custody_entries_dropped_fail(made: Made) -> None:
    """The middle two of four retrievals removed: the last one's link names an entry the
    bundle does not hold (a link cannot be rewritten: it is inside the signed leaf)."""
    m = made.bundle
    for seq in made.custody[1:3]:
        m = without(m, seq)
    path = _write(made, "without-two.zip", m)
    for verify in (package, script):
        verdict, failed, custody = verify(path, made.trust)
        assert (verdict, failed) == ("failed", "custody"), verify.__name__
        assert custody["reason"].startswith(f"entry {made.custody[3]} links to a custody "
                                            "entry that is not in the bundle")


def test_the_page_agrees(made: Made, request: pytest.FixtureRequest) -> None:
    """verify.js through the verdict tests' runner (tests/support/page_runner.py); its
    owner adds the link check, until then this says where it stands."""
    runner = PageRunner(request)
    honest = _write(made, "page-honest.zip", made.bundle)
    forged = _write(made, "page-forged.zip", without(made.bundle, made.custody[1]))
    got_honest = runner.verify(honest, made.trust, None)
    got_forged = runner.verify(forged, made.trust, None)
    assert got_honest.key == ("verified", None), got_honest.diagnostics
    assert got_forged.key == ("failed", "custody"), got_forged.diagnostics
