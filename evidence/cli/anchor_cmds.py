"""``evidence anchor ...`` and ``evidence status``: RFC 3161 timestamps and witness cosignatures
on checkpoints (docs/operations.md, "Anchoring" and "Status").

::

    evidence anchor tsa add NAME URL --ca ROOT.pem [--policy OID] [--timeout S]
    evidence anchor witness add NAME URL --key VKEY [--timeout S]
    evidence anchor remove NAME
    evidence anchor set [--quorum N] [--interval S] [--retry-older/--no-retry-older] ...
    evidence anchor list
    evidence anchor [--once | --loop] [--interval S]     # run: one round, or for ever
    evidence anchor show SIZE                             # stored anchors, re-verified offline
    evidence anchor token SIZE SOURCE -o FILE             # a stored token, byte for byte
    evidence status
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import SQLAlchemyError

from evidence.cli.config_cmds import config_option, resolve_for
from evidence.cli.options import open_ledger, where_options
from evidence.cli.output import emit_json, fail
from evidence.ledger.anchor import store
from evidence.ledger.anchor.base import AnchorFailed
from evidence.ledger.anchor.config import (
    TSA_PRESETS,
    AnchorConfig,
    AnchorConfigError,
    RetryPolicy,
    add_tsa,
    add_tsa_preset,
    add_witness,
    load_anchor_config,
    remove_source,
    save_anchor_config,
)
from evidence.ledger.anchor.service import AnchorService
from evidence.ledger.anchor.status import anchor_status, verify_stored_anchors
from evidence.ledger.config import load_config
from evidence.ledger.errors import LedgerError


def _config(data_dir: str | None, as_json: bool) -> AnchorConfig:
    try:
        return load_anchor_config(load_config(data_dir).data_dir)
    except LedgerError as e:
        fail(str(e), as_json=as_json)
        raise  # unreachable


def _db_error(e: Exception, as_json: bool) -> None:
    fail(f"cannot read the anchors table ({type(e).__name__}); open the ledger once without "
         f"--read-only (e.g. `evidence anchor --once`) to upgrade its schema: {e}",
         as_json=as_json)


# --- running -----------------------------------------------------------------------------


@click.group("anchor", invoke_without_command=True)
@click.option("--once", "mode", flag_value="once", default=True,
              help="One round over every due (checkpoint, source), then exit (default).")
@click.option("--loop", "mode", flag_value="loop", help="Run rounds until SIGINT/SIGTERM.")
@click.option("--interval", type=click.FloatRange(min=0.01), metavar="S",
              help="Seconds between rounds with --loop (default: anchors.json, 60).")
@config_option
@where_options
@click.pass_context
def anchor_group(ctx: click.Context, mode: str, interval: float | None,
                 config_file: str | None, data_dir: str | None, db_url: str | None,
                 as_json: bool) -> None:
    """Timestamp checkpoints with RFC 3161 TSAs and collect witness cosignatures.

    Without a sub-command: anchor the newest checkpoint with every configured source (and
    retry what is due). Intake never waits for this; run it beside `evidence serve`.
    With --loop, SIGHUP re-reads anchors.json and the configuration file.
    """
    if ctx.invoked_subcommand is not None:
        return
    eff, flags = resolve_for(ctx, config_file, _ANCHOR_PARAMS, as_json)
    data_dir, db_url = eff["ledger.data_dir"], eff["ledger.db_url"]
    interval = eff["anchoring.interval"]
    cfg = _config(data_dir, as_json)
    if not cfg.tsas and not cfg.witnesses:
        fail("no anchor source configured: `evidence anchor tsa add` / `witness add`",
             as_json=as_json)
    with open_ledger(data_dir, db_url, as_json) as led:
        try:
            svc = AnchorService(led, cfg)
        except (LedgerError, ValueError) as e:
            fail(str(e), as_json=as_json)
        if mode == "loop":
            logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                                format="%(asctime)s %(levelname)s %(name)s: %(message)s")
            click.echo(f"anchoring {led.origin} every {interval or cfg.interval} s with "
                       f"{', '.join(cfg.source_names)}", err=True)
            _loop(led, svc, cfg, interval, lambda: _reread(config_file, flags, data_dir))
            return
        report = svc.run_once()
    if as_json:
        emit_json({"ok": all(a.ok for a in report.attempts), **report.to_json()})
    else:
        if report.checkpoint_size is None:
            click.echo("no checkpoint yet: nothing to anchor")
        elif not report.attempts:
            click.echo(f"checkpoint {report.checkpoint_size}: nothing due")
        for a in report.attempts:
            if a.ok:
                assert a.proof_time is not None
                click.echo(f"{a.source}: checkpoint {a.checkpoint_size} anchored "
                           f"({a.proof_time.isoformat()})")
            else:
                click.echo(f"{a.source}: checkpoint {a.checkpoint_size} FAILED: {a.error}")
        for s in report.unfinished:
            click.echo(f"{s}: still running when the round ended (will be retried)")
        if report.records is not None:  # RFC 4998 records for the anchored items
            r = report.records
            click.echo(f"evidence records: {r.made} made" + (f" with {r.tsa}" if r.tsa else "")
                       + "".join(f"; FAILED: {e}" for e in r.errors))
    sys.exit(0 if all(a.ok for a in report.attempts) else 1)


_ANCHOR_PARAMS = {"data_dir": "ledger.data_dir", "db_url": "ledger.db_url",
                  "interval": "anchoring.interval"}


def _loop(led: Any, svc: AnchorService, cfg: AnchorConfig, interval: float | None,
          reread: Any) -> None:
    """Rounds until SIGINT/SIGTERM. SIGHUP ends the current wait (never a round), reads
    anchors.json and the configuration again, logs what changed and goes on with it; a
    configuration that is not valid is logged and the old one kept."""
    from evidence.ledger.config_file import anchor_changes_of

    log = logging.getLogger("evidence.config")
    stop, hup, wake = threading.Event(), threading.Event(), threading.Event()

    def on_stop(*_: Any) -> None:
        stop.set()
        wake.set()

    def on_hup(*_: Any) -> None:
        hup.set()
        wake.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_stop)
    signal.signal(signal.SIGHUP, on_hup)
    while not stop.is_set():
        svc.run_forever(wake, interval)
        if stop.is_set():
            return
        wake.clear()
        hup.clear()
        try:
            new_cfg, new_interval = reread()
            new_svc = AnchorService(led, new_cfg)
        except (LedgerError, ValueError) as e:
            log.error("reload refused, nothing changed: %s", e)
            continue
        said = anchor_changes_of(cfg.to_json(), new_cfg.to_json())
        if new_interval != interval:
            said.append(f"anchoring.interval {interval!r} -> {new_interval!r}")
        log.warning("configuration reloaded: %s", "; ".join(said) or "no change")
        svc, cfg, interval = new_svc, new_cfg, new_interval


def _reread(config_file: str | None, flags: dict[str, Any], data_dir: str | None
            ) -> tuple[AnchorConfig, float | None]:
    import os

    from evidence.ledger.config_file import config_path, resolve

    eff = resolve(config_path(config_file), os.environ, flags)
    return load_anchor_config(load_config(data_dir).data_dir), eff["anchoring.interval"]


# --- configuration --------------------------------------------------------------------------


def _done(cfg: AnchorConfig, as_json: bool, message: str) -> None:
    if as_json:
        emit_json({"ok": True, "config": cfg.to_json()})
    else:
        click.echo(message)


_data_dir_option = click.option("--data-dir", metavar="DIR", envvar="EVIDENCE_DATA_DIR",
                                help="Ledger data directory (env EVIDENCE_DATA_DIR).")
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
_timeout_option = click.option("--timeout", type=click.FloatRange(0.1, 600), default=10.0,
                               show_default=True, help="Seconds allowed per request.")


@anchor_group.group("tsa")
def tsa_group() -> None:
    """RFC 3161 time-stamping authorities."""


@tsa_group.command("add")
@click.argument("name", required=False)
@click.argument("url", required=False)
@click.option("--preset", type=click.Choice(sorted(TSA_PRESETS)),
              help="A well-known public TSA: its URL, checked against the roots it is known "
                   "to chain to in Mozilla's root store (certifi); the trust file then says "
                   "#@ tsa-store mozilla. Confirm with a first `evidence anchor`.")
@click.option("--ca", "ca_files", multiple=True, metavar="PEM",
              type=click.Path(dir_okay=False, exists=True),
              help="The TSA's trusted root CA certificate(s), PEM; copied into the data "
                   "directory and pinned. Repeat for several. Required without --preset.")
@click.option("--policy", metavar="OID", help="Require tokens issued under this TSA policy.")
@_timeout_option
@_data_dir_option
@_json_option
def tsa_add(name: str | None, url: str | None, preset: str | None, ca_files: tuple[str, ...],
            policy: str | None, timeout: float, data_dir: str | None, as_json: bool) -> None:
    """Add the TSA NAME at URL (--ca ROOT.pem), or a public one: --preset NAME [NAME].

    \b
    Presets (roots as far as known; the operator confirms):
    """
    cfg = _config(data_dir, as_json)
    try:
        if preset:
            cfg = add_tsa_preset(cfg, preset, name=name, url=url, ca_files=list(ca_files),
                                 policy=policy, timeout=timeout)
            name = name or preset
            url = cfg.tsas[-1].url
        else:
            if not name or not url:
                raise click.UsageError("give NAME and URL (or --preset NAME)")
            if not ca_files:
                raise click.UsageError("give the TSA's trusted root CA with --ca PEM (or use "
                                       "--preset for a well-known public TSA)")
            cfg = add_tsa(cfg, name, url, list(ca_files), policy=policy, timeout=timeout)
    except AnchorConfigError as e:
        fail(str(e), as_json=as_json)
    _done(cfg, as_json, f"TSA {name} added ({url})")


tsa_add.help = (tsa_add.help or "") + "".join(
    f"\n  {k:<11}{p.url}  ->  {', '.join(p.roots)}" for k, p in sorted(TSA_PRESETS.items()))


@anchor_group.group("witness")
def witness_group() -> None:
    """Witnesses that cosign checkpoints (c2sp.org/tlog-witness)."""


@witness_group.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--key", required=True, metavar="VKEY",
              help="The witness's verifier key (name+keyid+base64, cosignature/v1).")
@click.option("--qpd", type=click.IntRange(1, 86_400_000), default=None, metavar="N",
              help="Send the witness at most N add-checkpoint requests a day (the log's qpd "
                   "on the witness-network.org list it follows); default: no budget.")
@_timeout_option
@_data_dir_option
@_json_option
def witness_add(name: str, url: str, key: str, qpd: int | None, timeout: float,
                data_dir: str | None, as_json: bool) -> None:
    """Add the witness NAME at URL (its add-checkpoint prefix)."""
    cfg = _config(data_dir, as_json)
    try:
        cfg = add_witness(cfg, name, url, key, timeout=timeout, qpd=qpd)
    except AnchorConfigError as e:
        fail(str(e), as_json=as_json)
    _done(cfg, as_json, f"witness {name} added ({url})")


@anchor_group.command("remove")
@click.argument("name")
@_data_dir_option
@_json_option
def remove_cmd(name: str, data_dir: str | None, as_json: bool) -> None:
    """Stop asking source NAME (what it anchored stays stored)."""
    cfg = _config(data_dir, as_json)
    try:
        cfg = remove_source(cfg, name)
    except AnchorConfigError as e:
        fail(str(e), as_json=as_json)
    _done(cfg, as_json, f"{name} removed")


@anchor_group.command("set")
@click.option("--quorum", type=click.IntRange(min=0), help="Witness cosignatures required.")
@click.option("--interval", type=click.FloatRange(min=0.01), help="Seconds between rounds.")
@click.option("--retry-older/--no-retry-older", default=None,
              help="Keep retrying older checkpoints a TSA has not anchored yet.")
@click.option("--retry-base", type=float, help="First retry delay, seconds.")
@click.option("--retry-max", type=float, help="Longest retry delay, seconds.")
@click.option("--jitter", type=float, help="Fraction of each delay taken off at random (0..1).")
@click.option("--max-attempts", type=click.IntRange(min=0), help="Give up after N (0: never).")
@_data_dir_option
@_json_option
def set_cmd(quorum: int | None, interval: float | None, retry_older: bool | None,
            retry_base: float | None, retry_max: float | None, jitter: float | None,
            max_attempts: int | None, data_dir: str | None, as_json: bool) -> None:
    """Change the quorum, loop interval and retry policy."""
    cfg = _config(data_dir, as_json)
    r = cfg.retry
    retry = RetryPolicy(base=r.base if retry_base is None else retry_base,
                        max=r.max if retry_max is None else retry_max,
                        jitter=r.jitter if jitter is None else jitter,
                        max_attempts=r.max_attempts if max_attempts is None else max_attempts)
    new = replace(cfg, retry=retry,
                  witness_quorum=cfg.witness_quorum if quorum is None else quorum,
                  interval=cfg.interval if interval is None else interval,
                  retry_older=cfg.retry_older if retry_older is None else retry_older)
    try:
        save_anchor_config(new)
    except AnchorConfigError as e:
        fail(str(e), as_json=as_json)
    _done(new, as_json, "anchor settings saved")


@anchor_group.command("list")
@_data_dir_option
@_json_option
def list_cmd(data_dir: str | None, as_json: bool) -> None:
    """Show the configured TSAs, witnesses, quorum and retry policy."""
    cfg = _config(data_dir, as_json)
    if as_json:
        emit_json({"ok": True, "config": cfg.to_json()})
        return
    for t in cfg.tsas:
        click.echo(f"tsa      {t.name}  {t.url}  ca={','.join(t.ca)}"
                   + (f"  policy={t.policy}" if t.policy else "") + f"  timeout={t.timeout}s")
    for w in cfg.witnesses:
        click.echo(f"witness  {w.name}  {w.url}  key={w.key}  timeout={w.timeout}s"
                   + (f"  qpd={w.qpd}" if w.qpd is not None else ""))
    r = cfg.retry
    click.echo(f"witness quorum {cfg.witness_quorum}; interval {cfg.interval} s; retry "
               f"{r.base}..{r.max} s, jitter {r.jitter}, max attempts "
               f"{r.max_attempts or 'unlimited'}; retry older: {cfg.retry_older}")


# --- stored anchors -----------------------------------------------------------------------------


@anchor_group.command("show")
@click.argument("size", type=click.IntRange(min=0))
@where_options
def show_cmd(size: int, data_dir: str | None, db_url: str | None, as_json: bool) -> None:
    """Re-verify, offline, every anchor stored for checkpoint SIZE and say what it proves."""
    cfg = _config(data_dir, as_json)
    with open_ledger(data_dir, db_url, as_json, read_only=True) as led:
        try:
            results = verify_stored_anchors(led, cfg, size)
        except AnchorFailed as e:
            fail(e.reason, as_json=as_json)
        except SQLAlchemyError as e:
            _db_error(e, as_json)
    ok = bool(results) and all(r.ok for r in results)
    if as_json:
        emit_json({"ok": ok, "checkpoint_size": size, "anchors": [r.to_json() for r in results]})
    else:
        if not results:
            click.echo(f"checkpoint {size}: nothing anchored")
        for r in results:
            if r.ok and r.proof is not None:
                click.echo(f"PASS {r.source}: {r.proof.statement} [{r.proof.verifier}]")
            else:
                click.echo(f"FAIL {r.source}: {r.error}")
    sys.exit(0 if ok else 1)


@anchor_group.command("token")
@click.argument("size", type=click.IntRange(min=0))
@click.argument("source")
@click.option("-o", "--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Write the DER TimeStampToken here (- for stdout).")
@click.option("--certs", "certs_out", type=click.Path(dir_okay=False),
              help="Also write the certificate chain here, PEM.")
@where_options
def token_cmd(size: int, source: str, out: str, certs_out: str | None, data_dir: str | None,
              db_url: str | None, as_json: bool) -> None:
    """Write the stored token of SOURCE on checkpoint SIZE, exactly as received (for
    `openssl ts -verify -in FILE -token_in ...`)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    with open_ledger(data_dir, db_url, as_json, read_only=True) as led:
        try:
            rows = store.list_anchors(led.engine, size=size, source=source)
        except SQLAlchemyError as e:
            _db_error(e, as_json)
    if not rows or rows[0].token is None:
        fail(f"no token stored for {source} on checkpoint {size}", as_json=as_json)
    row = rows[0]
    assert row.token is not None
    if out == "-":
        sys.stdout.buffer.write(row.token)
    else:
        Path(out).write_bytes(row.token)
    if certs_out:
        Path(certs_out).write_bytes(b"".join(
            x509.load_der_x509_certificate(c).public_bytes(Encoding.PEM) for c in row.certs))
    if as_json and out != "-":
        emit_json({"ok": True, "file": out, "bytes": len(row.token), "status": row.status})


