#!/usr/bin/env python3
"""Web capture benchmark (issue 14 point 8; run by hand, not by CI).

A typical page, generated here (one HTML page with 4 stylesheets, 5 scripts and 20
images: about 1 MB in 30 resources), is served on loopback and captured and preserved
end to end by ``evidence capture URL --case C --allow-private`` on a fresh data
directory, as an operator would run it: a new process each time (Python start, the
browser, WARC/WACZ, screenshot, PDF, DOM, HAR, signed manifest, intake into the
ledger). Printed beside the target (at most 10 s a capture):

* the machine's limit, measured in the same run: a process that only starts Playwright's
  Chromium, loads the same page and takes a full-page screenshot (no recording, no PDF,
  no ledger), which every capture has to do anyway;
* four captures at once (separate processes, the same data directory): failures (must be
  0) and each one's seconds;
* peak memory per capture: the largest sum of RSS over the capture process and all its
  descendants (Chromium's processes included), sampled from /proc every 50 ms.

    .venv/bin/python scripts/bench_capture.py [--runs 3] [--parallel 4]
        [--chromium /usr/bin/chromium] [--dir /var/tmp]

No TSA or witness is configured on the fresh data directory, so no timestamp or
cosignature is fetched: those go over the network after the entry and do not hold the
capture up.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import random
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 10.0
CLI = [sys.executable, "-c", "from evidence.cli.main import main; main()"]

BASELINE = r"""
import sys, time
from playwright.sync_api import sync_playwright
t0 = time.perf_counter()
with sync_playwright() as p:
    b = p.chromium.launch(executable_path=sys.argv[2], headless=True)
    page = b.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(sys.argv[1], wait_until="load")
    png = page.screenshot(full_page=True)
    b.close()
print(time.perf_counter() - t0, len(png))
"""


# --- the page --------------------------------------------------------------------------------


def _png(rng: random.Random, w: int, h: int) -> bytes:
    """A noise PNG: incompressible, so its size on the wire is what a photo's would be."""
    raw = b"".join(b"\0" + rng.randbytes(w * 3) for _ in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b""))


def make_site(root: Path) -> tuple[int, int]:
    """Write the page and its 29 resources; return (resources, bytes)."""
    rng = random.Random(14)
    words = ["counterfeit", "listing", "price", "shipping", "seller", "brand", "original",
             "warranty", "reviews", "商品", "价格", "店铺", "正品", "发货", "评价"]

    def text(n: int) -> str:
        return " ".join(rng.choice(words) for _ in range(n))

    for i in range(4):
        rules = "\n".join(f".c{i}-{j} {{ margin: {j % 7}px; color: #{rng.randrange(1 << 24):06x}; "
                          f"font-size: {10 + j % 9}px; }} /* {text(8)} */" for j in range(160))
        (root / f"s{i}.css").write_text(rules, encoding="utf-8")
    for i in range(5):
        body = "\n".join(f"function f{i}_{j}(a) {{ var s = {json.dumps(text(12))}; "
                         f"return a + s.length * {j}; }}" for j in range(330))
        (root / f"a{i}.js").write_text(body + f"\ndocument.title += ' {i}';\n",
                                       encoding="utf-8")
    for i in range(20):
        (root / f"i{i}.png").write_bytes(_png(rng, 120, 100))
    head = "".join(f'<link rel="stylesheet" href="s{i}.css">' for i in range(4))
    scripts = "".join(f'<script src="a{i}.js"></script>' for i in range(5))
    items = "".join(f'<div class="c0-{i}"><img src="i{i}.png" width="240" height="200" '
                    f'alt="item {i}"><p>{text(60)}</p></div>' for i in range(20))
    (root / "index.html").write_text(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>'
        f"{head}</head><body><h1>Item 42</h1>{items}<p>{text(800)}</p>{scripts}</body></html>",
        encoding="utf-8")
    files = list(root.iterdir())
    return len(files), sum(f.stat().st_size for f in files)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a: object) -> None:
        pass

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


def serve(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                          functools.partial(_Quiet, directory=str(root)))
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}/index.html"


