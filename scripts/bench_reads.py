#!/usr/bin/env python
"""Reads that scale (issue 17, point 2): tiles and inclusion proofs of a 10 M-entry ledger
under wrk, beside bare servers of the same files under the same wrk (run by hand, not in
CI; take the shared lock):

    flock /tmp/bench.lock .venv/bin/python scripts/bench_reads.py \\
        [--base /var/tmp/bench10m] [--entries 10000000] [--seconds 10] [--conns 32] \\
        [--workers 1 --workers 2] [--only tiles,proofs,bare] [--drop-caches | --warm-caches] \\
        [--asgi] [--autogroup-nice -15] [--pin 0:1]

Builds once (reused while ``--base`` holds it; an interrupted build resumes) a ledger of
``--entries`` small entries (appended in pipelined batches of 1,000), signs a checkpoint
and runs the tiles follower (:func:`evidence.ledger.tiles.sync_tiles`) to the end, into
``<base>/data/tlog`` as ``evidence serve`` would (only without an fsync per tile: one
``sync`` at the end; the bytes are the same and are checked the same way).

Then, for each ``--workers`` count, it starts ``evidence serve`` on that data directory
(``--no-access-log``: its tiles, checkpoints and proofs answered in the HTTP protocol,
evidence/api/hot/wire.py; with ``--asgi`` a second one with ``[serve] fast_wire = false``
too, every read through ASGI) and runs ``wrk -c<conns>`` against

* ``/tlog/tile/...``: random full tiles of level 0 and level 1 and random full entry
  bundles, anywhere in the tree (a Lua script picks each path);
* ``/v1/log/proof/inclusion?seq=N``: random ``N`` over the whole log;

and against the limits under the same wrk: a bare uvicorn handler serving the same tile
folder (a raw ASGI app: open, read, answer; the same uvicorn, loop and HTTP parser as
``evidence serve``), a bare uvicorn handler answering a fixed body of a proof's size, and
nginx (from Debian: apt-get install nginx-light) on the tile folder when installed.

Random requests over the whole tree are what the server's caches cannot hold: each
worker keeps the tree nodes from height 8 up (:mod:`evidence.api.hot.inclusion`) and the
last 20,000 proof bodies, and no tile. The operating system's page cache can hold all of
it on a machine with enough RAM: the script prints the dataset's size beside the RAM, and
with ``--drop-caches`` empties the page cache (``/proc/sys/vm/drop_caches``; where that
is refused, the dataset's files are evicted with ``posix_fadvise``) before each server's
first run and before the proofs, and says which it did. Each figure comes with the
server's CPU time per request and the load average: the machine is shared. Where other
sessions keep it busy, ``--autogroup-nice -15`` gives every measured server and wrk the
same priority over them (Linux autogroups: plain ``nice`` counts only inside a session).

wrk runs one thread by default (``--threads``): one thread drives 32 connections at more
than 130,000 requests a second here (against nginx), so a second thread only takes CPU
from the server under test, and it showed: with ``-t2`` nginx itself had a p99 of 6.75 ms
serving tiles, with ``-t1`` 0.84 ms (docs/performance.md, "Reads at 10 M entries").

The load generator shares the machine's two cores with the server it measures, so a
server's tail latency includes the moments wrk holds the core it needs. ``--pin 0:1``
keeps every server on CPU 0 and wrk on CPU 1 (``sched_setaffinity``; the servers' child
processes inherit it), the nearest a single machine comes to a load generator of its own:
use it with ``--workers 1 --threads 1``, and compare against nginx and the bare handler
pinned the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

EVIDENCE = [sys.executable, "-c", "from evidence.cli.main import main; main()"]
ORIGIN = "bench.example/reads"
TARGETS = {"tiles": (20_000, None), "proofs": (5_000, 5.0)}
"""req/s at least, p99 (ms) at most (issue 17, point 2)."""
PIN: tuple[set[int], set[int]] | None = None
"""``--pin``: the CPUs of the servers, and of wrk."""


def pinned(which: int):  # type: ignore[no-untyped-def]
    """A ``preexec_fn`` that moves the child to ``PIN[which]``'s CPUs, or None."""
    if PIN is None:
        return None
    cpus = PIN[which]
    return lambda: os.sched_setaffinity(0, cpus)


