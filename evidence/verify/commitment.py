"""Salted commitments to descriptive metadata.

The ledger holds ``SHA-256(salt || JCS(metadata))`` instead of the metadata, so
that anyone can audit the whole ledger without learning what the evidence says,
while the holder of the salt and metadata (a court given the bundle) can open
the commitment. The salt is 32 random bytes, kept off-ledger; without it the
commitment cannot be brute-forced from guessed metadata.
"""

from __future__ import annotations

import hmac
import json
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
    """JCS of a metadata object: full RFC 8785 (``rfc8785``), by a shortcut when it is safe.

    Unlike ledger entries, metadata may hold floats (GPS coordinates from EXIF),
    so the entries' house rules do not apply here. These are the bytes kept
    off-ledger beside the salt.

    The shortcut: for data made only of dicts, lists, strings, safe integers,
    booleans and null, with keys in the Basic Multilingual Plane, the standard
    library's compact sorted JSON is byte for byte RFC 8785 (same escapes, same
    key order) and ~10 times faster. Anything else (floats, big integers, other
    types, keys whose UTF-16 order may differ from Python's) takes ``rfc8785``.
    ``tests/test_commitment_fast.py`` holds the two equal.
    """
    obj = dict(metadata)
    if _plain(obj):
        try:
            return json.dumps(obj, ensure_ascii=False, separators=(",", ":"),
                              sort_keys=True, allow_nan=False).encode("utf-8")
        except (UnicodeEncodeError, ValueError, TypeError):
            pass  # e.g. a lone surrogate: let rfc8785 say what is wrong
    try:
        return rfc8785.dumps(obj)
    except rfc8785.CanonicalizationError as e:
        raise MalformedInput(f"metadata cannot be canonicalised: {e}") from None


_SAFE_INT = 2**53 - 1  # RFC 8785 numbers are IEEE doubles


def _plain(value: Any) -> bool:
    """Whether ``json.dumps`` encodes ``value`` exactly as RFC 8785 does (see above)."""
    t = type(value)
    if t is str or t is bool or value is None:
        return True
    if t is int:
        return -_SAFE_INT <= value <= _SAFE_INT
    if t is dict:
        for k, v in value.items():
            # Python sorts keys by code point, RFC 8785 by UTF-16 code unit: the same
            # order unless a key has a character past U+FFFF (a surrogate pair in UTF-16).
            if type(k) is not str or not (k.isascii() or max(k) < "\U00010000") \
                    or not (type(v) is str or _plain(v)):
                return False
        return True
    if t is list or t is tuple:
        for v in value:  # noqa: SIM110 (a loop, not all(...): this runs for every item)
            if not (type(v) is str or _plain(v)):
                return False
        return True
    return False


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
    got = metadata_commitment(salt, metadata).hex()
    if not hmac.compare_digest(got, commitment_hex):
        raise CommitmentMismatch("metadata and salt do not match the commitment in the ledger")
