"""pytest plugin: Go's tlog tile client (tests/interop/go/tiles_client.go, built against
Debian's golang-golang-x-mod-dev) and a plain static file server to read tiles from.

Fixtures: ``go_client`` (session-scoped: the built client; skips with the packages to
install when Go or x/mod is missing) and ``static_server`` (``static_server(root)`` serves a
directory with ``python -m http.server`` and returns its base URL). Helpers:
:func:`run_client` and :func:`entries_digest` (what the client reports over the entries)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from evidence.ledger.log import Ledger
from tests.support.ports import free_ports

__all__ = ["entries_digest", "go_client", "run_client", "static_server"]

GO_SOURCES = Path(__file__).resolve().parents[1] / "interop" / "go"
GOCODE = Path("/usr/share/gocode")
NEEDS = "apt-get install golang-go golang-golang-x-mod-dev"


@pytest.fixture(scope="session")
def go_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go client, built offline in GOPATH mode against Debian's x/mod."""
    go = shutil.which("go")
    if go is None:
        pytest.skip(f"Go is not installed ({NEEDS})")
    if not (GOCODE / "src/golang.org/x/mod/sumdb/tlog/tile.go").is_file():
        pytest.skip(f"golang.org/x/mod/sumdb/tlog is not under {GOCODE} ({NEEDS})")
    out = tmp_path_factory.mktemp("go")
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": str(GOCODE), "GOPROXY": "off",
           "GOTOOLCHAIN": "local", "GOFLAGS": "", "GOCACHE": str(out / "cache"),
           "CGO_ENABLED": "0"}
    r = subprocess.run([go, "build", "-o", str(out / "tiles_client"), "tiles_client.go"],
                       cwd=GO_SOURCES, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return out / "tiles_client"


def run_client(client: Path, url: str, key: str, old: Path | None = None
               ) -> subprocess.CompletedProcess[str]:
    args = [str(client), "-url", url, "-key", key]
    if old is not None:
        args += ["-old", str(old)]
    return subprocess.run(args, capture_output=True, text=True, timeout=300)


def entries_digest(led: Ledger, size: int) -> str:
    """What the client computes over the entries it read: each one's length (8 bytes,
    big-endian) and bytes, in order."""
    h = hashlib.sha256()
    for e in led.entries(0, size):
        h.update(len(e.data).to_bytes(8, "big") + e.data)
    return h.hexdigest()


@pytest.fixture
def static_server() -> Iterator:
    """``python -m http.server`` on a directory: a file server that knows nothing of tiles."""
    procs: list[subprocess.Popen] = []

    def start(root: Path) -> str:
        (port,) = free_ports(1)
        p = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                              "127.0.0.1", "--directory", str(root)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
        base = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(base + "checkpoint", timeout=2)
                return base
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("http.server did not start")

    yield start
    for p in procs:
        p.terminate()
        p.wait(timeout=30)
