"""Several ``evidence serve`` nodes and one ``evidence anchor --loop`` on one PostgreSQL and
one S3 bucket, behind HAProxy: real processes, for tests/processes/test_multinode_failure.py
and scripts/bench_multinode.py.

What is shared and what is each node's (docs/operations.md, "Several nodes"):

- shared: the database (the log, its checkpoints, the anchors, tokens), the bucket (blobs),
  and the log key, the same ``config.json`` and ``anchors.json`` copied to each node;
- each node's own: its data directory (upload spool, fixity alerts, capture jobs), its port.

:class:`RetryingClient` is the client the docs describe for a balancer in front of nodes
that may die (docs/api.md, "Retrying a submission"): each logical submission gets its own
random ``Idempotency-Key``, sent on every attempt. After an answer it did not get
(connection lost after sending, 502/503/504) it simply sends the submission again with the
same key: if a node committed it (the key's row commits with the entry, in the shared
database) the answer is that item, ``Idempotent-Replayed: true``, and nothing is appended;
if none did, the item is made now. A 409 ``idempotency-key-in-flight`` (the same node is
still committing it) is sent again after its Retry-After. No lookup is needed, and a
request still running on a live node (a balancer timeout) cannot make a second item: the
later of the two finds the key under the log's lock. (Each submission also carries a
unique reference in its title, which the test counts to prove there is no duplicate.)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.api_server import World, make_world
from tests.support.haproxy import HAProxy
from tests.support.ports import free_ports
from tests.support.processes import child_env

CLI = [sys.executable, "-c", "from evidence.cli.main import main; main()"]
CASE = "case-a"
NODE_FILES = ("config.json", "log.key", "anchors.json", "anchor-ca")
"""What a node's data directory needs from the first one: the ledger's config (database,
blob store, checkpoint interval), the log key, and the anchoring configuration."""


@dataclass
class Node:
    name: str
    data: Path
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.data / f"serve-{self.starts}.log"

    def start(self, *extra: str) -> None:
        self.starts += 1
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [*CLI, "serve", "--data-dir", str(self.data), "--port", str(self.port),
                 "--workers", "1", "--rate", "0", "--no-anchor", "--log-level", "warning",
                 "--no-access-log", "--max-connections-per-ip", "1024", *extra],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env, start_new_session=True)

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base + "/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"node {self.name} not ready: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL, the whole process group: no shutdown, no flush, no goodbye."""
        assert self.proc is not None and self.proc.poll() is None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@dataclass
class Cluster:
    """The ledger made in ``root/ledger`` (the anchoring process's data directory), the nodes
    in ``root/node-N``, the balancer in front of them."""

    root: Path
    world: World
    env: dict[str, str]
    nodes: dict[str, Node] = field(default_factory=dict)
    balancer: HAProxy | None = None
    anchor: subprocess.Popen[bytes] | None = None

    @property
    def ledger_dir(self) -> Path:
        return self.world.data

    @property
    def base(self) -> str:
        assert self.balancer is not None
        return self.balancer.base

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args, "--data-dir", str(self.ledger_dir)], env=self.env,
                              capture_output=True, text=True, check=check, timeout=600)

    def add_nodes(self, n: int) -> None:
        ports = free_ports(n)
        for i, port in enumerate(ports, start=len(self.nodes) + 1):
            data = self.root / f"node-{i}"
            data.mkdir()
            for name in NODE_FILES:
                src = self.ledger_dir / name
                if src.is_dir():
                    shutil.copytree(src, data / name)
                elif src.exists():
                    shutil.copy2(src, data / name)
            self.nodes[f"n{i}"] = Node(f"n{i}", data, port, self.env)

    def start(self, *, static: bool = False) -> None:
        """Start every node, wait until each answers /health, then the balancer."""
        for node in self.nodes.values():
            node.start()
        for node in self.nodes.values():
            node.wait_ready()
        self.balancer = HAProxy({n.name: n.port for n in self.nodes.values()}, static=static)
        self.balancer.start()
        for name in self.nodes:
            self.balancer.wait_state(name, "UP")

    def start_anchoring(self, interval: float = 0.5) -> None:
        log = open(self.root / "anchor.log", "wb")  # noqa: SIM115 - the child writes it
        self.anchor = subprocess.Popen(
            [*CLI, "anchor", "--loop", "--interval", str(interval),
             "--data-dir", str(self.ledger_dir)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env,
            start_new_session=True)
        log.close()

    def stop(self) -> None:
        if self.balancer is not None:
            self.balancer.stop()
        for node in self.nodes.values():
            node.stop()
        if self.anchor is not None and self.anchor.poll() is None:
            os.killpg(self.anchor.pid, signal.SIGTERM)
            try:
                self.anchor.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.anchor.pid, signal.SIGKILL)
                self.anchor.wait()


def make_cluster(root: Path, db_url: str, blob_store: str, s3_key: str, s3_secret: str, *,
                 nodes: int, checkpoint_interval: float = 0.25,
                 tsa: tuple[str, Path] | None = None) -> Cluster:
    """A new ledger on ``db_url`` with its blobs in ``blob_store`` (``s3://...``), the test
    principals of tests/support/api_server.py, ``tsa`` = (URL, root CA PEM) configured for
    anchoring, and ``nodes`` node directories (not started)."""
    world = make_world(root / "ledger", db_url)
    cfg_path = world.data / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.update(blob_store=blob_store, checkpoint_interval=checkpoint_interval)
    cfg_path.write_text(json.dumps(cfg))
    env = child_env()
    for k in ("EVIDENCE_BLOB_STORE", "EVIDENCE_DB_URL", "EVIDENCE_DATA_DIR"):
        env.pop(k, None)
    env.update(AWS_ACCESS_KEY_ID=s3_key, AWS_SECRET_ACCESS_KEY=s3_secret)
    cluster = Cluster(root, world, env)
    if tsa is not None:
        url, ca = tsa
        cluster.cli("anchor", "tsa", "add", "local", url, "--ca", str(ca))
    cluster.add_nodes(nodes)
    return cluster


