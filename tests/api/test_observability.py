"""Metrics and JSON logs of a real ``evidence serve`` with two workers (docs/operations.md,
"Metrics and logs").

One server on SQLite, two uvicorn workers, JSON logs, ``/metrics`` behind an auditor's
token; a real OpenSSL TSA anchors through ``evidence anchor --once`` and a witness that
is down fails; ``evidence audit`` makes the last fixity pass. Every request goes on a
connection of its own, so both workers answer some: the test sees two workers' count
files, and every scrape (whichever worker answers it) must add up to exactly what was
done. The JSON log must be one object per line, and each response's ``X-Request-Id``
must name its own request line.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.api_server import (
    CLI,
    Server,
    log_size,
    make_world,
    start_server,
    wait_proof,
)
from tests.support.ports import free_ports

ACCEPTED = 12  # submissions by acme to its case
REFUSED_CASE = 3  # acme to a case it is not a member of
NO_TOKEN = 2  # no token at all
VIEWS = 4  # metadata views: each appends an evidence.accessed entry
CHECKPOINT_READS = 7  # GET /checkpoint: answered by the read fast path
SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class Observed:
    srv: Server
    metrics_dir: Path
    size_before: int
    accepted: list[dict]
    requests: list[tuple[str, str, str, int]]  # (request id sent or None, method, path, status)
    anchored_size: int


def _cli(data: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([*CLI, *args, "--data-dir", str(data)], capture_output=True, text=True,
                       timeout=120)
    if check:
        assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p


def _fresh(srv: Server, method: str, path: str, who: str | None = None,
           rid: str | None = None, **kw) -> httpx.Response:
    """One request on a connection of its own (the kernel then spreads them over both
    workers' accept calls)."""
    headers = {"Connection": "close"}
    if who:
        headers["Authorization"] = f"Bearer {srv.world.tokens[who]}"
    if rid:
        headers["X-Request-Id"] = rid
    with httpx.Client(base_url=srv.base, headers=headers, timeout=60) as c:
        return c.request(method, path, **kw)


def _submit(srv: Server, who: str | None, case: str, i: int) -> httpx.Response:
    return _fresh(srv, "POST", "/v1/evidence", who, rid=f"sub-{who or 'anon'}-{case}-{i}",
                  data={"case": case, "kind": "document"},
                  files=[("file", (f"n{i}.txt", f"listing {i} {os.urandom(8).hex()}".encode(),
                                   "text/plain"))])


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory, tsa) -> Iterator[Observed]:
    root = tmp_path_factory.mktemp("observe")
    world = make_world(root / "data")
    data = world.data
    _cli(data, "anchor", "tsa", "add", "local-tsa", tsa.url, "--ca", str(tsa.ca_pem_path))
    wkey = subprocess.run([*CLI, "witness", "init", "--dir", str(root / "w"), "--name",
                           "witness.test/w1"], capture_output=True, text=True, check=True
                          ).stdout.strip().splitlines()[-1]
    (down,) = free_ports(1)  # nothing listens there: every attempt fails
    _cli(data, "anchor", "witness", "add", "w-down", f"http://127.0.0.1:{down}", "--key", wkey)
    metrics_dir = root / "prom"
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)  # the operator's folder
    try:
        srv = start_server(world, "--no-anchor", "--log-format", "json", "--log-level", "info",
                           "--rate", "10000", "--burst", "10000", workers=2)
    finally:
        del os.environ["PROMETHEUS_MULTIPROC_DIR"]
    try:
        size_before = log_size(srv)
        requests: list[tuple[str, str, str, int]] = []
        with ThreadPoolExecutor(6) as pool:
            ok = list(pool.map(lambda i: _submit(srv, "acme", "case-a", i), range(ACCEPTED)))
            refused = list(pool.map(lambda i: _submit(srv, "acme", "case-b", i),
                                    range(REFUSED_CASE)))
            anon = list(pool.map(lambda i: _submit(srv, None, "case-a", i), range(NO_TOKEN)))
        for r in ok:
            assert r.status_code == 201, r.text
        for r in refused:
            assert r.status_code == 404 and r.json()["code"] == "unknown-case", r.text
        for r in anon:
            assert r.status_code == 401 and r.json()["code"] == "missing-token", r.text
        for r in [*ok, *refused, *anon]:
            requests.append((r.headers["x-request-id"], "POST", "/v1/evidence", r.status_code))
        accepted = [r.json() for r in ok]
        for i, item in enumerate(accepted[:VIEWS]):
            r = _fresh(srv, "GET", f"/v1/evidence/{item['evidence_id']}", "acme", rid=f"view-{i}")
            assert r.status_code == 200, r.text
            requests.append((f"view-{i}", "GET", f"/v1/evidence/{item['evidence_id']}", 200))
        with srv.client() as c:
            wait_proof(c, accepted[-1]["seq"])
        for i in range(CHECKPOINT_READS):
            r = _fresh(srv, "GET", "/checkpoint", rid=f"cp-{i}")
            assert r.status_code == 200
            requests.append((f"cp-{i}", "GET", "/checkpoint", 200))
        # anchor what is checkpointed now (the TSA succeeds, the witness is down)...
        anchored = _cli(data, "anchor", "--once", check=False)
        assert anchored.returncode == 1, anchored.stderr  # the witness failed
        anchored_size = int(httpx.get(srv.base + "/v1/status").json()
                            ["checkpoint"]["size"])
        # ...then one more submission: its checkpoint is not anchored by anyone yet
        last = _submit(srv, "acme", "case-a", 999)
        assert last.status_code == 201
        accepted.append(last.json())
        requests.append((last.headers["x-request-id"], "POST", "/v1/evidence", 201))
        with srv.client() as c:
            wait_proof(c, accepted[-1]["seq"])
        _cli(data, "audit")  # the last full fixity pass: every file ok
        yield Observed(srv, metrics_dir, size_before, accepted, requests, anchored_size)
    finally:
        srv.stop()


