"""The verify page served by `evidence serve` for a log whose key was rotated and which
signs with ML-DSA-44 (issue 18): the page is pre-filled with the log's whole trust file,
the bytes ``GET /v1/log/trust`` gives (every key with its window, the ML-DSA-44 pin, the
witness and its quorum, the TSA root), shown as the operator's suggestion with its
SHA-256; a court's own pinned file replaces it, and no verdict of the trust before stays
on screen (docs/verify-page.md "The pre-filled trust file").

The log is real (SQLite, anchors.json naming the local OpenSSL TSA and one witness with
quorum 1): an item, its checkpoint signed by the old key, timestamped and cosigned
(bundle ``old``); ``rotate_key`` with overlap 1; ``add_mldsa_key``; more entries and a
checkpoint the new key and the ML-DSA-44 key sign, anchored (bundle ``new``). The
forgeries are what a thief of the old key makes after its window (``new``'s checkpoint
signed again by the old key alone: its token and cosignature stay valid, being over the
checkpoint's body) and what a downgrade makes (``new`` with its ML-DSA-44 line cut).
The page runs in real Chromium against the real server (uvicorn)."""

from __future__ import annotations

import hashlib
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from evidence.ledger.anchor.config import (
    add_tsa,
    add_witness,
    load_anchor_config,
    save_anchor_config,
)
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.bundle.export import export_bundle
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.keyfile import read_private_key
from evidence.ledger.log import Ledger
from evidence.verify.note import (
    ALG_COSIGNATURE_V1,
    ALG_MLDSA44,
    generate_signer,
    parse_note,
    sign_note,
)
from tests.support.browser import Page
from tests.support.bundle_world import anchor, members, rezip
from tests.support.tsa import LocalTSA

ORIGIN = "rotated-page.example/log"
CHECKPOINT = "checkpoint/checkpoint.note"


@dataclass
class Served:
    url: str
    dir: Path
    bundles: dict[str, Path]
    trust: bytes          # GET /v1/log/trust
    old_vkey: str
    new_vkey: str
    pq_vkey: str
    until: int            # the old key's window is 0..until
    sizes: dict[str, int]
    item: str             # the evidence id


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> Iterator[Served]:
    uvicorn = pytest.importorskip("uvicorn")
    from evidence.api.app import create_app
    from evidence.api.settings import ApiSettings
    from tests.support.ports import free_ports

    tmp = tmp_path_factory.mktemp("verify-page-rotated")
    d = tmp / "data"
    led = Ledger.create(d, ORIGIN, checkpoint_interval=3600)
    witness = generate_signer("witness-r.example", ALG_COSIGNATURE_V1)
    cfg = add_tsa(load_anchor_config(d), "tsa-local", tsa.url, [tsa.ca_pem_path])
    cfg = add_witness(cfg, "witness-a", "http://witness.invalid",
                      witness.verifier().to_string())
    save_anchor_config(replace(cfg, witness_quorum=1))
    bundles: dict[str, Path] = {}
    sizes: dict[str, int] = {}
    try:
        store = FilesystemBlobStore(d / "blobs")
        f = tmp / "contract.txt"
        f.write_bytes(b"the contract, signed 2026-12-01\n")
        item = Intake(led, store).submit(ItemSpec(files=[f], kind="document", case="C-7",
                                                  principal="acme")).evidence_id
        led.append("custody.note", {"text": "after the item"})
        old = read_private_key(d / "log.key")

        def anchored_bundle(name: str) -> None:
            size = led.sign_checkpoint_now().size
            anchor(led, size, tsa.url, tsa.ca_cert_pem, witness)
            sizes[name] = size
            bundles[name] = tmp / f"{name}.zip"
            export_bundle(led, store, item, bundles[name], checkpoint_size=size)

        anchored_bundle("old")
        new = generate_signer(ORIGIN)
        w = led.rotate_key(new, overlap=1)
        until = w.from_size + 1
        for i in range(3):
            led.append("custody.note", {"after": i})
        pq = generate_signer(ORIGIN, ALG_MLDSA44)
        led.add_mldsa_key(pq)
        led.append("custody.note", {"text": "signed by the new key and ML-DSA-44"})
        anchored_bundle("new")
        assert sizes["new"] > until
    finally:
        led.close()

    m = members(bundles["new"].read_bytes())
    note = m[CHECKPOINT].decode()
    text = parse_note(note).text
    sigs = note.split("\n\n", 1)[1].splitlines()
    cosig = [ln for ln in sigs if ln.startswith("\u2014 witness-r.example ")]
    assert cosig, "the new bundle's checkpoint carries the witness's cosignature"
    forged = dict(m)
    forged[CHECKPOINT] = (sign_note(text, [old]) + "".join(ln + "\n" for ln in cosig)).encode()
    bundles["forged-old-after"] = tmp / "forged-old-after.zip"
    bundles["forged-old-after"].write_bytes(rezip(forged))
    pq_id = f"\u2014 {ORIGIN} "
    pq_lines = [ln for ln in sigs if ln.startswith(pq_id)
                and len(ln) > 1000]  # the ML-DSA-44 line: 2,420 bytes of signature
    assert len(pq_lines) == 1, "the new checkpoint carries one ML-DSA-44 line"
    cut = dict(m)
    cut[CHECKPOINT] = (text + "\n" + "".join(ln + "\n" for ln in sigs
                                             if ln != pq_lines[0])).encode()
    bundles["no-mldsa-line"] = tmp / "no-mldsa-line.zip"
    bundles["no-mldsa-line"].write_bytes(rezip(cut))

    app = create_app(ApiSettings(data_dir=str(d)))
    (port,) = free_ports(1)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    url = f"http://127.0.0.1:{port}"
    try:
        with urllib.request.urlopen(url + "/v1/log/trust") as r:
            trust = r.read()
        yield Served(url, tmp, bundles, trust, old.verifier().to_string(),
                     new.verifier().to_string(), pq.verifier().to_string(), until, sizes,
                     item)
    finally:
        server.should_exit = True
        thread.join(10)


