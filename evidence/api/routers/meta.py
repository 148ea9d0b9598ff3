"""Health, status and "who am I"."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from evidence.api.deps import Caller, Svc
from evidence.api.fixity import alerts_for
from evidence.api.problems import (
    LEDGER_DAMAGE,
    authed,
    ledger_damaged,
    note_ledger_damage,
    problems,
)
from evidence.api.schemas import CheckpointSummary, Health, Me, Status

router = APIRouter(tags=["service"])


@router.get("/health", response_model=Health, responses=problems())
def health(svc: Svc) -> Health | JSONResponse:
    """Liveness, database reachability and stored-file fixity (public). 503 if the
    database is unreachable; 200 with ``status: degraded`` while a stored file is known
    to be damaged or missing (the service still serves everything else: a load balancer
    must not take it out of rotation, an operator must act). A damaged database page
    (met here or by any request of this worker) is 503 with ``status: degraded``: this
    server can no longer vouch for what it serves."""
    try:
        svc.ledger.size  # noqa: B018 - one query: 503 if the database is unreachable
    except SQLAlchemyError as e:
        if not ledger_damaged(e):
            raise
        note_ledger_damage(e)
    if LEDGER_DAMAGE:  # met here or by any request of this worker: an operator must act
        return JSONResponse(status_code=503, headers={"Retry-After": "3600"}, content={
            "status": "degraded", "ledger": {"damaged": True, **LEDGER_DAMAGE}})
    fx = alerts_for(svc).summary()
    # public: counts and times only; which items are damaged is for `evidence status`
    last = fx["last_audit"] or {}
    public = {"degraded": fx["degraded"], "alerts": fx["alerts"],
              "alerts_since_last_audit": fx["alerts_since_last_audit"],
              "last_alert_at": (fx["last_alert"] or {}).get("time"),
              "last_audit": {k: last.get(k) for k in (
                  "finished_at", "files", "bytes", "damaged_count", "missing_count")}
              if last else None}
    lag = getattr(svc.store, "lag", None)  # a replicated store: its second copy's lag
    if lag is not None:
        public["replica"] = lag()
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
    """The caller: principal, role, cases; and how long this server honours an
    ``Idempotency-Key`` (what a client needs to know to resend after a lost answer)."""
    return Me(id=who.id, role=who.role, display_name=who.display_name,  # type: ignore[arg-type]
              organisation=who.organisation, token_id=who.token_id,
              cases=svc.access.cases_of(who.id),
              idempotency_ttl=int(svc.settings.idempotency_ttl))
