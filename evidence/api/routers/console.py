"""The rights holders' web console at ``/console/`` (docs/console.md), and ``GET /`` leading
to it.

Static files only, like the judges' page (``routers/verify_page.py``): plain JavaScript
modules in ``static/console/``, no build step, nothing from a CDN. The console speaks the
public HTTP API (``/v1/...``) with the bearer token the user typed, so it can do nothing a
token cannot do over the API; every permission is the API's. The CSP is the verify
page's: the console may load only its own files and talk only to this origin; images are
shown from ``blob:`` URLs made after their SHA-256 was checked in the browser.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from evidence.api.routers.verify_page import HEADERS

router = APIRouter(tags=["console"], include_in_schema=False)

ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "api.js": "text/javascript; charset=utf-8",
    "keys.js": "text/javascript; charset=utf-8",
    "i18n.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}


def _asset(name: str) -> bytes:
    return (resources.files("evidence.api") / "static" / "console" / name).read_bytes()


@router.get("/")
def root() -> RedirectResponse:
    """The service's front door is the console (judges go to ``/verify/``)."""
    return RedirectResponse("/console/", status_code=307)


@router.get("/console")
def console_redirect() -> RedirectResponse:
    # the console's assets are relative ("app.js"): it must be served from /console/
    return RedirectResponse("/console/", status_code=308)


@router.get("/console/")
def console_index() -> Response:
    return Response(_asset("index.html"), media_type=ASSETS["index.html"], headers=HEADERS)


@router.get("/console/{name}")
def console_asset(name: str) -> Response:
    if name == "index.html":
        return RedirectResponse("/console/", status_code=308)
    if name not in ASSETS:
        return Response(b"not found\n", status_code=404, media_type="text/plain")
    return Response(_asset(name), media_type=ASSETS[name], headers=HEADERS)
