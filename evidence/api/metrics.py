"""Prometheus metrics of ``evidence serve``: ``GET /metrics`` (docs/operations.md,
"Metrics and logs").

Two kinds of figures, so that every number is right whatever the number of uvicorn workers:

* **Events** (requests, submissions, committed batches) are counted where they happen,
  in the process that saw them, by ``prometheus_client``. Under ``evidence serve`` the
  environment names ``PROMETHEUS_MULTIPROC_DIR`` (a fresh folder per server) before any
  worker imports ``prometheus_client``, so each worker writes its counts to its own files
  there and a scrape, answered by any one worker, adds up every worker's files.
* **State** (checkpoint age, anchoring lag, the last fixity pass, the log's size) is read
  at scrape time from the database and the data directory, which every worker shares, by
  :class:`StateCollector`; no worker keeps a copy that could go stale.

Nothing here runs per ledger row: the writer tells :func:`count_batch` each batch once
(:meth:`evidence.ledger.log.Ledger.observe_commits`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from evidence.api.fixity import alerts_for
from evidence.api.problems import Problem
from evidence.api.services import Services, services_of
from evidence.ledger.access import ADMIN, AUDITOR

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ROLES = (AUDITOR, ADMIN)
"""Who may scrape when ``metrics`` is ``token``: the roles that already read the raw log."""

# Seconds. From a proof served from memory (well under a millisecond) to a large upload.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

# registry=None: the objects are this process's, collected by the registry each scrape
# builds (a second app in one process, as in tests, shares them without clashing).
REQUESTS = Histogram(
    "evidence_http_request_duration_seconds",
    "HTTP requests by route template, method and status class, answered by any path "
    "(FastAPI routes and the hot paths alike)",
    ["route", "method", "status"], buckets=LATENCY_BUCKETS, registry=None)
SUBMISSIONS = Counter(
    "evidence_submissions_total",
    "POST /v1/evidence by outcome (accepted, deferred, refused, unanswered) and, when "
    "refused, the problem code",
    ["outcome", "reason"], registry=None)
APPENDS = Counter(
    "evidence_ledger_appends_total",
    "Entries this server's ledger writers committed (submissions, retrievals, grants...)",
    registry=None)
BATCHES = Histogram(
    "evidence_ledger_batch_entries",
    "Entries per committed group-commit batch", buckets=BATCH_BUCKETS, registry=None)
WIRE_ANSWERS = Counter(
    "evidence_http_wire_answers_total",
    "GET requests answered in the HTTP protocol itself, below ASGI (evidence/api/hot/wire.py;"
    " not in the latency histogram), by route template; added up about once a second",
    ["route"], registry=None)
PROCESS = (REQUESTS, SUBMISSIONS, APPENDS, BATCHES, WIRE_ANSWERS)


def multiprocess() -> bool:
    """Whether counts go to the shared folder (set before ``prometheus_client`` loads)."""
    return bool(os.environ.get(MULTIPROC_ENV))


def count_batch(entries: int) -> None:
    """The ledger writer's commit hook: once per batch, in its thread."""
    APPENDS.inc(entries)
    BATCHES.observe(entries)


def attach(svc: Services) -> None:
    """Count the batches this worker's ledger commits."""
    svc.ledger.observe_commits(count_batch)


def detach(svc: Services) -> None:
    svc.ledger.observe_commits(None)


# --- state read at scrape time ---------------------------------------------------------------


