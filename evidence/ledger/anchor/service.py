"""The anchoring loop: ask every configured source about the newest checkpoint, verify, store.

::

    svc = AnchorService(ledger, load_anchor_config(data_dir))
    report = svc.run_once()                       # one round (evidence anchor --once)
    stop = threading.Event()
    threading.Thread(target=svc.run_forever, args=(stop,), daemon=True).start()  # beside serve
    ...; stop.set()

Intake never waits for anchoring: this runs in its own thread or process, only *reads* the
ledger (latest checkpoint, consistency proofs) and writes only the ``anchors`` table, in short
transactions that never span a network call. Sources are asked concurrently, each with its own
timeout, so a TSA that hangs or answers garbage delays nobody else; its failure is recorded with
the reason and retried with exponential backoff and jitter per (checkpoint, source).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from evidence.ledger.anchor import store
from evidence.ledger.anchor.base import (
    Anchor,
    AnchorContext,
    AnchorFailed,
    AnchorResult,
    CheckpointToAnchor,
    StoredAnchor,
)
from evidence.ledger.anchor.budget import (
    WitnessBudget,
    remember_witness_size,
    witness_size_hint,
)
from evidence.ledger.anchor.config import AnchorConfig
from evidence.ledger.anchor.ers import ErsTsa
from evidence.ledger.anchor.ers_service import MadeRecords, NamedTsa, make_missing_records
from evidence.ledger.anchor.tsa import TsaAnchor, describe_failure
from evidence.ledger.anchor.witness import WitnessAnchor
from evidence.ledger.log import Ledger
from evidence.verify.note import parse_note, parse_verifier_key

__all__ = ["AnchorService", "Attempt", "RoundReport", "build_anchors"]

log = logging.getLogger("evidence.anchor")

LEASE_GRACE_S = 30.0


def build_anchors(config: AnchorConfig) -> list[Anchor]:
    """One :class:`Anchor` per configured source, in configuration order."""
    out: list[Anchor] = []
    for t in config.tsas:
        out.append(TsaAnchor(t.name, t.url, t.ca_pems(config.data_dir), policy=t.policy,
                             timeout=t.timeout))
    for w in config.witnesses:
        out.append(WitnessAnchor(w.name, w.url, parse_verifier_key(w.key), timeout=w.timeout,
                                 budget=None if w.qpd is None else WitnessBudget(w.qpd)))
    return out


@dataclass(frozen=True)
class Attempt:
    checkpoint_size: int
    source: str
    ok: bool
    error: str | None = None
    proof_time: datetime | None = None


@dataclass(frozen=True)
class RoundReport:
    checkpoint_size: int | None
    attempts: tuple[Attempt, ...]
    unfinished: tuple[str, ...] = ()
    """Sources whose attempt was still running when the round's deadline passed."""
    records: MadeRecords | None = None
    """The evidence records made this round (None: no item needed one)."""

    def to_json(self) -> dict[str, object]:
        extra = {} if self.records is None else {"evidence_records": self.records.to_json()}
        return {**extra, "checkpoint_size": self.checkpoint_size,
                "attempts": [{"checkpoint_size": a.checkpoint_size, "source": a.source,
                              "ok": a.ok, "error": a.error,
                              "proof_time": None if a.proof_time is None
                              else a.proof_time.isoformat()} for a in self.attempts],
                "unfinished": list(self.unfinished)}


