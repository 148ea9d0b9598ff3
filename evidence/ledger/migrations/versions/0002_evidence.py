"""Evidence items, their files and off-ledger metadata (intake).

Revision ID: 0002_evidence
Revises: 0001_ledger

Reserved in the chain so that work on several parts can proceed at once;
filled in by the part that owns it.
"""

from __future__ import annotations

revision = "0002_evidence"
down_revision = "0001_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
