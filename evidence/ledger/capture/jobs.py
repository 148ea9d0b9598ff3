"""Capture jobs as files in ``<data-dir>/captures/``, and their pruning.

A job is a small JSON file written by atomic rename, so every worker process of the
server answers for a job any of them runs. Writes and pruning take one lock file in
the folder, so pruning never decides on a job that a worker is rewriting at the same
moment; the last writer holds the truth (a worker that finishes a job pruning gave up
on writes ``done`` over ``failed``).

Pruning is what keeps the folder from growing for ever and the status of a job whose
worker died from reading ``running`` for ever:

- a finished job (``done``, ``refused``, ``failed``) is deleted once it has not changed
  for the retention (default 30 days). Its item, if any, is in the ledger; only the
  job's status record goes;
- an unfinished job is marked ``failed`` with code ``abandoned`` when its worker is
  known to be gone (a local job whose worker process on this host no longer exists),
  or when it has been ``running`` for longer than any capture can take
  (:func:`abandon_after`). Nothing was preserved for it: a capture is preserved whole
  or not at all. A job queued for a remote capture node waits for the node and is not
  touched until it is finished.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FOLDER = "captures"
FINISHED = ("done", "refused", "failed")
RETENTION_DAYS = 30.0
# a capture's stages after the visit are bounded each (WACZ packaging 300 s, video
# encoding 300 s, the intake), a remote node's upload too: this margin covers them
MARGIN_SECONDS = 900.0
ABANDONED = ("the worker running this capture stopped before it finished; nothing was "
             "preserved (ask for the capture again)")
_LOCK = ".jobs.lock"


def abandon_after(capture_timeout: float) -> float:
    """Seconds after which a ``running`` job cannot still be running anywhere."""
    return 2 * capture_timeout + MARGIN_SECONDS


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """The folder's write lock (across threads and processes of this host)."""
    with open(folder / _LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def write(folder: Path, job: dict[str, Any]) -> None:
    """Replace the job's file atomically, under the folder's lock."""
    with locked(folder):
        _replace(folder, job)


def _replace(folder: Path, job: dict[str, Any]) -> None:
    tmp = folder / f".{job['id']}.{os.getpid()}.{threading.get_ident()}.tmp"
    tmp.write_text(json.dumps(job), encoding="utf-8")
    os.replace(tmp, folder / f"{job['id']}.json")


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot, /proc), or None when
    it cannot be read. With the pid it names one process: pids are reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None  # field 22 of proc(5)


def this_worker() -> dict[str, Any]:
    """Who runs a local job: recorded in it so pruning can tell when the worker is gone."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "started": _process_start(pid)}


def worker_gone(worker: Any) -> bool:
    """True only when the worker is known to be gone: it ran on this host and its
    process no longer exists (or the pid now belongs to another process)."""
    if not isinstance(worker, dict) or worker.get("host") != socket.gethostname():
        return False
    pid = worker.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # exists, another user's
    started = worker.get("started")
    now = _process_start(pid)
    return started is not None and now is not None and now != started


def _age(stamp: Any, now: float) -> float | None:
    try:
        return now - datetime.fromisoformat(str(stamp)).timestamp()
    except ValueError:
        return None


@dataclass
class Pruned:
    """What one pruning pass did."""

    deleted: list[str] = field(default_factory=list)  # finished jobs past the retention
    abandoned: list[str] = field(default_factory=list)  # marked failed, code abandoned
    kept: int = 0
    unreadable: list[str] = field(default_factory=list)  # file names left as they are

    def to_json(self) -> dict[str, Any]:
        return {"deleted": self.deleted, "abandoned": self.abandoned, "kept": self.kept,
                "unreadable": self.unreadable}


def prune(folder: Path, *, retention_days: float = RETENTION_DAYS,
          capture_timeout: float = 60.0, now: float | None = None) -> Pruned:
    """One pass over ``folder`` (see the module's docstring). A missing folder has
    nothing to prune. Left-over temporary files and result folders of a worker that
    died are removed once they are older than :func:`abandon_after`."""
    out = Pruned()
    if not folder.is_dir():
        return out
    now = time.time() if now is None else now
    keep_for = retention_days * 86400.0
    stale = abandon_after(capture_timeout)
    with locked(folder):
        for f in sorted(folder.glob("cap_*.json")):
            try:
                job = json.loads(f.read_text(encoding="utf-8"))
                status, cid = job["status"], job["id"]
            except (OSError, ValueError, KeyError, TypeError):
                out.unreadable.append(f.name)
                continue
            age = _age(job.get("updated_at"), now)
            if age is None:
                out.unreadable.append(f.name)
            elif status in FINISHED:
                if age > keep_for:
                    f.unlink(missing_ok=True)
                    out.deleted.append(cid)
                else:
                    out.kept += 1
            elif (status == "running" and age > stale) or (
                    job.get("node") is None and worker_gone(job.get("worker"))):
                _replace(folder, {**job, "status": "failed", "code": "abandoned",
                                  "error": ABANDONED, "updated_at": now_iso()})
                out.abandoned.append(cid)
            else:
                out.kept += 1
        for f in folder.iterdir():  # a crashed write's temporary file, a result's folder
            if f.name.startswith((".cap_", "capture-result-")):
                try:
                    old = now - f.stat().st_mtime > stale
                except OSError:
                    continue
                if old and f.is_dir():
                    shutil.rmtree(f, ignore_errors=True)
                elif old:
                    f.unlink(missing_ok=True)
    return out


__all__ = ["ABANDONED", "FINISHED", "FOLDER", "RETENTION_DAYS", "Pruned", "abandon_after",
           "locked", "now_iso", "prune", "this_worker", "worker_gone", "write"]
