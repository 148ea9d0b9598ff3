#!/usr/bin/env python3
"""Intake benchmark (run by hand; prints figures beside limits and targets).

1. One large file (default 1 GiB) through ``Intake.submit`` to the filesystem blob
   store, in a child process so that its peak RSS (ru_maxrss) is the intake's alone.
   Target: >= 80% of the single-pass SHA-256 limit measured here, peak < 100 MB. The
   machine's real limit is the slower of SHA-256 and writing 1 GiB durably to this disk
   (measured with ``dd ... conv=fsync``, through the page cache and with direct I/O).
2. Many small files (default 10,000) with ``evidence submit --each``'s code
   (:func:`evidence.ledger.intake.bulk.submit_each`: worker processes, or with
   ``--path threads`` the in-process path). Target: >= 2,000 items/s. Printed beside
   it: CPU time per item, of all processes and of the importing one (the figures to
   compare between runs on a shared machine), and what creating one file costs the
   kernel here (each item creates a blob file and, in a young store, a fan-out
   directory: ext4 without a journal scans recently deleted inodes on every
   allocation, so this cost grows after big deletions, e.g. a previous run's cleanup;
   compare paths alternately in one run: ``--path threads,processes,threads,processes``).

    .venv/bin/python scripts/bench_intake.py [--only all|large|small] [--size-mib 1024]
        [--files 10000] [--workers N] [--path processes|threads,...] [--dir /var/tmp]

The working directory should be on the disk the blob store would use (not tmpfs, or
fsync is free and the figures flatter us).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger
data, path = Path(sys.argv[1]), Path(sys.argv[2])
led = Ledger.open(data)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
intake = Intake(led, FilesystemBlobStore(data / "blobs"), max_file_size=1 << 40)
r0 = resource.getrusage(resource.RUSAGE_SELF)
t = time.perf_counter()
res = intake.submit(ItemSpec(files=[path], kind="video", case="bench", principal="bench"))
dt = time.perf_counter() - t
r1 = resource.getrusage(resource.RUSAGE_SELF)
led.close()
print(json.dumps({"seconds": dt, "seq": res.seq, "rss_before_kib": before,
                  "cpu_user": r1.ru_utime - r0.ru_utime, "cpu_sys": r1.ru_stime - r0.ru_stime,
                  "rss_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def sha256_limit(n_mib: int = 512) -> float:
    """Bytes/s of one hashlib SHA-256 pass over in-memory 1 MiB chunks (the ceiling)."""
    block = os.urandom(1 << 20)
    h = hashlib.sha256()
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(n_mib // 3 or 1):
            h.update(block)
        best = max(best, (n_mib // 3 or 1) * (1 << 20) / (time.perf_counter() - t))
    return best


def disk_limit(base: Path, mib: int = 1024) -> dict[str, float]:
    """Bytes/s of writing ``mib`` MiB durably here with dd (conv=fsync), through the page
    cache and with O_DIRECT, best of two; empty if dd is missing."""
    out: dict[str, float] = {}
    target = base / "dd.bin"
    for name, extra in (("buffered", []), ("direct", ["oflag=direct"])) * 2:
        cmd = ["dd", "if=/dev/zero", f"of={target}", "bs=8M", f"count={mib // 8}",
               "conv=fsync", *extra]
        try:
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            out[name] = max(out.get(name, 0.0), (mib << 20) / (time.perf_counter() - t))
        except (OSError, subprocess.CalledProcessError):
            pass
        finally:
            target.unlink(missing_ok=True)
    return out


def create_cost(base: Path, n: int = 2000) -> float:
    """CPU seconds the kernel spends creating one empty file here (inode allocation). The
    files stay until the end: deleting them now would slow the next allocations down."""
    d = base / "creates"
    d.mkdir()
    c = time.process_time()
    for i in range(n):
        os.close(os.open(d / f"f{i}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return (time.process_time() - c) / n


def make_ledger(base: Path) -> Path:
    from evidence.ledger.log import Ledger

    data = base / "data"
    Ledger.create(data, "bench.example/log").close()
    return data


def bench_large(base: Path, size_mib: int) -> dict[str, float]:
    data = make_ledger(base / "large")
    path = base / "large.bin"
    chunk = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for _ in range(size_mib):
            f.write(chunk)
    # warm the page cache, so the figure is intake's, not the disk's read speed
    with open(path, "rb") as f:
        while f.read(8 << 20):
            pass
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", CHILD, str(data), str(path)], env=env,
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    path.unlink()
    return {"bytes": size_mib << 20, **r}


def bench_small(base: Path, n: int, workers: int | None, path: str) -> dict[str, float]:
    """``n`` small files through ``--each``'s code: the worker processes of
    :func:`evidence.ledger.intake.bulk.submit_each` (``path="processes"``) or the
    in-process thread pipeline (``"threads"``, what ran before). CPU counts this process
    and its (reaped) worker processes."""
    from evidence.ledger.blobs import FilesystemBlobStore
    from evidence.ledger.intake import Intake, Submitted, expand_each
    from evidence.ledger.intake.bulk import default_workers, submit_each
    from evidence.ledger.log import Ledger

    base.mkdir()
    data = make_ledger(base)
    top = base / "small-files"
    top.mkdir()
    for i in range(n):
        (top / f"{i:06d}.txt").write_bytes(f"small evidence file {i}\n".encode() * (1 + i % 20))
    led = Ledger.open(data)
    intake = Intake(led, FilesystemBlobStore(data / "blobs"))
    kw = {"kind": "document", "case": "bench", "principal": "bench"}
    workers = default_workers() if workers is None else workers
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    paths = [p for p, reason in expand_each([top]) if reason is None]
    results = submit_each(intake, paths, kw, workers=1 if path == "threads" else workers)
    ok = sum(isinstance(r, Submitted) for _, r in results)
    dt = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    led.close()
    main_cpu = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
    return {"items": ok, "seconds": dt, "workers": workers,
            "cpu_user": r1.ru_utime - r0.ru_utime + c1.ru_utime - c0.ru_utime,
            "cpu_sys": r1.ru_stime - r0.ru_stime + c1.ru_stime - c0.ru_stime,
            "cpu_main": main_cpu}


def load() -> str:
    return "load average " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


def run_large(base: Path, size_mib: int) -> None:
    limit = sha256_limit()
    disk = disk_limit(base)
    machine = min(limit, max(disk.values(), default=limit))
    print(f"single-pass SHA-256 limit here: {limit / 1e9:.2f} GB/s "
          f"(the issue assumes 1.8 GB/s); {load()}")
    print("disk, 1 GiB written durably with dd conv=fsync: " + ", ".join(
        f"{k} {v / 1e9:.2f} GB/s" for k, v in disk.items()) +
          f"; machine limit = min(hash, disk) = {machine / 1e9:.2f} GB/s")
    big = bench_large(base, size_mib)
    rate = big["bytes"] / big["seconds"]
    peak_mb = big["rss_peak_kib"] * 1024 / 1e6
    grew_mb = (big["rss_peak_kib"] - big["rss_before_kib"]) * 1024 / 1e6
    gib = big["bytes"] / (1 << 30)
    print(f"1 file of {size_mib} MiB: {big['seconds']:.2f} s, {rate / 1e9:.2f} GB/s "
          f"= {100 * rate / limit:.0f}% of the SHA-256 limit (target >= 80%), "
          f"{100 * rate / machine:.0f}% of the machine limit; CPU "
          f"{big['cpu_user'] / gib:.2f} s user + {big['cpu_sys'] / gib:.2f} s sys per GiB; "
          f"{load()}")
    print(f"  peak RSS of the submitting process: {peak_mb:.0f} MB (target < 100 MB; "
          f"{grew_mb:.0f} MB above the process's size before the submit)")


def run_small(base: Path, n_files: int, workers: int, paths: list[str]) -> None:
    create = create_cost(base)
    print(f"creating one file costs the kernel {1e6 * create:.0f} us CPU here")
    for i, path in enumerate(paths):
        small = bench_small(base / f"run{i}", n_files, workers, path)
        n = max(small["items"], 1)
        how = ("in-process threads" if path == "threads"
               else f"{small['workers']} worker processes")
        print(f"{small['items']} small files with --each ({how}): {small['seconds']:.2f} s, "
              f"{small['items'] / small['seconds']:.0f} items/s (target >= 2,000 items/s; "
              f"{os.cpu_count()} cores); CPU per item "
              f"{1e6 * small['cpu_user'] / n:.0f} us user + {1e6 * small['cpu_sys'] / n:.0f} us "
              f"sys, all processes ({1e6 * small['cpu_main'] / n:.0f} us in the importing "
              f"process); {load()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=None,
                    help="worker processes for the small files (default: one per core)")
    ap.add_argument("--only", choices=("all", "large", "small"), default="all",
                    help="run one case only")
    ap.add_argument("--path", default="processes",
                    help="small files: 'processes' (what --each runs), 'threads' (the "
                         "in-process path), or several, comma-separated, run alternately "
                         "(e.g. threads,processes,threads,processes)")
    ap.add_argument("--dir", default=None, help="working directory (default: system temp)")
    args = ap.parse_args()
    paths = args.path.split(",")
    if any(p not in ("threads", "processes") for p in paths):
        ap.error("--path: 'threads' or 'processes'")
    base = Path(tempfile.mkdtemp(prefix="bench-intake-", dir=args.dir))
    try:
        if args.only in ("all", "large"):
            run_large(base, args.size_mib)
        if args.only in ("all", "small"):
            run_small(base, args.files, args.workers, paths)
        print(f"(max RSS of this process: "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
