"""Server-side web capture (issue 14) against real local sites on loopback: Debian's
chromium under Playwright visits them, the capture is preserved through the normal
intake as one ``webcapture`` item, and its files are checked by independent tools
(``wacz validate`` of py-wacz, ``warcio check``) and by evidence.verify.webcapture.

Loopback is allowed explicitly (``allow_private``); the refusal of private addresses
without it is tested too. Skips with the reason when chromium or the capture extra is
missing (`pip install 'evidence[capture]'`, `apt-get install chromium fonts-wqy-zenhei`).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from evidence.ledger.capture import CaptureRefused, Options, capture, preserve
from evidence.ledger.evidence_store import load_item
from evidence.ledger.intake import Intake
from evidence.verify.note import generate_signer
from evidence.verify.webcapture import verify_webcapture
from tests.support.capture_sites import make_ca, serve
from tests.support.cli_run import add_submitter

CHROMIUM = os.environ.get("EVIDENCE_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow

if not Path(CHROMIUM).exists():
    pytest.skip(f"chromium not found at {CHROMIUM}", allow_module_level=True)
pytest.importorskip("playwright")
pytest.importorskip("warcio")
pytest.importorskip("wacz")

NODE = generate_signer("capture.test/node-1")


def _opts(**kw: object) -> Options:
    base: dict[str, object] = {"allow_private": True, "chromium": CHROMIUM, "timeout": 60.0,
                               "settle_timeout": 3.0}
    base.update(kw)
    return Options(**base)  # type: ignore[arg-type]


def _files(cap_files: list[Path]) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in cap_files}


def _warc_records(wacz: bytes) -> list[tuple[dict[str, str], bytes]]:
    """(WARC headers, HTTP payload) of every record, read with warcio (independent of
    the package's own reader)."""
    from warcio.archiveiterator import ArchiveIterator

    out = []
    with zipfile.ZipFile(__import__("io").BytesIO(wacz)) as z:
        name = next(n for n in z.namelist() if n.startswith("archive/"))
        data = z.read(name)
    for rec in ArchiveIterator(__import__("io").BytesIO(data)):
        headers = dict(rec.rec_headers.headers)
        out.append((headers, rec.content_stream().read()))
    return out


def _independent_tools(folder: Path, wacz: Path) -> None:
    v = subprocess.run([str(BIN / "wacz"), "validate", "-f", str(wacz)], capture_output=True,
                       text=True, timeout=120)
    assert v.returncode == 0 and "is valid" in v.stdout, v.stdout + v.stderr
    with zipfile.ZipFile(wacz) as z:
        warcs = [n for n in z.namelist() if n.endswith(".warc.gz")]
        z.extractall(folder / "unzipped")
    c = subprocess.run([str(BIN / "warcio"), "check", "-v",
                        *[str(folder / "unzipped" / w) for w in warcs]],
                       capture_output=True, text=True, timeout=120)
    assert c.returncode == 0, c.stdout + c.stderr
    assert "digest pass" in c.stdout and "fail" not in c.stdout


# --- one capture, preserved, verified ---------------------------------------------------------


def test_capture_through_redirects_preserved_and_verified(tmp_path: Path,
                                                          intake: Intake) -> None:
    with serve() as site:
        cap = capture(site.base + "/r1", NODE, _opts(), folder=tmp_path / "cap")
        served = list(site.served)
    m = cap.manifest
    names = [p.name for p in cap.files]
    assert names == ["screenshot.png", "capture.wacz", "page.pdf", "dom.html", "text.txt",
                     "capture.har", "capture-manifest.json", "capture-manifest.sig"]
    res = m["result"]
    assert res["final_url"] == site.base + "/"
    assert res["redirects"] == [site.base + "/r1", site.base + "/r2", site.base + "/"]
    assert res["http_status"] == 200 and res["title"] == "Shop"
    assert res["server_ip"] == "127.0.0.1" and res["tls"] is None and res["labels"] == []
    env = m["environment"]
    assert env["browser"]["version"] and env["software"]["playwright"]
    assert env["software"]["evidence"] and env["os"]["platform"]
    net = m["network"]
    assert net["dns"]["127.0.0.1"]["addresses"] == ["127.0.0.1"]
    assert len(net["hosts_file"]["sha256"]) == 64 and "resolv_conf_nameservers" in net["resolver"]
    assert [s["action"] for s in m["steps"]][:2] == ["navigate", "wait-network-idle"]
    # the screenshot really is a PNG of the page; the text is the page's
    assert (tmp_path / "cap" / "screenshot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "cap" / "page.pdf").read_bytes()[:5] == b"%PDF-"
    assert "Counterfeit bags" in (tmp_path / "cap" / "text.txt").read_text()
    har = json.loads((tmp_path / "cap" / "capture.har").read_text())
    assert any(e["request"]["url"] == site.base + "/r1" for e in har["log"]["entries"])

    # every exchange in the WARC, with IP and payload digest; bodies as served (decoded gzip)
    records = _warc_records((tmp_path / "cap" / "capture.wacz").read_bytes())
    responses = {h.get("WARC-Target-URI", ""): (h, body) for h, body in records
                 if h["WARC-Type"] == "response"}
    requests = [h.get("WARC-Target-URI", "") for h, _ in records if h["WARC-Type"] == "request"]
    for path, status, body in served:
        if path == "/favicon.ico":
            continue
        h, got = responses[site.base + path]
        assert h["WARC-IP-Address"] == "127.0.0.1"
        assert h["WARC-Payload-Digest"].startswith("sha256:")
        assert site.base + path in requests
        if status == 200:
            assert got == body
    _independent_tools(tmp_path, tmp_path / "cap" / "capture.wacz")

    # preserved as one webcapture item through the normal intake
    sub = preserve(intake, cap, case="C-7", principal="acme")
    assert sub.body["kind"] == "webcapture"
    assert [f["name"] for f in sub.body["files"]] == names
    with intake.ledger.engine.connect() as c:
        item = load_item(c, sub.evidence_id)
    meta = json.loads(item.metadata_jcs)
    stated = meta["stated"]
    assert stated["source_url"] == site.base + "/r1"
    assert stated["meta"]["final_url"] == site.base + "/"
    assert stated["meta"]["server_ip"] == "127.0.0.1"
    assert stated["meta"]["capture_node"] == NODE.verifier().to_string()
    assert meta["title"] == "Shop"
    stored = {f.name: intake.store.open(f.sha256).read() for f in item.files}
    assert stored == _files(cap.files)

    # verification from the preserved bytes
    ok = verify_webcapture(stored, [NODE.verifier()])
    assert ok.status == "pass", ok.reason
    assert ok.summary["final_url"] == site.base + "/" and ok.summary["server_ip"] == "127.0.0.1"
    assert verify_webcapture(stored, []).status == "not-checked"
    other = generate_signer("capture.test/node-2")
    bad = verify_webcapture(stored, [other.verifier()])
    assert bad.status == "fail" and "pinned capture-node key" in bad.reason


def test_verify_detects_each_alteration(tmp_path: Path) -> None:
    with serve() as site:
        cap = capture(site.base + "/", NODE, _opts(), folder=tmp_path / "cap")
    files = _files(cap.files)
    pins = [NODE.verifier()]
    assert verify_webcapture(files, pins).status == "pass"

    def altered(name: str, data: bytes) -> str:
        r = verify_webcapture({**files, name: data}, pins)
        assert r.status == "fail"
        assert "\n" not in r.reason and len(r.reason) <= 300 and r.reason_zh
        return r.reason

    shot = bytearray(files["screenshot.png"])
    shot[-20] ^= 1
    assert "screenshot.png does not match" in altered("screenshot.png", bytes(shot))
    m = json.loads(files["capture-manifest.json"])
    m["result"]["final_url"] = "https://elsewhere.example/"
    import rfc8785
    assert "another manifest" in altered("capture-manifest.json", rfc8785.dumps(m))
    assert "canonical" in altered("capture-manifest.json",
                                  json.dumps(m, indent=1).encode())
    missing = dict(files)
    del missing["screenshot.png"]
    r = verify_webcapture(missing, pins)
    assert r.status == "fail" and "screenshot.png" in r.reason

    # a WARC record changed inside the WACZ, with the WACZ's own digests recomputed:
    # only the WARC digest check can catch it (and the manifest's WACZ hash)
    wacz = files["capture.wacz"]
    rebuilt = _rewrite_warc_payload(wacz, b"Counterfeit bags", b"Genuine  bags!!!")
    r = verify_webcapture({**files, "capture.wacz": rebuilt}, pins)
    assert r.status == "fail" and "capture.wacz does not match" in r.reason
    from evidence.verify.webcapture import WebcaptureError, check_wacz
    with pytest.raises(WebcaptureError, match="digest of the record"):
        check_wacz(rebuilt)
    with pytest.raises(WebcaptureError, match="not a ZIP"):
        check_wacz(b"not a zip")


def _rewrite_warc_payload(wacz: bytes, old: bytes, new: bytes) -> bytes:
    """The WACZ with one WARC record's bytes changed and datapackage*.json recomputed."""
    import io

    src = zipfile.ZipFile(io.BytesIO(wacz))
    members = {n: src.read(n) for n in src.namelist()}
    name = next(n for n in members if n.endswith(".warc.gz"))
    raw = members[name]
    # re-gzip member by member, changing the one that holds the text
    out = b""
    d = raw
    while d:
        dec = __import__("zlib").decompressobj(wbits=31)
        plain = dec.decompress(d)
        d = dec.unused_data
        if old in plain:
            plain = plain.replace(old, new)
        out += gzip.compress(plain)
    members[name] = out
    pkg = json.loads(members["datapackage.json"])
    for r in pkg["resources"]:
        r["hash"] = "sha256:" + hashlib.sha256(members[r["path"]]).hexdigest()
        r["bytes"] = len(members[r["path"]])
    members["datapackage.json"] = json.dumps(pkg).encode()
    members["datapackage-digest.json"] = json.dumps(
        {"path": "datapackage.json",
         "hash": "sha256:" + hashlib.sha256(members["datapackage.json"]).hexdigest()}).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    return buf.getvalue()


# --- what was served -------------------------------------------------------------------------


def test_control_characters_from_the_server_do_not_stop_preservation(tmp_path: Path,
                                                                     intake: Intake) -> None:
    """Intake refuses control characters in an item's title and metadata, but what the
    server sent may hold them (a page title set by script, a certificate's subject; Chromium
    turns them into spaces in titles, not every browser does). The signed manifest keeps
    what the browser reported; the item's title and metadata show each as U+FFFD."""
    with serve() as site:
        cap = capture(site.base + "/", NODE, _opts(), folder=tmp_path / "cap")
    cap.manifest["result"]["title"] = "bags\x01and\x1bmore"
    cap.manifest["result"]["tls"] = {"subject": "CN=shop\x00.example", "issuer": "CN=CA"}
    meta = cap.metadata()
    assert meta["page_title"] == "bags\ufffdand\ufffdmore"
    assert meta["tls_subject"] == "CN=shop\ufffd.example"
    sub = preserve(intake, cap, case="case-ctrl", principal="local:test")
    shown = intake.show(sub.evidence_id)["metadata"]
    assert shown["title"] == "bags\ufffdand\ufffdmore"
    assert shown["stated"]["meta"]["tls_subject"] == "CN=shop\ufffd.example"


def test_content_that_changes_per_request_is_captured_as_served(tmp_path: Path) -> None:
    with serve() as site:
        capture(site.base + "/counter", NODE, _opts(), folder=tmp_path / "cap")
        served = [b for p, _, b in site.served if p == "/counter"]
    assert len(served) == 1  # the browser fetched the page once; the capture holds that copy
    token = served[0].split(b"served ")[1][:16].decode()
    assert f"served {token}" in (tmp_path / "cap" / "text.txt").read_text()
    assert f"served {token}" in (tmp_path / "cap" / "dom.html").read_text()
    records = _warc_records((tmp_path / "cap" / "capture.wacz").read_bytes())
    page = [b for h, b in records if h["WARC-Type"] == "response"
            and h.get("WARC-Target-URI", "").endswith("/counter")]
    assert page == served
    assert any(h.get("WARC-Target-URI", "").endswith(f"/img/c-{token}.png") for h, _ in records)


def test_lazy_images_are_recorded_only_when_scrolled_to(tmp_path: Path) -> None:
    with serve() as site:
        plain = capture(site.base + "/lazy", NODE, _opts(), folder=tmp_path / "a")
        scrolled = capture(site.base + "/lazy", NODE, _opts(scroll=True), folder=tmp_path / "b")

    def uris(cap_dir: Path) -> set[str]:
        return {h.get("WARC-Target-URI", "") for h, _ in
                _warc_records((cap_dir / "capture.wacz").read_bytes())}

    native, scripted = site.base + "/img/lazy1.png", site.base + "/img/lazy2.png"
    # an image a script loads when it scrolls into view is missing without --scroll
    assert scripted not in uris(tmp_path / "a")
    assert "scroll" not in [s["action"] for s in plain.manifest["steps"]]
    # with it, both lazy images are recorded, and before the screenshot was taken
    records = _warc_records((tmp_path / "b" / "capture.wacz").read_bytes())
    when = {h.get("WARC-Target-URI"): h["WARC-Date"] for h, _ in records
            if h["WARC-Type"] == "response"}
    shot_at = next(s["at"] for s in scrolled.manifest["steps"] if s["action"] == "record")
    assert when[native] < shot_at and when[scripted] < shot_at
    scroll = next(s for s in scrolled.manifest["steps"] if s["action"] == "scroll")
    assert scroll["reached_bottom"] is True


def test_endless_feed_is_capped_and_labelled(tmp_path: Path) -> None:
    with serve() as site:
        cap = capture(site.base + "/feed", NODE, _opts(scroll=True, max_scroll_steps=5,
                                                       settle_timeout=1.0),
                      folder=tmp_path / "cap")
    step = next(s for s in cap.manifest["steps"] if s["action"] == "scroll")
    assert step["steps"] == 5 and step["reached_bottom"] is False
    assert "truncated:scroll-limit" in cap.manifest["result"]["labels"]


def test_request_limit_truncates_and_labels(tmp_path: Path) -> None:
    with serve() as site:
        cap = capture(site.base + "/many", NODE, _opts(max_requests=5), folder=tmp_path / "cap")
    assert "truncated:request-limit" in cap.manifest["result"]["labels"]
    assert cap.manifest["resources"]["responses"] == 5
    assert len([b for b in cap.manifest["resources"]["blocked"]
                if b["reason"] == "request limit reached"]) >= 25
    assert verify_webcapture(_files(cap.files), [NODE.verifier()]).status == "pass"


def test_a_very_tall_page_gets_a_cut_screenshot(tmp_path: Path) -> None:
    from PIL import Image

    with serve() as site:
        cap = capture(site.base + "/tall", NODE, _opts(viewport=(400, 300)),
                      folder=tmp_path / "cap")
    assert "truncated:screenshot-height" in cap.manifest["result"]["labels"]
    with Image.open(tmp_path / "cap" / "screenshot.png") as img:
        assert img.size == (400, 30_000)


def test_http_error_page_is_captured_and_labelled_with_video(tmp_path: Path) -> None:
    with serve() as site:
        cap = capture(site.base + "/gone", NODE, _opts(video=True), folder=tmp_path / "cap")
    assert cap.manifest["result"]["http_status"] == 404
    assert "http-error:404" in cap.manifest["result"]["labels"]
    assert "no such page" in (tmp_path / "cap" / "text.txt").read_text()
    video = tmp_path / "cap" / "video.webm"
    assert video.read_bytes()[:4] == b"\x1a\x45\xdf\xa3"  # EBML: WebM/Matroska
    assert {"role": "video", "name": "video.webm", "media_type": "video/webm",
            "size": video.stat().st_size,
            "sha256": hashlib.sha256(video.read_bytes()).hexdigest()} in cap.manifest["files"]
    assert verify_webcapture(_files(cap.files), [NODE.verifier()]).status == "pass"
    assert cap.manifest["environment"]["video"]["ffmpeg"].startswith("ffmpeg version")
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                            "stream=codec_name:format=duration", "-of", "json", str(video)],
                           capture_output=True, text=True, timeout=60)
    info = json.loads(probe.stdout)
    assert info["streams"][0]["codec_name"] == "vp8" and float(info["format"]["duration"]) > 0


