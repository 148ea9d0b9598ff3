"""``evidence log export DIR``: the whole log, with its anchoring, as plain files for
offline auditors (docs/formats.md, "Log export").

Layout::

    DIR/manifest.json                    SHA-256 and size of every other file (written last)
    DIR/log.vkey                         the log's verifier key, one line
    DIR/trust.txt                        the trust file, the bytes `evidence trust export` writes
    DIR/entries.jsonl                    {"seq": N, "leaf_hash": "<hex>", "entry_b64": "<b64>"}
    DIR/checkpoints/<size>               each stored checkpoint note with every stored
                                         witness cosignature line appended
    DIR/timestamps/<size>/<source>.tst   each stored RFC 3161 token, DER as received
    DIR/timestamps/<size>/<source>.pem   the certificates stored with it (PEM)

Why it can be resumed and grown: the manifest is the only statement of what DIR holds, and
it is replaced (temp name, fsync, rename) only after every file it lists is durable. A run
that stops early leaves the previous manifest; the next run checks DIR against it, cuts
``entries.jsonl`` back to the length it lists, and goes on from there. Entries are only
ever appended (the log is append-only); a checkpoint file is rewritten when a witness
cosignature arrived after the last export, and new tokens are added beside old ones.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from evidence.ledger.anchor import store as anchor_store
from evidence.ledger.anchor.status import cosigned_note
from evidence.ledger.db.engine import read_transaction
from evidence.ledger.db.log_queries import iter_checkpoints
from evidence.ledger.errors import LedgerError
from evidence.ledger.trust_file import trust_policy_of

if TYPE_CHECKING:
    from evidence.ledger.log import Ledger
    from evidence.ledger.tiles_store import FilesystemTileStore

FORMAT = "evidence-log-export/v1"
MANIFEST = "manifest.json"
ENTRIES = "entries.jsonl"
_LAYOUT = re.compile(r"\A(log\.vkey|trust\.txt|entries\.jsonl|checkpoints/(0|[1-9][0-9]*)"
                     r"|timestamps/(0|[1-9][0-9]*)/[A-Za-z0-9._-]{1,64}\.(tst|pem)"
                     r"|tlog/checkpoint|tlog/tile/(entries|0|[1-9][0-9]?)/(x[0-9]{3}/)*[0-9]{3}"
                     r"(\.p/[1-9][0-9]{0,2})?)\Z")
"""Every path a manifest may list (a manifest naming anything else is not ours)."""

Progress = Callable[[int, int], None]
Finish = Callable[[Callable[[str, bytes], bool]], dict[str, Any]]
"""Called with a writer (path, bytes) after the export's files: writes more files into the
manifest and returns more manifest members (``evidence log freeze``, ledger/freeze.py)."""


@dataclass(frozen=True)
class ExportResult:
    directory: Path
    size: int
    checkpoints: int
    timestamps: int = 0
    start: int = 0
    """Entries DIR already held (verified against its manifest) before this run."""
    tiles: int | None = None
    """The tree size DIR/tlog/ holds tiles for (None: no tiles, ``tiles_reason`` says why)."""
    tiles_reason: str | None = None


def export_log(ledger: Ledger, directory: str | os.PathLike[str], *, start: int | None = None,
               progress: Progress | None = None, batch: int = 500, upto: int | None = None,
               tile_store: FilesystemTileStore | None = None, finish: Finish | None = None
               ) -> ExportResult:
    """Write (or bring up to date) the export in ``directory``; see the module docstring.

    ``start``: keep only the first ``start`` entries DIR holds and write the rest again
    (default: everything DIR holds). ``batch``: checkpoints and anchor rows read at a
    time. ``upto``: export the log as of that size (default: its size now);
    ``tile_store``: copy tiles from it instead of the configured store; ``finish``: see
    :data:`Finish` (the three are what ``evidence log freeze`` adds). Raises
    :class:`LedgerError` for a DIR that is not an
    export, or whose files do not match its manifest (nothing is changed then).
    """
    out = Path(directory)
    held = _held(out)
    if start is not None:
        if start < 0 or start > held.size:
            raise LedgerError(f"--from {start}: {out} holds an export of {held.size} entries; "
                              f"give a size from 0 to {held.size}")
        held = held.cut(out, start)
    size = ledger.size if upto is None else upto
    if held.size > size:
        raise LedgerError(f"{out} holds {held.size} entries; this log has only {size}")
    if held.origin not in (None, ledger.origin):
        raise LedgerError(f"{out} is an export of the log {held.origin!r}, not "
                          f"{ledger.origin!r}")
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    if not (out / MANIFEST).exists():  # from now on DIR is an export, even if cut short
        _write_manifest(out, ledger.origin, 0, {})
    files = dict(held.files)
    _put(out, files, "log.vkey", (ledger.verifier_key + "\n").encode())
    if ledger.config is not None:  # a bare database copy has no operator configuration
        _put(out, files, "trust.txt", trust_policy_of(ledger).raw or b"")
    files[ENTRIES] = _append_entries(ledger, out / ENTRIES, held, size, progress)
    n_cps, n_tst, newest = _anchoring(ledger, out, files, size, batch)
    tiles, reason = _tiles(ledger, out, files, newest, tile_store)
    more = finish(lambda p, d: _put(out, files, p, d)) if finish is not None else {}
    _sync()
    _write_manifest(out, ledger.origin, size, files, tiles, reason, more)
    _sweep(out, files)
    return ExportResult(out, size, n_cps, n_tst, held.size, tiles, reason)


def _tiles(ledger: Ledger, out: Path, files: dict[str, dict[str, Any]],
           newest: tuple[int, bytes] | None, given: FilesystemTileStore | None = None
           ) -> tuple[int | None, str | None]:
    """DIR/tlog/ for the newest exported checkpoint (export_tiles); (size, None) when
    written, else (None, why not), and then no tlog/ file stays listed."""
    from evidence.ledger.export_tiles import PREFIX, copy_tiles, store_reason
    from evidence.ledger.tiles import open_configured_store, published_checkpoint

    reason: str | None
    if newest is None:
        reason = "the export holds no checkpoint"
    elif ledger.config is None and given is None:
        reason = "the ledger has no data directory, hence no tile store"
    else:
        try:
            store = given if given is not None else open_configured_store(
                ledger.config.data_dir)  # type: ignore[union-attr]
            cp = published_checkpoint(store, ledger) if store is not None else None
            reason = store_reason(store, None if cp is None else cp.size, newest[0])
            if reason is None:
                copy_tiles(store, newest[0], newest[1], files,  # type: ignore[arg-type]
                           lambda p, d: _put(out, files, p, d))
                return newest[0], None
        except (ValueError, OSError, LedgerError) as e:
            reason = f"the tile store cannot be copied: {e}"
    for p in [p for p in files if p.startswith(PREFIX)]:
        del files[p]
    return None, reason


# --- what DIR holds -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Held:
    size: int
    origin: str | None
    files: dict[str, dict[str, Any]]
    entries_hash: Any  # hashlib object over entries.jsonl as listed, ready to go on

    def cut(self, out: Path, start: int) -> _Held:
        """The export as if it held only its first ``start`` entries."""
        if start == self.size:
            return self
        h, n, length = hashlib.sha256(), 0, 0
        with open(out / ENTRIES, "rb") as f:
            for line in f:
                if n == start:
                    break
                h.update(line)
                n, length = n + 1, length + len(line)
        files = dict(self.files)
        files[ENTRIES] = {"sha256": h.hexdigest(), "size": length}
        return _Held(start, self.origin, files, h)


def _held(out: Path) -> _Held:
    """What ``out`` holds, checked against its manifest; an empty or new DIR holds nothing."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return _Held(0, None, {}, hashlib.sha256())
    man_path = out / MANIFEST
    if not man_path.is_file():
        raise LedgerError(f"{out} is not empty and holds no {MANIFEST}: not a log export; "
                          "export into a new directory")
    try:
        man = json.loads(man_path.read_bytes())
        files = man["files"]
        size, origin = man["size"], man["origin"]
        ok = (man.get("format") == FORMAT and isinstance(files, dict)
              and type(size) is int and size >= 0 and isinstance(origin, str)
              and all(isinstance(p, str) and _LAYOUT.match(p) and isinstance(v, dict)
                      for p, v in files.items()))
    except (ValueError, KeyError, TypeError):
        ok, man = False, None
    if isinstance(man, dict) and man.get("frozen"):  # tests/auditor/test_freeze.py
        raise LedgerError(f"{out} is a frozen log (evidence log freeze): it is never changed; "
                          "export into a new directory")
    if not ok:
        raise LedgerError(f"{man_path} is not a log export manifest ({FORMAT})")
    entries_hash = hashlib.sha256()
    for path, want in sorted(files.items()):
        p = out / path
        try:
            if path == ENTRIES:  # may be longer: the tail an interrupted run appended
                got, length = _hash_prefix(p, int(want["size"]), entries_hash)
            else:
                data = p.read_bytes()
                got, length = hashlib.sha256(data).hexdigest(), len(data)
        except OSError as e:
            raise LedgerError(f"{out}: {path} is listed in {MANIFEST} but cannot be read "
                              f"({e.strerror}); export into a new directory") from None
        if (got, length) != (want.get("sha256"), want.get("size")):
            raise LedgerError(f"{out}: {path} does not match its SHA-256 or size in {MANIFEST}"
                              "; the export was changed: export into a new directory")
    if size and ENTRIES not in files:
        raise LedgerError(f"{man_path} lists {size} entries but no {ENTRIES}")
    return _Held(size, origin, files, entries_hash)


