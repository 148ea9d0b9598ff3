"""A witness's request budget (``qpd``, add-checkpoint requests a day), kept by the log.

witness-network.org lists each log with the number of add-checkpoint requests it may
send each witness a day, and its witnesses may rate-limit or block a log that sends
more. ``anchors.json`` gives each witness its ``qpd``; with one, the anchoring client
sends that witness no two requests less than ``86400 / qpd`` seconds apart, so no
24-hour window holds more than ``qpd`` of them, across every process that anchors this
ledger (the time of each request is the ``last_attempt_at`` of its row in ``anchors``,
read and written in one write transaction with the rows of that witness locked).

While a request is not allowed yet, the witness's row for the newest checkpoint waits
(``next_attempt_at`` is the next allowed time, which ``evidence status`` shows); when
it is allowed, the newest checkpoint is the one sent: the ones signed in between are
never sent on their own (the newest covers them; witnesses follow the log forwards).

Each request is one HTTP call. A ``409`` naming the witness's size is not re-sent at
once: the size is kept on the row (``details.witness_size``) and the next allowed
request starts from it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import Engine

from evidence.ledger.anchor.base import StoredAnchor
from evidence.ledger.anchor.schema import ANCHORED, FAILED, PENDING, anchors
from evidence.ledger.db.engine import read_transaction, write_transaction
from evidence.verify.entry import format_time, parse_time

__all__ = ["DAY_S", "WitnessBudget", "next_call_at", "remember_witness_size",
           "witness_size_hint"]

DAY_S = 86400


def _t(moment: datetime) -> str:
    return format_time(moment)  # as the anchors store writes times


def _parse(text: str) -> datetime:
    return parse_time(text)


@dataclass(frozen=True)
class WitnessBudget:
    """At most ``qpd`` add-checkpoint requests to one witness in any 24 hours."""

    qpd: int

    def __post_init__(self) -> None:
        if isinstance(self.qpd, bool) or not isinstance(self.qpd, int) or self.qpd < 1:
            raise ValueError(f"qpd must be a whole number >= 1, not {self.qpd!r}")

    @property
    def spacing(self) -> timedelta:
        """The least time between two requests: ``86400 / qpd`` seconds, rounded up to
        the microsecond (the unit the times are stored in), never down."""
        return timedelta(microseconds=math.ceil(DAY_S * 1_000_000 / self.qpd))

    def claim(self, engine: Engine, row: StoredAnchor, now: datetime, lease_s: float) -> bool:
        """Take one request for ``row`` if the budget allows it now (as
        :func:`evidence.ledger.anchor.store.claim` does, compare-and-swap on ``attempts``);
        otherwise set the row's next attempt to the first allowed time. False: not now."""
        with write_transaction(engine) as conn:
            # lock the witness's rows (PostgreSQL; SQLite's write transaction is exclusive)
            conn.execute(select(anchors.c.checkpoint_size).where(
                anchors.c.source == row.source).with_for_update()).all()
            last = conn.execute(select(func.max(anchors.c.last_attempt_at)).where(
                anchors.c.source == row.source)).scalar()
            unclaimed = and_(anchors.c.checkpoint_size == row.checkpoint_size,
                             anchors.c.source == row.source,
                             anchors.c.attempts == row.attempts,
                             anchors.c.status.in_([PENDING, FAILED]))
            if last is not None and now < _parse(last) + self.spacing:
                allowed = _parse(last) + self.spacing
                conn.execute(update(anchors).where(unclaimed).values(
                    next_attempt_at=_t(allowed)))
                return False
            r = conn.execute(update(anchors).where(unclaimed).values(
                attempts=row.attempts + 1, last_attempt_at=_t(now),
                next_attempt_at=_t(now + timedelta(seconds=lease_s))))
            return (r.rowcount or 0) == 1


def next_call_at(engine: Engine, source: str, budget: WitnessBudget | None) -> str | None:
    """When ``source`` may next be asked (None: now, or no budget)."""
    if budget is None:
        return None
    with read_transaction(engine) as conn:
        last = conn.execute(select(func.max(anchors.c.last_attempt_at)).where(
            anchors.c.source == source)).scalar()
    if last is None:
        return None
    allowed = _parse(last) + budget.spacing
    return _t(allowed) if allowed > datetime.now(UTC) else None


def remember_witness_size(engine: Engine, size: int, source: str, witness_size: int) -> None:
    """Keep the size a witness said (409) it last cosigned, on the row that asked."""
    with write_transaction(engine) as conn:
        old = conn.execute(select(anchors.c.details).where(
            anchors.c.checkpoint_size == size, anchors.c.source == source)).scalar()
        details = json.loads(old) if old else {}
        details["witness_size"] = int(witness_size)
        conn.execute(update(anchors).where(
            anchors.c.checkpoint_size == size, anchors.c.source == source,
            anchors.c.status != ANCHORED).values(details=json.dumps(details, sort_keys=True)))


def witness_size_hint(engine: Engine, source: str, below: int) -> int | None:
    """What the log last learnt of the witness's size, newest first: a cosignature it
    returned (that checkpoint's size) or a size it named in a 409. None: nothing since."""
    with read_transaction(engine) as conn:
        rows = conn.execute(select(anchors.c.checkpoint_size, anchors.c.status,
                                   anchors.c.details).where(
            anchors.c.source == source, anchors.c.last_attempt_at.is_not(None)).order_by(
            anchors.c.last_attempt_at.desc()).limit(50)).all()
    for size, status, details in rows:
        if status == ANCHORED and size <= below:
            return int(size)
        said = json.loads(details).get("witness_size") if details else None
        if isinstance(said, int) and said <= below:
            return said
    return None