def test_byte_limit_truncates_and_labels(tmp_path: Path) -> None:
    with serve() as site:
        cap = capture(site.base + "/many", NODE, _opts(max_bytes=1000), folder=tmp_path / "cap")
    assert "truncated:byte-limit" in cap.manifest["result"]["labels"]
    assert 0 < cap.manifest["resources"]["bytes"] <= 1000
    assert cap.manifest["resources"]["truncated"]
    records = _warc_records((tmp_path / "cap" / "capture.wacz").read_bytes())
    cut = [h for h, _ in records if h.get("WARC-Truncated") == "length"]
    assert [h["WARC-Target-URI"] for h in cut] == cap.manifest["resources"]["truncated"]
    _independent_tools(tmp_path, tmp_path / "cap" / "capture.wacz")


def test_a_supplied_login_session_is_used_and_recorded(tmp_path: Path) -> None:
    session = tmp_path / "session.json"
    session.write_text(json.dumps({"cookies": [{
        "name": "session", "value": "s3cret", "domain": "127.0.0.1", "path": "/",
        "expires": -1, "httpOnly": True, "secure": False, "sameSite": "Lax"}],
        "origins": []}))
    with serve() as site:
        fresh = capture(site.base + "/account", NODE, _opts(), folder=tmp_path / "a")
        logged = capture(site.base + "/account", NODE, _opts(session=session),
                         folder=tmp_path / "b")
        (tmp_path / "bad.json").write_text('{"cookies": "x"}')
        with pytest.raises(CaptureRefused) as e:
            capture(site.base + "/account", NODE, _opts(session=tmp_path / "bad.json"),
                    folder=tmp_path / "c")
        assert e.value.code == "bad-session"
    assert "please log in" in (tmp_path / "a" / "text.txt").read_text()
    assert fresh.manifest["request"]["options"]["session"] is None
    assert "logged in as acme" in (tmp_path / "b" / "text.txt").read_text()
    rec = logged.manifest["request"]["options"]["session"]
    assert rec == {"supplied": True, "sha256": hashlib.sha256(session.read_bytes()).hexdigest(),
                   "cookies": ["127.0.0.1 session"], "origins": []}
    assert "s3cret" not in (tmp_path / "b" / "capture-manifest.json").read_text()
    assert "session-supplied" in logged.manifest["result"]["labels"]


