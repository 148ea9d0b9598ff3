"""``evidence backup DEST`` and ``evidence restore BACKUP DIR`` (evidence/ledger/backup.py).

A backup that has never been restored is a hope: ``restore`` checks every member and
every evidence file of the backup before it writes anything, and the result is an
ordinary data directory that ``evidence audit`` checks like any other.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from evidence.cli.output import emit_json, fail


def _progress(label: str, quiet: bool):  # type: ignore[no-untyped-def]
    """A one-line progress counter on stderr for long runs (nothing when quiet or piped)."""
    if quiet or not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        click.echo(f"\r{label} {done}/{total}", nl=done == total, err=True)
    return show


@click.command("backup")
@click.argument("dest", type=click.Path(file_okay=False))
@click.option("--no-keys", is_flag=True,
              help="Leave the key files out (keep them apart; restore then needs --key).")
@click.option("--no-blobs", is_flag=True,
              help="Leave the evidence files out (they are still hashed and listed): for a "
                   "blob store that is backed up by other means.")
@click.option("--blob-store", metavar="URL", help="Blob store (default: the ledger's).")
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one line).")
@click.option("--db", "db_url", metavar="URL", envvar="EVIDENCE_DB_URL", help="Database URL.")
@click.option("--data-dir", metavar="DIR", envvar="EVIDENCE_DATA_DIR",
              help="Ledger data directory (default ./evidence-data).")
def backup_cmd(dest: str, no_keys: bool, no_blobs: bool, blob_store: str | None, quiet: bool,
               as_json: bool, db_url: str | None, data_dir: str | None) -> None:
    """Write a consistent backup of the ledger to the new directory DEST: the database,
    the configuration, the keys and every evidence file, with a manifest of SHA-256s.
    Exits 1 if an evidence file is missing or damaged (the backup names it)."""
    from evidence.ledger.backup import BackupError, backup
    from evidence.ledger.errors import LedgerError
    from evidence.ledger.intake.settings import load_settings
    from evidence.ledger.log import Ledger

    try:
        led = Ledger.open(data_dir, db_url, read_only=True)
    except LedgerError as e:
        fail(str(e), as_json=as_json)
    try:
        cfg = led.config
        store = load_settings(cfg.data_dir if cfg else Path(data_dir or "."),
                              blob_store=blob_store).open_store()
        r = backup(led, store, dest, keys=not no_keys, blobs=not no_blobs,
                   progress=_progress("evidence files", quiet))
    except (BackupError, LedgerError, OSError) as e:
        fail(str(e), as_json=as_json, code=1)
    finally:
        led.close()
    if as_json:
        emit_json(r.to_json())
    else:
        click.echo(f"backup written to {r.path}: {r.database} database at tree size "
                   f"{r.tree_size}, {r.blobs} evidence files ({r.blob_bytes} bytes)"
                   f"{'' if r.blobs_included else ' hashed, not copied'}"
                   f"{'' if r.keys_included else ', keys left out'}")
        for d in r.damaged:
            click.echo(f"error: evidence file {d['sha256']} is {d['problem']}", err=True)
    if not r.ok:
        sys.exit(1)


@click.command("restore")
@click.argument("backup_dir", type=click.Path(file_okay=False, exists=True))
@click.argument("data_dir", required=False, type=click.Path(file_okay=False))
@click.option("--db", "db_url", metavar="URL",
              help="For a PostgreSQL backup: the empty database to restore into.")
@click.option("--blob-store", metavar="URL",
              help="Where to put the evidence files (default DATA_DIR/blobs).")
@click.option("--key", "key_file", type=click.Path(dir_okay=False, exists=True),
              help="The log key, for a backup made with --no-keys.")
@click.option("--check-only", is_flag=True, help="Check the backup; restore nothing.")
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one line).")
def restore_cmd(backup_dir: str, data_dir: str | None, db_url: str | None, blob_store: str | None,
                key_file: str | None, check_only: bool, quiet: bool, as_json: bool) -> None:
    """Check the backup in BACKUP_DIR, then restore it into the new data directory
    DATA_DIR. Nothing is written unless every member and evidence file checks out."""
    from evidence.ledger.backup import BackupError, check_backup, restore

    if data_dir is None and not check_only:
        raise click.UsageError("give DATA_DIR, the new data directory (or --check-only)")
    progress = _progress("checked", quiet)
    try:
        if check_only:
            doc = check_backup(backup_dir, progress)
            result = {"ok": True, "checked": backup_dir, "tree_size": doc.get("tree_size"),
                      "blobs": len(doc["blobs"])}
        else:
            assert data_dir is not None
            result = restore(backup_dir, data_dir, db_url=db_url, blob_store=blob_store,
                             key_file=key_file, progress=progress).to_json()
    except (BackupError, OSError) as e:
        fail(str(e), as_json=as_json, code=1)
    if as_json:
        emit_json(result)
    elif check_only:
        click.echo(f"backup {backup_dir} checks out: tree size {result['tree_size']}, "
                   f"{result['blobs']} evidence files")
    else:
        click.echo(f"restored into {result['data_dir']} ({result['database']}, tree size "
                   f"{result['tree_size']}, {result['blobs']} evidence files); run "
                   f"`evidence audit --data-dir {result['data_dir']}` to check it")
