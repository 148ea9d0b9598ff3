"""One visit by a fresh headless Chromium, every exchange kept with its bytes.

Playwright's response events give what a WARC needs without a proxy in the path (a
proxy would be a second TLS endpoint and change what the server saw): the request and
response headers as sent and received, the body as the browser got it, the peer's IP
address and port, and the TLS protocol and certificate of each HTTPS response. Every
request first passes a route handler that applies the address policy and the limits,
so a subresource cannot reach a private address either.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import shutil
import subprocess
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evidence.ledger.capture.policy import CaptureRefused, Resolver, check_url

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--no-proxy-server"]

# Chromium's net error names -> our refusal codes
_NET_ERRORS = (
    ("ERR_NAME_NOT_RESOLVED", "dns-failure", "the host name does not resolve"),
    ("ERR_NAME_RESOLUTION_FAILED", "dns-failure", "the host name does not resolve"),
    ("ERR_CONNECTION_REFUSED", "connection-refused", "the server refused the connection"),
    ("ERR_CONNECTION_RESET", "connection-refused", "the server reset the connection"),
    ("ERR_CONNECTION_CLOSED", "connection-refused", "the server closed the connection"),
    ("ERR_EMPTY_RESPONSE", "connection-refused", "the server sent no response"),
    ("ERR_ADDRESS_UNREACHABLE", "connection-refused", "the address is unreachable"),
    ("ERR_TOO_MANY_REDIRECTS", "too-many-redirects", "the page redirects endlessly"),
    ("ERR_CERT_", "tls-error", "the server's TLS certificate is not valid"),
    ("ERR_SSL_", "tls-error", "the TLS handshake failed"),
    ("ERR_BAD_SSL_CLIENT_AUTH_CERT", "tls-error", "the TLS handshake failed"),
    ("ERR_BLOCKED_BY_CLIENT", "private-address", "the request was blocked by the capture policy"),
    ("ERR_TIMED_OUT", "timeout", "the connection timed out"),
    ("Download is starting", "download", "the URL starts a file download, not a page "
                                         "(preserve the file with evidence submit)"),
    ("ERR_CONNECTION_TIMED_OUT", "timeout", "the connection timed out"),
)


_AT_BOTTOM = ("window.scrollY + window.innerHeight >= "
              "document.documentElement.scrollHeight - 2")


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class Options:
    """How to capture. Limits stop the capture from being used to fill the store or to
    keep a browser busy forever; what they cut is labelled in the manifest."""

    wait_for: str | None = None
    wait: float | None = None
    scroll: bool = False
    click: tuple[str, ...] = ()  # CSS selectors clicked in order, after the waits and scroll
    video: bool = False
    viewport: tuple[int, int] = (1280, 800)
    locale: str | None = None
    allow_private: bool = False
    allowed_networks: tuple[str, ...] = ()  # e.g. ("10.0.0.0/8",): allowed though private
    ignore_tls_errors: bool = False
    trusted_spki: tuple[str, ...] = ()  # base64 SHA-256 SPKI hashes Chromium should accept
    session: Path | None = None  # a login session the user supplies (Playwright storage state)
    max_bytes: int = 50 * 1024 * 1024
    max_requests: int = 500
    timeout: float = 60.0  # the whole visit
    settle_timeout: float = 5.0  # network idle after load
    max_scroll_steps: int = 40
    chromium: str = CHROMIUM

    def to_json(self) -> dict[str, Any]:
        return {"wait_for": self.wait_for, "wait": self.wait, "scroll": self.scroll,
                "click": list(self.click), "video": self.video,
                "viewport": f"{self.viewport[0]}x{self.viewport[1]}",
                "locale": self.locale, "allow_private": self.allow_private,
                "allowed_networks": list(self.allowed_networks),
                "ignore_tls_errors": self.ignore_tls_errors,
                "trusted_spki": list(self.trusted_spki),
                "session": session_record(self.session),
                "limits": {"max_bytes": self.max_bytes, "max_requests": self.max_requests,
                           "timeout_seconds": self.timeout,
                           "settle_timeout_seconds": self.settle_timeout,
                           "max_scroll_steps": self.max_scroll_steps}}


@dataclass
class Exchange:
    """One request and its response, as the browser saw them."""

    url: str
    method: str
    request_headers: list[tuple[str, str]]
    request_body: bytes | None
    requested_at: str
    status: int = 0
    status_text: str = ""
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None
    body_error: str | None = None
    truncated: str | None = None  # WARC-Truncated reason
    received_at: str = ""
    server_ip: str | None = None
    server_port: int | None = None
    tls: dict[str, Any] | None = None
    resource_type: str = ""
    redirect_to: str | None = None


@dataclass
class Visit:
    exchanges: list[Exchange]
    steps: list[dict[str, Any]]
    labels: list[str]
    failed: list[dict[str, str]]
    blocked: list[dict[str, str]]
    final_url: str
    status: int
    title: str
    browser_version: str
    started_at: str
    ended_at: str
    text: str
    files: dict[str, Path]  # role -> path written in the output folder
    redirects: list[str]
    hosts: list[str]
    certificates: dict[str, list[str]] = field(default_factory=dict)  # origin -> base64 DER


MAX_SESSION = 1 << 20
MAX_CLICKS = 10  # selectors per capture: a capture is a record of a visit, not a script
MAX_SELECTOR = 500  # characters per selector
MAX_SHOT_HEIGHT = 30_000  # CSS pixels: a taller full-page screenshot is cut and labelled


def load_session(path: Path) -> dict[str, Any]:
    """A login session as Playwright's storage state (``{"cookies": [...], "origins":
    [...]}``, e.g. saved by ``context.storage_state(path=...)``). Refused unless it is
    exactly that shape: it goes into a browser that then speaks for the user."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise CaptureRefused("bad-session", f"the session file cannot be read: "
                             f"{e.strerror or e}") from None
    if len(data) > MAX_SESSION:
        raise CaptureRefused("bad-session", "the session file is over 1 MiB")
    try:
        doc = json.loads(data)
    except ValueError:
        raise CaptureRefused("bad-session", "the session file is not JSON") from None
    if not isinstance(doc, dict) or set(doc) - {"cookies", "origins"} or not all(
            isinstance(doc.get(k, []), list) for k in ("cookies", "origins")) or not all(
            isinstance(c, dict) and isinstance(c.get("name"), str)
            and isinstance(c.get("domain"), str) for c in doc.get("cookies", [])):
        raise CaptureRefused("bad-session", 'the session file is not a Playwright storage '
                             'state ({"cookies": [...], "origins": [...]})')
    return {"cookies": doc.get("cookies", []), "origins": doc.get("origins", [])}


