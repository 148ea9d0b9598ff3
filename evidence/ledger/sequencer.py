"""The sequencer: one writer thread per process, group commit, one gap-free log
across processes.

Callers (any thread) hand a request (one entry, or several that must get
consecutive numbers) to :meth:`Sequencer.enqueue` and wait on a future. The
writer thread takes every request waiting (up to ``max_batch`` entries; while a
commit is in flight new requests queue up, so batches grow with load and a
lone request is never delayed) and, in ONE transaction:

1. locks the single ``log_state`` row (``BEGIN IMMEDIATE`` on SQLite,
   ``SELECT ... FOR UPDATE`` on PostgreSQL) and re-reads size and last leaf
   hash; if another process appended meanwhile it reloads the right edge of
   the tree from the stored nodes (:func:`~evidence.ledger.tree.load_edge`,
   O(log n));
2. numbers the entries from the locked size, chains ``prev``, stamps ``time``
   from its clock but never earlier than the previous entry's;
3. inserts the entries and the perfect subtrees they complete
   (:func:`~evidence.ledger.tree.extend_edge`: about one node row per entry),
   updates ``log_state`` and, when due, signs a checkpoint for the new size
   (:func:`~evidence.ledger.checkpoints.sign_locked`);
4. commits, and only then resolves the callers' futures: acknowledged = durable.

A request whose entry :func:`encode_entry` refuses fails alone, before it gets
a number. If the transaction fails, every request in it fails with the
database's error and the cached tree edge is dropped (reloaded next time).

A request may carry a ``rows`` hook: ``rows(conn, appended) -> [op, ...]``,
called under the lock once its entries have numbers, to build the rows of other
tables that must commit in the SAME transaction as the entries (intake's
evidence row, metadata and salt: a crash can never leave an entry whose
commitment cannot be opened). An op is ``(Table, {column: value})`` (an insert;
the inserts of the whole batch between two other ops go in one ``executemany``
per table, parent tables first) or any SQLAlchemy executable (an ``update``).
The ops run after the entries and nodes are inserted. A hook that raises (other
than a database error) rejects its request alone, before anything of it is
written; a database error fails the batch.

A request may also carry a ``prepare`` hook: ``prepare(conn, batch) -> items``,
called under the lock before its entries are encoded, returns the entries to
append in place of the request's own. It is for bodies that must name what comes
just before them (a custody entry links to the item's previous entry): it reads
the committed state through ``conn`` and what earlier requests of the same batch
left in ``batch`` (a dict, new for each batch; a ``rows`` hook of the same request
records its entries there once they have numbers). It rejects its request alone
by raising, like a ``rows`` hook.

A log whose last entry is ``log.frozen`` (:data:`FROZEN`, a frozen shard:
docs/formats.md "Temporal shards") takes no more entries: every request after it is
rejected with :class:`~evidence.ledger.errors.LedgerFrozen`, in every process (the
writer reads the last entry's type whenever the log grew under another writer;
``tests/ledger/test_shards.py`` holds it).

Between batches the writer also runs the leaf-hash follower
(:func:`~evidence.ledger.leaf_index.index_leaves`) once ``leaf_index_every`` entries
have been appended past the index's watermark, in a transaction of its own: the
append transaction writes no random-keyed index (on a ledger of 1 M entries that cost
each appended entry about one dirty page).
"""

from __future__ import annotations

import logging
import queue
import threading
import time as _time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from evidence.ledger.checkpoints import sign_checkpoint_now, sign_locked
from evidence.ledger.clock import utc_now
from evidence.ledger.db.dialect import lock_suffix
from evidence.ledger.db.engine import write_transaction
from evidence.ledger.db.log_queries import (
    INDEXED_SQL,
    STATE_SQL,
    last_type_sql,
    state_from_row,
)
from evidence.ledger.db.schema import entries, nodes
from evidence.ledger.db.sql import Driver, execute_ops, insert_rows
from evidence.ledger.errors import (
    AppendRejected,
    LedgerClosed,
    LedgerError,
    LedgerFrozen,
    NotALedger,
)
from evidence.ledger.leaf_index import index_leaves
from evidence.ledger.tree import extend_edge, load_edge
from evidence.verify.errors import EntryError, VerificationError
from evidence.verify.fast.entries import encode_chain
from evidence.verify.hashing import Hash32
from evidence.verify.merkle import CompactRange
from evidence.verify.note import Signer

log = logging.getLogger(__name__)

DEFAULT_MAX_BATCH = 1000
FROZEN = "log.frozen"
"""The entry that ends a shard (docs/formats.md "Temporal shards"): none may follow it."""
LEAF_INDEX_EVERY = {"sqlite": 32_768, "postgresql": 8_192}
"""Entries past the leaf index's watermark that make the writer run the follower
(:func:`~evidence.ledger.leaf_index.index_leaves`), by database. A shorter tail is
quicker for lookups to scan; on SQLite a longer run costs less per entry (a commit
pays per dirty page), on PostgreSQL it does not (it pays per row). The measurements
behind the two values: docs/decisions.md (the leaf index) and docs/performance.md."""
DEFAULT_LEAF_INDEX_EVERY = 32_768  # another database


