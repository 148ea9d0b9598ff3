"""Idempotency keys: a submission sent again (its answer was lost) gets the first one's
answer, never a second item.

A client names one logical submission with a key (the HTTP ``Idempotency-Key`` header,
docs/api.md). The key travels with the item as a :class:`Claim` (on
:class:`~.model.ItemSpec`). When the sequencer takes the item, UNDER THE LOG'S LOCK (so
across threads, worker processes and nodes sharing the database):

* :func:`hooks`' ``prepare`` reads ``idempotency_keys`` for ``(principal, key)``. A row
  still within its time to live means the key was used: the request is refused alone
  (nothing appended, no number taken) with :class:`KeyUsed`, which carries the stored
  row; the caller answers with the stored answer when the fingerprints match, else
  refuses the reuse. The same key earlier in the same batch: :class:`KeyInFlight`.
* its ``rows`` adds the key's row to the entry's own rows: ``(principal, key, operation,
  fingerprint, evidence id, status, the answer)``, committed in the SAME transaction as
  the entry, so an acknowledged item always has its key and a key never names an item
  that is not on the ledger (a crash between commit and answer leaves both).

The fingerprint (:meth:`Claim.fingerprint`) is SHA-256 over the RFC 8785 form of the
operation, the request's other fields (normalised as intake reads them) and each file's
name, size and SHA-256 in order: a retry of the same request matches whatever the
multipart framing, another payload under the same key does not.

Time to live: :data:`DEFAULT_TTL` (24 h) from the entry's time. An expired row counts as
absent (a new item is made and the row replaced in the same transaction) and
:func:`prune` (run by ``evidence gc``) deletes expired rows. The rows live in their own
table, never in an entry: the ledger's content does not depend on whether a client sent
a key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    delete,
    select,
)

from evidence.ledger.db.engine import read_transaction, write_transaction
from evidence.ledger.db.schema import idempotency_keys
from evidence.ledger.intake.model import IntakeError
from evidence.verify.entry import canonical_json, format_time

DEFAULT_TTL = 24 * 3600.0
"""Seconds a key is honoured after its item's entry (docs/api.md, "Idempotency-Key")."""
MAX_KEY_LEN = 255  # the idem_key column's length (ledger/db/schema.py)



@dataclass(frozen=True)
class Claim:
    """A key a request came with: whose, which operation, and the request's fields other
    than its files (JSON values; the files are added by :meth:`fingerprint` once
    hashed)."""

    principal: str
    key: str
    operation: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    ttl: float = DEFAULT_TTL
    with_files: bool = True  # False: the fields name the files already (a pending id)

    def fingerprint(self, files: Sequence[Mapping[str, Any]] = ()) -> str:
        doc = {"operation": self.operation, "fields": dict(self.fields),
               "files": [{"name": f["name"], "size": f["size"], "sha256": f["sha256"]}
                         for f in files] if self.with_files else []}
        return hashlib.sha256(canonical_json(doc)).hexdigest()


@dataclass(frozen=True)
class Record:
    """A key's committed row."""

    operation: str
    fingerprint: str
    evidence_id: str
    status: int
    response: str
    created_at: str

    def answer(self) -> dict[str, Any]:
        return json.loads(self.response)  # type: ignore[no-any-return]


class KeyUsed(IntakeError):
    """The key names a committed item: nothing was appended. ``matches``: the request is
    the same as the one that made it (answer with ``record``), else the key was reused
    for another payload."""

    def __init__(self, record: Record, fingerprint: str) -> None:
        super().__init__(f"idempotency key already used for {record.evidence_id}")
        self.record = record
        self.fingerprint = fingerprint

    @property
    def matches(self) -> bool:
        return self.fingerprint == self.record.fingerprint


class KeyInFlight(IntakeError):
    """Another request with the same key is being committed in the same batch."""


def cutoff(ttl: float, now: datetime | None = None) -> str:
    """The entry time before which a key has expired."""
    return format_time((now or datetime.now(UTC)) - timedelta(seconds=ttl))


def _row(conn: Connection, principal: str, key: str) -> Record | None:
    t = idempotency_keys.c
    r = conn.execute(select(t.operation, t.fingerprint, t.evidence_id, t.status, t.response,
                            t.created_at).where(and_(t.principal == principal,
                                                     t.idem_key == key))).first()
    return None if r is None else Record(r[0], r[1], r[2], int(r[3]), r[4], r[5])


def lookup(engine: Engine, principal: str, key: str, ttl: float = DEFAULT_TTL
           ) -> Record | None:
    """The key's committed row if it has not expired (a read outside the log's lock: a
    hint for answering early; the check that counts is the one in :func:`hooks`)."""
    with read_transaction(engine) as conn:
        rec = _row(conn, principal, key)
    return rec if rec is not None and rec.created_at >= cutoff(ttl) else None


def hooks(claim: Claim, fingerprint: str
          ) -> tuple[Callable[[Connection, dict[Any, Any]], None],
                     Callable[[str, str, int, str], list[Any]]]:
    """``(check, rows)`` for one request: ``check(conn, shared)`` in the sequencer's
    ``prepare`` hook (raises :class:`KeyUsed` / :class:`KeyInFlight`), then
    ``rows(evidence_id, time, status, response)`` in its ``rows`` hook: the key's row
    (and the removal of an expired one it replaces)."""
    replace: list[bool] = [False]
    mark = ("idempotency-key", claim.principal, claim.key)

    def check(conn: Connection, shared: dict[Any, Any]) -> None:
        if mark in shared:
            raise KeyInFlight(f"idempotency key {claim.key!r} is being used by another "
                              "request")
        rec = _row(conn, claim.principal, claim.key)
        if rec is not None:
            if rec.created_at >= cutoff(claim.ttl):
                raise KeyUsed(rec, fingerprint)
            replace[0] = True
        shared[mark] = True

    def rows(evidence_id: str, time: str, status: int, response: str) -> list[Any]:
        ops: list[Any] = []
        if replace[0]:
            t = idempotency_keys.c
            ops.append(delete(idempotency_keys).where(
                and_(t.principal == claim.principal, t.idem_key == claim.key)))
        ops.append((idempotency_keys, {
            "principal": claim.principal, "idem_key": claim.key,
            "operation": claim.operation, "fingerprint": fingerprint,
            "evidence_id": evidence_id, "status": status, "response": response,
            "created_at": time}))
        return ops

    return check, rows


def prune(engine: Engine, ttl: float = DEFAULT_TTL, *, dry_run: bool = False) -> int:
    """Delete the keys that have expired; returns how many there were."""
    t = idempotency_keys.c
    where = t.created_at < cutoff(ttl)
    if dry_run:
        with read_transaction(engine) as conn:
            return len(conn.execute(select(t.idem_key).where(where)).all())
    with write_transaction(engine) as conn:
        return conn.execute(delete(idempotency_keys).where(where)).rowcount or 0
