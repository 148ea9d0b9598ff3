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
``EVIDENCE_CHROMIUM``, ``EVIDENCE_CAPTURE_RETENTION_DAYS`` (finished jobs are deleted
after this many days, default 30) and ``EVIDENCE_CAPTURE_PRUNE_INTERVAL`` (seconds
between pruning passes, default 3600; every worker prunes once when it starts, see
:mod:`evidence.ledger.capture.jobs`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import json
import logging
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, File, Path, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from evidence.api.deps import Caller, Role, Svc
from evidence.api.problems import Problem, authed
from evidence.api.services import Services
from evidence.ledger.access import SUBMITTER, Principal
from evidence.ledger.capture import (
    MAX_CLICKS,
    MAX_SELECTOR,
    CaptureRefused,
    Options,
    check_url,
    jobs,
)
from evidence.ledger.config import resolve_data_dir
from evidence.ledger.intake import IntakeError
from evidence.ledger.keyfile import KeyFileError, read_private_key
from evidence.verify.errors import BadKey
from evidence.verify.note import Verifier, parse_verifier_key

log = logging.getLogger("evidence.capture")


def _setting(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = -1.0
    if not value >= 0:  # a bad operator setting stops the server, it is not guessed at
        raise ValueError(f"{name}={raw!r}: expected a number of at least 0")
    return value


def _prune(folder: FsPath, retention_days: float) -> None:
    try:
        done = jobs.prune(folder, retention_days=retention_days,
                          capture_timeout=Options().timeout)
    except OSError as e:  # the next pass tries again
        log.error("capture jobs: pruning %s failed: %s", folder, e)
        return
    if done.deleted or done.abandoned or done.unreadable:
        log.info("capture jobs: %d deleted (finished more than %g days ago), %d abandoned "
                 "(worker gone, nothing preserved), %d unreadable left as they are",
                 len(done.deleted), retention_days, len(done.abandoned),
                 len(done.unreadable))


@contextlib.asynccontextmanager
async def _pruning(app: FastAPI) -> AsyncIterator[None]:
    """Prune the capture jobs when the worker starts (before it answers), then every
    ``EVIDENCE_CAPTURE_PRUNE_INTERVAL`` seconds while it runs."""
    retention = _setting("EVIDENCE_CAPTURE_RETENTION_DAYS", jobs.RETENTION_DAYS)
    interval = max(_setting("EVIDENCE_CAPTURE_PRUNE_INTERVAL", 3600.0), 1.0)
    folder = _data_dir(app.state.services) / jobs.FOLDER
    await asyncio.to_thread(_prune, folder, retention)

    async def every() -> None:
        while True:
            await asyncio.sleep(interval)
            await asyncio.to_thread(_prune, folder, retention)

    task = asyncio.create_task(every())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


router = APIRouter(prefix="/v1/captures", tags=["captures"], lifespan=_pruning)
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
    click: list[Annotated[str, Field(min_length=1, max_length=MAX_SELECTOR)]] = Field(
        default_factory=list, max_length=MAX_CLICKS,
        description="CSS selectors clicked in order after the waits and scrolling")
    video: bool = False
    viewport: str = Field(default="1280x800", pattern=r"^[1-9][0-9]{2,3}x[1-9][0-9]{2,3}$")
    locale: str | None = Field(default=None, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$")
    node: str | None = Field(default=None, max_length=200,
                             description="a listed remote capture node to do it "
                                         "(default: this service)")


_now = jobs.now_iso


def _data_dir(svc: Services) -> FsPath:
    cfg = svc.ledger.config
    return cfg.data_dir if cfg else resolve_data_dir(svc.settings.data_dir)


def _jobs(svc: Services) -> FsPath:
    d = _data_dir(svc) / jobs.FOLDER
    d.mkdir(mode=0o700, exist_ok=True)
    return d


_write = jobs.write


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
    return Options(wait_for=req.wait_for, wait=req.wait, scroll=req.scroll,
                   click=tuple(req.click), video=req.video,
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
    if req.node is not None:
        if req.node not in listed_nodes(svc):
            raise Problem(422, "unknown-capture-node", f"no capture node {req.node!r} is "
                          "listed by this service")
        _options(req)  # the same checks; the node applies its own network allowances
        job = _new_job(req, who.id)
        job["node"] = req.node
        del job["worker"]  # the node's, not known here
        _write(_jobs(svc), job)
        return JSONResponse(_public(job), status_code=202,
                            headers={"Location": f"/v1/captures/{job['id']}"})
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
    job = _new_job(req, who.id)
    _write(folder, job)
    _executor().submit(_run, svc, folder, job, signer, opts, req.title)
    return JSONResponse(_public(job), status_code=202,
                        headers={"Location": f"/v1/captures/{job['id']}"})


def _new_job(req: CaptureRequest, principal: str) -> dict[str, Any]:
    return {"id": "cap_" + secrets.token_hex(16), "status": "queued", "url": req.url,
            "case": req.case, "principal": principal, "created_at": _now(),
            "updated_at": _now(), "evidence_id": None, "code": None, "error": None,
            "node": None, "title": req.title, "worker": jobs.this_worker(),
            "options": req.model_dump(exclude={"url", "case", "title", "node"})}


def _run(svc: Services, folder: FsPath, job: dict[str, Any], signer: Any, opts: Options,
         title: str | None) -> None:
    # the capture itself (WARC, WACZ, the signed manifest) is loaded by the first job, not
    # by every worker (tests/processes/test_lazy_imports.py)
    from evidence.ledger.capture.run import capture, preserve

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
    return {k: v for k, v in job.items() if k not in ("principal", "worker")}


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



# --- remote capture nodes --------------------------------------------------------------------
#
# A capture node elsewhere (another machine, another jurisdiction) takes jobs addressed to
# it, captures with its own browser, signs with its own key and hands the files back here.
# The service lists its nodes in <data-dir>/capture-nodes, one per line:
#     <node name> <principal id of its API token> <verifier key of its capture key>
# and accepts a result only when the manifest's signature verifies with the key listed
# for the node that claimed the job (evidence.verify.webcapture, as a court would check it).

NODES_FILE = "capture-nodes"
MAX_RESULT_FILES = 16


@dataclass(frozen=True)
class ListedNode:
    name: str
    principal: str
    verifier: Verifier


def listed_nodes(svc: Services) -> dict[str, ListedNode]:
    """The capture nodes this service accepts results from (read on each use: an operator
    removes a node by editing the file)."""
    path = _data_dir(svc) / NODES_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    out: dict[str, ListedNode] = {}
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split("#", 1)[0].split()
        if not parts:
            continue
        if len(parts) != 3:
            raise Problem(500, "internal", f"{NODES_FILE} line {n}: expected NAME PRINCIPAL "
                          "VKEY")
        try:
            out[parts[0]] = ListedNode(parts[0], parts[1], parse_verifier_key(parts[2]))
        except BadKey as e:
            raise Problem(500, "internal", f"{NODES_FILE} line {n}: {e}") from None
    return out


def _node_of(svc: Services, who: Principal) -> ListedNode:
    node = next((n for n in listed_nodes(svc).values() if n.principal == who.id), None)
    if node is None:
        raise Problem(403, "not-a-capture-node", "this token is not a listed capture node's")
    return node


def _load(svc: Services, capture_id: str) -> dict[str, Any] | None:
    try:
        return json.loads((_jobs(svc) / f"{capture_id}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@router.post("/claim", responses={**authed(400, 403),
                                   204: {"description": "no job queued for this node"}})
def claim_capture(svc: Svc, who: Caller) -> Response:
    """For a capture node: the oldest job queued for it, now ``running`` and its own
    (200 with the job), or 204 when there is none."""
    node = _node_of(svc, who)
    folder = _jobs(svc)
    with open(folder / ".claim.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one claimant at a time, across workers
        queued = []
        for f in folder.glob("cap_*.json"):
            try:
                job = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if job.get("status") == "queued" and job.get("node") == node.name:
                queued.append(job)
        if not queued:
            return Response(status_code=204)
        job = min(queued, key=lambda j: j["created_at"])
        job = {**job, "status": "running", "updated_at": _now()}
        _write(folder, job)
    return JSONResponse({k: job[k] for k in ("id", "url", "title", "options")})


class Refusal(BaseModel):
    code: str = Field(max_length=100, pattern=r"^[a-z0-9-]+$")
    error: str = Field(max_length=1000)


def _running_for(svc: Services, capture_id: str, node: ListedNode) -> dict[str, Any]:
    job = _load(svc, capture_id)
    if job is None or job.get("node") != node.name:
        raise Problem(404, "not-found", f"no capture {capture_id} for node {node.name}")
    if job.get("status") != "running":
        raise Problem(409, "conflict", f"capture {capture_id} is {job.get('status')}, not "
                      "running")
    return job


@router.post("/{capture_id}/refusal", responses=authed(400, 403, 404, 409, 422))
def capture_refused(capture_id: CaptureId, refusal: Refusal, svc: Svc,
                    who: Caller) -> JSONResponse:
    """For a capture node: the page could not be captured (nothing is preserved)."""
    job = _running_for(svc, capture_id, _node_of(svc, who))
    job = {**job, "status": "refused", "code": refusal.code, "error": refusal.error,
           "updated_at": _now()}
    _write(_jobs(svc), job)
    return JSONResponse(_public(job))


@router.post("/{capture_id}/result", status_code=201,
             responses=authed(400, 403, 404, 409, 413, 422))
def capture_result(capture_id: CaptureId, svc: Svc, who: Caller,
                   file: Annotated[list[UploadFile], File(description="the capture's files")]
                   ) -> JSONResponse:
    """For a capture node: the capture's files. Accepted only if the manifest is signed
    by the key listed for this node and every file matches it (else 422
    ``capture-rejected`` and the job ends ``refused``); then preserved as one webcapture
    item of the job's submitter, exactly as a local capture."""
    from evidence.ledger.capture.run import Capture, preserve
    from evidence.verify.webcapture import MANIFEST_NAME, SIGNATURE_NAME, verify_webcapture

    node = _node_of(svc, who)
    job = _running_for(svc, capture_id, node)
    folder = _jobs(svc)

    def reject(code: str, why: str) -> Problem:
        _write(folder, {**job, "status": "refused", "code": code, "error": why,
                        "updated_at": _now()})
        return Problem(422, code, why)

    if not file or len(file) > MAX_RESULT_FILES:
        raise Problem(400, "bad-request", f"1 to {MAX_RESULT_FILES} files expected")
    tmp = FsPath(tempfile.mkdtemp(prefix="capture-result-", dir=folder))
    try:
        data: dict[str, bytes] = {}
        for up in file:
            name = up.filename or ""
            if not name or name != FsPath(name).name or name.startswith(".") or name in data:
                raise Problem(400, "bad-request", f"bad or repeated file name {name[:100]!r}")
            data[name] = up.file.read()
            (tmp / name).write_bytes(data[name])
        result = verify_webcapture(data, [node.verifier])
        if result.status != "pass":
            raise reject("capture-rejected", f"the capture from node {node.name} does not "
                         f"verify with its listed key: {result.reason}")
        manifest = json.loads(data[MANIFEST_NAME])
        if manifest["request"]["url"] != job["url"]:
            raise reject("capture-rejected", "the capture is of another URL than the job's")
        names = [f["name"] for f in manifest["files"]] + [MANIFEST_NAME, SIGNATURE_NAME]
        cap = Capture(tmp, [tmp / n for n in names], manifest)
        try:
            res = preserve(svc.intake, cap, case=job["case"], principal=job["principal"],
                           title=job.get("title"))
        except IntakeError as e:
            raise reject("intake-refused", str(e)[:1000]) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    r = manifest["result"]
    job = {**job, "status": "done", "evidence_id": res.evidence_id, "seq": res.seq,
           "final_url": r["final_url"], "http_status": r["http_status"],
           "server_ip": r["server_ip"], "labels": r["labels"], "updated_at": _now()}
    _write(folder, job)
    return JSONResponse(_public(job), status_code=201)
