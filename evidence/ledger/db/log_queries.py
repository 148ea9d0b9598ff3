"""Reading the ledger's tables: log state, entries, stored tree nodes, checkpoints.

Everything here takes a :class:`~sqlalchemy.Connection` inside a transaction the
caller opened, so that one proof, root or audit step reads one snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from evidence.ledger.db.dialect import (
    fetch_nodes_sql,
    lock_suffix,
    size_and_nodes_sql,
    size_with_nodes,
)
from evidence.ledger.db.schema import KEY_ENTRY_TYPES, checkpoints, entries, key_entries
from evidence.ledger.db.sql import param_mark
from evidence.verify.hashing import Hash32
from evidence.verify.merkle import NodeFetcher, NodeId


@dataclass(frozen=True)
class LogState:
    origin: str
    log_vkey: str
    size: int
    last_leaf_hash: bytes
    last_time: str


@dataclass(frozen=True)
class StoredEntry:
    """An entry as stored: ``data`` are the exact bytes that were hashed."""

    seq: int
    leaf_hash: Hash32
    type: str
    time: str
    data: bytes


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root: Hash32
    note: str
    created_at: str


STATE_SQL = ("SELECT origin, log_vkey, size, last_leaf_hash, last_time FROM log_state "
             "WHERE id = 1")
"""The :class:`LogState` row, in column order (the sequencer runs it on the driver)."""


def read_state(conn: Connection, *, for_update: bool = False) -> LogState | None:
    # SQLite: BEGIN IMMEDIATE locks already. The SQL is constant text (a cached
    # statement on both databases): building a select() cost more than running it.
    lock = lock_suffix(conn.dialect) if for_update else ""
    row = conn.exec_driver_sql(STATE_SQL + lock).first()
    return None if row is None else state_from_row(row)


def state_from_row(row: Sequence[Any]) -> LogState:
    """The :class:`LogState` of a row of :data:`STATE_SQL`."""
    return LogState(row[0], row[1], int(row[2]), bytes(row[3]), row[4])


def read_size(conn: Connection) -> int | None:
    """The committed size alone (what a proof needs), or None without a log_state row."""
    size = conn.exec_driver_sql("SELECT size FROM log_state WHERE id = 1").scalar()
    return None if size is None else int(size)


def fetch_nodes(conn: Connection, ids: Sequence[NodeId]) -> dict[NodeId, bytes]:
    """Stored hashes of the requested perfect subtrees, in ONE query.

    Level-0 nodes are leaf hashes (``entries``); higher levels are ``nodes``.
    Missing ids are simply absent from the result (the caller decides).

    The ids go in as parameters of a constant statement
    (:func:`~evidence.ledger.db.dialect.fetch_nodes_sql`: a JSON array joined on
    SQLite, arrays unnested on PostgreSQL): one primary-key probe per id, and the
    statement is prepared once, where a text written out per call cost SQLite more to
    compile than to run (:func:`fetch_nodes_written_out`, kept for other databases and
    ids beyond the packing; a test holds the two equal).
    """
    leaves = sorted({int(n.index) for n in ids if n.level == 0})
    inner = sorted({(int(n.level), int(n.index)) for n in ids if n.level > 0})
    if not leaves and not inner:
        return {}
    statement = fetch_nodes_sql(conn.dialect, leaves, inner)
    if statement is None:
        return fetch_nodes_written_out(conn, ids)
    rows = conn.exec_driver_sql(*statement)
    return {NodeId(int(r[0]), int(r[1])): bytes(r[2]) for r in rows}


def fetch_size_and_nodes(conn: Connection,
                         ids: Sequence[NodeId]) -> tuple[int | None, dict[NodeId, bytes]]:
    """The committed size and the stored hashes of ``ids``, read together.

    On PostgreSQL one statement (one snapshot, one round trip: a proof to a given size
    needs no transaction around two reads); elsewhere :func:`read_size`, then
    :func:`fetch_nodes`, which the caller runs in one read transaction."""
    if not size_with_nodes(conn.dialect):
        return read_size(conn), fetch_nodes(conn, ids)
    leaves = sorted({int(n.index) for n in ids if n.level == 0})
    inner = sorted({(int(n.level), int(n.index)) for n in ids if n.level > 0})
    rows = conn.exec_driver_sql(*size_and_nodes_sql(leaves, inner)).all()
    size = next((int(r[1]) for r in rows if r[0] == -1), None)
    return size, {NodeId(int(r[0]), int(r[1])): bytes(r[2]) for r in rows if r[0] != -1}


def fetch_nodes_written_out(conn: Connection, ids: Sequence[NodeId]) -> dict[NodeId, bytes]:
    """:func:`fetch_nodes` with the ids written into the SQL text (any database).

    Python ints only, from :class:`NodeId` arithmetic: nothing to inject;
    ``level = L AND idx IN (...)`` per level lets both SQLite and PostgreSQL use the
    primary key (SQLite scans for a row-value IN list).
    """
    leaves = sorted({int(n.index) for n in ids if n.level == 0})
    by_level: dict[int, list[int]] = {}
    for n in ids:
        if n.level > 0:
            by_level.setdefault(int(n.level), []).append(int(n.index))
    parts = []
    if leaves:
        in_list = ",".join(str(i) for i in leaves)
        parts.append(f"SELECT 0, seq, leaf_hash FROM entries WHERE seq IN ({in_list})")
    if by_level:
        cond = " OR ".join(
            f"(level = {lvl:d} AND idx IN ({','.join(str(i) for i in sorted(set(idxs)))}))"
            for lvl, idxs in sorted(by_level.items()))
        parts.append(f"SELECT level, idx, hash FROM nodes WHERE {cond}")
    if not parts:
        return {}
    sql = " UNION ALL ".join(parts)
    return {NodeId(int(r[0]), int(r[1])): bytes(r[2]) for r in conn.exec_driver_sql(sql)}


def node_fetcher(conn: Connection) -> NodeFetcher:
    return lambda ids: fetch_nodes(conn, ids)


LEAF_GEN_BITS = 18
"""Entries ``[g << 18, (g + 1) << 18)`` form generation ``g`` of ``leaf_index``."""
LEAF_PREFIX_LEN = 8
"""Bytes of the leaf hash kept in ``leaf_index.prefix``."""


def leaf_key(seq: int, leaf: bytes) -> tuple[int, bytes]:
    """The ``leaf_index`` key ``(gen, prefix)`` of entry ``seq`` with leaf hash ``leaf``
    (what :func:`leaf_index_sql` computes in SQL).

    The generation leads so that a follower's batch of new entries lands in the newest
    part of the B-tree, at most 2**18 entries (~2,000 pages) whatever the
    ledger's size, instead of all over an index of the whole ledger; a lookup probes
    one key per generation (:func:`find_leaf`)."""
    return seq >> LEAF_GEN_BITS, bytes(leaf[:LEAF_PREFIX_LEN])


def leaf_index_sql(start: int, stop: int) -> str:
    """The follower's statement: the ``leaf_index`` rows of entries ``start <= seq <
    stop``, computed and sorted by the database (the same text on SQLite and PostgreSQL;
    migration 0005 runs it over every entry)."""
    return (f"INSERT INTO leaf_index (gen, prefix, seq) SELECT seq >> {LEAF_GEN_BITS:d}, "
            f"substr(leaf_hash, 1, {LEAF_PREFIX_LEN:d}), seq FROM entries "
            f"WHERE seq >= {start:d} AND seq < {stop:d} ORDER BY 1, 2, 3")


INDEXED_SQL = "SELECT indexed FROM leaf_index_state WHERE id = 1"
"""The leaf index's watermark (the sequencer and the follower run it on the driver)."""


