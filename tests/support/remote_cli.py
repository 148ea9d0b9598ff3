"""Helpers of the remote-CLI tests (tests/cli/test_remote_cli.py, test_remote_resume.py):
the CLI in a child process with its own config folder, sign-in, a file to submit, and a
TCP proxy that cuts (or corrupts) one connection as a broken network would."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from tests.support.api_server import Server
from tests.support.cli_run import CLI, cli_env

__all__ = ["DroppingProxy", "js", "login", "run", "the_file"]


def run(home: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None,
        ok: bool | None = True) -> subprocess.CompletedProcess[str]:
    """The CLI in a child process with its own config folder and no remote settings from
    the developer's shell."""
    e = cli_env()
    for k in ("EVIDENCE_SERVER", "EVIDENCE_TOKEN", "EVIDENCE_DATA_DIR", "EVIDENCE_PRINCIPAL",
              "EVIDENCE_REMOTE_CONFIG"):
        e.pop(k, None)
    e["XDG_CONFIG_HOME"] = str(home)
    e["EVIDENCE_RETRIES"] = "3"
    e.update(env or {})
    p = subprocess.run([sys.executable, "-c", CLI, *args], env=e, input=stdin,
                       capture_output=True, text=True, timeout=300)
    if ok is True:
        assert p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
    elif ok is False:
        assert p.returncode != 0, (args, p.stdout, p.stderr)
    return p


def js(p: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(p.stdout.strip().splitlines()[-1])


def login(home: Path, srv: Server, who: str = "acme") -> subprocess.CompletedProcess[str]:
    return run(home, "login", srv.base, "--token-stdin", "--json",
               stdin=srv.world.tokens[who] + "\n")


def the_file(tmp: Path, name: str = "notice.txt", size: int = 0) -> Path:
    p = tmp / name
    p.write_bytes(b"infringing listing " + os.urandom(8).hex().encode()
                  + (os.urandom(size) if size else b""))
    return p


class DroppingProxy:
    """A TCP proxy to the server that cuts one connection short: the first request whose
    first bytes start with ``match`` is cut (RST, as a broken network gives) after
    ``limit`` bytes in the direction ``direction`` ("up": client to server, "down": server
    to client). With ``graceful`` a "down" cut forwards exactly ``limit`` bytes and then
    closes, so that the client surely has the bytes before the cut (a reset drops what it
    has not read yet: a download test would then depend on the scheduler). With ``corrupt``
    it instead flips a byte of that response and lets it complete. Every request's head
    is kept in ``heads``."""

    def __init__(self, target: int, match: bytes, limit: int, direction: str,
                 corrupt: bool = False, graceful: bool = False) -> None:
        self.target, self.match, self.limit = target, match, limit
        self.direction, self.corrupt, self.graceful = direction, corrupt, graceful
        self.cut = 0
        self.heads: list[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._conn, args=(c,), daemon=True).start()

    def _conn(self, c: socket.socket) -> None:
        s = socket.create_connection(("127.0.0.1", self.target))
        first = c.recv(65536)
        self.heads.append(first[:2048])
        hit = first.startswith(self.match) and self.cut == 0
        if hit:
            self.cut += 1
        up_limit = self.limit if hit and self.direction == "up" else None
        down_limit = self.limit if hit and self.direction == "down" else None
        flip = hit and self.corrupt
        s.sendall(first)
        threading.Thread(target=self._pipe, args=(c, s, up_limit, False, len(first)),
                         daemon=True).start()
        self._pipe(s, c, down_limit, flip, 0, graceful=self.graceful)

    def _pipe(self, a: socket.socket, b: socket.socket, limit: int | None, flip: bool,
              done: int, graceful: bool = False) -> None:
        flipped = False
        try:
            while data := a.recv(65536):
                if limit is not None and done + len(data) > limit and graceful:
                    b.sendall(data[:limit - done])
                    b.shutdown(socket.SHUT_WR)  # the bytes so far, then the end
                    b.close()
                    a.close()
                    return
                if limit is not None and done + len(data) > limit:
                    for x in (a, b):  # an abrupt reset, as a broken network gives
                        x.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     b"\x01\x00\x00\x00\x00\x00\x00\x00")
                        # shutdown first: the other direction's thread is blocked reading
                        # this socket, and close() alone waits for it (no reset is sent
                        # until then, and the client would wait for its timeout)
                        with contextlib.suppress(OSError):
                            x.shutdown(socket.SHUT_RDWR)
                        x.close()
                    return
                if flip and not flipped and done + len(data) > 4096:
                    i = 4096 - done if done < 4096 else 0
                    data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]
                    flipped = True
                done += len(data)
                b.sendall(data)
        except OSError:
            pass
        finally:
            for x in (a, b):
                with contextlib.suppress(OSError):
                    x.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.sock.close()
