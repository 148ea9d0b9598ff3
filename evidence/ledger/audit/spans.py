"""The audit's quick pass over one span of the log: checks everything the audit
checks about the entries and stored nodes of the span, the quick way, and says
only *clean* or *not clean*. It never explains a fault: when a span is not
clean, :mod:`evidence.ledger.audit.log_audit` re-checks from the span's start with the
reference checks (:func:`~evidence.verify.log.check_entries`), which name the
first bad ``seq`` and the reason. So the quick pass can only change how fast the
audit is, never what it reports, as long as it passes nothing the reference
would fail (tests tamper with every kind of row to hold the two together).

A span is ``[start, end)`` with ``start`` a multiple of a power of two at least
``end - start``, so its leaves form perfect subtrees of the log's tree: the span
checks every stored node inside it on its own, and reports its right edge, from
which the parent builds the nodes above the spans and the checkpoint roots.
Spans run in this process or in worker processes (:func:`open_worker`), each
with its own plain DB-API connection: rows are read as tuples, no ORM objects.

Per entry: :func:`~evidence.verify.fast.entries.quick_entry` (falling back to
:func:`~evidence.verify.entry.parse_entry` when it cannot vouch), seq = position,
prev = previous leaf hash, time never earlier, stored leaf hash = hash of the
stored bytes, and the perfect subtrees it completes; the span's stored nodes are
compared in bulk, one query per read.

Per checkpoint whose size falls in ``(start, end]``: its signature, its stored size
and root against the signed ones, and the signed root against the tree at that size.
The tree left of the span comes from the stored nodes there (the span reports the
ones it used as :attr:`Span.left`, and the parent, which recomputes those nodes from
the spans before, compares). Checkpoints are checked here, not in the parent, because
their signatures cost about ten entries' work each, and a service under light load
signs one every few entries: in the spans they run on every core.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from evidence.verify.checkpoint import verify_checkpoint_windowed
from evidence.verify.entry import parse_entry
from evidence.verify.errors import EntryError, VerificationError
from evidence.verify.fast.entries import quick_entries, quick_entry
from evidence.verify.hashing import leaf_hash, node_hash, node_hashes
from evidence.verify.merkle import fold, perfect_nodes, root_plan
from evidence.verify.note import Verifier, parse_verifier_key


@dataclass
class Span:
    """What the parent needs of a span to join it to its neighbours."""

    start: int
    end: int
    clean: bool
    first_prev: str = ""
    """``prev`` of the span's first entry (the parent compares the chain across spans)."""
    first_time: str = ""
    last_leaf: str = ""
    """Leaf hash (hex) of the span's last entry."""
    last_time: str = ""
    edge: list[bytes] = field(default_factory=list)
    """Perfect subtrees of the span's leaves, largest first (one hash for a full span)."""
    left: list[bytes] = field(default_factory=list)
    """The stored perfect subtrees left of the span, largest first, with which the
    span computed its checkpoints' roots (the parent compares them with its own)."""
    nodes: int = 0
    """Stored nodes compared."""
    checkpoints: int = 0
    """Checkpoints checked."""


