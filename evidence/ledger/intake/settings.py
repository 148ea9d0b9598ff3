"""Intake settings: where blobs go and how large a file may be.

Resolution (first that is set wins), kept beside the ledger's own configuration
(:mod:`evidence.ledger.config`, whose reader ignores keys it does not know, so
older ledgers keep working):

* blob store: ``--blob-store URL``, else ``$EVIDENCE_BLOB_STORE``, else ``blob_store``
  in ``config.json``, else ``<data-dir>/blobs``;
* size limit per file: ``--max-file-size N``, else ``$EVIDENCE_MAX_FILE_SIZE``, else
  ``max_file_size`` in ``config.json``, else 4 GiB.

A blob store is a filesystem path (relative paths are relative to the data
directory) or ``s3://bucket/prefix?endpoint=...`` (see :func:`open_blob_store`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from evidence.ledger.blobs import BlobStore, open_blob_store
from evidence.ledger.config import CONFIG_FILE

ENV_BLOB_STORE = "EVIDENCE_BLOB_STORE"
ENV_MAX_FILE_SIZE = "EVIDENCE_MAX_FILE_SIZE"
ENV_REPLICA_MODE = "EVIDENCE_REPLICA_MODE"
DEFAULT_BLOB_DIR = "blobs"
DEFAULT_MAX_FILE_SIZE = 4 << 30  # 4 GiB: a long screen recording fits, a disk image does not

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


class SettingsError(ValueError):
    """An intake setting is malformed."""


def parse_size(text: str | int) -> int:
    """``123``, ``512k``, ``100MiB``, ``4G`` (binary units) -> bytes (> 0)."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        m = re.fullmatch(r"(\d+)\s*([kmgt]?)(i?b)?", str(text).strip().lower())
        if m is None:
            raise SettingsError(f"not a size: {text!r} (e.g. 4294967296, 512M, 4GiB)")
        digits, unit = m.group(1), m.group(2)
        value = int(digits) * _UNITS[unit]
    if value <= 0:
        raise SettingsError("the size limit must be positive")
    return value


@dataclass(frozen=True)
class IntakeSettings:
    blob_store: str
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    data_dir: Path | None = None
    replica_mode: str = "sync"  # a replica: store (docs/operations.md, "Second copy")

    def open_store(self) -> BlobStore:
        return open_blob_store(self.blob_store, data_dir=self.data_dir,
                               replica_mode=self.replica_mode)


def load_settings(data_dir: Path, *, blob_store: str | None = None,
                  max_file_size: str | int | None = None) -> IntakeSettings:
    doc: dict[str, object] = {}
    try:
        loaded = json.loads((Path(data_dir) / CONFIG_FILE).read_text())
        if isinstance(loaded, dict):
            doc = loaded
    except (OSError, ValueError):
        pass  # the ledger's own loader reports a missing or broken config
    store = blob_store or os.environ.get(ENV_BLOB_STORE) or doc.get("blob_store") \
        or DEFAULT_BLOB_DIR
    if not isinstance(store, str):
        raise SettingsError("config.json: blob_store must be a string")
    scheme = urlsplit(store).scheme
    if not scheme or len(scheme) == 1:  # a plain path: relative to the data directory
        p = Path(store).expanduser()
        store = str(p if p.is_absolute() else Path(data_dir) / p)
    limit = max_file_size or os.environ.get(ENV_MAX_FILE_SIZE) or doc.get("max_file_size") \
        or DEFAULT_MAX_FILE_SIZE
    mode = os.environ.get(ENV_REPLICA_MODE) or doc.get("replica_mode") or "sync"
    if mode not in ("sync", "async"):
        raise SettingsError(f"replica_mode must be sync or async, not {mode!r}")
    return IntakeSettings(store, parse_size(limit), Path(data_dir),  # type: ignore[arg-type]
                          str(mode))
