"""The hash rules of the ledger, in one place (DESIGN.md, "Hash rules").

SHA-256 everywhere. A Merkle leaf is ``SHA-256(0x00 || entry_bytes)`` and an
interior node ``SHA-256(0x01 || left || right)`` (RFC 9162 section 2.1.1). The
0x00/0x01 prefixes are domain separation: without them a leaf could be passed
off as an interior node and proofs could be forged. Changing anything here
orphans every item ever preserved, so nothing else in the code base may hash
leaves or nodes on its own. (One speed path inlines :func:`node_hash`:
``evidence/verify/fast/inclusion_batch.py``, held to it by
``tests/equivalence/test_inclusion_batch.py``.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import NewType, cast

from evidence.verify.errors import MalformedInput

HASH_SIZE = 32

Hash32 = NewType("Hash32", bytes)
"""Exactly 32 bytes of SHA-256 output. Build one with :func:`hash32`."""

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"

EMPTY_ROOT: Hash32 = Hash32(hashlib.sha256(b"").digest())
"""Root of the empty tree: SHA-256 of the empty string (RFC 9162 section 2.1.1)."""

ZERO_HASH_HEX = "0" * 64
"""The ``prev`` of entry 0: there is no entry before it."""


def hash32(value: bytes, what: str = "hash") -> Hash32:
    """Check that *value* is a 32-byte hash and type it as one.

    Used at every boundary where bytes from outside (a proof, a JSON file, a
    database row) become a hash, so that a short or long value fails loudly
    instead of silently hashing to something else.
    """
    if not isinstance(value, bytes | bytearray):
        raise MalformedInput(f"{what} must be bytes, not {type(value).__name__}")
    if len(value) != HASH_SIZE:
        raise MalformedInput(f"{what} must be {HASH_SIZE} bytes, got {len(value)}")
    return Hash32(bytes(value))


def hash_from_hex(text: str, what: str = "hash") -> Hash32:
    """Parse a lowercase (or uppercase) hex SHA-256 string into a :data:`Hash32`."""
    if not isinstance(text, str) or len(text) != 2 * HASH_SIZE:
        raise MalformedInput(f"{what} must be {2 * HASH_SIZE} hex digits")
    try:
        return Hash32(bytes.fromhex(text))
    except ValueError:
        raise MalformedInput(f"{what} is not hexadecimal: {text[:70]!r}") from None


def sha256(data: bytes) -> Hash32:
    """Plain SHA-256 of *data* (file contents, checkpoint text, commitments)."""
    return Hash32(hashlib.sha256(data).digest())


def leaf_hash(entry_bytes: bytes) -> Hash32:
    """RFC 9162 leaf hash of one ledger entry's exact bytes."""
    return Hash32(hashlib.sha256(LEAF_PREFIX + entry_bytes).digest())


def leaf_hashes(entries: Iterable[bytes]) -> list[Hash32]:
    """``[leaf_hash(e) for e in entries]``: the same prefix and the same SHA-256, in one
    comprehension without a call per entry, for bulk checks of large logs. Held equal to
    :func:`leaf_hash` through ``quick_entries`` in ``tests/equivalence/test_entries.py``."""
    sha, prefix = hashlib.sha256, LEAF_PREFIX
    return cast(list[Hash32], [sha(prefix + e).digest() for e in entries])


def node_hashes(lefts: Iterable[bytes], rights: Iterable[bytes]) -> list[Hash32]:
    """:func:`node_hash` of each pair (to the shorter of the two): a level of a tree."""
    sha, prefix = hashlib.sha256, NODE_PREFIX
    return cast(list[Hash32], [sha(prefix + a + b).digest()
                               for a, b in zip(lefts, rights, strict=False)])


def node_hash(left: bytes, right: bytes) -> Hash32:
    """RFC 9162 interior node hash of two child hashes."""
    return Hash32(hashlib.sha256(NODE_PREFIX + left + right).digest())
