"""Dependencies: the services, the admitted caller, roles.

:func:`admit` and :func:`require_role` are the service's authentication rules, in one
place: the FastAPI dependencies below call them, and so does the submission fast path
(:mod:`evidence.api.hot.submit`), so a rule changed here changes both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from evidence.api.problems import Problem
from evidence.api.services import Services, services_of
from evidence.ledger.access import Forbidden, Principal, Unauthenticated

if TYPE_CHECKING:
    from evidence.ledger.anchor.config import AnchorConfig

bearer = HTTPBearer(auto_error=False, bearerFormat="evk_...",
                    description="An API token (`evidence token create`), sent as "
                                "`Authorization: Bearer evk_...`.")


def admit(svc: Services, token: str | None, roles: Collection[str] | None = None
          ) -> Principal:
    """The principal behind a bearer token, admitted for one request.

    In this order, each step only if the one before passed: 401 without a token or with
    one that does not authenticate (a read, no side effect); one request taken from the
    token's rate, 429 with ``Retry-After`` once it is spent; with ``roles``, 403 unless
    the principal's role is one of them (:func:`require_role`). Runs on the event loop:
    the token's row is one indexed read on the thread's own connection."""
    if token is None:
        raise Unauthenticated("this needs an API token: Authorization: Bearer evk_...",
                              code="missing-token")
    who = svc.access.authenticate(token)
    wait = svc.limiter.take(who.token_id or who.id)
    if wait > 0:
        retry = svc.limiter.retry_after(wait)
        raise Problem(429, "rate-limited", f"too many requests for this token; retry in "
                                           f"{retry} s", headers={"Retry-After": str(retry)})
    if roles is not None:
        require_role(who, roles)
    return who


def require_role(who: Principal, roles: Collection[str]) -> Principal:
    """``who``, if its role is one of ``roles``; else 403 ``role-not-allowed``."""
    if who.role not in roles:
        raise Forbidden(f"a {who.role} principal may not do this", code="role-not-allowed")
    return who


async def services(request: Request) -> Services:
    """The app's open services. ``async`` so that FastAPI calls it on the event loop:
    a plain ``def`` dependency would run in a worker thread for nothing."""
    svc = services_of(request.scope)
    if svc is None:  # only before the app's lifespan has opened them
        raise Problem(503, "unavailable", "the service is starting or stopping; retry",
                      headers={"Retry-After": "1"})
    return svc


Svc = Annotated[Services, Depends(services)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]


async def caller(creds: Credentials, svc: Svc) -> Principal:
    """The admitted caller (:func:`admit`, any role): 401 without a valid bearer token,
    429 over its rate. ``async`` for the same reason as :func:`services`."""
    return admit(svc, None if creds is None else creds.credentials)


Caller = Annotated[Principal, Depends(caller)]


def role(*allowed: str) -> Callable[[Principal], Principal]:
    """A dependency admitting only principals with one of ``allowed`` roles (else 403)."""
    async def check(who: Caller) -> Principal:
        return require_role(who, allowed)

    return check


def remote_addr(request: Request) -> str:
    """The client's address as uvicorn saw it (behind a proxy: start serve with
    --proxy-headers and --forwarded-allow-ips so this is the real client)."""
    return request.client.host if request.client else "unknown"


def Role(*allowed: str):  # type: ignore[no-untyped-def]
    """``who: Role(COURT, SUBMITTER)``: the caller, admitted only with one of these roles."""
    return Annotated[Principal, Depends(role(*allowed))]


def anchor_config(svc: Services) -> AnchorConfig | None:
    """anchors.json of the served ledger (its TSAs, witnesses and quorum), read afresh;
    503 ``trust-file-unavailable`` when it cannot be read (the line goes to the log)."""
    from evidence.ledger.anchor.config import AnchorConfigError, load_anchor_config
    from evidence.ledger.config import resolve_data_dir

    led = svc.ledger
    d = led.config.data_dir if led.config else resolve_data_dir(svc.settings.data_dir)
    try:
        return load_anchor_config(d)
    except AnchorConfigError as e:
        logging.getLogger("evidence.api").error("anchoring configuration unreadable: %s", e)
        raise Problem(503, "trust-file-unavailable", "the anchoring configuration "
                      "(anchors.json) cannot be read; the server log says which line") from None
