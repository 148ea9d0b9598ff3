"""The audit's quick pass (spans, in this process or in worker processes) against
its reference pass (the audit one entry at a time from entry 0): on clean ledgers
and on every kind of tampering, at span edges and inside spans, the two name the
same first bad ``seq`` with the same reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, update

from evidence.ledger.audit import log_audit as audit_module
from evidence.ledger.audit.log_audit import audit
from evidence.ledger.db.schema import entries, log_state, nodes
from evidence.ledger.log import Ledger
from tests.support.tamper import ORIGIN, N, quick, reference, tamper, verdict

EDGES = [0, 1, 6, 7, 8, 9, 15, 16, 17, 23, 31, 32, 33, 47, 48, 63, 64, 65, N - 2, N - 1]
KINDS = ["none", "byte", "byte+leaf", "delete", "swap", "leaf", "short leaf", "time", "seq",
         "node", "node delete", "node high", "node extra", "node negative", "cp note", "cp root",
         "cp size", "cp signed", "cp zero", "state hash", "state size-", "state size+"]


@pytest.mark.slow
@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(kind=st.sampled_from(KINDS), k=st.one_of(st.sampled_from(EDGES), st.integers(0, N - 1)))
def test_quick_pass_in_process_names_what_the_reference_names(base: Path, tmp_path_factory,
                                                              kind: str, k: int) -> None:
    d = tmp_path_factory.mktemp("case") / "data"
    shutil.copytree(base, d)
    with Ledger.open(d, read_only=True) as led:
        tamper(led, kind, k)
        want = reference(led)
        for span, chunk in ((8, 5), (16, 3), (4, 100), (32, 1), (1 << 16, 5000)):
            assert quick(led, span, workers=1, chunk=chunk) == want, (kind, k, span)
    shutil.rmtree(d.parent)


def test_clean_ledger_all_paths_agree(ledger: Ledger) -> None:
    want = reference(ledger)
    assert want[0] is True and want[1] == N and want[3] == N
    assert want[4] == N - bin(N).count("1")  # every stored node, none twice
    seen: list[tuple[int, int]] = []
    for workers, span in ((1, 8), (2, 8), (2, 16), (None, 1 << 16)):
        seen.clear()
        r = audit(ledger.engine, ledger.verifier, workers=workers, span=span,
                  progress=lambda done, total: seen.append((done, total)))
        assert verdict(r) == want
        assert seen and seen[-1] == (N, N) and seen == sorted(seen)


@pytest.mark.slow  # a pool of worker processes for each case: the quick lane starts none
@pytest.mark.parametrize("kind, k", [
    ("byte", 8), ("byte", 7), ("byte+leaf", 15), ("byte+leaf", 16), ("delete", 8),
    ("delete", 7), ("delete", 15), ("delete", N - 1), ("swap", 7), ("swap", 15), ("leaf", 16),
    ("time", 8), ("time", 32), ("seq", 16), ("node", 15), ("node delete", 15), ("node high", 31),
    ("node high", 63), ("node extra", 0), ("node negative", 0), ("cp note", 7), ("cp signed", 7),
    ("cp signed", 20), ("cp root", 14), ("cp size", 40), ("cp zero", 0), ("state hash", 0),
    ("state size-", 0), ("state size+", 0)])
def test_worker_processes_name_what_the_reference_names(ledger: Ledger, kind: str,
                                                        k: int) -> None:
    tamper(ledger, kind, k)
    want = reference(ledger)
    assert want[0] is False
    assert quick(ledger, 8, workers=2) == want


@pytest.mark.pg
def test_worker_processes_on_postgresql(pg_fresh_url: str, tmp_path: Path) -> None:
    led = Ledger.create(tmp_path / "data", ORIGIN, db_url=pg_fresh_url, checkpoint_interval=0)
    try:
        for start in range(0, 40, 7):
            led.append_many([("evidence.submitted", {"i": i, "name": f"f{i}.png"})
                             for i in range(start, min(40, start + 7))])
        want = reference(led)
        assert want[0] is True
        assert verdict(audit(led.engine, led.verifier, workers=2, span=8)) == want
        tamper(led, "delete", 16)
        want = reference(led)
        assert want[:3] == (False, 40, 16)
        assert verdict(audit(led.engine, led.verifier, workers=2, span=8)) == want
    finally:
        led.close()


def test_checkpoint_signed_while_the_audit_runs_is_no_fault(tmp_path: Path) -> None:
    """On a live ledger the audit reads the size, then the checkpoints: a batch and its
    checkpoint committed in between must not be reported as a checkpoint beyond the log
    (the audit covers the size it read; the next audit covers the rest)."""
    led = Ledger.create(tmp_path / "data", ORIGIN, checkpoint_interval=0)
    led.append_many([("custody.note", {"i": i}) for i in range(5)])  # a checkpoint per batch
    early = led.entry(4)
    led.append_many([("custody.note", {"i": i}) for i in range(5, 9)])
    assert led.latest_checkpoint().size == 9
    real = audit_module.read_state
    calls = []

    def as_of_five(conn):  # type: ignore[no-untyped-def]
        state = real(conn)
        calls.append(state.size)
        if len(calls) > 1:
            return state  # later reads: the log as it is now
        return type(state)(state.origin, state.log_vkey, 5, early.leaf_hash, early.time)

    audit_module.read_state = as_of_five
    try:
        r = audit(led.engine, led.verifier, workers=1)
    finally:
        audit_module.read_state = real
    assert r.ok, r.reason
    assert r.size == 5 and r.entries_checked == 5
    # a checkpoint beyond a log that really is that short is still a fault
    with led.engine.begin() as c:
        c.execute(update(log_state).values(size=5, last_leaf_hash=early.leaf_hash))
        c.execute(delete(entries).where(entries.c.seq >= 5))
        for level in range(1, 5):  # the nodes of the tree of 9 that the tree of 5 lacks
            c.execute(delete(nodes).where(nodes.c.level == level, nodes.c.idx >= 5 >> level))
    r = audit(led.engine, led.verifier, workers=1)
    assert not r.ok and "checkpoint claims size 9" in r.reason
    led.close()
