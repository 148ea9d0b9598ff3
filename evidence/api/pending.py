"""Pending submissions: uploads waiting for their submitter's signature (docs/api.md).

``POST /v1/evidence`` with ``sign=deferred`` stores the files and describes the item
(:meth:`evidence.ledger.intake.Intake.prepare`), but appends nothing. The item waits
here, one folder per pending id under ``<data-dir>/pending-uploads`` (shared by every
worker), with its spooled files and ``state.json``; ``POST
/v1/evidence/pending/{id}/sign`` appends it once the signature verifies.

Exactly once: a signer first *claims* the pending item by renaming ``state.json`` (atomic;
a second signer, in any worker, finds nothing and gets 404). A refused signature or a
failed append renames it back, so the submitter may try again until it expires.
Expired items are swept (folder and the blobs only they held) whenever a pending item is
made or signed, and when the service starts.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evidence.api.problems import Problem
from evidence.ledger.intake import Intake, ItemSpec, Prepared

STATE = "state.json"
GONE = ".expired"  # tombstone beside the folders: "pd_....expired"
DEFAULT_TTL = 900.0  # seconds a pending item waits for its signature


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Pending:
    id: str
    principal: str
    expires: float
    prepared: Prepared

    @property
    def expires_at(self) -> str:
        return _iso(self.expires)

    def view(self) -> dict[str, Any]:
        p = self.prepared
        return {"pending_id": self.id, "evidence_id": p.evidence_id,
                "metadata_commitment": p.body["metadata_commitment"],
                "files": p.body["files"], "files_digest": p.files_digest(),
                "text": p.text(), "expires_at": self.expires_at,
                "sign_url": f"/v1/evidence/pending/{self.id}/sign",
                "warnings": p.warnings}


class PendingStore:
    def __init__(self, root: Path, intake: Intake, *, ttl: float = DEFAULT_TTL) -> None:
        self.root, self.intake, self.ttl = root, intake, ttl

    # -- step 1 --------------------------------------------------------------------------

    def create(self, upload_folder: Path, spec: ItemSpec) -> Pending:
        """Move the spooled upload here, stage it (blobs, no entry), write its state.
        On any failure nothing stays: the folder is removed (the caller's spool too)."""
        self.sweep()
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        pid = "pd_" + secrets.token_hex(16)
        folder = self.root / pid
        folder.mkdir(mode=0o700)
        try:
            files = folder / "files"
            try:
                os.rename(upload_folder, files)
            except OSError:  # another file system (--upload-dir elsewhere)
                shutil.move(str(upload_folder), str(files))
            spec.files = [files / Path(f).relative_to(upload_folder) for f in spec.files]
            prepared = self.intake.prepare(spec)
            pending = Pending(pid, spec.principal, time.time() + self.ttl, prepared)
            tmp = folder / (STATE + ".tmp")
            tmp.write_text(json.dumps({"id": pid, "principal": spec.principal,
                                       "expires": pending.expires,
                                       "prepared": prepared.to_json()}))
            os.replace(tmp, folder / STATE)
            return pending
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    # -- step 2 --------------------------------------------------------------------------

    def claim(self, pid: str, principal: str) -> tuple[Pending, Path]:
        """Take the pending item for signing (404 if unknown, another's, or being signed;
        410 if expired, which also removes it). Give it back with :meth:`unclaim` or
        finish with :meth:`done`."""
        folder = self.root / pid
        claimed = folder / f"{STATE}.claimed-{secrets.token_hex(4)}"
        try:
            os.rename(folder / STATE, claimed)
        except OSError:
            self.sweep()
            if (self.root / f"{pid}{GONE}").exists():
                raise _expired(pid, None) from None
            raise _unknown() from None
        try:
            doc = json.loads(claimed.read_text())
            pending = Pending(doc["id"], doc["principal"], float(doc["expires"]),
                              Prepared.from_json(doc["prepared"]))
        except (OSError, ValueError, KeyError, TypeError):
            os.rename(claimed, folder / STATE)
            raise _unknown() from None
        if pending.principal != principal:
            os.rename(claimed, folder / STATE)
            raise _unknown()
        if pending.expires <= time.time():
            self._remove(folder, pending)
            raise _expired(pid, pending.expires_at)
        self.sweep()
        return pending, claimed

    def unclaim(self, pid: str, claimed: Path) -> None:
        with contextlib.suppress(OSError):
            os.rename(claimed, self.root / pid / STATE)

    def done(self, pid: str) -> None:
        shutil.rmtree(self.root / pid, ignore_errors=True)

    # -- expiry ----------------------------------------------------------------------------

    def sweep(self) -> int:
        """Remove expired pending items (their folders and the blobs only they held), and
        folders left without state by a crash. Returns how many were removed."""
        if not self.root.is_dir():
            return 0
        now, removed = time.time(), 0
        for folder in self.root.iterdir():
            if folder.name.endswith(GONE):  # a tombstone: 410 rather than 404 for a while
                with contextlib.suppress(OSError):
                    if now - folder.stat().st_mtime > self.ttl:
                        folder.unlink()
                continue
            state = folder / STATE
            try:
                doc = json.loads(state.read_text())
                expires = float(doc["expires"])
            except FileNotFoundError:
                # being made, being signed, or left by a crash: only the last is old
                with contextlib.suppress(OSError):
                    if now - folder.stat().st_mtime > self.ttl + 3600:
                        shutil.rmtree(folder, ignore_errors=True)
                        removed += 1
                continue
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if expires > now:
                continue
            mine = folder / f"{STATE}.expired-{secrets.token_hex(4)}"
            try:
                os.rename(state, mine)  # claim it: a concurrent signer now finds nothing
            except OSError:
                continue
            try:
                pending = Pending(doc["id"], doc["principal"], expires,
                                  Prepared.from_json(doc["prepared"]))
            except (ValueError, KeyError, TypeError):
                shutil.rmtree(folder, ignore_errors=True)
                continue
            self._remove(folder, pending)
            removed += 1
        return removed

    def _remove(self, folder: Path, pending: Pending) -> None:
        with contextlib.suppress(Exception):
            self.intake.discard_prepared(pending.prepared)
        with contextlib.suppress(OSError):
            (self.root / f"{pending.id}{GONE}").touch()
        shutil.rmtree(folder, ignore_errors=True)


def _expired(pid: str, at: str | None) -> Problem:
    when = f" at {at}" if at else ""
    return Problem(410, "pending-expired",
                   f"pending submission {pid} expired{when} unsigned; it was removed and "
                   "nothing is on the ledger: submit again")


def _unknown() -> Problem:
    return Problem(404, "unknown-pending", "no pending submission of yours with that id "
                                           "(never made, already signed, or expired)")
