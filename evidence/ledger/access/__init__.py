"""Who may see what: principals with roles, API tokens, cases, cross-border grants, and
the custody trail (every grant, revocation and retrieval is a ledger entry).

Below the HTTP API so that the CLI (``evidence user|token|case|grant``) applies the
same rules; see :mod:`evidence.ledger.access.service`.
"""

from evidence.ledger.access.errors import (
    AccessError,
    Conflict,
    Forbidden,
    GrantInactive,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from evidence.ledger.access.legal_basis import BASES, LegalBasis, describe_basis
from evidence.ledger.access.schema import ADMIN, AUDITOR, COURT, FOREIGN, ROLES, SUBMITTER
from evidence.ledger.access.service import (
    ACCESSED,
    ACTIONS,
    SHARE_REVOKED,
    SHARED,
    AccessControl,
    Authorization,
    Grant,
    Principal,
    TokenInfo,
    check_id,
    parse_user_time,
)

__all__ = ["ACCESSED", "ACTIONS", "ADMIN", "AUDITOR", "BASES", "COURT", "FOREIGN", "ROLES",
           "SHARED", "SHARE_REVOKED", "SUBMITTER", "AccessControl", "AccessError",
           "Authorization", "Conflict", "Forbidden", "Grant", "GrantInactive", "InvalidInput",
           "LegalBasis", "NotFound", "Principal", "TokenInfo", "Unauthenticated", "check_id",
           "describe_basis", "parse_user_time"]