# --- measuring a process tree ----------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def _mem_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process. Chromium's processes share most of their pages, so the
    sum of their RSS counts those pages once per process; PSS shares them out."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def run_tree(cmds: list[list[str]], env: dict[str, str]) -> list[dict[str, Any]]:
    """Start every command at once; return each one's seconds, exit status, output, CPU
    seconds of its whole tree (wait4: descendants reaped by their parents count) and peak
    tree RSS and PSS (MiB)."""
    t0 = time.perf_counter()
    res: list[dict[str, Any]] = [{"rss": 0, "pss": 0} for _ in cmds]
    procs = []
    for c, r in zip(cmds, res, strict=True):
        r["errfile"] = tempfile.TemporaryFile()  # noqa: SIM115 (closed below)
        procs.append(subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=r["errfile"]))
    readers = []
    for p, r in zip(procs, res, strict=True):
        def read(p: subprocess.Popen[bytes] = p, r: dict[str, Any] = r) -> None:
            assert p.stdout is not None
            r["stdout"] = p.stdout.read().decode()
            _, status, ru = os.wait4(p.pid, 0)
            r["seconds"] = time.perf_counter() - t0
            r["rc"] = os.waitstatus_to_exitcode(status)
            p.returncode = r["rc"]
            r["cpu"] = ru.ru_utime + ru.ru_stime
        readers.append(threading.Thread(target=read, daemon=True))
        readers[-1].start()
    while any("seconds" not in r for r in res):
        kids = _children()
        for p, r in zip(procs, res, strict=True):
            if "seconds" in r:
                continue
            rss = pss = 0
            todo = [p.pid]
            while todo:
                pid = todo.pop()
                a, b = _mem_kib(pid)
                rss, pss = rss + a, pss + b
                todo += kids.get(pid, [])
            r["rss"], r["pss"] = max(r["rss"], rss), max(r["pss"], pss)
        time.sleep(0.05)
    for t in readers:
        t.join()
    for r in res:
        r["errfile"].seek(0)
        with r.pop("errfile") as f:
            r["stderr"] = f.read().decode(errors="replace")
        r["rss"], r["pss"] = r["rss"] / 1024, r["pss"] / 1024
    return res


# --- the benchmark ---------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="single captures (and baselines)")
    ap.add_argument("--parallel", type=int, default=4, help="captures at once")
    ap.add_argument("--chromium", default=os.environ.get("EVIDENCE_CHROMIUM",
                                                         "/usr/bin/chromium"))
    ap.add_argument("--dir", default=None, help="working directory (default: system temp)")
    a = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-capture-", dir=a.dir))
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    for k in ("EVIDENCE_BLOB_STORE", "EVIDENCE_MAX_FILE_SIZE", "EVIDENCE_DB_URL",
              "EVIDENCE_CAPTURE_KEY", "EVIDENCE_DATA_DIR"):
        env.pop(k, None)
    env["EVIDENCE_CHROMIUM"] = a.chromium
    try:
        site = work / "site"
        site.mkdir()
        n, size = make_site(site)
        srv, url = serve(site)
        data = str(work / "data")
        subprocess.run([*CLI, "init", "--data-dir", data, "--origin", "bench.example/log"],
                       env=env, check=True, capture_output=True)
        subprocess.run([*CLI, "keygen", "bench.example/capture-node", "-o",
                        str(Path(data) / "capture-node.key")], env=env, check=True,
                       capture_output=True)
        load = os.getloadavg()
        print(f"page: {n} resources, {size / 1e6:.2f} MB at {url}")
        print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} at start "
              "(shared with other sessions' tests: figures under load are upper bounds)")
        capture = [*CLI, "capture", url, "--case", "bench", "--allow-private",
                   "--data-dir", data, "--json"]
        baseline = [sys.executable, "-c", BASELINE, url, a.chromium]

        def check(r: dict[str, Any], what: str) -> bool:
            ok = r["rc"] == 0
            if ok and what == "capture":
                ok = json.loads(str(r["stdout"]).splitlines()[-1]).get("ok") is True
            if not ok:
                print(f"  FAILED {what}: rc {r['rc']}: {str(r['stderr'])[-600:]}")
            return ok

        base, single, fails = [], [], 0
        for _ in range(a.runs):  # alternate, so that load changes hit both alike
            (b,) = run_tree([baseline], env)
            fails += not check(b, "baseline")
            base.append(b)
            (c,) = run_tree([capture], env)
            fails += not check(c, "capture")
            single.append(c)
        par = run_tree([capture] * a.parallel, env)
        pfails = sum(not check(r, "capture") for r in par)
        load_end = os.getloadavg()
        srv.shutdown()

        def secs(rs: list[dict[str, Any]], key: str = "seconds", digits: int = 1) -> str:
            return ", ".join(f"{r[key]:.{digits}f}" for r in rs)

        def mem(rs: list[dict[str, Any]]) -> str:
            return f"RSS sum [{secs(rs, 'rss', 0)}] MiB, PSS sum [{secs(rs, 'pss', 0)}] MiB"

        med_c = statistics.median(r["seconds"] for r in single)
        med_b = statistics.median(r["seconds"] for r in base)
        print(f"\nlimit (Chromium alone: launch, load, full-page screenshot; new process): "
              f"median {med_b:.1f} s [{secs(base)}], CPU s [{secs(base, 'cpu')}]; "
              f"{mem(base)}")
        print(f"capture + preserve (`evidence capture`, new process): median {med_c:.1f} s "
              f"[{secs(single)}] (target <= {TARGET_S:.0f} s: "
              f"{'met' if med_c <= TARGET_S else 'NOT met'}; {med_c / med_b:.1f}x the limit); "
              f"CPU s [{secs(single, 'cpu')}]; peak {mem(single)}")
        print(f"{a.parallel} captures at once: failures {pfails} (must be 0); seconds "
              f"[{secs(par)}] (wall {max(r['seconds'] for r in par):.1f} s); CPU s "
              f"[{secs(par, 'cpu')}]; peak per capture tree {mem(par)}")
        print(f"single-run failures: {fails}; load average at end {load_end[0]:.1f}")
        if fails or pfails:
            sys.exit(1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
