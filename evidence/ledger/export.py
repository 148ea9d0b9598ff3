"""``evidence log export DIR``: the whole log as plain files for offline auditors.

Layout (see docs/formats.md, "Log export")::

    DIR/log.vkey              the log's verifier key, one line
    DIR/entries.jsonl         one JSON object per line, in seq order:
                              {"seq": N, "leaf_hash": "<hex>", "entry_b64": "<base64>"}
    DIR/checkpoints/<size>    every stored checkpoint, the signed note exactly as stored

The export covers the entries up to the size read when it starts; checkpoints
larger than that are left out, so the files are one consistent snapshot.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from evidence.ledger.db import read_transaction
from evidence.ledger.errors import LedgerError
from evidence.ledger.store import iter_checkpoints

if TYPE_CHECKING:
    from evidence.ledger.log import Ledger


@dataclass(frozen=True)
class ExportResult:
    directory: Path
    size: int
    checkpoints: int


def _write(path: Path, data: bytes) -> None:
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def export_log(ledger: Ledger, directory: str | os.PathLike[str]) -> ExportResult:
    out = Path(directory)
    if out.exists() and any(out.iterdir()):
        raise LedgerError(f"{out} exists and is not empty; export into a new directory")
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    size = ledger.size
    _write(out / "log.vkey", (ledger.verifier_key + "\n").encode())
    with open(out / "entries.jsonl", "x", encoding="ascii") as f:
        for e in ledger.entries(0, size):
            f.write(json.dumps({"seq": e.seq, "leaf_hash": e.leaf_hash.hex(),
                                "entry_b64": base64.b64encode(e.data).decode()}) + "\n")
        f.flush()
        os.fsync(f.fileno())
    n = 0
    with read_transaction(ledger.engine) as conn:
        for cp in iter_checkpoints(conn):
            if cp.size > size:
                break
            _write(out / "checkpoints" / str(cp.size), cp.note.encode())
            n += 1
    return ExportResult(out, size, n)
