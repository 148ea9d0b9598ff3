"""How the ledger's worker processes start (the audit's spans, bulk import's items)."""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import threading


def worker_context() -> multiprocessing.context.BaseContext:
    """Fork when this process runs no other thread (``evidence audit``, ``submit --each``):
    a worker is ready in milliseconds instead of the ~0.3 s a fresh interpreter takes to
    import us. With other threads (a server's sequencer, say) a forked child could inherit
    a lock held mid-operation: spawn a clean interpreter then. Workers open their own
    connections either way (docs/decisions.md D9)."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")
