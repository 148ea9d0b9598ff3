"""The witness over HTTP (c2sp.org/tlog-witness), as a FastAPI app served by uvicorn.

``POST /add-checkpoint``: the body is read up to :data:`MAX_BODY_SIZE` (a larger
one is refused with 413 without reading the rest), handed to
:meth:`Witness.add_checkpoint` in a worker thread, and answered:

* 200, ``text/plain``: the cosignature line(s);
* 409, ``text/x.tlog.size``: ``<size>\\n``, the size the witness last cosigned;
* 400 / 403 / 404 / 409 (fork) / 422: ``text/plain``, ``<kind>: <reason>\\n``;
* 429 ``rate-limited`` (with ``Retry-After``): the log spent its daily budget (``qpd``).

``GET /`` and ``GET /info``: JSON with the witness's verifier key and the logs it
follows (origin, pinned keys, latest cosigned size, root and checkpoint).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from evidence.witness.core import Refusal
from evidence.witness.cosigner import Witness, log
from evidence.witness.protocol import MAX_BODY_SIZE, SIZE_CONTENT_TYPE, format_size_response


class _TooLarge(Exception):
    pass


DRAIN_LIMIT = 8 * MAX_BODY_SIZE
"""An oversized body up to this size is read and dropped before the 413 is sent: closing
a socket with unread data makes the kernel send a reset, and the client may then never
see the answer. Beyond it, the connection is simply cut."""


async def _read_body(request: Request, cap: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise _TooLarge
    if declared is not None and int(declared) > DRAIN_LIMIT:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > DRAIN_LIMIT:
            raise _TooLarge
        if size <= cap:
            chunks.append(chunk)
    if size > cap:
        raise _TooLarge
    return b"".join(chunks)


def refusal_response(r: Refusal) -> Response:
    if r.size_conflict:
        # exactly this type: no "; charset=" (Starlette adds one to text/* media types, and
        # clients such as transparency-dev's reject it)
        return Response(format_size_response(r.size), status_code=409,
                        headers={"Content-Type": SIZE_CONTENT_TYPE})
    headers = {} if r.retry_after is None else {"Retry-After": str(r.retry_after)}
    return PlainTextResponse(f"{r.kind}: {r.reason}\n", status_code=r.status, headers=headers)


def create_app(witness: Witness) -> FastAPI:
    app = FastAPI(title=f"evidence witness {witness.name}", docs_url=None, redoc_url=None,
                  openapi_url=None)

    @app.post("/add-checkpoint")
    async def add_checkpoint(request: Request) -> Response:
        try:
            body = await _read_body(request, MAX_BODY_SIZE)
        except _TooLarge:
            log.warning("refused add-checkpoint: body larger than %d bytes", MAX_BODY_SIZE)
            return PlainTextResponse(f"malformed: request body is larger than {MAX_BODY_SIZE} "
                                     "bytes\n", status_code=413)
        try:
            line = await run_in_threadpool(witness.add_checkpoint, body)
        except Refusal as r:
            return refusal_response(r)
        return PlainTextResponse(line, status_code=200)

    @app.get("/")
    @app.get("/info")
    def info() -> JSONResponse:
        return JSONResponse(witness.info())

    return app
