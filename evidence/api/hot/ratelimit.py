"""Per-token rate limits: a token bucket per API token, shared by every worker of a server.

:class:`SharedTokenBucket` keeps the buckets in a small table in a file
(``<data-dir>/run/ratelimit-v1.bin``) that every worker process maps into memory, so a
token gets ``--rate`` requests per second from the whole server, not from each worker.
Each :meth:`~SharedTokenBucket.take` holds an exclusive ``flock`` on the file for a few
microseconds (look up the slot, refill, take). :func:`open_token_bucket` falls back to
:class:`TokenBucket` (buckets in this process's memory) when the file cannot be used,
and logs why once. Every process that maps the table together gives a token exactly
``burst`` requests at once, then ``rate`` a second: tests/api/test_ratelimit_shared.py.

The table: a 64-byte header (magic, version, slot count, rate, burst, boot id), then a
fixed number of 24-byte slots ``(key, level, last)``: ``key`` a 64-bit BLAKE2b hash of the
token id (0 = empty), ``level`` the tokens in the bucket, ``last`` when it was last
refilled, by ``time.monotonic()`` (CLOCK_MONOTONIC: one clock for every process since
boot, so the boot id is part of the header). Slots are found by linear probing within a
window of :data:`PROBE` slots; no slot is ever emptied, only reused, so a search may stop
at the first empty slot. When a new key finds its window full it takes the slot whose
bucket is fullest once refilled (a full bucket is the same as no bucket, so that eviction
loses nothing unless every bucket in the window is in use): a new key is never refused
for lack of room. A header that does not match this server (another version, rate, burst
or boot) or a file of the wrong size is reinitialised under the lock when a worker opens
it, so state from an earlier run with other limits is never carried over.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import struct
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from pathlib import Path

log = logging.getLogger("evidence.api")

MAGIC = b"EVRLIMIT"
VERSION = 1
SLOTS = 1 << 16  # 1.5 MiB; buckets refill to full in burst/rate seconds, then cost nothing
PROBE = 32  # slots searched for a key before the fullest of them is reused
HEADER = 64
SLOT = 24
_HEAD = struct.Struct("<8sII dd 16s")  # magic, version, slots, rate, burst, boot id
_WORDS = HEADER // 8  # the header in 8-byte words: slot i starts at word _WORDS + 3 * i

_warned = False


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; :meth:`take` answers the wait in seconds
    (0 when the request may go now). Buckets live in this process's memory."""

    def __init__(self, rate: float, burst: int, *, max_keys: int = 100_000,
                 clock=time.monotonic) -> None:  # type: ignore[no-untyped-def]
        self.rate = float(rate)
        self.burst = max(1, int(burst))
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._max_keys = max_keys
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    @property
    def shared(self) -> bool:
        """True when the buckets are shared by every worker of the server."""
        return False

    def take(self, key: str) -> float:
        if not self.enabled:
            return 0.0
        now = self._clock()
        with self._lock:
            level, last = self._buckets.pop(key, (float(self.burst), now))
            level = min(float(self.burst), level + (now - last) * self.rate)
            if level >= 1.0:
                self._buckets[key] = (level - 1.0, now)
                wait = 0.0
            else:
                self._buckets[key] = (level, now)
                wait = (1.0 - level) / self.rate
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        return wait

    @staticmethod
    def retry_after(wait: float) -> int:
        """The ``Retry-After`` header value (whole seconds, at least 1)."""
        return max(1, math.ceil(wait))


