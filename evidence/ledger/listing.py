"""Listing preserved items: the one query behind ``GET /v1/evidence`` and ``evidence list``.

Who sees what follows :meth:`evidence.ledger.access.AccessControl.authorize` for a
``metadata`` view: the items of the cases the principal is a member of, and, for a foreign
party, the items named by its grants that allow a view now (not revoked, inside
``[not_before, expires_at)``; a grant out of downloads still allows a view). Auditors and
admins are members of no case and hold no grant: they see nothing (the API refuses them
before asking). ``viewer=None`` is the operator on the server's own host (the CLI), who sees
every item, as ``evidence show`` does.

Pages are a keyset over ``evidence_items.seq``: a cursor is "after entry N", so items
appended between two pages come after every item already listed (the sequencer commits
entries in ``seq`` order) and no item is skipped or repeated. The filters map onto that key
wherever they can, so a page costs an index range scan, not a scan of the ledger:

* ``since`` / ``until`` become a ``seq`` range: entry times never decrease with ``seq`` (the
  sequencer's invariant, checked by every audit), so the bounds are found by a binary search
  over ``entries`` (about 20 primary-key lookups at 1 M entries);
* ``status`` becomes a ``seq`` range too: a checkpoint of size S covers every entry below S,
  so "covered by an anchored checkpoint" is ``seq < A`` for the newest such checkpoint A;
* ``case`` (and the viewer's cases) use the ``(case_id, seq)`` index, one range per case,
  merged in ``seq`` order;
* ``kind`` is checked on the rows the range yields;
* ``q`` (a substring of the title or source URL, which live in the committed metadata, or of
  the id) is checked here after decoding each row's metadata: at most :data:`SCAN_BUDGET`
  rows are examined per page, after which the page is returned short with a cursor, so a
  rare ``q`` costs several requests, never one unbounded one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, Select, and_, func, select, union_all

from evidence.ledger.access.errors import InvalidInput
from evidence.ledger.access.schema import FOREIGN, case_members, grant_items, grants
from evidence.ledger.access.service import MEMBER_ROLES, Principal, check_id, parse_user_time
from evidence.ledger.anchor.config import AnchorConfig, load_anchor_config
from evidence.ledger.anchor.schema import ANCHORED, anchors
from evidence.ledger.clock import utc_now
from evidence.ledger.db.engine import read_transaction
from evidence.ledger.db.schema import entries
from evidence.ledger.evidence_store import evidence_files, evidence_items
from evidence.ledger.intake.metadata import KINDS
from evidence.ledger.log import Ledger

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "SCAN_BUDGET", "STATUSES", "ItemPage", "ListFilter",
           "ListedFile", "ListedItem", "list_filter", "list_items"]

DEFAULT_LIMIT, MAX_LIMIT = 50, 500
SCAN_BUDGET = 5000
"""Rows examined for ``q`` per page at most (each has its metadata decoded)."""
MAX_Q = 200
STATUSES = ("anchored", "witnessed", "pending")
_PER_CASE_MAX = 64
"""Up to this many cases, one index range per case merged in seq order; beyond, one range
over seq filtered by case (a court with hundreds of cases)."""
_NO_END = 2**63 - 1


@dataclass(frozen=True)
class ListFilter:
    """Validated filters, times in the ledger's UTC form (``since`` inclusive, ``until``
    exclusive), ``q`` case-folded."""

    case: str | None = None
    kind: str | None = None
    since: str | None = None
    until: str | None = None
    q: str | None = None
    status: str | None = None

    def fingerprint(self) -> str:
        """Binds a cursor to its filters: a cursor handed to other filters is refused
        rather than silently starting a different listing part-way."""
        raw = json.dumps(asdict(self), sort_keys=True, ensure_ascii=True).encode()
        return hashlib.sha256(raw).hexdigest()[:12]


@dataclass(frozen=True)
class ListedFile:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ListedItem:
    evidence_id: str
    kind: str
    case: str
    title: str | None
    source_url: str | None
    seq: int
    time: str
    files: tuple[ListedFile, ...]
    status: str
    purged: bool

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["files"] = [asdict(f) for f in self.files]
        return d


@dataclass(frozen=True)
class ItemPage:
    items: list[ListedItem]
    next_cursor: str | None
    """None: nothing after this page (as of this read); else pass it for the next page. A
    page may be shorter than the limit, even empty, and still have one (``q``'s budget)."""

    def to_json(self) -> dict[str, Any]:
        return {"items": [i.to_json() for i in self.items], "next_cursor": self.next_cursor}


def list_filter(*, case: str | None = None, kind: str | None = None,
                since: str | None = None, until: str | None = None, q: str | None = None,
                status: str | None = None) -> ListFilter:
    """Check and normalise the filters; :class:`InvalidInput` says which one is wrong."""
    if case is not None:
        check_id(case, "case")
    if kind is not None and kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}; got {kind[:40]!r}")
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}; "
                           f"got {status[:40]!r}")
    t0 = None if since is None else parse_user_time(since, "since")
    t1 = None if until is None else parse_user_time(until, "until")
    if t0 is not None and t1 is not None and t0 >= t1:
        raise InvalidInput(f"since ({t0}) must be before until ({t1})")
    if q is not None:
        if not q.strip() or len(q) > MAX_Q:
            raise InvalidInput(f"q must be 1 to {MAX_Q} characters, not only spaces")
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in q):
            raise InvalidInput("q may not contain control characters")
        q = q.casefold()
    return ListFilter(case, kind, t0, t1, q, status)