def _open(browser: Any, served: Served, lang: str = "en") -> Page:
    p = Page(browser, url=served.url + "/verify/")
    p.open(lang=lang, keys=False)  # waits for the pre-fill (EvidencePage.trustReady)
    return p


def _failed_checks(got: dict[str, Any]) -> list[str]:
    return [c["name"] for c in got["report"]["checks"] if c["status"] == "fail"]


def test_the_served_trust_file_holds_every_key_and_pin(served: Served) -> None:
    # what the page is pre-filled with must be worth pre-filling: the old key's window,
    # the ML-DSA-44 pin, the witness quorum and the TSA root, besides the current key
    text = served.trust.decode()
    assert f"log {served.new_vkey}" in text
    assert f"#@ log-key {served.old_vkey} 0 {served.until}\n" in text
    assert f"#@ log-mldsa {served.pq_vkey} " in text
    assert "#@ tsa " in text and "witness " in text and "quorum " in text


def test_the_page_is_pre_filled_with_the_whole_trust_file(browser: Any, served: Served) -> None:
    with urllib.request.urlopen(served.url + "/verify/") as r:
        html = r.read().decode()
    assert served.old_vkey in html and served.pq_vkey in html  # in the page, not fetched
    p = _open(browser, served)
    try:
        status = p.page.locator("#trust-status")
        assert status.get_attribute("data-source") == "prefill"
        assert p.page.locator("#trust-fingerprint").inner_text() == \
            hashlib.sha256(served.trust).hexdigest()
        said = status.inner_text()
        assert "operator's suggestion" in said and "its own pinned trust file" in said, said
        old_id = "+".join(served.old_vkey.split("+")[:2])  # name+key id
        assert f"{old_id} (checkpoints of sizes 0 to {served.until} only" in said, said
        assert "ML-DSA-44: its signature is required from size" in said, said
        assert not [r.url for r in p.requests if "/v1/" in r.url]  # nothing asked for it
        p.page.click("#lang-zh")
        said = p.page.locator("#trust-status").inner_text()
        assert "这是运营方提供的建议，并非法院固定的信任文件" in said, said
        assert f"仅限大小为 0 至 {served.until} 的检查点" in said, said
        p.shot("rotated-prefill-zh")
    finally:
        p.close()


