"""A whole log: the one check of a sequence of entries, chain and tree together.

Each entry parses (:func:`~evidence.verify.entry.parse_entry`), ``seq`` counts up
from 0 without gaps, ``prev`` is the leaf hash of the entry before, times never go
back, and the RFC 9162 tree over the entries has the root each signed checkpoint
states at its size. The ledger's audit runs this check; so can anyone holding an
export of the entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from evidence.verify.entry import parse_entry
from evidence.verify.errors import EntryError
from evidence.verify.hashing import ZERO_HASH_HEX, Hash32
from evidence.verify.merkle import CompactRange


class LogBroken(EntryError):
    """The first entry at which a sequence of entries stops being a valid log."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"entry {index}: {reason}")
        self.index = index
        self.reason = reason


@dataclass(frozen=True)
class LogSummary:
    size: int
    root: Hash32
    last_leaf_hash: str
    roots_checked: tuple[int, ...]


@dataclass(frozen=True)
class LogPosition:
    """A point up to which a log was checked: the next entry is ``size``."""

    size: int
    prev: str
    """Leaf hash (hex) of entry ``size - 1``: the next entry's ``prev``."""
    time: str
    """Time of entry ``size - 1`` ("" for none)."""
    edge: tuple[bytes, ...]
    """The tree's perfect subtrees at ``size``, largest first (see :class:`CompactRange`)."""


def check_entries(
    entries: Iterable[bytes],
    *,
    expected_roots: Mapping[int, bytes] | None = None,
    expected_leaf_hashes: Iterable[bytes] | None = None,
    start: LogPosition | None = None,
) -> LogSummary:
    """Check a log from entry 0: each entry parses, ``seq`` counts up from 0
    without gaps, ``prev`` is the previous leaf hash, times never go back, and
    the RFC 9162 tree over the entries has each root in ``expected_roots``
    (tree size -> root, e.g. from signed checkpoints) at that size.

    ``expected_leaf_hashes``, when given, are stored leaf hashes to compare
    one by one (a ledger keeps them beside the entries).

    ``start``, when given, resumes a check at entry ``start.size`` of a log
    whose entries before it were checked already: ``entries`` (and the stored
    leaf hashes) then begin there, and indexes count from there.

    Raises :class:`LogBroken` naming the first bad index; returns a summary.
    """
    expected_roots = dict(expected_roots or {})
    stored = iter(expected_leaf_hashes) if expected_leaf_hashes is not None else None
    start = start or LogPosition(0, ZERO_HASH_HEX, "", ())
    tree = CompactRange(start.size, start.edge)
    prev, last_time, checked = start.prev, start.time, []
    if 0 in expected_roots and start.size == 0:
        if tree.root() != bytes(expected_roots[0]):
            raise LogBroken(0, "a checkpoint of size 0 has a root other than the empty tree's")
        checked.append(0)
    index = start.size - 1
    for index, data in enumerate(entries, start.size):
        try:
            e = parse_entry(data)
        except EntryError as err:
            raise LogBroken(index, str(err)) from None
        if e.seq != index:
            raise LogBroken(index, f"seq is {e.seq}, expected {index} (gap, swap or duplicate)")
        if e.prev != prev:
            raise LogBroken(index, "prev does not match the leaf hash of the entry before it")
        if e.time < last_time:
            raise LogBroken(index, f"time {e.time} is earlier than the entry before ({last_time})")
        lh = e.leaf_hash
        if stored is not None:
            want = next(stored, None)
            if want is None or bytes(want) != lh:
                raise LogBroken(index, "stored leaf hash does not match the entry bytes")
        tree.append(lh)
        size = index + 1
        if size in expected_roots:
            if tree.root() != bytes(expected_roots[size]):
                raise LogBroken(index, f"tree root at size {size} differs from the checkpoint")
            checked.append(size)
        prev, last_time = lh.hex(), e.time
    size = index + 1
    beyond = sorted(s for s in expected_roots if s > size)
    if beyond:
        raise LogBroken(size, f"a checkpoint claims size {beyond[0]}; the log has {size} entries")
    return LogSummary(size, tree.root(), prev, tuple(checked))
