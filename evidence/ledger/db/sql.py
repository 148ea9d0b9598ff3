"""SQL on the driver, for the ledger's hot statements: the DB-API connection under a
SQLAlchemy ``Connection``, bulk inserts (binary ``COPY`` on PostgreSQL) and hook ops.

This is the speed door of the ledger's storage. Everything else speaks SQLAlchemy Core
(:mod:`.log_queries`, :mod:`.schema`); what is here runs the same statements without
Core's per-statement and per-row layers, which cost more than the database's own work
for the sequencer's batches. The SQL text differs between the drivers in the parameter
marker, and :func:`param_mark` is the one place that decides it; the bulk insert's
``COPY`` is :func:`evidence.ledger.db.dialect.copy_statement`'s.

Memos (:func:`plain_table`, :func:`_insert_sql`, :func:`_table_rank`) hold SQL text
and facts derived from table definitions, never data; they fill on first use (nothing
at import) and :func:`clear_caches` empties them (for a test that redefines a table
under a name already seen).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
    insert,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from evidence.ledger.db.dialect import copy_statement
from evidence.ledger.errors import LedgerError

__all__ = ["Driver", "clear_caches", "execute_ops", "insert_rows", "param_mark",
           "plain_table"]


def param_mark(dialect: Dialect) -> str:
    """The driver's positional parameter marker (sqlite3: ``?``, psycopg: ``%s``).

    Constant SQL in this package is written with this marker (or with ``?`` and
    converted by replacing it with this marker)."""
    return "?" if dialect.paramstyle == "qmark" else "%s"


class Driver:
    """Constant statements straight on the DB-API connection under a SQLAlchemy
    ``Connection``: the same connection, so the same transaction, without SQLAlchemy's
    execution layer (execution context, result object, events), which cost about five
    times SQLite's own work for the sequencer's small per-batch statements. Errors come
    out as SQLAlchemy's (``IntegrityError``, ``OperationalError``...), as they do from
    ``exec_driver_sql``. The SQL is the driver's own: parameters marked :attr:`mark`."""

    __slots__ = ("_dc", "_dialect", "_error", "mark")

    def __init__(self, conn: Connection) -> None:
        self._dc: Any = conn.connection.driver_connection
        self._dialect = conn.dialect
        self._error: type[Exception] = conn.dialect.loaded_dbapi.Error
        self.mark = param_mark(conn.dialect)

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute ``sql``; returns the driver's row count."""
        cur = self._dc.cursor()
        try:
            cur.execute(sql, params) if params else cur.execute(sql)
            return int(cur.rowcount)
        except self._error as e:
            raise self._wrap(sql, params, e) from e
        finally:
            cur.close()

    def first(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first row of ``sql`` (a tuple), or None."""
        cur = self._dc.cursor()
        try:
            cur.execute(sql, params) if params else cur.execute(sql)
            return cur.fetchone()
        except self._error as e:
            raise self._wrap(sql, params, e) from e
        finally:
            cur.close()

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """``executemany``: ``sql`` once per row of ``rows``."""
        cur = self._dc.cursor()
        try:
            cur.executemany(sql, rows)
        except self._error as e:
            raise self._wrap(sql, rows, e, many=True) from e
        finally:
            cur.close()

    def _wrap(self, sql: str, params: Any, e: Exception, *, many: bool = False
              ) -> BaseException:
        return DBAPIError.instance(sql, params, e, self._error, dialect=self._dialect,
                                   ismulti=many)


def insert_rows(conn: Connection, table: Table, rows: list[tuple[Any, ...]],
                drv: Driver | None = None) -> None:
    """Insert ``rows`` (tuples in the table's column order) in the connection's
    transaction at the driver's speed: one ``executemany`` on SQLite, one binary
    ``COPY`` on PostgreSQL (an ``INSERT`` per row costs it a protocol round of parse,
    bind and execute). SQLAlchemy Core's per-row parameter processing cost more than
    the database's own work for the entries and nodes of a batch. ``drv``: the
    connection's :class:`Driver`, if the caller has one."""
    copy_sql = copy_statement(conn.dialect, table)
    if copy_sql is not None:
        sql, pg_types = copy_sql
        dbapi = conn.dialect.loaded_dbapi
        try:
            with conn.connection.driver_connection.cursor() as cur, cur.copy(sql) as copy:
                copy.set_types(pg_types)
                for r in rows:
                    copy.write_row(r)
        except dbapi.Error as e:  # the same error type as any other statement's
            raise DBAPIError.instance(sql, None, e, dbapi.Error) from e
        return
    drv = drv or Driver(conn)
    drv.many(_insert_sql(table, tuple(c.name for c in table.c), drv.mark), rows)


def execute_ops(conn: Connection, ops: Sequence[Any], drv: Driver | None = None) -> None:
    """Run hook ops in order, inserts batched: every insert between two other ops (an
    ``update``...) goes into one ``executemany`` per table, tables in foreign-key order
    (parents first), rows of a table in their order. Per-row statements cost more than
    the rest of a batch together (an item brings three or more rows in three tables).
    An op is ``(Table, {column: value})`` (an insert) or any SQLAlchemy executable."""
    pending: dict[Table, list[dict[str, Any]]] = {}

    def flush() -> None:
        for table in sorted(pending, key=_table_rank):
            _insert_dicts(conn, table, pending[table], drv)
        pending.clear()

    for op in ops:
        if isinstance(op, tuple) and isinstance(op[0], Table):
            pending.setdefault(op[0], []).append(op[1])
        else:
            flush()
            conn.execute(op)
    flush()


def _insert_dicts(conn: Connection, table: Table, rows: list[dict[str, Any]],
                  drv: Driver | None = None) -> None:
    """Insert ``rows`` (column name -> value) in order, by the driver's ``executemany``:
    one statement per run of rows naming the same columns. Core's ``insert()`` builds
    parameters row by row through each column's type (about a fifth of the writer's
    time for intake's three rows per item); these tables hold only strings, integers
    and bytes, which the drivers take as they are. A table with a Python-side default
    or a non-plain type goes through Core, which applies them. (Runs on both paths:
    Core's executemany takes its columns from the first row and would silently drop a
    column only later rows name.)"""
    plain = plain_table(table)
    start = 0
    while start < len(rows):
        keys = tuple(rows[start])
        stop = start + 1
        while stop < len(rows) and tuple(rows[stop]) == keys:
            stop += 1
        if plain:
            drv = drv or Driver(conn)
            drv.many(_insert_sql(table, keys, drv.mark),
                     [tuple(r.values()) for r in rows[start:stop]])
        else:
            conn.execute(insert(table), rows[start:stop])
        start = stop


@functools.lru_cache(maxsize=128)
def plain_table(table: Table) -> bool:
    """Whether every column of ``table`` takes its value as the driver does: no
    Python-side default or ``onupdate`` and a plain type (integers, strings, bytes), so
    a row may skip Core's per-row parameter processing."""
    return all(c.default is None and c.onupdate is None
               and type(c.type) in _PLAIN_TYPES for c in table.c)


_PLAIN_TYPES = (BigInteger, Integer, SmallInteger, LargeBinary, String, Text)


@functools.cache
def _insert_sql(table: Table, keys: tuple[str, ...], mark: str) -> str:
    """``INSERT INTO table (keys) VALUES (marks)``, made once per table, key set and
    marker; the keys must be the table's columns (they become SQL text; a refusal is
    not remembered)."""
    unknown = [k for k in keys if k not in table.c]
    if unknown:
        raise LedgerError(f"no column(s) {unknown} in table {table.name}")
    return (f"INSERT INTO {table.name} ({','.join(keys)}) "
            f"VALUES ({','.join([mark] * len(keys))})")


@functools.cache
def _table_rank(table: Table) -> int:
    """Position of ``table`` in its metadata's dependency order (parents first)."""
    return table.metadata.sorted_tables.index(table)


def clear_caches() -> None:
    """Forget every memo of this module (SQL text and table facts, never data)."""
    plain_table.cache_clear()
    _insert_sql.cache_clear()
    _table_rank.cache_clear()
