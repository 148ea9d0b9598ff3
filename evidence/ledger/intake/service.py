"""Evidence intake: files in, one ``evidence.submitted`` entry and a signed receipt out.

The life of an item (:meth:`Intake.submit`)::

    check paths -> stream each file into the blob store (hash in the same pass,
    size limit enforced while streaming) -> extract metadata (no second hash pass)
    -> build metadata {stated, extracted}, salt, commitment, body, submitter signature
    -> ledger.submit(entry, rows=hook): in ONE transaction the entry, the item row
       (metadata JCS + salt + receipt), its file rows and its custody event
    -> acknowledged (durable) -> check its blobs are still there.

Atomicity. A failed submission leaves no entry (the sequencer committed nothing for
it) and no orphaned blob: the blobs it wrote are deleted unless an item in the
database or another submission in flight in this process holds the same content.
A crash between blob write and entry leaves blobs no item names: :meth:`Intake.gc`
removes those older than a grace period. A blob that an in-flight submission in
another process wrote is younger than the grace period; a pre-existing one that a
concurrent ``gc`` removed is written again from the source after the commit (the
post-commit check), so an acknowledged item never lacks a file.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import os
import queue
import re
import secrets
import stat
import threading
import time as _time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from evidence.ledger.blobs import BlobError, BlobStore, BlobTooLarge, StagedBlob
from evidence.ledger.custody import linked
from evidence.ledger.db import read_transaction
from evidence.ledger.errors import AppendRejected, LedgerError
from evidence.ledger.evidence_store import (
    StoredItem,
    any_reference,
    is_live_item,
    live_blob_hashes,
    live_references,
    load_item,
    purged_rows,
    submitted_rows,
)
from evidence.ledger.intake.metadata import KINDS, MetadataError, UnknownKind, extract_metadata
from evidence.ledger.intake.metadata.basic import basic_facts
from evidence.ledger.intake.metadata.sniff import HEAD_BYTES
from evidence.ledger.intake.settings import DEFAULT_MAX_FILE_SIZE
from evidence.ledger.log import Ledger
from evidence.ledger.sequencer import Appended
from evidence.verify.commitment import commitment_of, new_salt
from evidence.verify.errors import VerificationError
from evidence.verify.fast.commitment_shortcut import canonical_metadata, verify_commitment
from evidence.verify.note import Signer
from evidence.verify.receipt import verify_receipt
from evidence.verify.submission import (
    files_digest,
    sign_submission,
    submission_text,
    verify_submission,
)

METADATA_SCHEMA = "evidence.metadata/v1"
SUBMITTED = "evidence.submitted"
PURGED = "evidence.purged"
DEFAULT_GC_GRACE = 24 * 3600.0
_META_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_CONTROL = re.compile("[\x00-\x1f\ud800-\udfff]")
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TO_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _CROCKFORD)
MAX_TEXT = 4096
_CHUNK = 4  # items per task of submit_many's pool: fewer hand-offs between threads


# --- errors ------------------------------------------------------------------------------


class IntakeError(Exception):
    """Base class: a submission, purge or lookup could not be done (nothing was changed)."""


@dataclass(frozen=True)
class FileFailure:
    file: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}"


class SubmissionRefused(IntakeError):
    """The item was refused; ``failures`` names every file (or setting) at fault."""

    def __init__(self, failures: Sequence[FileFailure]) -> None:
        self.failures = tuple(failures)
        super().__init__("; ".join(map(str, self.failures)) or "submission refused")


class UnknownEvidence(IntakeError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown evidence id"


class AlreadyPurged(IntakeError):
    """The item was purged before; a purge happens once."""


# --- what goes in, what comes out ----------------------------------------------------------


@dataclass
class ItemSpec:
    """One evidence item to submit: its files and what the submitter states."""

    files: Sequence[str | os.PathLike[str]]
    kind: str
    case: str
    principal: str
    title: str | None = None
    meta: Mapping[str, str] = field(default_factory=dict)
    source_url: str | None = None
    captured_at: str | None = None
    sign_key: Signer | None = None
    dns_records: Mapping[str, str] | None = None
    strict_metadata: bool = False


@dataclass(frozen=True)
class Submitted:
    """An acknowledged item: its entry is durable."""

    evidence_id: str
    seq: int
    leaf_hash: str
    time: str
    receipt: str
    body: dict[str, Any]
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"evidence_id": self.evidence_id, "seq": self.seq, "leaf_hash": self.leaf_hash,
                "time": self.time, "receipt": self.receipt, "files": self.body["files"],
                "metadata_commitment": self.body["metadata_commitment"],
                "signed_by_submitter": "submitter" in self.body,
                "warnings": list(self.warnings)}


@dataclass(frozen=True)
class Purged:
    evidence_id: str
    seq: int
    leaf_hash: str
    receipt: str
    deleted_blobs: tuple[str, ...]
    kept_blobs: tuple[str, ...]


@dataclass(frozen=True)
class GcReport:
    examined: int
    deleted: tuple[str, ...]
    kept_young: int
    temp_removed: int


@dataclass
class _Staged:
    spec: ItemSpec
    paths: list[Path]
    stats: list[tuple[int, int]]
    evidence_id: str
    body: dict[str, Any]
    metadata_jcs: bytes
    salt: bytes
    warnings: list[str]
    receipt: str = ""
    pending: list[StagedBlob] = field(default_factory=list)  # staged, not yet committed


@dataclass(frozen=True)
class Prepared:
    """An item stored and described by :meth:`Intake.prepare`, not yet on the ledger
    (JSON-serialisable with :meth:`to_json`: a caller may keep it while a submitter signs
    :meth:`text`, then hand it to :meth:`Intake.submit_prepared`)."""

    evidence_id: str
    body: dict[str, Any]
    metadata_jcs: bytes
    salt: bytes
    kind: str
    case: str
    principal: str
    paths: list[str]
    stats: list[tuple[int, int]]
    title: str | None = None
    warnings: list[str] = field(default_factory=list)

    def text(self) -> str:
        """What the submitter signs (``evidence.submission/v1``...)."""
        return submission_text(self.evidence_id, self.body["metadata_commitment"],
                               self.body["files"])

    def files_digest(self) -> str:
        return files_digest(self.body["files"])

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["metadata_jcs"] = base64.b64encode(self.metadata_jcs).decode("ascii")
        doc["salt"] = self.salt.hex()
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Prepared:
        d = dict(doc)
        d["metadata_jcs"] = base64.b64decode(d["metadata_jcs"])
        d["salt"] = bytes.fromhex(d["salt"])
        d["stats"] = [tuple(s) for s in d["stats"]]
        return cls(**d)


# --- helpers ------------------------------------------------------------------------------


def new_evidence_id() -> str:
    """``ev_`` + a ULID (48-bit millisecond time, 80 random bits, Crockford base32):
    opaque, unguessable, sortable by creation."""
    return "ev_" + _crockford26((int(_time.time() * 1000) << 80) | secrets.randbits(80))


def _crockford26(n: int) -> str:
    """``n`` (< 2**130) as 26 Crockford base32 digits, most significant first: the last 26
    of the 32 base32 digits of ``n`` as 20 bytes (160 bits)."""
    return base64.b32encode(n.to_bytes(20, "big"))[6:].decode("ascii").translate(_TO_CROCKFORD)


def _check_text(what: str, value: str | None, *, required: bool = False) -> list[FileFailure]:
    if value is None or value == "":
        return [FileFailure(what, "is required")] if required else []
    if len(value) > MAX_TEXT:
        return [FileFailure(what, f"is longer than {MAX_TEXT} characters")]
    if _CONTROL.search(value):
        return [FileFailure(what, "contains control characters")]
    return []


def _check_spec(spec: ItemSpec) -> list[FileFailure]:
    bad: list[FileFailure] = []
    if spec.kind not in KINDS:
        bad.append(FileFailure("--kind", f"unknown evidence kind {spec.kind!r}; expected one "
                                         f"of {', '.join(KINDS)}"))
    bad += _check_text("--case", spec.case, required=True)
    bad += _check_text("--principal", spec.principal, required=True)
    bad += _check_text("--title", spec.title)
    bad += _check_text("--source-url", spec.source_url)
    for k, v in spec.meta.items():
        if not isinstance(k, str) or not _META_KEY.fullmatch(k):
            bad.append(FileFailure("--meta", f"key {k!r} must be ASCII letters, digits, "
                                             "'_', '.', '-' (at most 64)"))
        bad += _check_text(f"--meta {k}", v if isinstance(v, str) else "\x00")
    if spec.captured_at:
        try:
            datetime.fromisoformat(spec.captured_at.replace("Z", "+00:00"))
        except ValueError:
            bad.append(FileFailure("--captured-at", f"{spec.captured_at!r} is not an ISO 8601 "
                                                    "/ RFC 3339 time"))
    if not spec.files:
        bad.append(FileFailure("FILE", "no files given"))
    return bad


def _open_regular(path: Path) -> tuple[int, os.stat_result]:
    """Open ``path`` for reading without blocking on a FIFO; refuse anything not a file."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except IsADirectoryError:
        raise _Refuse("is a directory, not a file") from None
    except FileNotFoundError:
        reason = "is a dangling symbolic link" if path.is_symlink() else "does not exist"
        raise _Refuse(reason) from None
    except OSError as e:
        raise _Refuse(f"cannot be read: {e.strerror or e}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        what = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(
            st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "a device")
        raise _Refuse(f"is {what}, not a regular file" if what != "a directory"
                      else "is a directory, not a file")
    if st.st_size == 0:
        os.close(fd)
        raise _Refuse("is empty (0 bytes): nothing to preserve")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return fd, st


