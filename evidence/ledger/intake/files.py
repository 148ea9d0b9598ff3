"""The submitter's files as intake meets them: opened safely, or walked for ``--each``.

Nothing here trusts a path: a FIFO must not block the import, a device or socket is no
evidence file, an empty file preserves nothing, and a symbolic link inside a folder
given to ``--each`` must not lead out of it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path


class FileRefused(Exception):
    """This path cannot be an evidence file; the message says why (for a FileFailure)."""


def open_regular(path: Path) -> tuple[int, os.stat_result]:
    """Open ``path`` for reading without blocking on a FIFO; refuse anything not a
    non-empty regular file (:class:`FileRefused`). Returns the descriptor (blocking) and
    its ``fstat``: what is read is what was checked."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except IsADirectoryError:
        raise FileRefused("is a directory, not a file") from None
    except FileNotFoundError:
        reason = "is a dangling symbolic link" if path.is_symlink() else "does not exist"
        raise FileRefused(reason) from None
    except OSError as e:
        raise FileRefused(f"cannot be read: {e.strerror or e}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        what = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(
            st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "a device")
        raise FileRefused(f"is {what}, not a regular file" if what != "a directory"
                          else "is a directory, not a file")
    if st.st_size == 0:
        os.close(fd)
        raise FileRefused("is empty (0 bytes): nothing to preserve")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return fd, st


def expand_each(paths: Sequence[str | os.PathLike[str]]
                ) -> Iterator[tuple[Path, str | None]]:
    """Every file given, and every file under every folder given (recursively), as
    ``(path, None)``; or ``(path, reason)`` for one that cannot be an item. Symbolic links
    inside a folder are followed only to regular files inside the same folder."""
    for raw in paths:
        p = Path(raw)
        if p.is_dir() and not p.is_symlink():
            yield from _walk(p)
        else:
            yield p, None  # a named file: checked when it is submitted


def _walk(top: Path) -> Iterator[tuple[Path, str | None]]:
    root = top.resolve()

    def onerror(e: OSError) -> None:
        errors.append((Path(e.filename or top), f"cannot be listed: {e.strerror or e}"))

    errors: list[tuple[Path, str]] = []
    for d, dirnames, filenames in os.walk(top, onerror=onerror, followlinks=False):
        yield from errors
        errors.clear()
        dirnames.sort()
        for name in list(dirnames):
            full = Path(d) / name
            if full.is_symlink():
                dirnames.remove(name)
                yield full, "is a symbolic link to a folder: not followed"
        for name in sorted(filenames):
            full = Path(d) / name
            if full.is_symlink():
                try:
                    target = full.resolve(strict=True)
                except (OSError, RuntimeError):
                    yield full, "is a dangling symbolic link"
                    continue
                if not target.is_relative_to(root):
                    yield full, "is a symbolic link out of the folder: not followed"
                    continue
            yield full, None
    yield from errors
