"""Gather an evidence item's bundle from the ledger, intake and anchoring storage.

For ``EVIDENCE_ID`` (docs/bundle.md):

* the submission entry and every custody entry about the item (bodies whose
  ``evidence_id`` is the item), as the exact stored bytes;
* ONE checkpoint, chosen as: the newest checkpoint that covers every entry and
  is anchored by at least one TSA (and, when ``anchors.json`` sets
  ``witness_quorum``, cosigned by that many configured witnesses: else the newest
  TSA-anchored one); else the newest such checkpoint that covers the submission,
  with the custody entries it does not cover yet left out and named in a warning
  (they go into the next bundle: a download recorded since the last anchoring
  round does not block the next export); else the latest checkpoint covering the
  submission (then refused below, unless provisional); an explicit
  ``checkpoint_size`` overrides;
* a bundle that could never pass is not written (docs/verdict.md section 2): if
  the chosen checkpoint has no RFC 3161 token, or fewer cosignatures by
  configured witnesses than the quorum, :class:`NotAnchoredYet` says when to try
  again, unless ``provisional``: then the bundle is written with
  ``"provisional": true`` in its manifest and no timestamps, and its report says
  it proves no time;
* an inclusion proof to that checkpoint for every entry and for the leaf just
  before each (the chain link), O(log n) stored nodes each;
* the checkpoint note with the stored witness cosignatures merged in, its RFC 3161
  tokens and the TSA chains they carry;
* the metadata and salt (absent once purged), the files streamed from the blob
  store (absent once purged; ``evidence-bundle/v2`` by default, each under its
  submitted name made safe, with ``index.html``; ``bundle_format="evidence-bundle/v1"``
  for a court whose verifier predates v2), the report, and ``tools/verify_bundle.py``: the
  stand-alone verifier, so that a court holding only the bundle also holds a
  program that checks it (its SHA-256 is in the report, to compare with the
  reference copy).

Which entries are about the item: ``evidence_events`` (written in the same
transaction as each entry by intake and the access layer, through
``evidence_store.event_row``), plus a sequential scan of the entries after the
submission, so that an entry appended by any other path (an operator's
``evidence log append``) is found too: completeness matters more than speed for
a document that goes to court (measured 0.17 s per 100 k entries). Every
candidate is re-read and kept only if its body names the item.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Connection, func, select

from evidence import __version__
from evidence.ledger.anchor.base import StoredAnchor
from evidence.ledger.anchor.config import AnchorConfig, load_anchor_config
from evidence.ledger.anchor.ers_store import item_evidence_records
from evidence.ledger.anchor.schema import ANCHORED, anchors
from evidence.ledger.anchor.store import list_anchors
from evidence.ledger.blobs import BlobStore
from evidence.ledger.bundle import report_txt
from evidence.ledger.bundle.report_custody import CUSTODY_KEYS
from evidence.ledger.bundle.report_ers import ers_report_data
from evidence.ledger.bundle.report_facts import report_facts
from evidence.ledger.bundle.report_webcapture import webcapture_report_data
from evidence.ledger.bundle.tool import TOOL_MEMBER, TOOL_REFERENCE, tool_source
from evidence.ledger.bundle.trusted_list import (
    TrustedList,
    TrustedListError,
    load_trusted_lists,
)
from evidence.ledger.bundle.writer import (
    BundleFile,
    BundlePieces,
    BundleTimestamp,
    WrittenBundle,
    write_bundle,
)
from evidence.ledger.db.engine import read_transaction
from evidence.ledger.db.schema import entries as entries_table
from evidence.ledger.errors import LedgerError
from evidence.ledger.evidence_store import StoredItem, load_item
from evidence.ledger.log import Ledger, StoredCheckpoint
from evidence.ledger.shards import shard_of
from evidence.verify.bundle_names import FORMAT_V2, FORMATS
from evidence.verify.entry import format_time, parse_entry
from evidence.verify.errors import NoteError
from evidence.verify.note import add_signature_lines, open_note, parse_note

__all__ = ["ExportError", "ExportResult", "Gathered", "NotAnchoredYet", "export_bundle",
           "gather"]


class ExportError(LedgerError):
    """The bundle cannot be made (unknown item, no checkpoint covers it yet, ...)."""


class NotAnchoredYet(ExportError):
    """The chosen checkpoint has no RFC 3161 timestamp, or not the configured witness
    quorum: a bundle made now could never pass a court's verification, so none is made.
    ``retry_after``: seconds until anchoring is next expected to have run (the anchoring
    interval); ``missing``: ``"timestamp"`` and/or ``"cosignatures"``."""

    def __init__(self, message: str, *, checkpoint_size: int, retry_after: int,
                 missing: tuple[str, ...], why: str = "") -> None:
        super().__init__(message)
        self.checkpoint_size = checkpoint_size
        self.retry_after = retry_after
        self.missing = missing
        self.why = why
        self.older_anchored: int | None = None
        """An older timestamped checkpoint that covers the submission but not every
        custody entry (``--checkpoint`` can choose it), if any."""


@dataclass(frozen=True)
class Gathered:
    pieces: BundlePieces
    report_data: dict[str, Any]
    cosignatures: int
    purged: bool
    warnings: tuple[str, ...]
    provisional: bool = False


@dataclass(frozen=True)
class ExportResult:
    evidence_id: str
    path: str | None
    size: int
    checkpoint_size: int
    entries: tuple[int, ...]
    timestamps: int
    cosignatures: int
    purged: bool
    warnings: tuple[str, ...]
    provisional: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"ok": True, "evidence_id": self.evidence_id, "path": self.path,
                "bytes": self.size, "checkpoint_size": self.checkpoint_size,
                "entries": list(self.entries), "timestamps": self.timestamps,
                "cosignatures": self.cosignatures, "purged": self.purged,
                "provisional": self.provisional, "warnings": list(self.warnings)}


# --- which entries ---------------------------------------------------------------------


def custody_seqs(conn: Connection, item: StoredItem, upto: int) -> list[int]:
    """Every entry ``< upto`` whose body names the item, submission included."""
    eid = item.evidence_id
    found = {item.seq, *(s for s, _ in item.events)}  # evidence_events
    scan_from = item.seq + 1
    for (seq, data) in conn.execute(select(entries_table.c.seq, entries_table.c.data)
                                    .where(entries_table.c.seq >= scan_from,
                                           entries_table.c.seq < upto)
                                    .order_by(entries_table.c.seq)):
        if eid.encode() in data and _names(bytes(data), eid):
            found.add(int(seq))
    return sorted(s for s in found if s < upto)


def _names(data: bytes, evidence_id: str) -> bool:
    try:
        return parse_entry(data).body.get("evidence_id") == evidence_id
    except Exception:  # a damaged entry is the auditor's business, not the bundle's
        return False


# --- which checkpoint ------------------------------------------------------------------


def _anchor_config(led: Ledger) -> AnchorConfig | None:
    """The operator's anchoring configuration (quorum, interval), or None for a ledger
    opened without a data directory."""
    cfg = led.config
    return None if cfg is None else load_anchor_config(cfg.data_dir)


def _quorum(config: AnchorConfig | None) -> tuple[int, list[str]]:
    if config is None or not config.witness_quorum:
        return 0, []
    return config.witness_quorum, [w.name for w in config.witnesses]


def _choose_checkpoint(conn: Connection, led: Ledger, first: int, last: int,
                       wanted: int | None, config: AnchorConfig | None) -> StoredCheckpoint:
    if wanted is not None:
        cp = led.checkpoint_at(wanted)
        if cp is None:
            raise ExportError(f"there is no stored checkpoint of size {wanted}")
        if cp.size <= first:
            raise ExportError(f"the checkpoint of size {wanted} does not cover the submission "
                              f"(entry {first})")
        return cp
    newest = select(func.max(anchors.c.checkpoint_size))
    quorum, witnesses = _quorum(config)
    candidates = []
    # Covering every entry first; else covering the submission, the newer custody entries
    # left for the next bundle (with a warning): a retrieval recorded after the last
    # anchoring must not stop the next export until the next anchoring round.
    for bound in (last, first):
        timestamped = (anchors.c.kind == "tsa", anchors.c.status == ANCHORED,
                       anchors.c.token.is_not(None), anchors.c.checkpoint_size > bound)
        if quorum:  # the newest that is timestamped AND has the quorum, if any
            cosigned = (select(anchors.c.checkpoint_size).where(
                anchors.c.kind == "witness", anchors.c.status == ANCHORED,
                anchors.c.cosignature.is_not(None), anchors.c.source.in_(witnesses))
                .group_by(anchors.c.checkpoint_size).having(func.count() >= quorum))
            candidates.append(newest.where(*timestamped,
                                           anchors.c.checkpoint_size.in_(cosigned)))
        candidates.append(newest.where(*timestamped))
    for query in candidates:
        size = conn.execute(query).scalar()
        if size is not None and (cp := led.checkpoint_at(int(size))) is not None:
            return cp
    cp = led.latest_checkpoint()
    if cp is None or cp.size <= first:
        raise ExportError(f"no checkpoint covers the submission (entry {first}) yet; "
                          "try again after the next checkpoint")
    return cp


def _refusal(cp: StoredCheckpoint, stamps: int, cosigners: Sequence[StoredAnchor],
             config: AnchorConfig | None) -> NotAnchoredYet | None:
    """Why a bundle proven to ``cp`` could never pass, or None. Witnesses count toward
    the quorum only when configured (as ``evidence status`` counts them)."""
    quorum, witnesses = _quorum(config)
    have = len({r.source for r in cosigners if r.source in witnesses})
    missing = (*(("timestamp",) if not stamps else ()),
               *(("cosignatures",) if have < quorum else ()))
    if not missing:
        return None
    interval = config.interval if config is not None else 60.0
    retry = max(1, int(-(-interval // 1)))
    why = []
    if "timestamp" in missing:
        why.append("no RFC 3161 timestamp yet")
    if "cosignatures" in missing:
        why.append(f"{have} of the {quorum} witness cosignatures the anchoring "
                   "configuration requires (witness_quorum)")
    todo = ("" if config is None or config.tsas or "timestamp" not in missing else
            "No TSA is configured: add one (`evidence anchor tsa add`), then ")
    todo += (f"{'r' if todo else 'R'}un `evidence anchor` (or wait for `evidence anchor "
             f"--loop`, every {interval:g} s) and export again")
    return NotAnchoredYet(
        f"the checkpoint of size {cp.size} that covers this item has "
        f"{' and '.join(why)}: a bundle made now could never prove its time to a court. "
        f"{todo}; or export with --provisional for a bundle marked provisional (no proof "
        "of time)",
        checkpoint_size=cp.size, retry_after=retry, missing=missing, why=" and ".join(why))


# --- gathering --------------------------------------------------------------------------


def _evidence_record(led: Ledger, item: StoredItem, bundle_format: str) -> bytes | None:
    """The item's current RFC 4998 record for ``ers/item.ers``: v2 only (a v1 bundle is for
    an older verifier, which refuses the name), and not for a purged item (its files are
    gone; the bundle carries none to check a SHA-512 chain against)."""
    if bundle_format != FORMAT_V2 or item.purged:
        return None
    records = item_evidence_records(led, item.evidence_id)
    return records[0] if records else None


def checkpoint_signer(led: Ledger, cp: StoredCheckpoint) -> str:
    """The log key the manifest's and the report's ``log.verifier_key`` name: the Ed25519
    log key whose signature the checkpoint's note carries and whose window holds its size,
    the newest of them when two signed it (a rotation's overlap); the current key when none
    does (a ledger never rotated, or a note no listed key signed). A hint for people, never
    a trust source: every verifier ignores it (docs/bundle.md ``manifest.json``;
    tests/verdicts/test_manifest_log_key.py)."""
    wins = led.key_windows()
    if len(wins) == 1:
        return led.verifier_key
    try:
        signed = {(s.name, s.key_id) for s in parse_note(cp.note).signatures}
    except NoteError:
        return led.verifier_key
    for w in reversed(wins):
        v = w.verifier
        if (v.name, v.key_id) in signed and w.holds(cp.size):
            try:
                open_note(cp.note, [v])
            except NoteError:
                continue
            return v.to_string()
    return led.verifier_key


def _chain_pem(certs: Sequence[bytes]) -> bytes:
    out = b""
    for der in certs:
        out += x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM)
    return out


def _open_blob(store: BlobStore, sha256: str):  # type: ignore[no-untyped-def]
    return lambda: store.open(sha256)


def gather(led: Ledger, store: BlobStore, evidence_id: str, *,
           checkpoint_size: int | None = None, now: datetime | None = None,
           provisional: bool = False, verify_url: str | None = None,
           time_zone: str | None = None, forum: str | None = None,
           bundle_format: str = FORMAT_V2,
           trusted_lists: Sequence[str | os.PathLike[str] | TrustedList] = ()) -> Gathered:
    """The pieces of the bundle, the report data, and warnings for the operator.

    ``verify_url``, ``time_zone`` and ``forum`` shape the report only (the verify page's
    https URL for its QR code, the zone of its local times, the forums whose rules it
    lists: :mod:`evidence.ledger.bundle.report_facts`); ``trusted_lists``: EU trusted-list
    files (ETSI TS 119 612) the eIDAS rows check each TSA against
    (:mod:`evidence.ledger.bundle.trusted_list`; a file that cannot be used is an
    :class:`ExportError`, before anything is read from the ledger), or lists already read
    (the API reads its configured ones once, evidence/api/report_options.py).

    Raises :class:`NotAnchoredYet` when the chosen checkpoint lacks its timestamp or
    the witness quorum, unless ``provisional``: then the bundle is marked provisional
    and carries no timestamp (none would be checked: docs/verdict.md section 2). With
    ``provisional`` an item whose checkpoint IS anchored gets its ordinary bundle."""
    now = now or datetime.now(UTC)
    warnings: list[str] = []
    try:
        lists = [x for x in trusted_lists if isinstance(x, TrustedList)] + load_trusted_lists(
            [x for x in trusted_lists if not isinstance(x, TrustedList)])
    except TrustedListError as e:
        raise ExportError(str(e)) from None
    config = _anchor_config(led)
    with read_transaction(led.engine) as conn:
        item = load_item(conn, evidence_id)
        if item is None:
            raise ExportError(f"no evidence item {evidence_id!r} in this ledger")
        size_now = led.size
        seqs = custody_seqs(conn, item, size_now)
        cp = _choose_checkpoint(conn, led, item.seq, max(seqs), checkpoint_size, config)
    later = [s for s in seqs if s >= cp.size]
    if later:
        warnings.append(f"entries {later[:10]} are newer than the newest checkpoint "
                        f"(size {cp.size}) and are not in this bundle; export again after "
                        "the next checkpoint")
    seqs = [s for s in seqs if s < cp.size]
    entries = {s: led.entry(s).data for s in seqs}
    proofs = {i: led.inclusion_proof(i, cp.size).to_json()
              for i in sorted({j for s in seqs for j in (s, s - 1) if j >= 0})}

    rows = list_anchors(led.engine, size=cp.size, status=ANCHORED)
    note = cp.note
    cosigners = [r for r in rows if r.kind == "witness" and r.cosignature]
    if cosigners:
        note = add_signature_lines(note, [line + "\n" for r in cosigners
                                          for line in r.cosignature.splitlines() if line])
    tsa_rows = [r for r in rows if r.kind == "tsa" and r.token]
    refusal = _refusal(cp, len(tsa_rows), cosigners, config)
    if refusal is not None and not provisional:
        if checkpoint_size is None:
            with read_transaction(led.engine) as conn:
                older = conn.execute(select(func.max(anchors.c.checkpoint_size)).where(
                    anchors.c.kind == "tsa", anchors.c.status == ANCHORED,
                    anchors.c.token.is_not(None), anchors.c.checkpoint_size > item.seq,
                    anchors.c.checkpoint_size < cp.size)).scalar()
            refusal.older_anchored = None if older is None else int(older)
        raise refusal
    if refusal is not None:
        tsa_rows = []  # a provisional bundle proves no time: no token in it is checked
        warnings.append(f"PROVISIONAL bundle, no proof of time: the checkpoint of size "
                        f"{cp.size} has {refusal.why}; export again once it is anchored / "
                        "临时证据包，无时间证明：检查点尚未完成锚定；锚定后请重新导出")
    else:
        provisional = False
    stamps = [BundleTimestamp(r.source, r.token, _chain_pem(r.certs), r.gen_time)
              for r in tsa_rows]

    purged = item.purged
    metadata = None if item.metadata_jcs is None else json.loads(item.metadata_jcs)
    files = [] if purged else [
        BundleFile(f.name, f.media_type, f.size, f.sha256, _open_blob(store, f.sha256))
        for f in item.files]
    created = format_time(now)
    tool = tool_source()
    data = report_data(led, item, cp, entries, tsa_rows, cosigners, created, warnings,
                       provisional=provisional, tool_sha256=hashlib.sha256(tool).hexdigest())
    capture = webcapture_report_data(item.kind, metadata,
                                     [(f.name, f.sha256, f.open) for f in files],
                                     [t["gen_time"] for t in data["timestamps"]])
    if capture is not None:
        data["webcapture"] = capture
    record = _evidence_record(led, item, bundle_format)
    if (ers := ers_report_data(record)) is not None:  # the report's line on ers/item.ers
        data["evidence_record"] = ers
    report_facts(data, led=led, item=item, metadata=metadata, submission=entries.get(item.seq),
                 files=[(f.name, f.media_type, f.sha256, f.open) for f in files],
                 tsa_rows=tsa_rows, note=cp.note, config=config, verify_url=verify_url,
                 time_zone=time_zone, forum=forum, trusted_lists=lists)
    pieces = BundlePieces(
        evidence_id=evidence_id, created_at=created, exporter=f"evidence {__version__}",
        log_origin=led.origin, log_verifier_key=data["log"]["verifier_key"], checkpoint_note=note,
        shard=shard_of(led),  # the manifest names the shard (docs/bundle.md "shard")
        checkpoint_size=cp.size, submission_seq=item.seq, entries=entries, proofs=proofs,
        timestamps=stamps, metadata=metadata, salt=item.salt, files=files,
        report=render(data), tools={TOOL_MEMBER: tool}, provisional=provisional,
        format=bundle_format, evidence_record=record)
    return Gathered(pieces, data, len(cosigners), purged, tuple(warnings), provisional)


def report_data(led: Ledger, item: StoredItem, cp: StoredCheckpoint,
                entries: dict[int, bytes], tsa_rows: Sequence[StoredAnchor],
                cosigners: Sequence[StoredAnchor], created: str, warnings: Sequence[str],
                *, provisional: bool = False, tool_sha256: str | None = None
                ) -> dict[str, Any]:
    """What the report shows (the input of ``render_report``): plain JSON-able data.

    Keys: evidence_id, kind, case, principal, submitted_at, submission_seq, purged,
    purged_at, metadata_commitment, files [{name, media_type, size, sha256}],
    log {origin, verifier_key}, checkpoint {size, root, note}, timestamps [{tsa,
    gen_time, serial}], witnesses [{name, cosigned_at}], custody [{seq, time, type,
    principal?, action?, reason?, grantee?}], warnings, created_at, exporter,
    provisional (no proof of time: the reports then claim none), tool {member, sha256,
    reference [str]} (the stand-alone verifier the bundle carries; absent when none),
    verify_commands [str]; when the bundle carries ``ers/item.ers`` :func:`gather` adds
    evidence_record (:func:`evidence.ledger.bundle.report_ers.ers_report_data`); for a web
    capture :func:`gather` adds webcapture (see
    :func:`evidence.ledger.bundle.report_webcapture.webcapture_report_data`), and for
    every item the keys of :func:`evidence.ledger.bundle.report_facts.report_facts`."""
    custody = []
    for seq, data in sorted(entries.items()):
        e = parse_entry(data)
        custody.append({"seq": seq, "time": e.time, "type": e.type,
                        **{k: e.body[k] for k in CUSTODY_KEYS if k in e.body}})
    name = f"{item.evidence_id}.zip"
    trust = "--trust trust.txt --trust-sha256 FINGERPRINT"
    commands = [f"evidence verify {name} {trust}",
                f"evidence verify {name} {trust} --compare FILE"]
    if tool_sha256 is not None:
        commands += [f"python3 -m zipfile -e {name} bundle-files",
                     f"sha256sum bundle-files/{TOOL_MEMBER}   # expect / 应为 {tool_sha256}",
                     f"python3 bundle-files/{TOOL_MEMBER} {name} {trust}"]
    out = {
        "evidence_id": item.evidence_id, "kind": item.kind, "case": item.case_id,
        "principal": item.principal, "submitted_at": item.submitted_at,
        "submission_seq": item.seq, "purged": item.purged, "purged_at": item.purged_at,
        "metadata_commitment": item.commitment,
        "files": [{"name": f.name, "media_type": f.media_type, "size": f.size,
                   "sha256": f.sha256} for f in item.files],
        "log": {"origin": led.origin, "verifier_key": checkpoint_signer(led, cp)},
        "checkpoint": {"size": cp.size, "root": cp.root.hex(), "note": cp.note},
        "timestamps": [{"tsa": r.source, "gen_time": r.gen_time, "serial": r.serial}
                       for r in tsa_rows],
        "witnesses": [{"name": r.source, "cosigned_at": None if r.cosigned_at is None else
                       format_time(datetime.fromtimestamp(r.cosigned_at, UTC))}
                      for r in cosigners],
        "custody": custody,
        "warnings": list(warnings),
        "created_at": created,
        "exporter": f"evidence {__version__}",
        "provisional": provisional,
        "verify_commands": commands,
    }
    if tool_sha256 is not None:
        out["tool"] = {"member": TOOL_MEMBER, "sha256": tool_sha256,
                       "reference": list(TOOL_REFERENCE)}
    return out


def render(data: dict[str, Any]) -> dict[str, bytes]:
    """``report/<name>`` members: the text report, plus the HTML/PDF report of
    :mod:`evidence.ledger.bundle.report` (``render_report``) when it exists."""
    out = report_txt.render_report(data)
    try:
        report = importlib.import_module("evidence.ledger.bundle.report")
    except ModuleNotFoundError as e:
        if e.name != "evidence.ledger.bundle.report":
            raise
        return out
    out.update(report.render_report(data))
    return out


def export_bundle(led: Ledger, store: BlobStore, evidence_id: str,
                  out: str | os.PathLike[str] | IO[bytes], *,
                  checkpoint_size: int | None = None, overwrite: bool = False,
                  now: datetime | None = None, provisional: bool = False,
                  verify_url: str | None = None, time_zone: str | None = None,
                  forum: str | None = None, bundle_format: str = FORMAT_V2,
                  trusted_lists: Sequence[str | os.PathLike[str] | TrustedList] = ()
                  ) -> ExportResult:
    """Write the bundle of ``evidence_id`` to ``out`` (path or seekable binary stream).
    Nothing is written when :class:`NotAnchoredYet` is raised (see :func:`gather`).
    ``bundle_format``: ``evidence-bundle/v2`` or ``evidence-bundle/v1`` (docs/bundle.md)."""
    if bundle_format not in FORMATS:
        raise ExportError(f"unknown bundle format {bundle_format!r}; one of {list(FORMATS)}")
    g = gather(led, store, evidence_id, checkpoint_size=checkpoint_size, now=now,
               provisional=provisional, verify_url=verify_url, time_zone=time_zone,
               forum=forum, bundle_format=bundle_format, trusted_lists=trusted_lists)
    pieces = g.pieces
    written: WrittenBundle = write_bundle(pieces, out, overwrite=overwrite)
    return ExportResult(
        evidence_id=evidence_id, path=None if written.path is None else str(written.path),
        size=written.size, checkpoint_size=pieces.checkpoint_size,
        entries=tuple(sorted(pieces.entries)), timestamps=len(pieces.timestamps),
        cosignatures=g.cosignatures, purged=g.purged, warnings=g.warnings,
        provisional=g.provisional)