@dataclass(frozen=True)
class Appended:
    """An acknowledged (durable) entry."""

    seq: int
    leaf_hash: Hash32
    time: str
    entry_bytes: bytes


RowsHook = Callable[[Connection, list[Appended]], Sequence[Any]]
"""Builds the extra rows of a request; see the module docstring."""

PrepareHook = Callable[[Connection, dict[Any, Any]],
                       Sequence[tuple[str, Mapping[str, Any]]]]
"""Completes a request's entries under the lock, from what is committed and what the
same batch holds so far (a dict shared by the batch's hooks); see the module docstring."""

CommitHook = Callable[[int], None]
"""Told the number of entries of each committed batch, in the writer thread, after the
commit and before the batch's callers are acknowledged (for metrics: once per batch, never
per entry; it must be quick and must not raise)."""


@dataclass
class _Request:
    items: Sequence[tuple[str, Mapping[str, Any]]]
    future: Future[list[Appended]]
    rows: RowsHook | None = None
    prepare: PrepareHook | None = None



class Sequencer:
    """Group-commit writer for one ledger database (one per process is enough)."""

    def __init__(
        self,
        engine: Engine,
        signer: Signer,
        *,
        checkpoint_interval: float,
        max_batch: int = DEFAULT_MAX_BATCH,
        clock: Callable[[], str] = utc_now,
        leaf_index_every: int | None = None,
    ) -> None:
        self._engine = engine
        self._signer = signer
        self._origin = signer.name
        self._interval = checkpoint_interval
        self._max_batch = max(1, max_batch)
        self._clock = clock
        # None is the stop request close() puts last
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        # right edge of the committed tree (see extend_edge), its size and last leaf hash
        self._edge: list[bytes] | None = None
        self._size = -1
        self._last_hash = b""
        self._last_type: str | None = None  # type of entry _size - 1, as last seen
        # The interval counts from start-up: a first batch is not "due" merely because
        # the machine has been up longer than the interval (that made behaviour depend on
        # uptime). Idle and close-time checkpoints still cover it.
        self._last_cp_time = _time.monotonic()
        self._unsigned = False  # committed entries without a checkpoint (by us)
        # the follower runs after a commit leaves >= _index_every entries past _indexed
        # (the leaf index's watermark as last seen: another process may have moved it)
        self._index_every = (LEAF_INDEX_EVERY.get(engine.dialect.name, DEFAULT_LEAF_INDEX_EVERY)
                             if leaf_index_every is None else leaf_index_every)
        self._indexed = -1  # not read yet
        self._closed = False
        self.on_commit: CommitHook | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="ledger-sequencer", daemon=True)
        self._thread.start()

    # --- callers -------------------------------------------------------------------

    def enqueue(self, items: Sequence[tuple[str, Mapping[str, Any]]], *,
               rows: RowsHook | None = None, prepare: PrepareHook | None = None
               ) -> Future[list[Appended]]:
        fut: Future[list[Appended]] = Future()
        items = list(items)
        if not items:
            fut.set_result([])
            return fut
        with self._lock:
            if self._closed:
                raise LedgerClosed("the ledger is closed")
            self._queue.put(_Request(items, fut, rows, prepare))
        return fut

    def close(self) -> None:
        """Finish every queued request, sign a final checkpoint if due, stop the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join()

    # --- writer thread ---------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            timeout = self._interval if (self._unsigned and self._interval > 0) else None
            try:
                first = self._queue.get(timeout=timeout)
            except queue.Empty:
                self._checkpoint_idle()
                continue
            batch: list[_Request] = []
            count = 0
            item = first
            while True:
                if item is None:
                    stopping = True
                    break
                batch.append(item)
                count += len(item.items)
                if count >= self._max_batch:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._commit(batch)
                self._follow()
        if self._unsigned:
            self._checkpoint_idle()

    def _checkpoint_idle(self) -> None:
        try:
            sign_checkpoint_now(self._engine, self._signer)
        except Exception:  # keep the writer alive; the next batch tries again
            log.exception("signing a checkpoint failed")
            return
        self._unsigned = False
        self._last_cp_time = _time.monotonic()

    def _follow(self) -> None:
        """Index leaf hashes if the un-indexed tail has grown past ``leaf_index_every``."""
        if (self._index_every <= 0 or self._indexed < 0
                or self._size - self._indexed < self._index_every):
            return
        try:
            self._indexed = index_leaves(self._engine, self._index_every)
        except Exception:  # keep the writer alive; lookups scan a longer tail meanwhile
            log.exception("indexing leaf hashes failed")
            self._indexed = self._size  # try again after another leaf_index_every entries

    def _reload_edge(self, conn: Connection, size: int, last_hash: bytes) -> list[bytes]:
        if self._edge is not None and self._size == size and self._last_hash == last_hash:
            return self._edge
        return load_edge(conn, size)

    def _commit(self, batch: list[_Request]) -> None:
        try:
            accepted, rejected = self._write(batch)
        except Exception as e:  # the whole transaction failed: nobody is acknowledged
            self._edge = None
            for req in batch:
                if not req.future.done():
                    req.future.set_exception(e)
            return
        hook = self.on_commit
        if hook is not None and accepted:  # before the acknowledgements: a caller that
            try:  # was answered is always counted already
                hook(sum(len(result) for _req, result in accepted))
            except Exception:  # a metric must never fail an append
                log.exception("the commit hook failed")
        for req, exc in rejected:
            req.future.set_exception(exc)
        for req, result in accepted:
            req.future.set_result(result)

    def _write(self, batch: list[_Request]):  # type: ignore[no-untyped-def]
        accepted: list[tuple[_Request, list[Appended]]] = []
        rejected: list[tuple[_Request, Exception]] = []
        with write_transaction(self._engine) as conn:
            # the batch's own statements on the driver (same connection and transaction)
            drv = Driver(conn)
            row = drv.first(STATE_SQL + lock_suffix(conn.dialect))
            if row is None:
                raise NotALedger("log_state row is missing")
            state = state_from_row(row)
            if self._indexed < 0:  # once: where the follower's work starts
                w = drv.first(INDEXED_SQL)
                self._indexed = 0 if w is None else int(w[0])
            # mutated in place: if the transaction fails, _commit drops it (reload next time)
            edge = self._reload_edge(conn, state.size, state.last_leaf_hash)
            size, prev, last_time = state.size, state.last_leaf_hash, state.last_time
            last_type = self._last_type
            if state.size != self._size:  # another writer (or none seen yet): read it
                got = drv.first(last_type_sql(drv.mark), (state.size - 1,)) if state.size else None
                last_type = None if got is None else str(got[0])
            now = max(self._clock(), last_time)
            entry_rows: list[tuple[Any, ...]] = []
            node_rows: list[tuple[int, int, bytes]] = []
            extra_ops: list[Any] = []
            shared: dict[Any, Any] = {}  # what the batch's prepare/rows hooks leave for later ones
            for req in batch:
                items = req.items
                if last_type == FROZEN:
                    rejected.append((req, LedgerFrozen(
                        f"the log {self._origin!r} is frozen (its last entry, {size - 1}, is "
                        "log.frozen): it takes no more appends; write to its successor "
                        "shard (evidence log shard, docs/operations.md)")))
                    continue
                if req.prepare is not None:
                    try:
                        items = list(req.prepare(conn, shared))
                    except SQLAlchemyError:
                        raise
                    except Exception as e:
                        rej = AppendRejected(f"request refused: {e}")
                        rej.__cause__ = e
                        rejected.append((req, rej))
                        continue
                try:
                    encoded = encode_chain(size, now, prev, items)
                except (EntryError, VerificationError, TypeError, ValueError) as e:
                    rejected.append((req, AppendRejected(f"entry refused: {e}")))
                    continue
                made = [Appended(size + i, lh, now, data)
                        for i, (data, lh) in enumerate(encoded)]
                ops: list[Any] = []
                if req.rows is not None:
                    try:
                        ops = list(req.rows(conn, made))
                    except SQLAlchemyError:
                        raise  # the transaction may be unusable: fail the batch
                    except Exception as e:
                        rej = AppendRejected(f"request refused: {e}")
                        rej.__cause__ = e
                        rejected.append((req, rej))
                        continue
                entry_rows.extend(
                    (seq, lh, etype, now, data) for seq, (data, lh), (etype, _body)
                    in zip(range(size, size + len(made)), encoded, items, strict=True))
                extend_edge(edge, size, [lh for _data, lh in encoded], node_rows)
                extra_ops.extend(ops)
                size += len(made)
                prev = made[-1].leaf_hash
                last_type = items[-1][0]
                accepted.append((req, made))
            if not entry_rows:
                # nothing written: the edge read for the locked size is still right
                self._edge, self._size, self._last_hash = edge, state.size, state.last_leaf_hash
                self._last_type = last_type
                return accepted, rejected
            insert_rows(conn, entries, entry_rows, drv)
            if node_rows:
                insert_rows(conn, nodes, node_rows, drv)
            execute_ops(conn, extra_ops, drv)
            mark = drv.mark
            count = drv.run(f"UPDATE log_state SET size = {mark}, last_leaf_hash = {mark}, "
                            f"last_time = {mark} WHERE id = 1 AND size = {mark}",
                            (size, prev, now, state.size))
            if count != 1:
                raise LedgerError("log_state changed under the sequencer's lock")
            due = self._interval == 0 or (
                _time.monotonic() - self._last_cp_time >= self._interval)
            if due:
                sign_locked(conn, self._signer, size, CompactRange(size, edge).root())
        self._edge, self._size, self._last_hash = edge, size, prev
        self._last_type = last_type
        if due:
            self._last_cp_time = _time.monotonic()
        self._unsigned = not due
        return accepted, rejected
