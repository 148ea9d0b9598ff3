"""Lookups by leaf hash (``leaf_index``, filled by the sequencer's follower) against real
SQLite and PostgreSQL: entries found in the indexed part and in the tail, after reopening,
after a crash before (or while) the follower ran, never a wrong answer from a damaged
index, and the migration of a 0004 ledger."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, func, insert, select, update

from evidence.ledger.db import log_queries, migrations
from evidence.ledger.db.engine import make_engine, write_transaction
from evidence.ledger.db.log_queries import leaf_key
from evidence.ledger.db.schema import leaf_index, leaf_index_state
from evidence.ledger.leaf_index import index_leaves
from evidence.ledger.log import Ledger
from tests.support.processes import child_env, kill_after_acks

ORIGIN = "leafindex.example/log"
Factory = Callable[..., Ledger]


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def make_ledger(request, tmp_path) -> Iterator[Factory]:
    """Makes fresh ledgers on one backend; ``make_ledger.reopen(led)`` closes one and opens
    it again (with other options)."""
    made: list[Ledger] = []
    urls: list[str] = []
    cluster = request.getfixturevalue("pg_cluster") if request.param == "pg" else None

    def factory(**kw) -> Ledger:
        d = Path(tempfile.mkdtemp(dir=tmp_path))
        url = cluster.create_database("leafidx") if cluster else None
        if url:
            urls.append(url)
        made.append(Ledger.create(d / "data", ORIGIN, db_url=url, checkpoint_interval=0,
                                  **kw))
        return made[-1]

    def reopen(led: Ledger, **kw) -> Ledger:
        """Close (which joins the writer: its last follower run is done) and open again."""
        cfg = led.config
        assert cfg is not None
        led.close()
        made.append(Ledger.open(cfg.data_dir, cfg.db_url, **kw))
        return made[-1]

    factory.reopen = reopen  # type: ignore[attr-defined]
    yield factory
    for led in made:
        led.close()
    for url in urls:
        cluster.drop_database(url)


def _fill(led: Ledger, n: int, batch: int = 10) -> None:
    start = led.size
    for k in range(0, n, batch):
        led.append_many([("custody.note", {"i": start + k + j})
                         for j in range(min(batch, n - k))])


def _watermark(led: Ledger) -> int:
    with led.engine.connect() as c:
        return log_queries.read_indexed(c)


def _index_rows(led: Ledger) -> list[tuple[int, bytes, int]]:
    with led.engine.connect() as c:
        return [(int(g), bytes(p), int(s)) for g, p, s in c.execute(select(leaf_index))]


def _assert_all_found(led: Ledger) -> None:
    for e in led.entries():
        assert led.find_leaf(e.leaf_hash) == e.seq, e.seq
    assert led.find_leaf(b"\x00" * 32) is None
    assert led.find_leaf(os.urandom(32)) is None


def _assert_index_exact(led: Ledger) -> None:
    """The index holds exactly one right row per entry below the watermark."""
    w = _watermark(led)
    expected = sorted((*leaf_key(e.seq, e.leaf_hash), e.seq) for e in led.entries(0, w))
    assert sorted(_index_rows(led)) == expected


# --- lookups ---------------------------------------------------------------------------------


def test_found_in_index_and_in_tail(make_ledger: Factory) -> None:
    led = make_ledger(leaf_index_every=40)
    _fill(led, 205, batch=7)
    led = make_ledger.reopen(led)
    w = _watermark(led)
    assert 0 < w < led.size and led.size - w < 40 + 7  # an indexed part and a tail
    _assert_index_exact(led)
    _assert_all_found(led)
    # a follower run moves entries from the tail into the index; answers do not change
    assert index_leaves(led.engine) == led.size
    _assert_index_exact(led)
    _assert_all_found(led)


def test_follower_off_everything_in_tail_then_indexed(make_ledger: Factory) -> None:
    led = make_ledger(leaf_index_every=0)
    _fill(led, 60)
    led = make_ledger.reopen(led, leaf_index_every=0)
    assert _watermark(led) == 0 and _index_rows(led) == []
    _assert_all_found(led)
    led = make_ledger.reopen(led, leaf_index_every=50)
    _fill(led, 1)  # the writer sees 61 entries past the watermark and indexes them
    led = make_ledger.reopen(led)
    assert _watermark(led) == 61
    _assert_index_exact(led)
    _assert_all_found(led)


def test_several_generations(make_ledger: Factory, monkeypatch) -> None:
    # generations of 8 entries (2**20 in production): one key probed per generation
    monkeypatch.setattr(log_queries, "LEAF_GEN_BITS", 3)
    led = make_ledger(leaf_index_every=16)
    _fill(led, 100, batch=5)
    led = make_ledger.reopen(led)
    assert _watermark(led) >= 64
    assert len({g for g, _, _ in _index_rows(led)}) >= 8
    _assert_index_exact(led)
    _assert_all_found(led)


def test_damaged_index_misses_never_answers_wrongly(make_ledger: Factory) -> None:
    led = make_ledger(leaf_index_every=0)
    _fill(led, 30)
    index_leaves(led.engine)
    es = list(led.entries())
    a, b, c = es[3], es[17], es[25]
    with led.engine.begin() as conn:
        # a's row now points at b: a candidate whose full leaf hash is not a's
        conn.execute(update(leaf_index).where(leaf_index.c.seq == a.seq)
                     .values(seq=b.seq))
        # a forged row with c's key pointing at entry 0, beside c's own row
        gen, prefix = leaf_key(c.seq, c.leaf_hash)
        conn.execute(insert(leaf_index).values(gen=gen, prefix=prefix, seq=0))
    assert led.find_leaf(a.leaf_hash) is None  # a miss, not entry 17
    assert led.find_leaf(b.leaf_hash) == b.seq
    assert led.find_leaf(c.leaf_hash) == c.seq
    with led.engine.begin() as conn:  # the index emptied and the watermark left as it is
        conn.execute(delete(leaf_index))
    for e in es:
        assert led.find_leaf(e.leaf_hash) is None
    with led.engine.begin() as conn:  # a watermark past the log: the tail scan finds nothing
        conn.execute(update(leaf_index_state).values(indexed=10**9))
    assert all(led.find_leaf(e.leaf_hash) is None for e in es)
    with led.engine.begin() as conn:  # and back to 0: everything is tail again
        conn.execute(update(leaf_index_state).values(indexed=0))
    _assert_all_found(led)
    assert led.audit().ok  # the audit reads entries, nodes, checkpoints: not this hint


def test_two_followers_at_once(make_ledger: Factory) -> None:
    led = make_ledger(leaf_index_every=0)
    _fill(led, 500, batch=100)
    url = led.config.db_url
    engines = [make_engine(url) for _ in range(2)]  # as two processes would
    results: list[int] = []
    errors: list[BaseException] = []

    def run(engine) -> None:
        try:
            results.append(index_leaves(engine))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    [t.start() for t in threads]
    [t.join() for t in threads]
    for e in engines:
        e.dispose()
    assert not errors and results == [500, 500]
    _assert_index_exact(led)


# --- crashes -----------------------------------------------------------------------------------

LOOPER = textwrap.dedent("""
    import sys
    from evidence.ledger.log import Ledger
    led = Ledger.open(sys.argv[1], sys.argv[2], leaf_index_every=int(sys.argv[3]))
    i = 0
    while True:
        for a in led.append_many([("custody.note", {"i": i, "j": j}) for j in range(5)]):
            sys.stdout.write(f"{a.seq} {a.leaf_hash.hex()}\\n")
        sys.stdout.flush()
        i += 1
