"""Principals, tokens, cases, grants (HTTP API).

Revision ID: 0004_access
Revises: 0003_anchors

Reserved in the chain so that work on several parts can proceed at once;
filled in by the part that owns it.
"""

from __future__ import annotations

revision = "0004_access"
down_revision = "0003_anchors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
