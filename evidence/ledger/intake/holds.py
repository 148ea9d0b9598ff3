"""Which blob contents submissions in flight in this process hold.

A blob is named by its content, so two items (or an item and a purge) can share one.
Between the moment a submission writes a blob and the moment its entry commits, no item
in the database names that blob yet: a purge, a garbage collection or another failed
submission here would take it for an orphan. A hold says "mine, in flight": every
deletion here asks :meth:`Holds.busy` first, and a failed submission deletes
(:meth:`Holds.discard`) only the contents nothing else holds or names.

Another process's in-flight blobs are younger than gc's grace period; a pre-existing
blob a concurrent gc removed is written again after the commit (the pipeline's
post-commit check), so holds need not span processes.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter

from evidence.ledger.blobs import BlobError, BlobStore
from evidence.ledger.db.engine import read_transaction
from evidence.ledger.evidence_store import any_reference
from evidence.ledger.log import Ledger


class Holds:
    """Counted holds on blob contents, by SHA-256. A submission keeps its own list
    (``held``: one entry per hold it took) and gives it back to :meth:`release`."""

    def __init__(self, store: BlobStore, ledger: Ledger | None) -> None:
        """``ledger`` None: a worker process that only stages (its blobs are never
        named before the importing process commits them), where :meth:`discard` has
        nothing to remove."""
        self._store = store
        self._ledger = ledger
        self._count: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many distinct contents are held now (0 once every submission is through)."""
        with self._lock:
            return len(self._count)

    def hold(self, held: list[str], sha256: str) -> None:
        with self._lock:
            self._count[sha256] += 1
        held.append(sha256)

    def release(self, held: list[str]) -> None:
        """Give back every hold in ``held`` (which is emptied)."""
        with self._lock:
            for sha in held:
                self._count[sha] -= 1
                if self._count[sha] <= 0:
                    del self._count[sha]
        held.clear()

    def busy(self, sha256: str) -> bool:
        """Whether a submission in flight here holds this content."""
        with self._lock:
            return self._count[sha256] > 0

    def discard(self, held: list[str]) -> None:
        """Delete the blobs a failed submission (holding ``held``) wrote, unless an item
        in the database or another submission in flight here holds the same content.
        The holds stay: the caller releases them."""
        if not held or self._ledger is None:
            return
        with self._lock:
            mine = Counter(held)
            candidates = [s for s in mine if self._count[s] <= mine[s]]
        if not candidates:
            return
        with read_transaction(self._ledger.engine) as conn:
            free = [s for s in candidates if not any_reference(conn, s)]
        for sha in free:
            with contextlib.suppress(BlobError, OSError):
                self._store.delete(sha)
