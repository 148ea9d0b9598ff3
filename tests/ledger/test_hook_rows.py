"""Rows that append hooks bring ((Table, dict) ops) go in by the driver's executemany,
with exactly the rows, order and refusals Core's insert() gives."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import (
    Column,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    select,
)
from sqlalchemy.exc import IntegrityError

from evidence.ledger.db.sql import execute_ops, plain_table
from evidence.ledger.errors import LedgerError

md = MetaData()
plain = Table("hook_plain", md, Column("id", Integer, primary_key=True, autoincrement=False),
              Column("a", String(16)), Column("b", LargeBinary))
defaulted = Table("hook_defaulted", md,
                  Column("id", Integer, primary_key=True, autoincrement=False),
                  Column("a", String(16), default="from-default"))


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def engine(request, tmp_path) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    if request.param == "pg":
        url = request.getfixturevalue("pg_fresh_url")
    else:
        url = f"sqlite:///{tmp_path / 'h.db'}"
    eng = create_engine(url)
    md.create_all(eng)
    yield eng
    eng.dispose()


def _rows(engine: Engine, table: Table) -> list[tuple]:
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(select(table).order_by(table.c.id))]


def test_rows_with_different_columns_keep_their_values(engine: Engine) -> None:
    assert plain_table(plain) and not plain_table(defaulted)
    ops = [(plain, {"id": 1, "a": "x"}), (plain, {"id": 2, "a": "y"}),
           (plain, {"id": 3, "b": b"z"}), (plain, {"b": b"w", "id": 4, "a": "v"}),
           (defaulted, {"id": 1}), (defaulted, {"id": 2, "a": "given"})]
    with engine.begin() as c:
        execute_ops(c, ops)
    assert _rows(engine, plain) == [(1, "x", None), (2, "y", None), (3, None, b"z"),
                                    (4, "v", b"w")]
    # a Python-side default is still applied (that table goes through Core)
    assert _rows(engine, defaulted) == [(1, "from-default"), (2, "given")]


def test_unknown_column_and_duplicate_key_are_refused_and_leave_nothing(
        engine: Engine) -> None:
    with pytest.raises(LedgerError, match="no column"), engine.begin() as c:
        execute_ops(c, [(plain, {"id": 1}), (plain, {"id": 2, "a) VALUES (1); --": 1})])
    with pytest.raises(IntegrityError), engine.begin() as c:
        execute_ops(c, [(plain, {"id": 5}), (plain, {"id": 5})])
    assert _rows(engine, plain) == []
