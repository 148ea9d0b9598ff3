"""RFC 3161 tokens from real local TSAs (OpenSSL), verified by our verifier and by
`openssl ts -verify`; each deliberately bad TSA is refused for the right reason."""

from __future__ import annotations

import contextlib
import hashlib
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import rfc3161_client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evidence.ledger.anchor.tsa_client import (
    TsaClientError,
    TsaHttpError,
    TsaReplyTooLarge,
    TsaTimeout,
    TsaToken,
    request_timestamp,
)
from evidence.verify import der
from evidence.verify import timestamp as ts
from tests.support.ports import free_ports
from tests.support.tsa import LocalTSA

pytestmark = pytest.mark.tsa

MESSAGE = b"checkpoint note text\n42\nq83rQ1qS0m9Z2bzTeTt3nH8FyR0tmPb0cJjZ2u6X+pE=\n"
POLICY = "1.2.3.4.1"  # default_policy in make_test_tsa.sh

TsaVariant = Callable[[str], LocalTSA]


def openssl_verify(token: bytes, message: bytes, ca_pem: Path, tmp: Path) -> tuple[bool, str]:
    """`openssl ts -verify -in TOKEN -token_in -digest HEX -CAfile ca.pem`, as DESIGN.md asks."""
    path = tmp / f"token-{hashlib.sha256(token).hexdigest()[:12]}.der"
    path.write_bytes(token)
    p = subprocess.run(
        ["openssl", "ts", "-verify", "-in", str(path), "-token_in",
         "-digest", hashlib.sha256(message).hexdigest(), "-CAfile", str(ca_pem)],
        capture_output=True, text=True, check=False,
    )
    return p.returncode == 0 and "Verification: OK" in p.stdout, p.stdout + p.stderr


def fetch(tsa: LocalTSA, message: bytes = MESSAGE) -> TsaToken:
    return request_timestamp(tsa.url, message, timeout=30)


@pytest.fixture(scope="module")
def good(tsa: LocalTSA) -> TsaToken:
    return fetch(tsa)


# --- well-behaved TSAs ---------------------------------------------------------------------


def test_good_token_verifies_with_ours_and_with_openssl(
    tsa: LocalTSA, good: TsaToken, tmp_path: Path
) -> None:
    verdict = ts.verify_timestamp(good.token, MESSAGE, [tsa.ca_cert_pem], nonce=good.nonce,
                                  policy_oid=POLICY)
    assert verdict.verifier == ts.VERIFIER_STRICT
    assert verdict.message_imprint == hashlib.sha256(MESSAGE).hexdigest()
    assert verdict.hash_algorithm == "sha256"
    assert verdict.nonce == good.nonce
    assert verdict.policy == POLICY
    assert verdict.gen_time.utcoffset() is not None and verdict.gen_time.utcoffset().seconds == 0
    assert verdict.signer_subject == "CN=Evidence Test TSA"
    assert verdict.signer_issuer == "CN=Evidence Test Root CA"
    assert verdict.tsa_name == "CN=Evidence Test TSA"
    assert verdict.checks == ("der", "parse", "hash_algorithm", "message_imprint", "nonce",
                              "policy", "tsa_eku", "validity_at_gen_time", "signature_and_chain")
    ok, out = openssl_verify(good.token, MESSAGE, tsa.ca_pem_path, tmp_path)
    assert ok, out


def test_client_returns_token_and_its_certificates(tsa: LocalTSA, good: TsaToken) -> None:
    assert good.url == tsa.url
    assert good.verdict is None  # no trust anchors given: transport only
    assert tsa.tsa_cert_pem is not None
    from cryptography import x509

    tsa_cert = x509.load_pem_x509_certificate(tsa.tsa_cert_pem)
    assert [x509.load_der_x509_certificate(c) for c in good.certificates] == [tsa_cert]


def test_client_verifies_when_given_trust_anchors(tsa: LocalTSA) -> None:
    got = request_timestamp(tsa.url, b"other message", trusted_ca_pems=[tsa.ca_cert_pem],
                            policy_oid=POLICY, timeout=30)
    assert got.verdict is not None and got.verdict.nonce == got.nonce


def test_two_tokens_have_distinct_serials_and_nonces(tsa: LocalTSA, good: TsaToken) -> None:
    other = fetch(tsa)
    a = ts.verify_timestamp(good.token, MESSAGE, [tsa.ca_cert_pem])
    b = ts.verify_timestamp(other.token, MESSAGE, [tsa.ca_cert_pem])
    assert a.serial_number != b.serial_number
    assert good.nonce != other.nonce


