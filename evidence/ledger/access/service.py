"""Who may see what: principals, API tokens, cases, grants, and the custody trail.

Everything that changes who may retrieve evidence, and every retrieval, is itself
a ledger entry, appended in the SAME transaction as the access rows it concerns
(the sequencer's ``rows`` hook), so the ledger and the access tables can never
disagree:

* ``evidence.shared`` (one per item) with the new ``grants`` / ``grant_items`` rows;
* ``evidence.share_revoked`` (one per item) with ``grants.revoked_at``;
* ``evidence.accessed`` with the grant re-checked (and its download counted)
  under the sequencer's lock, at the entry's own time. A grant revoked by an
  earlier entry can never be followed by an access under it; an access whose
  entry was not appended is refused (nothing is served).

Only case membership is read outside that lock (membership is never removed).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from evidence.ledger.access.errors import (
    AccessError,
    Conflict,
    Forbidden,
    GrantInactive,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from evidence.ledger.access.legal_basis import NO_LEGAL_BASIS, LegalBasis, check_legal_basis
from evidence.ledger.access.schema import (
    ADMIN,
    AUDITOR,
    COURT,
    FOREIGN,
    ROLES,
    SUBMITTER,
    api_tokens,
    case_members,
    cases,
    grant_items,
    grants,
    principals,
)
from evidence.ledger.clock import utc_now
from evidence.ledger.custody import PriorLeaf, linked
from evidence.ledger.db.engine import read_transaction, write_transaction
from evidence.ledger.db.lookup import ThreadLookup, fixed_query
from evidence.ledger.errors import AppendRejected
from evidence.ledger.evidence_store import event_row
from evidence.ledger.log import Ledger
from evidence.ledger.sequencer import Appended
from evidence.verify.entry import format_time

__all__ = ["ACCESSED", "ACTIONS", "SHARED", "SHARE_REVOKED", "AccessControl", "Authorization",
           "Grant", "Principal", "TokenInfo", "parse_user_time"]

SHARED, SHARE_REVOKED, ACCESSED = "evidence.shared", "evidence.share_revoked", "evidence.accessed"
ACTIONS = ("metadata", "download", "export")
TOKEN_PREFIX = "evk_"
MAX_GRANT_ITEMS = 100
MAX_GRANT_DAYS = 366
MEMBER_ROLES = (SUBMITTER, COURT, FOREIGN)
GRANTOR_ROLES = (SUBMITTER, COURT)
_ID_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}\Z")
_TOKEN_RE = re.compile(r"\Aevk_[A-Za-z0-9_-]{43}\Z")


def check_id(value: object, what: str) -> str:
    """Identifiers (principals, cases, evidence): 1-128 of ``A-Z a-z 0-9 . _ @ : -``."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise InvalidInput(f"{what} must be 1-128 characters A-Z a-z 0-9 . _ @ : - "
                           f"(starting with a letter or digit), got {str(value)[:60]!r}")
    return value


