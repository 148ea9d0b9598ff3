"""Entries: RFC 8785 bytes, the hash chain, and the whole-log check."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence.verify import merkle
from evidence.verify.commitment import (
    CommitmentMismatch,
    metadata_commitment,
    new_salt,
    verify_commitment,
)
from evidence.verify.entry import (
    canonical_json,
    encode_entry,
    format_time,
    parse_entry,
)
from evidence.verify.errors import EntryError
from evidence.verify.hashing import ZERO_HASH_HEX, leaf_hash, sha256
from evidence.verify.log import LogBroken, check_entries

T0 = datetime(2026, 11, 21, 5, 0, tzinfo=UTC)


def make_log(n: int) -> list[bytes]:
    out, prev = [], ZERO_HASH_HEX
    for i in range(n):
        data = encode_entry(i, format_time(T0 + timedelta(seconds=i)), prev, "custody.note",
                            {"text": f"note {i}", "by": "clerk 书记员"})
        out.append(data)
        prev = leaf_hash(data).hex()
    return out


def test_entry_bytes_are_jcs() -> None:
    data = encode_entry(0, format_time(T0), ZERO_HASH_HEX, "evidence.submitted",
                        {"z": 1, "a": ["é", "\u2014"], "m": {"y": True, "b": None}})
    assert data == rfc8785.dumps(json.loads(data))
    assert data.startswith(b'{"body":{"a":["\xc3\xa9"')
    e = parse_entry(data)
    assert e.seq == 0 and e.type == "evidence.submitted" and e.leaf_hash == leaf_hash(data)


def test_time_format() -> None:
    assert format_time(T0) == "2026-11-21T05:00:00.000000Z"
    with pytest.raises(ValueError):
        format_time(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda o: o | {"v": 2}, "version"),
        (lambda o: o | {"seq": -1}, "seq"),
        (lambda o: o | {"seq": True}, "seq"),
        (lambda o: o | {"time": "2026-11-21T05:00:00Z"}, "microseconds"),
        (lambda o: o | {"prev": "AB" * 32}, "prev"),
        (lambda o: o | {"type": "Evidence Submitted"}, "type"),
        (lambda o: o | {"body": []}, "body"),
        (lambda o: o | {"extra": 1}, "extra"),
        (lambda o: {k: v for k, v in o.items() if k != "prev"}, "missing"),
        (lambda o: o | {"body": {"size": 1.5}}, "floating-point"),
        (lambda o: o | {"body": {"名": 1}}, "ASCII"),
        (lambda o: o | {"body": {"n": 2**53}}, "I-JSON"),
    ],
)
def test_malformed_entries(mutate, reason: str) -> None:
    good = json.loads(make_log(1)[0])
    data = json.dumps(mutate(good), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()
    with pytest.raises(EntryError, match=reason):
        parse_entry(data)


def test_non_canonical_bytes_refused() -> None:
    data = make_log(1)[0]
    spaced = json.dumps(json.loads(data), sort_keys=True).encode()
    with pytest.raises(EntryError, match="canonical"):
        parse_entry(spaced)
    with pytest.raises(EntryError, match="UTF-8 JSON"):
        parse_entry(b"\xff{}")
    with pytest.raises(EntryError, match="not a JSON object"):
        parse_entry(b"[]")


def test_check_entries_good_log() -> None:
    log = make_log(50)
    leaves = [leaf_hash(x) for x in log]
    roots = {n: merkle.root(leaves[:n]) for n in (0, 1, 17, 50)}
    summary = check_entries(log, expected_roots=roots, expected_leaf_hashes=leaves)
    assert summary.size == 50 and summary.root == merkle.root(leaves)
    assert summary.roots_checked == (0, 1, 17, 50)


def test_check_entries_names_first_bad_index() -> None:
    log = make_log(20)
    leaves = [leaf_hash(x) for x in log]

    tampered = list(log)
    tampered[7] = tampered[7].replace(b"note 7", b"note X")
    with pytest.raises(LogBroken) as exc:
        check_entries(tampered)
    # entry 7 itself still parses; entry 8 no longer chains to it
    assert exc.value.index == 8 and "prev" in exc.value.reason

    with pytest.raises(LogBroken) as exc:
        check_entries(tampered, expected_leaf_hashes=leaves)
    assert exc.value.index == 7 and "stored leaf hash" in exc.value.reason

    with pytest.raises(LogBroken) as exc:
        check_entries(log[:5] + log[6:])
    assert exc.value.index == 5 and "seq" in exc.value.reason

    with pytest.raises(LogBroken) as exc:
        check_entries([*log[:3], log[4], log[3], *log[5:]])
    assert exc.value.index == 3

    with pytest.raises(LogBroken) as exc:
        check_entries(log, expected_roots={10: merkle.root(leaves[:9])})
    assert exc.value.index == 9 and "checkpoint" in exc.value.reason

    with pytest.raises(LogBroken) as exc:
        check_entries(log, expected_roots={25: merkle.root(leaves)})
    assert exc.value.index == 20 and "claims size 25" in exc.value.reason

    back_in_time = json.loads(log[1])
    back_in_time["time"] = "2020-01-01T00:00:00.000000Z"
    with pytest.raises(LogBroken) as exc:
        check_entries([log[0], rfc8785.dumps(back_in_time)])
    assert exc.value.index == 1 and "earlier" in exc.value.reason


def test_commitment() -> None:
    salt = new_salt()
    meta = {"title": "侵权店铺截图", "captured_at": "2026-11-20T10:00:00Z"}
    c = metadata_commitment(salt, meta).hex()
    assert c == sha256(salt + rfc8785.dumps(meta)).hex()
    verify_commitment(c, salt, meta)
    with pytest.raises(CommitmentMismatch):
        verify_commitment(c, salt, meta | {"title": "x"})
    with pytest.raises(CommitmentMismatch):
        verify_commitment(c, new_salt(), meta)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53 - 1), 2**53 - 1) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(st.characters(max_codepoint=127), max_size=6), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)
@given(json_values)
def test_fast_canonical_check_agrees_with_rfc8785(value) -> None:
    """Under the house rules (no floats, ASCII keys) json.dumps sorted == JCS."""
    body = {"v": value}
    data = encode_entry(0, format_time(T0), ZERO_HASH_HEX, "custody.note", body)
    assert data == rfc8785.dumps(json.loads(data))
    assert canonical_json(body) == rfc8785.dumps(body)
    fast = json.dumps(json.loads(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert fast.encode() == data


def test_commitment_allows_floats_in_metadata() -> None:
    """Metadata (unlike entries) may carry floats, e.g. GPS; full JCS is used."""
    salt = new_salt()
    meta = {"gps": {"lat": 22.543096, "lon": 114.057865}, "n": 1e21}
    assert metadata_commitment(salt, meta) == sha256(salt + rfc8785.dumps(meta))


def test_lone_surrogate_refused() -> None:
    with pytest.raises(EntryError, match="surrogate"):
        encode_entry(0, format_time(T0), ZERO_HASH_HEX, "custody.note", {"t": "\ud800"})
