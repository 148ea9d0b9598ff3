"""The audit's file pass: every stored file of every live item re-hashed against the
SHA-256 its submission entry preserved.

The ledger's own audit (:mod:`evidence.ledger.audit.log_audit`) proves the entries; this pass
proves the bytes they name. Each distinct file is read once (an item may share a file
with another: both are named when it fails), streamed in :data:`BUFFER` byte reads into a
buffer each thread reuses, and hashed. Threads, not processes: ``hashlib`` releases the
GIL while it hashes a buffer larger than 2 KiB, and ``readinto`` while it reads, so one
thread per core hashes on every core without pickling a byte (scripts/bench_fixity.py
measures the rate beside plain hashlib; docs/performance.md has the figures). Files are
taken largest first, so one large file does not start last and run alone at the end.

A file is *missing* when the store has nothing under its name, *damaged* when its size
differs from the preserved one, when its bytes hash to anything else, or when reading it
fails (an I/O error of the disk under it).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from evidence.ledger.blobs import BlobNotFound, BlobStore, FilesystemBlobStore
from evidence.ledger.blobs.replicated import COPIES, ReplicatedBlobStore
from evidence.ledger.db.engine import read_transaction
from evidence.ledger.evidence_store import evidence_files, evidence_items

BUFFER = 1024 * 1024
"""Bytes per read: large enough that the per-call cost vanishes beside the hashing,
small enough that the bytes the kernel just copied are still in the core's cache when
they are hashed (the sizes compared: docs/performance.md, "Fixity")."""


@dataclass(frozen=True)
class FileProblem:
    sha256: str
    evidence_ids: tuple[str, ...]
    state: str  # "missing" | "damaged"
    detail: str
    copy: str | None = None  # a replicated store: "primary", "replica" or "both"

    def to_json(self) -> dict[str, Any]:
        out = {"sha256": self.sha256, "evidence_ids": list(self.evidence_ids),
               "state": self.state, "detail": self.detail}
        if self.copy is not None:
            out["copy"] = self.copy
        return out


@dataclass
class FilesReport:
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    threads: int = 1
    problems: list[FileProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        damaged = [p for p in self.problems if p.state == "damaged"]
        missing = [p for p in self.problems if p.state == "missing"]
        return {"ok": self.ok, "files": self.files, "bytes": self.bytes,
                "seconds": round(self.seconds, 3), "threads": self.threads,
                "bytes_per_second": round(self.bytes / self.seconds) if self.seconds else None,
                "damaged_count": len(damaged), "missing_count": len(missing),
                "damaged": [p.to_json() for p in damaged],
                "missing": [p.to_json() for p in missing]}


def stored_files(engine: Engine) -> list[tuple[str, int, tuple[str, ...]]]:
    """``(sha256, preserved size, evidence ids)`` of every file of every live item,
    one row per distinct SHA-256, largest first."""
    by_sha: dict[str, tuple[int, list[str]]] = {}
    with read_transaction(engine) as conn:
        rows = conn.execute(
            select(evidence_files.c.sha256, evidence_files.c.size, evidence_files.c.evidence_id)
            .join(evidence_items, evidence_items.c.evidence_id == evidence_files.c.evidence_id)
            .where(evidence_items.c.purged_seq.is_(None))
            .order_by(evidence_files.c.evidence_id)).all()
    for sha, size, ev in rows:
        entry = by_sha.setdefault(sha, (int(size), []))
        if ev not in entry[1]:
            entry[1].append(ev)
    out = [(sha, size, tuple(evs)) for sha, (size, evs) in by_sha.items()]
    out.sort(key=lambda r: (-r[1], r[0]))
    return out


_local = threading.local()


def _buffer() -> memoryview:
    buf = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = memoryview(bytearray(BUFFER))
    return buf


def hash_path(path: str) -> tuple[str, int]:
    """SHA-256 and length of a local file, read into this thread's reused buffer."""
    buf = _buffer()
    h = hashlib.sha256()
    n = 0
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        with contextlib.suppress(OSError, AttributeError):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        while got := os.readv(fd, [buf]):
            h.update(buf[:got])
            n += got
    finally:
        os.close(fd)
    return h.hexdigest(), n


def _hash_stream(store: BlobStore, sha256: str) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    with store.open(sha256) as f:
        while data := f.read(BUFFER):
            h.update(data)
            n += len(data)
    return h.hexdigest(), n


def check_file(store: BlobStore, sha256: str, size: int) -> tuple[str | None, str, int]:
    """``(None, "", bytes read)`` if the stored file is the preserved one, else
    ``(state, detail, bytes read)``."""
    try:
        if isinstance(store, FilesystemBlobStore):
            path = os.fspath(store.path_of(sha256))
            try:
                actual_size = os.stat(path).st_size
            except FileNotFoundError:
                return "missing", "no file under its name in the blob store", 0
            if actual_size != size:
                return ("damaged", f"stored size {actual_size} bytes, preserved size {size}",
                        0)
            actual, n = hash_path(path)
        else:
            actual, n = _hash_stream(store, sha256)
    except (FileNotFoundError, BlobNotFound):
        return "missing", "no file under its name in the blob store", 0
    except OSError as e:
        return "damaged", f"cannot be read: {e}", 0
    if n != size:
        return "damaged", f"stored size {n} bytes, preserved size {size}", n
    if actual != sha256:
        return "damaged", f"its stored bytes hash to {actual}", n
    return None, "", n


