"""The audit's quick pass (spans, in this process or in worker processes) against
its reference pass (the audit one entry at a time from entry 0): on clean ledgers
and on every kind of tampering, at span edges and inside spans, the two name the
same first bad ``seq`` with the same reason."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, update

from evidence.ledger import audit as audit_module
from evidence.ledger.audit import AuditReport, audit
from evidence.ledger.db.schema import checkpoints, entries, log_state, nodes
from evidence.ledger.keyfile import read_private_key
from evidence.ledger.log import Ledger
from evidence.verify.checkpoint import Checkpoint, sign_checkpoint
from evidence.verify.entry import encode_entry, parse_entry
from evidence.verify.hashing import leaf_hash

ORIGIN = "test.example/log"
N = 70  # entries: spans of 8 and 16 give whole spans and a partial last one
EDGES = [0, 1, 6, 7, 8, 9, 15, 16, 17, 23, 31, 32, 33, 47, 48, 63, 64, 65, N - 2, N - 1]
KINDS = ["none", "byte", "byte+leaf", "delete", "swap", "leaf", "short leaf", "time", "seq",
         "node", "node delete", "node high", "node extra", "node negative", "cp note", "cp root",
         "cp size", "cp signed", "cp zero", "state hash", "state size-", "state size+"]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A closed SQLite ledger of N entries, a checkpoint after each batch of 7."""
    d = tmp_path_factory.mktemp("audit") / "data"
    led = Ledger.create(d, ORIGIN, checkpoint_interval=0)
    led.append("custody.note", {"first": True})
    for start in range(1, N, 7):
        led.append_many([("evidence.submitted", {"i": i, "name": f"f{i}.png"})
                         for i in range(start, min(N, start + 7))])
    led.close()
    return d


@pytest.fixture
def ledger(base: Path, tmp_path: Path) -> Iterator[Ledger]:
    d = tmp_path / "copy"
    shutil.copytree(base, d)
    led = Ledger.open(d, read_only=True)
    yield led
    led.close()


def tamper(led: Ledger, kind: str, k: int) -> None:
    """Change the stored ledger around entry ``k`` the way ``kind`` says."""
    e = led.entry(k) if kind not in ("none", "node extra", "node negative") else None
    with led.engine.begin() as c:
        def set_entry(seq: int, **values) -> None:  # type: ignore[no-untyped-def]
            c.execute(update(entries).where(entries.c.seq == seq).values(**values))

        if kind == "byte":
            set_entry(k, data=e.data.replace(b'"f', b'"g').replace(b'"first":t', b'"first":f'))
        elif kind == "byte+leaf":  # a changed entry with a matching leaf hash
            data = e.data.replace(b'"f', b'"g').replace(b'"first":t', b'"first":f')
            set_entry(k, data=data, leaf_hash=leaf_hash(data))
        elif kind == "delete":
            c.execute(delete(entries).where(entries.c.seq == k))
        elif kind == "swap" and k + 1 < N:
            f = led.entry(k + 1)
            set_entry(k, data=f.data, leaf_hash=f.leaf_hash)
            set_entry(k + 1, data=e.data, leaf_hash=e.leaf_hash)
        elif kind == "leaf":
            set_entry(k, leaf_hash=b"\x01" * 32)
        elif kind == "short leaf":
            set_entry(k, leaf_hash=b"\x01" * 5)
        elif kind in ("time", "seq"):
            p = parse_entry(e.data)
            time = "2001-01-01T00:00:00.000000Z" if kind == "time" else p.time
            data = encode_entry(p.seq + (kind == "seq"), time, p.prev, p.type, p.body)
            set_entry(k, data=data, leaf_hash=leaf_hash(data))
        elif kind.startswith("node"):
            level = {"node": 1, "node delete": 2, "node high": 5, "node extra": 3,
                     "node negative": 1}[kind]
            idx = k >> level
            where = (nodes.c.level == level, nodes.c.idx == idx)
            if kind == "node negative":  # caught by the end check, outside the tree
                c.execute(insert(nodes).values(level=level, idx=-1 - k, hash=b"\6" * 32))
            elif kind == "node extra":
                c.execute(insert(nodes).values(level=level, idx=(N >> level) + 1, hash=b"\2" * 32))
            elif kind == "node delete":
                c.execute(delete(nodes).where(*where))
            else:
                c.execute(update(nodes).where(*where).values(hash=b"\x03" * 32))
        elif kind == "cp zero":  # a validly signed checkpoint of the empty log, wrong root
            signer = read_private_key(led.config.key_path)
            note = sign_checkpoint(Checkpoint(ORIGIN, 0, b"\x07" * 32), signer)
            c.execute(insert(checkpoints).values(size=0, root=b"\x07" * 32, note=note,
                                                 created_at="2026-11-21T00:00:00.000000Z"))
        elif kind.startswith("cp"):
            cp = c.execute(select(checkpoints).where(checkpoints.c.size >= k + 1)
                           .order_by(checkpoints.c.size).limit(1)).first()
            if cp is None:
                return
            where = checkpoints.c.size == cp.size
            if kind == "cp signed":  # a validly signed root that is not the tree's
                signer = read_private_key(led.config.key_path)
                note = sign_checkpoint(Checkpoint(ORIGIN, cp.size, b"\x09" * 32), signer)
                c.execute(update(checkpoints).where(where).values(note=note, root=b"\x09" * 32))
            elif kind == "cp note":
                forged = cp.note.replace("\n", " \n", 1)
                c.execute(update(checkpoints).where(where).values(note=forged))
            elif kind == "cp root":
                c.execute(update(checkpoints).where(where).values(root=b"\x04" * 32))
            else:
                c.execute(update(checkpoints).where(where).values(size=N + 3))
        elif kind == "state hash":
            c.execute(update(log_state).values(last_leaf_hash=b"\x05" * 32))
        elif kind == "state size-":
            c.execute(update(log_state).values(size=N - 1))
        elif kind == "state size+":
            c.execute(update(log_state).values(size=N + 1))


def verdict(r: AuditReport) -> tuple:
    if r.ok:
        return (True, r.size, r.root, r.entries_checked, r.nodes_checked, r.checkpoints_checked)
    return (False, r.size, r.first_bad_seq, r.reason)


def reference(led: Ledger) -> tuple:
    return verdict(audit(led.engine, led.verifier, quick=False, chunk=6))


def quick(led: Ledger, span: int, **kw) -> tuple:  # type: ignore[no-untyped-def]
    """The audit with its quick pass; checks that the quick pass did its share: the
    reference pass starts at the span of the first fault (or at the log's end, for
    faults only the end checks see), not at entry 0."""
    starts: list[int] = []
    real = audit_module._reference_pass

    def spy(engine, state, start, *args):  # type: ignore[no-untyped-def]
        starts.append(start.size)
        return real(engine, state, start, *args)

    audit_module._reference_pass = spy
    try:
        r = audit(led.engine, led.verifier, span=span, **kw)
    finally:
        audit_module._reference_pass = real
    (start,) = starts
    if r.ok or start == r.size:
        assert start == r.size
    else:
        assert start <= r.first_bad_seq < start + span, (start, r)
    return verdict(r)


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
