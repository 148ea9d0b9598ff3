"""The blob-store contract shared by every backend.

A blob is an evidence file, stored under the lowercase hex SHA-256 of its bytes. The name
*is* the integrity check: whoever holds the hash (the ledger entry, a bundle manifest, a
court) can tell whether the bytes are still the ones that were preserved. Hence the rules
every backend keeps:

* write-once: an existing blob is never overwritten; storing the same bytes again is a
  no-op that returns the same :class:`BlobRef`;
* atomic: a put either stores the complete blob or leaves nothing behind (no partial
  object, no temporary file), whether it fails on a size limit, an I/O error or a client
  that hangs up half-way;
* streamed: the SHA-256 and the size are computed in the same pass as the write, with
  fixed-size chunks, so memory stays flat for a multi-GB file.

A put may also be done in two phases, so that many writers share one flush:
:meth:`BlobStore.stage` writes and hashes a stream, :meth:`BlobStore.commit` makes a
batch of staged blobs stored and durable, :meth:`BlobStore.abort` forgets one that will not
be committed. A backend without a cheaper way stores the blob in :meth:`~BlobStore.stage`
(commit and abort then have nothing to do); callers treat every backend alike.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, ClassVar

from evidence.ledger.blobs.chunks import CHUNK, ChunkDigests, ChunkHasher
from evidence.ledger.blobs.chunks import decode as decode_chunks

_log = logging.getLogger("evidence.fixity")

#: Read and write in chunks of this size: large enough for throughput, small enough that
#: memory does not grow with the file.
CHUNK_SIZE = 1024 * 1024

_HEX64 = re.compile(r"[0-9a-f]{64}")


class BlobError(Exception):
    """Base class of every blob-store error."""


class InvalidBlobId(BlobError, ValueError):
    """The name given is not 64 lowercase hex digits (never turned into a path or key)."""


class BlobNotFound(BlobError, KeyError):
    """No blob is stored under this SHA-256."""

    def __str__(self) -> str:  # KeyError would print the repr of the argument
        return str(self.args[0]) if self.args else "blob not found"


class BlobTooLarge(BlobError):
    """The stream was longer than ``max_size``; nothing was stored."""

    def __init__(self, max_size: int) -> None:
        super().__init__(f"blob exceeds the size limit of {max_size} bytes; nothing was stored")
        self.max_size = max_size


class BlobCorrupt(BlobError):
    """Stored bytes do not hash to their name, or the store rejected an upload's checksum."""


class BlobStoreFull(BlobError):
    """The store has no room (ENOSPC, EDQUOT) for a blob: a condition of the server, not
    of the upload; nothing was stored. Not an :class:`OSError`, so that no caller takes
    it for a file it could not read."""


BlobDamaged = BlobCorrupt
"""The fixity name of the same error: what a verified read raises when the bytes are not the
preserved ones (one class, two names)."""

#: Blobs up to this size are hashed whole BEFORE a response starts (then sent from
#: memory): a damaged small file gets a clean error answer, not a cut-off transfer.
#: Larger ones are hashed while they stream and the transfer is cut off on a mismatch.
VERIFY_FIRST_MAX = 8 * 1024 * 1024


def check_sha256_hex(sha256: str) -> str:
    """Return ``sha256`` if it is 64 lowercase hex digits, else raise :class:`InvalidBlobId`.

    Every public method validates its name with this before building a path or an object
    key from it, so a name can never traverse directories or address another prefix.
    """
    if not isinstance(sha256, str) or not _HEX64.fullmatch(sha256):
        raise InvalidBlobId(f"not a lowercase hex SHA-256: {sha256!r}")
    return sha256


@dataclass(frozen=True, slots=True)
class BlobRef:
    """What a put returns and what the ledger records: the content's name and length."""

    sha256: str
    size: int

    def __post_init__(self) -> None:
        check_sha256_hex(self.sha256)
        if not isinstance(self.size, int) or self.size < 0:
            raise ValueError(f"blob size must be a non-negative int, got {self.size!r}")


@dataclass(frozen=True)
class StagedBlob:
    """A blob :meth:`BlobStore.stage` wrote and hashed: its name and size are known, and
    it is stored (under that name, durably) once :meth:`BlobStore.commit` took it without
    an error. A backend may carry more (where its temporary copy is)."""

    ref: BlobRef


