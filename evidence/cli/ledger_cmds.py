"""Ledger commands: ``evidence init``, ``evidence log ...``, ``evidence audit``.

Where the ledger is: ``--data-dir`` (else ``$EVIDENCE_DATA_DIR``, else
``./evidence-data``) and ``--db`` (else ``$EVIDENCE_DB_URL``, else the config, else
SQLite in the data directory); see :mod:`evidence.ledger.config`.
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

import click

from evidence.cli.options import (
    DB_DAMAGE,
    ledger_damaged,
    open_ledger,
    run_or_fail,
    where_options,
)
from evidence.cli.output import emit_json, fail
from evidence.ledger.config import DEFAULT_CHECKPOINT_INTERVAL
from evidence.ledger.log import Ledger

# --- init ------------------------------------------------------------------------------


@click.command("init")
@where_options
@click.option("--origin", default="evidence.local/log", show_default=True,
              help="The log's origin: the first line of its checkpoints and its key's name.")
@click.option("--key-file", metavar="PATH",
              help="Where to write the log's private key (default: DIR/log.key, mode 0600).")
@click.option("--checkpoint-interval", type=click.FloatRange(min=0),
              default=DEFAULT_CHECKPOINT_INTERVAL, show_default=True,
              help="Seconds between checkpoints while appending; 0 = after every batch.")
def init_cmd(data_dir: str | None, db_url: str | None, as_json: bool, origin: str,
             key_file: str | None, checkpoint_interval: float) -> None:
    """Create a new ledger: data directory, config, log key and database.

    Prints the log's verifier key: publish it, it is what every checkpoint and
    bundle is checked against. Refuses (changing nothing) if a ledger is there.
    """
    led = run_or_fail(as_json, lambda: Ledger.create(data_dir, origin, db_url=db_url,
                                              key_path=key_file,
                                              checkpoint_interval=checkpoint_interval))
    cfg = led.config
    # The empty log's checkpoint (size 0): the public checkpoint URL answers from the
    # first minute, and witnesses can start following the log before its first entry.
    led.sign_checkpoint_now()
    led.close()
    if as_json:
        emit_json({"ok": True, "origin": led.origin, "verifier_key": led.verifier_key,
                   "data_dir": str(cfg.data_dir), "key_file": str(cfg.key_path)})
    else:
        click.echo(f"ledger {led.origin} created in {cfg.data_dir}; "
                   f"private key in {cfg.key_path} (mode 0600)", err=True)
        click.echo(led.verifier_key)


# --- log ---------------------------------------------------------------------------------


@click.group("log")
def log_group() -> None:
    """The append-only log: checkpoints, entries, proofs, export."""


@log_group.command("checkpoint")
@where_options
def log_checkpoint(data_dir: str | None, db_url: str | None, as_json: bool) -> None:
    """Sign a checkpoint for the current size now and print the signed note."""
    with open_ledger(data_dir, db_url, as_json) as led:
        cp = run_or_fail(as_json, led.sign_checkpoint_now)
    if as_json:
        emit_json({"size": cp.size, "root": cp.root.hex(), "note": cp.note})
    else:
        click.echo(cp.note, nl=False)


@log_group.group("key", invoke_without_command=True)
@where_options
@click.pass_context
def log_key(ctx: click.Context, data_dir: str | None, db_url: str | None,
            as_json: bool) -> None:
    """Print the log's verifier key (--json: every key with its window of tree sizes);
    ``rotate`` and ``revoke`` change them (docs/operations.md "Rotating the log key"),
    ``mldsa`` adds a post-quantum key (docs/operations.md "Post-quantum signatures")."""
    if ctx.invoked_subcommand is not None:
        return
    with open_ledger(data_dir, db_url, as_json, read_only=True) as led:
        if as_json:
            wins = run_or_fail(as_json, led.key_windows)
            emit_json({"origin": led.origin, "verifier_key": led.verifier_key,
                       "keys": [{"verifier_key": w.vkey, "from_size": w.from_size,
                                 "until_size": w.until_size, "revoked": w.revoked}
                                for w in wins]})
        else:
            click.echo(led.verifier_key)


@log_key.command("rotate")
@click.option("--new-key", "new_key", type=click.Path(dir_okay=False, exists=True),
              help="The new key: a PRIVATE+KEY file (mode 0600) named after the origin "
              "(default: a new key is made).")
@click.option("--old-key", "old_key", type=click.Path(dir_okay=False, exists=True),
              help="Refuse unless this PRIVATE+KEY file is the key now signing the log.")
@click.option("--overlap", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Tree sizes after the rotation entry that both keys sign.")
@where_options
def log_key_rotate(new_key: str | None, old_key: str | None, overlap: int,
                   data_dir: str | None, db_url: str | None, as_json: bool) -> None:
    """Replace the log key with no flag day: append key.rotated (signed by both keys);
    checkpoints up to the overlap's end carry both signatures. Stop the writer first;
    export the trust file again afterwards."""
    from evidence.ledger.keyfile import KeyFileError, read_private_key
    from evidence.ledger.log_keys import RotationError
    from evidence.verify.note import generate_signer

    try:
        expect = read_private_key(old_key) if old_key else None
        new = read_private_key(new_key) if new_key else None
    except KeyFileError as e:
        fail(str(e), as_json=as_json)
    with open_ledger(data_dir, db_url, as_json) as led:
        signer = new or generate_signer(led.origin)
        try:
            w = led.rotate_key(signer, overlap=overlap, expect_old=expect)
        except (RotationError, KeyFileError) as e:
            fail(f"key not rotated (nothing changed): {e}", as_json=as_json)
        old = [x for x in led.key_windows() if x.until_size is not None][-1]
    if as_json:
        emit_json({"ok": True, "verifier_key": w.vkey, "old_key": old.vkey,
                   "from_size": w.from_size, "until_size": old.until_size})
    else:
        click.echo(f"log key rotated: the old key signs up to size {old.until_size}, the new "
                   f"one from size {w.from_size}; export the trust file again", err=True)
        click.echo(w.vkey)


@log_key.command("revoke")
@click.argument("key")
@click.option("--from-size", "from_size", type=click.IntRange(min=0), required=True,
              help="The last tree size the key is trusted for: checkpoints past it under "
              "this key are refused.")
@click.option("--reason", default="compromised", show_default=True,
              help="Free text for the record (at most 200 characters).")
@where_options
def log_key_revoke(key: str, from_size: int, reason: str, data_dir: str | None,
                   db_url: str | None, as_json: bool) -> None:
    """Revoke a retired log KEY (verifier key or name+keyid) from size N: append
    key.revoked; export the trust file again afterwards."""
    from evidence.ledger.log_keys import RotationError

    with open_ledger(data_dir, db_url, as_json) as led:
        try:
            w = led.revoke_key(key, from_size, reason)
        except RotationError as e:
            fail(f"key not revoked (nothing changed): {e}", as_json=as_json)
    if as_json:
        emit_json({"ok": True, "verifier_key": w.vkey, "from_size": w.from_size,
                   "until_size": w.until_size})
    else:
        click.echo(f"revoked {w.vkey.rsplit('+', 1)[0]}: refused for checkpoints past size "
                   f"{w.until_size}; export the trust file again", err=True)


@log_key.command("mldsa")
@click.option("--key", "key_file", type=click.Path(dir_okay=False, exists=True),
              help="An ML-DSA-44 PRIVATE+KEY file (mode 0600) named after the origin "
              "(default: a new key, kept in DIR/log-mldsa.key).")
@where_options
def log_key_mldsa(key_file: str | None, data_dir: str | None, db_url: str | None,
                  as_json: bool) -> None:
    """Add an ML-DSA-44 (post-quantum) signature to every checkpoint from now on: append
    key.mldsa_added (signed by the log key and the new key); export the trust file again
    (it pins the key with '#@ log-mldsa'). Stop the writer first."""
    _add_mldsa(key_file, data_dir, db_url, as_json)


def _add_mldsa(key_file: str | None, data_dir: str | None, db_url: str | None,
               as_json: bool) -> tuple[str, int]:
    from evidence.ledger.keyfile import KeyFileError, read_private_key
    from evidence.ledger.pq_key import PostQuantumError
    from evidence.verify.note import ALG_MLDSA44, generate_signer

    try:
        given = read_private_key(key_file) if key_file else None
    except KeyFileError as e:
        fail(str(e), as_json=as_json)
    with open_ledger(data_dir, db_url, as_json) as led:
        pq = given or generate_signer(led.origin, ALG_MLDSA44)
        try:
            first = led.add_mldsa_key(pq)
        except (PostQuantumError, KeyFileError) as e:
            fail(f"ML-DSA-44 key not added (nothing changed): {e}", as_json=as_json)
    vkey = pq.verifier().to_string()
    if as_json:
        emit_json({"ok": True, "mldsa_key": vkey, "from_size": first})
    else:
        click.echo(f"ML-DSA-44 key added: checkpoints from size {first} carry its signature; "
                   "export the trust file again", err=True)
        click.echo(vkey)
    return vkey, first


@log_group.command("entry")
@click.argument("seq", type=int)
@where_options
def log_entry(seq: int, data_dir: str | None, db_url: str | None, as_json: bool) -> None:
    """Print entry SEQ (the exact stored bytes; --json adds its leaf hash)."""
    with open_ledger(data_dir, db_url, as_json, read_only=True) as led:
        e = run_or_fail(as_json, lambda: led.entry(seq))
    if as_json:
        emit_json({"seq": e.seq, "leaf_hash": e.leaf_hash.hex(),
                   "entry_b64": base64.b64encode(e.data).decode()})
    else:
        sys.stdout.buffer.write(e.data + b"\n")


@log_group.group("proof")
def log_proof() -> None:
    """RFC 9162 inclusion and consistency proofs from the stored tree."""


@log_proof.command("inclusion")
@click.argument("seq", type=int)
@click.option("--size", type=int, help="Tree size (default: the current size).")
@where_options
def proof_inclusion(seq: int, size: int | None, data_dir: str | None, db_url: str | None,
                    as_json: bool) -> None:
    """Inclusion proof of entry SEQ in the tree of --size entries."""
    with open_ledger(data_dir, db_url, as_json, read_only=True) as led:
        p = run_or_fail(as_json, lambda: led.inclusion_proof(seq, size))
    _emit_proof(p.to_json(), as_json)


@log_proof.command("consistency")
@click.argument("old", type=int)
@click.argument("new", type=int)
@where_options
def proof_consistency(old: int, new: int, data_dir: str | None, db_url: str | None,
                      as_json: bool) -> None:
    """Consistency proof from the tree of OLD entries to the tree of NEW entries."""
    with open_ledger(data_dir, db_url, as_json, read_only=True) as led:
        p = run_or_fail(as_json, lambda: led.consistency_proof(old, new))
    _emit_proof(p.to_json(), as_json)


def _emit_proof(doc: dict, as_json: bool) -> None:
    """A proof as JSON, or as ``name value`` lines with one ``proof <hex>`` line per hash."""
    if as_json:
        emit_json(doc)
        return
    for name, value in doc.items():
        if name != "proof":
            click.echo(f"{name} {value}")
    for h in doc["proof"]:
        click.echo(f"proof {h}")


@log_group.command("export")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--from", "start", type=click.IntRange(min=0), default=None, metavar="SIZE",
              help="Keep the first SIZE entries DIRECTORY holds and write the rest again "
                   "(default: go on from what it holds).")
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
@where_options
def log_export(directory: str, start: int | None, quiet: bool, data_dir: str | None,
               db_url: str | None, as_json: bool) -> None:
    """Write every entry, checkpoint (with its cosignatures), RFC 3161 token and the trust
    file to plain files in DIRECTORY, with a manifest of their SHA-256 (docs/formats.md).
    Run it again on the same DIRECTORY to bring it up to date."""
    from evidence.ledger.audit.export_log import export_log

    bar = None if quiet or as_json else _Rate("exported")
    with open_ledger(data_dir, db_url, as_json, read_only=True) as led:
        r = run_or_fail(as_json, lambda: export_log(led, directory, start=start, progress=bar))
    if bar is not None:
        bar.done()
    if r.tiles is None and not (as_json or quiet):  # the manifest says it too
        click.echo(f"no tlog-tiles in the export / 导出未含 tlog 瓦片: {r.tiles_reason}", err=True)
    if as_json:
        emit_json({"ok": True, "directory": str(r.directory), "size": r.size,
                   "from": r.start, "checkpoints": r.checkpoints, "timestamps": r.timestamps,
                   "tiles": r.tiles, "tiles_reason": r.tiles_reason})
    else:
        click.echo(f"exported {r.size} entries ({r.size - r.start} new), {r.checkpoints} "
                   f"checkpoints and {r.timestamps} timestamps to {r.directory}")


@log_group.command("freeze")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--at", "at", type=click.IntRange(min=1), default=None, metavar="SIZE",
              help="Freeze at this stored checkpoint (default: a closed shard's final "
                   "checkpoint, else the newest).")
@click.option("--shard", type=click.IntRange(min=1), default=None, metavar="N",
              help="Freeze the closed shard N of this data directory (evidence log shard).")
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
@where_options
def log_freeze(directory: str, at: int | None, shard: int | None, quiet: bool,
               data_dir: str | None, db_url: str | None, as_json: bool) -> None:
    """Write the log as of one signed checkpoint to a new, empty DIRECTORY as static files:
    entries, checkpoints, cosignatures, RFC 3161 tokens, evidence records, tiles, the trust
    file and a page saying how to check them (docs/formats.md "Frozen log")."""
    from evidence.ledger.freeze import freeze_log, manifest_sha256

    bar = None if quiet or as_json else _Rate("frozen")
    with open_ledger(data_dir, db_url, as_json, read_only=True) as led:
        if shard is None:
            r = run_or_fail(as_json, lambda: freeze_log(led, directory, at=at, progress=bar))
        else:
            from evidence.ledger.shards import open_frozen

            d = led.config.data_dir if led.config else data_dir
            with run_or_fail(as_json, lambda: open_frozen(d, shard)) as old:
                r = run_or_fail(as_json, lambda: freeze_log(old, directory, at=at,
                                                            trust_from=led, progress=bar))
    if bar is not None:
        bar.done()
    digest = manifest_sha256(r.directory)
    if as_json:
        emit_json({"ok": True, "directory": str(r.directory), "size": r.size, "kind": r.kind,
                   "checkpoints": r.checkpoints, "timestamps": r.timestamps,
                   "evidence_records": r.records, "anchored": r.anchored,
                   "manifest_sha256": digest})
        return
    if not quiet:
        for what, zh in (("timestamp", "时间戳"), ("cosignature", "见证人联署")):
            if not r.anchored[what]:
                click.echo(f"warning: the frozen checkpoint (size {r.size}) has no {what} / "
                           f"警告：冻结的检查点没有{zh}", err=True)
    click.echo(f"froze {r.size} entries ({r.kind}), {r.checkpoints} checkpoints, "
               f"{r.timestamps} timestamps and {r.records} evidence records to "
               f"{r.directory}; manifest.json SHA-256 {digest}")


class _Rate:
    """Progress on stderr: entries done, percent and entries/s, at most twice a second
    (one line per update when stderr is not a terminal, else one line rewritten)."""

    def __init__(self, what: str) -> None:
        import time

        self.what, self.clock = what, time.monotonic
        self.t0 = self.last = self.clock()
        self.first: int | None = None
        self.tty = sys.stderr.isatty()
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if self.first is None:
            self.first, self.t0 = done, now
            return
        if now - self.last < (0.5 if self.tty else 5.0) and done < total:
            return
        self.last = now
        rate = (done - self.first) / max(now - self.t0, 1e-9)
        pct = 100.0 * done / total if total else 100.0
        head, tail = ("\r", "") if self.tty else ("", "\n")
        sys.stderr.write(f"{head}{self.what} {done:,} of {total:,} entries ({pct:.1f}%), "
                         f"{rate:,.0f} entries/s{tail}")
        sys.stderr.flush()
        self.shown = True

    def done(self) -> None:
        if self.tty and self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


@log_group.command("shard")
@click.option("--origin", required=True, help="The new shard's origin (its key's name): "
              "new, never used by a shard of this data directory.")
@click.option("--new-db", "new_db", metavar="URL", help="The new shard's database, empty "
              "(default: SQLite in DIR/shards/<n>/; needed when $EVIDENCE_DB_URL is set).")
@click.option("--data-dir", metavar="DIR", envvar="EVIDENCE_DATA_DIR",
              help="Ledger data directory (env EVIDENCE_DATA_DIR; default ./evidence-data).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def log_shard(origin: str, new_db: str | None, data_dir: str | None, as_json: bool) -> None:
    """Freeze the log and start a new shard with ORIGIN and a new key (docs/operations.md,
    "Starting a new shard"). Stop the service first; the same command resumes a shard
    whose final checkpoint could not be anchored yet."""
    from evidence.ledger.errors import LedgerError
    from evidence.ledger.shards import start_shard

    try:
        r = start_shard(data_dir, origin, db_url=new_db)
    except LedgerError as e:
        fail(str(e), as_json=as_json)
    s = r.frozen
    if as_json:
        emit_json({"ok": True, "frozen": {"shard": s.n, "origin": s.origin, "key": s.key,
                                          "final_size": s.final_size,
                                          "final_root": s.final_root},
                   "active": {"shard": r.active, "origin": r.origin, "key": r.key},
                   "anchors": r.anchors})
    else:
        click.echo(f"shard {s.n} ({s.origin}) frozen at size {s.final_size}, its final "
                   f"checkpoint anchored by {', '.join(sorted(r.anchors)) or 'nothing configured'}"
                   f"; shard {r.active} ({r.origin}) is active: export the trust file again",
                   err=True)
        click.echo(r.key)


@log_group.command("append")
@click.argument("entry_type", metavar="TYPE")
@click.option("--body", default="{}", show_default=True, help="Entry body, a JSON object.")
@where_options
def log_append(entry_type: str, body: str, data_dir: str | None, db_url: str | None,
               as_json: bool) -> None:
    """Append one entry (operator/test command; services append through the API)."""
    try:
        obj = json.loads(body)
    except ValueError as e:
        fail(f"--body is not JSON: {e}", as_json=as_json)
    if not isinstance(obj, dict):
        fail("--body must be a JSON object", as_json=as_json)
    with open_ledger(data_dir, db_url, as_json) as led:
        a = run_or_fail(as_json, lambda: led.append(entry_type, obj))
    if as_json:
        emit_json({"seq": a.seq, "leaf_hash": a.leaf_hash.hex(), "time": a.time,
                   "entry_b64": base64.b64encode(a.entry_bytes).decode()})
    else:
        click.echo(f"{a.seq} {a.leaf_hash.hex()}")


# --- audit --------------------------------------------------------------------------------


@click.command("audit")
@where_options
@click.option("--chunk", type=click.IntRange(min=1), default=5000, show_default=True,
              help="Entries per database read.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes for the quick pass (default: one per core from 200,000 "
                   "entries).")
@click.option("--entries-only", is_flag=True,
              help="Check the ledger only; skip re-hashing the stored files.")
@click.option("--blob-store", metavar="PATH|URL", envvar="EVIDENCE_BLOB_STORE",
              help="Blob store (default as for `evidence submit`; env EVIDENCE_BLOB_STORE).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Threads hashing stored files (default: one per core).")
@click.option("--repair", is_flag=True,
              help="With a second copy (blob_store replica:...): rebuild each copy found "
                   "missing or damaged from the intact one and record it (blob.repaired).")
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
def audit_cmd(data_dir: str | None, db_url: str | None, as_json: bool, chunk: int,
              workers: int | None, entries_only: bool, blob_store: str | None,
              threads: int | None, repair: bool, quiet: bool) -> None:
    """Recompute the chain, every leaf, node and checkpoint, then re-hash every stored
    file of every live item; exit 1 at the first ledger fault or any missing or damaged
    file (each named, with its evidence ids)."""
    try:
        _audit(data_dir, db_url, as_json, chunk, workers, entries_only, blob_store, threads,
               repair, quiet)
    except DB_DAMAGE as e:  # a damaged database page: a report, never a traceback
        ledger_damaged(e, as_json)


def _audit(data_dir: str | None, db_url: str | None, as_json: bool, chunk: int,
           workers: int | None, entries_only: bool, blob_store: str | None,
           threads: int | None, repair: bool = False, quiet: bool = False) -> None:
    from evidence.ledger.audit.files import audit_files, repair_report
    from evidence.ledger.blobs.fixity import FixityAlerts, now
    from evidence.ledger.config import resolve_data_dir
    from evidence.ledger.intake import load_settings
    from evidence.ledger.intake.settings import SettingsError

    bar_ok = sys.stderr.isatty() and not quiet
    repaired: list[dict[str, Any]] = []
    with open_ledger(data_dir, db_url, as_json, read_only=not repair) as led:
        size = led.size
        if size >= 50_000 and not bar_ok and not quiet and not as_json:
            lines = _Rate("audited")  # not a terminal (cron, a log file): a line every 5 s
            lines(0, size)  # the start: entries/s are counted from here
            report = led.audit(chunk=chunk, workers=workers, progress=lines)
            lines.done()
        elif size >= 50_000 and bar_ok:
            from rich.progress import Progress

            with Progress(transient=True, console=_stderr_console()) as bar:
                task = bar.add_task("auditing entries", total=size)
                report = led.audit(chunk=chunk, workers=workers,
                                   progress=lambda done, _t: bar.update(task, completed=done))
        else:
            report = led.audit(chunk=chunk, workers=workers)
        files = None
        if not entries_only:
            d = led.config.data_dir if led.config else resolve_data_dir(data_dir)
            try:
                store = load_settings(d, blob_store=blob_store).open_store()
            except (SettingsError, ValueError, OSError, ImportError) as e:
                fail(f"blob store: {e}", as_json=as_json)
            if bar_ok:
                from rich.progress import (
                    BarColumn,
                    DownloadColumn,
                    Progress,
                    TimeRemainingColumn,
                    TransferSpeedColumn,
                )

                with Progress("{task.description}", BarColumn(), DownloadColumn(),
                              TransferSpeedColumn(), TimeRemainingColumn(), transient=True,
                              console=_stderr_console()) as bar:
                    task = bar.add_task("hashing stored files", total=None)
                    files = audit_files(led.engine, store, threads=threads,
                                        progress=lambda done, total: bar.update(
                                            task, completed=done, total=total))
            else:
                files = audit_files(led.engine, store, threads=threads)
            if repair:  # a second copy: rebuild the bad one (docs/operations.md)
                repaired, errors = repair_report(led, store, files)
                for err in errors:
                    click.echo(f"warning: not repaired: {err}", err=True)
            alerts = FixityAlerts(d / "fixity")
            for p in files.problems:
                alerts.alert(p.state, p.sha256, evidence_ids=p.evidence_ids, where="audit",
                             detail=p.detail, to_log=False)
            try:
                alerts.record_audit({"finished_at": now(), **files.to_json()})
            except OSError as e:
                click.echo(f"warning: audit result not kept in {d / 'fixity'}: {e}", err=True)
    ok = report.ok and (files is None or files.ok)
    if as_json:
        emit_json({**report.to_json(), "ok": ok, "entries_ok": report.ok,
                   "files": None if files is None else files.to_json(),
                   **({"repaired": repaired} if repair else {})})
        sys.exit(0 if ok else 1)
    if report.ok:
        click.echo(f"OK: {report.size} entries, {report.nodes_checked} nodes, "
                   f"{report.checkpoints_checked} checkpoints; root {report.root}")
    else:
        click.echo(f"FAILED at seq {report.first_bad_seq}: {report.reason}", err=True)
    for r in repaired:
        click.echo(f"REPAIRED: file {r['sha256']}: the {r['copy']} copy was {r['problem']}; "
                   f"rebuilt from the other (entry {r['seq']})")
    if files is not None:
        rate = files.bytes / files.seconds / 1e6 if files.seconds else 0.0
        click.echo(f"{'OK' if files.ok else 'FAILED'}: {files.files} stored files, "
                   f"{files.bytes} bytes re-hashed in {files.seconds:.2f} s "
                   f"({rate:.0f} MB/s, {files.threads} threads)"
                   + ("" if files.ok else f"; {len(files.problems)} missing or damaged"),
                   err=not files.ok)
        for p in files.problems:
            click.echo(f"  {p.state.upper()}: file {p.sha256} of "
                       f"{', '.join(p.evidence_ids)}: {p.detail}", err=True)
    sys.exit(0 if ok else 1)


def _stderr_console():  # type: ignore[no-untyped-def]
    from rich.console import Console

    return Console(stderr=True)
