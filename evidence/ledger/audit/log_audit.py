"""The ledger's self-audit: recompute everything from the stored entries and
compare with everything stored, naming the first entry where they part.

Checked, streaming (chunked keyset queries, flat memory):

* every entry parses, ``seq`` counts up without gaps, ``prev`` chains, times
  never go back, the stored leaf hash is the hash of the stored bytes
  (:func:`evidence.verify.log.check_entries`, which this module feeds);
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

Two passes. The *quick pass* (:mod:`evidence.ledger.audit.spans`) checks the
log in spans of ``span`` entries (a power of two), in worker processes when
there are several cores, and joins them: the chain across span edges, the
nodes above the spans, the checkpoint roots. It finds the first span that is
not clean, or none. The *reference pass* then runs the checks above one entry
at a time from that span's start (or from the end of the log when all spans are
clean: the ``log_state`` and extra-row checks), and names the first bad ``seq``
and the reason. The reference pass alone (from entry 0, ``quick=False``) defines the
verdict; tests hold the two to the same verdicts (``tests/ledger/audit/test_spans.py``).
"""

from __future__ import annotations

import heapq
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select

from evidence.ledger import workers as worker_start
from evidence.ledger.audit.spans import (
    Span,
    Windowed,
    check_stored_checkpoint,
    connect_args,
    key_spec,
    open_worker,
    scan_in_worker,
    scan_span,
)
from evidence.ledger.db.engine import read_transaction
from evidence.ledger.db.log_queries import iter_checkpoints, iter_entries, read_state
from evidence.ledger.db.schema import checkpoints, entries, nodes
from evidence.ledger.sequencer import FROZEN
from evidence.verify.hashing import EMPTY_ROOT, ZERO_HASH_HEX, node_hash
from evidence.verify.log import LogBroken, LogPosition, check_entries
from evidence.verify.merkle import CompactRange, NodeId
from evidence.verify.note import Verifier

MAX_LEVEL = 64
SPAN = 1 << 16
"""Entries per quick-pass span (a power of two): a unit of work for one process."""
PARALLEL_MIN = 200_000
"""Below this many entries, worker processes cost more to start than they save."""
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


def audit(engine: Engine, log_key: Verifier | Windowed, *,
          progress: Callable[[int, int], None] | None = None, chunk: int = 5000,
          workers: int | None = None, span: int = SPAN, quick: bool = True) -> AuditReport:
    """Audit the ledger in ``engine``; see the module's docstring.

    ``workers``: processes for the quick pass (default: one per core on ledgers of
    at least :data:`PARALLEL_MIN` entries, else this process alone). ``quick=False``
    skips the quick pass (the reference pass from entry 0: slow, for comparison).
    ``chunk``: entries per database read. ``progress(done, size)`` is called as
    spans and chunks are done.
    """
    if span < 1 or span & (span - 1):
        raise ValueError(f"span {span} is not a power of two")
    with read_transaction(engine) as conn:
        state = read_state(conn)
    if state is None:
        return AuditReport(False, 0, None, 0, 0, 0, 0, "log_state row is missing")
    size = state.size
    problems: list[tuple[int, int, str]] = []  # (seq, order, reason): a heap

    def problem(seq: int, reason: str) -> None:
        heapq.heappush(problems, (seq, len(problems), reason))

    # Checkpoints: the quick pass checks those inside the log, each in the span where
    # it ends, on every core; those at size 0 or beyond the log, and all from where the
    # reference pass starts, are checked here (their signed roots go to check_entries).
    with read_transaction(engine) as conn:
        n_cps = int(conn.execute(select(func.count()).select_from(checkpoints)).scalar_one())
    start = LogPosition(0, ZERO_HASH_HEX, "", ())
    _check_shard_ends(engine, size, problem)
    roots = _check_checkpoints(engine, log_key, size, problem, at_zero=True)
    if quick and size > 0 and not problems and roots.get(0, EMPTY_ROOT) == EMPTY_ROOT:
        if workers is None:
            workers = (os.cpu_count() or 1) if size >= PARALLEL_MIN else 1
        start = quick_pass(engine, size, log_key, span, chunk, workers, progress)
    roots.update(_check_checkpoints(engine, log_key, size, problem, after=start.size))
    return _reference_pass(engine, state, start, problems, roots, n_cps, progress, chunk)


