"""``evidence trust export``: the trust file a court pins (docs/verdict.md section 3).

The operator writes it from what the service itself trusts (the log key, the configured
witnesses and their quorum, each TSA's pinned roots, and the capture nodes whose signed
web captures it preserves: its own ``DIR/capture-node.key`` and each node listed in
``DIR/capture-nodes``, as ``#@ capture-node <name> <vkey>``), states its SHA-256 in filings,
and gives it to the court; ``evidence serve`` publishes the same bytes at
``GET /v1/log/trust``. The file carries no export time, so the same configuration always
has the same fingerprint.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from evidence.cli.config_cmds import config_option, resolve_for
from evidence.cli.options import open_ledger, where_options
from evidence.cli.output import emit_json, fail


@click.group("trust")
def trust_group() -> None:
    """The trust file a court pins: log key, witnesses, quorum, TSA roots, capture nodes."""


@trust_group.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the trust file here (default: standard output).")
@click.option("--log-url", metavar="URL", help="The log's public URL, written on its "
              "'log' line (optional; verifiers work offline without it).")
@config_option
@where_options
@click.pass_context
def trust_export(ctx: click.Context, output: str | None, log_url: str | None,
                 config_file: str | None, data_dir: str | None, db_url: str | None,
                 as_json: bool) -> None:
    """Write the trust file for this ledger and print its SHA-256 on stderr.

    \b
    evidence trust export -o trust.txt
    evidence verify bundle.zip --trust trust.txt --trust-sha256 <the printed SHA-256>
    """
    eff, _ = resolve_for(ctx, config_file, {
        "output": "trust_export.output", "log_url": "trust_export.log_url",
        "data_dir": "ledger.data_dir", "db_url": "ledger.db_url"}, as_json)
    output, log_url = eff["trust_export.output"], eff["trust_export.log_url"]
    data_dir, db_url = eff["ledger.data_dir"], eff["ledger.db_url"]
    from evidence.ledger.anchor.config import AnchorConfigError
    from evidence.ledger.trust_file import trust_policy_of

    with open_ledger(data_dir, db_url, as_json, read_only=True) as led:
        try:
            policy = trust_policy_of(led, data_dir=data_dir, log_url=log_url)
        except AnchorConfigError as e:
            fail(str(e), as_json=as_json)
    data = policy.raw or b""
    if output:
        tmp = Path(output).with_name(Path(output).name + ".tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, output)
        except OSError as e:
            fail(f"cannot write {output}: {e.strerror}", as_json=as_json)
    if as_json:
        emit_json({"ok": True, "sha256": policy.fingerprint, "path": output,
                   **({} if output else {"text": data.decode()})})
        return
    if not output:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    click.echo(f"trust file{' ' + output if output else ''}: sha256 {policy.fingerprint}",
               err=True)
