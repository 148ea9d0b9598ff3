#!/usr/bin/env python
"""Appends to a large ledger, SQLite or PostgreSQL (run by hand, not in CI; take the
shared lock):

    flock /tmp/bench.lock .venv/bin/python scripts/bench_append_large.py \\
        --base /tmp/bench-900k --entries 900000 --append 100000 --runs 3 \\
        --variant as-is --variant old-index [--audit] [--lookups] [--young 3] \\
        [--pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Builds (once; reused while ``--base`` holds it) a ledger of ``--entries`` entries by
batches of 1,000, printing the rate of a young ledger (entries 10,000-60,000) and of the
last tenth. Then, ``--runs`` times and for each ``--variant`` in turn, copies the base
(a file copy; on PostgreSQL ``CREATE DATABASE ... TEMPLATE``), changes the copy as the
variant says, opens it (timed: an older base is migrated here) and times ``--append``
entries appended by batches of ``--batch``: the rate of a ledger that large.
``--audit`` times ``evidence audit`` on each copy after its appends; ``--lookups`` times
``Ledger.find_leaf`` there (entries in the leaf index, in the un-indexed tail, unknown
hashes; and the plain ``leaf_hash = ?`` query where the 0004 index exists). ``--young K``
first times K fresh ledgers (entries 10,000-60,000).

Variants:

``as-is``            the copy as this code opens it;
``drop-old-index``   ``ix_entries_leaf_hash`` (0004's index on ``entries.leaf_hash``)
                     dropped first: what appends cost without it (run on a 0004 base
                     with the code of that time);
``old-index``        ``ix_entries_leaf_hash`` created first if missing: this code with the
                     0004 index maintained as well; with ``--leaf-index-every 0`` (no
                     follower) that is what appends cost before 0005, on today's code.

Runs against the code before 0005 too, for before/after figures on the same machine:
``PYTHONPATH=<git archive of it> .venv/bin/python scripts/bench_append_large.py ...``
(no follower, lookups by the 0004 index alone).

Entries are ``bench_ledger.py``'s (~295 bytes). Each timed run starts after ``sync``
(the copy's write-back is not billed to it); figures come with the load average (the
machine is shared) and this process's CPU time per entry.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from evidence.ledger.log import Ledger

try:
    from evidence.ledger.sequencer import LEAF_INDEX_EVERY
except ImportError:  # the code before 0005 (PYTHONPATH=<an export of it>): before figures
    LEAF_INDEX_EVERY = None

VARIANT_SQL = {
    "as-is": [],
    "drop-old-index": ["DROP INDEX IF EXISTS ix_entries_leaf_hash"],
    "old-index": ["CREATE INDEX IF NOT EXISTS ix_entries_leaf_hash ON entries (leaf_hash)"],
}


def body(i: int) -> dict:
    return {"i": i, "sha256": f"{i:064x}", "name": f"file-{i}.png", "size": 1000 + i}


def load() -> str:
    return "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def append(led: Ledger, count: int, batch: int) -> tuple[float, float]:
    """Append ``count`` entries by ``batch``; (entries/s, CPU us per entry)."""
    start = led.size
    t, cpu = time.perf_counter(), time.process_time()
    for k in range(0, count, batch):
        n = min(batch, count - k)
        led.append_many([("evidence.submitted", body(start + k + j)) for j in range(n)])
    return count / (time.perf_counter() - t), 1e6 * (time.process_time() - cpu) / count


class Backend:
    """Where the base and its copies live: files (SQLite) or databases (PostgreSQL)."""

    def __init__(self, base: Path, pg_admin: str | None) -> None:
        self.pg_admin = pg_admin
        self.tag = "bench_" + "".join(c if c.isalnum() else "_" for c in base.name.lower())

    def url(self, which: str) -> str | None:
        """The database URL of the base or the copy (None: SQLite in the data dir)."""
        if self.pg_admin is None:
            return None
        return make_url(self.pg_admin).set(database=f"{self.tag}_{which}").render_as_string(
            hide_password=False)

    def admin(self, *sql: str) -> None:
        assert self.pg_admin is not None
        eng = create_engine(self.pg_admin, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            for s in sql:
                c.execute(text(s))
        eng.dispose()

    def create_base(self) -> None:
        if self.pg_admin:
            self.admin(f'DROP DATABASE IF EXISTS "{self.tag}_base" WITH (FORCE)',
                       f'CREATE DATABASE "{self.tag}_base"')

    def copy(self, data: Path, work: Path, variant: str) -> None:
        if work.exists():
            shutil.rmtree(work)
        shutil.copytree(data, work)
        if self.pg_admin:
            self.admin(f'DROP DATABASE IF EXISTS "{self.tag}_copy" WITH (FORCE)',
                       f'CREATE DATABASE "{self.tag}_copy" TEMPLATE "{self.tag}_base"')
        url = self.url("copy") or f"sqlite:///{work / 'ledger.db'}"
        if VARIANT_SQL[variant]:
            eng = create_engine(url)
            with eng.begin() as c:
                for s in VARIANT_SQL[variant]:
                    c.execute(text(s))
            eng.dispose()

    def drop_copy(self, work: Path) -> None:
        shutil.rmtree(work)
        if self.pg_admin:
            self.admin(f'DROP DATABASE IF EXISTS "{self.tag}_copy" WITH (FORCE)')


def young(backend: Backend, runs: int) -> None:
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as d:
            if backend.pg_admin:
                backend.admin(f'DROP DATABASE IF EXISTS "{backend.tag}_young" WITH (FORCE)',
                              f'CREATE DATABASE "{backend.tag}_young"')
            url = backend.url("young")
            led = Ledger.create(Path(d) / "data", "bench.example/log", db_url=url,
                                checkpoint_interval=1.0)
            try:
                append(led, 10_000, 1000)
                os.sync()
                rate, cpu = append(led, 50_000, 1000)
            finally:
                led.close()
            if backend.pg_admin:
                backend.admin(f'DROP DATABASE IF EXISTS "{backend.tag}_young" WITH (FORCE)')
        print(f"  young ledger, entries 10,000-60,000: {rate:,.0f} entries/s "
              f"({cpu:.0f} us CPU/entry, {load()})", flush=True)


def build(backend: Backend, base: Path, n: int) -> Path:
    data = base / "data"
    url = backend.url("base")
    if (data / "config.json").exists():
        with Ledger.open(data, url, read_only=True) as led:
            if led.size == n:
                print(f"base {data}: {n:,} entries (reused)")
                return data
        raise SystemExit(f"{data} holds another size than {n:,}: remove it or change --base")
    base.mkdir(parents=True, exist_ok=True)
    backend.create_base()
    led = Ledger.create(data, "bench.example/log", db_url=url, checkpoint_interval=1.0)
    try:
        t0 = time.perf_counter()
        if n >= 60_000:
            append(led, 10_000, 1000)
            rate, cpu = append(led, 50_000, 1000)
            print(f"  young ledger, entries 10,000-60,000: {rate:,.0f} entries/s "
                  f"({cpu:.0f} us CPU/entry, {load()})")
        tail = max(n // 10, 1000)
        append(led, n - tail - led.size, 1000)
        rate, cpu = append(led, tail, 1000)
        print(f"  last tenth, entries {n - tail:,}-{n:,}: {rate:,.0f} entries/s "
              f"({cpu:.0f} us CPU/entry, {load()})")
        print(f"base {data}: built {n:,} entries in {time.perf_counter() - t0:.0f} s")
    finally:
        led.close()
    return data


def lookups(data: Path, url: str | None, n: int = 300) -> None:
    """Lookup latency by leaf hash on a closed ledger (reopened read-only)."""
    rnd = random.Random(7)
    with Ledger.open(data, url, read_only=True) as led, led.engine.connect() as c:
        new = LEAF_INDEX_EVERY is not None
        w = (c.exec_driver_sql("SELECT indexed FROM leaf_index_state").scalar() or 0
             if new else 0)
        size = led.size
        pg = c.dialect.name == "postgresql"
        has_old = c.exec_driver_sql(
            "SELECT 1 FROM pg_indexes WHERE indexname = 'ix_entries_leaf_hash'" if pg else
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND "
            "name = 'ix_entries_leaf_hash'").scalar() is not None
        sample = {
            "indexed": [led.entry(rnd.randrange(w)).leaf_hash for _ in range(n)] if w else [],
            "tail": [led.entry(rnd.randrange(w, size)).leaf_hash
                     for _ in range(n)] if size > w else [],
            "unknown": [os.urandom(32) for _ in range(n)],
        }
        old_sql = f"SELECT seq FROM entries WHERE leaf_hash = {'%s' if pg else '?'}"
        for name, hashes in sample.items():
            if not hashes:
                continue
            line = f"  {'':<15} find_leaf {name:<8} (tail {size - w:,}): "
            if new:
                lat = []
                for h in hashes:
                    t = time.perf_counter()
                    led.find_leaf(h)
                    lat.append(time.perf_counter() - t)
                lat.sort()
                p50, p99 = 1000 * lat[len(lat) // 2], 1000 * lat[int(len(lat) * .99)]
                line += f"p50 {p50:.2f} ms, p99 {p99:.2f} ms; "
            if has_old:
                old = []
                for h in hashes:
                    t = time.perf_counter()
                    c.exec_driver_sql(old_sql, (h,)).all()
                    old.append(time.perf_counter() - t)
                old.sort()
                line += (f"0004 index query p50 "
                         f"{1000 * old[len(old) // 2]:.2f} ms")
            print(line, flush=True)


def run_once(backend: Backend, data: Path, work: Path, variant: str,
             args: argparse.Namespace) -> None:
    backend.copy(data, work, variant)
    url = backend.url("copy")
    os.sync()
    t = time.perf_counter()
    kw = {} if LEAF_INDEX_EVERY is None else {"leaf_index_every": args.leaf_index_every}
    led = Ledger.open(work, url, **kw)
    opened = time.perf_counter() - t
    try:
        size = led.size
        rate, cpu = append(led, args.append, args.batch)
    finally:
        led.close()
    every = ("before 0005" if LEAF_INDEX_EVERY is None else "every default"
             if args.leaf_index_every is None else f"every {args.leaf_index_every:,}")
    print(f"  {variant:<15} open {opened:5.2f} s; {every}; "
          f"append {args.append:,} at {size:,}+ by {args.batch}: {rate:9,.0f} entries/s "
          f"({cpu:.0f} us CPU/entry, {load()})", flush=True)
    if args.lookups:
        lookups(work, url)
    if args.audit:
        os.sync()
        cmd = [str(Path(sys.executable).with_name("evidence")), "audit", "--data-dir", str(work)]
        t = time.perf_counter()
        subprocess.run(cmd + (["--db", url] if url else []), check=True,
                       stdout=subprocess.DEVNULL)
        dt = time.perf_counter() - t
        total = size + args.append
        print(f"  {'':<15} evidence audit of {total:,}: {dt:.2f} s "
              f"({total / dt:,.0f} entries/s, {load()})", flush=True)
    backend.drop_copy(work)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, required=True, help="directory of the built ledger")
    ap.add_argument("--entries", type=int, default=900_000, help="size of the base ledger")
    ap.add_argument("--append", type=int, default=100_000, help="entries per timed run")
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--variant", action="append", choices=sorted(VARIANT_SQL),
                    help="repeatable; default as-is")
    ap.add_argument("--audit", action="store_true", help="time `evidence audit` after each run")
    ap.add_argument("--lookups", action="store_true", help="time lookups by leaf hash too")
    ap.add_argument("--young", type=int, default=0, metavar="K",
                    help="first time K fresh ledgers (entries 10,000-60,000)")
    ap.add_argument("--leaf-index-every", type=int, default=None,
                    help="the follower's threshold in the timed runs (default: the "
                         "database's, sequencer.LEAF_INDEX_EVERY)")
    ap.add_argument("--pg", metavar="ADMIN_URL",
                    help="PostgreSQL server (a database there to connect to): databases "
                         "bench_<base name>_{base,copy,young} are made on it")
    args = ap.parse_args()
    backend = Backend(args.base, args.pg)
    young(backend, args.young)
    data = build(backend, args.base, args.entries)
    work = args.base / "copy"
    for r in range(args.runs):
        print(f"run {r + 1}/{args.runs}")
        for variant in args.variant or ["as-is"]:
            run_once(backend, data, work, variant, args)


if __name__ == "__main__":
    main()
