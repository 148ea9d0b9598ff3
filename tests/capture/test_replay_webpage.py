"""A preserved web capture opens in ReplayWeb.page, Webrecorder's browser-based replay app,
which shares no code with the capture: its user interface (``ui.js``) and its replay
engine, a service worker (``sw.js``, wabac.js), run in Chromium and read the WACZ the
ledger holds exactly as a court's expert would open it. The page, opened by its URL and
again from the app's page list (its reading of ``pages/pages.jsonl``), must show the
captured text and draw the captured image from the archive, while the live site, still
up, is not asked for anything.

ReplayWeb.page is no dependency of this package: the npm package ``replaywebpage`` ships
the built app (``index.html``, ``ui.js``, ``sw.js``; its own dependencies are needed only
to build it from source, so only the package itself is fetched, with ``npm pack``, which
checks the registry's integrity hash). It is cached under
``test-artifacts/replaywebpage-<version>/`` so reruns skip the download; when npm is
missing or cannot reach the registry the test is skipped with npm's reason.

The app and the WACZ are served by one loopback HTTP server, the way the package's
embedding guide lays them out: a page with ``<replay-web-page source=... url=...>`` that
loads ``ui.js``, and the service worker at ``replay/sw.js`` (its scope is ``replay/``).
Service workers run only on a secure origin; ``http://127.0.0.1`` counts as one.
"""

from __future__ import annotations

import fcntl
import html
import json
import os
import re
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from evidence.ledger.capture import Options, capture, preserve
from evidence.ledger.evidence_store import load_item
from evidence.ledger.intake import Intake
from evidence.verify.note import generate_signer
from tests.support.capture_sites import serve

CHROMIUM = os.environ.get("EVIDENCE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[2]
RWP = "2.5.3"  # the npm package's exact version; its sw.js is wabac.js 2.x
APP = ROOT / "test-artifacts" / f"replaywebpage-{RWP}"
ARTIFACTS = ROOT / "test-artifacts" / "replaywebpage"
REPLAY_DEADLINE_MS = 180_000  # the service worker's first start and the WACZ's indexing

pytestmark = pytest.mark.slow

if not Path(CHROMIUM).exists():
    pytest.skip(f"chromium not found at {CHROMIUM}", allow_module_level=True)
pytest.importorskip("playwright")
pytest.importorskip("wacz")

NODE = generate_signer("capture.test/replaywebpage-node")


def _replaywebpage() -> Path:
    """The folder holding the built app (``ui.js``, ``sw.js``), fetched once under a lock
    (parallel sessions share it); it counts as fetched only once npm succeeded, the files
    are unpacked and the marker file is written."""
    package = APP / "package"
    done = APP / ".installed"
    if done.exists():
        return package
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm not found (Node.js is needed to fetch the replaywebpage package)")
    APP.parent.mkdir(parents=True, exist_ok=True)
    with open(APP.parent / f".{APP.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return package
        shutil.rmtree(APP, ignore_errors=True)  # a fetch that was interrupted
        APP.mkdir()
        try:
            run = subprocess.run([npm, "pack", f"replaywebpage@{RWP}", "--ignore-scripts",
                                  "--json", "--pack-destination", str(APP)], cwd=APP,
                                 capture_output=True, text=True, timeout=600)
            failed, why = run.returncode != 0, run.stderr.strip() or "no output"
        except subprocess.TimeoutExpired:
            failed, why = True, "npm pack did not finish in 600 s"
        if failed:
            shutil.rmtree(APP, ignore_errors=True)
            why = " ".join(why.splitlines()[-3:])[:400]
            pytest.skip(f"npm could not fetch replaywebpage@{RWP} (no registry?): {why}")
        tgz = APP / json.loads(run.stdout)[0]["filename"]
        with tarfile.open(tgz) as tar:
            tar.extractall(APP, filter="data")  # the tarball's files are under package/
        tgz.unlink()
        missing = [n for n in ("ui.js", "sw.js") if not (package / n).is_file()]
        assert not missing, f"replaywebpage@{RWP} does not ship {missing}"
        done.write_text(f"replaywebpage@{RWP}\n")
    return package


# The embedding page, as the package's embedding guide lays it out; ``{attrs}`` picks what
# it opens: one URL alone (``replayonly``), or the archive's page list (``default``).
EMBED = """<!doctype html>
<html><head><meta charset="utf-8"><title>replay</title>
<script src="/ui.js"></script>
<style>html, body {{ margin: 0; height: 100%; }}
replay-web-page {{ display: block; width: 100%; height: 100%; }}</style></head>
<body><replay-web-page source="/capture.wacz" replayBase="/replay/" {attrs}>
</replay-web-page></body></html>
"""


@contextmanager
def _replay_server(app: Path, wacz: bytes, page_url: str) -> Iterator[tuple[str, list[str]]]:
    """(base URL, request log) of a loopback server with the embedding pages (``/`` opens
    ``page_url``, ``/pages`` the page list), the app's ``ui.js``, its service worker at
    ``/replay/sw.js`` and the WACZ at ``/capture.wacz`` (with byte ranges, which the
    replay engine reads a WACZ by)."""
    one = f'url="{html.escape(page_url)}" embed="replayonly"'
    files: dict[str, tuple[bytes, str]] = {
        "/": (EMBED.format(attrs=one).encode(), "text/html; charset=utf-8"),
        "/pages": (EMBED.format(attrs='embed="default"').encode(), "text/html; charset=utf-8"),
        "/ui.js": ((app / "ui.js").read_bytes(), "application/javascript"),
        "/replay/sw.js": ((app / "sw.js").read_bytes(), "application/javascript"),
        "/capture.wacz": (wacz, "application/wacz"),
    }
    log: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a: object) -> None:
            pass

        def _serve(self, head: bool) -> None:
            path = self.path.split("?", 1)[0]
            found = files.get(path)
            if found is None:
                log.append(f"{self.command} {self.path} 404")
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body, ctype = found
            status, start, end = 200, 0, len(body)
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range") or "")
            if m and (m[1] or m[2]):
                if m[1]:
                    start = int(m[1])
                    end = min(len(body), int(m[2]) + 1) if m[2] else len(body)
                else:  # a suffix range: the last N bytes
                    start = max(0, len(body) - int(m[2]))
                status = 206
            if start >= end and body:
                log.append(f"{self.command} {self.path} {self.headers.get('Range')} 416")
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            log.append(f"{self.command} {self.path} {self.headers.get('Range') or ''} {status}")
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(end - start))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Cache-Control", "no-store")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(body)}")
            self.end_headers()
            if not head:
                self.wfile.write(body[start:end])

        def do_GET(self) -> None:
            self._serve(head=False)

        def do_HEAD(self) -> None:
            self._serve(head=True)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", log
    finally:
        httpd.shutdown()
        httpd.server_close()


