"""Garbage collection: blobs no live item holds, left by a crash or an interrupted purge.

A crash between a blob's write and its entry leaves a blob no item names. :func:`gc`
removes those older than a grace period: a blob that an in-flight submission in
another process wrote is younger than that, and one held by a submission in flight
here (:class:`~.holds.Holds`) is never touched. It lists the blobs first and reads the
live set after, so a blob whose item commits in between is seen as live. It also deletes
the idempotency keys past their time to live (:func:`.idempotency.prune`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from evidence.ledger.blobs import BlobStore
from evidence.ledger.db.engine import read_transaction
from evidence.ledger.evidence_store import live_blob_hashes
from evidence.ledger.intake import idempotency
from evidence.ledger.intake.holds import Holds
from evidence.ledger.intake.model import GcReport
from evidence.ledger.log import Ledger

DEFAULT_GC_GRACE = 24 * 3600.0


def iter_blobs(store: BlobStore) -> Iterator[tuple[str, float]]:
    """``(sha256, modification time)`` of every stored blob (filesystem or S3; both
    copies of a replicated store, so that an orphan on either is collected)."""
    return store.iter_blobs()


def gc(ledger: Ledger, store: BlobStore, holds: Holds,
       grace_seconds: float = DEFAULT_GC_GRACE, *, dry_run: bool = False,
       key_ttl: float = idempotency.DEFAULT_TTL) -> GcReport:
    """Delete blobs that no live item holds and that are older than the grace period,
    then the store's own leftovers (temporary files) older than it, then the
    idempotency keys older than ``key_ttl``."""
    listed = list(iter_blobs(store))  # list first, then read the live set
    with read_transaction(ledger.engine) as conn:
        live = live_blob_hashes(conn)
    cutoff = time.time() - grace_seconds
    deleted, young = [], 0
    for sha, mtime in listed:
        if sha in live or holds.busy(sha):
            continue
        if mtime > cutoff:
            young += 1
            continue
        if not dry_run:
            store.delete(sha)
        deleted.append(sha)
    temp = 0 if dry_run else store.sweep_temp(grace_seconds)
    keys = idempotency.prune(ledger.engine, key_ttl, dry_run=dry_run)
    return GcReport(len(listed), tuple(deleted), young, temp, keys)
