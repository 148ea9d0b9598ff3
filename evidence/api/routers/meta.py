"""Health, status and "who am I"."""

from __future__ import annotations

from fastapi import APIRouter

from evidence.api.deps import Caller, Svc
from evidence.api.fixity import alerts_for
from evidence.api.problems import authed, problems
from evidence.api.schemas import CheckpointSummary, Health, Me, Status

router = APIRouter(tags=["service"])


@router.get("/health", response_model=Health, responses=problems())
def health(svc: Svc) -> Health:
    """Liveness, database reachability and stored-file fixity (public). 503 if the
    database is unreachable; 200 with ``status: degraded`` while a stored file is known
    to be damaged or missing (the service still serves everything else: a load balancer
    must not take it out of rotation, an operator must act)."""
    svc.ledger.size  # noqa: B018 - one query: 503 if the database is unreachable
    fx = alerts_for(svc).summary()
    # public: counts and times only; which items are damaged is for `evidence status`
    last = fx["last_audit"] or {}
    public = {"degraded": fx["degraded"], "alerts": fx["alerts"],
              "alerts_since_last_audit": fx["alerts_since_last_audit"],
              "last_alert_at": (fx["last_alert"] or {}).get("time"),
              "last_audit": {k: last.get(k) for k in (
                  "finished_at", "files", "bytes", "damaged_count", "missing_count")}
              if last else None}
    return Health(status="degraded" if fx["degraded"] else "ok", fixity=public)


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
