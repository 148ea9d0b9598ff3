#!/usr/bin/env python3
"""Memory of a real ``evidence serve`` (issue 21 point 5; run by hand, not in CI).

For each ``--workers`` count (default 1 and 2): a fresh data directory (SQLite, or
``--db`` PostgreSQL), ``evidence serve`` started and waited for (``/health``), then
memory read from ``/proc/PID/smaps_rollup`` of the master and of each worker at three
moments, each after ``--idle`` seconds without a request:

1. **started**: no request yet but the readiness probes;
2. **typical**: after a few typical requests: ``/health``, a submission, its receipt,
   an inclusion proof, the checkpoint, ``/v1/status``, the verify page and ``/metrics``;
3. **after load**: after ``--load-seconds`` of concurrent submissions, then proofs
   (``--load-seconds 0`` skips it): what a worker keeps once the load is gone;
4. **after the idle trim**: ``--idle-trim`` seconds (the server's ``[serve] idle_trim``,
   given to it as ``EVIDENCE_SERVE_IDLE_TRIM``) plus ``--trim-margin`` after the last
   request: what the worker holds once it gave its caches back (evidence/api/idle_trim.py).
   Readings 1 to 3 are taken before a trim could run (``--idle`` must stay below
   ``--idle-trim``), except that a fresh worker trims once at ``--idle-trim`` s after start.

``--prefill N`` appends N entries to the log before the server starts (by the library,
in batches of 1,000): proofs over a large log fill the caches a worker keeps and never
shrinks while busy (the proof node cache, the hot path's rendered proofs, SQLite's page
cache per pooled connection), so the third reading then shows a busy worker's size and the
fourth what it gives back when idle.

Printed per process: RSS (every resident page, shared ones too), PSS (shared pages
divided among the processes that map them: the figures add up), USS (private pages:
what the process would give back if it ended), beside the target of 150 MiB RSS for an
idle worker. With one worker uvicorn serves in the master process itself, so that
process is the worker. The floor is a bare ``python -c 'import fastapi, uvicorn'``.

    .venv/bin/python scripts/bench_memory.py [--workers 1,2] [--db postgresql+psycopg://...]
        [--idle 5] [--load-seconds 10] [--clients 16] [--prefill 0] [--idle-trim 30]
        [--trim-margin 10] [--dir /var/tmp] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import (  # a sibling script, not a package
    EVIDENCE,
    ev,
    free_port,
    proof_load_httpx,
    proof_load_wrk,
    submit_load_raw,
)

TARGET_MIB = 150  # an idle worker's RSS at most (issue 21 point 5)
FLOOR = "import fastapi, uvicorn"


@dataclass(frozen=True)
class Mem:
    rss: int  # KiB
    pss: int
    uss: int


def smaps(pid: int) -> Mem:
    """RSS, PSS and USS (private clean + private dirty) of one process, in KiB."""
    vals: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        vals[key] = int(rest.split()[0])
    return Mem(vals["Rss"], vals["Pss"], vals["Private_Clean"] + vals["Private_Dirty"])


def processes(master: int) -> list[tuple[str, int]]:
    """(role, pid) of the server: the master, then uvicorn's workers (spawned children);
    multiprocessing's resource tracker is listed too, it is part of the bill."""
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    kids = sorted(int(p) for p in out.split())
    roles: list[tuple[str, int]] = []
    workers = 0
    for pid in kids:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "resource_tracker" in cmd:
            roles.append(("resource tracker", pid))
        else:
            workers += 1
            roles.append((f"worker {workers}", pid))
    master_role = "master" if workers else "master = worker"
    return [(master_role, master), *roles]


def floor() -> Mem:
    """A bare interpreter that imported FastAPI and uvicorn: what no worker can go under."""
    code = (f"{FLOOR}; import sys; sys.stdout.write(open('/proc/self/smaps_rollup').read())")
    text = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout
    vals = {k: int(v.split()[0]) for k, _, v in
            (line.partition(":") for line in text.splitlines()[1:])}
    return Mem(vals["Rss"], vals["Pss"], vals["Private_Clean"] + vals["Private_Dirty"])


def mib(kib: int) -> str:
    return f"{kib / 1024:7.1f}"


def report(label: str, master: int) -> list[tuple[str, Mem]]:
    rows = [(role, smaps(pid)) for role, pid in processes(master)]
    print(f"\n  {label}")
    print(f"    {'process':18} {'RSS MiB':>8} {'PSS MiB':>8} {'USS MiB':>8}   target")
    for role, m in rows:
        worker = role.startswith("worker") or role == "master = worker"
        verdict = (f"<= {TARGET_MIB} RSS  {'OK' if m.rss <= TARGET_MIB * 1024 else 'MISSED'}"
                   if worker else "")
        print(f"    {role:18} {mib(m.rss):>8} {mib(m.pss):>8} {mib(m.uss):>8}   {verdict}")
    total = sum(m.pss for _, m in rows)
    print(f"    {'all (PSS sum)':18} {'':>8} {mib(total):>8}")
    return rows


def typical_requests(base: str, token: str, auditor: str) -> None:
    """What a worker does in a quiet hour: a health probe, one submission, its receipt,
    a proof, the checkpoint and status, the judges' page and a metrics scrape."""
    auth = {"Authorization": f"Bearer {token}"}
    for _ in range(4):  # a new connection each time: with several workers, reach more
        with httpx.Client(base_url=base, timeout=60) as c:
            c.get("/health").raise_for_status()
            r = c.post("/v1/evidence", headers=auth,
                       data={"case": "bench", "kind": "document", "title": "memory"},
                       files={"file": ("note.txt", os.urandom(2048).hex().encode(),
                                       "text/plain")})
            r.raise_for_status()
            eid, seq = r.json()["evidence_id"], r.json()["seq"]
            time.sleep(1.2)  # a checkpoint covers it (--checkpoint-interval 1)
            c.get(f"/v1/evidence/{eid}/receipt", headers=auth).raise_for_status()
            c.get("/v1/log/proof/inclusion", params={"seq": seq}).raise_for_status()
            c.get("/v1/log/checkpoint").raise_for_status()
            c.get("/v1/status").raise_for_status()
            c.get("/verify/").raise_for_status()
            c.get("/metrics", headers={"Authorization": f"Bearer {auditor}"}
                  ).raise_for_status()


