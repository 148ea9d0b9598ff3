"""A generic chat form, for exports no app-specific reader knows (a tool's CSV, a forensic
suite's report, a transcript typed up by a lawyer): CSV or JSON with documented columns.

CSV (``generic-csv``): a header row naming at least ``time``, ``sender`` and ``text``
(any order, any case; ``attachment`` optional, other columns ignored), then one row per
message, RFC 4180 quoting (a text may span lines inside quotes)::

    time,sender,text,attachment
    2026-06-12T21:03:15+08:00,张伟,你好,
    2026-06-12T21:04:02+08:00,Acme Sales,see the photo,IMG_0001.jpg

JSON (``generic-json``): ``{"messages": [{"time": ..., "sender": ..., "text": ...,
"attachment": ...}, ...]}`` (``chat_name`` optional).

``time`` is ISO 8601: with an offset or ``Z`` it is an instant (``first_message_utc``);
without, local time as given (``first_message_at``). A row whose sender is empty is a
notice (``system_message_count``). Rows with a time that does not parse are counted in a
warning, never guessed.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from evidence.ledger.intake.metadata.chat_summary import Span, Tally, iso, report
from evidence.ledger.intake.metadata.errors import MetadataError

COLUMNS = ("time", "sender", "text")
MAX_FIELD = 64 * 1024


def csv_header(line: str) -> dict[str, int] | None:
    """Column name -> index when ``line`` is a generic chat header, else None."""
    try:
        row = next(csv.reader([line.lstrip("\ufeff").rstrip("\r\n")]))
    except (csv.Error, StopIteration):
        return None
    names = {c.strip().lower(): i for i, c in enumerate(row)}
    return names if all(c in names for c in COLUMNS) else None


class _Reader:
    def __init__(self, fmt: str) -> None:
        self.t = Tally(fmt)
        self.local, self.bad_times = Span(), 0

    def message(self, when: object, sender: object, text: object, attachment: object) -> None:
        self._time(when)
        name = sender.strip() if isinstance(sender, str) else ""
        if isinstance(attachment, str) and attachment.strip():
            self.t.attachment(attachment)
        if not name:
            self.t.system += 1
            return
        self.t.speaker(name)

    def _time(self, when: object) -> None:
        try:
            moment = dt.datetime.fromisoformat(when.strip())  # type: ignore[union-attr]
        except (AttributeError, ValueError, TypeError):
            self.bad_times += 1
            return
        if moment.tzinfo is None:
            self.local.add(moment)
        else:
            self.t.utc.add(moment.astimezone(dt.UTC).replace(tzinfo=None))

    def report(self, **extra: Any) -> dict[str, Any]:
        if self.bad_times:
            self.t.warn(f"{self.bad_times} message(s) with a time that is not ISO 8601 "
                        "(not counted in the first and last times)")
        return report(self.t, first=iso(self.local.first), last=iso(self.local.last),
                      date_order="ymd" if self.t.messages + self.t.system else None,
                      **extra)


def summarise_csv(lines: Iterable[str]) -> dict[str, Any]:
    """The ``"chat"`` section of a generic CSV chat (the lines as decoded, bounded)."""
    r = _Reader("generic-csv")
    rows = csv.reader(lines)
    try:
        header = next(rows)
    except (StopIteration, csv.Error):
        return r.report()
    cols = {c.strip().lstrip("\ufeff").lower(): i for i, c in enumerate(header)}
    if not all(c in cols for c in COLUMNS):
        r.t.warn("CSV without the columns time, sender and text")
        return r.report()

    def cell(row: list[str], name: str) -> str | None:
        i = cols.get(name)
        return row[i] if i is not None and i < len(row) else None

    count = 0
    try:
        for row in rows:
            count += 1
            if not any(c.strip() for c in row):
                continue
            r.message(cell(row, "time"), cell(row, "sender"), cell(row, "text"),
                      cell(row, "attachment"))
    except csv.Error as e:
        r.t.warn(f"CSV row {count + 1} cannot be read ({e}); the rows after it were not "
                 "counted")
    return r.report()


def generic_json(doc: Any) -> list[dict[str, Any]] | None:
    """The message list of a generic JSON chat, or None if ``doc`` is not one."""
    if not isinstance(doc, dict) or not isinstance(doc.get("messages"), list):
        return None
    msgs = [m for m in doc["messages"] if isinstance(m, dict)]
    if msgs and not all("sender" in m and "time" in m for m in msgs[:20]):
        return None
    return msgs


def summarise_json(path: Path, doc: Any) -> dict[str, Any]:
    msgs = generic_json(doc)
    if msgs is None:
        raise MetadataError.for_file(path.name, "is not a generic JSON chat")
    r = _Reader("generic-json")
    for m in msgs:
        r.message(m.get("time"), m.get("sender"), m.get("text"), m.get("attachment"))
    name = doc.get("chat_name")
    return r.report(chat_name=name[:200] if isinstance(name, str) else None)


def read_json(path: Path) -> Any:
    """The file parsed under the same caps as a Telegram export (chat_telegram)."""
    from evidence.ledger.intake.metadata.chat_telegram import CONTAINER_DENSITY, MAX_JSON_BYTES

    if path.stat().st_size > MAX_JSON_BYTES:
        return None
    data = path.read_bytes()
    if data.count(b"{") + data.count(b"[") > len(data) // CONTAINER_DENSITY + 1000:
        return None
    try:
        return json.loads(data)
    except (RecursionError, UnicodeDecodeError, ValueError):
        return None  # the Telegram reader says why, with its own error
