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

The steps are :class:`~.service.Intake`'s public pair (:meth:`Intake.prepare`,
:meth:`Intake.submit_prepared`); this module keeps the names the HTTP API uses. A
prepared item that is never signed leaves blobs no item names: :func:`discard_prepared`
removes them (and :meth:`Intake.gc` would after its grace).
"""

from __future__ import annotations

from collections.abc import Mapping

from evidence.ledger.intake.service import Intake, ItemSpec, Prepared, Submitted

__all__ = ["Prepared", "discard_prepared", "prepare", "submit_prepared"]


def prepare(intake: Intake, spec: ItemSpec) -> Prepared:
    """Store and describe ``spec``'s files (no entry). ``spec.sign_key`` must be None.
    Raises :class:`~evidence.ledger.intake.SubmissionRefused` as :meth:`Intake.submit`."""
    if spec.sign_key is not None:
        raise ValueError("prepare() is for a signature made later, not with sign_key")
    return intake.prepare(spec)


def submit_prepared(intake: Intake, prepared: Prepared, submitter: Mapping[str, str]
                    ) -> Submitted:
    """Append ``prepared`` with the submitter's ``{"key", "signature"}``; returns once
    durable. Raises :class:`~evidence.verify.submission.SubmissionSignatureError` (nothing
    appended) if the signature does not sign this item."""
    return intake.submit_prepared(prepared, submitter)


def discard_prepared(intake: Intake, prepared: Prepared) -> None:
    """Remove the blobs a never-signed item wrote, unless an item or a submission in
    flight here holds the same content."""
    intake.discard_prepared(prepared)