def prefill(data: Path, db: str | None, n: int) -> None:
    """``n`` entries appended by the library before the server starts (a large log)."""
    from evidence.ledger.log import Ledger

    led = Ledger.open(str(data), db)
    try:
        for start in range(0, n, 1000):
            led.append_many([("evidence.submitted",
                              {"i": i, "sha256": f"{i:064x}", "name": f"f{i}.bin",
                               "size": 1000 + i})
                             for i in range(start, min(n, start + 1000))])
    finally:
        led.close()


def run(workers: int, args: argparse.Namespace) -> dict[str, list[tuple[str, Mem]]]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-memory-", dir=args.dir))
    data = tmp / "data"
    server = None
    out: dict[str, list[tuple[str, Mem]]] = {}
    try:
        ev("init", "--origin", "bench.local/log", "--checkpoint-interval", "1", data=data,
           db=args.db)
        ev("user", "add", "bench-sub", "--role", "submitter", data=data, db=args.db)
        ev("user", "add", "bench-aud", "--role", "auditor", data=data, db=args.db)
        ev("case", "add", "bench", data=data, db=args.db)
        ev("case", "member", "add", "bench", "bench-sub", data=data, db=args.db)
        token = ev("token", "create", "bench-sub", data=data, db=args.db)["token"]
        auditor = ev("token", "create", "bench-aud", data=data, db=args.db)["token"]
        if args.prefill:
            prefill(data, args.db, args.prefill)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        cmd = [*EVIDENCE, "serve", "--data-dir", str(data), "--port", str(port),
               "--workers", str(workers), "--rate", "0", "--no-access-log",
               "--log-level", "warning"] + (["--db", args.db] if args.db else [])
        env = dict(os.environ, EVIDENCE_SERVE_IDLE_TRIM=str(args.idle_trim))
        server = subprocess.Popen(cmd, start_new_session=True, env=env)
        for _ in range(600):
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            sys.exit("the server did not start")
        db = "PostgreSQL" if args.db else "SQLite"
        print(f"\nevidence serve --workers {workers} ({db}, {args.prefill:,} entries "
              f"prefilled, idle_trim {args.idle_trim:g} s), load average "
              f"{os.getloadavg()[0]:.2f}")
        time.sleep(args.idle)
        out["started"] = report(f"started, idle {args.idle:.0f} s", server.pid)
        typical_requests(base, token, auditor)
        time.sleep(args.idle)
        out["typical"] = report(f"after typical requests, idle {args.idle:.0f} s", server.pid)
        if args.load_seconds > 0:
            _, errors, _, _, sent = asyncio.run(submit_load_raw(
                base, token, args.clients, args.load_seconds, 10 * 1024, 0.0))
            time.sleep(1.5)
            size = httpx.get(base + "/v1/status").json()["checkpoint"]["size"]
            if shutil.which("wrk"):  # lighter than httpx on the 2 shared cores
                proofs, _ = proof_load_wrk(base, size, args.load_seconds, 32, tmp)
            else:
                proofs = asyncio.run(proof_load_httpx(base, size, args.load_seconds,
                                                      args.clients))
            time.sleep(args.idle)
            out["load"] = report(
                f"after load ({sent} submissions, {errors} refused, {args.clients} clients; "
                f"then {proofs:.0f} proofs/s for {args.load_seconds:.0f} s), "
                f"idle {args.idle:.0f} s", server.pid)
        if args.idle_trim > 0:
            time.sleep(max(0.0, args.idle_trim + args.trim_margin - args.idle))
            out["trimmed"] = report(
                f"after the idle trim ({args.idle_trim + args.trim_margin:.0f} s without a "
                f"request), load average {os.getloadavg()[0]:.2f}", server.pid)
        return out
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, 15)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, 9)
                server.wait()
        if args.keep:
            print(f"  kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    ap.add_argument("--db", help="PostgreSQL URL (default: the embedded SQLite)")
    ap.add_argument("--idle", type=float, default=5.0, help="seconds idle before a reading")
    ap.add_argument("--load-seconds", type=float, default=10.0,
                    help="seconds of submissions, then of proofs (0: no load phase)")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--prefill", type=int, default=0,
                    help="entries appended before the server starts (a large log)")
    ap.add_argument("--idle-trim", type=float, default=30.0,
                    help="the server's idle_trim in seconds (0: no trim, no fourth reading)")
    ap.add_argument("--trim-margin", type=float, default=10.0,
                    help="seconds past --idle-trim before the fourth reading")
    ap.add_argument("--dir", help="where to put the temporary data directories")
    ap.add_argument("--keep", action="store_true", help="keep the data directories")
    args = ap.parse_args()
    if 0 < args.idle_trim <= args.idle:
        ap.error("--idle must be below --idle-trim: readings 1 to 3 are before a trim")

    f = floor()
    print(f"floor: python -c '{FLOOR}': RSS {mib(f.rss).strip()} MiB, "
          f"PSS {mib(f.pss).strip()}, USS {mib(f.uss).strip()}; {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.2f}")
    for n in (int(x) for x in args.workers.split(",")):
        run(n, args)


if __name__ == "__main__":
    main()