# --- clicks ---------------------------------------------------------------------------------


def _green(png_path: Path) -> int:
    """How many pixels of the revealed block's colour, rgb(0,200,0), the screenshot has."""
    from PIL import Image

    with Image.open(png_path) as img:
        colours = img.convert("RGB").getcolors(maxcolors=1 << 24) or []
    return sum(n for n, rgb in colours if rgb == (0, 200, 0))


def test_clicks_reveal_content_in_order_and_a_missing_target_is_labelled(
        tmp_path: Path) -> None:
    with serve() as site:
        plain = capture(site.base + "/reveal", NODE, _opts(), folder=tmp_path / "a")
        cap = capture(site.base + "/reveal", NODE, _opts(click=("#more", "#no-such-button")),
                      folder=tmp_path / "b")
        served = [p for p, _, _ in site.served]
    # the button's fetch ran before the outputs were taken: screenshot, DOM, text and WARC
    assert _green(tmp_path / "a" / "screenshot.png") == 0
    assert _green(tmp_path / "b" / "screenshot.png") > 400 * 200 * 0.9  # the text covers some
    assert "Hidden price list" not in (tmp_path / "a" / "dom.html").read_text()
    assert "Hidden price list: 5 USD each" in (tmp_path / "b" / "dom.html").read_text()
    assert "Hidden price list: 5 USD each" in (tmp_path / "b" / "text.txt").read_text()
    assert served.count("/data/prices.json") == 1
    records = _warc_records((tmp_path / "b" / "capture.wacz").read_bytes())
    assert [b for h, b in records if h["WARC-Type"] == "response" and h.get(
        "WARC-Target-URI") == site.base + "/data/prices.json"] == [
        b'{"text": "Hidden price list: 5 USD each"}']
    # the steps, in order: each click, whether its target was found, the URL after it
    m = cap.manifest
    assert m["request"]["options"]["click"] == ["#more", "#no-such-button"]
    assert plain.manifest["request"]["options"]["click"] == []
    clicks = [s for s in m["steps"] if s["action"] == "click"]
    assert [(c["selector"], c["found"], c["url_after"]) for c in clicks] == [
        ("#more", True, site.base + "/reveal"), ("#no-such-button", False, site.base + "/reveal")]
    actions = [s["action"] for s in m["steps"]]
    first = actions.index("click")
    assert actions[first + 1] == "wait-network-idle"  # the click's own wait
    assert m["steps"][first + 1]["when"] == "after click 1"
    assert m["steps"][first + 1]["result"] == "idle"
    assert actions.index("record") > len(actions) - 3  # outputs come after every click
    assert m["result"]["labels"] == ["click-target-not-found"]
    assert plain.manifest["result"]["labels"] == []
    assert m["result"]["final_url"] == site.base + "/reveal"
    assert verify_webcapture(_files(cap.files), [NODE.verifier()]).status == "pass"


