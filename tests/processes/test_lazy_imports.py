"""A serving worker loads only what serving needs (issue 21 point 5, docs/operations.md
"Sizing workers"): in a fresh interpreter, after the app is created, its lifespan has
opened the services and ``/health`` has answered, none of the heavy modules below is in
``sys.modules``. Each is loaded on first use by the code that needs it (a capture, a
bundle or report, anchoring, a migration, an S3 store, a chat or e-mail parser).

Memory itself is measured by scripts/bench_memory.py, not asserted here (RSS depends on
the machine); this test catches the regression that costs it, an import moved back up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from evidence.ledger.log import Ledger

# Made lazy for issue 21: the anchor service and its TSA / witness clients (only when
# anchors.json names a source, or stored anchors are re-verified), and the capture run
# (only when a capture job runs or a node's result is checked).
MADE_LAZY = (
    "evidence.ledger.anchor.service",
    "evidence.ledger.anchor.tsa",
    "evidence.ledger.anchor.tsa_client",
    "evidence.ledger.anchor.witness",
    "evidence.ledger.anchor.witness_client",
    "evidence.verify.timestamp",
    "rfc3161_client",
    "evidence.ledger.capture.run",
    "evidence.ledger.capture.warc",
    "evidence.ledger.capture.manifest",
    "evidence.verify.webcapture",
)
# Lazy already, kept so: browser and WARC tools, bundles and their PDF report, S3,
# PostgreSQL's driver (a SQLite ledger here), migrations, the intake's file parsers.
ALREADY_LAZY = (
    "playwright",
    "warcio",
    "fpdf",
    "fontTools",
    "PIL",
    "pypdf",
    "boto3",
    "botocore",
    "psycopg",
    "alembic",
    "mako",
    "pygments",
    "tldextract",
    # the bundle's builder and its report (the package itself and its stdlib-only cache
    # of built bundles load with the evidence router)
    "evidence.ledger.bundle.export",
    "evidence.ledger.bundle.report",
    "evidence.ledger.bundle.report_facts",
    "evidence.ledger.bundle.trusted_list",
    "evidence.ledger.bundle.writer",
    "evidence.ledger.backup",
    "evidence.ledger.intake.metadata.chat",
    "evidence.ledger.intake.metadata.eml",
    "evidence.ledger.intake.metadata.pdf",
    "evidence.ledger.intake.metadata.office",
    "evidence.ledger.intake.metadata.image",
    # C2PA content credentials (issue 19 point 4): read in a child process, and only for
    # an image or PDF that carries a manifest; the service never loads the native library
    "c2pa",
    "evidence.ledger.intake.metadata.c2pa_check",
)

WORKER = r"""
import asyncio, json, os, sys

from evidence.api.settings import ENV, ApiSettings

os.environ[ENV] = ApiSettings(data_dir=sys.argv[1], observe=True).to_env()
from evidence.api.app import app_from_env  # as a uvicorn worker does

app = app_from_env()


async def main():
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": "/health", "raw_path": b"/health",
             "query_string": b"", "root_path": "", "headers": [(b"host", b"test")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    async with app.router.lifespan_context(app):
        await app(scope, receive, send)
        status = sent[0]["status"]
    print(json.dumps({"status": status, "modules": sorted(sys.modules)}))


asyncio.run(main())
"""


def _worker_modules(tmp_path: Path) -> set[str]:
    data = tmp_path / "data"
    Ledger.create(data, "lazy.test/log").close()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("EVIDENCE_", "PROMETHEUS_"))}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics")  # as `evidence serve` sets
    (tmp_path / "metrics").mkdir()
    r = subprocess.run([sys.executable, "-c", WORKER, str(data)], capture_output=True,
                       text=True, timeout=300, env=env, cwd=tmp_path, check=False)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["status"] == 200
    return set(out["modules"])


def _loaded(modules: set[str], name: str) -> bool:
    return name in modules or any(m.startswith(name + ".") for m in modules)


def test_a_serving_worker_does_not_load_what_it_does_not_use(tmp_path: Path) -> None:
    modules = _worker_modules(tmp_path)
    # the probe sees a real worker: what serving needs is there
    for needed in ("evidence.api.app", "evidence.api.metrics", "evidence.ledger.intake",
                   "evidence.ledger.capture.jobs", "evidence.ledger.anchor.config",
                   "prometheus_client", "sqlalchemy"):
        assert needed in modules, needed
    loaded = [m for m in (*MADE_LAZY, *ALREADY_LAZY) if _loaded(modules, m)]
    assert loaded == [], f"loaded by an idle worker, should be loaded on first use: {loaded}"


def test_the_lazy_names_still_resolve() -> None:
    """The capture package's lazy names are the run module's (the CLI and tests import
    them from the package)."""
    import evidence.ledger.capture as cap
    from evidence.ledger.capture import run

    assert (cap.capture, cap.preserve, cap.Capture, cap.KIND) == (
        run.capture, run.preserve, run.Capture, run.KIND)