@dataclass(frozen=True, slots=True)
class BlobCheck:
    """The outcome of re-hashing one stored blob (an audit step).

    It says what was checked, not just whether: ``actual_sha256`` is what the stored bytes
    hash to now, so a report can show both values.
    """

    sha256: str
    ok: bool
    actual_sha256: str | None
    size: int | None
    reason: str

    def raise_if_corrupt(self) -> None:
        """Raise :class:`BlobCorrupt` (or :class:`BlobNotFound`) unless the check passed."""
        if self.ok:
            return
        if self.actual_sha256 is None:
            raise BlobNotFound(self.reason)
        raise BlobCorrupt(self.reason)


def normalise_range(start: int, stop: int | None, size: int) -> tuple[int, int]:
    """Clamp a half-open byte range ``[start, stop)`` to a blob of ``size`` bytes.

    Mirrors Python slicing for non-negative bounds. Negative bounds are refused: the HTTP
    layer turns suffix ranges (``bytes=-500``) into absolute offsets before calling.
    """
    if start < 0 or (stop is not None and stop < 0):
        raise ValueError("byte range bounds must be non-negative")
    stop = size if stop is None else min(stop, size)
    start = min(start, size)
    return start, max(start, stop)


class VerifyingReader(io.RawIOBase):
    """A read-only stream that hashes what passes through and checks it at end of file.

    Used for verify-on-read: the reader raises :class:`BlobCorrupt` when the last byte has
    been read and the bytes did not hash to ``expected_sha256``. A consumer that reads to
    the end therefore cannot receive corrupted content silently.
    """

    def __init__(self, inner: BinaryIO, expected_sha256: str) -> None:
        super().__init__()
        self._inner = inner
        self._expected = check_sha256_hex(expected_sha256)
        self._hash = hashlib.sha256()
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        data = self._inner.read(len(view))
        n = len(data)
        if n:
            view[:n] = data
            self._hash.update(data)
        elif not self._done:
            self._done = True
            actual = self._hash.hexdigest()
            if actual != self._expected:
                raise BlobCorrupt(
                    f"blob {self._expected} is corrupt: its stored bytes hash to {actual}"
                )
        return n

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


