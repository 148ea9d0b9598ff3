"""HTTP service and access commands: ``evidence serve``, ``evidence user|token|case|grant``.

Access administration is done here, on the server's host, by the operator (there is
no admin HTTP endpoint that creates principals or tokens). Grants made here name the
principal they are made for (``--as``), which the ledger records.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from evidence.cli import serve_workers
from evidence.cli.config_cmds import config_option, resolve_for
from evidence.cli.options import remote_options, remote_run, remote_target
from evidence.cli.output import emit_json, fail
from evidence.ledger.access import (
    BASES,
    ROLES,
    AccessControl,
    AccessError,
    Grant,
    LegalBasis,
    TokenInfo,
    parse_user_time,
)
from evidence.ledger.config_file import config_path
from evidence.ledger.errors import LedgerError
from evidence.ledger.keyfile import KeyFileError
from evidence.ledger.log import Ledger

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _where(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--json", "as_json", is_flag=True, help="Print JSON.")(f)
    f = click.option("--db", "db_url", metavar="URL", envvar="EVIDENCE_DB_URL",
                     help="Database URL; env EVIDENCE_DB_URL.")(f)
    f = click.option("--data-dir", metavar="DIR", envvar="EVIDENCE_DATA_DIR",
                     help="Ledger data directory (env EVIDENCE_DATA_DIR; "
                          "default ./evidence-data).")(f)
    return f


def _access(data_dir: str | None, db_url: str | None, as_json: bool) -> AccessControl:
    try:
        return AccessControl(Ledger.open(data_dir, db_url))
    except (LedgerError, KeyFileError) as e:
        fail(str(e), as_json=as_json)
        raise


def _run(ac: AccessControl, as_json: bool, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except (AccessError, LedgerError) as e:
        if as_json:  # the stable code too (same codes as the HTTP API's problems)
            emit_json({"ok": False, "error": str(e), "code": getattr(e, "code", "error")})
            sys.exit(1)
        fail(str(e))
    finally:
        ac.ledger.close()


# --- serve ------------------------------------------------------------------------------


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="uvicorn worker processes (PostgreSQL recommended above 1).")
@click.option("--blob-store", metavar="PATH|URL", envvar="EVIDENCE_BLOB_STORE",
              help="Blob store (default DIR/blobs; env EVIDENCE_BLOB_STORE).")
@click.option("--max-file-size", metavar="SIZE", envvar="EVIDENCE_MAX_FILE_SIZE",
              help="Largest file accepted (default 4 GiB).")
@click.option("--max-upload", metavar="SIZE", default="4GiB", show_default=True,
              help="Largest submission (whole multipart body).")
@click.option("--rate", type=click.FloatRange(min=0), default=50.0, show_default=True,
              help="Requests per second per API token (all workers together); 0 = no limit.")
@click.option("--burst", type=click.IntRange(min=1), default=200, show_default=True,
              help="Token-bucket size: requests a token may send at once.")
@click.option("--pending-ttl", type=click.FloatRange(min=1), default=900.0, show_default=True,
              help="Seconds a sign=deferred submission waits for its submitter's signature.")
@click.option("--proxy-headers", is_flag=True,
              help="Trust X-Forwarded-For from --forwarded-allow-ips (behind a proxy).")
@click.option("--forwarded-allow-ips", default="127.0.0.1", show_default=True)
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@click.option("--access-log/--no-access-log", default=True, show_default=True)
@click.option("--max-head-bytes", type=click.IntRange(min=1024), default=64 << 10,
              show_default=True, help="Largest request head (request line and headers).")
@click.option("--max-headers", type=click.IntRange(min=1), default=100, show_default=True,
              help="Most header fields in one request.")
@click.option("--head-timeout", type=click.FloatRange(min=0.1), default=10.0,
              show_default=True, help="Seconds for a request head to arrive in full.")
@click.option("--body-timeout", type=click.FloatRange(min=0.1), default=30.0,
              show_default=True, help="Seconds a request body may pause between bytes.")
@click.option("--max-connections", type=click.IntRange(min=1), default=2048,
              show_default=True, help="Open connections in all, per worker.")
@click.option("--max-connections-per-ip", type=click.IntRange(min=1), default=64,
              show_default=True, help="Open connections per client address, per worker "
                                      "(raise it behind a reverse proxy).")
@click.option("--anchor/--no-anchor", default=True, show_default=True,
              help="Run the anchoring loop (TSAs, witnesses of DIR/anchors.json) in the "
                   "server; off if you run `evidence anchor --loop` yourself.")
@click.option("--publish-when-witnessed", is_flag=True, default=False,
              help="Publish (/checkpoint, /tlog/checkpoint, proofs) only the newest checkpoint "
                   "the witness quorum of DIR/anchors.json cosigned, with the cosignatures; "
                   "never a newer one.")
@click.option("--metrics", "metrics_access", envvar="EVIDENCE_METRICS", default="token",
              show_default=True, type=click.Choice(["token", "public", "off"]),
              help="GET /metrics (Prometheus): token = an auditor or admin bearer token; "
                   "public = anyone who reaches the port; off (env EVIDENCE_METRICS).")
@click.option("--log-format", envvar="EVIDENCE_LOG_FORMAT", default="text",
              show_default=True, type=click.Choice(["text", "json"]),
              help="json: one JSON object per log line, with request ids "
                   "(env EVIDENCE_LOG_FORMAT).")
@config_option
@_where
@click.pass_context
def serve_cmd(ctx: click.Context, config_file: str | None, host: str, port: int,
              workers: int, blob_store: str | None, max_file_size: str | None,
              max_upload: str, rate: float, burst: int, pending_ttl: float,
              proxy_headers: bool, forwarded_allow_ips: str, log_level: str,
              access_log: bool, max_head_bytes: int, max_headers: int, head_timeout: float,
              body_timeout: float, max_connections: int, max_connections_per_ip: int,
              anchor: bool, publish_when_witnessed: bool, metrics_access: str,
              log_format: str, data_dir: str | None,
              db_url: str | None, as_json: bool) -> None:
    """Serve the HTTP API (docs/api.md) on the ledger in DIR.

    Settings come from the flags, the environment (EVIDENCE_<SECTION>_<KEY>) and the
    configuration file (--config), in that order (docs/operations.md, "Configuration").
    SIGHUP re-reads the file and anchors.json and applies limits, anchoring and the verify
    page's pre-fill in every worker without dropping a request.
    """
    from evidence.api import hardening
    from evidence.api.reload import api_settings, http_limits
    from evidence.api.settings import ENV, ApiSettings

    eff, flags = resolve_for(ctx, config_file, SERVE_PARAMS, as_json)
    path = config_path(config_file)
    settings = api_settings(eff, ApiSettings(
        observe=True, sighup=True, config_file=str(path.absolute()) if path else None,
        config_flags=flags))
    data_dir, db_url = eff["ledger.data_dir"], eff["ledger.db_url"]
    host, port, workers = eff["serve.host"], eff["serve.port"], eff["serve.workers"]
    log_level, log_format = eff["serve.log_level"], eff["serve.log_format"]
    access_log = eff["serve.access_log"]
    # fail fast, with a readable message, before uvicorn starts workers
    # and the trust file's fingerprint, which the operator states in filings
    from evidence.ledger.anchor.config import load_anchor_config
    from evidence.ledger.config import resolve_data_dir
    from evidence.ledger.trust_file import trust_policy_of

    try:
        led = Ledger.open(data_dir, db_url)
        try:
            where = led.config.data_dir if led.config else resolve_data_dir(data_dir)
            anchors = load_anchor_config(where)
            trust_sha256 = trust_policy_of(led, data_dir=data_dir).fingerprint
            if settings.publish_when_witnessed and not anchors.witnesses:
                fail("--publish-when-witnessed: no witness is configured in anchors.json "
                     "(`evidence anchor witness add`): no checkpoint could ever be published",
                     as_json=as_json)
        finally:
            led.close()
    except (LedgerError, KeyFileError) as e:
        fail(str(e), as_json=as_json)
    os.environ[ENV] = settings.to_env()
    os.environ[hardening.ENV] = http_limits(eff).to_env()
    started = [f"serving on http://{host}:{port} ({workers} worker(s))",
               f"trust file: http://{host}:{port}/v1/log/trust sha256 {trust_sha256}"]
    if path:
        started.append(f"configuration: {path} (SIGHUP re-reads it)")
    logs: dict[str, Any] = {"access_log": access_log}
    if log_format == "json":
        from evidence.api import jsonlog

        started = [jsonlog.line("INFO", "evidence.serve", m) for m in started]
        # uvicorn's access line has no duration: the service writes its own (observe.py)
        logs = {"log_config": jsonlog.uvicorn_log_config(log_level), "access_log": False}
    for message in started:
        click.echo(message, err=True)
    # before any worker loads prometheus_client: every worker counts into one fresh folder
    metrics_dir = _metrics_folder()
    try:
        serve_workers.run(app="evidence.api.app:app_from_env", factory=True, host=host,
                          port=port, workers=workers, log_level=log_level, **logs,
                          proxy_headers=eff["serve.proxy_headers"],
                          forwarded_allow_ips=eff["serve.forwarded_allow_ips"],
                          loop="auto", http=hardening.PROTOCOL, timeout_graceful_shutdown=30)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


# serve's options -> configuration keys (evidence/ledger/config_file.py)
SERVE_PARAMS = {
    "data_dir": "ledger.data_dir", "db_url": "ledger.db_url",
    "blob_store": "ledger.blob_store",
    "host": "serve.host", "port": "serve.port", "workers": "serve.workers",
    "proxy_headers": "serve.proxy_headers", "forwarded_allow_ips": "serve.forwarded_allow_ips",
    "log_level": "serve.log_level", "access_log": "serve.access_log",
    "log_format": "serve.log_format", "metrics_access": "serve.metrics",
    "pending_ttl": "serve.pending_ttl",
    "max_file_size": "limits.max_file_size", "max_upload": "limits.max_upload",
    "rate": "limits.rate", "burst": "limits.burst",
    "max_head_bytes": "limits.max_head_bytes", "max_headers": "limits.max_headers",
    "head_timeout": "limits.head_timeout", "body_timeout": "limits.body_timeout",
    "max_connections": "limits.max_connections",
    "max_connections_per_ip": "limits.max_connections_per_ip",
    "anchor": "anchoring.in_server",
    "publish_when_witnessed": "serve.publish_when_witnessed",
}


def _metrics_folder() -> str | None:
    """Set ``PROMETHEUS_MULTIPROC_DIR`` for the workers (docs/operations.md, "Metrics and
    logs"): counts of earlier runs must not be added to this one's. An operator's folder is
    emptied of count files and kept. Else this server gets a private folder of its own in
    the system's temporary directory, ``evidence-metrics-<pid>-*`` (one per server process,
    so two servers never mix their counts), returned to be removed when it stops; folders
    of this user's servers no longer running (killed, so never removed) are removed first.

    Never the data directory: the count files are memory-mapped, and a write into a mapped
    page of a full file system kills the process (SIGBUS). A full database disk must give
    clients a 503 (tests/api/test_fixity_faults.py), not take the server down."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for f in folder.glob("*.db"):
            f.unlink(missing_ok=True)
        return None
    tmp = Path(tempfile.gettempdir())
    for old in tmp.glob("evidence-metrics-*-*"):
        pid = old.name.split("-")[2]
        try:
            mine = old.is_dir() and not old.is_symlink() and old.stat().st_uid == os.getuid()
        except OSError:
            continue
        if mine and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    made = tempfile.mkdtemp(prefix=f"evidence-metrics-{os.getpid()}-")  # mode 0700
    os.environ[MULTIPROC_ENV] = made
    return made


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


