"""Bulk import on every core: ``evidence submit DIR --each`` with worker processes.

An item's work splits in two. What needs no ledger state (open and read the file,
SHA-256, write the blob into a temporary file of the store, sniff the media type,
extract metadata, canonical metadata, salt, commitment) runs in worker processes, so
it runs on every core instead of under this process's one GIL. What the ledger orders
runs here, in intake's one :class:`~.pipeline.Pipeline`, the code the in-process
path runs: the finisher makes the workers' blobs durable and gives them their names
(one shared ``syncfs`` covers whatever any process wrote before it started), then hands
each entry to the sequencer (entry, item row, file rows, custody event in one
transaction, receipt signed with the log key, which never leaves this process); an
item is reported only once its entry is durable. A submitter key stays here too: the
submitter signature is made here, over what the worker described.

Hence the guarantees of the in-process path hold: blobs durable -> entry committed ->
acknowledged; a worker only ever writes temporary files (it never names a blob), so a
refused file or a killed import leaves no blob (:meth:`~.service.Intake.gc` sweeps the
temporary files); a worker dies with its parent (``PR_SET_PDEATHSIG`` on Linux).

Small imports (fewer than :data:`MIN_PARALLEL` files), ``workers=1`` and stores that do
not stage locally (:attr:`~evidence.ledger.blobs.BlobStore.stages_locally`; S3: a worker
would need its own client, and there is no shared flush to save) take the in-process path
(:meth:`Intake.submit_many`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import queue
import signal
import sys
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

from evidence.ledger.blobs import BlobStore, StagedBlob
from evidence.ledger.intake.holds import Holds
from evidence.ledger.intake.model import (
    FileFailure,
    IntakeError,
    ItemSpec,
    StagedItem,
    SubmissionRefused,
    Submitted,
)
from evidence.ledger.intake.pipeline import Done, Pipeline, Queued
from evidence.ledger.intake.service import Intake
from evidence.ledger.intake.staging import Stager
from evidence.ledger.workers import worker_context as _worker_context
from evidence.verify.submission import sign_submission

MIN_PARALLEL = 200  # fewer files: starting workers costs more than they save
IN_PROCESS_THREADS = 16  # hashing threads of the in-process path
_CHUNK = 32  # files per task sent to a worker
_AHEAD = 4  # tasks queued per worker
_IN_FLIGHT = 4096  # items prepared but not yet reported (bounds memory)

Result = tuple[ItemSpec, Submitted | Exception]


def default_workers() -> int:
    """One worker process per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def submit_each(intake: Intake, paths: Sequence[str | os.PathLike[str]],
                spec: Mapping[str, Any], *, workers: int | None = None,
                min_parallel: int = MIN_PARALLEL) -> Iterator[Result]:
    """Submit every file of ``paths`` as its own item (``spec``: the other
    :class:`ItemSpec` fields, the same for all); yields ``(spec, Submitted or the
    exception)`` as each finishes, a ``Submitted`` only once durable, as
    :meth:`Intake.submit_many` does.

    With ``workers`` > 1 (default: one per core) and at least ``min_parallel`` files
    on a filesystem store, worker processes prepare the items. They are started here,
    before this returns, so that they can be forked while this process runs no other
    thread (the caller may start a progress bar's thread next). Iterate to the end (or
    close the iterator): that stops them."""
    workers = default_workers() if workers is None else workers
    paths = [_path(p) for p in paths]
    in_process = (ItemSpec(files=[p], **spec) for p in paths)
    if (workers <= 1 or len(paths) < max(1, min_parallel)
            or not intake.store.stages_locally):
        return intake.submit_many(in_process, workers=IN_PROCESS_THREADS)
    try:
        bulk = _Bulk(intake, paths, spec, workers)
    except (OSError, NotImplementedError):  # no working multiprocessing here
        return intake.submit_many(in_process, workers=IN_PROCESS_THREADS)
    return bulk.results()


# --- in the worker processes --------------------------------------------------------------


