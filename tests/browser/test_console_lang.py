"""The console in Debian's chromium against a real ``evidence serve``: what it has said (the
status line, a submission's result, a refusal of the form) is said again in the other
language when the reader switches, not left in the language it was written in; and a
metadata fact name the server would refuse is refused in the form, naming the line,
before anything is sent, by the server's own rule (evidence/ledger/intake/staging.py),
whose message names the field neutrally (no CLI flag) when a client does send one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.api_server import Server, make_world, start_server


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    world = make_world(tmp_path_factory.mktemp("console-lang") / "data")
    s = start_server(world, "--no-anchor", "--rate", "1000", "--burst", "1000")
    try:
        yield s
    finally:
        s.stop()




def _size(srv: Server) -> int:
    with srv.client("acme") as h:
        return int(h.get("/v1/status").json()["size"])


def test_said_again_in_the_other_language(tabs: Any, srv: Server) -> None:
    c = tabs().open()
    c.sign_in("acme")
    eid = c.preserve([("notice.txt", b"listing " + os.urandom(8).hex().encode(), "text/plain")])
    assert c.page.get_attribute("#status", "data-key") == "preserved"
    assert f"Preserved as {eid}." in c.page.inner_text("#status")
    assert f"Preserved as {eid}." in c.page.inner_text("#submit-result")
    c.page.click("#lang-zh")
    assert f"已保全，证据编号 {eid}。" in c.page.inner_text("#status")
    result = c.page.inner_text("#submit-result")
    assert f"已保全，证据编号 {eid}。" in result and "Preserved as" not in result
    assert c.page.get_attribute("#preserved", "data-id") == eid
    c.page.click("#lang-en")
    assert f"Preserved as {eid}." in c.page.inner_text("#submit-result")


def test_a_bad_fact_name_is_refused_in_the_form(tabs: Any, srv: Server) -> None:
    c = tabs().open()
    c.sign_in("acme")
    c.go("submit")
    c.page.select_option("#f-case", "case-a")
    c.page.fill("#f-meta", "platform = Taobao\nshop id = 7781")
    c.drop([("shot.txt", b"listing " + os.urandom(8).hex().encode(), "text/plain")])
    before = _size(srv)
    c.page.click("#submit-btn")
    c.page.wait_for_selector("#submit-result [role=alert]")
    said = c.page.inner_text("#submit-result")
    assert "“shop id” cannot be a fact name" in said, said
    assert "--meta" not in said
    c.page.click("#lang-zh")
    said = c.page.inner_text("#submit-result")
    assert "“shop id”不能作为事实名称" in said and "其他事实" in said, said
    c.page.click("#lang-en")
    assert _size(srv) == before  # nothing was sent
    assert c.page.locator("#preserved").count() == 0
    # a name given twice, a value with a control character: refused the same way
    c.page.fill("#f-meta", "shop = a\nshop = b")
    c.page.click("#submit-btn")
    c.page.wait_for_function("() => document.querySelector('#submit-result').innerText"
                             ".includes('given twice')")
    c.page.fill("#f-meta", "shop = a\tb")
    c.page.click("#submit-btn")
    c.page.wait_for_function("() => document.querySelector('#submit-result').innerText"
                             ".includes('control characters')")
    assert _size(srv) == before
    # the console's rule is the server's: a client that sends such a name anyway is told
    # so by the server, in words that name no CLI flag
    with srv.client("acme") as h:
        r = h.post("/v1/evidence", data={"case": "case-a", "kind": "document",
                                         "meta": '{"shop id": "7781"}'},
                   files=[("file", ("x.txt", b"x" + os.urandom(4), "text/plain"))])
    assert r.status_code == 422, r.text
    assert "metadata fact name 'shop id'" in r.text and "--meta" not in r.text
    assert _size(srv) == before
