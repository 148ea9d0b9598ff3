"""What every chat summary counts, whatever the app: one place, so the formats agree.

Every parser (text exports in :mod:`.chat`, Telegram in :mod:`.chat_telegram`, WhatsApp
archives in :mod:`.chat_zip`) fills a :class:`Tally` and reports it through
:func:`report`, so the ``"chat"`` section has the same keys for every format and a reader
(or the report) never has to know which app wrote the file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

MAX_PARTICIPANTS = 500
MAX_ATTACHMENTS = 2000
MAX_NAME = 200
MAX_WARNINGS = 20


@dataclass
class Span:
    """Earliest and latest time seen (under one reading of the dates)."""

    first: dt.datetime | None = None
    last: dt.datetime | None = None

    def add(self, when: dt.datetime | None) -> None:
        if when is None:
            return
        if self.first is None or when < self.first:
            self.first = when
        if self.last is None or when > self.last:
            self.last = when


@dataclass
class Tally:
    """Counts that grow while a parser reads; capped lists say when they were capped."""

    fmt: str
    messages: int = 0
    system: int = 0
    participants: dict[str, int] = field(default_factory=dict)
    participants_truncated: bool = False
    attachments: dict[str, None] = field(default_factory=dict)  # ordered set
    attachments_truncated: bool = False
    attachments_omitted: int = 0
    utc: Span = field(default_factory=Span)
    warnings: list[str] = field(default_factory=list)

    def speaker(self, name: str) -> None:
        """One message by ``name`` (names are the exporting device's, cut to 200 chars)."""
        self.messages += 1
        name = name.strip()[:MAX_NAME]
        if name in self.participants:
            self.participants[name] += 1
        elif len(self.participants) < MAX_PARTICIPANTS:
            self.participants[name] = 1
        else:
            self.participants_truncated = True

    def attachment(self, name: str) -> None:
        """A file the messages refer to, by the name the export gives it."""
        name = name.strip()[:MAX_NAME]
        if not name or name in self.attachments:
            return
        if len(self.attachments) < MAX_ATTACHMENTS:
            self.attachments[name] = None
        else:
            self.attachments_truncated = True

    def warn(self, text: str) -> None:
        if len(self.warnings) < MAX_WARNINGS and text not in self.warnings:
            self.warnings.append(text)


def iso(when: dt.datetime | None, spec: str = "seconds") -> str | None:
    return when.isoformat(timespec=spec) if when is not None else None


def report(t: Tally, *, first: str | None, last: str | None, date_order: str | None,
           **extra: Any) -> dict[str, Any]:
    """The ``"chat"`` section. A summary with no message at all carries a warning: an
    export that parses to nothing is either not this kind of file or was emptied, and
    either way nobody should read its summary as a conversation."""
    if t.messages == 0:
        what = "no chat layout was recognised" if t.fmt == "unknown" else (
            f"no messages were found in this {t.fmt} export")
        t.warn(f"{what}: the file is preserved, but its summary is empty")
    section: dict[str, Any] = {
        "format": t.fmt,
        "message_count": t.messages,
        "system_message_count": t.system,
        "participants": [{"name": n, "messages": c} for n, c in t.participants.items()],
        "participants_truncated": t.participants_truncated,
        "first_message_at": first,
        "last_message_at": last,
        "first_message_utc": _utc(t.utc.first),
        "last_message_utc": _utc(t.utc.last),
        "date_order": date_order,
        "attachments": list(t.attachments),
        "attachments_truncated": t.attachments_truncated,
        "attachments_omitted": t.attachments_omitted,
    }
    section.update(extra)
    section["warnings"] = list(t.warnings)
    return section


def _utc(when: dt.datetime | None) -> str | None:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when is not None else None
