"""evidence.verify.fast.entries held to evidence.verify.entry.

:func:`quick_entry` and :func:`quick_entries` (the audit's) vouch only for what
:func:`parse_entry` accepts (with the same fields); :func:`encode_chain` (the
sequencer's) makes exactly the bytes of :func:`encode_entry` and refuses exactly what it
refuses; :func:`obeys_house_rules` is True exactly for values the house rules accept."""

from __future__ import annotations

import json
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evidence.verify.entry import (
    MAX_SAFE_INTEGER,
    check_house_rules,
    encode_entry,
    format_time,
    parse_entry,
)
from evidence.verify.errors import EntryError
from evidence.verify.fast.entries import (
    encode_chain,
    obeys_house_rules,
    quick_entries,
    quick_entry,
)
from evidence.verify.hashing import ZERO_HASH_HEX, leaf_hash

KEYS = st.text(st.characters(min_codepoint=0, max_codepoint=127), max_size=6)
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
INTS = st.one_of(st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER),
                 st.sampled_from([0, -1, 10**15, MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER]))
VALUES = st.recursive(st.none() | st.booleans() | INTS | TEXT,
                      lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(KEYS, inner, max_size=3), max_leaves=8)
BODIES = st.dictionaries(KEYS, VALUES, max_size=5)
TYPES = st.sampled_from(["evidence.submitted", "custody.note", "a.b", "x_1.y2.z_"])
TIMES = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 1, 1),
                     timezones=st.just(UTC)).map(format_time)
SEQS = st.one_of(st.integers(0, 10**6), st.integers(0, MAX_SAFE_INTEGER))


@st.composite
def entries(draw) -> tuple[bytes, int, str, bytes]:
    seq, time = draw(SEQS), draw(TIMES)
    prev = draw(st.binary(min_size=32, max_size=32))
    return encode_entry(seq, time, prev.hex(), draw(TYPES), draw(BODIES)), seq, time, prev


SPLICES = [b" ", b'"', b"\\", b"0", b"1", b"9", b".", b"e", b"-", b",", b":", b"{", b"}", b"[",
           b"]", b"\xc3\xa9", b"\xff", b"\x00", b"\\u00e9", b"1.0", b"NaN", b"99999999999999999",
           b'"a":1,', b'"prev":"', b',"prev":"' + b"0" * 64 + b'",']


def mutate(data: bytearray, op: str, where: int, byte: int, splice: bytes) -> None:
    """One edit of ``data`` in place: flip a byte, insert a splice, delete or cut."""
    i = where % (len(data) + 1)
    if op == "flip" and i < len(data):
        data[i] = byte
    elif op == "insert":
        data[i:i] = splice
    elif op == "delete":
        del data[i:i + 1 + byte % 3]
    elif op == "cut":
        del data[i:]


def reference(data: bytes, prev: bytes) -> tuple[int, str] | None:
    """What parse_entry and the chain check say: (seq, time) or None."""
    try:
        e = parse_entry(data)
    except EntryError:
        return None
    return (e.seq, e.time) if e.prev == prev.hex() else None


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(entries(), st.binary(min_size=0, max_size=33))
def test_quick_entry_accepts_valid_entries(e, other: bytes) -> None:
    data, seq, time, prev = e
    assert quick_entry(data, prev) == (seq, time) == reference(data, prev)
    if other != prev:
        assert quick_entry(data, other) is None


@pytest.mark.slow
@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(entries(), st.lists(st.tuples(st.sampled_from(["flip", "insert", "delete", "cut"]),
                                     st.integers(0, 10**6), st.integers(0, 255),
                                     st.sampled_from(SPLICES)), min_size=1, max_size=3))
def test_quick_entry_vouches_only_for_what_parse_entry_accepts(e, edits) -> None:
    data = bytearray(e[0])
    for op, where, byte, splice in edits:
        mutate(data, op, where, byte, splice)
    mutated = bytes(data)
    quick = quick_entry(mutated, e[3])
    if quick is not None:
        assert reference(mutated, e[3]) == quick


