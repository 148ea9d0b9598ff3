"""Ledger entries: their canonical bytes, their header rules and how they are parsed.

An entry is the RFC 8785 (JCS) canonical JSON of::

    {"v":1, "seq":N, "time":"YYYY-MM-DDTHH:MM:SS.ffffffZ", "prev":"<hex>",
     "type":"evidence.submitted", "body":{...}}

``prev`` is the leaf hash of entry ``seq - 1`` (64 zeros for entry 0). The
bytes are stored exactly as hashed; readers hash the stored bytes and never
re-serialise to check. Two house rules keep entries unambiguous across
languages: no floating-point numbers anywhere, and every object key is ASCII.

The rules are public so that :mod:`evidence.verify.fast.entries` applies these
very functions rather than copies: :func:`check_header`, :func:`check_house_rules`,
the parse hooks (:func:`reject_float`, :func:`checked_int`, :func:`ascii_keys`),
:data:`TYPE_RE` and :data:`JCS_ENCODER`.

The check of a whole sequence of entries (chain and tree together) is in
:mod:`evidence.verify.log`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from evidence.verify.errors import EntryError
from evidence.verify.hashing import Hash32, leaf_hash

ENTRY_VERSION = 1
MAX_ENTRY_SIZE = 1 << 20
MAX_SAFE_INTEGER = 2**53 - 1
"""RFC 8785 numbers are IEEE doubles; larger integers have no canonical form."""
_TIME_RE = re.compile(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z\Z")
TYPE_RE = re.compile(r"\A[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+\Z")
"""An entry's ``type``: a dotted lowercase name (part of :func:`check_header`)."""
_HEX_RE = re.compile(r"\A[0-9a-f]{64}\Z")
_FIELDS = {"v", "seq", "time", "prev", "type", "body"}
JCS_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""The encoder ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
builds on every call, built once. Its output is RFC 8785 for any value that obeys the
house rules (:func:`check_house_rules`); it is only ever handed such values."""


def format_time(moment: datetime) -> str:
    """RFC 3339, UTC, exactly six fractional digits: one spelling per instant."""
    if moment.tzinfo is None:
        raise ValueError("entry times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    if not isinstance(text, str) or not _TIME_RE.match(text):
        raise ValueError(f"time {str(text)[:40]!r} is not RFC 3339 UTC with microseconds")
    try:
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"time {text!r} is not a valid date and time") from None


def canonical_json(value: Any) -> bytes:
    """RFC 8785 bytes of a JSON value that obeys the house rules."""
    check_house_rules(value, "$")
    return _jcs(value)


def _jcs(value: Any) -> bytes:
    """JCS of a value already known to obey the house rules.

    Without floats, with integers in the I-JSON range and ASCII keys, RFC 8785
    output equals Python's sorted, compact, non-ASCII-preserving ``json.dumps``
    (same escapes, lowercase ``\\u00xx``; same key order for ASCII keys); a
    property test holds the two together. It is much faster than ``rfc8785``,
    which matters for intake throughput and for audits of large ledgers.
    """
    try:
        return JCS_ENCODER.encode(value).encode("utf-8")
    except UnicodeEncodeError:
        raise EntryError("entry contains a lone surrogate, which is not valid Unicode") from None


def check_house_rules(value: Any, path: str) -> None:
    """The house rules, walked with the path of each value (``path`` names ``value``
    itself, e.g. ``"$.body"``): raises :class:`EntryError` naming the first fault."""
    if isinstance(value, float):
        raise EntryError(f"{path}: floating-point numbers are not allowed in entries")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INTEGER:
        raise EntryError(f"{path}: integer {value} is outside the I-JSON range of +/-(2^53-1)")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str) or not k.isascii():
                raise EntryError(f"{path}: object keys must be ASCII strings, got {k!r}")
            check_house_rules(v, f"{path}.{k}")
    elif isinstance(value, list | tuple):  # json writes a tuple as an array: same rules
        for i, v in enumerate(value):
            check_house_rules(v, f"{path}[{i}]")


def _is_canonical(obj: Any, data: bytes) -> bool:
    """Whether ``data`` is the JCS form of ``obj`` (which obeys the house rules)."""
    try:
        return _jcs(obj) == data
    except EntryError:
        return False


@dataclass(frozen=True)
class Entry:
    """A parsed entry; ``data`` are the exact bytes that were hashed."""

    seq: int
    time: str
    prev: str
    type: str
    body: Mapping[str, Any]
    data: bytes = field(repr=False)

    @property
    def leaf_hash(self) -> Hash32:
        return leaf_hash(self.data)


def encode_entry(seq: int, time: str, prev: str, type: str, body: Mapping[str, Any]) -> bytes:
    """The canonical bytes of a new entry. Validates what it writes."""
    obj = {"v": ENTRY_VERSION, "seq": seq, "time": time, "prev": prev, "type": type,
           "body": dict(body)}
    check_header(obj)
    check_house_rules(obj["body"], "$.body")
    data = _jcs(obj)
    if len(data) > MAX_ENTRY_SIZE:
        raise EntryError(f"entry is {len(data)} bytes; the limit is {MAX_ENTRY_SIZE}")
    return data


# The house rules as ``json.loads`` hooks: a parse that uses all three (as
# parse_entry does) refuses what check_house_rules refuses, naming the fault.


def reject_float(text: str) -> Any:
    """``parse_float``/``parse_constant`` hook: no floating-point number, no NaN."""
    raise EntryError(f"floating-point number {text[:30]} is not allowed in entries")


def checked_int(text: str) -> int:
    """``parse_int`` hook: integers only within the I-JSON range."""
    value = int(text)
    if abs(value) > MAX_SAFE_INTEGER:
        raise EntryError(f"integer {text[:30]} is outside the I-JSON range of +/-(2^53-1)")
    return value


def ascii_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook``: every object key is ASCII."""
    for k, _ in pairs:
        if not k.isascii():
            raise EntryError(f"object keys must be ASCII, got {k[:30]!r}")
    return dict(pairs)


