"""The printable court report (``evidence.ledger.bundle.report``): a valid PDF with the Chinese
text and the hashes in it (a CJK font embedded), an English-only PDF that says why when no
CJK font is there, self-contained bilingual HTML, and a QR code that decodes to its payload."""

from __future__ import annotations

import copy
import io
import os
import re
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fpdf", reason="the report needs fpdf2 (pip install fpdf2)")
pytest.importorskip("segno", reason="the report needs segno (pip install segno)")

import pypdf
import segno

from evidence.ledger.bundle import report
from tests.support.report_data import DATA, ROOT, SHA_EML, SHA_PNG, VKEY

PAYLOAD = f"evidence:ev_01J9ZK7QX4?seq=17&sha256={SHA_PNG}"


@pytest.fixture(scope="module")
def rendered() -> dict[str, bytes]:
    return report.render_report(DATA)


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_members(rendered: dict[str, bytes]) -> None:
    assert set(rendered) == {"report.html", "report.pdf"}
    assert rendered["report.pdf"].startswith(b"%PDF-")


def test_pdf_has_chinese_and_the_hashes(rendered: dict[str, bytes]) -> None:
    font = report.find_cjk_font()
    if font is None:
        pytest.skip("no CJK font installed: apt-get install fonts-wqy-zenhei")
    text = pdf_text(rendered["report.pdf"])
    flat = re.sub(r"\s+", "", text)
    for phrase in ("电子证据保全报告", "证据编号", "保管时间线", "如何独立验证", "侵权网店截图.png",
                   "Evidence Preservation Report", "Custody timeline"):
        assert phrase in text, phrase
    for h in (SHA_PNG, SHA_EML, ROOT):
        assert h in flat
    assert "ev_01J9ZK7QX4" in text and "sha256sum" in text
    assert PAYLOAD in flat  # printed under the QR code
    # the CJK font is embedded (a subset), not merely named
    reader = pypdf.PdfReader(io.BytesIO(rendered["report.pdf"]))
    fonts = {}
    for page in reader.pages:
        for f in page["/Resources"]["/Font"].values():
            f = f.get_object()
            desc = f["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object() \
                if "/DescendantFonts" in f else f.get("/FontDescriptor")
            fonts[str(f["/BaseFont"])] = desc is not None and "/FontFile2" in desc
    assert any("WenQuanYi" in name or "Noto" in name for name in fonts), fonts
    assert all(fonts.values()), fonts


def test_pdf_without_a_cjk_font_is_english_and_says_so() -> None:
    data = report.render_pdf(DATA, None, search=False)
    text = pdf_text(data)
    assert "No Chinese (CJK) font was installed" in text
    assert "Evidence Preservation Report" in text
    assert SHA_PNG in re.sub(r"\s+", "", text)
    assert "证据" not in text


def test_font_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(report.FONT_ENV, str(tmp_path / "missing.ttf"))
    with pytest.raises(FileNotFoundError, match=report.FONT_ENV):
        report.find_cjk_font()
    font = next((p for p, _, _ in report.CJK_FONTS if os.path.isfile(p)), None)
    if font is None:
        pytest.skip("no CJK font installed")
    monkeypatch.setenv(report.FONT_ENV, f"{font}#0")
    assert report.find_cjk_font() == report.CjkFont(Path(font), 0, 0)


def test_html_is_bilingual_and_self_contained(rendered: dict[str, bytes]) -> None:
    page = rendered["report.html"].decode("utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert '<html lang="zh-CN">' in page and 'lang="en"' in page
    assert '<meta charset="utf-8">' in page
    for phrase in ("电子证据保全报告", "Evidence Preservation Report", "保管时间线",
                   "Custody timeline", SHA_PNG, SHA_EML, ROOT, VKEY, "sha256sum",
                   "evidence verify ev_01J9ZK7QX4.zip", "python verify_bundle.py"):
        assert phrase in page, phrase
    # nothing loaded from anywhere: no URLs, scripts, links, external fonts or images
    low = page.lower()
    for bad in ("http://", "https://", "<script", "<link", "<img", "<iframe", "src=", "href=",
                "@import", "url(", "@font-face"):
        assert bad not in low, bad
    assert "<svg" in page


def test_html_escapes_hostile_names() -> None:
    data = copy.deepcopy(DATA)
    data["files"][0]["name"] = '<script>alert("x")</script>.png'
    data["custody"][1]["principal"] = "<img src=x onerror=alert(1)>"
    page = report.render_html(data).decode()
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;" in page


def test_qr_payload_and_decoding(rendered: dict[str, bytes]) -> None:
    assert report.qr_payload(DATA) == PAYLOAD
    page = rendered["report.html"].decode()
    # the inline SVG is exactly the code of the intended payload (re-encoded here)
    assert report.qr_svg(PAYLOAD) in page
    zxingcpp = pytest.importorskip("zxingcpp", reason="no QR decoder (pip install zxing-cpp)")
    from PIL import Image

    buf = io.BytesIO()
    segno.make(PAYLOAD, error="m").save(buf, kind="png", scale=6, border=4)
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(buf.getvalue())))
    assert [r.text for r in results] == [PAYLOAD]


