"""Group durability for many concurrent small writes: one ``syncfs`` serves them all.

Each ``fsync`` of a small file costs a journal commit (milliseconds on real
disks), and a blob needs several (file, directory, new fan-out directories).
When many blobs are written at once, as in a bulk import, one ``syncfs(2)`` of
the filesystem makes all of them durable together: the same trick as a
database's group commit. :meth:`GroupSync.wait` returns only after a flush that
*started after the caller's writes* has completed, so every caller is durable
when it returns; callers that arrive while a flush runs share the next one.

``syncfs`` is Linux-only (glibc); elsewhere :func:`make_flusher` falls back to
``os.sync``, which is correct but flushes every filesystem.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from collections.abc import Callable
from pathlib import Path


def make_flusher(root: Path) -> Callable[[], None]:
    """A function that makes everything written under ``root`` durable."""
    libc_name = ctypes.util.find_library("c")
    syncfs = None
    if libc_name:
        try:
            syncfs = ctypes.CDLL(libc_name, use_errno=True).syncfs
        except (OSError, AttributeError):
            syncfs = None
    if syncfs is None:
        return os.sync

    def flush() -> None:
        fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            if syncfs(fd) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"syncfs failed: {os.strerror(err)}")
        finally:
            os.close(fd)

    return flush


class GroupSync:
    """Share one flush among every caller waiting at the same time."""

    def __init__(self, flush: Callable[[], None]) -> None:
        self._flush = flush
        self._cond = threading.Condition()
        self._requested = 0  # tickets handed out
        self._done = 0  # every ticket <= this is durable
        self._running = False

    def wait(self) -> None:
        """Return once everything this thread wrote before the call is durable."""
        with self._cond:
            self._requested += 1
            ticket = self._requested
            while self._done < ticket:
                if self._running:
                    self._cond.wait()
                    continue
                # Lead a flush for every ticket issued so far (they all wrote before it starts).
                self._running = True
                target = self._requested
                self._cond.release()
                try:
                    self._flush()
                except BaseException:
                    # Waiters retry with a flush of their own; this caller sees the error.
                    self._cond.acquire()
                    self._running = False
                    self._cond.notify_all()
                    raise
                self._cond.acquire()
                self._running = False
                self._done = max(self._done, target)
                self._cond.notify_all()