def check_header(obj: Mapping[str, Any]) -> None:
    """The header rules: version 1, ``seq`` a non-negative safe integer, ``time`` as
    :func:`parse_time` reads it, ``prev`` 64 lowercase hex digits, ``type`` as
    :data:`TYPE_RE`, ``body`` an object. Raises :class:`EntryError` naming the fault."""
    if obj["v"] != ENTRY_VERSION or isinstance(obj["v"], bool):
        raise EntryError(f"entry version {obj['v']!r} is not {ENTRY_VERSION}")
    seq = obj["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_SAFE_INTEGER:
        raise EntryError(f"entry seq {seq!r} is not a non-negative integer")
    try:
        parse_time(obj["time"])
    except ValueError as e:
        raise EntryError(str(e)) from None
    if not isinstance(obj["prev"], str) or not _HEX_RE.match(obj["prev"]):
        raise EntryError("entry prev is not 64 lowercase hex digits")
    if not isinstance(obj["type"], str) or not TYPE_RE.match(obj["type"]):
        raise EntryError(f"entry type {str(obj['type'])[:60]!r} is not a dotted lowercase name")
    if not isinstance(obj["body"], dict):
        raise EntryError("entry body is not a JSON object")


def parse_entry(data: bytes) -> Entry:
    """Parse and validate one entry's bytes; raise :class:`EntryError` naming the fault."""
    if not isinstance(data, bytes | bytearray):
        raise EntryError("entry must be bytes")
    data = bytes(data)
    if len(data) > MAX_ENTRY_SIZE:
        raise EntryError(f"entry is {len(data)} bytes; the limit is {MAX_ENTRY_SIZE}")
    try:
        # The hooks enforce the house rules while parsing (no second walk).
        obj = json.loads(data.decode("utf-8"), parse_float=reject_float,
                         parse_int=checked_int, parse_constant=reject_float,
                         object_pairs_hook=ascii_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise EntryError(f"entry is not UTF-8 JSON: {e}") from None
    if not isinstance(obj, dict):
        raise EntryError("entry is not a JSON object")
    if set(obj) != _FIELDS:
        missing, extra = _FIELDS - set(obj), set(obj) - _FIELDS
        raise EntryError(f"entry fields wrong (missing {sorted(missing)}, extra {sorted(extra)})")
    check_header(obj)
    if not _is_canonical(obj, data):
        raise EntryError("entry bytes are not RFC 8785 canonical JSON")
    return Entry(obj["seq"], obj["time"], obj["prev"], obj["type"], obj["body"], data)
