"""A capture from URL to signed files, and its preservation as one ``webcapture`` item.

Refusals happen before anything reaches the blob store: a URL that is not http(s) or
that resolves to a non-public address is refused before the browser starts; a DNS
failure, refused connection, endless redirect, TLS error or timeout is refused after
the visit, and its files are thrown away with the temporary folder. A page that
answers 4xx/5xx was served, so it is captured and labelled ``http-error:<status>``.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evidence.ledger.capture import browser as _browser
from evidence.ledger.capture.browser import Options, Visit, now_utc
from evidence.ledger.capture.manifest import environment, file_entry, network, write_manifest
from evidence.ledger.capture.policy import CaptureRefused, Resolver, check_url
from evidence.ledger.capture.warc import describe, write_wacz, write_warc
from evidence.verify.note import ALG_ED25519, Signer
from evidence.verify.webcapture import MANIFEST_SCHEMA

KIND = "webcapture"
_MEDIA = {"wacz": "application/wacz+zip", "screenshot": "image/png", "pdf": "application/pdf",
          "dom": "text/html; charset=utf-8", "text": "text/plain; charset=utf-8",
          "har": "application/json", "video": "video/webm"}


@dataclass(frozen=True)
class Capture:
    """A finished capture: its folder of files and the manifest they are described by."""

    folder: Path
    files: list[Path]
    manifest: dict[str, Any]

    def metadata(self) -> dict[str, str]:
        """What goes in the item's committed metadata (``stated.meta``): strings only."""
        m = self.manifest
        res = m["result"]
        tls = res.get("tls") or {}
        out = {"url": m["request"]["url"], "final_url": res["final_url"],
               "http_status": str(res["http_status"]), "page_title": res["title"],
               "capture_node": m["node"]["key"], "capture_id": m["capture_id"],
               "server_ip": res.get("server_ip") or "",
               "tls_subject": tls.get("subject") or "", "tls_issuer": tls.get("issuer") or "",
               "started_at": m["started_at"], "ended_at": m["ended_at"],
               "labels": " ".join(res["labels"])}
        return {k: printable(v)[:4000] for k, v in out.items() if v}


_CONTROL = re.compile("[\x00-\x1f\ud800-\udfff]")


def printable(text: str) -> str:
    """``text`` with control characters (and lone surrogates) as U+FFFD: a page's title
    may hold any of them, the item's metadata may not (intake refuses them), and the
    signed manifest keeps the title exactly as served."""
    return _CONTROL.sub("\ufffd", text)


def capture(url: str, signer: Signer, opts: Options | None = None, *,
            folder: Path | None = None) -> Capture:
    """Visit ``url`` and write the WACZ, screenshot, PDF, DOM, text, HAR (and video) and
    the signed manifest into ``folder`` (a new temporary folder by default; removed if
    the capture is refused). Raises :class:`CaptureRefused`."""
    opts = opts or Options()
    if signer.alg != ALG_ED25519:
        raise ValueError("a capture-node key must be a plain Ed25519 key (not a witness key)")
    parts = check_url(url)
    if opts.session is not None:
        _browser.load_session(opts.session)  # a bad session file is refused before the visit
    resolver = Resolver(allow_private=opts.allow_private,
                        allowed_networks=tuple(opts.allowed_networks))
    try:
        resolver.check(parts.hostname or "", parts.port or (443 if parts.scheme == "https"
                                                             else 80))
    except CaptureRefused as e:
        e.url = url
        raise
    own = folder is None
    out = Path(tempfile.mkdtemp(prefix="evidence-capture-")) if folder is None else folder
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _capture(url, signer, opts, out, resolver)
    except BaseException:
        if own:
            shutil.rmtree(out, ignore_errors=True)
        raise