def test_pdf_qr_is_the_same_matrix() -> None:
    """The PDF draws the QR matrix of the payload as filled squares: read them back from
    the first page's content stream, they are exactly the code's dark modules."""
    pdf = pypdf.PdfReader(io.BytesIO(report.render_pdf(DATA, None, search=False)))
    stream = pdf.pages[0].get_contents().get_data().decode("latin-1")  # type: ignore[union-attr]
    squares = [tuple(map(float, m)) for m in re.findall(
        r"^([-\d.]+) ([-\d.]+) ([-\d.]+) ([-\d.]+) re f$", stream, re.M)]
    matrix = [list(row) for row in segno.make(PAYLOAD, error="m").matrix_iter(border=2)]
    dark = {(r, c) for r, row in enumerate(matrix) for c, v in enumerate(row) if v}
    assert len(squares) >= len(dark)
    qr = squares[: len(dark)]  # drawn first, one square per dark module
    cell = qr[0][2]
    assert all((w, h) == (cell, -cell) for _x, _y, w, h in qr)
    left, top = min(x for x, *_ in qr), max(y for _x, y, *_ in qr)
    at = {(round((top - y) / cell), round((x - left) / cell)) for x, y, *_ in qr}
    r0, c0 = min(r for r, _ in dark), min(c for _, c in dark)
    assert at == {(r - r0, c - c0) for r, c in dark}


@pytest.mark.slow  # a PDF with the CJK font embedded: seconds
def test_purged_item_and_no_timestamps() -> None:
    data = copy.deepcopy(DATA)
    data.update(purged=True, purged_at="2027-01-01T00:00:00.000000Z", timestamps=[],
                witnesses=[], warnings=["the checkpoint of size 1234 has no RFC 3161 "
                                        "timestamp yet"])
    out = report.render_report(data)
    page = out["report.html"].decode()
    assert "已清除 PURGED" in page and "No RFC 3161 timestamp yet" in page
    if report.find_cjk_font() is not None:
        text = pdf_text(out["report.pdf"])
        assert "已清除" in text and "尚无 RFC 3161 时间戳" in text


@pytest.mark.slow  # a PDF with the CJK font embedded: seconds
def test_the_exporter_seam_includes_the_report() -> None:
    export = pytest.importorskip("evidence.ledger.bundle.export")
    out = export.render(DATA)
    assert {"report.txt", "report.html", "report.pdf"} <= set(out)


TOOL_SHA = "1f0c87aa39968664ecf1fd930e21944102e0d547a20af348ac65c29fc084f920"


def _provisional() -> dict[str, Any]:
    data = copy.deepcopy(DATA)
    data.update(provisional=True, timestamps=[], warnings=[
        "PROVISIONAL bundle: the checkpoint of size 1234 has no RFC 3161 timestamp yet"])
    return data


@pytest.mark.slow  # a PDF with the CJK font embedded: seconds
def test_provisional_report_says_so_and_claims_no_time() -> None:
    """docs/verdict.md section 2: a provisional bundle's reports say "provisional: no proof of
    time / 临时证据包：无时间证明" in both languages, and no summary claims a time."""
    data = _provisional()
    out = {**report.render_report(data), **pytest.importorskip(
        "evidence.ledger.bundle.report_txt").render_report(data)}
    txt, page = out["report.txt"].decode(), out["report.html"].decode()
    assert "provisional: no proof of time / 临时证据包：无时间证明" in txt
    assert txt.index("provisional: no proof of time") < txt.index("Files / 文件")  # at the top
    head = page[:page.index("<h2>")]
    assert 'class="provisional"' in head and "临时证据包：无时间证明" in head
    assert "provisional: no proof of time" in head
    for text in (txt, page):
        for claim in ("Preserved no later than", "不晚于以下时间已保全", "No later than (genTime)",
                      "不晚于（genTime）", "proves that the checkpoint"):
            assert claim not in text, claim
    assert "operator's clock" in txt and "运营方时钟" in txt  # log time, named as such
    if report.find_cjk_font() is not None:
        text = pdf_text(out["report.pdf"])
        assert "临时证据包：无时间证明" in text and "provisional: no proof of time" in text
        assert "不晚于（genTime）" not in text
    english = pdf_text(report.render_pdf(data, None, search=False))
    assert "provisional: no proof of time" in english


@pytest.mark.slow  # a PDF with the CJK font embedded: seconds
def test_the_tool_and_the_trust_file_are_explained() -> None:
    data = copy.deepcopy(DATA)
    data["tool"] = {"member": "tools/verify_bundle.py", "sha256": TOOL_SHA,
                    "reference": ["scripts/verify_bundle.py in the evidence project's source "
                                  "repository / 本项目源代码仓库中的 scripts/verify_bundle.py"]}
    out = report.render_report(data)
    page = out["report.html"].decode()
    assert "独立验证程序" in page and "Stand-alone verifier" in page
    assert TOOL_SHA in page and "scripts/verify_bundle.py" in page
    assert "GET /v1/log/trust" in page and "never from this bundle" in page
    assert "不得取自本证据包" in page
    if report.find_cjk_font() is not None:
        flat = re.sub(r"\s+", "", pdf_text(out["report.pdf"]))
        assert TOOL_SHA in flat and "独立验证程序" in flat
