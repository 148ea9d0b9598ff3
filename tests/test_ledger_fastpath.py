"""The sequencer's fast paths against their references.

:func:`encode_chain` (entries of a batch) must make exactly the bytes of :func:`encode_entry`
and refuse exactly what it refuses; :func:`extend_edge` (the stored nodes of a batch) must make
exactly the nodes and root of :class:`CompactRange`.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from types import MappingProxyType
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError

from evidence.ledger.schema import entries
from evidence.ledger.sequencer import extend_edge
from evidence.verify.entry import encode_chain, encode_entry
from evidence.verify.errors import EntryError
from evidence.verify.hashing import ZERO_HASH_HEX, leaf_hash
from evidence.verify.merkle import CompactRange, root, root_plan
from tests import test_ledger_core

T = "2026-03-04T05:06:07.123456Z"
make_ledger = test_ledger_core.make_ledger  # the fixture: fresh ledgers on SQLite and PostgreSQL

# Includes what the house rules refuse (floats, huge integers, non-ASCII keys) and what
# json writes without being asked (tuples), so refusals are compared as well as bytes.
values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**54), 2**54) | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.tuples(children)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=15,
)
types = st.sampled_from(["evidence.submitted", "custody.note", "a.b_2", "Bad.Type", "nodot"])


def reference_chain(seq: int, time: str, prev: bytes, items: list[tuple[Any, Any]]
                    ) -> list[tuple[bytes, bytes]]:
    out, p = [], prev.hex()
    for i, (etype, body) in enumerate(items):
        data = encode_entry(seq + i, time, p, etype, body)
        lh = leaf_hash(data)
        out.append((data, lh))
        p = lh.hex()
    return out


def outcome(fn, *args):  # type: ignore[no-untyped-def]
    try:
        return "ok", fn(*args)
    except EntryError as e:
        return "refused", str(e)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(types, st.dictionaries(st.text(max_size=5), values, max_size=4)),
                min_size=1, max_size=5),
       st.integers(0, 2**53 - 10), st.binary(min_size=32, max_size=32))
def test_encode_chain_equals_encode_entry(items, seq, prev) -> None:
    fast = outcome(encode_chain, seq, T, prev, items)
    assert fast == outcome(reference_chain, seq, T, prev, items)
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
    {"x": (1.5,)},  # json writes a tuple as an array: its float was let through before
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


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 300), st.lists(st.integers(1, 40), min_size=1, max_size=6))
def test_extend_edge_equals_compact_range(start, batches) -> None:
    leaves = [leaf_hash(str(i).encode()) for i in range(start + sum(batches))]
    ref = CompactRange()
    for lh in leaves[:start]:
        ref.append(lh)
    # the committed edge, as the sequencer reloads it: one hash per set bit of start
    size, edge = start, [root(leaves[n.start:n.start + (1 << n.level)])
                         for n in root_plan(start)]
    for n in batches:
        rows: list[tuple[int, int, bytes]] = []
        extend_edge(edge, size, leaves[size:size + n], rows)
        want = [(node.level, node.index, h) for lh in leaves[size:size + n]
                for node, h in ref.append(lh)[1:]]
        assert rows == want
        size += n
        assert CompactRange(size, edge).root() == ref.root() == root(leaves[:size])



def test_a_failed_bulk_insert_fails_the_batch_and_the_ledger_goes_on(make_ledger) -> None:
    """A row in the way of the driver-level insert (SQLite executemany, PostgreSQL COPY)
    fails the whole batch with SQLAlchemy's IntegrityError; nothing of it is stored or
    acknowledged, and once the row is gone appends go on from the stored tree."""
    led = make_ledger()
    led.append_many([("custody.note", {"i": i}) for i in range(5)])
    with led.engine.begin() as c:  # what a broken foreign writer could leave behind
        c.execute(insert(entries).values(seq=5, leaf_hash=bytes(32), type="custody.note",
                                         time=T, data=b"{}"))
    with pytest.raises(IntegrityError):
        led.append_many([("custody.note", {"i": i}) for i in range(5, 8)])
    with led.engine.begin() as c:
        c.execute(delete(entries).where(entries.c.seq == 5))
    assert led.size == 5
    made = led.append_many([("custody.note", {"i": i}) for i in range(5, 8)])
    assert [a.seq for a in made] == [5, 6, 7]
    assert led.audit().ok
    assert led.inclusion_proof(6).root == led.root()


def test_sqlite_connections_are_durable_and_sized_for_large_ledgers(tmp_path) -> None:
    """Every SQLite connection: WAL, synchronous=FULL (2) (acknowledged = durable), the
    64 MiB page cache and the 10,000-page checkpoint interval of evidence.ledger.db."""
    from evidence.ledger.log import Ledger

    with Ledger.create(tmp_path / "data", "pragmas.example/log") as led:
        led.append("custody.note", {"i": 1})
        with led.engine.connect() as c:
            got = {p: c.exec_driver_sql(f"PRAGMA {p}").scalar()
                   for p in ("journal_mode", "synchronous", "cache_size", "wal_autocheckpoint",
                             "foreign_keys")}
    assert got == {"journal_mode": "wal", "synchronous": 2, "cache_size": -65536,
                   "wal_autocheckpoint": 10000, "foreign_keys": 1}


def test_fetch_nodes_equals_the_written_out_query(make_ledger) -> None:
    """The constant-statement node fetch (json_each on SQLite, unnest on PostgreSQL) finds
    exactly what the query with the ids written out finds: present, missing, leaf (level 0)
    and beyond-the-packing ids alike."""
    import random

    from evidence.ledger.db import read_transaction
    from evidence.ledger.store import fetch_nodes, fetch_nodes_written_out
    from evidence.verify.merkle import NodeId

    led = make_ledger()
    led.append_many([("custody.note", {"i": i}) for i in range(300)])
    rnd = random.Random(5)
    cases = [[], [NodeId(0, 0)], [NodeId(0, 299), NodeId(0, 300)], [NodeId(3, 1 << 45)],
             [NodeId(8, 0), NodeId(8, 1), NodeId(1, 149), NodeId(1, 150), NodeId(0, 5)]]
    for _ in range(40):
        cases.append([NodeId(lvl, rnd.randrange(320 >> lvl))
                      for lvl in (rnd.randrange(9) for _ in range(rnd.randrange(1, 30)))])
    with read_transaction(led.engine) as conn:
        for ids in cases:
            got = fetch_nodes(conn, ids)
            assert got == fetch_nodes_written_out(conn, ids)
            assert set(got) <= set(ids)
        assert len(fetch_nodes(conn, [NodeId(0, i) for i in range(300)])) == 300
