"""LINE "Export chat history" (.txt), as the iOS and Android apps write it.

The layout (the app's words in the phone's language)::

    [LINE] Chat history with Acme Sales        (a group: "Chat history in ...";
    Saved on: 2026/06/13 10:20                  中文 "[LINE] 与X的聊天记录", 日本語
                                                "[LINE] Xとのトーク履歴")
    2026/06/12(Fri)                             a date line: iOS "2026/06/12(Fri)",
    21:03\tAcme Sales\tHello                    Android "Fri, 06/12/2026" or
    21:04\t张伟\t"two lines                      "2026.06.12 Friday"
    of one message"                             a message: TIME TAB SENDER TAB TEXT;
    21:05\t张伟\t[Photo]                         a multi-line one is quoted
    21:06\t\tAcme Sales unsent a message        a notice: no sender

Times are ``HH:MM`` (no seconds), or with AM/PM, 上午/下午 or 午前/午後. The export
holds no media: ``[Photo]``, ``[Sticker]``, ``[File]``... are counted as
``attachments_omitted``. Times are the exporting phone's local clock, without a zone.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from evidence.ledger.intake.metadata.chat_summary import Span, Tally, iso, report

TITLE = re.compile(r"^\[LINE\]\s*\S")
_WEEKDAY = r"[^\d\s()（）]{1,12}"
_DATE_LINES = (
    # 2026/06/12(Fri), 2026/06/12（金）, 2026/6/12 周五
    re.compile(rf"^(\d{{4}})[/.](\d{{1,2}})[/.](\d{{1,2}})\s*(?:[(（]{_WEEKDAY}[)）]"
               rf"|\s{_WEEKDAY})?\s*$"),
    # Fri, 06/12/2026 (Android, English: month first)
    re.compile(rf"^{_WEEKDAY},\s*(\d{{1,2}})/(\d{{1,2}})/(\d{{4}})\s*$"),
)
_MESSAGE = re.compile(r"^((?:上午|下午|午前|午後)?\s?\d{1,2}:\d{2}(?:\s?[AaPp][Mm])?)\t([^\t]*)"
                      r"(?:\t(.*))?$")
_OMITTED = re.compile(r"^\[(?:Photo|Photos|Video|Sticker|File|Voice message|Audio|Album"
                      r"|Location|Contact|写真|動画|スタンプ|ファイル|ボイスメッセージ"
                      r"|图片|照片|视频|貼圖|贴图|文件|檔案|语音讯息|語音訊息)\]$")


def looks_like_line(lines: Iterable[str]) -> bool:
    """A ``[LINE]`` title, or a date line followed by tab-separated messages."""
    dates = messages = 0
    for i, line in enumerate(lines):
        line = line.lstrip("\ufeff").rstrip("\r\n")
        if i == 0 and TITLE.match(line):
            return True
        if _date(line) is not None:
            dates += 1
        elif _MESSAGE.match(line):
            messages += 1
    return dates >= 1 and messages >= 2


def _date(line: str) -> dt.date | None:
    for i, pattern in enumerate(_DATE_LINES):
        if (m := pattern.match(line.strip())) is not None:
            a, b, c = (int(x) for x in m.groups())
            y, mo, d = (a, b, c) if i == 0 else (c, a, b)
            try:
                return dt.date(y, mo, d)
            except ValueError:
                return None
    return None


def _time(text: str) -> tuple[int, int] | None:
    pm = any(w in text for w in ("下午", "午後")) or text.lower().endswith("pm")
    am = any(w in text for w in ("上午", "午前")) or text.lower().endswith("am")
    m = re.search(r"(\d{1,2}):(\d{2})", text)
    if m is None:
        return None
    h, mi = int(m.group(1)), int(m.group(2))
    if pm or am:
        h = h % 12 + (12 if pm else 0)
    return (h, mi) if h < 24 and mi < 60 else None


def summarise_line(lines: Iterable[str]) -> dict[str, Any]:
    """The ``"chat"`` section of a LINE text export (format ``line``)."""
    t = Tally("line")
    span = Span()
    day: dt.date | None = None
    count = preamble = 0
    title: str | None = None
    in_quote = False
    seen = False
    for raw in lines:
        count += 1
        line = raw.rstrip("\r\n")
        if count == 1:
            line = line.lstrip("\ufeff")
            if TITLE.match(line):
                title = line[6:].strip()[:200]
                preamble += 1
                continue
        if in_quote:  # inside a quoted multi-line message
            in_quote = not line.endswith('"')
            continue
        if (d := _date(line)) is not None:
            day, seen = d, True
            continue
        m = _MESSAGE.match(line)
        if m is None:
            if not seen and line.strip():
                preamble += 1  # "Saved on: ..."
            continue
        seen = True
        when, sender, text = m.group(1), m.group(2).strip(), m.group(3)
        clock = _time(when)
        if day is not None and clock is not None:
            span.add(dt.datetime(day.year, day.month, day.day, *clock))
        if text is None or not sender:
            t.system += 1  # "Acme Sales unsent a message", "张伟 joined the group"
            continue
        text = text.strip()
        if text.startswith('"') and not (len(text) > 1 and text.endswith('"')):
            in_quote = True
        if _OMITTED.match(text):
            t.attachments_omitted += 1
        t.speaker(sender)
    if in_quote:
        t.warn("the export ends inside a quoted message")
    return report(t, first=iso(span.first, "minutes"), last=iso(span.last, "minutes"),
                  date_order="ymd" if t.messages + t.system else None,
                  line_count=count, preamble_lines=preamble, chat_name=title)
