"""Request ids, latencies, submission outcomes and request log lines, for every answer.

:class:`Observe` is a raw ASGI wrapper around the application's whole middleware stack
(outside Starlette's server-error middleware, see :func:`wrap`), so it sees every answer
the app makes: the FastAPI routes, the hot paths of :mod:`evidence.api.hot` (which answer
before FastAPI's router), the body limit's 413 and a 500. It does not see what uvicorn's
protocol answers by itself before the app is called (431, 503 of the connection caps in
:mod:`evidence.api.hardening`).

* **Request id**: the client's ``X-Request-Id`` when it is 1 to :data:`MAX_ID` characters
  of ``[A-Za-z0-9._:-]``; otherwise (absent, too long, a control character...) a new
  random one. Never echoed unchecked: a hostile value never reaches a header or a log line.
  Every answer carries it in ``X-Request-Id``; log lines carry it as ``request_id``.
* **Latency**: :data:`~evidence.api.metrics.REQUESTS`, labelled with the route's template
  (``/v1/evidence/{evidence_id}``), never the raw path, so that ids and scans cannot
  multiply the series: a path no route declares is ``unmatched``.
* **Submissions**: ``POST /v1/evidence`` by outcome; a refusal's reason is the problem's
  ``code``, read from the (small) problem document itself.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evidence.api import logredact
from evidence.api.hot import reads, submit
from evidence.api.jsonlog import REQUEST_ID
from evidence.api.metrics import REQUESTS, SUBMISSIONS

access_log = logging.getLogger("evidence.access")

HEADER = b"x-request-id"
MAX_ID = 64
_SAFE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,%d}" % MAX_ID)
SUBMIT = submit.PATH
UNMATCHED = "unmatched"
BEFORE_ROUTING = frozenset((submit.PATH, *reads.PATHS))
"""Paths the hot paths answer before the router has named a route: labelled as they are."""
_MAX_PROBLEM = 16 << 10  # a problem document is far smaller; more is not read for its code


def request_id(scope: Scope) -> str:
    """The request's id: the client's if it is safe (see the module doc), else a new one."""
    for k, v in scope.get("headers", ()):
        if k == HEADER:
            if _SAFE_ID.fullmatch(v):
                return v.decode("ascii")
            break
    return os.urandom(12).hex()


def _status_class(status: int | None) -> str:
    return "none" if status is None else f"{status // 100}xx"


class Observe:
    """The wrapper described in the module doc."""

    def __init__(self, app: ASGIApp, *, access_lines: bool) -> None:
        self.app = app
        self._access_lines = access_lines

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rid = request_id(scope)
        token = REQUEST_ID.set(rid)
        start = time.perf_counter()
        status: int | None = None
        problem: list[bytes] | None = None
        submitting = scope["method"] == "POST" and scope["path"] == SUBMIT

        async def observed(message: Message) -> None:
            nonlocal status, problem
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (HEADER, rid.encode())]
                if submitting and status >= 400:
                    problem = []
            elif (problem is not None and message["type"] == "http.response.body"
                  and sum(map(len, problem)) < _MAX_PROBLEM):
                problem.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            elapsed = time.perf_counter() - start
            try:
                REQUESTS.labels(self._route(scope), scope["method"],
                                _status_class(status)).observe(elapsed)
                if submitting:
                    _count_submission(status, problem)
                if self._access_lines:
                    path = scope["path"]
                    if scope.get("query_string"):
                        path += "?" + scope["query_string"].decode("latin-1")
                    access_log.info("%s %s %s", scope["method"], logredact.redact(path),
                                    status if status is not None else "-", extra={
                                        "method": scope["method"],
                                        "path": logredact.redact(path), "status": status,
                                        "duration_ms": round(elapsed * 1000, 3)})
            finally:
                REQUEST_ID.reset(token)

    def _route(self, scope: Scope) -> str:
        route = scope.get("route")  # set by the router on the scope it was handed
        template = getattr(route, "path", None)
        if isinstance(template, str):
            return template
        path = scope["path"]  # answered before routing (a hot path) or by no route
        return path if path in BEFORE_ROUTING else UNMATCHED


def _count_submission(status: int | None, problem: list[bytes] | None) -> None:
    if status is None:  # the client went away before any answer
        SUBMISSIONS.labels("unanswered", "").inc()
    elif status == 201:
        SUBMISSIONS.labels("accepted", "").inc()
    elif status == 202:
        SUBMISSIONS.labels("deferred", "").inc()
    else:
        SUBMISSIONS.labels("refused", _problem_code(status, problem)).inc()


def _problem_code(status: int, body: list[bytes] | None) -> str:
    try:
        code = json.loads(b"".join(body or ()))["code"]
    except (ValueError, KeyError, TypeError):
        return f"http-{status}"
    return code if isinstance(code, str) and len(code) <= 64 else f"http-{status}"


def wrap(app: Any, *, access_lines: bool) -> None:
    """Put :class:`Observe` around ``app``'s whole middleware stack (Starlette builds the
    stack on the first request, with its server-error middleware outermost: wrapping the
    built stack is the one way to see the 500s it answers)."""
    build = app.build_middleware_stack

    def build_observed() -> ASGIApp:
        return Observe(build(), access_lines=access_lines)

    app.build_middleware_stack = build_observed
