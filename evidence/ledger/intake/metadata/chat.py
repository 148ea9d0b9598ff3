"""Chat-log exports in plain text: WhatsApp (iOS and Android) and WeChat PC style.

We read the export; we never change it (the blob store keeps it byte for byte). What we
report is a summary a reader can check against the file:

Schema of the ``"chat"`` section::

    {"format": "whatsapp-ios" | "whatsapp-android" | "wechat-pc" | "unknown",
     "encoding": "utf-8" | "utf-16" | "gb18030" | null, "bom": bool,
     "message_count": int, "system_message_count": int,
     "participants": [{"name": str, "messages": int}],   # order of first appearance
     "participants_truncated": bool,
     "first_message_at": "YYYY-MM-DDTHH:MM[:SS]" | null,   # local time as exported, no zone
     "last_message_at": ... | null,
     "date_order": "dmy" | "mdy" | "ymd" | "ambiguous-dmy-assumed" | null,
     "line_count": int, "preamble_lines": int,
     "replacement_characters": int}    # undecodable bytes seen (0 for a clean export)

Export times carry no time zone: they are the exporting phone's local clock, and WhatsApp
writes day and month in the phone's locale order (``dd/mm`` or ``mm/dd``), which we infer
from the data and report.
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from evidence.ledger.intake.metadata.errors import MetadataError

MAX_PARTICIPANTS = 500
DETECT_LINES = 200
_INVISIBLE = dict.fromkeys(map(ord, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\ufeff"), None)
_SPACES = {ord("\u202f"): " ", ord("\u00a0"): " "}

_DATE = r"(\d{1,2})[./-](\d{1,2})[./-](\d{2,4})"
_TIME = r"(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?(?:\s?([AaPp])\.?\s?[Mm]\.?)?"
WHATSAPP_IOS = re.compile(rf"^\[{_DATE},?\s{_TIME}\]\s(.*)$")
WHATSAPP_ANDROID = re.compile(rf"^{_DATE},?\s{_TIME}\s[-–]\s(.*)$")
WECHAT_PC = re.compile(r"^(\d{4})-(\d{2})-(\d{2})\s(\d{2}):(\d{2}):(\d{2})\s+(\S.*?)\s*$")

_FORMATS = {"whatsapp-ios": WHATSAPP_IOS, "whatsapp-android": WHATSAPP_ANDROID,
            "wechat-pc": WECHAT_PC}


@dataclass
class _Span:
    """Earliest and latest time seen under one reading of the dates."""

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
class _Summary:
    fmt: str
    messages: int = 0
    system: int = 0
    lines: int = 0
    preamble: int = 0
    participants: dict[str, int] = field(default_factory=dict)
    truncated: bool = False
    dmy: _Span = field(default_factory=_Span)
    mdy: _Span = field(default_factory=_Span)
    first_over_12: bool = False
    second_over_12: bool = False
    has_seconds: bool = True

    def speaker(self, name: str) -> None:
        name = name.strip()[:200]
        if name in self.participants:
            self.participants[name] += 1
        elif len(self.participants) < MAX_PARTICIPANTS:
            self.participants[name] = 1
        else:
            self.truncated = True


def _clock(hour: str, minute: str, second: str | None, ampm: str | None) -> tuple[int, int, int]:
    h, m, s = int(hour), int(minute), int(second or 0)
    if ampm:
        h = h % 12 + (12 if ampm.lower() == "p" else 0)
    return h, m, s


def _make(y: int, mo: int, d: int, clock: tuple[int, int, int]) -> dt.datetime | None:
    try:
        return dt.datetime(y, mo, d, *clock)
    except ValueError:
        return None


def _whatsapp_line(s: _Summary, m: re.Match[str]) -> None:
    a, b, year, hour, minute, second, ampm, rest = m.groups()
    y = int(year) + (2000 if len(year) == 2 else 0)
    clock = _clock(hour, minute, second, ampm)
    s.has_seconds = s.has_seconds and second is not None
    s.first_over_12 |= int(a) > 12
    s.second_over_12 |= int(b) > 12
    s.dmy.add(_make(y, int(b), int(a), clock))
    s.mdy.add(_make(y, int(a), int(b), clock))
    name, sep, _ = rest.partition(": ")
    if sep and name and len(name) <= 200:
        s.messages += 1
        s.speaker(name)
    else:
        s.system += 1  # "Messages are end-to-end encrypted", "X joined", ...


def _wechat_line(s: _Summary, m: re.Match[str]) -> None:
    y, mo, d, hh, mm, ss, name = m.groups()
    s.messages += 1
    s.speaker(name)
    s.dmy.add(_make(int(y), int(mo), int(d), (int(hh), int(mm), int(ss))))


def detect_format(lines: Iterable[str]) -> str:
    """The export format whose message header matches most of the sample lines."""
    counts = dict.fromkeys(_FORMATS, 0)
    for line in lines:
        line = line.translate(_INVISIBLE).translate(_SPACES)
        for name, pattern in _FORMATS.items():
            if pattern.match(line):
                counts[name] += 1
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] else "unknown"


def summarise_lines(lines: Iterable[str], fmt: str) -> dict[str, Any]:
    """Summarise decoded lines of a known format (pure; the property tests call this)."""
    s = _Summary(fmt)
    pattern = _FORMATS.get(fmt)
    seen_header = False
    for raw in lines:
        s.lines += 1
        line = raw.rstrip("\r\n").translate(_INVISIBLE).translate(_SPACES)
        m = pattern.match(line) if pattern else None
        if m is None:
            if not seen_header and line.strip():
                s.preamble += 1
            continue  # a continuation line of a multi-line message
        seen_header = True
        if fmt == "wechat-pc":
            _wechat_line(s, m)
        else:
            _whatsapp_line(s, m)
    return _report(s)


def _report(s: _Summary) -> dict[str, Any]:
    if s.fmt == "wechat-pc":
        order, span = "ymd", s.dmy
    elif s.fmt == "unknown" or (s.messages + s.system) == 0:
        order, span = None, _Span()
    elif s.first_over_12:
        order, span = "dmy", s.dmy
    elif s.second_over_12:
        order, span = "mdy", s.mdy
    else:
        order, span = "ambiguous-dmy-assumed", s.dmy
    spec = "seconds" if s.has_seconds else "minutes"
    return {
        "format": s.fmt,
        "message_count": s.messages,
        "system_message_count": s.system,
        "participants": [{"name": n, "messages": c} for n, c in s.participants.items()],
        "participants_truncated": s.truncated,
        "first_message_at": span.first.isoformat(timespec=spec) if span.first else None,
        "last_message_at": span.last.isoformat(timespec=spec) if span.last else None,
        "date_order": order,
        "line_count": s.lines,
        "preamble_lines": s.preamble,
    }


def _encoding(head: bytes) -> tuple[str, bool]:
    """(codec, has_bom) from the first bytes: BOM, else UTF-8 if it decodes, else GB 18030."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", True
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", True
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=False)
        return "utf-8", False
    except UnicodeDecodeError:
        pass
    try:
        codecs.getincrementaldecoder("gb18030")().decode(head, final=False)
        return "gb18030", False
    except UnicodeDecodeError:
        return "utf-8", False


