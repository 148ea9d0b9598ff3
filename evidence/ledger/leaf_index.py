"""The leaf-hash follower: the ``leaf_index`` rows that let a lookup by leaf hash probe
an index instead of scanning every entry.

The append transaction writes no random-keyed index (on a ledger of 1 M entries that
cost each appended entry about one dirty page). Instead the sequencer's writer thread
calls :func:`index_leaves` between batches, once enough entries lie past the index's
watermark (``leaf_index_state.indexed``), and :func:`evidence.ledger.db.log_queries.find_leaf`
probes the index below the watermark and scans the entries from it. The index is only a
hint: a lookup confirms the full stored leaf hash, so a wrong, stale or tampered row can
make a lookup miss, never answer another entry.
"""

from __future__ import annotations

from sqlalchemy import Engine

from evidence.ledger.db.dialect import lock_suffix
from evidence.ledger.db.engine import write_transaction
from evidence.ledger.db.log_queries import INDEXED_SQL, leaf_index_sql
from evidence.ledger.db.sql import Driver
from evidence.ledger.errors import LedgerError, NotALedger

__all__ = ["LEAF_INDEX_CHUNK", "index_leaves"]

LEAF_INDEX_CHUNK = 1 << 20
"""At most this many entries indexed per follower transaction (memory stays bounded)."""


def index_leaves(engine: Engine, min_tail: int = 1) -> int:
    """The leaf-hash follower: give every entry past the watermark
    (``leaf_index_state.indexed``) its ``leaf_index`` row, if at least ``min_tail`` are
    waiting; returns the watermark.

    Each transaction (at most :data:`LEAF_INDEX_CHUNK` entries) locks the watermark row,
    inserts the rows of the committed entries from it to the log's size in one statement
    (:func:`~evidence.ledger.db.log_queries.leaf_index_sql`: keys computed and sorted by the
    database, so they land in order in the newest generation's part of the B-tree) and
    moves the watermark, all or nothing: a crash leaves the old watermark and no row of
    the batch, and lookups scan from it. On PostgreSQL it runs beside appends (it locks
    only the watermark row; the entries it reads are committed and never change); SQLite
    serialises it with them."""
    while True:
        with write_transaction(engine) as conn:
            drv = Driver(conn)
            row = drv.first(INDEXED_SQL + lock_suffix(conn.dialect))
            if row is None:
                raise NotALedger("leaf_index_state row is missing")
            indexed = int(row[0])
            size = int(drv.first("SELECT size FROM log_state WHERE id = 1")[0])
            if size - indexed < max(min_tail, 1):
                return indexed
            stop = min(size, indexed + LEAF_INDEX_CHUNK)
            drv.run(leaf_index_sql(indexed, stop))
            mark = drv.mark
            if drv.run(f"UPDATE leaf_index_state SET indexed = {mark} "
                       f"WHERE id = 1 AND indexed = {mark}", (stop, indexed)) != 1:
                raise LedgerError("leaf_index_state changed under the follower's lock")
        if stop >= size:
            return stop
        min_tail = 1  # the rest of a long tail, chunk by chunk
