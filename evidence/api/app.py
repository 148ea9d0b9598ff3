"""The application: ``create_app(settings)``; ``app_from_env()`` for uvicorn workers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evidence import __version__
from evidence.api import logredact, problems
from evidence.api.hot.reads import ReadFastPath
from evidence.api.hot.submit import SubmitFastPath
from evidence.api.hot.tiles import TilesFastPath
from evidence.api.hot.wire import Wire
from evidence.api.idle_trim import IdleTracker, IdleTrim
from evidence.api.problems import Problem
from evidence.api.routers import (
    captures,
    console,
    evidence,
    grants,
    log,
    meta,
    proof_files,
    shards,
    statements,
    tiles,
    verify_page,
)
from evidence.api.schemas import ProblemModel
from evidence.api.services import Services, services_of
from evidence.api.settings import ApiSettings

DESCRIPTION = """Evidence preservation over HTTP: submit evidence and get a signed receipt;
retrieve it (every retrieval is a ledger entry); share it across borders under time-limited
grants; check it with RFC 9162 proofs and C2SP checkpoints. Errors are RFC 9457
`application/problem+json` documents with a stable `code`. See docs/api.md."""


def create_app(settings: ApiSettings | None = None, *, services: Services | None = None
               ) -> FastAPI:
    settings = settings or ApiSettings()
    logredact.install()  # no token in any log line (evidence/api/logredact.py)
    # an idle worker gives its caches' memory back (evidence/api/idle_trim.py)
    idle = IdleTrim(settings.idle_trim) if settings.idle_trim > 0 else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = services or Services.open(settings)
        app.state.services = svc
        # the tlog-tiles follower and its store (evidence/api/routers/tiles.py)
        app.state.tiles = tiles.TilesState.open(svc)
        if settings.observe:  # the ledger writer's batches (evidence/api/metrics.py)
            from evidence.api.metrics import attach

            attach(svc)
        reloader = None
        if settings.sighup:  # `evidence serve`: re-read the configuration on SIGHUP
            from evidence.api.reload import Reloader

            reloader = Reloader(app, svc)
            reloader.install()
        if idle is not None:
            idle.start(svc.ledger.engine, svc.proofs.drop)
        app.state.idle_trim = idle
        try:
            yield
        finally:
            if idle is not None:
                await idle.stop()
            app.state.tiles.close()
            if reloader is not None:
                reloader.uninstall()
            if services is None:
                svc.close()

    app = FastAPI(title="evidence", version=__version__, description=DESCRIPTION,
                  lifespan=lifespan)
    problems.install(app)
    if settings.observe:  # prometheus_client loads only here (evidence/api/metrics.py)
        from evidence.api import metrics, observe

        app.include_router(metrics.router)
        # around the whole stack: request ids and latencies of every answer, hot paths' too
        observe.wrap(app, access_lines=settings.log_format == "json" and settings.access_log)
    for r in (meta.router, log.router, tiles.router, evidence.router, proof_files.router,
              statements.router, grants.router, shards.router,
              captures.router, verify_page.router, console.router):  # /verify/, /console/, /
        app.include_router(r)
    # Middleware added first runs innermost: every request passes the body limit and CORS
    # below before a hot path (evidence/api/hot/) may answer it, so a hot path's answer
    # carries the same CORS headers as the route's (tests/equivalence/test_proof_reads.py).
    if settings.fast_submit:
        app.add_middleware(SubmitFastPath)
    if settings.fast_reads:
        wire = None
        if settings.fast_wire:  # read by the HTTP protocol (evidence/api/hardening.py)
            wire = app.state.wire = Wire(
                app, observe=settings.observe, idle=idle,
                access_lines=settings.observe and settings.log_format == "json"
                and settings.access_log)
        app.add_middleware(ReadFastPath, idle=idle, wire=wire)
        app.add_middleware(TilesFastPath)
    # Public reads from anywhere, e.g. the verify page saved to disk (origin "null"); no
    # credentials and no Authorization header cross origins, so nothing private leaks.
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET"],
                       allow_headers=[], allow_credentials=False)
    app.add_middleware(BodyLimit, max_body=settings.max_body, max_upload=settings.max_upload)
    if idle is not None:  # outermost: it must see every request start and end
        app.add_middleware(IdleTracker, idle=idle)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version,
                              description=app.description, routes=app.routes)
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            schemas["Problem"] = ProblemModel.model_json_schema(
                ref_template="#/components/schemas/{model}")
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def app_from_env() -> FastAPI:
    """For ``uvicorn --factory`` / several workers: settings from ``EVIDENCE_API_SETTINGS``."""
    return create_app(ApiSettings.from_env())


class BodyLimit:
    """Refuse request bodies over the limit (413) without reading them: by Content-Length
    up front, else while they stream. Submissions get ``max_upload``, the rest ``max_body``."""

    def __init__(self, app: ASGIApp, *, max_body: int, max_upload: int) -> None:
        self.app, self.max_body, self.max_upload = app, max_body, max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"].rstrip("/")
        upload = scope["method"] == "POST" and (path == "/v1/evidence" or (  # a node's capture
            path.startswith("/v1/captures/") and path.endswith("/result")))
        svc = services_of(scope)  # its settings, once open: a SIGHUP may change them
        if svc is not None:
            limit = svc.settings.max_upload if upload else svc.settings.max_body
        else:
            limit = self.max_upload if upload else self.max_body
        for k, v in scope.get("headers", ()):
            if k == b"content-length":
                if not v.isdigit():
                    return await _send_problem(scope, send, 400, "bad-request",
                                               "Content-Length is not a number")
                if int(v) > limit:
                    return await _send_problem(scope, send, 413, "too-large",
                                               f"the request body is larger than the limit "
                                               f"of {limit} bytes")
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise Problem(413, "too-large", f"the request body is larger than the "
                                                    f"limit of {limit} bytes")
            return msg

        return await self.app(scope, limited, send)


async def _send_problem(scope: Scope, send: Send, status: int, code: str, detail: str) -> None:
    resp = problems.problem_response(status, code, detail, instance=scope.get("path"))
    await resp({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
