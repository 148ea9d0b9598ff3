"""Blobs as read-only files under a fan-out directory tree: ``root/ab/cd/<sha256 hex>``.

Crash safety comes from the POSIX recipe: write to a temporary file in ``root/.tmp`` (the
same filesystem, so the final step is atomic), hash in the same pass, make the file durable,
hard-link it to its final name (``link`` refuses to replace an existing name, which is what
makes the store write-once even when two uploads of the same file race), make the directory
entries durable, and remove the temporary name. A crash at any point leaves either no blob or
the complete blob; at worst an orphaned temporary file, which :meth:`sweep_temp` removes.

"Make durable" is a *group* flush (:mod:`.groupsync`): concurrent puts share one
``syncfs`` for their data and one for their names, instead of three or four ``fsync`` calls
each. The order is kept: data is durable before the name exists. A large blob
(:mod:`.hashed_copy`: direct I/O, hashed in a second thread) makes its own data durable
with one ``fdatasync`` instead, so that a 1 GiB import does not flush the whole filesystem.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import re
import stat
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from evidence.ledger.blobs._base import (
    CHUNK_SIZE,
    BlobCorrupt,
    BlobNotFound,
    BlobRef,
    BlobStore,
    BlobStoreFull,
    LimitedReader,
    StagedBlob,
    check_sha256_hex,
    normalise_range,
)
from evidence.ledger.blobs.chunks import ChunkDigests, ChunkHasher
from evidence.ledger.blobs.groupsync import GroupSync, make_flusher
from evidence.ledger.blobs.hashed_copy import write_all, write_hashed
from evidence.ledger.names import unique_name

_log = logging.getLogger("evidence.fixity")
_TMP = ".tmp"
_CHUNKS = ".chunks"
_TEMP_FLAGS = (os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
               | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH  # 0o444
_HEX64 = re.compile(r"[0-9a-f]{64}")
@dataclass(frozen=True)
class PendingBlob(StagedBlob):
    """A blob written and hashed into a temporary file: not stored until committed."""

    tmp: str
    durable: bool = False  # its data already made durable (a large blob's own fdatasync)
    chunks: ChunkDigests | None = None  # a large blob's chunk digests, kept when named


def _pending(staged: StagedBlob) -> PendingBlob:
    if not isinstance(staged, PendingBlob):
        raise TypeError(f"{staged!r} was not staged by a filesystem blob store")
    return staged


_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _full_or(e: Exception) -> Exception:
    """:class:`BlobStoreFull` for a write refused for lack of room, else ``e``."""
    if isinstance(e, OSError) and e.errno in _FULL:
        full = BlobStoreFull(f"the blob store is full: {e.strerror or e}; nothing was stored")
        full.__cause__ = e
        return full
    return e


def _raise_if_full(e: OSError) -> None:
    full = _full_or(e)
    if full is not e:
        raise full


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _name_dirs(final: str) -> tuple[str, str, str]:
    """The directories whose entries make ``root/ab/cd/<sha256>`` reachable: ``root/ab/cd``
    (the name), ``root/ab`` (a new ``cd``) and ``root`` (a new ``ab``)."""
    leaf = final[:final.rindex("/")]
    mid = leaf[:leaf.rindex("/")]
    return leaf, mid, mid[:mid.rindex("/")]


def make_fanout_dir(leaf: str) -> None:
    """Create a blob's fan-out directory ``root/ab/cd`` (and ``root/ab`` if missing);
    one that exists already is fine. Made durable by the store's flush after naming."""
    try:
        os.mkdir(leaf)
    except FileExistsError:
        pass
    except FileNotFoundError:
        with contextlib.suppress(FileExistsError):
            os.mkdir(leaf[:leaf.rindex("/")])
        with contextlib.suppress(FileExistsError):
            os.mkdir(leaf)


