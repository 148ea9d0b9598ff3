"""check_entries resumed at any position says what a check from entry 0 says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evidence.verify.entry import encode_entry, format_time, parse_entry
from evidence.verify.hashing import ZERO_HASH_HEX, leaf_hash
from evidence.verify.log import LogBroken, LogPosition, check_entries
from evidence.verify.merkle import CompactRange, root, root_plan

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
