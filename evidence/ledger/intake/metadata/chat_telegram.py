"""Telegram Desktop exports ("Export chat history"): ``result.json`` and ``messages.html``.

The JSON export is one object: ``{"name", "type", "id", "messages": [...]}`` for one chat,
or ``{"chats": {"list": [chat, ...]}, "left_chats": {...}, ...}`` for a whole account.
Each message has ``type`` (``message`` or ``service``), ``date`` (local time of the
exporting computer, no zone) and, in exports since 2022, ``date_unixtime`` (the instant,
which we report as UTC), ``from``/``from_id`` for the sender, and ``photo``/``file`` with the
path of the media in the export folder, or a note that it was not included.

The HTML export is split into ``messages.html``, ``messages2.html``, ... (about 1000
messages each). A message is a ``div.message`` with ``id="messageN"``; its body holds
``div.from_name`` (absent in a "joined" message: same sender as the one before),
``div.date`` whose ``title`` is ``dd.mm.yyyy hh:mm:ss`` with ``UTC+hh:mm`` in newer exports,
``div.text``, and media as relative links (``photos/...``, ``files/...``). Date separators
are service messages with a negative id and are not counted.

Both are read as hostile input: the JSON up to :data:`MAX_JSON_BYTES` (larger files are
preserved with an extraction error saying so: the whole object must be in memory to parse
it, and a file denser in brackets than any export is refused before parsing, so memory
stays a small multiple of the cap); the HTML streamed, with any markup left unterminated
past :data:`MAX_PENDING` ending the read with a warning.
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from evidence.ledger.intake.metadata.chat_summary import MAX_NAME, Span, Tally, iso, report
from evidence.ledger.intake.metadata.errors import MetadataError

MAX_JSON_BYTES = 16 * 1024 * 1024
CONTAINER_DENSITY = 8  # at most one { or [ per this many bytes (real exports: ~1 per 50)
MAX_HTML_BYTES = 256 * 1024 * 1024
MAX_PENDING = 1024 * 1024
CHUNK = 64 * 1024
_NOT_INCLUDED = ("(File not included", "(File exceeds maximum size")
_HTML_DATE = re.compile(r"^\s*(\d{2})\.(\d{2})\.(\d{4}) (\d{2}):(\d{2}):(\d{2})"
                        r"(?: UTC([+-])(\d{2}):?(\d{2}))?")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


# -- JSON ------------------------------------------------------------------------------


def extract_telegram_json(path: Path, head: bytes) -> dict[str, Any]:
    """Summarise ``result.json``. Raises :class:`MetadataError` if it is too large or not
    JSON; JSON of another shape is format ``unknown`` (with a warning)."""
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise MetadataError.for_file(path.name, (
            f"is a {size}-byte JSON file; chat exports in JSON are summarised up to "
            f"{MAX_JSON_BYTES} bytes (the file is preserved unsummarised)"))
    data = path.read_bytes()
    if data.count(b"{") + data.count(b"[") > len(data) // CONTAINER_DENSITY + 1000:
        # parsed, such a file would take tens of times its size in memory
        raise MetadataError.for_file(path.name, (
            "is JSON made mostly of brackets, unlike any chat export: not parsed "
            "(the file is preserved unsummarised)"))
    try:
        doc = json.loads(data)
    except RecursionError:
        raise MetadataError.for_file(path.name, "is JSON nested too deeply to read") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise MetadataError.for_file(path.name, f"is not valid JSON ({e})") from None
    chats = _chats(doc)
    t = Tally("telegram-json" if chats is not None else "unknown")
    local = Span()
    if chats is None:
        t.warn("JSON, but not a Telegram Desktop export (no \"messages\" list)")
        chats = []
    for chat in chats:
        for msg in chat.get("messages") or ():
            if isinstance(msg, dict):
                _json_message(t, local, msg)
    one = chats[0] if len(chats) == 1 else None
    return report(
        t, first=iso(local.first), last=iso(local.last),
        date_order="ymd" if local.first else None,
        encoding="utf-8", bom=data.startswith(codecs.BOM_UTF8),
        line_count=None, preamble_lines=None, long_lines=0, replacement_characters=0,
        chat_name=_text(one.get("name")) if one else None,
        chat_type=(_text(one.get("type")) if one else ("account" if chats else None)),
        chat_count=len(chats))


def _chats(doc: Any) -> list[dict[str, Any]] | None:
    """The chats in a one-chat or a whole-account export, or None for another shape."""
    if not isinstance(doc, dict):
        return None
    if isinstance(doc.get("messages"), list):
        return [doc]
    found = None
    for key in ("chats", "left_chats"):
        group = doc.get(key)
        if isinstance(group, dict) and isinstance(group.get("list"), list):
            found = (found or []) + [c for c in group["list"]
                                     if isinstance(c, dict) and isinstance(c.get("messages"),
                                                                           list)]
    return found


def _json_message(t: Tally, local: Span, msg: dict[str, Any]) -> None:
    local.add(_local_time(msg.get("date")))
    t.utc.add(_unix(msg.get("date_unixtime")))
    if msg.get("type") == "service":
        t.system += 1
        return
    if msg.get("type") != "message":
        return
    sender_id = msg.get("from_id")
    if isinstance(sender_id, int) and not isinstance(sender_id, bool):
        sender_id = str(sender_id)  # older exports: a number
    t.speaker(_text(msg.get("from")) or _text(sender_id) or "(unknown sender)")
    for key in ("photo", "file"):
        value = msg.get(key)
        if not isinstance(value, str):
            continue
        if value.startswith(_NOT_INCLUDED):
            t.attachments_omitted += 1
        else:
            t.attachment(value)


def _text(value: Any) -> str | None:
    return value.strip()[:MAX_NAME] or None if isinstance(value, str) else None


def _local_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return when.replace(tzinfo=None)


def _unix(value: Any) -> dt.datetime | None:
    if isinstance(value, str) and value.isdigit() and len(value) <= 12:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**37:
        return None
    return dt.datetime(1970, 1, 1) + dt.timedelta(seconds=value)


# -- HTML ------------------------------------------------------------------------------


def extract_telegram_html(path: Path, head: bytes) -> dict[str, Any]:
    """Summarise one ``messages*.html`` page, streamed (see the module doc)."""
    t = Tally("telegram-html")
    parser = _Page(t)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    replacements = read = 0
    try:
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                read += len(chunk)
                text = decoder.decode(chunk)
                replacements += text.count("\ufffd")
                parser.feed(text)
                if len(parser.rawdata) > MAX_PENDING:
                    t.warn(f"markup left unterminated for over {MAX_PENDING} bytes: "
                           "read stopped there")
                    break
                if read >= MAX_HTML_BYTES:
                    t.warn(f"only the first {MAX_HTML_BYTES} bytes were read")
                    break
            else:
                parser.feed(decoder.decode(b"", final=True))
                parser.close()
    except AssertionError:  # html.parser's answer to some malformed declarations ("<![if")
        t.warn(f"markup the HTML parser cannot read, within the first {read} bytes: "
               "read stopped there")
    parser.end_message()
    if not parser.seen:
        t.fmt = "unknown"
        t.warn("HTML, but not a Telegram Desktop export (no div.message)")
    return report(
        t, first=iso(parser.local.first), last=iso(parser.local.last),
        date_order="dmy" if parser.local.first else None,
        encoding="utf-8", bom=head.startswith(codecs.BOM_UTF8),
        line_count=None, preamble_lines=None, long_lines=0,
        replacement_characters=replacements,
        chat_name=parser.chat_name, chat_type=None, chat_count=1 if parser.seen else 0)


class _Page(HTMLParser):
    """Tracks ``div`` depth only: the export's structure is divs, and depth relative to
    the message's ``div`` tells its own sender and date from a forwarded message's."""

    def __init__(self, t: Tally) -> None:
        super().__init__(convert_charrefs=True)
        self.t = t
        self.local = Span()
        self.seen = False
        self.depth = 0
        self.msg: int | None = None  # depth of the open message div
        self.service = self.joined = self.omitted = False
        self.msg_id = ""
        self.sender: str | None = None
        self.previous: str | None = None
        self.when: str | None = None
        self.text_depth: int | None = None
        self.header: int | None = None
        self.chat_name: str | None = None
        self.capture: list[str] | None = None
        self.capture_depth = 0
        self.capture_into = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "a" and self.msg is not None and self.text_depth is None:
            href = (a.get("href") or "").strip()
            if href and not href.startswith("#") and not _SCHEME.match(href):
                self.t.attachment(href)
            return
        if tag != "div":
            return
        self.depth += 1
        classes = set((a.get("class") or "").split())
        msg_id = a.get("id") or ""
        if "message" in classes and msg_id.startswith("message"):
            self.end_message()
            self.seen = True
            self.msg, self.msg_id = self.depth, msg_id
            self.service, self.joined = "service" in classes, "joined" in classes
            self.sender = self.when = None
            self.omitted = False
        elif "page_header" in classes:
            self.header = self.depth
        elif self.header is not None and "bold" in classes and self.chat_name is None:
            self._capture("chat_name")
        elif self.msg is not None:
            rel = self.depth - self.msg
            if rel == 2 and "from_name" in classes and self.sender is None:
                self._capture("sender")
            elif rel == 2 and "date" in classes and "details" in classes:
                self.when = (a.get("title") or "")[:80]
            elif "text" in classes and self.text_depth is None:
                self.text_depth = self.depth

    def _capture(self, into: str) -> None:
        self.capture, self.capture_depth, self.capture_into = [], self.depth, into

    def handle_endtag(self, tag: str) -> None:
        if tag != "div":
            return
        if self.capture is not None and self.depth == self.capture_depth:
            value = " ".join("".join(self.capture).split())[:MAX_NAME] or None
            setattr(self, self.capture_into, value)
            self.capture = None
        if self.text_depth is not None and self.depth == self.text_depth:
            self.text_depth = None
        if self.header is not None and self.depth == self.header:
            self.header = None
        if self.msg is not None and self.depth == self.msg:
            self.end_message()
        self.depth = max(0, self.depth - 1)

    def handle_data(self, data: str) -> None:
        if self.capture is not None and sum(map(len, self.capture)) < 4 * MAX_NAME:
            self.capture.append(data[:4 * MAX_NAME])
        if self.msg is not None and self.text_depth is None and "Not included" in data:
            self.omitted = True

    def end_message(self) -> None:
        """Count the open message, if any (at its closing tag, or when the next one opens
        in markup that never closed it)."""
        if self.msg is None:
            return
        self.msg = self.text_depth = None
        if self.service:
            if not self.msg_id.startswith("message-"):  # negative ids: date separators
                self.t.system += 1
            return
        sender = self.sender or (self.previous if self.joined else None)
        self.previous = sender
        self.t.speaker(sender or "(unknown sender)")
        self.t.attachments_omitted += self.omitted
        m = _HTML_DATE.match(self.when or "")
        if m is None:
            return
        d, mo, y, hh, mi, ss, sign, oh, om = m.groups()
        try:
            local = dt.datetime(int(y), int(mo), int(d), int(hh), int(mi), int(ss))
        except ValueError:
            return
        self.local.add(local)
        if sign and int(oh) < 24 and int(om) < 60:
            offset = dt.timedelta(hours=int(oh), minutes=int(om))
            self.t.utc.add(local - offset if sign == "+" else local + offset)
