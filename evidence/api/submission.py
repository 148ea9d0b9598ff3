"""``POST /v1/evidence``: the one implementation of a submission.

:func:`submit` does the work once the caller is admitted (:func:`evidence.api.deps.admit`:
authenticated, one request taken from its rate, a submitter): parse the streamed
multipart body (:mod:`evidence.api.uploads`), check case membership, hand the item to
intake (in a worker thread, or on the event loop for a small upload to local files:
:data:`INLINE_STAGE`), answer with the receipt. Two callers, one function: the FastAPI
route (``routers/evidence.py``, the reference and the OpenAPI description) and the
optional fast path in front of FastAPI's router (:mod:`evidence.api.hot.submit`), which
tests/equivalence/test_api_submit_fastpath.py holds to the route's answers and ledger effects.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import weakref
from collections.abc import Callable
from typing import Any

from fastapi.responses import Response
from starlette.requests import Request

from evidence.api import idempotency
from evidence.api.problems import Problem
from evidence.api.schemas import PendingSubmission, SubmissionReceipt
from evidence.api.services import Services
from evidence.api.uploads import Upload, receive_upload
from evidence.ledger.access import Principal
from evidence.ledger.intake import FileFailure, ItemSpec, SubmissionRefused, Submitted
from evidence.ledger.intake.idempotency import Claim, KeyInFlight, KeyUsed
from evidence.ledger.intake.shared_flush import Staged

INLINE_FINISH = 1 << 20
"""Uploads up to this size are finished on the event loop (no second thread hop)."""
INLINE_STAGE = 64 << 10
"""Uploads up to this size are staged on the event loop when the blob store writes local
files (``BlobStore.stages_locally``: a write to a temporary file, no flush, no network),
where a hop to a worker thread costs more than the staging (docs/performance.md, "The HTTP edge");
larger files, and stores that upload over the network, keep the thread. Either way the
answer is the same: tests/equivalence/test_submit_inline_stage.py."""


async def submit(request: Request, svc: Services, who: Principal) -> Response:
    """The submission of an admitted submitter (see the module doc). With an
    ``Idempotency-Key`` (:mod:`evidence.api.idempotency`): 400 for a malformed key before
    the body is read; once the body is in, 409 while another request with the key is
    being committed here (a body still arriving holds nothing: an upload cut half-way
    never blocks its retry). The key stays in flight until its item is committed or
    refused, even when the client went away."""
    key = idempotency.key_of(request.headers)
    up = await receive_upload(request, svc.spool, max_upload=svc.settings.max_upload,
                              max_files=svc.settings.max_files,
                              max_file_size=svc.max_file_size)
    loop = asyncio.get_running_loop()
    case = up.fields["case"]
    leave: Callable[[], None] | None = None
    try:
        svc.access.require_submit(who, case)  # on the event loop: one indexed read
        sign = up.fields.get("sign") or None
        if sign not in (None, "deferred"):
            raise Problem(422, "invalid-input", "sign must be 'deferred' (or absent)")
        strict = up.strict_metadata()
        dns_records = up.dns_records()
        meta = up.meta()
        if key is not None and sign is None:  # (deferred: nothing goes on the ledger)
            leave = idempotency.IN_FLIGHT.enter(who.id, key)
    except BaseException:
        await loop.run_in_executor(svc.executor, up.cleanup)
        raise

    if sign == "deferred":  # a key is not recorded: see docs/api.md
        return await loop.run_in_executor(svc.executor, _submit_deferred, svc, who, up)
    if leave is None:
        return await _submit(svc, who, up, case, meta, strict, dns_records, None, None)
    handed: list[bool] = []  # set once the key leaves with the item instead (_finish_later)
    try:
        assert key is not None
        claim = Claim(who.id, key, SUBMIT_OPERATION, ttl=svc.settings.idempotency_ttl,
                      fields=_fields(up, case, meta, strict, dns_records))
        return await _submit(svc, who, up, case, meta, strict, dns_records, claim, leave,
                             handed)
    finally:
        if not handed:
            leave()


async def _submit(svc: Services, who: Principal, up: Upload, case: str, meta: dict[str, str],
                  strict: bool, dns_records: dict[str, str] | None, claim: Claim | None,
                  leave: Callable[[], None] | None, handed: list[bool] | None = None
                  ) -> Response:
    """Stage, commit, answer (a checked upload of an admitted submitter)."""
    loop = asyncio.get_running_loop()

    def stage() -> Staged:  # check, store, describe, queue (see INLINE_STAGE)
        try:
            return svc.grouped.stage(ItemSpec(
                files=up.materialize(svc.fast_spool), kind=up.fields["kind"], case=case,
                principal=who.id,
                title=up.fields.get("title") or None, meta=meta,
                source_url=up.fields.get("source_url") or None,
                captured_at=up.fields.get("captured_at") or None, strict_metadata=strict,
                dns_records=dns_records, idempotency=claim))
        except SubmissionRefused as e:
            up.cleanup()
            raise _as_submitted(e) from None
        except BaseException:
            up.cleanup()
            raise

    def finish(item: Staged) -> Submitted | KeyUsed | KeyInFlight:
        try:  # the upload's files may be read until here
            return item.finish()
        except (KeyUsed, KeyInFlight) as e:  # nothing appended: answered below
            return e
        finally:
            up.cleanup()
            if leave is not None:
                leave()

    if up.size <= INLINE_STAGE and svc.intake.store.stages_locally:
        staging: asyncio.Future[Staged] = loop.create_future()
        staging.set_result(stage())  # raises what the worker thread's future would
    else:  # a plain executor: anyio's run_in_threadpool costs more per hop
        staging = loop.run_in_executor(svc.executor, stage)
    try:
        item = await asyncio.shield(staging)
        # the group's blob flush and commit, awaited without holding a thread
        await asyncio.shield(_wakeups(loop).wrap(item.future))
    except asyncio.CancelledError:  # the client went away: the item still completes
        _finish_later(svc, staging, finish, leave)
        if handed is not None:
            handed.append(True)
        raise
    if up.size <= INLINE_FINISH:  # a few stat/unlink calls, on tmpfs when it has one
        done = finish(item)
    else:  # unlinking a large spooled file can take a while: not on the event loop
        done = await loop.run_in_executor(svc.executor, finish, item)
    if isinstance(done, KeyUsed | KeyInFlight):
        return idempotency.used(done)
    body = SubmissionReceipt(**done.to_json(), log_key=svc.ledger.verifier_key)
    return Response(body.model_dump_json().encode(), status_code=201,
                    media_type="application/json",
                    headers={"Location": f"/v1/evidence/{done.evidence_id}"})


class Wakeups:
    """:func:`asyncio.wrap_future` for many concurrent futures completed in bursts: a group
    commit resolves its items one after another in the sequencer's thread, where each
    ``wrap_future`` would wake the event loop on its own (a write to its self-pipe, a GIL
    handoff). Here the first completion of a burst schedules one callback on the loop,
    the rest of the burst joins it, and the callback copies every outcome over: each
    future ends as its source did (result, exception or cancelled), held by
    tests/api/test_wakeups.py."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._done: list[tuple[asyncio.Future[Any], concurrent.futures.Future[Any]]] = []

    def wrap(self, cf: concurrent.futures.Future[Any]) -> asyncio.Future[Any]:
        af: asyncio.Future[Any] = self._loop.create_future()
        cf.add_done_callback(lambda f: self._completed(af, f))
        return af

    def _completed(self, af: asyncio.Future[Any], cf: concurrent.futures.Future[Any]
                   ) -> None:
        with self._lock:
            self._done.append((af, cf))
            if len(self._done) > 1:
                return  # a drain is scheduled and has not taken the list yet
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            done, self._done = self._done, []
        for af, cf in done:
            if af.done():
                continue
            if cf.cancelled():
                af.cancel()
            elif (exc := cf.exception()) is not None:
                af.set_exception(exc)
            else:
                af.set_result(cf.result())


_WAKEUPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Wakeups] = (
    weakref.WeakKeyDictionary())
_WAKEUPS_LOCK = threading.Lock()


def _wakeups(loop: asyncio.AbstractEventLoop) -> Wakeups:
    w = _WAKEUPS.get(loop)
    if w is None:
        with _WAKEUPS_LOCK:
            w = _WAKEUPS.setdefault(loop, Wakeups(loop))
    return w


def _finish_later(svc: Services, staging: asyncio.Future[Staged], finish: Any,
                  leave: Callable[[], None] | None) -> None:
    """When a request is cancelled mid-submission, finish its item once it is done (the
    entry stays; the holds on its blobs and its upload files must go, and its
    idempotency key leaves the in-flight set with it)."""
    def staged(f: asyncio.Future[Staged]) -> None:
        if f.cancelled() or f.exception() is not None:
            if leave is not None:
                leave()
            return  # stage() cleaned up after itself
        item = f.result()
        item.future.add_done_callback(lambda _: svc.executor.submit(finish, item))

    staging.add_done_callback(staged)


def _submit_deferred(svc: Services, who: Principal, up: Upload) -> Response:
    assert svc.pending is not None
    try:
        files = up.materialize()  # on disk, in the spool: it waits there for its signature
        assert up.folder is not None
        pending = svc.pending.create(up.folder, ItemSpec(
            files=files, kind=up.fields["kind"], case=up.fields["case"], principal=who.id,
            title=up.fields.get("title") or None, meta=up.meta(),
            source_url=up.fields.get("source_url") or None,
            captured_at=up.fields.get("captured_at") or None,
            strict_metadata=up.strict_metadata(), dns_records=up.dns_records()))
    except SubmissionRefused as e:
        raise _as_submitted(e) from None
    finally:
        up.cleanup()  # moved away on success; on failure whatever is left
    body = PendingSubmission(**pending.view())
    return Response(body.model_dump_json().encode(), status_code=202,
                    media_type="application/json", headers={"Location": body.sign_url})


SUBMIT_OPERATION = "evidence.submit"


def _fields(up: Upload, case: str, meta: dict[str, str], strict: bool,
            dns_records: dict[str, str] | None) -> dict[str, Any]:
    """The request's fields as intake reads them (what the key's fingerprint covers
    besides the files): the same submission sent again matches, field order, empty
    fields and JSON spacing aside."""
    return {"case": case, "kind": up.fields["kind"], "title": up.fields.get("title") or None,
            "meta": meta, "source_url": up.fields.get("source_url") or None,
            "captured_at": up.fields.get("captured_at") or None,
            "strict_metadata": strict, "dns_records": dns_records}


def _as_submitted(e: SubmissionRefused) -> SubmissionRefused:
    """The refusal with each file named as it was submitted, not by its spool path
    (which says nothing to the client and something about the server)."""
    return SubmissionRefused([FileFailure(f.file.rsplit("/", 1)[-1], f.reason)
                              for f in e.failures])