# In the replayed page's frame: its text, and the first image's state and the colour of
# its centre pixel (drawn into a canvas: the image is same-origin inside the replay).
PROBE = """() => {
  const img = document.querySelector('img');
  let pixel = null;
  if (img && img.complete && img.naturalWidth > 0) {
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    pixel = Array.from(g.getImageData(c.width >> 1, c.height >> 1, 1, 1).data.slice(0, 3));
  }
  return {text: document.body ? document.body.innerText : '',
          img: img ? {src: img.currentSrc || img.src, complete: img.complete,
                      width: img.naturalWidth} : null,
          pixel};
}"""


def _replayed_frame(page: Any, page_url: str) -> Any | None:
    """The frame ReplayWeb.page shows the archived page in: its URL is the app's
    ``/replay/w/<collection>/<timestamp>mp_/<original URL>``."""
    for frame in page.frames:
        if "/replay/w/" in frame.url and frame.url.endswith("mp_/" + page_url):
            return frame
    return None


def _wait_for_replay(page: Any, page_url: str, text: str) -> dict[str, Any]:
    """The probe's result once the replayed page shows ``text`` and its image has loaded,
    or once the deadline passed (the caller's assertions then say what was missing)."""
    seen: dict[str, Any] = {"frame": None}
    waited = 0
    while waited < REPLAY_DEADLINE_MS:
        frame = _replayed_frame(page, page_url)
        if frame is not None:
            try:
                seen = {"frame": frame.url, **frame.evaluate(PROBE)}
            except Exception as e:  # the frame navigated or is still being set up
                seen = {"frame": frame.url, "error": str(e)[:300]}
            img = seen.get("img") or {}
            if text in (seen.get("text") or "") and img.get("complete") and img.get("width"):
                return seen
        page.wait_for_timeout(500)
        waited += 500
    return seen


