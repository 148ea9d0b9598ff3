"""The witness's durable state: one SQLite file, one row per followed log.

Why SQLite and not a JSON file: the compare-and-swap the spec requires ("checking
the old size against the latest checkpoint and persisting the new checkpoint
must be performed atomically") is exactly a ``BEGIN IMMEDIATE`` transaction,
which also serialises several server processes on the same directory, and
SQLite's journal (WAL, ``synchronous=FULL``) makes the commit survive a crash
or a power cut. A JSON file would need a lock file, temp + fsync + rename and
a directory fsync to get the same.

Tree sizes go up to 2^64-1, beyond SQLite's signed 64-bit INTEGER, so they are
stored as decimal TEXT.

Refused requests whose log signature verified (a fork, a failed consistency
proof, a rollback) are kept in ``misbehaviour``: a checkpoint signed by the
log that contradicts one the witness cosigned is proof the log misbehaved
(c2sp.org/tlog-witness allows logging it). The per-log state is never changed
by a refusal.
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from evidence.verify.hashing import Hash32, hash32
from evidence.verify.note import parse_verifier_key
from evidence.witness.core import (
    FORK,
    INCONSISTENT,
    RATE_LIMITED,
    ROLLBACK,
    LogRecord,
    Refusal,
)

SCHEMA_VERSION = "1"
MAX_MISBEHAVIOUR_ROWS_PER_LOG = 1000
"""Keep the first evidence of misbehaviour; a log cannot fill the disk with it."""

_KEPT_KINDS = (FORK, INCONSISTENT, ROLLBACK)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    k TEXT PRIMARY KEY,
    v TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS logs (
    origin TEXT PRIMARY KEY,
    keys TEXT NOT NULL,          -- pinned verifier keys, one per line
    size TEXT NOT NULL,          -- decimal: sizes reach 2^64-1
    root BLOB NOT NULL,
    note TEXT,                   -- latest cosigned checkpoint note, as received
    updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS misbehaviour (
    id INTEGER PRIMARY KEY,
    origin TEXT NOT NULL,
    time INTEGER NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    request BLOB NOT NULL        -- the whole add-checkpoint body
);
CREATE TABLE IF NOT EXISTS policy (
    origin TEXT PRIMARY KEY,
    qpd INTEGER,                 -- add-checkpoint requests a day, NULL: no limit
    listed_in TEXT,              -- the log list it was found in (NULL: added by hand)
    contact TEXT,
    tokens REAL NOT NULL,        -- the request bucket (see WitnessStore.update)
    at REAL NOT NULL             -- when tokens was counted (Unix seconds)
);
"""
_POLICY = _SCHEMA[_SCHEMA.index("CREATE TABLE IF NOT EXISTS policy"):].rstrip().rstrip(";")


DAY = 86400.0


def burst(qpd: int) -> float:
    """Requests a log may send back to back: a minute's worth of its budget, and at least
    two (a request refused with 409 and its re-send with the right old size)."""
    return max(2.0, qpd / 1440)


@dataclass(frozen=True)
class LogPolicy:
    qpd: int | None
    listed_in: str | None
    contact: str | None


class StoreError(Exception):
    """The witness state is missing, not a witness state, or a log is already there."""