def load() -> str:
    return "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())


# --- the ledger -----------------------------------------------------------------------------


def build(base: Path, n: int) -> Path:
    """``<base>/data``: a ledger of ``n`` entries, a checkpoint of size ``n`` and its tiles."""
    from evidence.ledger.log import Ledger
    from evidence.ledger.tiles import sync_tiles

    data = base / "data"
    done = base / "built.json"
    if done.exists() and json.loads(done.read_text()).get("entries") == n:
        print(f"ledger {data}: {n:,} entries with tiles (reused)", flush=True)
        return data
    if (data / "config.json").exists():
        led = Ledger.open(data)
    else:
        base.mkdir(parents=True, exist_ok=True)
        led = Ledger.create(data, ORIGIN, checkpoint_interval=3600)
    try:
        have = led.size
        if have > n:
            raise SystemExit(f"{data} holds {have:,} entries, more than {n:,}: remove it or "
                             "change --base")
        t0 = time.perf_counter()
        pending: deque = deque()
        for start in range(have, n, 1000):
            k = min(1000, n - start)
            pending.append(led.append_batch(
                [("evidence.submitted", {"i": start + j}) for j in range(k)]))
            if len(pending) > 4:  # a few batches queued: the writer never waits for us
                pending.popleft().result()
            if start % 500_000 == 0 and start > have:
                rate = (start - have) / (time.perf_counter() - t0)
                print(f"  {start:,} entries ({rate:,.0f}/s, {load()})", flush=True)
        while pending:
            pending.popleft().result()
        if n > have:
            print(f"  appended {n - have:,} entries in {time.perf_counter() - t0:.0f} s",
                  flush=True)
        cp = led.sign_checkpoint_now()
        t0 = time.perf_counter()
        r = sync_tiles(led, _NoSyncStore(data / "tlog"), checkpoint=cp)
        os.sync()
        print(f"  tiles of size {cp.size:,}: {len(r.written):,} files in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    finally:
        led.close()
    done.write_text(json.dumps({"entries": n}))
    return data


def _no_sync_store(root: Path):  # type: ignore[no-untyped-def]
    from evidence.ledger.tiles_store import FilesystemTileStore

    class NoSync(FilesystemTileStore):
        """The follower's store without an fsync per file (one ``sync`` at the end): a
        benchmark's dataset, rebuilt if the machine dies while it is written."""

        def put(self, path, data, tile=None):  # type: ignore[no-untyped-def]
            final = self.file(path)
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = final.parent / f".{final.name}.tmp"
            tmp.write_bytes(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)

    return NoSync(root)


_NoSyncStore = _no_sync_store


# --- servers ------------------------------------------------------------------------------

BARE_APP = r"""
import os

ROOT = os.environ["BENCH_TILES_ROOT"]
BODY = b"x" * int(os.environ.get("BENCH_BODY", "1500"))
HEAD = [(b"content-type", b"application/octet-stream")]


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            m = await receive()
            await send({"type": m["type"] + ".complete"})
            if m["type"] == "lifespan.shutdown":
                return
    path = scope["path"]
    if path.startswith("/tlog/tile/"):  # the tile folder, read per request
        try:
            with open(ROOT + path[5:], "rb") as f:
                body, status = f.read(), 200
        except OSError:
            body, status = b"", 404
    else:  # a fixed body of a proof's size
        body, status = BODY, 200
    await send({"type": "http.response.start", "status": status,
                "headers": HEAD + [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
"""

NGINX_CONF = """
user root;
worker_processes {workers};
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {tmp}/nginx-body;
    proxy_temp_path {tmp}/nginx-proxy;
    fastcgi_temp_path {tmp}/nginx-fastcgi;
    uwsgi_temp_path {tmp}/nginx-uwsgi;
    scgi_temp_path {tmp}/nginx-scgi;
    server {{
        listen 127.0.0.1:{port};
        location /tlog/ {{ alias {root}/; default_type application/octet-stream; }}
        location / {{ return 200 "{body}"; }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    import urllib.request

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited ({proc.returncode}) before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"no answer from {url}")


AUTOGROUP_NICE: int | None = None
"""``--autogroup-nice``: the scheduling weight given to the benchmark's own session and to
each server's (see :func:`autogroup_nice`)."""


def autogroup_nice(pid: int) -> None:
    """Give ``pid``'s session (its Linux autogroup) the nice value ``--autogroup-nice``.
    With autogroups on (``/proc/sys/kernel/sched_autogroup_enabled``) the CPU is shared
    between sessions first and a process's own nice value counts only inside its session:
    on a machine where other sessions run tests, ``nice`` alone does not give the measured
    servers and wrk the CPU. Every server and wrk get the same value, so the comparison
    between them stays fair; the load average still counts the others."""
    if AUTOGROUP_NICE is not None:
        Path(f"/proc/{pid}/autogroup").write_text(f"{AUTOGROUP_NICE}\n")


class Server:
    """One server under test, started in its own session (stopped with its group)."""

    def __init__(self, name: str, cmd: list[str], port: int, env: dict[str, str] | None = None
                 ) -> None:
        self.name, self.port = name, port
        self.base = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})},
                                     start_new_session=True, preexec_fn=pinned(0),
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL if name.startswith("nginx")
                                     else None)
        autogroup_nice(self.proc.pid)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def _pids(self) -> list[int]:
        out = []
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                with contextlib.suppress(OSError):
                    if os.getsid(int(pid)) == self.proc.pid:
                        out.append(int(pid))
        return out

    def rss_mib(self) -> float:
        """The resident memory of the server's processes (its session), MiB."""
        total = 0
        for pid in self._pids():
            with contextlib.suppress(OSError, ValueError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        return total / 1024

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server's processes have used so far."""
        ticks = 0
        for pid in self._pids():
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")


def evidence_server(data: Path, workers: int, wire: bool = True) -> Server:
    port = free_port()
    srv = Server(f"evidence serve --workers {workers}" + ("" if wire else ", fast_wire off"),
                 [*EVIDENCE, "serve", "--data-dir", str(data), "--port", str(port),
                  "--workers", str(workers), "--rate", "0", "--no-access-log",
                  "--log-level", "warning", "--no-anchor"], port,
                 env={"EVIDENCE_SERVE_FAST_WIRE": "true" if wire else "false"})
    wait_up(srv.base + "/tlog/checkpoint", srv.proc)
    return srv


def bare_server(tiles: Path, workers: int, tmp: Path, body: int) -> Server:
    (tmp / "bare_app.py").write_text(BARE_APP)
    port = free_port()
    srv = Server(f"bare uvicorn handler --workers {workers}",
                 [sys.executable, "-m", "uvicorn", "bare_app:app", "--app-dir", str(tmp),
                  "--port", str(port), "--workers", str(workers), "--no-access-log",
                  "--log-level", "warning", "--http", "httptools", "--loop", "uvloop"], port,
                 env={"BENCH_TILES_ROOT": str(tiles), "BENCH_BODY": str(body)})
    wait_up(srv.base + "/tlog/tile/0/000", srv.proc)
    return srv


def nginx_server(tiles: Path, workers: int, tmp: Path, body: int) -> Server | None:
    exe = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                    else None)
    if exe is None:
        return None
    port = free_port()
    conf = tmp / f"nginx-{workers}.conf"
    conf.write_text(NGINX_CONF.format(workers=workers, tmp=tmp, port=port, root=tiles,
                                      body="x" * body))
    srv = Server(f"nginx (Debian) --workers {workers}", [exe, "-c", str(conf), "-p", str(tmp)],
                 port)
    wait_up(srv.base + "/tlog/tile/0/000", srv.proc)
    return srv


