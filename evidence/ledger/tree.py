"""The stored tree: which nodes an append writes, and the right edge read back.

Only perfect subtrees are stored (``nodes``: ``(level, idx, hash)``, level >= 1; the
leaves are the entries' leaf hashes), so an append writes the subtree roots it completes
(about one node row per entry) and never rewrites a node. The planning of which stored
nodes a root or proof needs is :mod:`evidence.verify.merkle`'s; this module holds the
writer's side of it: :func:`extend_edge` (the nodes a batch completes) and
:func:`load_edge` (the right edge of the committed tree, from the stored nodes).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from evidence.ledger.db.log_queries import fetch_nodes
from evidence.ledger.errors import LedgerError
from evidence.verify.hashing import node_hash
from evidence.verify.merkle import root_plan

__all__ = ["extend_edge", "load_edge"]


def extend_edge(edge: list[bytes], size: int, leaves: Sequence[bytes],
                node_rows: list[tuple[int, int, bytes]]) -> None:
    """Append ``leaves`` to the right edge ``edge`` (in place) of a tree of ``size``
    leaves, adding a ``(level, idx, hash)`` row for each perfect subtree (level >= 1)
    that they complete: the stored ``nodes`` rows.

    ``edge`` holds one hash per set bit of ``size``, largest subtree first (the hashes
    of :func:`~evidence.verify.merkle.root_plan`). The same merge as
    :meth:`CompactRange.append` (a test holds the two equal), without building a
    ``NodeId`` and a list per leaf, which cost more than the hashing.
    """
    pop, push, add = edge.pop, edge.append, node_rows.append
    for h in leaves:
        index, level = size, 0
        while index & 1:
            h = node_hash(pop(), h)
            index >>= 1
            level += 1
            add((level, index, h))
        push(h)
        size += 1


def load_edge(conn: Connection, size: int) -> list[bytes]:
    """The right edge of the stored tree of ``size`` leaves (the hashes of
    :func:`~evidence.verify.merkle.root_plan`, as :func:`extend_edge` takes it), read in
    one query; O(log n) rows. A missing node is a broken ledger, said so."""
    plan = root_plan(size)
    found = fetch_nodes(conn, plan) if plan else {}
    try:
        return [found[n] for n in plan]
    except KeyError as e:
        raise LedgerError(f"stored tree is missing node {e} of size {size}; "
                          "run `evidence audit`") from None
