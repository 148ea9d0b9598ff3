"""The log: checkpoints, proofs, entries. Checkpoints and proofs are public (hashes and
signatures only); raw entries need an auditor or admin token (they name principals,
file names and the addresses retrievals came from)."""

from __future__ import annotations

import base64
import json
import logging
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from evidence.api.deps import Role, Svc
from evidence.api.problems import Problem, authed, problems
from evidence.api.schemas import (
    AnchoredCheckpoints,
    CheckpointView,
    ConsistencyProofModel,
    Cosignature,
    EntriesPage,
    InclusionProofModel,
    LogEntry,
    LookupMatch,
    LookupResult,
    Timestamp,
)
from evidence.api.services import Services
from evidence.ledger import items
from evidence.ledger.access import ADMIN, AUDITOR
from evidence.ledger.anchor.schema import ANCHORED
from evidence.ledger.anchor.status import cosigned_note
from evidence.ledger.anchor.store import list_anchors, newest_with_proof, newest_with_quorum
from evidence.ledger.errors import OutOfRange

router = APIRouter(tags=["log"])
AuditorOrAdmin = Role(AUDITOR, ADMIN)

TEXT = "text/plain; charset=utf-8"
MAX_U64 = 2**63 - 1
Size = Annotated[int, Query(ge=0, le=MAX_U64)]

_NOTE_RESPONSE = {200: {"content": {TEXT: {"schema": {"type": "string"}}},
                        "description": "the C2SP signed checkpoint note"}}


async def _latest_or_none(svc: Services, covering: int = -1):  # type: ignore[no-untyped-def]
    cp = svc.latest_cached()
    if cp is None or cp.size <= covering:
        cp = await run_in_threadpool(svc.latest_checkpoint, covering)
    return cp


async def _latest(svc: Services, covering: int = -1):  # type: ignore[no-untyped-def]
    cp = await _latest_or_none(svc, covering)
    if cp is None:
        raise Problem(404, "no-checkpoint", "the log has no signed checkpoint yet")
    return cp


async def _checkpoint_at(svc: Services, size: int):  # type: ignore[no-untyped-def]
    if svc.publisher is not None:  # publish_when_witnessed: nothing past the witnessed one
        published = await _latest_or_none(svc)
        _refuse_unpublished(published.size if published else None, size)
        if published is not None and published.size == size:
            return published  # with its cosignatures
    return svc.checkpoint_cached(size) or await run_in_threadpool(svc.checkpoint_at, size)


def _refuse_unpublished(published: int | None, size: int) -> None:
    if published is None or size > published:
        raise Problem(404, "not-published", f"size {size} is past the newest checkpoint the "
                      "witness quorum cosigned" + ("" if published is None else
                                                   f" ({published})") +
                      "; this server publishes no other (publish_when_witnessed)")


def _json(doc: dict[str, object]) -> Response:
    return Response(json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode(),
                    media_type="application/json")


@router.get("/checkpoint", response_class=Response, responses={**_NOTE_RESPONSE,
                                                               **problems(404)})
@router.get("/v1/log/checkpoint", response_class=Response,
            responses={**_NOTE_RESPONSE, **problems(404)})
async def latest_checkpoint(svc: Svc) -> Response:
    """The latest signed checkpoint, as plain text (C2SP tlog-checkpoint in a signed note)."""
    cp = await _latest(svc)
    return Response(cp.note.encode(), media_type=TEXT, headers={"Cache-Control": "no-cache"})


@router.get("/v1/log/checkpoints/{size}", response_model=CheckpointView,
            responses=problems(404, 422))
def checkpoint_by_size(size: Annotated[int, Path(ge=0, le=MAX_U64)], svc: Svc
                       ) -> CheckpointView:
    """A checkpoint by tree size, with its RFC 3161 timestamps and witness cosignatures."""
    if svc.publisher is not None:
        published = svc.latest_checkpoint()
        _refuse_unpublished(published.size if published else None, size)
    view = _view(svc, size)
    if view is None:
        raise Problem(404, "no-checkpoint", f"no checkpoint was signed for size {size}")
    return view


def _view(svc: Services, size: int) -> CheckpointView | None:
    cp = svc.checkpoint_at(size)
    if cp is None:
        return None
    rows = list_anchors(svc.ledger.engine, size=size, status=ANCHORED)
    ts = [Timestamp(source=r.source, url=r.url, gen_time=r.gen_time, serial=r.serial,
                    policy=r.policy, verifier=r.verifier,
                    token_b64=base64.b64encode(r.token).decode(),
                    certs_b64=[base64.b64encode(c).decode() for c in r.certs])
          for r in rows if r.kind == "tsa" and r.token]
    cos = [Cosignature(source=r.source, verifier=r.verifier, cosigned_at=r.cosigned_at,
                       cosignature=r.cosignature)
           for r in rows if r.kind == "witness" and r.cosignature]
    return CheckpointView(size=cp.size, root=cp.root.hex(), created_at=cp.created_at,
                          note=cp.note, cosigned_note=cosigned_note(svc.ledger, size),
                          timestamps=ts, cosignatures=cos)