def test_quirky_certificate_order_uses_the_documented_fallback(
    tsa: LocalTSA, tsa_variant: TsaVariant, tmp_path: Path
) -> None:
    quirky = tsa_variant("quirky")
    got = fetch(quirky)
    # the quirk is really there: strict rfc3161-client refuses the token as received
    with pytest.raises(ValueError, match="InvalidSetOrdering"):
        rfc3161_client.decode_timestamp_response(
            der.encode_tlv(0x30, bytes.fromhex("3003020100") + got.token))
    assert len(got.certificates) == 3
    assert list(got.certificates) != der.set_of_order(list(got.certificates))

    verdict = ts.verify_timestamp(got.token, MESSAGE, [tsa.ca_cert_pem], nonce=got.nonce)
    assert verdict.verifier == ts.VERIFIER_RESORTED
    assert verdict.signer_issuer == "CN=Evidence Test Intermediate CA"  # chain from the token
    ok, out = openssl_verify(got.token, MESSAGE, quirky.ca_pem_path, tmp_path)  # original bytes
    assert ok, out
    # the fallback's failures are still failures
    with pytest.raises(ts.ImprintMismatch):
        ts.verify_timestamp(got.token, b"not the message", [tsa.ca_cert_pem])
    with pytest.raises(ts.NonceMismatch):
        ts.verify_timestamp(got.token, MESSAGE, [tsa.ca_cert_pem], nonce=got.nonce + 1)


def test_resorting_only_permutes_the_certificate_set(tsa_variant: TsaVariant) -> None:
    token = fetch(tsa_variant("quirky")).token
    fixed = ts.resort_certificates(token)
    assert fixed is not None and len(fixed) == len(token) and fixed != token
    # the SET's elements lie side by side in the token: only they move, into DER order
    certs = ts.token_certificates(token)
    start = token.index(certs[0])
    end = start + sum(map(len, certs))
    assert token[start:end] == b"".join(certs)
    assert fixed[:start] == token[:start] and fixed[end:] == token[end:]
    assert fixed[start:end] == b"".join(der.set_of_order(certs))
    assert ts.token_certificates(fixed) == der.set_of_order(certs)
    assert ts.resort_certificates(fixed) is None  # idempotent: already in DER order


def test_good_token_is_not_rewritten(good: TsaToken) -> None:
    assert ts.resort_certificates(good.token) is None


# --- refusals, each for its own reason ---------------------------------------------------------


def test_wrong_nonce(tsa: LocalTSA, good: TsaToken) -> None:
    with pytest.raises(ts.NonceMismatch, match="nonce"):
        ts.verify_timestamp(good.token, MESSAGE, [tsa.ca_cert_pem], nonce=good.nonce ^ 1)


def test_wrong_imprint(tsa: LocalTSA, good: TsaToken, tmp_path: Path) -> None:
    with pytest.raises(ts.ImprintMismatch):
        ts.verify_timestamp(good.token, MESSAGE + b"x", [tsa.ca_cert_pem])
    ok, _ = openssl_verify(good.token, MESSAGE + b"x", tsa.ca_pem_path, tmp_path)
    assert not ok


def test_wrong_policy(tsa: LocalTSA, good: TsaToken) -> None:
    with pytest.raises(ts.PolicyMismatch):
        ts.verify_timestamp(good.token, MESSAGE, [tsa.ca_cert_pem], policy_oid="1.2.3.4.5.6")


@pytest.mark.parametrize("variant,reason", [
    ("no-eku", "no extendedKeyUsage"),
    ("noncritical-eku", "not critical"),
])
def test_tsa_certificate_without_critical_timestamping_eku(
    tsa: LocalTSA, tsa_variant: TsaVariant, tmp_path: Path, variant: str, reason: str
) -> None:
    got = fetch(tsa_variant(variant))
    with pytest.raises(ts.MissingTimestampingEKU, match=reason):
        ts.verify_timestamp(got.token, MESSAGE, [tsa.ca_cert_pem], nonce=got.nonce)
    ok, _ = openssl_verify(got.token, MESSAGE, tsa.ca_pem_path, tmp_path)
    assert not ok


def test_untrusted_ca(tsa: LocalTSA, tsa_variant: TsaVariant, tmp_path: Path) -> None:
    untrusted = tsa_variant("untrusted")
    got = fetch(untrusted)
    with pytest.raises(ts.UntrustedTimestampChain, match="unable to get local issuer"):
        ts.verify_timestamp(got.token, MESSAGE, [tsa.ca_cert_pem])
    # the token itself is sound: only the trust decision differs
    ts.verify_timestamp(got.token, MESSAGE, [untrusted.ca_cert_pem])
    assert not openssl_verify(got.token, MESSAGE, tsa.ca_pem_path, tmp_path)[0]


