"""The court report of a web capture: a real ledger (SQLite), capture files built as the
capture writes them (WARC with warcio, WACZ with py-wacz, the manifest signed by a
capture-node key), preserved through the real intake as kind ``webcapture``, anchored by
the local OpenSSL TSA, exported; then the bundle's HTML, text and PDF reports are read.

They must show the capture's statements (URL, final URL, redirects, server IP, TLS
subject and issuer, node name and key, start and end), the labels and the clock offset
explained in both languages, what a court can and cannot conclude in both languages, and
the screenshot (a thumbnail of its top); a hostile title and URL are shown as text."""

from __future__ import annotations

import base64
import html
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("warcio")
pytest.importorskip("wacz")
pytest.importorskip("fpdf", reason="the report needs fpdf2 (pip install fpdf2)")

import pypdf
from PIL import Image

from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.bundle import report, report_webcapture
from evidence.ledger.bundle.export import export_bundle
from evidence.ledger.capture.run import Capture, preserve
from evidence.ledger.intake import Intake
from evidence.ledger.log import Ledger
from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer
from tests.support.bundle_world import anchor, members
from tests.support.capture_files import capture_of, exchange, write_capture
from tests.support.tsa import LocalTSA

pytestmark = pytest.mark.tsa

NODE = generate_signer("capture.report.example/node-1")
URL = 'https://shop.example/item?q=<b>&x="1"'
FINAL = "https://www.shop.example/item/17"
REDIRECTS = [URL, "https://shop.example/item/17", FINAL]
TITLE = ('<script>alert("x")</script> javascript:alert(document.cookie) '
         "\u202eevil\u202c 假冒商品 Counterfeit bags")
SERVER_IP = "203.0.113.7"
SUBJECT = "www.shop.example"
ISSUER = "Test Issuing CA R3"
LABELS = ["never-settled", "mixed-content", "truncated:screenshot-height"]
RED, BLUE = (200, 20, 20), (20, 20, 200)
SHOT = (1280, 6000)  # taller than one page: the thumbnail shows the top only


def _screenshot() -> bytes:
    """Red on top, blue from 4000 px down: the thumbnail (top 1280 x 1.38) is all red."""
    im = Image.new("RGB", SHOT, RED)
    im.paste(BLUE, (0, 4000, SHOT[0], SHOT[1]))
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


def _capture(folder: Path, ended: datetime) -> Capture:
    """The files a capture writes, and its manifest signed by :data:`NODE`."""
    started = ended - timedelta(seconds=20)
    fields: dict[str, Any] = {
        "request": {"url": URL, "options": {}},
        "started_at": started.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "ended_at": ended.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "result": {"final_url": FINAL, "redirects": REDIRECTS, "http_status": 200,
                   "title": TITLE, "server_ip": SERVER_IP, "server_port": 443,
                   "tls": {"protocol": "TLS 1.3", "subject": SUBJECT, "issuer": ISSUER,
                           "valid_from": "2026-10-01T00:00:00Z",
                           "valid_to": "2026-12-30T00:00:00Z"},
                   "labels": LABELS},
    }
    page = exchange(FINAL, b"<title>bags</title>Counterfeit bags")
    manifest = write_capture(folder, NODE, [page], screenshot=_screenshot(), title="bags",
                             text="bags", fields=fields, capture_id="c-report-1")
    return capture_of(folder, manifest)


@dataclass
class Exported:
    manifest: dict[str, Any]
    members: dict[str, bytes]

    @property
    def html(self) -> str:
        return self.members["report/report.html"].decode("utf-8")

    @property
    def txt(self) -> str:
        return self.members["report/report.txt"].decode("utf-8")

    def pdf_text(self) -> str:
        return pdf_text(self.members["report/report.pdf"])


