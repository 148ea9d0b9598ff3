"""The HTTP edge under hostile clients: bounded request heads, timeouts, connection caps.

uvicorn's httptools protocol buffers a request head of any size, waits forever for a
new connection's first byte and for a request body that trickles in, and accepts any
number of connections from one address. Each of those lets a few clients hold the
server's memory or its sockets without ever sending a valid request. This
protocol is uvicorn's own, with five bounds added where the bytes arrive:

- the request head (request line and header fields) is at most ``max_head_bytes``,
  counted as it arrives, and has at most ``max_headers`` fields: else 431 and close;
- a request head must be complete within ``head_timeout`` seconds of the connection
  opening or of the request's first byte: else the connection is closed;
- while a request body is being received, no more than ``body_timeout`` seconds may
  pass without a byte: else the connection is closed (the handler sees a disconnect);
- at most ``max_connections_per_ip`` open connections per client address and
  ``max_connections`` in all: a connection over either gets 503 with Retry-After and
  is closed at once.

Behind a reverse proxy every client has the proxy's address: raise the per-address
cap there, and let the proxy enforce its own (docs/operations.md).

The limits come from the environment (``EVIDENCE_HTTP_LIMITS``, JSON written by
``evidence serve``), because uvicorn builds the protocol in each worker process
from an import string.

The protocol also answers the public reads of :mod:`evidence.api.hot.wire` itself, once
their head is parsed, without an ASGI scope or task (``app.state.wire``; off with
``[serve] fast_wire = false``). It does so only when the answer can go out at once and in
order: no earlier request of the connection is still being answered through ASGI (a
pipelined request waits its turn there), the socket's write buffer is not over its high
mark (uvicorn's flow control; then the request goes through ASGI, which waits for the
client to read), and the connection is not closing. The bounds above hold for these
requests as for any: they are counted while their head is parsed. After the answer the
connection is what uvicorn leaves after an ASGI answer: closed if the request did not
keep it alive, else waiting for the next request under uvicorn's keep-alive timeout.
A tile's file is sent by the kernel (``sendfile``) when nothing is buffered before it
(:meth:`HardenedHttpProtocol._send_file`), else read and written in order.
Held by tests/equivalence/test_wire_reads.py (pipelined, keep-alive, ``Connection:
close``, HTTP/1.0, the same bytes with the switch off).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

ENV = "EVIDENCE_HTTP_LIMITS"
PROTOCOL = "evidence.api.hardening:HardenedHttpProtocol"
"""The import string ``evidence serve`` gives uvicorn as its ``http`` protocol."""


@dataclass(frozen=True)
class HttpLimits:
    max_head_bytes: int = 64 << 10
    max_headers: int = 100
    head_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 2048
    max_connections_per_ip: int = 64

    def to_env(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_env(cls) -> HttpLimits:
        raw = os.environ.get(ENV)
        if not raw:
            return cls()
        return cls(**{k: v for k, v in json.loads(raw).items()
                      if k in cls.__dataclass_fields__})


def _plain_response(status: bytes, message: str, extra: bytes = b"") -> bytes:
    body = message.encode("ascii")
    return (b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
            + extra + b"content-length: " + str(len(body)).encode() + b"\r\n"
            + b"connection: close\r\n\r\n" + body)


TOO_LARGE = _plain_response(b"431 Request Header Fields Too Large",
                            "Request header fields too large.")
BUSY = _plain_response(b"503 Service Unavailable", "Too many connections; retry later.",
                       b"retry-after: 5\r\n")


class HardenedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the bounds in the module docstring."""

    limits: ClassVar[HttpLimits | None] = None
    open_per_ip: ClassVar[Counter[str]] = Counter()
    """Open connections per client address in this worker process (one event loop)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if HardenedHttpProtocol.limits is None:
            HardenedHttpProtocol.limits = HttpLimits.from_env()
        self._limits = HardenedHttpProtocol.limits
        self._ip: str | None = None
        self._refused = False
        self._in_head = True
        self._head_bytes = 0
        self._header_count = 0
        self._parsed_bytes = 0
        self._in_body = False
        self._last_byte = 0.0
        self._watch: asyncio.TimerHandle | None = None
        self._watch_at = 0.0  # when the watch fires (loop time)
        self._begun = True  # a head is awaited or arriving (from the connection's start)
        self._head_since = 0.0  # its deadline counts from here
        self._head_check = 0.0  # the longest the watch waits while a head arrives
        self._wire_idle_since: float | None = None  # kept alive after a wire answer
        self._logged = False  # uvicorn writes access lines
        self._wire: Any = None  # the app's evidence.api.hot.wire.Wire, if it has one
        self._wire_answer: tuple[bytes, bytes] | None = None  # head and body, when complete
        self._wire_close = False
        self._sock: socket.socket | None = None  # the transport's, for sendfile

    # -- connection caps -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        lim = self._limits
        self._ip = self.client[0] if self.client else None
        if self._ip is not None:
            self.open_per_ip[self._ip] += 1
        if (len(self.connections) > lim.max_connections
                or (self._ip is not None
                    and self.open_per_ip[self._ip] > lim.max_connections_per_ip)):
            self._refuse(BUSY)
            return
        self._last_byte = self._head_since = self.loop.time()
        self._head_check = lim.head_timeout
        if not self.root_path:  # the hot paths answer only without a root path, as in ASGI
            self._wire = wire_of(self.app)
            if self._wire is not None:
                # the connection's socket, for tiles sent with sendfile (_send_file): a
                # descriptor of its own (dup), so closing it never closes another's
                raw = transport.get_extra_info("socket")
                fileno = getattr(raw, "fileno", None)
                if fileno is not None and getattr(raw, "family", None) in (
                        socket.AF_INET, socket.AF_INET6):
                    self._sock = socket.socket(raw.family, socket.SOCK_STREAM,
                                               fileno=os.dup(fileno()))
                # uvicorn writes a line per request (the API's reads keep theirs)
                self._logged = self.access_log and self.access_logger.isEnabledFor(
                    logging.INFO)
                # one watch for the head and the keep-alive of the wire's answers, which
                # then need no timer of their own: it checks at least this often
                self._head_check = min(lim.head_timeout, self.timeout_keep_alive)
        self._arm(self._head_check)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._wire_answer is not None and type(self._wire_answer[1]) is not bytes:
            os.close(self._wire_answer[1].fd)  # a tile's file never sent
            self._wire_answer = None
        if self._ip is not None:
            self.open_per_ip[self._ip] -= 1
            if self.open_per_ip[self._ip] <= 0:
                del self.open_per_ip[self._ip]
            self._ip = None
        super().connection_lost(exc)

    def _refuse(self, response: bytes) -> None:
        self._refused = True
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()

    # -- timeouts --------------------------------------------------------------------------

    def _arm(self, delay: float) -> None:
        self._disarm()
        self._watch = self.loop.call_later(delay, self._check_idle)
        self._watch_at = self.loop.time() + delay

    def _disarm(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None

    def _check_idle(self) -> None:
        """One timer per connection, re-armed for the time left: no timer per chunk."""
        self._watch = None
        if self.transport.is_closing():
            return
        if self._in_head and self._begun:
            # the head's deadline counts from its first byte (or the connection), not the last
            left = self._head_since + self._limits.head_timeout - self.loop.time()
            if left > 0:
                self._arm(min(left, self._head_check))
            else:
                self.transport.close()
            return
        if self._in_head and self._wire_idle_since is not None:
            # kept alive after a wire answer: uvicorn's keep-alive timeout, from the answer
            left = self._wire_idle_since + self.timeout_keep_alive - self.loop.time()
            if left > 0:
                self._arm(left)
            else:
                self.transport.close()
            return
        if self._in_body:
            if self.flow is not None and self.flow.read_paused:
                # the server stopped reading (the handler is behind): the pause is ours
                self._last_byte = self.loop.time()
            left = self._last_byte + self._limits.body_timeout - self.loop.time()
            if left > 0:
                self._watch = self.loop.call_later(left, self._check_idle)
            else:
                self.transport.close()

    # -- bytes and parser callbacks --------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._last_byte = self.loop.time()
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if (not self._refused and self._in_head
                and self._head_bytes > self._limits.max_head_bytes):
            self._refuse(TOO_LARGE)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._parsed_bytes = 0
        self._header_count = 0
        self._wire_idle_since = None
        if not self._begun:  # a kept-alive connection starting its next request
            self._begun = True
            self._head_since = self._last_byte
        if self._watch is None:
            self._arm(self._head_check)

    def on_url(self, url: bytes) -> None:
        if self._refused:
            return
        self._parsed_bytes += len(url)
        if self._parsed_bytes > self._limits.max_head_bytes:
            self._refuse(TOO_LARGE)
            return
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """Counted again here: a head that arrives in one read is complete before
        ``data_received`` could look at what the parser buffered."""
        if self._refused:
            return
        self._header_count += 1
        self._parsed_bytes += len(name) + len(value) + 4
        if (self._header_count > self._limits.max_headers
                or self._parsed_bytes > self._limits.max_head_bytes):
            self._refuse(TOO_LARGE)
            return
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return  # refused inside this read: no request starts
        self._in_head = False
        self._begun = False
        if self._wire is not None and self._wire_may_answer():
            keep_alive = (self.parser.get_http_version() != "1.0"
                          and self.parser.should_keep_alive())
            answer = self._wire.answer(self.parser.get_method(), self.url, self.headers,
                                       keep_alive, self.server_state.default_headers,
                                       self._logged)
            if answer is not None:  # no body follows (Wire.answer): the message is complete
                self._wire_answer, self._wire_close = answer, not keep_alive
                return
        self._in_body = True
        self._arm(self._limits.body_timeout)
        super().on_headers_complete()

    def _wire_may_answer(self) -> bool:
        """Whether an answer written now goes out in order and within the flow control
        (see the module doc)."""
        return ((self.cycle is None or self.cycle.response_complete) and not self.pipeline
                and not self.flow.write_paused and not self.expect_100_continue
                and not self.transport.is_closing() and not self.parser.should_upgrade())

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._in_body = False
        self._in_head = True  # whatever arrives next is the next request's head
        self._head_bytes = 0
        answer = self._wire_answer
        if answer is None:
            self._disarm()
            super().on_message_complete()
            return
        # as uvicorn ends an ASGI answer (RequestResponseCycle.send, on_response_complete),
        # but with the watch for its keep-alive timeout: no timer armed per request
        self._wire_answer = None
        head, body = answer
        if type(body) is bytes:
            self.transport.writelines(answer)
        else:
            self._send_file(head, body)
        self.server_state.total_requests += 1
        if self._wire_close:
            self.transport.close()
            return
        idle = self._wire_idle_since = self._last_byte
        if self._watch is None or self._watch_at > idle + self.timeout_keep_alive:
            self._arm(self.timeout_keep_alive)

    def _send_file(self, head: bytes, body: Any) -> None:
        """A wire answer whose body is a tile's open file (``TileFile``, closed here):
        when nothing is buffered in the transport (so nothing can be overtaken), the
        head is sent with ``MSG_MORE`` on the connection's socket and the file with
        ``sendfile`` (the kernel copies it from the page cache: no read into Python, one
        TCP segment for head and body); whatever the socket did not take, and every
        answer behind buffered bytes, is read and written through the transport in
        order. The bytes on the wire are the same either way
        (tests/equivalence/test_wire_reads.py)."""
        fd, size = body.fd, body.size
        try:
            sent = 0
            sock = self._sock
            if sock is not None and not self.transport.get_write_buffer_size():
                try:
                    n = sock.send(head, socket.MSG_MORE)
                    if n == len(head):
                        head = b""
                        sent = os.sendfile(sock.fileno(), fd, 0, size)
                    else:
                        head = head[n:]
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:  # the peer is gone (reset, broken pipe): as a write would
                    self.transport.close()
                    return
            rest = os.pread(fd, size - sent, sent) if sent < size else b""
            if head or rest:
                self.transport.writelines((head, rest))
        finally:
            os.close(fd)


def wire_of(app: Any) -> Any:
    """The ``state.wire`` of ``app`` or of the app it wraps (uvicorn may put its proxy
    headers middleware around it), or None. Duck-typed: this module loads in ``evidence
    serve``'s supervisor too, which never builds an app."""
    for _ in range(8):
        wire = getattr(getattr(app, "state", None), "wire", None)
        if wire is not None and callable(getattr(wire, "answer", None)):
            return wire
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None
