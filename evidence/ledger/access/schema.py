"""The access tables (created by migration ``0004_access``; this module is what code queries).

``principals``
    one row per user of the service, with exactly one role (:data:`ROLES`).
``api_tokens``
    bearer tokens. Only ``SHA-256(token)`` is stored: the token is shown once.
``cases`` / ``case_members``
    a principal sees the evidence of the cases it is a member of.
``grants`` / ``grant_items``
    a foreign party's access to named evidence items of one case, for
    ``[not_before, expires_at)``, optionally at most ``max_downloads`` downloads;
    ``revoked_at`` ends it at once. ``shared_seq`` / ``revoked_seq`` are the
    ledger entries that record the grant and its revocation. ``purpose``,
    ``recipient_jurisdiction``, ``recipient_organisation``, ``legal_basis`` and
    ``legal_basis_ref`` (0007) repeat what its ``evidence.shared`` entries record.

The custody trail of an item is intake's ``evidence_events`` (every entry about it);
the access entries add their rows there in the same transaction.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

from evidence.ledger.db.schema import NAMING, TIME_LEN, SeqType

access_metadata = MetaData(naming_convention=NAMING)

SUBMITTER, COURT, FOREIGN, AUDITOR, ADMIN = "submitter", "court", "foreign", "auditor", "admin"
ROLES = (SUBMITTER, COURT, FOREIGN, AUDITOR, ADMIN)
ID_LEN = 128

principals = Table(
    "principals", access_metadata,
    Column("id", String(ID_LEN), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("display_name", Text, nullable=False),
    Column("organisation", Text),
    Column("created_at", String(TIME_LEN), nullable=False),
    Column("disabled_at", String(TIME_LEN)),
)

api_tokens = Table(
    "api_tokens", access_metadata,
    Column("id", String(32), primary_key=True),
    Column("principal_id", String(ID_LEN), ForeignKey("principals.id"), nullable=False,
           index=True),
    Column("token_sha256", LargeBinary(32), nullable=False, unique=True),
    Column("label", Text),
    Column("created_at", String(TIME_LEN), nullable=False),
    Column("expires_at", String(TIME_LEN)),
    Column("revoked_at", String(TIME_LEN)),
)

cases = Table(
    "cases", access_metadata,
    Column("id", String(ID_LEN), primary_key=True),
    Column("title", Text, nullable=False),
    Column("created_at", String(TIME_LEN), nullable=False),
)

case_members = Table(
    "case_members", access_metadata,
    Column("case_id", String(ID_LEN), ForeignKey("cases.id"), primary_key=True),
    Column("principal_id", String(ID_LEN), ForeignKey("principals.id"), primary_key=True,
           index=True),
    Column("added_at", String(TIME_LEN), nullable=False),
)

grants = Table(
    "grants", access_metadata,
    Column("id", String(32), primary_key=True),
    Column("grantee", String(ID_LEN), ForeignKey("principals.id"), nullable=False, index=True),
    Column("granted_by", String(ID_LEN), nullable=False),
    Column("case_id", String(ID_LEN), nullable=False),
    Column("not_before", String(TIME_LEN), nullable=False),
    Column("expires_at", String(TIME_LEN), nullable=False),
    Column("max_downloads", Integer),
    Column("downloads", Integer, nullable=False),
    Column("note", Text),
    Column("created_at", String(TIME_LEN), nullable=False),
    Column("shared_seq", SeqType, nullable=False),
    Column("revoked_at", String(TIME_LEN)),
    Column("revoked_by", String(ID_LEN)),
    Column("revoked_seq", SeqType),
    # the legal fields (0007_grant_legal_basis; evidence/ledger/access/legal_basis.py)
    Column("purpose", Text),
    Column("recipient_jurisdiction", String(16)),
    Column("recipient_organisation", Text),
    Column("legal_basis", String(32)),
    Column("legal_basis_ref", Text),
)

grant_items = Table(
    "grant_items", access_metadata,
    Column("grant_id", String(32), ForeignKey("grants.id"), primary_key=True),
    Column("evidence_id", String(ID_LEN), primary_key=True, index=True),
)
