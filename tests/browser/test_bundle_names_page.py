"""The page's ``safeName`` and ``namePartOk`` (static/verify/verify.js) in Chromium against
the table and the random names of tests/support/bundle_names_table.py, to which
tests/verify/test_bundle_names.py holds the package and the stand-alone script
(docs/bundle.md "File names (v2)").

Names cross into the page as JSON text, so lone surrogates arrive as they would from an
entry."""

from __future__ import annotations

import json

from evidence.verify.bundle_names import name_part_ok, safe_name
from tests.support.browser import Page
from tests.support.bundle_names_table import TABLE, random_names


def _page_answers(tab: Page, names: list[object]) -> list[list[object]]:
    tab.open(keys=False)
    got = tab.page.evaluate("""(text) => JSON.stringify(JSON.parse(text).map((n) => [
        EvidenceVerify.safeName(n),
        typeof n === 'string' ? EvidenceVerify.namePartOk(n) : null]))""", json.dumps(names))
    return json.loads(got)


def test_page_table(tab: Page) -> None:
    got = _page_answers(tab, [n for n, _ in TABLE])
    assert [g[0] for g in got] == [want for _, want in TABLE]


def test_page_random_names(tab: Page) -> None:
    names = random_names()
    got = _page_answers(tab, names)
    differ = [(n, safe_name(n), g) for n, g in zip(names, got, strict=True)
              if g != [safe_name(n), name_part_ok(n)]]
    assert not differ, differ[:5]
