"""The ledger against real databases (SQLite file and a throwaway PostgreSQL):
appends, the chain, stored-node proofs, checkpoints, tampering caught by the
audit, and bad input refused without changing anything."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update

from evidence.ledger.db.schema import checkpoints, entries, log_state, nodes
from evidence.ledger.errors import (
    AppendRejected,
    ConfigMismatch,
    LedgerExists,
    NotALedger,
    OutOfRange,
)
from evidence.ledger.log import Ledger
from evidence.verify.checkpoint import verify_checkpoint
from evidence.verify.entry import parse_entry
from evidence.verify.hashing import leaf_hash
from evidence.verify.log import check_entries
from evidence.verify.merkle import (
    consistency_proof_from_leaves,
    inclusion_proof_from_leaves,
    root,
    verify_consistency,
    verify_inclusion,
)

ORIGIN = "test.example/log"
Factory = Callable[..., Ledger]


def _body(i: int) -> dict:
    return {"i": i, "sha256": hashlib.sha256(str(i).encode()).hexdigest(), "name": f"f{i}.png"}


def _fill(led: Ledger, n: int, batch: int = 50) -> None:
    for start in range(0, n, batch):
        led.append_many([("evidence.submitted", _body(i)) for i in range(start,
                                                                        min(n, start + batch))])


def _snapshot(led: Ledger) -> tuple:
    with led.engine.connect() as c:
        return tuple(tuple(c.execute(select(t)).all())
                     for t in (entries, nodes, checkpoints, log_state))


# --- appending ---------------------------------------------------------------------------


def test_append_chain_and_entry(make_ledger: Factory) -> None:
    led = make_ledger()
    a0 = led.append("custody.note", {"text": "hello"})
    many = led.append_many([("custody.note", {"n": i}) for i in range(5)])
    assert a0.seq == 0 and [a.seq for a in many] == [1, 2, 3, 4, 5]
    assert led.size == 6
    stored = list(led.entries())
    assert [e.seq for e in stored] == list(range(6))
    summary = check_entries([e.data for e in stored])
    assert summary.size == 6 and summary.root == led.root()
    e = led.entry(3)
    assert e.data == many[2].entry_bytes and e.leaf_hash == leaf_hash(e.data)
    assert parse_entry(e.data).prev == many[1].leaf_hash.hex()


def test_rejected_entry_fails_alone_and_takes_no_number(make_ledger: Factory) -> None:
    led = make_ledger()
    led.append("custody.note", {})
    for bad in [("Not A Type", {}), ("custody.note", {"x": 1.5}), ("custody.note", {"é": 1})]:
        with pytest.raises(AppendRejected):
            led.append(*bad)
    with pytest.raises(AppendRejected):  # all-or-nothing
        led.append_many([("custody.note", {}), ("custody.note", {"f": 0.1})])
    assert led.append("custody.note", {}).seq == 1
    assert led.audit().ok


def test_concurrent_threads_get_one_gap_free_sequence(make_ledger: Factory) -> None:
    import threading

    led = make_ledger()
    seqs: list[int] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        for i in range(60):
            a = led.append("custody.note", {"w": k, "i": i})
            with lock:
                seqs.append(a.seq)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seqs) == list(range(480))
    assert led.audit().ok


# --- proofs -------------------------------------------------------------------------------


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batches=st.lists(st.integers(1, 40), min_size=1, max_size=6), data=st.data())
def test_proofs_from_store_match_proofs_from_leaves(make_ledger: Factory, batches, data) -> None:
    led = make_ledger()
    leaves: list[bytes] = []
    for b in batches:
        made = led.append_many([("custody.note", {"k": len(leaves) + j}) for j in range(b)])
        leaves += [a.leaf_hash for a in made]
        n = len(leaves)
        assert led.root() == root(leaves)
        for _ in range(3):
            size = data.draw(st.integers(1, n))
            seq = data.draw(st.integers(0, size - 1))
            p = led.inclusion_proof(seq, size)
            assert list(p.proof) == inclusion_proof_from_leaves(seq, leaves[:size])
            verify_inclusion(seq, size, leaves[seq], p.proof, root(leaves[:size]))
            old = data.draw(st.integers(1, size))
            c = led.consistency_proof(old, size)
            assert list(c.proof) == consistency_proof_from_leaves(old, leaves[:size])
            verify_consistency(old, size, c.root1, c.root2, c.proof)


def test_proofs_out_of_range_are_refused(make_ledger: Factory) -> None:
    led = make_ledger(checkpoint_interval=3600)  # no idle checkpoint between the snapshots
    _fill(led, 10)
    before = _snapshot(led)
    for call in (lambda: led.inclusion_proof(10), lambda: led.inclusion_proof(3, 11),
                 lambda: led.inclusion_proof(-1), lambda: led.inclusion_proof(5, 5),
                 lambda: led.consistency_proof(3, 11), lambda: led.consistency_proof(8, 4),
                 lambda: led.entry(10), lambda: led.root(11)):
        with pytest.raises(OutOfRange):
            call()
    assert _snapshot(led) == before


# --- checkpoints ----------------------------------------------------------------------------


def test_checkpoints_signed_per_batch_and_never_shrink(make_ledger: Factory) -> None:
    led = make_ledger(checkpoint_interval=0)
    _fill(led, 30, batch=10)
    with led.engine.connect() as c:
        rows = c.execute(select(checkpoints).order_by(checkpoints.c.size)).all()
    assert [r.size for r in rows] == [10, 20, 30]
    for r in rows:
        v = verify_checkpoint(r.note, led.verifier)
        assert v.checkpoint.size == r.size and v.checkpoint.root == led.root(r.size)
    again = led.sign_checkpoint_now()
    assert again.size == 30 and again.note == rows[-1].note  # one root per size, not re-signed
    assert led.latest_checkpoint() == again and led.checkpoint_at(20).size == 20


def test_checkpoint_on_close_when_interval_not_reached(make_ledger: Factory) -> None:
    led = make_ledger(checkpoint_interval=3600)
    _fill(led, 5)
    led.close()
    cfg = led.config
    with Ledger.open(cfg.data_dir, cfg.db_url) as again:
        assert again.latest_checkpoint().size == 5


# --- audit and tampering ------------------------------------------------------------------------


def _tamper(led: Ledger, stmt) -> None:
    with led.engine.begin() as c:
        c.execute(stmt)


def _audited(led: Ledger, n: int = 40) -> None:
    led.append("custody.note", {"first": True})
    _fill(led, n - 1, batch=7)
    led.sign_checkpoint_now()
    assert led.audit().ok


def test_audit_clean(make_ledger: Factory) -> None:
    led = make_ledger(checkpoint_interval=0)
    _audited(led)
    r = led.audit(chunk=6)
    assert r.ok and r.size == 40 and r.entries_checked == 40 and r.nodes_checked == 40 - 1 - 1
    assert r.root == led.root().hex() and r.checkpoints_checked >= 6


def test_audit_catches_one_changed_byte(make_ledger: Factory) -> None:
    led = make_ledger()
    _audited(led)
    data = bytearray(led.entry(17).data)
    data[data.index(b'"name":"f') + 8] ^= 1  # "f17.png" -> "g17.png": still valid JSON
    _tamper(led, update(entries).where(entries.c.seq == 17).values(data=bytes(data)))
    r = led.audit(chunk=8)
    assert not r.ok and r.first_bad_seq == 17 and "leaf hash" in r.reason


def test_audit_catches_deleted_row(make_ledger: Factory) -> None:
    led = make_ledger()
    _audited(led)
    _tamper(led, delete(entries).where(entries.c.seq == 23))
    r = led.audit(chunk=8)
    assert not r.ok and r.first_bad_seq == 23 and "gap" in r.reason


def test_audit_catches_deleted_last_row(make_ledger: Factory) -> None:
    led = make_ledger()
    _audited(led)
    _tamper(led, delete(entries).where(entries.c.seq == 39))
    r = led.audit()
    assert not r.ok and r.first_bad_seq == 39


def test_audit_catches_swapped_rows(make_ledger: Factory) -> None:
    led = make_ledger()
    _audited(led)
    a, b = led.entry(11), led.entry(12)
    _tamper(led, update(entries).where(entries.c.seq == 11)
            .values(data=b.data, leaf_hash=b.leaf_hash))
    _tamper(led, update(entries).where(entries.c.seq == 12)
            .values(data=a.data, leaf_hash=a.leaf_hash))
    r = led.audit(chunk=5)
    assert not r.ok and r.first_bad_seq == 11


def test_audit_catches_changed_node(make_ledger: Factory) -> None:
    led = make_ledger()
    _audited(led)
    # node (level 2, index 5) covers entries 20..23 and is completed by entry 23
    _tamper(led, update(nodes).where(nodes.c.level == 2, nodes.c.idx == 5)
            .values(hash=b"\x01" * 32))
    r = led.audit(chunk=9)
    assert not r.ok and r.first_bad_seq == 23 and "level 2, index 5" in r.reason


def test_audit_catches_missing_and_extra_nodes(make_ledger: Factory) -> None:
    led = make_ledger()
    _audited(led)
    _tamper(led, delete(nodes).where(nodes.c.level == 1, nodes.c.idx == 3))
    r = led.audit()
    assert not r.ok and r.first_bad_seq == 7 and "lacks" in r.reason
    led2 = make_ledger()
    _audited(led2)
    with led2.engine.begin() as c:
        c.execute(nodes.insert().values(level=3, idx=5, hash=b"\x02" * 32))  # covers 40..47
    r2 = led2.audit()
    assert not r2.ok and "outside the tree" in r2.reason


def test_audit_catches_changed_checkpoint(make_ledger: Factory) -> None:
    led = make_ledger(checkpoint_interval=0)
    _audited(led)
    cp = led.checkpoint_at(15)  # sizes 1, 8, 15, 22, ... (batches of 7)
    forged = cp.note.replace(base64.b64encode(cp.root).decode(),
                             base64.b64encode(b"\x03" * 32).decode())
    _tamper(led, update(checkpoints).where(checkpoints.c.size == 15).values(note=forged))
    r = led.audit()
    assert not r.ok and r.first_bad_seq == 14 and "size 15" in r.reason
    led2 = make_ledger(checkpoint_interval=0)
    _audited(led2)
    _tamper(led2, update(checkpoints).where(checkpoints.c.size == 22).values(root=b"\x04" * 32))
    r2 = led2.audit()
    assert not r2.ok and r2.first_bad_seq == 21 and "stored root" in r2.reason


def test_audit_catches_log_state_lie(make_ledger: Factory) -> None:
    led = make_ledger()
    _audited(led)
    _tamper(led, update(log_state).values(last_leaf_hash=b"\x05" * 32))
    r = led.audit()
    assert not r.ok and r.first_bad_seq == 39


# --- bad input --------------------------------------------------------------------------------


def test_second_init_is_refused_and_changes_nothing(make_ledger: Factory) -> None:
    led = make_ledger(checkpoint_interval=3600)  # no idle checkpoint between the snapshots
    _fill(led, 3)
    cfg = led.config
    files = {p: p.read_bytes() for p in cfg.data_dir.iterdir() if p.is_file()
             and not p.name.startswith("ledger.db")}
    before = _snapshot(led)
    url = None if make_ledger.backend == "sqlite" else cfg.db_url
    with pytest.raises(LedgerExists):
        Ledger.create(cfg.data_dir, ORIGIN, db_url=url)
    with pytest.raises(LedgerExists):  # same database from another data dir
        Ledger.create(cfg.data_dir.parent / "other", ORIGIN, db_url=cfg.db_url)
    assert not (cfg.data_dir.parent / "other" / "log.key").exists()
    assert {p: p.read_bytes() for p in files} == files and _snapshot(led) == before


def test_open_refuses_other_origin_or_key(make_ledger: Factory) -> None:
    # No idle checkpoint may land between the two snapshots (under load one did).
    a = make_ledger("a.example/log", checkpoint_interval=3600)
    b = make_ledger("b.example/log")
    _fill(a, 2)
    before = _snapshot(a)
    with pytest.raises(ConfigMismatch, match=r"a\.example/log"):
        Ledger.open(b.config.data_dir, db_url=a.config.db_url)  # b's config, a's database
    c = make_ledger("a.example/log")  # same origin, different key
    with pytest.raises(ConfigMismatch, match="key"):
        Ledger.open(c.config.data_dir, db_url=a.config.db_url)
    assert _snapshot(a) == before


def test_read_only_open_needs_no_key(make_ledger: Factory) -> None:
    led = make_ledger()
    _fill(led, 4)
    with Ledger.open(db_url=led.config.db_url, read_only=True,
                     data_dir=led.config.data_dir / "nowhere") as ro:
        assert ro.size == 4 and ro.verifier_key == led.verifier_key
        with pytest.raises(Exception, match="read-only"):
            ro.append("custody.note", {})


def test_sqlite_file_that_is_not_a_ledger(tmp_path) -> None:
    import sqlite3

    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    for path in (other, junk):
        before = path.read_bytes()
        with pytest.raises(NotALedger):
            Ledger.open(tmp_path / "nodir", db_url=f"sqlite:///{path}", read_only=True)
        assert path.read_bytes() == before
    missing = tmp_path / "missing.db"
    with pytest.raises(NotALedger):
        Ledger.open(db_url=f"sqlite:///{missing}", read_only=True)
    assert not missing.exists()
    with pytest.raises(NotALedger):
        Ledger.open(tmp_path / "no-config")


@pytest.mark.pg
def test_postgres_database_that_is_not_a_ledger(pg_fresh_url: str) -> None:
    from sqlalchemy import create_engine, inspect, text

    eng = create_engine(pg_fresh_url)
    with eng.begin() as c:
        c.execute(text("CREATE TABLE t (x int)"))
    with pytest.raises(NotALedger):
        Ledger.open(db_url=pg_fresh_url, read_only=True)
    with eng.connect() as c:
        assert inspect(c).get_table_names() == ["t"]
    eng.dispose()


def test_schema_matches_migrations(tmp_path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import MetaData

    from evidence.ledger.access.schema import access_metadata
    from evidence.ledger.anchor.schema import anchor_metadata
    from evidence.ledger.db.schema import metadata
    from evidence.ledger.evidence_store import metadata as evidence_metadata

    # Every part's tables together must be exactly what the migrations build.
    everything = MetaData()
    for part in (metadata, evidence_metadata, anchor_metadata, access_metadata):
        for table in part.tables.values():
            table.to_metadata(everything)
    led = Ledger.create(tmp_path / "d", ORIGIN)
    with led.engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c), everything)
    led.close()
    assert [d for d in diff if not (d[0] == "remove_table" and d[1].name == "alembic_version")
            ] == []