def check_copies(store: ReplicatedBlobStore, sha256: str, size: int
                 ) -> dict[str, tuple[str | None, str, int]]:
    """:func:`check_file` of each copy of a replicated store; a copy whose store cannot
    be reached (an S3 replica down, refusing) counts as missing: nothing was read."""
    out: dict[str, tuple[str | None, str, int]] = {}
    for which in COPIES:
        try:
            out[which] = check_file(store.copy(which), sha256, size)
        except Exception as e:
            out[which] = ("missing", f"cannot be reached: {e}", 0)
    return out


def check_stored(store: BlobStore, sha256: str, size: int
                 ) -> tuple[str | None, str, int, str | None]:
    """:func:`check_file`, and which copy is bad (a replicated store): ``(state, detail,
    bytes read, copy)``; ``copy`` is ``"primary"``, ``"replica"`` or ``"both"`` (the file
    itself is then damaged or missing), None for a plain store."""
    if not isinstance(store, ReplicatedBlobStore):
        return (*check_file(store, sha256, size), None)
    res = check_copies(store, sha256, size)
    if res["replica"][0] == "missing" and store.is_pending(sha256):
        res["replica"] = (None, "", 0)  # not copied yet (async): lag, not loss
    n = sum(r[2] for r in res.values())
    bad = [w for w in COPIES if res[w][0] is not None]
    if not bad:
        return None, "", n, None
    if len(bad) == 1:
        w = bad[0]
        other = COPIES[1 - COPIES.index(w)]
        return res[w][0], f"the {w} copy: {res[w][1]} (the {other} copy is intact)", n, w
    state = "missing" if all(res[w][0] == "missing" for w in COPIES) else "damaged"
    return state, "; ".join(f"the {w} copy: {res[w][1]}" for w in COPIES), n, "both"


@dataclass(frozen=True)
class Repaired:
    """One copy rebuilt from the other: the body of its ``blob.repaired`` entry."""

    sha256: str
    copy: str  # the copy that was rebuilt
    problem: str  # what it was: "damaged" | "missing"

    def body(self) -> dict[str, str]:
        return {"sha256": self.sha256, "copy": self.copy, "problem": self.problem}


REPAIRED = "blob.repaired"


def repair_copies(store: ReplicatedBlobStore, sha256: str, size: int) -> Repaired | None:
    """Rebuild the one bad copy of a file from the good one: the good copy is hashed
    (:func:`check_file`) first, copied hashed again on the way, and the rebuilt copy is
    checked after. None if both copies are intact; raises :class:`RepairFailed` if both
    are bad (nothing to rebuild from) or the rebuilt copy does not check."""
    res = check_copies(store, sha256, size)
    bad = [w for w in COPIES if res[w][0] is not None]
    if not bad:
        return None
    if len(bad) == 2:
        raise RepairFailed(f"file {sha256}: neither copy is intact; nothing to repair from")
    target = bad[0]
    source = COPIES[1 - COPIES.index(target)]
    problem = res[target][0]
    assert problem is not None
    store.copy_blob(sha256, source, target, replace=True)
    state, detail, _n = check_file(store.copy(target), sha256, size)
    if state is not None:
        raise RepairFailed(f"file {sha256}: the rebuilt {target} copy is {state}: {detail}")
    return Repaired(sha256, target, problem)


class RepairFailed(Exception):
    """A copy could not be rebuilt."""


def repair_report(ledger: Any, store: BlobStore, report: FilesReport
                  ) -> tuple[list[dict[str, Any]], list[str]]:
    """``evidence audit --repair``: rebuild each copy the audit found bad on one side only,
    append its ``blob.repaired`` entry to ``ledger``, and drop it from ``report``'s
    problems. Returns (the entries' bodies with their ``seq``, errors)."""
    done: list[dict[str, Any]] = []
    errors: list[str] = []
    if not isinstance(store, ReplicatedBlobStore):
        return done, errors
    sizes = {sha: size for sha, size, _evs in stored_files(ledger.engine)}
    keep: list[FileProblem] = []
    for p in report.problems:
        if p.copy not in COPIES or p.sha256 not in sizes:
            keep.append(p)
            continue
        try:
            r = repair_copies(store, p.sha256, sizes[p.sha256])
        except Exception as e:
            errors.append(f"file {p.sha256}: {e}")
            keep.append(p)
            continue
        if r is not None:
            a = ledger.append(REPAIRED, r.body())
            done.append({**r.body(), "seq": a.seq})
    report.problems = keep
    return done, errors


def audit_files(engine: Engine, store: BlobStore, *, threads: int | None = None,
                progress: Callable[[int, int], None] | None = None) -> FilesReport:
    """Re-hash every stored file of every live item; ``progress(bytes done, bytes in
    all)`` as files finish. ``threads``: default one per core (more for a remote store,
    where each read waits on the network)."""
    files = stored_files(engine)
    if threads is None:
        cores = os.cpu_count() or 1
        threads = cores if isinstance(store, FilesystemBlobStore) else 4 * cores
    total = sum(size for _sha, size, _evs in files)
    report = FilesReport(files=len(files), threads=threads)
    done = 0
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="audit-files") as pool:
        results = pool.map(lambda r: (r, check_stored(store, r[0], r[1])), files)
        for (sha, size, evs), (state, detail, n, copy) in results:
            report.bytes += n
            done += size
            if state is not None:
                report.problems.append(FileProblem(sha, evs, state, detail, copy))
            if progress is not None:
                progress(done, total)
    report.seconds = time.perf_counter() - t0
    report.problems.sort(key=lambda p: (p.evidence_ids, p.sha256))
    return report
