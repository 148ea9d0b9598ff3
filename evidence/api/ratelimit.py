"""Per-token rate limits: a token bucket per API token, in this process's memory.

With ``--workers N`` each worker keeps its own buckets (a client may reach N times the
rate); that is the documented trade-off for not writing to the database on every request.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; :meth:`take` answers the wait in seconds
    (0 when the request may go now)."""

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
