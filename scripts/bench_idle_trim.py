#!/usr/bin/env python3
"""How long an idle trim (evidence/api/idle_trim.py) holds a worker up (run by hand, not
in CI; the memory it gives back is scripts/bench_memory.py's fourth reading).

A ledger of ``--entries`` entries (built once under ``--base``, reused), served by
uvicorn in a thread of this process so that the worker's :class:`IdleTrim` can be read;
``--idle-trim`` seconds as its delay. It waits for the fresh worker's first trim, fills
the caches with ``--load-seconds`` of random inclusion proofs from four threads (half on
the hot path, half on the route with an explicit size: the proof node cache), then asks
``/health`` every 2 ms (probes do not delay a trim) until a trim has run and a little
after. Printed: both trims' reports (entries dropped, SQLite connections shrunk, objects
collected, seconds in the thread and in ``gc.collect()``) and the probes' latencies
outside and overlapping the trim.

    .venv/bin/python scripts/bench_idle_trim.py [--base /var/tmp/bench-idle-trim]
        [--entries 500000] [--idle-trim 8] [--load-seconds 25]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from evidence.api.app import create_app
from evidence.api.idle_trim import IdleTrim
from evidence.api.settings import ApiSettings
from evidence.ledger.log import Ledger
from tests.support.ports import free_ports


def build(data: Path, n: int) -> None:
    led = Ledger.create(data, "idle-trim.bench/log", checkpoint_interval=3600)
    try:
        for start in range(0, n, 1000):
            led.append_many([("evidence.submitted",
                              {"i": i, "sha256": f"{i:064x}", "name": f"f{i}.bin",
                               "size": 1000 + i})
                             for i in range(start, min(n, start + 1000))])
        led.sign_checkpoint_now()
    finally:
        led.close()


def proofs(base: str, size: int, seconds: float, seed: int) -> int:
    rnd, n = random.Random(seed), 0
    end = time.monotonic() + seconds
    with httpx.Client(base_url=base, timeout=60) as c:
        while time.monotonic() < end:
            seq = rnd.randrange(size - 1)
            extra = f"&size={size - 1}" if n % 2 else ""
            c.get(f"/v1/log/proof/inclusion?seq={seq}{extra}").raise_for_status()
            n += 1
    return n


def stats(name: str, seconds: list[float]) -> None:
    if not seconds:
        print(f"  {name}: none")
        return
    ms = sorted(s * 1000 for s in seconds)
    print(f"  {name}: {len(ms)} probes, median {ms[len(ms) // 2]:.1f} ms, "
          f"p99 {ms[int(len(ms) * 0.99)]:.1f} ms, max {ms[-1]:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="/var/tmp/bench-idle-trim")
    ap.add_argument("--entries", type=int, default=500_000)
    ap.add_argument("--idle-trim", type=float, default=8.0)
    ap.add_argument("--load-seconds", type=float, default=25.0)
    args = ap.parse_args()

    data = Path(args.base) / f"data-{args.entries}"
    if not data.exists():
        build(data, args.entries)
    app = create_app(ApiSettings(data_dir=str(data), anchor=False, rate=0,
                                 idle_trim=args.idle_trim))
    (port,) = free_ports(1)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    idle: IdleTrim = app.state.idle_trim
    print(f"{args.entries:,} entries, idle_trim {args.idle_trim:g} s; "
          f"load average {os.getloadavg()[0]:.2f}")
    try:
        while idle.trims < 1:
            time.sleep(0.1)
        print(f"  first trim (fresh worker): {idle.last}")
        size = int(httpx.get(base + "/v1/log/checkpoint").text.split("\n")[1])
        with ThreadPoolExecutor(4) as pool:
            asked = sum(pool.map(proofs, [base] * 4, [size] * 4,
                                 [args.load_seconds] * 4, range(4)))
        print(f"  {asked} proofs in {args.load_seconds:g} s from 4 threads; "
              f"{app.state.services.proofs.cached_nodes} nodes cached")

        window: list[tuple[float, float]] = []
        real = idle.trim

        async def timed():  # type: ignore[no-untyped-def]
            t = time.perf_counter()
            try:
                return await real()
            finally:
                window.append((t, time.perf_counter()))

        idle.trim = timed  # type: ignore[method-assign]
        probes: list[tuple[float, float]] = []
        with httpx.Client(base_url=base, timeout=60) as c:
            while not window or probes[-1][0] < window[0][1] + 0.5:  # and 0.5 s after
                t = time.perf_counter()
                c.get("/health").raise_for_status()
                probes.append((t, time.perf_counter()))
                time.sleep(0.002)
        a, z = window[0]
        print(f"  trim after load: {idle.last}")
        print(f"  the trim's thread part: {(z - a) * 1000:.0f} ms; "
              f"load average {os.getloadavg()[0]:.2f}")
        stats("probes outside the trim", [e - s for s, e in probes if e < a or s > z])
        stats("probes overlapping the trim", [e - s for s, e in probes if not (e < a or s > z)])
    finally:
        server.should_exit = True
        thread.join(timeout=60)


if __name__ == "__main__":
    main()
