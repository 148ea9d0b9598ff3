"""What the tests of scripts/monitor_log.py share against a real ``evidence serve``
(tests/support/api_server.py): ``Rewriter``, a proxy in front of the server that serves a
forged ``/v1/log/checkpoint`` (signed with the real keys, as a thief of a key would);
``submit_items`` and ``settle``, that add items and wait for a checkpoint covering the
log; and ``cli_stdout``, an ``evidence`` command run in process (key rotation, ML-DSA-44).

Used by tests/auditor/test_monitor_rotation.py and tests/auditor/test_monitor_mldsa.py."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from tests.support.api_server import Server

__all__ = ["Rewriter", "settle", "submit_items"]


class Rewriter:
    """An HTTP proxy in front of the real server whose ``/v1/log/checkpoint`` answer is
    ``note(real_note)``; every other request passes through."""

    def __init__(self, upstream: str, note: Callable[[bytes], bytes]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() == "authorization"}
                req = urllib.request.Request(upstream + self.path, headers=headers)
                try:
                    with urllib.request.urlopen(req, timeout=30) as r:
                        status, body = r.status, r.read()
                except urllib.error.HTTPError as e:
                    status, body = e.code, e.read()
                if self.path == "/v1/log/checkpoint" and status == 200:
                    body = note(body)
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


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
