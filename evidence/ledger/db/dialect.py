"""Where SQLite and PostgreSQL differ, each difference behind one named function.

The queries of :mod:`.log_queries`, the writer (:mod:`evidence.ledger.sequencer`,
:mod:`evidence.ledger.leaf_index`), the bulk insert of :mod:`.sql`, the migrations and
the facade (:mod:`evidence.ledger.log`) ask here instead of testing the database's
name themselves, so a reader finds every difference in one page and a third database
would be one module to read. Everything here is SQL text or a fact about the database:
nothing runs a statement. The one other difference, the parameter marker, is
:func:`evidence.ledger.db.sql.param_mark` (the speed door's own).

Left where they are, because each is a different procedure rather than a different
statement: the engine's set-up (:mod:`.engine`: SQLite's PRAGMAs, WAL, ``BEGIN
IMMEDIATE``), the backup (SQLite's online backup API or ``pg_dump``,
:mod:`evidence.ledger.backup`), the audit's worker connections
(:mod:`evidence.ledger.audit.spans`) and the sequencer's follower interval by database
(:data:`evidence.ledger.sequencer.LEAF_INDEX_EVERY`, a tuning of the writer).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, LargeBinary, SmallInteger, String, Table
from sqlalchemy.engine import Dialect

__all__ = ["autocommit_reads", "copy_statement", "fetch_nodes_sql", "lock_suffix",
           "migration_lock_sql", "set_autocommit", "size_and_nodes_sql", "size_with_nodes"]

SQLITE, POSTGRESQL = "sqlite", "postgresql"


def lock_suffix(dialect: Dialect) -> str:
    """What a ``SELECT`` of a row the writer will change ends with: ``FOR UPDATE`` on
    PostgreSQL; nothing on SQLite, where the writer's ``BEGIN IMMEDIATE`` already holds
    the database's one write lock (:func:`evidence.ledger.db.engine.write_transaction`)."""
    return "" if dialect.name == SQLITE else " FOR UPDATE"


def migration_lock_sql(dialect: Dialect) -> str | None:
    """The statement that serialises migrators inside their transaction, or None where
    the write transaction already does (SQLite: ``BEGIN IMMEDIATE``)."""
    return "SELECT pg_advisory_xact_lock(7262291517)" if dialect.name == POSTGRESQL else None


# --- stored tree nodes, in one statement -------------------------------------------------

_PACK = 40
"""SQLite fast path: a node id travels as ``level << 40 | idx`` (idx < 2**40, a tree of
a trillion leaves; larger ids take the written-out query)."""

_FETCH_SQLITE = (
    # constant text: prepared once per connection; one primary-key probe per id
    "SELECT 0, e.seq, e.leaf_hash FROM json_each(?) w JOIN entries e "
    "ON e.seq = w.value UNION ALL "
    "SELECT n.level, n.idx, n.hash FROM json_each(?) w JOIN nodes n "
    f"ON n.level = w.value >> {_PACK} AND n.idx = w.value & {(1 << _PACK) - 1}")
_FETCH_PG = ("SELECT 0, e.seq, e.leaf_hash FROM entries e WHERE e.seq = ANY(%s::bigint[]) "
             "UNION ALL SELECT n.level, n.idx, n.hash "
             "FROM unnest(%s::smallint[], %s::bigint[]) AS w(level, idx) "
             "JOIN nodes n ON n.level = w.level AND n.idx = w.idx")
_SIZE_AND_NODES_PG = ("SELECT -1, size, NULL::bytea FROM log_state WHERE id = 1 UNION ALL "
                      + _FETCH_PG)


def fetch_nodes_sql(dialect: Dialect, leaves: Sequence[int],
                    inner: Sequence[tuple[int, int]]) -> tuple[str, tuple[Any, ...]] | None:
    """The constant statement and its parameters that read the leaf hashes ``leaves``
    (``entries``) and the nodes ``inner`` (``(level, idx)``, from ``nodes``) in one query,
    rows ``(level, idx, hash)``: a JSON array joined on SQLite, arrays unnested on
    PostgreSQL. None where the caller must write the ids out
    (:func:`evidence.ledger.db.log_queries.fetch_nodes_written_out`): another database,
    or a SQLite id beyond the packing."""
    if dialect.name == SQLITE and all(i < 1 << _PACK for _, i in inner):
        return _FETCH_SQLITE, (
            "[" + ",".join(map(str, leaves)) + "]",
            "[" + ",".join(str(lvl << _PACK | i) for lvl, i in inner) + "]")
    if dialect.name == POSTGRESQL:
        return _FETCH_PG, (leaves, [lvl for lvl, _ in inner], [i for _, i in inner])
    return None


def size_with_nodes(dialect: Dialect) -> bool:
    """Whether the log's size and stored nodes can be read in one statement
    (:func:`size_and_nodes_sql`: PostgreSQL), so a proof needs no transaction around
    two reads."""
    return dialect.name == POSTGRESQL


def size_and_nodes_sql(leaves: Sequence[int], inner: Sequence[tuple[int, int]]
                       ) -> tuple[str, tuple[Any, ...]]:
    """:func:`fetch_nodes_sql` with the log's size in front (a row ``(-1, size, NULL)``),
    one statement and so one snapshot; only where :func:`size_with_nodes` says so."""
    return _SIZE_AND_NODES_PG, (leaves, [lvl for lvl, _ in inner], [i for _, i in inner])


# --- transactions around reads -------------------------------------------------------------

def autocommit_reads(dialect: Dialect) -> bool:
    """Whether a reader that needs no snapshot across its statements should run them
    outside a transaction: on PostgreSQL ``BEGIN`` and ``COMMIT`` are round trips to the
    server; on SQLite a read transaction costs nothing a statement does not."""
    return dialect.name == POSTGRESQL


def set_autocommit(driver_connection: Any, dialect: Dialect) -> None:
    """Put a DB-API connection in autocommit, as its driver spells it (psycopg:
    ``autocommit``; sqlite3: no implicit ``BEGIN``): each statement then sees everything
    committed before it."""
    if dialect.name == POSTGRESQL:
        driver_connection.autocommit = True
    else:
        driver_connection.isolation_level = None


# --- bulk insert -----------------------------------------------------------------------------

_PG_COPY_TYPES = {BigInteger: "int8", SmallInteger: "int2", LargeBinary: "bytea",
                  String: "text"}
"""PostgreSQL types of the ``entries`` and ``nodes`` columns, for binary ``COPY``."""


def copy_statement(dialect: Dialect, table: Table) -> tuple[str, list[str]] | None:
    """The binary ``COPY`` of every column of ``table`` and the columns' types, where the
    database has one (PostgreSQL: an ``INSERT`` per row costs a protocol round of parse,
    bind and execute); None where an ``executemany`` of ``INSERT`` is the bulk insert
    (SQLite)."""
    if dialect.name != POSTGRESQL:
        return None
    columns = ",".join(c.name for c in table.c)
    return (f"COPY {table.name} ({columns}) FROM STDIN (FORMAT BINARY)",
            [_PG_COPY_TYPES[type(c.type)] for c in table.c])
