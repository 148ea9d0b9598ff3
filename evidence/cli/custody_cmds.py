"""``evidence custody ID``: an item's chain of custody, the exact entries about it.

The same answer as ``GET /v1/evidence/{id}/custody`` (on this host's ledger, or on a
server with ``--server``/``evidence login``): every entry naming the item (submitted,
accessed, shared, share_revoked, purged), in log order, as the exact bytes that were
hashed, so a reader can recompute each leaf hash. Not recorded as an access: it is
ledger data about the item, not its content.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import click

from evidence.cli.options import (
    DB_DAMAGE,
    INTAKE_ERRORS,
    intake_where_options,
    ledger_damaged,
    open_intake,
    remote_options,
    remote_run,
    remote_target,
)
from evidence.cli.output import emit_json, fail


@click.command("custody")
@click.argument("evidence_id")
@click.option("--after", type=click.IntRange(min=-1), default=-1, show_default=True,
              metavar="SEQ", help="Only entries numbered after SEQ (the next page).")
@click.option("--limit", type=click.IntRange(1, 1000), default=1000, show_default=True,
              help="At most this many entries.")
@intake_where_options
@remote_options
def custody_cmd(evidence_id: str, after: int, limit: int, data_dir: str | None,
                db_url: str | None, blob_store: str | None, max_file_size: str | None,
                as_json: bool, server: str | None) -> None:
    """Print the chain of custody of EVIDENCE_ID: one line per entry about it (number,
    type, time, who, leaf hash); --json gives each entry's exact bytes (base64)."""
    remote = remote_target(as_json)
    if remote is not None:
        from evidence.cli import remote_ops

        _print(remote_run(as_json, remote,
                          lambda c: remote_ops.custody(c, evidence_id, after, limit)), as_json)
        return
    from evidence.ledger import items

    try:
        intake = open_intake(data_dir, db_url, blob_store, max_file_size, as_json,
                             read_only=True)
        with intake.ledger:
            try:
                item = intake.item(evidence_id)
                entries = items.custody(intake.ledger, item, after=after, limit=limit)
            except INTAKE_ERRORS as e:
                fail(str(e), as_json=as_json)
    except DB_DAMAGE as e:
        ledger_damaged(e, as_json)
    _print({"evidence_id": evidence_id, "entries": [
        {"seq": e.seq, "leaf_hash": e.leaf_hash.hex(),
         "entry_b64": base64.b64encode(e.data).decode(), "type": e.type, "time": e.time}
        for e in entries]}, as_json)  # the API's key order (CustodyEntry)


def _print(doc: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(doc)
        return
    for e in doc["entries"]:
        try:
            body = json.loads(base64.b64decode(e["entry_b64"])).get("body") or {}
        except ValueError:
            body = {}
        who = " ".join(f"{k} {body[k]}" for k in (
            "principal", "action", "grantee", "recipient_organisation",
            "recipient_jurisdiction", "legal_basis", "legal_basis_ref", "purpose")
            if isinstance(body.get(k), str))
        click.echo(f"entry {e['seq']} {e['type']} at {e['time']}"
                   + (f" ({who})" if who else "") + f" leaf hash {e['leaf_hash']}")
    if not doc["entries"]:
        click.echo(f"no custody entries for {doc['evidence_id']} in this range")