def test_a_click_that_navigates_is_followed_and_held_to_the_address_policy(
        tmp_path: Path) -> None:
    """A link clicked within the allowed site leads to the page recorded; a link to
    another origin on a forbidden address (127.0.0.2) is stopped before it is requested
    and the capture is refused, as a redirect there is."""
    with serve() as site, serve(host="127.0.0.2") as inner:
        site.other = inner.base
        cap = capture(site.base + "/reveal", NODE, _opts(click=("#next",)),
                      folder=tmp_path / "a")
        with pytest.raises(CaptureRefused) as e:
            capture(site.base + "/reveal", NODE, _opts(
                allow_private=False, allowed_networks=("127.0.0.1/32",), click=("#away",)),
                folder=tmp_path / "b")
        assert inner.served == []  # never reached
    assert e.value.code == "private-address"
    assert "127.0.0.2" in str(e.value) and "#away" in str(e.value)
    assert not (tmp_path / "b" / "capture-manifest.json").exists()
    res = cap.manifest["result"]
    assert res["final_url"] == site.base + "/zh" and res["http_status"] == 200
    assert res["title"] == "侵权商品页面" and res["server_ip"] == "127.0.0.1"
    click = next(s for s in cap.manifest["steps"] if s["action"] == "click")
    assert click["found"] is True and click["url_after"] == site.base + "/zh"
    assert "正品低价" in (tmp_path / "a" / "text.txt").read_text()


