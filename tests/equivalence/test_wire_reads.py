"""The public reads answered in uvicorn's protocol (evidence/api/hot/wire.py, through
evidence/api/hardening.py) are the ASGI answers byte for byte: a real ``evidence serve``
with ``[serve] fast_wire`` on and one with it off (everything through ASGI) get the same
requests over raw sockets and must send the same bytes back, with only the ``date``
header's value set aside. Each request on its own connection, then all of them pipelined
on one kept-alive connection (answers in order; wire answers between ASGI ones), an
HTTP/1.0 request, and the head bounds of hardening.py on a tile request. That the
protocol answered the tiles itself shows in the access log: no line for them."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from typing import Any

import pytest

from evidence.ledger.log import Ledger
from evidence.ledger.tiles import sync_tiles
from evidence.ledger.tiles_store import FilesystemTileStore
from tests.support.api_server import Server, World, start_server

# every test here talks to a served `evidence serve` process: the full run only
pytestmark = pytest.mark.slow

MARK = "GET /health?end-of-singles HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
N = 700  # level 0: tiles 000, 001 full, 002.p/188; level 1: 000.p/2
ID = "X-Request-Id: wire-test-1\r\n"

WIRE = ["/tlog/tile/0/000", "/tlog/tile/0/001", "/tlog/tile/0/002.p/188",
        "/tlog/tile/1/000.p/2", "/tlog/tile/entries/000", "/tlog/tile/entries/002.p/188",
        "/tlog/tile/0/000?x=1", "/tlog/checkpoint"]
"""Tile reads the protocol answers itself (the store holds each file)."""
ASGI = [
    # partial tiles the store does not hold (cut from the wider one by the route)
    "/tlog/tile/0/002.p/10", "/tlog/tile/entries/002.p/5",
    # past the published tree: 404 tile-not-in-tree
    "/tlog/tile/0/003", "/tlog/tile/0/002", "/tlog/tile/0/002.p/189", "/tlog/tile/2/000.p/1",
    "/tlog/tile/entries/005", "/tlog/tile/1/000",
    # malformed: 400 bad-tile-path
    "/tlog/tile/0/0", "/tlog/tile/00/000", "/tlog/tile/0/000.p/0", "/tlog/tile/0/000.p/256",
    "/tlog/tile/0/x000/001", "/tlog/tile/64/000", "/tlog/tile/0/000/", "/tlog/tile/",
    "/tlog/tile/0/%30%30%30", "/tlog/tile//0/000", "/tlog/tile/0/000#frag",
]
PROOFS = ["/v1/log/proof/inclusion?seq=0", "/v1/log/proof/inclusion?seq=699",
          "/v1/log/proof/inclusion?seq=255", "/v1/log/proof/inclusion?seq=007",
          "/v1/log/proof/inclusion?seq=700", "/v1/log/proof/inclusion?seq=-1",
          "/v1/log/proof/inclusion?seq=1&size=700", "/v1/log/proof/inclusion?seq=x",
          "/v1/log/proof/inclusion", "/checkpoint", "/v1/log/checkpoint",
          "/checkpoint?x=1"]
"""Proofs and checkpoints: answered by the protocol while the latest checkpoint is in
memory, else through ASGI; every answer the same either way."""


def _heads() -> list[bytes]:
    """Each request's head (the last header line and the blank line are added later)."""
    out = []
    for path in WIRE + ASGI + PROOFS:
        out.append(f"GET {path} HTTP/1.1\r\nHost: t\r\n{ID}".encode())
    tile = "/tlog/tile/0/001"
    for extra in ("Accept-Encoding: gzip\r\n", "Accept-Encoding: identity\r\n",
                  "Origin: https://court.example\r\n", "Content-Length: 0\r\n",
                  "Transfer-Encoding: identity\r\n", "Expect: 100-continue\r\n",
                  "X-Request-Id: bad id\u00e9\r\n"):
        for path in (tile, "/tlog/tile/entries/001", "/v1/log/proof/inclusion?seq=3"):
            out.append(f"GET {path} HTTP/1.1\r\nHost: t\r\n{ID}{extra}".encode("latin-1"))
    for path in (tile, "/tlog/checkpoint", "/v1/log/proof/inclusion?seq=3"):
        out.append(f"HEAD {path} HTTP/1.1\r\nHost: t\r\n{ID}".encode())
        out.append(f"POST {path} HTTP/1.1\r\nHost: t\r\n{ID}Content-Length: 0\r\n".encode())
    out.append(f"GET http://t{tile} HTTP/1.1\r\nHost: t\r\n{ID}".encode())  # absolute form
    for path in WIRE + ASGI:  # HEAD of every tile route's request: the GET's head
        out.append(f"HEAD {path} HTTP/1.1\r\nHost: t\r\n{ID}".encode())
    return out


