"""RFC 3161 time-stamping authorities as anchors, and the offline re-verification of a stored
token (for bundle export and verification).

The message time-stamped is the checkpoint's note text (without signatures); the token is
verified strictly by :func:`evidence.verify.timestamp.verify_timestamp` with the request's
nonce pinned, against this TSA's pinned CA(s) and optional policy, *before* it is returned.
The token is kept exactly as received; ``certs`` holds the certificates the token carries
followed by the pinned root(s), DER, so that a bundle carries the whole chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from evidence.ledger.anchor.base import (
    AnchorContext,
    AnchorFailed,
    AnchorProof,
    AnchorResult,
    CheckpointToAnchor,
    StoredAnchor,
)
from evidence.ledger.anchor.tsa_client import (
    DEFAULT_MAX_REPLY_BYTES,
    TsaClientError,
    request_timestamp,
)
from evidence.verify.checkpoint import parse_checkpoint
from evidence.verify.errors import VerificationError
from evidence.verify.note import parse_note
from evidence.verify.timestamp import TimestampError, TimestampVerdict, verify_timestamp

__all__ = ["TsaAnchor", "describe_failure", "verify_tsa_token"]


def describe_failure(exc: BaseException) -> str:
    """``"ClassName: message"``: the class names the check that failed (NonceMismatch,
    TsaTimeout, MissingTimestampingEKU...), the message the detail."""
    return f"{type(exc).__name__}: {exc}"


def _ca_ders(pems: Sequence[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for pem in pems:
        for cert in x509.load_pem_x509_certificates(pem):
            d = cert.public_bytes(Encoding.DER)
            if d not in out:
                out.append(d)
    return out


class TsaAnchor:
    """One configured TSA."""

    kind = "tsa"

    def __init__(self, name: str, url: str, ca_pems: Sequence[bytes], *,
                 policy: str | None = None, timeout: float = 10.0,
                 max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES) -> None:
        if not ca_pems:
            raise ValueError(f"TSA {name}: no pinned CA")
        self.name = name
        self.url = url
        self.ca_pems = list(ca_pems)
        self.policy = policy
        self.timeout = timeout
        self.max_reply_bytes = max_reply_bytes
        self._ca_ders = _ca_ders(self.ca_pems)

    def anchor(self, checkpoint: CheckpointToAnchor, context: AnchorContext) -> AnchorResult:
        try:
            tok = request_timestamp(self.url, checkpoint.text.encode("utf-8"),
                                    trusted_ca_pems=self.ca_pems, policy_oid=self.policy,
                                    timeout=self.timeout, max_reply_bytes=self.max_reply_bytes)
        except (TsaClientError, TimestampError) as e:
            raise AnchorFailed(describe_failure(e)) from e
        v = tok.verdict
        if v is None:  # request_timestamp verifies when given trust anchors; never store unverified
            raise AnchorFailed("internal: the token was not verified")
        certs = list(tok.certificates)
        certs += [c for c in self._ca_ders if c not in certs]
        return AnchorResult(
            proof_time=v.gen_time, token=tok.token, certs=tuple(certs), gen_time=v.gen_time,
            serial=v.serial_number, policy=v.policy, verifier=v.verifier,
            details={"nonce": str(tok.nonce), "tsa_name": v.tsa_name,
                     "signer_subject": v.signer_subject, "message_imprint": v.message_imprint})

    def verify(self, stored: StoredAnchor, checkpoint_note: str) -> AnchorProof:
        if stored.token is None:
            raise AnchorFailed(f"{stored.source}: no token stored for size "
                               f"{stored.checkpoint_size} (status {stored.status})")
        proof, _ = verify_tsa_token(stored.token, checkpoint_note, self.ca_pems,
                                    tsa=self.name, policy_oid=self.policy,
                                    expected_size=stored.checkpoint_size)
        return proof


def verify_tsa_token(token: bytes, checkpoint_note: str, trusted_ca_pems: Sequence[bytes], *,
                     tsa: str, policy_oid: str | None = None,
                     expected_size: int | None = None) -> tuple[AnchorProof, TimestampVerdict]:
    """Re-verify a stored TSA token offline against pinned CA PEMs.

    ``checkpoint_note`` may be the signed note or its bare text: the imprint is over the text.
    The log's signature on the note is *not* checked here (that needs the pinned log key: the
    bundle verifier does it); this says what the token adds: the time. Raises
    :class:`AnchorFailed` naming the failed check.
    """
    try:
        text = parse_note(checkpoint_note).text if "\n\n" in checkpoint_note else checkpoint_note
        cp = parse_checkpoint(text)
    except VerificationError as e:
        raise AnchorFailed(f"not a checkpoint: {e}") from e
    if expected_size is not None and cp.size != expected_size:
        raise AnchorFailed(f"the checkpoint is of size {cp.size}, the anchor is for "
                           f"{expected_size}")
    try:
        v = verify_timestamp(token, text.encode("utf-8"), list(trusted_ca_pems),
                             policy_oid=policy_oid)
    except (TimestampError, ValueError) as e:
        raise AnchorFailed(describe_failure(e)) from e
    proof = AnchorProof(
        source=tsa, kind="tsa", checkpoint_size=cp.size, proof_time=v.gen_time,
        statement=(f"checkpoint of size {cp.size} of log {cp.origin} existed no later than "
                   f"{_iso(v.gen_time)} per TSA {tsa} ({v.signer_subject}, token serial "
                   f"{v.serial_number})"),
        verifier=v.verifier, checks=v.checks)
    return proof, v


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if not t.microsecond else t.isoformat()
