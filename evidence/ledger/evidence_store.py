"""Intake's tables (created by migration ``0002_evidence``) and the queries on them.

The rows of an item are built by :func:`submitted_rows` / :func:`purged_rows` and
written by the sequencer in the same transaction as the item's ledger entry (a
``rows`` hook, see :mod:`evidence.ledger.sequencer`), so an entry and the data that
opens its commitment are committed together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    and_,
    exists,
    select,
    update,
)

from evidence.ledger.db.schema import NAMING, TIME_LEN, entries

metadata = MetaData(naming_convention=NAMING)

evidence_items = Table(
    "evidence_items",
    metadata,
    Column("evidence_id", String(64), primary_key=True),
    Column("seq", BigInteger, nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("case_id", Text, nullable=False),
    Column("principal", Text, nullable=False),
    Column("submitted_at", String(TIME_LEN), nullable=False),
    Column("commitment", String(64), nullable=False),
    Column("metadata_jcs", LargeBinary, nullable=True),
    Column("salt", LargeBinary(32), nullable=True),
    Column("receipt", Text, nullable=False),
    Column("submitter_key", Text, nullable=True),
    Column("purged_seq", BigInteger, nullable=True, unique=True),
    Column("purged_at", String(TIME_LEN), nullable=True),
    # a case's items in log order: the listing's keyset (0006_items_case_seq)
    Index("ix_evidence_items_case_id_seq", "case_id", "seq"),
)

evidence_files = Table(
    "evidence_files",
    metadata,
    Column("evidence_id", String(64), ForeignKey("evidence_items.evidence_id"),
           primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    Column("media_type", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False, index=True),
)

evidence_events = Table(
    "evidence_events",
    metadata,
    Column("evidence_id", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("type", String(128), nullable=False),
)


@dataclass(frozen=True)
class StoredFile:
    name: str
    media_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class StoredItem:
    evidence_id: str
    seq: int
    kind: str
    case_id: str
    principal: str
    submitted_at: str
    commitment: str
    metadata_jcs: bytes | None
    salt: bytes | None
    receipt: str
    submitter_key: str | None
    purged_seq: int | None
    purged_at: str | None
    files: tuple[StoredFile, ...]
    events: tuple[tuple[int, str], ...]

    @property
    def purged(self) -> bool:
        return self.purged_seq is not None


@dataclass(frozen=True)
class ItemMatch:
    """A preserved item found by :func:`find_items`: its id, its submission entry (number,
    leaf hash, time) and whether it was purged. Nothing of what the evidence says."""

    evidence_id: str
    seq: int
    leaf_hash: bytes
    time: str
    purged: bool


def submitted_rows(
    *, evidence_id: str, seq: int, time: str, kind: str, case_id: str, principal: str,
    commitment: str, metadata_jcs: bytes, salt: bytes, receipt: str,
    submitter_key: str | None, files: Sequence[Mapping[str, Any]],
) -> list[Any]:
    """The rows of a newly submitted item (ops for a sequencer ``rows`` hook)."""
    ops: list[Any] = [(evidence_items, {
        "evidence_id": evidence_id, "seq": seq, "kind": kind, "case_id": case_id,
        "principal": principal, "submitted_at": time, "commitment": commitment,
        "metadata_jcs": metadata_jcs, "salt": salt, "receipt": receipt,
        "submitter_key": submitter_key, "purged_seq": None, "purged_at": None})]
    for i, f in enumerate(files):
        ops.append((evidence_files, {"evidence_id": evidence_id, "position": i,
                                     "name": f["name"], "media_type": f["media_type"],
                                     "size": f["size"], "sha256": f["sha256"]}))
    ops.append((evidence_events, {"evidence_id": evidence_id, "seq": seq,
                                  "type": "evidence.submitted"}))
    return ops


def purged_rows(evidence_id: str, seq: int, time: str) -> list[Any]:
    """Forget metadata and salt, mark the item purged, record the custody event.

    The update only touches a live item; the unique ``purged_seq`` and the event's
    primary key make a second purge in the same batch fail the transaction."""
    return [
        (evidence_events, {"evidence_id": evidence_id, "seq": seq, "type": "evidence.purged"}),
        update(evidence_items)
        .where(evidence_items.c.evidence_id == evidence_id,
               evidence_items.c.purged_seq.is_(None))
        .values(metadata_jcs=None, salt=None, purged_seq=seq, purged_at=time),
    ]


def event_row(evidence_id: str, seq: int, type: str) -> tuple[Table, dict[str, Any]]:
    """Another part's custody entry about an item (access, share, transfer): add this op
    to the same ``rows`` hook so that ``show`` and bundles list it."""
    return (evidence_events, {"evidence_id": evidence_id, "seq": seq, "type": type})


def load_item(conn: Connection, evidence_id: str) -> StoredItem | None:
    row = conn.execute(select(evidence_items)
                       .where(evidence_items.c.evidence_id == evidence_id)).mappings().first()
    if row is None:
        return None
    files = conn.execute(select(evidence_files.c.name, evidence_files.c.media_type,
                                evidence_files.c.size, evidence_files.c.sha256)
                         .where(evidence_files.c.evidence_id == evidence_id)
                         .order_by(evidence_files.c.position)).all()
    events = conn.execute(select(evidence_events.c.seq, evidence_events.c.type)
                          .where(evidence_events.c.evidence_id == evidence_id)
                          .order_by(evidence_events.c.seq)).all()
    return StoredItem(
        **{k: row[k] for k in ("evidence_id", "seq", "kind", "case_id", "principal",
                               "submitted_at", "commitment", "metadata_jcs", "salt",
                               "receipt", "submitter_key", "purged_seq", "purged_at")},
        files=tuple(StoredFile(*f) for f in files),
        events=tuple((int(s), t) for s, t in events))


def find_items(conn: Connection, *, evidence_id: str | None = None,
               sha256: str | None = None, limit: int = 100) -> list[ItemMatch]:
    """The item with this id, or the items holding a file with this SHA-256 (lower-case
    hex), in log order, at most ``limit``; give exactly one of the two."""
    if (evidence_id is None) == (sha256 is None):
        raise ValueError("give exactly one of evidence_id and sha256")
    q = (select(evidence_items.c.evidence_id, evidence_items.c.seq,
                evidence_items.c.purged_seq, entries.c.leaf_hash, entries.c.time)
         .join(entries, entries.c.seq == evidence_items.c.seq))
    if evidence_id is not None:
        q = q.where(evidence_items.c.evidence_id == evidence_id)
    else:
        q = q.where(evidence_items.c.evidence_id.in_(
            select(evidence_files.c.evidence_id).where(evidence_files.c.sha256 == sha256)))
    rows = conn.execute(q.order_by(evidence_items.c.seq).limit(limit)).all()
    return [ItemMatch(r.evidence_id, int(r.seq), bytes(r.leaf_hash), r.time,
                      r.purged_seq is not None) for r in rows]


def is_live_item(conn: Connection, evidence_id: str) -> bool | None:
    """True for a live item, False for a purged one, None for an unknown id."""
    row = conn.execute(select(evidence_items.c.purged_seq)
                       .where(evidence_items.c.evidence_id == evidence_id)).first()
    return None if row is None else row[0] is None


def live_references(conn: Connection, sha256: str, *, excluding: str | None = None) -> int:
    """How many live items (other than ``excluding``) hold a file with this SHA-256."""
    q = (select(evidence_files.c.evidence_id)
         .join(evidence_items, evidence_items.c.evidence_id == evidence_files.c.evidence_id)
         .where(evidence_files.c.sha256 == sha256, evidence_items.c.purged_seq.is_(None)))
    if excluding is not None:
        q = q.where(evidence_files.c.evidence_id != excluding)
    return len(conn.execute(q.distinct()).all())


def any_reference(conn: Connection, sha256: str) -> bool:
    """Whether any item, live or purged, lists this SHA-256 (a purged one still
    names its blob; whether to delete it is the purge's decision)."""
    return bool(conn.execute(select(exists().where(evidence_files.c.sha256 == sha256))).scalar())


def live_blob_hashes(conn: Connection) -> set[str]:
    """Every SHA-256 held by a live item (what garbage collection must keep)."""
    q = (select(evidence_files.c.sha256).distinct()
         .join(evidence_items, and_(evidence_items.c.evidence_id == evidence_files.c.evidence_id,
                                    evidence_items.c.purged_seq.is_(None))))
    return {r[0] for r in conn.execute(q)}


def iter_items(conn: Connection, case_id: str | None = None) -> Iterator[str]:
    q = select(evidence_items.c.evidence_id).order_by(evidence_items.c.seq)
    if case_id is not None:
        q = q.where(evidence_items.c.case_id == case_id)
    for (eid,) in conn.execute(q):
        yield eid