# --- HTTPS with a test CA ------------------------------------------------------------------


def test_https_with_a_test_ca(tmp_path: Path) -> None:
    ca = make_ca(tmp_path)
    with serve(ca.ctx) as site, serve() as plain:
        site.other = plain.base
        with pytest.raises(CaptureRefused) as e:
            capture(site.base + "/", NODE, _opts(), folder=tmp_path / "untrusted")
        assert e.value.code == "tls-error" and "ERR_CERT_AUTHORITY_INVALID" in str(e.value)

        trusted = capture(site.base + "/", NODE, _opts(trusted_spki=(ca.leaf_spki_b64,)),
                          folder=tmp_path / "trusted")
        ignored = capture(site.base + "/", NODE, _opts(ignore_tls_errors=True),
                          folder=tmp_path / "ignored")
        mixed = capture(site.base + "/mixed", NODE, _opts(trusted_spki=(ca.leaf_spki_b64,)),
                        folder=tmp_path / "mixed")
    # an image over plain HTTP on the secure page: recorded, and the page labelled
    assert "mixed-content" in mixed.manifest["result"]["labels"]
    assert "mixed-content" not in trusted.manifest["result"]["labels"]
    assert mixed.manifest["origins"][plain.base]["tls"] is None
    tls = trusted.manifest["result"]["tls"]
    assert tls["subject"] == ca.subject_cn and tls["issuer"] == ca.issuer_cn
    assert tls["protocol"].startswith("TLS 1.")
    assert tls["valid_from"] and tls["valid_to"]
    assert trusted.manifest["request"]["options"]["trusted_spki"] == [ca.leaf_spki_b64]
    assert trusted.manifest["origins"][site.base]["tls"]["issuer"] == ca.issuer_cn
    # the chain Chromium validated, leaf first: exactly the test CA's certificates
    chain = trusted.manifest["origins"][site.base]["certificate_chain"]
    from cryptography import x509 as _x509

    certs = [_x509.load_der_x509_certificate(__import__("base64").b64decode(c["der_base64"]))
             for c in chain]
    assert [c.subject.rfc4514_string() for c in certs] == ["CN=shop.test",
                                                           "CN=Evidence Test CA"]
    assert "certificate_chain" not in trusted.manifest["origins"].get(plain.base, {})
    assert "tls-errors-ignored" not in trusted.manifest["result"]["labels"]
    assert "tls-errors-ignored" in ignored.manifest["result"]["labels"]
    assert ignored.manifest["request"]["options"]["ignore_tls_errors"] is True
    _independent_tools(tmp_path, tmp_path / "trusted" / "capture.wacz")
    assert verify_webcapture(_files(trusted.files), [NODE.verifier()]).status == "pass"