def encode_cursor(after: int, f: ListFilter) -> str:
    raw = f"{after}.{f.fingerprint()}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, f: ListFilter) -> int:
    """The seq a cursor continues after; :class:`InvalidInput` for anything this server did
    not hand out for these filters."""
    bad = InvalidInput("cursor is not one this server gave for these filters: start again "
                       "without it, or repeat the filters it was given with")
    if not cursor or len(cursor) > 64:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        seq_text, fp = raw.split(".")
        after = int(seq_text)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    if not seq_text.isdigit() or after >= _NO_END or fp != f.fingerprint():
        raise bad
    return after


def list_items(ledger: Ledger, viewer: Principal | None, f: ListFilter, *,
               cursor: str | None = None, limit: int = DEFAULT_LIMIT,
               anchor_config: AnchorConfig | None = None,
               scan_budget: int = SCAN_BUDGET) -> ItemPage:
    """One page of the items ``viewer`` may see (None: every item), matching ``f``, in log
    order after ``cursor``. ``anchor_config`` (default: the data directory's) says which
    witnesses count towards ``witnessed`` and how many are needed; ``scan_budget`` is how
    many rows ``q`` may examine for this page."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be 1 to {MAX_LIMIT}; got {limit}")
    after = -1 if cursor is None else decode_cursor(cursor, f)
    if anchor_config is None and ledger.config is not None:
        anchor_config = load_anchor_config(ledger.config.data_dir)
    with read_transaction(ledger.engine) as conn:
        anchored, witnessed = coverage(conn, anchor_config)
        lo, hi = _seq_range(conn, f, anchored, witnessed)
        scope = _scope(conn, viewer, f.case)
        if scope is None or lo >= hi:
            return ItemPage([], None)
        cases, grantee = scope
        found: list[Any] = []
        scanned = 0
        pos = max(after, lo - 1)
        while True:
            batch = limit + 1 - len(found) if f.q is None else min(1000, scan_budget - scanned)
            rows = conn.execute(_page_query(cases, grantee, f.kind, pos, hi, batch)).all()
            for r in rows:
                scanned += 1
                pos = int(r.seq)
                if f.q is None or _matches(r, f.q):
                    found.append(r)
                    if len(found) > limit:
                        break
            if len(found) > limit or len(rows) < batch:
                break  # a full page and one more, or the end of the range
            if scanned >= scan_budget:
                return _page(conn, found, anchored, witnessed,
                             encode_cursor(pos, f) if pos + 1 < hi else None)
        more = len(found) > limit
        found = found[:limit]
        return _page(conn, found, anchored, witnessed,
                     encode_cursor(int(found[-1].seq), f) if more else None)


# --- what is covered -----------------------------------------------------------------------


def coverage(conn: Connection, config: AnchorConfig | None) -> tuple[int, int]:
    """``(A, W)``: entries below A are covered by a checkpoint with a verified RFC 3161 token
    stored by anchoring, entries below W by one with the witness cosignatures the
    configuration requires (``witness_quorum`` of its witnesses, at least one; with no
    witness configured, any stored cosignature). A checkpoint of size S covers every entry
    below S, so the newest such checkpoint decides; scanning from the newest down stops at
    the first that qualifies."""
    a = conn.execute(
        select(anchors.c.checkpoint_size).where(
            anchors.c.kind == "tsa", anchors.c.status == ANCHORED,
            anchors.c.token.is_not(None))
        .order_by(anchors.c.checkpoint_size.desc()).limit(1)).scalar()
    names = {w.name for w in config.witnesses} if config is not None else set()
    need = max(1, config.witness_quorum if config is not None and names else 1)
    rows = conn.execute(
        select(anchors.c.checkpoint_size, anchors.c.source).where(
            anchors.c.kind == "witness", anchors.c.status == ANCHORED,
            anchors.c.cosignature.is_not(None))
        .order_by(anchors.c.checkpoint_size.desc()))
    w, size, have = 0, None, 0
    for cp_size, source in rows:
        if cp_size != size:
            size, have = cp_size, 0
        if not names or source in names:
            have += 1
            if have >= need:
                w = int(cp_size)
                break
    rows.close()
    return int(a or 0), w


def status_of(seq: int, anchored: int, witnessed: int) -> str:
    """The strongest that holds: a timestamp proves time, so ``anchored`` wins."""
    return "anchored" if seq < anchored else "witnessed" if seq < witnessed else "pending"


def _seq_range(conn: Connection, f: ListFilter, anchored: int, witnessed: int
               ) -> tuple[int, int]:
    """``[lo, hi)`` of seq the time and status filters allow."""
    lo, hi = 0, _NO_END
    if f.since is not None or f.until is not None:
        size = int(conn.execute(select(func.coalesce(func.max(entries.c.seq) + 1, 0)))
                   .scalar() or 0)
        if f.since is not None:
            lo = _first_at(conn, f.since, size)
        if f.until is not None:
            hi = _first_at(conn, f.until, size)
    if f.status == "anchored":
        hi = min(hi, anchored)
    elif f.status == "witnessed":
        lo, hi = max(lo, anchored), min(hi, witnessed)
    elif f.status == "pending":
        lo = max(lo, anchored, witnessed)
    return lo, hi


def _first_at(conn: Connection, t: str, size: int) -> int:
    """The first seq whose entry time is ``t`` or later (``size`` if none): times never
    decrease along the log, so a binary search over the primary key finds it."""
    lo, hi = 0, size
    while lo < hi:
        mid = (lo + hi) // 2
        time = conn.execute(select(entries.c.time).where(entries.c.seq == mid)).scalar()
        if time is not None and time < t:
            lo = mid + 1
        else:
            hi = mid
    return lo


# --- who sees what --------------------------------------------------------------------------


def _scope(conn: Connection, viewer: Principal | None, case: str | None
           ) -> tuple[list[str] | None, str | None] | None:
    """``(cases, grantee)``: the cases whose items are listed (None: every case) and the
    grantee whose active grants add items (None: none); None when nothing can be seen."""
    if viewer is None:
        return ([case] if case is not None else None), None
    mine: list[str] = []
    if viewer.role in MEMBER_ROLES:
        mine = list(conn.execute(select(case_members.c.case_id).where(
            case_members.c.principal_id == viewer.id).order_by(case_members.c.case_id))
            .scalars())
    if case is not None:
        mine = [c for c in mine if c == case]
    grantee = viewer.id if viewer.role == FOREIGN else None
    if not mine and grantee is None:
        return None
    return mine, grantee


def _columns() -> list[Any]:
    c = evidence_items.c
    return [c.evidence_id, c.seq, c.kind, c.case_id, c.submitted_at, c.metadata_jcs,
            c.purged_seq]


def _page_query(cases: list[str] | None, grantee: str | None, kind: str | None,
                after: int, hi: int, n: int) -> Select[Any]:
    """Rows with ``after < seq < hi`` in the scope, in seq order, at most ``n``."""
    c = evidence_items.c

    def ranged(*where: Any) -> Select[Any]:
        cond = [c.seq > after, c.seq < hi, *where]
        if kind is not None:
            cond.append(c.kind == kind)
        return select(*_columns()).where(and_(*cond)).order_by(c.seq).limit(n)

    if cases is None:
        return ranged()
    parts = ([ranged(c.case_id == k) for k in cases] if len(cases) <= _PER_CASE_MAX
             else [ranged(c.case_id.in_(cases))] if cases else [])
    if grantee is not None:
        now = utc_now()
        granted = (select(grant_items.c.evidence_id)
                   .join(grants, grants.c.id == grant_items.c.grant_id)
                   .where(grants.c.grantee == grantee, grants.c.revoked_at.is_(None),
                          grants.c.not_before <= now, grants.c.expires_at > now))
        extra = [c.evidence_id.in_(granted)]
        if cases:
            extra.append(c.case_id.not_in(cases))  # listed already as a member's
        parts.append(ranged(*extra))
    if len(parts) == 1:
        return parts[0]
    # each part keeps its own index range and limit; the outer query merges them
    subs = [select(p.subquery().c) for p in parts]
    merged = union_all(*subs).subquery()
    return select(merged).order_by(merged.c.seq).limit(n)


# --- reading the rows ------------------------------------------------------------------------


def _opened(r: Any) -> tuple[str | None, str | None]:
    """Title and stated source URL from the committed metadata; (None, None) once purged."""
    if r.metadata_jcs is None:
        return None, None
    try:
        meta = json.loads(bytes(r.metadata_jcs))
    except ValueError:
        return None, None
    stated = meta.get("stated") if isinstance(meta, dict) else None
    title = meta.get("title") if isinstance(meta, dict) else None
    url = stated.get("source_url") if isinstance(stated, dict) else None
    return (title if isinstance(title, str) else None,
            url if isinstance(url, str) else None)


def _matches(r: Any, q: str) -> bool:
    title, url = _opened(r)
    return any(q in text.casefold() for text in (title, url, r.evidence_id) if text)


def _files(conn: Connection, ids: Sequence[str]) -> dict[str, list[ListedFile]]:
    out: dict[str, list[ListedFile]] = {i: [] for i in ids}
    if not ids:
        return out
    fc = evidence_files.c
    for eid, name, size, sha in conn.execute(
            select(fc.evidence_id, fc.name, fc.size, fc.sha256)
            .where(fc.evidence_id.in_(list(ids))).order_by(fc.evidence_id, fc.position)):
        out[eid].append(ListedFile(name, int(size), sha))
    return out


def _page(conn: Connection, rows: Iterable[Any], anchored: int, witnessed: int,
          next_cursor: str | None) -> ItemPage:
    rows = list(rows)
    files = _files(conn, [r.evidence_id for r in rows])
    items = []
    for r in rows:
        title, url = _opened(r)
        items.append(ListedItem(
            evidence_id=r.evidence_id, kind=r.kind, case=r.case_id, title=title,
            source_url=url, seq=int(r.seq), time=r.submitted_at,
            files=tuple(files[r.evidence_id]), status=status_of(int(r.seq), anchored, witnessed),
            purged=r.purged_seq is not None))
    return ItemPage(items, next_cursor)
