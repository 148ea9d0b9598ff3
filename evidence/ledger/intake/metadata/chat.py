"""Chat-log exports: WhatsApp (iOS and Android, text or ZIP with media), WeChat text
(PC tools' "time name" and the phone's "name time" layouts), Telegram Desktop (JSON and
HTML), LINE (:mod:`.chat_line`) and a generic CSV/JSON form (:mod:`.chat_generic`).

We read the export; we never change it (the blob store keeps it byte for byte). What we
report is a summary a reader can check against the file:

Schema of the ``"chat"`` section (the same keys for every format)::

    {"format": "whatsapp-ios" | "whatsapp-android" | "wechat-pc" | "wechat-mobile"
               | "telegram-json" | "telegram-html" | "line" | "generic-csv"
               | "generic-json" | "unknown",
     "encoding": "utf-8" | "utf-16" | "gb18030" | null, "bom": bool,
     "message_count": int, "system_message_count": int,
     "participants": [{"name": str, "messages": int}],   # order of first appearance
     "participants_truncated": bool,
     "first_message_at": "YYYY-MM-DDTHH:MM[:SS]" | null,   # local time as exported, no zone
     "last_message_at": ... | null,
     "first_message_utc": "YYYY-MM-DDTHH:MM:SSZ" | null,   # only where the export states
     "last_message_utc": ... | null,                       # the instant (Telegram)
     "date_order": "dmy" | "mdy" | "ymd" | "ambiguous-dmy-assumed" | null,
     "attachments": [str],            # file names the messages refer to, first 2000
     "attachments_truncated": bool,
     "attachments_omitted": int,      # media the app left out ("<Media omitted>")
     "line_count": int | null, "preamble_lines": int | null,   # text exports
     "long_lines": int,               # lines over 64 KiB characters, read in part
     "replacement_characters": int,   # undecodable bytes seen (0 for a clean export)
     "warnings": [str]}               # e.g. nothing parsed: see metadata.file_warnings

Telegram adds ``chat_name`` and ``chat_type``; a WhatsApp ZIP adds ``archive``
(:mod:`.chat_zip`). Export times carry no time zone unless stated: WhatsApp's are the
exporting phone's local clock, with day and month in the phone's locale order (``dd/mm``
or ``mm/dd``), which we infer from the data and report.

Every reader is bounded: lines are read at most 64 KiB characters at a time, JSON and HTML
have size caps, archives go through :mod:`.safezip`. What exceeds a bound is a warning or a
:class:`MetadataError` naming the bound, never an unbounded read.
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from evidence.ledger.intake.metadata.chat_summary import Span, Tally, iso, report
from evidence.ledger.intake.metadata.errors import MetadataError

DETECT_LINES = 200
MAX_LINE = 64 * 1024
HEAD = 65536
_INVISIBLE = dict.fromkeys(map(ord, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\ufeff"), None)
_SPACES = {ord("\u202f"): " ", ord("\u00a0"): " "}

_DATE = r"(\d{1,2})[./-](\d{1,2})[./-](\d{2,4})"
_TIME = r"(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?(?:\s?([AaPp])\.?\s?[Mm]\.?)?"
WHATSAPP_IOS = re.compile(rf"^\[{_DATE},?\s{_TIME}\]\s(.*)$")
WHATSAPP_ANDROID = re.compile(rf"^{_DATE},?\s{_TIME}\s[-–]\s(.*)$")
WECHAT_PC = re.compile(r"^(\d{4})-(\d{2})-(\d{2})\s(\d{2}):(\d{2}):(\d{2})\s+(\S.*?)\s*$")
# the name first: "张伟 2026-06-12 21:03[:15]" or "张伟(2026-06-12 21:03:15)", as a merged
# chat history forwarded by e-mail from the phone, or copied out of it, reads
WECHAT_MOBILE = re.compile(r"^(\S.{0,199}?)\s*[(（]?(\d{4})[-/](\d{1,2})[-/](\d{1,2})\s"
                           r"(\d{1,2}):(\d{2})(?::(\d{2}))?[)）]?\s*$")

_FORMATS = {"whatsapp-ios": WHATSAPP_IOS, "whatsapp-android": WHATSAPP_ANDROID,
            "wechat-pc": WECHAT_PC, "wechat-mobile": WECHAT_MOBILE}

# iOS: "<attached: 00000012-PHOTO-2026-06-12-21-03-15.jpg>"; Android:
# "IMG-20260612-WA0001.jpg (file attached)" (the parenthesis is in the phone's language,
# so WhatsApp's own media names are taken with any, other names only with English).
_IOS_ATTACHED = re.compile(r"^<attached:\s*(.+?)>\s*$")
_ANDROID_ATTACHED = re.compile(
    r"^((?:IMG|VID|AUD|PTT|STK|DOC)-\d{8}-WA\d+\.\w{1,5}) \([^()]{1,60}\)\s*$"
    r"|^(.{1,200}?\.\w{1,8}) \(file attached\)\s*$")
_OMITTED = re.compile(r"^(?:<Media omitted>|(?:image|video|audio|sticker|GIF|document"
                      r"|Contact card) omitted)\s*$", re.IGNORECASE)
# iOS writes U+200E before what the app itself says ("Messages and calls are end-to-end
# encrypted", "Missed voice call"), even under a person's or the group's name; these
# marked texts are still the sender's own message:
_IOS_SENDERS_OWN = re.compile(r"^(?:This message was deleted\.?|You deleted this message\.?"
                              r"|This message was edited\.?)$", re.IGNORECASE)


@dataclass
class _Summary(Tally):
    lines: int = 0
    preamble: int = 0
    dmy: Span = field(default_factory=Span)
    mdy: Span = field(default_factory=Span)
    first_over_12: bool = False
    second_over_12: bool = False
    has_seconds: bool = True


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


def _whatsapp_line(s: _Summary, m: re.Match[str], marked: bool) -> None:
    a, b, year, hour, minute, second, ampm, rest = m.groups()
    y = int(year) + (2000 if len(year) == 2 else 0)
    clock = _clock(hour, minute, second, ampm)
    s.has_seconds = s.has_seconds and second is not None
    s.first_over_12 |= int(a) > 12
    s.second_over_12 |= int(b) > 12
    s.dmy.add(_make(y, int(b), int(a), clock))
    s.mdy.add(_make(y, int(a), int(b), clock))
    name, sep, text = rest.partition(": ")
    if not (sep and name and len(name) <= 200):
        s.system += 1  # "Messages are end-to-end encrypted", "X joined", ...
        return
    text = text.strip()
    if s.fmt == "whatsapp-ios" and (att := _IOS_ATTACHED.match(text)):
        s.attachment(att.group(1))
    elif s.fmt == "whatsapp-android" and (att := _ANDROID_ATTACHED.match(text)):
        s.attachment(att.group(1) or att.group(2))
    elif _OMITTED.match(text):
        s.attachments_omitted += 1
    elif marked and not _IOS_SENDERS_OWN.match(text):
        s.system += 1  # the app's notice under a name (see _IOS_SENDERS_OWN)
        return
    s.speaker(name)


def _wechat_line(s: _Summary, m: re.Match[str]) -> None:
    y, mo, d, hh, mm, ss, name = m.groups()
    s.speaker(name)
    s.dmy.add(_make(int(y), int(mo), int(d), (int(hh), int(mm), int(ss))))


def _wechat_mobile_line(s: _Summary, m: re.Match[str]) -> None:
    name, y, mo, d, hh, mm, ss = m.groups()
    s.speaker(name)
    s.has_seconds = s.has_seconds and ss is not None
    s.dmy.add(_make(int(y), int(mo), int(d), (int(hh), int(mm), int(ss or 0))))


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
        spaced = raw.rstrip("\r\n").translate(_SPACES)
        line = spaced.translate(_INVISIBLE)
        m = pattern.match(line) if pattern else None
        if m is None:
            if not seen_header and line.strip():
                s.preamble += 1
            continue  # a continuation line of a multi-line message
        seen_header = True
        if fmt == "wechat-pc":
            _wechat_line(s, m)
        elif fmt == "wechat-mobile":
            _wechat_mobile_line(s, m)
        else:
            _whatsapp_line(s, m, marked=": \u200e" in spaced)
    return _report(s)


def _report(s: _Summary) -> dict[str, Any]:
    if s.fmt in ("wechat-pc", "wechat-mobile"):
        order, span = "ymd", s.dmy
    elif s.fmt == "unknown" or (s.messages + s.system) == 0:
        order, span = None, Span()
    elif s.first_over_12:
        order, span = "dmy", s.dmy
    elif s.second_over_12:
        order, span = "mdy", s.mdy
    else:
        order, span = "ambiguous-dmy-assumed", s.dmy
    spec = "seconds" if s.has_seconds else "minutes"
    return report(s, first=iso(span.first, spec), last=iso(span.last, spec), date_order=order,
                  line_count=s.lines, preamble_lines=s.preamble)


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


Opener = Callable[[], IO[bytes]]


def extract_chat(path: Path) -> dict[str, Any]:
    """Describe a chat export. An unrecognised layout is not an error: format "unknown",
    with a warning (see :func:`.chat_summary.report`)."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEAD)
        if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
            from evidence.ledger.intake.metadata.chat_zip import extract_chat_zip

            return extract_chat_zip(path)
        start = _start(head)
        if start.startswith(b"{"):
            from evidence.ledger.intake.metadata import chat_generic
            from evidence.ledger.intake.metadata.chat_telegram import extract_telegram_json

            if b'"sender"' in head:  # cheap gate before a second parse
                doc = chat_generic.read_json(path)
                if chat_generic.generic_json(doc) is not None:
                    return chat_generic.summarise_json(path, doc)

            return extract_telegram_json(path, head)
        if start[:14].lower().startswith((b"<!doctype html", b"<html")):
            from evidence.ledger.intake.metadata.chat_telegram import extract_telegram_html

            return extract_telegram_html(path, head)
        return summarise_stream(lambda: open(path, "rb"))
    except OSError as e:
        raise MetadataError.for_file(path.name, f"cannot be read: {e.strerror or e}") from None