def test_retired_key_inside_its_window_is_green_with_the_pre_fill(browser: Any,
                                                                  served: Served) -> None:
    p = _open(browser, served)
    try:
        got = p.verify(served.bundles["old"])
        assert got["verdict"] == "verified", got["text"]
        assert got["report"]["trust_fingerprint"] == hashlib.sha256(served.trust).hexdigest()
        p.shot("rotated-old-key-green")
        got = p.verify(served.bundles["new"])
        assert got["verdict"] == "verified", got["text"]
    finally:
        p.close()


def test_retired_key_past_its_window_is_red_with_the_pre_fill(browser: Any,
                                                              served: Served) -> None:
    p = _open(browser, served)
    try:
        got = p.verify(served.bundles["forged-old-after"])
        assert got["verdict"] == "failed", got["text"]
        assert _failed_checks(got) == ["checkpoint"], got["report"]["checks"]
        assert f"pinned for checkpoints of sizes 0 to {served.until}" in got["text"]
        p.shot("rotated-forged-red")
    finally:
        p.close()


def test_the_pre_filled_ml_dsa_pin_refuses_a_cut_line(browser: Any, served: Served) -> None:
    # with the current key alone (the page's former pre-fill) this bundle would pass the
    # checkpoint check: the pin a court needs would be missing
    p = _open(browser, served)
    try:
        got = p.verify(served.bundles["no-mldsa-line"])
        assert got["verdict"] == "failed", got["text"]
        assert _failed_checks(got) == ["checkpoint"], got["report"]["checks"]
        assert "ML-DSA-44" in got["text"]
    finally:
        p.close()


def test_the_courts_own_trust_file_replaces_the_pre_fill(browser: Any, served: Served,
                                                         tmp_path: Path) -> None:
    """Green with the pre-fill, then the court's own file that revokes the old key below
    the bundle's checkpoint: the verdict on screen turns red without the bundle being
    dropped again; a refused file, or a fingerprint that is not the file's, leaves no
    verdict but the refusal."""
    text = served.trust.decode()
    revoked = text.replace(f"#@ log-key {served.old_vkey} 0 {served.until}\n",
                           f"#@ log-key {served.old_vkey} 0 {served.sizes['old'] - 1}\n")
    assert revoked != text
    own = tmp_path / "court-trust.txt"
    own.write_text(revoked)
    broken = tmp_path / "broken-trust.txt"
    broken.write_text(text + "#@ no-such-extension x\n")
    p = _open(browser, served)
    try:
        assert p.verify(served.bundles["old"])["verdict"] == "verified"
        p.set_trust(own)
        p.page.wait_for_function("() => document.getElementById('trust-status').dataset"
                                 ".source === 'file'")
        got = p.wait()
        assert got["verdict"] == "failed", got["text"]
        assert _failed_checks(got) == ["checkpoint"]
        assert got["report"]["trust_fingerprint"] == \
            hashlib.sha256(revoked.encode()).hexdigest()
        assert "suggestion" not in p.page.locator("#trust-status").inner_text()
        p.shot("rotated-court-trust-red")
        # the court's file with the pre-fill's terms: green; then a refused file: no green
        good = tmp_path / "court-trust-good.txt"
        good.write_bytes(served.trust)
        p.set_trust(good)
        p.page.wait_for_function("() => window.EvidencePage.state.report && "
                                 "window.EvidencePage.state.report.trust_fingerprint === "
                                 f"'{hashlib.sha256(served.trust).hexdigest()}'")
        assert p.wait()["verdict"] == "verified"
        p.set_trust(broken)
        p.page.wait_for_selector("#trust-status.bad")
        got = p.wait()
        assert got["verdict"] == "error" and got["report"] is None, got
        assert "trust file was refused" in got["text"]
        # a fingerprint typed that is not the loaded file's: refused, nothing green
        p.set_trust(good)
        p.page.wait_for_selector("#trust-fingerprint")
        assert p.wait()["verdict"] == "verified"
        p.page.fill("#trust-sha256", "0" * 64)
        p.page.dispatch_event("#trust-sha256", "change")
        p.page.wait_for_function("() => document.getElementById('verdict').dataset.verdict "
                                 "=== 'error'")
        assert p.page.evaluate("window.EvidencePage.state.report") is None
    finally:
        p.close()