def session_record(path: Path | None) -> dict[str, Any] | None:
    """What the manifest says about a supplied session: that there was one, its SHA-256,
    and which cookies (names and domains, never values) and origins it held."""
    if path is None:
        return None
    doc = load_session(path)
    return {"supplied": True, "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
            "cookies": sorted({f"{c['domain']} {c['name']}" for c in doc["cookies"]}),
            "origins": sorted({str(o.get("origin")) for o in doc["origins"]
                               if isinstance(o, dict)})}


def video_tool() -> str:
    """The ffmpeg that encodes the session video (Debian's; Playwright's own build is a
    separate download this service does not make)."""
    path = shutil.which("ffmpeg")
    if path is None:
        raise CaptureRefused("video-unavailable", "--video needs ffmpeg on the capture node "
                             "(apt-get install ffmpeg)")
    return path


def encode_video(frames: list[tuple[float, bytes]], out: Path) -> Path:
    """The screencast frames (Chromium sends one whenever the page changes) as WebM/VP8,
    each frame shown until the next one came, so the video runs in real time."""
    if not frames:
        raise CaptureRefused("video-unavailable", "the browser sent no video frames")
    tmp = out / "video-frames"
    tmp.mkdir()
    try:
        lines = ["ffconcat version 1.0"]
        for i, (ts, jpeg) in enumerate(frames):
            name = f"{i:06d}.jpg"
            (tmp / name).write_bytes(jpeg)
            nxt = frames[i + 1][0] if i + 1 < len(frames) else ts + 1.0
            lines += [f"file {name}", f"duration {max(nxt - ts, 0.001):.6f}"]
        lines.append(f"file {len(frames) - 1:06d}.jpg")  # the concat demuxer drops the last
        (tmp / "list.txt").write_text("\n".join(lines) + "\n")
        target = out / "video.webm"
        res = subprocess.run(
            [video_tool(), "-hide_banner", "-loglevel", "error", "-f", "concat", "-safe", "0",
             "-i", str(tmp / "list.txt"), "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2",
             "-c:v", "libvpx", "-b:v", "1M", "-crf", "10", "-pix_fmt", "yuv420p",
             "-fps_mode", "vfr", "-an", "-y", str(target)],
            capture_output=True, timeout=300, check=False)
        if res.returncode != 0 or not target.exists():
            raise CaptureRefused("video-unavailable", "ffmpeg could not encode the video: "
                                 + res.stderr.decode("utf-8", "replace").strip()[-200:])
        return target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _net_error(message: str, url: str) -> CaptureRefused | None:
    for needle, code, what in _NET_ERRORS:
        if needle in message:
            if code == "download":
                return CaptureRefused(code, what, url=url)
            name = next((w for w in message.split() if w.startswith("net::")), needle)
            return CaptureRefused(code, f"{what} ({name.rstrip(';,')})", url=url)
    return None


