"""The mirror's loop: a round every ``interval`` seconds, the server told after each
committed one, refusals said once each and kept in the status (the loop goes on: the
mirror keeps serving its last good state, and follows again if the log comes back to
a consistent view)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from evidence.mirror.errors import MirrorError, MirrorRefused
from evidence.mirror.mirror_dir import MirrorDir
from evidence.mirror.server import MirrorStatus
from evidence.mirror.source import TileSource
from evidence.mirror.sync import PinnedKey, RoundResult, mirror_round
from evidence.verify.note import Signer

__all__ = ["follow"]

log = logging.getLogger("evidence.mirror")


def follow(source: TileSource, mirror: MirrorDir, log_keys: Sequence[PinnedKey],
           signer: Signer | None, status: MirrorStatus, *, interval: float,
           stop: threading.Event) -> None:
    """Run rounds until ``stop`` is set."""
    said: str | None = None
    while not stop.is_set():
        try:
            result: RoundResult = mirror_round(source, mirror, log_keys, signer)
        except MirrorError as e:
            text = f"refused: {e}" if isinstance(e, MirrorRefused) else str(e)
            with status.lock:
                status.last_error = text
                if isinstance(e, MirrorRefused):
                    status.last_refusal = text
            if text != said:
                log.error("mirror round: %s", text)
                said = text
        else:
            status.published(mirror.store)
            with status.lock:
                status.rounds += 1
                status.last_error = None
            if result.size != result.size_before:
                log.info("mirrored %s up to %d entries (%d files)", result.origin,
                         result.size, len(result.written))
            said = None
        stop.wait(interval)
