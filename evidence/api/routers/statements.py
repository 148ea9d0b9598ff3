"""``POST /v1/evidence/statements``: an RFC 9943 (SCITT) signed statement registered as an
evidence item.

The body is the statement's exact bytes (``application/scitt-statement+cose`` or
``application/cose``). It is checked before anything is stored
(:func:`evidence.ledger.intake.signed_statement.read_signed_statement`: well formed, issuer and
subject named, its signature verifying with the key it carries); a statement that fails is
a 422 problem (``bad-statement``, ``unsupported-statement``, ``bad-signature``) and the
ledger is unchanged. One that passes becomes an item of kind ``document`` whose one file is
the statement, byte for byte (``signed-statement.cose``); the extracted metadata's
``scitt_statement`` section records its issuer, subject, content type, key and payload. The
answer is the submission's (201, :class:`SubmissionReceipt`), or, with ``Accept:
application/cose``, the item's COSE receipt (RFC 9942) at the log's present size: with the
statement it makes a SCITT transparent statement. Held by tests/api/test_signed_statements.py.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from evidence.api import idempotency
from evidence.api.deps import Role, Svc
from evidence.api.problems import Problem, authed
from evidence.api.routers.proof_files import signer_of
from evidence.api.schemas import SubmissionReceipt
from evidence.api.services import Services
from evidence.ledger.access import SUBMITTER, Principal
from evidence.ledger.cose import MEDIA_TYPE as COSE_MEDIA_TYPE
from evidence.ledger.cose import cose_receipt
from evidence.ledger.intake import ItemSpec, Submitted
from evidence.ledger.intake.idempotency import Claim, KeyInFlight, KeyUsed
from evidence.ledger.intake.signed_statement import (
    MEDIA_TYPES,
    SignedStatement,
    UnsupportedStatement,
    read_signed_statement,
)
from evidence.verify.errors import InvalidSignature, VerificationError

router = APIRouter(prefix="/v1/evidence", tags=["evidence"])
Submitter = Role(SUBMITTER)
FILE_NAME = "signed-statement.cose"
STATEMENT_OPERATION = "evidence.statement"
"""The operation an ``Idempotency-Key`` of this route names (its fingerprint: the case,
the title and the statement's bytes)."""

_BODY = {"requestBody": {"required": True, "content": {
    t: {"schema": {"type": "string", "format": "binary"}} for t in MEDIA_TYPES}}}


def check_statement(data: bytes) -> SignedStatement:
    """The statement, or the 422 problem that says why it is refused."""
    try:
        return read_signed_statement(data)
    except InvalidSignature as e:
        raise Problem(422, "bad-signature", str(e)) from None
    except UnsupportedStatement as e:
        raise Problem(422, "unsupported-statement", str(e)) from None
    except VerificationError as e:
        raise Problem(422, "bad-statement", str(e)) from None


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Problem(413, "too-large", f"the statement is larger than the limit of {limit} "
                                        "bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, "too-large", f"the statement is larger than the limit of "
                                            f"{limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _register(svc: Services, who: Principal, case: str, title: str | None, data: bytes,
              statement: SignedStatement, claim: Claim | None) -> Submitted:
    """Preserve the exact bytes as the item's one file (spooled, then gone either way).
    Raises :class:`KeyUsed` / :class:`KeyInFlight` for a key already used (nothing
    appended)."""
    svc.spool.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder = Path(tempfile.mkdtemp(prefix="statement-", dir=svc.spool))
    try:
        path = folder / FILE_NAME
        path.write_bytes(data)
        return svc.intake.submit(ItemSpec(
            files=[path], kind="document", case=case, principal=who.id,
            title=title or f"SCITT signed statement: {statement.subject}"[:500],
            idempotency=claim))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@router.post("/statements", status_code=201, response_model=SubmissionReceipt,
             openapi_extra={**_BODY, "parameters": [idempotency.OPENAPI_PARAMETER]}, responses={
                 **authed(400, 403, 404, 409, 413, 415, 422),
                 201: {"content": {"application/json": {}, COSE_MEDIA_TYPE: {}},
                       "description": "registered: the submission receipt, or with Accept: "
                                      "application/cose the COSE receipt (RFC 9942)"}})
async def register_statement(
        request: Request, svc: Svc, who: Submitter,
        case: Annotated[str, Query(min_length=1, max_length=128,
                                   description="a case you are a member of")],
        title: Annotated[str | None, Query(max_length=500)] = None) -> Response:
    """Register an RFC 9943 signed statement (the body, its exact bytes) as an evidence item
    of ``case``. 422 ``bad-statement`` (not a COSE_Sign1, no issuer or subject, a non-empty
    unprotected header...), ``unsupported-statement`` (an algorithm or a way of naming the
    key this service does not check, a detached payload) or ``bad-signature``; nothing is
    stored then. With an ``Idempotency-Key``, a retry after a lost answer gets the first
    item's answer again (``Idempotent-Replayed: true``) and appends nothing; the same key
    with another statement, case or title is 422 ``idempotency-key-reused``. See
    docs/api.md, "SCITT signed statements"."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in MEDIA_TYPES:
        raise Problem(415, "unsupported-media-type",
                      f"send the signed statement's bytes as {' or '.join(MEDIA_TYPES)}")
    key = idempotency.key_of(request.headers)
    svc.access.require_submit(who, case)
    data = await _body(request, svc.max_file_size)
    statement = check_statement(data)
    claim = None if key is None else Claim(
        who.id, key, STATEMENT_OPERATION, {"case": case, "title": title},
        ttl=svc.settings.idempotency_ttl)
    leave = None if key is None else idempotency.IN_FLIGHT.enter(who.id, key)
    loop = asyncio.get_running_loop()
    wants_cose = COSE_MEDIA_TYPE in request.headers.get("accept", "")
    try:
        done = await loop.run_in_executor(svc.executor, _register, svc, who, case, title,
                                          data, statement, claim)
    except (KeyUsed, KeyInFlight) as e:
        replay = idempotency.used(e)  # the stored answer, or the refusal of a reuse
        if not wants_cose or not isinstance(e, KeyUsed):
            return replay
        rec = e.record  # the first item's COSE receipt, at the log's present size
        seq = int(rec.answer()["seq"])
        receipt = await loop.run_in_executor(
            svc.executor, lambda: cose_receipt(svc.ledger, signer_of(svc), seq,
                                               subject=rec.evidence_id))
        return Response(receipt, status_code=rec.status, media_type=COSE_MEDIA_TYPE,
                        headers={"Location": f"/v1/evidence/{rec.evidence_id}",
                                 idempotency.REPLAYED: "true"})
    finally:
        if leave is not None:
            leave()
    headers = {"Location": f"/v1/evidence/{done.evidence_id}"}
    if wants_cose:
        receipt = await loop.run_in_executor(
            svc.executor, lambda: cose_receipt(svc.ledger, signer_of(svc), done.seq,
                                               subject=done.evidence_id))
        return Response(receipt, status_code=201, media_type=COSE_MEDIA_TYPE, headers=headers)
    body = SubmissionReceipt(**done.to_json(), log_key=svc.ledger.verifier_key)
    return Response(body.model_dump_json().encode(), status_code=201,
                    media_type="application/json", headers=headers)