def last_type_sql(mark: str) -> str:
    """The type of the entry numbered by the one parameter (the sequencer asks it of the
    last entry: a log whose last entry is ``log.frozen`` takes no more appends)."""
    return f"SELECT type FROM entries WHERE seq = {mark}"


def read_last_type(conn: Connection) -> str | None:
    """The type of the log's last entry (None for an empty log)."""
    size = read_size(conn)
    if not size:
        return None
    t = conn.execute(select(entries.c.type).where(entries.c.seq == size - 1)).scalar()
    return None if t is None else str(t)


def read_indexed(conn: Connection) -> int:
    """``leaf_index_state.indexed``: entries below it have their ``leaf_index`` rows
    (0 without the row: every entry is then in the tail that lookups scan)."""
    w = conn.exec_driver_sql(INDEXED_SQL).scalar()
    return 0 if w is None else int(w)


def find_leaf(conn: Connection, leaf: bytes) -> int | None:
    """The ``seq`` of the entry whose stored leaf hash is ``leaf``, or None.

    Reads the watermark ``indexed`` first, then in ONE statement: the ``leaf_index``
    candidates (one probe per generation below the watermark) joined to ``entries`` and
    kept only where the full stored ``leaf_hash`` equals ``leaf``; only if none is, the
    entries from the watermark on, scanned (the tail the follower has not reached yet:
    at most the sequencer's ``leaf_index_every`` plus a batch; ``COALESCE`` evaluates
    its second argument only when the first is NULL, on both databases). An index row
    that is wrong, stale or tampered with can therefore make a lookup miss, never answer
    another entry. Reading the watermark first keeps this right without one snapshot
    for both reads (PostgreSQL's READ COMMITTED): the watermark only grows and index
    rows are never deleted, so the index a later statement sees covers at least that."""
    w = read_indexed(conn)
    mark = param_mark(conn.dialect)
    # integers from our own arithmetic are written out (nothing to inject): the planner
    # sees the real bound of the tail scan and one probe per listed generation
    tail = f"SELECT min(seq) FROM entries WHERE seq >= {w:d} AND leaf_hash = {mark}"
    if w <= 0:
        sql, params = tail, (leaf,)
    else:
        gens = ",".join(str(g) for g in range(((w - 1) >> LEAF_GEN_BITS) + 1))
        sql = ("SELECT coalesce((SELECT min(e.seq) FROM leaf_index k JOIN entries e "
               f"ON e.seq = k.seq WHERE k.gen IN ({gens}) AND k.prefix = {mark} "
               f"AND e.leaf_hash = {mark}), ({tail}))")
        params = (leaf[:LEAF_PREFIX_LEN], leaf, leaf)
    found = conn.exec_driver_sql(sql, params).scalar()
    return None if found is None else int(found)


