"""Cross-border grants: a submitter or court shares named items of one case with a
foreign party for a time window (optionally a number of downloads); revocation takes
effect at once. Creating and revoking append ``evidence.shared`` /
``evidence.share_revoked`` entries (one per item) atomically with the grant's rows."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from evidence.api.deps import Caller, Role, Svc
from evidence.api.problems import authed
from evidence.api.schemas import GrantCreate, GrantList, GrantView
from evidence.ledger.access import (
    COURT,
    SUBMITTER,
    Grant,
    InvalidInput,
    LegalBasis,
    parse_user_time,
)
from evidence.ledger.clock import utc_now
from evidence.ledger.intake import AlreadyPurged, UnknownEvidence

router = APIRouter(prefix="/v1/grants", tags=["grants"])
Sharer = Role(SUBMITTER, COURT)

GrantId = Annotated[str, Path(pattern=r"^g-[0-9a-f]{16}$")]


def view(g: Grant) -> GrantView:
    return GrantView(id=g.id, grantee=g.grantee, granted_by=g.granted_by, case_id=g.case_id,
                     evidence_ids=list(g.evidence_ids), not_before=g.not_before,
                     expires_at=g.expires_at, max_downloads=g.max_downloads,
                     downloads=g.downloads, note=g.note, created_at=g.created_at,
                     shared_seq=g.shared_seq, revoked_at=g.revoked_at, revoked_by=g.revoked_by,
                     revoked_seq=g.revoked_seq,
                     status=g.status(utc_now()),  # type: ignore[arg-type]
                     purpose=g.legal.purpose, recipient_jurisdiction=g.legal.jurisdiction,
                     recipient_organisation=g.legal.organisation,
                     legal_basis=g.legal.basis, legal_basis_ref=g.legal.basis_ref)


@router.post("", status_code=201, response_model=GrantView,
             responses=authed(400, 403, 404, 410, 413, 422))
def create_grant(req: GrantCreate, svc: Svc,
                 who: Sharer) -> Response:
    """Share items of one of your cases with a foreign party, stating the purpose, the
    recipient and the legal basis (required where the deployment says so: 422
    ``legal-basis-required``)."""
    if len(set(req.evidence_ids)) != len(req.evidence_ids):
        raise InvalidInput("an evidence id is named twice")
    cases: dict[str, str | None] = {}
    for eid in req.evidence_ids:
        try:
            item = svc.holding(eid).intake.item(eid)  # also an item of a frozen shard
        except UnknownEvidence:
            cases[eid] = None
            continue
        if item.purged and svc.access.is_member(who.id, item.case_id):
            raise AlreadyPurged(f"evidence item {eid} was purged: nothing left to share")
        cases[eid] = item.case_id
    g = svc.access.create_grant(
        who, req.grantee, cases, expires_at=parse_user_time(req.expires_at, "expires_at"),
        not_before=None if req.not_before is None else parse_user_time(req.not_before,
                                                                       "not_before"),
        max_downloads=req.max_downloads, note=req.note,
        legal=LegalBasis(req.purpose, req.recipient_jurisdiction, req.recipient_organisation,
                         req.legal_basis, req.legal_basis_ref),
        require_legal_basis=svc.settings.require_legal_basis)
    return Response(view(g).model_dump_json().encode(), status_code=201,
                    media_type="application/json", headers={"Location": f"/v1/grants/{g.id}"})


@router.get("", response_model=GrantList, responses=authed(422))
def list_grants(svc: Svc, who: Caller,
                evidence_id: Annotated[str | None, Query(max_length=128)] = None) -> GrantList:
    """Grants you gave, received, or that concern your cases (auditors, admins: all)."""
    return GrantList(grants=[view(g) for g in svc.access.list_grants(who,
                                                                     evidence_id=evidence_id)])


@router.get("/{grant_id}", response_model=GrantView, responses=authed(404, 422))
def get_grant(grant_id: GrantId, svc: Svc,
              who: Caller) -> GrantView:
    return view(svc.access.visible_grant(who, grant_id))


@router.post("/{grant_id}/revoke", response_model=GrantView,
             responses=authed(403, 404, 409, 422))
def revoke_grant(grant_id: GrantId, svc: Svc,
                 who: Caller) -> GrantView:
    """End a grant now (the grantor, a submitter/court member of the case, or an admin)."""
    return view(svc.access.revoke_grant(who, grant_id))
