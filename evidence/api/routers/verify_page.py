"""The judges' verification page at ``/verify/`` (docs/verify-page.md).

Static files only: the page (``static/verify/``) verifies bundles in the browser and never
sends them anywhere. This router serves those files with a strict Content-Security-Policy
(the page may talk to nothing but this origin), fills in the deployment's configuration
inside ``index.html`` so that a saved copy keeps it, and offers the whole page as one ZIP
for courts that keep their own offline copy.

The pre-fill is the log's whole trust file, the bytes ``GET /v1/log/trust`` and
``evidence trust export`` give (every log key with its window, the ML-DSA-44 pin, the
witnesses, the TSA roots), with its SHA-256: one current key alone would fail bundles of
a retired key's window and drop a pin a court needs. The page shows it as the operator's
suggestion, to be replaced by the court's own pinned file (docs/verify-page.md).

Configuration: ``app.state.verify_page`` (a dict, optional) may set ``log_key``,
``witness_keys``, ``witness_quorum``, ``api_base`` and ``configured_by``; without it the
log key is the serving ledger's own verifier key (its open services, if any). ``log_key``
and the witnesses fill only the hand-typed inputs ("Advanced"), which a trust file overrides.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import zipfile
from importlib import resources
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from evidence.api.problems import Problem
from evidence.api.routers.log import trust_file
from evidence.api.services import services_of

router = APIRouter(tags=["verify page"], include_in_schema=False)

ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "verify.js": "text/javascript; charset=utf-8",
    "mldsa44.js": "text/javascript; charset=utf-8",
    "page.js": "text/javascript; charset=utf-8",
    "i18n.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}
_CONFIG_OPEN = '<script id="ev-config" type="application/json">'
_CONFIG_KEYS = ("log_key", "witness_keys", "witness_quorum", "api_base", "configured_by")


def _asset(name: str) -> bytes:
    return (resources.files("evidence.api") / "static" / "verify" / name).read_bytes()


def page_config(request: Request) -> dict[str, Any]:
    """What the page is pre-filled with. Only public keys and addresses, never secrets.

    ``trust`` is the trust file's text (empty when the service cannot build it: the page
    then asks ``/v1/log/trust`` as before, and shows no trust file if that fails too) and
    ``trust_sha256`` its fingerprint, which the page checks the text against."""
    cfg: dict[str, Any] = {"log_key": "", "witness_keys": [], "witness_quorum": 0,
                           "api_base": "", "configured_by": request.url.netloc,
                           "trust": "", "trust_sha256": ""}
    svc = services_of(request.scope)
    if svc is not None:
        cfg["log_key"] = svc.ledger.verifier_key
        try:
            raw = trust_file(svc)
        except Problem:  # the operator's configuration is broken; trust_file logged why
            raw = b""
        try:
            cfg["trust"] = raw.decode("utf-8")
            cfg["trust_sha256"] = hashlib.sha256(raw).hexdigest() if raw else ""
        except UnicodeDecodeError:  # not a trust file any verifier reads: offer none
            logging.getLogger("evidence.api").error("the trust file is not UTF-8")
    extra = getattr(request.app.state, "verify_page", None) or {}
    cfg.update({k: v for k, v in extra.items() if k in _CONFIG_KEYS})
    return cfg


def index_html(cfg: dict[str, Any]) -> bytes:
    """index.html with ``cfg`` in its configuration block (JSON, ``<`` escaped)."""
    html = _asset("index.html").decode("utf-8")
    start = html.index(_CONFIG_OPEN) + len(_CONFIG_OPEN)
    end = html.index("</script>", start)
    blob = json.dumps(cfg, ensure_ascii=False).replace("<", "\\u003c")
    return (html[:start] + blob + html[end:]).encode("utf-8")


@router.get("/verify")
def verify_redirect() -> RedirectResponse:
    # the page's assets are relative ("style.css"): it must be served from /verify/
    return RedirectResponse("/verify/", status_code=308)


@router.get("/verify/")
def verify_index(request: Request) -> Response:
    return Response(index_html(page_config(request)), media_type=ASSETS["index.html"],
                    headers=HEADERS)


@router.get("/verify/config.json")
def verify_config(request: Request) -> Response:
    return Response(json.dumps(page_config(request), ensure_ascii=False).encode(),
                    media_type="application/json", headers=HEADERS)


@router.get("/verify/offline.zip")
def verify_offline(request: Request) -> Response:
    """The page as one ZIP, configuration included: unzip and open index.html."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name in ASSETS:
            data = index_html(page_config(request)) if name == "index.html" else _asset(name)
            z.writestr(f"evidence-verify/{name}", data)
    return Response(buf.getvalue(), media_type="application/zip",
                    headers={**HEADERS, "Content-Disposition":
                             'attachment; filename="evidence-verify.zip"'})


@router.get("/verify/{name}")
def verify_asset(name: str) -> Response:
    if name == "index.html":
        return RedirectResponse("/verify/", status_code=308)
    if name not in ASSETS:
        return Response(b"not found\n", status_code=404, media_type="text/plain")
    return Response(_asset(name), media_type=ASSETS[name], headers=HEADERS)
