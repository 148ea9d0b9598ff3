"""Lookups by leaf hash through a follower-built index, not an index on entries.

Revision ID: 0005_leaf_index
Revises: 0004_access

* drops ``ix_entries_leaf_hash`` (0004): its random 32-byte keys made every appended
  entry dirty about one index page once the ledger held ~1 M entries, which halved
  appends on SQLite (figures: docs/performance.md);
* ``leaf_index (gen, prefix, seq)`` (``WITHOUT ROWID`` on SQLite): ``gen`` = the entry's
  generation ``seq >> 18``, ``prefix`` = the first 8 bytes of its leaf hash. The
  sequencer's follower fills it in large sorted batches between appends
  (``evidence.ledger.leaf_index.index_leaves``);
* ``leaf_index_state``: one row, ``indexed``: every entry below it has its row. Lookups
  scan the entries from there on and confirm every candidate's full leaf hash.

The existing entries are indexed here, in this transaction, by the follower's statement
(written out again: revisions are self-contained), sorted, in one pass.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_leaf_index"
down_revision = "0004_access"
branch_labels = None
depends_on = None

_GEN_BITS = 18
_PREFIX_LEN = 8


def upgrade() -> None:
    op.drop_index("ix_entries_leaf_hash", table_name="entries")
    op.create_table(
        "leaf_index",
        sa.Column("gen", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("prefix", sa.LargeBinary(_PREFIX_LEN), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False, autoincrement=False),
        sa.PrimaryKeyConstraint("gen", "prefix", "seq", name="pk_leaf_index"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "leaf_index_state",
        sa.Column("id", sa.SmallInteger, nullable=False, autoincrement=False),
        sa.Column("indexed", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_leaf_index_state"),
        sa.CheckConstraint("id = 1", name="ck_leaf_index_state_single_row"),
    )
    bind = op.get_bind()
    bind.exec_driver_sql(
        f"INSERT INTO leaf_index (gen, prefix, seq) SELECT seq >> {_GEN_BITS}, "
        f"substr(leaf_hash, 1, {_PREFIX_LEN}), seq FROM entries ORDER BY 1, 2, 3")
    bind.exec_driver_sql("INSERT INTO leaf_index_state (id, indexed) "
                         "SELECT 1, coalesce(max(seq) + 1, 0) FROM entries")


def downgrade() -> None:
    op.drop_table("leaf_index_state")
    op.drop_table("leaf_index")
    op.create_index("ix_entries_leaf_hash", "entries", ["leaf_hash"])
