"""Rate limits shared by every worker of a server (evidence/api/hot/ratelimit.py).

The table in a file, mapped by each process and updated under ``flock``: refill and burst,
eviction (a new key is never refused for lack of room), many keys, corrupt or foreign files
(reinitialised, never a crash), hostile keys; real processes hammering one key (with a
frozen clock shared by all of them, the count granted is exact); and a real
``evidence serve --workers 2`` where one token gets ``--burst`` requests in all.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from evidence.api.hot.ratelimit import (
    HEADER,
    MAGIC,
    PROBE,
    SLOT,
    SLOTS,
    SharedTokenBucket,
    TokenBucket,
    key_hash,
    open_token_bucket,
)
from tests.support.api_server import make_world, problem, start_server


class Clock:
    """A clock the test moves by hand (one per test; shared across processes by value)."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def table(tmp_path: Path, rate: float = 1.0, burst: int = 3, clock: Clock | None = None,
          **kw: int) -> SharedTokenBucket:
    return SharedTokenBucket(tmp_path / "rl.bin", rate, burst, clock=clock or Clock(), **kw)


def grants(b: TokenBucket, key: str, n: int) -> int:
    return sum(b.take(key) == 0.0 for _ in range(n))


# --- the table in one process ------------------------------------------------------------


def test_in_process_bucket_is_unchanged() -> None:
    c = Clock()
    b = TokenBucket(2.0, 3, clock=c)
    assert not b.shared and b.enabled
    assert [b.take("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert math.isclose(b.take("k"), 0.5)
    c.t += 0.5
    assert b.take("k") == 0.0
    assert not TokenBucket(0, 3).enabled and TokenBucket(0, 3).take("k") == 0.0


def test_burst_then_refill_at_rate(tmp_path: Path) -> None:
    c = Clock()
    b = table(tmp_path, rate=2.0, burst=3, clock=c)
    assert b.shared and b.reinitialised and b.enabled
    assert grants(b, "tok-a", 3) == 3
    assert math.isclose(b.take("tok-a"), 0.5)  # empty: half a second to the next token
    assert b.retry_after(b.take("tok-a")) == 1
    c.t += 0.5
    assert b.take("tok-a") == 0.0 and b.take("tok-a") > 0
    c.t += 1000  # refills up to the burst, no further
    assert grants(b, "tok-a", 10) == 3
    assert grants(b, "tok-b", 10) == 3  # per key
    c.t += 0.25  # half a token each: not enough
    assert b.take("tok-b") > 0 and b.take("tok-a") > 0
    b.close()


def test_two_openers_share_buckets_like_two_workers(tmp_path: Path) -> None:
    c = Clock()
    one, two = table(tmp_path, clock=c), table(tmp_path, clock=c)
    assert one.reinitialised and not two.reinitialised
    assert [one.take("t"), two.take("t"), one.take("t")] == [0.0, 0.0, 0.0]
    assert two.take("t") > 0 and one.take("t") > 0
    c.t += 1.0
    assert two.take("t") == 0.0 and one.take("t") > 0
    one.close()
    two.close()


def test_state_survives_a_restart_with_the_same_limits_not_with_others(tmp_path: Path
                                                                       ) -> None:
    c = Clock()
    b = table(tmp_path, rate=1.0, burst=2, clock=c)
    assert grants(b, "t", 5) == 2
    b.close()
    again = table(tmp_path, rate=1.0, burst=2, clock=c)  # a restart: still empty
    assert not again.reinitialised and again.take("t") > 0
    again.close()
    other = table(tmp_path, rate=1.0, burst=5, clock=c)  # other limits: a fresh table
    assert other.reinitialised and grants(other, "t", 9) == 5
    other.close()
    faster = table(tmp_path, rate=3.0, burst=5, clock=c)
    assert faster.reinitialised and grants(faster, "t", 9) == 5
    faster.close()


def test_a_table_from_another_boot_is_reinitialised(tmp_path: Path) -> None:
    c = Clock()
    b = table(tmp_path, rate=1.0, burst=2, clock=c)
    assert grants(b, "t", 3) == 2
    b.close()
    with open(tmp_path / "rl.bin", "r+b") as f:  # the boot id: another boot's clock
        f.seek(32)
        f.write(b"\x01" * 16)
    b = table(tmp_path, rate=1.0, burst=2, clock=c)
    assert b.reinitialised and grants(b, "t", 3) == 2
    b.close()


def test_a_clock_that_steps_back_gives_no_tokens_and_no_error(tmp_path: Path) -> None:
    c = Clock(5000.0)
    b = table(tmp_path, rate=1.0, burst=2, clock=c)
    assert grants(b, "t", 3) == 2
    c.t = 10.0  # before the bucket's last refill
    assert b.take("t") > 0
    c.t = 11.0  # time runs again from there
    assert b.take("t") == 0.0 and b.take("t") > 0
    b.close()


def test_a_full_window_evicts_the_fullest_bucket_and_never_refuses_a_new_key(
        tmp_path: Path) -> None:
    c = Clock()
    # 32 slots = one probe window: every key competes for the same slots
    b = table(tmp_path, rate=1.0, burst=2, clock=c, slots=PROBE)
    keys = [f"k{i}" for i in range(PROBE)]
    for k in keys[:-1]:
        assert grants(b, k, 2) == 2  # empty
    assert grants(b, keys[-1], 1) == 1  # half full: the fullest
    assert b.take("newcomer") == 0.0  # no room: it takes the fullest key's slot
    assert all(b.take(k) > 0 for k in keys[:-1])  # the empty buckets kept their state
    assert grants(b, keys[-1], 3) == 2  # the evicted one starts again from full
    # a full window of empty buckets: a new key still goes, the oldest one makes room
    for i in range(3 * PROBE):
        assert b.take(f"more{i}") == 0.0
    b.close()


def test_many_keys_each_keep_their_own_bucket(tmp_path: Path) -> None:
    c = Clock()
    b = table(tmp_path, rate=1.0, burst=1, clock=c)  # the full-size table
    keys = [f"tok-{i:06d}" for i in range(20_000)]
    assert all(b.take(k) == 0.0 for k in keys)
    assert not any(b.take(k) == 0.0 for k in keys)  # nothing evicted, nothing shared
    b.close()
    (tmp_path / "small").mkdir()
    small = table(tmp_path / "small", rate=1.0, burst=1, clock=c, slots=1024)
    assert all(small.take(k) == 0.0 for k in keys)  # 20x the slots: never refused
    small.close()


def test_threads_of_one_process_take_exactly_the_burst(tmp_path: Path) -> None:
    b = table(tmp_path, rate=1.0, burst=100, clock=Clock())
    counts: list[int] = []

    def hammer() -> None:
        counts.append(grants(b, "one", 200))

    ts = [threading.Thread(target=hammer) for _ in range(8)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert sum(counts) == 100
    b.close()


# --- corrupt, short, foreign files --------------------------------------------------------


@pytest.mark.parametrize("content", [
    b"",
    b"x",
    b"\x00" * HEADER,
    MAGIC,
    b"\xff" * (HEADER + SLOT * PROBE),
    b"not a table at all\n" * 100_000,  # longer than the table
    b"EVRLIMIT" + b"\x00" * 100,
], ids=["empty", "one-byte", "zero-header", "magic-only", "ones", "long-text", "bad-version"])
def test_corrupt_or_short_file_is_reinitialised(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "rl.bin"
    path.write_bytes(content)
    b = table(tmp_path, rate=1.0, burst=2, slots=PROBE)
    assert b.reinitialised
    assert path.stat().st_size == HEADER + SLOT * PROBE
    assert grants(b, "t", 3) == 2
    b.close()


def test_garbage_slots_under_a_good_header_never_crash(tmp_path: Path) -> None:
    path = tmp_path / "rl.bin"
    slots = 64
    words = []
    specials = [math.nan, math.inf, -math.inf, -1.0, 1e308, -1e308, 0.0, 5e-324]
    for i in range(slots):  # keys that may or may not be ours, values of every kind
        words.append(struct.pack("<Q", key_hash(f"k{i}") if i % 2 else i * 0x9E3779B97F4A7C15
                                 % (1 << 64)))
        words.append(struct.pack("<d", specials[i % len(specials)]))
        words.append(struct.pack("<d", specials[(i * 3 + 1) % len(specials)]))
    table(tmp_path, rate=2.0, burst=3, slots=slots).close()  # the table's own header
    path.write_bytes(path.read_bytes()[:HEADER] + b"".join(words))
    c = Clock()
    b = table(tmp_path, rate=2.0, burst=3, clock=c, slots=slots)
    assert not b.reinitialised  # the header is ours: the slots are read as they are
    for i in range(3 * slots):
        w = b.take(f"k{i % (slots + 5)}")
        assert 0.0 <= w <= 0.5 and not math.isnan(w)
    for i in range(slots + 5):  # whatever was there, each bucket now works
        c.t += 10
        assert grants(b, f"k{i}", 4) == 3
    b.close()


def test_an_unusable_path_falls_back_to_buckets_per_process_and_says_so_once(
        tmp_path: Path) -> None:
    """In a fresh interpreter (the warning is said once per process)."""
    (tmp_path / "adir").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere.bin")
    (tmp_path / "file").write_text("a file where the folder should be")
    code = (
        "import logging, sys\n"
        "from pathlib import Path\n"
        "from evidence.api.hot.ratelimit import TokenBucket, open_token_bucket\n"
        "logging.basicConfig(level=logging.WARNING, format='%(name)s: %(message)s')\n"
        "for path in sys.argv[1:]:\n"
        "    b = open_token_bucket(2.0, 3, Path(path))\n"
        "    assert type(b) is TokenBucket and not b.shared and b.enabled, path\n"
        "    assert sum(b.take('t') == 0.0 for _ in range(5)) == 3, path\n"
    )
    paths = [tmp_path / "adir", tmp_path / "link", tmp_path / "file" / "rl.bin"]
    run = subprocess.run([sys.executable, "-c", code, *map(str, paths)], capture_output=True,
                         text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert not (tmp_path / "elsewhere.bin").exists()  # the symbolic link was not followed
    warnings = [line for line in run.stderr.splitlines() if "shared table" in line]
    assert len(warnings) == 1 and "per worker" in warnings[0], run.stderr
    assert warnings[0].startswith("evidence.api: ")


def test_open_token_bucket_makes_its_folder_and_no_file_when_disabled(tmp_path: Path
                                                                      ) -> None:
    b = open_token_bucket(2.0, 3, tmp_path / "run" / "rl.bin")
    assert isinstance(b, SharedTokenBucket) and b.shared
    assert (tmp_path / "run").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "run" / "rl.bin").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "run" / "rl.bin").stat().st_size == HEADER + SLOT * SLOTS
    b.close()
    off = open_token_bucket(0, 3, tmp_path / "off" / "rl.bin")
    assert not off.enabled and off.take("t") == 0.0 and not (tmp_path / "off").exists()
    with pytest.raises(ValueError):
        SharedTokenBucket(tmp_path / "x.bin", 1.0, 1, slots=100)


# --- hostile keys -------------------------------------------------------------------------


HOSTILE = ["", "\x00", "\x00\x00", "a" * 1_000_000, "tok-é", "tok-e\u0301", "🔑" * 1000,
           "\ud800", "\udfff\ud800", "tok-" + "\u202e" * 50, "\n\r\t", "1", 1, None]


def test_hostile_keys_each_get_their_own_bucket(tmp_path: Path) -> None:
    b = table(tmp_path, rate=1.0, burst=1, clock=Clock())
    assert len({key_hash(k) for k in HOSTILE}) == len(HOSTILE) - 1  # 1 and "1": one key
    assert all(key_hash(k) != 0 for k in HOSTILE)
    for k in HOSTILE:
        w = b.take(k)  # type: ignore[arg-type]
        assert w == 0.0 or k == 1  # 1 came after "1"
    assert all(b.take(k) > 0 for k in HOSTILE)  # type: ignore[arg-type]
    b.close()


# --- real processes -----------------------------------------------------------------------


def _hammer(path: str, rate: float, burst: int, frozen: float | None, n: int,
            start: multiprocessing.synchronize.Barrier, out: multiprocessing.queues.Queue
            ) -> None:
    b = (SharedTokenBucket(path, rate, burst, clock=Clock(frozen)) if frozen is not None
         else SharedTokenBucket(path, rate, burst))
    start.wait()
    out.put(grants(b, "shared-token", n))


def _run(path: Path, rate: float, burst: int, frozen: float | None, procs: int, n: int
         ) -> list[int]:
    ctx = multiprocessing.get_context("spawn")  # what uvicorn's workers are
    start, out = ctx.Barrier(procs), ctx.Queue()
    ps = [ctx.Process(target=_hammer, args=(str(path), rate, burst, frozen, n, start, out))
          for _ in range(procs)]
    [p.start() for p in ps]
    counts = [out.get(timeout=120) for _ in ps]
    [p.join(timeout=60) for p in ps]
    assert all(p.exitcode == 0 for p in ps)
    return counts


def test_processes_with_one_frozen_clock_take_exactly_burst_then_rate(tmp_path: Path
                                                                       ) -> None:
    path = tmp_path / "rl.bin"
    # per-process buckets would grant 4 x 10 here
    assert sum(_run(path, 2.0, 10, 1000.0, procs=4, n=60)) == 10
    assert sum(_run(path, 2.0, 10, 1000.0, procs=4, n=60)) == 0  # still empty
    assert sum(_run(path, 2.0, 10, 1002.5, procs=4, n=60)) == 5  # 2.5 s at 2/s
    assert sum(_run(path, 2.0, 10, 9999.0, procs=4, n=60)) == 10  # full again, no more


def test_processes_on_the_real_clock_stay_within_burst_plus_rate_times_elapsed(
        tmp_path: Path) -> None:
    rate, burst, procs, n = 20.0, 10, 4, 400
    t0 = time.monotonic()
    counts = _run(tmp_path / "rl.bin", rate, burst, None, procs, n)
    elapsed = time.monotonic() - t0
    assert burst <= sum(counts) <= burst + rate * elapsed + 1e-9, (counts, elapsed)


_HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
print("holding", flush=True)
time.sleep(600)
"""


def test_a_process_killed_holding_the_lock_does_not_wedge_the_others(tmp_path: Path
                                                                      ) -> None:
    b = table(tmp_path, rate=1.0, burst=2, clock=Clock())
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(tmp_path / "rl.bin")],
                              stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"holding\n"
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(b.take, "t")  # blocks on the lock ...
            os.kill(holder.pid, signal.SIGKILL)  # ... until the kernel releases it
            assert waiting.result(timeout=60) == 0.0
    finally:
        holder.kill()
        holder.wait()
    assert b.take("t") == 0.0 and b.take("t") > 0
    b.close()


# --- a real server with two workers --------------------------------------------------------


def _workers_mapping(server_pid: int, name: str) -> list[int]:
    """The server's processes that have the table ``name`` mapped."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == server_pid and name in (d / "maps").read_text():
                found.append(int(d.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")
def test_two_workers_give_one_token_burst_requests_in_all(tmp_path: Path) -> None:
    world = make_world(tmp_path / "data")
    # 0.001/s: about one more request in 1000 s, so the count is exact for this test
    srv = start_server(world, "--rate", "0.001", "--burst", "3", workers=2)
    try:
        # /health answered from one worker; wait for the other to open the table too
        deadline = time.monotonic() + 60
        while (len(_workers_mapping(srv.proc.pid, "ratelimit-v1.bin")) < 2
               and time.monotonic() < deadline):
            time.sleep(0.05)
        assert len(_workers_mapping(srv.proc.pid, "ratelimit-v1.bin")) == 2

        def me(_: int) -> int:  # a connection each: the two workers accept by turns
            with srv.client("auditor") as c:
                return c.get("/v1/me").status_code

        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(me, range(24)))
        assert sorted(codes) == [200] * 3 + [429] * 21, codes
        with srv.client("auditor") as c:
            r = c.get("/v1/me")
            problem(r, 429, "rate-limited")
            assert 900 <= int(r.headers["retry-after"]) <= 1000
        with srv.client("judge") as c:  # per token: another token has its own bucket
            assert [c.get("/v1/me").status_code for _ in range(4)] == [200, 200, 200, 429]
        log = srv.log.read_text()
        assert "shared table" not in log  # no fall-back to buckets per worker
    finally:
        srv.stop()