# --- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["file:///etc/passwd", "data:text/html,<h1>x</h1>",
                                 "chrome://settings", "javascript:alert(1)",
                                 "ftp://example.com/", "http://user:pw@example.com/",
                                 "http:///nohost", "http://exa mple.com/"])
def test_non_http_urls_are_refused(url: str, tmp_path: Path) -> None:
    with pytest.raises(CaptureRefused) as e:
        capture(url, NODE, _opts(), folder=tmp_path / "cap")
    assert e.value.code == "bad-url"
    assert not (tmp_path / "cap").exists()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "10.0.0.1", "192.168.1.1",
                                  "169.254.169.254", "[::1]", "[fe80::1]", "100.64.0.1",
                                  "[::ffff:127.0.0.1]"])
def test_private_addresses_are_refused_unless_allowed(host: str, tmp_path: Path) -> None:
    with pytest.raises(CaptureRefused) as e:
        capture(f"http://{host}:9/", NODE, _opts(allow_private=False), folder=tmp_path / "c")
    assert e.value.code == "private-address"


def test_other_private_addresses_stay_out_of_reach(tmp_path: Path) -> None:
    """The operator allows one address (127.0.0.1/32, the site); a page there cannot make
    the browser reach another non-public address (127.0.0.2) by embedding it, and a
    redirect to it refuses the whole capture (nothing preserved)."""
    allow = _opts(allow_private=False, allowed_networks=("127.0.0.1/32",))
    with serve() as site, serve(host="127.0.0.2") as inner:
        site.other = inner.base
        cap = capture(site.base + "/embeds-other", NODE, allow, folder=tmp_path / "a")
        assert inner.served == []  # never reached
        blocked = cap.manifest["resources"]["blocked"]
        assert [b["url"] for b in blocked] == [inner.base + "/img/x.png"]
        assert "127.0.0.2" in blocked[0]["reason"]
        with pytest.raises(CaptureRefused) as e:
            capture(site.base + "/to-other", NODE, allow, folder=tmp_path / "b")
        assert e.value.code == "private-address" and "127.0.0.2" in str(e.value)
        assert inner.served == []  # the redirect hop was stopped before it was requested