def _hash_prefix(path: Path, length: int, h: Any) -> tuple[str, int]:
    n = 0
    with open(path, "rb") as f:
        while n < length:
            block = f.read(min(1 << 20, length - n))
            if not block:
                break
            h.update(block)
            n += len(block)
    return h.copy().hexdigest(), n


# --- writing ------------------------------------------------------------------------------


def _put(out: Path, files: dict[str, dict[str, Any]], path: str, data: bytes) -> bool:
    """Write ``path`` through a temp name unless the manifest already lists these bytes."""
    entry = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    if files.get(path) == entry and (out / path).is_file():
        return False
    target = out / path
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, target)
    files[path] = entry
    return True


def _append_entries(ledger: Ledger, path: Path, held: _Held, size: int,
                    progress: Progress | None) -> dict[str, Any]:
    """Append entries ``held.size <= seq < size`` to entries.jsonl after cutting it to the
    length the manifest lists. The line is json.dumps's default form of the row."""
    h = held.entries_hash
    length = int(held.files.get(ENTRIES, {}).get("size", 0))
    done = held.size
    with open(path, "ab") as f:
        f.truncate(length)
        f.seek(length)
        buf: list[bytes] = []
        for e in ledger.entries(held.size, size, chunk=5000):
            buf.append(b'{"seq": %d, "leaf_hash": "%s", "entry_b64": "%s"}\n'
                       % (e.seq, e.leaf_hash.hex().encode(), base64.b64encode(e.data)))
            if len(buf) == 5000:
                done = _flush(f, h, buf, done, size, progress)
        done = _flush(f, h, buf, done, size, progress)
        length = f.tell()
        f.flush()
        os.fsync(f.fileno())
    return {"sha256": h.hexdigest(), "size": length}


