"""Reading and writing the ``anchors`` table. Every function takes an engine and runs its own
short transaction: anchoring never holds a database transaction across a network call, so the
sequencer (intake) waits at most for one small row update.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, func, insert, or_, select, update

from evidence.ledger.anchor.base import AnchorResult, StoredAnchor
from evidence.ledger.anchor.schema import ANCHORED, FAILED, PENDING, SUPERSEDED, anchors
from evidence.ledger.db.engine import read_transaction, write_transaction
from evidence.verify import der
from evidence.verify.entry import format_time

__all__ = [
    "claim",
    "due_rows",
    "ensure_rows",
    "iter_anchored",
    "last_anchored_size",
    "list_anchors",
    "newest_with_proof",
    "record_failure",
    "record_success",
    "split_certs",
    "supersede_older",
]


def _t(moment: datetime) -> str:
    return format_time(moment)


def split_certs(blob: bytes | None) -> tuple[bytes, ...]:
    """The ``certs`` column: DER certificates concatenated (each is a self-delimiting SEQUENCE)."""
    if not blob:
        return ()
    out, pos = [], 0
    while pos < len(blob):
        tlv = der.read_tlv(blob, pos)
        out.append(blob[tlv.start : tlv.end])
        pos = tlv.end
    return tuple(out)


def _row(r) -> StoredAnchor:  # type: ignore[no-untyped-def]
    return StoredAnchor(
        checkpoint_size=int(r.checkpoint_size), source=r.source, kind=r.kind, status=r.status,
        attempts=int(r.attempts), next_attempt_at=r.next_attempt_at,
        last_attempt_at=r.last_attempt_at, last_error=r.last_error, url=r.url,
        created_at=r.created_at, anchored_at=r.anchored_at, proof_time=r.proof_time,
        token=None if r.token is None else bytes(r.token), certs=split_certs(
            None if r.certs is None else bytes(r.certs)),
        gen_time=r.gen_time, serial=r.serial, policy=r.policy, verifier=r.verifier,
        cosignature=r.cosignature, cosigned_at=None if r.cosigned_at is None else int(
            r.cosigned_at),
        details=json.loads(r.details) if r.details else {})


def ensure_rows(engine: Engine, size: int, sources: Iterable[tuple[str, str, str]],
                now: datetime) -> int:
    """Create a ``pending`` row (due now) for each ``(name, kind, url)`` that has none for this
    checkpoint size. Returns how many were created."""
    sources = list(sources)
    if not sources:
        return 0
    made = 0
    with write_transaction(engine) as conn:
        have = set(conn.execute(select(anchors.c.source).where(
            anchors.c.checkpoint_size == size)).scalars())
        for name, kind, url in sources:
            if name in have:
                continue
            conn.execute(insert(anchors).values(
                checkpoint_size=size, source=name, kind=kind, status=PENDING, attempts=0,
                next_attempt_at=_t(now), url=url, created_at=_t(now)))
            made += 1
    return made


def supersede_older(engine: Engine, size: int, sources: Sequence[str]) -> int:
    """Mark unfinished rows of ``sources`` for checkpoints older than ``size`` superseded."""
    if not sources:
        return 0
    with write_transaction(engine) as conn:
        r = conn.execute(update(anchors).where(
            anchors.c.checkpoint_size < size, anchors.c.source.in_(list(sources)),
            anchors.c.status.in_([PENDING, FAILED])).values(status=SUPERSEDED,
                                                             next_attempt_at=None))
        return int(r.rowcount or 0)


def due_rows(engine: Engine, sources: Sequence[str], now: datetime, *,
             min_size: int | None = None) -> list[StoredAnchor]:
    """Rows of configured ``sources`` whose next attempt is due, newest checkpoint first."""
    if not sources:
        return []
    cond = [anchors.c.source.in_(list(sources)), anchors.c.status.in_([PENDING, FAILED]),
            anchors.c.next_attempt_at.is_not(None), anchors.c.next_attempt_at <= _t(now)]
    if min_size is not None:
        cond.append(anchors.c.checkpoint_size >= min_size)
    with read_transaction(engine) as conn:
        rows = conn.execute(select(anchors).where(and_(*cond)).order_by(
            anchors.c.checkpoint_size.desc(), anchors.c.source)).all()
    return [_row(r) for r in rows]


def claim(engine: Engine, row: StoredAnchor, now: datetime, lease_s: float) -> bool:
    """Take one attempt (compare-and-swap on ``attempts``): count it, and push
    ``next_attempt_at`` past the attempt's lease so that another anchoring process (or this one
    after a crash) does not ask the same source at the same time. False if someone else did."""
    with write_transaction(engine) as conn:
        r = conn.execute(update(anchors).where(
            anchors.c.checkpoint_size == row.checkpoint_size, anchors.c.source == row.source,
            anchors.c.attempts == row.attempts, anchors.c.status.in_([PENDING, FAILED]),
        ).values(attempts=row.attempts + 1, last_attempt_at=_t(now),
                 next_attempt_at=_t(now + timedelta(seconds=lease_s))))
        return (r.rowcount or 0) == 1


def record_success(engine: Engine, size: int, source: str, result: AnchorResult,
                   now: datetime) -> None:
    """Store a *verified* result (the caller only passes what an anchor returned)."""
    values = dict(
        status=ANCHORED, next_attempt_at=None, anchored_at=_t(now),
        proof_time=_t(result.proof_time),
        token=result.token,
        certs=b"".join(result.certs) if result.certs else None,
        gen_time=None if result.gen_time is None else _t(result.gen_time),
        serial=None if result.serial is None else str(result.serial),
        policy=result.policy, verifier=result.verifier, cosignature=result.cosignature,
        cosigned_at=result.cosigned_at,
        details=json.dumps(result.details, sort_keys=True) if result.details else None)
    with write_transaction(engine) as conn:
        conn.execute(update(anchors).where(anchors.c.checkpoint_size == size,
                                           anchors.c.source == source).values(**values))


def record_failure(engine: Engine, size: int, source: str, reason: str,
                   next_attempt: datetime | None) -> None:
    """A failed attempt: the reason, and when to try again (None: given up)."""
    with write_transaction(engine) as conn:
        conn.execute(update(anchors).where(
            anchors.c.checkpoint_size == size, anchors.c.source == source,
            anchors.c.status != ANCHORED,
        ).values(status=FAILED, last_error=reason[:4000],
                 next_attempt_at=None if next_attempt is None else _t(next_attempt)))


def last_anchored_size(engine: Engine, source: str, below: int | None = None) -> int:
    """The newest checkpoint size ``source`` anchored (0 if none), optionally below a size."""
    cond = [anchors.c.source == source, anchors.c.status == ANCHORED]
    if below is not None:
        cond.append(anchors.c.checkpoint_size < below)
    with read_transaction(engine) as conn:
        v = conn.execute(select(func.max(anchors.c.checkpoint_size)).where(*cond)).scalar()
    return int(v or 0)


def list_anchors(engine: Engine, *, size: int | None = None, source: str | None = None,
                 status: str | None = None, limit: int | None = None) -> list[StoredAnchor]:
    q = select(anchors)
    if size is not None:
        q = q.where(anchors.c.checkpoint_size == size)
    if source is not None:
        q = q.where(anchors.c.source == source)
    if status is not None:
        q = q.where(anchors.c.status == status)
    q = q.order_by(anchors.c.checkpoint_size.desc(), anchors.c.source)
    if limit is not None:
        q = q.limit(limit)
    with read_transaction(engine) as conn:
        return [_row(r) for r in conn.execute(q).all()]


def newest_anchored(engine: Engine, source: str) -> StoredAnchor | None:
    rows = list_anchors(engine, source=source, status=ANCHORED, limit=1)
    return rows[0] if rows else None


def latest_attempted(engine: Engine, source: str) -> StoredAnchor | None:
    """The row of ``source`` most recently attempted (for its last error and attempt count)."""
    with read_transaction(engine) as conn:
        r = conn.execute(select(anchors).where(
            anchors.c.source == source, anchors.c.last_attempt_at.is_not(None)).order_by(
            anchors.c.last_attempt_at.desc(), anchors.c.checkpoint_size.desc()).limit(1)).first()
    return None if r is None else _row(r)


def newest_with_quorum(engine: Engine, witnesses: Sequence[str], quorum: int) -> int | None:
    """The largest checkpoint size cosigned by at least ``quorum`` of ``witnesses``."""
    if quorum <= 0 or not witnesses:
        return None
    with read_transaction(engine) as conn:
        v = conn.execute(
            select(func.max(anchors.c.checkpoint_size)).where(
                anchors.c.checkpoint_size.in_(
                    select(anchors.c.checkpoint_size).where(
                        anchors.c.source.in_(list(witnesses)), anchors.c.status == ANCHORED)
                    .group_by(anchors.c.checkpoint_size)
                    .having(func.count() >= quorum)))).scalar()
    return None if v is None else int(v)


def newest_with_proof(engine: Engine, kind: str) -> int | None:
    """The largest checkpoint size with a stored proof of ``kind``: an RFC 3161 token
    (``tsa``) or a witness cosignature (``witness``); None while none has."""
    proof = anchors.c.token if kind == "tsa" else anchors.c.cosignature
    with read_transaction(engine) as conn:
        v = conn.execute(select(func.max(anchors.c.checkpoint_size)).where(
            anchors.c.kind == kind, anchors.c.status == ANCHORED, proof.is_not(None))).scalar()
    return None if v is None else int(v)


def iter_anchored(engine: Engine, kind: str, *, max_size: int, batch: int = 500
                  ) -> Iterator[StoredAnchor]:
    """Anchored rows of ``kind`` with their proof (a token, a cosignature) for checkpoints
    up to ``max_size``, by size then source, read ``batch`` rows at a time (tokens and
    chains are a few KiB each: a long log's are never all in memory)."""
    proof = anchors.c.token if kind == "tsa" else anchors.c.cosignature
    after: tuple[int, str] = (-1, "")
    while True:
        q = select(anchors).where(
            anchors.c.kind == kind, anchors.c.status == ANCHORED, proof.is_not(None),
            anchors.c.checkpoint_size <= max_size,
            or_(anchors.c.checkpoint_size > after[0],
                and_(anchors.c.checkpoint_size == after[0], anchors.c.source > after[1])))
        with read_transaction(engine) as conn:
            rows = [_row(r) for r in conn.execute(q.order_by(
                anchors.c.checkpoint_size, anchors.c.source).limit(batch)).all()]
        yield from rows
        if len(rows) < batch:
            return
        after = (rows[-1].checkpoint_size, rows[-1].source)


def pending_count(engine: Engine, source: str) -> int:
    with read_transaction(engine) as conn:
        return int(conn.execute(select(func.count()).select_from(anchors).where(
            anchors.c.source == source,
            or_(anchors.c.status == PENDING, anchors.c.status == FAILED))).scalar() or 0)