class _Ready(NamedTuple):
    """A prepared item, as a worker sends it back: blobs staged, not yet committed."""

    evidence_id: str
    body: dict[str, Any]
    metadata_jcs: bytes
    salt: bytes
    stats: list[tuple[int, int]]
    warnings: list[str]
    blobs: list[StagedBlob]  # staged by the worker's copy of the store, not committed


class _Preparer:
    """Intake's staging without a ledger. Its blobs are only staged (the store stages
    locally): a refused item has published nothing, so there is nothing to discard (the
    in-process path's discard consults the database, which a worker does not open)."""

    def __init__(self, store: BlobStore, max_file_size: int) -> None:
        self.holds = Holds(store, None)
        self.stager = Stager(store, self.holds, max_file_size)

    def prepare_one(self, spec: ItemSpec) -> _Ready | list[tuple[str, str]] | Exception:
        """The item staged, or its refusal as ``(file, reason)`` pairs, or the error."""
        held: list[str] = []
        try:
            s = self.stager.stage(spec, held, defer=True)
        except SubmissionRefused as e:
            return [(f.file, f.reason) for f in e.failures]
        except Exception as e:
            return _portable(e)
        self.holds.release(held)
        return _Ready(s.evidence_id, s.body, s.metadata_jcs, s.salt, s.stats, s.warnings,
                      s.blobs)


def _portable(e: Exception) -> Exception:
    """``e`` if it survives pickling, else an :class:`IntakeError` with its message."""
    try:
        pickle.loads(pickle.dumps(e))
        return e
    except Exception:
        return IntakeError(str(e))


_worker: tuple[_Preparer, dict[str, Any]] | None = None


def _init_worker(parent: int, store: BlobStore, max_file_size: int, spec: dict[str, Any]
                 ) -> None:
    global _worker
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent stops us
    devnull = os.open(os.devnull, os.O_WRONLY)  # the import's stdout is its report
    os.dup2(devnull, 1)
    os.close(devnull)
    _worker = (_Preparer(store, max_file_size), spec)


def _die_with_parent(parent: int) -> None:
    """A worker must not outlive a killed import (it would hold the import's stdout
    open and go on writing temporary files): on Linux the kernel kills it then. (The
    kernel watches the thread that started the worker: the one that called
    :func:`submit_each`; were it to end first, the pool breaks and the import goes on
    in-process.)"""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # died before that
        os._exit(1)


def _prepare_chunk(paths: list[Path]) -> list[_Ready | list[tuple[str, str]] | Exception]:
    assert _worker is not None, "worker not initialised"
    preparer, spec = _worker
    return [preparer.prepare_one(ItemSpec(files=[p], **spec)) for p in paths]


# --- in the importing process ------------------------------------------------------------