def _capture(url: str, signer: Signer, opts: Options, out: Path, resolver: Resolver) -> Capture:
    capture_id = str(uuid.uuid4())
    visit: Visit = asyncio.run(_browser.visit(url, opts, out, resolver))
    main = next((e for e in visit.exchanges if e.url == visit.final_url and not e.redirect_to),
                None)
    warc = out / "capture.warc.gz"
    info = {"software": "evidence webcapture (Playwright + Chromium " + visit.browser_version
                        + ")",
            "format": "WARC File Format 1.1", "isPartOf": capture_id,
            "description": f"capture of {url}", "http-header-user-agent": next(
                (v for k, v in (main.request_headers if main else []) if k.lower()
                 == "user-agent"), ""),
            "bodies": "stored as decoded by the browser; original "
                             "Content-Encoding kept as X-Archive-Orig-Content-Encoding"}
    records = write_warc(warc, visit.exchanges, info)
    wacz = out / "capture.wacz"
    write_wacz(wacz, warc, url=visit.final_url, title=visit.title, text=visit.text)
    warc.unlink()
    visit.files["wacz"] = wacz
    order = ("screenshot", "wacz", "pdf", "dom", "text", "har", "video")
    listed = [file_entry(role, visit.files[role], _MEDIA[role]) for role in order
              if role in visit.files]
    labels = list(visit.labels)
    if opts.session is not None:
        labels.append("session-supplied")  # not a fresh visitor: the user's login was used
    if opts.ignore_tls_errors:
        labels.append("tls-errors-ignored")
    if visit.final_url.startswith("https:") and any(
            e.url.startswith("http:") for e in visit.exchanges):
        labels.append("mixed-content")  # part of the secure page came over plain HTTP
    manifest: dict[str, Any] = {
        "schema": MANIFEST_SCHEMA,
        "capture_id": capture_id,
        "node": {"name": signer.name, "key": signer.verifier().to_string()},
        "request": {"url": url, "options": opts.to_json()},
        "started_at": visit.started_at,
        "ended_at": now_utc(),
        "result": {
            "final_url": visit.final_url, "redirects": visit.redirects,
            "http_status": visit.status, "title": visit.title,
            "server_ip": main.server_ip if main else None,
            "server_port": main.server_port if main else None,
            "tls": main.tls if main else None,
            "labels": labels,
        },
        "steps": visit.steps,
        "resources": {"responses": len(visit.exchanges), "warc_records": records,
                      "bytes": sum(len(e.body or b"") for e in visit.exchanges),
                      "truncated": _few([e.url for e in visit.exchanges if e.truncated]),
                      "failed": _few(visit.failed), "blocked": _few(visit.blocked),
                      "counts": {"truncated": sum(1 for e in visit.exchanges if e.truncated),
                                 "failed": len(visit.failed),
                                 "blocked": len(visit.blocked)},
                      "bodies": "as decoded by the browser (Content-Encoding removed)"},
        "origins": describe(visit.exchanges, visit.certificates),
        "environment": environment(visit.browser_version, opts.chromium,
                                   list(_browser.CHROMIUM_ARGS)),
        "network": network(resolver.answers, visit.hosts),
        "files": listed,
    }
    if "video" in visit.files:
        manifest["environment"]["video"] = {
            "method": "Chromium screencast frames (CDP Page.startScreencast), each shown "
                      "until the next, encoded as WebM/VP8 by ffmpeg",
            "ffmpeg": _ffmpeg_version()}
    mpath, spath = write_manifest(out, manifest, signer)
    files = [visit.files[r] for r in order if r in visit.files] + [mpath, spath]
    return Capture(out, files, manifest)


LISTED = 1000  # entries per list in the manifest; the counts say how many there were


def _few(items: list[Any]) -> list[Any]:
    """The first :data:`LISTED` entries, long URLs cut (a hostile page can make the
    browser try any number of requests to any URL)."""
    def cut(x: Any) -> Any:
        if isinstance(x, str):
            return x[:2000]
        if isinstance(x, dict):
            return {k: cut(v) for k, v in x.items()}
        return x
    return [cut(x) for x in items[:LISTED]]


def _ffmpeg_version() -> str | None:
    try:
        res = subprocess.run([_browser.video_tool(), "-version"], capture_output=True,
                             timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout.decode("utf-8", "replace").splitlines()[0][:200] if res.stdout else None


def preserve(intake: Any, cap: Capture, *, case: str, principal: str,
             title: str | None = None) -> Any:
    """Hand the capture's files to the normal intake as ONE item of kind ``webcapture``
    (blob store, entry, checkpoint, custody as any item). Returns its ``Submitted``."""
    from evidence.ledger.intake import ItemSpec

    m = cap.manifest
    spec = ItemSpec(files=list(cap.files), kind=KIND, case=case, principal=principal,
                    title=title or printable(m["result"]["title"] or "")[:4000]
                    or m["request"]["url"],
                    meta=cap.metadata(), source_url=m["request"]["url"],
                    captured_at=m["started_at"])
    return intake.submit(spec)
