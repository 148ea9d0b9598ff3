"""What ``evidence status`` reports, and re-verification of what is stored.

Lag per source: ``lag_entries`` = log size - newest anchored checkpoint size;
``lag_seconds`` = now - the sequencer time of the first entry that anchor does not cover (how
long the oldest un-anchored entry has been waiting; 0 when everything is covered).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from evidence.ledger.anchor import store
from evidence.ledger.anchor.base import AnchorFailed, AnchorProof
from evidence.ledger.anchor.budget import WitnessBudget, next_call_at
from evidence.ledger.anchor.config import AnchorConfig
from evidence.ledger.anchor.schema import ANCHORED
from evidence.ledger.log import Ledger
from evidence.verify.entry import parse_time
from evidence.verify.note import add_signature_lines

__all__ = ["StoredVerification", "anchor_status", "cosigned_note", "verify_stored_anchors"]


def _entry_time(ledger: Ledger, seq: int) -> datetime | None:
    try:
        return parse_time(ledger.entry(seq).time)
    except Exception:
        return None


def anchor_status(ledger: Ledger, config: AnchorConfig, *,
                  now: datetime | None = None) -> dict[str, Any]:
    """A JSON-able summary: the log, and per configured source its newest anchor and lag."""
    now = now or datetime.now(UTC)
    engine = ledger.engine
    size = ledger.size
    cp = ledger.latest_checkpoint()
    sources: list[dict[str, Any]] = []
    kinds = [("tsa", t.name, t.url) for t in config.tsas] + [
        ("witness", w.name, w.url) for w in config.witnesses]
    qpds = {w.name: w.qpd for w in config.witnesses}
    for kind, name, url in kinds:
        newest = store.newest_anchored(engine, name)
        last = store.latest_attempted(engine, name)
        anchored = newest.checkpoint_size if newest else 0
        lag_s = 0.0
        if anchored < size:
            t = _entry_time(ledger, anchored)
            lag_s = max(0.0, (now - t).total_seconds()) if t else 0.0
        sources.append({
            "name": name, "kind": kind, "url": url,
            "anchored_size": newest.checkpoint_size if newest else None,
            "anchored_time": newest.proof_time if newest else None,
            "verifier": newest.verifier if newest else None,
            "lag_entries": size - anchored,
            "lag_seconds": round(lag_s, 3),
            "last_attempt_at": last.last_attempt_at if last else None,
            "last_status": last.status if last else None,
            "last_error": (last.last_error if last and last.status != ANCHORED else None),
            "attempts": last.attempts if last else 0,
            "next_attempt_at": last.next_attempt_at if last else None,
            "unfinished": store.pending_count(engine, name),
            **({"qpd": qpds.get(name), "next_call_at": next_call_at(
                engine, name, None if qpds.get(name) is None else WitnessBudget(qpds[name]))}
               if kind == "witness" else {}),
        })
    wnames = [w.name for w in config.witnesses]
    return {
        "origin": ledger.origin,
        "log_size": size,
        "latest_checkpoint": None if cp is None else {"size": cp.size, "time": cp.created_at},
        "witness_quorum": config.witness_quorum,
        "newest_size_with_quorum": store.newest_with_quorum(engine, wnames,
                                                            config.witness_quorum),
        "sources": sources,
    }


def cosigned_note(ledger: Ledger, size: int, config: AnchorConfig | None = None) -> str:
    """The checkpoint note of ``size`` with every stored witness cosignature appended
    (what a bundle carries). Raises :class:`AnchorFailed` if a configured quorum is not met."""
    cp = ledger.checkpoint_at(size)
    if cp is None:
        raise AnchorFailed(f"no checkpoint of size {size}")
    rows = [r for r in store.list_anchors(ledger.engine, size=size, status=ANCHORED)
            if r.kind == "witness" and r.cosignature]
    if config is not None and config.witness_quorum:
        names = {w.name for w in config.witnesses}
        have = sum(1 for r in rows if r.source in names)
        if have < config.witness_quorum:
            raise AnchorFailed(f"checkpoint {size} has {have} witness cosignature(s); the "
                               f"quorum is {config.witness_quorum}")
    lines = [ln for r in rows for ln in (r.cosignature or "").splitlines(keepends=True)]
    return add_signature_lines(cp.note, lines) if lines else cp.note


@dataclass(frozen=True)
class StoredVerification:
    source: str
    checkpoint_size: int
    ok: bool
    proof: AnchorProof | None
    error: str | None

    def to_json(self) -> dict[str, Any]:
        p = self.proof
        return {"source": self.source, "checkpoint_size": self.checkpoint_size, "ok": self.ok,
                "statement": p.statement if p else None,
                "proof_time": p.proof_time.isoformat() if p else None,
                "verifier": p.verifier if p else None,
                "checks": list(p.checks) if p else [], "error": self.error}


def verify_stored_anchors(ledger: Ledger, config: AnchorConfig, size: int
                          ) -> list[StoredVerification]:
    """Re-verify, offline with the configured pins, every anchor stored for checkpoint ``size``."""
    cp = ledger.checkpoint_at(size)
    if cp is None:
        raise AnchorFailed(f"no checkpoint of size {size}")
    # here, not at the top: the anchors' clients (rfc3161-client, x509) are not loaded by
    # a serving worker that only reads anchor status (tests/processes/test_lazy_imports.py)
    from evidence.ledger.anchor.service import build_anchors

    by_name = {a.name: a for a in build_anchors(config)}
    out = []
    for row in store.list_anchors(ledger.engine, size=size, status=ANCHORED):
        a = by_name.get(row.source)
        if a is None:
            out.append(StoredVerification(row.source, size, False, None,
                                          "source no longer configured: no pinned trust root"))
            continue
        try:
            out.append(StoredVerification(row.source, size, True, a.verify(row, cp.note), None))
        except AnchorFailed as e:
            out.append(StoredVerification(row.source, size, False, None, e.reason))
    return out
