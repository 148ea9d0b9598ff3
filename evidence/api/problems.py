"""RFC 9457 problem documents: the ONE exception handler, and what each route declares.

Every error answer is ``application/problem+json``::

    {"type": "urn:evidence:problem:grant-expired", "title": "Grant expired",
     "status": 403, "detail": "grant g-... expired at ...", "instance": "/v1/...",
     "code": "grant-expired"}

``code`` is stable (clients switch on it); ``type`` is ``urn:evidence:problem:<code>``;
``detail`` is for people and may change. docs/api.md lists the codes.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from evidence.api.ranges import RangeNotSatisfiable
from evidence.ledger.access import (
    AccessError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from evidence.ledger.blobs import (
    BlobCorrupt,
    BlobError,
    BlobNotFound,
    BlobStoreFull,
    BlobTooLarge,
)
from evidence.ledger.errors import (
    AppendRejected,
    LedgerClosed,
    LedgerError,
    LedgerFrozen,
    NotALedger,
    OutOfRange,
)
from evidence.ledger.intake import AlreadyPurged, IntakeError, SubmissionRefused, UnknownEvidence
from evidence.verify.errors import VerificationError

log = logging.getLogger("evidence.api")

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:evidence:problem:"


class Problem(Exception):
    """An error the API answers as it is (status, code, detail, headers, extra members)."""

    def __init__(self, status: int, code: str, detail: str, *,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.headers = headers or {}
        self.extra = extra


TITLES = {
    400: "Bad request", 401: "Authentication required", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 406: "Not acceptable", 409: "Conflict", 410: "Gone",
    413: "Request too large", 415: "Unsupported media type", 416: "Range not satisfiable",
    422: "Unprocessable request", 429: "Too many requests", 500: "Internal error",
    503: "Service unavailable", 507: "Insufficient storage",
}
_DEFAULT_CODES = {400: "bad-request", 401: "unauthenticated", 403: "forbidden",
                  404: "not-found", 405: "method-not-allowed", 406: "not-acceptable",
                  409: "conflict", 410: "gone", 413: "too-large", 415: "unsupported-media-type",
                  416: "range-not-satisfiable", 422: "invalid-input", 429: "rate-limited",
                  500: "internal", 503: "unavailable"}


def problem_response(status: int, code: str, detail: str, *, instance: str | None = None,
                     headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": TYPE_PREFIX + code,
                            "title": TITLES.get(status, "Error"), "status": status,
                            "detail": detail, "code": code}
    if instance is not None:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_DAMAGE_SQLSTATES = {"XX001", "XX002"}  # PostgreSQL data_corrupted, index_corrupted
LEDGER_DAMAGE: dict[str, str] = {}
"""Set (time, error) in this worker when a damaged database page was met: /health then
reports ``degraded`` until the worker restarts."""


def ledger_damaged(exc: BaseException) -> bool:
    """A damaged database page (SQLite: "database disk image is malformed", "file is not
    a database"; PostgreSQL: data or index corrupted), not a busy or absent database."""
    import sqlite3

    orig = getattr(exc, "orig", None)
    if isinstance(orig, sqlite3.DatabaseError):
        return not isinstance(orig, sqlite3.OperationalError)
    return getattr(orig, "sqlstate", None) in _DAMAGE_SQLSTATES


def note_ledger_damage(exc: BaseException) -> None:
    from datetime import UTC, datetime

    log.error("LEDGER DAMAGED: %s", getattr(exc, "orig", None) or exc)
    LEDGER_DAMAGE.update(time=datetime.now(UTC).isoformat(),
                         error=str(getattr(exc, "orig", None) or exc).splitlines()[0])


def _classify(exc: BaseException) -> Problem:
    """Domain error -> (status, code, detail). The one place where the mapping lives."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, AccessError):
        status = (401 if isinstance(exc, Unauthenticated) else
                  403 if isinstance(exc, Forbidden) else
                  404 if isinstance(exc, NotFound) else
                  409 if isinstance(exc, Conflict) else
                  422 if isinstance(exc, InvalidInput) else 400)
        headers = {"WWW-Authenticate": 'Bearer realm="evidence"'} if status == 401 else None
        return Problem(status, exc.code, str(exc), headers=headers)
    if isinstance(exc, SubmissionRefused):
        return Problem(422, "submission-refused", str(exc),
                       failures=[{"field": f.file, "reason": f.reason} for f in exc.failures])
    if isinstance(exc, UnknownEvidence):
        return Problem(404, "unknown-evidence", str(exc))
    if isinstance(exc, AlreadyPurged):
        return Problem(410, "purged", str(exc))
    if isinstance(exc, IntakeError):
        return Problem(422, "intake-refused", str(exc))
    if isinstance(exc, RangeNotSatisfiable):
        return Problem(416, "range-not-satisfiable", str(exc),
                       headers={"Content-Range": f"bytes */{exc.size}"})
    if isinstance(exc, OutOfRange):
        return Problem(400, "out-of-range", str(exc))
    if isinstance(exc, AppendRejected):
        return Problem(422, "entry-refused", str(exc))
    if isinstance(exc, LedgerFrozen):  # a worker still on a shard frozen under it
        log.error("append to a frozen shard: %s", exc)
        return Problem(503, "log-frozen", "the log this server writes to was frozen (a new "
                       "shard was started); nothing was stored. The operator must restart "
                       "the service", headers={"Retry-After": "60"})
    if isinstance(exc, LedgerClosed | NotALedger):
        return Problem(503, "unavailable", str(exc), headers={"Retry-After": "5"})
    if isinstance(exc, BlobTooLarge):
        return Problem(413, "file-too-large", str(exc))
    if isinstance(exc, BlobNotFound | BlobCorrupt):
        # A stored file of a live item (purged items are answered 410 before any read):
        # a fixity failure, whichever route met it (evidence/api/fixity.py says why 503).
        state = "missing" if isinstance(exc, BlobNotFound) else "damaged"
        log.error("FIXITY %s: %s", state.upper(), exc)
        return Problem(503, f"evidence-{state}", f"{exc}. The operator has been alerted; "
                       "retry later", headers={"Retry-After": "3600"})
    if isinstance(exc, BlobStoreFull) or (isinstance(exc, OSError) and exc.errno in _FULL):
        log.error("storage full: %s", exc)
        return Problem(507, "insufficient-storage", "the server has no room to store this "
                       "now; nothing was stored. Retry later", headers={"Retry-After": "60"})
    if isinstance(exc, SQLAlchemyError) and ledger_damaged(exc):
        note_ledger_damage(exc)
        return Problem(503, "ledger-damaged", "the ledger database is damaged; nothing was "
                       "served or changed. The operator has been alerted",
                       headers={"Retry-After": "3600"})
    if isinstance(exc, OperationalError) and "full" in str(exc.orig or exc).lower():
        log.error("database full: %s", exc)
        return Problem(503, "database-full", "the database has no room to record this now; "
                       "nothing was stored. Retry later", headers={"Retry-After": "60"})
    if isinstance(exc, OperationalError):
        log.warning("database unavailable: %s", exc)
        return Problem(503, "unavailable", "the database is busy or unavailable; retry",
                       headers={"Retry-After": "1"})
    if isinstance(exc, ClientDisconnect):
        return Problem(400, "truncated-upload", "the client went away before the request "
                       "body was complete; nothing was stored")
    if isinstance(exc, LedgerError | BlobError | VerificationError | SQLAlchemyError):
        log.error("internal error: %r", exc, exc_info=exc)
        return Problem(500, "internal", "the service failed; nothing was served. The "
                       "operator has the details in the log")
    log.error("unexpected error: %r", exc, exc_info=exc)
    return Problem(500, "internal", "unexpected error; the operator has the details")


async def handle(request: Request, exc: Exception) -> JSONResponse:
    """THE exception handler: domain errors, validation errors, HTTP errors -> problems."""
    instance = request.url.path
    if isinstance(exc, RequestValidationError):
        errors = [_error(e) for e in exc.errors()]
        if any(e["type"] in ("json_invalid", "json_type") for e in exc.errors()):
            return problem_response(400, "malformed-json", "the body is not valid JSON",
                                    instance=instance, errors=errors)
        return problem_response(422, "invalid-input", "the request does not match its schema",
                                instance=instance, errors=errors)
    if isinstance(exc, StarletteHTTPException):
        code = _DEFAULT_CODES.get(exc.status_code, f"http-{exc.status_code}")
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "")
        return problem_response(exc.status_code, code, detail, instance=instance,
                                headers=dict(exc.headers or {}))
    p = _classify(exc)
    return problem_response(p.status, p.code, p.detail, instance=instance, headers=p.headers,
                            **p.extra)


def _error(e: dict[str, Any]) -> dict[str, Any]:
    return {"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg", "")),
            "type": str(e.get("type", ""))}


# What FastAPI's exception middleware answers with :func:`handle`; anything else reaches
# Starlette's server-error middleware, which answers with :func:`handle` too (a 500) and
# re-raises for the log. (The submission fast path catches exactly these, likewise.)
HANDLED: tuple[type[Exception], ...] = (
    RequestValidationError, StarletteHTTPException, Problem, AccessError, IntakeError,
    LedgerError, BlobError, VerificationError, SQLAlchemyError, RangeNotSatisfiable,
    ClientDisconnect, OSError)


def install(app: FastAPI) -> None:
    for cls in (*HANDLED, Exception):
        app.add_exception_handler(cls, handle)


# --- OpenAPI declarations ------------------------------------------------------------------

_DESCRIPTIONS = {
    400: "Malformed request (bad JSON, bad parameter, size past the log)",
    401: "Missing, unknown, revoked or expired token",
    403: "Role not allowed, or grant expired / revoked / used up",
    404: "No such thing that the caller may see (existence is not revealed)",
    409: "Conflict with the current state",
    410: "Purged: the item's content is gone (its entries remain)",
    413: "Body or file larger than the limit",
    415: "Wrong content type",
    416: "Range not satisfiable",
    422: "Request refused by validation or the intake rules",
    429: "Rate limit reached; see Retry-After",
    503: "Database busy or unavailable; retry",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status answered with a problem document."""
    out: dict[int | str, dict[str, Any]] = {}
    for s in sorted(set(statuses) | {503}):
        out[s] = {"description": _DESCRIPTIONS.get(s, TITLES.get(s, "")),
                  "content": {PROBLEM_JSON: {"schema": {"$ref":
                                                        "#/components/schemas/Problem"}}}}
    return out


AUTH = (401, 429)


def authed(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return problems(*AUTH, *statuses)


def all_codes() -> Iterable[str]:
    return sorted(set(_DEFAULT_CODES.values()))
