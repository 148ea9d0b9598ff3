"""The submitter's own signature on an ``evidence.submitted`` entry.

A rights holder may sign its submission with its own Ed25519 key (``evidence
keygen``), so that the entry proves *who* submitted it, independently of the
operator. What is signed is the text of a C2SP signed note::

    evidence.submission/v1
    <evidence_id>
    <metadata_commitment, hex>
    <hex SHA-256 of JCS(files)>

(each line ending in ``\\n``; ``files`` is the entry body's ``files`` list exactly).
The first line separates domains: the text can never be read as a checkpoint
(whose first line is the origin, the key's own name) or as a receipt. The entry
body carries ``"submitter": {"key": <verifier key>, "signature": <base64 of the
64-byte Ed25519 signature over the text>}``. Anyone can rebuild the signed note
(text, a blank line, ``— <key name> base64(key id || signature)``) and check it
with Go's ``note.Open`` as well.

Pure: no I/O. :func:`verify_submission` raises; it never returns a bool to forget.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from typing import Any

from evidence.verify.entry import canonical_json
from evidence.verify.errors import BadKey, InvalidSignature, MalformedInput, VerificationError
from evidence.verify.hashing import sha256
from evidence.verify.note import ALG_ED25519, Signer, Verifier, parse_verifier_key

SUBMISSION_HEADER = "evidence.submission/v1"

_EVIDENCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
_HEX64 = re.compile(r"[0-9a-f]{64}")


class SubmissionSignatureError(VerificationError):
    """The submitter signature is missing where required, malformed, by another key than
    expected, or does not sign this entry's evidence id, commitment and files."""


def files_digest(files: Sequence[Mapping[str, Any]]) -> str:
    """Hex SHA-256 of the JCS encoding of the body's ``files`` list."""
    return sha256(canonical_json([dict(f) for f in files])).hex()


def submission_text(evidence_id: str, metadata_commitment: str,
                    files: Sequence[Mapping[str, Any]]) -> str:
    """The text the submitter signs (see the module docstring)."""
    if not isinstance(evidence_id, str) or not _EVIDENCE_ID.fullmatch(evidence_id):
        raise MalformedInput(f"evidence id {evidence_id!r} is not a plain identifier")
    if not isinstance(metadata_commitment, str) or not _HEX64.fullmatch(metadata_commitment):
        raise MalformedInput("metadata commitment must be 64 lowercase hex digits")
    return (f"{SUBMISSION_HEADER}\n{evidence_id}\n{metadata_commitment}\n"
            f"{files_digest(files)}\n")


def sign_submission(evidence_id: str, metadata_commitment: str,
                    files: Sequence[Mapping[str, Any]], signer: Signer) -> dict[str, str]:
    """The body's ``submitter`` object: ``{"key": verifier key, "signature": base64}``."""
    if signer.alg != ALG_ED25519:
        raise BadKey("a submitter key must be a plain Ed25519 key (not a witness key)")
    text = submission_text(evidence_id, metadata_commitment, files).encode()
    return {"key": signer.verifier().to_string(),
            "signature": base64.b64encode(signer.signature(text)).decode("ascii")}


def verify_submission(body: Mapping[str, Any], *, expected_key: str | Verifier | None = None,
                      required: bool = False) -> Verifier | None:
    """Check the ``submitter`` signature of an ``evidence.submitted`` body.

    Returns the submitter's verifier (the key that signed), or None for an unsigned
    body (allowed unless ``required`` or ``expected_key``). Raises
    :class:`SubmissionSignatureError` if the signature is malformed, does not verify,
    or is by another key than ``expected_key``.
    """
    sub = body.get("submitter")
    if sub is None:
        if required or expected_key is not None:
            raise SubmissionSignatureError("the submission is not signed by its submitter")
        return None
    if not isinstance(sub, Mapping) or set(sub) != {"key", "signature"} \
            or not all(isinstance(sub[k], str) for k in ("key", "signature")):
        raise SubmissionSignatureError('"submitter" must be {"key": str, "signature": str}')
    try:
        verifier = parse_verifier_key(sub["key"])
    except (BadKey, MalformedInput, ValueError) as e:
        raise SubmissionSignatureError(f"submitter key is not a verifier key: {e}") from None
    if verifier.alg != ALG_ED25519:
        raise SubmissionSignatureError("submitter key is not a plain Ed25519 key")
    if expected_key is not None:
        want = parse_verifier_key(expected_key) if isinstance(expected_key, str) else expected_key
        if want.to_string() != verifier.to_string():
            raise SubmissionSignatureError(
                f"signed by {verifier.name}+{verifier.key_id:08x}, not by the expected key "
                f"{want.name}+{want.key_id:08x}")
    try:
        sig = base64.b64decode(sub["signature"].encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise SubmissionSignatureError("submitter signature is not base64") from None
    if len(sig) != 64:
        raise SubmissionSignatureError("submitter signature is not 64 bytes")
    try:
        text = submission_text(body.get("evidence_id"), body.get("metadata_commitment"),  # type: ignore[arg-type]
                               body.get("files") or [])
    except (MalformedInput, TypeError, ValueError) as e:
        raise SubmissionSignatureError(f"the body cannot have been signed: {e}") from None
    try:
        verifier.verify(text.encode(), sig)
    except InvalidSignature:
        raise SubmissionSignatureError(
            f"the signature by {verifier.name}+{verifier.key_id:08x} does not sign this "
            "evidence id, metadata commitment and file list") from None
    return verifier