class BlobStore(ABC):
    """A content-addressed, write-once store of evidence files.

    Backends implement the abstract methods; :meth:`put_file`, :meth:`open_verified` and
    :meth:`verify` are built on them. Names are always lowercase hex SHA-256.
    """

    #: Whether :meth:`stage` only writes a temporary file on this host (no flush, no
    #: network): cheap enough for an event loop, and a blob staged by a worker process
    #: holding a copy of this store (it pickles) can be committed by this one.
    stages_locally: ClassVar[bool] = False

    @abstractmethod
    def put(self, stream: BinaryIO, *, max_size: int | None = None) -> BlobRef:
        """Store everything ``stream`` yields; return its SHA-256 and size.

        Hashes while writing, in chunks. Raises :class:`BlobTooLarge` once more than
        ``max_size`` bytes have been read. On any failure nothing is stored.
        """

    # -- the two-phase put: stage many, commit them together --------------------------

    def stage(self, stream: BinaryIO, *, max_size: int | None = None) -> StagedBlob:
        """First phase of :meth:`put`: write and hash ``stream`` (:class:`BlobTooLarge`
        past ``max_size``, nothing kept on any failure). Pass the result to :meth:`commit`,
        or to :meth:`abort` if it will not be committed.

        This default is the whole put, now: the blob is stored before this returns, and
        commit has nothing left to do (a backend that uploads has no shared flush to save).
        """
        return StagedBlob(self.put(stream, max_size=max_size))

    def commit(self, staged: Sequence[StagedBlob]) -> list[Exception | None]:
        """Second phase, for many staged blobs at once: store each under its name,
        durably. Returns, per blob, ``None`` (stored) or the exception that refused it
        (:class:`BlobCorrupt`...); raises if the batch as a whole failed (then none is
        stored durably). Nothing staged is left behind either way. This default: every
        blob was stored by :meth:`stage`."""
        return [None] * len(staged)

    def abort(self, staged: StagedBlob) -> None:
        """Forget a staged blob that will not be committed (its temporary copy goes).

        This default does nothing: :meth:`stage` stored the blob already, and a stored
        blob may hold the content of something else too; deleting it is for a caller
        that knows what refers to it (intake's discard asks the ledger)."""
        return None

    def sweep_temp(self, older_than_seconds: float = 24 * 3600) -> int:
        """Remove what crashed writers left (staged copies older than
        ``older_than_seconds``, so that writers still running elsewhere keep theirs);
        return how many. This default: a backend that leaves nothing to sweep (an S3
        bucket's lifecycle rule removes incomplete uploads)."""
        return 0

    def iter_blobs(self) -> Iterator[tuple[str, float]]:
        """``(sha256, modification time)`` of every stored blob, in no set order (for
        garbage collection). Raises :class:`BlobError` for a backend that cannot list."""
        raise BlobError(f"cannot list the blobs of {self!r}")

    def put_file(self, path: str | Path, *, max_size: int | None = None) -> BlobRef:
        """Store the file at ``path`` (streamed, like :meth:`put`)."""
        with open(path, "rb") as f:
            return self.put(f, max_size=max_size)

    @abstractmethod
    def open(self, sha256: str) -> BinaryIO:
        """Open the blob for streamed reading. Raises :class:`BlobNotFound`."""

    @abstractmethod
    def open_range(self, sha256: str, start: int, stop: int | None = None) -> BinaryIO:
        """Open the half-open byte range ``[start, stop)`` of a blob (for HTTP Range).

        Bounds are clamped to the blob's size like a Python slice; ``stop=None`` means to
        the end. Raises :class:`BlobNotFound`.
        """

    @abstractmethod
    def exists(self, sha256: str) -> bool:
        """Whether a blob is stored under this name."""

    @abstractmethod
    def size(self, sha256: str) -> int:
        """The stored blob's length in bytes. Raises :class:`BlobNotFound`."""

    @abstractmethod
    def delete(self, sha256: str) -> bool:
        """Remove a blob; return whether it existed.

        For purges ordered by a court only: the ledger records the purge as its own entry,
        and the blob's hash stays in the ledger for ever.
        """

    def iter_range(
        self, sha256: str, start: int = 0, stop: int | None = None, chunk_size: int = CHUNK_SIZE
    ) -> Iterator[bytes]:
        """Yield the byte range ``[start, stop)`` in chunks (what a streaming response wants)."""
        with self.open_range(sha256, start, stop) as f:
            while chunk := f.read(chunk_size):
                yield chunk

    def open_verified(self, sha256: str) -> BinaryIO:
        """Open a blob so that reading it to the end raises :class:`BlobCorrupt` on mismatch."""
        return io.BufferedReader(VerifyingReader(self.open(sha256), sha256), CHUNK_SIZE)

    # -- fixity on read: no byte served under the name unless it is the byte --

    def load_chunk_sidecar(self, sha256: str) -> bytes | None:
        """The stored chunk digests of a blob (:mod:`.chunks`), or None if there are none
        (backends that keep none: every range read then starts with a full-file check)."""
        return None

    def store_chunk_sidecar(self, sha256: str, data: bytes) -> None:
        """Keep a blob's chunk digests (derived data: overwritten freely)."""
        return None

    def iter_verified(self, sha256: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Yield the whole blob in chunks, hashing as it goes; every chunk but the last is
        yielded as read, the last only once all the bytes hashed to the name. On a
        mismatch raise :class:`BlobDamaged` instead of yielding the last chunk, so a
        consumer that forwards chunks (an HTTP response, a bundle member) can never
        complete a wrong copy. :class:`BlobNotFound` on the first ``next()`` if absent."""
        check_sha256_hex(sha256)
        digest = hashlib.sha256()
        with self.open(sha256) as f:
            held = f.read(chunk_size)
            digest.update(held)
            while nxt := f.read(chunk_size):
                yield held
                digest.update(nxt)
                held = nxt
        actual = digest.hexdigest()
        if actual != sha256:
            raise BlobDamaged(f"blob {sha256} is damaged: its stored bytes hash to {actual}")
        if held:
            yield held

    def read_verified(self, sha256: str) -> bytes:
        """The whole blob, in memory, after it hashed to its name (small files only)."""
        return b"".join(self.iter_verified(sha256))

    def chunk_digests(self, sha256: str, size: int) -> ChunkDigests:
        """The blob's chunk digests: the stored sidecar if intact, else computed in one
        full-file pass that must match the name first (then stored for next time).
        Raises :class:`BlobDamaged` or :class:`BlobNotFound`."""
        raw = self.load_chunk_sidecar(sha256)
        if raw is not None:
            cd = decode_chunks(raw, sha256, size)
            if cd is not None:
                return cd
        whole = hashlib.sha256()
        chunks = ChunkHasher(CHUNK)
        n = 0
        with self.open(sha256) as f:
            while data := f.read(CHUNK_SIZE):
                whole.update(data)
                chunks.update(data)
                n += len(data)
        actual = whole.hexdigest()
        if actual != sha256 or n != size:
            raise BlobDamaged(f"blob {sha256} is damaged: its stored bytes ({n}) hash to "
                              f"{actual}")
        cd = chunks.finish(sha256, n)
        try:
            self.store_chunk_sidecar(sha256, cd.encode())
        except Exception as e:  # derived data: the next range read computes it again
            _log.warning("chunk digests of blob %s not stored: %s", sha256, e)
        return cd

    def iter_range_verified(self, sha256: str, start: int, stop: int,
                            digests: ChunkDigests) -> Iterator[bytes]:
        """Yield bytes ``[start, stop)``, each chunk's part only after the whole chunk
        that holds it hashed to its recorded digest; else raise :class:`BlobDamaged`
        before yielding anything of that chunk."""
        c = digests.chunk
        if start >= stop:
            return
        first, last = start // c, (stop - 1) // c
        with self.open_range(sha256, first * c, min((last + 1) * c, digests.size)) as f:
            for i in range(first, last + 1):
                lo = i * c
                want = min(c, digests.size - lo)
                data = f.read(want)
                if len(data) != want or hashlib.sha256(data).digest() != digests.digests[i]:
                    raise BlobDamaged(
                        f"blob {sha256} is damaged: chunk {i} (bytes {lo}-{lo + want - 1}) "
                        "does not match its recorded digest")
                a, b = max(start, lo) - lo, min(stop, lo + want) - lo
                yield data if (a, b) == (0, want) else data[a:b]

    def verify(self, sha256: str) -> BlobCheck:
        """Re-hash a stored blob and report whether it still matches its name (for audits)."""
        check_sha256_hex(sha256)
        digest = hashlib.sha256()
        size = 0
        try:
            with self.open(sha256) as f:
                while chunk := f.read(CHUNK_SIZE):
                    digest.update(chunk)
                    size += len(chunk)
        except BlobNotFound:
            return BlobCheck(sha256, False, None, None, f"blob {sha256} is missing")
        actual = digest.hexdigest()
        if actual != sha256:
            return BlobCheck(
                sha256, False, actual, size,
                f"blob {sha256} is corrupt: its stored bytes hash to {actual}",
            )
        return BlobCheck(sha256, True, actual, size, "stored bytes match their SHA-256")


def read_chunks(
    stream: BinaryIO, max_size: int | None, chunk_size: int = CHUNK_SIZE
) -> Iterator[bytes]:
    """Yield ``stream`` in chunks, raising :class:`BlobTooLarge` past ``max_size`` bytes.

    Shared by the backends so that the size limit is enforced while reading, before the
    excess is written anywhere.
    """
    if max_size is not None and max_size < 0:
        raise ValueError("max_size must be non-negative")
    total = 0
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            return
        total += len(chunk)
        if max_size is not None and total > max_size:
            raise BlobTooLarge(max_size)
        yield chunk


class LimitedReader(io.RawIOBase):
    """At most ``limit`` bytes of an underlying stream (a byte range of a stored file)."""

    def __init__(self, inner: BinaryIO, limit: int) -> None:
        super().__init__()
        self._inner = inner
        self._left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._left <= 0:
            return 0
        view = memoryview(buffer).cast("B")
        data = self._inner.read(min(len(view), self._left))
        n = len(data)
        view[:n] = data
        self._left -= n
        return n

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()
