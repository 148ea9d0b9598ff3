"""RFC 3161 time-stamp tokens: build the request, read the reply, verify the token strictly.

What a verified token proves here: a TSA whose certificate chains to a CA *we were given*
(pinned), valid at the token's genTime and carrying the critical timeStamping EKU, signed the
statement "SHA-256(message) existed at genTime". The checks and their order:

1. ``der``                 the token is one well-formed DER element (our framing reader);
2. ``parse``               rfc3161-client parses it strictly (fallback below);
3. ``hash_algorithm``      the imprint algorithm is SHA-256 (the project's only hash);
4. ``message_imprint``     the imprint equals SHA-256(message);
5. ``nonce``/``policy``    equal to what the caller asked for, when given;
6. ``tsa_eku``             the signer certificate's extendedKeyUsage is critical and is exactly
                           id-kp-timeStamping (RFC 3161 section 2.3);
7. ``validity_at_gen_time`` the signer certificate was valid at genTime (a clear message for an
                           expired TSA; the chain check below also enforces it);
8. ``signature_and_chain`` rfc3161-client's strict verification: CMS signature, chain to the
                           trusted roots validated *at genTime*, timeStamping purpose, nonce,
                           policy and imprint again. No revocation checking (none is possible
                           offline); that is why long-lived evidence is re-timestamped (RFC 4998).

The DER-order fallback: rfc3161-client rejects a token whose ``SignedData.certificates`` SET is
not in DER order, which OpenSSL writes when its TSA config has ``certs = ...`` (some public TSAs
too). That field is *not covered by the signature* (RFC 5652 section 5.4 signs only the content
and the signed attributes), so putting its elements in DER order changes nothing that is
signed. Only when the strict parse fails *and* that SET is out of order do we permute its
elements into DER order, keeping every other byte and every length identical, and verify the
result strictly with the same library. The verdict then names the verifier
``"rfc3161-client (certificate SET re-sorted to DER order)"``. The caller archives the original
bytes, always. A second, independent verifier (pyHanko, ``openssl ts -verify``) would mean a
heavy dependency or a subprocess in the trust anchor; this keeps one strict verifier.

Imports: stdlib, ``cryptography``, ``rfc3161-client`` and ``evidence.verify`` only.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

import rfc3161_client
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from evidence.verify import der
from evidence.verify.errors import MalformedInput, VerificationError

__all__ = [
    "SHA256_OID",
    "VERIFIER_RESORTED",
    "VERIFIER_STRICT",
    "ImprintMismatch",
    "MalformedTimestamp",
    "MissingTimestampingEKU",
    "NonceMismatch",
    "PolicyMismatch",
    "TimestampError",
    "TimestampNotGranted",
    "TimestampQuery",
    "TimestampSignatureInvalid",
    "TimestampVerdict",
    "TsaCertificateExpired",
    "UnsupportedHashAlgorithm",
    "UntrustedTimestampChain",
    "build_request",
    "parse_response",
    "resort_certificates",
    "token_certificates",
    "verify_timestamp",
    "verify_timestamp_digest",
    "verify_token_integrity",
]

SHA256_OID = "2.16.840.1.101.3.4.2.1"
VERIFIER_STRICT = "rfc3161-client"
VERIFIER_RESORTED = "rfc3161-client (certificate SET re-sorted to DER order)"

# ContentInfo.contentType id-signedData 1.2.840.113549.1.7.2, as its full DER encoding
_ID_SIGNED_DATA = bytes.fromhex("06092a864886f70d010702")
# TimeStampResp.status for "granted": PKIStatusInfo ::= SEQUENCE { status INTEGER 0 }
_STATUS_GRANTED = bytes.fromhex("3003020100")

_SEQUENCE, _SET, _INTEGER, _BIT_STRING, _UTF8 = 0x30, 0x31, 0x02, 0x03, 0x0C
_CTX0 = 0xA0  # [0], constructed: ContentInfo.content and SignedData.certificates

_STATUS_NAMES = {
    0: "granted", 1: "grantedWithMods", 2: "rejection", 3: "waiting",
    4: "revocationWarning", 5: "revocationNotification",
}
_FAIL_INFO_NAMES = {
    0: "badAlg", 2: "badRequest", 5: "badDataFormat", 14: "timeNotAvailable",
    15: "unacceptedPolicy", 16: "unacceptedExtension", 17: "addInfoNotAvailable",
    25: "systemFailure",
}


# --- errors ---------------------------------------------------------------------------------


class TimestampError(VerificationError):
    """A time-stamp reply or token does not prove what it claims."""


class MalformedTimestamp(TimestampError, MalformedInput):
    """Not a DER TimeStampResp / TimeStampToken (garbage, truncated, wrong structure)."""


class TimestampNotGranted(TimestampError):
    """The TSA answered with a status other than `granted`; `status` and `status_text` say why."""

    def __init__(self, status: int, status_text: str, fail_info: tuple[str, ...]) -> None:
        self.status = status
        self.status_text = status_text
        self.fail_info = fail_info
        name = _STATUS_NAMES.get(status, f"unknown status {status}")
        detail = "; ".join(x for x in (status_text, ", ".join(fail_info)) if x)
        super().__init__(f"TSA did not grant the time-stamp: {name}" +
                         (f" ({detail})" if detail else ""))


class UnsupportedHashAlgorithm(TimestampError):
    """The token's message imprint is not SHA-256."""


