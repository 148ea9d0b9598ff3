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
    from evidence.ledger.shards import frozen_shard_holding

    doc: dict[str, Any] = {"evidence_id": evidence_id}
    try:
        intake = open_intake(data_dir, db_url, blob_store, max_file_size, as_json,
                             read_only=True)
        with intake.ledger:
            try:
                found = frozen_shard_holding(intake.ledger, evidence_id)
                if found is None:  # the active shard's item (or none: the error below)
                    item = intake.item(evidence_id)
                    doc["entries"] = _view(items.custody(intake.ledger, item, after=after,
                                                         limit=limit))
                    doc.update(frozen_shard=None, active_entries=None)
                else:  # as GET /v1/evidence/{id}/custody: the shard's and the active log's
                    shard, held = found
                    with held:
                        item = items.find_item(held, evidence_id)
                        assert item is not None
                        doc["entries"] = _view(items.custody(held, item, after=after,
                                                             limit=limit))
                    doc.update(frozen_shard=shard.n, active_entries=_view(
                        items.recorded_about(intake.ledger, evidence_id, after=-1,
                                             limit=limit)))
            except INTAKE_ERRORS as e:
                fail(str(e), as_json=as_json)
    except DB_DAMAGE as e:
        ledger_damaged(e, as_json)
    _print(doc, as_json)


def _view(entries: list[Any]) -> list[dict[str, Any]]:
    """The API's key order (CustodyEntry)."""
    return [{"seq": e.seq, "leaf_hash": e.leaf_hash.hex(),
             "entry_b64": base64.b64encode(e.data).decode(), "type": e.type, "time": e.time}
            for e in entries]


def _print(doc: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(doc)
        return
    if doc.get("frozen_shard") is not None:
        click.echo(f"in the log of frozen shard {doc['frozen_shard']}:")
    for e in doc["entries"]:
        _line(e)
    if not doc["entries"]:
        click.echo(f"no custody entries for {doc['evidence_id']} in this range")
    if doc.get("active_entries"):
        click.echo("since the freeze, in the active shard's log:")
        for e in doc["active_entries"]:
            _line(e)


def _line(e: dict[str, Any]) -> None:
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
