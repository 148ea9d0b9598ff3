"""The sequencer's statements on the driver (:class:`evidence.ledger.db.sql.Driver`) behave as
through SQLAlchemy's ``exec_driver_sql``: same rows, same transaction, the same SQLAlchemy
exception types for the same failures, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError, OperationalError

from evidence.ledger.db.engine import make_engine
from evidence.ledger.db.log_queries import STATE_SQL, read_state
from evidence.ledger.db.schema import entries
from evidence.ledger.db.sql import Driver

T = "2026-03-04T05:06:07.123456Z"


def _failure(fn, *args):  # type: ignore[no-untyped-def]
    try:
        fn(*args)
    except DBAPIError as e:
        return type(e), type(e.orig)
    raise AssertionError("no error")


BAD = [
    ("INSERT INTO entries (seq, leaf_hash, type, time, data) VALUES ({m},{m},{m},{m},{m})",
     (0, bytes(32), "custody.note", T, b"{}")),  # duplicate key
    ("SELECT no_such_column FROM log_state", ()),
    ("SELEC 1", ()),
    ("INSERT INTO entries (seq) VALUES ({m})", (99,)),  # NOT NULL
]


def test_driver_errors_are_those_of_exec_driver_sql(make_ledger) -> None:
    led = make_ledger()
    led.append("custody.note", {"i": 0})
    for sql, params in BAD:
        got = []
        for via in ("driver", "sqlalchemy"):
            with led.engine.connect() as conn, conn.begin():
                stmt = sql.format(m=Driver(conn).mark)
                run = Driver(conn).run if via == "driver" else conn.exec_driver_sql
                got.append(_failure(run, stmt, params))
        assert got[0] == got[1], sql
    with led.engine.connect() as conn, conn.begin():
        many = BAD[0][0].format(m=Driver(conn).mark)
        kind = _failure(Driver(conn).many, many, [BAD[0][1]])
    with led.engine.connect() as conn, conn.begin():
        assert kind == _failure(conn.exec_driver_sql, many, [BAD[0][1]])


def test_driver_statements_share_the_transaction(make_ledger) -> None:
    """Rows written on the driver are seen by SQLAlchemy in the same transaction and
    vanish with its rollback; the state row reads the same both ways."""
    led = make_ledger()
    led.append_many([("custody.note", {"i": i}) for i in range(3)])
    with led.engine.connect() as conn:
        with conn.begin() as tx:
            drv = Driver(conn)
            state = read_state(conn)
            assert state is not None
            row = drv.first(STATE_SQL)
            assert (row[0], row[1], int(row[2]), bytes(row[3]), row[4]) == (
                state.origin, state.log_vkey, state.size, state.last_leaf_hash,
                state.last_time)
            drv.many(f"INSERT INTO entries (seq, leaf_hash, type, time, data) VALUES "
                     f"({','.join([drv.mark] * 5)})",
                     [(10, bytes(32), "custody.note", T, b"{}")])
            assert conn.execute(text("SELECT count(*) FROM entries")).scalar() == 4
            assert drv.run("UPDATE entries SET type = 'x.y' WHERE seq >= 10") == 1
            tx.rollback()
        with conn.begin():
            assert conn.execute(text("SELECT count(*) FROM entries")).scalar() == 3
            conn.execute(insert(entries).values(seq=3, leaf_hash=bytes(32),
                                                type="custody.note", time=T, data=b"{}"))
            assert Driver(conn).first("SELECT count(*) FROM entries")[0] == 4


def test_a_locked_sqlite_begin_is_sqlalchemys_operational_error(tmp_path) -> None:
    """BEGIN IMMEDIATE (emitted on the driver by the begin event) against a writer that
    holds the lock fails as it did through exec_driver_sql: OperationalError."""
    from evidence.ledger.log import Ledger

    with Ledger.create(tmp_path / "data", "locked.example/log") as led:
        url = str(led.engine.url)
    holder, other = make_engine(url), make_engine(url)
    try:
        with (holder.connect().execution_options(ledger_write=True) as h, h.begin(),
              other.connect().execution_options(ledger_write=True) as c):
            c.connection.driver_connection.execute("PRAGMA busy_timeout = 0")
            with pytest.raises(OperationalError, match="locked"):
                c.begin()
    finally:
        holder.dispose()
        other.dispose()
