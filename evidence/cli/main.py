"""The ``evidence`` command group. Each sub-command lives in its own module."""

from __future__ import annotations

import click

from evidence import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="evidence")
def cli() -> None:
    """Evidence preservation on a tamper-evident, append-only ledger."""


def _register() -> None:
    # One import per command module; each adds its commands to ``cli``.
    import evidence.cli.bundle_cmds
    import evidence.cli.intake_cmds
    import evidence.cli.ledger_cmds  # noqa: F401
    from evidence.cli import anchor_cmds as _anchor_cmds  # noqa: F401
    from evidence.cli import api_cmds as _api_cmds  # noqa: F401
    from evidence.cli import keys, notes  # noqa: F401
    from evidence.cli import witness as _witness  # noqa: F401


def main() -> None:
    _register()
    cli()
