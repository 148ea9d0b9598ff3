"""Ledger entries: their canonical bytes, the hash chain, and the one check of a
whole sequence of entries (chain and tree together).

An entry is the RFC 8785 (JCS) canonical JSON of::

    {"v":1, "seq":N, "time":"YYYY-MM-DDTHH:MM:SS.ffffffZ", "prev":"<hex>",
     "type":"evidence.submitted", "body":{...}}

``prev`` is the leaf hash of entry ``seq - 1`` (64 zeros for entry 0). The
bytes are stored exactly as hashed; readers hash the stored bytes and never
re-serialise to check. Two house rules keep entries unambiguous across
languages: no floating-point numbers anywhere, and every object key is ASCII.
"""

from __future__ import annotations

import binascii
import functools
import itertools
import json
import json.encoder as _json_encoder
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from evidence.verify.errors import EntryError
from evidence.verify.hashing import ZERO_HASH_HEX, Hash32, hash32, leaf_hash, leaf_hashes
from evidence.verify.merkle import CompactRange

ENTRY_VERSION = 1
MAX_ENTRY_SIZE = 1 << 20
MAX_SAFE_INTEGER = 2**53 - 1
"""RFC 8785 numbers are IEEE doubles; larger integers have no canonical form."""
_TIME_RE = re.compile(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z\Z")
_TYPE_RE = re.compile(r"\A[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+\Z")
_HEX_RE = re.compile(r"\A[0-9a-f]{64}\Z")
_FIELDS = {"v", "seq", "time", "prev", "type", "body"}
_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""The encoder ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
builds on every call, built once."""


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
    _check_house_rules(value, "$")
    return _jcs(value)


def _jcs(value: Any) -> bytes:
    """JCS of a value already known to obey the house rules.

    Without floats, with integers in the I-JSON range and ASCII keys, RFC 8785
    output equals Python's sorted, compact, non-ASCII-preserving ``json.dumps``
    (same escapes, lowercase ``\\u00xx``; same key order for ASCII keys); a
    property test holds the two together. It is ~10x faster than ``rfc8785``,
    which matters for intake throughput and for audits of large ledgers.
    """
    try:
        return _JSON.encode(value).encode("utf-8")
    except UnicodeEncodeError:
        raise EntryError("entry contains a lone surrogate, which is not valid Unicode") from None


def _check_house_rules(value: Any, path: str) -> None:
    if not _obeys(value):
        _explain_house_rules(value, path)


def _obeys(value: Any) -> bool:
    """Fast path of the house rules: True only for values of the exact built-in JSON
    types that obey them (no floats, integers in the I-JSON range, ASCII string keys).
    False sends the value to :func:`_explain_house_rules`, which decides and names the
    fault (subclasses and other types land there too). No path strings are built."""
    t = type(value)
    if t is dict:
        for k, v in value.items():
            if type(k) is not str or not k.isascii():
                return False
            tv = type(v)
            if tv is str or v is None or tv is bool:
                continue
            if tv is int:
                if -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER:
                    continue
                return False
            if not _obeys(v):
                return False
        return True
    if t is list or t is tuple:
        return all(map(_obeys, value))
    if t is str or value is None or t is bool:
        return True
    if t is int:
        return -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER
    return False


def _explain_house_rules(value: Any, path: str) -> None:
    """The house rules, walked with the path of each value: raises naming the first fault."""
    if isinstance(value, float):
        raise EntryError(f"{path}: floating-point numbers are not allowed in entries")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INTEGER:
        raise EntryError(f"{path}: integer {value} is outside the I-JSON range of +/-(2^53-1)")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str) or not k.isascii():
                raise EntryError(f"{path}: object keys must be ASCII strings, got {k!r}")
            _explain_house_rules(v, f"{path}.{k}")
    elif isinstance(value, list | tuple):  # json writes a tuple as an array: same rules
        for i, v in enumerate(value):
            _explain_house_rules(v, f"{path}[{i}]")


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
    _check_header(obj)
    _check_house_rules(obj["body"], "$.body")
    data = _jcs(obj)
    if len(data) > MAX_ENTRY_SIZE:
        raise EntryError(f"entry is {len(data)} bytes; the limit is {MAX_ENTRY_SIZE}")
    return data


def encode_chain(seq: int, time: str, prev: bytes,
                 items: Sequence[tuple[str, Mapping[str, Any]]]) -> list[tuple[bytes, Hash32]]:
    """Encode consecutive entries numbered from ``seq``, all stamped ``time``, chained
    from ``prev`` (the leaf hash of entry ``seq - 1``): ``(bytes, leaf hash)`` per item.

    The sequencer's fast path: byte for byte what :func:`encode_entry` makes (a property
    test holds them equal) and as strict, raising :class:`EntryError` for the first bad
    item, but the header (time, numbers, each distinct type) is checked once per call and
    the fixed fields are written around the body's JSON instead of being encoded again.
    """
    n = len(items)
    if n == 0:
        return []
    prev_hex = hash32(prev, "prev").hex()
    header = {"v": ENTRY_VERSION, "seq": seq, "time": time, "prev": prev_hex, "type": "a.b",
              "body": {}}
    # The sequencer calls this once per request with the batch's one time and the
    # log's few types: remembered checks, the reference check only when one fails.
    if not (type(seq) is int and seq >= 0 and seq + n - 1 <= MAX_SAFE_INTEGER
            and type(time) is str and _time_ok_cached(time)):
        _check_header(header)  # seq, time and prev: raises naming the fault
        header["seq"] = seq + n - 1
        _check_header(header)
    tail = f',"time":"{time}","type":"'
    out: list[tuple[bytes, Hash32]] = []
    for etype, body in items:
        if type(etype) is not str or type(body) is not dict:  # unusual input: reference path
            data = encode_entry(seq, time, prev_hex, etype, body)
        else:
            if not _type_ok_cached(etype):
                header["type"] = etype
                _check_header(header)  # raises naming the fault
            if not _obeys(body):
                _explain_house_rules(body, "$.body")
            text = (f'{{"body":{_JSON.encode(body)},"prev":"{prev_hex}","seq":{seq}'
                    f'{tail}{etype}","v":{ENTRY_VERSION}}}')
            try:
                data = text.encode("utf-8")
            except UnicodeEncodeError:
                raise EntryError("entry contains a lone surrogate, which is not valid "
                                 "Unicode") from None
            if len(data) > MAX_ENTRY_SIZE:
                raise EntryError(f"entry is {len(data)} bytes; the limit is {MAX_ENTRY_SIZE}")
        lh = leaf_hash(data)
        out.append((data, lh))
        prev_hex = lh.hex()
        seq += 1
    return out


@functools.lru_cache(maxsize=64)
def _time_ok_cached(text: str) -> bool:
    """Whether :func:`parse_time` accepts ``text`` (remembered: a batch shares one time)."""
    try:
        parse_time(text)
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=256)
def _type_ok_cached(etype: str) -> bool:
    """Whether ``etype`` is a dotted lowercase name (remembered: a log has few types)."""
    return _TYPE_RE.match(etype) is not None


def _reject_float(text: str) -> Any:
    raise EntryError(f"floating-point number {text[:30]} is not allowed in entries")


def _checked_int(text: str) -> int:
    value = int(text)
    if abs(value) > MAX_SAFE_INTEGER:
        raise EntryError(f"integer {text[:30]} is outside the I-JSON range of +/-(2^53-1)")
    return value


def _ascii_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    for k, _ in pairs:
        if not k.isascii():
            raise EntryError(f"object keys must be ASCII, got {k[:30]!r}")
    return dict(pairs)


def _check_header(obj: Mapping[str, Any]) -> None:
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
    if not isinstance(obj["type"], str) or not _TYPE_RE.match(obj["type"]):
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
        obj = json.loads(data.decode("utf-8"), parse_float=_reject_float,
                         parse_int=_checked_int, parse_constant=_reject_float,
                         object_pairs_hook=_ascii_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise EntryError(f"entry is not UTF-8 JSON: {e}") from None
    if not isinstance(obj, dict):
        raise EntryError("entry is not a JSON object")
    if set(obj) != _FIELDS:
        missing, extra = _FIELDS - set(obj), set(obj) - _FIELDS
        raise EntryError(f"entry fields wrong (missing {sorted(missing)}, extra {sorted(extra)})")
    _check_header(obj)
    if not _is_canonical(obj, data):
        raise EntryError("entry bytes are not RFC 8785 canonical JSON")
    return Entry(obj["seq"], obj["time"], obj["prev"], obj["type"], obj["body"], data)


_QUICK_HEAD = b'{"body":'
_QUICK_TAIL = re.compile(
    rb',"prev":"(.{64})","seq":(0|[1-9][0-9]{0,15}),"time":"(.{27})","type":"([^"]*)","v":1\}')
"""The fields after the body, in key order; prev, time and type are then checked
with _check_header's rules (ASCII only): see :func:`_quick_fields`."""
_QUICK_BODY = json.JSONDecoder(parse_float=_reject_float, parse_int=_checked_int,
                               parse_constant=_reject_float)
