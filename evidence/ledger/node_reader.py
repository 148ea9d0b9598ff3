"""Stored tree nodes read on a connection of the caller's own, for a reader that asks
for a handful of nodes many thousand times a second (the API's inclusion proofs,
evidence/api/hot/inclusion.py).

:meth:`evidence.ledger.log.Ledger.nodes` checks a connection out of the engine's pool
and opens a read transaction around one statement: right for a single proof, several
times the statement's own cost when proofs come by the thousand. A :class:`NodeReader`
holds one read-only SQLite connection (``mode=ro``, ``query_only``, autocommit) and runs
the same prepared statement (:func:`~evidence.ledger.db.dialect.fetch_nodes_sql`) on it.
No snapshot is needed across statements: a stored node never changes once written
(docs/decisions.md D2), and a caller asks only for nodes of a tree no larger than a
committed checkpoint. Other databases get None from :func:`open_node_reader`: their
readers use :meth:`Ledger.nodes`.

One reader per thread (a SQLite connection is not shared across threads here).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING

from evidence.ledger.db.dialect import fetch_nodes_sql
from evidence.ledger.db.engine import sqlite_path
from evidence.verify.merkle import NodeId

if TYPE_CHECKING:  # pragma: no cover
    from evidence.ledger.log import Ledger

__all__ = ["NodeReader", "open_node_reader"]


class _SqliteDialect:
    name = "sqlite"  # all fetch_nodes_sql reads of a dialect


_DIALECT = _SqliteDialect()


class NodeReader:
    """:meth:`read` = :meth:`Ledger.nodes` on a private read-only SQLite connection."""

    def __init__(self, ledger: Ledger, db: sqlite3.Connection) -> None:
        self._ledger, self._db = ledger, db

    def read(self, ids: Iterable[NodeId]) -> dict[NodeId, bytes]:
        """The stored hashes of ``ids`` that exist (absent ids left out), in one
        statement. Raises :class:`sqlite3.Error` if the database cannot be read."""
        found = self.read_pairs((n.level, n.index) for n in ids)
        return {NodeId(*k): h for k, h in found.items()}

    def read_pairs(self, ids: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """:meth:`read` with ``(level, index)`` pairs for ids, for callers that make
        thousands of proofs a second (a :class:`NodeId` costs more to build and hash)."""
        ids = list(ids)
        leaves = sorted({i for lvl, i in ids if lvl == 0})
        inner = sorted({(lvl, i) for lvl, i in ids if lvl > 0})
        statement = fetch_nodes_sql(_DIALECT, leaves, inner)  # type: ignore[arg-type]
        if statement is None:  # ids beyond the packing: the general query
            found = self._ledger.nodes(NodeId(lvl, i) for lvl, i in ids)
            return {(n.level, n.index): h for n, h in found.items()}
        return {(r[0], r[1]): r[2] for r in self._db.execute(*statement)}

    def upper(self, from_level: int, limit: int) -> dict[tuple[int, int], bytes]:
        """Up to ``limit`` stored nodes of height ``from_level`` and above, lowest
        heights first (one range scan of the primary key): what a proof reader keeps."""
        rows = self._db.execute("SELECT level, idx, hash FROM nodes WHERE level >= ? "
                                "ORDER BY level, idx LIMIT ?", (from_level, limit))
        return {(r[0], r[1]): r[2] for r in rows}

    def hashes(self, level: int, start: int, stop: int) -> bytes:
        """The hashes of the stored nodes ``(level, start)`` .. ``(level, stop - 1)``
        joined, in index order (one range scan of the primary key), as far as they are
        stored without a gap: what a proof reader keeps as one array per height."""
        rows = self._db.execute("SELECT idx, hash FROM nodes WHERE level = ? AND idx >= ? "
                                "AND idx < ? ORDER BY idx", (level, start, stop)).fetchall()
        n = 0
        for n, (idx, h) in enumerate(rows):
            if idx != start + n or len(h) != 32:
                break
        else:
            n = len(rows)
        return b"".join([r[1] for r in rows[:n]])

    def close(self) -> None:
        self._db.close()


def open_node_reader(ledger: Ledger) -> NodeReader | None:
    """A reader for a SQLite ledger; None for another database (or if the file cannot
    be opened read-only)."""
    engine = ledger.engine
    if engine.dialect.name != "sqlite":
        return None
    path = sqlite_path(engine.url.render_as_string(hide_password=False))
    if path is None:
        return None
    try:
        db = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True,
                             isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA query_only = ON")
    except sqlite3.Error:
        return None
    return NodeReader(ledger, db)
