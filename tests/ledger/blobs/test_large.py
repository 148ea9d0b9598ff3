"""The large-blob path of the filesystem store (direct I/O, hash in a second thread):
the bytes stored, their name and the size limit are exactly those of the plain path."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evidence.ledger.blobs import BlobTooLarge, FilesystemBlobStore
from evidence.ledger.blobs.hashed_copy import LARGE_BLOB, write_hashed


class ShortReads(io.RawIOBase):
    """A stream that returns at most the given sizes per read, in turn (like a pipe)."""

    def __init__(self, data: bytes, sizes: list[int], readinto: bool = True) -> None:
        super().__init__()
        self._data = memoryview(data)
        self._sizes = sizes or [len(data) or 1]
        self._i = 0
        if not readinto:
            self.readinto = None  # type: ignore[assignment]

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        k = self._sizes[self._i % len(self._sizes)]
        self._i += 1
        k = len(self._data) if n < 0 else min(n, k)
        out, self._data = bytes(self._data[:k]), self._data[k:]
        return out

    def readinto(self, b):  # type: ignore[no-untyped-def,override]
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)


def _copy(tmp_path: Path, stream: io.RawIOBase, **kw: object) -> tuple[str, int, bool, bytes]:
    out = tmp_path / "out.bin"
    fd = os.open(out, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        sha, size, durable = write_hashed(stream, fd, None, **kw)  # type: ignore[arg-type]
    finally:
        os.close(fd)
    data = out.read_bytes()
    out.unlink()
    return sha, size, durable, data


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(0, 70_000), sizes=st.lists(st.integers(1, 20_000), max_size=6),
       readinto=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_large_path_writes_and_hashes_exactly_the_input(tmp_path: Path, size: int,
                                                        sizes: list[int], readinto: bool,
                                                        seed: int) -> None:
    data = hashlib.shake_256(seed.to_bytes(4, "big")).digest(size) if size else b""
    sha, got_size, durable, stored = _copy(tmp_path, ShortReads(data, sizes, readinto),
                                           large_after=8192, buffer_size=8192)
    assert stored == data
    assert got_size == size
    assert sha == hashlib.sha256(data).hexdigest()
    assert durable == (size >= 8192)


def test_a_large_file_through_the_store(tmp_path: Path) -> None:
    size = LARGE_BLOB + 3 * (1 << 20) + 12345  # unaligned tail after the direct writes
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(size))
    store = FilesystemBlobStore(tmp_path / "blobs")
    with open(src, "rb", buffering=0) as f:
        pending = store.stage(f, max_size=size)
    assert pending.durable
    assert store.commit([pending]) == [None]
    ref = pending.ref
    assert (ref.sha256, ref.size) == (hashlib.sha256(src.read_bytes()).hexdigest(), size)
    assert store.path_of(ref.sha256).read_bytes() == src.read_bytes()
    assert store.verify(ref.sha256).ok
    assert list((tmp_path / "blobs" / ".tmp").iterdir()) == []


def test_the_size_limit_holds_on_the_large_path(tmp_path: Path) -> None:
    size = LARGE_BLOB + (1 << 20)
    src = tmp_path / "big.bin"
    src.write_bytes(b"\x07" * size)
    store = FilesystemBlobStore(tmp_path / "blobs")
    with open(src, "rb", buffering=0) as f, pytest.raises(BlobTooLarge):
        store.put(f, max_size=size - 1)
    assert list((tmp_path / "blobs" / ".tmp").iterdir()) == []
    assert not store.exists(hashlib.sha256(src.read_bytes()).hexdigest())
    with open(src, "rb", buffering=0) as f:  # exactly at the limit: stored
        assert store.put(f, max_size=size).size == size


def test_a_write_error_on_the_large_path_reaches_the_caller() -> None:
    # a pipe whose reader leaves after the first 8 KiB: the small path's first write
    # succeeds, then the writing thread of the large path meets EPIPE
    r, w = os.pipe()

    def reader() -> None:
        got = 0
        while got < 8192:
            got += len(os.read(r, 8192 - got))
        os.close(r)

    t = threading.Thread(target=reader)
    t.start()
    try:
        with pytest.raises(OSError):
            write_hashed(ShortReads(os.urandom(400_000), [8192]), w, None,  # type: ignore[arg-type]
                         large_after=8192, buffer_size=8192)
    finally:
        t.join()
        os.close(w)


def test_large_and_small_blobs_finished_together(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs")
    big = os.urandom(LARGE_BLOB + 5000)
    small = b"a small file\n"
    pending = [store.stage(io.BytesIO(big)), store.stage(io.BytesIO(small))]
    assert [p.durable for p in pending] == [True, False]
    assert store.commit(pending) == [None, None]
    for data in (big, small):
        assert store.path_of(hashlib.sha256(data).hexdigest()).read_bytes() == data
    # the same content again: a no-op that names the same blob
    again = store.stage(io.BytesIO(big))
    assert store.commit([again]) == [None]
    assert again.ref.sha256 == hashlib.sha256(big).hexdigest()
    assert list((tmp_path / "blobs" / ".tmp").iterdir()) == []


def test_a_durable_blob_is_named_without_a_filesystem_wide_flush(tmp_path: Path,
                                                                 monkeypatch) -> None:
    """A large blob made durable by its own fdatasync needs only its name made durable:
    the directories it hangs from are synced, not the whole filesystem (which would also
    write out everything else dirty, such as a just-written source file). Seen from the
    system calls: the store's filesystem flusher (made by make_flusher) and os.fsync."""
    from evidence.ledger.blobs import filesystem

    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("no /proc/self/fd to name a synced directory by")
    flushes: list[int] = []
    real_flusher = filesystem.make_flusher

    def counting_flusher(root: Path):  # type: ignore[no-untyped-def]
        flush = real_flusher(root)
        return lambda: (flushes.append(1), flush())

    monkeypatch.setattr(filesystem, "make_flusher", counting_flusher)
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    store = FilesystemBlobStore(tmp_path / "blobs")
    big = os.urandom(LARGE_BLOB + 5000)
    pending = store.stage(io.BytesIO(big))
    assert pending.durable
    assert store.commit([pending]) == [None]
    final = store.path_of(pending.ref.sha256)
    assert flushes == []
    assert synced == [str(final.parent), str(final.parent.parent), str(tmp_path / "blobs")]
    assert final.read_bytes() == big
    # with a small blob in the same group, the shared flushes are used as before
    synced.clear()
    group = [store.stage(io.BytesIO(big[:-1])), store.stage(io.BytesIO(b"x"))]
    assert store.commit(group) == [None, None]
    assert len(flushes) == 2 and synced == []
