"""The ledger's self-audit: recompute everything from the stored entries and
compare with everything stored, naming the first entry where they part.

Checked, streaming (chunked keyset queries, flat memory):

* every entry parses, ``seq`` counts up without gaps, ``prev`` chains, times
  never go back, the stored leaf hash is the hash of the stored bytes
  (:func:`evidence.verify.entry.check_entries`, which this module feeds);
* every stored tree node: the perfect subtrees are recomputed with
  :class:`~evidence.verify.merkle.CompactRange` and compared with the ``nodes``
  table, missing and extra nodes included;
* every checkpoint: its signature with the log key
  (:func:`~evidence.verify.checkpoint.verify_checkpoint`), its stored size and
  root against the signed text, and the signed root against the recomputed
  tree at that size;
* ``log_state`` (size and last leaf hash) against the entries.

A problem is reported at the position where the stored log first stops being
the one the entries define: an entry fault at its ``seq``, a wrong node at the
entry that completed it, a bad checkpoint of size N at entry N-1.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select

from evidence.ledger.db import read_transaction
from evidence.ledger.schema import entries, nodes
from evidence.ledger.store import iter_checkpoints, iter_entries, read_state
from evidence.verify.checkpoint import verify_checkpoint
from evidence.verify.entry import LogBroken, check_entries
from evidence.verify.errors import VerificationError
from evidence.verify.merkle import CompactRange, NodeId
from evidence.verify.note import Verifier

MAX_LEVEL = 64


@dataclass(frozen=True)
class AuditReport:
    ok: bool
    size: int
    """Entries the audit covered (the committed size when it started)."""
    root: str | None
    """Recomputed root at ``size`` (hex) when the audit passed."""
    entries_checked: int
    nodes_checked: int
    checkpoints_checked: int
    first_bad_seq: int | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "size": self.size, "root": self.root,
                "entries_checked": self.entries_checked, "nodes_checked": self.nodes_checked,
                "checkpoints_checked": self.checkpoints_checked,
                "first_bad_seq": self.first_bad_seq, "reason": self.reason}


class _Found(Exception):
    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(reason)
        self.seq, self.reason = seq, reason


def _node_range(level: int, node: NodeId) -> str:
    return f"node (level {level}, index {node.index}) over entries {node.start}..{node.end - 1}"


def audit(engine: Engine, log_key: Verifier, *,
          progress: Callable[[int, int], None] | None = None, chunk: int = 5000) -> AuditReport:
    with read_transaction(engine) as conn:
        state = read_state(conn)
    if state is None:
        return AuditReport(False, 0, None, 0, 0, 0, 0, "log_state row is missing")
    size = state.size
    problems: list[tuple[int, int, str]] = []  # (seq, order, reason): a heap
    order = 0

    def problem(seq: int, reason: str) -> None:
        nonlocal order
        heapq.heappush(problems, (seq, order, reason))
        order += 1

    # --- checkpoints: signatures and stored columns; signed roots go to check_entries
    roots: dict[int, bytes] = {}
    n_cps = 0
    with read_transaction(engine) as conn:
        for cp in iter_checkpoints(conn):
            n_cps += 1
            at = max(cp.size - 1, 0)
            try:
                v = verify_checkpoint(cp.note, log_key)
            except VerificationError as e:
                problem(at, f"checkpoint at size {cp.size}: {e}")
                continue
            if v.checkpoint.size != cp.size:
                problem(at, f"checkpoint stored at size {cp.size} signs size {v.checkpoint.size}")
                continue
            if v.checkpoint.root != cp.root:
                problem(at, f"checkpoint at size {cp.size}: stored root differs from the signed")
            if cp.size > size:
                problem(cp.size, f"checkpoint claims size {cp.size}; the log has {size} entries")
                continue
            roots[cp.size] = v.checkpoint.root

    tree = CompactRange()
    stored_leaves: deque[bytes] = deque()
    counts = {"nodes": 0, "entries": 0}

    def stream() -> Iterator[bytes]:
        pos = 0
        seq = 0
        while seq < size:
            stop = min(size, seq + chunk)
            with read_transaction(engine) as conn:
                rows = list(iter_entries(conn, seq, stop, chunk))
                a, b = pos, pos + len(rows)
                got = _stored_nodes(conn, a, b) if rows else {}
            expected: list[tuple[int, NodeId, bytes]] = []
            for i, row in enumerate(rows):
                for node, h in tree.append(row.leaf_hash)[1:]:
                    expected.append((a + i, node, h))
            for at, node, h in expected:
                have = got.pop(node, None)
                if have is None:
                    problem(at, f"stored tree lacks {_node_range(node.level, node)}")
                elif have != h:
                    problem(at, f"stored {_node_range(node.level, node)} differs from the "
                                "hash recomputed from the entries")
                counts["nodes"] += 1
            for node in sorted(got):
                problem(node.end - 1, f"unexpected stored {_node_range(node.level, node)}")
            for i, row in enumerate(rows):
                if problems and problems[0][0] < a + i:
                    seq_, _, reason = problems[0]
                    raise _Found(seq_, reason)
                stored_leaves.append(row.leaf_hash)
                counts["entries"] = a + i + 1
                yield row.data
            pos = b
            seq = stop
            if progress is not None:
                progress(seq, size)
        if problems and problems[0][0] < pos:
            seq_, _, reason = problems[0]
            raise _Found(seq_, reason)

    def leaves() -> Iterator[bytes]:
        while True:
            yield stored_leaves.popleft()

    def report(seq: int, reason: str) -> AuditReport:
        return AuditReport(False, size, None, counts["entries"], counts["nodes"], n_cps,
                           seq, reason)

    try:
        summary = check_entries(stream(), expected_roots=roots, expected_leaf_hashes=leaves())
    except _Found as f:
        return report(f.seq, f.reason)
    except LogBroken as e:
        return report(e.index, e.reason)
    if problems:
        seq_, _, reason = problems[0]
        return report(seq_, reason)
    if summary.size != size:
        return report(summary.size, f"log_state says {size} entries; the store holds "
                                    f"{summary.size} in order")
    if summary.last_leaf_hash != state.last_leaf_hash.hex() and size > 0:
        return report(size - 1, "log_state's last leaf hash is not the last entry's")
    # --- extras beyond the audited size (re-read: appends may have happened meanwhile)
    with read_transaction(engine) as conn:
        now = read_state(conn)
        end = now.size if now is not None else size
        extra_entries = conn.execute(select(func.min(entries.c.seq))
                                     .where(entries.c.seq >= end)).scalar()
        beyond = or_(nodes.c.level < 1, nodes.c.level > MAX_LEVEL,
                     *[and_(nodes.c.level == lvl, nodes.c.idx >= (end >> lvl))
                       for lvl in range(1, MAX_LEVEL + 1)])
        extra_node = conn.execute(select(nodes.c.level, nodes.c.idx).where(beyond)
                                  .limit(1)).first()
    if extra_entries is not None:
        return report(int(extra_entries), f"entry row {extra_entries} lies beyond the log's "
                                          f"size {end}")
    if extra_node is not None:
        return report(size, f"stored node (level {extra_node.level}, index {extra_node.idx}) "
                            f"lies outside the tree of size {end}")
    return AuditReport(True, size, summary.root.hex(), counts["entries"], counts["nodes"], n_cps)


def _stored_nodes(conn, a: int, b: int) -> dict[NodeId, bytes]:  # type: ignore[no-untyped-def]
    """Stored nodes completed by leaves at positions ``a <= i < b``: at level l those
    with index in ``[a >> l, (b >> l) - 1]``. One query."""
    conds = []
    for lvl in range(1, MAX_LEVEL + 1):
        lo, hi = a >> lvl, (b >> lvl) - 1
        if hi < lo:
            if (b >> lvl) == 0:
                break
            continue
        conds.append(and_(nodes.c.level == lvl, nodes.c.idx >= lo, nodes.c.idx <= hi))
    if not conds:
        return {}
    rows = conn.execute(select(nodes.c.level, nodes.c.idx, nodes.c.hash).where(or_(*conds)))
    return {NodeId(int(r.level), int(r.idx)): bytes(r.hash) for r in rows}