_QUICK_BODY_KEYS = json.JSONDecoder(parse_float=_reject_float, parse_int=_checked_int,
                                    parse_constant=_reject_float, object_pairs_hook=_ascii_keys)
_quick_jcs = (
    # what _JSON.encode runs for a dict, made once instead of per call (the same C
    # encoder with the same settings; None where CPython's accelerator is missing)
    None if _json_encoder.c_make_encoder is None else _json_encoder.c_make_encoder(
        None, _JSON.default, _json_encoder.encode_basestring, None, ":", ",", True, False,
        True))


@functools.lru_cache(maxsize=256)
def _quick_fields(time: bytes, etype: bytes) -> str | None:
    """The entry's time if its ``time`` and ``type`` pass :func:`_check_header`'s rules
    (in ASCII), else None. Remembered: a batch shares one time, a log has few types."""
    try:
        text = time.decode("ascii")
        parse_time(text)
        ok = _TYPE_RE.match(etype.decode("ascii")) is not None
    except ValueError:  # UnicodeDecodeError included
        return None
    return text if ok else None


def quick_entry(data: bytes, prev: bytes) -> tuple[int, str] | None:
    """``(seq, time)`` of ``data`` when it is an entry that :func:`parse_entry`
    accepts and its ``prev`` is the leaf hash ``prev`` (32 bytes), found the quick
    way; ``None`` when the quick way cannot vouch for that (then ask parse_entry,
    which decides and names the fault). For audits, which know ``prev``.

    Canonical entry bytes are ``{"body":`` + the body's JCS + a tail holding the
    other fields in key order (prev, seq, time, type, v), whose values need no
    escapes. So the tail is matched with one pattern and its fields checked with
    _check_header's rules (ASCII only; time and type once per distinct value),
    and only the body goes through JSON and back (with the house-rule hooks of
    parse_entry). A property test holds this to parse_entry on valid and mutated
    entries.
    """
    head = _quick_head(data, prev)
    if head is None:
        return None
    seq, time, cut = head
    try:
        text = data[len(_QUICK_HEAD):cut].decode("utf-8")
        # ASCII text: every key is ASCII once the body is canonical (JCS writes
        # non-ASCII characters as they are, never as escapes)
        body, end = (_QUICK_BODY if text.isascii() else _QUICK_BODY_KEYS).raw_decode(text)
    except (UnicodeDecodeError, ValueError, RecursionError, EntryError):
        return None
    if end != len(text) or type(body) is not dict:
        return None
    if ("".join(_quick_jcs(body, 0)) if _quick_jcs else _JSON.encode(body)) != text:
        return None
    return seq, time


