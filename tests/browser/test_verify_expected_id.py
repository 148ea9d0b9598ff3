"""The verify page opened from the court report's QR code: ``/verify/?id=<evidence_id>``
(docs/verify-page.md, "An evidence id in the link").

- The id is shown and pre-filled in the lookup; after a bundle, the page says whether the
  bundle's evidence id is the link's: the same id (green only when the bundle did not
  fail), another id (a warning in the bad colour, never green), in English and Chinese.
- The id is not a verdict input: the verdict and every check are the same with any id or
  none.
- A hostile id is named as invalid, shown as text, and ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import PAGE_URL, Page, stamped_bundle, trust_text
from tests.support.tsa import LocalTSA
from tests.vectors_shared import bundles as B

pytestmark = pytest.mark.tsa

GREEN = "rgb(10, 107, 45)"  # style.css --ok


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> Path:
    d = tmp_path_factory.mktemp("expected-id")
    (d / "good.zip").write_bytes(stamped_bundle(tsa).zip_bytes())
    (d / "tampered.zip").write_bytes(B.VARIANTS["tampered-file"]())
    (d / "trust.txt").write_text(trust_text(tsa.ca_cert_pem), "utf-8")
    return d


def _open(browser: Any, files: Path, query: str, lang: str = "en") -> Page:
    p = Page(browser, url=PAGE_URL + query)
    p.open(lang=lang, keys=False, trust=files / "trust.txt")
    return p


def _checks(got: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["name"], c["status"]) for c in got["report"]["checks"]]


def _match(p: Page) -> dict[str, Any]:
    return p.page.evaluate("""() => {
        const m = document.getElementById('id-match');
        if (!m || m.hidden) return null;
        const cs = getComputedStyle(m);
        return {match: m.dataset.match, cls: m.className, text: m.innerText,
                border: cs.borderTopColor, color: cs.color,
                before_verdict: m.nextElementSibling === document.getElementById('verdict')};
    }""")


def test_the_id_in_the_link_is_shown_compared_and_not_a_verdict_input(
        browser: Any, files: Path) -> None:
    # without an id: no banner, no comparison; the reference verdict and checks
    plain = _open(browser, files, "")
    try:
        ref = plain.verify(files / "good.zip")
        assert ref["verdict"] == "verified", ref["text"]
        assert ref["report"]["evidence_id"] == B.EVIDENCE_ID
        assert plain.page.locator("#expected-id").count() == 0
        assert _match(plain) is None
        assert plain.page.input_value("#lookup-input") == ""
        assert not plain.errors, plain.errors
    finally:
        plain.close()

    # the same id: shown, pre-filled, and a green "matches" beside the same verdict
    same = _open(browser, files, f"?id={B.EVIDENCE_ID}")
    try:
        banner = same.page.locator("#expected-id")
        assert banner.get_attribute("data-id") == B.EVIDENCE_ID
        assert B.EVIDENCE_ID in banner.inner_text()
        assert "does not change the verdict" in banner.inner_text()
        assert same.page.input_value("#lookup-input") == B.EVIDENCE_ID
        assert _match(same) is None  # nothing to compare before a bundle
        got = same.verify(files / "good.zip")
        assert got["verdict"] == ref["verdict"] and _checks(got) == _checks(ref)
        m = _match(same)
        assert m["match"] == "yes" and "ok" in m["cls"].split(), m
        assert m["border"] == GREEN and m["before_verdict"], m
        assert "the id in the link you opened" in m["text"]
        same.page.click("#lang-zh")
        assert "与您打开的链接中的编号一致" in _match(same)["text"]
        same.shot("verify-expected-id-match")
        assert not same.errors, same.errors
    finally:
        same.close()

    # another id (one that exists in the same log): a warning, never green; verdict as is
    other = _open(browser, files, "?id=ev_other1")
    try:
        got = other.verify(files / "good.zip")
        assert got["verdict"] == ref["verdict"] and _checks(got) == _checks(ref)
        m = _match(other)
        assert m["match"] == "no", m
        assert "ok" not in m["cls"].split() and "bad" in m["cls"].split(), m
        assert GREEN not in (m["border"], m["color"]), m
        assert m["before_verdict"]
        assert "Warning" in m["text"] and "ev_other1" in m["text"] and B.EVIDENCE_ID in m["text"]
        assert "NOT" in m["text"]
        other.page.click("#lang-zh")
        zh = _match(other)["text"]
        assert "警告" in zh and "而不是" in zh and "ev_other1" in zh
        other.shot("verify-expected-id-mismatch")
        # a second bundle: the comparison is made again (not kept from the first)
        got = other.verify(files / "tampered.zip")
        assert got["verdict"] == "failed"
        assert _match(other)["match"] == "no"
        assert not other.errors, other.errors
    finally:
        other.close()


def test_a_matching_id_on_a_failed_bundle_is_not_green(browser: Any, files: Path) -> None:
    p = _open(browser, files, f"?id={B.EVIDENCE_ID}")
    try:
        got = p.verify(files / "tampered.zip")
        assert got["verdict"] == "failed"
        m = _match(p)
        assert m["match"] == "yes" and "ok" not in m["cls"].split(), m
        assert GREEN not in (m["border"], m["color"]), m
        assert "failed verification" in m["text"]
        assert not p.errors, p.errors
    finally:
        p.close()


@pytest.mark.parametrize("bad", ["<img src=x onerror=alert(1)>", "ev main", "-ev", "x" * 200])
def test_a_hostile_id_is_named_invalid_and_ignored(browser: Any, files: Path, bad: str) -> None:
    from urllib.parse import quote

    p = _open(browser, files, f"?id={quote(bad)}")
    try:
        banner = p.page.locator("#expected-id")
        assert banner.get_attribute("data-valid") == "no"
        assert "not valid" in banner.inner_text()
        assert p.page.locator("#expected-id img").count() == 0  # text, never markup
        assert p.page.input_value("#lookup-input") == ""
        got = p.verify(files / "good.zip")
        assert got["verdict"] == "verified"
        assert _match(p) is None  # nothing compared with an id that is not one
        assert not p.errors, p.errors
    finally:
        p.close()
