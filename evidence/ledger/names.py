"""Names unique across the processes of one host: the one home of fork-sensitive state.

Temporary upload and blob files are named by a per-process random prefix and a counter, so
that no two workers (forked from one parent by uvicorn or the audit pool) pick the same name.
A forked child inherits its parent's prefix and counter; :func:`reseed_after_fork` gives it
its own, and is registered with ``os.register_at_fork`` here, once, for every caller. Callers
still create each name exclusively (O_EXCL) and retry on a clash: uniqueness here only keeps
clashes rare.
"""

from __future__ import annotations

import itertools
import os
import secrets

__all__ = ["reseed_after_fork", "unique_name"]

_prefix = secrets.token_hex(6)
_counter = itertools.count()


def unique_name() -> str:
    """A name no other process on this host is expected to use: prefix + hex counter."""
    return f"{_prefix}{next(_counter):x}"


def reseed_after_fork() -> None:
    """Give this process its own prefix and a fresh counter (a forked child must not repeat
    its parent's names)."""
    global _prefix, _counter
    _prefix, _counter = secrets.token_hex(6), itertools.count()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=reseed_after_fork)
