"""The ``anchors`` table (created by migration ``0003_anchors``; this module is what code
queries). One row per (checkpoint size, anchor source). And ``evidence_records``
(``0009_evidence_records``): one row per preserved item, its current RFC 4998 record
(:mod:`evidence.ledger.anchor.ers_store`).

``status``
    ``pending`` (not tried yet, or a retry is due at ``next_attempt_at``), ``failed``
    (the last attempt failed: ``last_error`` says why; retried at ``next_attempt_at``, or never
    again when that is NULL because ``max_attempts`` ran out), ``anchored`` (verified and
    stored: the proof columns are set), ``superseded`` (a newer checkpoint was anchored by the
    same source first, which covers every entry of this one; see docs/operations.md).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

from evidence.ledger.db.schema import NAMING, TIME_LEN

anchor_metadata = MetaData(naming_convention=NAMING)

PENDING, ANCHORED, FAILED, SUPERSEDED = "pending", "anchored", "failed", "superseded"
STATUSES = (PENDING, ANCHORED, FAILED, SUPERSEDED)

anchors = Table(
    "anchors",
    anchor_metadata,
    Column("checkpoint_size", BigInteger, primary_key=True, autoincrement=False),
    Column("source", String(128), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", String(TIME_LEN)),
    Column("last_attempt_at", String(TIME_LEN)),
    Column("last_error", Text),
    Column("url", Text),
    Column("created_at", String(TIME_LEN), nullable=False),
    Column("anchored_at", String(TIME_LEN)),
    Column("proof_time", String(TIME_LEN)),
    Column("token", LargeBinary),
    Column("certs", LargeBinary),
    Column("gen_time", String(TIME_LEN)),
    Column("serial", String(64)),
    Column("policy", String(128)),
    Column("verifier", String(128)),
    Column("cosignature", Text),
    Column("cosigned_at", BigInteger),
    Column("details", Text),
    Index("ix_anchors_source_status", "source", "status", "checkpoint_size"),
    Index("ix_anchors_due", "status", "next_attempt_at"),
)

evidence_records = Table(
    "evidence_records",
    anchor_metadata,
    Column("evidence_id", String(64), primary_key=True),
    Column("record", LargeBinary, nullable=False),
    Column("algorithm", String(16), nullable=False),
    Column("tsa", String(128), nullable=False),
    Column("first_gen_time", String(TIME_LEN), nullable=False),
    Column("renew_before", String(TIME_LEN), nullable=False),
    Column("updated_at", String(TIME_LEN), nullable=False),
    Index("ix_evidence_records_renew_before", "renew_before"),
)
