"""RFC 9943 (SCITT) signed statements: what this service registers, and how it checks one.

A signed statement is a tagged COSE_Sign1 (RFC 9052) whose protected header names its
issuer and subject in the CWT Claims header parameter (RFC 9597)::

    18([ protected   = << {1: alg, 15: {1: iss, 2: sub, ? 8: {1: COSE_Key}},
                           ? 3: content type, ? 4: kid, ? 33: x5chain, ? 34: x5t,
                           ? 258: payload hash alg, ? 259: preimage content type,
                           ? 260: payload location} >>,
         unprotected = {},
         payload     = bstr (the statement, or with 258 the hash of it),
         signature   = bstr ])

What is accepted, and why (docs/decisions.md, "SCITT signed statements"):

- **The key is in the statement, covered by the signature**: an X.509 certificate chain
  ``x5chain`` (33, leaf first; RFC 9360) or a COSE_Key in the CWT ``cnf`` claim (8, RFC
  8747) with a ``kid``. A statement naming its key only by ``kid`` or ``x5t`` cannot be
  checked here (key discovery is out of scope in RFC 9943) and is refused. The signature
  proves the holder of that key made the statement; it does not prove who holds the key:
  no certification path is built (the certificate's names are recorded, not vouched for).
- **An empty unprotected header** (RFC 9943: it "MUST be set to an empty map before the
  Signed Statement can be included"): the bytes registered are the bytes received.
- **An attached payload**: the statement itself, or its hash (COSE hash envelope, labels
  258-260). A detached (nil) payload leaves nothing to check the signature over.
- **Algorithms** EdDSA (Ed25519, Ed448), ES256/384/512 (P-256/384/521), PS256/384/512
  (RSA of at least 2048 bits): what ``cryptography`` verifies without extra code.

Anything else is :class:`MalformedStatement` (cannot be read, or breaks RFC 9943),
:class:`UnsupportedStatement` (well formed, but not what this service checks) or
:class:`InvalidSignature` (the signature does not verify with the key the statement names),
never a crash: the COSE_Sign1 reader is :func:`evidence.verify.cose_receipt.open_sign1`
(definite lengths, shortest forms, no duplicate keys, bounded depth; no floats or booleans).

This is intake's rule, not the court's: a bundle is checked without it, so it lives
beside the intake it guards rather than in ``evidence/verify/`` (docs/decisions.md, D29).
Imports: stdlib, ``cryptography`` and ``evidence.verify`` only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from evidence.verify.cose_receipt import MalformedReceipt, open_sign1, sig_structure
from evidence.verify.errors import InvalidSignature, MalformedInput

__all__ = ["MEDIA_TYPES", "MalformedStatement", "SignedStatement", "StatementError",
           "UnsupportedStatement", "read_signed_statement"]

MEDIA_TYPES = ("application/scitt-statement+cose", "application/cose")
(L_ALG, L_CRIT, L_CTY, L_KID, L_CWT, L_X5CHAIN, L_X5T,
 L_HASH_ALG, L_PREIMAGE_CTY, L_LOCATION) = (1, 2, 3, 4, 15, 33, 34, 258, 259, 260)
CLAIM_ISS, CLAIM_SUB, CLAIM_CNF, CNF_COSE_KEY = 1, 2, 8, 1
UNDERSTOOD = frozenset({L_ALG, L_CRIT, L_CTY, L_KID, L_CWT, L_X5CHAIN, L_X5T, L_HASH_ALG,
                        L_PREIMAGE_CTY, L_LOCATION})
MAX_ISSUER = 8192  # RFC 9943: the iss value is 1 to 8192 characters

# alg -> (name, key family, hash)
ALGS: dict[int, tuple[str, str, type[hashes.HashAlgorithm] | None]] = {
    -8: ("EdDSA", "okp", None),
    -7: ("ES256", "P-256", hashes.SHA256), -35: ("ES384", "P-384", hashes.SHA384),
    -36: ("ES512", "P-521", hashes.SHA512),
    -37: ("PS256", "rsa", hashes.SHA256), -38: ("PS384", "rsa", hashes.SHA384),
    -39: ("PS512", "rsa", hashes.SHA512),
}
HASH_ALGS = {-16: ("SHA-256", 32), -43: ("SHA-384", 48), -44: ("SHA-512", 64)}
_CURVES = {"P-256": (ec.SECP256R1, 32), "P-384": (ec.SECP384R1, 48), "P-521": (ec.SECP521R1, 66)}
_COSE_EC2 = {1: "P-256", 2: "P-384", 3: "P-521"}
_COSE_OKP = {6: "Ed25519", 7: "Ed448"}
MIN_RSA_BITS = 2048


class StatementError(MalformedInput):
    """Base: the bytes are not a signed statement this service registers."""


class MalformedStatement(StatementError):
    """The bytes cannot be read as a COSE_Sign1, or break RFC 9943's rules."""


