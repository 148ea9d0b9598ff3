"""The two hottest public reads from memory (``ApiSettings.fast_reads``): the latest
checkpoint and an inclusion proof of ``seq`` to it.

:class:`ReadFastPath`, an ASGI middleware, answers ``GET /checkpoint``,
``GET /v1/log/checkpoint`` and ``GET /v1/log/proof/inclusion?seq=N`` itself when, and
only when, everything needed is already in memory (the latest checkpoint read less than
:data:`~evidence.api.services.LATEST_TTL` ago) and the query is exactly
``seq=<decimal>``; nodes of the proof not cached yet are loaded with the route's one
query in a worker thread. It makes the same bytes as the FastAPI routes (the same
:class:`~evidence.api.proofs.ProofCache` calls, the same JSON) without request
validation or dependency resolution. Anything else (other parameters, errors) goes to
the FastAPI route, the one place for validation, errors and the OpenAPI description.
Equal bytes, cold and warm: tests/equivalence/test_proof_reads.py.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from evidence.api.services import Services, services_of
from evidence.ledger.log import StoredCheckpoint
from evidence.verify.merkle import NodeId

MAX_SEQ = 2**63 - 1
PATHS = ("/checkpoint", "/v1/log/checkpoint", "/v1/log/proof/inclusion")
"""The paths answered here, before the router (the metrics label these answers by them)."""
_JSON = [(b"content-type", b"application/json")]
_TEXT = [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-cache")]
Answer = tuple[bytes, list[tuple[bytes, bytes]]]


class ReadFastPath:
    """The reads above, answered before FastAPI's router (see the module doc)."""

    def __init__(self, app: ASGIApp, *, max_cached: int = 20_000) -> None:
        self.app = app
        self._bodies: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._max = max_cached

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            svc = services_of(scope)
            if svc is not None:
                path = scope["path"]
                answer: Answer | None = None
                if path == "/v1/log/proof/inclusion":
                    found = self._inclusion(svc, scope.get("query_string", b""))
                    answer = (await self._load_and_answer(svc, found)
                              if isinstance(found, _Missing) else found)
                elif path in ("/checkpoint", "/v1/log/checkpoint") and not scope.get(
                        "query_string"):
                    cp = svc.latest_cached()
                    if cp is not None:
                        answer = (cp.note.encode(), _TEXT)
                if answer is not None:
                    body, headers = answer
                    await send({"type": "http.response.start", "status": 200, "headers": [
                        *headers, (b"content-length", str(len(body)).encode())]})
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)

    def _inclusion(self, svc: Services, query: bytes) -> Answer | _Missing | None:
        if not query.startswith(b"seq=") or not query[4:].isdigit() or len(query) > 24:
            return None
        seq = int(query[4:])
        cp = svc.latest_cached()
        if cp is None or seq >= cp.size or seq > MAX_SEQ:
            return None
        key = (seq, cp.size)
        body = self._bodies.get(key)
        if body is None:
            cache = svc.proofs
            nodes, missing = cache.collect(cache.inclusion_ids(seq, cp.size, with_root=False))
            if missing:
                return _Missing(seq, cp, nodes, missing)
            body = self._render(svc, seq, cp, nodes)
        return body, _JSON

    async def _load_and_answer(self, svc: Services, m: _Missing) -> Answer | None:
        """A proof to the latest checkpoint with nodes not cached yet: the one query the
        route would make, in a worker thread, then the same bytes. Any failure goes to
        the route, which reports it (the sizes come from a committed checkpoint, so no
        size check is needed)."""
        loop = asyncio.get_running_loop()
        try:
            m.nodes.update(await loop.run_in_executor(svc.executor, svc.proofs.load, m.missing))
            return self._render(svc, m.seq, m.cp, m.nodes), _JSON
        except Exception:
            return None

    def _render(self, svc: Services, seq: int, cp: StoredCheckpoint,
                nodes: dict[NodeId, bytes]) -> bytes:
        doc = {**svc.proofs.inclusion(seq, cp.size, nodes, cp.root), "checkpoint": cp.note}
        body = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
        self._bodies[(seq, cp.size)] = body
        if len(self._bodies) > self._max:
            self._bodies.popitem(last=False)
        return body


@dataclass
class _Missing:
    """A proof the fast path can answer after loading ``missing`` nodes."""

    seq: int
    cp: StoredCheckpoint
    nodes: dict[NodeId, bytes]
    missing: list[NodeId]
