"""Salted commitments to descriptive metadata.

The ledger holds ``SHA-256(salt || JCS(metadata))`` instead of the metadata, so
that anyone can audit the whole ledger without learning what the evidence says,
while the holder of the salt and metadata (a court given the bundle) can open
the commitment. The salt is 32 random bytes, kept off-ledger; without it the
commitment cannot be brute-forced from guessed metadata.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from typing import Any

import rfc8785

from evidence.verify.errors import MalformedInput, VerificationError
from evidence.verify.hashing import Hash32, sha256

SALT_SIZE = 32


class CommitmentMismatch(VerificationError):
    """The opened metadata and salt do not hash to the commitment in the ledger."""


def new_salt() -> bytes:
    return os.urandom(SALT_SIZE)


def canonical_metadata(metadata: Mapping[str, Any]) -> bytes:
    """RFC 8785 (JCS) bytes of a metadata object, by ``rfc8785``.

    Unlike ledger entries, metadata may hold floats (GPS coordinates from EXIF),
    so the entries' house rules do not apply here. These are the bytes kept
    off-ledger beside the salt.
    """
    try:
        return rfc8785.dumps(dict(metadata))
    except rfc8785.CanonicalizationError as e:
        raise MalformedInput(f"metadata cannot be canonicalised: {e}") from None


def commitment_of(salt: bytes, metadata_jcs: bytes) -> Hash32:
    """``SHA-256(salt || metadata_jcs)`` for bytes already made by :func:`canonical_metadata`."""
    if len(salt) != SALT_SIZE:
        raise ValueError(f"salt must be {SALT_SIZE} bytes")
    return sha256(salt + metadata_jcs)


def metadata_commitment(salt: bytes, metadata: Mapping[str, Any]) -> Hash32:
    """``SHA-256(salt || JCS(metadata))``."""
    return commitment_of(salt, canonical_metadata(metadata))


def verify_commitment(commitment_hex: str, salt: bytes, metadata: Mapping[str, Any]) -> None:
    """Raise :class:`CommitmentMismatch` unless metadata and salt open the commitment."""
    check_opening(commitment_hex, salt, canonical_metadata(metadata))


def check_opening(commitment_hex: str, salt: bytes, metadata_jcs: bytes) -> None:
    """:func:`verify_commitment` for metadata already made canonical."""
    got = commitment_of(salt, metadata_jcs).hex()
    if not hmac.compare_digest(got, commitment_hex):
        raise CommitmentMismatch("metadata and salt do not match the commitment in the ledger")