class ImprintMismatch(TimestampError):
    """The token time-stamps some other data than this message."""


class NonceMismatch(TimestampError):
    """The token answers another request (or a replayed one): its nonce is not ours."""


class PolicyMismatch(TimestampError):
    """The token was issued under another TSA policy than the one required."""


class MissingTimestampingEKU(TimestampError):
    """The signing certificate may not sign time-stamps: its extendedKeyUsage is missing, not
    critical, or not exactly id-kp-timeStamping (RFC 3161 section 2.3)."""


class UntrustedTimestampChain(TimestampError):
    """The signer certificate does not chain to a trusted CA, valid at genTime."""


class TsaCertificateExpired(UntrustedTimestampChain):
    """The TSA certificate was not valid at the token's genTime (expired or not yet valid)."""


class TimestampSignatureInvalid(TimestampError):
    """The CMS signature over the TSTInfo does not verify: the token was altered."""


# --- request / response -----------------------------------------------------------------------


class TimestampQuery(NamedTuple):
    """A DER TimeStampReq and the nonce it carries (keep it: verification pins it)."""

    der: bytes
    nonce: int


def build_request(message: bytes) -> TimestampQuery:
    """A TimeStampReq for SHA-256(message), with a random 64-bit nonce and certReq = true (the
    token must carry the TSA certificate so that it verifies offline later)."""
    request = (
        rfc3161_client.TimestampRequestBuilder()
        .data(message)  # raises ValueError for an empty message
        .hash_algorithm(rfc3161_client.HashAlgorithm.SHA256)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    nonce = request.nonce
    assert nonce is not None  # asked for above
    return TimestampQuery(der=request.as_bytes(), nonce=int(nonce))


def parse_response(response_der: bytes) -> bytes:
    """The TimeStampToken inside a TimeStampResp, as the exact bytes received.

    Raises :class:`TimestampNotGranted` (with the TSA's status text and failure info) for any
    status but `granted`, :class:`MalformedTimestamp` for anything that is not a TimeStampResp.
    The token is not verified here: call :func:`verify_timestamp`.
    """
    with _malformed("TimeStampResp"):
        resp = der.parse_single(response_der, _SEQUENCE)
        parts = der.children(response_der, resp)
        if not 1 <= len(parts) <= 2 or parts[0].tag != _SEQUENCE:
            raise der.DerError("expected SEQUENCE { PKIStatusInfo, TimeStampToken OPTIONAL }")
        status, text, fail_info = _status_info(response_der, parts[0])
    if status != 0:
        raise TimestampNotGranted(status, text, fail_info)
    if len(parts) != 2 or parts[1].tag != _SEQUENCE:
        raise MalformedTimestamp("status is granted but the reply carries no TimeStampToken")
    return response_der[parts[1].start : parts[1].end]


def _status_info(data: bytes, info: der.Tlv) -> tuple[int, str, tuple[str, ...]]:
    """PKIStatusInfo ::= SEQUENCE { status INTEGER, statusString SEQUENCE OF UTF8String
    OPTIONAL, failInfo BIT STRING OPTIONAL }."""
    fields = der.children(data, info)
    if not fields or fields[0].tag != _INTEGER or fields[0].end - fields[0].value_start > 4:
        raise der.DerError("PKIStatusInfo.status is not a small INTEGER")
    status = int.from_bytes(data[fields[0].value_start : fields[0].end], "big", signed=True)
    texts: list[str] = []
    fail_info: list[str] = []
    for field in fields[1:]:
        if field.tag == _SEQUENCE and not texts:
            for s in der.children(data, field):
                if s.tag != _UTF8:
                    raise der.DerError("PKIFreeText element is not a UTF8String")
                texts.append(data[s.value_start : s.end].decode("utf-8", errors="replace"))
        elif field.tag == _BIT_STRING and not fail_info:
            bits = data[field.value_start + 1 : field.end]  # first octet: unused-bit count
            for bit, name in _FAIL_INFO_NAMES.items():
                if bit // 8 < len(bits) and bits[bit // 8] & (0x80 >> (bit % 8)):
                    fail_info.append(name)
        else:
            raise der.DerError("unexpected element in PKIStatusInfo")
    return status, " ".join(texts), tuple(fail_info)


# --- the token's certificate SET ------------------------------------------------------------------


def _certificates_field(token: bytes) -> der.Tlv | None:
    """The ``SignedData.certificates [0] IMPLICIT SET OF`` element of a TimeStampToken, if any.

    ContentInfo ::= SEQUENCE { contentType id-signedData, content [0] EXPLICIT SignedData }
    SignedData  ::= SEQUENCE { version, digestAlgorithms SET, encapContentInfo SEQUENCE,
                               certificates [0] IMPLICIT OPTIONAL, crls [1] OPTIONAL, signerInfos }
    """
    ci = der.parse_single(token, _SEQUENCE)
    ci_fields = der.children(token, ci)
    if (len(ci_fields) != 2 or token[ci_fields[0].start : ci_fields[0].end] != _ID_SIGNED_DATA
            or ci_fields[1].tag != _CTX0):
        raise der.DerError("not a CMS ContentInfo of type signedData")
    inner = der.children(token, ci_fields[1])
    if len(inner) != 1 or inner[0].tag != _SEQUENCE:
        raise der.DerError("ContentInfo.content is not one SignedData SEQUENCE")
    sd = der.children(token, inner[0])
    if len(sd) < 4 or [f.tag for f in sd[:3]] != [_INTEGER, _SET, _SEQUENCE]:
        raise der.DerError("SignedData does not start with version, digestAlgorithms, content")
    return sd[3] if sd[3].tag == _CTX0 else None


def token_certificates(token_der: bytes) -> list[bytes]:
    """The DER certificates a token carries (signer and chain), in the order stored.

    Raises :class:`MalformedTimestamp` when the token is not a CMS SignedData.
    """
    with _malformed("TimeStampToken"):
        field = _certificates_field(token_der)
        if field is None:
            return []
        return [token_der[c.start : c.end] for c in der.children(token_der, field)
                if c.tag == _SEQUENCE]


def resort_certificates(token: bytes) -> bytes | None:
    """The token with its certificate SET permuted into DER order, or None if it already is in
    order (or has no certificates). Only the bytes inside that SET move; lengths are unchanged,
    so every other byte of the token stays where it was.

    Public because it is the one change the DER-order fallback (module doc) makes to a token
    before verifying it: a reader can check on its own that it only permutes a SET the
    signature does not cover (tests/verify/test_timestamp.py,
    ``test_resorting_only_permutes_the_certificate_set``)."""
    field = _certificates_field(token)
    if field is None:
        return None
    elements = [token[c.start : c.end] for c in der.children(token, field)]
    ordered = der.set_of_order(elements)
    if ordered == elements:
        return None
    fixed = token[: field.value_start] + b"".join(ordered) + token[field.end :]
    assert len(fixed) == len(token)
    return fixed


# --- verification ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimestampVerdict:
    """What a successful :func:`verify_timestamp` checked and found. Every field was verified
    (or, for `tsa_name`, read from the signed TSTInfo)."""

    gen_time: datetime  # UTC, from the signed TSTInfo
    serial_number: int  # the TSA's serial number of this token
    policy: str  # dotted OID of the TSA policy the token was issued under
    hash_algorithm: str  # "sha256" (or "sha384"/"sha512" from verify_timestamp_digest)
    message_imprint: str  # lowercase hex SHA-256 of the message
    nonce: int | None  # nonce in the token (checked against the caller's if given)
    tsa_name: str | None  # TSTInfo.tsa (RFC 4514), if the TSA named itself
    signer_subject: str  # subject of the certificate that signed (RFC 4514)
    signer_issuer: str
    signer_serial: int
    verifier: str  # VERIFIER_STRICT or VERIFIER_RESORTED
    checks: tuple[str, ...]  # names of the checks passed, in order


def verify_timestamp(
    token_der: bytes,
    message: bytes,
    trusted_ca_pems: list[bytes],
    *,
    policy_oid: str | None = None,
    nonce: int | None = None,
) -> TimestampVerdict:
    """Verify a TimeStampToken over SHA-256(`message`) against the pinned CA certificates.

    `trusted_ca_pems`: PEM bytes of self-signed root CAs (one or several per item). Only they
    are trust anchors; intermediate CAs are taken from the token. Returns a
    :class:`TimestampVerdict`; raises a :class:`TimestampError` subclass naming what failed.
    """
    return _verify(token_der, SHA256_OID, hashlib.sha256(message).digest(), trusted_ca_pems,
                   policy_oid=policy_oid, nonce=nonce)


#: imprint algorithms :func:`verify_timestamp_digest` accepts (RFC 4998 hash-tree renewal moves
#: an evidence record's timestamps from SHA-256 to SHA-512; SHA-1 is never accepted)
IMPRINT_ALGORITHMS = {SHA256_OID: "sha256", "2.16.840.1.101.3.4.2.2": "sha384",
                      "2.16.840.1.101.3.4.2.3": "sha512"}


def verify_timestamp_digest(
    token_der: bytes,
    hash_oid: str,
    digest: bytes,
    trusted_ca_pems: list[bytes],
    *,
    policy_oid: str | None = None,
    nonce: int | None = None,
) -> TimestampVerdict:
    """Verify a TimeStampToken whose message imprint must be exactly `digest` under the hash
    `hash_oid`, with every other check of :func:`verify_timestamp` (the policy too, when one
    is given). An RFC 4998 archive timestamp stamps a hash-tree root, which is already a
    digest: there is no message to hash."""
    if hash_oid not in IMPRINT_ALGORITHMS:
        raise UnsupportedHashAlgorithm(f"imprint algorithm {hash_oid} is not SHA-256/384/512")
    return _verify(token_der, hash_oid, digest, trusted_ca_pems, policy_oid=policy_oid,
                   nonce=nonce)


def _verify(
    token_der: bytes,
    hash_oid: str,
    expected: bytes,
    trusted_ca_pems: list[bytes],
    *,
    policy_oid: str | None,
    nonce: int | None,
) -> TimestampVerdict:
    roots = _load_roots(trusted_ca_pems)
    checks: list[str] = []

    with _malformed("TimeStampToken"):
        der.parse_single(token_der, _SEQUENCE)
    checks.append("der")

    resp, verifier = _parse_strict_or_resorted(token_der)
    checks.append("parse")

    with _malformed("TimeStampToken"):
        tst = resp.tst_info
        algorithm = tst.message_imprint.hash_algorithm.dotted_string
        imprint = bytes(tst.message_imprint.message)
        token_nonce = None if tst.nonce is None else int(tst.nonce)
        token_policy = tst.policy.dotted_string if tst.policy is not None else ""
        gen_time = tst.gen_time.astimezone(UTC)
        serial = int(tst.serial_number)
        tsa_name = _tsa_name(tst)
        signer = _Signer.read(_signer_certificate(resp))  # cryptography parses lazily: now

    if algorithm != hash_oid:
        want = IMPRINT_ALGORITHMS.get(hash_oid, hash_oid).upper().replace("SHA", "SHA-")
        raise UnsupportedHashAlgorithm(f"message imprint uses {algorithm}, not {want}")
    checks.append("hash_algorithm")
    if imprint != expected:
        what = ("SHA-256 of this message" if hash_oid == SHA256_OID
                else "the digest it must stamp")
        raise ImprintMismatch(
            f"token time-stamps {imprint.hex()}, but {what} is {expected.hex()}"
        )
    checks.append("message_imprint")
    if nonce is not None:
        if token_nonce != nonce:
            raise NonceMismatch(f"token nonce {token_nonce} is not the request's {nonce}")
        checks.append("nonce")
    if policy_oid is not None:
        if token_policy != policy_oid:
            raise PolicyMismatch(f"token policy {token_policy} is not the required {policy_oid}")
        checks.append("policy")
    _check_tsa_eku(signer)
    checks.append("tsa_eku")
    if not signer.not_before <= gen_time <= signer.not_after:
        raise TsaCertificateExpired(
            f"TSA certificate {signer.subject} was not valid at genTime {gen_time.isoformat()} "
            f"(valid {signer.not_before.isoformat()} to {signer.not_after.isoformat()})"
        )
    checks.append("validity_at_gen_time")

    _strict_verify(resp, expected, roots, nonce=nonce, policy_oid=policy_oid)
    checks.append("signature_and_chain")

    return TimestampVerdict(
        gen_time=gen_time,
        serial_number=serial,
        policy=token_policy,
        hash_algorithm=IMPRINT_ALGORITHMS[hash_oid],
        message_imprint=imprint.hex(),
        nonce=token_nonce,
        tsa_name=tsa_name,
        signer_subject=signer.subject,
        signer_issuer=signer.issuer,
        signer_serial=signer.serial,
        verifier=verifier,
        checks=tuple(checks),
    )


@contextlib.contextmanager
def _malformed(what: str) -> Iterator[None]:
    """Turn any parsing failure (ours, the library's, even a Rust panic, which Python sees as a
    BaseException) into MalformedTimestamp. Hostile input must never escape as anything else."""
    try:
        yield
    except TimestampError:
        raise
    except BaseException as exc:
        if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
            raise  # KeyboardInterrupt, SystemExit
        raise MalformedTimestamp(f"not a valid {what}: {exc}") from exc


def _load_roots(pems: list[bytes]) -> list[x509.Certificate]:
    roots: list[x509.Certificate] = []
    for pem in pems:
        for cert in x509.load_pem_x509_certificates(pem):
            if cert not in roots:
                roots.append(cert)
    if not roots:
        raise ValueError("no trusted CA certificate given: nothing could vouch for a TSA")
    return roots


def _wrap_granted(token: bytes) -> bytes:
    """rfc3161-client verifies TimeStampResp objects; we archive bare tokens. Wrap one in the
    minimal granted response (status 0, no text), which adds nothing that is trusted."""
    return der.encode_tlv(_SEQUENCE, _STATUS_GRANTED + token)


def _parse_strict_or_resorted(token: bytes) -> tuple[rfc3161_client.TimeStampResponse, str]:
    try:
        with _malformed("TimeStampToken"):
            return rfc3161_client.decode_timestamp_response(_wrap_granted(token)), VERIFIER_STRICT
    except MalformedTimestamp:
        with _malformed("TimeStampToken"):
            resorted = resort_certificates(token)
        if resorted is None:  # the SET was in order: the failure is something else
            raise
        with _malformed("TimeStampToken (after re-sorting its certificate SET)"):
            resp = rfc3161_client.decode_timestamp_response(_wrap_granted(resorted))
        return resp, VERIFIER_RESORTED


def _tsa_name(tst: rfc3161_client.TimeStampTokenInfo) -> str | None:
    try:
        name = tst.name
    except ValueError:  # the optional TSTInfo.tsa field is absent (older rfc3161-client)
        return None
    if name is None:  # absent (newer rfc3161-client)
        return None
    value = name.value
    return value.rfc4514_string() if isinstance(value, x509.Name) else str(value)


def _signer_certificate(resp: rfc3161_client.TimeStampResponse) -> x509.Certificate:
    """The certificate named by the (signed) SignerInfo's issuerAndSerialNumber."""
    infos = list(resp.signed_data.signer_infos)
    if len(infos) != 1:
        raise MalformedTimestamp(f"expected exactly one SignerInfo, found {len(infos)}")
    sid = infos[0]
    certs = [x509.load_der_x509_certificate(c) for c in resp.signed_data.certificates]
    for cert in certs:
        if cert.issuer == sid.issuer and cert.serial_number == sid.serial_number:
            return cert
    raise UntrustedTimestampChain(
        "the token does not carry the TSA certificate that signed it (request certReq = true)"
    )


@dataclass(frozen=True)
class _Signer:
    """What the checks need from the signer certificate, read eagerly so that a corrupt
    certificate fails inside the parsing guard rather than in the middle of a check."""

    subject: str
    issuer: str
    serial: int
    not_before: datetime
    not_after: datetime
    eku: x509.Extension[x509.ExtendedKeyUsage] | None

    @classmethod
    def read(cls, cert: x509.Certificate) -> _Signer:
        try:
            eku: x509.Extension[x509.ExtendedKeyUsage] | None = (
                cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage))
        except x509.ExtensionNotFound:
            eku = None
        return cls(cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(),
                   cert.serial_number, cert.not_valid_before_utc, cert.not_valid_after_utc, eku)


