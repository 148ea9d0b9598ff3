"""Times in the court report: UTC, and beside it the reader's local time, never ambiguous.

Every time the ledger, a TSA or a witness states is UTC. A judge reads local time, so the
report prints both: ``2026-11-21 08:00:02 UTC = 2026-11-21 16:00:02 Asia/Shanghai
(UTC+08:00)``. The zone is the forum's, chosen with ``evidence export --tz ZONE`` (an IANA
name: ``Asia/Shanghai``, ``Europe/Berlin``, ``America/New_York``); without it, the zone
of the exporting computer, named as such. The UTC offset of each instant is printed
beside the zone's name, so a summer time or an abbreviation shared by several zones
("CST" is China, Cuba and the US Central zone) cannot mislead.
"""

from __future__ import annotations

import os
from datetime import datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LOCAL = "local"
"""The zone spec meaning "the exporting computer's zone"."""


class BadZone(ValueError):
    """Not an IANA time zone name this machine knows."""


def check_zone(spec: str | None) -> str:
    """``spec`` if it names a zone (or is ``local``/None: the machine's); else BadZone."""
    if spec in (None, "", LOCAL):
        return LOCAL
    try:
        ZoneInfo(str(spec))
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise BadZone(f"unknown time zone {spec!r}: give an IANA name such as Asia/Shanghai, "
                      "Europe/Berlin or America/New_York (or 'local')") from e
    return str(spec)


def _machine_zone_name() -> str | None:
    """The IANA name of this computer's zone, when it says (``$TZ``, /etc/timezone, the
    /etc/localtime link); None otherwise (then only the offsets are printed)."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz and "/" in tz and not tz.startswith("/"):
        return tz
    try:
        name = Path("/etc/timezone").read_text(encoding="utf-8").strip()
        if name:
            return name
    except OSError:
        pass
    try:
        target = str(Path("/etc/localtime").resolve())
    except OSError:
        return None
    marker = "/zoneinfo/"
    return target.split(marker, 1)[1] if marker in target else None


def zone_label(spec: str) -> tuple[str, str]:
    """(zh, en) naming the zone the report's local times are in."""
    if spec != LOCAL:
        return (f"{spec}（按导出时所选）", f"{spec} (chosen at export)")
    name = _machine_zone_name()
    shown = f"{name}, " if name else ""
    return (f"导出计算机的时区（{shown}UTC 偏移见各时间）",
            f"the exporting computer's zone ({shown}UTC offset beside each time)")


def _zone(spec: str) -> tzinfo | None:
    return None if spec == LOCAL else ZoneInfo(spec)


def parse(value: object) -> datetime | None:
    """A stated time with a zone, or None (a time without a zone is not converted)."""
    try:
        t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


def _offset(t: datetime) -> str:
    off = t.strftime("%z")  # +0800
    return f"UTC{off[:3]}:{off[3:]}" if off else "UTC"


def local(value: object, spec: str) -> str | None:
    """``2026-11-21 16:00:02 Asia/Shanghai (UTC+08:00)`` for a UTC time; None when
    ``value`` is not a time with a zone."""
    t = parse(value)
    if t is None:
        return None
    z = _zone(spec)
    there = t.astimezone(z) if z is not None else t.astimezone()
    name = spec if spec != LOCAL else (_machine_zone_name() or "local")
    return f"{there.strftime('%Y-%m-%d %H:%M:%S')} {name} ({_offset(there)})"


def both(value: object, spec: str) -> str:
    """The stated value (UTC, as the ledger, TSA or witness states it), then ``= <local>``
    on its own line; the value alone when it is not a time with a zone."""
    if value is None or value == "":
        return "-"
    there = local(value, spec)
    return str(value) if there is None else f"{value}\n= {there}"