def extract_chat(path: Path) -> dict[str, Any]:
    """Describe a chat export. An unrecognised layout is not an error: format "unknown"."""
    try:
        with open(path, "rb") as f:
            head = f.read(65536)
            codec, bom = _encoding(head)
            fmt = detect_format(_lines(f, codec, limit=DETECT_LINES))
            counted = _CountingLines(_lines(f, codec))
            section = summarise_lines(counted, fmt)
    except OSError as e:
        raise MetadataError.for_file(path.name, f"cannot be read: {e.strerror or e}") from None
    section["encoding"] = {"utf-8-sig": "utf-8"}.get(codec, codec)
    section["bom"] = bom
    section["replacement_characters"] = counted.replacements
    return section


def _lines(f: BinaryIO, codec: str, limit: int | None = None) -> Iterator[str]:
    """Decoded lines from the start of ``f``, streamed; ``f`` stays open afterwards."""
    f.seek(0)
    text = io.TextIOWrapper(f, encoding=codec, errors="replace", newline=None)
    try:
        for n, line in enumerate(text):
            if limit is not None and n >= limit:
                break
            yield line
    finally:
        text.detach()  # otherwise closing the wrapper would close f


class _CountingLines:
    """Iterates text lines and counts U+FFFD (bytes that did not decode)."""

    def __init__(self, text: Iterable[str]) -> None:
        self.text = text
        self.replacements = 0

    def __iter__(self) -> Iterator[str]:
        for line in self.text:
            self.replacements += line.count("\ufffd")
            yield line
