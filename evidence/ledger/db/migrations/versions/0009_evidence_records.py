"""RFC 4998 evidence records: ``evidence_records``.

Revision ID: 0009_evidence_records
Revises: 0008_idempotency_keys

One row per preserved item: its current EvidenceRecord (DER), made by a configured TSA as
the log is anchored and replaced by each renewal (a renewed record holds the one it renews
in full: nothing is lost). ``renew_before`` is when the newest token's TSA certificate
expires (the timestamp renewal must come before it); ``algorithm`` the hash of its last
chain. docs/formats.md "Evidence records".
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_evidence_records"
down_revision = "0008_idempotency_keys"
branch_labels = None
depends_on = None

TIME_LEN = 27  # 2026-01-02T03:04:05.123456Z


def upgrade() -> None:
    op.create_table(
        "evidence_records",
        sa.Column("evidence_id", sa.String(64), nullable=False),
        sa.Column("record", sa.LargeBinary, nullable=False),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("tsa", sa.String(128), nullable=False),
        sa.Column("first_gen_time", sa.String(TIME_LEN), nullable=False),
        sa.Column("renew_before", sa.String(TIME_LEN), nullable=False),
        sa.Column("updated_at", sa.String(TIME_LEN), nullable=False),
        sa.PrimaryKeyConstraint("evidence_id", name="pk_evidence_records"),
    )
    op.create_index("ix_evidence_records_renew_before", "evidence_records", ["renew_before"])


def downgrade() -> None:
    op.drop_index("ix_evidence_records_renew_before", table_name="evidence_records")
    op.drop_table("evidence_records")
