"""Proofs for the HTTP API, served from a per-process cache of stored tree nodes.

Stored nodes (leaf hashes and perfect subtrees) are written once and never change
(docs/decisions.md D2), so a node read once can be kept: a proof then costs only the
planning arithmetic (``evidence.verify.merkle``) and, for nodes not seen before, ONE
query (:meth:`evidence.ledger.log.Ledger.nodes`). The upper nodes are shared by every
proof to the same size, so after a warm-up most proofs need no query at all.

Sizes are checked against the committed size (``OutOfRange`` past the log), which is
only re-read when a request names a size beyond the largest one already seen committed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence

from evidence.ledger.errors import LedgerError, OutOfRange
from evidence.ledger.log import Ledger
from evidence.verify.merkle import (
    NodeId,
    consistency_plan,
    consistency_proof,
    inclusion_plan,
    inclusion_proof,
    root_from_nodes,
    root_plan,
)

MAX_CACHED_NODES = 400_000  # ~100 MB at worst; cleared (not evicted one by one) when full


class ProofCache:
    def __init__(self, ledger: Ledger, *, max_nodes: int = MAX_CACHED_NODES) -> None:
        self._ledger = ledger
        self._nodes: dict[NodeId, bytes] = {}
        self._max = max_nodes
        self._known_size = 0  # the largest size seen committed: sizes <= it need no check
        self._lock = threading.Lock()

    @property
    def cached_nodes(self) -> int:
        """How many nodes are cached now. Public so that the cache can be seen to fill and
        to be emptied from outside (an idle worker's trim: tests/api/test_idle_trim.py)."""
        return len(self._nodes)

    # --- planning: which nodes are missing (cheap, no I/O) ---------------------------------

    def inclusion_ids(self, seq: int, size: int, *, with_root: bool) -> set[NodeId]:
        ids = {NodeId(0, seq)}
        ids.update(n for group in inclusion_plan(seq, size) for n in group)
        if with_root:
            ids.update(root_plan(size))
        return ids

    def consistency_ids(self, size1: int, size2: int) -> set[NodeId]:
        ids = {*root_plan(size1), *root_plan(size2)}
        ids.update(n for group in consistency_plan(size1, size2) for n in group)
        return ids

    def collect(self, ids: Iterable[NodeId]) -> tuple[dict[NodeId, bytes], list[NodeId]]:
        """The cached hashes of ``ids`` (a private copy: a concurrent clear cannot take
        them away mid-proof) and the ids still missing."""
        nodes = self._nodes
        have: dict[NodeId, bytes] = {}
        missing: list[NodeId] = []
        for n in ids:
            h = nodes.get(n)
            if h is None:
                missing.append(n)
            else:
                have[n] = h
        return have, missing

    def needs_size_check(self, *sizes: int) -> bool:
        return any(s > self._known_size for s in sizes)

    # --- I/O (run in a worker thread) ------------------------------------------------------

    def load(self, ids: Sequence[NodeId], *, check_sizes: Sequence[int] = ()
             ) -> dict[NodeId, bytes]:
        """Fetch ``ids`` in one query (and, if asked, check sizes against the log); keep
        them, and return them."""
        if check_sizes:
            current, found = self._ledger.size_and_nodes(ids)
            with self._lock:
                self._known_size = max(self._known_size, current)
            for s in check_sizes:
                if s > current:
                    raise OutOfRange(f"tree size {s} is larger than the log ({current} "
                                     "entries)")
        else:
            found = self._ledger.nodes(ids)
        with self._lock:
            if len(self._nodes) + len(found) > self._max:
                self._nodes = {}  # a new dict: readers holding the old one are unaffected
            self._nodes.update(found)
        return found

    def drop(self) -> list[dict[NodeId, bytes]]:
        """Empty the cache (an idle worker's trim, evidence/api/idle_trim.py) and return
        the old nodes for the caller to free: a new dict, as when full, so a proof that
        collected from the old one still has it."""
        with self._lock:
            old, self._nodes = self._nodes, {}
        return [old]

    def saw_committed(self, size: int) -> None:
        """A size known to be committed (from a checkpoint): no need to check it again."""
        if size > self._known_size:
            with self._lock:
                self._known_size = max(self._known_size, size)

    # --- proofs from the cache (pure CPU) ---------------------------------------------------

    @staticmethod
    def inclusion(seq: int, size: int, nodes: Mapping[NodeId, bytes],
                  root: bytes | None = None) -> dict[str, object]:
        """The proof's JSON form from ``nodes`` (every planned node; see :meth:`collect`)."""
        def fetch(wanted: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
            return {n: nodes[n] for n in wanted if n in nodes}

        leaf = nodes.get(NodeId(0, seq))
        if leaf is None:
            raise LedgerError(f"entry {seq} is missing from the store; run `evidence audit`")
        try:
            proof = inclusion_proof(seq, size, fetch)
            if root is None:
                root = root_from_nodes(size, fetch)
        except (LookupError, KeyError) as e:
            raise LedgerError(f"stored tree is incomplete ({e}); run `evidence audit`") from None
        return {"index": seq, "tree_size": size, "leaf_hash": leaf.hex(),
                "proof": [h.hex() for h in proof], "root": root.hex()}

    @staticmethod
    def consistency(size1: int, size2: int, nodes: Mapping[NodeId, bytes]
                    ) -> dict[str, object]:
        def fetch(wanted: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
            return {n: nodes[n] for n in wanted if n in nodes}

        try:
            proof = consistency_proof(size1, size2, fetch)
            r1 = root_from_nodes(size1, fetch)
            r2 = root_from_nodes(size2, fetch)
        except (LookupError, KeyError) as e:
            raise LedgerError(f"stored tree is incomplete ({e}); run `evidence audit`") from None
        return {"size1": size1, "size2": size2, "root1": r1.hex(), "root2": r2.hex(),
                "proof": [h.hex() for h in proof]}
