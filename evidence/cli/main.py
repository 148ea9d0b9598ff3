"""The ``evidence`` command group: every command, named in one list.

Each command module defines its commands and imports nothing of this one; the list below is
the whole command set, so a reader sees it in one place and importing a module has no side
effect on the group. ``tests/cli/test_surface.py`` holds the surface (paths, options, help).
"""

from __future__ import annotations

import click

from evidence import __version__
from evidence.cli.anchor_cmds import anchor_group, status_cmd
from evidence.cli.api_cmds import case_group, grant_group, serve_cmd, token_group, user_group
from evidence.cli.backup_cmds import backup_cmd, restore_cmd
from evidence.cli.bundle_cmds import export_cmd, verify_cmd
from evidence.cli.capture_cmds import capture_cmd, capture_node_cmd, capture_verify_cmd
from evidence.cli.config_cmds import config_group
from evidence.cli.custody_cmds import custody_cmd
from evidence.cli.intake_cmds import gc_cmd, purge_cmd, receipt_cmd, show_cmd, submit_cmd
from evidence.cli.keys import keygen
from evidence.cli.ledger_cmds import audit_cmd, init_cmd, log_group
from evidence.cli.list_cmds import list_cmd
from evidence.cli.mirror_cmds import mirror_cmd
from evidence.cli.notes import note
from evidence.cli.receipts_cmds import verify_receipts_cmd
from evidence.cli.remote_login import login_cmd, logout_cmd
from evidence.cli.trust_cmds import trust_group
from evidence.cli.witness_cmds import witness


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="evidence")
def cli() -> None:
    """Evidence preservation on a tamper-evident, append-only ledger."""


COMMANDS: tuple[click.Command, ...] = (
    # the ledger: create it, read it, audit it, anchor it
    init_cmd, log_group, audit_cmd, anchor_group, status_cmd, trust_group,
    # evidence: in, out, gone
    submit_cmd, list_cmd, show_cmd, receipt_cmd, custody_cmd, purge_cmd, gc_cmd, export_cmd,
    capture_cmd, capture_verify_cmd, capture_node_cmd,
    # verifying what the service handed out
    verify_cmd, verify_receipts_cmd, note,
    # the HTTP service and who may use it
    serve_cmd, config_group, user_group, token_group, case_group, grant_group,
    # the same evidence commands on a server over HTTP (evidence/cli/remote_*)
    login_cmd, logout_cmd,
    # keys, witnesses, mirrors, backups
    keygen, witness, mirror_cmd, backup_cmd, restore_cmd,
)

for _command in COMMANDS:
    cli.add_command(_command)


def main() -> None:
    cli()
