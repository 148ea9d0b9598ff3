"""The recorded exchanges as WARC/1.1 (warcio), packaged as WACZ (py-wacz).

Bodies are stored as the browser decoded them: Playwright hands over the body after
content decoding, so the original ``Content-Encoding`` and ``Transfer-Encoding``
headers are kept under ``X-Archive-Orig-*`` names and ``Content-Length`` states the
stored length (what ArchiveWeb.page does too). Replay tools then serve exactly the
bytes the page was rendered from. The manifest states this choice.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import urllib.parse
import uuid
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

from evidence.ledger.capture.browser import Exchange
from evidence.ledger.capture.policy import CaptureRefused

_RENAME = ("content-encoding", "transfer-encoding", "content-length")
WACZ_TIMEOUT = 300.0


def _warc_date(iso: str) -> str:
    return iso if iso.endswith("Z") else iso + "Z"


def _response_headers(ex: Exchange) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for k, v in ex.response_headers:
        if k.lower() in _RENAME:
            out.append(("X-Archive-Orig-" + k, v))
        else:
            out.append((k, v))
    out.append(("Content-Length", str(len(ex.body or b""))))
    return out


def _request_headers(ex: Exchange) -> list[tuple[str, str]]:
    headers = [(k, v) for k, v in ex.request_headers if not k.startswith(":")]
    if not any(k.lower() == "host" for k, _ in headers):
        headers.insert(0, ("Host", urllib.parse.urlsplit(ex.url).netloc))
    return headers


def write_warc(path: Path, exchanges: Sequence[Exchange], info: dict[str, str]) -> int:
    """Write ``warcinfo`` then a request and a response record per exchange (gzip per
    record, as WACZ readers expect). Returns the number of records."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.utils import Digester
    from warcio.warcwriter import WARCWriter

    class _Sha256Writer(WARCWriter):  # warcio's default digest is SHA-1
        @staticmethod
        def _create_digester() -> Digester:
            return Digester("sha256")

    n = 0
    with open(path, "wb") as f:
        writer = _Sha256Writer(f, gzip=True, warc_version="WARC/1.1")
        rec = writer.create_warcinfo_record(path.name, info)
        writer.write_record(rec)
        n += 1
        for ex in exchanges:
            parts = urllib.parse.urlsplit(ex.url)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            resp_id = f"<urn:uuid:{uuid.uuid4()}>"
            resp_warc: dict[str, str] = {"WARC-Date": _warc_date(ex.received_at),
                                         "WARC-Record-ID": resp_id}
            if ex.server_ip:
                resp_warc["WARC-IP-Address"] = ex.server_ip
            if ex.truncated or ex.body_error:
                resp_warc["WARC-Truncated"] = ex.truncated or "unspecified"
            status = f"{ex.status} {ex.status_text}".strip()
            http = StatusAndHeaders(status, _response_headers(ex), protocol="HTTP/1.1")
            body = ex.body or b""
            rec = writer.create_warc_record(ex.url, "response", payload=BytesIO(body),
                                            length=len(body), warc_headers_dict=resp_warc,
                                            http_headers=http)
            writer.write_record(rec)
            req_body = ex.request_body or b""
            req_http = StatusAndHeaders(f"{ex.method} {target} HTTP/1.1", _request_headers(ex),
                                        is_http_request=True)
            req_warc = {"WARC-Date": _warc_date(ex.requested_at),
                        "WARC-Concurrent-To": resp_id}
            rec = writer.create_warc_record(ex.url, "request", payload=BytesIO(req_body),
                                            length=len(req_body), warc_headers_dict=req_warc,
                                            http_headers=req_http)
            writer.write_record(rec)
            n += 2
    return n


def write_wacz(out: Path, warc: Path, *, url: str, title: str, text: str) -> None:
    """Package ``warc`` as WACZ with py-wacz, in a child process (py-wacz prints its
    progress on stdout, which is the CLI's output channel)."""
    pages = out.with_suffix(".pages.jsonl")
    lines = [json.dumps({"format": "json-pages-1.0", "id": "pages", "title": "Pages",
                         "hasText": True}),
             json.dumps({"url": url, "title": title or url, "text": text}, ensure_ascii=False)]
    pages.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = [sys.executable, "-c", "import sys; from wacz.main import main; sys.exit(main())",
            "create", "-o", str(out), "--pages", str(pages), "--hash-type", "sha256",
            "--title", title or url, str(warc)]
    try:
        res = subprocess.run(args, capture_output=True, timeout=WACZ_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise CaptureRefused("packaging-error", "packaging the WACZ took too long") from None
    finally:
        pages.unlink(missing_ok=True)
    if res.returncode != 0 or not out.exists():
        tail = (res.stderr or res.stdout).decode("utf-8", "replace").strip().splitlines()
        raise CaptureRefused("packaging-error", "py-wacz could not package the capture: "
                             + (tail[-1][:200] if tail else f"exit status {res.returncode}"))


def describe(exchanges: Sequence[Exchange],
             certificates: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Per origin: the peer address and TLS details the browser reported, and for HTTPS
    the certificate chain Chromium validated (DER, base64, leaf first, with SHA-256)."""
    origins: dict[str, dict[str, Any]] = {}
    for ex in exchanges:
        p = urllib.parse.urlsplit(ex.url)
        origin = f"{p.scheme}://{p.netloc}"
        o = origins.setdefault(origin, {"ips": [], "tls": None})
        if ex.server_ip and ex.server_ip not in o["ips"]:
            o["ips"].append(ex.server_ip)
        if ex.tls and o["tls"] is None:
            o["tls"] = ex.tls
    for origin, chain in (certificates or {}).items():
        if origin in origins:
            origins[origin]["certificate_chain"] = [
                {"sha256": hashlib.sha256(base64.b64decode(c)).hexdigest(), "der_base64": c}
                for c in chain]
    return origins