class FilesystemBlobStore(BlobStore):
    """The default, embedded blob store: one read-only file per blob on a local filesystem."""

    stages_locally = True

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp = self.root / _TMP
        self._tmp.mkdir(exist_ok=True)
        self._durable = GroupSync(make_flusher(self.root))
        self._root_str = os.fspath(self.root)
        self._tmp_str = os.fspath(self._tmp)
        self._fanouts: set[str] = set()  # "abcd" of fan-out directories known to exist

    def __repr__(self) -> str:
        return f"FilesystemBlobStore({str(self.root)!r})"

    def __reduce__(self) -> tuple[type[FilesystemBlobStore], tuple[str]]:
        """A copy for a worker process: the same directory, its own flusher."""
        return FilesystemBlobStore, (self._root_str,)

    def path_of(self, sha256: str) -> Path:
        """Where the blob lives (or would live). Validates the name first."""
        check_sha256_hex(sha256)
        return self.root / sha256[0:2] / sha256[2:4] / sha256

    def _name_of(self, sha256: str) -> str:
        """:meth:`path_of` as a string (no pathlib objects on the hot paths)."""
        check_sha256_hex(sha256)
        return f"{self._root_str}/{sha256[0:2]}/{sha256[2:4]}/{sha256}"

    # -- writing ---------------------------------------------------------------------

    def put(self, stream: BinaryIO, *, max_size: int | None = None) -> BlobRef:
        pending = self.stage(stream, max_size=max_size)
        err = self.commit([pending])[0]
        if err is not None:
            raise err
        return pending.ref

    def stage(self, stream: BinaryIO, *, max_size: int | None = None) -> PendingBlob:
        """First half of :meth:`put`: write and hash ``stream`` into a temporary file,
        and make sure the blob's fan-out directory exists.

        Nothing is stored yet (no name, nothing durable): pass the result to
        :meth:`commit` (or :meth:`abort`). A bulk import writes many blobs, then
        commits them together: two shared flushes for the lot instead of two per blob.
        """
        try:
            fd, tmp_name = self._new_temp()
        except OSError as e:
            _raise_if_full(e)
            raise
        try:
            chunks = ChunkHasher()
            try:
                sha256, size, durable = write_hashed(stream, fd, max_size, chunks=chunks)
                os.fchmod(fd, _READ_ONLY)
            finally:
                os.close(fd)
        except BaseException as e:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            if isinstance(e, OSError):
                _raise_if_full(e)
            raise
        digests = chunks.finish(sha256, size) if durable else None  # large path only
        self._make_fanout_early(sha256)
        return PendingBlob(BlobRef(sha256, size), tmp_name, durable, digests)

    def _make_fanout_early(self, sha256: str) -> None:
        """Create ``root/ab/cd`` while staging, so that the commit (one thread for a whole
        batch) only links: creating a directory costs an inode allocation, most of what
        naming a blob costs in a young store. An empty directory left by a blob never
        committed is harmless (a deleted blob leaves one too); the commit's flush makes
        it durable before any entry names the blob."""
        key = sha256[0:4]
        if key in self._fanouts:
            return
        with contextlib.suppress(OSError):  # then the commit makes it, as it always can
            make_fanout_dir(f"{self._root_str}/{sha256[0:2]}/{sha256[2:4]}")
            self._fanouts.add(key)

    def _new_temp(self) -> tuple[int, str]:
        """A new, empty, private temporary file (what ``tempfile.mkstemp`` does, without
        its per-call overhead: this runs once per blob). Named by this process's random
        prefix and a counter (no random bytes from the kernel per blob); ``O_EXCL``
        refuses a name in use, and the next one is tried."""
        for _ in range(100):
            name = f"{self._tmp_str}/put-{unique_name()}.part"
            try:
                return os.open(name, _TEMP_FLAGS, 0o600), name
            except FileExistsError:
                continue
        raise FileExistsError(errno.EEXIST, "no unused temporary file name", self._tmp_str)

    def commit(self, staged: Sequence[StagedBlob]) -> list[Exception | None]:
        """Second half of :meth:`put` for many staged blobs at once: make their data
        durable (one shared flush), give each its content address, make the new names
        durable (one more flush). Returns, per blob, ``None`` (stored and durable) or the
        exception that refused it (:class:`BlobCorrupt`...); raises if a flush fails (then
        none is stored durably). The temporary files are gone either way."""
        pending = [_pending(p) for p in staged]
        try:
            all_durable = all(p.durable for p in pending)
            if not all_durable:
                self._durable.wait()  # the data, before any name points at it
            results: list[Exception | None] = []
            named: list[str] = []
            for p in pending:
                try:
                    if self._publish(p.tmp, p.ref):
                        named.append(self._name_of(p.ref.sha256))
                    results.append(None)
                    if p.chunks is not None and p.chunks.count_ok():
                        self._keep_chunks(p.chunks)
                except Exception as e:  # reported per blob
                    results.append(_full_or(e))
            if named and all_durable:
                # Large blobs: their data is on disk already (their own fdatasync), only
                # the names are new. Sync just those directories: a filesystem-wide flush
                # would also write out whatever else is dirty (the 1 GiB source file still
                # in the page cache, say: 0.4 s here).
                for d in sorted({d for n in named for d in _name_dirs(n)}, reverse=True):
                    _fsync_dir(d)
            elif named:
                self._durable.wait()  # the new names and fan-out directories
            return results
        finally:
            # Reached on success too: by then each blob has its own name (a hard link).
            for p in pending:
                self.abort(p)

    def abort(self, staged: StagedBlob) -> None:
        """Forget a staged blob that will not be committed (remove its temporary file)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(_pending(staged).tmp)

    def _publish(self, tmp: str | Path, ref: BlobRef) -> bool:
        """Give the finished temporary file its content address without replacing anything.

        Returns whether a new name was made (which then must be made durable).
        """
        final = self._name_of(ref.sha256)
        try:
            try:
                os.link(tmp, final)
            except FileNotFoundError:  # a new fan-out directory (rare once the store fills)
                if not os.path.exists(tmp):
                    raise
                self._make_fanout(final)
                os.link(tmp, final)
        except FileExistsError:
            self._confirm_existing(final, ref)
            return False
        except OSError as e:  # filesystems without hard links
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            if os.path.exists(final):
                self._confirm_existing(final, ref)
                return False
            os.rename(tmp, final)
        return True

    def _make_fanout(self, final: str) -> None:
        """Create ``root/ab/cd`` for ``final`` (``root/ab`` too if missing)."""
        make_fanout_dir(final[:final.rindex("/")])

    @staticmethod
    def _confirm_existing(final: str, ref: BlobRef) -> None:
        """A blob with this name exists: the put is a no-op, unless that blob is damaged."""
        existing = os.stat(final).st_size
        if existing != ref.size:
            raise BlobCorrupt(
                f"blob {ref.sha256} already exists with size {existing}, expected {ref.size}: "
                "the stored copy is corrupt and was left untouched"
            )

    def sweep_temp(self, older_than_seconds: float = 24 * 3600) -> int:
        """Remove temporary files left by a crashed process; return how many were removed.

        Only files older than ``older_than_seconds`` are touched, so uploads still running
        in other processes are left alone.
        """
        cutoff = time.time() - older_than_seconds
        removed = 0
        for p in self._tmp.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if p.stat().st_mtime < cutoff:
                    p.unlink()
                    removed += 1
        return removed

    def iter_blobs(self) -> Iterator[tuple[str, float]]:
        for top in sorted(os.scandir(self.root), key=lambda e: e.name):
            if len(top.name) != 2 or not top.is_dir(follow_symlinks=False):
                continue
            for mid in os.scandir(top.path):
                if not mid.is_dir(follow_symlinks=False):
                    continue
                for f in os.scandir(mid.path):
                    if _HEX64.fullmatch(f.name) and f.is_file(follow_symlinks=False):
                        with contextlib.suppress(FileNotFoundError):
                            yield f.name, f.stat(follow_symlinks=False).st_mtime

    # -- reading ---------------------------------------------------------------------

    def open(self, sha256: str) -> BinaryIO:
        try:
            return open(self.path_of(sha256), "rb", buffering=CHUNK_SIZE)
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {sha256}") from None

    def open_range(self, sha256: str, start: int, stop: int | None = None) -> BinaryIO:
        f = self.open(sha256)
        try:
            start, stop = normalise_range(start, stop, os.fstat(f.fileno()).st_size)
            f.seek(start)
        except BaseException:
            f.close()
            raise
        return io.BufferedReader(LimitedReader(f, stop - start), CHUNK_SIZE)

    def exists(self, sha256: str) -> bool:
        try:
            return stat.S_ISREG(os.stat(self._name_of(sha256)).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return False

    def size(self, sha256: str) -> int:
        try:
            return self.path_of(sha256).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {sha256}") from None

    def delete(self, sha256: str) -> bool:
        path = self.path_of(sha256)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._sidecar_of(sha256))
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(path.parent)
        return True

    # -- chunk digests (.chunks): beside the blobs, outside the fan-out tree ----------

    def _keep_chunks(self, cd: ChunkDigests) -> None:
        """Recorded at intake (derived data: a failure only costs the first range read
        a full-file pass)."""
        try:
            self.store_chunk_sidecar(cd.sha256, cd.encode())
        except OSError as e:
            _log.warning("chunk digests of blob %s not stored: %s", cd.sha256, e)

    def _sidecar_of(self, sha256: str) -> str:
        check_sha256_hex(sha256)
        return f"{self._root_str}/{_CHUNKS}/{sha256[0:2]}/{sha256}"

    def load_chunk_sidecar(self, sha256: str) -> bytes | None:
        try:
            with open(self._sidecar_of(sha256), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def store_chunk_sidecar(self, sha256: str, data: bytes) -> None:
        """Written to a temporary name and renamed: readers see the old sidecar or the
        new one, never half of one (a torn one fails its trailer and is recomputed)."""
        final = self._sidecar_of(sha256)
        os.makedirs(final[:final.rindex("/")], exist_ok=True)
        fd, tmp = self._new_temp()
        try:
            try:
                write_all(fd, memoryview(data))
            finally:
                os.close(fd)
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