def scrape(srv: Server, who: str | None = "auditor") -> Samples:
    r = _fresh(srv, "GET", "/metrics", who)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    out: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def requests_of(samples: Samples, route: str, method: str, status: str) -> float:
    return value(samples, "evidence_http_request_duration_seconds_count", route=route,
                 method=method, status=status)


def test_counts_add_up_across_both_workers(observed: Observed) -> None:
    srv = observed.srv
    # both workers counted something: one count file per process in the operator's folder
    pids = {m.group(1) for f in observed.metrics_dir.glob("*.db")
            if (m := re.fullmatch(r"(?:counter|histogram)_(\d+)\.db", f.name))}
    assert len(pids) >= 2, sorted(p.name for p in observed.metrics_dir.iterdir())
    size = log_size(srv)
    appended = size - observed.size_before
    assert appended == len(observed.accepted) + VIEWS
    for _ in range(6):  # whichever worker answers the scrape, the same totals
        m = scrape(srv)
        assert value(m, "evidence_submissions_total", outcome="accepted", reason="") == \
            len(observed.accepted)
        assert value(m, "evidence_submissions_total", outcome="refused",
                     reason="unknown-case") == REFUSED_CASE
        assert value(m, "evidence_submissions_total", outcome="refused",
                     reason="missing-token") == NO_TOKEN
        assert value(m, "evidence_ledger_appends_total") == appended
        assert value(m, "evidence_ledger_batch_entries_sum") == appended
        assert 1 <= value(m, "evidence_ledger_batch_entries_count") <= appended
        assert value(m, "evidence_log_size_entries") == size
        # the latency histogram names route templates, the hot paths' answers included
        assert requests_of(m, "/v1/evidence", "POST", "2xx") == len(observed.accepted)
        assert requests_of(m, "/v1/evidence", "POST", "4xx") == REFUSED_CASE + NO_TOKEN
        assert requests_of(m, "/v1/evidence/{evidence_id}", "GET", "2xx") == VIEWS
        assert requests_of(m, "/checkpoint", "GET", "2xx") == CHECKPOINT_READS
        assert requests_of(m, "/v1/log/proof/inclusion", "GET", "2xx") >= 2
        assert requests_of(m, "/health", "GET", "2xx") >= 1
        assert value(m, "evidence_http_request_duration_seconds_bucket", route="/checkpoint",
                     method="GET", status="2xx", le="+Inf") == CHECKPOINT_READS
        assert not any(dict(k[1]).get("route", "").startswith("/v1/evidence/ev")
                       for k in m)  # never a raw path


def test_checkpoint_age_anchoring_lag_and_fixity(observed: Observed) -> None:
    m = scrape(observed.srv)
    cp = httpx.get(observed.srv.base + "/v1/status").json()["checkpoint"]
    assert value(m, "evidence_checkpoint_size_entries") == cp["size"]
    assert 0 <= value(m, "evidence_checkpoint_age_seconds") < 600
    behind = cp["size"] - observed.anchored_size
    assert behind == 1  # the last submission's checkpoint
    tsa, witness = {"source": "local-tsa", "kind": "tsa"}, {"source": "w-down", "kind": "witness"}
    assert value(m, "evidence_anchor_anchored_size_entries", **tsa) == observed.anchored_size
    assert value(m, "evidence_anchor_lag_entries", **tsa) == behind
    assert 0 <= value(m, "evidence_anchor_lag_seconds", **tsa) < 600
    assert value(m, "evidence_anchor_last_attempt_failed", **tsa) == 0
    assert value(m, "evidence_anchor_anchored_size_entries", **witness) == 0
    assert value(m, "evidence_anchor_lag_entries", **witness) == cp["size"]
    assert 0 < value(m, "evidence_anchor_lag_seconds", **witness) < 600
    assert value(m, "evidence_anchor_last_attempt_failed", **witness) == 1
    files = len(observed.accepted)  # each submission one distinct file
    assert value(m, "evidence_fixity_last_pass_files", result="ok") == files
    assert value(m, "evidence_fixity_last_pass_files", result="damaged") == 0
    assert value(m, "evidence_fixity_last_pass_files", result="missing") == 0
    assert 0 <= time.time() - value(m, "evidence_fixity_last_pass_timestamp_seconds") < 600
    assert value(m, "evidence_fixity_degraded") == 0


