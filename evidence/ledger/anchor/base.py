"""The anchor seam: what every kind of anchor (RFC 3161 TSA, witness, and later
OpenTimestamps or a court's judicial chain) implements, and the plain data that flows
through it.

An anchor has a ``name`` (unique among configured sources, the ``anchors.source`` column), a
``kind`` and a ``url``, and two operations:

``anchor(checkpoint, context) -> AnchorResult``
    Obtain outside evidence for one signed checkpoint and *verify it* before returning. Any
    failure (transport, refusal, or a reply that does not verify) raises
    :class:`AnchorFailed` with a reason for the operator; the service records it as a failed
    attempt and retries with backoff. Nothing that did not verify is ever returned.
``verify(stored, checkpoint_note) -> AnchorProof``
    Re-check a stored anchor offline, with only the pinned trust roots the anchor was built
    with; return what it proves, or raise :class:`AnchorFailed`.

Adding a kind (see docs/operations.md, "Anchoring"): a class with these members, a
``build_anchors`` branch in :mod:`evidence.ledger.anchor.service`, its configuration list in
:mod:`evidence.ledger.anchor.config`. Its raw proof goes in ``AnchorResult.token`` (bytes
exactly as received), anything else in ``details`` (JSON).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from evidence.ledger.errors import LedgerError

__all__ = [
    "Anchor",
    "AnchorContext",
    "AnchorFailed",
    "AnchorProof",
    "AnchorResult",
    "CheckpointToAnchor",
    "StoredAnchor",
]


class AnchorFailed(LedgerError):
    """An anchor could not be obtained or does not verify; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CheckpointToAnchor:
    """A stored, signed checkpoint. ``text`` is the note body without signatures: what TSAs
    time-stamp (imprint = SHA-256(text), docs/formats.md section 6)."""

    size: int
    note: str
    text: str


@dataclass(frozen=True)
class AnchorContext:
    """What the log knows that an anchor may need."""

    last_anchored_size: int
    """Newest checkpoint size this source anchored before (0: never): a witness's old size."""
    consistency_proof: Callable[[int, int], Sequence[bytes]]
    """``proof(old, new)``: RFC 9162 consistency proof between two sizes, from the ledger."""
    remember_witness_size: Callable[[int], None] | None = None
    """Keep the size a witness said (409) it last cosigned, for the next request (a witness
    with a request budget is asked once per attempt: :mod:`evidence.ledger.anchor.budget`)."""


@dataclass(frozen=True)
class AnchorResult:
    """A verified anchor, ready to be stored."""

    proof_time: datetime
    """The checkpoint existed no later than this (genTime, cosigned_at, ...). UTC."""
    token: bytes | None = None
    certs: tuple[bytes, ...] = ()
    gen_time: datetime | None = None
    serial: int | None = None
    policy: str | None = None
    verifier: str | None = None
    cosignature: str | None = None
    cosigned_at: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredAnchor:
    """One row of the ``anchors`` table."""

    checkpoint_size: int
    source: str
    kind: str
    status: str
    attempts: int
    next_attempt_at: str | None
    last_attempt_at: str | None
    last_error: str | None
    url: str | None
    created_at: str
    anchored_at: str | None = None
    proof_time: str | None = None
    token: bytes | None = None
    certs: tuple[bytes, ...] = ()
    gen_time: str | None = None
    serial: str | None = None
    policy: str | None = None
    verifier: str | None = None
    cosignature: str | None = None
    cosigned_at: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AnchorProof:
    """What a stored anchor proves, after re-verification."""

    source: str
    kind: str
    checkpoint_size: int
    proof_time: datetime
    statement: str
    """E.g. "checkpoint of size 12 of log X existed no later than 2026-... per TSA Y"."""
    verifier: str
    checks: tuple[str, ...]


@runtime_checkable
class Anchor(Protocol):
    name: str
    kind: str
    url: str

    def anchor(self, checkpoint: CheckpointToAnchor, context: AnchorContext) -> AnchorResult:
        ...

    def verify(self, stored: StoredAnchor, checkpoint_note: str) -> AnchorProof:
        ...
