"""Anchors: RFC 3161 timestamp tokens and witness cosignatures per checkpoint.

Revision ID: 0003_anchors
Revises: 0002_evidence

Reserved in the chain so that work on several parts can proceed at once;
filled in by the part that owns it.
"""

from __future__ import annotations

revision = "0003_anchors"
down_revision = "0002_evidence"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
