"""A witness on disk: its cosigning key and its state, and the add-checkpoint operation.

Directory layout::

    DIR/witness.key   PRIVATE+KEY+<name>+<id>+... (cosignature/v1, type 0x04), mode 0600
    DIR/witness.db    SQLite state (see evidence.witness.store)

:meth:`Witness.add_checkpoint` is the whole protocol minus HTTP: parse the body,
decide against the stored record inside one write transaction, then cosign. It
raises :class:`~evidence.witness.core.Refusal` for every refusal, including a
malformed body, so the HTTP layer has one thing to map.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evidence.ledger.keyfile import read_private_key, write_private_key
from evidence.verify.checkpoint import cosign_checkpoint, parse_checkpoint
from evidence.verify.errors import MalformedInput
from evidence.verify.hashing import EMPTY_ROOT
from evidence.verify.note import (
    ALG_COSIGNATURE_V1,
    ALG_MLDSA44,
    COSIGNING_ALGS,
    Signer,
    Verifier,
    generate_signer,
    parse_verifier_key,
)
from evidence.witness.core import (
    MALFORMED,
    LogRecord,
    Refusal,
    check_add_checkpoint,
    log_keys_problem,
)
from evidence.witness.core import verify_log_signature as _verify_log_signature
from evidence.witness.protocol import MalformedRequest, parse_add_checkpoint
from evidence.witness.store import LogPolicy, StoreError, WitnessStore

log = logging.getLogger("evidence.witness")

KEY_FILE = "witness.key"
STATE_FILE = "witness.db"


class WitnessError(Exception):
    """The witness cannot be set up or opened as asked (not a refusal of a request)."""


@dataclass
class Witness:
    directory: Path
    signer: Signer
    store: WitnessStore

    # --- setup -----------------------------------------------------------------------

    @classmethod
    def init(cls, directory: Path, name: str, alg: int = ALG_COSIGNATURE_V1) -> Witness:
        """Create DIR with a new cosigning key (``alg``: Ed25519 0x04 or ML-DSA-44 0x06,
        tlog-cosignature v1.1) and an empty state. Refuses if either exists."""
        directory = Path(directory)
        key_path, state_path = directory / KEY_FILE, directory / STATE_FILE
        for p in (key_path, state_path):
            if p.exists():
                raise WitnessError(f"{p} already exists; refusing to overwrite a witness")
        if alg not in COSIGNING_ALGS:
            raise WitnessError("a witness key is cosignature/v1 (0x04) or ML-DSA-44 (0x06)")
        try:
            signer = generate_signer(name, alg)
        except MalformedInput as e:
            raise WitnessError(f"bad witness name: {e}") from None
        directory.mkdir(parents=True, exist_ok=True)
        write_private_key(key_path, signer)
        store = WitnessStore.create(state_path, name)
        return cls(directory, signer, store)

    @classmethod
    def open(cls, directory: Path) -> Witness:
        directory = Path(directory)
        store = WitnessStore.open(directory / STATE_FILE)
        signer = read_private_key(directory / KEY_FILE)
        if signer.alg not in COSIGNING_ALGS:
            raise WitnessError(f"{directory / KEY_FILE} is not a cosignature/v1 (0x04) or "
                               "ML-DSA-44 (0x06) key")
        if store.name() != signer.name:
            raise WitnessError(f"key name {signer.name!r} is not the state's witness name "
                               f"{store.name()!r}")
        return cls(directory, signer, store)

    @property
    def name(self) -> str:
        return self.signer.name

    @property
    def verifier_key(self) -> str:
        return self.signer.verifier().to_string()

    def add_log(self, origin: str, keys: list[Verifier], checkpoint_note: str | None = None,
                *, qpd: int | None = None) -> LogRecord:
        """Follow the log ``origin``, signed by ``keys`` (Ed25519, 0x01, any one of them;
        and ML-DSA-44, 0x06, each required on every checkpoint), allowing it at most
        ``qpd`` add-checkpoint requests a day (None: no limit).

        ``checkpoint_note``, when given, is a checkpoint of that log the witness
        operator trusts (checked out of band): the witness starts from it, so
        the log's first request must prove consistency with it. Otherwise the
        witness trusts the first checkpoint it is sent (trust on first use).
        """
        if not origin or "\n" in origin:
            raise WitnessError("origin must be one non-empty line")
        problem = log_keys_problem(keys)
        if problem is not None:
            raise WitnessError(f"a log {problem}")
        record = LogRecord(origin, tuple(keys))
        if checkpoint_note is not None:
            try:
                opened = _verify_log_signature(checkpoint_note, keys)
                cp = parse_checkpoint(opened.text)
            except (Refusal, MalformedInput) as e:
                raise WitnessError(f"initial checkpoint not accepted: {e}") from None
            if cp.origin != origin:
                raise WitnessError(f"initial checkpoint is for {cp.origin!r}, not {origin!r}")
            if cp.size == 0 and cp.root != EMPTY_ROOT:
                raise WitnessError("initial checkpoint of size 0 must have the empty-tree root")
            record = LogRecord(origin, tuple(keys), cp.size, cp.root, checkpoint_note)
        try:
            self.store.add_log(record, qpd=qpd)
        except StoreError as e:
            raise WitnessError(str(e)) from None
        return record

    def change_keys(self, origin: str, *, add: Sequence[Verifier] = (),
                    drop: Sequence[Verifier] = ()) -> LogRecord:
        """Pin more keys of a followed log, or fewer: a log's new Ed25519 key after a
        rotation (added before the old key's window ends, docs/operations.md "Rotating
        the log key"), its ML-DSA-44 key once it signs with one (required on every
        checkpoint from then on), a revoked key dropped. The latest cosigned checkpoint
        stays as it is. Refused, nothing changed: an origin not followed, a key added
        that is already pinned, a key dropped that is not, and a result
        :func:`~evidence.witness.core.log_keys_problem` refuses (no Ed25519 key left,
        a key of another kind)."""

        def change(rec: LogRecord) -> LogRecord:
            pinned = [k.to_string() for k in rec.keys]
            for k in add:
                if k.to_string() in pinned:
                    raise WitnessError(f"{k.name}+{k.key_id:08x} is already pinned for "
                                       f"{origin!r}")
                pinned.append(k.to_string())
            for k in drop:
                if k.to_string() not in pinned:
                    raise WitnessError(f"{k.name}+{k.key_id:08x} is not pinned for {origin!r}")
                pinned.remove(k.to_string())
            keys = tuple(parse_verifier_key(k) for k in pinned)
            problem = log_keys_problem(keys)
            if problem is not None:
                raise WitnessError(f"{origin!r} {problem}")
            return dataclasses.replace(rec, keys=keys)

        if not add and not drop:
            raise WitnessError("name a key to add or to drop")
        try:
            return self.store.set_keys(origin, change)
        except StoreError as e:
            raise WitnessError(str(e)) from None

    # --- the protocol ----------------------------------------------------------------------

    def add_checkpoint(self, body: bytes, *, now: int | None = None) -> str:
        """Handle one add-checkpoint body: the cosignature line(s), or raise Refusal."""
        try:
            req = parse_add_checkpoint(body)
        except MalformedRequest as e:
            refusal = Refusal(MALFORMED, 400, str(e))
            log.warning("refused add-checkpoint: %s", refusal)
            raise refusal from None
        cp = req.checkpoint
        if self.signer.alg == ALG_MLDSA44 and cp.extensions:  # before the state moves
            refusal = Refusal(MALFORMED, 400, "an ML-DSA-44 cosignature covers no extension "
                              "lines: this witness cosigns only checkpoints without them")
            log.warning("refused add-checkpoint: %s", refusal)
            raise refusal
        try:
            self.store.update(cp.origin, lambda rec: check_add_checkpoint(rec, req),
                              request=bytes(body),
                              admit=lambda rec: _verify_log_signature(req.note, rec.keys),
                              now=None if now is None else float(now))
        except Refusal as r:
            log.warning("refused add-checkpoint for %r size %d (old %d): %s",
                        cp.origin, cp.size, req.old_size, r)
            raise
        line = cosign_checkpoint(req.parsed.text, self.signer,
                                 cosigned_at=int(time.time()) if now is None else now)
        log.info("cosigned %r size %d root %s (old %d)", cp.origin, cp.size, cp.root.hex(),
                 req.old_size)
        return line

    def info(self) -> dict:
        """What a log operator or an auditor may know: the witness key and followed logs."""
        return {
            "name": self.name,
            "verifier_key": self.verifier_key,
            "logs": [
                {"origin": r.origin, "keys": [k.to_string() for k in r.keys],
                 "size": r.size, "root": r.root.hex(), "checkpoint": r.note,
                 **_policy_json(self.store.policy(r.origin))}
                for r in self.store.logs()
            ],
        }


def _policy_json(p: LogPolicy | None) -> dict:
    return {"qpd": None if p is None else p.qpd,
            "listed_in": None if p is None else p.listed_in}
