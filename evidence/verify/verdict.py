"""The verdict of a bundle: named checks, and the one word computed from them alone.

docs/verdict.md is the contract: each check is ``pass``, ``fail`` or ``not-checked`` with a
one-line reason in English and Chinese (section 1), and the top verdict (failed,
provisional, incomplete, verified) follows from the checks by the rule in section 2,
never from anything else. :class:`BundleReport` also carries what the passing checks
established (times, files, custody, the web capture), and :meth:`BundleReport.settle`
withdraws every such claim once any check failed.

Imports: stdlib and ``evidence.verify`` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["FAIL", "FAILED", "INCOMPLETE", "NOT_CHECKED", "PASS", "PROVISIONAL", "VERIFIED",
           "BundleReport", "Check", "earliest"]

PASS, FAIL, NOT_CHECKED = "pass", "fail", "not-checked"
FAILED, PROVISIONAL, INCOMPLETE, VERIFIED = "failed", "provisional", "incomplete", "verified"
MAX_REASON = 300


def _one_line(text: str) -> str:
    """A reason a judge reads: one line, bounded (docs/verdict.md section 1)."""
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_REASON else text[:MAX_REASON - 1] + "…"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    reason: str
    reason_zh: str
    required: bool = True
    detail: str | None = field(default=None, compare=False)
    """Library error text behind a reason: for ``--debug`` only, never in a reason."""

    @property
    def ok(self) -> bool:
        return self.status == PASS

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "ok": self.ok,
                "required": self.required, "reason": self.reason,
                "reason_zh": self.reason_zh}


@dataclass
class BundleReport:
    """What was checked, and what the checks established (filled as they pass)."""

    checks: list[Check] = field(default_factory=list)
    evidence_id: str | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    checkpoint: dict[str, Any] | None = None
    submitted_at: str | None = None
    preserved_no_later_than: list[dict[str, str]] = field(default_factory=list)
    custody: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    purged: bool = False
    provisional: bool = False
    still_in_log: dict[str, Any] | None = None
    tool: dict[str, Any] | None = None
    """``tools/verify_bundle.py`` when the bundle carries it: its SHA-256 and size."""
    compared: list[dict[str, Any]] = field(default_factory=list)
    format: str | None = None
    """The bundle's format (``evidence-bundle/v2`` or ``v1``) once the manifest named one
    this verifier reads; None before."""
    webcapture: dict[str, Any] | None = None
    """A web capture's facts from its signed manifest (docs/verdict.md section 6), once
    the ``webcapture`` check passed or was not checked; None after any failure."""
    running: str = field(default="archive", repr=False)
    """The check in progress (a structural surprise fails this one)."""

    @property
    def verdict(self) -> str:
        """docs/verdict.md section 2, from the checks alone."""
        if not self.checks or any(c.status == FAIL for c in self.checks):
            return FAILED
        if self.provisional:
            return PROVISIONAL
        # a supplementary check (required=False: evidence_record) not made is listed in
        # not_checked and shown, but leaves the verdict to the required checks; its failure
        # still fails (tests/verdicts/test_ers_member.py "genuine/other-tsa-pinned")
        if any(c.status == NOT_CHECKED and c.required for c in self.checks):
            return INCOMPLETE
        return VERIFIED

    @property
    def ok(self) -> bool:
        return self.verdict == VERIFIED

    @property
    def failed_check(self) -> str | None:
        return next((c.name for c in self.checks if c.status == FAIL), None)

    @property
    def not_checked(self) -> list[str]:
        return [c.name for c in self.checks if c.status == NOT_CHECKED]

    @property
    def checkpoint_size(self) -> int | None:
        return None if self.checkpoint is None else self.checkpoint["size"]

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def add(self, name: str, ok: bool | str, reason: str, reason_zh: str, *,
            required: bool = True, detail: str | None = None) -> bool:
        status = ok if isinstance(ok, str) else PASS if ok else FAIL
        self.checks.append(Check(name, status, _one_line(reason), _one_line(reason_zh),
                                 required, detail))
        return status == PASS

    def fail(self, name: str, reason: str, reason_zh: str, *, detail: str | None = None,
             required: bool = True) -> None:
        self.add(name, FAIL, reason, reason_zh, required=required, detail=detail)

    def not_checked_(self, name: str, reason: str, reason_zh: str, *,
                     required: bool = True) -> None:
        self.add(name, NOT_CHECKED, reason, reason_zh, required=required)

    def settle(self) -> None:
        """After a failure no summary claims anything (docs/verdict.md section 2)."""
        if self.verdict == FAILED:
            self.preserved_no_later_than = []
            self.webcapture = None
            for f in self.files:
                f.pop("included", None)
            self.checks = [
                Check(c.name, c.status, "the timestamps verify, but no time is claimed: "
                      "another check failed",
                      "时间戳验证通过，但因其他检查未通过，不据此主张任何时间",
                      c.required, c.detail) if c.name == "timestamps" and c.ok else c
                for c in self.checks]

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "ok": self.ok,
            "failed_check": self.failed_check,
            "not_checked": self.not_checked,
            "format": self.format,
            "evidence_id": self.evidence_id,
            "provisional": self.provisional,
            "checkpoint": self.checkpoint,
            "submitted_at": self.submitted_at,
            "preserved_no_later_than": self.preserved_no_later_than,
            "purged": self.purged,
            "files": self.files,
            "compared": self.compared,
            "custody": self.custody,
            "metadata": self.metadata,
            "still_in_log": self.still_in_log,
            "tool": self.tool,
            "webcapture": self.webcapture,
            "checks": [c.to_json() for c in self.checks],
        }


def earliest(report: BundleReport) -> datetime | None:
    times = [datetime.fromisoformat(t["gen_time"]) for t in report.preserved_no_later_than]
    return min(times) if times else None