def _flush(f: Any, h: Any, buf: list[bytes], done: int, size: int,
           progress: Progress | None) -> int:
    block = b"".join(buf)
    f.write(block)
    h.update(block)
    done += len(buf)
    buf.clear()
    if progress is not None:
        progress(done, size)
    return done


def _anchoring(ledger: Ledger, out: Path, files: dict[str, dict[str, Any]], size: int,
               batch: int = 500) -> tuple[int, int, tuple[int, bytes] | None]:
    """Every checkpoint up to ``size`` with its stored cosignatures, and every stored
    token with its certificates; returns how many of each DIR now holds. Checkpoints and
    anchors are read ``batch`` at a time, in size order: memory stays flat however long
    the log (a checkpoint is cosigned when a witness row with a cosignature has its
    size; both streams are in size order, so one pass merges them)."""
    cosigned = (r for r in anchor_store.iter_anchored(ledger.engine, "witness",
                                                      max_size=size, batch=batch)
                if r.cosignature)
    next_cosigned = next(cosigned, None)
    n_cps = n_tst = 0
    newest: tuple[int, bytes] | None = None
    with read_transaction(ledger.engine) as conn:
        for cp in iter_checkpoints(conn, chunk=batch, max_size=size):
            while next_cosigned is not None and next_cosigned.checkpoint_size < cp.size:
                next_cosigned = next(cosigned, None)
            has = next_cosigned is not None and next_cosigned.checkpoint_size == cp.size
            note = cosigned_note(ledger, cp.size) if has else cp.note
            _put(out, files, f"checkpoints/{cp.size}", note.encode())
            newest = (cp.size, note.encode())
            n_cps += 1
    for r in anchor_store.iter_anchored(ledger.engine, "tsa", max_size=size, batch=batch):
        if not r.token:
            continue
        base = f"timestamps/{r.checkpoint_size}/{r.source}"
        _put(out, files, base + ".tst", r.token)
        if r.certs:
            _put(out, files, base + ".pem", b"".join(
                x509.load_der_x509_certificate(c).public_bytes(Encoding.PEM) for c in r.certs))
        n_tst += 1
    return n_cps, n_tst, newest


def _sync() -> None:
    """Make every file written so far durable before the manifest names it (one call
    instead of an fsync per checkpoint file)."""
    if hasattr(os, "sync"):
        os.sync()


def _write_manifest(out: Path, origin: str, size: int, files: dict[str, dict[str, Any]],
                    tiles: int | None = None, tiles_reason: str | None = None,
                    more: dict[str, Any] | None = None) -> None:
    doc: dict[str, Any] = {**(more or {}), "files": {p: files[p] for p in sorted(files)},
                           "format": FORMAT, "origin": origin, "size": size, "tiles": tiles}
    if tiles is None:
        doc["tiles_reason"] = tiles_reason or "no export run has finished"
    data = (json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            + "\n").encode()
    tmp = out / (MANIFEST + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out / MANIFEST)
    fd = os.open(out, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sweep(out: Path, files: dict[str, dict[str, Any]]) -> None:
    """Remove what an interrupted run left and the manifest does not list: temp files,
    and layout files (never anything else: DIR was checked to be an export)."""
    for p in list(out.rglob("*")):
        rel = p.relative_to(out).as_posix()
        if p.is_file() and rel != MANIFEST and rel not in files \
                and (rel.endswith(".tmp") or _LAYOUT.match(rel)):
            p.unlink()
    for p in sorted(out.glob("tlog/tile/**/*.p"), reverse=True):  # a replaced partial's folder
        if p.is_dir() and not any(p.iterdir()):
            p.rmdir()