def test_dns_failure_connection_refused_endless_redirect(tmp_path: Path) -> None:
    with pytest.raises(CaptureRefused) as e:
        capture("http://no-such-host.invalid/", NODE, _opts(), folder=tmp_path / "a")
    assert e.value.code == "dns-failure"
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(CaptureRefused) as e:
        capture(f"http://127.0.0.1:{port}/", NODE, _opts(), folder=tmp_path / "b")
    assert e.value.code == "connection-refused"
    with serve() as site:
        with pytest.raises(CaptureRefused) as e:
            capture(site.base + "/loop", NODE, _opts(), folder=tmp_path / "c")
        assert e.value.code == "too-many-redirects"
        with pytest.raises(CaptureRefused) as e:
            capture(site.base + "/download", NODE, _opts(), folder=tmp_path / "d")
        assert e.value.code == "download"
        # a page with a download link is captured; the link is not followed
        site.served.clear()
        cap = capture(site.base + "/with-download", NODE, _opts(), folder=tmp_path / "e")
        assert "/download" not in [p for p, _, _ in site.served]
        assert "download the catalogue" in (tmp_path / "e" / "text.txt").read_text()
        assert cap.manifest["result"]["labels"] == []


# --- the command -------------------------------------------------------------------------


def _cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    for k in ("EVIDENCE_BLOB_STORE", "EVIDENCE_MAX_FILE_SIZE", "EVIDENCE_DB_URL",
              "EVIDENCE_CAPTURE_KEY"):
        env.pop(k, None)
    p = subprocess.run([sys.executable, "-c", "from evidence.cli.main import main; main()",
                        *args], env=env, capture_output=True, text=True, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} failed ({p.returncode}): {p.stdout} {p.stderr}")
    return p


