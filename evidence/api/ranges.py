"""HTTP ``Range`` (RFC 9110 section 14) for one file: a single byte range or none.

Several ranges (``bytes=0-1,5-9``) would need a multipart/byteranges answer; we serve the
whole file for those (allowed: a server may ignore Range), so clients get correct bytes.
"""

from __future__ import annotations

import re

_RANGE = re.compile(r"\Abytes=(\d*)-(\d*)\Z")


class RangeNotSatisfiable(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"the requested range is not within the file ({size} bytes)")
        self.size = size


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, stop)`` half-open for a satisfiable single range; None to send it all.

    Raises :class:`RangeNotSatisfiable` (416) for a syntactically valid range that
    selects nothing. Malformed or multi-range headers are ignored (whole file, 200).
    """
    if header is None:
        return None
    m = _RANGE.match(header.strip().replace(" ", ""))
    if m is None:
        return None
    first, last = m.group(1), m.group(2)
    if not first and not last:
        return None
    if len(first) > 19 or len(last) > 19:
        raise RangeNotSatisfiable(size)
    if not first:  # suffix: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        return max(0, size - n), size
    start = int(first)
    if last and int(last) < start:
        return None  # invalid syntax per RFC 9110: ignore the header
    if start >= size:
        raise RangeNotSatisfiable(size)
    stop = size if not last else min(size, int(last) + 1)
    return start, stop