class AnchorService:
    """Anchors a ledger's checkpoints with the configured sources.

    ``anchors`` overrides :func:`build_anchors` (tests, or a kind not in the config yet);
    ``clock`` and ``rng`` make backoff testable.
    """

    def __init__(self, ledger: Ledger, config: AnchorConfig, *,
                 anchors: Sequence[Anchor] | None = None,
                 clock: Callable[[], datetime] | None = None,
                 rng: random.Random | None = None) -> None:
        self.ledger = ledger
        self.config = config
        self.anchors = list(build_anchors(config) if anchors is None else anchors)
        names = [a.name for a in self.anchors]
        if len(set(names)) != len(names):
            raise ValueError(f"anchor names must be unique: {names}")
        self._clock = clock or (lambda: datetime.now(UTC))
        self._rng = rng or random.Random()
        self._engine = ledger.engine
        self._tsas = [NamedTsa(a.name, ErsTsa(a.url, tuple(a.ca_pems), a.timeout, a.policy))
                      for a in self.anchors if isinstance(a, TsaAnchor)]
        self._records_below = 0  # every item before this entry has a record (this process)

    # --- one round -------------------------------------------------------------------------

    def run_once(self) -> RoundReport:
        """One round: make rows for the newest checkpoint, then try every due (checkpoint,
        source) concurrently. Returns when every attempt finished or timed out."""
        cp = self.ledger.latest_checkpoint()
        if cp is None or not self.anchors:
            return RoundReport(None if cp is None else cp.size, ())
        now = self._clock()
        by_name = {a.name: a for a in self.anchors}
        store.ensure_rows(self._engine, cp.size,
                          [(a.name, a.kind, a.url) for a in self.anchors], now)
        # witnesses follow the log forwards: only the newest checkpoint is ever offered
        older_done = [a.name for a in self.anchors
                      if a.kind == "witness" or not self.config.retry_older]
        store.supersede_older(self._engine, cp.size, older_done)
        due = store.due_rows(self._engine, list(by_name), now)
        claimed = []
        for row in due:
            a = by_name[row.source]
            budget: WitnessBudget | None = getattr(a, "budget", None)
            if budget is not None:  # no request before the witness's budget allows one
                if budget.claim(self._engine, row, now, self._lease(a)):
                    claimed.append(row)
            elif store.claim(self._engine, row, now, self._lease(a)):
                claimed.append(row)
        if not claimed:
            return RoundReport(cp.size, (), records=self._records())
        results: list[Attempt] = []
        lock = threading.Lock()
        pool = ThreadPoolExecutor(max_workers=min(16, len(claimed)),
                                  thread_name_prefix="anchor")
        try:
            futures = {pool.submit(self._attempt, by_name[r.source], r, results, lock): r
                       for r in claimed}
            deadline = max(self._lease(by_name[r.source]) for r in claimed)
            _done, not_done = wait(futures, timeout=deadline)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        unfinished = tuple(sorted(futures[f].source for f in not_done))
        with lock:
            attempts = tuple(sorted(results, key=lambda a: (-a.checkpoint_size, a.source)))
        return RoundReport(cp.size, attempts, unfinished, self._records())

    def _records(self) -> MadeRecords | None:
        """RFC 4998 records for the items of the newest checkpoint a TSA anchored (after the
        round's attempts, so a token just stored counts); a failure is reported, never
        raised: the next round tries again."""
        try:
            made = make_missing_records(self.ledger, self._tsas, now=self._clock(),
                                        from_seq=self._records_below)
        except Exception as e:  # the loop never dies of one step
            log.exception("evidence records")
            return MadeRecords(0, None, (describe_failure(e),))
        if made is not None and made.complete:
            self._records_below = made.upto
        return None if made is None or (made.made == 0 and not made.errors) else made

    def _lease(self, a: Anchor) -> float:
        return float(getattr(a, "timeout", 10.0)) * 2 + LEASE_GRACE_S

    def _attempt(self, a: Anchor, row: StoredAnchor, results: list[Attempt],
                 lock: threading.Lock) -> None:
        size = row.checkpoint_size
        attempts = row.attempts + 1
        try:
            result = self._ask(a, size)
        except Exception as e:  # every failure is recorded; the loop itself never dies of one
            reason = e.reason if isinstance(e, AnchorFailed) else describe_failure(e)
            if self.config.retry.gives_up_after(attempts):
                nxt = None
                reason += f" (gave up after {attempts} attempts)"
            else:
                nxt = self._clock() + timedelta(
                    seconds=self.config.retry.delay(attempts, self._rng))
            store.record_failure(self._engine, size, a.name, reason, nxt)
            log.warning("anchor %s, checkpoint %d, attempt %d failed: %s", a.name, size,
                        attempts, reason)
            with lock:
                results.append(Attempt(size, a.name, False, reason))
            return
        store.record_success(self._engine, size, a.name, result, self._clock())
        if a.kind == "witness" or not self.config.retry_older:
            store.supersede_older(self._engine, size, [a.name])
        log.info("anchor %s: checkpoint %d anchored, proof time %s", a.name, size,
                 result.proof_time.isoformat())
        with lock:
            results.append(Attempt(size, a.name, True, None, result.proof_time))

    def _ask(self, a: Anchor, size: int) -> AnchorResult:
        cp = self.ledger.checkpoint_at(size)
        if cp is None:
            raise AnchorFailed(f"checkpoint of size {size} is not stored")
        text = parse_note(cp.note).text
        old = store.last_anchored_size(self._engine, a.name, below=size)
        if a.kind == "witness":  # what the witness last said, if newer than its last cosign
            hint = witness_size_hint(self._engine, a.name, below=size)
            old = old if hint is None else hint
        ctx = AnchorContext(
            last_anchored_size=old,
            consistency_proof=lambda old, new: list(
                self.ledger.consistency_proof(old, new).proof),
            remember_witness_size=lambda said: remember_witness_size(self._engine, size,
                                                                     a.name, said))
        return a.anchor(CheckpointToAnchor(size, cp.note, text), ctx)

    # --- the loop ----------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event, interval: float | None = None) -> None:
        """Rounds every ``interval`` seconds (default: the config's) until ``stop`` is set.
        An error in a round is logged, never fatal: the next round tries again."""
        every = self.config.interval if interval is None else interval
        while not stop.is_set():
            try:
                rep = self.run_once()
                if rep.unfinished:
                    log.warning("anchor round: still waiting for %s", ", ".join(rep.unfinished))
            except Exception:
                log.exception("anchor round failed; retrying in %.0f s", every)
            stop.wait(every)

    def start_background(self, interval: float | None = None
                         ) -> tuple[threading.Thread, threading.Event]:
        """Run :meth:`run_forever` in a daemon thread (e.g. beside ``evidence serve``).
        Set the returned event to stop it, then ``join`` the thread."""
        stop = threading.Event()
        t = threading.Thread(target=self.run_forever, args=(stop, interval),
                             name="evidence-anchor", daemon=True)
        t.start()
        return t, stop
