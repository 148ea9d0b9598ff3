"""The checkpoint a server publishes with ``--publish-when-witnessed``: the newest one the
configured witness quorum cosigned, with the cosignatures appended.

As Tessera's witness policy does, a log run this way shows nobody a checkpoint before
the quorum of its witnesses (``witness_quorum`` in anchors.json, at least one) has
cosigned it: whoever reads ``/checkpoint``, ``/tlog/checkpoint`` or a proof gets a
checkpoint that independent parties have already checked is consistent with every one
they cosigned before, so a log cannot show one reader a tree the witnesses never saw.
Entries appended since are not hidden from their submitters (their receipts carry the
log's own checkpoint); they become publicly provable once a witnessed checkpoint covers
them.

The signed checkpoints themselves are unchanged; only which one is served differs.
"""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from evidence.ledger.anchor import store
from evidence.ledger.anchor.config import ANCHORS_FILE, AnchorConfig, load_anchor_config
from evidence.ledger.anchor.status import cosigned_note

if TYPE_CHECKING:  # pragma: no cover
    from evidence.ledger.log import Ledger, StoredCheckpoint

__all__ = ["WitnessedPublisher", "witnessed_checkpoint"]


def witnessed_checkpoint(ledger: Ledger, config: AnchorConfig) -> StoredCheckpoint | None:
    """The newest checkpoint at least ``max(1, witness_quorum)`` configured witnesses
    cosigned, its note carrying their cosignatures; None while there is none (or no
    witness is configured)."""
    names = [w.name for w in config.witnesses]
    if not names:
        return None
    size = store.newest_with_quorum(ledger.engine, names, max(1, config.witness_quorum))
    if size is None:
        return None
    cp = ledger.checkpoint_at(size)
    if cp is None:
        return None
    return replace(cp, note=cosigned_note(ledger, size, config))


class WitnessedPublisher:
    """:func:`witnessed_checkpoint` for one data directory, with anchors.json read again
    only when it changes (its modification time and size)."""

    def __init__(self, ledger: Ledger, data_dir: Path) -> None:
        self.ledger = ledger
        self.path = Path(data_dir) / ANCHORS_FILE
        self._lock = threading.Lock()
        self._config: tuple[tuple[int, int] | None, AnchorConfig] | None = None

    def config(self) -> AnchorConfig:
        try:
            st = os.stat(self.path)
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        with self._lock:
            if self._config is None or self._config[0] != stamp:
                # an unreadable anchors.json raises: publishing goes on with nothing new
                self._config = (stamp, load_anchor_config(self.path.parent))
            return self._config[1]

    def latest(self) -> StoredCheckpoint | None:
        return witnessed_checkpoint(self.ledger, self.config())