def _quick_head(data: bytes, prev: bytes) -> tuple[int, str, int] | None:
    """``(seq, time, where the body ends)`` when everything of ``data`` but its body is
    as :func:`parse_entry` wants it, with ``prev`` the leaf hash ``prev``; else None."""
    if type(data) is not bytes or len(data) > MAX_ENTRY_SIZE or not data.startswith(_QUICK_HEAD):
        return None
    cut = data.rfind(b',"prev":"')  # in a valid entry, the one before the tail
    m = _QUICK_TAIL.fullmatch(data, cut) if cut > len(_QUICK_HEAD) else None
    if m is None:
        return None
    prev_hex, seq_digits, time_bytes, type_bytes = m.groups()
    if prev_hex != binascii.b2a_hex(prev):  # so prev is lowercase hex
        return None
    time = _quick_fields(time_bytes, type_bytes)
    seq = int(seq_digits)
    if time is None or seq > MAX_SAFE_INTEGER:
        return None
    return seq, time, cut


def quick_entries(datas: Sequence[bytes], prev: bytes, seq: int,
                  time: str) -> tuple[list[Hash32], str] | None:
    """Leaf hashes of ``datas`` and the last one's time when they are consecutive
    entries that :func:`parse_entry` accepts, numbered from ``seq``, chained from
    the leaf hash ``prev``, with times never going back from ``time``; ``None`` when
    the quick way cannot vouch for all of that (then check entry by entry).

    :func:`quick_entry` for a run of entries (an audit reads thousands at a time):
    the headers are checked one by one, but the bodies are parsed as one JSON array,
    which costs half as much as parsing each alone. Each body is then re-encoded on
    its own and compared with its own bytes, so a body that is not one canonical
    object cannot lean on its neighbours; a property test holds this to parse_entry
    on valid and mutated runs.
    """
    if not datas:
        return [], time
    if set(map(type, datas)) != {bytes} or seq + len(datas) - 1 > MAX_SAFE_INTEGER:
        return None
    hashes = leaf_hashes(datas)
    bodies = []
    # Each tail is known up to its time and type (prev and seq are expected), so it is
    # compared, not matched: its time and type are then checked as quick_entry does.
    for data, before in zip(datas, map(binascii.b2a_hex, [prev, *hashes[:-1]]), strict=True):
        cut = data.rfind(b',"prev":"')
        lead = b'%s%s","seq":%d,"time":"' % (b',"prev":"', before, seq)
        at = cut + len(lead) + 27  # where '","type":"' must follow the time
        if (cut <= len(_QUICK_HEAD) or not data.startswith(lead, cut)
                or not data.startswith(b'","type":"', at) or not data.endswith(b'","v":1}')
                or not data.startswith(_QUICK_HEAD) or len(data) > MAX_ENTRY_SIZE):
            return None
        stated = _quick_fields(data[at - 27:at], data[at + 10:-8])
        if stated is None or stated < time:
            return None
        seq, time = seq + 1, stated
        bodies.append(data[len(_QUICK_HEAD):cut])
    return (hashes, time) if _canonical_bodies(bodies) else None