def parse_user_time(text: str, what: str = "time") -> str:
    """An RFC 3339 time with an offset (``2026-12-01T00:00:00+08:00``) -> the ledger's UTC form."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except (ValueError, AttributeError):
        raise InvalidInput(f"{what} {str(text)[:40]!r} is not an RFC 3339 date and time") from None
    if moment.tzinfo is None:
        raise InvalidInput(f"{what} {text!r} has no UTC offset (add Z or +08:00)")
    return format_time(moment)


@dataclass(frozen=True)
class Principal:
    id: str
    role: str
    display_name: str
    organisation: str | None = None
    token_id: str | None = None


@dataclass(frozen=True)
class TokenInfo:
    id: str
    principal_id: str
    label: str | None
    created_at: str
    expires_at: str | None
    revoked_at: str | None


@dataclass(frozen=True)
class Grant:
    id: str
    grantee: str
    granted_by: str
    case_id: str
    evidence_ids: tuple[str, ...]
    not_before: str
    expires_at: str
    max_downloads: int | None
    downloads: int
    note: str | None
    created_at: str
    shared_seq: int
    revoked_at: str | None
    revoked_by: str | None
    revoked_seq: int | None
    legal: LegalBasis = NO_LEGAL_BASIS  # purpose, recipient, basis (legal_basis.py)

    def status(self, now: str) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if now < self.not_before:
            return "pending"
        if now >= self.expires_at:
            return "expired"
        if self.max_downloads is not None and self.downloads >= self.max_downloads:
            return "exhausted"
        return "active"

    def usable(self, now: str, action: str) -> bool:
        """Whether the grant allows ``action`` now (a view needs no download left)."""
        status = self.status(now)
        return status == "active" or (status == "exhausted" and action == "metadata")


@dataclass(frozen=True)
class Authorization:
    """Why a principal may see an item: as a member of its case, or under a grant."""

    principal: Principal
    evidence_id: str
    via: str  # "case" | "grant" | "role"
    grant_id: str | None = None


class AccessControl:
    """Access rules over one open :class:`Ledger` (its engine holds the access tables)."""

    def __init__(self, ledger: Ledger, prior: PriorLeaf | None = None) -> None:
        self.ledger = ledger
        # an item of a frozen shard: where its custody chain left off (custody.latest_leaf)
        self.prior = prior
        self.engine = ledger.engine
        self._lookup = ThreadLookup(ledger.engine)

    def close(self) -> None:
        """Release this thread's lookup connection (see :class:`ThreadLookup`)."""
        self._lookup.close()

    # --- principals and tokens -------------------------------------------------------

    def add_principal(self, principal_id: str, role: str, display_name: str | None = None,
                      organisation: str | None = None) -> Principal:
        check_id(principal_id, "principal id")
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}; got {role!r}")
        p = Principal(principal_id, role, display_name or principal_id, organisation)
        try:
            with write_transaction(self.engine) as conn:
                conn.execute(insert(principals).values(
                    id=p.id, role=p.role, display_name=p.display_name,
                    organisation=p.organisation, created_at=utc_now()))
        except IntegrityError:
            raise Conflict(f"principal {principal_id!r} exists already", code="exists") from None
        return p

    def get_principal(self, principal_id: str) -> Principal:
        with read_transaction(self.engine) as conn:
            return self._principal(conn, principal_id)

    def list_principals(self) -> list[Principal]:
        with read_transaction(self.engine) as conn:
            rows = conn.execute(select(principals).order_by(principals.c.id)).all()
        return [Principal(r.id, r.role, r.display_name, r.organisation) for r in rows]

    def create_token(self, principal_id: str, *, label: str | None = None,
                     expires_at: str | None = None) -> tuple[TokenInfo, str]:
        """A new bearer token for a principal: (its record, the token). The token is not
        stored (only its SHA-256) and cannot be shown again."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        info = TokenInfo("tok-" + secrets.token_hex(6), principal_id, label, utc_now(),
                         expires_at, None)
        with write_transaction(self.engine) as conn:
            self._principal(conn, principal_id)
            conn.execute(insert(api_tokens).values(
                id=info.id, principal_id=principal_id, label=label,
                token_sha256=hashlib.sha256(token.encode()).digest(),
                created_at=info.created_at, expires_at=expires_at))
        return info, token

    def revoke_token(self, token_id: str) -> TokenInfo:
        now = utc_now()
        with write_transaction(self.engine) as conn:
            row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
            if row is None:
                raise NotFound(f"no token {token_id!r}", code="unknown-token")
            if row.revoked_at is None:
                conn.execute(update(api_tokens).where(api_tokens.c.id == token_id)
                             .values(revoked_at=now))
            row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).one()
        return _token(row)

    def list_tokens(self, principal_id: str | None = None) -> list[TokenInfo]:
        q = select(api_tokens).order_by(api_tokens.c.created_at)
        if principal_id is not None:
            q = q.where(api_tokens.c.principal_id == principal_id)
        with read_transaction(self.engine) as conn:
            return [_token(r) for r in conn.execute(q)]

    def authenticate(self, token: str) -> Principal:
        """The principal a bearer token stands for; :class:`Unauthenticated` otherwise.
        Read on every request (no cache): a revocation takes effect at once."""
        if not isinstance(token, str) or not _TOKEN_RE.match(token):
            raise Unauthenticated("the bearer token is malformed", code="invalid-token")
        digest = hashlib.sha256(token.encode()).digest()
        row = self._lookup.one(_AUTH_SQL, (digest,))
        if row is None:
            raise Unauthenticated("unknown bearer token", code="invalid-token")
        tid, expires_at, revoked_at, pid, role, display_name, organisation, disabled_at = row
        if revoked_at is not None:
            raise Unauthenticated("this token was revoked", code="token-revoked")
        if expires_at is not None and expires_at <= utc_now():
            raise Unauthenticated("this token has expired", code="token-expired")
        if disabled_at is not None:
            raise Unauthenticated("this principal is disabled", code="principal-disabled")
        return Principal(pid, role, display_name, organisation, tid)

    # --- cases ---------------------------------------------------------------------------

    def add_case(self, case_id: str, title: str | None = None) -> None:
        check_id(case_id, "case id")
        try:
            with write_transaction(self.engine) as conn:
                conn.execute(insert(cases).values(id=case_id, title=title or case_id,
                                                  created_at=utc_now()))
        except IntegrityError:
            raise Conflict(f"case {case_id!r} exists already", code="exists") from None

    def add_member(self, case_id: str, principal_id: str) -> None:
        with write_transaction(self.engine) as conn:
            if conn.execute(select(cases.c.id).where(cases.c.id == case_id)).first() is None:
                raise NotFound(f"no case {case_id!r}", code="unknown-case")
            p = self._principal(conn, principal_id)
            if p.role not in MEMBER_ROLES:
                raise InvalidInput(f"{p.role} principals are not case members (they read "
                                   "the log, not the evidence)", code="role-not-allowed")
            try:
                with conn.begin_nested():
                    conn.execute(insert(case_members).values(
                        case_id=case_id, principal_id=principal_id, added_at=utc_now()))
            except IntegrityError:
                raise Conflict(f"{principal_id!r} is already a member of {case_id!r}",
                               code="exists") from None

    def case_exists(self, case_id: str) -> bool:
        with read_transaction(self.engine) as conn:
            return conn.execute(select(cases.c.id).where(cases.c.id == case_id)).first() \
                is not None

    def is_member(self, principal_id: str, case_id: str) -> bool:
        with read_transaction(self.engine) as conn:
            return _is_member(conn, principal_id, case_id)

    def cases_of(self, principal_id: str) -> list[str]:
        with read_transaction(self.engine) as conn:
            return [r[0] for r in conn.execute(
                select(case_members.c.case_id).where(case_members.c.principal_id == principal_id)
                .order_by(case_members.c.case_id))]

    def members(self, case_id: str) -> list[str]:
        with read_transaction(self.engine) as conn:
            return [r[0] for r in conn.execute(
                select(case_members.c.principal_id).where(case_members.c.case_id == case_id)
                .order_by(case_members.c.principal_id))]

    def require_submit(self, who: Principal, case_id: str) -> None:
        """A submitter may submit evidence to the cases it is a member of. (One lookup on
        the calling thread's connection, like :meth:`authenticate`.)"""
        if who.role != SUBMITTER:
            raise Forbidden(f"a {who.role} principal cannot submit evidence",
                            code="role-not-allowed")
        if self._lookup.one(_MEMBER_SQL, (case_id, who.id)) is None:
            # the same answer for "no such case" and "not yours": existence does not leak
            raise NotFound(f"no case {case_id!r} that you are a member of", code="unknown-case")

    # --- retrieval rights ----------------------------------------------------------------

    def authorize(self, who: Principal, evidence_id: str, case_id: str | None, *,
                  action: str) -> Authorization:
        """May ``who`` retrieve (``metadata`` / ``download`` / ``export``) this item?

        Members of its case may; a grantee may under an active grant naming it. Anyone
        else gets :class:`NotFound` (an id they were never given does not leak), except
        a grantee whose grant for it ended: :class:`GrantInactive` says why.
        ``case_id`` is None when the item does not exist.
        """
        if case_id is not None and who.role in MEMBER_ROLES and self.is_member(who.id, case_id):
            return Authorization(who, evidence_id, "case")
        if who.role == FOREIGN and case_id is not None:
            now = utc_now()
            found = self.grants_for(who.id, evidence_id)
            for g in found:
                if g.usable(now, action):
                    return Authorization(who, evidence_id, "grant", g.id)
            if found:
                raise _inactive(max(found, key=lambda g: g.created_at), now)
        raise NotFound(f"no evidence {evidence_id!r} that you may see", code="unknown-evidence")

    def authorize_read(self, who: Principal, evidence_id: str, case_id: str | None
                       ) -> Authorization:
        """Reading what the ledger holds about an item (receipt, custody): its case's
        members, an active grantee, and auditors (entries are commitments only)."""
        if who.role == AUDITOR and case_id is not None:
            return Authorization(who, evidence_id, "role")
        return self.authorize(who, evidence_id, case_id, action="metadata")

    def record_access(self, auth: Authorization, action: str, *, remote_addr: str | None,
                      sha256: str | None = None, byte_range: str | None = None,
                      fixity: str | None = None) -> Appended:
        """Append the ``evidence.accessed`` entry; returns once it is durable.

        Call BEFORE serving anything: if this raises, serve nothing. Under a grant, the
        grant is re-checked at the entry's time inside the append's transaction and a
        ``download`` is counted against ``max_downloads`` there (all or nothing).
        ``fixity`` ("damaged" or "missing") records a retrieval that was refused or cut
        off because the stored file no longer matched its hash: the custody log must
        not show it as a download of the preserved bytes, and it is not counted."""
        if action not in ACTIONS:
            raise InvalidInput(f"unknown access action {action!r}")
        if fixity not in (None, "damaged", "missing"):
            raise InvalidInput(f"unknown fixity outcome {fixity!r}")
        body: dict[str, Any] = {"evidence_id": auth.evidence_id, "principal": auth.principal.id,
                                "action": action, "remote_addr": remote_addr or "unknown"}
        if sha256 is not None:
            body["sha256"] = sha256
        if byte_range is not None:
            body["range"] = byte_range
        if auth.grant_id is not None:
            body["grant_id"] = auth.grant_id
        if fixity is not None:
            body["fixity"] = fixity
        hook = None
        if auth.grant_id is not None:
            gid, counts = auth.grant_id, action in ("download", "export") and fixity is None

            def hook(conn: Connection, made: list[Appended]) -> Sequence[Any]:
                t = made[0].time
                live = and_(grants.c.id == gid, grants.c.revoked_at.is_(None),
                            grants.c.not_before <= t, grants.c.expires_at > t)
                if counts:
                    live = and_(live, (grants.c.max_downloads.is_(None))
                                | (grants.c.downloads < grants.c.max_downloads))
                    ok = conn.execute(update(grants).where(live)
                                      .values(downloads=grants.c.downloads + 1)).rowcount == 1
                else:
                    ok = conn.execute(select(grants.c.id).where(live)).first() is not None
                if not ok:
                    g = _read_grant(conn, gid)
                    raise _inactive(g, t) if g else NotFound("grant vanished")
                return _events(made, [auth.evidence_id], ACCESSED)

        if hook is None:
            def hook(conn: Connection, made: list[Appended]) -> Sequence[Any]:
                return _events(made, [auth.evidence_id], ACCESSED)

        return self._append([(ACCESSED, body)], hook)[0]

    # --- grants ----------------------------------------------------------------------------

    def create_grant(self, grantor: Principal, grantee_id: str,
                     evidence_cases: Mapping[str, str | None], *, expires_at: str,
                     not_before: str | None = None, max_downloads: int | None = None,
                     note: str | None = None, legal: LegalBasis | None = None,
                     require_legal_basis: bool = False) -> Grant:
        """Share named items of ONE case with a foreign party for ``[not_before, expires_at)``.

        ``evidence_cases`` maps each evidence id to its case (None: no such item). The
        grantor must be a submitter or court member of that case. Appends one
        ``evidence.shared`` entry per item, atomically with the grant's rows; the
        entries carry ``legal`` (purpose, recipient, basis), which
        ``require_legal_basis`` (the deployment's ``[grants] require_legal_basis``)
        makes mandatory."""
        if grantor.role not in GRANTOR_ROLES:
            raise Forbidden(f"a {grantor.role} principal cannot share evidence",
                            code="role-not-allowed")
        ids = list(evidence_cases)
        if not ids or len(ids) > MAX_GRANT_ITEMS:
            raise InvalidInput(f"a grant names 1 to {MAX_GRANT_ITEMS} evidence items")
        if len(set(ids)) != len(ids):
            raise InvalidInput("an evidence id is named twice")
        case_ids = set()
        for eid in ids:
            case_id = evidence_cases[eid]
            if case_id is None or not self.is_member(grantor.id, case_id):
                raise NotFound(f"no evidence {eid!r} that you may share", code="unknown-evidence")
            case_ids.add(case_id)
        if len(case_ids) != 1:
            raise InvalidInput("all items of one grant must belong to one case")
        (case_id,) = case_ids
        now = utc_now()
        nb = not_before or now
        if expires_at <= nb:
            raise InvalidInput("expires_at must be after not_before")
        if expires_at <= now:
            raise InvalidInput("expires_at is in the past")
        limit = datetime.fromisoformat(nb[:-1]).replace(tzinfo=UTC) + timedelta(MAX_GRANT_DAYS)
        if expires_at > format_time(limit):
            raise InvalidInput(f"a grant lasts at most {MAX_GRANT_DAYS} days; grant again later")
        if max_downloads is not None and (isinstance(max_downloads, bool) or max_downloads < 1
                                          or max_downloads > 1_000_000):
            raise InvalidInput("max_downloads must be 1 to 1000000 (or absent: no limit)")
        if note is not None and len(note) > 1000:
            raise InvalidInput("note is longer than 1000 characters")
        legal = check_legal_basis(legal, required=require_legal_basis)
        # One answer for "no such principal" and "not a foreign party": a grantor learns
        # nothing about which principals exist or what their roles are.
        try:
            grantee = self.get_principal(grantee_id)
        except NotFound:
            grantee = None
        if grantee is None or grantee.role != FOREIGN:
            raise InvalidInput(f"no foreign party {grantee_id[:100]!r} to share with "
                               "(grants are for foreign parties registered by the operator)",
                               code="unknown-grantee")
        gid = "g-" + secrets.token_hex(8)
        bodies = []
        for eid in ids:
            body: dict[str, Any] = {"evidence_id": eid, "grant_id": gid, "grantee": grantee_id,
                                    "granted_by": grantor.id, "not_before": nb,
                                    "expires_at": expires_at}
            if max_downloads is not None:
                body["max_downloads"] = max_downloads
            body.update(legal.body())
            bodies.append((SHARED, body))

        def hook(conn: Connection, made: list[Appended]) -> Sequence[Any]:
            conn.execute(insert(grants).values(
                id=gid, grantee=grantee_id, granted_by=grantor.id, case_id=case_id,
                not_before=nb, expires_at=expires_at, max_downloads=max_downloads, downloads=0,
                note=note, created_at=made[0].time, shared_seq=made[0].seq, **legal.body()))
            conn.execute(insert(grant_items), [{"grant_id": gid, "evidence_id": e} for e in ids])
            return _events(made, ids, SHARED)

        self._append(bodies, hook)
        return self.get_grant(gid)

    def revoke_grant(self, who: Principal, grant_id: str) -> Grant:
        """End a grant at once: one ``evidence.share_revoked`` entry per item, atomically
        with ``revoked_at``. The grantor, a submitter/court member of the case, or an admin."""
        g = self.get_grant(grant_id)
        allowed = (who.role == ADMIN or who.id == g.granted_by
                   or (who.role in GRANTOR_ROLES and self.is_member(who.id, g.case_id)))
        if not allowed:
            if who.id == g.grantee or who.role == AUDITOR:
                raise Forbidden("only the grantor, a member of the case or an admin may "
                                "revoke a grant", code="role-not-allowed")
            raise NotFound(f"no grant {grant_id!r}", code="unknown-grant")
        if g.revoked_at is not None:
            raise Conflict(f"grant {grant_id} was revoked at {g.revoked_at}",
                           code="already-revoked")
        bodies = [(SHARE_REVOKED, {"evidence_id": e, "grant_id": g.id, "revoked_by": who.id})
                  for e in g.evidence_ids]

        def hook(conn: Connection, made: list[Appended]) -> Sequence[Any]:
            n = conn.execute(update(grants).where(grants.c.id == g.id,
                                                  grants.c.revoked_at.is_(None))
                             .values(revoked_at=made[0].time, revoked_by=who.id,
                                     revoked_seq=made[0].seq)).rowcount
            if n != 1:
                raise Conflict(f"grant {g.id} was revoked meanwhile", code="already-revoked")
            return _events(made, g.evidence_ids, SHARE_REVOKED)

        self._append(bodies, hook)
        return self.get_grant(grant_id)

    def get_grant(self, grant_id: str) -> Grant:
        with read_transaction(self.engine) as conn:
            g = _read_grant(conn, grant_id)
        if g is None:
            raise NotFound(f"no grant {grant_id!r}", code="unknown-grant")
        return g

    def visible_grant(self, who: Principal, grant_id: str) -> Grant:
        """A grant as ``who`` may see it (grantee, grantor, case member, auditor, admin)."""
        g = self.get_grant(grant_id)
        if (who.role in (ADMIN, AUDITOR) or who.id in (g.grantee, g.granted_by)
                or self.is_member(who.id, g.case_id)):
            return g
        raise NotFound(f"no grant {grant_id!r}", code="unknown-grant")

    def list_grants(self, who: Principal | None = None, *, evidence_id: str | None = None
                    ) -> list[Grant]:
        """Grants ``who`` may see (None: all, for the operator's CLI)."""
        q = select(grants.c.id).order_by(grants.c.created_at, grants.c.id)
        if evidence_id is not None:
            q = q.where(grants.c.id.in_(select(grant_items.c.grant_id)
                                        .where(grant_items.c.evidence_id == evidence_id)))
        if who is not None and who.role not in (ADMIN, AUDITOR):
            mine = select(case_members.c.case_id).where(case_members.c.principal_id == who.id)
            q = q.where((grants.c.grantee == who.id) | (grants.c.granted_by == who.id)
                        | grants.c.case_id.in_(mine))
        with read_transaction(self.engine) as conn:
            return [g for gid in conn.execute(q).scalars()
                    if (g := _read_grant(conn, gid)) is not None]

    def grants_for(self, grantee: str, evidence_id: str) -> list[Grant]:
        q = (select(grants.c.id).join(grant_items, grant_items.c.grant_id == grants.c.id)
             .where(grants.c.grantee == grantee, grant_items.c.evidence_id == evidence_id))
        with read_transaction(self.engine) as conn:
            return [g for gid in conn.execute(q).scalars()
                    if (g := _read_grant(conn, gid)) is not None]

    # --- helpers -------------------------------------------------------------------------------

    def _principal(self, conn: Connection, principal_id: str) -> Principal:
        row = conn.execute(select(principals).where(principals.c.id == principal_id)).first()
        if row is None:
            raise NotFound(f"no principal {principal_id!r}", code="unknown-principal")
        return Principal(row.id, row.role, row.display_name, row.organisation)

    def _append(self, items: list[tuple[str, dict[str, Any]]], hook: Any) -> list[Appended]:
        """Every entry here is a custody entry about one item: appended with its link to
        the item's previous entry (:mod:`evidence.ledger.custody`)."""
        prepare, rows = linked(items, hook, self.prior)
        try:
            return self.ledger.append_many(items, rows=rows, prepare=prepare)
        except AppendRejected as e:
            if isinstance(e.__cause__, AccessError):
                raise e.__cause__ from None
            raise


def _events(made: Sequence[Appended], evidence_ids: Sequence[str], type: str) -> list[Any]:
    """Intake's custody index rows (``evidence_events``) for entries about these items."""
    return [event_row(eid, a.seq, type) for a, eid in zip(made, evidence_ids, strict=True)]


_AUTH_SQL = ("SELECT t.id, t.expires_at, t.revoked_at, p.id AS pid, p.role, p.display_name, "
             "p.organisation, p.disabled_at FROM api_tokens t JOIN principals p "
             "ON p.id = t.principal_id WHERE t.token_sha256 = ?")
_MEMBER_SQL = "SELECT 1 FROM case_members WHERE case_id = ? AND principal_id = ?"


def _is_member(conn: Connection, principal_id: str, case_id: str) -> bool:
    return fixed_query(conn, _MEMBER_SQL, (case_id, principal_id)).first() is not None


def _token(r: Any) -> TokenInfo:
    return TokenInfo(r.id, r.principal_id, r.label, r.created_at, r.expires_at, r.revoked_at)


def _read_grant(conn: Connection, grant_id: str) -> Grant | None:
    r = conn.execute(select(grants).where(grants.c.id == grant_id)).first()
    if r is None:
        return None
    items = tuple(conn.execute(select(grant_items.c.evidence_id)
                               .where(grant_items.c.grant_id == grant_id)
                               .order_by(grant_items.c.evidence_id)).scalars())
    return Grant(r.id, r.grantee, r.granted_by, r.case_id, items, r.not_before, r.expires_at,
                 r.max_downloads, r.downloads, r.note, r.created_at, int(r.shared_seq),
                 r.revoked_at, r.revoked_by,
                 None if r.revoked_seq is None else int(r.revoked_seq),
                 LegalBasis(r.purpose, r.recipient_jurisdiction, r.recipient_organisation,
                            r.legal_basis, r.legal_basis_ref))


def _inactive(g: Grant, now: str) -> GrantInactive:
    status = g.status(now)
    if status == "revoked":
        return GrantInactive(f"grant {g.id} was revoked at {g.revoked_at}", code="grant-revoked")
    if status == "pending":
        return GrantInactive(f"grant {g.id} starts at {g.not_before}",
                             code="grant-not-yet-valid")
    if status == "exhausted":
        return GrantInactive(f"grant {g.id} allowed {g.max_downloads} downloads; all used",
                             code="download-limit-reached")
    if status == "expired":
        return GrantInactive(f"grant {g.id} expired at {g.expires_at}", code="grant-expired")
    return GrantInactive(f"grant {g.id} does not allow this now", code="grant-inactive")
