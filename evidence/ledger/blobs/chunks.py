"""Per-chunk SHA-256 digests of a blob (docs/formats.md, "Chunk digests").

A blob's name is the SHA-256 of all its bytes, so a byte range cannot be checked against
the name without reading the whole file. A range request for 1 MiB of a 2 GiB video would
then cost a 2 GiB read, or be served unchecked. The chunk digests close that gap: the
blob is cut into :data:`CHUNK` byte chunks (the last one shorter), each with its own
SHA-256, and a range is served only after the chunks covering it hash to their digests.

The digests are derived data: they are computed in the same pass as a full-file check
that matched the blob's name, and stored beside the blob (a *sidecar*), never before.
A sidecar that is absent, truncated or damaged (its own trailing SHA-256 does not match)
is ignored and computed again from a full-file check.

Format (all integers big-endian)::

    magic      8 bytes   b"EVCHNK01"
    chunk      4 bytes   chunk size in bytes (1 MiB)
    size       8 bytes   the blob's size
    sha256    32 bytes   the blob's SHA-256 (its name)
    digests   32 bytes x ceil(size / chunk)   SHA-256 of each chunk, in order
    trailer   32 bytes   SHA-256 of everything above
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

MAGIC = b"EVCHNK01"
CHUNK = 1024 * 1024
_HEAD = struct.Struct(">8sIQ32s")


@dataclass(frozen=True, slots=True)
class ChunkDigests:
    sha256: str
    size: int
    chunk: int
    digests: tuple[bytes, ...]

    def count_ok(self) -> bool:
        return len(self.digests) == -(-self.size // self.chunk)

    def encode(self) -> bytes:
        body = _HEAD.pack(MAGIC, self.chunk, self.size, bytes.fromhex(self.sha256))
        body += b"".join(self.digests)
        return body + hashlib.sha256(body).digest()


def decode(data: bytes, sha256: str, size: int) -> ChunkDigests | None:
    """The sidecar's digests if it is intact and about this blob, else None."""
    if len(data) < _HEAD.size + 32 or (len(data) - _HEAD.size) % 32:
        return None
    body, trailer = data[:-32], data[-32:]
    if hashlib.sha256(body).digest() != trailer:
        return None
    magic, chunk, got_size, got_sha = _HEAD.unpack_from(body)
    if magic != MAGIC or chunk <= 0 or got_size != size or got_sha.hex() != sha256:
        return None
    rest = body[_HEAD.size:]
    cd = ChunkDigests(sha256, size, chunk,
                      tuple(rest[i:i + 32] for i in range(0, len(rest), 32)))
    return cd if cd.count_ok() else None


class ChunkHasher:
    """SHA-256 per :data:`CHUNK` bytes, fed with pieces of any length (short reads)."""

    def __init__(self, chunk: int = CHUNK) -> None:
        self.chunk = chunk
        self.digests: list[bytes] = []
        self._h = hashlib.sha256()
        self._in = 0

    def update(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            take = min(len(view), self.chunk - self._in)
            self._h.update(view[:take])
            self._in += take
            view = view[take:]
            if self._in == self.chunk:
                self.digests.append(self._h.digest())
                self._h, self._in = hashlib.sha256(), 0

    def finish(self, sha256: str, size: int) -> ChunkDigests:
        if self._in:
            self.digests.append(self._h.digest())
            self._h, self._in = hashlib.sha256(), 0
        return ChunkDigests(sha256, size, self.chunk, tuple(self.digests))
