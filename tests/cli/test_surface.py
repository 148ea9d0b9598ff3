"""The CLI's surface: every command path, its help and its options, as click itself reports them.

``tests/cli/cli_surface.json`` holds the surface as it is meant to be. A change to a command's name,
help text, options, defaults or types fails here, so reorganising the CLI's modules cannot change
what an operator types. After an intended change, regenerate the fixture with
``python -m tests.cli.test_surface > tests/cli/cli_surface.json`` and review the diff.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from evidence.cli.main import cli

FIXTURE = Path(__file__).with_name("cli_surface.json")

# Values a parameter has unless it says otherwise; left out of the fixture to keep it readable.
# Absence is unambiguous: ``to_info_dict`` always reports these keys for the parameter's kind,
# and a change of kind shows as a change of ``param_type_name``.
_USUAL = {"secondary_opts": [], "required": False, "nargs": 1, "multiple": False,
          "envvar": None, "prompt": None, "count": False, "hidden": False, "is_flag": False}


def _param(param: click.Parameter, ctx: click.Context) -> dict[str, Any]:
    info = {k: v for k, v in param.to_info_dict().items() if k not in _USUAL or v != _USUAL[k]}
    # to_info_dict leaves out what the help page shows for the value and whether defaults show.
    info["metavar"] = param.make_metavar(ctx)
    if isinstance(param, click.Option):
        info["show_default"] = param.show_default
    return info


def _walk(command: click.Command, ctx: click.Context, path: str,
          out: dict[str, dict[str, Any]]) -> None:
    out[path] = {
        "help": command.help,
        "short_help": command.short_help,
        "epilog": command.epilog,
        "hidden": command.hidden,
        "deprecated": command.deprecated,
        "no_args_is_help": command.no_args_is_help,
        "params": [_param(p, ctx) for p in command.get_params(ctx)],
    }
    if isinstance(command, click.Group):
        for name in sorted(command.list_commands(ctx)):
            sub = command.get_command(ctx, name)
            assert sub is not None, f"{path} lists {name} but cannot load it"
            _walk(sub, click.Context(sub, info_name=name, parent=ctx), f"{path} {name}", out)


def surface() -> dict[str, dict[str, Any]]:
    """Every command path of ``evidence`` with its help and parameters, in click's words."""
    # The root's context settings (``-h``) reach the sub-commands through the parent context,
    # exactly as when a shell runs the command.
    ctx = click.Context(cli, info_name="evidence", **cli.context_settings)
    out: dict[str, dict[str, Any]] = {}
    _walk(cli, ctx, "evidence", out)
    return out


def render(found: dict[str, dict[str, Any]]) -> str:
    """The fixture's text: one command path per block, one parameter per line, for short diffs."""
    blocks = []
    for path in sorted(found):
        entry = found[path]
        lines = [f"  {json.dumps(k)}: {json.dumps(entry[k], ensure_ascii=False)},"
                 for k in sorted(entry) if k != "params"]
        params = [f"   {json.dumps(p, sort_keys=True, ensure_ascii=False)}"
                  for p in entry["params"]]
        blocks.append(f" {json.dumps(path)}: {{\n" + "\n".join(lines)
                      + '\n  "params": [\n' + ",\n".join(params) + "\n  ]\n }")
    return "{\n" + ",\n".join(blocks) + "\n}\n"


def test_cli_surface_is_unchanged() -> None:
    expected = json.loads(FIXTURE.read_text(encoding="utf-8"))
    actual = json.loads(json.dumps(surface()))  # tuples become lists, as in the fixture
    assert sorted(actual) == sorted(expected), "command paths differ"
    for path in expected:
        assert actual[path] == expected[path], f"{path} differs"


def test_every_command_path_answers_help() -> None:
    """Each path the fixture names is reachable from the shell's entry point and shows its help."""
    from click.testing import CliRunner

    runner = CliRunner()
    for path in json.loads(FIXTURE.read_text(encoding="utf-8")):
        args = path.split()[1:]
        result = runner.invoke(cli, [*args, "-h"], prog_name="evidence")
        assert result.exit_code == 0, (path, result.output)
        assert result.output.startswith(f"Usage: {path} "), (path, result.output)


if __name__ == "__main__":
    print(render(surface()), end="")
