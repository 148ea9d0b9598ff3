"""Witnesses as anchors: the log side of c2sp.org/tlog-witness through
:mod:`evidence.ledger.anchor.witness_client` (which sends ``add-checkpoint`` with a consistency
proof from the size the witness last cosigned and checks the returned cosignature against the
pinned witness key). Only a cosignature by the pinned key over exactly this checkpoint is
returned; everything else is an :class:`AnchorFailed` with the reason (a fork report says so).
"""

from __future__ import annotations

from datetime import UTC, datetime

from evidence.ledger.anchor.base import (
    AnchorContext,
    AnchorFailed,
    AnchorProof,
    AnchorResult,
    CheckpointToAnchor,
    StoredAnchor,
)
from evidence.ledger.anchor.budget import WitnessBudget
from evidence.ledger.anchor.witness_client import (
    WitnessClientError,
    WitnessConflict,
    WitnessEndpoint,
    WitnessRefused,
    add_checkpoint,
)
from evidence.verify.checkpoint import parse_checkpoint
from evidence.verify.errors import VerificationError
from evidence.verify.note import Verifier, open_note, parse_note

__all__ = ["WitnessAnchor"]


class WitnessAnchor:
    kind = "witness"

    def __init__(self, name: str, url: str, key: Verifier, *, timeout: float = 10.0,
                 budget: WitnessBudget | None = None) -> None:
        self.name = name
        self.url = url
        self.key = key
        self.timeout = timeout
        self.budget = budget
        """At most ``qpd`` requests a day (:mod:`evidence.ledger.anchor.budget`): then each
        attempt is one request, and a 409's size is kept for the next one."""
        self.endpoint = WitnessEndpoint(url, key, timeout=timeout)

    def anchor(self, checkpoint: CheckpointToAnchor, context: AnchorContext) -> AnchorResult:
        try:
            c = add_checkpoint(self.endpoint, checkpoint.note, context.last_anchored_size,
                               context.consistency_proof,
                               max_calls=1 if self.budget is not None else 2)
        except WitnessConflict as e:
            if context.remember_witness_size is not None:
                context.remember_witness_size(e.witness_size)
            raise AnchorFailed(f"{type(e).__name__}: {e}") from e
        except WitnessRefused as e:
            what = "FORK REPORTED (split view?): " if e.fork else ""
            raise AnchorFailed(f"{what}{type(e).__name__}: {e}") from e
        except (WitnessClientError, VerificationError, ValueError) as e:
            raise AnchorFailed(f"{type(e).__name__}: {e}") from e
        if c.size != checkpoint.size:
            raise AnchorFailed(f"witness cosigned size {c.size}, not {checkpoint.size}")
        return AnchorResult(proof_time=datetime.fromtimestamp(c.cosigned_at, UTC),
                            cosignature="".join(c.lines), cosigned_at=c.cosigned_at,
                            verifier="witness-cosignature/v1",
                            details={"witness_key": self.key.to_string()})

    def verify(self, stored: StoredAnchor, checkpoint_note: str) -> AnchorProof:
        if not stored.cosignature:
            raise AnchorFailed(f"{stored.source}: no cosignature stored for size "
                               f"{stored.checkpoint_size}")
        return verify_cosignature(stored.cosignature, checkpoint_note, self.key,
                                  witness=self.name, expected_size=stored.checkpoint_size)


def verify_cosignature(lines: str, checkpoint_note: str, key: Verifier, *, witness: str,
                       expected_size: int | None = None) -> AnchorProof:
    """Check stored cosignature line(s) by the pinned witness ``key`` over the checkpoint."""
    try:
        text = parse_note(checkpoint_note).text if "\n\n" in checkpoint_note else checkpoint_note
        cp = parse_checkpoint(text)
        opened = open_note(text + "\n" + lines, [key])
    except VerificationError as e:
        raise AnchorFailed(f"cosignature by {witness} does not verify: {e}") from e
    if expected_size is not None and cp.size != expected_size:
        raise AnchorFailed(f"the checkpoint is of size {cp.size}, the anchor is for "
                           f"{expected_size}")
    mine = [v for v in opened.verified if (v.name, v.key_id) == (key.name, key.key_id)]
    if not mine or mine[0].cosigned_at is None:
        raise AnchorFailed(f"no cosignature by the pinned key {key.name}")
    t = datetime.fromtimestamp(mine[0].cosigned_at, UTC)
    return AnchorProof(
        source=witness, kind="witness", checkpoint_size=cp.size, proof_time=t,
        statement=(f"witness {witness} ({key.name}) cosigned checkpoint of size {cp.size} of "
                   f"log {cp.origin} at {t.strftime('%Y-%m-%dT%H:%M:%SZ')}, after checking it "
                   "is consistent with every checkpoint it cosigned before"),
        verifier="witness-cosignature/v1", checks=("cosignature",))