class SharedTokenBucket(TokenBucket):
    """A :class:`TokenBucket` whose buckets are in the table at ``path``, shared by every
    process that opens the same file with the same rate and burst.

    Raises :class:`OSError` when the file cannot be created, locked or mapped (the caller
    decides whether to fall back: see :func:`open_token_bucket`). ``slots`` and ``clock``
    are for tests (the clock must be one clock for every process using the file).

    Each process opens its own: the lock is on the open file, so a child forked after the
    open would share its parent's lock rather than wait for it (the API's worker
    processes are started by uvicorn, each opening the table when its app starts)."""

    def __init__(self, path: str | os.PathLike[str], rate: float, burst: int, *,
                 slots: int = SLOTS, clock=time.monotonic) -> None:  # type: ignore[no-untyped-def]
        import fcntl
        import mmap

        super().__init__(rate, burst, clock=clock)
        if slots < PROBE or slots & (slots - 1):
            raise ValueError(f"slots must be a power of two >= {PROBE}, not {slots}")
        self.path = Path(path)
        self._hashes: dict[str, int] = {}  # token id -> key_hash, so a take hashes no more
        self._mask = slots - 1
        self._size = HEADER + SLOT * slots
        self._flock, self._ex, self._un = fcntl.flock, fcntl.LOCK_EX, fcntl.LOCK_UN
        self._head = _HEAD.pack(MAGIC, VERSION, slots, self.rate, float(self.burst),
                                _boot_id())
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            self._flock(fd, self._ex)
            try:
                self.reinitialised = self._check(fd)
                mm = mmap.mmap(fd, self._size, mmap.MAP_SHARED,
                               mmap.PROT_READ | mmap.PROT_WRITE)
            finally:
                self._flock(fd, self._un)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._q = memoryview(mm).cast("Q")  # the same bytes as 64-bit keys ...
        self._d = memoryview(mm).cast("d")  # ... and as doubles (levels, times)
        self._finalizer = weakref.finalize(self, _close, fd, mm, self._q, self._d)

    @property
    def shared(self) -> bool:
        return True

    def _check(self, fd: int) -> bool:
        """Under the lock: make the file a table for this server if it is not one (wrong
        size, wrong header, short or corrupt). True if it was (re)initialised."""
        st = os.fstat(fd)
        if st.st_size == self._size and os.pread(fd, len(self._head), 0) == self._head:
            return False
        # Every user of the file reads and writes it only under the lock, so cutting it to
        # nothing and back (all slots empty, the file sparse) is safe for mapped processes.
        os.ftruncate(fd, 0)
        os.ftruncate(fd, self._size)
        if os.pwrite(fd, self._head, 0) != len(self._head):
            raise OSError(f"{self.path}: short write of the rate-limit table's header")
        return True

    def close(self) -> None:
        self._finalizer()

    def take(self, key: str) -> float:
        rate = self.rate
        if not rate > 0:
            return 0.0
        burst = float(self.burst)
        h = self._hashes.get(key)
        if h is None:
            h = key_hash(key)
            if isinstance(key, str) and len(key) <= 256:  # token ids are short
                if len(self._hashes) >= 4096:
                    self._hashes.clear()
                self._hashes[key] = h
        q, d, mask = self._q, self._d, self._mask
        i = h & mask
        with self._lock:  # flock does not exclude this process's other threads
            self._flock(self._fd, self._ex)
            try:
                now = self._clock()
                for _ in range(PROBE):
                    w = _WORDS + 3 * i
                    k = q[w]
                    if k == h:
                        level, elapsed = d[w + 1], now - d[w + 2]
                        if not 0.0 <= level <= burst:  # a torn or foreign value (or NaN)
                            level = burst
                        if elapsed > 0.0:  # (not on a clock step back, nor on NaN)
                            level = min(burst, level + elapsed * rate)
                        break
                    if k == 0:  # never used: the key is not in the table
                        level = burst
                        break
                    i = (i + 1) & mask
                else:
                    w, level = self._victim(h & mask, now, rate, burst)
                    k = 0
                if level >= 1.0:
                    level -= 1.0
                    wait = 0.0
                else:
                    wait = (1.0 - level) / rate
                d[w + 1] = level  # the values before the key: a crash between leaves the
                d[w + 2] = now  # old key with the new values, never a key with garbage
                if k != h:
                    q[w] = h
            finally:
                self._flock(self._fd, self._un)
        return wait

    def _victim(self, i: int, now: float, rate: float, burst: float) -> tuple[int, float]:
        """The slot in the window from ``i`` whose bucket is fullest once refilled (the
        oldest among equals): its word index, and a new key's level (a full bucket)."""
        d, mask = self._d, self._mask
        best, best_level, best_last = -1, -1.0, math.inf
        for _ in range(PROBE):
            w = _WORDS + 3 * i
            level, last = d[w + 1], d[w + 2]
            if not 0.0 <= level <= burst:
                level = burst
            if now - last > 0.0:
                level = min(burst, level + (now - last) * rate)
            if level > best_level or (level == best_level and last < best_last):
                best, best_level, best_last = w, level, last
            i = (i + 1) & mask
        return best, burst


def key_hash(key: object) -> int:
    """The table's 64-bit key for a token id (never 0, which marks an empty slot). Any
    string hashes, however long, whatever its characters (lone surrogates included)."""
    raw = (key if isinstance(key, str) else str(key)).encode("utf-8", "surrogatepass")
    h = int.from_bytes(hashlib.blake2b(raw, digest_size=8, person=b"evidence-rl").digest(),
                       "little")
    return h or 1


def open_token_bucket(rate: float, burst: int, path: str | os.PathLike[str] | None
                      ) -> TokenBucket:
    """The server's limiter: shared through the table at ``path`` (its folder made 0700
    if missing), or, if that cannot be used, this process's own buckets (logged once: a
    token then gets ``rate`` from each worker)."""
    global _warned
    if rate <= 0 or path is None:
        return TokenBucket(rate, burst)
    try:
        Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return SharedTokenBucket(path, rate, burst)
    except (OSError, ValueError, ImportError) as e:
        if not _warned:
            _warned = True
            log.warning("rate limits: cannot use the shared table %s (%s); each worker "
                        "process keeps its own buckets, so a token may reach its rate once "
                        "per worker", path, e)
        return TokenBucket(rate, burst)


def _close(fd: int, mm, *views: memoryview) -> None:  # type: ignore[no-untyped-def]
    for v in views:
        v.release()
    mm.close()
    os.close(fd)


def _boot_id() -> bytes:
    """This boot's id (Linux), so that a table written before a reboot, whose times are
    on another CLOCK_MONOTONIC, is reinitialised; 16 zero bytes where there is none."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return uuid.UUID(f.read().strip()).bytes
    except (OSError, ValueError):
        return bytes(16)
