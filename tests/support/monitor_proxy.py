"""What the tests of scripts/monitor_log.py share against a real ``evidence serve``
(tests/support/api_server.py): ``Proxy``, an HTTP proxy in front of it whose answers a
test may replace; ``Rewriter``, one that serves a forged ``/v1/log/checkpoint`` (signed
with the real keys, as a thief of a key would); ``submit_items`` and ``settle``, that add
items and wait for a checkpoint covering the log.

Used by tests/auditor/test_monitor_log.py, test_monitor_rotation.py and
test_monitor_mldsa.py."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from tests.support.api_server import Server

__all__ = ["Proxy", "Rewriter", "settle", "submit_items"]


class Proxy:
    """A tiny HTTP server in front of a real one: passes every request through, except that
    ``rewrite(path, status, body)`` may answer something else (garbage, a swapped token)."""

    def __init__(self, upstream: str,
                 rewrite: Callable[[str, int, bytes], tuple[int, bytes] | None]) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() == "authorization"}
                req = urllib.request.Request(upstream + self.path, headers=headers)
                try:
                    with urllib.request.urlopen(req, timeout=30) as r:
                        status, body = r.status, r.read()
                except urllib.error.HTTPError as e:
                    status, body = e.code, e.read()
                status, body = rewrite(self.path, status, body) or (status, body)
                outer.paths.append(self.path)
                self.send_response(status)
                if 300 <= status < 400:  # to the real server: following it would work
                    self.send_header("Location", upstream + self.path)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.paths: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Rewriter(Proxy):
    """A :class:`Proxy` whose ``/v1/log/checkpoint`` answer is ``note(real_note)``."""

    def __init__(self, upstream: str, note: Callable[[bytes], bytes]) -> None:
        super().__init__(upstream, lambda path, status, body: (status, note(body)) if (
            path == "/v1/log/checkpoint" and status == 200) else None)


def submit_items(srv: Server, n: int) -> int:
    """``n`` items submitted as ``acme``; the log's size once a checkpoint covers it."""
    with srv.client("acme") as c:
        for i in range(n):
            r = c.post("/v1/evidence", data={"case": "case-a", "kind": "document"},
                       files={"file": (f"f{i}.txt", f"item {i} {srv.port}\n".encode(),
                                       "text/plain")})
            assert r.status_code == 201, r.text
    return settle(srv)


def settle(srv: Server) -> int:
    """The log's size once its latest checkpoint covers the whole log (30 s at most)."""
    for _ in range(600):
        st = httpx.get(srv.base + "/v1/status", timeout=10).json()
        if st["checkpoint"] and st["checkpoint"]["size"] == st["size"]:
            return int(st["size"])
        threading.Event().wait(0.05)
    raise AssertionError("no checkpoint covers the log")
