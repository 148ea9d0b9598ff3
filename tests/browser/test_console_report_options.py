"""The console's bundle export asks for the report's time zone and forum (docs/report.md),
against a real ``evidence serve`` in Debian's chromium: the zone select starts at the
browser's own zone, both selects keep their choice when the language changes, and the bundle
downloaded carries a report in that zone with only that forum's checklist.

The server has no TSA, so the bundle is the provisional one the console offers."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.api_server import Server, make_world, start_server
from tests.support.console_page import Console


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("console-report")
    conf = base / "evidence.toml"
    conf.write_text('[serve]\npublic_url = "https://evidence.example"\n', "utf-8")
    s = start_server(make_world(base / "data"), "--no-anchor", "--config", str(conf))
    try:
        yield s
    finally:
        s.stop()


def test_zone_and_forum_selects_shape_the_exported_report(browser: Any, srv: Server) -> None:
    c = Console(browser, srv, timezone_id="Europe/Berlin").open()
    try:
        c.sign_in("acme")
        eid = c.preserve([("listing.txt", b"a listing " + os.urandom(8).hex().encode(),
                           "text/plain")], title="listing")
        c.go(f"item/{eid}")
        c.page.wait_for_selector("#report-tz")
        assert c.page.input_value("#report-tz") == "Europe/Berlin"  # the browser's zone
        assert c.page.input_value("#report-forum") == ""  # all
        c.page.select_option("#report-tz", "America/New_York")
        c.page.select_option("#report-forum", "us")
        c.page.click("#lang-zh")
        assert "美国" in c.page.inner_text("#report-forum option:checked")
        assert c.page.input_value("#report-tz") == "America/New_York"  # kept across languages
        c.page.click("#lang-en")
        c.page.click("#export-btn")
        c.page.wait_for_selector('#export-msg [data-code="not-anchored-yet"]')
        assert c.page.input_value("#report-forum") == "us"  # kept across the re-drawing
        bundle = c.download("#export-prov-btn")
        with zipfile.ZipFile(io.BytesIO(bundle)) as z:
            txt = " ".join(z.read("report/report.txt").decode().split())
        assert "America/New_York (chosen at export)" in txt
        assert "902(14)" in txt and "eIDAS Regulation Art. 41-42" not in txt
        assert f"https://evidence.example/verify/?id={eid}" in txt
        # the 409 and the not-yet-anchored 404s are answers, not page errors
        assert not [e for e in c.errors if "Failed to load resource" not in e], c.errors
    finally:
        c.close()