def _check_tsa_eku(signer: _Signer) -> None:
    who, eku = signer.subject, signer.eku
    if eku is None:
        raise MissingTimestampingEKU(
            f"TSA certificate {who} has no extendedKeyUsage: it may not sign time-stamps"
        )
    if not eku.critical:
        raise MissingTimestampingEKU(
            f"TSA certificate {who}: extendedKeyUsage is not critical (RFC 3161 section 2.3)"
        )
    if list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise MissingTimestampingEKU(
            f"TSA certificate {who}: extendedKeyUsage must be exactly id-kp-timeStamping"
        )


_OPENSSL_DETAIL = re.compile(r'data: "Verify error: ?([^"]*)"')


def _strict_verify(
    resp: rfc3161_client.TimeStampResponse,
    digest: bytes,
    roots: list[x509.Certificate],
    *,
    nonce: int | None,
    policy_oid: str | None,
) -> None:
    builder = rfc3161_client.VerifierBuilder(roots=list(roots))
    if nonce is not None:
        builder = builder.nonce(nonce)
    if policy_oid is not None:
        builder = builder.policy_id(x509.ObjectIdentifier(policy_oid))
    try:
        with _malformed("TimeStampToken"):
            builder.build().verify(resp, digest)
    except MalformedTimestamp as exc:
        # rfc3161-client reports OpenSSL's PKCS7_verify errors as text; sort them by reason
        cause = str(exc.__cause__ or exc)
        if "Unable to parse sig as pkcs7" in cause:
            raise MalformedTimestamp(f"OpenSSL cannot parse the token's CMS: {cause}") from exc
        if "certificate verify error" in cause:
            found = _OPENSSL_DETAIL.search(cause)
            detail = found.group(1) if found else cause
            raise UntrustedTimestampChain(
                f"TSA certificate chain does not verify to a trusted CA at genTime: {detail}"
            ) from exc
        if "Unable to verify pkcs7 signature" in cause:
            raise TimestampSignatureInvalid(
                "the CMS signature over the TSTInfo does not verify: the token was altered "
                f"({cause})"
            ) from exc
        raise TimestampError(f"rfc3161-client rejected the token: {cause}") from exc


