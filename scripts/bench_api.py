#!/usr/bin/env python3
"""HTTP API benchmark against a real ``evidence serve`` (run by hand, not in CI).

1. Submissions: ``--clients`` (16) concurrent clients, each with one keep-alive
   connection, POST /v1/evidence with a fresh random ``--size`` (10 KB) file, for
   ``--seconds``. Every 201 is durable (entry committed with synchronous=FULL, blob
   fsynced). Reports submissions/s and p50/p99 latency.
   Target on the 2-core reference machine: >= 500/s with p99 <= 100 ms (embedded default).
2. Inclusion proofs: GET /v1/log/proof/inclusion?seq=<random> (to the latest
   checkpoint) with ``wrk`` if installed (apt-get install wrk), else httpx.
   Target: >= 3,000 requests/s.

    .venv/bin/python scripts/bench_api.py [--workers 1] [--clients 16] [--seconds 10]
        [--size 10240] [--proof-seconds 10] [--client raw|httpx]
        [--db postgresql+psycopg://...] [--dir /var/tmp]

The server runs with --rate 0 (no rate limit) and --no-access-log; uvicorn picks uvloop
and httptools when they are installed (the output says which). The load generator
shares the machine's two cores with the server: by default it writes requests on plain
asyncio sockets (about 0.2 ms of CPU per submission; httpx took about 3 ms, more than
half of what the server needed). Server and generator CPU per submission are printed:
on a shared machine they are steadier than the rates. Run it where the blob store would
live (not tmpfs: fsync would be free and flatter us).

Back-to-back runs on ext4 without a journal (the reference machine) are not comparable:
such an ext4 skips inodes freed in the last 60 s (360 s while their table block is
dirty) when it creates a file or folder, scanning past each one, so the thousands of
files one run deletes at its end make every blob and fan-out folder of the next run
costlier (we saw 1.4 -> 3.0 ms of server CPU per submission, the difference in kernel
time under ext4_create and ext4_mkdir). Wait a few minutes between runs, or keep the
data (--keep) and delete it after the last one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
EVIDENCE = [sys.executable, "-c", "from evidence.cli.main import main; main()"]
LIMITS = """machine limits (shared/recipes/README.md, 2 cores): SHA-256 1.8 GB/s; Ed25519 sign
32 k/s; SQLite via SQLAlchemy ~130 k rows/s; PostgreSQL ~65 k rows/s. A submission costs
one entry + 3-4 rows, one receipt signature, two blob fsyncs and a share of one group
commit: the database and crypto limits are 50-100x above the target; HTTP parsing,
multipart and Python per-request work on 2 cores shared with the load generator are
what bind."""


def ev(*args: str, data: Path, db: str | None) -> dict:
    extra = ["--db", db] if db else []
    r = subprocess.run([*EVIDENCE, *args, "--data-dir", str(data), *extra, "--json"],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        sys.exit(f"evidence {' '.join(args)} failed: {r.stderr or r.stdout}")
    return json.loads(r.stdout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) of the server process and its workers."""
    return sum(server_cpu_split(pid))


