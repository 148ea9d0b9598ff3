"""The ledger's SQL, in one room: everything that speaks to SQLite or PostgreSQL.

Read in this order:

- :mod:`.engine`: engines and transactions (the SQLite settings, ``BEGIN IMMEDIATE``
  for writers);
- :mod:`.schema`: the log's tables (the other rooms' tables: see its docstring);
- :mod:`.log_queries`: read queries on the log's tables, in the caller's transaction;
- :mod:`.sql`: the speed door (statements on the DB-API connection, bulk inserts,
  the one parameter marker);
- :mod:`.dialect`: every difference between SQLite and PostgreSQL the queries make,
  each behind a named function;
- :mod:`.migrations`: the Alembic chain that builds every room's tables, applied by
  the ledger itself when it is created or opened.

Only :mod:`evidence.ledger` imports this package (an import-linter contract): the API,
the CLI and the witness read the ledger through its functions. Nothing is re-exported
here, so importing one module loads only what it needs.
"""
