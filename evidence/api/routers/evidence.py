"""Evidence items: submit, list, metadata, file download, receipt, custody history.

Every retrieval of content (the metadata view, a file download; later the bundle
export) appends an ``evidence.accessed`` entry and waits until it is durable BEFORE
one byte is served: if the append fails, nothing is served. Receipts and custody
histories are about the ledger (hashes and signatures), not the content: they are
not recorded.
"""

from __future__ import annotations

import base64
import logging
import os
import pathlib
from collections.abc import Iterator
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from evidence.api import fixity, idempotency, report_options, submission
from evidence.api.deps import Caller, Role, Svc, anchor_config, remote_addr
from evidence.api.problems import Problem, authed
from evidence.api.ranges import parse_range
from evidence.api.schemas import (
    CustodyEntry,
    CustodyView,
    EvidenceList,
    EvidenceView,
    PendingSubmission,
    ReceiptView,
    SubmissionReceipt,
    SubmitterSignature,
)
from evidence.api.services import Held, Services
from evidence.api.uploads import FIELDS
from evidence.ledger import items, listing
from evidence.ledger.access import COURT, FOREIGN, SUBMITTER, Authorization, Principal
from evidence.ledger.anchor.config import AnchorConfigError
from evidence.ledger.blobs import VERIFY_FIRST_MAX, BlobDamaged, BlobNotFound
from evidence.ledger.bundle import cache as bundle_cache
from evidence.ledger.intake import KINDS, UnknownEvidence
from evidence.ledger.intake.idempotency import Claim, KeyInFlight, KeyUsed
from evidence.ledger.intake.idempotency import lookup as key_record
from evidence.ledger.items import StoredEntry, StoredItem
from evidence.ledger.log import Ledger
from evidence.verify.submission import SubmissionSignatureError

router = APIRouter(prefix="/v1/evidence", tags=["evidence"])
log = logging.getLogger("evidence.api")
Submitter = Role(SUBMITTER)
Viewer = Role(SUBMITTER, COURT, FOREIGN)

EvidenceId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$",
                                 description="the item's id (ev_...)")]
Sha256 = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="the file's SHA-256")]

_SUBMIT_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {
    "schema": {"type": "object", "required": ["case", "kind", "file"], "properties": {
        "case": {"type": "string", "description": "a case you are a member of"},
        "kind": {"type": "string", "enum": list(KINDS)},
        "title": {"type": "string"},
        "meta": {"type": "string", "description": 'a JSON object of strings, e.g. '
                                                  '{"shop":"example"}'},
        "source_url": {"type": "string"},
        "captured_at": {"type": "string", "description": "RFC 3339"},
        "file": {"type": "array", "items": {"type": "string", "format": "binary"},
                 "description": "one or more files; each part's filename is kept"},
        "sign": {"type": "string", "enum": ["deferred"],
                 "description": "deferred: store the files, answer 202 with the text to "
                                "sign; nothing is on the ledger until POST sign_url"},
        "strict_metadata": {"type": "string", "enum": ["true", "false"],
                            "description": "true: refuse the item when a file's metadata "
                                           "is not extracted cleanly (as evidence submit "
                                           "--strict-metadata); default: preserve it with "
                                           "the errors in extraction_errors"},
        "dns_records": {"type": "string", "description": "a JSON object of DKIM key names "
                                                         "to TXT record text, e.g. "
                                                         '{"s1._domainkey.example.com":'
                                                         '"v=DKIM1; k=rsa; p=..."}: an '
                                                         "e-mail's DKIM signature is checked "
                                                         "offline against them (as evidence "
                                                         "submit --dns-record)"},
    }}}}}}
_SUBMIT_BODY["parameters"] = [idempotency.OPENAPI_PARAMETER]
assert set(_SUBMIT_BODY["requestBody"]["content"]["multipart/form-data"]["schema"]
           ["properties"]) == {*FIELDS, "file"}


def _item_or_none(svc: Services, evidence_id: str) -> tuple[StoredItem | None, Held]:
    """The item and the shard holding it: an item preserved before a shard was frozen is
    read from that shard (read-only); its retrievals are recorded in the active log."""
    held = svc.holding(evidence_id)
    try:
        return held.intake.item(evidence_id), held
    except UnknownEvidence:
        return None, held


