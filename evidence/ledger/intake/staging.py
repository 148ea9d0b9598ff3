"""Staging an item: check what the submitter states, store its files, describe it.

Everything about an item that needs no ledger state happens here, in the caller's
thread (or a worker process of :mod:`.bulk`): each file is streamed into the blob store
(hashed in the same pass, the size limit enforced while streaming), its metadata is
extracted with no second hash pass, and the item gets its id, its salted metadata
commitment and, with a submitter key, the submitter's signature. The result is a
:class:`~.model.StagedItem`; :mod:`.pipeline` puts it on the ledger.

A refusal (:class:`~.model.SubmissionRefused`) names every file at fault and leaves
nothing: blobs this item alone wrote are removed, its holds released.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from evidence.ledger.blobs import BlobStore, BlobTooLarge, StagedBlob
from evidence.ledger.intake import derived, entry_room
from evidence.ledger.intake.derived import Derivation
from evidence.ledger.intake.files import FileRefused, open_regular
from evidence.ledger.intake.holds import Holds
from evidence.ledger.intake.metadata import (
    KINDS,
    MetadataError,
    UnknownKind,
    extract_metadata,
    file_notices,
    file_warnings,
)
from evidence.ledger.intake.metadata.basic import basic_facts
from evidence.ledger.intake.metadata.sniff import HEAD_BYTES
from evidence.ledger.intake.model import FileFailure, ItemSpec, StagedItem, SubmissionRefused
from evidence.verify.commitment import commitment_of, new_salt
from evidence.verify.errors import VerificationError
from evidence.verify.fast.commitment_shortcut import canonical_metadata
from evidence.verify.submission import sign_submission

METADATA_SCHEMA = "evidence.metadata/v1"
MAX_TEXT = 4096
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_META_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_CONTROL = re.compile("[\x00-\x1f\ud800-\udfff]")
_TO_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", CROCKFORD)


def new_evidence_id() -> str:
    """``ev_`` + a ULID (48-bit millisecond time, 80 random bits, Crockford base32):
    opaque, unguessable, sortable by creation."""
    return "ev_" + crockford26((int(time.time() * 1000) << 80) | secrets.randbits(80))


def crockford26(n: int) -> str:
    """``n`` (< 2**130) as 26 Crockford base32 digits, most significant first: the last 26
    of the 32 base32 digits of ``n`` as 20 bytes (160 bits)."""
    return base64.b32encode(n.to_bytes(20, "big"))[6:].decode("ascii").translate(_TO_CROCKFORD)


# --- check --------------------------------------------------------------------------------


def check_text(what: str, value: str | None, *, required: bool = False) -> list[FileFailure]:
    """A stated text (case, principal, title, reason...): at most :data:`MAX_TEXT`
    characters, no control characters or lone surrogates."""
    if value is None or value == "":
        return [FileFailure(what, "is required")] if required else []
    if len(value) > MAX_TEXT:
        return [FileFailure(what, f"is longer than {MAX_TEXT} characters")]
    if _CONTROL.search(value):
        return [FileFailure(what, "contains control characters")]
    return []


def check_spec(spec: ItemSpec) -> list[FileFailure]:
    """Everything wrong with what the submitter states (the files are checked as they
    are stored)."""
    bad: list[FileFailure] = []
    if spec.kind not in KINDS:
        bad.append(FileFailure("--kind", f"unknown evidence kind {spec.kind!r}; expected one "
                                         f"of {', '.join(KINDS)}"))
    bad += check_text("--case", spec.case, required=True)
    bad += check_text("--principal", spec.principal, required=True)
    bad += check_text("--title", spec.title)
    bad += check_text("--source-url", spec.source_url)
    for k, v in spec.meta.items():
        if not isinstance(k, str) or not _META_KEY.fullmatch(k):
            # named neutrally: the CLI's --meta, the API's meta field, the console's facts
            bad.append(FileFailure("metadata", f"metadata fact name {k!r} must be 1 to 64 "
                                               "ASCII letters, digits, '_', '.', '-', "
                                               "starting with a letter or digit"))
        bad += check_text(f"metadata fact {k}", v if isinstance(v, str) else "\x00")
    if spec.captured_at:
        try:
            datetime.fromisoformat(spec.captured_at.replace("Z", "+00:00"))
        except ValueError:
            bad.append(FileFailure("--captured-at", f"{spec.captured_at!r} is not an ISO 8601 "
                                                    "/ RFC 3339 time"))
    if not spec.files:
        bad.append(FileFailure("FILE", "no files given"))
    return bad


# --- store and describe ---------------------------------------------------------------------


class Stager:
    """Checks, stores and describes items for one blob store."""

    def __init__(self, store: BlobStore, holds: Holds, max_file_size: int) -> None:
        self.store = store
        self.holds = holds
        self.max_file_size = max_file_size

    def stage(self, spec: ItemSpec, held: list[str], *, defer: bool = False) -> StagedItem:
        """Check, store and describe ``spec``; every blob it stored is held in ``held``.
        With ``defer`` its blobs are only staged (``item.blobs``: the caller commits them,
        or aborts them); without, they are stored and durable.

        Raises :class:`SubmissionRefused` (or the error met) with nothing left behind:
        blobs only this item holds deleted, staged blobs aborted, ``held`` released."""
        try:
            failures = check_spec(spec)
            if failures:
                raise SubmissionRefused(failures)
            paths = [p if isinstance(p, Path) else Path(p) for p in spec.files]
            try:
                return self._store(spec, paths, held, defer)
            except SubmissionRefused:
                raise
            except BaseException:
                self.holds.discard(held)
                raise
        except BaseException:
            self.holds.release(held)
            raise

    def _store(self, spec: ItemSpec, paths: list[Path], held: list[str], defer: bool
               ) -> StagedItem:
        staged: list[StagedBlob] = []
        try:
            item = self._store_each(spec, paths, held, staged, defer)
        except BaseException:
            for s in staged:
                self.store.abort(s)
            raise
        item.blobs = staged
        return item

    def _store_each(self, spec: ItemSpec, paths: list[Path], held: list[str],
                    staged: list[StagedBlob], defer: bool) -> StagedItem:
        failures: list[FileFailure] = []
        refs: list[tuple[int, str, bytes] | None] = []
        stats: list[tuple[int, int]] = []
        for path in paths:
            try:
                fd, st = open_regular(path)
            except FileRefused as e:
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
                        s = self.store.stage(f, max_size=self.max_file_size)  # type: ignore[arg-type]
                        staged.append(s)
                        ref = s.ref
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
            self.holds.hold(held, ref.sha256)
            refs.append((ref.size, ref.sha256, head))
            if ref.size == 0:
                failures.append(FileFailure(str(path), "is empty (0 bytes): nothing to preserve"))
        if failures:
            self.holds.discard(held)
            raise SubmissionRefused(failures)
        media = self._derive(spec, paths, refs, held, staged, defer)  # type: ignore[arg-type]
        try:
            return describe(spec, paths, stats, refs, media)  # type: ignore[arg-type]
        except SubmissionRefused:
            self.holds.discard(held)
            raise

    def _derive(self, spec: ItemSpec, paths: list[Path], refs: list[tuple[int, str, bytes]],
                held: list[str], staged: list[StagedBlob], defer: bool
                ) -> list[Derivation | None]:
        """A chat ZIP's media stored as further files of the item (:mod:`.derived`), each
        held (and staged with ``defer``) like a submitted file; None for other files."""
        out: list[Derivation | None] = []
        room: int | None = None
        for path, ref in zip(paths, refs, strict=True):
            if spec.kind != "chat" or not derived.is_chat_zip(ref[2]):
                out.append(None)
                continue
            if room is None:  # what the entry has left once the submitted files are in it
                room = entry_room.room_left(_widest_body(spec, paths, refs))
            got = derived.derive(self.store, path, ref[1], max_file_size=self.max_file_size,
                                 defer=defer, room=room)
            room -= sum(entry_room.listed_size(d.entry) for d in got.files)
            for d in got.files:
                if d.staged is not None:
                    staged.append(d.staged)
                self.holds.hold(held, d.entry["sha256"])
            out.append(got)
        return out


MAX_MEDIA_TYPE = 255
"""The longest media type (RFC 6838: type and subtype of at most 127 characters each)."""


def _widest_body(spec: ItemSpec, paths: list[Path], refs: list[tuple[int, str, bytes]]
                 ) -> dict[str, Any]:
    """The item's entry body before any derived file, as long as :func:`describe` can make
    it: every media type at its longest, no submitter signature (room is kept for one)."""
    return {"evidence_id": "ev_" + "0" * 26, "kind": spec.kind,
            "files": [{"name": p.name, "media_type": "x" * MAX_MEDIA_TYPE, "size": r[0],
                       "sha256": r[1]} for p, r in zip(paths, refs, strict=True)],
            "metadata_commitment": "0" * 64, "principal": spec.principal}


def describe(spec: ItemSpec, paths: list[Path], stats: list[tuple[int, int]],
             refs: list[tuple[int, str, bytes]],
             media: Sequence[Derivation | None] = ()) -> StagedItem:
    """The item's metadata ``{stated, extracted}``, id, salt, commitment and entry body,
    from its stored files (``refs``: size, SHA-256 and first bytes of each) and the files
    derived from them (``media``, aligned with ``paths``: they follow the submitted files
    in the entry). Refuses an item whose files changed while they were stored."""
    media = list(media) or [None] * len(paths)
    extracted_files: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    files: list[dict[str, Any]] = []
    warnings: list[str] = []
    for path, ref, got in zip(paths, refs, media, strict=True):
        linked = False
        try:
            facts = extract_metadata(spec.kind, [path], known=[ref],
                                     dns_records=spec.dns_records)["files"][0]
            if got is not None:  # link the messages to the media stored
                linked = derived.annotate(facts.get("chat") or {}, got)
            extracted_files.append(facts)
            media_type = facts["media_type"]
            for reason in file_warnings(facts):  # extracted, but not cleanly
                errors.append({"file": path.name, "reason": reason})
                warnings.append(f"{path.name}: {reason}")  # the name only: never a server path
            for notice in file_notices(facts):  # facts for the submitter, never a refusal
                warnings.append(f"{path.name}: {notice}")
        except UnknownKind as e:  # checked before; kept for safety
            raise SubmissionRefused([FileFailure("--kind", str(e))]) from None
        except MetadataError as e:
            for p in e.problems:
                errors.append({"file": p.file, "reason": p.reason})
                warnings.append(f"{path.name}: metadata not extracted: {p.reason}")
            try:
                media_type = basic_facts(path, ref)["media_type"]
            except MetadataError:
                media_type = "application/octet-stream"
        files.append({"name": path.name, "media_type": media_type, "size": ref[0],
                      "sha256": ref[1]})
        if got is not None and not linked:
            for w in got.warnings:  # no chat section took them (its text unreadable)
                errors.append({"file": path.name, "reason": w})
                warnings.append(f"{path.name}: {w}")
    files += [d.entry for got in media if got is not None for d in got.files]
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
    entry_room.check_fits(body)
    return StagedItem(spec, paths, stats, evidence_id, body, metadata_jcs, salt, warnings)
