"""The log's tables (SQLAlchemy Core). The migrations in
:mod:`evidence.ledger.db.migrations` create them; this module is what code queries.

The other rooms' tables live beside their queries, each room on its own ``MetaData``
with this module's :data:`NAMING`, and are not re-exported here (docs/decisions.md,
"Tables by room"): intake's ``evidence_items``, ``evidence_files`` and
``evidence_events`` in :mod:`evidence.ledger.evidence_store`; access's ``principals``,
``api_tokens``, ``cases``, ``case_members``, ``grants`` and ``grant_items`` in
:mod:`evidence.ledger.access.schema`; ``anchors`` in
:mod:`evidence.ledger.anchor.schema`. All of them come from the one migration chain.

``entries``
    one row per log entry. ``data`` are the exact bytes that were hashed
    (RFC 8785 JSON); ``leaf_hash`` = ``SHA-256(0x00 || data)``; ``type`` and
    ``time`` are copies of the entry's fields for queries. Never updated.
``nodes``
    the Merkle tree's perfect subtrees at level >= 1 (level 0, the leaves, are
    ``entries.leaf_hash``: stored once, not twice). Node ``(level, idx)``
    covers leaves ``[idx << level, (idx + 1) << level)``. Written once, when the
    append completing it commits, never updated: about one node row per entry.
``checkpoints``
    signed tree heads: at most one per size (the root of a size is fixed, so
    "two roots for one size" cannot be stored), sizes only grow.
``log_state``
    exactly one row: the log's origin and verifier key, its committed size,
    the last leaf hash and entry time. Writers lock this row: it is the
    sequencer's mutex across processes.
``keys``
    public keys the ledger knows (the log key, later rotated keys, witnesses).
``leaf_index`` and ``leaf_index_state``
    lookups by leaf hash, kept off the append path (0005_leaf_index): a row
    ``(gen, prefix, seq)`` per entry ``seq < leaf_index_state.indexed``, where ``gen`` is
    ``seq >> 18`` (generations of 2**18 entries) and ``prefix`` the first 8 bytes of its
    leaf hash, written in large sorted batches by a follower
    (:func:`evidence.ledger.leaf_index.index_leaves`). Only a hint: a lookup confirms the
    full ``entries.leaf_hash`` and scans the entries from ``indexed`` on
    (:func:`evidence.ledger.db.log_queries.find_leaf`). No row is ever updated or deleted, and
    ``indexed`` only grows.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)
"""The ledger's metadata. Other parts may define their tables on their own MetaData;
their migrations go in the same Alembic chain."""

# INTEGER PRIMARY KEY is SQLite's rowid (64-bit): compact and fast.
SeqType = BigInteger().with_variant(Integer(), "sqlite")

TIME_LEN = 27  # 2026-01-02T03:04:05.123456Z

entries = Table(
    "entries",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("type", String(128), nullable=False),
    Column("time", String(TIME_LEN), nullable=False),
    Column("data", LargeBinary, nullable=False),
    # no index on leaf_hash (0004_access made one; 0005_leaf_index replaced it by
    # leaf_index): random keys cost every append about one dirty page at 1 M entries
)

KEY_ENTRY_TYPES: tuple[str, ...] = ("key.mldsa_added", "key.revoked", "key.rotated")
"""The entries that set the log's keys (docs/formats.md "Log key rotation", "ML-DSA-44
signatures"): few in any log, read on every tile-sync round and trust-file request."""

key_entries = text("type IN ('key.mldsa_added', 'key.revoked', 'key.rotated')")
"""The one predicate of ``ix_entries_key_seq`` and of every query for the key entries.
SQLite's planner takes a partial index only when the query's WHERE holds the index's
term exactly (no bound parameters in the IN list), so :func:`~evidence.ledger.db.
log_queries.key_entry_rows` selects by this very clause and filters by type in Python
(tests/ledger/test_key_entries_index.py holds the plans on SQLite and PostgreSQL)."""

# A partial index: an append of any other type writes nothing to it (0010_key_entries_index)
Index("ix_entries_key_seq", entries.c.seq, sqlite_where=key_entries,
      postgresql_where=key_entries)

nodes = Table(
    "nodes",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
    sqlite_with_rowid=False,
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", String(TIME_LEN), nullable=False),
)

log_state = Table(
    "log_state",
    metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("origin", Text, nullable=False),
    Column("log_vkey", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("last_leaf_hash", LargeBinary(32), nullable=False),
    Column("last_time", String(TIME_LEN), nullable=False),
    Column("created_at", String(TIME_LEN), nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

keys = Table(
    "keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False),
    Column("vkey", Text, nullable=False, unique=True),
    Column("role", String(32), nullable=False),
    Column("created_at", String(TIME_LEN), nullable=False),
)

leaf_index = Table(
    "leaf_index",
    metadata,
    Column("gen", Integer, primary_key=True, autoincrement=False),
    Column("prefix", LargeBinary(8), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    sqlite_with_rowid=False,
)

leaf_index_state = Table(
    "leaf_index_state",
    metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("indexed", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

idempotency_keys = Table(  # evidence/ledger/intake/idempotency.py; migration 0008
    "idempotency_keys",
    metadata,
    Column("principal", Text, primary_key=True),
    Column("idem_key", String(255), primary_key=True),
    Column("operation", String(32), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("evidence_id", String(64), nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("response", Text, nullable=False),
    Column("created_at", String(TIME_LEN), nullable=False),
    Index("ix_idempotency_keys_created_at", "created_at"),  # evidence gc's range scan
)
