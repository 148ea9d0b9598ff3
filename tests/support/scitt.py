"""RFC 9943 signed statements made by code nobody here wrote: ``pycose`` builds and signs the
COSE_Sign1, ``cryptography`` makes the issuer's certificate. Skips (with the fix) when
pycose is missing. Used by tests/ledger/intake/test_signed_statement.py and
tests/api/test_signed_statements.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

pytest.importorskip("pycose", reason="pip install pycose (the dev extra)")
from pycose.algorithms import EdDSA, Es256, Es384, Ps256
from pycose.keys import EC2Key, OKPKey, RSAKey
from pycose.keys.curves import P256, P384, Ed25519
from pycose.messages import Sign1Message

ISSUER = "https://issuer.example"
SUBJECT = "pkg:generic/listing-archive@2026.12"
PAYLOAD = b'{"listing":"https://shop.example/item/77","seen":"2026-12-01T08:00:00Z"}'


@dataclass
class Issuer:
    """A signing key (pycose) and, for x5chain statements, its certificate (DER)."""

    key: Any
    alg: Any
    cert: bytes | None = None


def cert_for(private: Any, cn: str = "Issuer Example") -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.now(UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(private.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .sign(private, hashes.SHA256()).public_bytes(Encoding.DER))


def es256_with_certificate() -> Issuer:
    """ES256, the key in an x5chain certificate (what RFC 9943 asks to implement)."""
    private = ec.generate_private_key(ec.SECP256R1())
    n = private.private_numbers()
    key = EC2Key(crv=P256, x=n.public_numbers.x.to_bytes(32, "big"),
                 y=n.public_numbers.y.to_bytes(32, "big"), d=n.private_value.to_bytes(32, "big"))
    return Issuer(key, Es256, cert_for(private))


def ps256_with_certificate() -> Issuer:
    private = rsa.generate_private_key(65537, 2048)
    n = private.private_numbers()
    as_bytes = lambda v: v.to_bytes((v.bit_length() + 7) // 8, "big")  # noqa: E731
    key = RSAKey(n=as_bytes(n.public_numbers.n), e=as_bytes(n.public_numbers.e),
                 d=as_bytes(n.d), p=as_bytes(n.p), q=as_bytes(n.q), dp=as_bytes(n.dmp1),
                 dq=as_bytes(n.dmq1), qinv=as_bytes(n.iqmp))
    return Issuer(key, Ps256, cert_for(private))


def eddsa_with_cose_key() -> Issuer:
    return Issuer(OKPKey.generate_key(crv=Ed25519), EdDSA)


def es384_with_cose_key() -> Issuer:
    return Issuer(EC2Key.generate_key(crv=P384), Es384)


def public_cose_key(key: Any) -> dict[int, Any]:
    """The COSE_Key map of ``key``'s public part (RFC 9052 section 7)."""
    if isinstance(key, OKPKey):
        return {1: 1, -1: 6, -2: key.x}
    if isinstance(key, EC2Key):
        return {1: 2, -1: 2 if key.crv == P384 else 1, -2: key.x, -3: key.y}
    raise TypeError(type(key))


def statement(issuer: Issuer, *, payload: bytes | None = PAYLOAD, iss: str | None = ISSUER,
              sub: str | None = SUBJECT, content_type: str | None = "application/json",
              extra: dict[Any, Any] | None = None, unprotected: dict[Any, Any] | None = None,
              hash_envelope: bool = False) -> bytes:
    """A tagged COSE_Sign1 signed statement. The key goes in x5chain when the issuer has a
    certificate, else in the CWT cnf claim with a kid; ``hash_envelope`` signs the SHA-256
    of ``payload`` with labels 258/259 instead of the payload itself."""
    import hashlib

    claims: dict[int, Any] = {}
    if iss is not None:
        claims[1] = iss
    if sub is not None:
        claims[2] = sub
    phdr: dict[Any, Any] = {1: issuer.alg.identifier, 15: claims}
    if issuer.cert is not None:
        phdr[33] = issuer.cert
    else:
        phdr[4] = b"issuer-key-1"
        claims[8] = {1: public_cose_key(issuer.key)}
    body = payload
    if hash_envelope and payload is not None:
        phdr[258], phdr[259] = -16, content_type or "application/octet-stream"
        body = hashlib.sha256(payload).digest()
    elif content_type is not None:
        phdr[3] = content_type
    phdr.update(extra or {})
    msg = Sign1Message(phdr=phdr, uhdr=unprotected or {}, payload=body)
    msg.key = issuer.key
    return msg.encode()