def _tls(details: Any) -> dict[str, Any] | None:
    if not details:
        return None
    def iso(t: Any) -> str | None:
        if t is None:
            return None
        return datetime.fromtimestamp(float(t), UTC).isoformat().replace("+00:00", "Z")
    return {"protocol": details.get("protocol"), "subject": details.get("subjectName"),
            "issuer": details.get("issuer"), "valid_from": iso(details.get("validFrom")),
            "valid_to": iso(details.get("validTo"))}


async def visit(url: str, opts: Options, out: Path, resolver: Resolver) -> Visit:
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright

    started = now_utc()
    steps: list[dict[str, Any]] = []
    labels: list[str] = []
    exchanges: list[Exchange] = []
    failed: list[dict[str, str]] = []
    blocked: list[dict[str, str]] = []
    collecting: list[asyncio.Task[None]] = []
    hosts: list[str] = []
    counts = {"requests": 0, "bytes": 0}
    policy_error: list[CaptureRefused] = []

    if opts.video:
        video_tool()  # refuse before the visit, not after it
    args = list(CHROMIUM_ARGS)
    if opts.trusted_spki:
        args.append("--ignore-certificate-errors-spki-list=" + ",".join(opts.trusted_spki))

    async def route(route: Any, request: Any) -> None:
        """Every request of every page and frame passes here first (redirect hops do not:
        :func:`guard` stops those); the limits are applied here."""
        reason, label = await allowed(request.url), None
        if reason is not None:
            if any(b["url"] == request.url for b in blocked):
                reason = None  # refused once already: recorded once
        elif counts["requests"] >= opts.max_requests:
            reason, label = "request limit reached", "truncated:request-limit"
        elif counts["bytes"] >= opts.max_bytes:
            reason, label = "byte limit reached", "truncated:byte-limit"
        else:
            counts["requests"] += 1
            await route.continue_()
            return
        if label is not None and label not in labels:
            labels.append(label)
        if reason is not None:
            blocked.append({"url": request.url, "reason": reason})
        await route.abort("blockedbyclient")

    async def allowed(url: str) -> str | None:
        """None if the policy lets the browser request ``url``, else the reason."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return None
        host = parts.hostname or ""
        if host not in hosts:
            hosts.append(host)
        try:
            addrs = await asyncio.to_thread(
                resolver.resolve, host, parts.port or (443 if parts.scheme == "https" else 80))
            if addrs:
                resolver.check_addresses(host, addrs)
        except CaptureRefused as e:
            return str(e)
        return None

    async def guard(page: Any) -> None:
        """Pause every request of ``page`` in Chromium (CDP Fetch) until the policy has
        seen it. Unlike a Playwright route this also stops the hops of a redirect, so a
        redirect to a forbidden address is never requested."""
        cdp = await page.context.new_cdp_session(page)
        sessions[page] = cdp

        async def paused(event: dict[str, Any]) -> None:
            url = event["request"]["url"]
            reason = await allowed(url)
            try:
                if reason is None:
                    await cdp.send("Fetch.continueRequest", {"requestId": event["requestId"]})
                else:
                    if not any(b["url"] == url for b in blocked):
                        blocked.append({"url": url, "reason": reason})
                    await cdp.send("Fetch.failRequest", {"requestId": event["requestId"],
                                                         "errorReason": "BlockedByClient"})
            except PlaywrightError:
                pass  # the page went away meanwhile

        cdp.on("Fetch.requestPaused", lambda ev: collecting.append(
            asyncio.ensure_future(paused(ev))))
        await cdp.send("Network.enable")  # so that the certificates can be asked for
        await cdp.send("Fetch.enable", {"patterns": [{"urlPattern": "*",
                                                      "requestStage": "Request"}]})

    async def collect(response: Any, received_at: str) -> None:
        req = response.request
        try:
            ex = Exchange(url=response.url, method=req.method,
                          request_headers=[(h["name"], h["value"])
                                           for h in await req.headers_array()],
                          request_body=req.post_data_buffer, requested_at=received_at,
                          status=response.status, status_text=response.status_text,
                          response_headers=[(h["name"], h["value"])
                                            for h in await response.headers_array()],
                          received_at=received_at, resource_type=req.resource_type)
            server = await response.server_addr()
            if server:
                ex.server_ip, ex.server_port = server.get("ipAddress"), server.get("port")
            ex.tls = _tls(await response.security_details())
        except PlaywrightError as e:
            failed.append({"url": response.url, "reason": f"response not recorded: {e.message}"})
            return
        if ex.server_ip:
            try:
                resolver.check_addresses(urllib.parse.urlsplit(ex.url).hostname or "",
                                         [ex.server_ip])
            except CaptureRefused as e:
                policy_error.append(e)
        if 300 <= ex.status < 400 and response.headers.get("location"):
            ex.redirect_to = urllib.parse.urljoin(ex.url, response.headers["location"])
            ex.body = b""  # the browser does not read a redirect's body
        else:
            declared = response.headers.get("content-length", "")
            try:
                if declared.isdigit() and int(declared) > opts.max_bytes - counts["bytes"]:
                    # do not pull a body over the limit out of the browser just to cut it
                    body, ex.body_error = b"", "over the byte limit: not recorded"
                else:
                    body = await response.body()
            except PlaywrightError as e:
                ex.body_error = e.message.splitlines()[0][:300]
                body = b""
            room = opts.max_bytes - counts["bytes"]  # now: other bodies came in meanwhile
            if len(body) > room or ex.body_error == "over the byte limit: not recorded":
                body = body[:max(room, 0)]
                ex.truncated = "length"
                if "truncated:byte-limit" not in labels:
                    labels.append("truncated:byte-limit")
            counts["bytes"] += len(body)
            ex.body = body
        exchanges.append(ex)

    def on_response(response: Any) -> None:
        collecting.append(asyncio.ensure_future(collect(response, now_utc())))

    def on_failed(request: Any) -> None:
        failed.append({"url": request.url, "reason": str(request.failure or "failed")})

    files: dict[str, Path] = {}
    sessions: dict[Any, Any] = {}
    certificates: dict[str, list[str]] = {}
    async with async_playwright() as pw:
        try:
            browser = await pw.chromium.launch(executable_path=opts.chromium, args=args,
                                               headless=True)
        except PlaywrightError as e:
            raise CaptureRefused("browser-error", "the browser could not be started: "
                                 + e.message.splitlines()[0][:200], url=url) from None
        try:
            ctx_kw: dict[str, Any] = dict(
                viewport={"width": opts.viewport[0], "height": opts.viewport[1]},
                ignore_https_errors=opts.ignore_tls_errors, service_workers="block",
                accept_downloads=False, record_har_path=str(out / "capture.har"),
                record_har_content="embed")
            if opts.locale:
                ctx_kw["locale"] = opts.locale
            if opts.session is not None:
                ctx_kw["storage_state"] = load_session(opts.session)
            context = await browser.new_context(**ctx_kw)
            await context.route("**/*", route)
            context.on("response", on_response)
            context.on("requestfailed", on_failed)
            guards: dict[Any, asyncio.Future[None]] = {}

            def guarded(p: Any) -> asyncio.Future[None]:
                if p not in guards:  # popups too; each page once
                    guards[p] = asyncio.ensure_future(guard(p))
                    collecting.append(guards[p])
                return guards[p]

            context.on("page", guarded)
            page = await context.new_page()
            await guarded(page)
            frames: list[tuple[float, bytes]] = []
            cdp = None
            if opts.video:
                cdp = await context.new_cdp_session(page)

                def on_frame(params: dict[str, Any]) -> None:
                    frames.append((float(params["metadata"]["timestamp"]),
                                   base64.b64decode(params["data"])))
                    collecting.append(asyncio.ensure_future(cdp.send(  # type: ignore[union-attr]
                        "Page.screencastFrameAck", {"sessionId": params["sessionId"]})))

                cdp.on("Page.screencastFrame", on_frame)
                await cdp.send("Page.startScreencast", {
                    "format": "jpeg", "quality": 80, "maxWidth": opts.viewport[0],
                    "maxHeight": opts.viewport[1]})
            try:
                result = await asyncio.wait_for(
                    _browse(page, url, opts, steps, labels, policy_error, blocked),
                    timeout=opts.timeout)
            except TimeoutError:
                raise CaptureRefused("timeout", f"the capture took longer than "
                                     f"{opts.timeout:g} s", url=url) from None
            except PlaywrightError as e:
                refusal = _net_error(e.message, url)
                if refusal is None and "Timeout" in e.message:
                    refusal = CaptureRefused("timeout", "the page did not load in time", url=url)
                if refusal is None:
                    refusal = CaptureRefused("browser-error", e.message.splitlines()[0][:300],
                                             url=url)
                if blocked and refusal.code == "private-address":
                    refusal = CaptureRefused("private-address", blocked[0]["reason"], url=url)
                raise refusal from None
            status, final_url = result
            page_title = await page.title()
            steps.append({"action": "record", "at": now_utc(),
                          "outputs": ["screenshot", "dom", "text", "pdf"]})
            await page.evaluate("window.scrollTo(0, 0)")
            height = await page.evaluate("document.documentElement.scrollHeight")
            shot: dict[str, Any] = {"path": str(out / "screenshot.png"), "full_page": True}
            if isinstance(height, int | float) and height > MAX_SHOT_HEIGHT:
                shot["clip"] = {"x": 0, "y": 0, "width": opts.viewport[0],
                                "height": MAX_SHOT_HEIGHT}
                labels.append("truncated:screenshot-height")
            await page.screenshot(**shot)
            files["screenshot"] = out / "screenshot.png"
            (out / "dom.html").write_text(await page.content(), encoding="utf-8")
            files["dom"] = out / "dom.html"
            text = await page.evaluate("document.body ? document.body.innerText : ''")
            (out / "text.txt").write_text(text, encoding="utf-8")
            files["text"] = out / "text.txt"
            if cdp is not None:
                await cdp.send("Page.stopScreencast")
                steps.append({"action": "video-stopped", "at": now_utc(),
                              "frames": len(frames)})
            await page.emulate_media(media="print")
            await page.pdf(path=str(out / "page.pdf"), print_background=True)
            files["pdf"] = out / "page.pdf"
            await asyncio.gather(*collecting, return_exceptions=True)
            for origin in sorted({f"{p.scheme}://{p.netloc}" for p in (
                    urllib.parse.urlsplit(e.url) for e in exchanges) if p.scheme == "https"}):
                try:
                    chain = await sessions[page].send("Network.getCertificate",
                                                      {"origin": origin})
                    certificates[origin] = list(chain.get("tableNames") or [])
                except PlaywrightError:
                    certificates[origin] = []
            await context.close()
            files["har"] = out / "capture.har"
            if opts.video:
                files["video"] = await asyncio.to_thread(encode_video, frames, out)
            version = browser.version
        finally:
            await browser.close()
    if policy_error:
        raise policy_error[0]
    redirects = _redirect_chain(exchanges, url, final_url)
    return Visit(exchanges=exchanges, steps=steps, labels=labels, failed=failed,
                 blocked=blocked, final_url=final_url, status=status, title=page_title,
                 browser_version=version, started_at=started, ended_at=now_utc(), text=text,
                 files=files, redirects=redirects, hosts=hosts, certificates=certificates)


async def _browse(page: Any, url: str, opts: Options, steps: list[dict[str, Any]],
                  labels: list[str], policy_error: list[CaptureRefused],
                  blocked: list[dict[str, str]]) -> tuple[int, str]:
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    steps.append({"action": "navigate", "url": url, "wait_until": "load", "at": now_utc()})
    response = await page.goto(url, wait_until="load", timeout=opts.timeout * 1000)
    if policy_error:
        raise policy_error[0]
    if response is None:
        raise CaptureRefused("browser-error", "the browser returned no response", url=url)
    status = response.status
    if status >= 400:
        labels.append(f"http-error:{status}")
    await _settle(page, opts, steps, labels, "after load")
    if opts.wait_for:
        steps.append({"action": "wait-for-selector", "selector": opts.wait_for, "at": now_utc()})
        try:
            await page.wait_for_selector(opts.wait_for, timeout=opts.settle_timeout * 1000 * 2)
        except PlaywrightTimeout:
            labels.append("selector-not-found")
            steps[-1]["result"] = "not found in time"
    if opts.wait:
        steps.append({"action": "wait", "seconds": opts.wait, "at": now_utc()})
        await page.wait_for_timeout(opts.wait * 1000)
    if opts.scroll:
        await _scroll(page, opts, steps, labels)
    for n, selector in enumerate(opts.click, 1):
        after = await _click(page, opts, n, selector, steps, labels, policy_error, blocked)
        if after is not None:
            status = after.status  # the click led to another page: its answer counts
            if status >= 400 and f"http-error:{status}" not in labels:
                labels.append(f"http-error:{status}")
    return status, page.url


async def _click(page: Any, opts: Options, n: int, selector: str, steps: list[dict[str, Any]],
                 labels: list[str], policy_error: list[CaptureRefused],
                 blocked: list[dict[str, str]]) -> Any:
    """Click the first visible element ``selector`` matches, then wait (bounded) for the
    network to be idle. A selector that matches nothing in time is recorded as not found
    and labelled; the capture goes on. Returns the main frame's new document response
    when the click navigated, else None. A navigation the address policy stopped (or
    that failed) refuses the capture, as a redirect there would: the page left would
    be an error page of the browser's, not one a server sent."""
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    step: dict[str, Any] = {"action": "click", "selector": selector, "at": now_utc()}
    steps.append(step)
    try:
        await page.wait_for_selector(selector, state="visible",
                                     timeout=opts.settle_timeout * 1000)
    except PlaywrightError as e:  # not there in time, or not a selector at all
        step.update({"found": False, "url_after": page.url})
        if not isinstance(e, PlaywrightTimeout):
            step["error"] = e.message.splitlines()[0][:300]
        if "click-target-not-found" not in labels:
            labels.append("click-target-not-found")
        return None
    step["found"] = True
    documents: list[Any] = []  # main-frame documents answered after the click
    failures: list[tuple[str, str]] = []  # (url, Chromium's error) of main-frame navigations

    def main_frame(request: Any) -> bool:
        try:
            return bool(request.is_navigation_request() and request.frame == page.main_frame)
        except PlaywrightError:
            return False

    def on_response(response: Any) -> None:
        if main_frame(response.request):
            documents.append(response)

    def on_failed(request: Any) -> None:
        if main_frame(request):
            failures.append((request.url, str(request.failure or "failed")))

    page.on("response", on_response)
    page.on("requestfailed", on_failed)
    try:
        try:
            await page.click(selector, timeout=opts.settle_timeout * 1000)
            step["result"] = "clicked"
        except PlaywrightError as e:  # found, but covered, detached or disabled throughout
            step["result"] = "not clickable: " + e.message.splitlines()[0][:300]
            if "click-failed" not in labels:
                labels.append("click-failed")
        await _settle(page, opts, steps, labels, f"after click {n}")
    finally:
        page.remove_listener("response", on_response)
        page.remove_listener("requestfailed", on_failed)
    if policy_error:
        raise policy_error[0]
    step["url_after"] = page.url
    if failures and not page.url.startswith(("http:", "https:")):
        target, why = failures[-1]
        stopped = next((b["reason"] for b in blocked if b["url"] == target), None)
        if stopped is not None:
            raise CaptureRefused("private-address", f"click {n} ({selector[:100]}) led to "
                                 f"{target[:300]}: {stopped}")
        raise _net_error(why, target) or CaptureRefused(
            "browser-error", f"click {n} ({selector[:100]}) led to {target[:300]}, which did "
                             f"not load ({why[:200]})")
    final = [d for d in documents if not 300 <= d.status < 400]
    return final[-1] if final else None