def read_entry(conn: Connection, seq: int) -> StoredEntry | None:
    row = conn.execute(select(entries).where(entries.c.seq == seq)).first()
    return None if row is None else _entry(row)


def read_entries(conn: Connection, seqs: Sequence[int]) -> list[StoredEntry]:
    """The entries numbered ``seqs`` that exist, in log order (one query)."""
    if not seqs:
        return []
    return [_entry(row) for row in conn.execute(
        select(entries).where(entries.c.seq.in_(list(seqs))).order_by(entries.c.seq))]


def _entry(row) -> StoredEntry:  # type: ignore[no-untyped-def]
    return StoredEntry(int(row.seq), Hash32(bytes(row.leaf_hash)), row.type, row.time,
                       bytes(row.data))


def iter_entries(conn: Connection, start: int, end: int, chunk: int = 2000
                 ) -> Iterator[StoredEntry]:
    """Entries with ``start <= seq < end`` in order, fetched ``chunk`` rows at a time
    (keyset pagination: memory stays flat, no server-side cursor needed)."""
    pos = start
    while pos < end:
        stop = min(end, pos + chunk)
        rows = conn.execute(select(entries).where(entries.c.seq >= pos, entries.c.seq < stop)
                            .order_by(entries.c.seq)).all()
        for row in rows:
            yield _entry(row)
        pos = stop


def _checkpoint(row) -> StoredCheckpoint:  # type: ignore[no-untyped-def]
    return StoredCheckpoint(int(row.size), Hash32(bytes(row.root)), row.note, row.created_at)


def latest_checkpoint(conn: Connection) -> StoredCheckpoint | None:
    row = conn.execute(select(checkpoints).order_by(checkpoints.c.size.desc()).limit(1)).first()
    return None if row is None else _checkpoint(row)


def checkpoint_at(conn: Connection, size: int) -> StoredCheckpoint | None:
    row = conn.execute(select(checkpoints).where(checkpoints.c.size == size)).first()
    return None if row is None else _checkpoint(row)


def iter_checkpoints(conn: Connection, chunk: int = 1000, *, min_size: int = 0,
                     max_size: int | None = None) -> Iterator[StoredCheckpoint]:
    """Stored checkpoints of sizes ``min_size`` to ``max_size`` (inclusive; no upper
    bound by default), by size, read ``chunk`` at a time."""
    last = min_size - 1
    while True:
        q = select(checkpoints).where(checkpoints.c.size > last)
        if max_size is not None:
            q = q.where(checkpoints.c.size <= max_size)
        rows = conn.execute(q.order_by(checkpoints.c.size).limit(chunk)).all()
        if not rows:
            return
        for row in rows:
            yield _checkpoint(row)
        last = int(rows[-1].size)


def max_checkpoint_size(conn: Connection) -> int | None:
    return conn.execute(select(func.max(checkpoints.c.size))).scalar()


def key_entry_rows(conn: Connection, types: Sequence[str]) -> list[tuple[int, str, bytes]]:
    """``(seq, type, data)`` of the key entries of ``types``, by seq: a probe of the
    partial index ``ix_entries_key_seq``, whose predicate this query holds verbatim;
    ``types`` is filtered here, not in SQL, so the WHERE stays the index's own term
    (tests/ledger/test_key_entries_index.py)."""
    if not set(types) <= set(KEY_ENTRY_TYPES):  # others are not in the index: never found
        raise ValueError(f"not key entry types: {sorted(set(types) - set(KEY_ENTRY_TYPES))}")
    rows = conn.execute(select(entries.c.seq, entries.c.type, entries.c.data)
                        .where(key_entries).order_by(entries.c.seq)).all()
    return [(r.seq, r.type, r.data) for r in rows if r.type in types]