# --- the load --------------------------------------------------------------------------------

LUA_COMMON = r"""
local function enc(n)
  local groups = {}
  repeat
    table.insert(groups, 1, string.format("%03d", n % 1000))
    n = math.floor(n / 1000)
  until n == 0
  for i = 1, #groups - 1 do groups[i] = "x" .. groups[i] end
  return table.concat(groups, "/")
end
local thread_id = 0
setup = function(thread) thread_id = thread_id + 1; thread:set("seed", thread_id) end
init = function(args) math.randomseed(os.time() * 1000 + seed) end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %.3f %.3f %.3f\n", summary.requests,
    summary.duration, summary.errors.status, summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
"""


def lua_tiles(size: int, kinds: str) -> str:
    n0, n1 = size // 256, size // 65536
    paths = {"0": f'"/tlog/tile/0/" .. enc(math.random(0, {n0 - 1}))',
             "1": f'"/tlog/tile/1/" .. enc(math.random(0, {max(n1, 1) - 1}))',
             "e": f'"/tlog/tile/entries/" .. enc(math.random(0, {n0 - 1}))'}
    choices = [paths[k] for k in kinds]
    body = "\n".join(f"  {'if' if i == 0 else 'elseif'} r == {i + 1} then p = {c}"
                     for i, c in enumerate(choices))
    return LUA_COMMON + f"""
request = function()
  local r = math.random({len(choices)})
  local p
{body}
  end
  return wrk.format("GET", p)
end
"""


