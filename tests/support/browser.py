"""The judges' verification page in a real browser: Debian's chromium driven headless by
Playwright for Python, one tab per :class:`Page`, and the trust file the page's vector
bundles need. Browser tests take the ``browser`` and ``tab`` fixtures of
tests/browser/conftest.py, which start chromium through :func:`shared_browser`.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from evidence.ledger.anchor.tsa_client import request_timestamp
from tests.support.tsa import LocalTSA
from tests.vectors_shared import bundles as B

ROOT = Path(__file__).resolve().parents[2]
PAGE_DIR = ROOT / "evidence" / "api" / "static" / "verify"
PAGE_URL = (PAGE_DIR / "index.html").as_uri()
ARTIFACTS = ROOT / "test-artifacts" / "verify-page"
CHROMIUM = os.environ.get("EVIDENCE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VECTORS = json.loads((ROOT / "tests" / "vectors_shared" / "verify_page.json").read_text("utf-8"))
TRUST = VECTORS["trust"]


_SHARED: dict[str, Any] = {}


def shared_browser(request: pytest.FixtureRequest) -> Any:
    """One headless Debian chromium under Playwright per test module (a second sync
    Playwright cannot start while one runs), stopped when the module ends: a running sync
    Playwright holds an event loop on the main thread, on which later tests' own
    ``asyncio.run`` would fail. Skips, with the fix, when either is missing."""
    if "browser" in _SHARED:
        return _SHARED["browser"]
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright; it is in the dev "
                    "extra): browser tests of the verify page skipped")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install chromium "
                    "fonts-wqy-zenhei): browser tests of the verify page skipped")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except BaseException:
        pw.stop()
        raise

    def close() -> None:
        _SHARED.clear()
        b.close()
        pw.stop()

    request.addfinalizer(close)
    _SHARED["browser"] = b
    return b


class Page:
    """One browser tab on the page, recording requests, console errors and page errors."""

    def __init__(self, browser: Any, url: str = PAGE_URL, **ctx: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, **ctx)
        self.context.set_default_timeout(20_000)
        self.page = self.context.new_page()
        self.requests: list[Any] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.url = url

    def open(self, *, lang: str = "en", keys: bool = True, quorum: int = 0,
             trust: Path | None = None) -> Page:
        self.page.goto("about:blank")  # a fresh page each time (a new hash alone is no reload)
        self.page.goto(f"{self.url}#lang={lang}")
        self.page.evaluate("() => window.EvidencePage.trustReady")
        if trust is not None:
            self.set_trust(trust)
        elif keys:
            self.page.click("#trust-clear")  # a trust file published by the server would win
            self.manual()
            self.page.fill("#log-key", TRUST["log_key"])
            if not self.page.evaluate("document.getElementById('witness-box').open"):
                self.page.click("#witness-box summary")  # as a clerk opens "Witnesses"
            self.page.fill("#witness-keys", "\n".join(TRUST["witness_keys"]))
            self.page.fill("#quorum", str(quorum))
        return self

    def manual(self) -> None:
        """Open "Advanced: enter keys by hand", as a clerk does."""
        if not self.page.evaluate("document.getElementById('manual-box').open"):
            self.page.click("#manual-box > summary")

    def set_trust(self, path: Path) -> None:
        self.page.set_input_files("#trust-file", str(path))
        self.page.wait_for_function("() => document.getElementById('trust-fingerprint') || "
                                    "document.querySelector('#trust-status.bad')")

    def verify(self, bundle: Path, compare: Path | None = None) -> dict[str, Any]:
        if compare is not None:
            self.page.set_input_files("#file-input", str(compare))
        self.page.set_input_files("#bundle-input", str(bundle))
        return self.wait()

    def wait(self, timeout: float = 60_000) -> dict[str, Any]:
        self.page.wait_for_function(
            "() => !window.EvidencePage.state.busy && "
            "document.getElementById('verdict').dataset.verdict", timeout=timeout)
        return self.page.evaluate("""() => {
            const s = window.EvidencePage.state;
            return {verdict: document.getElementById('verdict').dataset.verdict,
                    text: document.getElementById('verdict').innerText,
                    report: s.report ? JSON.parse(JSON.stringify(s.report)) : null};
        }""")

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


def trust_text(tsa_root_pem: bytes | None, *, quorum: bool = True) -> str:
    """A trust file (docs/verdict.md section 3) for the vector bundles' log and witness."""
    lines = ["# evidence trust policy for the verify-page tests",
             f"log {TRUST['log_key']}",
             f"witness court-a {TRUST['witness_keys'][0]}"]
    lines += ["group court any court-a", "quorum court"] if quorum else ["quorum none"]
    if tsa_root_pem is not None:
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        cert = x509.load_pem_x509_certificate(tsa_root_pem).public_bytes(Encoding.DER)
        lines.append(f"#@ tsa test-root {base64.b64encode(cert).decode()}")
    return "\n".join(lines) + "\n"


def stamped_bundle(tsa: LocalTSA, **kw: Any) -> B.Built:
    """A vector bundle whose checkpoint carries a real token from the local TSA."""
    return B.build(timestamp=lambda m: request_timestamp(tsa.url, m, timeout=30).token, **kw)
