"""The key entries are read through the partial index ``ix_entries_key_seq`` (migration
0010): the log's keys and their windows are asked for on every tile-sync round and
trust-file request, and a scan of ``entries`` costs seconds on a log of millions.

The plans are those of the very statement :func:`key_entry_rows` sends, on SQLite and on
PostgreSQL; the rows are the key entries and nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from evidence.ledger.db.engine import read_transaction
from evidence.ledger.db.log_queries import key_entry_rows
from evidence.ledger.db.schema import KEY_ENTRY_TYPES
from evidence.ledger.log import Ledger
from evidence.verify.note import generate_signer

ORIGIN = "keyindex.example/log"


def _rotated_ledger(d: Path, db_url: str | None) -> Ledger:
    led = Ledger.create(d, ORIGIN, db_url=db_url, checkpoint_interval=0)
    for i in range(40):
        led.append("custody.note", {"n": i})
    led.rotate_key(generate_signer(ORIGIN), overlap=0)
    for i in range(10):
        led.append("custody.note", {"n": 40 + i})
    return led


def _sent_and_rows(led: Ledger) -> tuple[tuple[str, Any], list[tuple[int, str, bytes]]]:
    sent: list[tuple[str, Any]] = []

    def seen(conn, cursor, statement, parameters, context, many) -> None:  # type: ignore[no-untyped-def]
        if "FROM entries" in statement:
            sent.append((statement, parameters))

    event.listen(led.engine, "before_cursor_execute", seen)
    try:
        with read_transaction(led.engine) as conn:
            rows = key_entry_rows(conn, KEY_ENTRY_TYPES)
    finally:
        event.remove(led.engine, "before_cursor_execute", seen)
    (one,) = sent
    return one, rows


def _check_rows(led: Ledger, rows: list[tuple[int, str, bytes]]) -> None:
    assert [t for _, t, _ in rows] == ["key.rotated"]
    assert led.entry(rows[0][0]).type == "key.rotated"
    windows = led.key_windows()  # read through the index, the same windows as before
    assert len(windows) == 2 and windows[0].until_size == windows[1].from_size


def test_sqlite_reads_key_entries_through_the_partial_index(tmp_path: Path) -> None:
    led = _rotated_ledger(tmp_path / "data", None)
    try:
        (sql, params), rows = _sent_and_rows(led)
        _check_rows(led, rows)
        with led.engine.connect() as conn:
            plan = "\n".join(str(r[-1]) for r in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + sql, params))
        assert "ix_entries_key_seq" in plan and "SCAN entries\n" not in plan + "\n", plan
    finally:
        led.close()


@pytest.mark.pg
def test_postgresql_can_read_key_entries_through_the_partial_index(
        pg_fresh_url: str, tmp_path: Path) -> None:
    """PostgreSQL's planner prefers a scan of so small a table: with sequential scans
    priced out, the index it takes shows the statement matches the index's predicate."""
    led = _rotated_ledger(tmp_path / "data", pg_fresh_url)
    try:
        (sql, params), rows = _sent_and_rows(led)
        _check_rows(led, rows)
        with led.engine.connect() as conn:
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = "\n".join(str(r[0]) for r in conn.exec_driver_sql("EXPLAIN " + sql, params))
        assert "ix_entries_key_seq" in plan, plan
    finally:
        led.close()


def test_the_types_asked_for_are_the_indexed_ones() -> None:
    """A type outside the index's predicate would silently read nothing: refused."""
    led_types = ("key.rotated", "evidence.submitted")
    with pytest.raises(ValueError, match=r"evidence\.submitted"):
        key_entry_rows(None, led_types)  # type: ignore[arg-type]