class _Refuse(Exception):
    pass


# --- the service ------------------------------------------------------------------------------


class Intake:
    """Submits, shows, purges evidence items on an open (writable) :class:`Ledger`."""

    def __init__(self, ledger: Ledger, store: BlobStore, *,
                 max_file_size: int = DEFAULT_MAX_FILE_SIZE) -> None:
        self.ledger = ledger
        self.store = store
        self.max_file_size = max_file_size
        self._inflight: Counter[str] = Counter()
        self._inflight_lock = threading.Lock()
        self._purge_lock = threading.Lock()

    # -- submit ---------------------------------------------------------------------------

    def submit(self, spec: ItemSpec) -> Submitted:
        """Submit one item (all its files); returns once its entry is durable.
        Raises :class:`SubmissionRefused` (nothing stored) or a ledger error.

        :meth:`prepare` then :meth:`submit_prepared`, except that this item's blobs stay
        held (safe from a concurrent purge or discard here) from the first step on."""
        held: list[str] = []
        try:
            staged = self._stage(spec, held)
        except BaseException:
            self._release(held)
            raise
        return self._append(staged, held)

    def prepare(self, spec: ItemSpec) -> Prepared:
        """Store and describe ``spec``'s files exactly as :meth:`submit` does, but append
        nothing. The blobs are durable but no item names them yet: append the result with
        :meth:`submit_prepared`, or remove them with :meth:`discard_prepared` (or let
        :meth:`gc` do it after its grace period). Raises :class:`SubmissionRefused`."""
        held: list[str] = []
        try:
            staged = self._stage(spec, held)
        finally:
            self._release(held)
        return Prepared(staged.evidence_id, staged.body, staged.metadata_jcs, staged.salt,
                        spec.kind, spec.case, spec.principal, [str(p) for p in staged.paths],
                        list(staged.stats), spec.title, list(staged.warnings))

    def submit_prepared(self, prepared: Prepared, submitter: Mapping[str, str] | None = None
                        ) -> Submitted:
        """Append an item made by :meth:`prepare`; returns once durable. With ``submitter``
        (``{"key", "signature"}`` over :meth:`Prepared.text`), the entry carries that
        signature, checked first: :class:`~evidence.verify.submission.SubmissionSignatureError`
        (nothing appended) if it does not sign this item. A blob removed meanwhile is
        stored again from its source file (:class:`LedgerError` if that file changed)."""
        body = prepared.body
        if submitter is not None:
            body = {**body, "submitter": {"key": submitter.get("key"),
                                          "signature": submitter.get("signature")}}
            verify_submission(body, required=True)
        paths = [Path(p) for p in prepared.paths]
        spec = ItemSpec(files=paths, kind=prepared.kind, case=prepared.case,
                        principal=prepared.principal, title=prepared.title)
        held: list[str] = []
        try:
            for path, f in zip(paths, body["files"], strict=True):
                self._hold(held, f["sha256"])
                if not self.store.exists(f["sha256"]):  # removed meanwhile: from the source
                    with open(path, "rb") as src:
                        ref = self.store.put(src, max_size=self.max_file_size)
                    if ref.sha256 != f["sha256"]:
                        raise LedgerError(f"{os.fspath(path)} changed since it was prepared")
        except BaseException:
            self._release(held)
            raise
        staged = _Staged(spec, paths, list(prepared.stats), prepared.evidence_id, body,
                         prepared.metadata_jcs, prepared.salt, list(prepared.warnings))
        return self._append(staged, held)

    def discard_prepared(self, prepared: Prepared) -> None:
        """Remove the blobs of a prepared item that will not be appended, unless an item
        or a submission in flight here holds the same content."""
        self._discard([f["sha256"] for f in prepared.body["files"]])

    def submit_many(self, specs: Iterable[ItemSpec], *, workers: int = 16
                    ) -> Iterator[tuple[ItemSpec, Submitted | Exception]]:
        """Submit many items, each its own entry. Yields ``(spec, Submitted or the
        exception)`` as each finishes; a ``Submitted`` only once durable.

        A pool of ``workers`` threads stores and describes items (the hashing runs
        without the GIL); each hands its entry to the sequencer without waiting, so the
        sequencer group-commits whatever is queued while the pool goes on hashing."""
        done_q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        fin_q: queue.SimpleQueue[Any] = queue.SimpleQueue()

        def start(chunk: list[ItemSpec]) -> None:
            for spec in chunk:
                self._stage_bulk(spec, fin_q, done_q)

        finisher = self._start_finisher(fin_q, done_q)
        window = max(1, workers) * 8
        outstanding = 0
        it = iter(specs)
        exhausted = False
        try:
            with ThreadPoolExecutor(max_workers=max(1, workers),
                                    thread_name_prefix="intake") as pool:
                while True:
                    while not exhausted and outstanding + _CHUNK <= window:
                        chunk = list(itertools.islice(it, _CHUNK))
                        exhausted = len(chunk) < _CHUNK
                        if chunk:
                            pool.submit(start, chunk)
                            outstanding += len(chunk)
                    if outstanding == 0:
                        return
                    outstanding -= 1
                    yield self._take_done(done_q)
        finally:
            fin_q.put(None)
            finisher.join()

    # The bulk pipeline's stages, shared with the worker-process path (.bulk): items
    # staged (blobs written, not finished) go into ``fin_q`` as ``(spec, staged, held)``;
    # the finisher thread finishes their blobs and hands their entries to the sequencer;
    # every item comes out of ``done_q`` exactly once, to :meth:`_take_done`.

    def _stage_bulk(self, spec: ItemSpec, fin_q: queue.SimpleQueue[Any],
                    done_q: queue.SimpleQueue[Any]) -> None:
        """Stage one item here (blobs only written) into the pipeline."""
        held: list[str] = []
        try:
            staged = self._stage(spec, held, defer=True)
        except Exception as e:
            self._release(held)
            done_q.put((spec, None, held, e))
            return
        fin_q.put((spec, staged, held))

    def _start_finisher(self, fin_q: queue.SimpleQueue[Any], done_q: queue.SimpleQueue[Any],
                        *, paced: bool = False) -> threading.Thread:
        """The finisher thread; it stops once it has taken a ``None`` from ``fin_q``.
        ``paced``: see :meth:`_finisher`."""
        finisher = threading.Thread(target=self._finisher, args=(fin_q, done_q, paced),
                                    name="intake-finisher", daemon=True)
        finisher.start()
        return finisher

    def _take_done(self, done_q: queue.SimpleQueue[Any]
                   ) -> tuple[ItemSpec, Submitted | Exception]:
        """The next item out of the pipeline: ``Submitted`` once its entry is durable
        (and its blobs checked), else why not."""
        spec, staged, held, fut = done_q.get()
        if staged is None:
            return spec, fut
        try:
            return spec, self._finish(staged, held, fut)
        except (IntakeError, LedgerError, BlobError, VerificationError, OSError) as e:
            return spec, e

    def _finisher(self, fin_q: queue.SimpleQueue[Any], done_q: queue.SimpleQueue[Any],
                  paced: bool = False) -> None:
        """The bulk pipeline's blob stage: takes every staged item waiting, makes all
        their blobs durable and named together (:meth:`FilesystemBlobStore.finish_many`:
        two shared flushes), then hands each entry to the sequencer without waiting. The
        workers never block on a flush, and a flush serves a whole batch of items.

        ``paced`` (items arriving one by one, :class:`~.grouped.GroupedSubmitter`): the
        next batch is taken once the entries of the previous one are committed. A flush
        is quicker than the sequencer's commit, so unpaced the finisher ran several
        flushes of an item or two during one commit, and those items waited for the next
        commit anyway; paced, one flush serves everything that arrived meanwhile."""
        handed: list[Future[list[Appended]]] = []
        while True:
            if handed:
                wait(handed)
            batch = [fin_q.get()]
            while True:
                try:
                    batch.append(fin_q.get_nowait())
                except queue.Empty:
                    break
            stop = batch[-1] is None  # put last, once the workers are done
            batch = [b for b in batch if b is not None]
            if batch:
                handed = self._finish_batch(batch, done_q)
                if not paced:
                    handed = []
            if stop:
                return

    def _finish_batch(self, batch: list[tuple[ItemSpec, _Staged, list[str]]],
                      done_q: queue.SimpleQueue[Any]) -> list[Future[list[Appended]]]:
        """Finish ``batch``'s blobs, hand its entries over; returns their futures."""
        pending = [p for _, staged, _ in batch for p in staged.pending]
        errors: list[BaseException | None]
        if pending:
            try:
                errors = list(self.store.commit(pending))
            except Exception as e:  # a flush failed: nothing of this batch is durable
                errors = [e] * len(pending)
        else:
            errors = []
        i = 0
        handed: list[Future[list[Appended]]] = []
        for spec, staged, held in batch:
            n = len(staged.pending)
            err = next((e for e in errors[i:i + n] if e is not None), None)
            i += n
            staged.pending = []
            fut = None
            if err is None:
                try:
                    fut = self._enqueue(staged)
                except Exception as e:
                    err = e
            if fut is None:
                with contextlib.suppress(Exception):
                    self._discard(held)
                self._release(held)
                done_q.put((spec, None, held, err))
                continue
            fut.add_done_callback(
                lambda f, spec=spec, staged=staged, held=held: done_q.put(
                    (spec, staged, held, f)))
            handed.append(fut)
        return handed

    def _hold(self, held: list[str], sha: str) -> None:
        with self._inflight_lock:
            self._inflight[sha] += 1
        held.append(sha)

    def _release(self, held: list[str]) -> None:
        with self._inflight_lock:
            for sha in held:
                self._inflight[sha] -= 1
                if self._inflight[sha] <= 0:
                    del self._inflight[sha]
        held.clear()

    def _stage(self, spec: ItemSpec, held: list[str], *, defer: bool = False) -> _Staged:
        """Check, store and describe an item. With ``defer`` (and a store that can), its
        blobs are only written (``staged.pending``): the caller finishes them."""
        failures = _check_spec(spec)
        if failures:
            raise SubmissionRefused(failures)
        paths = [p if isinstance(p, Path) else Path(p) for p in spec.files]
        try:
            return self._store_files(spec, paths, held, defer)
        except SubmissionRefused:
            raise
        except BaseException:
            self._discard(held)
            raise

    def _store_files(self, spec: ItemSpec, paths: list[Path], held: list[str],
                     defer: bool = False) -> _Staged:
        pending: list[StagedBlob] = []
        try:
            staged = self._store_files_into(spec, paths, held, pending, defer)
        except BaseException:
            for p in pending:
                self.store.abort(p)
            raise
        staged.pending = pending
        return staged

    def _store_files_into(self, spec: ItemSpec, paths: list[Path], held: list[str],
                          pending: list[StagedBlob], defer: bool) -> _Staged:
        failures: list[FileFailure] = []
        refs: list[tuple[int, str, bytes] | None] = []
        stats: list[tuple[int, int]] = []
        for path in paths:
            try:
                fd, st = _open_regular(path)
            except _Refuse as e:
                failures.append(FileFailure(str(path), str(e)))
                refs.append(None)
                stats.append((0, 0))
                continue
            stats.append((st.st_size, st.st_mtime_ns))
            try:
                with os.fdopen(fd, "rb", buffering=0) as f:
                    # for the media type (the change check below covers the whole file)
                    head = os.pread(fd, HEAD_BYTES, 0)
                    if defer:
                        p = self.store.stage(f, max_size=self.max_file_size)  # type: ignore[arg-type]
                        pending.append(p)
                        ref = p.ref
                    else:
                        ref = self.store.put(f, max_size=self.max_file_size)  # type: ignore[arg-type]
            except BlobTooLarge:
                failures.append(FileFailure(str(path), f"is larger than the limit of "
                                                       f"{self.max_file_size} bytes"))
                refs.append(None)
                continue
            except OSError as e:
                failures.append(FileFailure(str(path), f"cannot be read: {e.strerror or e}"))
                refs.append(None)
                continue
            self._hold(held, ref.sha256)
            refs.append((ref.size, ref.sha256, head))
            if ref.size == 0:
                failures.append(FileFailure(str(path), "is empty (0 bytes): nothing to preserve"))
        if failures:
            self._discard(held)
            raise SubmissionRefused(failures)
        try:
            return self._describe(spec, paths, stats, refs)  # type: ignore[arg-type]
        except SubmissionRefused:
            self._discard(held)
            raise

    def _describe(self, spec: ItemSpec, paths: list[Path], stats: list[tuple[int, int]],
                  refs: list[tuple[int, str, bytes]]) -> _Staged:
        extracted_files: list[dict[str, Any]] = []
        errors: list[dict[str, str]] = []
        files: list[dict[str, Any]] = []
        warnings: list[str] = []
        for path, ref in zip(paths, refs, strict=True):
            try:
                facts = extract_metadata(spec.kind, [path], known=[ref],
                                         dns_records=spec.dns_records)["files"][0]
                extracted_files.append(facts)
                media_type = facts["media_type"]
            except UnknownKind as e:  # checked before; kept for safety
                raise SubmissionRefused([FileFailure("--kind", str(e))]) from None
            except MetadataError as e:
                for p in e.problems:
                    errors.append({"file": p.file, "reason": p.reason})
                    warnings.append(f"{path}: metadata not extracted: {p.reason}")
                try:
                    media_type = basic_facts(path, ref)["media_type"]
                except MetadataError:
                    media_type = "application/octet-stream"
            files.append({"name": path.name, "media_type": media_type, "size": ref[0],
                          "sha256": ref[1]})
        if errors and spec.strict_metadata:
            raise SubmissionRefused([FileFailure(e["file"], e["reason"]) for e in errors])
        changed = []
        for path, (size, mtime), ref in zip(paths, stats, refs, strict=True):
            try:
                st = os.stat(path)
                if (st.st_size, st.st_mtime_ns) != (size, mtime) or st.st_size != ref[0]:
                    changed.append(FileFailure(str(path), "changed while it was being submitted"))
            except OSError:
                changed.append(FileFailure(str(path), "disappeared while it was being submitted"))
        if changed:
            raise SubmissionRefused(changed)
        evidence_id = new_evidence_id()
        metadata: dict[str, Any] = {
            "schema": METADATA_SCHEMA,
            "evidence_id": evidence_id,
            "case": spec.case,
            "title": spec.title,
            "stated": {"source_url": spec.source_url, "captured_at": spec.captured_at,
                       "meta": dict(spec.meta)},
            "extracted": {"schema": "evidence.metadata.extracted/v1", "kind": spec.kind,
                          "files": extracted_files},
            "extraction_errors": errors,
        }
        try:
            # full RFC 8785 (floats allowed: GPS), encoded once for storage and commitment
            metadata_jcs = canonical_metadata(metadata)
        except (VerificationError, TypeError, ValueError) as e:
            raise SubmissionRefused([FileFailure("metadata", f"cannot be encoded: {e}")]) from None
        salt = new_salt()
        commitment = commitment_of(salt, metadata_jcs).hex()
        body: dict[str, Any] = {"evidence_id": evidence_id, "kind": spec.kind, "files": files,
                                "metadata_commitment": commitment, "principal": spec.principal}
        if spec.sign_key is not None:
            body["submitter"] = sign_submission(evidence_id, commitment, files, spec.sign_key)
        return _Staged(spec, paths, stats, evidence_id, body, metadata_jcs, salt, warnings)

    def _append(self, staged: _Staged, held: list[str]) -> Submitted:
        return self._finish(staged, held, self._enqueue(staged))

    def _enqueue(self, staged: _Staged) -> Future[list[Appended]]:
        """Hand the entry to the sequencer; its rows commit in the same transaction."""
        led = self.ledger
        spec = staged.spec

        def rows(conn: Connection, made: list[Appended]) -> list[Any]:
            a = made[0]
            staged.receipt = led.sign_receipt(a)
            return submitted_rows(
                evidence_id=staged.evidence_id, seq=a.seq, time=a.time, kind=spec.kind,
                case_id=spec.case, principal=spec.principal,
                commitment=staged.body["metadata_commitment"],
                metadata_jcs=staged.metadata_jcs, salt=staged.salt, receipt=staged.receipt,
                submitter_key=(staged.body.get("submitter") or {}).get("key"),
                files=staged.body["files"])

        return led.submit([(SUBMITTED, staged.body)], rows=rows)

    def _finish(self, staged: _Staged, held: list[str], fut: Future[list[Appended]]
                ) -> Submitted:
        """Wait for the commit; on failure remove the blobs only this item wrote."""
        try:
            try:
                a = fut.result()[0]
            except BaseException:
                self._discard(held)
                raise
            self._ensure_blobs(staged)
        finally:
            self._release(held)
        return Submitted(staged.evidence_id, a.seq, a.leaf_hash.hex(), a.time, staged.receipt,
                         staged.body, tuple(staged.warnings))

    def _ensure_blobs(self, staged: _Staged) -> None:
        """After the commit: every file must be in the store. A concurrent gc in another
        process may have removed a pre-existing orphan of the same content between our
        put (a no-op) and the commit; write it again from the source."""
        for path, f in zip(staged.paths, staged.body["files"], strict=True):
            if self.store.exists(f["sha256"]):
                continue
            with open(path, "rb") as src:
                ref = self.store.put(src, max_size=self.max_file_size)
            if ref.sha256 != f["sha256"]:
                raise LedgerError(f"{path} changed after it was preserved; the item "
                                  f"{staged.evidence_id} lacks blob {f['sha256']}: resubmit")

    def _discard(self, held: list[str]) -> None:
        """Delete the blobs a failed submission wrote, unless an item in the database or
        another submission in flight here holds the same content."""
        if not held:
            return
        with self._inflight_lock:
            mine = Counter(held)
            candidates = [s for s in mine if self._inflight[s] <= mine[s]]
        if not candidates:
            return
        with read_transaction(self.ledger.engine) as conn:
            free = [s for s in candidates if not any_reference(conn, s)]
        for sha in free:
            with contextlib.suppress(BlobError, OSError):
                self.store.delete(sha)

    # -- read --------------------------------------------------------------------------

    def item(self, evidence_id: str) -> StoredItem:
        with read_transaction(self.ledger.engine) as conn:
            item = load_item(conn, evidence_id)
        if item is None:
            raise UnknownEvidence(f"no evidence item {evidence_id!r} in this ledger")
        return item

    def show(self, evidence_id: str) -> dict[str, Any]:
        """Everything known about an item: files, metadata (opened), receipt, custody."""
        import json

        item = self.item(evidence_id)
        led = self.ledger
        entry = led.entry(item.seq)
        events = []
        for seq, etype in item.events:
            e = led.entry(seq)
            events.append({"seq": seq, "type": etype, "time": e.time,
                           "leaf_hash": e.leaf_hash.hex()})
        metadata = None
        opens: bool | None = None
        if item.metadata_jcs is not None and item.salt is not None:
            metadata = json.loads(item.metadata_jcs)
            try:
                verify_commitment(item.commitment, item.salt, metadata)
                opens = True
            except VerificationError:
                opens = False
        return {
            "evidence_id": item.evidence_id, "kind": item.kind, "case": item.case_id,
            "principal": item.principal, "seq": item.seq,
            "leaf_hash": entry.leaf_hash.hex(), "time": entry.time,
            "status": "purged" if item.purged else "preserved",
            "purged_seq": item.purged_seq, "purged_at": item.purged_at,
            "files": [{"name": f.name, "media_type": f.media_type, "size": f.size,
                       "sha256": f.sha256,
                       "stored": self.store.exists(f.sha256)}
                      for f in item.files],
            "metadata_commitment": item.commitment,
            "metadata": metadata, "salt": item.salt.hex() if item.salt else None,
            "commitment_opens": opens,
            "submitter_key": item.submitter_key,
            "receipt": item.receipt,
            "custody": events,
        }

    def receipt(self, evidence_id: str) -> dict[str, Any]:
        """The signed receipt and, once a checkpoint covers the entry, the full proof
        (inclusion proof to the latest checkpoint plus that checkpoint)."""
        item = self.item(evidence_id)
        led = self.ledger
        entry = led.entry(item.seq)
        verify_receipt(item.receipt, led.verifier, entry.data)  # our own copy: must hold
        out: dict[str, Any] = {"evidence_id": item.evidence_id, "seq": item.seq,
                               "leaf_hash": entry.leaf_hash.hex(), "time": entry.time,
                               "log_key": led.verifier_key, "receipt": item.receipt,
                               "entry": entry.data.decode("utf-8"),
                               "checkpoint": None, "inclusion_proof": None}
        cp = led.latest_checkpoint()
        if cp is not None and cp.size > item.seq:
            out["checkpoint"] = cp.note
            out["inclusion_proof"] = led.inclusion_proof(item.seq, cp.size).to_json()
        return out

    # -- purge -------------------------------------------------------------------------

    def purge(self, evidence_id: str, reason: str, principal: str) -> Purged:
        """Delete the item's files (unless another live item holds the same content) and
        its metadata and salt; append ``evidence.purged``. The original entry stays."""
        bad = _check_text("--reason", reason, required=True) + _check_text(
            "--principal", principal, required=True)
        if bad:
            raise SubmissionRefused(bad)
        body = {"evidence_id": evidence_id, "reason": reason, "principal": principal}

        def rows(conn: Connection, made: list[Appended]) -> list[Any]:
            live = is_live_item(conn, evidence_id)  # under the log lock: no race
            if live is None:
                raise UnknownEvidence(f"no evidence item {evidence_id!r} in this ledger")
            if not live:
                raise AlreadyPurged(f"evidence item {evidence_id} was already purged")
            state["receipt"] = self.ledger.sign_receipt(made[0])
            return purged_rows(evidence_id, made[0].seq, made[0].time)

        state: dict[str, str] = {}
        item = self.item(evidence_id)
        if item.purged:
            raise AlreadyPurged(f"evidence item {evidence_id} was already purged "
                                f"(entry {item.purged_seq})")
        with self._purge_lock:  # two purges of one item never share a batch
            try:
                prepare, linked_rows = linked([(PURGED, body)], rows)
                a = self.ledger.submit([(PURGED, body)], rows=linked_rows,
                                       prepare=prepare).result()[0]
            except AppendRejected as e:
                if isinstance(e.__cause__, IntakeError):
                    raise e.__cause__ from None
                raise
        deleted, kept = [], []
        with read_transaction(self.ledger.engine) as conn:
            shas = list(dict.fromkeys(f.sha256 for f in item.files))
            refs = {s: live_references(conn, s, excluding=evidence_id) for s in shas}
        for sha in shas:
            with self._inflight_lock:
                busy = self._inflight[sha] > 0
            if refs[sha] or busy:
                kept.append(sha)
            else:
                self.store.delete(sha)
                deleted.append(sha)
        return Purged(evidence_id, a.seq, a.leaf_hash.hex(), state.get("receipt", ""),
                      tuple(deleted), tuple(kept))

    # -- garbage collection --------------------------------------------------------------

    def gc(self, grace_seconds: float = DEFAULT_GC_GRACE, *, dry_run: bool = False
           ) -> GcReport:
        """Delete blobs that no live item holds and that are older than the grace period
        (left by a crash between blob write and entry, or by an interrupted purge)."""
        listed = list(iter_blobs(self.store))  # list first, then read the live set
        with read_transaction(self.ledger.engine) as conn:
            live = live_blob_hashes(conn)
        cutoff = _time.time() - grace_seconds
        deleted, young = [], 0
        for sha, mtime in listed:
            if sha in live:
                continue
            with self._inflight_lock:
                if self._inflight[sha] > 0:
                    continue
            if mtime > cutoff:
                young += 1
                continue
            if not dry_run:
                self.store.delete(sha)
            deleted.append(sha)
        temp = 0 if dry_run else self.store.sweep_temp(grace_seconds)
        return GcReport(len(listed), tuple(deleted), young, temp)


