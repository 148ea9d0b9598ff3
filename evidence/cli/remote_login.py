"""``evidence login URL`` and ``evidence logout``: the remote CLI's stored credentials.

The token is checked against the server (``GET /v1/me``) before it is stored, so a
mistyped or revoked token is refused at once rather than at the first real command.
Where and how it is stored, and which server a command then uses:
:mod:`evidence.cli.remote_config`.
"""

from __future__ import annotations

import sys

import click

from evidence.cli.options import remote_run
from evidence.cli.output import emit_json, fail
from evidence.cli.remote_config import (
    Remote,
    RemoteConfigError,
    config_path,
    load,
    normalise_url,
    save,
)


def _read_token(token_stdin: bool) -> str:
    if token_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().strip()
    return str(click.prompt("API token (from the operator: evidence token create)",
                            hide_input=True, err=True)).strip()


@click.command("login")
@click.argument("url")
@click.option("--token-stdin", is_flag=True,
              help="Read the token from standard input (default: asked for, unechoed, when "
                   "standard input is a terminal; else read from it).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def login_cmd(url: str, token_stdin: bool, as_json: bool) -> None:
    """Log in to the evidence server at URL: check the API token there and store URL and
    token in $XDG_CONFIG_HOME/evidence/remote.toml (mode 0600; env
    EVIDENCE_REMOTE_CONFIG names another file). Afterwards submit, capture, list, show,
    receipt, custody, export and grant run on that server unless --data-dir/--db says
    otherwise; --server and env EVIDENCE_SERVER/EVIDENCE_TOKEN come first."""
    try:
        server = normalise_url(url)
    except ValueError as e:
        fail(str(e), as_json=as_json, code=2)
    token = _read_token(token_stdin)
    if not token:
        fail("no token given", as_json=as_json, code=2)
    if any(c.isspace() for c in token) or not token.isprintable():
        fail("that is not an API token (it has spaces or control characters)",
             as_json=as_json, code=2)
    from evidence.cli.remote_ops import whoami

    me = remote_run(as_json, Remote(server, token, "login"), whoami)
    try:
        data = load()
        servers = dict(data.get("servers") or {})
        servers[server] = {"token": token, "principal": str(me["id"])}
        path = save({"default": server, "servers": servers})
    except (RemoteConfigError, OSError) as e:
        fail(f"not logged in: {e}", as_json=as_json)
    if as_json:
        emit_json({"ok": True, "server": server, "principal": me["id"], "role": me["role"],
                   "cases": me["cases"], "config": str(path)})
        return
    cases = ", ".join(me["cases"]) or "none"
    click.echo(f"logged in to {server} as {me['id']} ({me['role']}; cases: {cases}); "
               f"token stored in {path} (mode 0600)", err=True)


@click.command("logout")
@click.argument("url", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def logout_cmd(url: str | None, as_json: bool) -> None:
    """Forget the stored token of URL (default: the server of the last login). The
    token itself stays valid until it expires or the operator revokes it (evidence
    token revoke)."""
    try:
        data = load()
        servers = dict(data.get("servers") or {})
        server = normalise_url(url) if url else data.get("default")
        if not server or server not in servers:
            fail(f"not logged in to {server or 'any server'} ({config_path()})",
                 as_json=as_json)
        del servers[server]
        default = data.get("default")
        if default == server:
            default = next(iter(sorted(servers)), None)
        path = config_path()
        if servers:
            save({"default": default, "servers": servers})
        else:
            path.unlink(missing_ok=True)
    except (RemoteConfigError, ValueError, OSError) as e:
        fail(str(e), as_json=as_json)
    if as_json:
        emit_json({"ok": True, "server": server, "default": default})
        return
    click.echo(f"logged out of {server}: its token is no longer stored in {path}", err=True)
