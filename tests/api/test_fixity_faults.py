"""Honest failure under faults (issue 15): a real ``evidence serve`` on a database with a
damaged page, and on a blob store that is a real, full tmpfs.

A damaged page is 503 ``ledger-damaged`` (never a 500) and turns /health ``degraded``; a
full blob store is 507 with Retry-After (never a 4xx: the client did nothing wrong and
should retry), and nothing is acknowledged that was not stored.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api_server import log_size, make_world, problem, start_server, submit


def test_a_damaged_database_page_is_503_ledger_damaged(tmp_path: Path) -> None:
    world = make_world(tmp_path / "data")
    srv = start_server(world, "--no-anchor")
    try:
        r = submit(srv)
        assert r.status_code == 201, r.text
        ev = r.json()["evidence_id"]
    finally:
        srv.stop()
    db = world.data / "ledger.db"
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = con.execute("PRAGMA page_size").fetchone()[0]
    root = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'evidence_items'"
                       ).fetchone()[0]
    con.close()
    with open(db, "r+b") as f:  # the items table's page: garbage
        f.seek((root - 1) * page)
        f.write(os.urandom(page))
    srv = start_server(world, "--no-anchor")  # log_state is intact: it starts
    try:
        with srv.client("judge") as c:
            doc = problem(c.get(f"/v1/evidence/{ev}"), 503, "ledger-damaged")
            assert "damaged" in doc["detail"]
        h = httpx.get(srv.base + "/health", timeout=10)
        assert h.status_code == 503 and h.json()["status"] == "degraded"
        assert h.json()["ledger"]["damaged"] is True
    finally:
        srv.stop()
    log = srv.log.read_text()
    assert "LEDGER DAMAGED" in log and "Traceback" not in log


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "small"
    d.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(d)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], check=False)


def test_a_full_blob_store_is_507_with_retry_after(tmp_path: Path, small_tmpfs: Path) -> None:
    world = make_world(tmp_path / "data")
    store = small_tmpfs / "blobs"
    srv = start_server(world, "--no-anchor", "--blob-store", str(store))
    try:
        assert submit(srv).status_code == 201
        filler = small_tmpfs / "filler"
        with open(filler, "wb", buffering=0) as f:  # fill it, leaving less than an upload
            try:
                while True:
                    f.write(b"\0" * 65536)
            except OSError:
                pass
        os.truncate(filler, filler.stat().st_size - 200_000)
        size = log_size(srv)
        for content in (os.urandom(600_000), os.urandom(3_000_000)):  # in memory, spooled
            r = submit(srv, files=[("big.bin", content)])
            problem(r, 507, "insufficient-storage")
            assert r.headers["retry-after"] == "60"
        assert log_size(srv) == size  # nothing acknowledged, nothing appended
        filler.unlink()
        r = submit(srv, files=[("big.bin", os.urandom(600_000))])
        assert r.status_code == 201, r.text  # room again: it works
    finally:
        srv.stop()
    assert "Traceback" not in srv.log.read_text()


def test_a_full_database_is_503_with_retry_after(tmp_path: Path, small_tmpfs: Path) -> None:
    world = make_world(small_tmpfs / "data")  # the database on the small tmpfs
    store = tmp_path / "blobs"  # the files elsewhere
    srv = start_server(world, "--no-anchor", "--blob-store", str(store))
    try:
        assert submit(srv).status_code == 201
        filler = small_tmpfs / "filler"
        with open(filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass
        size = log_size(srv)
        codes = set()
        for _ in range(5):
            r = submit(srv, files=[("x.bin", os.urandom(300_000))])
            codes.add(r.status_code)
            if r.status_code != 201:
                doc = problem(r, 503)
                assert doc["code"] == "database-full", doc
                assert "retry-after" in r.headers
        assert codes != {201}, "the database never filled up"
        filler.unlink()
        r = submit(srv)
        assert r.status_code == 201, r.text  # room again: the service recovers
        assert log_size(srv) > size
    finally:
        srv.stop()
