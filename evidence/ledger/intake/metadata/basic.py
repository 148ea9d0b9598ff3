"""Facts every file gets, whatever its kind: name, size, SHA-256, media type."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from evidence.ledger.intake.metadata import sniff
from evidence.ledger.intake.metadata.errors import MetadataError

CHUNK = 1024 * 1024


def basic_facts(path: Path, known: tuple[int, str] | tuple[int, str, bytes] | None = None
                ) -> dict[str, Any]:
    """``{"name", "size", "sha256", "media_type", "media_type_by_extension"}``.

    The hash is computed streamed (memory stays flat). ``name`` is the base name only: the
    server-side path is nobody's business. ``known`` = ``(size, sha256)`` from a pass the
    caller already made (intake hashes while storing the blob): then only the head is read,
    so a multi-GB file is not read twice; ``(size, sha256, head)`` with the file's first
    :data:`~.sniff.HEAD_BYTES` bytes as well: then the file is not opened at all.
    """
    if known is not None and len(known) == 3:
        size, sha, head = known  # type: ignore[misc]
    else:
        digest = hashlib.sha256()
        size = 0
        try:
            with open(path, "rb") as f:
                head = f.read(sniff.HEAD_BYTES)
                digest.update(head)
                size = len(head)
                while known is None and (chunk := f.read(CHUNK)):
                    digest.update(chunk)
                    size += len(chunk)
        except IsADirectoryError:
            raise MetadataError.for_file(path.name, "is a directory, not a file") from None
        except OSError as e:
            raise MetadataError.for_file(path.name, f"cannot be read: {e.strerror or e}"
                                         ) from None
        if known is not None:
            size, sha = known  # type: ignore[misc]
        else:
            sha = digest.hexdigest()
    return {
        "name": path.name,
        "size": size,
        "sha256": sha,
        "media_type": sniff.sniff(path, head),
        "media_type_by_extension": sniff.by_extension(path.name),
    }
