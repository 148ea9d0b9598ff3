"""The console page of the browser tests (docs/console.md): :class:`Console`, a tab on
``/console/`` signed in as one principal, and the small constants the console tests share.
Each test module makes its own server (``srv``) and hands it to :class:`Console`."""

from __future__ import annotations

import base64
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from tests.support.api_server import Server
from tests.support.browser import Page

__all__ = ["DENIED_LOAD", "IN_A_MONTH", "PNG", "Console"]

# the smallest PNG: one red pixel
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIA"
                       "X8jx0gAAAABJRU5ErkJggg==")
IN_A_MONTH = (date.today() + timedelta(days=30)).isoformat()  # grants last at most 366 days
DENIED_LOAD = "Failed to load resource"  # chromium's console line for every 4xx/5xx answer


class Console(Page):
    """A tab on the console, signed in as one principal."""

    def __init__(self, browser: Any, srv: Server, **ctx: Any) -> None:
        super().__init__(browser, url=srv.base + "/console/", accept_downloads=True, **ctx)
        self.srv = srv

    def open(self, *, lang: str = "en", hash: str = "") -> Console:  # type: ignore[override]
        self.page.goto(f"{self.url}?lang={lang}{hash}")
        self.page.wait_for_function("() => window.EvidenceConsole && window.EvidenceConsole.ready")
        return self

    def sign_in(self, who: str, *, token: str | None = None) -> Console:
        self.page.fill("#token", token or self.srv.world.tokens[who])
        self.page.click("#signin-btn")
        if token is None:
            self.page.wait_for_selector("#whoami:not([hidden])")
        return self

    def go(self, view: str) -> None:
        self.page.evaluate(f"location.hash = '#/{view}'")
        self.page.wait_for_selector(f"#view-{view.split('/')[0]}:not([hidden])")

    def api(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        """A call through the console's own API module: {status, code}."""
        return self.page.evaluate("""async ([m, p, kw]) => {
            try { await window.EvidenceConsole.api.call(m, p, kw); return {status: 200}; }
            catch (e) { return {status: e.status || 0, code: e.code}; } }""", [method, path, kw])

    def drop(self, files: list[tuple[str, bytes, str]]) -> None:
        dt = self.page.evaluate_handle("""(files) => {
            const dt = new DataTransfer();
            for (const [name, b64, type] of files) {
              const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
              dt.items.add(new File([bytes], name, { type }));
            }
            return dt; }""", [[n, base64.b64encode(b).decode(), t] for n, b, t in files])
        self.page.dispatch_event("#drop", "drop", {"dataTransfer": dt})

    def preserve(self, files: list[tuple[str, bytes, str]], *, kind: str = "document",
                 title: str = "", sign: bool = False) -> str:
        self.go("submit")
        self.page.select_option("#f-kind", kind)
        if title:
            self.page.fill("#f-title", title)
        if sign:
            self.page.check("#f-sign")
        self.drop(files)
        self.page.click("#submit-btn")
        self.page.wait_for_selector("#preserved")
        return self.page.get_attribute("#preserved", "data-id")

    def download(self, selector: str) -> bytes:
        with self.page.expect_download() as d:
            self.page.click(selector)
        return Path(d.value.path()).read_bytes()

    def wait_anchored(self, eid: str, timeout: float = 60) -> None:
        self.go("list")
        deadline = time.monotonic() + timeout
        while True:
            self.page.fill("#s-q", eid)
            self.page.click("#search-btn")
            self.page.wait_for_selector(f'#list-results tr[data-id="{eid}"]')
            st = self.page.get_attribute(f'tr[data-id="{eid}"] .badge', "data-status")
            if st == "anchored" or time.monotonic() > deadline:
                assert st == "anchored", st
                return
            time.sleep(0.5)

    def real_errors(self) -> list[str]:
        return [e for e in self.errors if DENIED_LOAD not in e]
