"""Signing checkpoints: a C2SP signed note over the log's size and root, stored once
per size.

The sequencer signs under the ``log_state`` lock of an append transaction
(:func:`sign_locked`, with the root it already holds); :func:`sign_checkpoint_now`
takes the lock itself (idle and close-time checkpoints, ``evidence log checkpoint``).
Either way the size is the one read under the lock, so a checkpoint never names a size
another writer is still changing, and checkpoint sizes only grow.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, insert

from evidence.ledger.clock import utc_now
from evidence.ledger.db.engine import write_transaction
from evidence.ledger.db.log_queries import (
    StoredCheckpoint,
    checkpoint_at,
    max_checkpoint_size,
    node_fetcher,
    read_state,
)
from evidence.ledger.db.schema import checkpoints as checkpoints_table
from evidence.ledger.errors import LedgerError, NotALedger
from evidence.ledger.log_keys import LogSigners
from evidence.verify.checkpoint import Checkpoint, sign_checkpoint
from evidence.verify.hashing import Hash32
from evidence.verify.merkle import root_from_nodes
from evidence.verify.note import Signer

__all__ = ["sign_checkpoint_now", "sign_locked"]


def sign_locked(conn: Connection, signer: Signer | LogSigners, size: int, root: bytes | None
                ) -> StoredCheckpoint:
    """Sign and store a checkpoint for ``size``, the current size read under the
    ``log_state`` lock (or return the checkpoint that exists for it). Refuses to go
    below the largest checkpoint: sizes of checkpoints only grow."""
    existing = checkpoint_at(conn, size)
    if existing is not None:
        return existing
    last = max_checkpoint_size(conn)
    if last is not None and last > size:
        raise LedgerError(f"a checkpoint for size {last} exists; refusing smaller {size}")
    if root is None:
        root = root_from_nodes(size, node_fetcher(conn))
    root = Hash32(bytes(root))
    if isinstance(signer, LogSigners):  # a rotation's overlap, an ML-DSA-44 key: a line each
        note = signer.sign(Checkpoint(signer.name, size, root).to_text(), size)
    else:
        note = sign_checkpoint(Checkpoint(signer.name, size, root), signer)
    created = utc_now()
    conn.execute(insert(checkpoints_table).values(size=size, root=root, note=note,
                                                  created_at=created))
    return StoredCheckpoint(size, root, note, created)


def sign_checkpoint_now(engine: Engine, signer: Signer | LogSigners) -> StoredCheckpoint:
    """Lock the log, sign a checkpoint for its current size (or return the existing one)."""
    with write_transaction(engine) as conn:
        state = read_state(conn, for_update=True)
        if state is None:
            raise NotALedger("log_state row is missing")
        return sign_locked(conn, signer, state.size, None)