@pytest.mark.parametrize("old, new", [
    (b'"seq":7', b'"seq":07'), (b'"seq":7', b'"seq":9007199254740992'),
    (b'"seq":7', b'"seq":-7'), (b'"v":1', b'"v":2'), (b'"v":1', b'"v":true'),
    (b'"v":1', b'"v":1.0'), (b"T01:02:03", b"T25:02:03"), (b"-02-03T", b"-02-30T"),
    (b'"type":"custody.note"', b'"type":"Custody.note"'), (b'"n":5', b'"n":5.0'),
    (b'"n":5', b'"n":9007199254740992'), (b'"n":5', b'"n":-9007199254740992'),
    (b'"n":5', b'"n":5e0'), (b'"n":5', b'"n":NaN'), (b'"n":5', b'"\\u00e9":5'),
    (b'"n":5', b'"\xc3\xa9":5'), (b'"n":5', b'"n":5,"n":5'), (b'"n":5', b'"n" :5'),
    (b'"s":"x"', b'"s":"\\u0078"'), (b'"s":"x"', b'"s":"\\ud800"'), (b'{"body":{', b'{"body":{ '),
    (b'"prev":"ab', b'"prev":"AB'), (b'"s":"x"', b'"s":"x","prev":"' + b"0" * 64 + b'"'),
])
def test_quick_entry_refuses_like_parse_entry(old: bytes, new: bytes) -> None:
    prev = bytes.fromhex("ab" * 32)
    good = encode_entry(7, "2026-02-03T01:02:03.000004Z", "ab" * 32, "custody.note",
                        {"n": 5, "s": "x"})
    assert quick_entry(good, prev) == (7, "2026-02-03T01:02:03.000004Z")
    bad = good.replace(old, new, 1)
    assert bad != good
    assert quick_entry(bad, prev) is None and reference(bad, prev) is None


def test_quick_entry_big_valid_numbers_and_unicode() -> None:
    data = encode_entry(MAX_SAFE_INTEGER, "2026-02-03T01:02:03.000004Z", ZERO_HASH_HEX,
                        "custody.note", {"n": -MAX_SAFE_INTEGER, "by": "书记员 \u2028 \x07"})
    zero = bytes(32)
    assert quick_entry(data, zero) == reference(data, zero) == (MAX_SAFE_INTEGER,
                                                                "2026-02-03T01:02:03.000004Z")
    assert quick_entry(bytearray(data), zero) is None  # not bytes: the reference decides


# --- quick_entries: runs of entries ----------------------------------------------------------


def reference_run(datas: list[bytes], prev: bytes, seq: int, time: str):  # type: ignore[no-untyped-def]
    """What parse_entry and the chain rules say of a run: (leaf hashes, last time) or None."""
    hashes = []
    for data in datas:
        try:
            e = parse_entry(data)
        except EntryError:
            return None
        if e.prev != prev.hex() or e.seq != seq or e.time < time:
            return None
        prev, seq, time = e.leaf_hash, seq + 1, e.time
        hashes.append(e.leaf_hash)
    return hashes, time


@st.composite
def runs(draw) -> tuple[list[bytes], bytes, int]:
    """A valid run: consecutive entries with bodies of every shape, chained from a random prev."""
    n, seq = draw(st.integers(1, 8)), draw(st.integers(0, 10**6))
    prev0 = prev = draw(st.binary(min_size=32, max_size=32))
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        moment += timedelta(microseconds=draw(st.sampled_from([0, 0, 1, 10**6])))
        data = encode_entry(seq + i, format_time(moment), prev.hex(), draw(TYPES), draw(BODIES))
        out.append(data)
        prev = leaf_hash(data)
    return out, prev0, seq


@pytest.mark.slow
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(runs())
def test_quick_entries_accepts_valid_runs(run) -> None:
    datas, prev, seq = run
    want = reference_run(datas, prev, seq, "")
    assert want is not None
    assert quick_entries(datas, prev, seq, "") == want
    assert quick_entries(datas, prev, seq + 1, "") is None
    assert quick_entries(datas, bytes(32) if prev != bytes(32) else b"\x01" * 32, seq, "") is None


