#!/usr/bin/env python
"""Listing pages on a ledger of 1 M items (run by hand, not in CI; take the shared lock):

    flock /tmp/bench.lock .venv/bin/python scripts/bench_list.py [--items 1000000]

Creates a SQLite ledger in a temporary directory, then writes ``--items`` rows straight
into ``evidence_items`` and ``entries`` (synthetic: 50 cases drawn at random, a third of
the items ``web``, the rest ``document``, 100 entries a second of log time), which is
what the listing reads; no files, no signatures. A submitter is a member of two of the
cases. Prints the best of three for each page of ``evidence.ledger.listing.list_items``
and the load average, then removes the directory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from evidence.ledger import listing
from evidence.ledger.access import AccessControl, Principal
from evidence.ledger.log import Ledger

CASES = [f"case-{i}" for i in range(50)]


def log_time(seq: int) -> str:
    s = seq // 100
    return (f"2026-01-{1 + s // 86400:02d}T{(s // 3600) % 24:02d}:{(s // 60) % 60:02d}:"
            f"{s % 60:02d}.{seq % 100:06d}Z")


def fill(d: Path, n: int) -> None:
    led = Ledger.create(d, "bench.example/log", checkpoint_interval=3600)
    ac = AccessControl(led)
    for c in CASES:
        ac.add_case(c)
    ac.add_principal("p", "submitter")
    ac.add_member("case-1", "p")
    ac.add_member("case-7", "p")
    led.close()
    rnd = random.Random(1)
    db = sqlite3.connect(d / "ledger.db")
    db.executemany(
        "INSERT INTO evidence_items VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        ((f"ev_{s:026d}", s, "web" if s % 3 == 0 else "document", rnd.choice(CASES), "p",
          log_time(s), "0" * 64,
          json.dumps({"title": f"item {s}", "stated": {"source_url": f"https://s.example/{s}"}})
          .encode(), b"s" * 32, "receipt", None, None, None) for s in range(n)))
    db.executemany("INSERT INTO entries (seq, leaf_hash, type, time, data) VALUES (?,?,?,?,?)",
                   ((s, os.urandom(32), "evidence.submitted", log_time(s), b"{}")
                    for s in range(n)))
    db.commit()
    db.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=1_000_000)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-list-"))
    try:
        d = root / "data"
        t0 = time.perf_counter()
        fill(d, args.items)
        print(f"filled {args.items} items in {time.perf_counter() - t0:.1f} s")
        led = Ledger.open(d, read_only=True)
        member = Principal("p", "submitter", "p")
        all_f = listing.list_filter()
        runs = [
            ("member of 2 cases, first page, limit 50", member, all_f, None, 50),
            ("member of 2 cases, page after entry 500000", member, all_f,
             listing.encode_cursor(args.items // 2, all_f), 50),
            ("member of 2 cases, limit 500", member, all_f, None, 500),
            ("one case, kind web", member, listing.list_filter(case="case-7", kind="web"),
             None, 50),
            ("one hour of log time (binary search)", member,
             listing.list_filter(since="2026-01-01T01:00:00Z", until="2026-01-01T02:00:00Z"),
             None, 50),
            ("q matching nothing (5,000 rows examined)", member,
             listing.list_filter(q="zzz"), None, 50),
            ("operator, every case, limit 500", None, all_f, None, 500),
        ]
        for label, who, f, cursor, limit in runs:
            best = float("inf")
            for _ in range(3):
                t = time.perf_counter()
                page = listing.list_items(led, who, f, cursor=cursor, limit=limit)
                best = min(best, time.perf_counter() - t)
            print(f"{label:45s} {best * 1000:8.1f} ms  ({len(page.items)} items, "
                  f"{'a' if page.next_cursor else 'no'} cursor)")
        led.close()
        print("load average", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