# --- users and tokens ------------------------------------------------------------------


@click.group("user")
def user_group() -> None:
    """Principals (users of the API) and their roles."""


@user_group.command("add")
@click.argument("principal_id")
@click.option("--role", type=click.Choice(ROLES), required=True,
              help="submitter (rights holder, lawyer), court (judge, clerk, mediator, "
                   "arbitrator), foreign (a party abroad, by grant), auditor, admin.")
@click.option("--name", "display_name", help="Display name (default: the id).")
@click.option("--org", "organisation", help="Organisation.")
@_where
def user_add(principal_id: str, role: str, display_name: str | None, organisation: str | None,
             data_dir: str | None, db_url: str | None, as_json: bool) -> None:
    """Add a principal. Then `evidence token create PRINCIPAL_ID` gives it a token."""
    ac = _access(data_dir, db_url, as_json)
    p = _run(ac, as_json, lambda: ac.add_principal(principal_id, role, display_name,
                                                   organisation))
    if as_json:
        emit_json({"ok": True, "id": p.id, "role": p.role, "display_name": p.display_name,
                   "organisation": p.organisation})
    else:
        click.echo(f"{p.id} ({p.role}) added")


@user_group.command("list")
@_where
def user_list(data_dir: str | None, db_url: str | None, as_json: bool) -> None:
    """List principals."""
    ac = _access(data_dir, db_url, as_json)
    ps = _run(ac, as_json, ac.list_principals)
    if as_json:
        emit_json({"ok": True, "principals": [
            {"id": p.id, "role": p.role, "display_name": p.display_name,
             "organisation": p.organisation} for p in ps]})
    else:
        for p in ps:
            click.echo(f"{p.id}\t{p.role}\t{p.display_name}")


