"""Principals, tokens, cases, grants (HTTP API); an index on entries.leaf_hash.

Revision ID: 0004_access
Revises: 0003_anchors

* ``principals``: who may use the service, with one role each.
* ``api_tokens``: bearer tokens, stored only as SHA-256 (the token itself is
  shown once, when created).
* ``cases`` and ``case_members``: a principal sees the evidence of its cases.
* ``grants`` and ``grant_items``: time-limited, optionally download-limited
  access of a foreign party to named evidence items; ``revoked_at`` ends one at once.
* ``ix_entries_leaf_hash``: inclusion proofs by leaf hash.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_access"
down_revision = "0003_anchors"
branch_labels = None
depends_on = None

TIME_LEN = 27  # 2026-01-02T03:04:05.123456Z
_ID = 128
_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_index("ix_entries_leaf_hash", "entries", ["leaf_hash"])
    op.create_table(
        "principals",
        sa.Column("id", sa.String(_ID), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("display_name", sa.Text, nullable=False),
        sa.Column("organisation", sa.Text, nullable=True),
        sa.Column("created_at", sa.String(TIME_LEN), nullable=False),
        sa.Column("disabled_at", sa.String(TIME_LEN), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_principals"),
        sa.CheckConstraint("role IN ('submitter', 'court', 'foreign', 'auditor', 'admin')",
                           name="ck_principals_role"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("principal_id", sa.String(_ID), nullable=False),
        sa.Column("token_sha256", sa.LargeBinary(32), nullable=False),
        sa.Column("label", sa.Text, nullable=True),
        sa.Column("created_at", sa.String(TIME_LEN), nullable=False),
        sa.Column("expires_at", sa.String(TIME_LEN), nullable=True),
        sa.Column("revoked_at", sa.String(TIME_LEN), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_sha256", name="uq_api_tokens_token_sha256"),
        sa.ForeignKeyConstraint(["principal_id"], ["principals.id"],
                                name="fk_api_tokens_principal_id_principals"),
    )
    op.create_index("ix_api_tokens_principal_id", "api_tokens", ["principal_id"])
    op.create_table(
        "cases",
        sa.Column("id", sa.String(_ID), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(TIME_LEN), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cases"),
    )
    op.create_table(
        "case_members",
        sa.Column("case_id", sa.String(_ID), nullable=False),
        sa.Column("principal_id", sa.String(_ID), nullable=False),
        sa.Column("added_at", sa.String(TIME_LEN), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "principal_id", name="pk_case_members"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"],
                                name="fk_case_members_case_id_cases"),
        sa.ForeignKeyConstraint(["principal_id"], ["principals.id"],
                                name="fk_case_members_principal_id_principals"),
    )
    op.create_index("ix_case_members_principal_id", "case_members", ["principal_id"])
    op.create_table(
        "grants",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("grantee", sa.String(_ID), nullable=False),
        sa.Column("granted_by", sa.String(_ID), nullable=False),
        sa.Column("case_id", sa.String(_ID), nullable=False),
        sa.Column("not_before", sa.String(TIME_LEN), nullable=False),
        sa.Column("expires_at", sa.String(TIME_LEN), nullable=False),
        sa.Column("max_downloads", sa.Integer, nullable=True),
        sa.Column("downloads", sa.Integer, nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("created_at", sa.String(TIME_LEN), nullable=False),
        sa.Column("shared_seq", _SEQ, nullable=False),
        sa.Column("revoked_at", sa.String(TIME_LEN), nullable=True),
        sa.Column("revoked_by", sa.String(_ID), nullable=True),
        sa.Column("revoked_seq", _SEQ, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_grants"),
        sa.ForeignKeyConstraint(["grantee"], ["principals.id"],
                                name="fk_grants_grantee_principals"),
        sa.CheckConstraint("max_downloads IS NULL OR max_downloads >= 0",
                           name="ck_grants_max_downloads"),
        sa.CheckConstraint("max_downloads IS NULL OR downloads <= max_downloads",
                           name="ck_grants_downloads_within_limit"),
    )
    op.create_index("ix_grants_grantee", "grants", ["grantee"])
    op.create_table(
        "grant_items",
        sa.Column("grant_id", sa.String(32), nullable=False),
        sa.Column("evidence_id", sa.String(_ID), nullable=False),
        sa.PrimaryKeyConstraint("grant_id", "evidence_id", name="pk_grant_items"),
        sa.ForeignKeyConstraint(["grant_id"], ["grants.id"],
                                name="fk_grant_items_grant_id_grants"),
    )
    op.create_index("ix_grant_items_evidence_id", "grant_items", ["evidence_id"])


def downgrade() -> None:
    op.drop_index("ix_grant_items_evidence_id", table_name="grant_items")
    op.drop_table("grant_items")
    op.drop_index("ix_grants_grantee", table_name="grants")
    op.drop_table("grants")
    op.drop_index("ix_case_members_principal_id", table_name="case_members")
    op.drop_table("case_members")
    op.drop_table("cases")
    op.drop_index("ix_api_tokens_principal_id", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("principals")
    op.drop_index("ix_entries_leaf_hash", table_name="entries")
