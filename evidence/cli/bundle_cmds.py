"""Bundle commands: ``evidence export`` and ``evidence verify`` (docs/bundle.md).

``evidence verify`` works offline with nothing but the bundle and the keys it is
given: no database, no configuration, no network (unless ``--online`` with
``--log-url``, to fetch the log's newest checkpoint and a consistency proof).
It exits 0 only when every required check passed.
"""

from __future__ import annotations

import json
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import click

from evidence.cli.main import cli
from evidence.cli.output import emit_json, fail
from evidence.cli.trust_options import pinned_key_options, pinned_keys
from evidence.verify.bundle import (
    BundleReport,
    NewerCheckpoint,
    TrustRoots,
    file_digest,
    find_file,
    verify_bundle,
)
from evidence.verify.errors import MalformedInput, VerificationError

# Where a log publishes its newest checkpoint and consistency proofs (the HTTP API,
# issue 6). Relative to --log-url.
CHECKPOINT_PATH = "v1/log/checkpoint"
CONSISTENCY_PATH = "v1/log/proof/consistency?size1={old}&size2={new}"
MAX_FETCH = 1 << 20


# --- export ---------------------------------------------------------------------------------


@cli.command("export")
@click.argument("evidence_id")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False),
              help="The bundle file to write (.zip).")
@click.option("--checkpoint", "checkpoint_size", type=click.IntRange(min=1),
              help="Prove to the stored checkpoint of this size (default: the newest "
                   "timestamped one that covers every entry).")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@click.option("--provisional", is_flag=True,
              help="If the checkpoint is not anchored yet (no RFC 3161 timestamp, or not "
                   "the witness quorum), write a bundle marked provisional (no proof of "
                   "time) instead of refusing.")
@click.option("--blob-store", metavar="URL", help="Blob store (default: the ledger's).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--db", "db_url", metavar="URL", envvar="EVIDENCE_DB_URL", help="Database URL.")
@click.option("--data-dir", metavar="DIR", envvar="EVIDENCE_DATA_DIR",
              help="Ledger data directory (default ./evidence-data).")
def export_cmd(evidence_id: str, output: str, checkpoint_size: int | None, force: bool,
               provisional: bool, blob_store: str | None, as_json: bool, db_url: str | None,
               data_dir: str | None) -> None:
    """Write the evidence bundle of EVIDENCE_ID: files, entries, proofs, checkpoint,
    timestamps, cosignatures, metadata, report and the stand-alone verifier, in one ZIP.

    Refuses (exit status 1, nothing written) while the checkpoint that covers the item
    has no RFC 3161 timestamp or not the configured witness quorum: such a bundle could
    never pass. Run `evidence anchor` and export again, or use --provisional."""
    from evidence.ledger.bundle.export import NotAnchoredYet, export_bundle
    from evidence.ledger.bundle.writer import BundleWriteError
    from evidence.ledger.errors import LedgerError
    from evidence.ledger.intake.settings import load_settings
    from evidence.ledger.log import Ledger

    try:
        led = Ledger.open(data_dir, db_url, read_only=True)
    except LedgerError as e:
        fail(str(e), as_json=as_json)
    try:
        cfg = led.config
        store = load_settings(cfg.data_dir if cfg else Path(data_dir or "."),
                              blob_store=blob_store).open_store()
        r = export_bundle(led, store, evidence_id, output, checkpoint_size=checkpoint_size,
                          overwrite=force, provisional=provisional)
    except NotAnchoredYet as e:
        fail(f"not anchored yet: {e}", as_json=as_json, code=1, not_anchored_yet=True,
             checkpoint_size=e.checkpoint_size, missing=list(e.missing),
             retry_after=e.retry_after)
    except (LedgerError, BundleWriteError, OSError, ValueError) as e:
        fail(str(e), as_json=as_json)
    finally:
        led.close()
    if as_json:
        emit_json(r.to_json())
        return
    for w in r.warnings:
        click.echo(f"warning: {w}", err=True)
    click.echo(f"wrote {r.path} ({r.size} bytes): {len(r.entries)} entries proven to the "
               f"checkpoint of size {r.checkpoint_size}, {r.timestamps} timestamp(s), "
               f"{r.cosignatures} cosignature(s){', purged item' if r.purged else ''}"
               f"{', PROVISIONAL: no proof of time' if r.provisional else ''}")


# --- verify ---------------------------------------------------------------------------------


