"""Evidence records for the ledger's items: made as the log is anchored, renewed on demand.

- :func:`make_missing_records` (called by each anchoring round): every item of a checkpoint
  that a TSA has anchored gets a record whose first ArchiveTimeStamp covers its files'
  SHA-256 hashes (already on the ledger: no file is read). One TSA request per round for up
  to ``limit`` items, to the configured TSAs in order until one answers. No ledger entry: the
  record adds no claim the log must carry (the item's entry is in the anchored checkpoint).
- :func:`renew_records` (``evidence anchor renew``): a timestamp renewal (RFC 4998 5.2) of
  the records whose newest token's TSA certificate expires within a margin (or all), or a
  hash-tree renewal (5.3) to SHA-512, which re-reads the files from the blob store. Each
  batch is one TSA request and then ONE database transaction that appends an
  ``ers.renewed`` entry and stores the batch's renewed records (docs/formats.md
  "``ers.renewed``"). The request comes first: when no TSA answers, :class:`RenewalRefused`
  is raised and nothing of that batch is changed (tests/ledger/test_ers_ledger.py).

Purged items are left out: their files are gone, so they can no longer be re-hashed, and
they are no longer preserved; their last record stays as it was.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from evidence.ledger.anchor import ers_store, store
from evidence.ledger.anchor.config import AnchorConfig
from evidence.ledger.anchor.ers import (
    ErsTsa,
    RenewalRefused,
    build_records,
    renew_hash_tree,
    renew_timestamps,
)
from evidence.ledger.anchor.ers_store import StoredRecord
from evidence.ledger.anchor.tsa_client import TsaClientError
from evidence.ledger.log import Ledger
from evidence.verify.entry import format_time
from evidence.verify.evidence_record import (
    ALGORITHMS,
    Document,
    ErsVerdict,
    EvidenceRecordError,
    parse_evidence_record,
    verify_evidence_record,
)
from evidence.verify.timestamp import TimestampError

__all__ = [
    "RENEWED",
    "NamedTsa",
    "RenewReport",
    "RenewalRefused",
    "make_missing_records",
    "named_tsas",
    "renew_records",
]

log = logging.getLogger("evidence.anchor")

RENEWED = "ers.renewed"
BATCH = 2000
"""Items per TSA request and per ``ers.renewed`` entry: at the longest TSA name and a
SHA-512 root that entry is about 64,600 bytes, within the 65,535 a tlog-tiles entry bundle
holds (tests/ledger/test_ers_ledger.py, test_the_largest_renewal_entry_fits_an_entry_bundle)."""


@dataclass(frozen=True)
class NamedTsa:
    name: str
    tsa: ErsTsa


def named_tsas(config: AnchorConfig) -> list[NamedTsa]:
    """The configured TSAs, in configuration order, with their pinned roots."""
    return [NamedTsa(t.name, ErsTsa(t.url, tuple(t.ca_pems(config.data_dir)), t.timeout,
                                     t.policy))
            for t in config.tsas]


@dataclass(frozen=True)
class MadeRecords:
    made: int
    tsa: str | None
    errors: tuple[str, ...] = ()
    upto: int = 0  # the checkpoint size whose items were looked at
    complete: bool = True  # every item below ``upto`` has a record now

    def to_json(self) -> dict[str, object]:
        return {"made": self.made, "tsa": self.tsa, "errors": list(self.errors)}


@dataclass
class RenewReport:
    kind: str
    algorithm: str
    renewed: int = 0
    entries: list[int] = field(default_factory=list)  # seq of each ers.renewed entry
    tsas: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "algorithm": self.algorithm, "renewed": self.renewed,
                "entries": self.entries, "tsas": self.tsas}


def _hash_documents(sha256s: Sequence[str]) -> list[Document]:
    """Documents known by their SHA-256 only (the ledger's): enough for a SHA-256 chain."""
    def doc(hex_digest: str) -> Document:
        def digest(name: str) -> bytes:
            if name != "sha256":
                raise RenewalRefused(f"the file {hex_digest} must be read to hash it with "
                                     f"{name}: no blob store given")
            return bytes.fromhex(hex_digest)
        return digest
    return [doc(h) for h in sha256s]


def _file_documents(sha256s: Sequence[str], open_blob: Callable[[str], BinaryIO]
                    ) -> list[Document]:
    """Documents read from the blob store for any algorithm but SHA-256, whose value is the
    ledger's (the store checks the bytes against it as it reads them)."""
    def doc(hex_digest: str) -> Document:
        def digest(name: str) -> bytes:
            if name == "sha256":
                return bytes.fromhex(hex_digest)
            h, seen = hashlib.new(name), hashlib.sha256()
            with open_blob(hex_digest) as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
                    seen.update(chunk)
            if seen.hexdigest() != hex_digest:
                raise RenewalRefused(f"the stored file {hex_digest} does not hash to its "
                                     "SHA-256: repair it first (evidence scrub)")
            return h.digest()
        return digest
    return [doc(h) for h in sha256s]


def _first(tsas: Sequence[NamedTsa], make: Callable[[ErsTsa], list[bytes]]
           ) -> tuple[str, list[bytes], list[str]]:
    """``make`` with each TSA in order until one answers: (its name, the records, the
    earlier TSAs' failures). Raises RenewalRefused naming every failure when none does."""
    errors: list[str] = []
    for t in tsas:
        try:
            return t.name, make(t.tsa), errors
        except (TsaClientError, TimestampError, EvidenceRecordError) as e:
            errors.append(f"{t.name}: {type(e).__name__}: {e}")
    if not tsas:
        raise RenewalRefused("no TSA is configured (evidence anchor tsa add)")
    raise RenewalRefused("no TSA could be reached or gave a valid token, nothing was "
                         "changed: " + "; ".join(errors))


def _verdict(record: bytes, docs: Sequence[Document], tsas: Sequence[NamedTsa],
             name: str) -> ErsVerdict:
    roots = list(next(t for t in tsas if t.name == name).tsa.ca_pems)
    return verify_evidence_record(record, docs, roots)


def make_missing_records(ledger: Ledger, tsas: Sequence[NamedTsa], *, limit: int = BATCH,
                         now: datetime | None = None, from_seq: int = 0) -> MadeRecords | None:
    """Records for the items of the newest TSA-anchored checkpoint that have none (from
    entry ``from_seq`` on); None when there is nothing to do. ``MadeRecords.upto`` is that
    checkpoint's size: when the result is complete, every item below it has a record."""
    upto = store.newest_with_proof(ledger.engine, "tsa")
    if upto is None or not tsas:
        return None
    pending = ers_store.items_without_record(ledger.engine, upto, limit, from_seq)
    if not pending:
        return MadeRecords(0, None, upto=upto)
    items = [_hash_documents(files) for _, files in pending]
    try:
        name, records, errors = _first(tsas, lambda t: build_records(items, t))
    except RenewalRefused as e:
        log.warning("evidence records for %d items: %s", len(pending), e)
        return MadeRecords(0, None, (str(e),), upto=upto, complete=False)
    # build_records checked every record in full; they share one token, so one verdict
    # gives the times of all (verifying each again would double a round's cost)
    v = _verdict(records[0], items[0], tsas, name)
    rows = [StoredRecord(eid, record, v.algorithms[-1], name, format_time(v.first_gen_time),
                         format_time(v.renew_before), files)
            for (eid, files), record in zip(pending, records, strict=True)]
    made = ers_store.insert_records(ledger.engine, rows, now or datetime.now(UTC))
    log.info("evidence records made for %d items with TSA %s", made, name)
    return MadeRecords(made, name, tuple(errors), upto=upto, complete=len(pending) < limit)


def renew_records(ledger: Ledger, tsas: Sequence[NamedTsa], *, hash_tree: str | None = None,
                  due_within: timedelta | None = None,
                  open_blob: Callable[[str], BinaryIO] | None = None,
                  now: datetime | None = None, batch: int = BATCH) -> RenewReport:
    """Renew stored records. ``hash_tree`` (e.g. ``"sha512"``): a hash-tree renewal of every
    record whose last chain is under another hash (needs ``open_blob``). Otherwise a
    timestamp renewal of the records whose newest token's TSA certificate expires within
    ``due_within`` (None: every record, the operator's demand)."""
    if hash_tree is not None and hash_tree not in ALGORITHMS.values():
        raise RenewalRefused(f"hash-tree renewal to {hash_tree!r}: use sha256, sha384 or "
                             "sha512")
    if hash_tree is not None and open_blob is None:
        raise RenewalRefused("a hash-tree renewal re-reads the files: a blob store is needed")
    if not tsas:
        raise RenewalRefused("no TSA is configured (evidence anchor tsa add)")
    now = now or datetime.now(UTC)
    kind = "timestamp" if hash_tree is None else "hash_tree"
    due = None if due_within is None else now + due_within
    report = RenewReport(kind, hash_tree or "")
    after = ""
    while True:
        rows = ers_store.records_to_renew(ledger.engine, due_before=due,
                                          not_algorithm=hash_tree, after=after, limit=batch)
        if not rows:
            return report
        after = rows[-1].evidence_id
        groups: dict[str, list[StoredRecord]] = {}
        for r in rows:  # a timestamp renewal keeps each chain's hash: one request per hash
            groups.setdefault(r.algorithm if hash_tree is None else hash_tree, []).append(r)
        for algorithm, group in sorted(groups.items()):
            _renew_batch(ledger, tsas, group, algorithm, hash_tree, open_blob, now, report)


def _renew_batch(ledger: Ledger, tsas: Sequence[NamedTsa], group: list[StoredRecord],
                 algorithm: str, hash_tree: str | None,
                 open_blob: Callable[[str], BinaryIO] | None, now: datetime,
                 report: RenewReport) -> None:
    if open_blob is None:
        items = [_hash_documents(r.sha256s) for r in group]
    else:
        items = [_file_documents(r.sha256s, open_blob) for r in group]
    old = [r.record for r in group]
    if hash_tree is None:
        name, records, _ = _first(tsas, lambda t: renew_timestamps(old, items, t))
    else:
        name, records, _ = _first(tsas, lambda t: renew_hash_tree(old, items, t, hash_tree))
    # the renew_* functions checked every record in full; the new archive timestamps share
    # one token, so one verdict gives what changed for all: its certificate's end, the hash
    v = _verdict(records[0], items[0], tsas, name)
    new = [StoredRecord(r.evidence_id, record, v.algorithms[-1], name, r.first_gen_time,
                        format_time(v.renew_before), r.sha256s)
           for r, record in zip(group, records, strict=True)]
    last = v.timestamps[-1]
    token = _newest_token(records[0])
    body = {"kind": report.kind, "algorithm": algorithm, "tsa": name,
            "root": last.message_imprint, "token_sha256": hashlib.sha256(token).hexdigest(),
            "gen_time": format_time(last.gen_time),
            "evidence_ids": sorted(r.evidence_id for r in group)}

    def rows(conn: Any, made: Sequence[Any]) -> list[object]:
        if not ers_store.same_records(conn, group):
            raise RenewalRefused("another renewal changed these records meanwhile; run "
                                 "evidence anchor renew again")
        return ers_store.replace_ops(new, now)

    (appended,) = ledger.append_many([(RENEWED, body)], rows=rows)
    report.renewed += len(group)
    report.entries.append(appended.seq)
    if name not in report.tsas:
        report.tsas.append(name)
    if not report.algorithm:
        report.algorithm = algorithm


def _newest_token(record: bytes) -> bytes:
    return parse_evidence_record(record).chains[-1][-1].timestamp
