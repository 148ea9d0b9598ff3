"""``evidence anchor renew`` and ``evidence anchor record``: RFC 4998 evidence records
(docs/operations.md "Evidence records").

::

    evidence anchor renew [--due-within DAYS | --all]   # timestamp renewal (RFC 4998 5.2)
    evidence anchor renew --hash-tree sha512            # hash-tree renewal (5.3)
    evidence anchor record EVIDENCE_ID -o FILE          # an item's record, DER, as stored
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import click

from evidence.cli.options import intake_where_options, open_intake, open_ledger, where_options
from evidence.cli.output import emit_json, fail
from evidence.ledger.anchor.config import load_anchor_config
from evidence.ledger.anchor.ers import RenewalRefused
from evidence.ledger.anchor.ers_service import named_tsas, renew_records
from evidence.ledger.anchor.ers_store import item_evidence_records
from evidence.ledger.config import load_config
from evidence.ledger.errors import LedgerError

__all__ = ["record_cmd", "renew_cmd"]


@click.command("renew")
@click.option("--hash-tree", "hash_tree", type=click.Choice(["sha256", "sha384", "sha512"]),
              help="Hash-tree renewal: a new chain under this hash over each item's files "
                   "(read from the blob store) and its record so far.")
@click.option("--due-within", type=click.IntRange(min=0), default=365, show_default=True,
              metavar="DAYS", help="Timestamp renewal of the records whose newest token's "
                                   "TSA certificate expires within DAYS.")
@click.option("--all", "renew_all", is_flag=True,
              help="Timestamp renewal of every record, due or not (the operator's demand).")
@intake_where_options
def renew_cmd(hash_tree: str | None, due_within: int, renew_all: bool, data_dir: str | None,
              db_url: str | None, blob_store: str | None, max_file_size: str | None,
              as_json: bool) -> None:
    """Renew the items' RFC 4998 evidence records with the configured TSAs.

    Each batch of records is one TSA request (the TSAs are tried in configuration order)
    and one ers.renewed ledger entry, stored with the renewed records in one transaction.
    When no TSA answers, nothing is changed and the exit status is 1.
    """
    if hash_tree is not None and renew_all:
        fail("--all is for a timestamp renewal; --hash-tree renews every record not yet "
             "under that hash", as_json=as_json)
    try:
        cfg = load_anchor_config(load_config(data_dir).data_dir)
        tsas = named_tsas(cfg)
    except (LedgerError, OSError, ValueError) as e:
        fail(str(e), as_json=as_json)
        raise  # unreachable
    intake = open_intake(data_dir, db_url, blob_store, max_file_size, as_json)
    with intake.ledger:
        try:
            rep = renew_records(
                intake.ledger, tsas, hash_tree=hash_tree,
                due_within=None if renew_all or hash_tree else timedelta(days=due_within),
                open_blob=intake.store.open if hash_tree else None)
        except RenewalRefused as e:
            fail(f"renewal refused: {e}", as_json=as_json, problem="renewal-refused")
            raise  # unreachable
    if as_json:
        emit_json({"ok": True, **rep.to_json()})
    elif rep.renewed == 0:
        click.echo("no evidence record to renew")
    else:
        click.echo(f"{rep.renewed} evidence records renewed ({rep.kind.replace('_', '-')}, "
                   f"{rep.algorithm}) with {', '.join(rep.tsas)}; ledger entries "
                   f"{', '.join(map(str, rep.entries))}")


@click.command("record")
@click.argument("evidence_id")
@click.option("-o", "--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Write the record (DER) here.")
@where_options
def record_cmd(evidence_id: str, out: str, data_dir: str | None, db_url: str | None,
               as_json: bool) -> None:
    """Write an item's RFC 4998 evidence record (DER), byte for byte as stored."""
    with open_ledger(data_dir, db_url, as_json, read_only=True) as led:
        records = item_evidence_records(led, evidence_id)
    if not records:
        fail(f"no evidence record for {evidence_id!r} (unknown item, or no anchoring round "
             "with a TSA has covered it yet)", as_json=as_json)
    Path(out).write_bytes(records[0])
    if as_json:
        emit_json({"ok": True, "evidence_id": evidence_id, "out": out,
                   "bytes": len(records[0])})
    sys.exit(0)
