"""Dependencies: the services, the authenticated caller (with its rate limit), roles."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from evidence.api.problems import Problem
from evidence.api.services import Services
from evidence.ledger.access import Forbidden, Principal, Unauthenticated

bearer = HTTPBearer(auto_error=False, bearerFormat="evk_...",
                    description="An API token (`evidence token create`), sent as "
                                "`Authorization: Bearer evk_...`.")


async def services(request: Request) -> Services:
    """``async`` on purpose: FastAPI runs a plain ``def`` dependency in a worker thread,
    and that hop cost a fifth of the service's CPU under load."""
    return request.app.state.services


Svc = Annotated[Services, Depends(services)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]


async def caller(creds: Credentials, svc: Svc) -> Principal:
    """The principal behind the bearer token; 401 without a valid one, 429 over its rate.

    One indexed read, done on the event loop: a worker-thread hop costs more than the
    read itself (measured: the hop's lock hand-offs were a quarter of the service's CPU
    under 16 concurrent submissions)."""
    if creds is None:
        raise Unauthenticated("this needs an API token: Authorization: Bearer evk_...",
                              code="missing-token")
    who = svc.access.authenticate(creds.credentials)
    wait = svc.limiter.take(who.token_id or who.id)
    if wait > 0:
        retry = svc.limiter.retry_after(wait)
        raise Problem(429, "rate-limited", f"too many requests for this token; retry in "
                                           f"{retry} s", headers={"Retry-After": str(retry)})
    return who


Caller = Annotated[Principal, Depends(caller)]


def role(*allowed: str) -> Callable[[Principal], Principal]:
    """A dependency admitting only principals with one of ``allowed`` roles (else 403)."""
    async def check(who: Caller) -> Principal:
        if who.role not in allowed:
            raise Forbidden(f"a {who.role} principal may not do this", code="role-not-allowed")
        return who

    return check


def remote_addr(request: Request) -> str:
    """The client's address as uvicorn saw it (behind a proxy: start serve with
    --proxy-headers and --forwarded-allow-ips so this is the real client)."""
    return request.client.host if request.client else "unknown"


def Role(*allowed: str):  # type: ignore[no-untyped-def]
    """``who: Role(COURT, SUBMITTER)``: the caller, admitted only with one of these roles."""
    return Annotated[Principal, Depends(role(*allowed))]