def _fetch(url: str) -> bytes:
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise click.UsageError(f"--log-url must be http(s), not {scheme or 'a path'}")
    with urllib.request.urlopen(url, timeout=20) as resp:
        data = resp.read(MAX_FETCH + 1)
    if len(data) > MAX_FETCH:
        raise click.UsageError(f"{url} answered with more than {MAX_FETCH} bytes")
    return data


def _newer(newer_checkpoint: str | None, consistency_file: str | None, log_url: str | None,
           online: bool, bundle_size: int | None) -> NewerCheckpoint | None:
    if log_url and (newer_checkpoint or consistency_file):
        raise click.UsageError("give --newer-checkpoint/--consistency-proof or --log-url, "
                               "not both")
    if newer_checkpoint or consistency_file:
        if not (newer_checkpoint and consistency_file):
            raise click.UsageError("--newer-checkpoint needs --consistency-proof (and back)")
        note = Path(newer_checkpoint).read_bytes()[:MAX_FETCH + 1]
        try:
            proof = json.loads(Path(consistency_file).read_bytes()[:MAX_FETCH + 1])
        except ValueError:
            proof = None
        return NewerCheckpoint(note, proof, source=Path(newer_checkpoint).name)
    if log_url:
        if not online:
            raise click.UsageError("--log-url fetches from the network: add --online to allow "
                                   "it (verification is otherwise offline)")
        if bundle_size is None:
            return None  # the bundle did not get as far as its checkpoint
        base = log_url.rstrip("/") + "/"
        note = _fetch(base + CHECKPOINT_PATH)
        from evidence.verify.checkpoint import parse_checkpoint
        from evidence.verify.note import parse_note

        try:
            size = parse_checkpoint(parse_note(note).text).size
        except (VerificationError, MalformedInput):
            return NewerCheckpoint(note, None, source=log_url)
        try:
            proof = json.loads(_fetch(base + CONSISTENCY_PATH.format(old=bundle_size,
                                                                     new=size)))
        except ValueError:
            proof = None
        return NewerCheckpoint(note, proof, source=log_url)
    return None


def _print_report(report: BundleReport) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(soft_wrap=False)
    table = Table(title="Evidence bundle verification / 证据包验证", show_lines=True)
    table.add_column("check / 检查")
    table.add_column("result / 结果")
    table.add_column("reason")
    table.add_column("原因")
    for c in report.checks:
        mark = ("[green]PASS 通过[/]" if c.ok else
                "[red]FAIL 失败[/]" if c.required else "[yellow]FAIL 失败 (optional 可选)[/]")
        table.add_row(c.name, mark, c.reason, c.reason_zh)
    con.print(table, markup=True)
    if report.evidence_id:
        con.print(f"Evidence 证据: {report.evidence_id}", markup=False)
    for t in report.preserved_no_later_than:
        con.print(f"Preserved no later than {t['gen_time']} per {t['tsa']} / "
                  f"据 {t['tsa']}，不晚于 {t['gen_time']} 已保全", markup=False)
    if report.files:
        con.print("Files 文件:", markup=False)
        for f in report.files:
            state = "included 已包含" if f.get("included") else "not included 未包含"
            con.print(f"  {f['name']}  {f['size']} bytes  sha256 {f['sha256']}  ({state})",
                      markup=False)
    if report.custody:
        con.print("Custody timeline 保管时间线:", markup=False)
        for c in report.custody:
            who = c.get("principal", "")
            con.print(f"  #{c['seq']}  {c['time']}  {c['type']}  {who}", markup=False)
    if report.purged:
        con.print("The item was purged: files and metadata are gone, the hashes remain proven."
                  " / 该证据已清除：文件与元数据已删除，哈希值仍可证明。", markup=False)
    verdict = ("[green]VERIFIED: every required check passed. 验证通过：所有必要检查均已通过。[/]"
               if report.ok else
               "[red]NOT VERIFIED: a required check failed. 验证失败：有必要检查未通过。[/]")
    con.print(verdict)


@cli.command("verify")
@click.argument("path", required=False, type=click.Path(dir_okay=False, exists=True))
@click.option("--bundle", "bundle_path", type=click.Path(dir_okay=False, exists=True),
              help="Check PATH (or --hash) against this bundle: is it the preserved file?")
@click.option("--hash", "sha256_hex", metavar="HEX",
              help="With --bundle: is the file with this SHA-256 the preserved one?")