def _start(head: bytes) -> bytes:
    """The head after a UTF-8 BOM and white space (UTF-16 text is never JSON or HTML here:
    Telegram writes UTF-8)."""
    if head.startswith(codecs.BOM_UTF8):
        head = head[3:]
    return head.lstrip(b" \t\r\n")


def summarise_stream(opener: Opener) -> dict[str, Any]:
    """Summarise a text export read three times from ``opener`` (encoding, layout, counts):
    a file, or a member of an archive."""
    with opener() as f:
        head = f.read(HEAD)
    codec, bom = _encoding(head)
    from evidence.ledger.intake.metadata.chat_generic import csv_header, summarise_csv
    from evidence.ledger.intake.metadata.chat_line import looks_like_line, summarise_line

    with opener() as f:
        sample = list(_Lines(f, codec, limit=DETECT_LINES))
    if sample and csv_header(sample[0]) is not None:
        fmt = "generic-csv"
    else:
        fmt = "line" if looks_like_line(sample) else detect_format(sample)
    with opener() as f:
        counted = _Lines(f, codec)
        section = (summarise_line(counted) if fmt == "line"
                   else summarise_csv(counted) if fmt == "generic-csv"
                   else summarise_lines(counted, fmt))
    section["encoding"] = {"utf-8-sig": "utf-8"}.get(codec, codec)
    section["bom"] = bom
    section["long_lines"] = counted.long_lines
    section["replacement_characters"] = counted.replacements
    if counted.long_lines:
        section["warnings"].append(f"{counted.long_lines} line(s) longer than {MAX_LINE} "
                                   "characters were read only in part")
    return section


class _Lines:
    """Decoded lines of ``f``, streamed, each at most :data:`MAX_LINE` characters: the rest
    of a longer line is skipped, never held in memory, and counted in ``long_lines``.
    ``replacements`` counts U+FFFD (bytes that did not decode). ``f`` stays open."""

    def __init__(self, f: IO[bytes], codec: str, limit: int | None = None) -> None:
        self.f, self.codec, self.limit = f, codec, limit
        self.replacements = 0
        self.long_lines = 0

    def __iter__(self) -> Iterator[str]:
        text = io.TextIOWrapper(self.f, encoding=self.codec,  # type: ignore[type-var]
                                errors="replace", newline=None)
        try:
            n = 0
            while self.limit is None or n < self.limit:
                line = text.readline(MAX_LINE)
                if not line:
                    break
                if len(line) >= MAX_LINE and not line.endswith("\n"):
                    self.long_lines += 1
                    while (more := text.readline(MAX_LINE)) and not more.endswith("\n"):
                        pass
                n += 1
                self.replacements += line.count("\ufffd")
                yield line
        finally:
            text.detach()  # otherwise closing the wrapper would close f