@click.group("token")
def token_group() -> None:
    """API tokens (bearer). Stored only as SHA-256: shown once, when created."""


def _token_json(t: TokenInfo) -> dict[str, Any]:
    return {"id": t.id, "principal": t.principal_id, "label": t.label,
            "created_at": t.created_at, "expires_at": t.expires_at, "revoked_at": t.revoked_at}


@token_group.command("create")
@click.argument("principal_id")
@click.option("--label", help="What the token is for (shown in `token list`).")
@click.option("--expires", metavar="TIME", help="RFC 3339 expiry, e.g. 2027-01-01T00:00:00Z.")
@_where
def token_create(principal_id: str, label: str | None, expires: str | None,
                 data_dir: str | None, db_url: str | None, as_json: bool) -> None:
    """Create a token for PRINCIPAL_ID and print it ONCE (only its hash is kept)."""
    ac = _access(data_dir, db_url, as_json)

    def make() -> tuple[TokenInfo, str]:
        exp = parse_user_time(expires, "--expires") if expires else None
        return ac.create_token(principal_id, label=label, expires_at=exp)

    info, token = _run(ac, as_json, make)
    if as_json:
        emit_json({"ok": True, **_token_json(info), "token": token})
    else:
        click.echo(f"token {info.id} for {principal_id}; it is shown only now:", err=True)
        click.echo(token)


