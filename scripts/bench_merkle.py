#!/usr/bin/env python3
"""Benchmark of the RFC 9162 Merkle code in evidence/verify (run by hand, not by CI).

Prints each figure beside this machine's measured limit (../shared/recipes/README.md:
RFC 6962 leaf hash 2.5 M/s on the 2-core reference machine) and the issue's target.

    python scripts/bench_merkle.py [--leaves 1000000]
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import random
import time

from evidence.verify import merkle
from evidence.verify.fast.inclusion_batch import InclusionBatch
from evidence.verify.hashing import leaf_hash

LEAF_HASH_LIMIT = 2.5e6  # leaf hashes/s on the reference machine


_MINE: list = []


def _take_share(share: list) -> int:
    """Keep this worker's proofs as its own objects (sent by pickling, not timed).

    Proofs inherited by fork would be shared copy-on-write pages, and touching each
    object's reference count copies its page in the child: that bill belongs to the
    benchmark, not to verification (an auditor's process reads its own proofs)."""
    _MINE[:] = share
    return len(share)


def _take_share_once(share: list, barrier) -> int:  # type: ignore[no-untyped-def]
    barrier.wait()  # every worker holds one task at once: one share per worker
    return _take_share(share)


def _verify_on_each(batched: bool, barrier) -> int:  # type: ignore[no-untyped-def]
    barrier.wait()
    return _verify_share(batched)


def _verify_share(batched: bool) -> int:
    """Verify this worker's proofs: one by one, or through one InclusionBatch."""
    if batched:
        _, n, _, _, root = _MINE[0]
        batch = InclusionBatch(n, root)
        for i, _, leaf, proof, _ in _MINE:
            batch.verify(i, leaf, proof)
    else:
        for args in _MINE:
            merkle.verify_inclusion(*args)
    return len(_MINE)


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leaves", type=int, default=1_000_000)
    ap.add_argument("--proofs", type=int, default=100_000)
    args = ap.parse_args()
    n = args.leaves
    rng = random.Random(1)

    entries = [os.urandom(100) for _ in range(n)]
    leaves, t_leaf = timed(lambda: [leaf_hash(e) for e in entries])
    root, t_root = timed(merkle.root, leaves)

    # the ledger's path: stored perfect subtrees, proofs from O(log n) node reads
    store: dict = {}
    tree = merkle.CompactRange()
    _, t_append = timed(lambda: [store.update(tree.append(h)) for h in leaves])
    assert tree.root() == root

    def fetch(ids):
        return {i: store[i] for i in ids}

    idx = [rng.randrange(n) for _ in range(args.proofs)]
    proofs, t_gen = timed(lambda: [merkle.inclusion_proof(i, n, fetch) for i in idx])
    _, t_ver = timed(
        lambda: [
            merkle.verify_inclusion(i, n, leaves[i], p, root)
            for i, p in zip(idx, proofs, strict=True)
        ]
    )
    # An auditor checking a stack of proofs against one checkpoint: InclusionBatch gives the
    # same verdicts and does not re-hash the top of the tree that the paths share.
    def batched() -> None:
        batch = InclusionBatch(n, root)
        for i, p in zip(idx, proofs, strict=True):
            batch.verify(i, leaves[i], p)

    _, t_batch = timed(batched)
    # Verification is embarrassingly parallel (an auditor checks many proofs); hashlib holds
    # the GIL for small inputs, so use one process per core. Pool start-up and handing each
    # worker its share of the proofs are not timed; the timed call only verifies.
    work = [(i, n, leaves[i], p, root) for i, p in zip(idx, proofs, strict=True)]
    cores = os.cpu_count() or 1
    ctx = multiprocessing.get_context("fork")
    with ctx.Manager() as manager, ctx.Pool(cores) as pool:
        barrier = manager.Barrier(cores)
        shares = pool.starmap(_take_share_once, [(work[k::cores], barrier) for k in range(cores)])
        assert sum(shares) == len(work)
        pool.starmap(_verify_on_each, [(False, barrier)] * cores)  # warm up
        _, t_par = timed(lambda: pool.starmap(_verify_on_each, [(False, barrier)] * cores))
        _, t_par_batch = timed(lambda: pool.starmap(_verify_on_each, [(True, barrier)] * cores))

    olds = [rng.randrange(1, n) for _ in range(args.proofs // 4)]
    roots_old = {m: merkle.root_from_nodes(m, fetch) for m in olds}
    cproofs, t_cgen = timed(lambda: [merkle.consistency_proof(m, n, fetch) for m in olds])
    _, t_cver = timed(
        lambda: [merkle.verify_consistency(m, n, roots_old[m], root, p)
                 for m, p in zip(olds, cproofs, strict=True)]
    )

    # Calibrate against the machine as it is now (it is shared and noisy):
    # raw node hashes per second with nothing of ours around them.
    sha, a, b = hashlib.sha256, b"\x01" + leaves[0], leaves[1]
    _, t_cal = timed(lambda: [sha(a + b).digest() for _ in range(1_000_000)])
    now = 1_000_000 / t_cal

    depth = (n - 1).bit_length()
    rows = [
        ("raw SHA-256 node hashes, now (calibration)", f"{now:,.0f}/s",
         f"{LEAF_HASH_LIMIT:,.0f}/s", "-"),
        ("leaf hashes (100-byte entries)", f"{rate(n, t_leaf):,.0f}/s",
         f"{LEAF_HASH_LIMIT:,.0f}/s", "-"),
        (f"root over {n:,} leaf hashes", f"{t_root:.2f} s",
         f"{n / LEAF_HASH_LIMIT:.2f} s (hashing n nodes)", "<= 1.0 s"),
        ("append to compact range + node store", f"{rate(n, t_append):,.0f}/s", "-", "-"),
        ("inclusion proofs generated (stored nodes)", f"{rate(len(idx), t_gen):,.0f}/s", "-",
         "-"),
        ("inclusion proofs verified", f"{rate(len(idx), t_ver):,.0f}/s",
         f"{LEAF_HASH_LIMIT / depth:,.0f}/s ({depth} hashes each; now {now / depth:,.0f}/s)",
         ">= 100,000/s"),
        (f"inclusion proofs verified, {cores} processes", f"{rate(len(idx), t_par):,.0f}/s",
         f"{cores * LEAF_HASH_LIMIT / depth:,.0f}/s (now {cores * now / depth:,.0f}/s)",
         ">= 100,000/s"),
        ("inclusion proofs verified, one tree head (InclusionBatch)",
         f"{rate(len(idx), t_batch):,.0f}/s", "shared upper paths hashed once", ">= 100,000/s"),
        (f"  the same, {cores} processes", f"{rate(len(idx), t_par_batch):,.0f}/s", "-",
         ">= 100,000/s"),
        ("consistency proofs generated", f"{rate(len(olds), t_cgen):,.0f}/s", "-", "-"),
        ("consistency proofs verified", f"{rate(len(olds), t_cver):,.0f}/s", "-", "-"),
    ]
    w = max(len(r[0]) for r in rows)
    print(f"{'measure':<{w}}  {'measured':>14}  {'machine limit':>28}  target")
    for name, got, limit, target in rows:
        print(f"{name:<{w}}  {got:>14}  {limit:>28}  {target}")


if __name__ == "__main__":
    main()
