"""The ledger: entries, Merkle tree nodes, checkpoints, log state, keys.

Revision ID: 0001_ledger
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_ledger"
down_revision = None
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.String(27)


def upgrade() -> None:
    op.create_table(
        "entries",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("time", _TIME, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_entries"),
    )
    op.create_table(
        "nodes",
        sa.Column("level", sa.SmallInteger, autoincrement=False),
        sa.Column("idx", sa.BigInteger, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name="pk_nodes"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "checkpoints",
        sa.Column("size", sa.BigInteger, autoincrement=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("size", name="pk_checkpoints"),
    )
    op.create_table(
        "log_state",
        sa.Column("id", sa.SmallInteger, autoincrement=False),
        sa.Column("origin", sa.Text, nullable=False),
        sa.Column("log_vkey", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("last_leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("last_time", _TIME, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_log_state"),
        sa.CheckConstraint("id = 1", name="ck_log_state_single_row"),
    )
    op.create_table(
        "keys",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("vkey", sa.Text, nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_keys"),
        sa.UniqueConstraint("vkey", name="uq_keys_vkey"),
    )


def downgrade() -> None:
    for table in ("keys", "log_state", "checkpoints", "nodes", "entries"):
        op.drop_table(table)
