"""Web captures over HTTP: ``POST /v1/captures`` queues one, ``GET /v1/captures/{id}`` says
how it went and, when done, which evidence item holds it.

A capture takes seconds (a browser visits the page), longer than an HTTP request should
wait, so it is a job. Jobs are small JSON files in ``<data-dir>/captures/`` written by
atomic rename, so every worker process of the server answers the status of a job any
of them runs. A job runs in the worker that accepted it, at most
``EVIDENCE_CAPTURE_CONCURRENCY`` (default 2) at once per worker; the rest wait queued.
The caller's token passes the same authentication and rate limit as an upload, and the
item goes through the same intake (same file-size limit).

Operator settings (environment of ``evidence serve``): ``EVIDENCE_CAPTURE_KEY`` (the
capture node's key file; default ``<data-dir>/capture-node.key``; without one, captures
answer 403 ``capture-disabled``), ``EVIDENCE_CAPTURE_ALLOW_NETWORKS`` (comma-separated
CIDR networks the capture may reach although not public, e.g. ``127.0.0.0/8`` in tests),
``EVIDENCE_CHROMIUM``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from evidence.api.deps import Role, Svc
from evidence.api.problems import Problem, authed
from evidence.api.services import Services
from evidence.ledger.access import SUBMITTER
from evidence.ledger.capture import CaptureRefused, Options, capture, check_url, preserve
from evidence.ledger.config import resolve_data_dir
from evidence.ledger.intake import IntakeError
from evidence.ledger.keyfile import KeyFileError, read_private_key

router = APIRouter(prefix="/v1/captures", tags=["captures"])
Submitter = Role(SUBMITTER)
CaptureId = Annotated[str, Path(pattern=r"^cap_[0-9a-f]{32}$", description="the capture job id")]

_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


class CaptureRequest(BaseModel):
    url: str = Field(max_length=8192, description="http(s) URL to capture")
    case: str = Field(min_length=1, max_length=4096, description="a case you are a member of")
    title: str | None = Field(default=None, max_length=4096)
    wait_for: str | None = Field(default=None, max_length=1000, description="CSS selector")
    wait: float | None = Field(default=None, ge=0, le=60, description="seconds after load")
    scroll: bool = False
    video: bool = False
    viewport: str = Field(default="1280x800", pattern=r"^[1-9][0-9]{2,3}x[1-9][0-9]{2,3}$")
    locale: str | None = Field(default=None, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _data_dir(svc: Services) -> FsPath:
    cfg = svc.ledger.config
    return cfg.data_dir if cfg else resolve_data_dir(svc.settings.data_dir)


def _jobs(svc: Services) -> FsPath:
    d = _data_dir(svc) / "captures"
    d.mkdir(mode=0o700, exist_ok=True)
    return d


def _write(folder: FsPath, job: dict[str, Any]) -> None:
    tmp = folder / f".{job['id']}.{os.getpid()}.{threading.get_ident()}.tmp"
    tmp.write_text(json.dumps(job), encoding="utf-8")
    os.replace(tmp, folder / f"{job['id']}.json")


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            n = max(1, int(os.environ.get("EVIDENCE_CAPTURE_CONCURRENCY", "2") or 2))
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="capture")
        return _pool


def _options(req: CaptureRequest) -> Options:
    nets = tuple(n.strip() for n in os.environ.get("EVIDENCE_CAPTURE_ALLOW_NETWORKS", "")
                 .split(",") if n.strip())
    for n in nets:
        ipaddress.ip_network(n, strict=False)  # a bad operator setting fails loudly
    w, h = (int(x) for x in req.viewport.split("x"))
    if not (200 <= w <= 4000 and 200 <= h <= 4000):
        raise Problem(422, "invalid-input", "viewport: each side must be 200 to 4000")
    return Options(wait_for=req.wait_for, wait=req.wait, scroll=req.scroll, video=req.video,
                   viewport=(w, h), locale=req.locale, allowed_networks=nets,
                   chromium=os.environ.get("EVIDENCE_CHROMIUM", "/usr/bin/chromium"))


@router.post("", status_code=202, responses=authed(400, 403, 404, 422))
def start_capture(req: CaptureRequest, svc: Svc, who: Submitter) -> JSONResponse:
    """Queue a capture of ``url`` for ``case`` (you must be a member). Answers 202 with the
    job id at once; poll ``GET /v1/captures/{id}``. A URL that is not http(s) is refused
    here (422 ``bad-url``); a page that cannot be captured ends the job ``refused``
    with nothing preserved."""
    svc.access.require_submit(who, req.case)
    try:
        check_url(req.url)
    except CaptureRefused as e:
        raise Problem(422, "bad-url", str(e)) from None
    key_path = FsPath(os.environ.get("EVIDENCE_CAPTURE_KEY")
                      or _data_dir(svc) / "capture-node.key")
    try:
        signer = read_private_key(key_path)
    except KeyFileError:
        raise Problem(403, "capture-disabled", "this service does not capture web pages: "
                      "it has no capture-node key (the operator makes one with evidence "
                      "keygen)") from None
    opts = _options(req)
    folder = _jobs(svc)
    job = {"id": "cap_" + secrets.token_hex(16), "status": "queued", "url": req.url,
           "case": req.case, "principal": who.id, "created_at": _now(), "updated_at": _now(),
           "evidence_id": None, "code": None, "error": None}
    _write(folder, job)
    _executor().submit(_run, svc, folder, job, signer, opts, req.title)
    return JSONResponse(_public(job), status_code=202,
                        headers={"Location": f"/v1/captures/{job['id']}"})


def _run(svc: Services, folder: FsPath, job: dict[str, Any], signer: Any, opts: Options,
         title: str | None) -> None:
    job = {**job, "status": "running", "updated_at": _now()}
    _write(folder, job)
    try:
        cap = capture(job["url"], signer, opts)
    except CaptureRefused as e:
        _write(folder, {**job, "status": "refused", "code": e.code, "error": str(e),
                        "updated_at": _now()})
        return
    except Exception as e:  # a browser crash must end the job, not leave it running
        _write(folder, {**job, "status": "failed", "code": "capture-error",
                        "error": type(e).__name__, "updated_at": _now()})
        return
    try:
        res = preserve(svc.intake, cap, case=job["case"], principal=job["principal"],
                       title=title)
    except IntakeError as e:
        _write(folder, {**job, "status": "refused", "code": "intake-refused",
                        "error": str(e)[:1000], "updated_at": _now()})
        return
    except Exception as e:
        _write(folder, {**job, "status": "failed", "code": "intake-error",
                        "error": type(e).__name__, "updated_at": _now()})
        return
    finally:
        shutil.rmtree(cap.folder, ignore_errors=True)
    r = cap.manifest["result"]
    _write(folder, {**job, "status": "done", "evidence_id": res.evidence_id, "seq": res.seq,
                    "final_url": r["final_url"], "http_status": r["http_status"],
                    "server_ip": r["server_ip"], "labels": r["labels"],
                    "updated_at": _now()})


def _public(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if k != "principal"}


@router.get("/{capture_id}", responses=authed(404, 422))
def capture_status(capture_id: CaptureId, svc: Svc, who: Submitter) -> JSONResponse:
    """The job's ``status`` (``queued``, ``running``, ``done`` with ``evidence_id``,
    ``refused`` or ``failed`` with ``code`` and ``error``). Only its submitter sees it."""
    try:
        job = json.loads((_jobs(svc) / f"{capture_id}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        job = None
    if job is None or job.get("principal") != who.id:
        raise Problem(404, "not-found", f"no capture {capture_id} of yours")
    return JSONResponse(_public(job))