# --- integrity, whatever TSA made the token (docs/verdict.md section 1, step 1) -------------

_OID_TAG, _OCTETS = 0x06, 0x04
_CTX1 = 0xA1
_ID_CT_TSTINFO = "1.2.840.113549.1.9.16.1.4"
_ATTR_CONTENT_TYPE = "1.2.840.113549.1.9.3"
_ATTR_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_ATTR_SIGNING_CERT = "1.2.840.113549.1.9.16.2.12"
_ATTR_SIGNING_CERT_V2 = "1.2.840.113549.1.9.16.2.47"
_DIGESTS = {"1.3.14.3.2.26": "sha1", SHA256_OID: "sha256",
            "2.16.840.1.101.3.4.2.2": "sha384", "2.16.840.1.101.3.4.2.3": "sha512"}
_SIG_HASH = {"1.2.840.113549.1.1.5": "sha1", "1.2.840.113549.1.1.11": "sha256",
             "1.2.840.113549.1.1.12": "sha384", "1.2.840.113549.1.1.13": "sha512",
             "1.2.840.10045.4.1": "sha1", "1.2.840.10045.4.3.2": "sha256",
             "1.2.840.10045.4.3.3": "sha384", "1.2.840.10045.4.3.4": "sha512"}
_RSA, _RSA_PSS, _EC_PUBLIC = "1.2.840.113549.1.1.1", "1.2.840.113549.1.1.10", "1.2.840.10045.2.1"


