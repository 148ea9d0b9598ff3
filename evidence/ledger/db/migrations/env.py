"""Alembic environment: runs on the connection the ledger hands it (no URL, no ini)."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - offline/CLI use without a database
    raise RuntimeError(
        "ledger migrations run from evidence.ledger (Ledger.create / Ledger.open); "
        "`alembic revision` works, `alembic upgrade` does not"
    )
context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
