"""A receipt whose full proof ends at a checkpoint the witness quorum cosigned.

``Intake.receipt`` proves an entry to the *latest* checkpoint, which the witnesses have
usually not cosigned yet. Whoever checks receipts against a trust file with a witness quorum
(``evidence verify-receipts --trust``) needs the proof to end at a checkpoint that carries
the quorum's cosignatures instead: this module swaps the checkpoint and the inclusion proof
of a receipt for those of the newest such checkpoint. The signed receipt and the entry are
unchanged, so both forms of one item's receipt name the same entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evidence.ledger.anchor import store
from evidence.ledger.anchor.base import AnchorFailed
from evidence.ledger.anchor.config import AnchorConfig
from evidence.ledger.anchor.status import cosigned_note
from evidence.ledger.log import Ledger

__all__ = ["witnessed_receipt"]


def witnessed_receipt(receipt: Mapping[str, Any], ledger: Ledger,
                      config: AnchorConfig) -> dict[str, Any]:
    """``receipt`` (as ``Intake.receipt`` returns it) proven to the newest checkpoint that
    at least the configured quorum (at least one) of the configured witnesses cosigned.

    ``checkpoint`` and ``inclusion_proof`` are ``None`` while no such checkpoint covers the
    entry, exactly as for a receipt no checkpoint covers yet. Raises :class:`AnchorFailed`
    when no witness is configured: then no receipt can carry a quorum."""
    if not config.witnesses:
        raise AnchorFailed("no witness is configured (anchors.json): no checkpoint can be "
                           "witnessed; use the receipt without --witnessed")
    quorum = max(config.witness_quorum, 1)
    size = store.newest_with_quorum(ledger.engine, [w.name for w in config.witnesses], quorum)
    out = {**receipt, "checkpoint": None, "inclusion_proof": None}
    seq = int(receipt["seq"])
    if size is not None and size > seq:
        out["checkpoint"] = cosigned_note(ledger, size, config)
        out["inclusion_proof"] = ledger.inclusion_proof(seq, size).to_json()
    return out