def lua_proofs(size: int) -> str:
    return LUA_COMMON + f"""
request = function()
  return wrk.format("GET", "/v1/log/proof/inclusion?seq=" .. math.random(0, {size - 1}))
end
"""


def wrk(base: str, script: Path, seconds: float, conns: int, threads: int) -> dict[str, float]:
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{max(1, round(seconds))}s",
           "--timeout", "10s", "-s", str(script), base]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         preexec_fn=pinned(1)).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT"))
    req, dur_us, bad_status, sock_err, p50, p99, mx = line.split()[1:]
    return {"rps": int(req) / (int(dur_us) / 1e6), "p50": float(p50), "p99": float(p99),
            "max": float(mx), "non2xx": int(bad_status), "sockerr": int(sock_err)}


def drop_caches(data: Path) -> str:
    """Empty the page cache before a cold run: all of it where permitted (root, not in a
    container), else the dataset's own pages (``posix_fadvise(DONTNEED)`` on each file of
    the ledger and the tile folder: clean pages of a file its owner may drop)."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return "page cache dropped"
    except OSError as e:
        why = e.strerror.lower() if e.strerror else str(e)
    t = time.perf_counter()
    n = 0
    for f in [*data.glob("ledger.db*"), *(p for p in (data / "tlog").rglob("*") if p.is_file())]:
        with contextlib.suppress(OSError):
            fd = os.open(f, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                n += 1
            finally:
                os.close(fd)
    return (f"drop_caches {why}; the dataset's {n:,} files evicted with fadvise in "
            f"{time.perf_counter() - t:.0f} s, page cache now {gib(meminfo()['Cached'])}")


def warm_caches(data: Path) -> str:
    """Read the dataset (the ledger's files and every tile) into the page cache before a
    warm run. Where the kernel reclaims cold pages on its own (DAMON's reclaim on some
    virtual machines: ``kdamond`` in the process list), the page cache loses the dataset
    minutes after it was read, and a "warm" run becomes a run from the disk."""
    t = time.perf_counter()
    n = 0
    for f in [*data.glob("ledger.db*"), *(p for p in (data / "tlog").rglob("*") if p.is_file())]:
        with contextlib.suppress(OSError), open(f, "rb", buffering=0) as fh:
            while fh.read(1 << 20):
                pass
            n += 1
    return (f"{n:,} dataset files read into the page cache in {time.perf_counter() - t:.0f} s, "
            f"page cache {gib(meminfo()['Cached'])}")


def before_run(data: Path, args: argparse.Namespace) -> str:
    if args.drop_caches:
        return drop_caches(data)
    if args.warm_caches:
        return warm_caches(data)
    return "page cache as it was"


# --- the report ------------------------------------------------------------------------------


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def meminfo() -> dict[str, int]:
    out = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        k, v = line.split(":", 1)
        out[k] = int(v.split()[0]) * 1024
    return out


def gib(n: float) -> str:
    return f"{n / (1 << 30):.2f} GiB"


def row(label: str, r: dict[str, float], what: str, note: str = "") -> None:
    target_rps, target_p99 = TARGETS.get(what, (None, None))
    verdict = ""
    if target_rps is not None and "evidence" in label:
        ok = r["rps"] >= target_rps and (target_p99 is None or r["p99"] <= target_p99)
        want = f">= {target_rps:,}/s" + (f", p99 <= {target_p99:g} ms" if target_p99 else "")
        verdict = f"  target {want}: {'MET' if ok else 'MISSED'}"
    errs = f", {r['non2xx']} non-2xx, {r['sockerr']} socket errors" if (
        r["non2xx"] or r["sockerr"]) else ""
    print(f"  {label:44} {r['rps']:9,.0f} req/s  p50 {r['p50']:6.2f} ms  p99 {r['p99']:7.2f} ms"
          f"{errs}{verdict}{note}", flush=True)


def measure(srv: Server, what: str, script: Path, args: argparse.Namespace, cold: str) -> None:
    first = wrk(srv.base, script, args.warmup, args.conns, args.threads)
    row(f"{srv.name}, first {args.warmup:.0f} s ({cold})", first, what + "-first")
    cpu0, t0 = srv.cpu_seconds(), time.perf_counter()
    r = wrk(srv.base, script, args.seconds, args.conns, args.threads)
    cpu = srv.cpu_seconds() - cpu0
    share = cpu / (time.perf_counter() - t0)
    per = 1e6 * cpu / max(1.0, r["rps"] * args.seconds)
    row(f"{srv.name}", r, what, f"\n  {'':44} server CPU {per:.0f} us/request, {share:.2f} cores"
        f" busy ({load()}; RSS {srv.rss_mib():.0f} MiB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", type=Path, default=Path("/var/tmp/bench10m"))
    ap.add_argument("--entries", type=int, default=10_000_000)
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=3.0,
                    help="a first run (servers just started: caches cold) before each one")
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1,
                    help="wrk threads (default 1: see the module doc)")
    ap.add_argument("--workers", type=int, action="append",
                    help="server workers (repeat; default 1 and 2)")
    ap.add_argument("--only", default="tiles,proofs,bare,nginx",
                    help="comma list of: tiles, proofs (evidence serve), bare, nginx")
    ap.add_argument("--autogroup-nice", type=int, metavar="N",
                    help="on a shared machine: give this script's session (wrk) and each "
                         "server's the autogroup nice value N (e.g. -15; root; Linux)")
    ap.add_argument("--pin", metavar="SERVER_CPUS:WRK_CPUS",
                    help="e.g. 0:1: the servers on CPU 0, wrk on CPU 1 (comma-separated lists)")
    ap.add_argument("--asgi", action="store_true",
                    help="also measure evidence serve with [serve] fast_wire = false (every "
                         "read through ASGI, as before evidence/api/hot/wire.py)")
    ap.add_argument("--kinds", default="01e",
                    help="tiles asked for: 0 level-0, 1 level-1, e entry bundles")
    ap.add_argument("--warm-caches", action="store_true",
                    help="read the dataset into the page cache before each run (where the "
                         "kernel reclaims cold pages by itself)")
    ap.add_argument("--drop-caches", action="store_true",
                    help="empty the page cache (or evict the dataset's files from it) before "
                         "each server's first run")
    args = ap.parse_args()
    only = set(args.only.split(","))
    global AUTOGROUP_NICE, PIN
    AUTOGROUP_NICE = args.autogroup_nice
    if args.pin:
        srv_cpus, _, wrk_cpus = args.pin.partition(":")
        PIN = ({int(c) for c in srv_cpus.split(",")}, {int(c) for c in wrk_cpus.split(",")})
    autogroup_nice(os.getpid())
    workers = args.workers or [1, 2]

    data = build(args.base, args.entries)
    if args.build_only:
        return
    tiles = data / "tlog"
    db = sum(p.stat().st_size for p in data.glob("ledger.db*"))
    tile_bytes = du(tiles)
    mem = meminfo()
    tmp = Path(tempfile.mkdtemp(prefix="bench-reads-"))
    (tmp / "tiles.lua").write_text(lua_tiles(args.entries, args.kinds))
    (tmp / "proofs.lua").write_text(lua_proofs(args.entries))
    import urllib.request

    print(f"\nreads of a {args.entries:,}-entry ledger: database {gib(db)}, tiles {gib(tile_bytes)}"
          f" ({args.entries // 256:,} level-0 tiles and entry bundles); RAM {gib(mem['MemTotal'])},"
          f" page cache now {gib(mem['Cached'])}, available {gib(mem['MemAvailable'])}")
    fits = db + tile_bytes < mem["MemAvailable"]
    print("  the server's own caches hold a small part of it: the upper tree nodes (height >= 8,"
          " ~1/128 of the nodes) and the last 20,000 proof bodies; the page cache "
          + ("can hold all of it on this machine" if fits else "cannot hold all of it here")
          + ("" if args.drop_caches else " (--drop-caches: start each server from a cold one)"))
    print(f"  wrk -t{args.threads} -c{args.conns} -d{args.seconds:.0f}s, random requests over the"
          f" whole tree; tiles: kinds {args.kinds!r} (0 level-0 tile 8 KiB, 1 level-1 tile, e entry"
          f" bundle); {os.cpu_count()} cores; {load()} before"
          + ("" if args.autogroup_nice is None else
             f"; servers and wrk at autogroup nice {args.autogroup_nice}")
          + ("" if PIN is None else
             f"; servers pinned to CPU {sorted(PIN[0])}, wrk to CPU {sorted(PIN[1])}"), flush=True)
    body = 0
    try:
        for w in workers:
            print(f"\n{w} worker(s):", flush=True)
            for wire in ((True, False) if args.asgi else (True,)):
                if not only & {"tiles", "proofs"}:
                    break
                cold = before_run(data, args)
                srv = evidence_server(data, w, wire)
                try:
                    if not body:
                        with urllib.request.urlopen(
                                srv.base + f"/v1/log/proof/inclusion?seq={args.entries // 3}"
                        ) as r:
                            body = len(r.read())
                    if "tiles" in only:
                        measure(srv, "tiles", tmp / "tiles.lua", args, f"cache: {cold}")
                    if "proofs" in only:
                        if (args.drop_caches or args.warm_caches) and "tiles" in only:
                            cold = before_run(data, args)
                        measure(srv, "proofs", tmp / "proofs.lua", args,
                                f"proof bodies not cached; {cold}")
                finally:
                    srv.stop()
            for kind, start in (("bare", bare_server), ("nginx", nginx_server)):
                if kind not in only:
                    continue
                cold = before_run(data, args)
                limit = start(tiles, w, tmp, body or 1500)
                if limit is None:
                    print(f"  {kind}: not installed (apt-get install nginx-light)")
                    continue
                try:
                    measure(limit, "limit-tiles", tmp / "tiles.lua", args, cold)
                    if "proofs" in only:
                        limit.name += f", fixed {body or 1500} B body"
                        measure(limit, "limit-proofs", tmp / "proofs.lua", args, "fixed body")
                finally:
                    limit.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n{load()} after; page cache {gib(meminfo()['Cached'])}")


if __name__ == "__main__":
    main()
