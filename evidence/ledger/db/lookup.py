"""Fixed queries on request paths: the per-request token lookup and membership checks.

Two doors, both for constant SQL written with ``?`` markers (converted by
:func:`~evidence.ledger.db.sql.param_mark` for drivers with another paramstyle):

- :func:`fixed_query` runs one on a SQLAlchemy ``Connection`` the caller already holds,
  without building Core expressions (that cost more than the query itself);
- :class:`ThreadLookup` keeps one autocommit DB-API connection per calling thread for a
  lookup made on every request (the bearer token), because SQLAlchemy's checkout, BEGIN
  and COMMIT cost many times the query (docs/performance.md). Autocommit: each SELECT sees
  everything committed before it, so a revoked token is refused from the next request on.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from sqlalchemy import Connection, CursorResult, Engine

from evidence.ledger.db.dialect import set_autocommit
from evidence.ledger.db.sql import param_mark

__all__ = ["ThreadLookup", "fixed_query"]


def fixed_query(conn: Connection, sql: str, params: tuple[Any, ...]) -> CursorResult[Any]:
    """``sql`` (``?`` markers) on ``conn``'s own transaction, straight to the driver."""
    mark = param_mark(conn.dialect)
    return conn.exec_driver_sql(sql if mark == "?" else sql.replace("?", mark), params)


class ThreadLookup:
    """One row of a fixed query, on this thread's own autocommit DB-API connection.

    One connection per calling thread: keep lookups to few threads (the server's event
    loop). A broken connection is dropped and the query retried once on a new one."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local = threading.local()

    def one(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        for attempt in (1, 2):
            raw = getattr(self._local, "raw", None)
            try:
                if raw is None:
                    raw = self._engine.raw_connection()
                    set_autocommit(raw.driver_connection, self._engine.dialect)
                    self._local.raw = raw
                cur = raw.driver_connection.cursor()  # type: ignore[union-attr]
                try:
                    mark = param_mark(self._engine.dialect)
                    cur.execute(sql if mark == "?" else sql.replace("?", mark), params)
                    return cur.fetchone()
                finally:
                    cur.close()
            except Exception:
                self._local.raw = None
                if raw is not None:
                    with contextlib.suppress(Exception):
                        raw.invalidate()
                if attempt == 2:
                    raise
        return None

    def close(self) -> None:
        """Release the calling thread's connection (other threads keep theirs)."""
        raw = getattr(self._local, "raw", None)
        self._local.raw = None
        if raw is not None:
            with contextlib.suppress(Exception):
                raw.close()
