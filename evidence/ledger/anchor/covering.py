"""Which anchors cover a log entry: the first checkpoint past it with a verified RFC 3161
timestamp, and the first with a witness cosignature, each with its anchors.

A checkpoint of size S covers every entry below S, so the first such checkpoint after an
entry gives the earliest time the anchors prove for it ("no later than"). Public
information: checkpoints, timestamps and cosignatures are hashes and signatures
(``GET /v1/log/anchors``, used by the console's item page).
"""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from evidence.ledger.anchor.base import StoredAnchor
from evidence.ledger.anchor.schema import ANCHORED, anchors
from evidence.ledger.anchor.store import list_anchors
from evidence.ledger.db.engine import read_transaction


def _first(engine: Engine, seq: int, kind: str) -> int | None:
    if seq >= 2**63 - 1:  # past any size a database integer holds: nothing covers it
        return None
    proof = anchors.c.token if kind == "tsa" else anchors.c.cosignature
    with read_transaction(engine) as conn:
        size = conn.execute(select(func.min(anchors.c.checkpoint_size)).where(
            anchors.c.checkpoint_size > seq, anchors.c.kind == kind,
            anchors.c.status == ANCHORED, proof.is_not(None))).scalar()
    return None if size is None else int(size)


def covering(engine: Engine, seq: int, kind: str) -> tuple[int, list[StoredAnchor]] | None:
    """``(size, anchors of that kind)`` of the first checkpoint past ``seq`` that ``kind``
    (``tsa`` or ``witness``) has anchored, or None while none has."""
    size = _first(engine, seq, kind)
    if size is None:
        return None
    rows = [r for r in list_anchors(engine, size=size, status=ANCHORED) if r.kind == kind
            and (r.token if kind == "tsa" else r.cosignature)]
    return size, rows
