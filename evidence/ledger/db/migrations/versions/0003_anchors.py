"""Anchors: RFC 3161 timestamp tokens and witness cosignatures per checkpoint.

Revision ID: 0003_anchors
Revises: 0002_evidence

One row per (checkpoint size, anchor source). A row is ``anchored`` only once
the result verified (TSA token: strictly, nonce pinned; witness: a cosignature
by the pinned key over exactly this checkpoint). Failed attempts keep their
reason in ``last_error`` and never fill the proof columns.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_anchors"
down_revision = "0002_evidence"
branch_labels = None
depends_on = None

TIME_LEN = 27  # 2026-01-02T03:04:05.123456Z


def upgrade() -> None:
    op.create_table(
        "anchors",
        sa.Column("checkpoint_size", sa.BigInteger, nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.String(TIME_LEN), nullable=True),
        sa.Column("last_attempt_at", sa.String(TIME_LEN), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("url", sa.Text, nullable=True),
        sa.Column("created_at", sa.String(TIME_LEN), nullable=False),
        sa.Column("anchored_at", sa.String(TIME_LEN), nullable=True),
        # what the anchor proves: "existed no later than proof_time" (genTime / cosigned_at)
        sa.Column("proof_time", sa.String(TIME_LEN), nullable=True),
        # TSA: the TimeStampToken exactly as received; certs: DER certificates, concatenated
        sa.Column("token", sa.LargeBinary, nullable=True),
        sa.Column("certs", sa.LargeBinary, nullable=True),
        sa.Column("gen_time", sa.String(TIME_LEN), nullable=True),
        sa.Column("serial", sa.String(64), nullable=True),  # decimal: serials exceed 64 bits
        sa.Column("policy", sa.String(128), nullable=True),
        sa.Column("verifier", sa.String(128), nullable=True),
        # witness: the cosignature line(s) by the pinned key, and their UNIX time
        sa.Column("cosignature", sa.Text, nullable=True),
        sa.Column("cosigned_at", sa.BigInteger, nullable=True),
        # other anchor kinds (seam): their own fields, JSON
        sa.Column("details", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("checkpoint_size", "source", name="pk_anchors"),
        sa.CheckConstraint("status IN ('pending', 'anchored', 'failed', 'superseded')",
                           name="ck_anchors_status"),
        sa.CheckConstraint("status != 'anchored' OR proof_time IS NOT NULL",
                           name="ck_anchors_anchored_has_proof"),
    )
    op.create_index("ix_anchors_source_status", "anchors", ["source", "status",
                                                             "checkpoint_size"])
    op.create_index("ix_anchors_due", "anchors", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_anchors_due", table_name="anchors")
    op.drop_index("ix_anchors_source_status", table_name="anchors")
    op.drop_table("anchors")
