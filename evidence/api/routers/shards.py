"""Every shard of the log (docs/formats.md "Temporal shards", docs/api.md "Shards"):
``GET /v1/shards`` lists them, and ``/v1/shards/{n}/...`` serves each one's checkpoint,
proofs and entries. The routes of ``/v1/log/...`` keep serving the active shard unchanged.

A frozen shard never changes, so its read-only ledger is opened once per process and kept
(``_frozen``); the active shard is the service's own ledger. Checkpoints and proofs are
public; entries need an auditor or admin token, as ``GET /v1/log/entries`` does."""

from __future__ import annotations

import base64
import threading
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from evidence.api.deps import Role, Svc
from evidence.api.problems import Problem, authed, problems
from evidence.api.services import Services
from evidence.ledger.access import ADMIN, AUDITOR
from evidence.ledger.anchor.status import cosigned_note
from evidence.ledger.config import resolve_data_dir
from evidence.ledger.errors import OutOfRange
from evidence.ledger.log import Ledger
from evidence.ledger.shards import Registry, open_frozen, read_registry

router = APIRouter(tags=["shards"])
AuditorOrAdmin = Role(AUDITOR, ADMIN)
TEXT = "text/plain; charset=utf-8"
MAX_U64 = 2**63 - 1
Shard = Annotated[int, Path(ge=1, le=10**6)]
Size = Annotated[int, Query(ge=0, le=MAX_U64)]

_frozen: dict[tuple[str, int], Ledger] = {}  # (data dir, n) -> its read-only ledger
_lock = threading.Lock()


def _data_dir(svc: Services) -> FsPath:
    led = svc.ledger
    return led.config.data_dir if led.config else resolve_data_dir(svc.settings.data_dir)


def _registry(svc: Services) -> Registry:
    return read_registry(_data_dir(svc))


def _ledger(svc: Services, n: int) -> tuple[Ledger, int | None]:
    """Shard ``n``'s ledger and its final size (None for the active shard)."""
    d = _data_dir(svc)
    reg = read_registry(d)
    if n == reg.active:
        return svc.ledger, None
    s = reg.shard(n)
    if s is None:
        raise Problem(404, "unknown-shard", f"there is no shard {n} (shards 1..{reg.active})")
    if svc.frozen is not None:  # the service's own (evidence routes share them)
        return svc.frozen.ledger(n), s.final_size
    key = (str(d), n)
    with _lock:
        led = _frozen.get(key)
        if led is None:
            led = _frozen[key] = open_frozen(d, n)
    return led, s.final_size


def _listing(svc: Services) -> dict[str, Any]:
    reg = _registry(svc)
    out: list[dict[str, Any]] = [
        {"shard": s.n, "origin": s.origin, "key": s.key, "frozen": True,
         "size": s.final_size, "final_root": s.final_root,
         "path": f"/v1/shards/{s.n}"} for s in reg.frozen]
    led = svc.ledger
    cp = led.latest_checkpoint()
    out.append({"shard": reg.active, "origin": led.origin, "key": led.verifier_key,
                "frozen": False, "size": None if cp is None else cp.size, "final_root": None,
                "path": f"/v1/shards/{reg.active}"})
    return {"active": reg.active, "shards": out}


@router.get("/v1/shards", responses=problems())
async def shards_list(svc: Svc) -> JSONResponse:
    """Every shard, oldest first: its origin and key; for a frozen shard its final size
    and root (its final checkpoint is ``/v1/shards/{n}/checkpoint``); for the active one
    the size of its latest checkpoint."""
    return JSONResponse(await run_in_threadpool(_listing, svc))


def _checkpoint(svc: Services, n: int) -> str:
    led, final = _ledger(svc, n)
    cp = led.latest_checkpoint() if final is None else led.checkpoint_at(final)
    if cp is None:
        raise Problem(404, "no-checkpoint", f"shard {n} has no signed checkpoint yet")
    return cosigned_note(led, cp.size)  # a frozen shard's: the final one, with cosignatures


@router.get("/v1/shards/{n}/checkpoint", response_class=Response,
            responses={200: {"content": {TEXT: {"schema": {"type": "string"}}},
                             "description": "the C2SP signed checkpoint note"},
                       **problems(404, 422)})
async def shard_checkpoint(n: Shard, svc: Svc) -> Response:
    """A frozen shard's final checkpoint (with its witnesses' cosignatures), the active
    shard's latest."""
    note = await run_in_threadpool(_checkpoint, svc, n)
    return Response(note.encode(), media_type=TEXT)


def _size_or_final(led: Ledger, final: int | None, size: int | None) -> int:
    if size is not None:
        return size
    if final is not None:
        return final
    cp = led.latest_checkpoint()
    if cp is None:
        raise Problem(404, "no-checkpoint", "no checkpoint is signed yet")
    return cp.size


def _inclusion(svc: Services, n: int, seq: int, size: int | None) -> dict[str, Any]:
    led, final = _ledger(svc, n)
    size = _size_or_final(led, final, size)
    p = led.inclusion_proof(seq, size)
    cp = led.checkpoint_at(size)
    return {**p.to_json(), "checkpoint": None if cp is None else cp.note}


@router.get("/v1/shards/{n}/proof/inclusion", responses=problems(400, 404, 422))
async def shard_inclusion(n: Shard, svc: Svc, seq: Size,
                          size: Annotated[int | None, Query(ge=0, le=MAX_U64)] = None
                          ) -> JSONResponse:
    """RFC 9162 inclusion proof of entry ``seq`` of shard ``n`` (default size: a frozen
    shard's final checkpoint, the active shard's latest)."""
    return JSONResponse(await run_in_threadpool(_inclusion, svc, n, seq, size))


def _consistency(svc: Services, n: int, size1: int, size2: int | None) -> dict[str, Any]:
    led, final = _ledger(svc, n)
    size2 = _size_or_final(led, final, size2)
    if size1 > size2:
        raise OutOfRange(f"first size {size1} is larger than second size {size2}")
    p = led.consistency_proof(size1, size2)
    cp = led.checkpoint_at(size2)
    return {**p.to_json(), "checkpoint": None if cp is None else cp.note}


@router.get("/v1/shards/{n}/proof/consistency", responses=problems(400, 404, 422))
async def shard_consistency(n: Shard, svc: Svc, size1: Size,
                            size2: Annotated[int | None, Query(ge=0, le=MAX_U64)] = None
                            ) -> JSONResponse:
    """RFC 9162 consistency proof between two trees of shard ``n``."""
    return JSONResponse(await run_in_threadpool(_consistency, svc, n, size1, size2))


@router.get("/v1/shards/{n}/entries", responses=authed(400, 403, 404, 422))
def shard_entries(n: Shard, svc: Svc, _who: AuditorOrAdmin,
                  start: Annotated[int, Query(ge=0, le=MAX_U64)] = 0,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> JSONResponse:
    """Entries of shard ``n`` as exact bytes (base64), as ``GET /v1/log/entries``."""
    led, _final = _ledger(svc, n)
    limit = min(limit, svc.settings.page_limit)
    size = led.size
    if start > size:
        raise Problem(400, "out-of-range", f"start {start} is past the end of shard {n} "
                                           f"({size} entries)")
    end = min(size, start + limit)
    out = [{"seq": e.seq, "leaf_hash": e.leaf_hash.hex(),
            "entry_b64": base64.b64encode(e.data).decode()} for e in led.entries(start, end)]
    return JSONResponse({"size": size, "entries": out, "next": end if end < size else None})
