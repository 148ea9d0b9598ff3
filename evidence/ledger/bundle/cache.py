"""Built evidence bundles kept on disk, so that a bundle download can be resumed.

A bundle's report says when it was exported, so two builds of one item never give the
same bytes, and a download cut off half-way could not continue with ``Range``. So the
API builds a bundle once per *state* and keeps the file (docs/decisions.md D20):

* the **state key** hashes everything the bundle proves: the chosen checkpoint with its
  cosignatures, its RFC 3161 tokens, the custody entries it covers, the files, the
  metadata commitment, the stand-alone verifier, the format and the provisional flag
  (:func:`state_key`). It leaves out the export time and the warnings, which name the
  entries newer than the checkpoint: the ``export`` access each download records is
  such an entry, so recording a download does not change the key; the next anchored
  checkpoint does, and then a new bundle (with that access in it) is built;
* the **ETag** names one built file (``"<state key>.<build id>"``), written once and
  never changed: equal ETags mean equal bytes, as a strong validator must;
* a download that names its bundle in ``If-Range`` continues from that file while it is
  kept, even if a newer state has been anchored since: the client finishes the snapshot
  it started, exactly as if its connection had not broken; a fresh download gets the
  current state's bundle;
* the folder (``<data_dir>/cache/bundles``) is bounded by ``[serve] bundle_cache``
  bytes, least recently served first out; a file being served stays readable after it
  is evicted (an open file), and a resume of an evicted one gets the whole current
  bundle (``If-Range`` does not match);
* an item purged: its kept bundles that still hold its files are deleted by the purge
  itself (:func:`forget_purged`, called by ``Intake.purge`` on this host), and again the
  next time the item is asked for (a purge made on another node, on a folder this one
  keeps); none of them is served.

File names: ``<sha256(evidence id)[:24]>.<flags>.<state key>.<build id>.zip``, flags
``p`` (provisional) and ``x`` (purged: no files in it), ``-`` for none. Several workers
share the folder: a file appears by rename when complete, and two workers building the
same state at once each keep theirs (both valid; each ETag names its own bytes).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import IO, Any

DEFAULT_MAX_BYTES = 2 << 30
FOLDER = Path("cache") / "bundles"
"""Where kept bundles live, under the data directory."""
_ETAG = re.compile(r'\A"([0-9a-f]{32})\.([0-9a-f]{16})"\Z')
_STALE_TMP = 3600.0  # seconds after which a half-written file is a crashed build's


def folder_of(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / FOLDER


def forget_purged(data_dir: str | os.PathLike[str], evidence_id: str) -> None:
    """Delete the item's kept bundles that hold its files (after a purge): the same as
    :meth:`BundleCache.forget_unpurged`, for a caller with no cache object."""
    folder = folder_of(data_dir)
    if folder.is_dir():
        BundleCache.drop_unpurged(folder, evidence_id)


def item_tag(evidence_id: str) -> str:
    return hashlib.sha256(evidence_id.encode()).hexdigest()[:24]


def _canon(value: Any) -> Any:
    """JSON-able form of a gathered bundle's data: callables (the blob openers) left out,
    bytes hashed, dataclasses by their fields."""
    if callable(value) and not isinstance(value, type):
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return "sha256:" + hashlib.sha256(bytes(value)).hexdigest()
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canon(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(k): _canon(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_canon(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    return value


# what a bundle's bytes depend on that is not what it proves
_VOLATILE_PIECES = ("created_at", "report")
_VOLATILE_DATA = ("created_at", "warnings")


def state_key(pieces: Any, report_data: dict[str, Any]) -> str:
    """The key of the state a gathered bundle proves (module doc). ``pieces`` is
    :class:`evidence.ledger.bundle.writer.BundlePieces`, ``report_data`` the report's
    input; both without their export time and warnings."""
    doc = {"pieces": {k: v for k, v in _canon(pieces).items() if k not in _VOLATILE_PIECES},
           "report": {k: v for k, v in _canon(report_data).items()
                      if k not in _VOLATILE_DATA}}
    raw = json.dumps(doc, sort_keys=True, ensure_ascii=False, default=repr).encode()
    return hashlib.sha256(raw).hexdigest()[:32]


class BundleCache:
    """The folder of kept bundles (module doc). ``max_bytes`` 0: nothing is kept (each
    download is built anew into a file that is removed once opened)."""

    def __init__(self, folder: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)

    # --- lookups ------------------------------------------------------------------------

    def by_etag(self, evidence_id: str, etag: str, *, provisional_ok: bool) -> Path | None:
        """The kept file an ``If-Range`` ETag names, if it is this item's and still kept
        (a provisional one only for a request that accepts one)."""
        m = _ETAG.match(etag.strip())
        if m is None:
            return None
        for p in self.folder.glob(f"{item_tag(evidence_id)}.*.{m[1]}.{m[2]}.zip"):
            flags = p.name.split(".")[1]
            if "p" in flags and not provisional_ok:
                return None
            return p
        return None

    def by_state(self, evidence_id: str, key: str) -> Path | None:
        found = sorted(self.folder.glob(f"{item_tag(evidence_id)}.*.{key}.*.zip"))
        return found[0] if found else None

    @staticmethod
    def etag_of(path: Path) -> str:
        _tag, _flags, key, build, _zip = path.name.split(".")
        return f'"{key}.{build}"'

    # --- changes ------------------------------------------------------------------------

    def add(self, evidence_id: str, key: str, *, provisional: bool, purged: bool,
            write: Callable[[IO[bytes]], None]) -> Path:
        """Build a bundle with ``write`` into the folder; its path once complete."""
        flags = ("p" if provisional else "") + ("x" if purged else "") or "-"
        build = secrets.token_hex(8)
        final = self.folder / f"{item_tag(evidence_id)}.{flags}.{key}.{build}.zip"
        tmp = self.folder / f".tmp-{build}"
        try:
            with open(tmp, "xb") as fp:
                write(fp)
                fp.flush()
                os.fsync(fp.fileno())
            os.rename(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        self.evict(keep=final)
        return final

    def forget_unpurged(self, evidence_id: str) -> None:
        """The item was purged: its kept bundles that still hold its files go."""
        self.drop_unpurged(self.folder, evidence_id)

    @staticmethod
    def drop_unpurged(folder: Path, evidence_id: str) -> None:
        for p in folder.glob(f"{item_tag(evidence_id)}.*.zip"):
            if "x" not in p.name.split(".")[1]:
                with contextlib.suppress(OSError):
                    p.unlink()

    def touch(self, path: Path) -> None:
        """Served now: last to be evicted."""
        with contextlib.suppress(OSError):
            os.utime(path)

    def evict(self, keep: Path | None = None) -> None:
        """Least recently served first, until the folder holds at most ``max_bytes``
        (``keep``, just built, stays even if it alone is larger: a download of it is
        starting)."""
        now = time.time()
        kept: list[tuple[float, int, Path]] = []
        for p in self.folder.iterdir():
            try:
                st = p.stat()
            except OSError:
                continue
            if p.name.startswith(".tmp-"):
                if now - st.st_mtime > _STALE_TMP:
                    with contextlib.suppress(OSError):
                        p.unlink()
                continue
            if p.suffix == ".zip" and p != keep:
                kept.append((st.st_mtime, st.st_size, p))
        total = sum(n for _t, n, _p in kept) + (
            keep.stat().st_size if keep is not None and keep.exists() else 0)
        for _t, n, p in sorted(kept, key=lambda k: k[0]):
            if total <= self.max_bytes:
                break
            with contextlib.suppress(OSError):
                p.unlink()
            total -= n


_CACHES: dict[tuple[str, int], BundleCache] = {}


def for_folder(folder: Path, max_bytes: int) -> BundleCache:
    """One :class:`BundleCache` per folder and bound in this process."""
    k = (str(folder), max_bytes)
    if k not in _CACHES:
        _CACHES[k] = BundleCache(folder, max_bytes)
    return _CACHES[k]
