#!/usr/bin/env python
"""Ledger benchmark (run by hand, not in CI): durable appends, proofs, audit.

    .venv/bin/python scripts/bench_ledger.py [--entries N] [--skip-sqlite]
    LEDGER_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python scripts/bench_ledger.py --skip-sqlite

SQLite always (unless --skip-sqlite); PostgreSQL too when LEDGER_TEST_PG_URL is set
(a database is created and dropped there). The machine's own server on 5432 runs
with fsync on: durable figures; ../shared/recipes/pg_throwaway.sh runs one with
fsync=off, whose append figures are NOT durable-on-disk figures. Each figure is
printed beside this machine's measured limit and the target of issue 3 / the HTTP
API; append lines also give the CPU time of this process per entry (the machine is
shared: wall-clock figures move with the load average printed beside them).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, insert, text

from evidence.ledger.db.schema import entries
from evidence.ledger.log import Ledger

LIMITS = {"sqlite": 130_000, "postgresql": 65_000}  # rows/s via SQLAlchemy Core (recipes)
TARGET_APPEND = {"sqlite": 30_000, "postgresql": 15_000}


def body(i: int) -> dict:
    return {"i": i, "sha256": f"{i:064x}", "name": f"file-{i}.png", "size": 1000 + i}


def row(line: str, value: float, unit: str, limit: str = "", target: str = "") -> None:
    print(f"  {line:<44} {value:>12,.{0 if value >= 100 else 3}f} {unit:<10} "
          f"limit {limit:<18} target {target}")


def load() -> str:
    return "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def bench_appends(led: Ledger, backend: str) -> None:
    for bs, n in ((1, 300), (100, 10_000), (1000, 30_000)):
        start = led.size
        t, cpu = time.perf_counter(), time.process_time()
        for k in range(0, n, bs):
            led.append_many([("evidence.submitted", body(start + k + j)) for j in range(bs)])
        rate = n / (time.perf_counter() - t)
        per = 1e6 * (time.process_time() - cpu) / n
        row(f"append_many batch {bs} ({per:.0f} us CPU/entry)", rate, "entries/s",
            f"{LIMITS[backend]:,} rows/s", f">= {TARGET_APPEND[backend]:,}/s batched  "
            f"({load()})")
    lat: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for i in range(250):
            t0 = time.perf_counter()
            led.append("evidence.submitted", body(i))
            with lock:
                lat.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    rate = len(lat) / (time.perf_counter() - t)
    lat.sort()
    row("append, 16 threads (group commit)", rate, "entries/s", "", ">= 500/s (API)")
    row("  latency p50 (ms)", 1000 * lat[len(lat) // 2], "ms")
    row("  latency p99 (ms)", 1000 * lat[int(len(lat) * 0.99)], "ms", "", "<= 100 ms (API)")


def bench_raw(url: str, backend: str) -> None:
    """The same rows through plain Core executemany: the database's own ceiling."""
    from sqlalchemy import MetaData, Table

    raw = Table("bench_raw", MetaData(), *[c._copy() for c in entries.columns])
    eng = create_engine(url)
    raw.metadata.create_all(eng)
    rows = [{"seq": i, "leaf_hash": os.urandom(32), "type": "evidence.submitted",
             "time": "2026-01-01T00:00:00.000000Z", "data": os.urandom(200)}
            for i in range(20_000)]
    t = time.perf_counter()
    for k in range(0, len(rows), 1000):
        with eng.begin() as c:
            c.execute(insert(raw), rows[k:k + 1000])
    row("raw Core executemany, 1000-row tx", len(rows) / (time.perf_counter() - t), "rows/s",
        f"{LIMITS[backend]:,} rows/s")
    cols = ",".join(c.name for c in raw.c)
    marks = ",".join(["?" if eng.dialect.paramstyle == "qmark" else "%s"] * len(raw.c))
    tuples = [tuple(r.values()) for r in rows]
    with eng.begin() as c:
        c.execute(raw.delete())
    t = time.perf_counter()
    for k in range(0, len(rows), 1000):
        with eng.begin() as c:
            c.exec_driver_sql(f"INSERT INTO bench_raw ({cols}) VALUES ({marks})",
                              tuples[k:k + 1000])
    row("raw driver executemany, 1000-row tx", len(rows) / (time.perf_counter() - t),
        "rows/s", "(the sequencer's insert)")
    raw.metadata.drop_all(eng)
    eng.dispose()