@pinned_key_options("How many pinned witnesses must have cosigned the checkpoint.")
@click.option("--tsa-ca", "tsa_cas", multiple=True, type=click.Path(dir_okay=False,
                                                                     exists=True),
              help="PEM file of a TSA root CA you trust; repeat for several.")
@click.option("--no-timestamps", is_flag=True,
              help="Do not require an RFC 3161 timestamp (the time is then not proven).")
@click.option("--newer-checkpoint", type=click.Path(dir_okay=False, exists=True),
              help="A newer checkpoint of the log (signed note): prove the entries are "
                   "still in it (with --consistency-proof).")
@click.option("--consistency-proof", type=click.Path(dir_okay=False, exists=True),
              help="JSON consistency proof from the bundle's checkpoint size to the newer "
                   "one (as `evidence log proof consistency --json`).")
@click.option("--log-url", metavar="URL", help="Fetch the newest checkpoint and the "
              "consistency proof from the log's public URL (needs --online).")
@click.option("--online", is_flag=True, help="Allow the network access --log-url needs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def verify_cmd(path: str | None, bundle_path: str | None, sha256_hex: str | None,
               log_key: str, witness_keys: tuple[str, ...], witness_quorum: int,
               tsa_cas: tuple[str, ...], no_timestamps: bool, newer_checkpoint: str | None,
               consistency_proof: str | None, log_url: str | None, online: bool,
               as_json: bool) -> None:
    """Verify an evidence bundle offline against pinned keys; every check is named.

    \b
    evidence verify BUNDLE --log-key VKEY [--tsa-ca ROOT.pem] ...
    evidence verify FILE --bundle BUNDLE --log-key VKEY ...    is FILE the preserved one?
    evidence verify --hash HEX --bundle BUNDLE --log-key VKEY ...
    """
    if bundle_path is None:
        if path is None or sha256_hex:
            raise click.UsageError("give a BUNDLE, or FILE / --hash with --bundle BUNDLE")
        bundle_path = path
        path = None
    elif (path is None) == (sha256_hex is None):
        raise click.UsageError("with --bundle, give exactly one of FILE or --hash HEX")
    if sha256_hex is not None and (len(sha256_hex.strip()) != 64 or any(
            c not in "0123456789abcdefABCDEF" for c in sha256_hex.strip())):
        raise click.BadParameter("--hash must be 64 hex digits (SHA-256)")
    log, witnesses = pinned_keys(log_key, witness_keys)
    trust = TrustRoots(log_key=log, witness_keys=witnesses, witness_quorum=witness_quorum,
                       tsa_roots=[_pem(p) for p in tsa_cas],
                       require_timestamp=not no_timestamps)

    newer = _newer(newer_checkpoint, consistency_proof, None, online, None)
    report = verify_bundle(bundle_path, trust, newer=newer)
    if log_url:
        online_newer = _newer(None, None, log_url, online, report.checkpoint_size)
        if online_newer is not None:
            report = verify_bundle(bundle_path, trust, newer=online_newer)

    match = None
    ok = report.ok
    if path is not None or sha256_hex is not None:
        if path is not None:
            with open(path, "rb") as f:
                sha256_hex = file_digest(f)
        assert sha256_hex is not None
        match = find_file(report, sha256_hex)
        ok = ok and match is not None
    if as_json:
        out: dict[str, Any] = {"ok": ok, "bundle": report.to_json()}
        if sha256_hex is not None:
            out["sha256"] = sha256_hex.strip().lower()
            out["match"] = match
        emit_json(out)
    else:
        _print_report(report)
        if sha256_hex is not None:
            what = path or sha256_hex
            if match is not None:
                click.echo(f"YES: {what} is the preserved file {match['name']!r} of "
                           f"{report.evidence_id} (SHA-256 {match['sha256']}). / "
                           f"是：该文件即为证据 {report.evidence_id} 中保全的文件"
                           f" {match['name']!r}。")
            elif report.ok:
                click.echo(f"NO: {what} (SHA-256 {sha256_hex.strip().lower()}) is not a file "
                           f"preserved in {report.evidence_id}. / "
                           "否：该文件不是本证据中保全的文件。")
            else:
                click.echo("NO ANSWER: the bundle did not verify, so it cannot vouch for any "
                           "file. / 无法回答：证据包未通过验证，不能证明任何文件。")
    sys.exit(0 if ok else 1)


def _pem(path: str) -> bytes:
    data = Path(path).read_bytes()
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise click.BadParameter(f"--tsa-ca {path}: not a PEM certificate file")
    return data
