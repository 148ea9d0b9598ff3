"""The ``scitt_statement`` section: what an RFC 9943 signed statement says of itself.

A ``document`` file whose bytes are a tagged COSE_Sign1 (sniffed ``application/cose``) is
read as a signed statement by :func:`evidence.ledger.intake.signed_statement.read_signed_statement`
(the check ``POST /v1/evidence/statements`` and ``evidence submit --signed-statement`` make
before anything is stored). When it is one, the section is that function's report: issuer,
subject, content type, algorithm, the key it carries and the payload (attached, or a hash
envelope), with ``"signature": "verified"``. When it is not (a COSE receipt, a statement
whose signature fails), the section holds only a notice saying why: a fact about the file,
not an extraction error (``--strict-metadata`` does not refuse it).
Held by tests/ledger/intake/test_scitt_metadata.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evidence.ledger.intake.signed_statement import read_signed_statement
from evidence.verify.errors import VerificationError

MAX_CHECKED = 64 << 20
"""Larger statements are preserved with a notice, not read whole into memory here."""


def extract_statement(path: Path) -> dict[str, Any]:
    size = path.stat().st_size
    if size > MAX_CHECKED:
        return {"notices": [f"a COSE_Sign1 of {size} bytes: larger than {MAX_CHECKED} bytes, "
                            "not checked as a signed statement at intake"]}
    try:
        return read_signed_statement(path.read_bytes()).to_json()
    except VerificationError as e:
        return {"notices": [f"not a signed statement this service checks: {e}"]}