""")


@pytest.mark.slow  # a child process killed mid-write: the full run only
@pytest.mark.parametrize("every", [0, 1, 12])
def test_sigkill_while_appending_and_indexing(make_ledger: Factory, every: int) -> None:
    """every=0: killed with no follower run (all tail); 1: the follower runs after every
    batch, so kills land inside its transactions too; 12: every few batches."""
    led = make_ledger()
    cfg = led.config
    led.close()
    acked: list[tuple[int, str]] = []
    for acks in (40, 75, 130):
        acked += kill_after_acks(LOOPER, [str(cfg.data_dir), cfg.db_url, str(every)], acks)
        with Ledger.open(cfg.data_dir, cfg.db_url, leaf_index_every=0) as led:
            report = led.audit()
            assert report.ok, report
            w = _watermark(led)
            assert w <= led.size and (every != 0 or w == 0)
            _assert_index_exact(led)
            for seq, h in acked:
                assert led.find_leaf(bytes.fromhex(h)) == seq
            _assert_all_found(led)


# --- migration -----------------------------------------------------------------------------------


def _downgrade_to_0004(led: Ledger) -> None:
    from alembic import command

    with write_transaction(led.engine) as conn:
        migrations.lock_for_migration(conn)
        command.downgrade(migrations.alembic_config(conn), "0004_access")
        assert migrations.current_revision(conn) == "0004_access"


def test_migration_from_0004(make_ledger: Factory) -> None:
    led = make_ledger(leaf_index_every=0)
    _fill(led, 257, batch=50)
    expected = [(e.seq, e.leaf_hash) for e in led.entries()]
    _downgrade_to_0004(led)
    led = make_ledger.reopen(led)  # upgrades to 0005: drops the old index, indexes all
    with led.engine.connect() as c:
        assert migrations.current_revision(c) == migrations.head_revision()
        from sqlalchemy import inspect

        names = {ix["name"] for ix in inspect(c).get_indexes("entries")}
        assert "ix_entries_leaf_hash" not in names
        assert c.execute(select(func.count()).select_from(leaf_index)).scalar() == 257
    assert _watermark(led) == 257
    _assert_index_exact(led)
    for seq, h in expected:
        assert led.find_leaf(h) == seq
    assert led.audit().ok
    _fill(led, 3)
    assert led.find_leaf(led.entry(259).leaf_hash) == 259


def test_migration_of_an_empty_0004_ledger(make_ledger: Factory) -> None:
    led = make_ledger()
    _downgrade_to_0004(led)
    led = make_ledger.reopen(led, leaf_index_every=1)
    assert _watermark(led) == 0
    _fill(led, 3)
    led = make_ledger.reopen(led)
    assert _watermark(led) == 3
    _assert_all_found(led)


MIGRATE = textwrap.dedent("""
    import sys
    from evidence.ledger.log import Ledger
    Ledger.open(sys.argv[1], sys.argv[2]).close()
    print("migrated", flush=True)
""")


@pytest.mark.slow
def test_sigkill_during_migration_sqlite(tmp_path) -> None:
    """Whenever the kill lands (before, during or after the one migration transaction),
    the ledger opens, audits clean and finds every entry."""
    base = tmp_path / "base"
    led = Ledger.create(base / "data", ORIGIN, checkpoint_interval=0, leaf_index_every=0)
    _fill(led, 20_000, batch=1000)
    _downgrade_to_0004(led)
    led.close()
    for delay in (0.2, 0.5, 0.8, 1.2):
        work = tmp_path / f"w{delay}"
        shutil.copytree(base, work)
        child = subprocess.Popen([sys.executable, "-c", MIGRATE, str(work / "data"), ""],
                                 env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            child.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.kill(child.pid, signal.SIGKILL)
        child.communicate(timeout=60)
        with Ledger.open(work / "data") as led:
            assert led.audit().ok
            assert _watermark(led) == led.size == 20_000
            _assert_index_exact(led)
            for e in list(led.entries())[::997]:
                assert led.find_leaf(e.leaf_hash) == e.seq
        shutil.rmtree(work)
