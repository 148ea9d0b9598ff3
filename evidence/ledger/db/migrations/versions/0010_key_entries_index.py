"""The key entries' partial index: ``ix_entries_key_seq``.

Revision ID: 0010_key_entries_index
Revises: 0009_evidence_records

``entries(seq) WHERE type IN ('key.mldsa_added', 'key.revoked', 'key.rotated')``: the
log's keys and their windows are read from these few entries on every tile-sync round
and trust-file request; without it each read scanned the whole table (seconds on a log
of 10 M entries). Partial, so an append of any other type writes nothing to it. The
predicate is the text of ``evidence.ledger.db.schema.key_entries``, character for
character (SQLite uses a partial index only for a query holding that very term;
tests/ledger/test_key_entries_index.py). Building it reads the table once, inside the
migration's transaction: about a second per million entries, writers waiting
(docs/operations.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_key_entries_index"
down_revision = "0009_evidence_records"
branch_labels = None
depends_on = None

KEY_ENTRIES = "type IN ('key.mldsa_added', 'key.revoked', 'key.rotated')"


def upgrade() -> None:
    op.create_index("ix_entries_key_seq", "entries", ["seq"],
                    sqlite_where=sa.text(KEY_ENTRIES), postgresql_where=sa.text(KEY_ENTRIES))


def downgrade() -> None:
    op.drop_index("ix_entries_key_seq", table_name="entries")
