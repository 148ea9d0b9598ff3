"""The ledger as a library: :class:`Ledger` is what intake, the HTTP API,
anchoring and bundle export build on.

::

    led = Ledger.create("./evidence-data", "evidence.example/log")   # once
    led = Ledger.open()                          # --data-dir / $EVIDENCE_DATA_DIR
    a = led.append("custody.note", {"text": "sealed"})   # durable when it returns
    p = led.inclusion_proof(a.seq)               # RFC 9162, from stored nodes
    cp = led.sign_checkpoint_now()               # C2SP signed note
    led.close()

Thread-safe: any number of threads may append (they are batched into one
transaction by the process's :class:`~evidence.ledger.sequencer.Sequencer`)
and read. Several processes may append to one PostgreSQL (or SQLite) ledger.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, insert, inspect, select, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from evidence.ledger import pq_key
from evidence.ledger.checkpoints import sign_checkpoint_now
from evidence.ledger.clock import utc_now
from evidence.ledger.config import (
    DEFAULT_CHECKPOINT_INTERVAL,
    LedgerConfig,
    load_config,
    new_config,
    write_config,
)
from evidence.ledger.db import migrations
from evidence.ledger.db.dialect import autocommit_reads, size_with_nodes
from evidence.ledger.db.engine import (
    make_engine,
    read_transaction,
    set_wal,
    sqlite_path,
    write_transaction,
)
from evidence.ledger.db.log_queries import (
    LogState,
    StoredCheckpoint,
    StoredEntry,
    checkpoint_at,
    fetch_nodes,
    fetch_size_and_nodes,
    find_leaf,
    iter_entries,
    key_entry_rows,
    latest_checkpoint,
    read_entries,
    read_entry,
    read_last_type,
    read_size,
    read_state,
)
from evidence.ledger.db.schema import keys, log_state, metadata
from evidence.ledger.errors import (
    ConfigMismatch,
    LedgerError,
    LedgerExists,
    LedgerFrozen,
    NotALedger,
    OutOfRange,
)
from evidence.ledger.keyfile import KeyFileError, read_private_key, write_private_key
from evidence.ledger.log_keys import (
    MAX_REASON,
    REVOKED,
    ROTATED,
    KeyWindow,
    LogSigners,
    RotationError,
    key_windows,
    retired_key_path,
    rotation_body,
)
from evidence.ledger.sequencer import (
    DEFAULT_MAX_BATCH,
    FROZEN,
    Appended,
    CommitHook,
    PrepareHook,
    RowsHook,
    Sequencer,
)
from evidence.verify.hashing import EMPTY_ROOT, ZERO_HASH_HEX, Hash32
from evidence.verify.merkle import (
    NodeId,
    consistency_plan,
    fold,
    inclusion_plan,
    root_plan,
)
from evidence.verify.note import (
    ALG_ED25519,
    Signer,
    Verifier,
    generate_signer,
    is_valid_key_name,
    parse_verifier_key,
)
from evidence.verify.receipt import Receipt, sign_receipt

__all__ = ["Appended", "ConsistencyProof", "InclusionProof", "Ledger", "StoredCheckpoint",
           "StoredEntry"]

LEDGER_TABLES = ("entries", "nodes", "checkpoints", "log_state", "keys", "leaf_index",
                 "leaf_index_state", "alembic_version")


@dataclass(frozen=True)
class InclusionProof:
    index: int
    tree_size: int
    leaf_hash: Hash32
    proof: tuple[Hash32, ...]
    root: Hash32

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "tree_size": self.tree_size,
                "leaf_hash": self.leaf_hash.hex(), "proof": [h.hex() for h in self.proof],
                "root": self.root.hex()}


@dataclass(frozen=True)
class ConsistencyProof:
    size1: int
    size2: int
    root1: Hash32
    root2: Hash32
    proof: tuple[Hash32, ...]

    def to_json(self) -> dict[str, Any]:
        return {"size1": self.size1, "size2": self.size2, "root1": self.root1.hex(),
                "root2": self.root2.hex(), "proof": [h.hex() for h in self.proof]}


def _fold_groups(plan: Sequence[tuple[NodeId, ...]], found: Mapping[NodeId, bytes]
                 ) -> list[Hash32]:
    """Each planned group of stored perfect subtrees folded into its hash (the
    materialising step of :func:`evidence.verify.merkle.inclusion_proof`, over nodes
    already fetched in one query with the leaf and the root's)."""
    try:
        return [fold([found[n] for n in group]) for group in plan]
    except KeyError as e:
        raise LedgerError(f"stored tree is incomplete (no node {e.args[0]}); "
                          "run `evidence audit`") from None


def _root(top: Sequence[NodeId], found: Mapping[NodeId, bytes]) -> Hash32:
    """The root from the stored pieces of :func:`root_plan` (the empty tree's for none)."""
    return _fold_groups([tuple(top)], found)[0] if top else EMPTY_ROOT


class Ledger:
    """An open ledger. Build with :meth:`create` or :meth:`open`; :meth:`close` when done."""

    def __init__(self, engine: Engine, state: LogState, *, config: LedgerConfig | None,
                 signer: Signer | None, max_batch: int = DEFAULT_MAX_BATCH,
                 leaf_index_every: int | None = None) -> None:
        self._engine = engine
        self._origin = state.origin
        self._verifier = parse_verifier_key(state.log_vkey)
        self._verifier_key = self._verifier.to_string()  # every receipt response names it
        self._config = config
        self._signer = signer
        self._log_signers = None if signer is None else LogSigners([(signer, 0, None)])
        self._max_batch = max_batch
        self._leaf_index_every = leaf_index_every
        self._sequencer: Sequencer | None = None
        self._on_commit: CommitHook | None = None
        self._lock = threading.Lock()
        self._closed = False

    # --- lifecycle -------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        data_dir: str | os.PathLike[str] | None,
        origin: str,
        *,
        db_url: str | None = None,
        key_path: str | os.PathLike[str] | None = None,
        checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL,
        leaf_index_every: int | None = None,
    ) -> Ledger:
        """Create a new ledger: data directory, config, log key (0600), database.

        Refuses (:class:`LedgerExists`, changing nothing) if any of config, key file
        or ledger database is already there. The origin is the log key's name.
        """
        if not is_valid_key_name(origin):
            raise LedgerError(f"origin {origin!r} must be non-empty, without spaces or '+'")
        cfg = new_config(data_dir, origin, db_url=db_url, key_path=key_path,
                         checkpoint_interval=checkpoint_interval)
        if cfg.config_path.exists():
            raise LedgerExists(f"{cfg.config_path} exists: a ledger is already configured here")
        if cfg.key_path.exists():
            raise LedgerExists(f"key file {cfg.key_path} exists; refusing to reuse or replace it")
        db_file = sqlite_path(cfg.db_url) if cfg.db_url.startswith("sqlite") else None
        if db_file is not None and db_file.exists():
            raise LedgerExists(f"database {db_file} exists; refusing to initialise over it")
        made_dir = not cfg.data_dir.exists()
        if db_file is None:  # a server database: must not already hold a ledger
            engine = make_engine(cfg.db_url)
            try:
                with engine.connect() as conn:
                    present = set(inspect(conn).get_table_names()) & set(LEDGER_TABLES)
            except DBAPIError as e:
                engine.dispose()
                raise NotALedger(f"cannot connect to the database: {e.orig}") from None
            if present:
                engine.dispose()
                raise LedgerExists(f"the database already has ledger tables {sorted(present)}")
        cfg.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        signer = generate_signer(origin)
        write_private_key(cfg.key_path, signer)
        try:
            if db_file is not None:
                db_file.parent.mkdir(parents=True, exist_ok=True)
                engine = make_engine(cfg.db_url, create=True)
                set_wal(engine)
            now = utc_now()
            with write_transaction(engine) as conn:
                migrations.lock_for_migration(conn)
                migrations.upgrade_to_head(conn)
                conn.execute(insert(log_state).values(
                    id=1, origin=origin, log_vkey=signer.verifier().to_string(), size=0,
                    last_leaf_hash=bytes.fromhex(ZERO_HASH_HEX), last_time="", created_at=now))
                conn.execute(insert(keys).values(name=origin,
                                                 vkey=signer.verifier().to_string(),
                                                 role="log", created_at=now))
            write_config(cfg)
        except BaseException:
            cfg.key_path.unlink(missing_ok=True)
            if db_file is not None:
                engine.dispose()
                for suffix in ("", "-wal", "-shm", "-journal"):
                    Path(str(db_file) + suffix).unlink(missing_ok=True)
            if made_dir:
                with contextlib.suppress(OSError):
                    cfg.data_dir.rmdir()
            raise
        with read_transaction(engine) as conn:
            state = read_state(conn)
        assert state is not None
        return cls(engine, state, config=cfg, signer=signer, leaf_index_every=leaf_index_every)

    @classmethod
    def open(
        cls,
        data_dir: str | os.PathLike[str] | None = None,
        db_url: str | None = None,
        *,
        read_only: bool = False,
        max_batch: int = DEFAULT_MAX_BATCH,
        leaf_index_every: int | None = None,
    ) -> Ledger:
        """Open an existing ledger (upgrading its schema to this code's newest revision).

        Checks that the database is a ledger (:class:`NotALedger`) and that its
        origin and key are the configured ones (:class:`ConfigMismatch`). With
        ``read_only`` no key is loaded (no appends, no checkpoints) and, given a
        ``db_url``, no config file is needed (an auditor with a database copy).
        ``leaf_index_every``: entries appended past the leaf index before the writer
        indexes them (:func:`~evidence.ledger.leaf_index.index_leaves`; 0: never; None:
        :data:`~evidence.ledger.sequencer.LEAF_INDEX_EVERY` for the database).
        """
        try:
            cfg: LedgerConfig | None = load_config(data_dir, db_url)
        except NotALedger:
            if not (read_only and db_url):
                raise
            cfg = None
        url = cfg.db_url if cfg else db_url
        assert url is not None
        engine = make_engine(url)
        try:
            state = _check_database(engine, upgrade=not read_only)
            signer = None
            if cfg is not None and state.origin != cfg.origin:
                raise ConfigMismatch(
                    f"the database is the log {state.origin!r}, but the configuration in "
                    f"{cfg.config_path} says {cfg.origin!r}: wrong --db or --data-dir?")
            if not read_only:
                assert cfg is not None
                try:
                    signer = read_private_key(cfg.key_path)
                except KeyFileError as e:
                    raise ConfigMismatch(str(e)) from None
                if signer.verifier().to_string() != state.log_vkey:
                    raise ConfigMismatch(
                        f"the key in {cfg.key_path} ({signer.name}+{signer.key_id:08x}) is not "
                        f"this log's key ({state.log_vkey.rsplit('+', 1)[0]})")
        except BaseException:
            engine.dispose()
            raise
        led = cls(engine, state, config=cfg, signer=signer, max_batch=max_batch,
                  leaf_index_every=leaf_index_every)
        if signer is not None:
            try:
                led._load_log_signers()
            except BaseException:
                engine.dispose()
                raise
        return led

    def close(self) -> None:
        """Drain pending appends (signing a final checkpoint if one is due), release the DB."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            seq = self._sequencer
        if seq is not None:
            seq.close()
        self._engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- identity ----------------------------------------------------------------------

    @property
    def origin(self) -> str:
        return self._origin

    @property
    def verifier(self) -> Verifier:
        """The log's public key (pin it to verify checkpoints)."""
        return self._verifier

    @property
    def verifier_key(self) -> str:
        """The log's verifier-key string ``origin+keyid+base64``."""
        return self._verifier_key

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for other parts' own tables (their migrations join ours)."""
        return self._engine

    @property
    def metadata(self) -> MetaData:
        return metadata

    @property
    def config(self) -> LedgerConfig | None:
        return self._config

    # --- writing -------------------------------------------------------------------------

    def _seq(self) -> Sequencer:
        with self._lock:
            if self._closed:
                raise LedgerError("the ledger is closed")
            if self._signer is None:
                raise LedgerError("the ledger was opened read-only (no log key): cannot append")
            if self._sequencer is None:
                interval = self._config.checkpoint_interval if self._config else 1.0
                self._sequencer = Sequencer(self._engine, self._log_signers,  # type: ignore[arg-type]
                                            checkpoint_interval=interval,
                                            max_batch=self._max_batch,
                                            leaf_index_every=self._leaf_index_every)
                self._sequencer.on_commit = self._on_commit
            return self._sequencer

    def observe_commits(self, hook: CommitHook | None) -> None:
        """Have ``hook(n)`` told the size of every batch this process commits (the
        service's metrics): once per batch, in the writer thread, before its callers are
        acknowledged. It must be quick and must not raise."""
        with self._lock:
            self._on_commit = hook
            if self._sequencer is not None:
                self._sequencer.on_commit = hook

    def append_batch(self, items: Sequence[tuple[str, Mapping[str, Any]]], *,
               rows: RowsHook | None = None, prepare: PrepareHook | None = None
               ) -> Future[list[Appended]]:
        """Queue entries that must get consecutive numbers; the future resolves once durable.

        ``rows(conn, appended)`` (optional) builds rows of other tables that commit in the
        same transaction as the entries; ``prepare(conn, batch)`` (optional) completes the
        entries under the lock; see :mod:`evidence.ledger.sequencer`."""
        return self._seq().enqueue(items, rows=rows, prepare=prepare)

    def append(self, type: str, body: Mapping[str, Any]) -> Appended:
        """Append one entry; returns once it is committed (durable). Raises
        :class:`~evidence.ledger.errors.AppendRejected` for an entry the rules refuse."""
        return self._seq().enqueue([(type, body)]).result()[0]

    def append_many(self, items: Sequence[tuple[str, Mapping[str, Any]]], *,
                    rows: RowsHook | None = None, prepare: PrepareHook | None = None
                    ) -> list[Appended]:
        """Append entries atomically with consecutive numbers (all or none)."""
        return self._seq().enqueue(items, rows=rows, prepare=prepare).result()

    def sign_receipt(self, appended: Appended) -> str:
        """The log's signed receipt (``evidence.receipt/v1`` note) for an appended entry.
        Safe to call inside a ``rows`` hook (the entry is then durable once it commits)."""
        if self._signer is None:
            raise LedgerError("the ledger was opened read-only (no log key): cannot sign")
        receipt = Receipt(self._origin, appended.seq, appended.leaf_hash.hex(), appended.time)
        return sign_receipt(receipt, self._signer)

    def sign_checkpoint_now(self) -> StoredCheckpoint:
        """Sign (and store) a checkpoint for the current size; return it (or the existing one)."""
        if self._signer is None:
            raise LedgerError("the ledger was opened read-only (no log key): cannot sign")
        assert self._log_signers is not None
        return sign_checkpoint_now(self._engine, self._log_signers)

    # --- the log's keys (docs/formats.md "Log key rotation") ---------------------------------

    def key_windows(self, *, from_log: bool = False) -> list[KeyWindow]:
        """Every log key with its window, read from the ``key.*`` entries.

        The ``keys`` table says whether there are any (one row: never rotated, no entry
        read). ``from_log``: read the entries whatever the table says, as the audit
        does, since the table is what it checks; rotation entries the table does not
        record are then a :class:`RotationError` naming the first
        (tests/cli/test_log_key_mldsa.py)."""
        with read_transaction(self._engine) as conn:
            logs = conn.execute(select(keys.c.vkey).where(keys.c.role.like("log%"))
                                .order_by(keys.c.id)).scalars().all()
            if len(logs) <= 1 and not from_log:  # never rotated: no entry scan
                return [KeyWindow(self._verifier_key, 0, None)]
            rows = key_entry_rows(conn, (ROTATED, REVOKED))  # an index probe
        if len(logs) <= 1:
            if rows:
                e = RotationError(f"entry {rows[0][0]}: a {rows[0][1]} entry, but the keys "
                                  "table records no other log key")
                e.seq = rows[0][0]
                raise e
            return [KeyWindow(self._verifier_key, 0, None)]
        return key_windows(logs[0] or self._verifier_key,
                           [(seq, typ, json.loads(data)["body"]) for seq, typ, data in rows])

    def retired_log_keys(self) -> list[tuple[Verifier, int, int]]:
        """The keys rotated out or revoked, with their windows, for the trust file."""
        return [(w.verifier, w.from_size, w.until_size) for w in self.key_windows()
                if w.until_size is not None]

    def _load_log_signers(self) -> None:
        """After open: the current key plus any retired key still inside its overlap."""
        assert self._signer is not None and self._config is not None
        wins = self.key_windows()
        size = self.size
        out: list[tuple[Signer, int, int | None]] = []
        for w in wins[:-1]:
            if w.until_size is not None and w.until_size >= size:
                path = retired_key_path(self._config.data_dir, w.verifier)
                try:
                    out.append((read_private_key(path), w.from_size, w.until_size))
                except KeyFileError as e:
                    raise ConfigMismatch(f"the retired log key {path} is still needed to "
                                         f"co-sign checkpoints up to size {w.until_size}: "
                                         f"{e}") from None
        out.append((self._signer, wins[-1].from_size, None))
        self._log_signers = LogSigners(out)
        self._log_signers.pq = self._load_pq_signer(wins)

    # --- the log's ML-DSA-44 key (docs/formats.md "ML-DSA-44 signatures") -------------------

    def mldsa_key(self, wins: Sequence[KeyWindow] | None = None) -> tuple[Verifier, int] | None:
        """The log's ML-DSA-44 key and the first size it signs, from its
        ``key.mldsa_added`` entry (None: never added)."""
        with read_transaction(self._engine) as conn:  # the keys row spares even the probe
            if conn.execute(select(keys.c.id).where(keys.c.role == pq_key.ROLE)).first() is None:
                return None
        wins = self.key_windows() if wins is None else wins
        return pq_key.read_added(self._engine, [w.vkey for w in wins])

    def checkpoint_keys(self) -> list[tuple[Verifier, tuple[int, int] | None]]:
        """The keys a checkpoint of this log is verified with, as
        :func:`~evidence.verify.checkpoint.verify_checkpoint_windowed` takes them: every
        Ed25519 key with its window (None for the one now signing) and the ML-DSA-44 key,
        required from its first size. Readers of the log's own checkpoints (the tile
        follower) hold the rule every verifier holds (tests/ledger/test_checkpoint_keys.py)."""
        wins = self.key_windows()
        out: list[tuple[Verifier, tuple[int, int] | None]] = [
            (w.verifier, None if w.until_size is None else (w.from_size, w.until_size))
            for w in wins]
        pq = self.mldsa_key(wins)  # read every time: an index probe, never a stale key
        if pq is not None:
            out.append((pq[0], (pq[1], 2**64 - 1)))
        return out

    def _load_pq_signer(self, wins: Sequence[KeyWindow]) -> tuple[Signer, int] | None:
        added = self.mldsa_key(wins)
        if added is None:
            return None
        assert self._config is not None
        path = pq_key.pq_key_path(self._config.shard_path)
        try:
            pq = read_private_key(path)
        except KeyFileError as e:
            raise ConfigMismatch(f"the log's ML-DSA-44 key {path} signs every checkpoint from "
                                 f"size {added[1]}: {e}") from None
        if pq.verifier() != added[0]:
            raise ConfigMismatch(f"{path} is not the log's ML-DSA-44 key "
                                 f"({added[0].name}+{added[0].key_id:08x})")
        return pq, added[1]

    def add_mldsa_key(self, pq: Signer) -> int:
        """Append ``key.mldsa_added`` (signed by the log key and ``pq``), keep ``pq`` in
        ``DIR/log-mldsa.key`` and sign the checkpoint holding the entry with both keys;
        return the first size it signs. Refuses (:class:`pq_key.PostQuantumError`),
        changing nothing, a key of another type or name or a second key
        (tests/cli/test_log_key_mldsa.py)."""
        cfg, signers = self._config, self._log_signers
        if self._signer is None or cfg is None or signers is None:
            raise LedgerError("the ledger was opened read-only (no log key): cannot add a key")
        if self.mldsa_key() is not None:
            raise pq_key.PostQuantumError("this log already has an ML-DSA-44 key (one per "
                                          "log; replacing it is not built)")
        size = self.size
        body = pq_key.added_body(self._signer, pq, size + 1)
        path = pq_key.pq_key_path(cfg.shard_path)
        kept = path.exists()
        if kept and read_private_key(path).verifier() != pq.verifier():
            raise pq_key.PostQuantumError(f"{path} holds another key; move it away first")
        if not kept:
            write_private_key(path, pq)
        signers.pq = (pq, size + 1)  # before the append: the checkpoint holding it is signed

        def rows(conn: Connection, made: Sequence[Appended]) -> list[Any]:
            if made[0].seq != size:
                raise pq_key.PostQuantumError("another writer appended meanwhile; try again")
            conn.execute(insert(keys).values(name=pq.name, vkey=pq.verifier().to_string(),
                                             role=pq_key.ROLE, created_at=utc_now()))
            return []

        try:
            self.append_many([(pq_key.MLDSA_ADDED, body)], rows=rows)
        except BaseException:
            signers.pq = None
            if not kept:
                path.unlink(missing_ok=True)
            raise
        self.sign_checkpoint_now()
        return size + 1

    def rotate_key(self, new: Signer, *, overlap: int, expect_old: Signer | None = None
                   ) -> KeyWindow:
        """Append ``key.rotated`` (signed by both keys), make ``new`` the current key and
        sign the checkpoint that holds the entry with both keys. Raises
        :class:`RotationError` changing nothing for a key that does not match."""
        old, cfg = self._signer, self._config
        if old is None or cfg is None or self._log_signers is None:
            raise LedgerError("the ledger was opened read-only (no log key): cannot rotate")
        if expect_old is not None and expect_old.verifier() != old.verifier():
            raise RotationError(f"--old-key is {expect_old.name}+{expect_old.key_id:08x}, not "
                                f"the key now signing this log ({old.name}+{old.key_id:08x})")
        if new.alg != ALG_ED25519:
            raise RotationError("the new key is not an Ed25519 (0x01) log key (a witness "
                                "cosignature key cannot sign checkpoints)")
        if new.name != self._origin:
            raise RotationError(f"the new key is named {new.name!r}; a log key's name must "
                                f"be the log's origin {self._origin!r}")
        nv = new.verifier().to_string()
        if overlap < 0:
            raise RotationError("the overlap must be 0 or more tree sizes")
        if any(w.vkey == nv for w in self.key_windows()):
            raise RotationError("the new key is the current key or one this log already had")
        size = self.size
        f, u = size + 1, size + 1 + overlap
        body = rotation_body(old, new, f, u)
        keep = retired_key_path(cfg.data_dir, old.verifier())
        tmp = cfg.key_path.with_name(cfg.key_path.name + ".new")
        write_private_key(tmp, new)  # refuses if an interrupted rotation left one
        try:
            if not keep.exists():
                write_private_key(keep, old)
            before = list(self._log_signers.keys)
            self._log_signers.keys[-1] = (old, before[-1][1], u)
            self._log_signers.keys.append((new, f, None))
            self._log_signers.name = new.name

            def rows(conn: Connection, made: Sequence[Appended]) -> list[Any]:
                if made[0].seq != size:
                    raise RotationError("another writer appended meanwhile; try again")
                now = utc_now()
                conn.execute(update(log_state).where(log_state.c.id == 1)
                             .values(log_vkey=nv))
                conn.execute(update(keys).where(keys.c.vkey == old.verifier().to_string())
                             .values(role="log-retired"))
                conn.execute(insert(keys).values(name=new.name, vkey=nv, role="log",
                                                 created_at=now))
                return []

            try:
                self.append_many([(ROTATED, body)], rows=rows)
            except BaseException:
                self._log_signers.keys[:] = before
                raise
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, cfg.key_path)
        self._signer, self._verifier, self._verifier_key = new, new.verifier(), nv
        self.sign_checkpoint_now()
        return KeyWindow(nv, f, None)

    def revoke_key(self, key: str, until_size: int, reason: str) -> KeyWindow:
        """Append ``key.revoked``: the retired key ``key`` (a verifier key or its
        ``name+keyid``) may sign no checkpoint larger than ``until_size``."""
        if self._signer is None:
            raise LedgerError("the ledger was opened read-only (no log key): cannot revoke")
        wins = self.key_windows()
        w = next((w for w in wins if key in (w.vkey, w.vkey.rsplit("+", 1)[0])), None)
        if w is None:
            raise RotationError(f"{key[:80]!r} is not one of this log's keys")
        if w is wins[-1]:
            raise RotationError("that is the key now signing this log: rotate it out first "
                                "(evidence log key rotate --overlap 0), then revoke it")
        if not w.from_size <= until_size or (w.until_size is not None
                                             and until_size > w.until_size):
            raise RotationError(f"size {until_size} is outside the key's window "
                                f"{w.from_size}..{w.until_size}: a revocation only narrows it")
        if len(reason) > MAX_REASON:
            raise RotationError(f"the reason is longer than {MAX_REASON} characters")

        def rows(conn: Connection, made: Sequence[Appended]) -> list[Any]:
            conn.execute(update(keys).where(keys.c.vkey == w.vkey).values(role="log-revoked"))
            return []

        self.append_many([(REVOKED, {"key": w.vkey, "until_size": until_size,
                                     "reason": reason})], rows=rows)
        assert self._log_signers is not None
        self._log_signers.keys[:] = [(s, lo, until_size if s.verifier().to_string() == w.vkey
                                      else hi) for s, lo, hi in self._log_signers.keys]
        w.until_size, w.revoked = until_size, True
        return w

    # --- frozen shards (docs/formats.md "Temporal shards") ----------------------------------

    def final_checkpoint_size(self) -> int | None:
        """The size of a frozen shard's final checkpoint (its ``log.frozen`` entry's
        ``seq + 1``); None while the log takes appends."""
        with read_transaction(self._engine) as conn:
            frozen = read_last_type(conn) == FROZEN
            return _size(conn) if frozen else None

    def freeze(self, shard: int, successor: Verifier) -> StoredCheckpoint:
        """Append ``log.frozen`` naming the successor shard's origin and key, and sign the
        final checkpoint that holds it; from then on every append is refused
        (:class:`LedgerFrozen`, ``tests/ledger/test_shards.py``)."""
        if self._signer is None:
            raise LedgerError("the ledger was opened read-only (no log key): cannot freeze")
        if self.final_checkpoint_size() is not None:
            raise LedgerFrozen(f"the log {self._origin!r} is already frozen")
        if successor.alg != ALG_ED25519 or successor.name == self._origin:
            raise LedgerError("the successor needs an Ed25519 log key named after a new origin")
        made = self.append_many([(FROZEN, {"shard": shard, "successor_origin": successor.name,
                                           "successor_key": successor.to_string()})])
        cp = self.sign_checkpoint_now()
        if cp.size != made[-1].seq + 1:  # nothing can follow log.frozen (the sequencer)
            raise LedgerError(f"the final checkpoint has size {cp.size}, not {made[-1].seq + 1}")
        return cp

    # --- reading -----------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """The number of committed entries."""
        with read_transaction(self._engine) as conn:
            return _size(conn)

    def state(self) -> LogState:
        with read_transaction(self._engine) as conn:
            return _state(conn)

    def entry(self, seq: int) -> StoredEntry:
        with read_transaction(self._engine) as conn:
            size = _state(conn).size
            _check_index(seq, size)
            e = read_entry(conn, seq)
        if e is None:
            raise LedgerError(f"entry {seq} is missing from the store; run `evidence audit`")
        return e

    def entries(self, start: int = 0, end: int | None = None, *, chunk: int = 2000
                ) -> Iterator[StoredEntry]:
        """Stream entries ``start <= seq < end`` (default: to the current size)."""
        with read_transaction(self._engine) as conn:
            size = _state(conn).size
        end = size if end is None else end
        if start < 0 or end > size or start > end:
            raise OutOfRange(f"entries {start}..{end} are not within the log (size {size})")
        with read_transaction(self._engine) as conn:
            yield from iter_entries(conn, start, end, chunk)

    def entries_at(self, seqs: Sequence[int]) -> list[StoredEntry]:
        """The entries numbered ``seqs`` that exist, in log order, in one query (an
        item's custody: its submission and the entries about it)."""
        with read_transaction(self._engine) as conn:
            return read_entries(conn, seqs)

    def nodes(self, ids: Iterable[NodeId]) -> dict[NodeId, bytes]:
        """The stored hashes of ``ids`` (level 0: leaf hashes; above: perfect subtrees)
        that exist, in one query; absent ids are left out. A stored node never changes
        once written (docs/decisions.md D2), so a caller may keep what it gets."""
        wanted = sorted(ids)
        if not wanted:
            return {}
        with read_transaction(self._engine) as conn:
            return fetch_nodes(conn, wanted)

    def size_and_nodes(self, ids: Iterable[NodeId]) -> tuple[int, dict[NodeId, bytes]]:
        """The committed size and :meth:`nodes` of ``ids``, read in one snapshot: every
        node of a tree no larger than that size is then certain to be stored."""
        wanted = sorted(ids)
        with read_transaction(self._engine) as conn:
            size, found = fetch_size_and_nodes(conn, wanted)
        if size is None:
            raise NotALedger("the ledger's log_state row is missing")
        return size, found

    def find_leaf(self, leaf_hash: bytes) -> int | None:
        """The ``seq`` of the entry with this leaf hash, or None: the leaf index's
        candidates, then the entries it has not reached yet, each confirmed against the
        stored leaf hash (:func:`~evidence.ledger.db.log_queries.find_leaf`, right without a
        snapshot across its two statements: on PostgreSQL they run outside a transaction,
        two round trips instead of four)."""
        if autocommit_reads(self._engine.dialect):
            with self._engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                return find_leaf(conn, bytes(leaf_hash))
        with read_transaction(self._engine) as conn:
            return find_leaf(conn, bytes(leaf_hash))

    def root(self, size: int | None = None) -> Hash32:
        """The tree root at ``size`` (default: now), from O(log n) stored nodes."""
        with read_transaction(self._engine) as conn:
            current = _size(conn)
            size = current if size is None else size
            _check_size(size, current)
            top = root_plan(size)
            found = fetch_nodes(conn, top)
        return _root(top, found)

    def inclusion_proof(self, seq: int, size: int | None = None) -> InclusionProof:
        """RFC 9162 inclusion proof of entry ``seq`` in the tree of ``size`` (default: now).
        The leaf hash, proof and root are read in one query."""
        if (size_with_nodes(self._engine.dialect) and type(size) is int
                and type(seq) is int and 0 <= seq < size):
            return self._inclusion_proof_at(seq, size)  # bad input: the path below says
        with read_transaction(self._engine) as conn:
            current = _size(conn)
            size = current if size is None else size
            _check_size(size, current)
            _check_index(seq, size)
            plan, top, leaf_id = inclusion_plan(seq, size), root_plan(size), NodeId(0, seq)
            found = fetch_nodes(conn, [leaf_id, *top, *chain.from_iterable(plan)])
        leaf = found.get(leaf_id)
        if leaf is None:
            raise LedgerError(f"entry {seq} is missing from the store; run `evidence audit`")
        return InclusionProof(seq, size, Hash32(leaf), tuple(_fold_groups(plan, found)),
                              _root(top, found))

    def _inclusion_proof_at(self, seq: int, size: int) -> InclusionProof:
        """:meth:`inclusion_proof` to a given size on PostgreSQL: the log's size and the
        nodes in one statement outside a transaction (BEGIN, two reads and COMMIT were
        four round trips to the server, most of a proof's latency)."""
        plan, top, leaf_id = inclusion_plan(seq, size), root_plan(size), NodeId(0, seq)
        with self._engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            current, found = fetch_size_and_nodes(conn, [leaf_id, *top,
                                                         *chain.from_iterable(plan)])
        if current is None:
            raise NotALedger("the ledger's log_state row is missing")
        _check_size(size, current)
        leaf = found.get(leaf_id)
        if leaf is None:
            raise LedgerError(f"entry {seq} is missing from the store; run `evidence audit`")
        return InclusionProof(seq, size, Hash32(leaf), tuple(_fold_groups(plan, found)),
                              _root(top, found))

    def consistency_proof(self, size1: int, size2: int | None = None) -> ConsistencyProof:
        """RFC 9162 consistency proof from tree ``size1`` to ``size2`` (default: now)."""
        with read_transaction(self._engine) as conn:
            current = _size(conn)
            size2 = current if size2 is None else size2
            _check_size(size2, current)
            _check_size(size1, current)
            if size1 > size2:
                raise OutOfRange(f"first size {size1} is larger than second size {size2}")
            plan, top1, top2 = consistency_plan(size1, size2), root_plan(size1), root_plan(size2)
            found = fetch_nodes(conn, [*top1, *top2, *chain.from_iterable(plan)])
        return ConsistencyProof(size1, size2, _root(top1, found), _root(top2, found),
                                tuple(_fold_groups(plan, found)))

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with read_transaction(self._engine) as conn:
            return latest_checkpoint(conn)

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        with read_transaction(self._engine) as conn:
            return checkpoint_at(conn, size)

    def audit(self, *, progress: Callable[[int, int], None] | None = None, chunk: int = 5000,
              workers: int | None = None):  # type: ignore[no-untyped-def]
        """Recompute and compare everything; see :func:`evidence.ledger.audit.audit`
        (``workers=None``: one process per core on large ledgers)."""
        from evidence.ledger.audit.log_audit import audit

        try:  # from the log's entries, not from the keys table the audit checks
            wins, bad = self.key_windows(from_log=True), None
        except RotationError as e:  # a key entry breaks the rules: every key, unwindowed,
            bad = e                 # for the rest of the audit; the entry is the fault
            with read_transaction(self._engine) as conn:
                vkeys = conn.execute(select(keys.c.vkey).where(
                    keys.c.role.like("log%")).order_by(keys.c.id)).scalars().all()
            wins = [KeyWindow(v, 0, 2**63) for v in vkeys or [self._verifier_key]]
        log_keys = (self._verifier if len(wins) == 1 and bad is None else  # windowed after a
                    tuple((w.verifier, None if w.until_size is None        # rotation
                           else (w.from_size, w.until_size)) for w in wins))
        try:  # the ML-DSA-44 key is required on every stored checkpoint from its first size,
            # read from its entry whatever the keys table says (tests/cli/test_log_key_mldsa.py)
            pq = None if bad is not None else pq_key.read_added(self._engine,
                                                                 [w.vkey for w in wins])
        except pq_key.PostQuantumError as e:
            pq, bad = None, RotationError(str(e))
            bad.seq = e.seq
        if pq is not None:  # tests/cli/test_log_key_mldsa.py: a checkpoint without its line
            base = ((log_keys, None),) if isinstance(log_keys, Verifier) else log_keys
            log_keys = (*base, (pq[0], (pq[1], 2**64 - 1)))
        report = audit(self._engine, log_keys, progress=progress, chunk=chunk,
                       workers=workers)
        if bad is not None and (report.first_bad_seq is None
                                or report.first_bad_seq >= (bad.seq or 0)):
            # tests/auditor/test_key_entries.py: a tampered key.rotated is named
            report = dataclasses.replace(report, ok=False, root=None, first_bad_seq=bad.seq or 0,
                                         reason=f"log key entries: {bad}")
        return report


