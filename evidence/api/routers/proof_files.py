"""An item's proof as a file anyone's tools read: ``receipt.tlog-proof`` (C2SP tlog-proof@v1,
to the newest checkpoint the witness quorum cosigned, else the latest) and
``receipt.cose`` (an RFC 9942 COSE receipt of inclusion signed by the log key, at a tree
size the caller may choose). Readable by whoever may read the item's receipt."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from evidence.api.deps import Caller, Svc, anchor_config
from evidence.api.problems import Problem, authed
from evidence.api.services import Held, Services
from evidence.ledger.cose import MEDIA_TYPE as COSE_MEDIA_TYPE
from evidence.ledger.cose import cose_receipt, log_signer
from evidence.ledger.intake import UnknownEvidence
from evidence.ledger.tlog_proof import MEDIA_TYPE as TLOG_MEDIA_TYPE
from evidence.ledger.tlog_proof import proof_file
from evidence.verify.note import Signer

router = APIRouter(prefix="/v1/evidence", tags=["evidence"])
EvidenceId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$",
                                 max_length=128)]
_signer_lock = threading.Lock()
_signers: dict[int, Signer] = {}  # id(ledger) -> its key, read once from the key file


def _authorized_seq(svc: Services, who: Caller, evidence_id: str) -> tuple[int, Held]:
    """The item's entry number and the shard holding it (a frozen one for an item
    preserved before it was frozen)."""
    held = svc.holding(evidence_id)
    try:
        item = held.intake.item(evidence_id)
    except UnknownEvidence:
        item = None
    svc.access.authorize_read(who, evidence_id, item.case_id if item else None)
    if item is None:  # a caller who may read any item: 404 unknown-evidence
        raise UnknownEvidence(f"no evidence item {evidence_id!r} in this ledger")
    return item.seq, held


def signer_of(svc: Services) -> Signer:
    """The log's private key (for COSE receipts), read once per ledger."""
    led = svc.ledger
    with _signer_lock:
        s = _signers.get(id(led))
        if s is None:
            s = _signers[id(led)] = log_signer(led)
        return s


@router.get("/{evidence_id}/receipt.tlog-proof", response_class=Response,
            responses={**authed(403, 404, 409, 422),
                       200: {"content": {"text/plain": {}},
                             "description": "the C2SP tlog-proof@v1 file"}})
def tlog_proof(evidence_id: EvidenceId, svc: Svc, who: Caller) -> Response:
    """The item's ``.tlog-proof`` (C2SP tlog-proof@v1, the entry in its ``extra`` line), to
    the newest checkpoint the witness quorum cosigned; else to the latest checkpoint, with
    ``Evidence-Proof-Witnessed: false``. 409 ``not-anchored-yet`` while no checkpoint
    covers the entry."""
    _seq, held = _authorized_seq(svc, who, evidence_id)
    pf = proof_file(held.intake.receipt(evidence_id), held.ledger, anchor_config(svc))
    if pf.text is None:
        raise Problem(409, "not-anchored-yet", pf.note, headers={"Retry-After": "5"})
    return Response(pf.text.encode(), media_type=TLOG_MEDIA_TYPE, headers={
        "Evidence-Proof-Witnessed": "true" if pf.witnessed else "false",
        "Content-Disposition": f'attachment; filename="{evidence_id}.tlog-proof"',
        "Cache-Control": "no-store"})


@router.get("/{evidence_id}/receipt.cose", response_class=Response,
            responses={**authed(400, 403, 404, 409, 422),
                       200: {"content": {COSE_MEDIA_TYPE: {}},
                             "description": "the COSE_Sign1 receipt (RFC 9942)"}})
def cose(evidence_id: EvidenceId, svc: Svc, who: Caller,
         size: Annotated[int | None, Query(ge=1, le=2**63 - 1,
                                           description="tree size (default: the latest "
                                           "checkpoint's)")] = None) -> Response:
    """A COSE receipt of inclusion (RFC 9942, RFC9162_SHA256, EdDSA, detached root) of the
    item's entry in the tree of ``size``, signed by the log key. 400 ``out-of-range`` for a
    size the log never had or one that does not hold the entry."""
    seq, held = _authorized_seq(svc, who, evidence_id)
    if held.shard is not None:  # its key was deleted at the freeze: nothing signs for it
        raise Problem(409, "shard-frozen", f"{evidence_id} is in the frozen shard "
                      f"{held.shard}, whose log key was deleted when it was frozen, so no "
                      "COSE receipt can be signed for it; its receipt.tlog-proof and its "
                      "bundle prove it to the shard's final checkpoint")
    data = cose_receipt(svc.ledger, signer_of(svc), seq, size, subject=evidence_id)
    return Response(data, media_type=COSE_MEDIA_TYPE, headers={
        "Content-Disposition": f'attachment; filename="{evidence_id}.cose"',
        "Cache-Control": "no-store"})
