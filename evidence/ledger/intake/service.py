"""Evidence intake: files in, one ``evidence.submitted`` entry and a signed receipt out.

The life of an item (:meth:`Intake.submit`)::

    check paths -> stream each file into the blob store (hash in the same pass,
    size limit enforced while streaming) -> extract metadata (no second hash pass)
    -> build metadata {stated, extracted}, salt, commitment, body, submitter signature
    -> ledger.append_batch(entry, rows=hook): in ONE transaction the entry, the item row
       (metadata JCS + salt + receipt), its file rows and its custody event
    -> acknowledged (durable) -> check its blobs are still there.

The rooms: :mod:`.staging` checks, stores and describes; :mod:`.pipeline` puts staged
items on the ledger (one item here, many from a thread pool, the HTTP API's concurrent
requests, the worker processes of :mod:`.bulk`); :mod:`.holds` keeps in-flight blobs
safe; :mod:`.maintenance` collects orphans. :class:`Intake` is the face of them all.

Atomicity. A failed submission leaves no entry (the sequencer committed nothing for
it) and no orphaned blob: the blobs it wrote are deleted unless an item in the
database or another submission in flight in this process holds the same content.
A crash between blob write and entry leaves blobs no item names: :meth:`Intake.gc`
removes those older than a grace period. A blob that an in-flight submission in
another process wrote is younger than the grace period; a pre-existing one that a
concurrent ``gc`` removed is written again from the source after the commit (the
post-commit check), so an acknowledged item never lacks a file.

Signatures made later. The submitter's signature (:mod:`evidence.verify.submission`)
covers the evidence id and the salted metadata commitment, which intake makes itself
(the id is server-made so it is unique and sortable; the salt must stay secret and
random, or the commitment could be opened by guessing the metadata). A submitter who
keeps its key to itself (the HTTP API's ``sign=deferred``) therefore signs in two steps:
:meth:`Intake.prepare` stores and describes the item but appends nothing, and the
submitter signs :meth:`Prepared.text`; :meth:`Intake.submit_prepared` checks that
signature (the check a verifier runs on the entry) and appends the entry through the
same atomic path. A prepared item never signed is removed by
:meth:`Intake.discard_prepared` (or by :meth:`Intake.gc` after its grace).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from evidence.ledger.blobs import BlobStore
from evidence.ledger.custody import linked
from evidence.ledger.db.engine import read_transaction
from evidence.ledger.errors import AppendRejected, LedgerError
from evidence.ledger.evidence_store import (
    StoredItem,
    is_live_item,
    live_references,
    load_item,
    purged_rows,
)
from evidence.ledger.intake import derived, entry_room, maintenance, pipeline
from evidence.ledger.intake.holds import Holds
from evidence.ledger.intake.idempotency import DEFAULT_TTL as DEFAULT_KEY_TTL
from evidence.ledger.intake.idempotency import Claim
from evidence.ledger.intake.maintenance import DEFAULT_GC_GRACE
from evidence.ledger.intake.model import (
    AlreadyPurged,
    GcReport,
    IntakeError,
    ItemSpec,
    Prepared,
    Purged,
    StagedItem,
    SubmissionRefused,
    Submitted,
    UnknownEvidence,
)
from evidence.ledger.intake.pipeline import Appender, Done, Pipeline
from evidence.ledger.intake.settings import DEFAULT_MAX_FILE_SIZE
from evidence.ledger.intake.staging import Stager, check_text
from evidence.ledger.log import Ledger
from evidence.ledger.sequencer import Appended
from evidence.verify.errors import VerificationError
from evidence.verify.fast.commitment_shortcut import verify_commitment
from evidence.verify.receipt import verify_receipt
from evidence.verify.submission import verify_submission

__all__ = ["Intake"]  # the model's names: evidence.ledger.intake (or .model)

PURGED = "evidence.purged"


class Intake:
    """Submits, shows, purges evidence items on an open (writable) :class:`Ledger`.

    ``holds`` (what submissions in flight here hold) and ``stager`` (check, store,
    describe) are public for the pipeline's other producers (:mod:`.grouped`,
    :mod:`.bulk`)."""

    def __init__(self, ledger: Ledger, store: BlobStore, *,
                 max_file_size: int = DEFAULT_MAX_FILE_SIZE) -> None:
        self.ledger = ledger
        self.store = store
        self.max_file_size = max_file_size
        self.holds = Holds(store, ledger)
        self.stager = Stager(store, self.holds, max_file_size)
        self._appender = Appender(ledger, store, self.holds, max_file_size)
        self._purge_lock = threading.Lock()

    # -- submit ---------------------------------------------------------------------------

    def submit(self, spec: ItemSpec) -> Submitted:
        """Submit one item (all its files); returns once its entry is durable.
        Raises :class:`SubmissionRefused` (nothing stored) or a ledger error.

        :meth:`prepare` then :meth:`submit_prepared`, except that this item's blobs stay
        held (safe from a concurrent purge or discard here) from the first step on."""
        held: list[str] = []
        staged = self.stager.stage(spec, held)
        return self._appender.append(staged, held)

    def prepare(self, spec: ItemSpec) -> Prepared:
        """Store and describe ``spec``'s files exactly as :meth:`submit` does, but append
        nothing. The blobs are durable but no item names them yet: append the result with
        :meth:`submit_prepared`, or remove them with :meth:`discard_prepared` (or let
        :meth:`gc` do it after its grace period). Raises :class:`SubmissionRefused`.
        ``spec.sign_key`` must be None: the signature comes later, over
        :meth:`Prepared.text`."""
        if spec.sign_key is not None:
            raise ValueError("prepare() is for a signature made later, not with sign_key")
        held: list[str] = []
        try:
            staged = self.stager.stage(spec, held)
        finally:
            self.holds.release(held)
        return Prepared(staged.evidence_id, staged.body, staged.metadata_jcs, staged.salt,
                        spec.kind, spec.case, spec.principal, [str(p) for p in staged.paths],
                        list(staged.stats), spec.title, list(staged.warnings))

    def submit_prepared(self, prepared: Prepared, submitter: Mapping[str, str] | None = None,
                        *, idempotency: Claim | None = None) -> Submitted:
        """Append an item made by :meth:`prepare`; returns once durable. With ``submitter``
        (``{"key", "signature"}`` over :meth:`Prepared.text`), the entry carries that
        signature, checked first: :class:`~evidence.verify.submission.SubmissionSignatureError`
        (nothing appended) if it does not sign this item. A blob removed meanwhile is
        stored again from its source file (:class:`LedgerError` if that file changed).
        ``idempotency``: as :attr:`ItemSpec.idempotency` (:mod:`.idempotency`)."""
        body = prepared.body
        if submitter is not None:
            body = {**body, "submitter": {"key": submitter.get("key"),
                                          "signature": submitter.get("signature")}}
            verify_submission(body, required=True)
            entry_room.check_fits(body)  # a key of a very long name: refused, still pending
        paths = [Path(p) for p in prepared.paths]
        spec = ItemSpec(files=paths, kind=prepared.kind, case=prepared.case,
                        principal=prepared.principal, title=prepared.title,
                        idempotency=idempotency)
        held: list[str] = []
        try:
            for f in body["files"]:
                self.holds.hold(held, f["sha256"])
            for path, f in zip(paths, derived.originals(body["files"]), strict=True):
                if not self.store.exists(f["sha256"]):  # removed meanwhile: from the source
                    with open(path, "rb") as src:
                        ref = self.store.put(src, max_size=self.max_file_size)
                    if ref.sha256 != f["sha256"]:
                        raise LedgerError(f"{os.fspath(path)} changed since it was prepared")
            if derived.restore(self.store, paths, body["files"], self.max_file_size):
                raise LedgerError("a file taken from an archive of the item is gone and the "
                                  "archive changed since it was prepared")
        except BaseException:
            self.holds.release(held)
            raise
        staged = StagedItem(spec, paths, list(prepared.stats), prepared.evidence_id, body,
                            prepared.metadata_jcs, prepared.salt, list(prepared.warnings))
        return self._appender.append(staged, held)

    def discard_prepared(self, prepared: Prepared) -> None:
        """Remove the blobs of a prepared item that will not be appended, unless an item
        or a submission in flight here holds the same content."""
        self.holds.discard([f["sha256"] for f in prepared.body["files"]])

    def submit_many(self, specs: Iterable[ItemSpec], *, workers: int = 16
                    ) -> Iterator[tuple[ItemSpec, Submitted | Exception]]:
        """Submit many items, each its own entry. Yields ``(spec, Submitted or the
        exception)`` as each finishes; a ``Submitted`` only once durable
        (:func:`.pipeline.submit_many`: ``workers`` threads stage, one pipeline commits)."""
        return pipeline.submit_many(self.stager, self._appender, specs, workers=workers)

    # -- the pipeline, for producers elsewhere (.grouped, .bulk) --------------------------

    def pipeline(self, on_done: Callable[[Done], None], *, paced: bool = False) -> Pipeline:
        """A new :class:`~.pipeline.Pipeline` onto this intake's ledger (its finisher
        thread runs until :meth:`Pipeline.close`)."""
        return Pipeline(self.stager, self._appender, on_done, paced=paced)

    def result(self, done: Done) -> Submitted:
        """The item ``done`` stands for, once durable (its holds released); raises why
        it is not (as :meth:`submit` raises)."""
        return self._appender.result(done)

    def outcome(self, done: Done) -> tuple[ItemSpec, Submitted | Exception]:
        """:meth:`result`, with the item's own failure returned instead of raised (as
        :meth:`submit_many` yields it)."""
        return self._appender.outcome(done)

    # -- read --------------------------------------------------------------------------

    def item(self, evidence_id: str) -> StoredItem:
        with read_transaction(self.ledger.engine) as conn:
            item = load_item(conn, evidence_id)
        if item is None:
            raise UnknownEvidence(f"no evidence item {evidence_id!r} in this ledger")
        return item

    def show(self, evidence_id: str) -> dict[str, Any]:
        """Everything known about an item: files, metadata (opened), receipt, custody."""
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
        bad = check_text("--reason", reason, required=True) + check_text(
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
                a = self.ledger.append_batch([(PURGED, body)], rows=linked_rows,
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
            if refs[sha] or self.holds.busy(sha):
                kept.append(sha)
            else:
                self.store.delete(sha)
                deleted.append(sha)
        if self.ledger.config is not None:  # built bundles kept for resumed downloads
            from evidence.ledger.bundle.cache import forget_purged

            forget_purged(self.ledger.config.data_dir, evidence_id)
        return Purged(evidence_id, a.seq, a.leaf_hash.hex(), state.get("receipt", ""),
                      tuple(deleted), tuple(kept))

    # -- garbage collection --------------------------------------------------------------

    def gc(self, grace_seconds: float = DEFAULT_GC_GRACE, *, dry_run: bool = False,
           key_ttl: float = DEFAULT_KEY_TTL) -> GcReport:
        """Delete blobs that no live item holds and that are older than the grace period
        (left by a crash between blob write and entry, or by an interrupted purge), and
        idempotency keys older than ``key_ttl``."""
        return maintenance.gc(self.ledger, self.store, self.holds, grace_seconds,
                              dry_run=dry_run, key_ttl=key_ttl)
