"""Hostile HTTP clients against a real `evidence serve` (issue 15, point 6).

Each test speaks raw HTTP over a socket, because the point is what the server does
with bytes no well-behaved client library would send: a head that never ends, a
body that trickles, more connections than the caps allow. A normal request must
still be answered afterwards: the bounds protect the server, they do not stop it.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.api_server import Server, make_world, start_server

pytestmark = pytest.mark.slow

HEAD_TIMEOUT = 1.5
BODY_TIMEOUT = 1.5
PER_IP = 6


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    world = make_world(tmp_path_factory.mktemp("hard") / "data")
    s = start_server(world, "--max-head-bytes", "8192", "--max-headers", "20",
                     "--head-timeout", str(HEAD_TIMEOUT), "--body-timeout", str(BODY_TIMEOUT),
                     "--max-connections-per-ip", str(PER_IP), "--no-anchor")
    try:
        yield s
    finally:
        s.stop()


def connect(srv: Server) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    return s


def read_all(s: socket.socket, limit: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection; fails the test
    if the server neither closes nor answers within `limit` seconds."""
    data, closed = read_until_closed(s, limit)
    assert closed, f"the server held the connection open for {limit} s"
    return data


def read_until_closed(s: socket.socket, limit: float) -> tuple[bytes, bool]:
    s.settimeout(limit)
    out = b""
    try:
        while chunk := s.recv(65536):
            out += chunk
    except TimeoutError:
        return out, False
    except ConnectionResetError:
        pass
    return out, True


def healthy(srv: Server) -> bool:
    return httpx.get(srv.base + "/health", timeout=10).status_code == 200


def test_oversized_head_is_refused_with_431(srv: Server) -> None:
    s = connect(srv)
    # the server may close before taking every byte
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    answer = read_all(s)
    s.close()
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert healthy(srv)


def test_head_that_never_ends_is_bounded_while_it_arrives(srv: Server) -> None:
    """A head sent in pieces is counted as it arrives, not once it is complete."""
    s = connect(srv)
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    refused = False
    try:
        for _ in range(40):
            s.sendall(b"X-Pad: " + b"b" * 1000 + b"\r\n")
            time.sleep(0.01)
    except (BrokenPipeError, ConnectionResetError):
        refused = True
    answer = read_all(s)
    s.close()
    assert refused or answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_too_many_header_fields_is_refused(srv: Server) -> None:
    s = connect(srv)
    head = b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-F%d: 1\r\n" % i for i in range(30)) + b"\r\n"
    s.sendall(head)
    answer = read_all(s)
    s.close()
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_silent_connection_is_closed_after_the_head_timeout(srv: Server) -> None:
    s = connect(srv)
    start = time.monotonic()
    answer = read_all(s, limit=HEAD_TIMEOUT * 6)
    waited = time.monotonic() - start
    s.close()
    assert answer == b""
    assert waited < HEAD_TIMEOUT * 6, "the server kept a connection that never spoke"


def test_trickled_head_is_closed_at_its_deadline(srv: Server) -> None:
    """Bytes arriving slowly do not extend the head's deadline (slowloris)."""
    s = connect(srv)
    start = time.monotonic()
    closed = False
    try:
        s.sendall(b"GET /health HTTP/1.1\r\n")
        for _ in range(int(HEAD_TIMEOUT * 8)):
            time.sleep(0.25)
            s.sendall(b"X-Slow: 1\r\n")
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    if not closed:
        answer, closed = read_until_closed(s, limit=HEAD_TIMEOUT * 2)
        assert answer == b""
    s.close()
    assert closed
    assert time.monotonic() - start < HEAD_TIMEOUT * 8 * 0.25 + HEAD_TIMEOUT * 2 + 1


def test_stalled_body_is_closed_after_the_body_timeout(srv: Server) -> None:
    s = connect(srv)
    token = srv.world.tokens["acme"].encode()
    s.sendall(b"POST /v1/evidence HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token
              + b"\r\nContent-Type: multipart/form-data; boundary=zz\r\n"
              b"Content-Length: 100000\r\n\r\n--zz\r\n")
    answer = read_all(s, limit=BODY_TIMEOUT * 6)
    s.close()
    # closed, silently or with an error: never held open, never a preserved item
    assert not answer.startswith(b"HTTP/1.1 2"), answer[:200]
    assert healthy(srv)


def test_connections_per_address_are_capped(srv: Server) -> None:
    held = [connect(srv) for _ in range(PER_IP)]
    try:
        time.sleep(0.2)
        extra = connect(srv)
        answer = read_all(extra)
        extra.close()
        assert answer.startswith(b"HTTP/1.1 503 "), answer[:200]
        assert b"retry-after: 5" in answer.lower()
    finally:
        for s in held:
            s.close()
    time.sleep(0.3)
    assert healthy(srv)


def test_normal_keep_alive_requests_still_work(srv: Server) -> None:
    with httpx.Client(base_url=srv.base, timeout=10) as c:
        for _ in range(5):
            r = c.get("/health")
            assert r.status_code == 200
        time.sleep(0.2)
        assert c.get("/v1/log/checkpoint").status_code in (200, 404)
