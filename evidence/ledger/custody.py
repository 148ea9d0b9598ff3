"""Custody that cannot be thinned: each custody entry names the item's entry before it.

Every entry about an evidence item after its submission (a retrieval, a grant, a
revocation, a purge) carries ``"prev_custody": "<hex leaf hash>"``: the leaf hash of
the previous entry about the same item (the submission itself for the first one).
The items' entries thus form a hash chain of their own inside the log's chain, and a
bundle that leaves one out of the middle breaks the link of the entry after it
(docs/formats.md, "Custody links"; checked by every verifier).

The link must be taken under the sequencer's lock: two retrievals of one item in
the same batch must link one after the other, never both to the same predecessor.
So the link is filled by the request's ``prepare`` hook (it reads the committed
state and what earlier requests of the batch recorded), and the request's ``rows``
hook records the new entries' leaf hashes for later requests of the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, func, select

from evidence.ledger.db.schema import entries
from evidence.ledger.evidence_store import evidence_events, evidence_items
from evidence.ledger.sequencer import Appended, PrepareHook, RowsHook

LINK = "prev_custody"


class UnknownItem(LookupError):
    """No submission entry for this evidence id: nothing to link a custody entry to."""


PriorLeaf = Callable[[str], str | None]
"""An item's newest leaf in the frozen shard holding it (``FrozenShards.last_leaf``)."""


def latest_leaf(conn: Connection, evidence_id: str, prior: PriorLeaf | None = None) -> str:
    """Hex leaf hash of the newest committed entry about the item (its submission, or a
    custody entry recorded in ``evidence_events``).

    An item preserved in a frozen shard has no submission in this log: its first custody
    entry here links to its newest entry in that shard (``prior``), the later ones to the
    entries recorded here (docs/decisions.md D26; tests/api/test_shard_evidence.py)."""
    sub = conn.execute(select(evidence_items.c.seq)
                       .where(evidence_items.c.evidence_id == evidence_id)).scalar()
    last = conn.execute(select(func.max(evidence_events.c.seq))
                        .where(evidence_events.c.evidence_id == evidence_id)).scalar()
    if sub is None:
        before = prior(evidence_id) if prior is not None else None
        if before is None:
            raise UnknownItem(f"no evidence item {evidence_id!r}")
        if last is None:
            return before
        sub = last
    seq = sub if last is None else max(int(sub), int(last))
    leaf = conn.execute(select(entries.c.leaf_hash).where(entries.c.seq == seq)).scalar()
    if leaf is None:  # pragma: no cover - an index row without its entry is damage
        raise LookupError(f"entry {seq} about {evidence_id} is missing")
    return bytes(leaf).hex()


def linked(items: Sequence[tuple[str, Mapping[str, Any]]], rows: RowsHook,
           prior: PriorLeaf | None = None) -> tuple[PrepareHook, RowsHook]:
    """The ``prepare`` and ``rows`` hooks that append ``items`` (each body naming its
    ``evidence_id``) with custody links, around the request's own ``rows`` hook."""
    shared: dict[Any, Any] = {}

    def prepare(conn: Connection, batch: dict[Any, Any]) -> list[tuple[str, dict[str, Any]]]:
        shared["batch"] = batch
        ids = [body["evidence_id"] for _t, body in items]
        if len(set(ids)) != len(ids):
            # the second would have to link to the first, whose hash is not known yet
            raise ValueError("one request holds two custody entries about one item")
        shared["ids"] = ids
        return [(etype, {**body, LINK: batch.get((LINK, eid)) or latest_leaf(conn, eid, prior)})
                for (etype, body), eid in zip(items, ids, strict=True)]

    def record(conn: Connection, made: list[Appended]) -> Sequence[Any]:
        ops = list(rows(conn, made))  # the request's own checks first: it may refuse
        batch = shared["batch"]
        for a, eid in zip(made, shared["ids"], strict=True):
            batch[(LINK, eid)] = a.leaf_hash.hex()
        return ops

    return prepare, record
