"""Private key files: one Go-format ``PRIVATE+KEY+...`` line, mode 0600, never logged.

The file format is the one ``golang.org/x/mod/sumdb/note`` reads, so a log's or
witness's key can be used by standard tooling. Files are created with
``O_EXCL`` and mode 0600 from the start (no window where they are readable),
and an existing file is never overwritten.
"""

from __future__ import annotations

import os
from pathlib import Path

from evidence.verify.note import Signer, parse_signer_key


class KeyFileError(Exception):
    """A key file is missing, unreadable, too open, or not a key."""


def write_private_key(path: Path, signer: Signer) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path} already exists; refusing to overwrite a key") from None
    with os.fdopen(fd, "w") as f:
        f.write(signer.to_string() + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_private_key(path: Path) -> Signer:
    path = Path(path)
    try:
        text = path.read_text().strip()
    except OSError as e:
        raise KeyFileError(f"cannot read key file {path}: {e.strerror}") from None
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise KeyFileError(f"key file {path} is readable by others (mode {mode:o}); chmod 600 it")
    try:
        return parse_signer_key(text)
    except ValueError:
        raise KeyFileError(f"{path} does not hold a PRIVATE+KEY+... signer key") from None
