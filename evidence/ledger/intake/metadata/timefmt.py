"""Times found inside files, reported without pretending to know more than the file says.

A file's own time stamp (EXIF, PDF, Office) is often local time with no zone. We report the
raw text, the local date-time in ISO 8601, the UTC offset when the file states one, and an
RFC 3339 value only in that case: a court must not read a zone into a time that has none.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


def normalise_offset(text: str | None) -> str | None:
    """``+0800`` / ``+08:00`` / ``Z`` -> ``+08:00`` / ``+00:00``; anything else -> None."""
    if not text:
        return None
    text = text.strip()
    if text in ("Z", "z"):
        return "+00:00"
    m = _OFFSET.match(text)
    if not m or int(m.group(2)) > 23 or int(m.group(3)) > 59:
        return None
    return f"{m.group(1)}{m.group(2)}:{m.group(3)}"


def file_time(
    raw: str, parts: tuple[int, int, int, int, int, int] | None, offset: str | None
) -> dict[str, Any]:
    """The schema of every in-file time::

        {"raw": str, "local": "YYYY-MM-DDTHH:MM:SS" | null,
         "offset": "+HH:MM" | null, "rfc3339": str | null}
    """
    local = None
    if parts is not None:
        try:
            local = dt.datetime(*parts).isoformat()
        except ValueError:  # 0000:00:00 and other impossible dates
            local = None
    offset = normalise_offset(offset)
    return {
        "raw": raw,
        "local": local,
        "offset": offset,
        "rfc3339": f"{local}{offset}" if local and offset else None,
    }


def clean_text(value: Any, limit: int = 1000) -> str | None:
    """A short printable string from a metadata value (bytes, str, with NULs), or None."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = str(value).replace("\x00", "").strip()
    text = "".join(ch for ch in text if ch.isprintable() or ch in "\t\n")
    return text[:limit] or None