_QUICK_BODY_INTS = json.JSONDecoder(parse_float=_reject_float, parse_constant=_reject_float)
"""Integers parsed in C, without a call of _checked_int each: for runs in which
:data:`_LONG_NUMBERS` finds no integer that could be out of range."""
_NUMBER_SHAPE = bytes(48 if 48 <= c <= 57 else 58 if c in b":,[" else 45 if c == 45 else 120
                      for c in range(256))
_LONG_NUMBERS = re.compile(rb":-?0{16}")
"""In canonical JSON a number follows ``:``, ``,`` or ``[`` (all ``:`` after
:data:`_NUMBER_SHAPE`; digits become ``0``), so an integer outside +/-(2^53-1), which
has 16 or more digits, shows as this pattern (searched from colon to colon). A string
that merely looks like it costs only the slower parse; a body that is not canonical
fails its comparison anyway."""


def _canonical_bodies(bodies: list[bytes]) -> bool:
    """Whether each of ``bodies`` is the JCS of a JSON object that obeys the house rules."""
    if not bodies:
        return True
    joined = b",".join(bodies)
    try:
        text = joined.decode("utf-8")
        if not text.isascii():
            decoder = _QUICK_BODY_KEYS  # every object's keys checked by the hook
        else:
            long_numbers = _LONG_NUMBERS.search(joined.translate(_NUMBER_SHAPE))
            decoder = _QUICK_BODY if long_numbers else _QUICK_BODY_INTS
        values, end = decoder.raw_decode(f"[{text}]")
        if end != len(text) + 2 or len(values) != len(bodies) or set(map(type, values)) != {dict}:
            return False
        if _quick_jcs is None:
            encoded = [_JSON.encode(v).encode("utf-8") for v in values]
        else:
            encoded = list(map(str.encode, map("".join, map(_quick_jcs, values,
                                                             itertools.repeat(0)))))
    except (ValueError, RecursionError, EntryError):  # decode, encode, parse, house rules
        return False
    return encoded == bodies


