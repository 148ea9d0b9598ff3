"""The ``browser`` and ``tab`` fixtures of the browser tests: one chromium per module
(:func:`tests.support.browser.shared_browser` says why), a fresh tab per test, and no
console or page error left behind. A module that needs another tab (its own ``Page``)
defines its own ``tab``; pytest takes the module's over these."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.browser import Page, shared_browser


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest) -> Any:
    return shared_browser(request)


@pytest.fixture
def tab(browser: Any) -> Iterator[Page]:
    p = Page(browser)
    yield p
    assert not p.errors, p.errors
    p.close()


@pytest.fixture
def tabs(browser: Any, srv: Any) -> Iterator[Any]:
    """Console tabs made by the test (``tabs(**context)``) on the module's ``srv``; none
    may end with a page error."""
    from tests.support.console_page import Console

    made: list[Console] = []

    def new(**ctx: Any) -> Console:
        c = Console(browser, srv, **ctx)
        made.append(c)
        return c

    yield new
    for c in made:
        assert not c.real_errors(), c.real_errors()
        c.close()
