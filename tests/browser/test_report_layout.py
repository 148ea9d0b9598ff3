"""The court report's layout in a real browser (Debian chromium under Playwright) and on A4.

The HTML report (``report/report.html``, evidence.ledger.bundle.report) is opened from a
file at the widths a reader uses (a phone 360 px, a tablet 768 px, a desktop 1280 px) and
printed to A4 by chromium: no element may reach past the page's right edge, and the title
keeps to a sane number of lines (it once wrapped one character per line beside the QR code
and its long caption). The PDF report must have A4 pages."""

from __future__ import annotations

import copy
import io
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fpdf", reason="the report needs fpdf2 (pip install fpdf2)")
pytest.importorskip("segno", reason="the report needs segno (pip install segno)")

import pypdf

from evidence.ledger.bundle import report
from tests.support.browser import ARTIFACTS, Page
from tests.support.report_data import DATA

A4_PT = (595.28, 841.89)  # 210 x 297 mm in PDF points


def _rich() -> dict[str, Any]:
    """The unit tests' report data with every new part filled, long values included."""
    d = copy.deepcopy(DATA)
    d.update(
        title="侵权商品页面截图 Screenshot of the infringing listing " * 3,
        source_url="https://shop.example/item/" + "a" * 300 + "?ref=" + "b" * 200,
        submitter={"principal": "local:root", "display_name": "Alice Zhang",
                   "organisation": "上海某某知识产权代理有限公司 Shanghai Example IP Agency Co., "
                                   "Ltd.",
                   "case_title": "Acme v. Shop"},
        submitter_signature={"state": "signed", "key": "acme-ip.example+1a2b3c4d",
                             "vkey": "acme-ip.example+1a2b3c4d+" + "A" * 44},
        leaf_hash="c0ffee" * 10 + "abcd", time_zone="Asia/Shanghai",
        verify_url="https://evidence.example/verify/?id=ev_01J9ZK7QX4",
        email=[{"file": "offer.eml", "from": "张三 <zhang@shop.example>",
                "to": "Alice <alice@acme.example>", "subject": "报价 " * 40,
                "date": "2026-11-20T10:11:12+08:00", "message_id": "<m1@shop.example>",
                "dkim_result": "pass", "dkim_signatures": [
                    {"result": "pass", "domain": "shop.example", "selector": "s2024",
                     "key_source": "supplied"}]}])
    d["timestamps"][0].update(subject_cn="Evidence Test TSA", subject_o="Example TSA Ltd",
                              legal_name="Example Time-Stamping Authority Ltd",
                              verified=True)
    d["witnesses"][0].update(key_name="witness.court.example/w1", legal_name="Court W GmbH")
    return d


@pytest.fixture(scope="module")
def html_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report-layout") / "report.html"
    path.write_bytes(report.render_html(_rich()))
    return path


_OVERFLOW = """() => {
    const limit = document.documentElement.clientWidth + 1;
    const bad = [];
    for (const el of document.body.querySelectorAll('*')) {
        const r = el.getBoundingClientRect();
        if (r.width > 0 && r.right > limit) {
            bad.push(`${el.tagName}.${el.className.baseVal ?? el.className}: right ${r.right}`);
        }
    }
    return {bad: bad.slice(0, 10), scroll: document.documentElement.scrollWidth,
            client: document.documentElement.clientWidth};
}"""

_TITLE = """() => {
    const h = document.querySelector('header h1');
    const lh = parseFloat(getComputedStyle(h).lineHeight) ||
               parseFloat(getComputedStyle(h).fontSize) * 1.2;
    const r = h.getBoundingClientRect();
    return {lines: Math.round(r.height / lh), width: r.width};
}"""


@pytest.mark.parametrize("width", [360, 768, 1280])
def test_no_overflow_and_a_readable_title(browser: Any, html_file: Path, width: int) -> None:
    tab = Page(browser, url=html_file.as_uri())
    try:
        tab.page.set_viewport_size({"width": width, "height": 900})
        tab.page.goto(html_file.as_uri())
        over = tab.page.evaluate(_OVERFLOW)
        assert over["bad"] == [] and over["scroll"] <= over["client"], over
        title = tab.page.evaluate(_TITLE)
        # "电子证据保全报告 Evidence Preservation Report": 2-4 lines on a phone, 1-2 wider
        assert title["lines"] <= (4 if width < 500 else 2), title
        assert title["width"] >= min(width - 40, 12 * 16) * 0.9, title
        tab.page.screenshot(path=str(ARTIFACTS / f"report-{width}.png"), full_page=True)
        assert not tab.errors, tab.errors
    finally:
        tab.close()


def test_printed_on_a4_nothing_overflows(browser: Any, html_file: Path) -> None:
    """Chromium's print layout (the CSS @page A4 rule): the content width of A4 with 15 mm
    margins is 180 mm, 680 CSS px; the page must fit it, and the print is A4."""
    tab = Page(browser, url=html_file.as_uri())
    try:
        tab.page.set_viewport_size({"width": 680, "height": 1000})
        tab.page.goto(html_file.as_uri())
        tab.page.emulate_media(media="print")
        over = tab.page.evaluate(_OVERFLOW)
        assert over["bad"] == [] and over["scroll"] <= over["client"], over
        assert tab.page.evaluate(_TITLE)["lines"] <= 2
        pdf = tab.page.pdf(prefer_css_page_size=True, print_background=True)
        pages = pypdf.PdfReader(io.BytesIO(pdf)).pages
        assert len(pages) >= 2
        for p in pages:
            assert (float(p.mediabox.width), float(p.mediabox.height)) == pytest.approx(
                A4_PT, abs=1.0)
    finally:
        tab.close()


def test_the_pdf_report_is_a4() -> None:
    pdf = report.render_pdf(_rich(), None, search=True)
    pages = pypdf.PdfReader(io.BytesIO(pdf)).pages
    assert len(pages) >= 2
    for p in pages:
        assert (float(p.mediabox.width), float(p.mediabox.height)) == pytest.approx(
            A4_PT, abs=0.5)
