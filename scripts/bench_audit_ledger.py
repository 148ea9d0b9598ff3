#!/usr/bin/env python
"""Offline audit benchmark (run by hand, not in CI): `scripts/audit_ledger.py` entries per
second beside `evidence audit` and the raw SHA-256 rate, measured in the same run.

    .venv/bin/python scripts/bench_audit_ledger.py [--entries N] [--data-dir DIR]
        [--checkpoints C] [--workers W ...] [--repeat R]

Builds (or reuses: default /var/tmp/evidence-bench/audit-ledger-N) a SQLite ledger of N
entries (default 1,000,000) with the generator of scripts/bench_audit.py, exports it with
`evidence log export` into a new directory (timed: the export's own entries/s), then times
`audit_ledger.py DIR --log-key VKEY` in a child process (as an auditor runs it; wall
clock, interpreter start included) for each worker count, R times, and `evidence audit`
(evidence.ledger.audit.audit) on the same ledger. Beside each wall-clock figure: the
CPU-seconds the child used (user + system, all its processes) per entry, which other
users of a shared machine disturb far less than the wall clock, and the load average.
The hash rate is SHA-256(0x00 || entry) of this ledger's entries per CPU-second on one
core: no audit can beat it per core. The target is printed beside the figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evidence.ledger.audit.export_log import export_log
from evidence.ledger.audit.log_audit import audit

HERE = Path(__file__).resolve().parent
TARGET = 150_000


def _bench_audit():  # type: ignore[no-untyped-def]
    """scripts/bench_audit.py (its ledger generator and hash-rate probe)."""
    spec = importlib.util.spec_from_file_location("bench_audit", HERE / "bench_audit.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run_audit(export: Path, vkey: str, workers: int) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of the child and its workers, load average at start)."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, str(HERE / "audit_ledger.py"), str(export),
                        "--log-key", vkey, "--log-only", "--quiet", "--json",
                        "--workers", str(workers)],
                       capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert p.returncode == 0, (p.stdout[-2000:], p.stderr[-2000:])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, load


def _cpu_self_and_children() -> float:
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="keep the ledger here (reused by later runs); default: "
                         "/var/tmp/evidence-bench/audit-ledger-N")
    ap.add_argument("--checkpoints", type=int, default=0,
                    help="add signed checkpoints until the ledger holds about this many")
    ap.add_argument("--workers", type=int, nargs="*", default=[1, 0],
                    help="audit_ledger.py worker counts (0 = one per core)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each worker count")
    args = ap.parse_args()
    ba = _bench_audit()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or Path(f"/var/tmp/evidence-bench/audit-ledger-{args.entries}")
        led = ba.build(data_dir, args.entries)
        if args.checkpoints:
            ba.add_checkpoints(led, args.checkpoints)
        size = led.size
        sample = led.entry(size - 1).data
        leaf = ba.hash_rate(b"\x00" + sample)
        print(f"ledger: {size:,} entries of ~{len(sample)} bytes, {data_dir}; "
              f"load {os.getloadavg()[0]:.1f}")
        print(f"raw SHA-256: {leaf:,.0f} leaf hashes/s per core ({2 * leaf:,.0f}/s on 2 "
              f"cores); target for audit_ledger.py >= {TARGET:,} entries/s")
        export = Path(tmp) / "export"
        t0 = time.perf_counter()
        export_log(led, export)
        wall = time.perf_counter() - t0
        print(f"  evidence log export: {size / wall:>10,.0f} entries/s ({wall:.2f}s)")
        vkey = led.verifier_key
        for w in args.workers:
            workers = w or (os.cpu_count() or 1)
            walls, cpus = [], []
            for _ in range(max(1, args.repeat)):
                wall, cpu, load = _run_audit(export, vkey, workers)
                walls.append(wall)
                cpus.append(cpu)
                print(f"  audit_ledger.py workers={workers}: {size / wall:>10,.0f} entries/s "
                      f"({wall:.2f}s wall, {1e6 * cpu / size:.2f} CPU-us/entry, load "
                      f"{load:.1f}); target >= {TARGET:,}")
            if len(walls) > 1:
                print(f"    best {size / min(walls):,.0f} entries/s, median "
                      f"{size / statistics.median(walls):,.0f}; CPU median "
                      f"{1e6 * statistics.median(cpus) / size:.2f} us/entry")
        load = os.getloadavg()[0]
        cpu0 = _cpu_self_and_children()
        t0 = time.perf_counter()
        rep = audit(led.engine, led.verifier)
        wall = time.perf_counter() - t0
        cpu = _cpu_self_and_children() - cpu0
        assert rep.ok, rep
        print(f"  evidence audit (auto workers): {size / wall:>10,.0f} entries/s "
              f"({wall:.2f}s wall, {1e6 * cpu / size:.2f} CPU-us/entry, load {load:.1f})")
        led.close()


if __name__ == "__main__":
    main()