def _pipelined(heads: list[bytes]) -> list[int]:
    """The requests sent pipelined: not those a server may refuse by closing."""
    return [i for i, h in enumerate(heads) if b"Transfer-Encoding" not in h
            and b"Expect" not in h]


def _normal(data: bytes) -> bytes:
    """The bytes with each ``date`` value set aside (the only header that may differ),
    and a fresh request id (asked for by an unsafe X-Request-Id) made comparable."""
    data = re.sub(rb"\r\ndate: [^\r]*", b"\r\ndate: -", data)
    return re.sub(rb"\r\nx-request-id: [0-9a-f]{24}\r\n", b"\r\nx-request-id: fresh\r\n", data)


def _exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` on a new connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(1 << 16):
            chunks.append(chunk)
    return b"".join(chunks)


def _answers(srv: Server) -> dict[str, bytes]:
    heads = _heads()
    out = {f"single {i}": _normal(_exchange(srv.port, h + b"Connection: close\r\n\r\n"))
           for i, h in enumerate(heads)}
    _exchange(srv.port, MARK.encode())  # in the access log: the single requests end here
    # all of them on one connection, written at once: the last one closes it
    some = [heads[i] for i in _pipelined(heads)]
    pipelined = b"".join(h + b"\r\n" for h in some[:-1]) + some[-1] + (
        b"Connection: close\r\n\r\n")
    out["pipelined"] = _normal(_exchange(srv.port, pipelined))
    out["http/1.0"] = _normal(_exchange(
        srv.port, f"GET /tlog/tile/0/000 HTTP/1.0\r\n{ID}\r\n".encode()))
    out["http/1.0 keep-alive"] = _normal(_exchange(
        srv.port, f"GET /tlog/tile/0/000 HTTP/1.0\r\n{ID}Connection: keep-alive\r\n\r\n"
                  f"GET /tlog/checkpoint HTTP/1.1\r\nHost: t\r\n{ID}Connection: close\r\n\r\n"
                  .encode()))
    many = "".join(f"X-H{i}: v\r\n" for i in range(101))  # over --max-headers (100)
    out["too many headers"] = _normal(_exchange(
        srv.port, f"GET /tlog/tile/0/000 HTTP/1.1\r\nHost: t\r\n{many}\r\n".encode()))
    big = "X-Big: " + "b" * (70 << 10) + "\r\n"  # over --max-head-bytes (64 KiB)
    out["head too large"] = _normal(_exchange(
        srv.port, f"GET /tlog/tile/0/000 HTTP/1.1\r\nHost: t\r\n{big}\r\n".encode()))
    return out


@pytest.fixture(scope="module")
def tiled(tmp_path_factory: pytest.TempPathFactory) -> World:
    data = tmp_path_factory.mktemp("wire") / "data"
    led = Ledger.create(data, "wire.example/log", checkpoint_interval=3600)
    try:
        led.append_many([("custody.note", {"i": i}) for i in range(300)])
        sync_tiles(led, FilesystemTileStore(data / "tlog"), checkpoint=led.sign_checkpoint_now())
        led.append_many([("custody.note", {"i": i, "pad": "x" * (i % 50)})
                         for i in range(300, N)])
        sync_tiles(led, FilesystemTileStore(data / "tlog"), checkpoint=led.sign_checkpoint_now())
    finally:
        led.close()
    return World(data, None)


def _serve(world: World, wire: bool, monkeypatch: pytest.MonkeyPatch, *args: str
           ) -> tuple[dict[str, bytes], str]:
    monkeypatch.setenv("EVIDENCE_SERVE_FAST_WIRE", "true" if wire else "false")
    srv = start_server(world, "--no-anchor", *args)
    try:
        answers = _answers(srv)
    finally:
        srv.stop()
    return answers, srv.log.read_text(errors="replace")


def _same(wire: dict[str, bytes], asgi: dict[str, bytes]) -> None:
    assert wire.keys() == asgi.keys()
    for key in wire:
        assert wire[key] == asgi[key], (key, _heads()[int(key.split()[1])]
                                        if key.startswith("single") else "")


def test_the_protocol_answers_as_asgi(tiled: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without access lines (``--no-access-log``): the protocol answers tiles, checkpoints
    and proofs (these while the latest checkpoint is in memory)."""
    wire, _ = _serve(tiled, True, monkeypatch, "--no-access-log")
    asgi, _ = _serve(tiled, False, monkeypatch, "--no-access-log")
    _same(wire, asgi)

    # the answers are what they should be, not merely equal
    heads = _heads()
    first = wire[f"single {heads.index(next(h for h in heads if b' /tlog/tile/0/001 ' in h))}"]
    head, _, body = first.partition(b"\r\n\r\n")
    assert head.split(b"\r\n") == [
        b"HTTP/1.1 200 OK", b"date: -", b"server: uvicorn",
        b"cache-control: public, max-age=31536000, immutable", b"content-length: 8192",
        b"content-type: application/octet-stream", b"vary: Origin",
        b"x-request-id: wire-test-1", b"connection: close"]
    assert len(body) == 8192
    some = _pipelined(heads)
    assert wire["pipelined"].count(b"HTTP/1.1 ") == len(some)
    assert wire["pipelined"].count(b"HTTP/1.1 200 OK") == sum(
        1 for i in some if wire[f"single {i}"].startswith(b"HTTP/1.1 200 OK"))
    statuses = [int(wire[f"single {i}"][9:12]) for i in range(len(heads))]
    at = {p: i for i, p in enumerate(WIRE + ASGI + PROOFS)}
    assert statuses[at["/tlog/tile/0/003"]] == 404 and statuses[at["/tlog/tile/0/0"]] == 400
    assert statuses[at["/v1/log/proof/inclusion?seq=699"]] == 200
    assert wire["http/1.0 keep-alive"].count(b"HTTP/1.1 200 OK") == 1  # 1.0: closed after
    # HEAD of a tile route: the GET's status and headers (Content-Length the body's), no
    # body, answered by the protocol (wire) and in ASGI (asgi) alike; the API's reads: 405
    head_of = {}
    for n, path in enumerate(WIRE + ASGI):
        got = head_of[path] = wire[f"single {len(heads) - len(WIRE + ASGI) + n}"]
        assert got == wire[f"single {n}"].partition(b"\r\n\r\n")[0] + b"\r\n\r\n", path
    assert head_of["/tlog/tile/0/001"].startswith(b"HTTP/1.1 200 OK")
    assert b"\r\ncontent-length: 8192\r\n" in head_of["/tlog/tile/0/001"]
    assert head_of["/tlog/tile/0/003"].startswith(b"HTTP/1.1 404 ")  # a problem's head
    assert head_of["/tlog/tile/0/0"].startswith(b"HTTP/1.1 400 ")
    proof_head = next(i for i, h in enumerate(heads)
                      if h.startswith(b"HEAD /v1/log/proof/inclusion?seq=3 "))
    assert wire[f"single {proof_head}"].startswith(b"HTTP/1.1 405 ")
    assert wire["too many headers"].startswith(b"HTTP/1.1 431 ")
    assert wire["head too large"].startswith(b"HTTP/1.1 431 ")


def test_tiles_have_no_access_line(tiled: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """With uvicorn's access lines: the protocol answers the tiles without one (as a CDN
    would); the API's reads keep theirs (they go through ASGI); the bytes are the same."""
    wire, wire_log = _serve(tiled, True, monkeypatch, "--log-level", "info", "--access-log")
    asgi, asgi_log = _serve(tiled, False, monkeypatch, "--log-level", "info", "--access-log")
    _same(wire, asgi)
    # on their own connections (pipelined, a full write buffer sends the next ones through
    # ASGI); not 0/001, also asked with an Origin, nor 0/000, the path uvicorn logs for
    # 0/%30%30%30 and 0/000#frag
    wire_log = wire_log.split("/health?end-of-singles")[0]
    asgi_log = asgi_log.split("/health?end-of-singles")[0]
    for path in set(WIRE) - {"/tlog/tile/0/001", "/tlog/tile/0/000"}:
        for method in ("GET", "HEAD"):
            line = f'"{method} {path} HTTP/1.1" 200'
            assert line in asgi_log, path
            assert line not in wire_log, path
    assert '"GET /tlog/tile/0/003 HTTP/1.1" 404' in wire_log  # problems go through ASGI
    for path in ("/checkpoint", "/v1/log/proof/inclusion?seq=699"):
        assert f'"GET {path} HTTP/1.1" 200' in wire_log, path


class _Spy:
    """An ASGI app around the service's that notes each request reaching ASGI."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.seen.append(f"{scope['path']}?{scope['query_string'].decode()}")
        await self.app(scope, receive, send)


def _wire_counts(port: int) -> dict[str, int]:
    """``evidence_http_wire_answers_total`` by route, from ``GET /metrics``."""
    text = _exchange(port, b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    found = re.findall(rb'evidence_http_wire_answers_total\{route="([^"]+)"\} ([0-9.e+]+)', text)
    return {r.decode(): int(float(n)) for r, n in found}


def test_proofs_are_answered_below_asgi(tiled: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process uvicorn with the protocol, over real sockets, the latest checkpoint kept
    fresh: once it is read, proofs and checkpoints never reach ASGI, and their bodies are
    those ASGI gives (asked with an Origin, which the protocol leaves to ASGI); a tile's
    file is sent by the kernel (``sendfile``) and is the stored file's bytes."""
    import uvicorn

    from evidence.api import services
    from evidence.api.app import create_app
    from evidence.api.hardening import PROTOCOL
    from evidence.api.settings import ApiSettings
    from tests.support.ports import free_ports

    monkeypatch.setattr(services, "LATEST_TTL", 3600.0)
    sent_files: list[int] = []  # tiles sent by the kernel (hardening._send_file)
    real_sendfile = os.sendfile

    def counting_sendfile(out: int, in_: int, offset: int, count: int) -> int:
        n = real_sendfile(out, in_, offset, count)
        sent_files.append(n)
        return n

    monkeypatch.setattr(os, "sendfile", counting_sendfile)
    spy = _Spy(create_app(ApiSettings(data_dir=str(tiled.data), anchor=False, observe=True,
                                      metrics="public")))
    (port,) = free_ports(1)
    server = uvicorn.Server(uvicorn.Config(spy, host="127.0.0.1", port=port, http=PROTOCOL,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive()
            time.sleep(0.05)
        ask = f"GET /v1/log/proof/inclusion?seq=1 HTTP/1.1\r\nHost: t\r\n{ID}"
        _exchange(port, (ask + "Connection: close\r\n\r\n").encode())  # reads the checkpoint
        before = _wire_counts(port)
        spy.seen.clear()
        paths = [f"/v1/log/proof/inclusion?seq={m}" for m in (0, 1, 255, 256, 511, 699)]
        paths += ["/checkpoint", "/v1/log/checkpoint", "/tlog/checkpoint", "/tlog/tile/0/001"]
        for path in paths:
            head = f"GET {path} HTTP/1.1\r\nHost: t\r\n{ID}"
            fast = _exchange(port, (head + "Connection: close\r\n\r\n").encode())
            slow = _exchange(port, (head + "Origin: null\r\nConnection: close\r\n\r\n")
                             .encode())
            assert fast.startswith(b"HTTP/1.1 200 OK\r\n"), path
            assert fast.partition(b"\r\n\r\n")[2] == slow.partition(b"\r\n\r\n")[2], path
            assert b"\r\naccess-control-allow-origin: *\r\n" in slow
            if path.startswith("/tlog/tile/"):  # its file, sent whole with sendfile
                assert sent_files == [8192]
                assert fast.partition(b"\r\n\r\n")[2] == (
                    tiled.data / "tlog" / path[6:]).read_bytes()
        assert sorted(set(spy.seen)) == sorted(  # only the requests with an Origin
            p if "?" in p else p + "?" for p in paths)
        assert len(spy.seen) == len(paths)
        # counted by route in evidence_http_wire_answers_total (added up once a second)
        want = {"/v1/log/proof/inclusion": 6, "/checkpoint": 1, "/v1/log/checkpoint": 1,
                "/tlog/checkpoint": 1, "/tlog/tile/{path:path}": 1}
        deadline = time.monotonic() + 60
        while (got := {r: n - before.get(r, 0) for r, n in _wire_counts(port).items()}
               ) != want:
            assert time.monotonic() < deadline, got
            time.sleep(0.2)
        # without an X-Request-Id (after the counts: these are answered and counted too):
        # a fresh id each, as observe.request_id makes them
        ids = [re.search(rb"\r\nx-request-id: ([^\r]*)\r\n", _exchange(port, (
            b"GET /tlog/tile/0/001 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        ))) for _ in range(3)]
        assert all(m and re.fullmatch(rb"[0-9a-f]{24}", m[1]) for m in ids)
        assert len({m[1] for m in ids if m}) == 3
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _read_until_closed(s: socket.socket, limit: float) -> tuple[bytes, bool]:
    s.settimeout(limit)
    out = b""
    try:
        while chunk := s.recv(1 << 16):
            out += chunk
    except TimeoutError:
        return out, False
    except ConnectionResetError:
        pass
    return out, True


def test_kept_alive_after_a_wire_answer_the_bounds_hold(tiled: World,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """After answers of the protocol's own (no timer armed for them), a connection kept
    alive still serves its next request, is closed when idle (uvicorn's keep-alive
    timeout, 5 s), and a head trickled on it is closed at the head deadline (slowloris)."""
    monkeypatch.setenv("EVIDENCE_SERVE_FAST_WIRE", "true")
    head_timeout = 1.5
    srv = start_server(tiled, "--no-anchor", "--no-access-log",
                       "--head-timeout", str(head_timeout))
    ask = f"GET /tlog/tile/0/000 HTTP/1.1\r\nHost: t\r\n{ID}\r\n".encode()
    try:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as s:
            for _ in range(3):  # one request at a time on the same connection
                s.sendall(ask)
                got = b""
                while len(got) < 8192 or b"\r\n\r\n" not in got:
                    got += s.recv(1 << 16)
                head, _, body = got.partition(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200 OK") and len(body) == 8192
                assert b"connection: close" not in head
            rest, closed = _read_until_closed(s, limit=60)
            assert closed and rest == b"", "an idle kept-alive connection was never closed"

        with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as s:
            s.sendall(ask)
            got = b""
            while len(got) < 8192 or b"\r\n\r\n" not in got:
                got += s.recv(1 << 16)
            start = time.monotonic()
            closed = False
            try:
                s.sendall(b"GET /tlog/tile/0/001 HTTP/1.1\r\n")
                for _ in range(int(head_timeout * 8)):
                    time.sleep(0.25)
                    s.sendall(b"X-Slow: 1\r\n")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
            if not closed:
                rest, closed = _read_until_closed(s, limit=head_timeout * 2)
                assert rest == b""
            assert closed
            assert time.monotonic() - start < head_timeout * 8 * 0.25 + head_timeout * 2 + 1
    finally:
        srv.stop()