def test_removing_the_trust_file_leaves_no_green(browser: Any, served: Served) -> None:
    p = _open(browser, served)
    try:
        assert p.verify(served.bundles["old"])["verdict"] == "verified"
        p.page.click("#trust-clear")
        # the hand-typed key (the current key only) is what is left: the old key's
        # bundle is verified again against it, and it is not signed by that key
        got = p.wait()
        assert got["verdict"] == "failed", got["text"]
        assert _failed_checks(got) == ["checkpoint"], got["report"]["checks"]
    finally:
        p.close()


def test_the_offline_copy_keeps_the_whole_trust_file(browser: Any, served: Served,
                                                     tmp_path: Path) -> None:
    """The court's saved copy (/verify/offline.zip, opened from disk, no network) carries
    the same pre-fill: a bundle of the retired key's window is green there too, and the
    forgery past it red."""
    import io
    import zipfile

    with urllib.request.urlopen(served.url + "/verify/offline.zip") as r:
        zipfile.ZipFile(io.BytesIO(r.read())).extractall(tmp_path)
    p = Page(browser, url=(tmp_path / "evidence-verify" / "index.html").as_uri())
    try:
        p.open(keys=False)
        assert p.page.locator("#trust-fingerprint").inner_text() == \
            hashlib.sha256(served.trust).hexdigest()
        assert p.verify(served.bundles["old"])["verdict"] == "verified"
        got = p.verify(served.bundles["forged-old-after"])
        assert got["verdict"] == "failed" and _failed_checks(got) == ["checkpoint"]
        assert {r.url.split(":", 1)[0] for r in p.requests} == {"file"}
    finally:
        p.close()


def test_lookup_checks_the_answer_against_the_pre_filled_trust(browser: Any,
                                                               served: Served) -> None:
    """Step 3 checks the service's answer with every pinned key of its origin (windows
    and the ML-DSA-44 pin as for bundles), not with the trust file's first line alone."""
    p = _open(browser, served)
    try:
        p.page.fill("#lookup-input", served.item)
        p.page.click("#lookup-btn")
        p.page.wait_for_function("() => /Verified: entry|does NOT verify|not found|"
                                 "could not be reached/i.test("
                                 "document.getElementById('lookup-result').innerText)")
        text = p.page.locator("#lookup-result").inner_text()
        assert "Verified: entry 0 is in the checkpoint" in text, text
    finally:
        p.close()


def test_the_newest_trust_file_read_wins(browser: Any, served: Served, tmp_path: Path) -> None:
    """Two reads in flight (the pre-fill, then the clerk's file): whichever parse ends last,
    the clerk's file is the one in force, and a pre-fill asked for after the clerk chose
    changes nothing."""
    p = _open(browser, served)
    try:
        own = served.trust.decode().replace(f"#@ log-key {served.old_vkey} 0 {served.until}\n",
                                            "")
        got = p.page.evaluate("""async ([served, own]) => {
            const P = window.EvidencePage, enc = new TextEncoder();
            const a = P.loadTrust(enc.encode(served), 'served', 'slow pre-fill');
            const b = P.loadTrust(enc.encode(own), 'file', 'court.txt');
            await Promise.all([a, b]);
            return [P.state.trust.source, P.state.trust.name];
        }""", [served.trust.decode(), own])
        assert got == ["file", "court.txt"]
        p.page.set_input_files("#trust-file", {"name": "court.txt", "mimeType": "text/plain",
                                               "buffer": own.encode()})
        p.page.wait_for_function("() => document.getElementById('trust-status').dataset"
                                 ".source === 'file'")
        assert p.page.evaluate("() => window.EvidencePage.state.trustChosen")
        p.page.evaluate("() => window.EvidencePage.loadServedTrust()")
        assert p.page.evaluate("window.EvidencePage.state.trust.source") == "file"
        got = p.verify(served.bundles["old"])  # the court's file has no window for the old key
        assert got["verdict"] == "failed" and _failed_checks(got) == ["checkpoint"]
    finally:
        p.close()