def _visible(svc: Services, who: Principal, evidence_id: str, action: str
             ) -> tuple[StoredItem, Authorization, Held]:
    item, held = _item_or_none(svc, evidence_id)
    auth = svc.access.authorize(who, evidence_id, item.case_id if item else None,
                                action=action)
    assert item is not None
    return item, auth, held


@router.post("", status_code=201, response_model=SubmissionReceipt,
             openapi_extra=_SUBMIT_BODY, responses={
                 202: {"model": PendingSubmission,
                       "description": "sign=deferred: stored, waiting for your signature "
                                      "(nothing on the ledger yet)"},
                 **authed(400, 403, 404, 409, 413, 415, 422)})
async def submit(request: Request, svc: Svc,
                 who: Submitter) -> Response:
    """Submit one evidence item (multipart: fields and one or more files), as
    ``evidence submit`` does. Answers once its ``evidence.submitted`` entry is durable,
    with the log's signed receipt. With ``sign=deferred``: 202 and the text to sign with
    your own key; the entry is appended by ``POST /v1/evidence/pending/{id}/sign``."""
    # The work is in evidence.api.submission, shared with the fast path (which answers
    # most submissions before they get here).
    return await submission.submit(request, svc, who)


@router.get("", response_model=EvidenceList, responses=authed(403, 422, 503))
def list_evidence(
        svc: Svc, who: Viewer,
        case: Annotated[str | None, Query(max_length=128, description="only this case")] = None,
        kind: Annotated[Literal[KINDS] | None, Query()] = None,  # type: ignore[valid-type]
        since: Annotated[str | None, Query(max_length=64, description=(
            "log time from (inclusive), RFC 3339 with offset"))] = None,
        until: Annotated[str | None, Query(max_length=64, description=(
            "log time before (exclusive), RFC 3339 with offset"))] = None,
        q: Annotated[str | None, Query(max_length=listing.MAX_Q, description=(
            "case-insensitive substring of the title, the source URL or the id"))] = None,
        status: Annotated[Literal["anchored", "witnessed", "pending"] | None, Query()] = None,
        cursor: Annotated[str | None, Query(max_length=64, description=(
            "next_cursor of the previous page"))] = None,
        limit: Annotated[int, Query(ge=1, le=listing.MAX_LIMIT)] = listing.DEFAULT_LIMIT,
) -> EvidenceList:
    """The items of your cases (and, for a foreign party, the items its active grants name),
    in log order, a page at a time. Not recorded: it shows what identifies an item (title,
    source URL, file names and hashes), not its content; opening one is. Auditors and
    admins see no evidence: 403."""
    f = listing.list_filter(case=case, kind=kind, since=since, until=until, q=q,
                            status=status)
    try:
        page = listing.list_items(svc.ledger, who, f, cursor=cursor, limit=limit)
    except AnchorConfigError as e:  # status needs the anchoring configuration: a 503, not a 500
        logging.getLogger("evidence.api").error("listing: %s", e)
        raise Problem(503, "anchoring-config-unavailable", "the operator's anchoring "
                      "configuration (anchors.json) cannot be read; the server log says why"
                      ) from None
    return EvidenceList(**page.to_json())


SIGN_OPERATION = "evidence.sign"
PendingId = Annotated[str, Path(pattern=r"^pd_[0-9a-f]{32}$",
                                description="the pending id a sign=deferred submit gave")]


@router.post("/pending/{pending_id}/sign", status_code=201, response_model=SubmissionReceipt,
             responses=authed(400, 403, 404, 409, 410, 422),
             openapi_extra={"parameters": [idempotency.OPENAPI_PARAMETER]})
