"""Putting staged items on the ledger: one pipeline for every way items arrive.

An item leaves staging (:mod:`.staging`) with its blobs staged, not yet committed. From
there every item walks the same way::

    Queued -> the finisher thread: commit the blobs of every item waiting, together
    (one shared flush on the filesystem store) -> hand each entry to the sequencer
    without waiting (entry, item row, file rows, custody event and the signed receipt in
    ONE transaction) -> Done (exactly once per item) -> Appender.result: wait for the
    commit, check its blobs are still there, release its holds -> Submitted.

:class:`Pipeline` is used by :meth:`~.service.Intake.submit_many` (a thread pool
stages), by :class:`~.shared_flush.SharedFlush` (HTTP requests stage one item each) and
by :mod:`.bulk` (worker processes stage). :class:`Appender` is the part after the
sequencer, also used on its own by a single :meth:`~.service.Intake.submit`.

Guarantees: blobs durable before the entry commits; an item is reported ``Submitted``
only once its entry is durable; an item that fails leaves no entry and no blob that
nothing else holds or names.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from evidence.ledger.blobs import BlobError, BlobStore
from evidence.ledger.errors import AppendRejected, LedgerError
from evidence.ledger.evidence_store import submitted_rows
from evidence.ledger.intake import derived, idempotency
from evidence.ledger.intake.holds import Holds
from evidence.ledger.intake.model import (
    SUBMITTED,
    IntakeError,
    ItemSpec,
    StagedItem,
    Submitted,
)
from evidence.ledger.intake.staging import Stager
from evidence.ledger.log import Ledger
from evidence.ledger.sequencer import Appended
from evidence.verify.errors import VerificationError

_CHUNK = 4  # items per task of submit_many's pool: fewer hand-offs between threads

#: Errors an item can meet on its way that are reported as its outcome, not raised.
ITEM_ERRORS = (IntakeError, LedgerError, BlobError, VerificationError, OSError)


@dataclass(frozen=True)
class Queued:
    """A staged item waiting for the finisher, with the holds on its blobs."""

    spec: ItemSpec
    staged: StagedItem
    held: list[str]


@dataclass(frozen=True)
class Done:
    """An item out of the pipeline (exactly one per item put in): its entry handed to
    the sequencer (``appended``), or the reason it went no further (``error``; its blobs
    and holds are dealt with then)."""

    spec: ItemSpec
    staged: StagedItem | None = None
    held: list[str] | None = None
    appended: Future[list[Appended]] | None = None
    error: BaseException | None = None

    @classmethod
    def refused(cls, spec: ItemSpec, error: BaseException) -> Done:
        return cls(spec, error=error)


class Appender:
    """Hands an item's entry to the sequencer and sees it through."""

    def __init__(self, ledger: Ledger, store: BlobStore, holds: Holds,
                 max_file_size: int) -> None:
        self.ledger = ledger
        self.store = store
        self.holds = holds
        self.max_file_size = max_file_size

    def enqueue(self, staged: StagedItem) -> Future[list[Appended]]:
        """Hand the entry to the sequencer; its rows commit in the same transaction.
        With an idempotency key (``spec.idempotency``) the key is checked under the log's
        lock first and its row commits with the entry (:mod:`.idempotency`)."""
        led = self.ledger
        spec = staged.spec
        claim = spec.idempotency
        prepare = None
        key_rows = None
        if claim is not None:
            check, key_rows = idempotency.hooks(
                claim, claim.fingerprint(staged.body["files"]))

            def prepare(conn: Connection, shared: dict[Any, Any]
                        ) -> list[tuple[str, dict[str, Any]]]:
                check(conn, shared)
                return [(SUBMITTED, staged.body)]

        def rows(conn: Connection, made: list[Appended]) -> list[Any]:
            a = made[0]
            staged.receipt = led.sign_receipt(a)
            ops = submitted_rows(
                evidence_id=staged.evidence_id, seq=a.seq, time=a.time, kind=spec.kind,
                case_id=spec.case, principal=spec.principal,
                commitment=staged.body["metadata_commitment"],
                metadata_jcs=staged.metadata_jcs, salt=staged.salt, receipt=staged.receipt,
                submitter_key=(staged.body.get("submitter") or {}).get("key"),
                files=staged.body["files"])
            if key_rows is not None:  # the answer a retry with the key gets
                answer = {**self.submitted(staged, a).to_json(), "log_key": led.verifier_key}
                ops += key_rows(staged.evidence_id, a.time, 201,
                                json.dumps(answer, ensure_ascii=False, separators=(",", ":")))
            return ops

        return led.append_batch([(SUBMITTED, staged.body)], rows=rows, prepare=prepare)

    @staticmethod
    def submitted(staged: StagedItem, a: Appended) -> Submitted:
        return Submitted(staged.evidence_id, a.seq, a.leaf_hash.hex(), a.time, staged.receipt,
                         staged.body, tuple(staged.warnings))

    def append(self, staged: StagedItem, held: list[str]) -> Submitted:
        """Enqueue an item whose blobs are stored, and wait for it (:meth:`finish`)."""
        return self.finish(staged, held, self.enqueue(staged))

    def finish(self, staged: StagedItem, held: list[str], appended: Future[list[Appended]]
               ) -> Submitted:
        """Wait for the commit; on failure remove the blobs only this item wrote. The
        holds are released either way."""
        try:
            try:
                a = appended.result()[0]
            except AppendRejected as e:
                self.holds.discard(held)
                if isinstance(e.__cause__, idempotency.KeyUsed | idempotency.KeyInFlight):
                    raise e.__cause__ from None  # the caller answers it (docs/api.md)
                raise
            except BaseException:
                self.holds.discard(held)
                raise
            self._ensure_blobs(staged)
        finally:
            self.holds.release(held)
        return self.submitted(staged, a)

    def result(self, done: Done) -> Submitted:
        """``done``'s item once durable; raises why not."""
        if done.staged is None or done.appended is None:
            assert done.error is not None
            raise done.error
        return self.finish(done.staged, done.held or [], done.appended)

    def outcome(self, done: Done) -> tuple[ItemSpec, Submitted | Exception]:
        """:meth:`result`, with the item's failure returned instead of raised: any error
        that stopped it before the sequencer, or one of :data:`ITEM_ERRORS` after."""
        if done.staged is None or done.appended is None:
            if isinstance(done.error, Exception):
                return done.spec, done.error
            assert done.error is not None
            raise done.error
        try:
            return done.spec, self.finish(done.staged, done.held or [], done.appended)
        except ITEM_ERRORS as e:
            return done.spec, e

    def _ensure_blobs(self, staged: StagedItem) -> None:
        """After the commit: every file must be in the store. A concurrent gc in another
        process may have removed a pre-existing orphan of the same content between our
        put (a no-op) and the commit; write it again from the source."""
        files = staged.body["files"]
        for path, f in zip(staged.paths, derived.originals(files), strict=True):
            if self.store.exists(f["sha256"]):
                continue
            with open(path, "rb") as src:
                ref = self.store.put(src, max_size=self.max_file_size)
            if ref.sha256 != f["sha256"]:
                raise LedgerError(f"{path} changed after it was preserved; the item "
                                  f"{staged.evidence_id} lacks blob {f['sha256']}: resubmit")
        lost = derived.restore(self.store, staged.paths, files, self.max_file_size)
        if lost:  # a medium of a chat ZIP, and the ZIP changed: it cannot be taken again
            raise LedgerError(f"the item {staged.evidence_id} lacks blob {lost[0]} (a file "
                              "taken from its archive, which changed): resubmit")