def _check_shard_ends(engine: Engine, size: int, problem: Callable[[int, str], None]) -> None:
    """A shard's ends (docs/formats.md "Temporal shards"): ``log.started`` only as entry
    0, ``log.frozen`` only as the last entry; anything after ``log.frozen`` is a fork
    (tests/ledger/test_shards.py)."""
    with read_transaction(engine) as conn:
        rows = conn.execute(select(entries.c.seq, entries.c.type).where(
            entries.c.type.in_((FROZEN, "log.started")), entries.c.seq < size)).all()
    for seq, typ in rows:
        if typ == FROZEN and seq != size - 1:
            problem(seq + 1, f"entry {seq + 1} follows log.frozen (entry {seq}): a frozen "
                             "shard was appended to")
        elif typ != FROZEN and seq != 0:
            problem(seq, f"log.started is entry {seq}; it may only be a shard's entry 0")


def _check_checkpoints(engine: Engine, log_key: Verifier | Windowed, size: int,
                       problem: Callable[[int, str], None], *, after: int = 0,
                       at_zero: bool = False) -> dict[int, bytes]:
    """Check the stored checkpoints of size 0 (``at_zero``), or else of sizes above
    ``after``: signature, stored size and root against the signed ones. Reports each
    fault through ``problem``; returns the signed roots of those inside the log."""
    roots: dict[int, bytes] = {}
    lo = 0 if at_zero else after + 1
    with read_transaction(engine) as conn:
        for cp in iter_checkpoints(conn, min_size=lo, max_size=0 if at_zero else None):
            signed, fault = check_stored_checkpoint(cp.size, cp.root, cp.note, log_key)
            if fault is not None:
                problem(max(cp.size - 1, 0), fault)
            if signed is None:
                continue
            if cp.size > size:
                if _size_now(engine) >= cp.size:
                    continue  # signed after this audit read the size: the next audit's
                problem(cp.size, f"checkpoint claims size {cp.size}; the log has {size} entries")
                continue
            roots[cp.size] = signed
    return roots


def quick_pass(engine: Engine, size: int, log_key: Verifier | Windowed, span: int, chunk: int,
               workers: int, progress: Callable[[int, int], None] | None) -> LogPosition:
    """Where the reference pass must start: the start of the first span that is
    not clean, else the end of the log, with the state of the log there.

    Public because its answer is what makes the audit fast and must never skip a fault:
    tests/support/tamper.py (``quick``) holds it to the span of the first fault, in
    tests/ledger/audit/."""
    m = span.bit_length() - 1
    spans = [(a, min(a + span, size)) for a in range(0, size, span)]
    key = key_spec(log_key)
    jobs = [(a, b, chunk, ZERO_HASH_HEX if a == 0 else None, key) for a, b in spans]
    bad = len(spans)  # index of the first span that is not clean
    above: list[bytes] = []  # the tree over whole spans: its edge, largest first
    made: dict[tuple[int, int], bytes] = {}  # the nodes above the spans it completed
    starts: list[LogPosition] = []
    prev, last_time, done = ZERO_HASH_HEX, "", 0
    end_edge: list[bytes] = []
    for j, sp in enumerate(_run(engine, jobs, workers)):
        starts.append(LogPosition(sp.start, prev, last_time, tuple(above)))
        if not (sp.clean and (j == 0 or (sp.first_prev == prev and sp.first_time >= last_time))
                and (not sp.checkpoints or sp.left == above)):
            bad = j
            break
        if sp.end - sp.start == span:  # a whole span: its root joins the tree above
            h, i, level = sp.edge[0], j, m
            while i & 1:
                h = node_hash(above.pop(), h)
                i >>= 1
                level += 1
                made[(level, i)] = h
            above.append(h)
            end_edge = above
        else:  # the last span: its edge ends the log's
            end_edge = above + sp.edge
        prev, last_time = sp.last_leaf, sp.last_time
        done += sp.end - sp.start
        if progress is not None:
            progress(done, size)
    else:
        starts.append(LogPosition(done, prev, last_time, tuple(above)))
    # stored nodes above the spans, up to where the spans are clean
    limit = spans[bad][0] if bad < len(spans) else size
    with read_transaction(engine) as conn:
        rows = conn.exec_driver_sql(f"SELECT level, idx, hash FROM nodes WHERE level > {m:d} "
                                    f"AND level <= {MAX_LEVEL:d}").all()
    stored = {(int(lv), int(ix)): bytes(h) for lv, ix, h in rows
              if int(ix) >= 0 and (int(ix) + 1) << int(lv) <= limit}
    for (level, idx) in stored.keys() ^ made.keys() | {
            k for k in stored.keys() & made.keys() if stored[k] != made[k]}:
        bad = min(bad, ((((idx + 1) << level) - 1) >> m))
    if bad < len(spans):
        return starts[bad]
    return LogPosition(size, prev, last_time, tuple(end_edge))


