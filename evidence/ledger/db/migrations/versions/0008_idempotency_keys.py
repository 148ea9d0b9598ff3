"""Idempotency keys of submissions: ``idempotency_keys``.

Revision ID: 0008_idempotency_keys
Revises: 0007_grant_legal_basis

One row per key a client sent with a submission that was appended (the HTTP
``Idempotency-Key`` header, docs/api.md), written in the same transaction as the item's
entry (evidence/ledger/intake/idempotency.py): whose key, the operation, the request's
fingerprint, the item it made, and the answer given, so that a retry is answered with
it. Rows expire after a time to live and ``evidence gc`` deletes them
(``ix_idempotency_keys_created_at``). Nothing here is part of the log's content.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_idempotency_keys"
down_revision = "0007_grant_legal_basis"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("principal", sa.Text, nullable=False),
        sa.Column("idem_key", sa.String(255), nullable=False),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("evidence_id", sa.String(64), nullable=False),
        sa.Column("status", sa.SmallInteger, nullable=False),
        sa.Column("response", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(27), nullable=False),
        sa.PrimaryKeyConstraint("principal", "idem_key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