@token_group.command("revoke")
@click.argument("token_id")
@_where
def token_revoke(token_id: str, data_dir: str | None, db_url: str | None,
                 as_json: bool) -> None:
    """Revoke a token (by its id, tok-...): refused from the next request on."""
    ac = _access(data_dir, db_url, as_json)
    info = _run(ac, as_json, lambda: ac.revoke_token(token_id))
    if as_json:
        emit_json({"ok": True, **_token_json(info)})
    else:
        click.echo(f"token {info.id} revoked at {info.revoked_at}")


@token_group.command("list")
@click.option("--principal", "principal_id", help="Only this principal's tokens.")
@_where
def token_list(principal_id: str | None, data_dir: str | None, db_url: str | None,
               as_json: bool) -> None:
    """List tokens (ids and state; the tokens themselves are not stored)."""
    ac = _access(data_dir, db_url, as_json)
    ts = _run(ac, as_json, lambda: ac.list_tokens(principal_id))
    if as_json:
        emit_json({"ok": True, "tokens": [_token_json(t) for t in ts]})
    else:
        for t in ts:
            state = f"revoked {t.revoked_at}" if t.revoked_at else "active"
            click.echo(f"{t.id}\t{t.principal_id}\t{state}\t{t.label or ''}")


# --- cases ---------------------------------------------------------------------------------


@click.group("case")
def case_group() -> None:
    """Cases and their members: a principal sees the evidence of its cases."""


@case_group.command("add")
@click.argument("case_id")
@click.option("--title", help="Title (default: the id).")
@_where
def case_add(case_id: str, title: str | None, data_dir: str | None, db_url: str | None,
             as_json: bool) -> None:
    """Create a case."""
    ac = _access(data_dir, db_url, as_json)
    _run(ac, as_json, lambda: ac.add_case(case_id, title))
    if as_json:
        emit_json({"ok": True, "case": case_id})
    else:
        click.echo(f"case {case_id} added")


@case_group.group("member")
def member_group() -> None:
    """Case members."""


