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
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from evidence.api.deps import Svc
from evidence.api.problems import problems
from evidence.api.routers.verify_page import HEADERS
from evidence.ledger.anchor.covering import covering

router = APIRouter(tags=["console"])
PAGE = {"include_in_schema": False}
MAX_U64 = 2**64 - 1

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


@router.get("/", **PAGE)
def root() -> RedirectResponse:
    """The service's front door is the console (judges go to ``/verify/``)."""
    return RedirectResponse("/console/", status_code=307)


@router.get("/console", **PAGE)
def console_redirect() -> RedirectResponse:
    # the console's assets are relative ("app.js"): it must be served from /console/
    return RedirectResponse("/console/", status_code=308)


@router.get("/console/", **PAGE)
def console_index() -> Response:
    return Response(_asset("index.html"), media_type=ASSETS["index.html"], headers=HEADERS)


@router.get("/console/{name}", **PAGE)
def console_asset(name: str) -> Response:
    if name == "index.html":
        return RedirectResponse("/console/", status_code=308)
    if name not in ASSETS:
        return Response(b"not found\n", status_code=404, media_type="text/plain")
    return Response(_asset(name), media_type=ASSETS[name], headers=HEADERS)


# --- what the item page shows of anchoring (public, like checkpoints and proofs) ----------


class CoveringTimestamp(BaseModel):
    source: str = Field(description="the TSA's name in anchors.json")
    gen_time: str | None = Field(description="the time the TSA signed (genTime)")
    serial: str | None


class CoveringCosignature(BaseModel):
    source: str = Field(description="the witness's name in anchors.json")
    cosigned_at: int | None = Field(description="UNIX time the witness states")


class CoveringCheckpoint(BaseModel):
    size: int = Field(description="tree size of the checkpoint (it covers entries below it)")
    timestamps: list[CoveringTimestamp]
    cosignatures: list[CoveringCosignature]


class Covering(BaseModel):
    seq: int
    timestamped: CoveringCheckpoint | None = Field(
        description="the first checkpoint past seq with a verified RFC 3161 timestamp")
    witnessed: CoveringCheckpoint | None = Field(
        description="the first checkpoint past seq with a witness cosignature")


def _covering(svc: Svc, seq: int) -> Covering:
    out: dict[str, CoveringCheckpoint | None] = {}
    for kind, key in (("tsa", "timestamped"), ("witness", "witnessed")):
        found = covering(svc.ledger.engine, seq, kind)
        out[key] = None if found is None else CoveringCheckpoint(
            size=found[0],
            timestamps=[CoveringTimestamp(source=r.source, gen_time=r.gen_time, serial=r.serial)
                        for r in found[1] if kind == "tsa"],
            cosignatures=[CoveringCosignature(source=r.source, cosigned_at=r.cosigned_at)
                          for r in found[1] if kind == "witness"])
    return Covering(seq=seq, **out)


@router.get("/v1/log/anchors", response_model=Covering, tags=["log"],
            responses=problems(422))
async def anchors_covering(svc: Svc, seq: Annotated[int, Query(ge=0, le=MAX_U64)]
                           ) -> Covering:
    """The anchors that cover entry ``seq`` (public): the first checkpoint past it with a
    verified RFC 3161 timestamp (its TSAs and their times), and the first with witness
    cosignatures (its witnesses). The full tokens and cosignatures are at
    ``/v1/log/checkpoints/{size}``. Null while none has."""
    return await run_in_threadpool(_covering, svc, seq)