def _run(engine: Engine, jobs: list[tuple[Any, ...]], workers: int) -> Iterator[Span]:
    """Scan the spans of ``jobs``, yielding results in order (stop early by closing)."""
    if workers <= 1 or len(jobs) < 2:
        raw = engine.raw_connection()
        try:
            for job in jobs:
                yield scan_span(raw, *job)
        finally:
            raw.close()
        return
    pool = None
    try:
        pool = ProcessPoolExecutor(min(workers, len(jobs)),
                                   mp_context=worker_start.worker_context(),
                                   initializer=open_worker, initargs=connect_args(engine))
        futures = [pool.submit(scan_in_worker, job) for job in jobs]
    except (OSError, NotImplementedError):  # no working multiprocessing here
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        yield from _run(engine, jobs, 1)
        return
    with pool:
        try:
            for f in futures:
                yield f.result()
        finally:
            for f in futures:
                f.cancel()


def _reference_pass(engine: Engine, state: Any, start: LogPosition,
                    problems: list[tuple[int, int, str]], roots: dict[int, bytes], n_cps: int,
                    progress: Callable[[int, int], None] | None, chunk: int) -> AuditReport:
    """The checks one entry at a time from ``start`` (entries before it passed), in
    the order that decides which fault is named first."""
    size = state.size

    def problem(seq: int, reason: str) -> None:
        heapq.heappush(problems, (seq, len(problems), reason))

    tree = CompactRange(start.size, start.edge)
    stored_leaves: deque[bytes] = deque()
    counts = {"nodes": start.size - start.size.bit_count(), "entries": start.size}

    def stream() -> Iterator[bytes]:
        pos = start.size
        seq = start.size
        while seq < size:
            stop = min(size, seq + chunk)
            with read_transaction(engine) as conn:
                rows = list(iter_entries(conn, seq, stop, chunk))
                a, b = pos, pos + len(rows)
                got = _stored_nodes(conn, a, b) if rows else {}
            expected: list[tuple[int, NodeId, bytes]] = []
            for i, row in enumerate(rows):
                # a stored leaf hash of the wrong length: its entry is named below
                leaf = row.leaf_hash if len(row.leaf_hash) == 32 else bytes(32)
                for node, h in tree.append(leaf)[1:]:
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
        summary = check_entries(stream(), expected_roots=roots, expected_leaf_hashes=leaves(),
                                start=start)
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
        extra_node = _node_outside(conn, end)
    if extra_entries is not None:
        return report(int(extra_entries), f"entry row {extra_entries} lies beyond the log's "
                                          f"size {end}")
    if extra_node is not None:
        return report(size, f"stored node (level {extra_node.level}, index {extra_node.idx}) "
                            f"lies outside the tree of size {end}")
    return AuditReport(True, size, summary.root.hex(), counts["entries"], counts["nodes"], n_cps)


def _node_outside(conn, size: int):  # type: ignore[no-untyped-def]
    """A stored node outside the tree of ``size`` leaves, or None: probes of the
    (level, idx) key, one or two per level (one OR over every level scanned the whole
    table: a second per million nodes)."""
    top = max(size.bit_length() - 1, 0)  # above it, no node lies inside the tree
    probes = [or_(nodes.c.level < 1, nodes.c.level > top)]
    for lvl in range(1, top + 1):
        probes.append(and_(nodes.c.level == lvl, nodes.c.idx < 0))
        probes.append(and_(nodes.c.level == lvl, nodes.c.idx >= (size >> lvl)))
    for where in probes:
        row = conn.execute(select(nodes.c.level, nodes.c.idx).where(where).limit(1)).first()
        if row is not None:
            return row
    return None


def _size_now(engine: Engine) -> int:
    """The log's size as committed now. On a live ledger, checkpoints are signed while
    the audit runs; one beyond the audited size is a fault only if the log is still
    shorter than it (the sequencer commits entries before it signs their checkpoint)."""
    with read_transaction(engine) as conn:
        state = read_state(conn)
    return -1 if state is None else state.size


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
