"""Follow the logs of witness-network.org log lists (``evidence witness serve --log-list``).

The network's rule for witnesses (witness-network.org/participate): a downloaded list is
not the witness's configuration. Every *new* log it names (its origin not followed yet)
is added to the witness's own state, with its key and its budget (``qpd``); a log already
followed is never removed or changed because a list changed, so whoever maintains the
list cannot take back or alter what this witness already witnesses. A log neither on a
list nor added by hand is refused as c2sp.org/tlog-witness says (404 ``unknown-log``).

:class:`ListWatcher` applies the lists at start, whenever a file's size or modification
time changes (checked every few seconds), and at once on :meth:`ListWatcher.wake`
(``SIGHUP``). A list that cannot be read or does not parse is reported and skipped
whole: the logs already followed carry on, and the next change is tried again.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from evidence.witness.core import LogRecord
from evidence.witness.cosigner import Witness
from evidence.witness.loglist import MAX_LIST_SIZE, LogListError, parse_log_list
from evidence.witness.store import StoreError

__all__ = ["ApplyReport", "ListWatcher", "apply_log_list"]

log = logging.getLogger("evidence.witness")
POLL_S = 5.0


@dataclass
class ApplyReport:
    """What one reading of one list did."""

    path: str
    added: list[str] = field(default_factory=list)
    already: int = 0
    error: str | None = None


def apply_log_list(witness: Witness, path: Path) -> ApplyReport:
    """Add the new logs of the list at ``path`` to ``witness`` (see the module doc)."""
    report = ApplyReport(str(path))
    try:
        with Path(path).open("rb") as f:
            data = f.read(MAX_LIST_SIZE + 1)
        listed = parse_log_list(data)
    except (OSError, LogListError) as e:
        report.error = f"log list {path}: {e}"
        log.error("%s; the logs already followed are unchanged", report.error)
        return report
    for entry in listed:
        try:
            added = witness.store.add_log(LogRecord(entry.origin, (entry.key,)), qpd=entry.qpd,
                                          listed_in=str(path), contact=entry.contact)
        except (StoreError, ValueError) as e:  # not one log's fault: say it, go on
            log.error("log list %s line %d: %s", path, entry.line, e)
            continue
        if added:
            report.added.append(entry.origin)
            log.info("following %r from log list %s (key %s, %d requests a day)",
                     entry.origin, path, entry.key.to_string(), entry.qpd)
        else:
            report.already += 1
    return report


class ListWatcher(threading.Thread):
    """Applies the lists now, then again whenever one changes or :meth:`wake` is called."""

    def __init__(self, witness: Witness, paths: list[Path], *, poll: float = POLL_S) -> None:
        super().__init__(name="witness-lists", daemon=True)
        self.witness, self.paths, self.poll = witness, [Path(p) for p in paths], poll
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._seen: dict[Path, tuple[int, int] | None] = {}
        self.reports: list[ApplyReport] = []
        self.apply_all(force=True)

    def _stamp(self, p: Path) -> tuple[int, int] | None:
        try:
            st = p.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def apply_all(self, *, force: bool = False) -> list[ApplyReport]:
        done = []
        for p in self.paths:
            stamp = self._stamp(p)
            if not force and stamp is not None and self._seen.get(p) == stamp:
                continue
            self._seen[p] = stamp
            done.append(apply_log_list(self.witness, p))
        self.reports = done or self.reports
        return done

    def wake(self) -> None:
        """Read every list again now (``SIGHUP``), changed or not."""
        self._wake.set()

    def run(self) -> None:
        while not self._stop.is_set():
            woken = self._wake.wait(self.poll)
            if self._stop.is_set():
                return
            self._wake.clear()
            try:
                self.apply_all(force=woken)
            except Exception:  # the witness keeps serving what it follows
                log.exception("applying the log lists failed")

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self.join(timeout=10)
