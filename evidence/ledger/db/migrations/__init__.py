"""Alembic migrations of the ledger database, applied programmatically.

``evidence init`` creates the schema (:func:`upgrade_to_head` on an empty
database); opening a ledger upgrades it to the newest revision this code knows
(under a lock: ``pg_advisory_xact_lock`` on PostgreSQL, ``BEGIN IMMEDIATE`` on
SQLite, all revisions in one transaction). A database at a revision this code
does not know (made by newer code) is refused, never downgraded.

Adding your tables (evidence items, cases, users, anchors, ...)
----------------------------------------------------------------

One linear chain, one revision per change. Add a file ``versions/NNNN_<what>.py``
whose ``down_revision`` is the current head (``0001_ledger`` to start with; see
:data:`HEAD` with ``python -c "from evidence.ledger.db.migrations import head_revision;
print(head_revision())"``). Either copy an existing revision or run::

    alembic -c evidence/ledger/db/migrations/alembic.ini revision -m "evidence items" \\
        --rev-id 0002_evidence_items

(the ``alembic.ini`` here has no database: write ``upgrade()``/``downgrade()`` by
hand with ``op.create_table`` etc., no autogenerate). Rules:

* revision ids are ``NNNN_<snake_name>``, numbered in order; never edit a revision
  that has been released, add a new one;
* use only ``op`` operations that work on both SQLite and PostgreSQL; to alter a
  column on SQLite wrap it in ``with op.batch_alter_table(...)``;
* revisions are self-contained (define their columns inline, do not import your
  ``schema`` module: it changes later, the migration must not);
* if two branches each add a revision on the same head, the later one to merge
  renumbers and re-points its ``down_revision`` (``test_ledger_schema`` fails on
  two heads).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, inspect

from evidence.ledger.db.dialect import migration_lock_sql
from evidence.ledger.errors import NotALedger

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

BASE_REVISION = "0001_ledger"
_HERE = Path(__file__).resolve().parent

# Opening a ledger only needs to know which revisions exist and which is the head: read
# from the file names (the rules above make a file's stem its revision id), so that
# Alembic (and Mako, and Pygments: ~0.2 s) is imported only to migrate. A test holds
# these equal to what Alembic itself reads from the revision files.
KNOWN_REVISIONS: frozenset[str] = frozenset(
    p.stem for p in (_HERE / "versions").glob("*.py") if re.fullmatch(r"\d{4}_\w+", p.stem))


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def script_directory() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision: the highest number of the linear chain."""
    return max(KNOWN_REVISIONS, key=lambda rev: int(rev[:4]))


def current_revision(conn: Connection) -> str | None:
    """The database's revision (None when it has never been migrated)."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    heads: list[Any] = [r[0] for r in conn.exec_driver_sql(
        "SELECT version_num FROM alembic_version")]
    if len(heads) > 1:
        raise NotALedger(f"database has several migration heads {heads}")
    return str(heads[0]) if heads else None


def is_known_ledger_revision(rev: str) -> bool:
    """Whether ``rev`` is a revision of this chain (so the database is a ledger)."""
    return rev in KNOWN_REVISIONS


def lock_for_migration(conn: Connection) -> None:
    """Serialise migrators (SQLite already holds the write lock from BEGIN IMMEDIATE)."""
    lock = migration_lock_sql(conn.dialect)
    if lock is not None:
        conn.exec_driver_sql(lock)


def upgrade_to_head(conn: Connection) -> None:
    """Apply every missing revision inside the caller's (write) transaction."""
    from alembic import command

    command.upgrade(alembic_config(conn), "head")