def _oid(data: bytes, tlv: der.Tlv) -> str:
    if tlv.tag != _OID_TAG or tlv.end == tlv.value_start:
        raise der.DerError("expected an OBJECT IDENTIFIER")
    raw, arcs, n = data[tlv.value_start:tlv.end], [], 0
    for b in raw:
        n = (n << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(n)
            n = 0
    if raw[-1] & 0x80:
        raise der.DerError("truncated OBJECT IDENTIFIER")
    first = min(arcs[0] // 40, 2)
    return ".".join(map(str, [first, arcs[0] - 40 * first, *arcs[1:]]))


_SKI_SID = 0x80


def _key_identifier(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None


def _kids(data: bytes, tlv: der.Tlv, tag: int | None = None) -> list[der.Tlv]:
    if tag is not None and tlv.tag != tag:
        raise der.DerError(f"expected tag 0x{tag:02x}, found 0x{tlv.tag:02x}")
    return der.children(data, tlv)


def verify_token_integrity(token_der: bytes, message: bytes, *,
                           digest: tuple[str, bytes] | None = None) -> None:
    """Step 1 of docs/verdict.md: the token is whole, whatever TSA made it and whether or
    not anyone pinned that TSA. One DER SignedData with one SignerInfo; the signer
    certificate carried in the token; signed attributes (content type TSTInfo,
    messageDigest over the TSTInfo, ESSCertID or ESSCertIDv2 naming the signer); the CMS
    signature by the signer certificate's key; TSTInfo version 1, imprint SHA-256 over
    ``message``, or with ``digest`` = (hash OID, value) exactly that imprint (an RFC 4998
    archive timestamp, whose imprint is a hash-tree root). Raises a :class:`TimestampError`
    subclass; trusts nothing it reads."""
    from cryptography.exceptions import InvalidSignature as _BadSig
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

    d = token_der
    with _malformed("TimeStampToken"):
        ci = _kids(d, der.parse_single(d, _SEQUENCE), None)
        if len(ci) != 2 or _oid(d, ci[0]) != "1.2.840.113549.1.7.2" or ci[1].tag != _CTX0:
            raise MalformedTimestamp("not a CMS SignedData ContentInfo")
        (sd_tlv,) = _kids(d, ci[1])
        sd = _kids(d, sd_tlv, _SEQUENCE)
        if len(sd) < 4 or sd[0].tag != _INTEGER or sd[1].tag != _SET:
            raise MalformedTimestamp("SignedData has no version and digestAlgorithms")
        if d[sd[0].value_start:sd[0].end] != b"\x03":  # RFC 5652 5.1: content not id-data
            raise MalformedTimestamp("SignedData version is not 3")
        listed_digests = {_oid(d, _kids(d, a, _SEQUENCE)[0]) for a in _kids(d, sd[1])}
        encap = _kids(d, sd[2], _SEQUENCE)
        if len(encap) != 2 or _oid(d, encap[0]) != _ID_CT_TSTINFO or encap[1].tag != _CTX0:
            raise MalformedTimestamp("the signed content is not a TSTInfo")
        (octets,) = _kids(d, encap[1])
        if octets.tag != _OCTETS:
            raise MalformedTimestamp("the TSTInfo is not in an OCTET STRING")
        tst_info = d[octets.value_start:octets.end]
        rest = sd[3:]
        certs: list[x509.Certificate] = []
        if rest and rest[0].tag == _CTX0:
            carried = _kids(d, rest[0])
            if any(c.tag != _SEQUENCE for c in carried):
                raise MalformedTimestamp("the token carries something other than X.509 "
                                         "certificates")
            certs = [x509.load_der_x509_certificate(d[c.start:c.end]) for c in carried]
            rest = rest[1:]
        if rest and rest[0].tag == _CTX1:
            rest = rest[1:]
        if len(rest) != 1 or rest[0].tag != _SET:
            raise MalformedTimestamp("SignedData has no signerInfos")
        infos = _kids(d, rest[0])
        if len(infos) != 1:
            raise MalformedTimestamp(f"expected exactly one SignerInfo, found {len(infos)}")
        si = _kids(d, infos[0], _SEQUENCE)
        if len(si) < 6 or si[3].tag != _CTX0:
            raise MalformedTimestamp("the SignerInfo has no signed attributes")
        sid, digest_alg, attrs_tlv, sig_alg, sig = si[1], si[2], si[3], si[4], si[5]
        want_version = b"\x01" if sid.tag == _SEQUENCE else b"\x03"  # RFC 5652 5.3
        if si[0].tag != _INTEGER or d[si[0].value_start:si[0].end] != want_version:
            raise MalformedTimestamp("SignerInfo version does not match its identifier")
        digest_oid = _oid(d, _kids(d, digest_alg, _SEQUENCE)[0])
        if digest_oid not in listed_digests:
            raise MalformedTimestamp("SignedData digestAlgorithms does not list the signer's")
        digest_name = _DIGESTS.get(digest_oid)
        sig_alg_kids = _kids(d, sig_alg, _SEQUENCE)
        sig_oid = _oid(d, sig_alg_kids[0])
        if sig.tag != _OCTETS:
            raise MalformedTimestamp("the signature is not an OCTET STRING")
        signature = d[sig.value_start:sig.end]
        attrs: dict[str, list[der.Tlv]] = {}
        for a in _kids(d, attrs_tlv):
            kids = _kids(d, a, _SEQUENCE)
            name = _oid(d, kids[0])
            if name in attrs or len(kids) != 2:
                raise MalformedTimestamp(f"signed attribute {name} repeated or malformed")
            attrs[name] = _kids(d, kids[1], _SET)
        signer = None
        if sid.tag == _SEQUENCE:
            issuer, serial = _kids(d, sid)
            for c in certs:
                if (c.issuer.public_bytes() == d[issuer.start:issuer.end]
                        and c.serial_number == int.from_bytes(
                            d[serial.value_start:serial.end], "big", signed=True)):
                    signer = c
        elif sid.tag == _SKI_SID:  # subjectKeyIdentifier [0] IMPLICIT (RFC 5652 5.3)
            for c in certs:
                if _key_identifier(c) == d[sid.value_start:sid.end]:
                    signer = c
        signed_attrs = bytes([_SET]) + d[attrs_tlv.start + 1:attrs_tlv.end]
        tst = der.children(tst_info, der.parse_single(tst_info, _SEQUENCE))
    if digest_name is None:
        raise UnsupportedHashAlgorithm("the SignerInfo's digest algorithm is not one we know")
    if signer is None:
        raise UntrustedTimestampChain("the token does not carry the TSA certificate that "
                                      "signed it")
    h = hashlib.new(digest_name)
    h.update(tst_info)
    with _malformed("TimeStampToken signed attributes"):
        ct = attrs.get(_ATTR_CONTENT_TYPE)
        md = attrs.get(_ATTR_MESSAGE_DIGEST)
        ok_ct = ct is not None and len(ct) == 1 and _oid(d, ct[0]) == _ID_CT_TSTINFO
        ok_md = (md is not None and len(md) == 1 and md[0].tag == _OCTETS
                 and d[md[0].value_start:md[0].end] == h.digest())
        ess_ok = _ess_names_signer(d, attrs, signer)
    if not ok_ct:
        raise TimestampSignatureInvalid("the signed content-type attribute is not TSTInfo")
    if not ok_md:
        raise TimestampSignatureInvalid("the signed messageDigest is not the TSTInfo's digest: "
                                        "the token was altered")
    if not ess_ok:
        raise TimestampSignatureInvalid("the signed ESSCertID does not name the signer "
                                        "certificate: the token was altered")
    try:
        key = signer.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            name = digest_name if sig_oid in (_RSA, _RSA_PSS) else _SIG_HASH.get(sig_oid)
            if name is None:
                raise UnsupportedHashAlgorithm(f"signature algorithm {sig_oid} is not known")
            algo = getattr(hashes, name.upper())()
            pad = (padding.PSS(padding.MGF1(algo), padding.PSS.AUTO) if sig_oid == _RSA_PSS
                   else padding.PKCS1v15())
            key.verify(signature, signed_attrs, pad, algo)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            name = _SIG_HASH.get(sig_oid) or (digest_name if sig_oid == _EC_PUBLIC else None)
            if name is None:
                raise UnsupportedHashAlgorithm(f"signature algorithm {sig_oid} is not known")
            key.verify(signature, signed_attrs, ec.ECDSA(getattr(hashes, name.upper())()))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, signed_attrs)
        else:
            raise UnsupportedHashAlgorithm("the signer's key type is not supported")
    except _BadSig:
        raise TimestampSignatureInvalid("the CMS signature over the signed attributes does "
                                        "not verify: the token was altered") from None
    except TimestampError:
        raise
    except Exception as e:  # a key or signature cryptography cannot read: damaged
        raise MalformedTimestamp(f"the signature cannot be checked: {e}") from e
    with _malformed("TSTInfo"):
        version = tst[0]
        if version.tag != _INTEGER or tst_info[version.value_start:version.end] != b"\x01":
            raise MalformedTimestamp("TSTInfo version is not 1")
        imprint = _kids(tst_info, tst[2], _SEQUENCE)
        algorithm = _oid(tst_info, _kids(tst_info, imprint[0], _SEQUENCE)[0])
        value = tst_info[imprint[1].value_start:imprint[1].end]
    if digest is not None:
        if algorithm != digest[0]:
            raise ImprintMismatch(f"message imprint uses {algorithm}, not {digest[0]}")
        if value != digest[1]:
            raise ImprintMismatch(f"token time-stamps {value.hex()}, not {digest[1].hex()}")
        return
    if algorithm != SHA256_OID:
        raise UnsupportedHashAlgorithm(f"message imprint uses {algorithm}, not SHA-256")
    if value != hashlib.sha256(message).digest():
        raise ImprintMismatch(f"token time-stamps {value.hex()}, but SHA-256 of this message "
                              f"is {hashlib.sha256(message).hexdigest()}")


def _ess_names_signer(d: bytes, attrs: dict[str, list[der.Tlv]],
                      signer: x509.Certificate) -> bool:
    """ESSCertID (SHA-1) or ESSCertIDv2 (SHA-256 by default): the first certHash is the
    hash of the signer certificate."""
    from cryptography.hazmat.primitives.serialization import Encoding

    cert = signer.public_bytes(Encoding.DER)
    for name, default in ((_ATTR_SIGNING_CERT_V2, "sha256"), (_ATTR_SIGNING_CERT, "sha1")):
        values = attrs.get(name)
        if values is None:
            continue
        if len(values) != 1:
            return False
        certs = _kids(d, _kids(d, values[0], _SEQUENCE)[0], _SEQUENCE)
        first = _kids(d, certs[0], _SEQUENCE)
        alg = default
        if name == _ATTR_SIGNING_CERT_V2 and first[0].tag == _SEQUENCE:
            alg = _DIGESTS.get(_oid(d, _kids(d, first[0])[0]), "")
            first = first[1:]
        if not alg or first[0].tag != _OCTETS:
            return False
        return d[first[0].value_start:first[0].end] == hashlib.new(alg, cert).digest()
    return False