def server_cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of the server process and its workers."""
    user = system = 0
    pids = [pid] + [int(x) for x in subprocess.run(["pgrep", "-P", str(pid)],
                                                    capture_output=True, text=True).stdout.split()]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user += int(fields[11])
        system += int(fields[12])
    tck = os.sysconf("SC_CLK_TCK")
    return user / tck, system / tck


def intake_alone(tmp: Path, clients: int, size: int, n: int = 800) -> tuple[float, float]:
    """The ceiling under the API: Intake.submit from ``clients`` threads in-process (no
    HTTP), same file size; returns (items/s, CPU ms per item)."""
    import resource
    from concurrent.futures import ThreadPoolExecutor

    sys.path.insert(0, str(ROOT))
    from evidence.ledger.intake import Intake, ItemSpec, load_settings
    from evidence.ledger.log import Ledger

    d = tmp / "intake-alone"
    led = Ledger.create(d, "bench.local/intake", checkpoint_interval=1)
    try:
        intake = Intake(led, load_settings(d).open_store())
        src = d / "src"
        src.mkdir()
        paths = []
        for i in range(n):
            p = src / f"f{i}.bin"
            p.write_bytes(os.urandom(size))
            paths.append(p)
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(lambda p: intake.submit(ItemSpec(files=[p], kind="other", case="c",
                                                           principal="bench")), paths))
        el, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    finally:
        led.close()
    cpu = (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) * 1000 / n
    return n / el, cpu


def app_in_process(tmp: Path, clients: int, size: int, *, fast: bool, n: int = 800
                   ) -> tuple[float, float]:
    """The API layer without uvicorn or sockets: ``n`` submissions through the ASGI app
    (the real services: intake, ledger, blob store) from ``clients`` concurrent tasks.
    Returns (items/s, CPU ms per item); minus ``Intake.submit`` alone, that is the cost
    of the app itself. ``fast``: the submission fast path, else the FastAPI route."""
    import resource

    sys.path.insert(0, str(ROOT))
    from evidence.api.app import create_app
    from evidence.api.services import Services
    from evidence.api.settings import ApiSettings
    from evidence.ledger.access import AccessControl
    from evidence.ledger.log import Ledger

    d = tmp / f"in-process-{'fast' if fast else 'route'}"
    led = Ledger.create(d, "bench.local/app", checkpoint_interval=1)
    try:
        ac = AccessControl(led)
        ac.add_case("c")
        ac.add_principal("p", "submitter")
        ac.add_member("c", "p")
        _info, token = ac.create_token("p")
    finally:
        led.close()
    settings = ApiSettings(data_dir=str(d), rate=0, anchor=False, fast_submit=fast)
    svc = Services.open(settings)
    app = create_app(settings, services=svc)
    app.state.services = svc
    boundary = b"inprocessboundary"
    headers = [(b"authorization", b"Bearer " + token.encode()),
               (b"content-type", b"multipart/form-data; boundary=" + boundary)]

    def body(i: int) -> bytes:
        return (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="case"\r\n\r\n'
                b"c\r\n--" + boundary + b'\r\nContent-Disposition: form-data; name="kind"'
                b"\r\n\r\nother\r\n--" + boundary + b'\r\nContent-Disposition: form-data; '
                b'name="file"; filename="f' + str(i).encode() + b'.bin"\r\n\r\n'
                + os.urandom(size) + b"\r\n--" + boundary + b"--\r\n")

    async def one(i: int) -> None:
        b = body(i)
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "POST", "scheme": "http", "path": "/v1/evidence",
                 "raw_path": b"/v1/evidence", "query_string": b"", "root_path": "",
                 "headers": [*headers, (b"content-length", str(len(b)).encode())],
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
        msgs = [{"type": "http.request", "body": b, "more_body": False}]
        status: list[int] = []

        async def receive() -> dict:
            if msgs:
                return msgs.pop(0)
            await asyncio.Event().wait()
            return {}

        async def send(m: dict) -> None:
            if m["type"] == "http.response.start":
                status.append(m["status"])

        await app(scope, receive, send)
        if status != [201]:
            raise SystemExit(f"in-process submission answered {status}")

    async def run() -> None:
        todo = iter(range(n))

        async def worker() -> None:
            for i in todo:
                await one(i)

        await asyncio.gather(*(worker() for _ in range(clients)))

    try:
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        asyncio.run(run())
        el, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    finally:
        svc.close()
    return n / el, (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) * 1000 / n


def _have(module: str) -> str | None:
    import importlib.util

    return module if importlib.util.find_spec(module) is not None else None


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


async def submit_load(base: str, token: str, clients: int, seconds: float, size: int,
                      warmup: float) -> tuple[int, int, list[float], float, int]:
    headers = {"Authorization": f"Bearer {token}"}
    lat: list[float] = []
    errors = 0
    ok = 0
    sent = 0  # every request, warm-up included (for CPU per submission)
    start = time.perf_counter()
    measure_from = start + warmup
    deadline = measure_from + seconds

    async def client(i: int) -> None:
        nonlocal errors, ok, sent
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60,
                                     limits=httpx.Limits(max_connections=1)) as c:
            n = 0
            while True:
                t0 = time.perf_counter()
                if t0 >= deadline:
                    return
                body = os.urandom(size)
                r = await c.post("/v1/evidence", data={"case": "bench", "kind": "other"},
                                 files={"file": (f"c{i}-{n}.bin", body,
                                                 "application/octet-stream")})
                t1 = time.perf_counter()
                n += 1
                sent += 1
                if t0 >= measure_from and t1 <= deadline:
                    if r.status_code == 201:
                        ok += 1
                        lat.append(t1 - t0)
                    else:
                        errors += 1
                elif r.status_code != 201:
                    errors += 1

    await asyncio.gather(*(client(i) for i in range(clients)))
    return ok, errors, lat, seconds, sent


async def submit_load_raw(base: str, token: str, clients: int, seconds: float, size: int,
                          warmup: float) -> tuple[int, int, list[float], float, int]:
    """The same load as :func:`submit_load` from plain asyncio sockets: a multipart body
    assembled by hand around a fresh random file per request, the response read by
    Content-Length. A few times cheaper per request than httpx, so more of the 2 shared
    cores are left to the server (the figures then measure the server, not the client)."""
    host, port = base.removeprefix("http://").split(":")
    lat: list[float] = []
    errors = ok = sent = 0
    start = time.perf_counter()
    measure_from = start + warmup
    deadline = measure_from + seconds
    boundary = b"benchboundary7f3a9c"
    head = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="case"\r\n\r\n'
            b"bench\r\n--" + boundary +
            b'\r\nContent-Disposition: form-data; name="kind"\r\n\r\nother\r\n--' +
            boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="')
    tail = b"\r\n--" + boundary + b"--\r\n"

    async def client(i: int) -> None:
        nonlocal errors, ok, sent
        reader, writer = await asyncio.open_connection(host, int(port))
        n = 0
        try:
            while True:
                t0 = time.perf_counter()
                if t0 >= deadline:
                    return
                body = b"".join((head, f"c{i}-{n}.bin".encode(), b'"\r\nContent-Type: '
                                 b"application/octet-stream\r\n\r\n", os.urandom(size),
                                 tail))
                writer.write(b"POST /v1/evidence HTTP/1.1\r\nHost: bench\r\n"
                             b"Authorization: Bearer " + token.encode() +
                             b"\r\nContent-Type: multipart/form-data; boundary=" + boundary +
                             b"\r\nContent-Length: " + str(len(body)).encode() +
                             b"\r\n\r\n" + body)
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                status = int(status_line.split()[1])
                t1 = time.perf_counter()
                n += 1
                sent += 1
                if t0 >= measure_from and t1 <= deadline:
                    if status == 201:
                        ok += 1
                        lat.append(t1 - t0)
                    else:
                        errors += 1
                elif status != 201:
                    errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    return ok, errors, lat, seconds, sent


async def proof_load_httpx(base: str, size: int, seconds: float, conns: int) -> float:
    import random

    done = 0
    deadline = time.perf_counter() + seconds

    async def one() -> None:
        nonlocal done
        async with httpx.AsyncClient(base_url=base, timeout=30) as c:
            while time.perf_counter() < deadline:
                r = await c.get("/v1/log/proof/inclusion",
                                params={"seq": random.randrange(size)})
                if r.status_code == 200:
                    done += 1

    await asyncio.gather(*(one() for _ in range(conns)))
    return done / seconds


def proof_load_wrk(base: str, size: int, seconds: float, conns: int, tmp: Path
                   ) -> tuple[float, str]:
    script = tmp / "proof.lua"
    script.write_text(f"""
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/v1/log/proof/inclusion?seq=" .. math.random(0, {size - 1}))
end
local errs = 0
response = function(status, headers, body)
  if status ~= 200 then errs = errs + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("non200 %d\\n", summary.errors.status))
  io.write(string.format("p50 %.2f p99 %.2f\\n", latency:percentile(50) / 1000,
                         latency:percentile(99) / 1000))
