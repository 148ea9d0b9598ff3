"""JSON log lines for ``evidence serve --log-format json``: one object per line.

Every line has ``time`` (UTC, RFC 3339 with milliseconds), ``level``, ``logger`` and
``message``; ``request_id`` while a request is being served (the id is in a context
variable set by :mod:`evidence.api.observe`, so a line logged by the route, or by a thread
it started through anyio, carries it); request lines add ``method``, ``path``, ``status``
and ``duration_ms``; an exception adds ``exc``. The redaction of
:mod:`evidence.api.logredact` has run on the record before it is formatted (its filter is
on the handlers), and the request line's path is redacted where it is made.

Kept free of ``prometheus_client`` and of the app: ``evidence serve`` builds uvicorn's
logging configuration from here before any worker starts.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from typing import Any

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "evidence_request_id", default=None)
FIELDS = ("method", "path", "status", "duration_ms")
"""Extra record attributes a request line carries (``logger.info(..., extra={...})``)."""


def _time(created: float) -> str:
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{whole}.{int(created % 1 * 1000):03d}Z"


def line(level: str, logger: str, message: str, **extra: Any) -> str:
    """One log line as :class:`JsonFormatter` writes it (for the CLI's own start lines)."""
    doc = {"time": _time(time.time()), "level": level, "logger": logger, "message": message,
           "request_id": None, **extra}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


class JsonFormatter(logging.Formatter):
    """A record as one JSON object on one line (see the module doc)."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": _time(record.created), "level": record.levelname,
            "logger": record.name, "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or REQUEST_ID.get()}
        for key in FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            doc["exc"] = record.exc_text
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str)


def uvicorn_log_config(level: str) -> dict[str, Any]:
    """uvicorn's ``log_config`` for JSON lines: every logger (uvicorn's, the service's,
    the libraries') to one stderr handler. uvicorn's own access log is off in this mode:
    :mod:`evidence.api.observe` writes a request line that has the status and duration."""
    handler = {"class": "logging.StreamHandler", "formatter": "json",
               "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "evidence.api.jsonlog.JsonFormatter"}},
        "handlers": {"default": handler},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level.upper(), "propagate": True},
            "uvicorn.error": {"level": level.upper(), "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": ["default"], "level": level.upper()},
    }
