"""The ``evidence`` command group. Each sub-command lives in its own module."""

from __future__ import annotations

import click

from evidence import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="evidence")
def cli() -> None:
    """Evidence preservation on a tamper-evident, append-only ledger."""


def _register() -> None:
    # Importing a command module adds its commands to ``cli``.
    from evidence.cli import (  # noqa: F401
        anchor_cmds,
        api_cmds,
        backup_cmds,
        bundle_cmds,
        capture_cmds,
        intake_cmds,
        keys,
        ledger_cmds,
        notes,
        receipts_cmds,
        trust_cmds,
        witness,
    )


def main() -> None:
    _register()
    cli()
