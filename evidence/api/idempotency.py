"""The ``Idempotency-Key`` request header (IETF httpapi draft "The Idempotency-Key HTTP
Header Field") on the routes that append an item: ``POST /v1/evidence`` and ``POST
/v1/evidence/pending/{id}/sign``. docs/api.md says what a client sees.

Here: reading the header (:func:`key_of`: 400 for a malformed one), the process's
requests in flight (:class:`InFlight`: 409 for a second request with a key still being
answered here), and the answers for a key already used (:func:`used`: the stored answer
with ``Idempotent-Replayed: true``, or 422 for another payload). The check that decides
is made under the log's lock, and the key's row commits with the entry
(evidence/ledger/intake/idempotency.py): two requests with one key on two workers or two
nodes make one item; the second gets the first's answer, never 409, since only this
process knows what is in flight here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from fastapi.responses import Response
from starlette.datastructures import Headers

from evidence.api.problems import Problem
from evidence.api.schemas import SubmissionReceipt
from evidence.ledger.intake.idempotency import MAX_KEY_LEN, KeyInFlight, KeyUsed

HEADER = "idempotency-key"
REPLAYED = "Idempotent-Replayed"
RETRY_AFTER = "1"
OPENAPI_PARAMETER = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "maxLength": 257},
    "description": 'a key naming this one submission, e.g. "8e03978e-40d5-43e8-bc93-'
                   '6894a57f9324" (an RFC 8941 string; 1-255 visible ASCII characters): a '
                   "retry with it gets the first answer again (Idempotent-Replayed: true), "
                   "never a second item; 409 while the first is in flight, 422 if reused for "
                   "another payload. Kept 24 h (docs/api.md)"}
"""The header as the routes that take it describe it in the OpenAPI document."""


def key_of(headers: Headers) -> str | None:
    """The key of the request's ``Idempotency-Key`` header, or None without one.

    The draft's syntax is an RFC 8941 sf-string (``"..."``, ``\\"`` and ``\\\\`` escaped);
    a bare token is taken as well (many clients send one). Either way the key is 1 to
    255 visible ASCII characters (``!`` to ``~``); anything else, or the header given
    twice, is 400 ``invalid-idempotency-key``."""
    values = headers.getlist(HEADER)
    if not values:
        return None
    if len(values) > 1:
        raise _bad("the Idempotency-Key header is given more than once")
    raw = values[0].strip(" \t")
    key = _sf_string(raw) if raw.startswith('"') else raw
    if not 1 <= len(key) <= MAX_KEY_LEN or not all("!" <= c <= "~" for c in key):
        raise _bad(f"an Idempotency-Key is 1 to {MAX_KEY_LEN} visible ASCII characters "
                   '(e.g. "8e03978e-40d5-43e8-bc93-6894a57f9324")')
    return key


def _sf_string(raw: str) -> str:
    out: list[str] = []
    i = 1
    while i < len(raw):
        c = raw[i]
        if c == "\\":
            if i + 1 < len(raw) and raw[i + 1] in '"\\':
                out.append(raw[i + 1])
                i += 2
                continue
            raise _bad("the Idempotency-Key string has a bad escape")
        if c == '"':
            if i != len(raw) - 1:
                raise _bad("the Idempotency-Key header has text after its string")
            return "".join(out)
        out.append(c)
        i += 1
    raise _bad("the Idempotency-Key string is not closed")


def _bad(detail: str) -> Problem:
    return Problem(400, "invalid-idempotency-key", detail)


class InFlight:
    """The keys of requests being answered in this process: ``(principal, key)``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: set[tuple[str, str]] = set()

    def enter(self, principal: str, key: str) -> Callable[[], None]:
        """Mark the key in flight; returns the function that ends it (call it once).
        409 ``idempotency-key-in-flight`` if a request with it is already here."""
        mark = (principal, key)
        with self._lock:
            if mark in self._keys:
                raise in_flight()
            self._keys.add(mark)
        done = threading.Event()

        def leave() -> None:
            if done.is_set():
                return
            done.set()
            with self._lock:
                self._keys.discard(mark)

        return leave


IN_FLIGHT = InFlight()
"""One per process: every app in it (and both submission paths) shares it."""


def in_flight() -> Problem:
    return Problem(409, "idempotency-key-in-flight", "a request with this Idempotency-Key "
                   "is still being processed; send it again after Retry-After to get its "
                   "answer", headers={"Retry-After": RETRY_AFTER})


def used(e: KeyUsed | KeyInFlight) -> Response:
    """The answer to a request whose key was used: the first answer again, or 422
    ``idempotency-key-reused`` for a different payload (nothing appended either way)."""
    if isinstance(e, KeyInFlight):
        raise in_flight()
    if not e.matches:
        raise Problem(422, "idempotency-key-reused", "this Idempotency-Key was used for "
                      "another request (other files or fields); a key names one "
                      "submission: use a new key for a new one. Nothing was stored")
    body = SubmissionReceipt(**e.record.answer())
    return Response(body.model_dump_json().encode(), status_code=e.record.status,
                    media_type="application/json",
                    headers={"Location": f"/v1/evidence/{e.record.evidence_id}",
                             REPLAYED: "true"})