def pdf_text(pdf: bytes) -> str:
    """The PDF's text without the page footers ("2/5"), which can fall inside a paragraph
    that runs on to the next page."""
    pages = (p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    return "\n".join(re.sub(r"\n\d+/\d+\s*$", "", text) for text in pages)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA
            ) -> Iterator[dict[str, Exported]]:
    """Captures preserved and exported: ``behind`` ended a minute before the timestamp (a
    correct or slow clock), ``ahead`` an hour after it (a fast clock); ``provisional``
    was preserved after the anchoring, its checkpoint has no timestamp yet."""
    root = tmp_path_factory.mktemp("report-webcapture")
    led = Ledger.create(root / "data", "report.example/log", checkpoint_interval=3600)
    store = FilesystemBlobStore(root / "data" / "blobs")
    intake = Intake(led, store)
    now = datetime.now(UTC)
    caps = {"behind": _capture(root / "behind", now - timedelta(minutes=1)),
            "ahead": _capture(root / "ahead", now + timedelta(hours=1))}
    ids = {k: preserve(intake, c, case="case-w", principal="acme-ip").evidence_id
           for k, c in caps.items()}
    size = led.sign_checkpoint_now().size
    anchor(led, size, tsa.url, tsa.ca_cert_pem,
           generate_signer("witness-w.example", ALG_COSIGNATURE_V1))
    caps["provisional"] = _capture(root / "provisional", now - timedelta(minutes=1))
    ids["provisional"] = preserve(intake, caps["provisional"], case="case-w",
                                  principal="acme-ip").evidence_id
    led.sign_checkpoint_now()
    out = {}
    for k, eid in ids.items():
        buf = io.BytesIO()
        export_bundle(led, store, eid, buf, provisional=k == "provisional")
        out[k] = Exported(caps[k].manifest, members(buf.getvalue()))
    yield out
    led.close()


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_text_report_states_the_capture(bundles: dict[str, Exported]) -> None:
    b = bundles["behind"]
    txt, m = b.txt, b.manifest
    assert "Web capture / 网页取证" in txt
    for value in (FINAL, SERVER_IP, SUBJECT, ISSUER, NODE.name, NODE.verifier().to_string(),
                  m["started_at"], m["ended_at"], "TLS 1.3", "c-report-1", "(port / 端口 443)"):
        assert value in txt, value
    assert f"URL / 网址: {URL}" in txt
    for i, url in enumerate(REDIRECTS, 1):
        assert f"{i}. {url}" in txt
    for label in LABELS:
        assert f"label / 标签 {label}:" in txt
    flat = _flat(txt)
    for label in LABELS:  # each explained in both languages
        zh, en = report_webcapture.label_explanation(label)
        assert _flat(zh) in flat and _flat(en) in flat
    for zh, en in (report_webcapture.COURT_CAN, report_webcapture.COURT_CANNOT):
        assert _flat(zh) in flat and _flat(en) in flat
    assert "Acourtcanconclude:" in flat and "法院不能认定：" in flat
    assert "Screenshot / 截图:" in txt and "top 1,664 px of 1,280×6,000 px" in txt


def test_clock_offset_and_what_its_sign_shows(bundles: dict[str, Exported]) -> None:
    for name, sign, says_en, says_zh in (
            ("behind", "+", "at most", "最多慢了"),
            ("ahead", "-", "ahead by at least", "至少快了")):
        b = bundles[name]
        stamps = [line for line in b.txt.splitlines() if "per / 据" in line]
        gen = datetime.fromisoformat(stamps[0].split()[0].replace("Z", "+00:00"))
        ended = datetime.fromisoformat(b.manifest["ended_at"].replace("Z", "+00:00"))
        want = f"{(gen - ended).total_seconds():+,.3f} s"
        assert want.startswith(sign)
        for text in (b.txt, b.html):
            assert want in text, (name, want)
        assert says_en in b.html and says_zh in b.html
        flat = _flat(b.txt)
        assert _flat(says_en) in flat and says_zh in flat
        assert "genTimeofthefirsttimestamp" in flat
    assert "ahead by at least" not in _flat(bundles["behind"].txt)


def test_html_report_shows_the_capture_and_the_screenshot(bundles: dict[str, Exported]
                                                          ) -> None:
    page = bundles["behind"].html
    for value in ("网页取证", "Web capture", FINAL, SERVER_IP, SUBJECT, ISSUER, NODE.name,
                  NODE.verifier().to_string(), bundles["behind"].manifest["ended_at"],
                  "法院可以认定与不能认定", "What a court can and cannot conclude"):
        assert value in page, value
    for zh, en in (report_webcapture.COURT_CAN, report_webcapture.COURT_CANNOT):
        assert html.escape(zh) in page and html.escape(en) in page
    imgs = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', page)
    assert len(imgs) == 1 and page.count("<img") == 1
    with Image.open(io.BytesIO(base64.b64decode(imgs[0]))) as im:
        assert im.format == "PNG" and im.width == report_webcapture.THUMB_WIDTH
        assert im.height == round(int(SHOT[0] * report_webcapture.MAX_ASPECT)
                                  * im.width / SHOT[0])
        rgb = im.convert("RGB")
        # the top of the screenshot, not its blue bottom
        assert {rgb.getpixel((x, y)) for x in (0, 450, 899) for y in (0, im.height - 1)} \
            == {RED}
    shot = next(f for f in bundles["behind"].manifest["files"] if f["role"] == "screenshot")
    assert shot["sha256"] in page  # the caption names the preserved file