# --- the client ------------------------------------------------------------------------

AMBIGUOUS_STATUS = frozenset({500, 502, 503, 504})
"""Answers after which a submission may or may not have been committed: a balancer's 502
when the node died after the request reached it, 503/504 from the balancer or the node."""


class Refused(Exception):
    """The service answered a submission with a definite refusal (4xx)."""


@dataclass
class Outcome:
    """One logical submission: ``receipt`` is the 201's body, or for an item found after a
    lost answer, the item's receipt view (``evidence_id``, ``seq``, ``leaf_hash``)."""

    ref: str
    receipt: dict[str, Any]
    served_by: str
    attempts: int
    how: str  # "acked": a 201; "replayed": a 201 with Idempotent-Replayed (an earlier
    # attempt, whose answer was lost, had committed it)
    lost_answers: int = 0
    key: str = ""  # the Idempotency-Key of every attempt


@dataclass
class RetryingClient:
    """A submitter's client through the balancer (see the module doc for the retry rule)."""

    base: str
    token: str
    case: str = CASE
    pause: float = 0.2
    max_attempts: int = 30
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.base, timeout=120,
                                 headers={"Authorization": f"Bearer {self.token}"})

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, **kw: Any) -> httpx.Response:
        """A read: idempotent, so tried again as it is after a failure (a content read also
        appends a custody entry: a repeated read is a second, true record of a read)."""
        for _attempt in range(self.max_attempts):
            try:
                r = self.http.get(path, **kw)
            except httpx.TransportError:
                time.sleep(self.pause)
                continue
            if r.status_code in AMBIGUOUS_STATUS:
                time.sleep(self.pause)
                continue
            return r
        raise AssertionError(f"GET {path}: no answer after {self.max_attempts} tries")

    def find(self, ref: str) -> dict[str, Any] | None:
        """The item titled ``ref`` in this client's case, or None; more than one is a bug in
        the retry rule (a duplicate)."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = {"case": self.case, "q": ref, "limit": 100}
            if cursor:
                params["cursor"] = cursor
            r = self.get("/v1/evidence", params=params)
            assert r.status_code == 200, r.text
            page = r.json()
            found += [i for i in page["items"] if i["title"] == ref]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(found) <= 1, f"{ref} submitted {len(found)} times: {found}"
        return found[0] if found else None

    def submit(self, ref: str, content: bytes, *, filename: str = "exhibit.bin",
               first: dict[str, str] | None = None, body: Any = None) -> Outcome:
        """Submit once, whatever fails on the way: every attempt with the same
        Idempotency-Key. ``first``: headers of the first try only (tests/support/haproxy.py's
        X-Pin-Node, X-Drop-Answer); ``body`` replaces the first try's multipart body (a
        stream held open by a test)."""
        key = f'"{uuid.uuid4()}"'
        lost = 0
        for attempt in range(1, self.max_attempts + 1):
            try:
                r = self._post(ref, content, filename,
                               {**((first or {}) if attempt == 1 else {}),
                                "Idempotency-Key": key},
                               body if attempt == 1 else None)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                time.sleep(self.pause)  # never reached the balancer: nothing was sent
                continue
            except httpx.TransportError:
                lost += 1  # sent, and no answer: committed or not, the key will tell
                time.sleep(self.pause)
                continue
            if r.status_code == 201:
                how = "replayed" if r.headers.get("idempotent-replayed") == "true" else "acked"
                return Outcome(ref, r.json(), r.headers.get("x-served-by", ""), attempt, how,
                               lost, key)
            if r.status_code in AMBIGUOUS_STATUS:
                lost += 1
                time.sleep(self.pause)
                continue
            if r.status_code in (409, 429) and (
                    r.status_code == 429
                    or r.json().get("code") == "idempotency-key-in-flight"):
                time.sleep(float(r.headers.get("retry-after", "1")))
                continue
            raise Refused(f"{ref}: {r.status_code} {r.text[:500]}")
        raise AssertionError(f"{ref}: not submitted after {self.max_attempts} tries")

    def _post(self, ref: str, content: bytes, filename: str, headers: dict[str, str],
              body: Any) -> httpx.Response:
        if body is not None:
            return self.http.post("/v1/evidence", content=body[1], headers={
                **headers, "Content-Type": body[0]})
        return self.http.post("/v1/evidence", headers=headers,
                              data={"case": self.case, "kind": "document", "title": ref},
                              files=[("file", (filename, content, "application/octet-stream"))])


def multipart(case: str, ref: str, filename: str, content: bytes
              ) -> tuple[str, bytes]:
    """The multipart body ``RetryingClient._post`` sends, built by hand (for a test that
    streams it slowly): (content type, body)."""
    boundary = "mnboundary" + os.urandom(8).hex()

    def part(name: str, value: bytes, extra: str = "") -> bytes:
        return (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"{extra}'
                f"\r\n\r\n").encode() + value + b"\r\n"

    body = (part("case", case.encode()) + part("kind", b"document") + part("title", ref.encode())
            + part("file", content, f'; filename="{filename}"\r\nContent-Type: '
                   "application/octet-stream")
            + f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", body
