"""The audit's quick entry check and resumed log checks, held to the reference:
:func:`quick_entry` accepts only what :func:`parse_entry` accepts (with the same
fields), and :func:`check_entries` resumed at any position says what a check from
entry 0 says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evidence.verify.entry import (
    MAX_SAFE_INTEGER,
    LogBroken,
    LogPosition,
    check_entries,
    encode_entry,
    format_time,
    parse_entry,
    quick_entry,
)
from evidence.verify.errors import EntryError
from evidence.verify.hashing import ZERO_HASH_HEX, leaf_hash
from evidence.verify.merkle import CompactRange, root, root_plan

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


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(entries(), st.lists(st.tuples(st.sampled_from(["flip", "insert", "delete", "cut"]),
                                     st.integers(0, 10**6), st.integers(0, 255),
                                     st.sampled_from(SPLICES)), min_size=1, max_size=3))
def test_quick_entry_vouches_only_for_what_parse_entry_accepts(e, edits) -> None:
    data = bytearray(e[0])
    for op, where, byte, splice in edits:
        i = where % (len(data) + 1)
        if op == "flip" and i < len(data):
            data[i] = byte
        elif op == "insert":
            data[i:i] = splice
        elif op == "delete":
            del data[i:i + 1 + byte % 3]
        elif op == "cut":
            del data[i:]
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


# --- check_entries resumed --------------------------------------------------------------------


T0 = datetime(2026, 11, 21, 5, 0, tzinfo=UTC)


def make_log(n: int) -> list[bytes]:
    out, prev = [], ZERO_HASH_HEX
    for i in range(n):
        data = encode_entry(i, format_time(T0 + timedelta(seconds=i // 3)), prev, "custody.note",
                            {"i": i})
        out.append(data)
        prev = leaf_hash(data).hex()
    return out


def position(log: list[bytes], k: int) -> LogPosition:
    leaves = [leaf_hash(d) for d in log[:k]]
    last = parse_entry(log[k - 1]) if k else None
    edge = tuple(root(leaves[n.start:n.end]) for n in root_plan(k))
    return LogPosition(k, last.leaf_hash.hex() if last else ZERO_HASH_HEX,
                       last.time if last else "", edge)


def outcome(f):  # type: ignore[no-untyped-def]
    try:
        s = f()
    except LogBroken as e:
        return ("broken", e.index, e.reason)
    return ("ok", s.size, s.root, s.last_leaf_hash)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 40), st.data())
def test_check_entries_resumed_says_what_a_full_check_says(n: int, data) -> None:
    log = make_log(n)
    bad = data.draw(st.sampled_from(["none", "swap", "drop", "flip", "root", "leaf"]))
    stored = [leaf_hash(d) for d in log]
    roots: dict[int, bytes] = {}
    tree = CompactRange()
    for i, d in enumerate(log):
        tree.append(leaf_hash(d))
        if i % 5 == 4:
            roots[i + 1] = tree.root()
    if n >= 2:
        at = data.draw(st.integers(0, n - 2))
        if bad == "swap":
            log[at], log[at + 1] = log[at + 1], log[at]
        elif bad == "drop":
            del log[at]
            del stored[at]
        elif bad == "flip":
            log[at] = log[at].replace(b'"i":', b'"j":')
        elif bad == "root" and roots:
            roots[min(roots)] = b"\x07" * 32
        elif bad == "leaf":
            stored[at] = b"\x08" * 32
    k = data.draw(st.integers(0, n))
    full = outcome(lambda: check_entries(log, expected_roots=roots, expected_leaf_hashes=stored))
    if full[0] == "broken" and full[1] < k:
        return  # a resumed check starts after the fault: nothing to compare
    resumed = outcome(lambda: check_entries(log[k:], expected_roots=roots,
                                            expected_leaf_hashes=stored[k:],
                                            start=position(log, k)))
    assert resumed == full