def iter_blobs(store: BlobStore) -> Iterator[tuple[str, float]]:
    """``(sha256, modification time)`` of every stored blob (filesystem or S3; both
    copies of a replicated store, so that an orphan on either is collected)."""
    return store.iter_blobs()


# --- bulk: expanding paths for --each --------------------------------------------------------


def expand_each(paths: Sequence[str | os.PathLike[str]]
                ) -> Iterator[tuple[Path, str | None]]:
    """Every file given, and every file under every folder given (recursively), as
    ``(path, None)``; or ``(path, reason)`` for one that cannot be an item. Symbolic links
    inside a folder are followed only to regular files inside the same folder."""
    for raw in paths:
        p = Path(raw)
        if p.is_dir() and not p.is_symlink():
            yield from _walk(p)
        else:
            yield p, None  # a named file: checked when it is submitted


def _walk(top: Path) -> Iterator[tuple[Path, str | None]]:
    root = top.resolve()

    def onerror(e: OSError) -> None:
        errors.append((Path(e.filename or top), f"cannot be listed: {e.strerror or e}"))

    errors: list[tuple[Path, str]] = []
    for d, dirnames, filenames in os.walk(top, onerror=onerror, followlinks=False):
        yield from errors
        errors.clear()
        dirnames.sort()
        for name in list(dirnames):
            full = Path(d) / name
            if full.is_symlink():
                dirnames.remove(name)
                yield full, "is a symbolic link to a folder: not followed"
        for name in sorted(filenames):
            full = Path(d) / name
            if full.is_symlink():
                try:
                    target = full.resolve(strict=True)
                except (OSError, RuntimeError):
                    yield full, "is a dangling symbolic link"
                    continue
                if not target.is_relative_to(root):
                    yield full, "is a symbolic link out of the folder: not followed"
                    continue
            yield full, None
    yield from errors


def principal_default() -> str:
    import getpass

    try:
        return f"local:{getpass.getuser()}"
    except Exception:
        return "local:unknown"


ProgressFn = Callable[[int], None]