@member_group.command("add")
@click.argument("case_id")
@click.argument("principal_id")
@_where
def member_add(case_id: str, principal_id: str, data_dir: str | None, db_url: str | None,
               as_json: bool) -> None:
    """Make PRINCIPAL_ID (submitter, court or foreign) a member of CASE_ID."""
    ac = _access(data_dir, db_url, as_json)
    _run(ac, as_json, lambda: ac.add_member(case_id, principal_id))
    if as_json:
        emit_json({"ok": True, "case": case_id, "member": principal_id})
    else:
        click.echo(f"{principal_id} is a member of {case_id}")


# --- grants ------------------------------------------------------------------------------


@click.group("grant")
def grant_group() -> None:
    """Cross-border grants: a foreign party's time-limited access to named items."""


def _grant_json(g: Grant) -> dict[str, Any]:
    from evidence.ledger.clock import utc_now

    return {"id": g.id, "grantee": g.grantee, "granted_by": g.granted_by, "case": g.case_id,
            "evidence_ids": list(g.evidence_ids), "not_before": g.not_before,
            "expires_at": g.expires_at, "max_downloads": g.max_downloads,
            "downloads": g.downloads, "note": g.note, "created_at": g.created_at,
            "shared_seq": g.shared_seq, "revoked_at": g.revoked_at, "revoked_by": g.revoked_by,
            "revoked_seq": g.revoked_seq, "status": g.status(utc_now()),
            "purpose": g.legal.purpose, "recipient_jurisdiction": g.legal.jurisdiction,
            "recipient_organisation": g.legal.organisation, "legal_basis": g.legal.basis,
            "legal_basis_ref": g.legal.basis_ref}


def _grant_remote(as_json: bool, who: str | None, fn: Callable[[Any], Any]) -> Any:
    """``fn(client)`` on the server, or None for the local ledger. ``--as`` is refused
    there: the token says who acts."""
    remote = remote_target(as_json)
    if remote is None:
        if who is None:
            fail("--as PRINCIPAL is required on the local ledger (who acts is recorded)",
                 as_json=as_json, code=2)
        return None
    if who is not None:
        fail("--as is for the local ledger; on a server your token says who you are",
             as_json=as_json, code=2)
    return remote_run(as_json, remote, fn)


def _print_grant(j: dict[str, Any], as_json: bool, line: str) -> None:
    if as_json:
        emit_json({"ok": True, **j})
    else:
        click.echo(line)


@grant_group.command("add")
@click.option("--as", "grantor", metavar="PRINCIPAL",
              help="The submitter or court member of the case who grants (recorded; local "
                   "ledger only: on a server the token says who grants).")
@click.option("--to", "grantee", required=True, metavar="PRINCIPAL", help="The foreign party.")
@click.option("--evidence", "evidence_ids", required=True, multiple=True, metavar="ID",
              help="An evidence item (repeat for several; all of one case).")
@click.option("--expires", required=True, metavar="TIME", help="RFC 3339 end of the grant.")
@click.option("--not-before", metavar="TIME", help="RFC 3339 start (default: now).")
@click.option("--max-downloads", type=click.IntRange(min=1), help="Download limit.")
@click.option("--note", help="Why (kept off the ledger).")
@click.option("--purpose", metavar="TEXT", help="Why the evidence is shared (on the ledger).")
@click.option("--jurisdiction", metavar="CODE",
              help="The recipient's ISO 3166 code: a country (US, DE) or a subdivision (US-NY).")
@click.option("--organisation", metavar="NAME",
              help="The court, authority or firm receiving the evidence.")
@click.option("--basis", type=click.Choice(list(BASES)),
              help="The legal basis for the transfer ('other' needs --basis-ref).")