def test_metrics_need_an_auditor_or_admin_token(observed: Observed) -> None:
    srv = observed.srv
    assert _fresh(srv, "GET", "/metrics").status_code == 401
    r = _fresh(srv, "GET", "/metrics", "acme")
    assert r.status_code == 403 and r.json()["code"] == "role-not-allowed"
    assert any(name == "evidence_submissions_total" for name, _ in scrape(srv, "admin"))
    assert "/metrics" not in httpx.get(srv.base + "/openapi.json").json()["paths"]


def _line_of(srv: Server, rid: str) -> dict:
    """The request line of ``rid``: a worker writes it just after the answer's last byte,
    so it is waited for (the log is re-read until it is there)."""
    deadline = time.monotonic() + 30
    while True:
        for d in _log_lines(srv):
            if d["logger"] == "evidence.access" and d["request_id"] == rid:
                return d
        assert time.monotonic() < deadline, f"no request line for {rid}"
        time.sleep(0.05)


def _log_lines(srv: Server) -> list[dict]:
    lines = [ln for ln in srv.log.read_text(encoding="utf-8").splitlines() if ln.strip()]
    docs = []
    for ln in lines:
        doc = json.loads(ln)  # every line is one JSON object
        assert isinstance(doc, dict), ln
        assert {"time", "level", "logger", "message", "request_id"} <= doc.keys(), doc
        docs.append(doc)
    return docs


def test_json_log_lines_carry_the_response_request_ids(observed: Observed) -> None:
    srv = observed.srv
    secret = "evk_" + "s3cr3t" * 6
    r = _fresh(srv, "GET", f"/v1/log/checkpoint?token={secret}", rid="redact-me")
    assert r.headers["x-request-id"] == "redact-me"
    redacted = _line_of(srv, "redact-me")
    docs = _log_lines(srv)
    by_id = {d["request_id"]: d for d in docs if d["logger"] == "evidence.access"}
    for rid, method, path, status in observed.requests:
        line = by_id[rid]
        assert (line["method"], line["path"], line["status"]) == (method, path, status)
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    generated = [rid for rid, *_ in observed.requests if not rid.startswith(("sub-", "view-",
                                                                             "cp-"))]
    assert not generated  # every submission kept the id its client sent
    assert redacted["path"] == "/v1/log/checkpoint?token=[REDACTED]"
    assert secret not in srv.log.read_text(encoding="utf-8")
    assert any(d["logger"].startswith("uvicorn") for d in docs)


def _raw(srv: Server, request_id: bytes) -> tuple[bytes, dict[bytes, bytes]]:
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Request-Id: " + request_id +
                  b"\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(b":") for h in head[1:])}
    return head[0], headers


@pytest.mark.parametrize("hostile", [b"x" * 65, b"a b", b"\xe9t\xe9", b"ok\tx",
                                     b'"},{"level":"CRITICAL"', b"../../etc"])
def test_a_hostile_request_id_is_replaced(observed: Observed, hostile: bytes) -> None:
    status, headers = _raw(observed.srv, hostile)
    assert status.endswith(b" 200 OK")
    rid = headers[b"x-request-id"]
    assert rid != hostile and SAFE_ID.fullmatch(rid.decode())
    assert _line_of(observed.srv, rid.decode())["path"] == "/health"
    assert hostile.decode("latin-1") not in observed.srv.log.read_text(encoding="utf-8",
                                                                      errors="replace")


@pytest.mark.parametrize("hostile", [b"ab\x01cd", b"ab\x1b[31mcd"])
def test_a_request_id_with_control_characters_is_refused_before_the_app(
        observed: Observed, hostile: bytes) -> None:
    """uvicorn's parser refuses the request (400) before any part of the service runs:
    the value is neither echoed nor logged."""
    status, headers = _raw(observed.srv, hostile)
    assert status.endswith(b" 400 Bad Request") and b"x-request-id" not in headers
    assert hostile.decode("latin-1") not in observed.srv.log.read_text(encoding="utf-8")
