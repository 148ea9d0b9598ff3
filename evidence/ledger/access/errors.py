"""Access errors. Each has a stable ``code`` (the HTTP API's problem ``code`` and the
last part of its ``type`` URI); the API maps classes to statuses, the CLI prints them."""

from __future__ import annotations


class AccessError(Exception):
    """Base class; ``code`` is stable, ``str(e)`` is written for the person acting on it."""

    code = "access-error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class InvalidInput(AccessError, ValueError):
    """A request the rules refuse whatever the caller's rights (bad id, bad time window)."""

    code = "invalid-input"


class Unauthenticated(AccessError):
    """No usable credentials: missing, unknown, revoked or expired token, disabled principal."""

    code = "unauthenticated"


class Forbidden(AccessError):
    """The caller is known but may not do this (role, or not a member of the case)."""

    code = "forbidden"


class GrantInactive(Forbidden):
    """The caller's grant for this item exists but is revoked, expired, not yet valid,
    or out of downloads."""

    code = "grant-inactive"


class NotFound(AccessError, LookupError):
    """No such thing, or the caller may not learn whether it exists."""

    code = "not-found"


class Conflict(AccessError):
    """The thing exists already, or is in a state that forbids the change."""

    code = "conflict"
