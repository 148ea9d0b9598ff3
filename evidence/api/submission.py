"""``POST /v1/evidence``: the one implementation of a submission, and its fast path.

:func:`submit` does the work once the caller is known: parse the streamed multipart
body (:mod:`evidence.api.uploads`), check case membership, hand the item to intake (in a
worker thread, or on the event loop for a small upload to local files: ``INLINE_STAGE``),
answer with the receipt. The FastAPI route (``routers/evidence.py``)
calls it after FastAPI's dependencies have authenticated the caller, taken from its
rate limit and checked its role; it stays the reference and the OpenAPI description.

:class:`SubmitFastPath` is an ASGI middleware in front of FastAPI's router (inside the
body limit and CORS middlewares, so those apply unchanged) that answers the same
request without FastAPI's routing, dependency resolution, exception-middleware layers
and the anyio thread hop: under 16 concurrent 10 KB submissions those were about a third
of the server's CPU per submission. It does the same steps in the same order as the
dependencies (``deps.caller`` then ``deps.role``) and then calls the same
:func:`submit`; its errors go through the same problem handler. Every request it is
not sure about goes to the FastAPI route untouched, decided before anything with a side
effect happens (the rate limit, reading the body): no ``Authorization: Bearer`` token,
a token that does not authenticate (401 from the route, same document), a caller that
is not a submitter (403 from the route), or a services object not yet there.
tests/test_api_submit_fastpath.py sends the same requests, good and hostile, to both
and compares status, headers, problem documents and ledger effects.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import weakref
from typing import Any

from fastapi.responses import Response
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from evidence.api import problems
from evidence.api.problems import Problem
from evidence.api.schemas import PendingSubmission, SubmissionReceipt
from evidence.api.services import Services
from evidence.api.uploads import Upload, receive_upload
from evidence.ledger.access import SUBMITTER, Principal
from evidence.ledger.intake import FileFailure, ItemSpec, SubmissionRefused, Submitted
from evidence.ledger.intake.grouped import Staged

PATH = "/v1/evidence"
INLINE_FINISH = 1 << 20
"""Uploads up to this size are finished on the event loop (no second thread hop)."""
INLINE_STAGE = 64 << 10
"""Uploads up to this size are staged on the event loop when the blob store writes local
files (``put_pending``: a write to a temporary file, no flush, no network). Staging a
10 KB file there takes a few hundred microseconds; handing it to a worker thread instead
cost more than that in GIL handoffs and wake-ups between the threads (in-process, 16
clients: 60-90 -> 25-37 context switches and 2.1-2.6 -> 1.8-1.9 ms of CPU per
submission). Larger files, and stores that upload over the network, keep the thread."""


async def submit(request: Request, svc: Services, who: Principal) -> Response:
    """The submission for an authenticated, rate-checked submitter (see module doc)."""
    up = await receive_upload(request, svc.spool, max_upload=svc.settings.max_upload,
                              max_files=svc.settings.max_files,
                              max_file_size=svc.max_file_size)
    loop = asyncio.get_running_loop()
    case = up.fields["case"]
    try:
        svc.access.require_submit(who, case)  # on the event loop: one indexed read
        sign = up.fields.get("sign") or None
        if sign not in (None, "deferred"):
            raise Problem(422, "invalid-input", "sign must be 'deferred' (or absent)")
    except BaseException:
        await loop.run_in_executor(svc.executor, up.cleanup)
        raise

    if sign == "deferred":
        return await loop.run_in_executor(svc.executor, _submit_deferred, svc, who, up)

    def stage() -> Staged:  # check, store, describe, queue (see INLINE_STAGE)
        try:
            return svc.grouped.stage(ItemSpec(
                files=up.materialize(svc.fast_spool), kind=up.fields["kind"], case=case,
                principal=who.id,
                title=up.fields.get("title") or None, meta=up.meta(),
                source_url=up.fields.get("source_url") or None,
                captured_at=up.fields.get("captured_at") or None))
        except SubmissionRefused as e:
            up.cleanup()
            raise _as_submitted(e) from None
        except BaseException:
            up.cleanup()
            raise

    def finish(item: Staged) -> Submitted:  # the upload's files may be read until here
        try:
            return item.finish()
        finally:
            up.cleanup()

    if up.size <= INLINE_STAGE and hasattr(svc.intake.store, "put_pending"):
        staging: asyncio.Future[Staged] = loop.create_future()
        staging.set_result(stage())  # raises what the worker thread's future would
    else:  # a plain executor, not anyio's run_in_threadpool: a third of the hop's CPU
        staging = loop.run_in_executor(svc.executor, stage)
    try:
        item = await asyncio.shield(staging)
        # the group's blob flush and commit, awaited without holding a thread
        await asyncio.shield(_wakeups(loop).wrap(item.future))
    except asyncio.CancelledError:  # the client went away: the item still completes
        _finish_later(svc, staging, finish)
        raise
    if up.size <= INLINE_FINISH:  # a few stat/unlink calls, on tmpfs when it has one
        done = finish(item)
    else:  # unlinking a large spooled file can take a while: not on the event loop
        done = await loop.run_in_executor(svc.executor, finish, item)
    body = SubmissionReceipt(**done.to_json(), log_key=svc.ledger.verifier_key)
    return Response(body.model_dump_json().encode(), status_code=201,
                    media_type="application/json",
                    headers={"Location": f"/v1/evidence/{done.evidence_id}"})


class Wakeups:
    """:func:`asyncio.wrap_future` for many concurrent futures completed in bursts: a group
    commit resolves its items one after another in the sequencer's thread, and each
    ``wrap_future`` woke the event loop on its own (a write to its self-pipe, a GIL
    handoff). Here the first completion of a burst schedules one callback on the loop,
    the rest of the burst joins it, and the callback copies every outcome over."""

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


def _finish_later(svc: Services, staging: asyncio.Future[Staged], finish: Any) -> None:
    """When a request is cancelled mid-submission, finish its item once it is done (the
    entry stays; the holds on its blobs and its upload files must go)."""
    def staged(f: asyncio.Future[Staged]) -> None:
        if f.cancelled() or f.exception() is not None:
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
            captured_at=up.fields.get("captured_at") or None))
    except SubmissionRefused as e:
        raise _as_submitted(e) from None
    finally:
        up.cleanup()  # moved away on success; on failure whatever is left
    body = PendingSubmission(**pending.view())
    return Response(body.model_dump_json().encode(), status_code=202,
                    media_type="application/json", headers={"Location": body.sign_url})


def _as_submitted(e: SubmissionRefused) -> SubmissionRefused:
    """The refusal with each file named as it was submitted, not by its spool path
    (which says nothing to the client and something about the server)."""
    return SubmissionRefused([FileFailure(f.file.rsplit("/", 1)[-1], f.reason)
                              for f in e.failures])


def bearer_token(scope: Scope) -> str | None:
    """The credentials of ``Authorization: Bearer <token>`` as FastAPI's ``HTTPBearer``
    reads them (first such header, scheme case-insensitive, value stripped), else None."""
    for k, v in scope["headers"]:
        if k == b"authorization":
            scheme, _, param = v.decode("latin-1").partition(" ")
            token = param.strip()
            if not (scheme and token) or scheme.lower() != "bearer":
                return None
            return token
    return None


class SubmitFastPath:
    """``POST /v1/evidence`` without FastAPI's request machinery (see the module doc)."""

    def __init__(self, app: ASGIApp, *, enabled: bool = True) -> None:
        self.app, self.enabled = app, enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (not self.enabled or scope["type"] != "http" or scope["path"] != PATH
                or scope["method"] != "POST"):
            return await self.app(scope, receive, send)
        svc: Services | None = getattr(getattr(scope.get("app"), "state", None),
                                       "services", None)
        token = bearer_token(scope)
        if svc is None or token is None:
            return await self.app(scope, receive, send)
        try:
            who = svc.access.authenticate(token)  # a read: the route may do it again
        except Exception:
            return await self.app(scope, receive, send)  # the route answers (401, 503)
        if who.role != SUBMITTER:
            return await self.app(scope, receive, send)  # the route answers 403
        # From here on this request is ours: the same steps as deps.caller and the route.
        request = Request(scope, receive)
        try:
            wait = svc.limiter.take(who.token_id or who.id)
            if wait > 0:
                retry = svc.limiter.retry_after(wait)
                raise Problem(429, "rate-limited", f"too many requests for this token; "
                              f"retry in {retry} s", headers={"Retry-After": str(retry)})
            response: Any = await submit(request, svc, who)
        except problems.HANDLED as exc:  # what FastAPI's exception middleware would catch
            response = await problems.handle(request, exc)
        await response(scope, receive, send)