# --- helpers ----------------------------------------------------------------------------


def _size(conn) -> int:  # type: ignore[no-untyped-def]
    size = read_size(conn)
    if size is None:
        raise NotALedger("the ledger's log_state row is missing")
    return size


def _state(conn) -> LogState:  # type: ignore[no-untyped-def]
    state = read_state(conn)
    if state is None:
        raise NotALedger("the ledger's log_state row is missing")
    return state


def _check_size(size: int, current: int) -> None:
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise OutOfRange(f"tree size {size!r} must be a non-negative integer")
    if size > current:
        raise OutOfRange(f"tree size {size} is larger than the log ({current} entries)")


def _check_index(seq: int, size: int) -> None:
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise OutOfRange(f"entry number {seq!r} must be a non-negative integer")
    if seq >= size:
        raise OutOfRange(f"entry {seq} is past the end of the tree (size {size})")


def _check_database(engine: Engine, *, upgrade: bool) -> LogState:
    """Refuse a database that is not a ledger; bring a ledger's schema up to date."""
    try:
        with read_transaction(engine) as conn:
            tables = set(inspect(conn).get_table_names())
            if "alembic_version" not in tables or "log_state" not in tables:
                raise NotALedger(f"the database at {_where(engine)} is not an evidence ledger "
                                 "(no log_state / migration table); run `evidence init`")
            rev = migrations.current_revision(conn)
            if rev is None or not migrations.is_known_ledger_revision(rev):
                raise NotALedger(f"the database is at migration revision {rev!r}, unknown to "
                                 "this version of evidence (newer code, or not a ledger)")
            state = read_state(conn)
            if state is None:
                raise NotALedger("the database has ledger tables but no log_state row: "
                                 "an interrupted init? run `evidence init` on a fresh database")
        if upgrade and rev != migrations.head_revision():
            with write_transaction(engine) as conn:
                migrations.lock_for_migration(conn)
                migrations.upgrade_to_head(conn)
        return state
    except SQLAlchemyError as e:
        detail = getattr(e, "orig", None) or e
        raise NotALedger(f"cannot read the database at {_where(engine)} as a ledger: "
                         f"{detail}") from None


def _where(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)