def sign_pending(pending_id: PendingId, signature: SubmitterSignature, request: Request,
                 svc: Svc, who: Submitter) -> Response:
    """Sign a pending (``sign=deferred``) submission: your verifier key and your Ed25519
    signature over its ``text``. The signature is checked as any verifier checks the
    entry (evidence.verify.submission); then the entry is appended as an ordinary
    submission's, with your signature in it. 422 if it does not verify (the submission
    keeps waiting); 410 once expired. With an ``Idempotency-Key``, a retry after a lost
    answer gets the first answer again (docs/api.md)."""
    assert svc.pending is not None
    key = idempotency.key_of(request.headers)
    claim = None
    leave = None
    if key is not None:  # the pending id names the files: they are not fingerprinted again
        claim = Claim(who.id, key, SIGN_OPERATION, {"pending_id": pending_id,
                                                    **signature.model_dump()},
                      ttl=svc.settings.idempotency_ttl, with_files=False)
        leave = idempotency.IN_FLIGHT.enter(who.id, key)
    try:
        if claim is not None:  # signed before (its answer lost): the pending item is gone
            rec = key_record(svc.ledger.engine, who.id, claim.key, claim.ttl)
            if rec is not None:
                return idempotency.used(KeyUsed(rec, claim.fingerprint()))
        pending, claimed = svc.pending.claim(pending_id, who.id)
        try:
            svc.access.require_submit(who, pending.prepared.case)
            try:
                done = svc.intake.submit_prepared(pending.prepared, signature.model_dump(),
                                                  idempotency=claim)
            except SubmissionSignatureError as e:
                raise Problem(422, "bad-signature", str(e)) from None
        except BaseException as e:
            svc.pending.unclaim(pending_id, claimed)
            if isinstance(e, KeyUsed | KeyInFlight):  # nothing appended
                return idempotency.used(e)
            raise
        svc.pending.done(pending_id)
    finally:
        if leave is not None:
            leave()
    body = SubmissionReceipt(**done.to_json(), log_key=svc.ledger.verifier_key)
    return Response(body.model_dump_json().encode(), status_code=201,
                    media_type="application/json",
                    headers={"Location": f"/v1/evidence/{done.evidence_id}"})


@router.get("/{evidence_id}", response_model=EvidenceView, responses=authed(403, 404, 422))
def metadata(evidence_id: EvidenceId, request: Request, svc: Svc,
             who: Caller) -> EvidenceView:
    """The item: files, opened metadata, receipt, custody. Recorded as an access."""
    _item, auth, held = _visible(svc, who, evidence_id, "metadata")
    a = svc.access.record_access(auth, "metadata", remote_addr=remote_addr(request))
    view = held.intake.show(evidence_id)
    for f in view["files"]:
        f["url"] = f"/v1/evidence/{evidence_id}/files/{f['sha256']}"
    return EvidenceView(**view, access_seq=a.seq, frozen_shard=held.shard)


@router.get("/{evidence_id}/files/{sha256}", response_class=StreamingResponse,
            responses={200: {"content": {"application/octet-stream": {
                           "schema": {"type": "string", "format": "binary"}}},
                           "description": "the file (its own media type)"},
                       206: {"description": "the requested byte range",
                             "content": {"application/octet-stream": {
                                 "schema": {"type": "string", "format": "binary"}}}},
                       304: {"description": "If-None-Match matched: you have these bytes"},
                       **authed(403, 404, 410, 416, 422)})
