"""The anchoring client keeps each witness's request budget (``qpd`` in anchors.json) and
follows c2sp.org/tlog-witness, against our witness over real HTTP: no two requests closer
than 86400/qpd seconds (counted at the witness), the newest checkpoint sent when the next
request is allowed (the ones in between never sent), a 409's size kept for the next
request instead of a second request at once, ``evidence status`` saying when the next
request is allowed; refusals named (403, 404) and retried with backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from evidence.ledger.anchor.budget import WitnessBudget
from evidence.ledger.anchor.config import AnchorConfig, RetryPolicy, WitnessSource
from evidence.ledger.anchor.schema import ANCHORED, SUPERSEDED
from evidence.ledger.anchor.service import AnchorService
from evidence.ledger.anchor.status import anchor_status
from evidence.ledger.anchor.store import list_anchors
from evidence.ledger.anchor.witness_client import WitnessEndpoint, add_checkpoint
from evidence.ledger.log import Ledger
from evidence.verify.note import generate_signer, parse_verifier_key
from evidence.witness.protocol import parse_add_checkpoint
from tests.witness.conftest import ServedWitness

ORIGIN = "budget.example/log"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def ledger(tmp_path: Path):  # type: ignore[no-untyped-def]
    led = Ledger.create(tmp_path / "data", ORIGIN, checkpoint_interval=0)
    try:
        yield led
    finally:
        led.close()


def grow(led: Ledger, n: int) -> int:
    for i in range(n):
        led.append("custody.note", {"text": f"note {i}"})
    cp = led.latest_checkpoint()
    assert cp is not None
    return cp.size


def service(led: Ledger, w: ServedWitness, clock: Clock, qpd: int | None) -> AnchorService:
    assert led.config is not None
    cfg = AnchorConfig(led.config.data_dir, witnesses=(
        WitnessSource("w1", w.url, w.vkey, timeout=10, qpd=qpd),), witness_quorum=1,
        retry=RetryPolicy(base=30, max=3600, jitter=0.0))
    return AnchorService(led, cfg, clock=clock)


def old_sizes(w: ServedWitness) -> list[int]:
    return [parse_add_checkpoint(b).old_size for b in w.requests]


def sent_sizes(w: ServedWitness) -> list[int]:
    return [parse_add_checkpoint(b).checkpoint.size for b in w.requests]


def test_budget_spaces_requests_and_sends_the_newest(ledger: Ledger,
                                                     served_witness: ServedWitness) -> None:
    w = served_witness
    w.witness.add_log(ORIGIN, [ledger.verifier])
    clock = Clock()
    svc = service(ledger, w, clock, qpd=24)  # one request an hour
    assert WitnessBudget(24).spacing == timedelta(hours=1)
    a = grow(ledger, 3)
    rep = svc.run_once()
    assert [x.ok for x in rep.attempts] == [True] and w.size(ORIGIN) == a
    b = grow(ledger, 2)
    clock.advance(60)
    assert svc.run_once().attempts == ()  # not before an hour has passed
    c = grow(ledger, 4)
    clock.advance(60)
    assert svc.run_once().attempts == ()
    st = anchor_status(ledger, svc.config, now=clock.now)
    (src,) = st["sources"]
    assert src["qpd"] == 24 and src["next_call_at"] is not None
    assert len(w.requests) == 1
    clock.advance(3600 - 120)
    rep = svc.run_once()
    assert [(x.checkpoint_size, x.ok) for x in rep.attempts] == [(c, True)]
    assert sent_sizes(w) == [a, c] and old_sizes(w) == [0, a]  # b was never sent
    rows = {r.checkpoint_size: r.status for r in list_anchors(ledger.engine, source="w1")}
    assert rows == {a: ANCHORED, b: SUPERSEDED, c: ANCHORED}


def test_409_size_kept_for_the_next_request(ledger: Ledger,
                                            served_witness: ServedWitness) -> None:
    """The witness already cosigned a checkpoint the log's anchors table does not know
    (a restored database; a reply lost after the witness stored it)."""
    w = served_witness
    w.witness.add_log(ORIGIN, [ledger.verifier])
    a = grow(ledger, 5)
    cp = ledger.checkpoint_at(a)
    assert cp is not None
    add_checkpoint(WitnessEndpoint(w.url, parse_verifier_key(w.vkey)), cp.note, 0,
                   lambda o, n: [])
    b = grow(ledger, 3)
    clock = Clock()
    svc = service(ledger, w, clock, qpd=1440)  # one a minute
    rep = svc.run_once()
    (att,) = rep.attempts
    assert not att.ok and f"last cosigned size {a}" in (att.error or "")
    assert old_sizes(w) == [0, 0] and w.size(ORIGIN) == a  # one request, not re-sent at once
    clock.advance(30)
    assert svc.run_once().attempts == ()  # within the minute: nothing sent
    clock.advance(30)
    rep = svc.run_once()
    assert [x.ok for x in rep.attempts] == [True]
    assert old_sizes(w) == [0, 0, a] and w.size(ORIGIN) == b
    req = parse_add_checkpoint(w.requests[-1])
    assert len(req.proof) > 0  # a consistency proof from the witness's size


def test_without_budget_409_resent_at_once(ledger: Ledger,
                                           served_witness: ServedWitness) -> None:
    w = served_witness
    w.witness.add_log(ORIGIN, [ledger.verifier])
    a = grow(ledger, 2)
    cp = ledger.checkpoint_at(a)
    assert cp is not None
    add_checkpoint(WitnessEndpoint(w.url, parse_verifier_key(w.vkey)), cp.note, 0,
                   lambda o, n: [])
    grow(ledger, 2)
    rep = service(ledger, w, Clock(), qpd=None).run_once()
    assert [x.ok for x in rep.attempts] == [True] and old_sizes(w) == [0, 0, a]


def test_refusals_named_and_retried_with_backoff(ledger: Ledger,
                                                 served_witness: ServedWitness) -> None:
    w = served_witness
    clock = Clock()
    svc = service(ledger, w, clock, qpd=86400)
    grow(ledger, 1)
    (att,) = svc.run_once().attempts
    assert not att.ok and "HTTP 404" in (att.error or "") and "does not follow" in att.error
    w.witness.add_log(ORIGIN, [generate_signer(ORIGIN).verifier()])  # not the log's key
    clock.advance(5)
    assert svc.run_once().attempts == ()  # backoff: 30 s after the first failure
    clock.advance(30)
    (att,) = svc.run_once().attempts
    assert not att.ok and "HTTP 403" in (att.error or "")
    assert len(w.requests) == 2
