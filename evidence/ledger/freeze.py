"""``evidence log freeze DIR``: the log, of one fixed size, as static files that verify with
no process of ours running (docs/formats.md, "Frozen log").

A freeze is a log export (:mod:`evidence.ledger.audit.export_log`, same layout and
manifest) cut at one signed checkpoint and never changed again, plus what an export may
lack:

* the C2SP tlog-tiles of that checkpoint's tree in ``DIR/tlog/`` always (built from the
  ledger into a scratch tile store when the configured store cannot be copied), so any
  static file server makes ``<base>/tlog/`` a tiles log;
* ``DIR/records/<evidence id>.ers``: the RFC 4998 evidence record (DER) of each item of the
  frozen log that has one (:func:`evidence_records_of`);
* ``DIR/index.html`` and ``DIR/README.txt``: what the files are and how to check them, in
  Chinese and English (:mod:`evidence.ledger.freeze_readme`);
* ``"frozen"`` in the manifest: which checkpoint it is and why that one (``kind``).

Invariants (tests/auditor/test_freeze.py): a freeze is written into a scratch directory
beside DIR and renamed into place only once its manifest is durable, so a refusal or a
failure leaves DIR as it was (absent or empty); DIR must be absent or empty; the frozen
size is that of a signed checkpoint, the entries, tiles and anchoring stop there.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evidence.ledger.errors import LedgerError

if TYPE_CHECKING:
    from evidence.ledger.audit.export_log import Progress
    from evidence.ledger.log import Ledger, StoredCheckpoint

__all__ = ["KIND_CHECKPOINT", "KIND_SHARD", "FreezeResult", "evidence_records_of", "freeze_log",
           "manifest_sha256"]

KIND_CHECKPOINT = "checkpoint"
"""A signed checkpoint of a log that may go on: its newest when frozen, or the one ``at``
named."""
KIND_SHARD = "shard-final"
"""The final checkpoint of a frozen shard: the log takes no more appends."""


@dataclass(frozen=True)
class FreezeResult:
    directory: Path
    size: int
    kind: str
    checkpoints: int
    timestamps: int
    records: int
    """Evidence records written (items preserved below ``size`` that have one)."""
    anchored: dict[str, bool]
    """Whether the frozen checkpoint itself carries a token / a cosignature."""


def freeze_log(ledger: Ledger, directory: str | os.PathLike[str], *, at: int | None = None,
               trust_from: Ledger | None = None, progress: Progress | None = None
               ) -> FreezeResult:
    """Write the frozen log into ``directory`` (absent or empty); see the module docstring.

    ``at``: the size of the stored checkpoint to freeze (default: the shard's final
    checkpoint if the log is a frozen shard, else its newest). ``trust_from``: the ledger
    whose trust file DIR/trust.txt holds (a closed shard opened read-only has no
    configuration of its own: the active shard's trust file pins every shard's keys).
    Raises :class:`LedgerError`
    (nothing written) for a DIR that is not empty or not a directory, a log without a signed
    checkpoint of at least one entry, or an ``at`` that is no stored checkpoint."""
    from evidence.ledger.audit.export_log import export_log
    from evidence.ledger.freeze_readme import index_html, readme_txt
    from evidence.ledger.tiles import sync_tiles
    from evidence.ledger.tiles_store import FilesystemTileStore
    from evidence.ledger.trust_file import trust_policy_of

    out = Path(directory)
    _check_target(out)
    cp, kind = _frozen_checkpoint(ledger, at)
    if (trust_from or ledger).config is None:
        raise LedgerError("a freeze needs the ledger's data directory (its trust file); "
                          "nothing was written")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.freezing-", dir=out.parent))
    except OSError as e:
        raise LedgerError(f"cannot write beside {out} ({e.strerror}); nothing was "
                          "written") from None
    try:
        counts: dict[str, Any] = {}

        def finish(put: Callable[[str, bytes], bool]) -> dict[str, Any]:
            n = 0
            for evidence_id, der in evidence_records_of(ledger, cp.size):
                put(f"records/{evidence_id}.ers", der)
                n += 1
            counts["records"] = n
            facts = {"origin": ledger.origin, "size": cp.size, "root": bytes(cp.root).hex(),
                     "kind": kind, "log_key": ledger.verifier_key}
            if trust_from is not None:
                put("trust.txt", trust_policy_of(trust_from).raw or b"")
            put("index.html", index_html(facts).encode())
            put("README.txt", readme_txt(facts).encode())
            return {"frozen": {"kind": kind, "size": cp.size, "root": bytes(cp.root).hex()},
                    "evidence_records": n}

        with tempfile.TemporaryDirectory(dir=stage.parent, prefix=f".{out.name}.tiles-") as t:
            store = FilesystemTileStore(t)
            sync_tiles(ledger, store, checkpoint=cp, prune=False)
            r = export_log(ledger, stage, upto=cp.size, tile_store=store, finish=finish,
                           progress=progress)
        if r.tiles != cp.size:
            raise LedgerError(f"the tiles of size {cp.size} could not be written: "
                              f"{r.tiles_reason}; nothing was written")
        anchored = _anchored(ledger, cp.size)
        _place(stage, out)
    except OSError as e:  # a full disk, a vanished directory: said, not a traceback
        shutil.rmtree(stage, ignore_errors=True)
        raise LedgerError(f"the freeze could not be written ({e}); nothing was written "
                          f"to {out}") from None
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return FreezeResult(out, cp.size, kind, r.checkpoints, r.timestamps, counts["records"],
                        anchored)


def evidence_records_of(ledger: Ledger, size: int, *, batch: int = 500
                        ) -> Iterator[tuple[str, bytes]]:
    """Each item preserved below ``size`` with a stored RFC 4998 evidence record, as
    (evidence id, DER exactly as stored), in evidence-id order, ``batch`` at a time (the
    anchor package's public read, :func:`evidence.ledger.anchor.ers_store.iter_evidence_records`;
    records of items the freeze does not hold are left out)."""
    from itertools import islice

    from sqlalchemy import select

    from evidence.ledger.anchor.ers_store import iter_evidence_records
    from evidence.ledger.db.engine import read_transaction
    from evidence.ledger.evidence_store import evidence_items

    rows = iter_evidence_records(ledger, batch=batch)
    while chunk := list(islice(rows, batch)):
        with read_transaction(ledger.engine) as conn:
            inside = set(conn.execute(select(evidence_items.c.evidence_id).where(
                evidence_items.c.evidence_id.in_([e for e, _ in chunk]),
                evidence_items.c.seq < size)).scalars())
        yield from ((e, d) for e, d in chunk if e in inside)


def _check_target(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise LedgerError(f"{out} is not a directory; freeze into a new, empty directory "
                          "(nothing was written)")
    if out.is_dir() and any(out.iterdir()):
        raise LedgerError(f"{out} is not empty; a frozen log is written into a new, empty "
                          "directory (nothing was written)")


def _frozen_checkpoint(ledger: Ledger, at: int | None) -> tuple[StoredCheckpoint, str]:
    """The checkpoint to freeze and its kind; refuses a log with nothing signed."""
    final = _shard_final_size(ledger)
    if at is not None:
        cp = ledger.checkpoint_at(at)
        if cp is None:
            raise LedgerError(f"--at {at}: the log has no signed checkpoint of size {at}; "
                              "nothing was written")
    else:
        cp = ledger.checkpoint_at(final) if final is not None else ledger.latest_checkpoint()
    if cp is None or cp.size == 0:
        raise LedgerError(f"the log {ledger.origin!r} has no signed checkpoint of at least one "
                          "entry: nothing to freeze (sign one: evidence log checkpoint); "
                          "nothing was written")
    return cp, KIND_SHARD if final is not None and cp.size == final else KIND_CHECKPOINT


def _shard_final_size(ledger: Ledger) -> int | None:
    """The size of a frozen shard's final checkpoint (docs/formats.md "Temporal shards":
    ``Ledger.final_checkpoint_size()``), None while the log takes appends (or on a ledger
    built before shards)."""
    get = getattr(ledger, "final_checkpoint_size", None)
    return None if get is None else get()


def _anchored(ledger: Ledger, size: int) -> dict[str, bool]:
    """Whether the frozen checkpoint itself has a stored token and a stored cosignature
    (said by the command: a freeze of an unanchored checkpoint rests on older ones)."""
    from evidence.ledger.anchor.store import list_anchors

    rows = list_anchors(ledger.engine, size=size)
    return {"timestamp": any(r.kind == "tsa" and r.token for r in rows),
            "cosignature": any(r.kind == "witness" and r.cosignature for r in rows)}


def _place(stage: Path, out: Path) -> None:
    """Rename the finished freeze onto ``out`` (absent, or an empty directory removed first:
    a rename onto a non-empty directory fails, so a racing writer is not overwritten)."""
    with contextlib.suppress(FileNotFoundError):
        out.rmdir()
    os.rename(stage, out)
    fd = os.open(out.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def manifest_sha256(directory: Path) -> str:
    """SHA-256 of DIR/manifest.json: with the manifest's file hashes it pins every file of
    the freeze, the one value a court records beside the trust file's."""
    return hashlib.sha256((directory / "manifest.json").read_bytes()).hexdigest()