def download(evidence_id: EvidenceId, sha256: Sha256, request: Request,
             svc: Svc, who: Caller,
             range_: Annotated[str | None, Header(alias="Range")] = None,
             if_none_match: Annotated[str | None, Header()] = None,
             if_range: Annotated[str | None, Header()] = None) -> Response:
    """A file of the item, streamed; ``Range`` (one range: 206, or 416), ETag = its
    SHA-256. Recorded (with the range) as an access before the first byte is sent;
    under a grant it counts as one download. Only the preserved bytes are served
    (evidence/api/fixity.py): a damaged or missing file is 503 ``evidence-damaged`` /
    ``evidence-missing``, or, found half-way through a large file, a cut-off transfer."""
    item, auth, _held = _visible(svc, who, evidence_id, "download")
    f = next((f for f in item.files if f.sha256 == sha256), None)
    if f is None:
        raise Problem(404, "unknown-file", "this item has no file with that SHA-256")
    if item.purged:
        raise Problem(410, "purged", f"the item was purged (entry {item.purged_seq}); its "
                                     "entries remain, its files are gone")
    etag = f'"{sha256}"'
    common = {"ETag": etag, "Accept-Ranges": "bytes", "Cache-Control": "private, no-cache"}
    if if_none_match is not None and (if_none_match.strip() == "*" or etag in [
            t.strip().removeprefix("W/") for t in if_none_match.split(",")]):
        return Response(status_code=304, headers=common)
    addr = remote_addr(request)
    byte_range: str | None = None

    def failed(exc: BaseException, where: str) -> Problem:
        """Alert the operator and put the failure in the custody log (best effort: the
        alert is in the log even if the ledger cannot take the entry)."""
        state = fixity.state_of(exc)
        fixity.alerts_for(svc).alert(state, sha256, evidence_ids=[evidence_id], where=where,
                                     detail=str(exc))
        try:
            svc.access.record_access(auth, "download", remote_addr=addr, sha256=sha256,
                                     byte_range=byte_range, fixity=state)
        except Exception as e:
            log.error("fixity failure of %s not recorded in custody: %r", sha256, e)
        return fixity.problem(state, evidence_id, sha256)

    try:
        size = svc.store.size(sha256)
    except BlobNotFound as e:
        raise failed(e, "download") from None
    wanted = range_ if (if_range is None or if_range.strip() == etag) else None
    rng = parse_range(wanted, size)
    start, stop = rng if rng is not None else (0, size)
    if rng is not None:
        byte_range = f"bytes={start}-{stop - 1}"
    if size != f.size:
        raise failed(BlobDamaged(f"stored size {size}, preserved size {f.size}"), "download")
    chunks: Iterator[bytes]
    try:
        if size <= VERIFY_FIRST_MAX:  # checked whole before anything is sent
            first, chunks = svc.store.read_verified(sha256)[start:stop], iter(())
        else:
            if rng is None:
                chunks = svc.store.iter_verified(sha256)
            else:
                chunks = svc.store.iter_range_verified(
                    sha256, start, stop, svc.store.chunk_digests(sha256, size))
            first = next(chunks, b"")
    except (BlobDamaged, BlobNotFound) as e:
        raise failed(e, "download" if rng is None else "range") from None
    a = svc.access.record_access(auth, "download", remote_addr=addr, sha256=sha256,
                                 byte_range=byte_range)
    headers = {**common, "Content-Length": str(stop - start), "X-Access-Seq": str(a.seq),
               "Content-Disposition": f"attachment; filename*=UTF-8''{quote(f.name, safe='')}"}
    if rng is not None:
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"

    def cut_off(exc: BaseException) -> None:
        failed(exc, "download" if rng is None else "range")

    return fixity.VerifiedStream(
        first, chunks, status_code=206 if rng is not None else 200,
        media_type=f.media_type or "application/octet-stream", headers=headers,
        on_failure=cut_off)


@router.get("/{evidence_id}/receipt", response_model=ReceiptView,
            responses=authed(403, 404, 409, 422, 503))
def receipt(evidence_id: EvidenceId, svc: Svc, who: Caller,
            witnessed: Annotated[bool, Query(description=(
                "prove to the newest checkpoint the witness quorum cosigned (with the "
                "cosignatures), not the latest: what `evidence verify-receipts --trust` "
                "with a quorum accepts"))] = False) -> ReceiptView:
    """The signed receipt, the entry, and (once covered) its inclusion proof to the latest
    checkpoint with that checkpoint; with ``witnessed=true``, to the newest checkpoint the
    witness quorum cosigned (``checkpoint`` null until one covers the entry)."""
    item, held = _item_or_none(svc, evidence_id)
    svc.access.authorize_read(who, evidence_id, item.case_id if item else None)
    r = held.intake.receipt(evidence_id)
    if witnessed:
        from evidence.ledger.anchor.base import AnchorFailed
        from evidence.ledger.anchor.witnessed import witnessed_receipt

        cfg = anchor_config(svc)
        try:
            r = witnessed_receipt(r, held.ledger, cfg) if cfg is not None else None
        except AnchorFailed as e:
            raise Problem(409, "no-witnesses", str(e)) from None
        if r is None:
            raise Problem(409, "no-witnesses", "no witness is configured") from None
    return ReceiptView(**r)


@router.get("/{evidence_id}/custody", response_model=CustodyView,
            responses=authed(403, 404, 422))
def custody(evidence_id: EvidenceId, svc: Svc,
            who: Caller,
            after: Annotated[int, Query(ge=-1, le=2**63 - 1)] = -1,
            limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
            active_after: Annotated[int, Query(ge=-1, le=2**63 - 1, description=(
                "an item of a frozen shard: the active log's entries about it numbered "
                "after this (its entries there are in active_entries)"))] = -1,
            ) -> CustodyView:
    """The chain of custody: every entry about the item (submitted, shared, accessed,
    revoked, purged...), exact bytes in log order. Auditors may read any item's. For an
    item of a frozen shard (``frozen_shard``), ``entries`` are that shard's and
    ``active_entries`` the ones recorded since in the active shard's log (retrievals,
    grants), the first of them linked to the last of ``entries``."""
    item, held = _item_or_none(svc, evidence_id)
    svc.access.authorize_read(who, evidence_id, item.case_id if item else None)
    assert item is not None

    def view(es: list[StoredEntry]) -> list[CustodyEntry]:
        return [CustodyEntry(seq=e.seq, leaf_hash=e.leaf_hash.hex(), type=e.type,
                             time=e.time, entry_b64=base64.b64encode(e.data).decode())
                for e in es]

    later = None if held.shard is None else view(
        items.recorded_about(svc.ledger, evidence_id, after=active_after, limit=limit))
    return CustodyView(evidence_id=evidence_id, frozen_shard=held.shard,
                       entries=view(items.custody(held.ledger, item, after=after, limit=limit)),
                       active_entries=later)


