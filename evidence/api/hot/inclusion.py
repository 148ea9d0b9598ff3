"""Inclusion proofs to the latest checkpoint in tens of microseconds, for
:class:`~evidence.api.hot.reads.ReadFastPath`.

A proof of entry ``m`` in the tree of ``n`` entries (RFC 9162 2.1.3.1) is, leaf to root:

* the **inner** siblings, at heights ``h < inner`` where ``inner`` is the bit length of
  ``m ^ (n - 1)``: the perfect subtrees ``(h, (m >> h) ^ 1)``, except that the highest
  one may reach past the tree's end and is then the fold of the perfect subtrees of
  ``[start, n)`` (an *edge* range);
* the **border** siblings, at heights ``h >= inner`` where bit ``h`` of ``m`` is set:
  the perfect subtrees ``(h, (m >> h) ^ 1)``, all left of ``m``.

That is what :func:`evidence.verify.merkle.inclusion_plan` computes range by range;
here it is two loops over bits, and a proof costs one read of the nodes below height
:data:`KEEP_FROM` (a leaf hash and 8 siblings: random over the log, never kept) while
the nodes from that height up (one per 256 entries, shared by every proof) and the edge
folds (a few per tree size) are kept in memory. The stored nodes are read with one
prepared statement on a read-only SQLite connection of this process, in the event loop:
from the page cache that costs less than a hop to a worker thread. (Computing the 8
lower siblings from the entry's level-0 tile instead would take 247 SHA-256 node hashes
per proof, several times the read.) Other databases read through
:meth:`~evidence.api.proofs.ProofCache.load` in a worker thread, as the route does.

With a SQLite ledger and a filesystem tile store, a worker first keeps the upper
levels as arrays (:class:`KeptLevels`: every stored node from height 4 or 5 up, in
a fixed memory budget, read in the background and extended as the tree grows), and
:meth:`InclusionFast.kept_proof` makes a proof of an entry in a full tile with no query:
one ``pread`` of the 16 or 32 leaf hashes around it from its level-0 tile, 11 or 26
node hashes for the siblings below, slices of the arrays for the others. The general
path above takes everything else (the last partial tile, a tree grown past the arrays,
an edge fold not kept yet, other stores).

The JSON is written as the route's ``json.dumps`` writes it (keys in the same order, no
spaces), the checkpoint's part once per checkpoint. Equal bytes to the route's for every
``m`` of many sizes: tests/equivalence/test_proof_reads.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Mapping

from evidence.ledger.log import Ledger, StoredCheckpoint
from evidence.ledger.node_reader import NodeReader, open_node_reader
from evidence.ledger.tiles_layout import HASH_SIZE, TILE_WIDTH, tile_path
from evidence.verify.hashing import node_hash
from evidence.verify.merkle import perfect_nodes

KEEP_FROM = 8
"""Nodes at this height and above are kept (one per 256 entries and level: 40 k nodes,
about 5 MB, for 10 M entries); the ones below are read for each proof."""
FROM_TILE_BELOW = 5
"""With the entry's full level-0 tile in a tile folder, its leaf hash and its siblings
below this height come from the tile (the one at height ``h`` is ``2**h - 1`` node hashes
of the tile's hashes: 26 in all below 5), the rest of the lower ones from the database."""
MAX_KEPT = 1_000_000
"""Kept nodes at most (a log of about 250 M entries); cleared, not evicted, when full."""
LEVELS_BUDGET = 48 << 20
"""Bytes per worker for :class:`KeptLevels`: the lowest height kept is the lowest of
:data:`LEVELS_LOWEST` .. :data:`KEEP_FROM` whose nodes from there up fit (at 10 M entries
height 4: 1.25 M nodes, 40 MB; at 20 M height 5). The leaves and heights 1-3 (nearly 19
of the 20 M nodes at 10 M entries) are never kept."""
LEVELS_LOWEST = 4
"""Never keep lower: each height below doubles the memory and saves few hashes (a
proof hashes ``2**low - low - 1`` nodes of its tile's leaves: 11 at height 4)."""
LEVELS_SLICE = 4096
"""Nodes per range scan of :meth:`InclusionFast.load_levels`, which runs in a thread
beside the event loop: each slice's rows are made into Python objects under the GIL and
dropped before the next (a few milliseconds each, the GIL offered back between them),
never the million row tuples of a large log alive at once."""
LEVELS_EVERY = 5.0
"""Seconds at least between two loads of :class:`KeptLevels` for a grown tree (between
them, proofs of the new entries take the general path)."""

Node = tuple[int, int]
"""``(level, index)``: a :class:`NodeId` as a plain tuple (cheaper to make and hash)."""
Shape = tuple[list[Node], tuple[int, int] | None, dict[Node, bytes], dict[Node, bytes]]
"""A proof's siblings leaf to root, the edge range (its position in the proof and its
start) if one sibling is a fold, the kept nodes it was planned against, and the nodes
taken from its level-0 tile."""


def shape(m: int, n: int) -> tuple[list[Node], int, int]:
    """The proof of ``m`` in a tree of ``n`` (``0 <= m < n``): its sibling nodes leaf to
    root, and the position and start of its edge range (``-1, -1`` when it has none).
    At the edge position the list holds the sibling's id, which is not a stored node."""
    inner = (m ^ (n - 1)).bit_length()
    out: list[Node] = []
    edge_at = edge_start = -1
    for h in range(inner):
        s = (m >> h) ^ 1
        if (s + 1) << h > n:  # only the highest inner sibling can reach past the end
            edge_at, edge_start = h, s << h
        out.append((h, s))
    b = m >> inner
    h = inner
    while b:
        if b & 1:
            out.append((h, b ^ 1))
        b >>= 1
        h += 1
    return out, edge_at, edge_start


class KeptLevels:
    """The hashes of the perfect subtrees at heights ``low`` and up of the tree of ``size``
    entries: height ``h`` as one bytes of ``size >> h`` hashes, node ``(h, i)`` at offset
    ``32 * i`` (``b""`` below ``low``). Append-only: a perfect subtree's hash never
    changes once the tree holds it (docs/decisions.md D2), so these are the hashes of
    every tree of ``size`` entries or more; the right edge's partial subtrees are not in
    them. Made whole in a worker thread and swapped in by one assignment."""

    __slots__ = ("levels", "low", "size")

    def __init__(self, low: int, size: int, levels: list[bytes]) -> None:
        self.low, self.size, self.levels = low, size, levels


def levels_low(size: int, budget: int = LEVELS_BUDGET) -> int:
    """The lowest height :class:`KeptLevels` keeps for a tree of ``size`` entries."""
    for low in range(LEVELS_LOWEST, KEEP_FROM):
        if sum(size >> h for h in range(low, size.bit_length())) * HASH_SIZE <= budget:
            return low
    return KEEP_FROM


class InclusionFast:
    """Proof bodies to the latest checkpoint (see the module doc); one per worker."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._kept: dict[Node, bytes] = {}
        self._edges: dict[tuple[int, int], bytes] = {}  # (start, n) -> folded hash
        self._tails: dict[int, tuple[bytes, bytes]] = {}  # size -> (its head, tail)
        self._db: NodeReader | None = None
        self._db_tried = False
        self.tiles_root: str | None = None
        """The tile store's folder, when it is one (the caller sets it)."""
        self.levels: KeptLevels | None = None
        """The upper levels as arrays (:meth:`load_levels`), for :meth:`kept_proof`."""
        self._levels_busy = False  # a load is queued or running
        self._levels_at = -LEVELS_EVERY  # monotonic time of the last load's start

    def drop(self) -> list[dict]:
        """Empty what is kept (an idle worker's trim, evidence/api/idle_trim.py) and
        return the old dicts to be freed: new dicts, so a proof planned against the old
        ones still has them."""
        old = [self._kept, self._edges, self._tails]
        self._kept, self._edges, self._tails = {}, {}, {}
        self.levels = None  # loaded again for the next proof (levels_due)
        return old

    def cached(self) -> dict[str, int]:
        """How much is kept now, by kind: nodes, edge folds, checkpoint tails, and hashes
        in :attr:`levels`. Read-only, so that an operator or a test can see these fill
        and :meth:`drop` empty them (tests/api/test_idle_trim.py) without reaching in."""
        kl = self.levels
        return {"kept": len(self._kept), "edges": len(self._edges), "tails": len(self._tails),
                "levels": 0 if kl is None else sum(map(len, kl.levels)) // HASH_SIZE}

    # --- reading nodes ---------------------------------------------------------------------

    def direct(self) -> bool:
        """Whether nodes can be read in the event loop (a SQLite ledger)."""
        if not self._db_tried:
            self._db_tried = True
            self._db = open_node_reader(self._ledger)
        return self._db is not None

    def read(self, ids: Iterable[Node]) -> dict[Node, bytes]:
        """The stored hashes of ``ids`` in one statement on this process's connection
        (only after :meth:`direct` said True; raises :class:`sqlite3.Error`)."""
        assert self._db is not None
        return self._db.read_pairs(ids)

    def preload(self) -> int:
        """Read every stored node from height :data:`KEEP_FROM` up (at most
        :data:`MAX_KEPT`, lowest heights first) and keep them: without it a worker reads
        them one proof at a time, and random proofs over a large log need as many proofs
        as there are level-0 tiles before most are kept. Runs in a worker thread, on a
        connection of its own; a SQLite ledger only. How many nodes it kept."""
        reader = open_node_reader(self._ledger)
        if reader is None:
            return 0
        try:
            found = reader.upper(KEEP_FROM, MAX_KEPT - len(self._kept))
        finally:
            reader.close()
        self._kept.update(found)  # one call: a proof planned meanwhile sees all or none
        return len(found)

    def levels_due(self, size: int) -> bool:
        """Whether to queue :meth:`load_levels` for a tree of ``size`` entries now (then
        the caller must): they are missing or older than ``size``, none is queued, and
        the last began :data:`LEVELS_EVERY` seconds ago or more. Event loop only."""
        kl = self.levels
        if self._levels_busy or (kl is not None and kl.size >= size) or not self.direct():
            return False
        now = time.monotonic()
        if now - self._levels_at < LEVELS_EVERY:
            return False
        self._levels_busy, self._levels_at = True, now
        return True

    def load_levels(self, size: int) -> int:
        """Read the stored nodes of the perfect subtrees of the tree of ``size`` entries
        (a committed checkpoint's size) from height :func:`levels_low` up into
        :attr:`levels`, extending the arrays already kept: one range scan per height, in
        a worker thread on a connection of its own; a SQLite ledger only. A height whose
        nodes are not all stored is kept as far as they are (:meth:`kept_proof` then
        takes the general path for the others). How many nodes it read."""
        try:
            reader = open_node_reader(self._ledger)
            if reader is None:
                return 0
            low = levels_low(size)
            old = self.levels
            levels = [b""] * 64
            read = 0
            try:
                for h in range(low, size.bit_length()):
                    have = old.levels[h] if old is not None and old.low == low else b""
                    start, count = len(have) // HASH_SIZE, size >> h
                    parts = [have]
                    for at in range(start, count, LEVELS_SLICE):
                        more = reader.hashes(h, at, min(at + LEVELS_SLICE, count))
                        read += len(more) // HASH_SIZE
                        parts.append(more)
                        if len(more) < min(LEVELS_SLICE, count - at) * HASH_SIZE:
                            break  # a gap: kept as far as the nodes are stored
                        time.sleep(0)  # the GIL back to the event loop between slices
                    levels[h] = b"".join(parts)
            finally:
                reader.close()
            self.levels = KeptLevels(low, size, levels)
            return read
        finally:
            self._levels_busy = False

    def kept_proof(self, seq: int, cp: StoredCheckpoint) -> bytes | None:
        """The route's bytes for the proof of ``seq`` to ``cp`` from :attr:`levels` and
        the entry's full level-0 tile: one ``pread`` of the ``2**low`` leaf hashes
        around ``seq``, the siblings below ``low`` hashed from them (11 hashes at
        ``low`` 4), the ones above sliced from the arrays, the edge fold from what
        :meth:`render` kept. None when any of it is not at hand (no levels yet, the
        entry in the tree's partial last tile, a node past the arrays, an edge fold not
        kept yet): :meth:`needed` and :meth:`render` then make it. Equal to the route's
        bytes for random entries, the right edge and small trees:
        tests/equivalence/test_proof_reads.py and test_wire_reads.py."""
        kl = self.levels
        n = cp.size
        root = self.tiles_root
        if kl is None or root is None or seq >> 8 >= n >> 8:
            return None
        # the entry's tile is full, so every sibling below height 8 is a perfect subtree
        # inside it, never the edge fold: (h, (m >> h) ^ 1), in the proof when it is an
        # inner one (h < inner) or a border one (bit h of m set)
        low = kl.low
        block = _read_block(f"{root}/{tile_path(0, seq >> 8)}",
                            ((seq & 0xFF) >> low << low) * HASH_SIZE, HASH_SIZE << low)
        if block is None:
            return None
        inner = (seq ^ (n - 1)).bit_length()
        off = seq & ((1 << low) - 1)
        o = off << 5
        leaf = block[o:o + 32]
        parts = [block[o ^ 32:(o ^ 32) + 32]] if inner or seq & 1 else []
        sha = hashlib.sha256
        for h in range(1, low):
            if h >= inner and not (seq >> h) & 1:
                continue
            start = ((off >> h) ^ 1) << (h + 5)  # byte offset of the sibling's first leaf
            level = [sha(b"\x01" + block[i:i + 64]).digest()
                     for i in range(start, start + (32 << h), 64)]
            while len(level) > 1:
                level = [sha(b"\x01" + level[i] + level[i + 1]).digest()
                         for i in range(0, len(level), 2)]
            parts.append(level[0])
        levels = kl.levels
        for h in range(low, inner):
            s = (seq >> h) ^ 1
            if (s + 1) << h > n:  # past the end: the edge fold (only the highest)
                got = self._edges.get((s << h, n), b"")
            else:
                got = levels[h][s << 5:(s + 1) << 5]
            if len(got) != 32:
                return None
            parts.append(got)
        h = max(inner, low)
        b = seq >> h
        while b:
            if b & 1:
                got = levels[h][(b ^ 1) << 5:((b ^ 1) + 1) << 5]
                if len(got) != 32:
                    return None
                parts.append(got)
            b >>= 1
            h += 1
        head, tail = self._tail(cp)
        hexes = ('"' + b"".join(parts).hex(",", 32).replace(",", '","') + '"').encode() if (
            parts) else b""
        return b"".join((b'{"index":%d,' % seq, head, b'"leaf_hash":"', leaf.hex().encode(),
                         b'","proof":[', hexes, tail))

    # --- the proof ---------------------------------------------------------------------------

    def needed(self, seq: int, cp: StoredCheckpoint) -> tuple[Shape, list[Node]]:
        """The proof's shape and the nodes to read for it (not kept, not in its tile)."""
        nodes, edge_at, edge_start = shape(seq, cp.size)
        kept = self._kept
        tiled = self._from_tile(seq) if seq >> 8 < cp.size >> 8 else {}
        want = [] if tiled else [(0, seq)]
        for i, node in enumerate(nodes):
            if i != edge_at and (node[0] < KEEP_FROM or node not in kept) and (
                    node not in tiled):
                want.append(node)
        edge = None
        if edge_at >= 0:
            edge = (edge_at, edge_start)
            if (edge_start, cp.size) not in self._edges:
                want.extend(p for p in self._pieces(edge_start, cp.size) if p not in kept)
        return (nodes, edge, kept, tiled), want

    def _from_tile(self, seq: int) -> dict[Node, bytes]:
        """The leaf hash of ``seq`` and its siblings below :data:`FROM_TILE_BELOW`, from
        its full level-0 tile in the tile store (``{}`` when there is none: tiles off or
        on S3, or not written yet)."""
        if self.tiles_root is None:
            return {}
        data = _read_tile(os.path.join(self.tiles_root, tile_path(0, seq >> 8)))
        if data is None:
            return {}
        off = seq & 0xFF
        out = {(0, seq): data[off << 5:(off + 1) << 5],
               (0, seq ^ 1): data[(off ^ 1) << 5:((off ^ 1) + 1) << 5]}
        sha = hashlib.sha256
        for h in range(1, FROM_TILE_BELOW):
            start = ((off >> h) ^ 1) << (h + 5)  # byte offset of the sibling's first leaf
            # the lowest pairs are adjacent in the tile: one slice each
            level = [sha(b"\x01" + data[i:i + 64]).digest()
                     for i in range(start, start + (32 << h), 64)]
            while len(level) > 1:
                level = [sha(b"\x01" + level[i] + level[i + 1]).digest()
                         for i in range(0, len(level), 2)]
            out[(h, (seq >> h) ^ 1)] = level[0]
        return out

    def render(self, seq: int, cp: StoredCheckpoint, sh: Shape,
               read: Mapping[Node, bytes]) -> bytes | None:
        """The route's bytes for this proof, from ``read`` and what is kept; None if a
        node is missing (a damaged store: the route reports it)."""
        nodes, edge, kept, tiled = sh
        if tiled:
            read = {**read, **tiled}
        edge_at = edge[0] if edge is not None else -1
        try:
            leaf = read[(0, seq)]
            hexes = []
            for i, node in enumerate(nodes):
                if i == edge_at:
                    assert edge is not None
                    h = self._edge(edge[1], cp.size, read, kept)
                elif node[0] < KEEP_FROM:
                    h = read[node]
                else:
                    h = kept.get(node)
                    if h is None:
                        h = kept[node] = read[node]
                hexes.append(h.hex())
        except KeyError:
            return None
        if len(kept) > MAX_KEPT:
            self._kept = {}  # a new dict: a proof planned against the old one still has it
        head, tail = self._tail(cp)
        proof = ('"' + '","'.join(hexes) + '"').encode() if hexes else b""
        return b"".join((b'{"index":%d,' % seq, head, b'"leaf_hash":"', leaf.hex().encode(),
                         b'","proof":[', proof, tail))

    @staticmethod
    def _pieces(start: int, size: int) -> list[Node]:
        return [(p.level, p.index) for p in perfect_nodes(start, size)]

    def _edge(self, start: int, size: int, read: Mapping[Node, bytes],
              kept: Mapping[Node, bytes]) -> bytes:
        key = (start, size)
        h = self._edges.get(key)
        if h is None:
            parts = [kept.get(p) or read[p] for p in self._pieces(start, size)]
            h = parts[-1]
            for p in reversed(parts[:-1]):
                h = node_hash(p, h)
            if len(self._edges) > 4096:
                self._edges.clear()
            self._edges[key] = h
        return h

    def _tail(self, cp: StoredCheckpoint) -> tuple[bytes, bytes]:
        """The JSON around a proof of this checkpoint: ``"tree_size":N,`` and from the
        proof's closing bracket to the end (the root, the checkpoint note)."""
        got = self._tails.get(cp.size)
        if got is None:
            note = json.dumps(cp.note, ensure_ascii=False)
            got = (b'"tree_size":%d,' % cp.size,
                   f'],"root":"{bytes(cp.root).hex()}","checkpoint":{note}}}'.encode())
            if len(self._tails) > 16:
                self._tails.clear()
            self._tails[cp.size] = got
        return got


def _read_block(path: str, offset: int, length: int) -> bytes | None:
    """``length`` bytes of a full tile's file at ``offset`` (one ``pread``), or None if
    the file is missing or shorter. A tile's file is written whole by a rename, never in
    place, so the bytes are the tile's."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        data = os.pread(fd, length, offset)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data if len(data) == length else None


def _read_tile(path: str) -> bytes | None:
    """A full tile's bytes, or None if the file is missing or is not a full tile."""
    try:
        fd = os.open(path, os.O_RDONLY)  # not open(): no file object for one read
    except OSError:
        return None
    try:
        data = os.read(fd, TILE_WIDTH * HASH_SIZE + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data if len(data) == TILE_WIDTH * HASH_SIZE else None