def test_expired_tsa_certificate(tsa: LocalTSA, tsa_variant: TsaVariant, tmp_path: Path) -> None:
    got = fetch(tsa_variant("expired"))
    with pytest.raises(ts.TsaCertificateExpired, match="not valid at genTime"):
        ts.verify_timestamp(got.token, MESSAGE, [tsa.ca_cert_pem])
    assert issubclass(ts.TsaCertificateExpired, ts.UntrustedTimestampChain)
    assert not openssl_verify(got.token, MESSAGE, tsa.ca_pem_path, tmp_path)[0]


def test_not_granted_status_carries_the_tsa_text(tsa_variant: TsaVariant) -> None:
    with pytest.raises(ts.TimestampNotGranted) as caught:
        fetch(tsa_variant("reject"))
    assert caught.value.status == 2
    assert "not supported" in caught.value.status_text
    assert caught.value.fail_info == ("badAlg",)
    assert "rejection" in str(caught.value)


def test_garbage_reply(tsa_variant: TsaVariant) -> None:
    with pytest.raises(ts.MalformedTimestamp):
        fetch(tsa_variant("garbage"))


def test_truncated_der(tsa: LocalTSA, good: TsaToken) -> None:
    for cut in (1, 2, 10, len(good.token) // 2, len(good.token) - 1):
        with pytest.raises(ts.MalformedTimestamp):
            ts.verify_timestamp(good.token[:cut], MESSAGE, [tsa.ca_cert_pem])
    with pytest.raises(ts.MalformedTimestamp):
        ts.verify_timestamp(good.token + b"\x00", MESSAGE, [tsa.ca_cert_pem])
    reply = ts.der.encode_tlv(0x30, bytes.fromhex("3003020100") + good.token)
    assert ts.parse_response(reply) == good.token
    for cut in (0, 5, len(reply) - 1):
        with pytest.raises(ts.MalformedTimestamp):
            ts.parse_response(reply[:cut])


def test_altered_signature_or_content(tsa: LocalTSA, good: TsaToken) -> None:
    sig_byte = len(good.token) - 3  # inside the SignerInfo signature value, the last field
    altered = bytearray(good.token)
    altered[sig_byte] ^= 0x01
    with pytest.raises(ts.TimestampSignatureInvalid):
        ts.verify_timestamp(bytes(altered), MESSAGE, [tsa.ca_cert_pem])


def test_no_trust_anchor_is_a_caller_error(good: TsaToken) -> None:
    with pytest.raises(ValueError, match="no trusted CA"):
        ts.verify_timestamp(good.token, MESSAGE, [])


def test_every_error_is_a_verification_error() -> None:
    from evidence.verify.errors import VerificationError

    for cls in (ts.MalformedTimestamp, ts.TimestampNotGranted, ts.ImprintMismatch,
                ts.NonceMismatch, ts.PolicyMismatch, ts.MissingTimestampingEKU,
                ts.UntrustedTimestampChain, ts.TsaCertificateExpired,
                ts.TimestampSignatureInvalid, ts.UnsupportedHashAlgorithm):
        assert issubclass(cls, ts.TimestampError)
    assert issubclass(ts.TimestampError, VerificationError)


def test_build_request_is_sha256_with_nonce_and_cert_req(tmp_path: Path) -> None:
    """The query read back by `openssl ts -query -text` (rfc3161-client has no public
    reader of requests)."""
    query = ts.build_request(MESSAGE)
    path = tmp_path / "query.der"
    path.write_bytes(query.der)
    text = subprocess.run(["openssl", "ts", "-query", "-in", str(path), "-text"],
                          capture_output=True, text=True, check=True).stdout
    fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    assert fields["Version"] == "1"
    assert fields["Hash Algorithm"] == "sha256"
    assert fields["Policy OID"] == "unspecified"
    assert int(fields["Nonce"], 16) == query.nonce
    assert fields["Certificate required"] == "yes"
    dump = re.findall(r"^\s+[0-9a-f]{4} - ([0-9a-f -]{47})", text, re.M)
    assert bytes.fromhex("".join(dump).replace("-", " ")) == hashlib.sha256(MESSAGE).digest()
    assert ts.build_request(MESSAGE).nonce != query.nonce


# --- the HTTP client against misbehaving servers ---------------------------------------------


def test_client_times_out_on_a_hanging_tsa(tsa_variant: TsaVariant) -> None:
    with pytest.raises(TsaTimeout):
        request_timestamp(tsa_variant("slow").url, MESSAGE, timeout=0.5)


def test_client_http_error(tsa_variant: TsaVariant) -> None:
    with pytest.raises(TsaHttpError, match="500"):
        fetch(tsa_variant("http-error"))


def test_client_caps_reply_size(tsa_variant: TsaVariant) -> None:
    with pytest.raises(TsaReplyTooLarge):
        request_timestamp(tsa_variant("huge").url, MESSAGE, timeout=30)


def test_client_refuses_non_http_urls() -> None:
    with pytest.raises(TsaClientError, match="http or https"):
        request_timestamp("file:///etc/passwd", MESSAGE)


def test_client_unreachable_tsa() -> None:
    port = free_ports(1)[0]
    with pytest.raises(TsaClientError):
        request_timestamp(f"http://127.0.0.1:{port}/", MESSAGE, timeout=5)


# --- fuzzing: hostile bytes never crash differently and never pass ---------------------------

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes_never_pass(tsa: LocalTSA, data: bytes) -> None:
    with pytest.raises(ts.TimestampError):
        ts.parse_response(data)
    with pytest.raises(ts.TimestampError):
        ts.verify_timestamp(data, MESSAGE, [tsa.ca_cert_pem])
    with contextlib.suppress(ts.MalformedTimestamp):
        ts.token_certificates(data)


@FUZZ
@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
@given(st.data())
def test_fuzz_bit_flips_in_a_real_token(tsa: LocalTSA, good: TsaToken, data: st.DataObject
                                        ) -> None:
    """A flipped bit either fails with a TimestampError or lands in a part that the signature
    does not cover (e.g. SignedData.version) and then changes nothing that was attested."""
    original = ts.verify_timestamp(good.token, MESSAGE, [tsa.ca_cert_pem])
    flips = data.draw(st.lists(st.integers(0, len(good.token) * 8 - 1), min_size=1, max_size=3))
    token = bytearray(good.token)
    for bit in flips:
        token[bit // 8] ^= 0x80 >> (bit % 8)
    try:
        verdict = ts.verify_timestamp(bytes(token), MESSAGE, [tsa.ca_cert_pem])
    except ts.TimestampError:
        return
    assert (verdict.gen_time, verdict.serial_number, verdict.message_imprint, verdict.nonce,
            verdict.policy, verdict.signer_subject) == (
            original.gen_time, original.serial_number, original.message_imprint,
            original.nonce, original.policy, original.signer_subject)


@FUZZ
@given(st.data())
def test_fuzz_bit_flips_in_a_real_reply(good: TsaToken, data: st.DataObject) -> None:
    reply = ts.der.encode_tlv(0x30, bytes.fromhex("3003020100") + good.token)
    bit = data.draw(st.integers(0, len(reply) * 8 - 1))
    mutated = bytearray(reply)
    mutated[bit // 8] ^= 0x80 >> (bit % 8)
    try:
        token = ts.parse_response(bytes(mutated))
    except ts.TimestampError:
        return
    assert isinstance(token, bytes)


@FUZZ
@given(st.binary(max_size=64))
def test_fuzz_der_reader(data: bytes) -> None:
    try:
        tlv = der.read_tlv(data, 0)
    except der.DerError:
        return
    assert 0 <= tlv.start < tlv.value_start <= tlv.end <= len(data)
    assert der.encode_tlv(tlv.tag, data[tlv.value_start : tlv.end]) == data[: tlv.end]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
@pytest.mark.parametrize("variant", ["good", "quirky"])
def test_a_flip_at_every_byte(tsa: LocalTSA, tsa_variant: TsaVariant, variant: str) -> None:
    """Every byte of one real token, its lowest and highest bit flipped in turn (all eight bits
    ran once, 4x slower, same outcome): each flip fails with a TimestampError, or lands where
    the signature does not reach (SignedData/SignerInfo version, the SignerInfo's
    signatureAlgorithm OID that OpenSSL does not bind, the token's copy of the root CA, which
    the pinned root replaces) and changes no attested claim."""
    token = fetch(tsa_variant(variant)).token
    original = ts.verify_timestamp(token, MESSAGE, [tsa.ca_cert_pem])
    claims = (original.gen_time, original.serial_number, original.message_imprint,
              original.nonce, original.policy, original.signer_subject)
    for offset in range(len(token)):
        for mask in (0x01, 0x80):
            mutated = bytearray(token)
            mutated[offset] ^= mask
            try:
                v = ts.verify_timestamp(bytes(mutated), MESSAGE, [tsa.ca_cert_pem])
            except ts.TimestampError:
                continue
            assert (v.gen_time, v.serial_number, v.message_imprint, v.nonce, v.policy,
                    v.signer_subject) == claims, f"byte {offset} ^ {mask:#x} changed a claim"