class Pipeline:
    """The finisher thread and its queue: items in by :meth:`put` (or :meth:`stage`),
    each out once through ``on_done``, called in the finisher's or the sequencer's
    thread. :meth:`close` after the last item."""

    def __init__(self, stager: Stager, appender: Appender, on_done: Callable[[Done], None],
                 *, paced: bool = False) -> None:
        """``paced`` (items arriving one by one, from many callers): the next batch is
        taken once the entries of the previous one are committed. A flush is quicker
        than the sequencer's commit, so unpaced the finisher would run several flushes of
        an item or two during one commit, and those items wait for the next commit
        anyway; paced, one flush serves everything that arrived meanwhile."""
        self.stager = stager
        self.appender = appender
        self.on_done = on_done
        self.paced = paced
        self._q: queue.SimpleQueue[Queued | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="intake-finisher", daemon=True)
        self._thread.start()

    def stage(self, spec: ItemSpec) -> None:
        """Stage ``spec`` in this thread (blobs staged, not committed) and put it in; a
        refusal comes out through ``on_done`` like any other outcome."""
        held: list[str] = []
        try:
            staged = self.stager.stage(spec, held, defer=True)
        except Exception as e:
            self.on_done(Done.refused(spec, e))
            return
        self.put(Queued(spec, staged, held))

    def put(self, item: Queued) -> None:
        self._q.put(item)

    def drop(self, item: Queued) -> None:
        """Give up an item that will not be put in: its staged blobs aborted, blobs only
        it wrote removed, its holds released."""
        for s in item.staged.blobs:
            self.appender.store.abort(s)
        self.appender.holds.discard(item.held)
        self.appender.holds.release(item.held)

    def close(self) -> None:
        """Finish everything put in so far, then stop the finisher (before the ledger
        closes). Nothing may be put in after this."""
        self._q.put(None)
        self._thread.join()

    def _run(self) -> None:
        """Takes every item waiting, commits all their blobs together (two shared
        flushes on the filesystem store), then hands each entry to the sequencer without
        waiting: stagers never block on a flush, and a flush serves a whole batch."""
        handed: list[Future[list[Appended]]] = []
        while True:
            if handed:
                wait(handed)
            batch = [self._q.get()]
            while True:
                try:
                    batch.append(self._q.get_nowait())
                except queue.Empty:
                    break
            stop = batch[-1] is None  # put last, once every producer is done
            items = [b for b in batch if b is not None]
            if items:
                handed = self._finish_batch(items)
                if not self.paced:
                    handed = []
            if stop:
                return

    def _finish_batch(self, batch: list[Queued]) -> list[Future[list[Appended]]]:
        """Commit ``batch``'s blobs, hand its entries over; returns their futures."""
        staged = [s for item in batch for s in item.staged.blobs]
        errors: list[BaseException | None]
        if staged:
            try:
                errors = list(self.appender.store.commit(staged))
            except Exception as e:  # a flush failed: nothing of this batch is durable
                errors = [e] * len(staged)
        else:
            errors = []
        i = 0
        handed: list[Future[list[Appended]]] = []
        for item in batch:
            n = len(item.staged.blobs)
            err = next((e for e in errors[i:i + n] if e is not None), None)
            i += n
            item.staged.blobs = []
            fut = None
            if err is None:
                try:
                    fut = self.appender.enqueue(item.staged)
                except Exception as e:
                    err = e
            if fut is None:
                with contextlib.suppress(Exception):
                    self.appender.holds.discard(item.held)
                self.appender.holds.release(item.held)
                self.on_done(Done(item.spec, error=err))
                continue
            fut.add_done_callback(
                lambda f, item=item: self.on_done(
                    Done(item.spec, item.staged, item.held, appended=f)))
            handed.append(fut)
        return handed


