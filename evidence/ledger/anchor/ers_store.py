"""The ``evidence_records`` table: each preserved item's current RFC 4998 evidence record.

One row per item (:data:`evidence.ledger.anchor.schema.evidence_records`). A record is
inserted once, when the anchoring round first makes it, and replaced only by a renewal
(:mod:`evidence.ledger.anchor.ers_service`), whose new record holds the old one in full. Each
function runs its own short transaction, never across a network call.

:func:`item_evidence_records` and :func:`iter_evidence_records` are the public reads (the
bundle exporter and ``evidence log freeze`` use them).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, and_, insert, select, update

from evidence.ledger.anchor.schema import evidence_records
from evidence.ledger.db.engine import read_transaction, write_transaction
from evidence.ledger.evidence_store import evidence_files, evidence_items
from evidence.ledger.log import Ledger
from evidence.verify.entry import format_time

__all__ = ["StoredRecord", "insert_records", "item_evidence_records", "items_without_record",
           "iter_evidence_records", "records_to_renew", "replace_ops", "same_records"]


@dataclass(frozen=True)
class StoredRecord:
    evidence_id: str
    record: bytes
    algorithm: str  # the hash of its last chain
    tsa: str  # the configured TSA that made its newest archive timestamp
    first_gen_time: str
    renew_before: str  # the newest token's TSA certificate expires then
    sha256s: tuple[str, ...] = ()  # the item's files, in submission order


def item_evidence_records(ledger: Ledger, evidence_id: str) -> list[bytes]:
    """The item's current evidence record(s), DER, exactly as stored: one, or none while no
    anchoring round has made it (or for an item preserved before records existed)."""
    with read_transaction(ledger.engine) as conn:
        r = conn.execute(select(evidence_records.c.record).where(
            evidence_records.c.evidence_id == evidence_id)).scalar()
    return [] if r is None else [bytes(r)]


def iter_evidence_records(ledger: Ledger, *, batch: int = 500) -> Iterator[tuple[str, bytes]]:
    """Every stored record as ``(evidence_id, DER)``, by evidence id, ``batch`` at a time."""
    after = ""
    while True:
        with read_transaction(ledger.engine) as conn:
            rows = conn.execute(select(evidence_records.c.evidence_id, evidence_records.c.record)
                                .where(evidence_records.c.evidence_id > after)
                                .order_by(evidence_records.c.evidence_id).limit(batch)).all()
        for r in rows:
            yield r.evidence_id, bytes(r.record)
        if len(rows) < batch:
            return
        after = rows[-1].evidence_id


def _files(conn, ids: Sequence[str]) -> dict[str, tuple[str, ...]]:  # type: ignore[no-untyped-def]
    out: dict[str, list[str]] = {i: [] for i in ids}
    for r in conn.execute(select(evidence_files.c.evidence_id, evidence_files.c.sha256)
                          .where(evidence_files.c.evidence_id.in_(list(ids)))
                          .order_by(evidence_files.c.evidence_id, evidence_files.c.position)):
        out[r.evidence_id].append(r.sha256)
    return {k: tuple(v) for k, v in out.items()}


def items_without_record(engine: Engine, below_seq: int, limit: int, from_seq: int = 0
                         ) -> list[tuple[str, tuple[str, ...]]]:
    """Items submitted at entries ``from_seq`` to ``below_seq - 1`` (so in an anchored
    checkpoint), not purged, with no record yet: ``(evidence_id, file SHA-256s)`` in log
    order. ``from_seq`` keeps a round's query to the new items (the index on ``seq``)."""
    with read_transaction(engine) as conn:
        ids = conn.execute(
            select(evidence_items.c.evidence_id)
            .outerjoin(evidence_records,
                       evidence_records.c.evidence_id == evidence_items.c.evidence_id)
            .where(evidence_items.c.seq < below_seq, evidence_items.c.seq >= from_seq,
                   evidence_items.c.purged_seq.is_(None),
                   evidence_records.c.evidence_id.is_(None))
            .order_by(evidence_items.c.seq).limit(limit)).scalars().all()
        files = _files(conn, ids) if ids else {}
    return [(i, files[i]) for i in ids]


def insert_records(engine: Engine, rows: Sequence[StoredRecord], now: datetime) -> int:
    """Store new records; an item that got one meanwhile (another anchoring process) keeps
    it. Returns how many were stored."""
    made = 0
    with write_transaction(engine) as conn:
        have = set(conn.execute(select(evidence_records.c.evidence_id).where(
            evidence_records.c.evidence_id.in_([r.evidence_id for r in rows]))).scalars())
        for r in rows:
            if r.evidence_id in have:
                continue
            conn.execute(insert(evidence_records).values(
                evidence_id=r.evidence_id, record=r.record, algorithm=r.algorithm, tsa=r.tsa,
                first_gen_time=r.first_gen_time, renew_before=r.renew_before,
                updated_at=format_time(now)))
            made += 1
    return made


def records_to_renew(engine: Engine, *, due_before: datetime | None = None,
                     not_algorithm: str | None = None, after: str = "", limit: int = 2000
                     ) -> list[StoredRecord]:
    """Records of items not purged, by evidence id after ``after``: those whose newest
    token's certificate expires before ``due_before`` (None: all), and whose last chain is
    not under ``not_algorithm`` (None: any)."""
    cond = [evidence_records.c.evidence_id > after, evidence_items.c.purged_seq.is_(None)]
    if due_before is not None:
        cond.append(evidence_records.c.renew_before < format_time(due_before))
    if not_algorithm is not None:
        cond.append(evidence_records.c.algorithm != not_algorithm)
    with read_transaction(engine) as conn:
        rows = conn.execute(
            select(evidence_records).join(
                evidence_items, evidence_items.c.evidence_id == evidence_records.c.evidence_id)
            .where(and_(*cond)).order_by(evidence_records.c.evidence_id).limit(limit)).all()
        files = _files(conn, [r.evidence_id for r in rows]) if rows else {}
    return [StoredRecord(r.evidence_id, bytes(r.record), r.algorithm, r.tsa, r.first_gen_time,
                         r.renew_before, files[r.evidence_id]) for r in rows]


def same_records(conn, old: Sequence[StoredRecord]) -> bool:  # type: ignore[no-untyped-def]
    """Whether every record is still stored as read (no renewal ran meanwhile)."""
    got = dict(conn.execute(select(evidence_records.c.evidence_id, evidence_records.c.record)
                            .where(evidence_records.c.evidence_id.in_(
                                [r.evidence_id for r in old]))).all())
    return all(bytes(got.get(r.evidence_id) or b"") == r.record for r in old)


def replace_ops(new: Sequence[StoredRecord], now: datetime) -> list[object]:
    """The updates that store renewed records (ops for a sequencer ``rows`` hook)."""
    return [update(evidence_records).where(evidence_records.c.evidence_id == r.evidence_id)
            .values(record=r.record, algorithm=r.algorithm, tsa=r.tsa,
                    renew_before=r.renew_before, updated_at=format_time(now)) for r in new]
