"""Copy a stream into a file descriptor and hash the same bytes, in one pass.

Small blobs (most evidence) take the plain path: 1 MiB reads, hash, ``os.write``.

A blob that grows past :data:`LARGE_BLOB` switches to the large path, built for one
thing: the speed of the slower of SHA-256 and the disk, with flat memory.

* :data:`BUFFERS` page-aligned buffers of :data:`BUFFER_SIZE` bytes, reused (``readinto``
  a memoryview: no new bytes object per chunk);
* one thread reads, one hashes, one writes (``readinto``, ``hashlib`` and ``os.write``
  all release the GIL on large buffers), so the copy takes about as long as the slowest
  of the three;
* the file is written with ``O_DIRECT`` where the filesystem allows it: copying 1 GiB
  through the page cache costs more CPU than hashing it, and the dirty pages would have to
  be flushed afterwards anyway. Where ``O_DIRECT`` is refused (tmpfs, some network
  filesystems, an unaligned tail) the write goes through the page cache as usual;
* one ``fdatasync`` at the end: the caller learns the data is durable and need not flush
  it again.

Every byte hashed is a byte written: both read the same buffer, which is refilled only once
both are done with it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import mmap
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, BinaryIO

from evidence.ledger.blobs._base import BlobTooLarge, read_chunks
from evidence.ledger.blobs.chunks import ChunkHasher

#: Past this many bytes, a blob takes the large path (a thread and 3 buffers are then cheap).
LARGE_BLOB = 8 * 1024 * 1024
BUFFER_SIZE = 4 * 1024 * 1024
BUFFERS = 3
#: Offsets and lengths of direct writes are multiples of this (covers 512 and 4096-byte
#: logical blocks; the buffers are page-aligned).
_ALIGN = 4096
_O_DIRECT = getattr(os, "O_DIRECT", 0)
_fdatasync = getattr(os, "fdatasync", os.fsync)


def write_hashed(stream: BinaryIO, fd: int, max_size: int | None, *,
                 large_after: int = LARGE_BLOB, buffer_size: int = BUFFER_SIZE,
                 chunks: ChunkHasher | None = None) -> tuple[str, int, bool]:
    """Write everything ``stream`` yields to ``fd``; return ``(sha256 hex, size, durable)``.

    ``durable`` is True when the large path made the data durable (``fdatasync``) itself.
    Raises :class:`BlobTooLarge` past ``max_size`` bytes (before writing the excess).
    ``chunks``: on the large path only, also fed every byte, for the blob's chunk digests
    (:mod:`.chunks`), in a stage of its own so that it runs beside the whole-file hash;
    a small blob needs none (it is hashed whole before it is served).
    ``large_after`` and ``buffer_size`` (a multiple of 4096) are for tests.
    """
    digest = hashlib.sha256()
    size = 0
    for chunk in read_chunks(stream, max_size):
        digest.update(chunk)
        write_all(fd, memoryview(chunk))
        size += len(chunk)
        if size >= large_after:
            if chunks is not None:  # the bytes so far: just written, still in the cache
                for off in range(0, size, 1 << 20):
                    chunks.update(os.pread(fd, min(1 << 20, size - off), off))
            size = _write_large(stream, fd, digest, size, max_size, buffer_size, chunks)
            return digest.hexdigest(), size, True
    return digest.hexdigest(), size, False


def write_all(fd: int, view: memoryview) -> None:
    """Write all of ``view`` to ``fd`` (the filesystem store's chunk sidecars use it too)."""
    while view:  # writes may be short
        view = view[os.write(fd, view):]


class _Stage(threading.Thread):
    """Applies ``work`` to the views it is given, in order; ``free`` counts the views it is
    done with. After an error it skips the rest (still counting), and keeps the error."""

    def __init__(self, name: str, work: Callable[[memoryview], None], buffers: int) -> None:
        super().__init__(name=name, daemon=True)
        self.work = work
        self.error: BaseException | None = None
        self.free = threading.Semaphore(buffers)
        self._queue: queue.SimpleQueue[memoryview | None] = queue.SimpleQueue()

    def put(self, view: memoryview | None) -> None:
        self._queue.put(view)

    def run(self) -> None:
        while (view := self._queue.get()) is not None:
            try:
                if self.error is None:
                    self.work(view)
            except BaseException as e:
                self.error = e
            finally:
                view.release()
                self.free.release()


def _write_large(stream: BinaryIO, fd: int, digest: Any, size: int,
                 max_size: int | None, buffer_size: int,
                 chunks: ChunkHasher | None = None) -> int:
    """The large path (see the module docstring), from offset ``size`` on; returns the
    final size once the data is durable. This thread reads; one thread hashes and one
    writes each buffer, which is refilled once both are done with it."""
    with contextlib.suppress(OSError, AttributeError, ValueError):
        os.posix_fadvise(stream.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
    direct = size % _ALIGN == 0 and _set_direct(fd, True)

    def write(view: memoryview) -> None:
        nonlocal direct
        direct = _write_direct(fd, view, direct)

    buffers = [mmap.mmap(-1, buffer_size) for _ in range(BUFFERS)]
    stages = [_Stage("blob-hash", digest.update, BUFFERS), _Stage("blob-write", write, BUFFERS)]
    if chunks is not None:
        stages.append(_Stage("blob-chunks", chunks.update, BUFFERS))
    for stage in stages:
        stage.start()
    try:
        i = 0
        while True:
            for stage in stages:
                stage.free.acquire()  # this buffer's previous fill is hashed and written
                if stage.error is not None:
                    raise stage.error
            view = memoryview(buffers[i % BUFFERS])
            n = _fill(stream, view)
            if n == 0:
                view.release()
                break
            size += n
            if max_size is not None and size > max_size:
                view.release()
                raise BlobTooLarge(max_size)
            for stage in stages:
                stage.put(view[:n])
            view.release()
            i += 1
    finally:
        for stage in stages:
            stage.put(None)
        for stage in stages:
            stage.join()
    for stage in stages:
        if stage.error is not None:
            raise stage.error
    for b in buffers:
        b.close()
    _fdatasync(fd)
    return size


def _fill(stream: BinaryIO, view: memoryview) -> int:
    """Read until ``view`` is full or the stream ends (pipes and sockets return short
    reads; the direct writes need whole buffers)."""
    got = 0
    readinto = getattr(stream, "readinto", None)
    while got < len(view):
        if readinto is not None:
            try:
                n = readinto(view[got:])
            except (NotImplementedError, io.UnsupportedOperation):  # a read()-only stream
                readinto = None
                continue
        else:
            data = stream.read(len(view) - got)
            n = len(data)
            view[got:got + n] = data
        if not n:
            break
        got += n
    return got


def _write_direct(fd: int, view: memoryview, direct: bool) -> bool:
    """Write ``view`` at the current offset, directly while possible; return whether the
    file is still in direct mode."""
    if direct and len(view) % _ALIGN:
        direct = _set_direct(fd, False)  # the tail: through the page cache
    while view:
        try:
            view = view[os.write(fd, view):]
        except OSError as e:
            if not direct or e.errno != errno.EINVAL:
                raise
            direct = _set_direct(fd, False)  # an alignment this filesystem refuses
    return direct


def _set_direct(fd: int, on: bool) -> bool:
    """Turn ``O_DIRECT`` on or off for ``fd``; return whether it is on."""
    if not _O_DIRECT:
        return False
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | _O_DIRECT if on else flags & ~_O_DIRECT)
    except OSError:
        return False
    return on