end
""")
    r = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{int(seconds)}s", "-s", str(script),
                        base], capture_output=True, text=True, check=True)
    rps = next(float(line.split()[1]) for line in r.stdout.splitlines()
               if line.startswith("Requests/sec:"))
    return rps, r.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--size", type=int, default=10 * 1024)
    ap.add_argument("--proof-seconds", type=float, default=10.0)
    ap.add_argument("--proof-conns", type=int, default=32)
    ap.add_argument("--client", choices=("raw", "httpx"), default="raw",
                    help="load generator for submissions: plain asyncio sockets (default, "
                         "light) or httpx (heavier: it takes CPU from the server)")
    ap.add_argument("--db", help="PostgreSQL URL (default: the embedded SQLite)")
    ap.add_argument("--dir", help="where to put the temporary data directory")
    ap.add_argument("--keep", action="store_true", help="keep the data directory")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-api-", dir=args.dir))
    data = tmp / "data"
    server = None
    try:
        ev("init", "--origin", "bench.local/log", "--checkpoint-interval", "1", data=data,
           db=args.db)
        ev("user", "add", "bench-sub", "--role", "submitter", data=data, db=args.db)
        ev("case", "add", "bench", data=data, db=args.db)
        ev("case", "member", "add", "bench", "bench-sub", data=data, db=args.db)
        token = ev("token", "create", "bench-sub", data=data, db=args.db)["token"]
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        cmd = [*EVIDENCE, "serve", "--data-dir", str(data), "--port", str(port),
               "--workers", str(args.workers), "--rate", "0", "--no-access-log",
               "--log-level", "warning"] + (["--db", args.db] if args.db else [])
        server = subprocess.Popen(cmd, start_new_session=True)
        for _ in range(300):
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            sys.exit("the server did not start")

        load_before = os.getloadavg()[0]
        (user0, sys0), gen0 = server_cpu_split(server.pid), time.process_time()
        load = submit_load_raw if args.client == "raw" else submit_load
        ok, errors, lat, secs, sent = asyncio.run(load(base, token, args.clients,
                                                        args.seconds, args.size,
                                                        args.warmup))
        user1, sys1 = server_cpu_split(server.pid)
        user_per = (user1 - user0) * 1000 / max(1, sent)
        sys_per = (sys1 - sys0) * 1000 / max(1, sent)
        cpu_per = user_per + sys_per
        gen_per = (time.process_time() - gen0) * 1000 / max(1, sent)
        rate = ok / secs
        p50, p99 = percentile(lat, 50) * 1000, percentile(lat, 99) * 1000
        time.sleep(1.5)  # a checkpoint covers everything
        size = httpx.get(base + "/v1/status").json()["checkpoint"]["size"]
        if shutil.which("wrk"):
            # first pass: the node cache starts cold (every proof loads its nodes); the
            # second is a server that has been answering proofs for a while
            cold, _ = proof_load_wrk(base, size, 3, args.proof_conns, tmp)
            prps, detail = proof_load_wrk(base, size, args.proof_seconds, args.proof_conns,
                                          tmp)
            detail = f"{detail}\nfirst 3 s, cold node cache: {cold:,.0f} proofs/s"
            gen = f"wrk -t2 -c{args.proof_conns}"
        else:
            prps = asyncio.run(proof_load_httpx(base, size, args.proof_seconds,
                                                args.proof_conns))
            detail, gen = "", "httpx (install wrk for a lighter load generator)"
        load_after = os.getloadavg()[0]
        alone, alone_cpu = intake_alone(tmp, args.clients, args.size) if not args.db else (
            float("nan"), float("nan"))
        nan2 = (float("nan"), float("nan"))
        app_fast = app_in_process(tmp, args.clients, args.size, fast=True) if not args.db \
            else nan2
        app_route = app_in_process(tmp, args.clients, args.size, fast=False) if not args.db \
            else nan2
        db = "PostgreSQL" if args.db else "SQLite (embedded default)"
        print(f"\nevidence serve --workers {args.workers}, {db}; {os.cpu_count()} cores; "
              f"{args.clients} clients ({args.client}), {args.size} B files, {secs:.0f} s measured "
              f"after {args.warmup:.0f} s warm-up; log size {size}")
        print(f"{'metric':34} {'measured':>12} {'target':>12}")
        print(f"{'durable submissions/s':34} {rate:12.0f} {'>= 500':>12}"
              f"   {'OK' if rate >= 500 else 'MISSED'}")
        print(f"{'submission p50 latency (ms)':34} {p50:12.1f} {'':>12}")
        print(f"{'submission p99 latency (ms)':34} {p99:12.1f} {'<= 100':>12}"
              f"   {'OK' if p99 <= 100 else 'MISSED'}")
        print(f"{'submission errors (non-201)':34} {errors:12d} {'0':>12}")
        print(f"{'server CPU per submission (ms)':34} {cpu_per:12.2f}   (user {user_per:.2f}, "
              f"system {sys_per:.2f}; {sent} requests, warm-up included)")
        print(f"{'load generator CPU per submission':34} {gen_per:12.2f}   (same 2 cores)")
        print(f"{'limit: Intake.submit alone/s':34} {alone:12.0f}   (in-process, "
              f"{args.clients} threads, no HTTP; {alone_cpu:.2f} ms CPU each)")
        for label, (rate_, cpu_) in (("app in-process, fast path/s", app_fast),
                                     ("app in-process, FastAPI route/s", app_route)):
            print(f"{label:34} {rate_:12.0f}   (no uvicorn, no sockets; {cpu_:.2f} ms CPU "
                  f"each: minus Intake alone = the app's own cost)")
        print(f"{'inclusion proofs/s (' + gen.split()[0] + ')':34} {prps:12.0f} "
              f"{'>= 3000':>12}   {'OK' if prps >= 3000 else 'MISSED'}")
        if detail:
            print("  wrk:", " | ".join(ln.strip() for ln in detail.splitlines()
                                       if ln.startswith(("non200", "p50", "first"))))
        print(f"uvicorn: loop {_have('uvloop') or 'asyncio'}, http "
              f"{_have('httptools') or 'h11'} (uvloop and httptools when installed)")
        print(f"load average (1 min) before/after the submissions: {load_before:.1f} / "
              f"{load_after:.1f} (the machine is shared: anything above ~0.2 is others)")
        print(LIMITS)
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")


if __name__ == "__main__":
    main()
