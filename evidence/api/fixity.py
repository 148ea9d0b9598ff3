"""Serving a stored file only as the preserved bytes.

* A file up to :data:`~evidence.ledger.blobs.VERIFY_FIRST_MAX` (8 MiB) is read and hashed
  whole before anything is recorded or sent, then sent from memory: a damaged one gets a
  problem answer and the client receives none of its bytes.
* A larger file is hashed while it streams (:meth:`BlobStore.iter_verified`); the last
  chunk is held back until the hash matched. On a mismatch the response is cut off before
  its last chunk (the connection is closed short of ``Content-Length``): the client sees
  a truncated transfer, never a complete wrong body under the preserved ETag.
* A byte range of a larger file is served chunk by chunk, each 1 MiB chunk only after it
  hashed to its recorded digest (:mod:`evidence.ledger.blobs.chunks`); the first one is
  checked before the headers are sent.

Every failure raises an operator alert (:class:`FixityAlerts`: ERROR log line and the
alert file that ``evidence status`` and ``/health`` count) and appends an
``evidence.accessed`` entry with ``"fixity": "damaged" | "missing"``.

Status codes (docs/api.md): ``evidence-damaged`` and ``evidence-missing`` are **503**
with ``Retry-After``. Not 4xx: the client did nothing wrong and must not change its
request. Not 500: it is a diagnosed condition with a stable code, not a bug. Not 410,
which this API keeps for a purge ordered by a court (gone on purpose, for ever): a damaged
or missing copy can be restored from a replica or a backup, after which the same request
succeeds, so it is, from the client's side, a temporary unavailability of the service.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from evidence.api.problems import Problem
from evidence.ledger.blobs import BlobDamaged, BlobNotFound
from evidence.ledger.blobs.fixity import FixityAlerts

log = logging.getLogger("evidence.fixity")

RETRY_AFTER = "3600"
"""A repair is an operator's work (restore from a replica or a backup): an hour."""


def alerts_for(svc: object) -> FixityAlerts:
    """The alert file of the service's data directory (log only if it has none)."""
    ledger = getattr(svc, "ledger", None)
    cfg = getattr(ledger, "config", None)
    data_dir = getattr(cfg, "data_dir", None)
    return FixityAlerts(None if data_dir is None else Path(data_dir) / "fixity")


def state_of(exc: BaseException) -> str:
    return "missing" if isinstance(exc, BlobNotFound) else "damaged"


def problem(state: str, evidence_id: str, sha256: str) -> Problem:
    detail = (f"the stored copy of file {sha256} of {evidence_id} is "
              + ("missing" if state == "missing" else
                 "damaged: its bytes no longer match the preserved SHA-256")
              + "; nothing was served. The operator has been alerted; retry after a repair.")
    return Problem(503, f"evidence-{state}", detail, headers={"Retry-After": RETRY_AFTER},
                   sha256=sha256, evidence_id=evidence_id)


class VerifiedStream(Response):
    """A streamed body whose iterator may raise :class:`BlobDamaged` (or vanish) half-way:
    then ``on_failure`` runs (alert, custody entry) and the response is left incomplete,
    so the server closes the connection short of ``Content-Length``."""

    def __init__(self, first: bytes, rest: Iterator[bytes], *, status_code: int,
                 headers: dict[str, str], media_type: str,
                 on_failure: Callable[[BaseException], None]) -> None:
        super().__init__(content=None, status_code=status_code, headers=headers,
                         media_type=media_type)
        self.first, self.rest, self.on_failure = first, rest, on_failure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gone = anyio.Event()

        async def listen() -> None:  # a client that hangs up stops the reading
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(listen)
            try:
                await self._stream(send, gone)
            finally:
                tg.cancel_scope.cancel()

    async def _stream(self, send: Send, gone: anyio.Event) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})
        rest = iterate_in_threadpool(self.rest)
        try:
            if self.first:
                await send({"type": "http.response.body", "body": self.first,
                            "more_body": True})
            async for chunk in rest:
                if gone.is_set():
                    return
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except (BlobDamaged, BlobNotFound) as e:
            await run_in_threadpool(self.on_failure, e)
            return  # incomplete on purpose: the connection is closed, the transfer cut off
        except OSError as e:  # the disk under the file failed mid-read: the same answer
            await run_in_threadpool(self.on_failure, BlobDamaged(f"read error: {e}"))
            return
        finally:
            close = getattr(self.rest, "close", None)
            if close is not None:  # the open file of the generator, now
                await run_in_threadpool(close)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