class _Bulk:
    """One parallel import. The workers are started in ``__init__`` (on this thread,
    before any thread of ours); a feeder thread takes their results in order and puts
    each item into the intake pipeline; :meth:`results` reports them (one
    :class:`~.pipeline.Done` each comes out of ``done_q``)."""

    def __init__(self, intake: Intake, paths: list[Path], spec: Mapping[str, Any],
                 workers: int) -> None:
        self.intake = intake
        self.paths = paths
        self.spec = dict(spec)
        self.n = len(paths)
        self.chunks = [paths[i:i + _CHUNK] for i in range(0, len(paths), _CHUNK)]
        shared = {**self.spec, "sign_key": None}  # the key stays here
        self.pool = ProcessPoolExecutor(
            min(workers, len(self.chunks)), mp_context=_worker_context(),
            initializer=_init_worker,
            initargs=(os.getpid(), intake.store, intake.max_file_size, shared))
        self.futures: deque[Future[Any]] = deque()
        self.next_chunk = 0
        self.done_q: queue.SimpleQueue[Done] = queue.SimpleQueue()
        self.pipeline: Pipeline | None = None  # started by results(), before the feeder
        self.room = threading.Semaphore(_IN_FLIGHT)
        self.stop = threading.Event()
        self.fed = 0  # items put into the pipeline, once the feeder is done
        try:
            for _ in range(workers * _AHEAD):  # the first submit starts (forks) them all
                self._submit_next()
        except BaseException:
            self.pool.shutdown(wait=True, cancel_futures=True)
            raise

    def _item(self, i: int) -> ItemSpec:
        return ItemSpec(files=[self.paths[i]], **self.spec)

    def _submit_next(self) -> None:
        if self.next_chunk < len(self.chunks):
            self.futures.append(self.pool.submit(_prepare_chunk,
                                                 self.chunks[self.next_chunk]))
            self.next_chunk += 1

    def results(self) -> Iterator[Result]:
        intake = self.intake
        self.pipeline = pipeline = intake.pipeline(self.done_q.put)
        feeder = threading.Thread(target=self._feed, name="intake-feeder", daemon=True)
        feeder.start()
        taken = 0
        try:
            while taken < self.n:
                res = intake.outcome(self.done_q.get())
                taken += 1
                self.room.release()
                yield res
        finally:
            self.stop.set()
            self.room.release(_IN_FLIGHT)  # a feeder waiting for room sees the stop
            feeder.join()
            pipeline.close()
            self.pool.shutdown(wait=True, cancel_futures=True)
            # stopped early: see every item already in the pipeline through (committed
            # whole, or its blobs removed), unreported
            for _ in range(self.fed - taken):
                with contextlib.suppress(Exception):
                    intake.outcome(self.done_q.get())

    def _feed(self) -> None:
        """Every item into the pipeline, in order: exactly one result each."""
        fed = 0  # items put into the pipeline (or reported)
        assert self.pipeline is not None
        try:
            while self.futures and not self.stop.is_set():
                fut = self.futures[0]
                try:
                    outcomes = fut.result()
                except Exception:  # the pool broke (a worker died): go on here
                    break
                self.futures.popleft()
                with contextlib.suppress(Exception):  # a broken pool: found above next
                    self._submit_next()
                for outcome in outcomes:
                    self.room.acquire()
                    if self.stop.is_set():
                        self._abort(outcome)
                        continue
                    self._hand(self._item(fed), outcome)
                    fed += 1
            while fed < self.n:
                self.room.acquire()
                if self.stop.is_set():
                    break
                self.pipeline.stage(self._item(fed))
                fed += 1
        except BaseException as e:  # never leave the reporting loop waiting
            for i in range(fed, self.n):
                self.done_q.put(Done.refused(self._item(i), e))
            fed = self.n
        finally:
            self.fed = fed
            for fut in self.futures:  # stopped early or broken: remove what they wrote
                if not fut.cancel():
                    with contextlib.suppress(Exception):
                        for outcome in fut.result():
                            self._abort(outcome)

    def _abort(self, outcome: Any) -> None:
        if isinstance(outcome, _Ready):
            for p in outcome.blobs:
                self.intake.store.abort(p)

    def _hand(self, spec: ItemSpec, outcome: _Ready | list[tuple[str, str]] | Exception
              ) -> None:
        assert self.pipeline is not None
        if isinstance(outcome, Exception):
            self.done_q.put(Done.refused(spec, outcome))
            return
        if isinstance(outcome, list):
            refused = SubmissionRefused([FileFailure(f, r) for f, r in outcome])
            self.done_q.put(Done.refused(spec, refused))
            return
        body = outcome.body
        if spec.sign_key is not None:
            body["submitter"] = sign_submission(outcome.evidence_id,
                                                body["metadata_commitment"], body["files"],
                                                spec.sign_key)
        held: list[str] = []
        for f in body["files"]:
            self.intake.holds.hold(held, f["sha256"])
        staged = StagedItem(spec, [_path(p) for p in spec.files], outcome.stats,
                            outcome.evidence_id, body, outcome.metadata_jcs, outcome.salt,
                            outcome.warnings, blobs=list(outcome.blobs))
        self.pipeline.put(Queued(spec, staged, held))


def _path(p: str | os.PathLike[str]) -> Path:
    return p if isinstance(p, Path) else Path(p)
