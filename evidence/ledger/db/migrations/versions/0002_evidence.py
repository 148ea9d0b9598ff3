"""Evidence items, their files and off-ledger metadata (intake).

Revision ID: 0002_evidence
Revises: 0001_ledger

``evidence_items``: one row per evidence item, written in the same transaction as
its ``evidence.submitted`` entry (``seq``): the committed metadata (its exact JCS
bytes) and the 32-byte salt that open the entry's ``metadata_commitment``, and
the log's signed receipt. A purge sets ``metadata_jcs`` and ``salt`` to NULL and
records the ``evidence.purged`` entry in ``purged_seq``.
``evidence_files``: the item's files in entry order (``sha256`` names the blob).
``evidence_events``: every ledger entry about an item (its chain of custody),
so that ``show`` and bundles find them without scanning the log.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_evidence"
down_revision = "0001_ledger"
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger()
_TIME = sa.String(27)


def upgrade() -> None:
    op.create_table(
        "evidence_items",
        sa.Column("evidence_id", sa.String(64), nullable=False),
        sa.Column("seq", _SEQ, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("case_id", sa.Text, nullable=False),
        sa.Column("principal", sa.Text, nullable=False),
        sa.Column("submitted_at", _TIME, nullable=False),
        sa.Column("commitment", sa.String(64), nullable=False),
        sa.Column("metadata_jcs", sa.LargeBinary, nullable=True),
        sa.Column("salt", sa.LargeBinary(32), nullable=True),
        sa.Column("receipt", sa.Text, nullable=False),
        sa.Column("submitter_key", sa.Text, nullable=True),
        sa.Column("purged_seq", _SEQ, nullable=True),
        sa.Column("purged_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("evidence_id", name="pk_evidence_items"),
        sa.UniqueConstraint("seq", name="uq_evidence_items_seq"),
        sa.UniqueConstraint("purged_seq", name="uq_evidence_items_purged_seq"),
    )
    op.create_index("ix_evidence_items_case_id", "evidence_items", ["case_id"])
    op.create_table(
        "evidence_files",
        sa.Column("evidence_id", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("media_type", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("evidence_id", "position", name="pk_evidence_files"),
        sa.ForeignKeyConstraint(["evidence_id"], ["evidence_items.evidence_id"],
                                name="fk_evidence_files_evidence_id_evidence_items"),
    )
    op.create_index("ix_evidence_files_sha256", "evidence_files", ["sha256"])
    op.create_table(
        "evidence_events",
        sa.Column("evidence_id", sa.String(64), nullable=False),
        sa.Column("seq", _SEQ, nullable=False, autoincrement=False),
        sa.Column("type", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("evidence_id", "seq", name="pk_evidence_events"),
    )


def downgrade() -> None:
    op.drop_table("evidence_events")
    op.drop_index("ix_evidence_files_sha256", table_name="evidence_files")
    op.drop_table("evidence_files")
    op.drop_index("ix_evidence_items_case_id", table_name="evidence_items")
    op.drop_table("evidence_items")
