"""A throwaway HAProxy (Debian's ``haproxy``) in front of several ``evidence serve`` nodes.

:class:`HAProxy` writes a config, runs ``haproxy -db`` (foreground) on a free loopback port
and stops it. What the config does, and why:

- ``option httpchk GET /health`` with ``http-check expect status 200``: ``/health`` is the
  readiness endpoint (503 while the database is unreachable or a database page is damaged),
  checked every ``check_interval_ms``; a node is taken out after 2 failed checks and back in
  after 2 good ones. A check may take ``check_timeout_s``: under load ``/health`` waits its
  turn behind submissions (with the default, the check interval, a busy node was taken
  out); a dead node refuses the connection at once whatever the timeout.
- ``retries 3`` with ``retry-on conn-failure`` and ``option redispatch 1``: a request whose
  *connection* failed (a node that is down and not yet marked so: nothing was sent to it) is
  tried again, the last tries on another node. Nothing else is retried by the balancer: a
  submission that reached a node which then died may have been committed, and only the
  client can find out (see tests/support/multinode.py, ``RetryingClient``).
- ``X-Served-By`` on every answer names the node that answered, so a test can tell
  which node served what.
- ``X-Pin-Node: NAME`` on a request sends it to that node while it is up (a test holds a
  request open on the node it is about to kill); when the node is down, the request is
  balanced as usual.
- ``X-Drop-Answer: 1`` on a request: the node's answer is thrown away and the client gets a
  502, as when a node dies after committing but before its answer is out (a fault for
  tests; the request itself is done in full).
- ``static_port``: a second frontend answering a fixed body from HAProxy itself, the
  ceiling of a load generator going through this balancer (scripts/bench_multinode.py).
- a stats socket, read by :meth:`HAProxy.states` (``show stat``: UP, DOWN, MAINT ...).

Skips (pytest) or raises (scripts) when ``haproxy`` is not installed: ``apt-get install
haproxy``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.ports import free_ports

__all__ = ["HAProxy", "find_haproxy"]

INSTALL_HINT = "apt-get install haproxy"
STATIC_BODY = '{"status":"ok","static":true}'


def find_haproxy() -> str | None:
    return shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)


@dataclass
class HAProxy:
    """One balancer over ``backends`` (name -> port on 127.0.0.1). :meth:`start` returns
    the frontend's base URL."""

    backends: dict[str, int]
    check_interval_ms: int = 300
    check_timeout_s: int = 5
    server_timeout_s: int = 120
    static: bool = False
    balance: str = "roundrobin"
    port: int = 0
    static_port: int = 0
    dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ledger-haproxy-")))
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def static_base(self) -> str:
        return f"http://127.0.0.1:{self.static_port}"

    @property
    def socket_path(self) -> Path:
        return self.dir / "admin.sock"

    def config(self) -> str:
        servers = "\n".join(
            f"    server {name} 127.0.0.1:{port} check" for name, port in self.backends.items())
        pins = "\n".join(
            f"    use-server {name} if {{ req.hdr(x-pin-node) -m str {name} }}"
            for name in self.backends)
        static = f"""
frontend static
    bind 127.0.0.1:{self.static_port}
    http-request return status 200 content-type application/json string '{STATIC_BODY}'
""" if self.static else ""
        return f"""global
    maxconn 4096
    stats socket {self.socket_path} mode 600 level admin
    log stderr format short local0 warning

defaults
    mode http
    log global
    option dontlognull
    timeout connect 500ms
    timeout client {self.server_timeout_s}s
    timeout server {self.server_timeout_s}s
    timeout http-request 30s
    timeout queue 30s
    timeout check {self.check_timeout_s}s
    retries 3
    retry-on conn-failure
    option redispatch 1

frontend api
    bind 127.0.0.1:{self.port}
    http-request set-var(txn.drop) req.hdr(x-drop-answer)
    http-response deny deny_status 502 if {{ var(txn.drop) -m found }}
    default_backend nodes

backend nodes
    balance {self.balance}
    option httpchk GET /health
    http-check expect status 200
    default-server inter {self.check_interval_ms} fastinter {self.check_interval_ms} \
downinter {self.check_interval_ms} rise 2 fall 2
    http-response set-header X-Served-By %[srv_name]
{pins}
{servers}
{static}"""

    def start(self) -> str:
        binary = find_haproxy()
        if binary is None:
            _unavailable(f"haproxy not found: {INSTALL_HINT}")
        assert binary is not None
        for attempt in range(3):  # a free port may be taken between probing and binding
            self.port, self.static_port = free_ports(2)
            cfg = self.dir / "haproxy.cfg"
            cfg.write_text(self.config())
            check = subprocess.run([binary, "-c", "-f", str(cfg)], capture_output=True,
                                   text=True, check=False)
            if check.returncode != 0:
                raise RuntimeError(f"haproxy refused its config: {check.stdout}{check.stderr}")
            log = (self.dir / "haproxy.log").open("ab")
            self.proc = subprocess.Popen([binary, "-db", "-f", str(cfg)], stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
            log.close()
            if self._wait_listening():
                return self.base
            self.stop(keep_dir=True)
            if attempt == 2:
                raise RuntimeError(f"haproxy did not start: {self.log_tail()}")
        return self.base

    def _wait_listening(self) -> bool:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=1):
                if self.socket_path.exists():
                    return True
            time.sleep(0.05)
        return False

    def command(self, line: str) -> str:
        """One command on the admin socket (``show stat``, ``disable server nodes/n1``)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(str(self.socket_path))
            s.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def states(self) -> dict[str, str]:
        """Each backend server's state as HAProxy sees it: ``UP``, ``DOWN``, ``UP 1/2``..."""
        text = self.command("show stat").lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        return {r["svname"]: r["status"] for r in rows
                if r["pxname"] == "nodes" and r["svname"] in self.backends}

    def wait_state(self, name: str, state: str, timeout: float = 60) -> None:
        """Wait until HAProxy's health checks have moved ``name`` to ``state`` (UP/DOWN)."""
        deadline = time.monotonic() + timeout
        seen = ""
        while time.monotonic() < deadline:
            seen = self.states().get(name, "")
            if seen == state:
                return
            time.sleep(0.05)
        raise AssertionError(f"haproxy: {name} is {seen!r}, not {state!r}, after {timeout}s")

    def log_tail(self) -> str:
        try:
            return (self.dir / "haproxy.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self, keep_dir: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if not keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def _unavailable(why: str) -> None:
    """Skip under pytest; a plain error in a script."""
    if "PYTEST_CURRENT_TEST" in os.environ:
        import pytest

        pytest.skip(why)
    raise RuntimeError(why)
