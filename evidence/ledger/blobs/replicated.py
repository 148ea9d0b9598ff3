"""A second copy of every stored file: one blob store over two.

A single copy can only *detect* damage: the name is the SHA-256, so a changed byte is
found, but the preserved byte is gone. With two copies in independent stores (a local
disk and an S3 bucket, two buckets, two disks) a copy found missing or damaged is served
and rebuilt from the other one, and the name still decides which copy is the good one.

* **Writes.** A put stores the primary copy, then copies it, hashed on the way, to the
  replica. ``mode="sync"`` (the default) returns only once both copies are durable:
  what is acknowledged exists twice. ``mode="async"`` returns once the primary copy is
  durable and a *marker* (``<state dir>/pending/<sha256>``) is on disk; a background
  thread copies marked blobs and removes their markers. The markers are the replica's
  lag (:func:`replica_lag`: how many, the oldest), they outlive a crash, and any process
  that opens the store in async mode resumes them.
* **Reads.** Only bytes that hashed to the name (or to their chunk's recorded digest,
  :mod:`.chunks`) are served, taken from the primary and, chunk by chunk, from the
  replica where the primary's copy is missing, short or damaged. Both copies bad:
  :class:`BlobDamaged` (or :class:`BlobNotFound` if neither exists).
* **Repair** is not done here but by the scrubber (:mod:`evidence.ledger.scrub`) and
  :func:`evidence.ledger.audit.files.repair_copies`, which append a ``blob.repaired``
  entry to the ledger for each copy rebuilt.

Configured as one blob-store URL (:func:`~evidence.ledger.blobs.factory.open_blob_store`):
``replica:<primary>|<replica>``; the mode comes from ``replica_mode`` (docs/operations.md,
"Second copy").
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from evidence.ledger.blobs._base import (
    CHUNK_SIZE,
    VERIFY_FIRST_MAX,
    BlobDamaged,
    BlobNotFound,
    BlobRef,
    BlobStore,
    check_sha256_hex,
)
from evidence.ledger.blobs.chunks import ChunkDigests

log = logging.getLogger("evidence.fixity")

MODES = ("sync", "async")
PENDING = "pending"
RESCAN = 30.0
"""Seconds between two looks at the markers when nothing wakes the copier (markers left
by a crashed process or by another worker are picked up within this)."""
EXIT_WAIT = 30.0
"""At most this long, a process that exits waits for its own queued copies."""

COPIES = ("primary", "replica")


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replica_lag(state_dir: str | Path, mode: str = "async") -> dict[str, Any]:
    """What ``evidence status`` and ``/health`` show of the replica: the blobs whose copy
    is not there yet (markers) and how long the oldest has waited. Read from the state
    directory, so a process that never opened the store can report it."""
    pending = Path(state_dir) / PENDING
    times: list[float] = []
    with contextlib.suppress(FileNotFoundError):
        for e in os.scandir(pending):
            if len(e.name) == 64 and not e.name.startswith("."):
                with contextlib.suppress(FileNotFoundError):
                    times.append(e.stat().st_mtime)
    oldest = min(times) if times else None
    return {
        "mode": mode,
        "pending": len(times),
        "oldest_queued_at": None if oldest is None else datetime.fromtimestamp(
            oldest, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "oldest_age_seconds": None if oldest is None else round(max(0.0, time.time() - oldest),
                                                                 1),
    }


class _Bad(Exception):
    """One copy's chunk did not hash to its recorded digest (or was short)."""