# --- the evidence bundle (built by evidence/ledger/bundle; docs/bundle.md) ----------------


@router.get("/{evidence_id}/bundle", response_class=StreamingResponse,
            responses={200: {"content": {"application/zip": {
                           "schema": {"type": "string", "format": "binary"}}},
                           "description": "the evidence bundle (docs/bundle.md)"},
                       206: {"description": "the requested byte range of the bundle the "
                                            "If-Range ETag names (a resumed download)",
                             "content": {"application/zip": {
                                 "schema": {"type": "string", "format": "binary"}}}},
                       304: {"description": "If-None-Match matched: you have these bytes"},
                       **authed(403, 404, 409, 416, 422)})
def bundle(evidence_id: EvidenceId, request: Request, svc: Svc, who: Caller,
           provisional: Annotated[bool, Query(
               description="1: if the checkpoint is not anchored yet, answer a bundle "
                           "marked provisional (no proof of time) instead of 409")] = False,
           tz: Annotated[str | None, Query(
               max_length=64, description="the report's local times in this IANA zone "
               "(Asia/Shanghai, Europe/Berlin...), beside UTC; default: the server's "
               "zone, named; an unknown zone is 422")] = None,
           forum: Annotated[str | None, Query(
               max_length=64, description="whose rules the report's checklist lists: all "
               "(default) or one or more of cn, eu, us, intl, comma-separated; 422 "
               "otherwise")] = None,
           range_: Annotated[str | None, Header(alias="Range")] = None,
           if_range: Annotated[str | None, Header()] = None,
           if_none_match: Annotated[str | None, Header()] = None,
           ) -> Response:
    """The evidence bundle (``evidence-bundle/v2``, docs/bundle.md), as ``evidence export``
    writes it. Built once per state of the item (its anchored checkpoint, custody entries,
    files) and kept (evidence/ledger/bundle/cache.py): the same bytes with the same strong
    ``ETag`` until that state changes, so a cut-off download resumes with ``Range`` and
    ``If-Range`` (206; a bundle no longer kept: the whole current one, 200). Each answer
    is recorded as an ``export`` access (with its range) before a byte is sent; under a
    grant it counts as one download. 409 ``not-anchored-yet`` with ``Retry-After`` while
    the checkpoint covering the item has no RFC 3161 timestamp or not the witness quorum
    (such a bundle could never pass), unless ``provisional=1``; 409 ``not-yet-provable``
    if no checkpoint covers it yet. The access entry itself is newer than the bundle's
    checkpoint, so it appears in the next bundle, not in this one (and does not change
    this one's bytes).

    The report is shaped as ``evidence export`` shapes it (evidence/api/report_options.py):
    ``tz`` and ``forum`` are the reader's; the QR code's verify URL (``[serve]
    public_url``) and the EU trusted lists of its eIDAS rows (``[eidas] trusted_lists``)
    are the server's. Each combination is its own kept bundle with its own ETag."""
    opts = report_options.server_options(svc.settings.public_url,
                                         svc.settings.trusted_lists, tz, forum)
    _item, auth, held = _visible(svc, who, evidence_id, "export")
    cache = _bundle_cache(svc)
    if _item.purged:
        cache.forget_unpurged(evidence_id)
    path = None
    variant = report_options.variant(opts.time_zone, opts.forum)
    if range_ is not None and if_range is not None and cache.max_bytes > 0 \
            and if_range.strip().startswith(f'"{variant}'):  # built for these options
        path = cache.by_etag(evidence_id, if_range, provisional_ok=provisional)
    fp = None
    for _attempt in range(3):  # a kept file evicted by another worker meanwhile: again
        if path is None:
            path = _build_bundle(svc, held.ledger, request, auth, _item, evidence_id, cache,
                                 provisional, opts, variant)
        try:
            fp = open(path, "rb")  # noqa: SIM115 (closed by the stream, or on error)
            break
        except FileNotFoundError:
            path = None
    if fp is None or path is None:
        raise Problem(503, "unavailable", "the bundle could not be kept long enough to "
                      "serve it (the bundle cache is too small); retry",
                      headers={"Retry-After": "5"})
    try:
        if cache.max_bytes == 0:
            path.unlink(missing_ok=True)
        else:
            cache.touch(path)
        etag = cache.etag_of(path)
        size = os.fstat(fp.fileno()).st_size
        common = {"ETag": etag, "Accept-Ranges": "bytes", "Cache-Control": "private, no-cache"}
        if if_none_match is not None and etag in [
                t.strip() for t in if_none_match.split(",")]:
            fp.close()
            return Response(status_code=304, headers=common)
        wanted = range_ if (if_range is None or if_range.strip() == etag) else None
        rng = parse_range(wanted, size)
        start, stop = rng if rng is not None else (0, size)
        byte_range = f"bytes={start}-{stop - 1}" if rng is not None else None
        a = svc.access.record_access(auth, "export", remote_addr=remote_addr(request),
                                     byte_range=byte_range)
        fp.seek(start)
    except BaseException:
        fp.close()
        raise
    headers = {**common, "Content-Length": str(stop - start), "X-Access-Seq": str(a.seq),
               "Content-Disposition": f'attachment; filename="{evidence_id}.zip"'}
    if rng is not None:
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"

    def stream():  # type: ignore[no-untyped-def]
        with fp:
            left = stop - start
            while left > 0 and (chunk := fp.read(min(1 << 20, left))):
                left -= len(chunk)
                yield chunk

    return StreamingResponse(stream(), status_code=206 if rng is not None else 200,
                             media_type="application/zip", headers=headers)


