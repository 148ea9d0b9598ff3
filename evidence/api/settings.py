"""Service settings: from ``evidence serve`` options, passed to worker processes by
environment (``EVIDENCE_API_*``), so that every uvicorn worker builds the same app."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any

ENV = "EVIDENCE_API_SETTINGS"

DEFAULT_MAX_UPLOAD = 4 << 30  # the whole multipart body of one submission
DEFAULT_MAX_BODY = 1 << 20  # any other request body (JSON)


@dataclass(frozen=True)
class ApiSettings:
    data_dir: str | None = None
    db_url: str | None = None
    blob_store: str | None = None
    max_file_size: int | None = None  # per file; None: intake's setting (4 GiB)
    max_upload: int = DEFAULT_MAX_UPLOAD
    max_body: int = DEFAULT_MAX_BODY
    max_files: int = 100
    rate: float = 50.0  # requests per second per token (token bucket refill); 0 = no limit
    burst: int = 200  # bucket size
    page_limit: int = 1000  # most entries per /v1/log/entries page
    upload_dir: str | None = None  # where uploads are spooled; default <data-dir>/tmp-uploads
    anchor: bool = True  # run the AnchorService beside the API when anchors.json has sources
    public_lookup: bool = True  # /v1/lookup answers "is this id / file hash preserved?"
    # serve only checkpoints the witness quorum cosigned (evidence/ledger/anchor/published.py)
    publish_when_witnessed: bool = False
    memory_spool: bool = True  # small uploads (<= 1 MiB a file) via tmpfs, not the disk spool
    pending_ttl: float = 900.0  # seconds a sign=deferred submission waits for its signature
    # seconds without a request after which a worker gives its caches' memory back once
    # (evidence/api/idle_trim.py); 0: never
    idle_trim: float = 30.0
    idempotency_ttl: float = 86400.0  # seconds an Idempotency-Key is honoured (docs/api.md)
    # bytes of built bundles kept for resumed downloads (evidence/ledger/bundle/cache.py)
    bundle_cache: int = 2 << 30
    require_legal_basis: bool = False  # grants must state purpose, recipient and basis
    # the court report of bundles the server builds (evidence/api/report_options.py): its
    # QR code opens <public_url>/verify/?id=...; its eIDAS rows read these trusted lists
    public_url: str = ""
    trusted_lists: tuple[str, ...] = ()
    # the hot paths (evidence/api/hot/): the same answers, without FastAPI's machinery
    fast_submit: bool = True  # POST /v1/evidence (hot/submit.py)
    fast_reads: bool = True  # latest checkpoint, inclusion proof to it (hot/reads.py)
    # the public reads of fast_reads answered in uvicorn's protocol, below ASGI (hot/wire.py)
    fast_wire: bool = True
    # observability (evidence/api/observe.py, metrics.py); `evidence serve` turns it on:
    # request ids, latencies, submissions and GET /metrics
    observe: bool = False
    metrics: str = "token"  # GET /metrics: "token" (auditor, admin), "public" or "off"
    log_format: str = "text"  # "json": one JSON object per log line (jsonlog.py)
    access_log: bool = True  # with log_format "json": one line per request
    anchor_interval: float | None = None  # seconds between rounds; None: anchors.json's
    # the configuration file (evidence/ledger/config_file.py) and the values the command
    # line gave, which win over it; with sighup, each worker re-reads the file, the
    # environment and anchors.json on SIGHUP (evidence/api/reload.py)
    config_file: str | None = None
    config_flags: dict[str, Any] = field(default_factory=dict)
    sighup: bool = False

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> ApiSettings:
        raw = os.environ.get(ENV)
        if not raw:
            return cls()
        doc = json.loads(raw)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in known})
