"""``evidence list``: the items on this host's ledger, filtered, a page at a time.

The operator on the server's host sees every item (as ``evidence show`` does); the query is
the API's own (:func:`evidence.ledger.listing.list_items`), so a filter means the same in
both places and the CLI cannot drift from ``GET /v1/evidence``.
"""

from __future__ import annotations

from typing import Any

import click

from evidence.cli.options import (
    DB_DAMAGE,
    ledger_damaged,
    open_ledger,
    remote_options,
    remote_run,
    remote_target,
    where_options,
)
from evidence.cli.output import emit_json, fail
from evidence.ledger import listing
from evidence.ledger.access import InvalidInput
from evidence.ledger.anchor.config import AnchorConfigError
from evidence.ledger.intake.metadata import KINDS


@click.command("list")
@click.option("--case", metavar="CASE", help="Only this case.")
@click.option("--kind", type=click.Choice(KINDS), help="Only this kind.")
@click.option("--since", metavar="TIME",
              help="Log time from (inclusive), RFC 3339 with offset, e.g. 2026-03-01T00:00:00Z.")
@click.option("--until", metavar="TIME", help="Log time before (exclusive), RFC 3339.")
@click.option("--q", "q", metavar="TEXT",
              help="Case-insensitive substring of the title, the source URL or the id.")
@click.option("--status", type=click.Choice(listing.STATUSES),
              help="anchored (RFC 3161 timestamp), witnessed (cosigned only) or pending.")
@click.option("--limit", type=click.IntRange(1, listing.MAX_LIMIT),
              default=listing.DEFAULT_LIMIT, show_default=True, help="Items per page.")
@click.option("--cursor", metavar="CURSOR",
              help="Continue after the page that printed this cursor.")
@where_options
@remote_options
def list_cmd(case: str | None, kind: str | None, since: str | None, until: str | None,
             q: str | None, status: str | None, limit: int, cursor: str | None,
             data_dir: str | None, db_url: str | None, as_json: bool, server: str | None
             ) -> None:
    """List evidence items in log order: id, kind, case, time, status, title. Prints the
    cursor of the next page when there is one. With a server (--server, or `evidence
    login`): the items of your cases and grants there (GET /v1/evidence)."""
    remote = remote_target(as_json)
    if remote is not None:
        from evidence.cli import remote_ops

        doc = remote_run(as_json, remote, lambda c: remote_ops.list_page(
            c, case=case, kind=kind, since=since, until=until, q=q, status=status,
            cursor=cursor, limit=limit))
        _print(doc, as_json)
        return
    try:
        f = listing.list_filter(case=case, kind=kind, since=since, until=until, q=q,
                                status=status)
    except InvalidInput as e:
        fail(str(e), as_json=as_json, problem=e.code)
    try:
        with open_ledger(data_dir, db_url, as_json, read_only=True) as led:
            page = listing.list_items(led, None, f, cursor=cursor, limit=limit)
    except InvalidInput as e:
        fail(str(e), as_json=as_json, problem=e.code)
    except AnchorConfigError as e:
        fail(str(e), as_json=as_json)
    except DB_DAMAGE as e:
        ledger_damaged(e, as_json)
    _print(page.to_json(), as_json)


def _print(page: dict[str, Any], as_json: bool) -> None:
    """One page, as JSON or as lines (the same for a local and a remote listing)."""
    if as_json:
        emit_json(page)
        return
    for it in page["items"]:
        title = "(purged)" if it["purged"] else (it["title"] or "")
        click.echo(f"{it['evidence_id']}  {it['kind']:<10} {it['case']}  entry {it['seq']} "
                   f"at {it['time']}  {it['status']:<9} {title}")
        if it["source_url"]:
            click.echo(f"    {it['source_url']}")
    if not page["items"]:
        click.echo("no items" + (" on this page" if page["next_cursor"] else ""))
    if page["next_cursor"]:
        click.echo(f"more: --cursor {page['next_cursor']}")
