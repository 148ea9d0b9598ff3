"""What intake takes and gives: the item to submit, its outcomes, and intake's errors.

Plain data, so that every stage of the pipeline (:mod:`.staging`, :mod:`.pipeline`, the
worker processes of :mod:`.bulk`) and every caller (CLI, HTTP API) speaks the same
types. An item walks one way: :class:`ItemSpec` (what the submitter gives) ->
:class:`StagedItem` (checked, stored, described; not yet on the ledger) ->
:class:`Submitted` (its entry durable). :class:`Prepared` is a :class:`StagedItem` that
waits for its submitter's signature outside this process (it serialises to JSON).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evidence.ledger.blobs import StagedBlob
from evidence.verify.note import Signer
from evidence.verify.submission import files_digest, submission_text

if TYPE_CHECKING:
    from evidence.ledger.intake.idempotency import Claim

# --- errors ------------------------------------------------------------------------------


SUBMITTED = "evidence.submitted"
"""The type of an item's entry (the bundle's checks name it too: verify/bundle_item.py;
not imported from there, which would load the bundle checks into every serving worker)."""


class IntakeError(Exception):
    """Base class: a submission, purge or lookup could not be done (nothing was changed)."""


@dataclass(frozen=True)
class FileFailure:
    """One reason an item was refused: the file (or setting, ``--case``...) and why."""

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
    # the client's idempotency key: its row commits with the entry, and a key already
    # used refuses the item (evidence/ledger/intake/idempotency.py)
    idempotency: Claim | None = None


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
    keys_expired: int = 0  # idempotency keys past their time to live (deleted unless dry)


@dataclass
class StagedItem:
    """An item checked, stored and described, not yet on the ledger: what staging hands
    the pipeline. ``stats`` are each file's ``(size, mtime_ns)`` as read (the post-commit
    check compares them); ``blobs`` are its blobs still to commit (empty once committed,
    or when the store stored them at once); ``receipt`` is set by the entry's row hook, in
    the transaction that commits the entry."""

    spec: ItemSpec
    paths: list[Path]
    stats: list[tuple[int, int]]
    evidence_id: str
    body: dict[str, Any]
    metadata_jcs: bytes
    salt: bytes
    warnings: list[str]
    receipt: str = ""
    blobs: list[StagedBlob] = field(default_factory=list)


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
