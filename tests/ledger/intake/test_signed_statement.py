"""RFC 9943 signed statements made by pycose (tests/support/scitt.py) read by
:func:`read_signed_statement`: every accepted kind of key and algorithm, an attached payload
and a hash envelope; and each way a statement is refused, with the class and the words
that say why (docs/api.md, "SCITT signed statements")."""

from __future__ import annotations

import hashlib

import cbor2
import pytest

from evidence.ledger.intake.signed_statement import (
    MalformedStatement,
    UnsupportedStatement,
    read_signed_statement,
)
from evidence.verify.errors import InvalidSignature
from tests.support import scitt
from tests.support.scitt import PAYLOAD, statement

ISSUERS = {"es256-x5chain": scitt.es256_with_certificate,
           "ps256-x5chain": scitt.ps256_with_certificate,
           "eddsa-cose-key": scitt.eddsa_with_cose_key,
           "es384-cose-key": scitt.es384_with_cose_key}


@pytest.mark.parametrize("name", ISSUERS)
def test_accepted_statements_say_what_they_state(name: str) -> None:
    issuer = ISSUERS[name]()
    got = read_signed_statement(statement(issuer)).to_json()
    assert (got["issuer"], got["subject"]) == (scitt.ISSUER, scitt.SUBJECT)
    assert got["content_type"] == "application/json" and got["signature"] == "verified"
    assert got["alg"] == name.split("-")[0].upper().replace("EDDSA", "EdDSA")
    assert got["payload"] == {"kind": "attached", "size": len(PAYLOAD),
                              "sha256": hashlib.sha256(PAYLOAD).hexdigest()}
    if issuer.cert is not None:
        assert got["key"]["kind"] == "x5chain" and got["key"]["path_validated"] is False
        assert got["key"]["certificate_sha256"] == hashlib.sha256(issuer.cert).hexdigest()
        assert got["key"]["subject"] == "CN=Issuer Example" and got["kid"] is None
    else:
        assert got["key"]["kind"] == "cose_key" and got["kid"] == b"issuer-key-1".hex()


def test_hash_envelope() -> None:
    got = read_signed_statement(statement(scitt.es256_with_certificate(),
                                          hash_envelope=True, content_type="application/spdx+json"))
    assert got.content_type is None
    assert got.payload == {"kind": "hash", "hash_alg": "SHA-256",
                           "hash": hashlib.sha256(PAYLOAD).hexdigest(),
                           "preimage_content_type": "application/spdx+json", "location": None}


def _edit(data: bytes, fn) -> bytes:
    """Decode with cbor2, change, encode again (the signature is not redone)."""
    top = cbor2.loads(data)
    fn(top.value)
    return cbor2.dumps(top)


@pytest.fixture(scope="module")
def es256() -> scitt.Issuer:
    return scitt.es256_with_certificate()