class WitnessStore:
    """Per-log records in SQLite. Thread-safe; several processes may share the file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    # --- lifecycle -----------------------------------------------------------------

    @classmethod
    def create(cls, path: Path, name: str) -> WitnessStore:
        path = Path(path)
        if path.exists():
            raise StoreError(f"{path} already exists; refusing to overwrite a witness state")
        store = cls(path)
        with store._connect() as db:
            for statement in _SCHEMA.split(";")[:-1]:
                db.execute(statement)
            db.execute("INSERT INTO meta VALUES ('schema', ?), ('name', ?)",
                       (SCHEMA_VERSION, name))
        return store

    @classmethod
    def open(cls, path: Path) -> WitnessStore:
        path = Path(path)
        if not path.is_file():
            raise StoreError(f"no witness state at {path} (run 'evidence witness init')")
        store = cls(path)
        try:
            with store._connect(write=False) as db:
                row = db.execute("SELECT v FROM meta WHERE k = 'schema'").fetchone()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{path} is not a witness state: {e}") from None
        if row is None or row[0] != SCHEMA_VERSION:
            raise StoreError(f"{path} is not a witness state of schema {SCHEMA_VERSION}")
        with store._connect() as db:  # states made before request budgets had no table
            db.execute(_POLICY)
        return store

    @contextlib.contextmanager
    def _connect(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction; ``BEGIN IMMEDIATE`` takes the write lock up front so that a
        read-check-write sequence cannot interleave with another process's."""
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    # --- reading -------------------------------------------------------------------

    @staticmethod
    def _record(row: tuple) -> LogRecord:
        origin, keys, size, root, note = row
        return LogRecord(origin, tuple(parse_verifier_key(k) for k in keys.split("\n")),
                         int(size), Hash32(bytes(root)), note)

    def name(self) -> str:
        with self._connect(write=False) as db:
            return db.execute("SELECT v FROM meta WHERE k = 'name'").fetchone()[0]

    def get(self, origin: str) -> LogRecord | None:
        with self._connect(write=False) as db:
            row = db.execute("SELECT origin, keys, size, root, note FROM logs WHERE origin = ?",
                             (origin,)).fetchone()
        return None if row is None else self._record(row)

    def logs(self) -> list[LogRecord]:
        with self._connect(write=False) as db:
            rows = db.execute("SELECT origin, keys, size, root, note FROM logs "
                              "ORDER BY origin").fetchall()
        return [self._record(r) for r in rows]

    def misbehaviour(self, origin: str | None = None) -> list[dict]:
        """Refused requests that were signed by the log (forks, failed proofs, rollbacks)."""
        with self._connect(write=False) as db:
            rows = db.execute(
                "SELECT origin, time, kind, reason, request FROM misbehaviour "
                "WHERE ? IS NULL OR origin = ? ORDER BY id", (origin, origin)).fetchall()
        return [{"origin": o, "time": t, "kind": k, "reason": r, "request": bytes(b)}
                for o, t, k, r, b in rows]

    # --- writing -------------------------------------------------------------------

    def policy(self, origin: str) -> LogPolicy | None:
        """The log's request budget and where it came from (None: no budget is set)."""
        with self._connect(write=False) as db:
            row = db.execute("SELECT qpd, listed_in, contact FROM policy WHERE origin = ?",
                             (origin,)).fetchone()
        return None if row is None else LogPolicy(*row)

    def add_log(self, record: LogRecord, *, qpd: int | None = None,
                listed_in: str | None = None, contact: str | None = None) -> bool:
        """Follow a new log, with at most ``qpd`` add-checkpoint requests a day (None: no
        limit). Refuses an origin that is already followed, unless it came from a list
        (``listed_in``): then it returns False and changes nothing (a list never changes a
        log already followed)."""
        hash32(record.root, "root")
        keys = "\n".join(k.to_string() for k in record.keys)
        if qpd is not None and (isinstance(qpd, bool) or not isinstance(qpd, int) or qpd < 1):
            raise StoreError(f"qpd must be a whole number >= 1, not {qpd!r}")
        with self._lock, self._connect() as db:
            if db.execute("SELECT 1 FROM logs WHERE origin = ?", (record.origin,)).fetchone():
                if listed_in is not None:
                    return False
                raise StoreError(f"log {record.origin!r} is already followed")
            db.execute("INSERT INTO logs VALUES (?, ?, ?, ?, ?, ?)",
                       (record.origin, keys, str(record.size), record.root, record.note,
                        int(time.time())))
            if qpd is not None or listed_in is not None:
                db.execute("INSERT INTO policy VALUES (?, ?, ?, ?, ?, ?)",
                           (record.origin, qpd, listed_in, contact,
                            burst(qpd) if qpd else 0.0, time.time()))
        return True

    def set_keys(self, origin: str, change: Callable[[LogRecord], LogRecord]) -> LogRecord:
        """Change the pinned keys of a followed log, and nothing else: ``change`` sees the
        current record inside a write transaction (so no checkpoint is cosigned between
        the read and the write) and returns it with other keys. Raises
        :class:`StoreError` for an origin not followed."""
        with self._lock, self._connect() as db:
            row = db.execute("SELECT origin, keys, size, root, note FROM logs "
                             "WHERE origin = ?", (origin,)).fetchone()
            if row is None:
                raise StoreError(f"log {origin!r} is not followed")
            current = self._record(row)
            new = change(current)
            if (new.origin, new.size, new.root, new.note) != (
                    current.origin, current.size, current.root, current.note):
                raise ValueError("change may change only the keys")
            db.execute("UPDATE logs SET keys = ?, updated_at = ? WHERE origin = ?",
                       ("\n".join(k.to_string() for k in new.keys), int(time.time()), origin))
        return new

    def update(self, origin: str, decide: Callable[[LogRecord | None], LogRecord], *,
               request: bytes = b"", admit: Callable[[LogRecord], object] | None = None,
               now: float | None = None) -> LogRecord:
        """Compare-and-swap one log's record: ``decide`` sees the current record inside a
        write transaction and returns the new one, or raises :class:`Refusal` (nothing
        changes; a refusal signed by the log is kept as evidence of misbehaviour).

        With a budget (``qpd``), each request of a known log takes one token from its
        bucket (refilled at qpd/86400 a second, holding at most :func:`burst` tokens) once
        ``admit`` (the log signature check) let it through: a request nobody but the log
        could have signed is the only kind that spends the log's budget. An empty bucket
        is a 429 ``rate-limited`` refusal with the seconds until the next token."""
        with self._lock:
            refusal: Refusal | None = None
            with self._connect() as db:
                row = db.execute("SELECT origin, keys, size, root, note FROM logs "
                                 "WHERE origin = ?", (origin,)).fetchone()
                current = None if row is None else self._record(row)
                try:
                    if current is not None and admit is not None:
                        admit(current)
                        self._take(db, origin, time.time() if now is None else now)
                    new = decide(current)
                except Refusal as r:
                    refusal = r
                    if r.kind in _KEPT_KINDS:
                        self._keep(db, origin, r, request)
                else:
                    if new.origin != origin or new.keys != current.keys:
                        raise ValueError("decide may change only size, root and note")
                    db.execute("UPDATE logs SET size = ?, root = ?, note = ?, updated_at = ? "
                               "WHERE origin = ?",
                               (str(new.size), new.root, new.note, int(time.time()), origin))
            if refusal is not None:
                raise refusal
            return new

    @staticmethod
    def _take(db: sqlite3.Connection, origin: str, now: float) -> None:
        row = db.execute("SELECT qpd, tokens, at FROM policy WHERE origin = ?",
                         (origin,)).fetchone()
        if row is None or row[0] is None:
            return
        qpd, tokens, at = int(row[0]), float(row[1]), float(row[2])
        rate = qpd / DAY
        tokens = min(burst(qpd), tokens + max(0.0, now - at) * rate)
        if tokens < 1.0:
            db.execute("UPDATE policy SET tokens = ?, at = ? WHERE origin = ?",
                       (tokens, now, origin))
            wait = math.ceil((1.0 - tokens) / rate)
            raise Refusal(RATE_LIMITED, 429, f"log {origin!r} is allowed {qpd} add-checkpoint "
                                             f"requests a day; the next in {wait} s",
                          retry_after=wait)
        db.execute("UPDATE policy SET tokens = ?, at = ? WHERE origin = ?",
                   (tokens - 1.0, now, origin))

    @staticmethod
    def _keep(db: sqlite3.Connection, origin: str, r: Refusal, request: bytes) -> None:
        (count,) = db.execute("SELECT count(*) FROM misbehaviour WHERE origin = ?",
                              (origin,)).fetchone()
        if count < MAX_MISBEHAVIOUR_ROWS_PER_LOG:
            db.execute("INSERT INTO misbehaviour (origin, time, kind, reason, request) "
                       "VALUES (?, ?, ?, ?, ?)",
                       (origin, int(time.time()), r.kind, r.reason, request))

