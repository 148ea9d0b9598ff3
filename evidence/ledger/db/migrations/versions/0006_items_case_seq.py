"""Listing a case's items in log order: ``evidence_items (case_id, seq)``.

Revision ID: 0006_items_case_seq
Revises: 0005_leaf_index

``GET /v1/evidence`` and ``evidence list`` page through the items of a principal's cases
as a keyset over ``seq`` (evidence/ledger/listing.py): with this index each page of a
case is one range scan from the cursor on, whatever the case's size. It replaces
``ix_evidence_items_case_id`` (0002), whose every use it serves as well (its leading
column), so an append still maintains one index for the case, not two.
"""

from __future__ import annotations

from alembic import op

revision = "0006_items_case_seq"
down_revision = "0005_leaf_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_evidence_items_case_id_seq", "evidence_items", ["case_id", "seq"])
    op.drop_index("ix_evidence_items_case_id", table_name="evidence_items")


def downgrade() -> None:
    op.create_index("ix_evidence_items_case_id", "evidence_items", ["case_id"])
    op.drop_index("ix_evidence_items_case_id_seq", table_name="evidence_items")
