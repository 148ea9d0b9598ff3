"""The ``scitt_statement`` section of a ``document`` file (evidence/ledger/intake/metadata/
scitt.py): a signed statement made by pycose is sniffed as ``application/cose`` and
described (issuer, subject, key, payload, signature verified); a COSE_Sign1 that is no
statement this service checks (a statement whose signature fails, a COSE receipt) gets a
notice saying why, which is no extraction error: --strict-metadata does not refuse it."""

from __future__ import annotations

from pathlib import Path

import cbor2

from evidence.ledger.intake.metadata import extract_metadata, file_notices, file_warnings
from tests.support import scitt


def test_a_statement_is_described(tmp_path: Path) -> None:
    p = tmp_path / "s.bin"  # the name says nothing: the bytes do
    p.write_bytes(scitt.statement(scitt.es256_with_certificate()))
    (facts,) = extract_metadata("document", [p])["files"]
    assert facts["media_type"] == "application/cose"
    s = facts["scitt_statement"]
    assert (s["issuer"], s["subject"], s["signature"]) == (scitt.ISSUER, scitt.SUBJECT,
                                                          "verified")
    assert not file_notices(facts) and not file_warnings(facts)


def test_a_cose_sign1_that_is_no_statement_gets_a_notice(tmp_path: Path) -> None:
    top = cbor2.loads(scitt.statement(scitt.eddsa_with_cose_key()))
    top.value[3] = bytes(64)
    p = tmp_path / "tampered.cose"
    p.write_bytes(cbor2.dumps(top))
    (facts,) = extract_metadata("document", [p])["files"]
    (notice,) = file_notices(facts)
    assert "not a signed statement this service checks" in notice and "does not verify" in notice
    assert not file_warnings(facts)  # a fact about the file, not an extraction error
