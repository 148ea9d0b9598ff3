"""Open ZIP-based files (Office, OpenDocument, chat exports) as hostile input.

``zipfile`` reads the whole central directory into memory and trusts the sizes it states.
So before opening we count the entries from the end-of-central-directory record, and we
read members only through :func:`read_member`, which stops at a byte cap whatever the
header claims (a "zip bomb" cannot inflate past it).
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

MAX_ENTRIES = 20_000
MAX_MEMBER_BYTES = 2 * 1024 * 1024

_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"


class UnsafeZip(Exception):
    """The archive is malformed or exceeds a safety cap."""


def entry_count(path: Path) -> int | None:
    """The number of entries the archive declares, or None if no EOCD record is found."""
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        tail_len = min(size, 65535 + 22)
        f.seek(size - tail_len)
        tail = f.read(tail_len)
        pos = tail.rfind(_EOCD)
        if pos < 0 or len(tail) - pos < 22:
            return None
        count = struct.unpack_from("<H", tail, pos + 10)[0]
        if count != 0xFFFF:
            return count
        loc = tail.rfind(_ZIP64_LOCATOR, 0, pos)
        if loc < 0 or len(tail) - loc < 20:
            return None
        eocd64_offset = struct.unpack_from("<Q", tail, loc + 8)[0]
        if eocd64_offset > size - 56:
            return None
        f.seek(eocd64_offset)
        rec = f.read(56)
        if not rec.startswith(_ZIP64_EOCD):
            return None
        return int(struct.unpack_from("<Q", rec, 32)[0])


def open_zip(path: Path, max_entries: int | None = None) -> zipfile.ZipFile:
    """Open an archive after checking its declared entry count. Raises :class:`UnsafeZip`."""
    max_entries = MAX_ENTRIES if max_entries is None else max_entries
    count = entry_count(path)
    if count is None:
        raise UnsafeZip("not a ZIP archive (no end-of-central-directory record)")
    if count > max_entries:
        raise UnsafeZip(f"ZIP archive declares {count} entries (limit {max_entries})")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as e:
        raise UnsafeZip(f"malformed ZIP archive: {e}") from e


def read_member(zf: zipfile.ZipFile, name: str, cap: int = MAX_MEMBER_BYTES) -> bytes | None:
    """A member's bytes, at most ``cap`` of them; None if absent. Raises :class:`UnsafeZip`."""
    try:
        info = zf.getinfo(name)
    except KeyError:
        return None
    if info.file_size > cap:
        raise UnsafeZip(f"{name} declares {info.file_size} bytes (limit {cap})")
    try:
        with zf.open(info) as f:
            data = f.read(cap + 1)
    except (zipfile.BadZipFile, RuntimeError, OSError, ValueError, NotImplementedError) as e:
        # RuntimeError: encrypted member; NotImplementedError: unknown compression
        raise UnsafeZip(f"cannot read {name}: {e}") from e
    if len(data) > cap:
        raise UnsafeZip(f"{name} inflates past {cap} bytes")
    return data
