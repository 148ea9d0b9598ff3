"""One item each from many concurrent callers (the HTTP API), made durable together.

:meth:`Intake.submit` commits each item's blobs on its own (a filesystem-wide flush per
item on the filesystem store) and then parks its thread until the sequencer's group
commit. :class:`SharedFlush` puts items that arrive one by one through the same
:class:`~.pipeline.Pipeline` as a bulk import: a caller stages its item in its own
thread (checks, blobs staged, metadata), and the pipeline's finisher commits the blobs
of everything staged meanwhile with one pair of flushes and hands the entries to the
sequencer together. It is paced by the sequencer (``paced=True``): the next flush starts
once the previous batch is committed, so one flush serves every item that arrived during
the commit. The caller gets a :class:`concurrent.futures.Future` it can wait on without
holding a thread (``asyncio.wrap_future``), then calls :meth:`Staged.finish`.

Guarantees are those of :meth:`Intake.submit`: blobs durable before the entry commits,
the entry durable before :meth:`Staged.finish` returns, nothing left behind by an item
that fails (its blobs are discarded unless something else holds them).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future

from evidence.ledger.intake.model import ItemSpec, Submitted
from evidence.ledger.intake.pipeline import Done, Queued
from evidence.ledger.intake.service import Intake


class Staged:
    """An item on its way: ``future`` completes once its entry is durable or refused."""

    def __init__(self, intake: Intake) -> None:
        self._intake = intake
        self.future: Future[Done] = Future()

    def finish(self) -> Submitted:
        """The item's result once ``future`` is done: ``Submitted``, or the reason it
        was refused raised (as :meth:`Intake.submit` raises it)."""
        return self._intake.result(self.future.result())


class SharedFlush:
    """Shared blob flushes and appends for single-item submissions from many threads."""

    def __init__(self, intake: Intake) -> None:
        self.intake = intake
        self._waiting: dict[int, Staged] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._pipeline = intake.pipeline(self._resolve, paced=True)

    def stage(self, spec: ItemSpec) -> Staged:
        """Check, store and describe ``spec`` in this thread, then queue it for the
        shared flush. Raises :class:`SubmissionRefused` (nothing kept) like
        :meth:`Intake.submit`; otherwise the returned item's ``future`` completes later."""
        if self._closed:
            raise RuntimeError("the shared flush is closed")
        held: list[str] = []
        queued = Queued(spec, self.intake.stager.stage(spec, held, defer=True), held)
        item = Staged(self.intake)
        with self._lock:  # never behind the pipeline's stop mark
            if not self._closed:
                self._waiting[id(spec)] = item
                self._pipeline.put(queued)
                return item
        self._pipeline.drop(queued)
        raise RuntimeError("the shared flush is closed")

    def submit(self, spec: ItemSpec) -> Submitted:
        """:meth:`stage` and wait in this thread: :meth:`Intake.submit`, grouped."""
        item = self.stage(spec)
        item.future.result()
        return item.finish()

    def _resolve(self, done: Done) -> None:
        """The pipeline's ``on_done`` (finisher and sequencer threads), once per item."""
        with self._lock:
            item = self._waiting.pop(id(done.spec))
        item.future.set_result(done)

    def close(self) -> None:
        """Finish what is queued, then stop the finisher (before the ledger closes)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._pipeline.close()  # outside the lock: _resolve takes it
