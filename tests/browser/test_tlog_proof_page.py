"""The verify page's section 4: a stand-alone ``.tlog-proof`` file chosen (or dropped on the
bundle zone) and checked against the trust file loaded in section 1, in Debian's chromium.

A real ledger (SQLite) whose checkpoint two witnesses cosigned writes the item's proof file
as ``evidence receipt ID --tlog-proof`` does (``ledger/tlog_proof.proof_file``); the page
must say what ``evidence verify`` says of the same file with the same trust file (the
package's :func:`check_tlog_proof` is that command's check): the good file green
(``verified``), a file with one inclusion hash changed red, naming the ``inclusion`` check
and why, in English and in Chinese."""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from evidence.ledger.anchor.config import add_witness, load_anchor_config, save_anchor_config
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger
from evidence.ledger.tlog_proof import proof_file
from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer
from evidence.verify.tlog_proof import check_tlog_proof
from evidence.verify.trust import parse_trust
from tests.support.anchored_ledger import AnchoredLedger
from tests.support.browser import Page


@dataclass(frozen=True)
class Files:
    trust: Path
    good: Path
    tampered: Path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    tmp = tmp_path_factory.mktemp("tlogproof-page")
    d = tmp / "data"
    led = Ledger.create(d, "page.example/log", checkpoint_interval=3600)
    intake = Intake(led, FilesystemBlobStore(d / "blobs"))
    signers = {n: generate_signer(f"{n}.example", ALG_COSIGNATURE_V1) for n in ("w1", "w2")}
    cfg = load_anchor_config(d)
    for name, s in signers.items():
        cfg = add_witness(cfg, name, "http://witness.invalid", s.verifier().to_string())
    save_anchor_config(cfg := replace(cfg, witness_quorum=2))
    ids = []
    for i in range(5):
        f = tmp / f"f{i}.txt"
        f.write_bytes(f"file {i}".encode())
        ids.append(intake.submit(ItemSpec(files=[f], kind="document", case="C-1",
                                          principal="acme")).evidence_id)
    led.sign_checkpoint_now()
    anchored = AnchoredLedger(d, led, "", b"", signers)
    anchored.anchor(5, witnesses=("w1", "w2"))
    pf = proof_file(intake.receipt(ids[2]), led, cfg)
    assert pf.witnessed and pf.text is not None
    good = pf.text.encode()
    trust = anchored.trust_bytes()
    led.close()
    lines = good.split(b"\n")
    assert lines[2] == b"index 2"  # header, extra, index, then the first hash
    first = base64.b64decode(lines[3])
    lines[3] = base64.b64encode(bytes([first[0] ^ 1]) + first[1:])
    out = Files(tmp / "trust.txt", tmp / "item.tlog-proof", tmp / "tampered.tlog-proof")
    out.trust.write_bytes(trust)
    out.good.write_bytes(good)
    out.tampered.write_bytes(b"\n".join(lines))
    return out


def _package(path: Path, trust: Path) -> dict[str, Any]:
    """What `evidence verify FILE.tlog-proof --trust T --json` reports (its check)."""
    return check_tlog_proof(path.read_bytes(), parse_trust(trust.read_bytes())).to_json()


def _choose(tab: Page, path: Path) -> dict[str, Any]:
    tab.page.set_input_files("#tlog-input", str(path))
    tab.page.wait_for_function("() => !window.EvidencePage.state.tlog.busy && "
                               "document.getElementById('tlog-verdict').dataset.verdict")
    return tab.page.evaluate("""() => {
        const box = document.getElementById('tlog-verdict');
        const r = window.EvidencePage.state.tlog.report;
        return {verdict: box.dataset.verdict, text: box.innerText,
                failed: [...box.querySelectorAll('li[data-check]')].map((li) => li.dataset.check),
                color: getComputedStyle(box).borderColor,
                report: r ? JSON.parse(JSON.stringify(r)) : null};
    }""")


def test_good_proof_is_green_as_evidence_verify_says(tab: Page, files: Files) -> None:
    pkg = _package(files.good, files.trust)
    assert pkg["verdict"] == "verified", pkg
    tab.open(lang="en", keys=False, trust=files.trust)
    got = _choose(tab, files.good)
    assert got["verdict"] == pkg["verdict"] == "verified"
    assert "PROOF VERIFIED" in got["text"] and "Entry 2 is in the log" in got["text"]
    assert got["color"] == "rgb(10, 107, 45)"  # --ok: green
    assert [c["name"] for c in got["report"]["checks"]] == [c["name"] for c in pkg["checks"]]
    assert all(c["status"] == "pass" for c in got["report"]["checks"])
    details = tab.page.inner_text("#tlog-details")
    assert "entry 2 (evidence.submitted)" in details and "w1.example" in details
    tab.shot("tlog-proof-good")


def test_tampered_proof_is_red_with_the_reason_in_both_languages(tab: Page,
                                                                  files: Files) -> None:
    pkg = _package(files.tampered, files.trust)
    assert (pkg["verdict"], pkg["failed_check"]) == ("failed", "inclusion"), pkg
    tab.open(lang="en", keys=False, trust=files.trust)
    got = _choose(tab, files.tampered)
    assert got["verdict"] == "failed" and got["failed"] == ["inclusion"]
    assert got["report"]["failed_check"] == pkg["failed_check"]
    assert got["color"] == "rgb(165, 14, 14)"  # --bad: red
    assert "PROOF NOT VERIFIED" in got["text"]
    assert "entry 2 is not in the checkpoint's tree" in got["text"]
    tab.page.click("#lang-zh")
    zh = tab.page.inner_text("#tlog-verdict")
    assert "证明核验未通过" in zh and "条目 2 不在检查点的树中" in zh
    tab.shot("tlog-proof-tampered")


def test_a_proof_dropped_on_the_bundle_zone_goes_to_its_section(tab: Page,
                                                                files: Files) -> None:
    """``takeFiles`` is the bundle zone's drop handler: a lone .tlog-proof is not taken for
    a bundle."""
    tab.open(lang="en", keys=False, trust=files.trust)
    tab.page.evaluate("""async (b64) => {
        const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
        await window.EvidencePage.takeFiles([new File([bytes], 'x.tlog-proof')]);
    }""", base64.b64encode(files.good.read_bytes()).decode())
    tab.page.wait_for_function("() => !window.EvidencePage.state.tlog.busy && "
                               "document.getElementById('tlog-verdict').dataset.verdict")
    assert tab.page.get_attribute("#tlog-verdict", "data-verdict") == "verified"
    assert tab.page.evaluate("window.EvidencePage.state.bundle") is None


def test_without_a_trust_file_the_page_asks_for_one(tab: Page, files: Files) -> None:
    """Keys typed by hand are no tlog-policy: nothing green without the trust file."""
    tab.open(lang="en", keys=True)
    got = _choose(tab, files.good)
    assert got["verdict"] == "error" and "Load the trust file first" in got["text"]
    tab.set_trust(files.trust)  # loading it checks the chosen proof again
    tab.page.wait_for_function(
        "() => document.getElementById('tlog-verdict').dataset.verdict === 'verified'")
