"""``POST /v1/evidence`` without FastAPI's request machinery (``ApiSettings.fast_submit``).

:class:`SubmitFastPath` is an ASGI middleware in front of FastAPI's router, inside the
body limit and CORS middlewares (so those apply unchanged). For a submission it runs
what the route's dependencies run, :func:`evidence.api.deps.admit` (401, 429, 403 for a
non-submitter), then the route's own :func:`evidence.api.submission.submit`; every error
goes through the same problem handler (:func:`evidence.api.problems.handle`) that
FastAPI's exception middleware would call. It leaves out FastAPI's routing, dependency
resolution and exception-middleware layers, which answer nothing differently for this
route. Anything else passes through untouched, and so does a submission that arrives
before the services are open.

Equal answers and ledger effects, good and hostile requests, body chunking and clients
that hang up: tests/equivalence/test_api_submit_fastpath.py (the same requests to an app with and
without this middleware, sharing one service).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from evidence.api import problems
from evidence.api.deps import admit
from evidence.api.services import services_of
from evidence.api.submission import submit
from evidence.ledger.access import SUBMITTER

PATH = "/v1/evidence"
ROLES = (SUBMITTER,)
"""Who may submit: the route's ``Role(SUBMITTER)``."""


def bearer_token(scope: Scope) -> str | None:
    """The credentials of ``Authorization: Bearer <token>`` as FastAPI's ``HTTPBearer``
    reads them (first such header, scheme case-insensitive, value stripped), else None."""
    for k, v in scope["headers"]:
        if k == b"authorization":
            scheme, _, param = v.decode("latin-1").partition(" ")
            token = param.strip()
            if not (scheme and token) or scheme.lower() != "bearer":
                return None
            return token
    return None


class SubmitFastPath:
    """``POST /v1/evidence`` answered before FastAPI's router (see the module doc)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        svc = services_of(scope)
        if svc is None:
            return await self.app(scope, receive, send)
        request = Request(scope, receive)
        try:
            who = admit(svc, bearer_token(scope), ROLES)
            response: Any = await submit(request, svc, who)
        except problems.HANDLED as exc:  # what FastAPI's exception middleware would catch
            response = await problems.handle(request, exc)
        await response(scope, receive, send)