# --- a whole log -------------------------------------------------------------------


class LogBroken(EntryError):
    """The first entry at which a sequence of entries stops being a valid log."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"entry {index}: {reason}")
        self.index = index
        self.reason = reason


@dataclass(frozen=True)
class LogSummary:
    size: int
    root: Hash32
    last_leaf_hash: str
    roots_checked: tuple[int, ...]


@dataclass(frozen=True)
class LogPosition:
    """A point up to which a log was checked: the next entry is ``size``."""

    size: int
    prev: str
    """Leaf hash (hex) of entry ``size - 1``: the next entry's ``prev``."""
    time: str
    """Time of entry ``size - 1`` ("" for none)."""
    edge: tuple[bytes, ...]
    """The tree's perfect subtrees at ``size``, largest first (see :class:`CompactRange`)."""


def check_entries(
    entries: Iterable[bytes],
    *,
    expected_roots: Mapping[int, bytes] | None = None,
    expected_leaf_hashes: Iterable[bytes] | None = None,
    start: LogPosition | None = None,
) -> LogSummary:
    """Check a log from entry 0: each entry parses, ``seq`` counts up from 0
    without gaps, ``prev`` is the previous leaf hash, times never go back, and
    the RFC 9162 tree over the entries has each root in ``expected_roots``
    (tree size -> root, e.g. from signed checkpoints) at that size.

    ``expected_leaf_hashes``, when given, are stored leaf hashes to compare
    one by one (a ledger keeps them beside the entries).

    ``start``, when given, resumes a check at entry ``start.size`` of a log
    whose entries before it were checked already: ``entries`` (and the stored
    leaf hashes) then begin there, and indexes count from there.

    Raises :class:`LogBroken` naming the first bad index; returns a summary.
    """
    expected_roots = dict(expected_roots or {})
    stored = iter(expected_leaf_hashes) if expected_leaf_hashes is not None else None
    start = start or LogPosition(0, ZERO_HASH_HEX, "", ())
    tree = CompactRange(start.size, start.edge)
    prev, last_time, checked = start.prev, start.time, []
    if 0 in expected_roots and start.size == 0:
        if tree.root() != bytes(expected_roots[0]):
            raise LogBroken(0, "a checkpoint of size 0 has a root other than the empty tree's")
        checked.append(0)
    index = start.size - 1
    for index, data in enumerate(entries, start.size):
        try:
            e = parse_entry(data)
        except EntryError as err:
            raise LogBroken(index, str(err)) from None
        if e.seq != index:
            raise LogBroken(index, f"seq is {e.seq}, expected {index} (gap, swap or duplicate)")
        if e.prev != prev:
            raise LogBroken(index, "prev does not match the leaf hash of the entry before it")
        if e.time < last_time:
            raise LogBroken(index, f"time {e.time} is earlier than the entry before ({last_time})")
        lh = e.leaf_hash
        if stored is not None:
            want = next(stored, None)
            if want is None or bytes(want) != lh:
                raise LogBroken(index, "stored leaf hash does not match the entry bytes")
        tree.append(lh)
        size = index + 1
        if size in expected_roots:
            if tree.root() != bytes(expected_roots[size]):
                raise LogBroken(index, f"tree root at size {size} differs from the checkpoint")
            checked.append(size)
        prev, last_time = lh.hex(), e.time
    size = index + 1
    beyond = sorted(s for s in expected_roots if s > size)
    if beyond:
        raise LogBroken(size, f"a checkpoint claims size {beyond[0]}; the log has {size} entries")
    return LogSummary(size, tree.root(), prev, tuple(checked))