@pytest.mark.slow
@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(runs(), st.lists(st.tuples(st.integers(0, 7), st.sampled_from(["flip", "insert", "delete",
                                                                      "cut", "move"]),
                                  st.integers(0, 10**6), st.integers(0, 255),
                                  st.sampled_from(SPLICES)), min_size=1, max_size=3))
def test_quick_entries_vouches_only_for_what_parse_entry_accepts(run, edits) -> None:
    datas, prev, seq = run
    datas = [bytearray(d) for d in datas]
    for which, op, where, byte, splice in edits:
        data = datas[which % len(datas)]
        if op == "move":  # bytes cross from one body into its neighbour's
            i = where % (len(data) + 1)
            datas[(which + 1) % len(datas)][8:8] = data[i:]
            del data[i:]
        else:
            mutate(data, op, where, byte, splice)
    mutated = [bytes(d) for d in datas]
    got = quick_entries(mutated, prev, seq, "")
    if got is not None:
        assert got == reference_run(mutated, prev, seq, "")


def _run_with(bodies: list[bytes]) -> tuple[list[bytes], bytes]:
    """Entries around raw body texts, chained and numbered from 0 (whether or not the
    bodies are valid: the point is what the checks make of them)."""
    out, prev = [], bytes(32)
    for i, body in enumerate(bodies):
        data = (b'{"body":' + body + b',"prev":"' + prev.hex().encode() + b'","seq":'
                + str(i).encode() + b',"time":"2026-02-03T01:02:03.000004Z","type":"a.b","v":1}')
        out.append(data)
        prev = leaf_hash(data)
    return out, bytes(32)


@pytest.mark.parametrize("bodies", [
    # a body that is no object alone, made whole by its neighbour: as one JSON array the
    # run parses to as many objects as there are entries, each re-encoding to a neighbour
    [b'{"a":[{"b":1}', b'{}]}', b'{"x":1},{"y":2}'],
    [b'{"a":[1', b'2]}', b'{"c":3},{"d":4}'],
    [b'{"a":1}', b'{"n":9007199254740992}'],  # out of the I-JSON range
    [b'{"a":1}', b'{"n":[-9007199254740992]}'],
    [b'{"a":1}', b'{"n":1.5}'],
    [b'{"a":1}', b'{"\xc3\xa9":1}'],  # a non-ASCII key
    [b'{"a":1}', b'{"s":"\\ud800"}'],  # a lone surrogate
    [b'{"a":1}', b'{"b":1,"a":2}'],  # key order
    [b'{"a":1}', b'{"a":1,"a":1}'],  # a duplicate key
    [b'{"a":1}', b' {"a":1}'],
    [b'{"a":1}', b'[1]'],
    [b'{"a":1}', b'{"a":"\xff"}'],  # not UTF-8
    [b'{"a":' * 300 + b"1" + b"}" * 300],  # deeper than the reference parses? it decides
])
def test_quick_entries_refuses_like_parse_entry(bodies: list[bytes]) -> None:
    datas, prev = _run_with(bodies)
    want = reference_run(datas, prev, 0, "")
    got = quick_entries(datas, prev, 0, "")
    assert got is None or got == want
    if want is None:
        assert got is None


def test_quick_entries_takes_valid_long_numbers_and_unicode() -> None:
    bodies = [b'{"n":9007199254740991}', b'{"n":-9007199254740991,"s":"\xe4\xb9\xa6"}',
              b'{"s":"x:1234567890123456789"}', b'{"a":[{"b":{"c":[]}}],"t":true,"z":null}']
    datas, prev = _run_with(bodies)
    want = reference_run(datas, prev, 0, "")
    assert want is not None and quick_entries(datas, prev, 0, "") == want
    assert quick_entries([bytearray(d) for d in datas], prev, 0, "") is None  # not bytes
    assert quick_entries([], prev, 5, "t") == ([], "t")


# --- encode_chain: a batch of new entries ------------------------------------------------------


T = "2026-03-04T05:06:07.123456Z"