def scan_span(conn: Any, start: int, end: int, read: int, prev: str | None,
              log_key: str) -> Span:
    """Quick pass over entries ``start <= seq < end`` through DB-API ``conn``, and
    over the checkpoints of sizes in ``(start, end]``, signed by ``log_key`` (a
    verifier-key string).

    ``prev`` is the leaf hash (hex) before ``start`` when known (the log's first
    span), else None: the parent then checks the span's first ``prev`` and time.
    Entries are read ``read`` at a time, rounded down to a power of two: each read
    is then a perfect subtree (or the span's end), whose levels are hashed a level
    at a time.
    """
    dirty = Span(start, end, False)
    out = Span(start, end, True)
    cur = conn.cursor()
    try:
        roots = _signed_roots(cur, start, end, _verifier(log_key))
        left = _left_of(cur, start) if roots else []
    finally:
        cur.close()
    if roots is None or left is None:
        return dirty
    out.left, out.checkpoints = left, len(roots)
    edge: list[bytes] = []  # perfect subtrees of the span's leaves so far, largest first
    last_time = ""
    top = (end - start).bit_length() - 1  # the highest level inside the span
    r = max(0, min(read.bit_length() - 1, top))  # the highest level inside one read
    read = 1 << r
    prev_leaf = b"" if prev is None else bytes.fromhex(prev)
    cur = conn.cursor()
    try:
        for lo in range(start, end, read):
            hi = min(end, lo + read)
            cur.execute(f"SELECT leaf_hash, data FROM entries WHERE seq >= {lo:d} "
                        f"AND seq < {hi:d} ORDER BY seq")
            rows = cur.fetchall()
            if len(rows) != hi - lo:  # rows missing (a seq out of place fails below)
                return dirty
            stored = list(map(itemgetter(0), rows))
            datas = list(map(itemgetter(1), rows))
            del rows
            first: list[bytes] = []
            if lo == start and prev is None:  # the parent checks this entry's prev and time
                try:
                    e = parse_entry(bytes(datas[0]))
                except EntryError:
                    return dirty
                if e.seq != lo:
                    return dirty
                out.first_prev, out.first_time = e.prev, e.time
                first, prev_leaf, last_time = [e.leaf_hash], e.leaf_hash, e.time
            got = _entries(datas[len(first):], prev_leaf, lo + len(first), last_time)
            if got is None:
                return dirty
            hashes, last_time = got
            hashes = first + hashes
            if hashes != stored:
                return dirty
            prev_leaf = hashes[-1]
            levels = [hashes]  # the read's leaves, then each level of nodes above them
            for _ in range(r):
                below = levels[-1]
                levels.append(node_hashes(below[0::2], below[1::2]))
            for s in sorted(x for x in roots if lo < x < hi):
                if fold(left + edge + _subtrees(levels, s - lo)) != roots[s]:
                    return dirty
            if hi - lo == read:  # a whole read: its root joins the span's edge
                h, i, level = levels[r][0], (lo - start) >> r, r
                while i & 1:
                    h = node_hash(edge.pop(), h)
                    i >>= 1
                    level += 1
                    levels.append([h])
                edge.append(h)
            else:  # the span's last read
                edge.extend(_subtrees(levels, hi - lo))
            if hi in roots and fold(left + edge) != roots[hi]:
                return dirty
            for level in range(1, top + 1):
                made = levels[level] if level < len(levels) else []
                if _stored_nodes(cur, level, lo >> level, hi >> level) != made:
                    return dirty
                out.nodes += len(made)
    finally:
        cur.close()
    if start == end:
        return out
    out.last_leaf, out.last_time, out.edge = prev_leaf.hex(), last_time, edge
    return out


def _subtrees(levels: list[list[bytes]], count: int) -> list[bytes]:
    """The perfect subtrees over the first ``count`` leaves of a read, largest first,
    from ``levels`` (the read's leaf hashes, then each level of nodes above them)."""
    return [levels[n.level][n.index] for n in perfect_nodes(0, count)]


def _entries(datas: list[bytes], prev: bytes, seq: int,
             time: str) -> tuple[list[bytes], str] | None:
    """Leaf hashes of ``datas`` and the last one's time when they are consecutive
    entries that parse_entry accepts, numbered from ``seq``, chained from the leaf
    hash ``prev``, times never going back from ``time``; None when not."""
    got = quick_entries(datas, prev, seq, time)
    if got is not None:
        return got  # type: ignore[return-value]
    hashes: list[bytes] = []
    for data in datas:  # one by one: a run the quick way could not vouch for
        q = quick_entry(data, prev)
        if q is None:  # the reference decides
            try:
                e = parse_entry(bytes(data))
            except EntryError:
                return None
            if e.prev != prev.hex():
                return None
            q = e.seq, e.time
        if q[0] != seq or q[1] < time:
            return None
        prev = leaf_hash(data)
        hashes.append(prev)
        seq, time = seq + 1, q[1]
    return hashes, time


Windowed = tuple[tuple[Verifier, tuple[int, int] | None], ...]
"""Every log key with its window of tree sizes (None: every size), after a rotation."""

_verifiers: dict[str, Windowed] = {}


def key_spec(log_key: Verifier | Windowed) -> str:
    """The text a worker process gets for ``log_key``: one key a line, ``vkey [lo hi]``."""
    if isinstance(log_key, Verifier):
        return log_key.to_string()
    return "\n".join(v.to_string() + ("" if w is None else f" {w[0]} {w[1]}")
                     for v, w in log_key)


