"""The sequencer's fast paths against their references.

:func:`extend_edge` (the stored nodes of a batch) must make exactly the nodes and root of
:class:`CompactRange`. (:func:`encode_chain`, the entries of a batch, is held to
:func:`encode_entry` in ``tests/equivalence/test_entries.py``.)
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError

from evidence.ledger.db.schema import entries
from evidence.ledger.tree import extend_edge
from evidence.verify.hashing import leaf_hash
from evidence.verify.merkle import CompactRange, root, root_plan

T = "2026-03-04T05:06:07.123456Z"


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

    from evidence.ledger.db.engine import read_transaction
    from evidence.ledger.db.log_queries import fetch_nodes, fetch_nodes_written_out
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
