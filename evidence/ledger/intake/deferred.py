"""Deferred submitter signatures: stage an item now, append it once its submitter signed.

The submitter's signature (:mod:`evidence.verify.submission`) covers the evidence id and
the salted metadata commitment, which intake makes itself (the id is server-made so it
is unique and sortable; the salt must stay secret and random, or the commitment could be
opened by guessing the metadata). A submitter who keeps its key to itself (the HTTP API)
therefore signs in two steps:

1. :func:`prepare`: intake stores the files and describes the item exactly as
   :meth:`Intake.submit` does, but stops before the ledger: no entry, nothing signed.
   The caller keeps the returned :class:`Prepared` (it serialises to JSON) and shows the
   submitter :meth:`Prepared.text`, the exact text to sign.
2. :func:`submit_prepared`: checks the signature with
   :func:`~evidence.verify.submission.verify_submission` (the same check a verifier runs
   on the entry), then appends the entry through intake's own atomic path (entry, item
   row, file rows, custody event in one transaction; a signed receipt back).

Kept apart from :mod:`.service` on purpose; it uses intake's staging and append steps
and nothing else. A prepared item that is never signed leaves blobs no item names:
:func:`discard_prepared` removes them (and :meth:`Intake.gc` would after its grace).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from evidence.ledger.errors import LedgerError
from evidence.ledger.intake.service import Intake, ItemSpec, Submitted, _Staged
from evidence.verify.submission import files_digest, submission_text, verify_submission


@dataclass(frozen=True)
class Prepared:
    """A staged item, not yet on the ledger (JSON-serialisable with :meth:`to_json`)."""

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


def prepare(intake: Intake, spec: ItemSpec) -> Prepared:
    """Store and describe ``spec``'s files (no entry). ``spec.sign_key`` must be None.
    Raises :class:`~evidence.ledger.intake.SubmissionRefused` as :meth:`Intake.submit`."""
    if spec.sign_key is not None:
        raise ValueError("prepare() is for a signature made later, not with sign_key")
    held: list[str] = []
    try:
        staged = intake._stage(spec, held)
    finally:
        intake._release(held)
    return Prepared(staged.evidence_id, staged.body, staged.metadata_jcs, staged.salt,
                    spec.kind, spec.case, spec.principal, [str(p) for p in staged.paths],
                    list(staged.stats), spec.title, list(staged.warnings))


def submit_prepared(intake: Intake, prepared: Prepared, submitter: Mapping[str, str]
                    ) -> Submitted:
    """Append ``prepared`` with the submitter's ``{"key", "signature"}``; returns once
    durable. Raises :class:`~evidence.verify.submission.SubmissionSignatureError` (nothing
    appended) if the signature does not sign this item."""
    body = {**prepared.body, "submitter": {"key": submitter.get("key"),
                                            "signature": submitter.get("signature")}}
    verify_submission(body, required=True)
    spec = ItemSpec(files=[Path(p) for p in prepared.paths], kind=prepared.kind,
                    case=prepared.case, principal=prepared.principal, title=prepared.title)
    held: list[str] = []
    try:
        for path, f in zip(spec.files, body["files"], strict=True):
            intake._hold(held, f["sha256"])
            if not intake.store.exists(f["sha256"]):  # removed meanwhile: from the source
                with open(path, "rb") as src:
                    ref = intake.store.put(src, max_size=intake.max_file_size)
                if ref.sha256 != f["sha256"]:
                    raise LedgerError(f"{os.fspath(path)} changed since it was prepared")
    except BaseException:
        intake._release(held)
        raise
    staged = _Staged(spec, [Path(p) for p in prepared.paths], list(prepared.stats),
                     prepared.evidence_id, body, prepared.metadata_jcs, prepared.salt,
                     list(prepared.warnings))
    return intake._append(staged, held)


def discard_prepared(intake: Intake, prepared: Prepared) -> None:
    """Remove the blobs a never-signed item wrote, unless an item or a submission in
    flight here holds the same content."""
    intake._discard([f["sha256"] for f in prepared.body["files"]])