@click.option("--basis-ref", metavar="TEXT", help="Its reference, e.g. the order's number.")
@config_option
@_where
@remote_options
@click.pass_context
def grant_add(ctx: click.Context, grantor: str | None, grantee: str,
              evidence_ids: tuple[str, ...], expires: str, not_before: str | None,
              max_downloads: int | None, note: str | None, purpose: str | None,
              jurisdiction: str | None, organisation: str | None, basis: str | None,
              basis_ref: str | None, config_file: str | None, data_dir: str | None,
              db_url: str | None, as_json: bool, server: str | None) -> None:
    """Grant a foreign party access to evidence items (appends evidence.shared entries).

    The purpose, recipient and legal basis go into every entry; the configuration's
    [grants] require_legal_basis makes them mandatory (on a server: the server's)."""
    from evidence.cli import remote_ops
    from evidence.ledger.items import live_cases

    legal = LegalBasis(purpose, jurisdiction, organisation, basis, basis_ref)
    j = _grant_remote(as_json, grantor, lambda c: remote_ops.grant_add(
        c, grantee=grantee, evidence_ids=list(evidence_ids), expires=expires,
        not_before=not_before, max_downloads=max_downloads, note=note, legal=legal))
    if j is None:
        assert grantor is not None
        eff, _ = resolve_for(ctx, config_file, {}, as_json)
        ac = _access(data_dir, db_url, as_json)

        def make() -> Grant:
            who = ac.get_principal(grantor)
            cases = live_cases(ac.ledger, evidence_ids)
            return ac.create_grant(
                who, grantee, cases, expires_at=parse_user_time(expires, "--expires"),
                not_before=parse_user_time(not_before, "--not-before") if not_before else None,
                max_downloads=max_downloads, note=note, legal=legal,
                require_legal_basis=eff["grants.require_legal_basis"])

        j = _grant_json(_run(ac, as_json, make))
    basis = "".join(f"; {k} {j[k]}" for k in ("legal_basis", "legal_basis_ref",
                                               "recipient_organisation",
                                               "recipient_jurisdiction") if j.get(k))
    _print_grant(j, as_json, f"grant {j['id']}: {j['grantee']} may retrieve "
                             f"{', '.join(j['evidence_ids'])} until {j['expires_at']} "
                             f"(entry {j['shared_seq']}{basis})")


@grant_group.command("revoke")
@click.argument("grant_id")
@click.option("--as", "who", metavar="PRINCIPAL",
              help="Who revokes (the grantor, a case member or an admin; recorded; local "
                   "ledger only).")
@_where
@remote_options
def grant_revoke(grant_id: str, who: str | None, data_dir: str | None, db_url: str | None,
                 as_json: bool, server: str | None) -> None:
    """Revoke a grant now (appends evidence.share_revoked entries)."""
    from evidence.cli import remote_ops

    j = _grant_remote(as_json, who, lambda c: remote_ops.grant_revoke(c, grant_id))
    if j is None:
        assert who is not None
        ac = _access(data_dir, db_url, as_json)
        j = _grant_json(_run(ac, as_json, lambda: ac.revoke_grant(ac.get_principal(who),
                                                                   grant_id)))
    _print_grant(j, as_json, f"grant {j['id']} revoked at {j['revoked_at']} "
                             f"(entry {j['revoked_seq']})")


@grant_group.command("list")
@click.option("--principal", "principal_id", help="Only grants this principal may see "
                                                  "(local ledger; on a server: yours).")
@click.option("--evidence", "evidence_id", help="Only grants naming this item.")
@_where
@remote_options
def grant_list(principal_id: str | None, evidence_id: str | None, data_dir: str | None,
               db_url: str | None, as_json: bool, server: str | None) -> None:
    """List grants and their status."""
    from evidence.cli import remote_ops

    remote = remote_target(as_json)
    if remote is not None:
        if principal_id is not None:
            fail("--principal is for the local ledger; on a server you see the grants "
                 "your token may see", as_json=as_json, code=2)
        gs = remote_run(as_json, remote, lambda c: remote_ops.grant_list(c, evidence_id))
    else:
        ac = _access(data_dir, db_url, as_json)

        def get() -> list[Grant]:
            who = ac.get_principal(principal_id) if principal_id else None
            return ac.list_grants(who, evidence_id=evidence_id)

        gs = [_grant_json(g) for g in _run(ac, as_json, get)]
    if as_json:
        emit_json({"ok": True, "grants": gs})
        return
    for j in gs:
        click.echo(f"{j['id']}\t{j['grantee']}\t{j['status']}\tuntil {j['expires_at']}\t"
                   f"{j['downloads']}/{j['max_downloads'] or '-'}\t{','.join(j['evidence_ids'])}")
    if not gs:
        click.echo("no grants", err=True)
    sys.stdout.flush()
