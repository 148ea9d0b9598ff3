"""An item's ``.tlog-proof`` file (C2SP tlog-proof@v1; layout in
:mod:`evidence.verify.tlog_proof`), written from its receipt.

The proof ends at the newest checkpoint the witness quorum cosigned
(:func:`~evidence.ledger.anchor.witnessed.witnessed_receipt`), so that a verifier holding a
trust file with a quorum accepts it; when no witness is configured, or none of the
quorum's checkpoints covers the entry yet, it falls back to the latest checkpoint and says
so (a verifier with a quorum will then fail ``cosignatures``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evidence.ledger.anchor.base import AnchorFailed
from evidence.ledger.anchor.config import AnchorConfig
from evidence.ledger.anchor.witnessed import witnessed_receipt
from evidence.ledger.log import Ledger
from evidence.verify.hashing import Hash32, hash_from_hex
from evidence.verify.tlog_proof import TlogProof

__all__ = ["ProofFile", "proof_file", "tlog_proof_text"]

MEDIA_TYPE = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class ProofFile:
    text: str | None
    """The file, or None while no checkpoint covers the entry."""
    witnessed: bool
    """Whether the checkpoint is one the configured witness quorum cosigned."""
    note: str
    """What a person should know about the checkpoint chosen (one line)."""


def tlog_proof_text(receipt: Mapping[str, Any]) -> str | None:
    """The tlog-proof of a receipt as ``Intake.receipt`` returns it (the entry in the
    ``extra`` line), or None when no checkpoint covers the entry."""
    p, note = receipt.get("inclusion_proof"), receipt.get("checkpoint")
    if p is None or note is None:
        return None
    hashes = tuple(Hash32(hash_from_hex(h, "proof hash")) for h in p["proof"])
    return TlogProof(int(p["index"]), hashes, note,
                     str(receipt["entry"]).encode("utf-8")).to_text()


def proof_file(receipt: Mapping[str, Any], ledger: Ledger,
               config: AnchorConfig | None) -> ProofFile:
    """The item's proof file, to the newest checkpoint the witness quorum cosigned when
    there is one that covers the entry, else to the latest checkpoint (with a note)."""
    if config is not None:
        try:
            w = witnessed_receipt(receipt, ledger, config)
        except AnchorFailed:
            w = None
        if w is not None and w["checkpoint"] is not None:
            size = w["inclusion_proof"]["tree_size"]
            return ProofFile(tlog_proof_text(w), True,
                             f"proven to checkpoint {size}, cosigned by the witness quorum")
    text = tlog_proof_text(receipt)
    if text is None:
        return ProofFile(None, False, "no checkpoint covers this entry yet: run `evidence "
                         "log checkpoint` or wait, then ask again")
    why = ("no witness is configured" if config is None or not config.witnesses
           else "no checkpoint the witness quorum cosigned covers this entry yet")
    size = receipt["inclusion_proof"]["tree_size"]
    return ProofFile(text, False, f"proven to the latest checkpoint {size}, not witnessed "
                     f"({why}): a trust file with a witness quorum will not accept it yet")