def _seconds(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class StateCollector(Collector):
    """Gauges computed from the shared database and data directory at each scrape."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        yield from self._log(now)
        yield from self._anchors(now)
        yield from self._fixity()

    def _log(self, now: float) -> Iterator[Metric]:
        led = self.svc.ledger
        size = GaugeMetricFamily("evidence_log_size_entries", "Entries in the log")
        size.add_metric([], led.size)
        yield size
        cp = led.latest_checkpoint()
        cp_size = GaugeMetricFamily("evidence_checkpoint_size_entries",
                                    "Size of the latest signed checkpoint")
        age = GaugeMetricFamily("evidence_checkpoint_age_seconds",
                                "Seconds since the latest checkpoint was signed")
        if cp is not None:
            cp_size.add_metric([], cp.size)
            signed = _seconds(cp.created_at)
            if signed is not None:
                age.add_metric([], max(0.0, now - signed))
        yield cp_size
        yield age

    def _anchors(self, now: float) -> Iterator[Metric]:
        """Per configured TSA and witness, against the latest checkpoint. anchors.json is
        read at every scrape, so a source added while the server runs shows at once."""
        from evidence.ledger.anchor.config import load_anchor_config
        from evidence.ledger.anchor.status import anchor_status

        labels = ["source", "kind"]
        lag = GaugeMetricFamily(
            "evidence_anchor_lag_entries", "Latest checkpoint size minus the newest "
            "checkpoint size this source anchored", labels=labels)
        lag_s = GaugeMetricFamily(
            "evidence_anchor_lag_seconds", "How long the oldest entry of the latest "
            "checkpoint not anchored by this source has waited (0: covered)", labels=labels)
        anchored = GaugeMetricFamily(
            "evidence_anchor_anchored_size_entries",
            "Newest checkpoint size this source anchored (0: none)", labels=labels)
        failing = GaugeMetricFamily(
            "evidence_anchor_last_attempt_failed",
            "1 when this source's most recent attempt failed", labels=labels)
        led = self.svc.ledger
        data_dir = led.config.data_dir if led.config else None
        if data_dir is not None:
            try:
                status = anchor_status(led, load_anchor_config(data_dir))
            except Exception:  # an unreadable anchors.json must not break the scrape
                log.exception("anchoring metrics: anchors.json could not be read")
                status = None
            cp = (status or {}).get("latest_checkpoint") or {}
            cp_size = int(cp.get("size") or 0)
            for src in (status or {}).get("sources", ()):
                key = [src["name"], src["kind"]]
                have = int(src["anchored_size"] or 0)
                behind = max(0, cp_size - have)
                lag.add_metric(key, behind)
                lag_s.add_metric(key, float(src["lag_seconds"]) if behind else 0.0)
                anchored.add_metric(key, have)
                failing.add_metric(key, 1 if src["last_status"] == "failed" else 0)
        yield from (lag, lag_s, anchored, failing)

    def _fixity(self) -> Iterator[Metric]:
        fx = alerts_for(self.svc).summary()
        last = fx["last_audit"] or {}
        files = GaugeMetricFamily(
            "evidence_fixity_last_pass_files",
            "Stored files the last full pass (audit or scrub) found ok, damaged, missing",
            labels=["result"])
        when = GaugeMetricFamily("evidence_fixity_last_pass_timestamp_seconds",
                                 "When the last full pass over the stored files ended")
        if last:
            damaged = int(last.get("damaged_count") or 0)
            missing = int(last.get("missing_count") or 0)
            files.add_metric(["ok"], max(0, int(last.get("files") or 0) - damaged - missing))
            files.add_metric(["damaged"], damaged)
            files.add_metric(["missing"], missing)
            ended = _seconds(last.get("finished_at"))
            if ended is not None:
                when.add_metric([], ended)
        since = GaugeMetricFamily("evidence_fixity_alerts_since_last_pass",
                                  "Fixity alerts (damaged or missing files met by reads) "
                                  "raised after the last full pass")
        since.add_metric([], fx["alerts_since_last_audit"])
        degraded = GaugeMetricFamily("evidence_fixity_degraded",
                                     "1 while /health says degraded for stored files")
        degraded.add_metric([], 1 if fx["degraded"] else 0)
        yield from (files, when, since, degraded)


class _ProcessCollector(Collector):
    """This process's own counts, when there is no shared folder (one process)."""

    def collect(self) -> Iterator[Metric]:
        for m in PROCESS:
            yield from m.collect()


def render(svc: Services) -> bytes:
    """The text exposition: every worker's counts, then the shared state."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess():
        MultiProcessCollector(registry, os.environ[MULTIPROC_ENV])
    else:
        registry.register(_ProcessCollector())
    registry.register(StateCollector(svc))
    return generate_latest(registry)


# --- GET /metrics -------------------------------------------------------------------------

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Not in the OpenAPI document: it is for the operator's Prometheus, not for clients
    (docs/api.md lists it). In a worker thread: the state gauges read the database."""
    from evidence.api.deps import admit
    from evidence.api.hot.submit import bearer_token

    svc = services_of(request.scope)
    if svc is None:
        raise Problem(503, "unavailable", "the service is starting or stopping; retry",
                      headers={"Retry-After": "1"})
    mode = svc.settings.metrics
    if mode == "off":
        raise Problem(404, "not-found", "no such resource")
    if mode != "public":
        admit(svc, bearer_token(request.scope), ROLES)
    return Response(render(svc), media_type=CONTENT_TYPE)