class UnsupportedStatement(StatementError):
    """Well formed, but outside what this service checks (an algorithm, a way of naming
    the key, a detached payload)."""


@dataclass(frozen=True)
class SignedStatement:
    """A checked statement: its signature verifies with the key it carries."""

    issuer: str
    subject: str
    alg: str
    content_type: str | None
    kid: str | None          # hex
    key: dict[str, Any]      # how the key was named, and what identifies it
    payload: dict[str, Any]  # attached bytes or a hash envelope

    def to_json(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "subject": self.subject, "alg": self.alg,
                "content_type": self.content_type, "kid": self.kid, "key": self.key,
                "payload": self.payload, "signature": "verified"}


def _content_type(value: Any, label: int) -> str | None:
    if value is None:
        return None
    if type(value) is int and value >= 0:
        return str(value)  # a CoAP content-format number
    if isinstance(value, str) and value:
        return value
    raise MalformedStatement(f"header {label} (content type) is not text or an unsigned "
                             "integer")


def read_signed_statement(data: bytes) -> SignedStatement:
    """Check ``data`` as an RFC 9943 signed statement (see the module doc) and say what it
    states; raise :class:`StatementError` or :class:`InvalidSignature` otherwise."""
    if not isinstance(data, bytes | bytearray) or not data:
        raise MalformedStatement("a signed statement is non-empty bytes")
    try:
        s1 = open_sign1(bytes(data))
    except MalformedReceipt as e:
        raise MalformedStatement(str(e)) from None
    protected_b, ph, unprotected = s1.protected_bytes, s1.protected, s1.unprotected
    payload, signature = s1.payload, s1.signature
    if unprotected:
        raise MalformedStatement(
            "the unprotected header is not empty (RFC 9943 registers a statement with an "
            "empty one): put x5chain in the protected header, and register the signed "
            "statement, not a transparent statement with receipts")
    if not isinstance(signature, bytes):
        raise MalformedStatement("the signature is not a byte string")
    if payload is None or not isinstance(payload, bytes):
        raise UnsupportedStatement(
            "the payload is detached (nil): attach it, or sign a hash envelope (header 258) "
            "whose payload is the statement's hash")
    crit = ph.get(L_CRIT)
    if crit is not None and (not isinstance(crit, list) or not crit or any(
            type(c) is not int or c not in UNDERSTOOD or c not in ph for c in crit)):
        raise UnsupportedStatement(f"crit (2) lists {crit!r:.80}: header parameters this "
                                   "service does not process or that are absent")
    alg_id = ph.get(L_ALG)
    if alg_id is None:
        raise MalformedStatement("the protected header has no alg (1)")
    if type(alg_id) is not int or alg_id not in ALGS:
        raise UnsupportedStatement(f"alg {alg_id!r:.40} is not supported (EdDSA, ES256, "
                                   "ES384, ES512, PS256, PS384, PS512)")
    alg, family, digest = ALGS[alg_id]
    issuer, subject, cnf = _claims(ph.get(L_CWT))
    kid = ph.get(L_KID)
    if kid is not None and not isinstance(kid, bytes):
        raise MalformedStatement("kid (4) is not a byte string")
    if L_X5T in ph and L_X5CHAIN not in ph:
        raise UnsupportedStatement("x5t (34) names a certificate this statement does not "
                                   "carry: put the chain in x5chain (33), protected")
    if L_X5CHAIN in ph and cnf is not None:
        raise UnsupportedStatement("the statement names two keys (x5chain and a cnf "
                                   "COSE_Key): name one")
    if L_X5CHAIN in ph:
        public, key = _x5chain(ph[L_X5CHAIN], ph.get(L_X5T))
    elif cnf is not None:
        if kid is None:  # RFC 9943: kid MUST be present without x5t or x5chain
            raise MalformedStatement("a statement without x5chain must carry a kid (4)")
        public, key = _cose_key(cnf, alg_id)
    else:
        raise UnsupportedStatement(
            "the statement carries no key to check its signature with: an x5chain (33) "
            "or a COSE_Key in the CWT cnf claim (15 -> 8 -> 1), in the protected header")
    facts = _payload(ph, payload)  # the shape first: a wrong one is no signature question
    content_type = _content_type(ph.get(L_CTY), L_CTY)
    _verify(public, alg, family, digest, signature, sig_structure(protected_b, payload))
    return SignedStatement(issuer, subject, alg, content_type,
                           kid.hex() if kid is not None else None, key, facts)