def _bundle_cache(svc: Services) -> bundle_cache.BundleCache:
    from evidence.ledger.config import resolve_data_dir

    cfg = svc.ledger.config
    data_dir = cfg.data_dir if cfg is not None else resolve_data_dir(svc.settings.data_dir)
    return bundle_cache.for_folder(bundle_cache.folder_of(data_dir),
                                   svc.settings.bundle_cache)


def _build_bundle(svc: Services, led: Ledger, request: Request, auth: Authorization,
                  item: StoredItem,
                  evidence_id: str, cache: bundle_cache.BundleCache, provisional: bool,
                  opts: report_options.ReportOptions, variant: str) -> pathlib.Path:
    """The kept bundle of the item's current state and these report options, built now
    if none is kept (its key starts with the options' ``variant``)."""
    from evidence.ledger.bundle.export import ExportError, NotAnchoredYet, gather
    from evidence.ledger.bundle.writer import write_bundle

    try:
        g = gather(led, svc.store, evidence_id, provisional=provisional,
                   verify_url=opts.verify_url, time_zone=opts.time_zone, forum=opts.forum,
                   trusted_lists=opts.trusted_lists)
    except NotAnchoredYet as e:
        raise Problem(409, "not-anchored-yet", str(e).replace(
            "export with --provisional", "ask with ?provisional=1"),
            headers={"Retry-After": str(e.retry_after)},
            checkpoint_size=e.checkpoint_size, missing=list(e.missing)) from None
    except ExportError as e:
        raise Problem(409, "not-yet-provable", str(e)) from None
    key = variant + bundle_cache.state_key(g.pieces, g.report_data)[len(variant):]
    if cache.max_bytes > 0 and (kept := cache.by_state(evidence_id, key)) is not None:
        return kept
    try:
        return cache.add(evidence_id, key, provisional=g.provisional, purged=g.purged,
                         write=lambda fp: write_bundle(g.pieces, fp))
    except (BlobDamaged, BlobNotFound) as e:
        # a file of the item is not the preserved one: no bundle, an alert, and the
        # failed export in the custody log (it is not counted against a grant)
        state = fixity.state_of(e)
        sha = next((f.sha256 for f in item.files if f.sha256 in str(e)), "")
        fixity.alerts_for(svc).alert(state, sha, evidence_ids=[evidence_id],
                                     where="bundle", detail=str(e))
        try:
            svc.access.record_access(auth, "export", remote_addr=remote_addr(request),
                                     sha256=sha or None, fixity=state)
        except Exception as err:
            log.error("fixity failure of %s not recorded in custody: %r", evidence_id, err)
        raise fixity.problem(state, evidence_id, sha) from None
