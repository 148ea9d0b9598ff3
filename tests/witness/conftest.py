"""A witness (ours) served over real HTTP on loopback in a thread, counting the
add-checkpoint requests it receives."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn

from evidence.witness.app import create_app
from evidence.witness.cosigner import Witness
from tests.support.ports import free_ports


@dataclass
class ServedWitness:
    witness: Witness
    url: str
    requests: list[bytes] = field(default_factory=list)

    @property
    def vkey(self) -> str:
        return self.witness.verifier_key

    def size(self, origin: str) -> int:
        rec = self.witness.store.get(origin)
        return 0 if rec is None else rec.size


def serve_witness(witness: Witness) -> Iterator[ServedWitness]:
    app = create_app(witness)
    served = ServedWitness(witness, "")

    async def counting(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http" and scope["path"] == "/add-checkpoint":
            body = b""
            more = True
            chunks = []
            while more:
                msg = await receive()
                chunks.append(msg.get("body", b""))
                more = msg.get("more_body", False)
            body = b"".join(chunks)
            served.requests.append(body)
            sent = False

            async def replay():  # type: ignore[no-untyped-def]
                nonlocal sent
                if sent:
                    return {"type": "http.disconnect"}
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            return await app(scope, replay, send)
        return await app(scope, receive, send)

    (port,) = free_ports(1)
    server = uvicorn.Server(uvicorn.Config(counting, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    served.url = f"http://127.0.0.1:{port}"
    try:
        yield served
    finally:
        server.should_exit = True
        t.join(timeout=10)


@pytest.fixture
def served_witness(tmp_path: Path) -> Iterator[ServedWitness]:
    yield from serve_witness(Witness.init(tmp_path / "witness", "witness.example/w1"))