# --- status ------------------------------------------------------------------------------------


@click.command("status")
@where_options
def status_cmd(data_dir: str | None, db_url: str | None, as_json: bool) -> None:
    """The log's size and newest checkpoint; per TSA and witness the newest anchored
    checkpoint, its time, the lag behind the log, the last error and attempts."""
    cfg = _config(data_dir, as_json)
    from evidence.ledger.blobs.fixity import FixityAlerts

    with open_ledger(data_dir, db_url, as_json, read_only=True) as led:
        try:
            st = anchor_status(led, cfg)
        except SQLAlchemyError as e:
            _db_error(e, as_json)
        fixity = FixityAlerts(led.config.data_dir / "fixity" if led.config else None).summary()
        if led.config:  # the second copy's lag (docs/operations.md, "Second copy")
            from evidence.ledger.blobs.replicated import replica_status

            fixity["replica"] = replica_status(led.config.data_dir)
    st["fixity"] = fixity
    if as_json:
        emit_json({"ok": True, **st})
        return
    _print_status(st)
    _print_fixity(fixity)


def _print_fixity(fx: dict[str, Any]) -> None:
    """Stored-file fixity: the last full audit pass and the alerts since."""
    last = fx["last_audit"]
    click.echo("stored files: " + ("no full audit pass yet" if last is None else
               f"last full audit pass {last.get('finished_at')}: {last.get('files')} files, "
               f"{last.get('damaged_count')} damaged, {last.get('missing_count')} missing")
               + f"; {fx['alerts']} fixity alert(s) in all, "
               f"{fx['alerts_since_last_audit']} since the last pass")
    for sha, state in sorted(fx["known"].items()):
        click.echo(f"  {state.upper()}: file {sha} (run `evidence audit` after a repair)")
    rep = fx.get("replica")
    if rep is not None:
        click.echo(f"replica ({rep['mode']}): " + (
            "every file copied" if not rep["pending"] else
            f"{rep['pending']} file(s) not yet copied, oldest queued {rep['oldest_queued_at']} "
            f"({rep['oldest_age_seconds']:.0f} s ago)"))