@router.get("/v1/log/checkpoint/anchored", response_model=AnchoredCheckpoints,
            responses=problems(503))
def anchored_checkpoints(svc: Svc) -> AnchoredCheckpoints:
    """The newest anchored checkpoints (public), each as ``/v1/log/checkpoints/{size}``
    gives it: the newest with an RFC 3161 token, and the newest cosigned by the configured
    witness quorum. Under steady load most checkpoints are superseded before they are
    anchored and never will be; a later anchored checkpoint covers their entries, and this
    is how a monitor finds it (scripts/monitor_log.py)."""
    engine = svc.ledger.engine
    ts = newest_with_proof(engine, "tsa")
    names, quorum = _witness_quorum(svc)
    cos = (newest_with_quorum(engine, names, quorum) if names and quorum
           else newest_with_proof(engine, "witness"))
    return AnchoredCheckpoints(timestamped=None if ts is None else _view(svc, ts),
                               cosigned=None if cos is None else _view(svc, cos))


def _witness_quorum(svc: Services) -> tuple[list[str], int]:
    """The configured witnesses' names and quorum (none configured: ([], 0))."""
    from evidence.ledger.anchor.config import AnchorConfigError, load_anchor_config

    try:
        cfg = load_anchor_config(_data_dir(svc))
    except AnchorConfigError as e:  # as for the trust file: the reason is the operator's
        logging.getLogger("evidence.api").error("anchoring configuration unreadable: %s", e)
        raise Problem(503, "trust-file-unavailable", "the anchoring configuration "
                      "(anchors.json) cannot be read; the server log says which line") from None
    return [w.name for w in cfg.witnesses], int(cfg.witness_quorum or 0)


def _data_dir(svc: Services):  # type: ignore[no-untyped-def]
    from evidence.ledger.config import resolve_data_dir

    led = svc.ledger
    return led.config.data_dir if led.config else resolve_data_dir(svc.settings.data_dir)


@router.get("/v1/log/proof/inclusion", response_model=InclusionProofModel,
            responses=problems(400, 404, 409, 422))
async def inclusion(svc: Svc,
                    seq: Annotated[int | None, Query(ge=0, le=MAX_U64)] = None,
                    leaf_hash: Annotated[str | None, Query(pattern=r"^[0-9a-fA-F]{64}$")] = None,
                    size: Annotated[int | None, Query(ge=0, le=MAX_U64,
                                                      description="default: the latest "
                                                                  "checkpoint")] = None
                    ) -> Response:
    """RFC 9162 inclusion proof of an entry (by ``seq`` or ``leaf_hash``) in the tree of
    ``size`` entries, by default the latest checkpoint (returned with it)."""
    if (seq is None) == (leaf_hash is None):
        raise Problem(400, "bad-request", "give exactly one of seq and leaf_hash")
    if leaf_hash is not None:
        seq = await run_in_threadpool(_seq_of_leaf, svc, bytes.fromhex(leaf_hash))
    assert seq is not None
    root = None
    if size is None:
        cp = await _latest_or_none(svc, covering=seq)
        if cp is None or seq >= cp.size:  # the same answer before the first checkpoint
            covered = "no checkpoint is signed" if cp is None else (
                f"the latest checkpoint (size {cp.size}) does not cover it")
            raise Problem(409, "not-yet-checkpointed",
                          f"entry {seq}: {covered} yet; retry shortly",
                          headers={"Retry-After": "1"})
        size, note, root = cp.size, cp.note, cp.root
    else:
        if seq >= size:
            raise OutOfRange(f"entry {seq} is past the end of the tree (size {size})")
        cp = await _checkpoint_at(svc, size)
        note = cp.note if cp is not None else None
        root = cp.root if cp is not None else None
    cache = svc.proofs
    nodes, missing = cache.collect(cache.inclusion_ids(seq, size, with_root=root is None))
    check = [size] if cp is None and cache.needs_size_check(size) else []
    if missing or check:
        nodes.update(await run_in_threadpool(cache.load, missing, check_sizes=check))
    return _json({**cache.inclusion(seq, size, nodes, root), "checkpoint": note})


def _seq_of_leaf(svc: Services, leaf: bytes) -> int:
    found = svc.ledger.find_leaf(leaf)  # the leaf index, confirmed against entries
    if found is None:
        raise Problem(404, "unknown-leaf", "no entry has this leaf hash")
    return int(found)


@router.get("/v1/log/proof/consistency", response_model=ConsistencyProofModel,
            responses=problems(400, 404, 422))
