"""What the command modules share: where the ledger is, opening it, and its errors as failures.

Every command that reads or writes the ledger takes the same location options and answers a
damaged database, a missing key or a refused write the same way; keeping those here means
no command module imports another (``main.py`` alone gathers the commands). The trust pins
of the verifying commands have their own module, :mod:`evidence.cli.trust_options`.

Where the ledger is: ``--data-dir`` (else ``$EVIDENCE_DATA_DIR``, else ``./evidence-data``)
and ``--db`` (else ``$EVIDENCE_DB_URL``, else the config, else SQLite in the data
directory); see :mod:`evidence.ledger.config`. Where the files are (intake commands only):
``--blob-store`` and ``--max-file-size``; see :mod:`evidence.ledger.intake.settings`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import click
from sqlalchemy.exc import DatabaseError, OperationalError

from evidence.cli.output import fail
from evidence.ledger.blobs import BlobError
from evidence.ledger.config import resolve_data_dir
from evidence.ledger.errors import LedgerError
from evidence.ledger.intake import Intake, IntakeError, load_settings
from evidence.ledger.intake.settings import SettingsError
from evidence.ledger.keyfile import KeyFileError
from evidence.ledger.log import Ledger
from evidence.verify.errors import VerificationError

__all__ = [
    "DB_DAMAGE",
    "INTAKE_ERRORS",
    "intake_where_options",
    "is_db_damage",
    "ledger_damaged",
    "local_submitter",
    "open_intake",
    "open_ledger",
    "principal_default",
    "remote_options",
    "remote_run",
    "remote_target",
    "run_or_fail",
    "transfer_options",
    "where_options",
]

DB_DAMAGE: tuple[type[BaseException], ...] = (DatabaseError, sqlite3.DatabaseError)
"""What a damaged database page raises ("database disk image is malformed", "file is
not a database"): the commands that read the ledger answer it with a report."""

INTAKE_ERRORS = (LedgerError, KeyFileError, VerificationError, IntakeError, BlobError,
                 SettingsError, OSError, ValueError)
"""What an intake command reports as its failure rather than a traceback."""


def where_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--data-dir``, ``--db`` and ``--json``: the ledger's location, for ledger commands."""
    f = click.option("--json", "as_json", is_flag=True, help="Print JSON.")(f)
    f = click.option("--db", "db_url", metavar="URL", envvar="EVIDENCE_DB_URL",
                     help="Database URL (sqlite:///... or postgresql+psycopg://...); "
                          "env EVIDENCE_DB_URL.")(f)
    f = click.option("--data-dir", metavar="DIR", envvar="EVIDENCE_DATA_DIR",
                     help="Ledger data directory (env EVIDENCE_DATA_DIR; "
                          "default ./evidence-data).")(f)
    return f


def intake_where_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The ledger's location and the files': ``--data-dir``, ``--db``, ``--blob-store``,
    ``--max-file-size`` and ``--json``, for commands that store or read evidence."""
    f = click.option("--json", "as_json", is_flag=True, help="Print JSON.")(f)
    f = click.option("--max-file-size", metavar="SIZE", envvar="EVIDENCE_MAX_FILE_SIZE",
                     help="Largest file accepted, e.g. 4GiB, 512M (default 4 GiB; "
                          "env EVIDENCE_MAX_FILE_SIZE).")(f)
    f = click.option("--blob-store", metavar="PATH|URL", envvar="EVIDENCE_BLOB_STORE",
                     help="Blob store: a directory or s3://bucket/prefix?endpoint=... "
                          "(default DIR/blobs; env EVIDENCE_BLOB_STORE).")(f)
    f = click.option("--db", "db_url", metavar="URL", envvar="EVIDENCE_DB_URL",
                     help="Database URL; env EVIDENCE_DB_URL.")(f)
    f = click.option("--data-dir", metavar="DIR", envvar="EVIDENCE_DATA_DIR",
                     help="Ledger data directory (env EVIDENCE_DATA_DIR; "
                          "default ./evidence-data).")(f)
    return f


def is_db_damage(e: BaseException | None) -> bool:
    """Whether ``e`` or an error it was raised from is a damaged database page."""
    seen = 0
    while e is not None and seen < 10:
        busy = isinstance(e, OperationalError | sqlite3.OperationalError)  # locked, gone
        if isinstance(e, DB_DAMAGE) and not busy:
            return True
        e, seen = e.__cause__ or e.__context__, seen + 1
    return False


def ledger_damaged(e: BaseException, as_json: bool) -> None:
    """Exit with the ``ledger-damaged`` problem: restore from a backup, never write to it."""
    fail(f"the ledger database is damaged or unreadable: {_db_message(e)}. Restore it from "
         "a backup (docs/operations.md); do not write to it.", as_json=as_json,
         code=1, problem="ledger-damaged")


def _db_message(e: BaseException) -> str:
    orig = getattr(e, "orig", None)
    return str(orig if orig is not None else e).splitlines()[0]


def open_ledger(data_dir: str | None, db_url: str | None, as_json: bool, *,
                read_only: bool = False) -> Ledger:
    """The ledger at the given location, or exit with why it cannot be opened."""
    try:
        return Ledger.open(data_dir, db_url, read_only=read_only)
    except (LedgerError, KeyFileError) as e:
        if is_db_damage(e):
            ledger_damaged(e, as_json)
        fail(str(e), as_json=as_json)
        raise  # unreachable: fail exits


def open_intake(data_dir: str | None, db_url: str | None, blob_store: str | None,
                max_file_size: str | None, as_json: bool, *, read_only: bool = False) -> Intake:
    """The ledger and its blob store as one :class:`Intake`, or exit with why not."""
    led = open_ledger(data_dir, db_url, as_json, read_only=read_only)
    try:
        d = led.config.data_dir if led.config else resolve_data_dir(data_dir)
        settings = load_settings(d, blob_store=blob_store, max_file_size=max_file_size)
        store = settings.open_store()
    except (SettingsError, ValueError, OSError, ImportError) as e:
        led.close()
        fail(f"blob store: {e}", as_json=as_json)
        raise  # unreachable: fail exits
    return Intake(led, store, max_file_size=settings.max_file_size)


def run_or_fail(as_json: bool, fn: Callable[[], Any]) -> Any:
    """``fn()``; a ledger, key or verification error becomes the command's failure."""
    try:
        return fn()
    except (LedgerError, KeyFileError, VerificationError) as e:
        fail(str(e), as_json=as_json)


def local_submitter(led: Ledger, case: str, principal: str | None, as_json: bool) -> str:
    """Who submits to ``case`` on this host's ledger, checked as the API checks a token's
    principal (``AccessControl.require_submit``): the case exists, the principal is a
    registered submitter and a member of it. The ledger then records that name, never the
    Unix account that ran the command. Exits with what to do otherwise."""
    from evidence.ledger.access import AccessControl, AccessError

    ac = AccessControl(led)
    if not ac.case_exists(case):
        fail(f"case {case!r} does not exist on this ledger: create it with `evidence case add "
             f"{case}` (the API refuses an unknown case too)", as_json=as_json,
             problem="unknown-case")
    if not principal:
        members = ", ".join(ac.members(case)) or "none yet: `evidence case member add`"
        fail(f"say who submits: --as ID, a submitter member of case {case!r} (env "
             f"EVIDENCE_PRINCIPAL); its members: {members}", as_json=as_json,
             problem="no-principal")
    try:
        who = ac.get_principal(principal)
        ac.require_submit(who, case)
    except AccessError as e:
        fail(f"{principal} may not submit to case {case!r}: {e}", as_json=as_json,
             problem=getattr(e, "code", "forbidden"))
    return principal


def principal_default() -> str:
    """Who acts when ``--principal`` is not given: the local operating-system user, since
    a command run at the console is done by whoever is logged in."""
    import getpass

    try:
        return f"local:{getpass.getuser()}"
    except Exception:
        return "local:unknown"


# --- the remote CLI: the same commands against an evidence server (evidence/cli/remote_*) ---


def remote_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--server URL``: run the command against that evidence server over HTTP."""
    return click.option(
        "--server", metavar="URL", default=None,
        help="Do this on an evidence server over HTTP (token: `evidence login`, or env "
             "EVIDENCE_TOKEN). Default: env EVIDENCE_SERVER, else the login's server, "
             "unless --data-dir/--db is given.")(f)


def transfer_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--progress`` / ``--quiet``: a transfer's progress bar on stderr (remote only)."""
    f = click.option("--quiet", is_flag=True,
                     help="No progress bar (remote transfers).")(f)
    f = click.option("--progress", "progress", flag_value=True, default=None,
                     help="Show a progress bar on stderr even when it is not a terminal "
                          "(remote transfers; default: when stderr is a terminal).")(f)
    return f


def remote_target(as_json: bool) -> Any:
    """The server the current command talks to, or None for the local ledger (precedence:
    :mod:`evidence.cli.remote_config`): reads ``--server``, and whether ``--data-dir`` /
    ``--db`` came from the command line or the environment."""
    from click.core import ParameterSource

    from evidence.cli.remote_config import RemoteConfigError, resolve

    ctx = click.get_current_context()
    sources = [ctx.get_parameter_source(n) for n in ("data_dir", "db_url")
               if ctx.params.get(n) is not None]
    try:
        return resolve(ctx.params.get("server"),
                       local_flag=ParameterSource.COMMANDLINE in sources,
                       local_env=ParameterSource.ENVIRONMENT in sources)
    except (RemoteConfigError, ValueError) as e:
        fail(str(e), as_json=as_json)


def remote_client(remote: Any, *, progress: bool | None = None, quiet: bool = False) -> Any:
    """A client for ``remote``; retries from ``$EVIDENCE_RETRIES`` (default 4)."""
    import os

    from evidence.cli.remote_client import Client, Progress

    try:
        retries = max(0, min(10, int(os.environ.get("EVIDENCE_RETRIES", "4"))))
    except ValueError:
        retries = 4
    return Client(remote, retries=retries,
                  progress=Progress(Progress.wanted(progress, quiet)))


def remote_run(as_json: bool, remote: Any, fn: Callable[[Any], Any], *,
               progress: bool | None = None, quiet: bool = False) -> Any:
    """``fn(client)``; a refusal becomes the command's failure with its exit status
    (4: the token was refused, 5: the server cannot be reached) and, in JSON, its
    ``problem`` code and details."""
    from evidence.cli.remote_client import RemoteFailure

    try:
        return fn(remote_client(remote, progress=progress, quiet=quiet))
    except RemoteFailure as e:
        extra = {k: v for k, v in e.extra.items() if k not in ("ok", "error")}
        fail(str(e), code=e.exit_code, as_json=as_json,
             **({"problem": e.code} if e.code else {}), **extra)