def _print_status(st: dict[str, Any]) -> None:
    cp = st["latest_checkpoint"]
    click.echo(f"log {st['origin']}: {st['log_size']} entries; latest checkpoint "
               + (f"{cp['size']} at {cp['time']}" if cp else "none"))
    if st["witness_quorum"]:
        q = st["newest_size_with_quorum"]
        click.echo(f"witness quorum {st['witness_quorum']}: newest checkpoint with quorum "
                   + ("none" if q is None else str(q)))
    if not st["sources"]:
        click.echo("no anchor source configured")
    for s in st["sources"]:
        got = (f"checkpoint {s['anchored_size']} at {s['anchored_time']}"
               if s["anchored_size"] is not None else "nothing anchored yet")
        line = (f"{s['kind']:8} {s['name']}: {got}; lag {s['lag_entries']} entries, "
                f"{s['lag_seconds']:.0f} s")
        if s["last_error"]:
            line += (f"; last error after {s['attempts']} attempt(s): {s['last_error']}"
                     f"; next attempt {s['next_attempt_at'] or 'never (gave up)'}")
        if s.get("qpd"):
            line += (f"; budget {s['qpd']} requests a day, next allowed "
                     f"{s['next_call_at'] or 'now'}")
        click.echo(line)


from evidence.cli.anchor_renew import record_cmd, renew_cmd  # noqa: E402 - beside its group

anchor_group.add_command(renew_cmd)
anchor_group.add_command(record_cmd)
