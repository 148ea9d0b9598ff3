"""Ledger entries, the quick way: a batch of new entries encoded at once, and stored
entries checked without a full parse.

Equal to :mod:`evidence.verify.entry`: :func:`encode_chain` makes the bytes of
:func:`~evidence.verify.entry.encode_entry` and refuses what it refuses, naming the
same fault; :func:`quick_entry` and :func:`quick_entries` vouch only for what
:func:`~evidence.verify.entry.parse_entry` accepts (with the same fields), and say
``None`` where they cannot; :func:`obeys_house_rules` is True exactly for values the house rules
(:func:`~evidence.verify.entry.check_house_rules`) accept. Held by
``tests/equivalence/test_entries.py``. Auditors may skip this module.

Used by the sequencer (:func:`encode_chain`, for every batch it writes) and by the
audit (:func:`quick_entries`, for runs of thousands of stored entries).
"""

from __future__ import annotations

import binascii
import functools
import itertools
import json
import json.encoder as _json_encoder
import re
from collections.abc import Mapping, Sequence
from typing import Any

from evidence.verify.entry import (
    ENTRY_VERSION,
    JCS_ENCODER,
    MAX_ENTRY_SIZE,
    MAX_SAFE_INTEGER,
    TYPE_RE,
    ascii_keys,
    check_header,
    check_house_rules,
    checked_int,
    encode_entry,
    parse_time,
    reject_float,
)
from evidence.verify.errors import EntryError
from evidence.verify.hashing import Hash32, hash32, leaf_hash, leaf_hashes


def obeys_house_rules(value: Any) -> bool:
    """Fast path of the house rules: True only for values of the exact built-in JSON
    types that obey them (no floats, integers in the I-JSON range, ASCII string keys).
    False sends the value to the reference walk, ``check_house_rules``, which decides
    and names the fault (subclasses and other types land there too). No path strings
    are built.

    Public because it is a fast path held on its own to its reference: a True it should
    not give would let a body past the house rules (tests/equivalence/test_entries.py,
    ``test_obeys_exactly_when_the_house_rules_accept``)."""
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
            if not obeys_house_rules(v):
                return False
        return True
    if t is list or t is tuple:
        return all(map(obeys_house_rules, value))
    if t is str or value is None or t is bool:
        return True
    if t is int:
        return -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER
    return False


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
        check_header(header)  # seq, time and prev: raises naming the fault
        header["seq"] = seq + n - 1
        check_header(header)
    tail = f',"time":"{time}","type":"'
    out: list[tuple[bytes, Hash32]] = []
    for etype, body in items:
        if type(etype) is not str or type(body) is not dict:  # unusual input: reference path
            data = encode_entry(seq, time, prev_hex, etype, body)
        else:
            if not _type_ok_cached(etype):
                header["type"] = etype
                check_header(header)  # raises naming the fault
            if not obeys_house_rules(body):
                check_house_rules(body, "$.body")
            text = (f'{{"body":{JCS_ENCODER.encode(body)},"prev":"{prev_hex}","seq":{seq}'
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
    return TYPE_RE.match(etype) is not None


_QUICK_HEAD = b'{"body":'
_QUICK_TAIL = re.compile(
    rb',"prev":"(.{64})","seq":(0|[1-9][0-9]{0,15}),"time":"(.{27})","type":"([^"]*)","v":1\}')
"""The fields after the body, in key order; prev, time and type are then checked
with check_header's rules (ASCII only): see :func:`_quick_fields`."""
_QUICK_BODY = json.JSONDecoder(parse_float=reject_float, parse_int=checked_int,
                               parse_constant=reject_float)
_QUICK_BODY_KEYS = json.JSONDecoder(parse_float=reject_float, parse_int=checked_int,
                                    parse_constant=reject_float, object_pairs_hook=ascii_keys)
_quick_jcs = (
    # what JCS_ENCODER.encode runs for a dict, made once instead of per call (the same C
    # encoder with the same settings; None where CPython's accelerator is missing)
    None if _json_encoder.c_make_encoder is None else _json_encoder.c_make_encoder(
        None, JCS_ENCODER.default, _json_encoder.encode_basestring, None, ":", ",", True, False,
        True))


@functools.lru_cache(maxsize=256)
def _quick_fields(time: bytes, etype: bytes) -> str | None:
    """The entry's time if its ``time`` and ``type`` pass :func:`check_header`'s rules
    (in ASCII), else None. Remembered: a batch shares one time, a log has few types."""
    try:
        text = time.decode("ascii")
        parse_time(text)
        ok = TYPE_RE.match(etype.decode("ascii")) is not None
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
    check_header's rules (ASCII only; time and type once per distinct value),
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
    if ("".join(_quick_jcs(body, 0)) if _quick_jcs else JCS_ENCODER.encode(body)) != text:
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


_QUICK_BODY_INTS = json.JSONDecoder(parse_float=reject_float, parse_constant=reject_float)
"""Integers parsed in C, without a call of checked_int each: for runs in which
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
            encoded = [JCS_ENCODER.encode(v).encode("utf-8") for v in values]
        else:
            encoded = list(map(str.encode, map("".join, map(_quick_jcs, values,
                                                             itertools.repeat(0)))))
    except (ValueError, RecursionError, EntryError):  # decode, encode, parse, house rules
        return False
    return encoded == bodies