async def _settle(page: Any, opts: Options, steps: list[dict[str, Any]], labels: list[str],
                  when: str) -> None:
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    step: dict[str, Any] = {"action": "wait-network-idle", "when": when, "at": now_utc(),
                            "timeout_seconds": opts.settle_timeout}
    steps.append(step)
    try:
        await page.wait_for_load_state("networkidle", timeout=opts.settle_timeout * 1000)
        step["result"] = "idle"
    except PlaywrightTimeout:
        step["result"] = "not idle in time"
        if "never-settled" not in labels:
            labels.append("never-settled")


async def _scroll(page: Any, opts: Options, steps: list[dict[str, Any]],
                  labels: list[str]) -> None:
    """Scroll a viewport at a time so lazy content loads; stop at the bottom or after
    ``max_scroll_steps`` (an endless feed never has a bottom)."""
    step: dict[str, Any] = {"action": "scroll", "at": now_utc(), "by": "viewport height"}
    steps.append(step)
    n = 0
    reached_bottom = False
    while n < opts.max_scroll_steps:
        at_bottom = await page.evaluate(
            "() => { window.scrollBy(0, window.innerHeight); return " + _AT_BOTTOM + "; }")
        n += 1
        await page.wait_for_timeout(250)
        if at_bottom:
            # a feed may add content on reaching the bottom: look once more after it settles
            await _settle(page, opts, steps, labels, f"scroll step {n}")
            reached_bottom = await page.evaluate("() => " + _AT_BOTTOM)
            if reached_bottom:
                break
    step.update({"steps": n, "reached_bottom": reached_bottom})
    if not reached_bottom:
        labels.append("truncated:scroll-limit")
    await _settle(page, opts, steps, labels, "after scrolling")


def _redirect_chain(exchanges: list[Exchange], url: str, final_url: str) -> list[str]:
    by_url = {e.url: e for e in exchanges if e.redirect_to}
    chain = [url]
    seen = {url}
    cur = url
    while cur in by_url and by_url[cur].redirect_to and len(chain) < 50:
        cur = by_url[cur].redirect_to  # type: ignore[assignment]
        if cur in seen:
            break
        chain.append(cur)
        seen.add(cur)
    if chain[-1] != final_url:
        chain.append(final_url)
    return chain


__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "Exchange", "Options", "Visit", "check_url", "visit"]