class ReplicatedBlobStore(BlobStore):
    """Two blob stores kept as copies of each other; see the module docstring."""

    def __init__(self, primary: BlobStore, replica: BlobStore, *, mode: str = "sync",
                 state_dir: str | Path | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"replica_mode must be one of {', '.join(MODES)}, not {mode!r}")
        if mode == "async" and state_dir is None:
            raise ValueError("replica_mode async needs a state directory for its markers")
        self.primary, self.replica, self.mode = primary, replica, mode
        self.state_dir = None if state_dir is None else Path(state_dir)
        self.pending_dir = None if self.state_dir is None else self.state_dir / PENDING
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._worker_lock = threading.Lock()
        if mode == "async":
            assert self.pending_dir is not None
            self.pending_dir.mkdir(parents=True, exist_ok=True)
            self._start_worker()  # resume markers a crashed process left
            ref = weakref.ref(self)
            atexit.register(lambda: (s := ref()) is not None and s._at_exit())

    def __repr__(self) -> str:
        return f"ReplicatedBlobStore({self.primary!r}, {self.replica!r}, mode={self.mode!r})"

    def copy(self, which: str) -> BlobStore:
        """``"primary"`` or ``"replica"``: that store."""
        return self.primary if which == "primary" else self.replica

    # -- writing ---------------------------------------------------------------------

    def put(self, stream: BinaryIO, *, max_size: int | None = None) -> BlobRef:
        ref = self.primary.put(stream, max_size=max_size)
        if self.mode == "sync":
            self.copy_blob(ref.sha256, "primary", "replica")
        else:
            self._enqueue(ref.sha256)
        return ref

    def copy_blob(self, sha256: str, src: str, dst: str, *, replace: bool = False) -> None:
        """Put ``src``'s copy into ``dst``, hashed on the way (a copy that does not hash to
        its name raises :class:`BlobDamaged` inside the put: nothing is stored). An intact
        ``dst`` copy is kept; ``replace``: a damaged one is deleted first (write-once
        stores never overwrite)."""
        source, target = self.copy(src), self.copy(dst)
        if target.exists(sha256):
            if not replace:
                return
            target.delete(sha256)
        ref = target.put(source.open_verified(sha256))
        if ref.sha256 != sha256:  # cannot happen: open_verified raised first
            raise BlobDamaged(f"copy of {sha256} from the {src} hashed to {ref.sha256}")

    def _enqueue(self, sha256: str) -> None:
        """The marker is durable before the put returns: a crash before the copy leaves
        the marker, and the copy is made by the next process that opens the store."""
        assert self.pending_dir is not None
        marker = self.pending_dir / sha256
        if not marker.exists():
            fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, _now_iso().encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            _fsync_dir(self.pending_dir)
        self._start_worker()
        self._wake.set()

    def _start_worker(self) -> None:
        with self._worker_lock:
            if self._worker is None or not self._worker.is_alive():
                self._stop.clear()
                self._worker = threading.Thread(target=self._run, name="replica-copier",
                                                daemon=True)
                self._worker.start()

    def _run(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            self._wake.clear()
            if self.drain():
                delay = 1.0
                self._wake.wait(RESCAN)
            else:  # the replica is down or full: try again, backing off
                self._stop.wait(delay)
                delay = min(delay * 2, 60.0)

    def drain(self) -> bool:
        """Copy every marked blob to the replica (oldest first); False at the first
        failure (the markers left stay)."""
        if self.pending_dir is None:
            return True
        try:
            names = sorted((e.stat().st_mtime, e.name) for e in os.scandir(self.pending_dir)
                           if len(e.name) == 64)
        except FileNotFoundError:
            return True
        for _t, sha in names:
            if self._stop.is_set():
                return True
            try:
                check_sha256_hex(sha)
                self.copy_blob(sha, "primary", "replica")
            except BlobNotFound:  # purged meanwhile, or lost: the scrubber reports it
                log.warning("replica copy of %s skipped: no primary copy", sha)
            except ValueError:
                pass  # not a marker of ours
            except Exception as e:
                log.warning("replica copy of %s failed (will retry): %s", sha, e)
                return False
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.pending_dir / sha)
        return True

    def is_pending(self, sha256: str) -> bool:
        """Whether the replica's copy is still queued (async): its absence there is lag,
        reported as such, not a missing copy to repair."""
        return self.pending_dir is not None and (self.pending_dir
                                                 / check_sha256_hex(sha256)).exists()

    def lag(self) -> dict[str, Any]:
        """:func:`replica_lag` of this store (sync mode: nothing is ever pending)."""
        if self.state_dir is None:
            return replica_lag("/nonexistent", self.mode)
        return replica_lag(self.state_dir, self.mode)

    def wait_caught_up(self, timeout: float) -> bool:
        """Wait until no marker is left (tests, and a CLI process before it exits)."""
        deadline = time.monotonic() + timeout
        while self.lag()["pending"]:
            if time.monotonic() > deadline:
                return False
            self._wake.set()
            time.sleep(0.05)
        return True

    def _at_exit(self) -> None:
        if self._worker is not None and self._worker.is_alive() and self.lag()["pending"]:
            self.wait_caught_up(EXIT_WAIT)
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout=5)

    # -- reading: only verified bytes, from either copy -------------------------------

    def exists(self, sha256: str) -> bool:
        return self.primary.exists(sha256) or self.replica.exists(sha256)

    def _size_of(self, store: BlobStore, sha256: str) -> int | None:
        """None for a copy that is missing, or that cannot be reached (an S3 replica
        down or refusing): the other copy is then the only one."""
        try:
            return store.size(sha256)
        except BlobNotFound:
            return None
        except Exception as e:
            log.warning("blob %s: the %s copy cannot be reached: %r", sha256,
                        "primary" if store is self.primary else "replica", e)
            return None

    def size(self, sha256: str) -> int:
        """The size of a copy that can be the preserved one: the two agree, or only one
        exists, or (they differ: one is damaged) the one that hashes to the name."""
        p, r = self._size_of(self.primary, sha256), self._size_of(self.replica, sha256)
        if p is None and r is None:
            raise BlobNotFound(f"no blob {sha256} in either copy")
        if r is None or p == r:
            return p  # type: ignore[return-value]
        if p is None:
            return r
        return p if self.primary.verify(sha256).ok else r

    def good_copy(self, sha256: str) -> str | None:
        """``"primary"`` or ``"replica"``: the first copy that hashes to its name (one
        full read of each copy tried); None if neither does."""
        for which in COPIES:
            if self.copy(which).verify(sha256).ok:
                return which
        return None

    def open(self, sha256: str) -> BinaryIO:
        """A copy that hashed to its name (checked first: one extra read; used by exports
        and backups, which hash again as they copy). Neither copy intact: the primary's
        (or the replica's) bytes as they are, which the caller's own hash then refuses."""
        which = self.good_copy(sha256)
        if which is not None:
            return self.copy(which).open(sha256)
        try:
            return self.primary.open(sha256)
        except BlobNotFound:
            return self.replica.open(sha256)

    def open_range(self, sha256: str, start: int, stop: int | None = None) -> BinaryIO:
        try:
            return self.primary.open_range(sha256, start, stop)
        except BlobNotFound:
            return self.replica.open_range(sha256, start, stop)

    def delete(self, sha256: str) -> bool:
        """A purge removes both copies (and any marker)."""
        a = self.primary.delete(sha256)
        b = self.replica.delete(sha256)
        if self.pending_dir is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.pending_dir / check_sha256_hex(sha256))
        return a or b

    def iter_blobs(self) -> Iterator[tuple[str, float]]:
        """Both copies' blobs, each once with its newer time: an orphan on either copy is
        listed (and so collected)."""
        seen: dict[str, float] = {}
        for copy in (self.primary, self.replica):
            for sha, mtime in copy.iter_blobs():
                seen[sha] = max(mtime, seen.get(sha, mtime))
        yield from seen.items()

    def sweep_temp(self, older_than_seconds: float = 24 * 3600) -> int:
        return (self.primary.sweep_temp(older_than_seconds)
                + self.replica.sweep_temp(older_than_seconds))

    def load_chunk_sidecar(self, sha256: str) -> bytes | None:
        raw = self.primary.load_chunk_sidecar(sha256)
        return raw if raw is not None else self.replica.load_chunk_sidecar(sha256)

    def store_chunk_sidecar(self, sha256: str, data: bytes) -> None:
        self.primary.store_chunk_sidecar(sha256, data)

    def read_verified(self, sha256: str) -> bytes:
        """The whole blob from the first copy that hashes to its name."""
        errors: list[Exception] = []
        for which in COPIES:
            try:
                return self.copy(which).read_verified(sha256)
            except Exception as e:  # damaged, missing, or that store unreachable
                errors.append(e)
        raise _worst(sha256, errors)

    def chunk_digests(self, sha256: str, size: int) -> ChunkDigests:
        """The recorded digests (either copy's sidecar), else computed from the first copy
        that hashes to its name."""
        errors: list[Exception] = []
        for which in COPIES:
            try:
                return self.copy(which).chunk_digests(sha256, size)
            except Exception as e:  # damaged, missing, or that store unreachable
                errors.append(e)
        raise _worst(sha256, errors)

    def _chunks(self, sha256: str, first: int, last: int,
                digests: ChunkDigests) -> Iterator[bytes]:
        """Chunks ``first..last``, each one only after it hashed to its digest; a chunk
        that fails on one copy is read from the other (and the reading stays there).
        :class:`BlobDamaged` once a chunk fails on both."""
        c, size = digests.chunk, digests.size
        i, src = first, 0
        failed: dict[int, set[int]] = {}
        while i <= last:
            store = self.copy(COPIES[src])
            try:
                with store.open_range(sha256, i * c, min((last + 1) * c, size)) as f:
                    while i <= last:
                        want = min(c, size - i * c)
                        data = f.read(want)
                        if len(data) != want or \
                                hashlib.sha256(data).digest() != digests.digests[i]:
                            raise _Bad
                        yield data
                        i += 1
            except Exception as e:  # damaged, missing, or that store unreachable
                seen = failed.setdefault(i, set())
                seen.add(src)
                if len(seen) == 2:
                    raise BlobDamaged(
                        f"blob {sha256} is damaged in both copies: chunk {i} matches its "
                        "recorded digest in neither") from None
                log.warning("blob %s: chunk %d of the %s copy is missing or damaged (%r); "
                            "reading the %s copy", sha256, i, COPIES[src], e, COPIES[1 - src])
                src = 1 - src

    def iter_range_verified(self, sha256: str, start: int, stop: int,
                            digests: ChunkDigests) -> Iterator[bytes]:
        c = digests.chunk
        stop = min(stop, digests.size)
        if start >= stop:
            return
        first, last = start // c, (stop - 1) // c
        for i, data in enumerate(self._chunks(sha256, first, last, digests), start=first):
            lo = i * c
            a, b = max(start, lo) - lo, min(stop, lo + len(data)) - lo
            yield data if (a, b) == (0, len(data)) else data[a:b]

    def iter_verified(self, sha256: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """The whole blob: small ones as :meth:`read_verified`; larger ones chunk by chunk
        against the recorded digests, switching copies at a bad chunk, and the last chunk
        held back until the whole hashed to the name."""
        check_sha256_hex(sha256)
        size = self.size(sha256)
        if size <= VERIFY_FIRST_MAX:
            data = self.read_verified(sha256)
            for at in range(0, len(data), chunk_size):
                yield data[at:at + chunk_size]
            return
        digests = self.chunk_digests(sha256, size)
        whole = hashlib.sha256()
        held = b""
        for data in self._chunks(sha256, 0, len(digests.digests) - 1, digests):
            if held:
                yield held
            whole.update(data)
            held = data
        if whole.hexdigest() != sha256:
            raise BlobDamaged(f"blob {sha256} is damaged: its chunks do not hash to its name")
        if held:
            yield held


def _worst(sha256: str, errors: list[Exception]) -> Exception:
    """Both copies failed: damaged if either was damaged (bytes exist but are wrong),
    else missing (a copy that cannot be reached counts as missing: nothing was read)."""
    detail = "; ".join(f"{w}: {e!r}" for w, e in zip(COPIES, errors, strict=False))
    if not any(isinstance(e, BlobDamaged) for e in errors):
        return BlobNotFound(f"no readable copy of blob {sha256} ({detail})")
    return BlobDamaged(f"blob {sha256} is damaged in both copies ({detail})")



def replica_status(data_dir: str | Path) -> dict[str, Any] | None:
    """The replica's lag for ``evidence status``, from the data directory's settings
    (None: the blob store has no replica). Reads markers only: opens no store."""
    from evidence.ledger.intake.settings import load_settings

    try:
        settings = load_settings(Path(data_dir))
    except ValueError:
        return None
    if not settings.blob_store.startswith("replica:"):
        return None
    return replica_lag(Path(data_dir) / "replica", settings.replica_mode)