def _claims(cwt: Any) -> tuple[str, str, Any]:
    if cwt is None:
        raise MalformedStatement("no CWT Claims (15) in the protected header: a signed "
                                 "statement names its issuer (iss, 1) and subject (sub, 2)")
    if not isinstance(cwt, dict):
        raise MalformedStatement("CWT Claims (15) is not a map")
    iss, sub = cwt.get(CLAIM_ISS), cwt.get(CLAIM_SUB)
    if iss is None:
        raise MalformedStatement("no issuer: the CWT Claims (15) have no iss (1)")
    if not isinstance(iss, str) or not 1 <= len(iss) <= MAX_ISSUER:
        raise MalformedStatement(f"iss (1) is not text of 1 to {MAX_ISSUER} characters")
    if sub is None:
        raise MalformedStatement("no subject: the CWT Claims (15) have no sub (2)")
    if not isinstance(sub, str) or not sub:
        raise MalformedStatement("sub (2) is not non-empty text")
    cnf = cwt.get(CLAIM_CNF)
    if cnf is not None:
        if not isinstance(cnf, dict) or set(cnf) != {CNF_COSE_KEY} or not isinstance(
                cnf[CNF_COSE_KEY], dict):
            raise UnsupportedStatement("cnf (8) is not {1: COSE_Key}")
        cnf = cnf[CNF_COSE_KEY]
    return iss, sub, cnf


def _x5chain(value: Any, x5t: Any) -> tuple[Any, dict[str, Any]]:
    ders = [value] if isinstance(value, bytes) else value
    if not isinstance(ders, list) or not ders or any(not isinstance(d, bytes) for d in ders):
        raise MalformedStatement("x5chain (33) is not a certificate or an array of them")
    certs = []
    for i, der in enumerate(ders):
        try:
            certs.append(x509.load_der_x509_certificate(der))
        except ValueError:
            raise MalformedStatement(f"x5chain certificate {i} is not DER X.509") from None
    leaf, der = certs[0], ders[0]
    if x5t is not None:
        if not isinstance(x5t, list) or len(x5t) != 2 or type(x5t[0]) is not int or \
                x5t[0] not in HASH_ALGS or not isinstance(x5t[1], bytes):
            raise UnsupportedStatement("x5t (34) is not [SHA-256/384/512, hash]")
        name = HASH_ALGS[x5t[0]][0].replace("-", "").lower()
        if hashlib.new(name, der).digest() != x5t[1]:
            raise MalformedStatement("x5t (34) is not the hash of the x5chain's leaf "
                                     "certificate")
    try:
        public = leaf.public_key()
    except ValueError:
        raise UnsupportedStatement("the leaf certificate's key type is not supported") from None
    return public, {"kind": "x5chain", "certificate_sha256": hashlib.sha256(der).hexdigest(),
                    "subject": leaf.subject.rfc4514_string(),
                    "issuer": leaf.issuer.rfc4514_string(),
                    "serial": format(leaf.serial_number, "x"),
                    "not_before": leaf.not_valid_before_utc.isoformat(),
                    "not_after": leaf.not_valid_after_utc.isoformat(),
                    "chain_length": len(certs), "path_validated": False}


def _int(v: Any) -> int | None:
    """``v`` if an integer (not a bool), else None: never a dict key of another type."""
    return v if type(v) is int else None


def _bstr(k: dict[Any, Any], label: int, what: str) -> bytes:
    v = k.get(label)
    if not isinstance(v, bytes) or not v:
        raise MalformedStatement(f"the COSE_Key has no {what} ({label}) byte string")
    return v


