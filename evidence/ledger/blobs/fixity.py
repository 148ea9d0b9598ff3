"""Operator alerts for fixity failures: a stored file that is missing or no longer hashes
to its name.

A failure found while serving (a download, an export) or by ``evidence audit`` is:

* logged at ERROR on the ``evidence.fixity`` logger (what log monitoring alerts on);
* appended as one JSON line to ``DIR/fixity/alerts.jsonl`` (``O_APPEND``: the lines of
  several server workers and of the CLI do not interleave), which ``evidence status``
  and ``/health`` count, so the alert outlives the process that saw it.

``evidence audit`` (with files) also writes ``DIR/fixity/last-audit.json``: when the
last full pass over the stored files ended and what it found. The service is *degraded*
while the last full pass found damage, or an alert was raised after it: an audit that
finds every file intact after a repair clears the state; nothing else does.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("evidence.fixity")

ALERTS = "alerts.jsonl"
LAST_AUDIT = "last-audit.json"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FixityAlerts:
    """The alert file of one data directory (``directory`` None: log only)."""

    def __init__(self, directory: str | Path | None) -> None:
        self.directory = None if directory is None else Path(directory)

    def alert(self, state: str, sha256: str, *, evidence_ids: list[str] | tuple[str, ...] = (),
              where: str, detail: str, to_log: bool = True) -> None:
        """Raise one alert: ``state`` is ``damaged`` or ``missing``; ``where`` what found it
        (download, range, export, audit). Never raises: the caller is already failing.
        ``to_log=False``: a command that prints the failure itself (no second line)."""
        if to_log:
            log.error("FIXITY %s: blob %s (evidence %s) found by %s: %s", state.upper(), sha256,
                      ",".join(evidence_ids) or "-", where, detail)
        if self.directory is None:
            return
        line = json.dumps({"time": now(), "state": state, "sha256": sha256,
                           "evidence_ids": list(evidence_ids), "where": where,
                           "detail": detail}, separators=(",", ":")) + "\n"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.directory / ALERTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        except OSError as e:  # a full disk must not hide the alert: it is in the log
            log.error("fixity alert not written to %s: %s", self.directory, e)

    def record_audit(self, report: dict[str, Any]) -> None:
        """Keep the summary of a full pass over the files (replaced atomically)."""
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f".{LAST_AUDIT}.{os.getpid()}"
        tmp.write_text(json.dumps(report, sort_keys=True))
        os.replace(tmp, self.directory / LAST_AUDIT)

    def summary(self) -> dict[str, Any]:
        """What ``evidence status`` and ``/health`` show: counts of alerts (in all and
        since the last full pass), the newest alert, the last full pass, and whether the
        service is degraded by damage; ``known``: SHA-256 -> state of every file the
        last full pass or a later alert found missing or damaged."""
        alerts: list[dict[str, Any]] = []
        last_audit: dict[str, Any] | None = None
        if self.directory is not None:
            with contextlib.suppress(FileNotFoundError), \
                    open(self.directory / ALERTS, encoding="utf-8") as f:
                for raw in f:
                    with contextlib.suppress(ValueError):
                        alerts.append(json.loads(raw))
            with contextlib.suppress(FileNotFoundError, ValueError):
                last_audit = json.loads((self.directory / LAST_AUDIT).read_text())
        since = [a for a in alerts if last_audit is None
                 or str(a.get("time", "")) > str(last_audit.get("finished_at", ""))]
        audit_bad = bool(last_audit and (last_audit.get("damaged") or last_audit.get("missing")))
        known: dict[str, str] = {}
        for key in ("missing", "damaged"):
            for p in (last_audit or {}).get(key) or []:
                known[p.get("sha256", "")] = key
        for a in since:
            known[str(a.get("sha256", ""))] = str(a.get("state"))
        return {
            "known": known,
            "alerts": len(alerts),
            "damaged": sum(a.get("state") == "damaged" for a in alerts),
            "missing": sum(a.get("state") == "missing" for a in alerts),
            "alerts_since_last_audit": len(since),
            "last_alert": alerts[-1] if alerts else None,
            "last_audit": last_audit,
            "degraded": audit_bad or bool(since),
        }
