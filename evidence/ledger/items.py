"""Reading preserved items: the questions the HTTP API and the CLI ask about evidence items.

The tables are intake's (:mod:`evidence.ledger.evidence_store`, written in the same
transaction as each item's entry) and the log's (:mod:`evidence.ledger.db.log_queries`); nothing
outside ``evidence.ledger`` reads them itself (the import-linter contract "the API and
the CLI read the ledger through its functions" in pyproject.toml). Each function takes
an open :class:`~evidence.ledger.log.Ledger` and no blob store, so the CLI can answer
without opening one.
"""

from __future__ import annotations

from collections.abc import Iterable

from evidence.ledger.db.engine import read_transaction
from evidence.ledger.db.log_queries import StoredEntry
from evidence.ledger.evidence_store import (
    ItemMatch,
    StoredFile,
    StoredItem,
    find_items,
    load_item,
)
from evidence.ledger.log import Ledger

__all__ = ["ItemMatch", "StoredEntry", "StoredFile", "StoredItem", "custody", "find_item",
           "live_cases", "lookup", "recorded_about"]


def find_item(ledger: Ledger, evidence_id: str) -> StoredItem | None:
    """The item, its files and the numbers of the entries about it; None if unknown."""
    with read_transaction(ledger.engine) as conn:
        return load_item(conn, evidence_id)


def live_cases(ledger: Ledger, evidence_ids: Iterable[str]) -> dict[str, str | None]:
    """The case of each item that is preserved and not purged; None for an unknown or a
    purged one. Read in one snapshot."""
    with read_transaction(ledger.engine) as conn:
        return {e: (it.case_id if (it := load_item(conn, e)) and not it.purged else None)
                for e in evidence_ids}


def lookup(ledger: Ledger, *, evidence_id: str | None = None, sha256: str | None = None,
           limit: int = 100) -> list[ItemMatch]:
    """Is this id, or a file with this SHA-256 (any case of hex), preserved? The matching
    items in log order (at most ``limit``), each with its submission entry; an empty
    list when none. Give exactly one of ``evidence_id`` and ``sha256``."""
    with read_transaction(ledger.engine) as conn:
        return find_items(conn, evidence_id=evidence_id,
                          sha256=None if sha256 is None else sha256.lower(), limit=limit)


def custody(ledger: Ledger, item: StoredItem, *, after: int = -1, limit: int = 1000
            ) -> list[StoredEntry]:
    """The item's chain of custody: the entries about it (submitted, accessed, shared,
    revoked, purged...) numbered after ``after``, exact bytes, in log order, at most
    ``limit``."""
    seqs = [s for s, _type in item.events if s > after][:limit]
    return ledger.entries_at(seqs)


def recorded_about(ledger: Ledger, evidence_id: str, *, after: int = -1, limit: int = 1000
                   ) -> list[StoredEntry]:
    """The custody entries this log recorded about ``evidence_id`` numbered after
    ``after`` (at most ``limit``, in log order), whether or not this log preserved the
    item: the active shard's entries about an item of a frozen shard (retrievals, grants;
    docs/decisions.md D26)."""
    from sqlalchemy import select

    from evidence.ledger.evidence_store import evidence_events

    with read_transaction(ledger.engine) as conn:
        seqs = [int(s) for s in conn.execute(
            select(evidence_events.c.seq).where(evidence_events.c.evidence_id == evidence_id,
                                                evidence_events.c.seq > after)
            .order_by(evidence_events.c.seq).limit(limit)).scalars()]
    return ledger.entries_at(seqs)