def fill(led: Ledger, n: int, backend: str) -> None:
    """Append batches of 1,000 up to ``n`` entries; the rate over the last tenth shows
    what appends cost in a ledger that large (the random leaf_hash index grows)."""
    have = led.size
    t = time.perf_counter()
    tail_from = max(have, n - max(n // 10, 1000))
    t_tail = cpu_tail = None
    while have < n:
        if t_tail is None and have >= tail_from:
            t_tail, cpu_tail, tail_from = time.perf_counter(), time.process_time(), have
        k = min(1000, n - have)
        led.append_many([("evidence.submitted", body(have + j)) for j in range(k)])
        have += k
    print(f"  (filled to {n:,} entries in {time.perf_counter() - t:.0f}s)")
    if t_tail is not None and cpu_tail is not None and have > tail_from:
        done = have - tail_from
        per = 1e6 * (time.process_time() - cpu_tail) / done
        row(f"append_many batch 1000 at {tail_from:,}+ ({per:.0f} us CPU/entry)",
            done / (time.perf_counter() - t_tail), "entries/s", f"{LIMITS[backend]:,} rows/s",
            f">= {TARGET_APPEND[backend]:,}/s batched  ({load()})")


def bench_reads(led: Ledger, size: int) -> None:
    """Proof latency, wall clock and this thread's CPU time per proof: on a shared
    machine the wall p99 is mostly time spent waiting for a core, the CPU p99 is not
    (on PostgreSQL the server's share of the work is not in the CPU figure)."""
    import random

    rnd = random.Random(1)
    for name, proof, count in (
            ("inclusion", lambda: led.inclusion_proof(rnd.randrange(size), size), 2000),
            ("consistency", lambda: led.consistency_proof(rnd.randrange(1, size), size), 1000)):
        lat, cpu = [], []
        t = time.perf_counter()
        for _ in range(count):
            t0, c0 = time.perf_counter(), time.thread_time()
            proof()
            lat.append(time.perf_counter() - t0)
            cpu.append(time.thread_time() - c0)
        rate = count / (time.perf_counter() - t)
        lat.sort()
        cpu.sort()
        row(f"{name} proofs at {size:,} (1 thread)", rate, "proofs/s", "",
            f">= 3,000/s (API)  ({load()})" if name == "inclusion" else f"({load()})")
        target = "<= 2 ms at 1 M" if name == "inclusion" else ""
        row("  wall p50 / p99 (ms)", 1000 * statistics.median(lat), "ms p50")
        row("", 1000 * lat[int(count * 0.99)], "ms p99", "", target)
        row("  CPU p50 / p99 (ms)", 1000 * statistics.median(cpu), "ms p50")
        row("", 1000 * cpu[int(count * 0.99)], "ms p99", "", target)
    bench_audit(led, "from the writing process: workers spawned")


def bench_audit(led: Ledger, how: str) -> None:
    # The fill's writes are still being written back by the kernel; measured with them,
    # the audit pays for the append benchmark (~20% here), so flush them first (untimed).
    os.sync()
    t = time.perf_counter()
    rep = led.audit()
    dt = time.perf_counter() - t
    assert rep.ok, rep
    row(f"audit of {rep.size:,} entries ({how})", rep.size / dt, "entries/s",
        "hashing alone (2 SHA-256 each): ~2.5 M/s, 2 cores", f">= 250,000/s  ({load()})")


def run(backend: str, url: str | None, size: int) -> None:
    print(f"\n== {backend} ==")
    with tempfile.TemporaryDirectory() as d:
        led = Ledger.create(Path(d) / "data", "bench.example/log", db_url=url,
                            checkpoint_interval=1.0)
        try:
            bench_appends(led, backend)
            fill(led, size, backend)
            bench_reads(led, size)
            bench_raw(led.config.db_url, backend)
        finally:
            led.close()
        # as `evidence audit` runs it: a read-only open in a process with no other thread
        # (the writer's sequencer and checkpoint threads are gone), so workers are forked
        with Ledger.open(Path(d) / "data", db_url=url, read_only=True) as auditor:
            bench_audit(auditor, "as `evidence audit`: read-only, workers forked")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=1_000_000,
                    help="ledger size for proof and audit figures (issue 3: 1,000,000)")
    ap.add_argument("--skip-sqlite", action="store_true", help="PostgreSQL only")
    args = ap.parse_args()
    if not args.skip_sqlite:
        run("sqlite", None, args.entries)
    pg = os.environ.get("LEDGER_TEST_PG_URL")
    if pg:
        from sqlalchemy import create_engine as ce

        name = f"bench_{uuid.uuid4().hex[:8]}"
        admin = ce(pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            run("postgresql", pg.rsplit("/", 1)[0] + "/" + name, args.entries)
        finally:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