def test_hostile_title_and_url_are_text(bundles: dict[str, Exported]) -> None:
    b = bundles["behind"]
    page = b.html
    assert "<script" not in page.lower() and "href=" not in page
    assert page.count("src=") == 1  # the thumbnail's data: URI, nothing else
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; javascript:alert(document.cookie)" \
        in page
    assert "q=&lt;b&gt;&amp;x=&quot;1&quot;" in page
    # bidi controls and line breaks from the page are shown as U+FFFD, never obeyed
    for text in (page, b.txt):
        assert "\u202e" not in text and "\u202c" not in text
        assert "\ufffdevil\ufffd" in text

    # intake refuses control characters in the metadata; the manifest's own are cleaned too
    assert report_webcapture.clean("bags\nEvidence id / 证据编号: FORGED\x1b[2J") \
        == "bags\ufffdEvidence id / 证据编号: FORGED\ufffd[2J"
    assert report_webcapture.clean("x" * 5000) == "x" * report_webcapture.TEXT_LIMIT + "…"


def test_pdf_report_states_the_capture(bundles: dict[str, Exported]) -> None:
    b = bundles["behind"]
    pdf = b.members["report/report.pdf"]
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    images = [img for page in reader.pages for img in page.images]
    assert len(images) == 1  # the thumbnail
    with Image.open(io.BytesIO(images[0].data)) as im:
        assert im.width == report_webcapture.THUMB_WIDTH
    if report.find_cjk_font() is None:
        pytest.skip("no CJK font installed: apt-get install fonts-wqy-zenhei")
    text = b.pdf_text()
    flat = _flat(text)
    for value in (FINAL, SERVER_IP, SUBJECT, ISSUER, NODE.name, NODE.verifier().to_string(),
                  b.manifest["started_at"], b.manifest["ended_at"], "网页取证", "Web capture"):
        assert _flat(value) in flat, value
    for zh, en in (report_webcapture.COURT_CAN, report_webcapture.COURT_CANNOT):
        assert _flat(zh) in flat and _flat(en) in flat
    for label in LABELS:
        assert _flat(report_webcapture.label_explanation(label)[1]) in flat


def test_pdf_without_a_cjk_font_still_states_the_capture(bundles: dict[str, Exported]
                                                         ) -> None:
    """The English-only PDF (no CJK font where it was made) keeps the capture's facts."""
    b = bundles["behind"]
    data = _report_data_of(b)
    text = _flat(pdf_text(report.render_pdf(data, None, search=False)))
    for value in (FINAL, SERVER_IP, SUBJECT, ISSUER, report_webcapture.COURT_CAN[1],
                  report_webcapture.COURT_CANNOT[1]):
        assert _flat(value) in text, value


def _report_data_of(b: Exported) -> dict[str, Any]:
    """Report data for the rendering-only checks: the webcapture part rebuilt from the
    exported bundle's own files, as the exporter builds it."""
    man = json.loads(b.members["manifest.json"])
    files = []
    for f in man.get("files") or []:
        data = b.members[f["path"]]  # the member that holds it (v1 or v2 layout)
        files.append((f["name"], f["sha256"], lambda data=data: io.BytesIO(data)))
    wc = report_webcapture.webcapture_report_data("webcapture", {}, files,
                                                  ["2026-12-06T21:05:00Z"])
    assert wc is not None
    return {"evidence_id": "ev_x", "kind": "webcapture", "submission_seq": 1, "files": [],
            "timestamps": [], "witnesses": [], "custody": [], "webcapture": wc}


def test_provisional_bundle_states_no_offset(bundles: dict[str, Exported]) -> None:
    """No timestamp, no proof of time: the capture is shown, the offset is not computed."""
    b = bundles["provisional"]
    assert b.txt.startswith("EVIDENCE BUNDLE REPORT") and "*** provisional" in b.txt
    for text in (b.txt, b.html):
        assert FINAL in text and SERVER_IP in text
        assert "Not available: this bundle has no RFC 3161 timestamp and proves no time." in text
        assert "无法计算：本证据包没有 RFC 3161 时间戳，不证明任何时间。" in text
        assert "genTime of the first timestamp" not in text


def test_other_kinds_and_purged_items_get_no_capture_section() -> None:
    assert report_webcapture.webcapture_report_data("screenshot", {}, [], []) is None
    assert report_webcapture.webcapture_report_data("webcapture", None, [], []) is None


def test_offset_statement_without_a_timestamp() -> None:
    """A provisional bundle carries no timestamp: no offset, and no time claimed."""
    zh, en = report_webcapture.offset_statement({"clock_offset_seconds": None,
                                                 "first_gen_time": None})
    assert "no RFC 3161 timestamp" in en and "没有 RFC 3161 时间戳" in zh
    assert report_webcapture.clock_offset([], "2026-12-06T21:00:00Z") == (None, None)
    first, d = report_webcapture.clock_offset(
        ["2026-12-06T21:00:30.5Z", "2026-12-06T21:00:10Z"], "2026-12-06T21:00:00Z")
    assert first == "2026-12-06T21:00:10Z" and d == 10.0
    assert report_webcapture.clock_offset(["2026-12-06T21:00:10Z"], "not a time") \
        == ("2026-12-06T21:00:10Z", None)