def _verifier(log_key: str) -> Windowed:
    v = _verifiers.get(log_key)
    if v is None:
        out = []
        for line in log_key.split("\n"):
            vk, *win = line.split(" ")
            out.append((parse_verifier_key(vk), (int(win[0]), int(win[1])) if win else None))
        v = _verifiers[log_key] = tuple(out)
    return v


def check_stored_checkpoint(size: int, root: bytes, note: str,
                            log_key: Verifier | Windowed) -> tuple[bytes | None, str | None]:
    """``(signed root or None, fault or None)`` of a stored checkpoint row: its note
    signed by ``log_key``, for the stored size, with the stored root. The signed root
    comes back even when only the stored root differs (the tree is then compared with
    what was signed); None when the note cannot be trusted for ``size`` at all."""
    try:
        keys = ((log_key, None),) if isinstance(log_key, Verifier) else log_key
        cp = verify_checkpoint_windowed(note, keys)[0].checkpoint
    except VerificationError as e:
        return None, f"checkpoint at size {size}: {e}"
    if cp.size != size:
        return None, f"checkpoint stored at size {size} signs size {cp.size}"
    if cp.root != bytes(root):
        return cp.root, f"checkpoint at size {size}: stored root differs from the signed"
    return cp.root, None


def _signed_roots(cur: Any, start: int, end: int, log_key: Windowed) -> dict[int, bytes] | None:
    """The signed roots of the checkpoints of sizes in ``(start, end]``, by size, when
    each is sound (:func:`check_stored_checkpoint`); None when one is not (the
    reference pass names it)."""
    cur.execute(f"SELECT size, root, note FROM checkpoints WHERE size > {start:d} "
                f"AND size <= {end:d}")
    roots: dict[int, bytes] = {}
    for size, root, note in cur.fetchall():
        signed, fault = check_stored_checkpoint(int(size), root, note, log_key)
        if fault is not None or signed is None:
            return None
        roots[int(size)] = signed
    return roots


def _left_of(cur: Any, start: int) -> list[bytes] | None:
    """The stored perfect subtrees over ``[0, start)``, largest first (None if one is
    missing): what the tree holds left of a span, for its checkpoints' roots."""
    out = []
    for n in root_plan(start):
        if n.level == 0:
            cur.execute(f"SELECT leaf_hash FROM entries WHERE seq = {n.index:d}")
        else:
            cur.execute(f"SELECT hash FROM nodes WHERE level = {n.level:d} "
                        f"AND idx = {n.index:d}")
        row = cur.fetchone()
        if row is None:
            return None
        out.append(bytes(row[0]))
    return out


def _stored_nodes(cur: Any, level: int, lo: int, hi: int) -> list[bytes]:
    """Hashes of the stored nodes at ``level`` with ``lo <= idx < hi``, in index order:
    those completed by the leaves just read are all of them, so a missing or
    changed node makes this list differ from the recomputed one."""
    if hi <= lo:
        return []
    cur.execute(f"SELECT hash FROM nodes WHERE level = {level:d} AND idx >= {lo:d} "
                f"AND idx < {hi:d} ORDER BY idx")
    return [h for (h,) in cur.fetchall()]


# --- worker processes ---------------------------------------------------------------------

_conn: Any = None


def connect_args(engine: Any) -> tuple[str, list[Any], dict[str, Any]]:
    """How a worker process opens its own connection to ``engine``'s database: the
    driver and the arguments SQLAlchemy itself would pass it (picklable)."""
    cargs, cparams = engine.dialect.create_connect_args(engine.url)
    cparams = {k: v for k, v in cparams.items() if k != "context"}  # psycopg adapters
    if engine.dialect.name == "sqlite":
        cparams["timeout"] = 30.0
        return "sqlite", list(cargs), cparams
    return engine.dialect.name, list(cargs), cparams


def open_worker(driver: str, cargs: list[Any], cparams: dict[str, Any]) -> None:
    """Pool initializer: one read connection per worker process."""
    global _conn
    if driver == "sqlite":
        _conn = sqlite3.connect(*cargs, **cparams)
        _conn.isolation_level = None  # autocommit: each read sees committed rows
        # read pages through a memory map, not a read() each: this connection only
        # reads, and a ledger file is never truncated
        _conn.execute("PRAGMA mmap_size = 1073741824")
    else:
        import psycopg

        _conn = psycopg.connect(*cargs, **cparams, autocommit=True)


def scan_in_worker(job: tuple[int, int, int, str | None, str]) -> Span:
    return scan_span(_conn, *job)
