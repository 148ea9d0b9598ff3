"""How the ledger's worker processes start (the audit's spans, bulk import's items), and
how a background loop that must run once per data directory (the scrubber, the tiles
follower) is held to one among a server's workers."""

from __future__ import annotations

import fcntl
import multiprocessing
import multiprocessing.context
import threading
from typing import IO


def worker_context() -> multiprocessing.context.BaseContext:
    """Fork when this process runs no other thread (``evidence audit``, ``submit --each``):
    a worker is ready in milliseconds instead of the ~0.3 s a fresh interpreter takes to
    import us. With other threads (a server's sequencer, say) a forked child could inherit
    a lock held mid-operation: spawn a clean interpreter then. Workers open their own
    connections either way (docs/decisions.md D9)."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def wait_for_lock(lock: IO[bytes], stop: threading.Event, pause: float) -> bool:
    """Take ``lock`` (an open file under the data directory's ``run/``) exclusively,
    trying again every ``pause`` seconds, so that one worker of a server runs the loop
    and another takes over when that one dies (the kernel drops a dead process's lock).
    False when ``stop`` was set first."""
    while not stop.is_set():
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            stop.wait(pause)
    return False