def test_cli_captures_a_chinese_page_and_refuses_without_preserving(tmp_path: Path) -> None:
    d = str(tmp_path / "data")
    _cli("init", "--data-dir", d, "--origin", "capture.example/log", "--checkpoint-interval",
         "0")
    no_key = _cli("capture", "http://127.0.0.1:9/", "--case", "C-1", "--data-dir", d,
                  check=False)
    assert no_key.returncode != 0 and "evidence keygen" in no_key.stderr
    _cli("keygen", "capture.example/node-1", "-o", str(Path(d) / "capture-node.key"))
    who = add_submitter(d, "C-1")  # local captures name their submitter, in a known case
    with serve() as site:
        too_many = _cli("capture", site.base + "/zh", "--case", "C-1", "--data-dir", d,
                        *[a for _ in range(11) for a in ("--click", "h1")], check=False)
        assert too_many.returncode != 0 and "at most 10" in too_many.stderr
        p = _cli("capture", site.base + "/zh", "--case", "C-1", "--locale", "zh-CN",
                 "--allow-private", "--viewport", "800x600", "--click", "h1", "--click",
                 "#absent", "--data-dir", d, "--as", who, "--json")
        first = json.loads(p.stdout)
        assert first["ok"] and first["final_url"] == site.base + "/zh"
        assert first["http_status"] == 200
        refused = _cli("capture", "file:///etc/passwd", site.base + "/zh", "--case", "C-1",
                       "--data-dir", d, "--as", who, "--json", check=False)
    assert refused.returncode == 1
    lines = [json.loads(x) for x in refused.stdout.splitlines()]
    assert [x["ok"] for x in lines] == [False, False]
    assert [x["code"] for x in lines] == ["bad-url", "private-address"]
    show = json.loads(_cli("show", first["evidence_id"], "--data-dir", d, "--json").stdout)
    assert show["kind"] == "webcapture" if "kind" in show else True
    from evidence.ledger.log import Ledger

    led = Ledger.open(d, read_only=True)
    try:
        submitted = [e for e in led.entries() if e.type == "evidence.submitted"]
    finally:
        led.close()
    assert len(submitted) == 1  # the refused URLs preserved nothing
    from evidence.ledger.blobs import FilesystemBlobStore

    store = FilesystemBlobStore(Path(d) / "blobs")
    body = json.loads(submitted[0].data)["body"]
    files = {f["name"]: store.open(f["sha256"]).read() for f in body["files"]}
    assert "正品低价 名牌手袋" in files["text.txt"].decode("utf-8")
    assert "侵权商品页面" in json.loads(files["capture-manifest.json"])["result"]["title"]
    clicks = [(st["selector"], st["found"]) for st in json.loads(
        files["capture-manifest.json"])["steps"] if st["action"] == "click"]
    assert clicks == [("h1", True), ("#absent", False)]
    assert first["labels"] == ["click-target-not-found"]
    from evidence.verify.note import parse_verifier_key

    key = parse_verifier_key(json.loads(files["capture-manifest.json"])["node"]["key"])
    assert verify_webcapture(files, [key]).status == "pass"
    # the same check from the command line, on the files as downloaded
    got = tmp_path / "got"
    got.mkdir()
    for name, data in files.items():
        (got / name).write_bytes(data)
    ok = _cli("capture-verify", str(got), "--capture-node", key.to_string(), "--json")
    assert json.loads(ok.stdout)["status"] == "pass"
    assert json.loads(ok.stdout)["summary"]["final_url"] == first["final_url"]
    assert _cli("capture-verify", str(got), check=False).returncode == 3
    (got / "screenshot.png").write_bytes(files["screenshot.png"] + b"\0")
    bad = _cli("capture-verify", str(got), "--capture-node", key.to_string(), check=False)
    assert bad.returncode == 1 and bad.stdout.startswith("fail: screenshot.png")
    import io

    from PIL import Image

    img = Image.open(io.BytesIO(files["screenshot.png"]))
    assert img.size[0] == 800
    # CJK glyphs were rendered (not tofu boxes only): the heading area has dark pixels
    assert img.convert("L").getextrema()[0] < 100