def submit_many(stager: Stager, appender: Appender, specs: Iterable[ItemSpec], *,
                workers: int = 16) -> Iterator[tuple[ItemSpec, Submitted | Exception]]:
    """Submit many items, each its own entry. Yields ``(spec, Submitted or the
    exception)`` as each finishes; a ``Submitted`` only once durable.

    A pool of ``workers`` threads stages items (the hashing runs without the GIL) into
    one :class:`Pipeline`, so the sequencer group-commits whatever is queued while the
    pool goes on hashing."""
    done_q: queue.SimpleQueue[Done] = queue.SimpleQueue()
    pipeline = Pipeline(stager, appender, done_q.put)

    def start(chunk: list[ItemSpec]) -> None:
        for spec in chunk:
            pipeline.stage(spec)

    window = max(1, workers) * 8
    outstanding = 0
    it = iter(specs)
    exhausted = False
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers),
                                thread_name_prefix="intake") as pool:
            while True:
                while not exhausted and outstanding + _CHUNK <= window:
                    chunk = list(itertools.islice(it, _CHUNK))
                    exhausted = len(chunk) < _CHUNK
                    if chunk:
                        pool.submit(start, chunk)
                        outstanding += len(chunk)
                if outstanding == 0:
                    return
                outstanding -= 1
                yield appender.outcome(done_q.get())
    finally:
        pipeline.close()