async def consistency(size1: Size, svc: Svc,
                      size2: Annotated[int | None, Query(ge=0, le=MAX_U64,
                                                         description="default: the latest "
                                                                     "checkpoint")] = None
                      ) -> Response:
    """RFC 9162 consistency proof from the tree of ``size1`` to ``size2``."""
    if size2 is None:
        cp = await _latest(svc)
        size2 = cp.size
    else:
        cp = await _checkpoint_at(svc, size2)
    if size1 > size2:
        raise OutOfRange(f"first size {size1} is larger than second size {size2}")
    cache = svc.proofs
    check = [size2] if cp is None and cache.needs_size_check(size2) else []
    nodes, missing = cache.collect(cache.consistency_ids(size1, size2))
    if missing or check:
        nodes.update(await run_in_threadpool(cache.load, missing, check_sizes=check))
    return _json({**cache.consistency(size1, size2, nodes),
                  "checkpoint": cp.note if cp is not None else None})


@router.get("/v1/log/entries", response_model=EntriesPage, responses=authed(400, 403, 422))
def log_entries(svc: Svc,
                _who: AuditorOrAdmin,
                start: Annotated[int, Query(ge=0, le=MAX_U64)] = 0,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> EntriesPage:
    """Entries ``start`` .. ``start+limit-1`` as exact bytes (base64) and leaf hashes, as in
    ``evidence log export``: commitments only, never evidence content."""
    limit = min(limit, svc.settings.page_limit)
    size = svc.ledger.size
    if start > size:
        raise Problem(400, "out-of-range", f"start {start} is past the end of the log "
                                           f"({size} entries)")
    end = min(size, start + limit)
    out = [LogEntry(seq=e.seq, leaf_hash=e.leaf_hash.hex(),
                    entry_b64=base64.b64encode(e.data).decode())
           for e in svc.ledger.entries(start, end)]
    return EntriesPage(size=size, entries=out, next=end if end < size else None)


@router.get("/v1/lookup", response_model=LookupResult, responses=problems(400, 404, 422))
def lookup(svc: Svc,
           evidence_id: Annotated[str | None, Query(max_length=64,
                                                    pattern=r"^[A-Za-z0-9_-]+$")] = None,
           sha256: Annotated[str | None, Query(pattern=r"^[0-9a-fA-F]{64}$",
                                               description="SHA-256 of a preserved file")
                             ] = None) -> LookupResult:
    """Is this evidence id, or a file with this SHA-256, preserved in the ledger?

    Public, like checkpoints and proofs: it reveals only that an item exists, its
    submission entry and checkpoint, never what the evidence says or who submitted it.
    Whoever holds a file can confirm it was preserved; operators who do not want that
    turn it off (``ApiSettings.public_lookup``). Unknown ids and hashes answer with an
    empty list, never an error, so the answer is the same shape either way."""
    if not svc.settings.public_lookup:
        raise Problem(404, "not-found", "public lookup is turned off on this server")
    if (evidence_id is None) == (sha256 is None):
        raise Problem(400, "bad-request", "give exactly one of evidence_id and sha256")
    found = items.lookup(svc.ledger, evidence_id=evidence_id, sha256=sha256, limit=100)
    cp = svc.latest_checkpoint(covering=max((m.seq for m in found), default=-1))
    return LookupResult(matches=[
        LookupMatch(evidence_id=m.evidence_id, seq=m.seq, leaf_hash=m.leaf_hash.hex(),
                    time=m.time, purged=m.purged,
                    checkpoint_size=cp.size if cp is not None and cp.size > m.seq else None)
        for m in found])


def trust_file(svc: Services) -> bytes:
    """The trust file a court pins (docs/verdict.md section 3), built as `evidence trust
    export` builds it: the same bytes, so the same fingerprint."""
    from evidence.ledger.anchor.config import AnchorConfigError
    from evidence.ledger.trust_file import trust_policy_of

    try:
        return trust_policy_of(svc.ledger, data_dir=svc.settings.data_dir).raw or b""
    except AnchorConfigError as e:  # the operator's configuration is broken: say so, not a 500
        # the reason names files of the server: it goes to the operator's log, not the client
        logging.getLogger("evidence.api").error("trust file unavailable: %s", e)
        raise Problem(503, "trust-file-unavailable", "the trust file cannot be built from "
                      "the operator's configuration (anchors.json or capture-nodes); the "
                      "server log says which line") from None


@router.get("/v1/log/trust", response_class=Response,
            responses={200: {"content": {TEXT: {"schema": {"type": "string"}}},
                             "description": "the trust file (C2SP tlog-policy with "
                                            "evidence extensions); ETag is its SHA-256"},
                       304: {"description": "unchanged (If-None-Match)"},
                       **problems(503)})
def log_trust(svc: Svc, if_none_match: Annotated[str | None, Header()] = None) -> Response:
    """The trust file for this log: what a court pins to verify its bundles. Its SHA-256
    (the ETag, and what `evidence serve` prints at start) is what the operator states in
    filings; a verifier given `--trust-sha256` refuses any other file."""
    import hashlib

    data = trust_file(svc)
    etag = f'"{hashlib.sha256(data).hexdigest()}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if if_none_match and etag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=TEXT, headers=headers)
