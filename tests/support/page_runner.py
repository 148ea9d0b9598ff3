"""What a verifier (the package, scripts/verify_bundle.py, the page's verify.js) said about
a bundle, reduced to what the verdict contract fixes (docs/verdict.md), and the page's
runner: verify.js in one Chromium tab, driven through its public API only."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, PAGE_URL

REFUSED = "refused"  # a usage error: the trust file was not accepted (exit status 2)


@dataclass(frozen=True)
class Outcome:
    """What one verifier said about one vector, reduced to what the contract fixes."""

    verdict: str
    failed_check: str | None
    not_checked: tuple[str, ...]
    checks: tuple[tuple[str, str], ...]
    report: dict[str, Any]
    exit_status: int | None = None
    diagnostics: str = ""

    @property
    def key(self) -> tuple[str, str | None]:
        return self.verdict, self.failed_check


def outcome_of(report: Any, exit_status: int | None = None, diagnostics: str = "") -> Outcome:
    if exit_status == 2 and report is None:
        return Outcome(REFUSED, None, (), (), {}, exit_status, diagnostics)
    if not isinstance(report, dict) or "verdict" not in report:
        tail = diagnostics.strip().splitlines()[-3:]
        return Outcome(f"<no report: {' | '.join(tail)[:300]}>", None, (), (),
                       report if isinstance(report, dict) else {}, exit_status, diagnostics)
    checks = tuple((str(c.get("name")), str(c.get("status"))) for c in report.get("checks", [])
                   if isinstance(c, dict))
    return Outcome(str(report["verdict"]), report.get("failed_check"),
                   tuple(sorted(report.get("not_checked") or ())), checks, report, exit_status,
                   diagnostics)


class PageRunner:
    """verify.js in one Chromium tab, driven through its public API only."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            pytest.skip("playwright is not installed (pip install playwright): the page's "
                        "verdicts cannot be checked")
        if not Path(CHROMIUM).exists():
            pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install chromium)")
        self.pw = sync_playwright().start()
        try:
            self.browser = self.pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except BaseException:
            self.pw.stop()
            raise
        self.errors: list[str] = []
        self.context = self.browser.new_context()
        self.context.set_default_timeout(60_000)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(PAGE_URL)
        self.page.wait_for_function("() => !!window.EvidenceVerify")
        request.addfinalizer(self.close)

    def close(self) -> None:
        self.browser.close()
        self.pw.stop()

    def verify(self, bundle: Path, trust: Path, compare: Path | None, *,
               trust_as_bytes: bool = False) -> Outcome:
        """``parseTrustPolicy`` is given the trust file's text, as docs/verdict.md names it,
        or (``trust_as_bytes``) its exact bytes, as the page's file picker does. A refused
        trust file is the verdict ``refused`` (the CLIs' exit status 2)."""
        before = len(self.errors)
        got = self.page.evaluate("""async ([bundle, trust, asBytes, cmp]) => {
            const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            let policy;
            try {
                policy = await EvidenceVerify.parseTrustPolicy(
                    asBytes ? bytes(trust) : new TextDecoder().decode(bytes(trust)));
            } catch (e) {
                return {refused: String(e && e.message || e)};
            }
            try {
                const opts = cmp ? {compare: [new File([bytes(cmp[1])], cmp[0])]} : {};
                const blob = new File([bytes(bundle)], 'evidence-bundle.zip',
                                      {type: 'application/zip'});
                const r = await EvidenceVerify.verifyBundle(blob, policy, opts);
                return {report: JSON.parse(JSON.stringify(r))};
            } catch (e) {
                return {error: String(e && e.stack || e)};
            }
        }""", [base64.b64encode(bundle.read_bytes()).decode(),
               base64.b64encode(trust.read_bytes()).decode(), trust_as_bytes,
               None if compare is None else [compare.name,
                                             base64.b64encode(compare.read_bytes()).decode()]])
        if "refused" in got:
            return Outcome(REFUSED, None, (), (), {}, None, got["refused"])
        diag = got.get("error", "") + "".join(self.errors[before:])
        return outcome_of(got.get("report"), None, diag)