def _cose_key(k: dict[Any, Any], alg_id: int) -> tuple[Any, dict[str, Any]]:
    if -4 in k:
        raise MalformedStatement("the COSE_Key in the statement carries a private key (d, -4)")
    if k.get(3) is not None and k.get(3) != alg_id:
        raise MalformedStatement("the COSE_Key's alg (3) is not the statement's alg")
    kty = k.get(1)
    try:
        if kty == 1:  # OKP
            crv = _COSE_OKP.get(_int(k.get(-1)))
            x = _bstr(k, -2, "x")
            if crv == "Ed25519":
                public: Any = ed25519.Ed25519PublicKey.from_public_bytes(x)
            elif crv == "Ed448":
                public = ed448.Ed448PublicKey.from_public_bytes(x)
            else:
                raise UnsupportedStatement("the OKP COSE_Key's curve is not Ed25519 or Ed448")
        elif kty == 2:  # EC2
            crv = _COSE_EC2.get(_int(k.get(-1)))
            if crv is None:
                raise UnsupportedStatement("the EC2 COSE_Key's curve is not P-256/384/521")
            x, y = _bstr(k, -2, "x"), _bstr(k, -3, "y")
            curve, size = _CURVES[crv]
            if len(x) != size or len(y) != size:
                raise MalformedStatement(f"the {crv} COSE_Key's x or y is not {size} bytes")
            public = ec.EllipticCurvePublicNumbers(
                int.from_bytes(x, "big"), int.from_bytes(y, "big"), curve()).public_key()
        elif kty == 3:  # RSA
            n, e = _bstr(k, -1, "n"), _bstr(k, -2, "e")
            public = rsa.RSAPublicNumbers(int.from_bytes(e, "big"),
                                          int.from_bytes(n, "big")).public_key()
        else:
            raise UnsupportedStatement(f"COSE_Key type {kty!r:.20} is not OKP, EC2 or RSA")
    except ValueError as exc:
        raise MalformedStatement(f"the COSE_Key is not a valid public key: {exc}") from None
    spki = public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return public, {"kind": "cose_key", "spki_sha256": hashlib.sha256(spki).hexdigest()}


def _verify(public: Any, alg: str, family: str, digest: Any, sig: bytes, tbs: bytes) -> None:
    try:
        if family == "okp":
            if not isinstance(public, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
                raise UnsupportedStatement("EdDSA needs an Ed25519 or Ed448 key")
            public.verify(sig, tbs)
        elif family == "rsa":
            if not isinstance(public, rsa.RSAPublicKey):
                raise UnsupportedStatement(f"{alg} needs an RSA key")
            if public.key_size < MIN_RSA_BITS:
                raise UnsupportedStatement(f"the RSA key has {public.key_size} bits; at "
                                           f"least {MIN_RSA_BITS}")
            public.verify(sig, tbs, padding.PSS(padding.MGF1(digest()), digest.digest_size),
                          digest())
        else:
            curve, size = _CURVES[family]
            if not isinstance(public, ec.EllipticCurvePublicKey) or \
                    not isinstance(public.curve, curve):
                raise UnsupportedStatement(f"{alg} needs a {family} key")
            if len(sig) != 2 * size:  # RFC 9053 section 2.1: r || s, fixed size
                raise InvalidSignature(f"the {alg} signature is {len(sig)} bytes, not "
                                       f"{2 * size}")
            der = encode_dss_signature(int.from_bytes(sig[:size], "big"),
                                       int.from_bytes(sig[size:], "big"))
            public.verify(der, tbs, ec.ECDSA(digest()))
    except _CryptoInvalidSignature:
        raise InvalidSignature(f"the {alg} signature does not verify with the key the "
                               "statement carries: altered, or signed by another key") from None


def _payload(ph: dict[Any, Any], payload: bytes) -> dict[str, Any]:
    if L_HASH_ALG not in ph:
        for label in (L_PREIMAGE_CTY, L_LOCATION):
            if label in ph:
                raise MalformedStatement(f"header {label} belongs to a hash envelope, and "
                                         "payload hash alg (258) is absent")
        return {"kind": "attached", "size": len(payload),
                "sha256": hashlib.sha256(payload).hexdigest()}
    if L_CTY in ph:
        raise MalformedStatement("a hash envelope (258) must not carry content type (3): "
                                 "the preimage's type is 259")
    h = ph[L_HASH_ALG]
    if type(h) is not int or h not in HASH_ALGS:
        raise UnsupportedStatement(f"payload hash alg (258) {h!r:.20} is not SHA-256 (-16), "
                                   "SHA-384 (-43) or SHA-512 (-44)")
    name, size = HASH_ALGS[h]
    if len(payload) != size:
        raise MalformedStatement(f"the hash envelope's payload is {len(payload)} bytes, not "
                                 f"a {name} hash ({size})")
    location = ph.get(L_LOCATION)
    if location is not None and not isinstance(location, str):
        raise MalformedStatement("payload location (260) is not text")
    return {"kind": "hash", "hash_alg": name, "hash": payload.hex(),
            "preimage_content_type": _content_type(ph.get(L_PREIMAGE_CTY), L_PREIMAGE_CTY),
            "location": location}
