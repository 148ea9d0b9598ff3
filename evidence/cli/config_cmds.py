"""``evidence config check`` and ``--config FILE``: the operator's configuration file
(schema and resolution: :mod:`evidence.ledger.config_file`; docs/operations.md,
"Configuration").

Commands that take settings from the file (``serve``, ``anchor``, ``trust export``) add
:func:`config_option` and call :func:`resolve_for`, which takes a flag's value only when
it was typed on the command line: a flag's default never hides the file's value.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from evidence.cli.output import emit_json, fail
from evidence.ledger.config_file import (
    ENV_CONFIG,
    SCHEMA,
    ConfigError,
    Effective,
    check_files,
    config_path,
    resolve,
)

F = TypeVar("F", bound=Callable[..., Any])


def config_option(f: F) -> F:
    return click.option(  # type: ignore[return-value]
        "--config", "config_file", metavar="FILE", type=click.Path(dir_okay=False),
        help=f"Configuration file (TOML; env {ENV_CONFIG}). A flag wins over the "
             "environment (EVIDENCE_<SECTION>_<KEY>), which wins over the file.")(f)


def resolve_for(ctx: click.Context, config_file: str | None, params: Mapping[str, str],
                as_json: bool = False) -> tuple[Effective, dict[str, Any]]:
    """The effective configuration of this command and the flags typed on its command
    line (``params``: click parameter name -> ``section.key``). A bad configuration is a
    usage error (exit 2), before anything is done."""
    flags = {dotted: ctx.params[name] for name, dotted in params.items()
             if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE}
    path = config_path(config_file)
    try:
        return resolve(path, os.environ, flags), flags
    except ConfigError as e:
        fail(_problems_text(e, path), code=2, as_json=as_json, problems=e.problems)
        raise  # (fail exits)


def _problems_text(e: ConfigError, path: Path | None) -> str:
    head = f"configuration {path}" if path else "configuration"
    return f"{head} is not valid, nothing was started:\n  " + "\n  ".join(e.problems)


@click.group("config")
def config_group() -> None:
    """The configuration file (TOML) and environment: check them before a (re)start."""


@config_group.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--no-files", is_flag=True,
              help="Check the configuration only, not the files it names (for a host "
                   "other than the server's).")
def config_check(file: str | None, as_json: bool, no_files: bool) -> None:
    """Check FILE (default $EVIDENCE_CONFIG) with the environment, and print the effective
    configuration: each value and where it comes from (env, file, default).

    Checks the TOML, every key's name and type, and the files it names (the ledger's
    config.json and log key, anchors.json and its TSA CA files). Exit 0 if all is well,
    2 if not: a server sent SIGHUP with a file that fails here keeps its old settings.
    """
    path = config_path(file)
    try:
        eff = resolve(path, os.environ)
    except ConfigError as e:
        if as_json:
            emit_json({"ok": False, "file": str(path) if path else None,
                       "problems": e.problems})
        else:
            click.echo(f"error: {_problems_text(e, path).replace(', nothing was started', '')}",
                       err=True)
        sys.exit(2)
    problems = [] if no_files else check_files(eff)
    if as_json:
        emit_json({"ok": not problems, "file": str(path) if path else None,
                   "config": eff.to_json(), "problems": problems})
    else:
        click.echo(f"# effective configuration ({path or 'no file'}); "
                   f"precedence: flag > env > file > default")
        shown = eff.to_json()
        for section, keys in SCHEMA.items():
            click.echo(f"\n[{section}]")
            for key in keys:
                v = shown[section][key]
                where = f" {v['where']}" if v["where"] else ""
                if v["value"] is None:
                    click.echo(f"# {key} (unset)  # {v['source']}{where}")
                else:
                    click.echo(f"{key} = {_toml(v['value'])}  # {v['source']}{where}")
        for p in problems:
            click.echo(f"error: {p}", err=True)
    sys.exit(2 if problems else 0)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)  # strings and lists of strings
