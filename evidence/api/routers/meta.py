"""Health, status and "who am I"."""

from __future__ import annotations

from fastapi import APIRouter

from evidence.api.deps import Caller, Svc
from evidence.api.problems import authed, problems
from evidence.api.schemas import CheckpointSummary, Health, Me, Status

router = APIRouter(tags=["service"])


@router.get("/health", response_model=Health, responses=problems())
def health(svc: Svc) -> Health:
    """Liveness and database reachability (public)."""
    svc.ledger.size  # noqa: B018 - one query: 503 if the database is unreachable
    return Health(status="ok")


@router.get("/v1/status", response_model=Status, responses=problems())
def status(svc: Svc) -> Status:
    """The log's identity, size and latest checkpoint (public)."""
    state = svc.ledger.state()
    cp = svc.latest_checkpoint()
    return Status(origin=state.origin, verifier_key=state.log_vkey, size=state.size,
                  checkpoint=None if cp is None else CheckpointSummary(
                      size=cp.size, root=cp.root.hex(), created_at=cp.created_at),
                  version=svc.version)


@router.get("/v1/me", response_model=Me, responses=authed())
def me(who: Caller, svc: Svc) -> Me:
    """The caller: principal, role, cases."""
    return Me(id=who.id, role=who.role, display_name=who.display_name,  # type: ignore[arg-type]
              organisation=who.organisation, token_id=who.token_id,
              cases=svc.access.cases_of(who.id))
