"""Database engines for the ledger: SQLite (embedded default) and PostgreSQL.

SQLite: WAL journal (set once at ``init``: it is persistent), ``synchronous=FULL``
(a commit is on disk before it returns: acknowledged = durable), a busy timeout,
foreign keys on. Two settings are for large ledgers: a 64 MiB page cache per
connection and a WAL checkpoint every 10,000 pages instead of 1,000. They were set
when a random-keyed index on ``entries.leaf_hash`` dirtied about one page per appended
entry (the default 2 MiB cache spilled a 1,000-entry batch to the WAL mid-transaction,
and every batch paid a checkpoint); that index is gone (migration 0005: the leaf-hash
follower dirties up to ~2,000 pages per run, every 32,768 entries), and the settings
were kept, not re-measured. Neither changes durability: commits are still fsynced
before they return.

pysqlite's own transaction handling is switched off and SQLAlchemy's ``begin``
emits the ``BEGIN`` itself, so that DDL is transactional and a writer can ask for
``BEGIN IMMEDIATE`` (take the write lock first, never fail half-way on a lock
upgrade) with :func:`write_transaction`.

PostgreSQL: ``postgresql+psycopg://`` (psycopg 3). Writers serialise on the
``log_state`` row (``SELECT ... FOR UPDATE``), see :mod:`evidence.ledger.sequencer`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from evidence.ledger.db.sql import Driver
from evidence.ledger.errors import NotALedger

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_CACHE_KIB = 65_536  # per connection, allocated as pages are used
SQLITE_WAL_AUTOCHECKPOINT_PAGES = 10_000  # ~40 MB of WAL between checkpoints


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, or None for an in-memory database."""
    db = make_url(url).database
    return None if not db or db == ":memory:" else Path(db)


def make_engine(url: str, *, create: bool = False) -> Engine:
    """An engine for ``url``. Without ``create``, a missing SQLite file is an error
    (SQLite would otherwise create an empty file: opening must change nothing)."""
    try:
        parsed = make_url(url)
    except Exception:
        raise NotALedger(f"database URL {url!r} is not a valid SQLAlchemy URL") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = sqlite_path(url)
        if path is None:
            raise NotALedger("an in-memory SQLite database cannot hold a ledger")
        if not create and not path.exists():
            raise NotALedger(f"no ledger database at {path}")
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _sqlite_events(engine)
        return engine
    if backend == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            raise NotALedger("use a postgresql+psycopg:// URL (psycopg 3) for PostgreSQL")
        return create_engine(url, pool_pre_ping=True)
    raise NotALedger(f"unsupported database {backend!r}: use sqlite:/// or postgresql+psycopg://")


def _sqlite_events(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see begin below)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous = FULL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        cur.execute(f"PRAGMA wal_autocheckpoint = {SQLITE_WAL_AUTOCHECKPOINT_PAGES}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("ledger_write", False)
        # on the driver: every transaction pays this, and SQLAlchemy's execution layer
        # cost several times SQLite's own BEGIN
        Driver(conn).run("BEGIN IMMEDIATE" if immediate else "BEGIN")


def set_wal(engine: Engine) -> None:
    """Switch a new SQLite database to WAL (persistent; done once, at init)."""
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()  # outside any transaction (SQLite requires it)
    try:
        cur = raw.cursor()
        mode = cur.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        cur.close()
    finally:
        raw.close()
    if str(mode).lower() != "wal":
        raise NotALedger(f"SQLite refused WAL mode (got {mode!r})")


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction meant to write: ``BEGIN IMMEDIATE`` on SQLite. Commits on success."""
    with engine.connect().execution_options(ledger_write=True) as conn, conn.begin():
        yield conn


@contextlib.contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A read transaction: one consistent snapshot (WAL reader / PostgreSQL statement
    snapshots; readers only rely on rows that never change once committed)."""
    with engine.connect() as conn, conn.begin():
        yield conn