def _open(browser: Any, url: str, page_url: str, title: str, name: str,
          log: list[str]) -> dict[str, Any]:
    """Open an embedding page in a fresh browser context and wait for the replay of
    ``page_url``; with ``title``, first find the page in ReplayWeb.page's page list by
    its title and URL and click it, as a person would. Returns what the probe saw, with
    the console's last lines; a screenshot is kept either way, the log when it failed."""
    from playwright.sync_api import Error as PlaywrightError

    context = browser.new_context(viewport={"width": 1200, "height": 900})
    console: list[str] = []
    seen: dict[str, Any] = {"frame": None}
    try:
        page = context.new_page()
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
        page.goto(url, wait_until="load")
        listed = True
        if title:
            # the app's own frame (the service worker serves it under /replay/); the
            # entry's title and URL are ReplayWeb.page's reading of pages/pages.jsonl
            entry = page.frame_locator("replay-web-page iframe").locator(
                f'wr-page-entry a:has(keyword-mark[title="{title}"])'
                f':has(keyword-mark[title="{page_url}"])')
            try:
                entry.first.click(timeout=REPLAY_DEADLINE_MS)
            except PlaywrightError as e:
                listed = False
                seen = {"frame": None, "list": f"no entry {title!r} {page_url!r}: "
                                               f"{str(e).splitlines()[0][:200]}"}
        if listed:
            seen = _wait_for_replay(page, page_url, "Counterfeit bags")
        shown = seen.get("img") or {}
        ok = ("Counterfeit bags" in (seen.get("text") or "") and shown.get("complete")
              and shown.get("width") == 8 and seen.get("pixel") == [200, 30, 30])
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
        failure = ARTIFACTS / f"{name}-failure.json"
        failure.unlink(missing_ok=True)
        if not ok:
            failure.write_text(json.dumps(
                {"seen": seen, "frames": [f.url for f in page.frames], "requests": log,
                 "console": console}, indent=1))
    finally:
        context.close()
    return {**seen, "console": console[-20:]}


def _assert_replayed(seen: dict[str, Any], site_base: str, name: str, log: list[str]) -> None:
    where = (f"(screenshot and log: {ARTIFACTS}/{name}*) saw {seen!r}; requests "
             f"{log[-20:]!r}")
    assert seen.get("frame"), f"ReplayWeb.page showed no replay frame {where}"
    assert "Counterfeit bags" in (seen.get("text") or ""), f"page text missing {where}"
    # the image came out of the archive: its URL is the replay's, and it is the one
    # captured (8x8, the red the site drew), not a placeholder
    shown = seen.get("img") or {}
    assert shown.get("complete") and shown.get("width") == 8, f"image not loaded {where}"
    assert "/replay/w/" in shown["src"] and shown["src"].endswith(site_base + "/img/a.png")
    assert seen.get("pixel") == [200, 30, 30], f"image is not the captured one {where}"


def test_preserved_wacz_opens_in_replaywebpage(tmp_path: Path, intake: Intake) -> None:
    from playwright.sync_api import sync_playwright

    app = _replaywebpage()
    with serve() as site:
        page_url = site.base + "/"
        cap = capture(page_url, NODE, Options(allow_private=True, chromium=CHROMIUM,
                                              settle_timeout=3.0), folder=tmp_path / "cap")
        assert cap.manifest["result"]["final_url"] == page_url
        # the WACZ as the ledger holds it, not the capture's working copy
        sub = preserve(intake, cap, case="C-1", principal="acme")
        with intake.ledger.engine.connect() as c:
            item = load_item(c, sub.evidence_id)
        wacz_file = next(f for f in item.files if f.name == "capture.wacz")
        wacz = intake.store.open(wacz_file.sha256).read()

        # from here on only the archive may answer: the live site, still up, logs any ask
        site.served.clear()
        with _replay_server(app, wacz, page_url) as (base, log), sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                direct = _open(browser, base + "/", page_url, "", "replay", log)
                listed = _open(browser, base + "/pages", page_url, "Shop", "page-list", log)
            finally:
                browser.close()

        _assert_replayed(direct, site.base, "replay", log)
        _assert_replayed(listed, site.base, "page-list", log)
        assert any(r.startswith("GET /capture.wacz") for r in log)  # the app read the WACZ
        assert site.served == [], f"the live site was asked during replay: {site.served}"