# Includes what the house rules refuse (floats, huge integers, non-ASCII keys) and what
# json writes without being asked (tuples), so refusals are compared as well as bytes.
VALUES_AND_REFUSED = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**54), 2**54) | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.tuples(children)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=15,
)
ANY_TYPES = st.sampled_from(["evidence.submitted", "custody.note", "a.b_2", "Bad.Type",
                            "nodot"])


def reference_chain(seq: int, time: str, prev: bytes, items: list[tuple[Any, Any]]
                    ) -> list[tuple[bytes, bytes]]:
    out, p = [], prev.hex()
    for i, (etype, body) in enumerate(items):
        data = encode_entry(seq + i, time, p, etype, body)
        lh = leaf_hash(data)
        out.append((data, lh))
        p = lh.hex()
    return out


def chain_outcome(fn, *args):  # type: ignore[no-untyped-def]
    try:
        return "ok", fn(*args)
    except EntryError as e:
        return "refused", str(e)


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(ANY_TYPES, st.dictionaries(st.text(max_size=5), VALUES_AND_REFUSED,
                                                    max_size=4)),
                min_size=1, max_size=5),
       st.integers(0, 2**53 - 10), st.binary(min_size=32, max_size=32))
def test_encode_chain_equals_encode_entry(items, seq, prev) -> None:
    fast = chain_outcome(encode_chain, seq, T, prev, items)
    assert fast == chain_outcome(reference_chain, seq, T, prev, items)
    if fast[0] == "ok":
        for data, lh in fast[1]:
            assert data == rfc8785.dumps(json.loads(data))
            assert lh == leaf_hash(data)


def test_encode_chain_odd_inputs_take_the_reference_path() -> None:
    items = [("custody.note", OrderedDict(b=1, a=[1, (2, "x")])),
             ("custody.note", MappingProxyType({"k": "v"})),
             ("custody.note", {"t": "caf\u00e9 \u2603"})]
    assert encode_chain(7, T, bytes(32), items) == reference_chain(7, T, bytes(32), items)


@pytest.mark.parametrize("bad", [
    {"x": (1.5,)},  # json writes a tuple as an array: its float is refused all the same
    {"x": [1, {"y": 2**53}]},
    {"x": {"\u00e9": 1}},
    {"x": {1: 1}},
    {"t": "\ud800"},
    {"x": "y" * (1 << 20)},
])
def test_encode_chain_refuses_what_encode_entry_refuses(bad) -> None:
    with pytest.raises(EntryError) as fast:
        encode_chain(0, T, bytes(32), [("custody.note", {"ok": 1}), ("custody.note", bad)])
    with pytest.raises(EntryError) as ref:
        encode_entry(1, T, ZERO_HASH_HEX, "custody.note", bad)
    assert str(fast.value) == str(ref.value)


@pytest.mark.parametrize(("seq", "time", "prev"), [
    (-1, T, bytes(32)), (2**53 - 1, T, bytes(32)), (0, "2026-13-01T00:00:00.000000Z", bytes(32)),
    (0, "yesterday", bytes(32)),
])
def test_encode_chain_refuses_bad_headers(seq, time, prev) -> None:
    with pytest.raises(EntryError):
        encode_chain(seq, time, prev, [("custody.note", {}), ("custody.note", {})])


def test_encode_chain_refuses_bad_prev() -> None:
    with pytest.raises(ValueError):
        encode_chain(0, T, bytes(31), [("custody.note", {})])


# --- obeys_house_rules: the house rules' quick yes ----------------------------------------------


@pytest.mark.slow
@settings(max_examples=1000, deadline=None)
@given(VALUES_AND_REFUSED)
def test_obeys_exactly_when_the_house_rules_accept(value: Any) -> None:
    try:
        check_house_rules(value, "$")
        accepted = True
    except EntryError:
        accepted = False
    # True only where the reference accepts; False may also mean "ask the reference"
    # (a subclass of a JSON type), which no value drawn here is
    assert obeys_house_rules(value) == accepted
    assert obeys_house_rules({"k": value}) == accepted
