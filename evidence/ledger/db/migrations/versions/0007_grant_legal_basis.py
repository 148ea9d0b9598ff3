"""A grant's legal fields: purpose, recipient, and the basis for the transfer.

Revision ID: 0007_grant_legal_basis
Revises: 0006_items_case_seq

The same values are on the ledger, in each of the grant's ``evidence.shared`` entries
(docs/formats.md); these columns let ``GET /v1/grants`` and ``evidence grant list`` show
them without reading entries. All nullable: grants made before this revision, and grants
on a deployment that does not require a basis, have none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_grant_legal_basis"
down_revision = "0006_items_case_seq"
branch_labels = None
depends_on = None

COLUMNS = ("purpose", "recipient_jurisdiction", "recipient_organisation", "legal_basis",
           "legal_basis_ref")


def upgrade() -> None:
    with op.batch_alter_table("grants") as batch:
        batch.add_column(sa.Column("purpose", sa.Text))
        batch.add_column(sa.Column("recipient_jurisdiction", sa.String(16)))
        batch.add_column(sa.Column("recipient_organisation", sa.Text))
        batch.add_column(sa.Column("legal_basis", sa.String(32)))
        batch.add_column(sa.Column("legal_basis_ref", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("grants") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