BAD = {
    # name: (make(es256 issuer) -> bytes, exception class, words)
    "not CBOR": (lambda i: b"\xd2\x84\x43not cbor", MalformedStatement, "CBOR"),
    "truncated": (lambda i: statement(i)[:-5], MalformedStatement, "past the end"),
    "trailing bytes": (lambda i: statement(i) + b"\x00", MalformedStatement, "after the CBOR"),
    "untagged": (lambda i: cbor2.dumps(cbor2.loads(statement(i)).value), MalformedStatement,
                 "tag 18"),
    "json": (lambda i: b'{"iss": "x"}', MalformedStatement, "CBOR"),
    "payload changed": (lambda i: _edit(statement(i), lambda m: m.__setitem__(2, m[2] + b" ")),
                        InvalidSignature, "does not verify"),
    "signature changed": (lambda i: _edit(statement(i), lambda m: m.__setitem__(
        3, bytes([m[3][0] ^ 1]) + m[3][1:])), InvalidSignature, "does not verify"),
    "another key's certificate": (lambda i: _edit(statement(i), lambda m: m.__setitem__(
        0, cbor2.dumps({**cbor2.loads(m[0]), 33: scitt.es256_with_certificate().cert}))),
        InvalidSignature, "does not verify"),
    "no issuer": (lambda i: statement(i, iss=None), MalformedStatement, "no issuer"),
    "no subject": (lambda i: statement(i, sub=None), MalformedStatement, "no subject"),
    "no CWT claims": (lambda i: _unsigned({1: -7, 33: i.cert}), MalformedStatement,
                      "no CWT Claims"),
    "unsupported alg": (lambda i: _unsigned({1: -47, 15: {1: "a", 2: "b"}, 33: i.cert}),
                        UnsupportedStatement, "alg -47 is not supported"),
    "HMAC alg": (lambda i: _unsigned({1: 5, 15: {1: "a", 2: "b"}, 33: i.cert}),
                 UnsupportedStatement, "not supported"),
    "no alg": (lambda i: _unsigned({15: {1: "a", 2: "b"}, 33: i.cert}), MalformedStatement,
               "no alg"),
    "detached payload": (lambda i: _edit(statement(i), lambda m: m.__setitem__(2, None)),
                         UnsupportedStatement, "detached"),
    "receipts in the unprotected header": (
        lambda i: _edit(statement(i), lambda m: m.__setitem__(1, {394: [b"x"]})),
        MalformedStatement, "unprotected header is not empty"),
    "kid only": (lambda i: _unsigned({1: -7, 4: b"k", 15: {1: "a", 2: "b"}}),
                 UnsupportedStatement, "carries no key"),
    "x5t without x5chain": (lambda i: _unsigned({1: -7, 34: [-16, b"0" * 32],
                                                 15: {1: "a", 2: "b"}}),
                            UnsupportedStatement, r"x5t \(34\) names a certificate"),
    "not a certificate": (lambda i: _unsigned({1: -7, 33: b"junk", 15: {1: "a", 2: "b"}}),
                          MalformedStatement, "not DER X.509"),
    "crit unknown": (lambda i: _unsigned({1: -7, 2: [99], 99: 1, 33: i.cert,
                                          15: {1: "a", 2: "b"}}),
                     UnsupportedStatement, "crit"),
    "wrong hash size": (lambda i: _unsigned({1: -7, 258: -16, 33: i.cert,
                                             15: {1: "a", 2: "b"}}, payload=b"short"),
                        MalformedStatement, "not a SHA-256 hash"),
}


def _unsigned(protected: dict, payload: bytes = b"x") -> bytes:
    """A COSE_Sign1 with this protected header and a signature of zeros."""
    return cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps(protected), {}, payload, b"\0" * 64]))


@pytest.mark.parametrize("name", BAD)
def test_refused_with_the_reason(name: str, es256: scitt.Issuer) -> None:
    make, cls, words = BAD[name]
    with pytest.raises(cls, match=words):
        read_signed_statement(make(es256))


def test_cose_key_rules() -> None:
    ed = scitt.eddsa_with_cose_key()
    private = {**scitt.public_cose_key(ed.key), -4: ed.key.d}
    with pytest.raises(MalformedStatement, match="private key"):
        read_signed_statement(statement(ed, extra={15: {1: "a", 2: "b", 8: {1: private}}}))
    with pytest.raises(MalformedStatement, match="must carry a kid"):
        read_signed_statement(_edit(statement(ed), lambda m: m.__setitem__(0, cbor2.dumps(
            {k: v for k, v in cbor2.loads(m[0]).items() if k != 4}))))
    other = scitt.public_cose_key(scitt.eddsa_with_cose_key().key)
    with pytest.raises(InvalidSignature):
        read_signed_statement(statement(ed, extra={15: {1: "a", 2: "b", 8: {1: other}}}))


def test_hostile_shapes_never_crash() -> None:
    """Odd types where labels and values are read: one answer, MalformedInput or subclass."""
    from evidence.verify.errors import MalformedInput

    shapes = [{1: [1], 15: {1: "a", 2: "b"}}, {1: -7, 15: [1]}, {1: -7, 15: {1: 5, 2: "b"}},
              {1: -7, 2: [[1]], 15: {1: "a", 2: "b"}}, {1: -7, 33: [[1]], 15: {1: "a", 2: "b"}},
              {1: -8, 4: b"k", 15: {1: "a", 2: "b", 8: {1: {1: 1, -1: [6], -2: b"x"}}}},
              {1: -8, 4: b"k", 15: {1: "a", 2: "b", 8: {1: {1: 2, -1: 1, -2: b"x", -3: b"y"}}}},
              {1: -8, 4: b"k", 15: {1: "a", 2: "b", 8: [1]}}, {1: -7, 34: [[1], b""]},
              {1: -7, 15: {1: "a", 2: "b"}, 33: b"", 3: -1}]
    for ph in shapes:
        with pytest.raises(MalformedInput):
            read_signed_statement(_unsigned(ph))
