"""The scrubber: ``evidence serve`` re-hashing every stored file, continuously, at a
configured rate.

``evidence audit`` checks the files when someone runs it; a file damaged in between is
found only at the next read. The scrubber closes that gap in the background: pass after
pass over every stored file of every live item (the audit's own check,
:func:`~evidence.ledger.audit.files.check_file`), paced to at most ``rate`` bytes per
second so that it never takes the disk from the service. Each missing or damaged file
raises an alert (:class:`~evidence.ledger.blobs.fixity.FixityAlerts`, ``where: scrub``);
each finished pass is recorded as the last full pass, which ``evidence status`` and
``/health`` report.

With a replicated store (``replica:<primary>|<replica>``) each copy is checked on its
own, and a copy found missing or damaged while the other is intact is rebuilt from it
(:func:`~evidence.ledger.audit.files.repair_copies`: the good copy hashed first, the
rebuilt one checked after) and a ``blob.repaired`` entry (``{"sha256", "copy",
"problem"}``) appended to the ledger. A repaired file is not a problem of the pass; one
that cannot be repaired (both copies bad) is, with an alert.

Configured by ``scrub_rate`` in ``<data-dir>/config.json`` or ``EVIDENCE_SCRUB_RATE``
(``50MiB`` = 50 MiB/s; ``0`` or absent: off). One process per data directory scrubs (an
``flock`` on ``<data-dir>/run/scrub.lock``): with several workers the others wait, and
take over if it stops.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from evidence.ledger.audit.files import (
    REPAIRED,
    FileProblem,
    FilesReport,
    check_stored,
    repair_copies,
    stored_files,
)
from evidence.ledger.blobs import BlobStore
from evidence.ledger.blobs.fixity import FixityAlerts, now
from evidence.ledger.blobs.replicated import ReplicatedBlobStore
from evidence.ledger.workers import wait_for_lock

if TYPE_CHECKING:  # pragma: no cover
    from evidence.ledger.log import Ledger

log = logging.getLogger("evidence.fixity")
ENV = "EVIDENCE_SCRUB_RATE"
PAUSE = 60.0
"""Seconds between two passes (and between two tries for the lock)."""


def scrub_rate(data_dir: Path) -> int:
    """Bytes per second from the environment or config.json; 0: off."""
    from evidence.ledger.intake.settings import parse_size

    raw: Any = os.environ.get(ENV)
    if raw is None:
        with contextlib.suppress(OSError, ValueError):
            raw = json.loads((data_dir / "config.json").read_text()).get("scrub_rate")
    if raw in (None, 0, "0", ""):
        return 0
    return parse_size(raw)


class Scrubber(threading.Thread):
    def __init__(self, engine: Engine, store: BlobStore, data_dir: Path, rate: int, *,
                 pause: float = PAUSE, ledger: Ledger | None = None) -> None:
        """``ledger``: where ``blob.repaired`` entries go; without one (or with a store
        of one copy) nothing is repaired, only reported."""
        super().__init__(name="scrubber", daemon=True)
        self.engine, self.store, self.rate, self.pause = engine, store, rate, pause
        self.ledger = ledger
        self.repaired: list[dict[str, str]] = []
        self.alerts = FixityAlerts(data_dir / "fixity")
        self.lock_path = data_dir / "run" / "scrub.lock"
        self.stop = threading.Event()
        self.passes = 0

    def run(self) -> None:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+b") as lock:
            wait_for_lock(lock, self.stop, self.pause)  # one scrubber per data directory
            while not self.stop.is_set():
                try:
                    self.one_pass()
                except Exception as e:  # a database hiccup: try again next time
                    log.warning("scrub pass failed: %r", e)
                self.stop.wait(self.pause)

    def one_pass(self) -> FilesReport | None:
        """Check every file once, paced; record the pass unless stopped half-way."""
        report = FilesReport(threads=1)
        files = stored_files(self.engine)
        report.files = len(files)
        t0 = time.monotonic()
        for sha, size, evs in files:
            if self.stop.is_set():
                return None
            state, detail, n, copy = check_stored(self.store, sha, size)
            report.bytes += n
            if state is not None and copy in ("primary", "replica"):
                if self.repair(sha, size, evs, copy, state, detail):
                    state = None
                else:
                    detail += "; not repaired"
            if state is not None:
                report.problems.append(FileProblem(sha, evs, state, detail, copy))
                self.alerts.alert(state, sha, evidence_ids=evs, where="scrub", detail=detail)
            ahead = report.bytes / self.rate - (time.monotonic() - t0)
            if ahead > 0 and self.stop.wait(ahead):
                return None
        report.seconds = time.monotonic() - t0
        try:
            self.alerts.record_audit({"finished_at": now(), "by": "scrub", **report.to_json()})
        except OSError as e:
            log.error("scrub pass not recorded: %s", e)
        self.passes += 1
        return report

    def repair(self, sha: str, size: int, evs: tuple[str, ...], copy: str, state: str,
               detail: str) -> bool:
        """Rebuild one bad copy and record it on the ledger; whether it was done."""
        if self.ledger is None or not isinstance(self.store, ReplicatedBlobStore):
            return False
        try:
            done = repair_copies(self.store, sha, size)
        except Exception as e:
            log.error("FIXITY REPAIR FAILED: blob %s (evidence %s), %s copy %s: %s", sha,
                      ",".join(evs) or "-", copy, state, e)
            return False
        if done is None:  # intact again by now (a concurrent repair)
            return True
        try:
            a = self.ledger.append(REPAIRED, done.body())
        except Exception as e:  # the copy is whole; the record of it must not be lost
            log.error("FIXITY REPAIRED but not recorded: blob %s %s copy (%s): %r", sha,
                      done.copy, done.problem, e)
            self.alerts.alert(state, sha, evidence_ids=evs, where="scrub",
                              detail=f"{detail}; repaired, but the ledger entry failed: {e}")
            return True
        log.warning("FIXITY REPAIRED: blob %s (evidence %s): the %s copy was %s; rebuilt "
                    "from the other, entry %d", sha, ",".join(evs) or "-", done.copy,
                    done.problem, a.seq)
        self.repaired.append({**done.body(), "seq": str(a.seq)})
        return True

    def close(self) -> None:
        self.stop.set()
        self.join(timeout=30)


def start_scrubber(engine: Engine, store: BlobStore, data_dir: Path, *,
                   ledger: Ledger | None = None) -> Scrubber | None:
    rate = scrub_rate(data_dir)
    if rate <= 0:
        return None
    pause = float(os.environ.get("EVIDENCE_SCRUB_PAUSE", PAUSE))  # tests: shorter
    s = Scrubber(engine, store, data_dir, rate, pause=pause, ledger=ledger)
    s.start()
    return s
