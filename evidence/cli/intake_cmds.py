"""Evidence commands: ``evidence submit | show | receipt | purge | gc``.

Where things are: ``--data-dir``/``--db`` as for every ledger command; the blob store
``--blob-store`` (else ``$EVIDENCE_BLOB_STORE``, ``blob_store`` in config.json,
``DIR/blobs``); the size limit ``--max-file-size`` (else ``$EVIDENCE_MAX_FILE_SIZE``,
``max_file_size`` in config.json, 4 GiB). See :mod:`evidence.ledger.intake.settings`.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from typing import Any

import click

from evidence.cli.options import (
    DB_DAMAGE,
    INTAKE_ERRORS,
    intake_where_options,
    ledger_damaged,
    local_submitter,
    open_intake,
    principal_default,
    remote_options,
    remote_run,
    remote_target,
    transfer_options,
)
from evidence.cli.output import emit_json, fail
from evidence.ledger.blobs import VERIFY_FIRST_MAX, BlobNotFound
from evidence.ledger.intake import (
    DEFAULT_GC_GRACE,
    KINDS,
    Intake,
    ItemSpec,
    SubmissionRefused,
    Submitted,
    expand_each,
)
from evidence.ledger.intake.bulk import submit_each
from evidence.ledger.keyfile import KeyFileError, read_private_key
from evidence.ledger.shards import shard_holding, shard_of


def _meta(pairs: tuple[str, ...], as_json: bool) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep:
            fail(f"--meta {p!r}: expected KEY=VALUE", as_json=as_json)
        if k in out:
            fail(f"--meta {k} given twice", as_json=as_json)
        out[k] = v
    return out


def _dns(pairs: tuple[str, ...], as_json: bool) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for p in pairs:
        name, sep, file = p.partition("=")
        if not sep:
            fail(f"--dns-record {p!r}: expected NAME=FILE", as_json=as_json)
        try:
            out[name.strip().rstrip(".").lower()] = Path(file).read_text().strip()
        except (OSError, UnicodeDecodeError) as e:
            fail(f"--dns-record {name}: cannot read {file}: {e}", as_json=as_json)
    return out or None


# --- submit ----------------------------------------------------------------------------


@click.command("submit")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--case", "case", required=True, help="Case (matter) this evidence belongs to.")
@click.option("--kind", type=click.Choice(KINDS),
              help="What the evidence is (decides what metadata is extracted); required "
                   "unless --signed-statement.")
@click.option("--title", help="A short title (off-ledger, in the committed metadata).")
@click.option("--meta", "meta", multiple=True, metavar="KEY=VALUE",
              help="Your own statement about the evidence (repeatable; off-ledger).")
@click.option("--source-url", help="Where the evidence was captured (your statement).")
@click.option("--captured-at", metavar="TIME", help="When it was captured (RFC 3339; "
              "your statement: the ledger time is what is proven).")
@click.option("--sign-key", type=click.Path(dir_okay=False, path_type=Path), metavar="KEYFILE",
              help="Sign the submission with your own Ed25519 key (from `evidence keygen`).")
@click.option("--as", "--principal", "principal", metavar="ID", envvar="EVIDENCE_PRINCIPAL",
              help="Who submits, recorded on the ledger: a submitter principal who is a "
                   "member of the case (evidence user add, evidence case member add); env "
                   "EVIDENCE_PRINCIPAL. On a server your token says who you are.")
@click.option("--dns-record", "dns_records", multiple=True, metavar="NAME=FILE",
              help="DKIM key record for offline verification of e-mail, e.g. "
                   "s1._domainkey.example.com=record.txt (repeatable).")
@click.option("--strict-metadata", is_flag=True,
              help="Refuse a file whose metadata cannot be extracted (default: preserve it "
                   "and record the extraction error).")
@click.option("--signed-statement", "signed_statement", is_flag=True,
              help="FILE is an RFC 9943 (SCITT) signed statement: checked before anything "
                   "is stored (a tagged COSE_Sign1 naming its issuer and subject, its "
                   "signature verified with the x5chain certificate or COSE_Key it "
                   "carries), then preserved byte for byte as a document item; over HTTP "
                   "sent to POST /v1/evidence/statements (docs/api.md).")
@click.option("--each", is_flag=True,
              help="Every file, and every file under each folder, becomes its own item.")
@click.option("--workers", type=click.IntRange(1, 256), default=None,
              help="With --each: worker processes that read, hash, store and describe "
                   "files (default: one per core; 1, or fewer than 200 files: all in "
                   "this process).")
@intake_where_options
@remote_options
@transfer_options
def submit_cmd(files: tuple[Path, ...], case: str, kind: str | None, title: str | None,
               meta: tuple[str, ...], source_url: str | None, captured_at: str | None,
               sign_key: Path | None, principal: str | None, dns_records: tuple[str, ...],
               strict_metadata: bool, signed_statement: bool, each: bool,
               workers: int | None, data_dir: str | None,
               db_url: str | None, blob_store: str | None, max_file_size: str | None,
               as_json: bool, server: str | None, progress: bool | None, quiet: bool) -> None:
    """Preserve FILE... as evidence; print the evidence id, entry number, leaf hash and
    the log's signed receipt.

    Without --each the files form ONE item (a screenshot with its page source, an
    e-mail with its attachments). With --each every file (folders: recursively) is
    its own item; the end report lists what went in and what did not, and the exit
    status is non-zero if anything did not.

    With a server (--server, or `evidence login`) the files are uploaded (progress on
    stderr) and --sign-key signs there in the same command: the key stays here.
    """
    if signed_statement:
        if len(files) != 1 or kind not in (None, "document") or each or sign_key or meta \
                or source_url or captured_at or dns_records or strict_metadata:
            fail("--signed-statement takes one FILE, the statement, with --case (and "
                 "--title, --as); nothing else", as_json=as_json, code=2)
        _submit_statement(files[0], case, title, principal, data_dir, db_url, blob_store,
                          max_file_size, as_json, progress, quiet)
        return
    if kind is None:
        fail("--kind is required (or --signed-statement)", as_json=as_json, code=2)
    signer = None
    if sign_key is not None:
        try:
            signer = read_private_key(sign_key)
        except KeyFileError as e:
            fail(str(e), as_json=as_json)
    spec_kw: dict[str, Any] = dict(
        kind=kind, case=case, principal=principal, title=title,
        meta=_meta(meta, as_json), source_url=source_url, captured_at=captured_at,
        sign_key=signer, dns_records=_dns(dns_records, as_json),
        strict_metadata=strict_metadata)
    remote = remote_target(as_json)
    if remote is not None:
        _submit_remote(remote, list(files), spec_kw, each, progress, quiet, as_json)
        return
    intake = open_intake(data_dir, db_url, blob_store, max_file_size, as_json)
    with intake.ledger:
        spec_kw["principal"] = local_submitter(intake.ledger, case, principal, as_json)
        if not each:
            _submit_one(intake, ItemSpec(files=list(files), **spec_kw), as_json)
        else:
            _submit_each(intake, files, spec_kw, workers, as_json)


def _submit_statement(path: Path, case: str, title: str | None, principal: str | None,
                      data_dir: str | None, db_url: str | None, blob_store: str | None,
                      max_file_size: str | None, as_json: bool, progress: bool | None,
                      quiet: bool) -> None:
    """``--signed-statement``: the statement checked here first (a refusal stores nothing),
    then preserved as the route does (evidence/api/routers/statements.py)."""
    from evidence.ledger.intake.signed_statement import read_signed_statement
    from evidence.verify.errors import VerificationError

    try:
        data = path.read_bytes()
    except OSError as e:
        fail(f"{path}: cannot be read: {e.strerror or e}", as_json=as_json)
    try:
        statement = read_signed_statement(data)
    except VerificationError as e:
        fail(f"{path}: not registered, not a signed statement this service accepts: {e}",
             as_json=as_json)
    remote = remote_target(as_json)
    if remote is not None:
        if click.get_current_context().get_parameter_source("principal") == \
                click.core.ParameterSource.COMMANDLINE:
            fail("--as names the submitter on the local ledger; on a server your token says "
                 "who you are", as_json=as_json, code=2)
        params = {"case": case, **({"title": title} if title else {})}
        # one key for every attempt: a resend after a lost answer gets the first item's
        # answer, never a second item (docs/api.md, "SCITT signed statements")
        headers = {"Content-Type": "application/scitt-statement+cose",
                   "Idempotency-Key": f'"{uuid.uuid4()}"'}

        def run(c: Any) -> dict[str, Any]:
            return c.send("POST", "/v1/evidence/statements", params=params, body=data,
                          headers=headers).json()

        _print_submitted(remote_run(as_json, remote, run, progress=progress, quiet=quiet),
                         as_json)
        return
    intake = open_intake(data_dir, db_url, blob_store, max_file_size, as_json)
    with intake.ledger:
        who = local_submitter(intake.ledger, case, principal, as_json)
        _submit_one(intake, ItemSpec(
            files=[path], kind="document", case=case, principal=who,
            title=title or f"SCITT signed statement: {statement.subject}"[:500]), as_json)


def _submit_one(intake: Intake, spec: ItemSpec, as_json: bool) -> None:
    try:
        res = intake.submit(spec)
    except SubmissionRefused as e:
        _refused(str(e), [{"file": f.file, "reason": f.reason} for f in e.failures], as_json)
    except INTAKE_ERRORS as e:
        fail(str(e), as_json=as_json)
    _print_submitted(res.to_json(), as_json)


def _refused(error: str, failed: list[dict[str, str]], as_json: bool) -> None:
    if as_json:
        emit_json({"ok": False, "error": error, "failed": failed})
        sys.exit(1)
    for f in failed:
        click.echo(f"error: {f['file']}: {f['reason']}", err=True)
    click.echo("nothing was preserved", err=True)
    sys.exit(1)


def _print_submitted(res: dict[str, Any], as_json: bool) -> None:
    """A preserved item (``Submitted.to_json()``), the same for a local and a remote one."""
    if as_json:
        emit_json({"ok": True, **res})
        return
    for w in res["warnings"]:
        click.echo(f"warning: {w}", err=True)
    click.echo(f"preserved {res['evidence_id']}: entry {res['seq']}, leaf hash "
               f"{res['leaf_hash']}, time {res['time']}", err=True)
    click.echo(res["evidence_id"])
    click.echo(res["receipt"], nl=False)


def _submit_remote(remote: Any, files: list[Path], spec_kw: dict[str, Any], each: bool,
                   progress: bool | None, quiet: bool, as_json: bool) -> None:
    from click.core import ParameterSource

    from evidence.cli import remote_ops
    from evidence.cli.remote_client import RemoteFailure

    ctx = click.get_current_context()
    if each or ctx.get_parameter_source("workers") == ParameterSource.COMMANDLINE:
        fail("--each and --workers are for the local ledger; over HTTP submit one item per "
             "command", as_json=as_json, code=2)
    if ctx.get_parameter_source("principal") == ParameterSource.COMMANDLINE:
        fail("--as names the submitter on the local ledger; on a server your token says who "
             "you are", as_json=as_json, code=2)

    def run(c: Any) -> dict[str, Any]:
        try:
            return remote_ops.submit(
                c, files, case=spec_kw["case"], kind=spec_kw["kind"],
                title=spec_kw["title"], meta=spec_kw["meta"],
                source_url=spec_kw["source_url"], captured_at=spec_kw["captured_at"],
                signer=spec_kw["sign_key"], dns_records=spec_kw["dns_records"],
                strict_metadata=spec_kw["strict_metadata"])
        except RemoteFailure as e:
            if e.code == "submission-refused":
                _refused(str(e), [{"file": f.get("field", ""), "reason": f.get("reason", "")}
                                  for f in e.extra.get("failures", [])], as_json)
            raise

    _print_submitted(remote_run(as_json, remote, run, progress=progress, quiet=quiet),
                     as_json)


def _submit_each(intake: Intake, paths: tuple[Path, ...], spec_kw: dict[str, Any],
                 workers: int | None, as_json: bool) -> None:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    found = list(expand_each(paths))
    skipped = [(p, r) for p, r in found if r is not None]
    todo = [p for p, r in found if r is None]
    ok: list[tuple[Path, Submitted]] = []
    bad: list[tuple[Path, str]] = [(p, r) for p, r in skipped if r is not None]
    # workers start now, before the progress bar's thread (so they can be forked)
    results = submit_each(intake, todo, spec_kw, workers=workers)
    console = Console(stderr=True)
    progress = Progress(TextColumn("submitting"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[failed]} failed"), TimeRemainingColumn(),
                        console=console, transient=False, disable=not console.is_terminal)
    with progress:
        task = progress.add_task("submit", total=len(todo), failed=len(bad))
        for spec, res in results:
            path = Path(spec.files[0])
            if isinstance(res, Submitted):
                ok.append((path, res))
                if not as_json:  # one line per acknowledged (durable) item, as it happens
                    sys.stdout.write(f"ok {res.evidence_id} {res.seq} {res.leaf_hash} "
                                     f"{os.fsdecode(path)}\n")
                    sys.stdout.flush()
            else:
                reason = ("; ".join(f.reason for f in res.failures)
                          if isinstance(res, SubmissionRefused) else str(res))
                bad.append((path, reason))
            progress.update(task, advance=1, failed=len(bad))
    if as_json:
        emit_json({"ok": not bad,
                   "submitted": [{"file": str(p), **r.to_json()} for p, r in ok],
                   "failed": [{"file": str(p), "reason": r} for p, r in bad]})
    else:
        click.echo(f"{len(ok)} item(s) preserved, {len(bad)} file(s) not", err=True)
        for p, r in bad:
            click.echo(f"not preserved: {p}: {r}", err=True)
        for _p, res in ok:
            for w in res.warnings:
                click.echo(f"warning: {w}", err=True)
    if bad:
        sys.exit(1)


# --- show / receipt -------------------------------------------------------------------------


@click.command("show")
@click.argument("evidence_id")
@click.option("--verify", is_flag=True,
              help="Re-hash every file (files up to 8 MiB are always re-hashed; on a "
                   "server: every file is downloaded and re-hashed here).")
@click.option("--save", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Also write the item's files into DIR, each checked against its "
                   "preserved SHA-256 first (on a server: downloaded, resumed if cut off).")
@intake_where_options
@remote_options
@transfer_options
def show_cmd(evidence_id: str, verify: bool, save: Path | None, data_dir: str | None,
             db_url: str | None, blob_store: str | None, max_file_size: str | None,
             as_json: bool, server: str | None, progress: bool | None, quiet: bool) -> None:
    """Show an evidence item: files (each checked against its preserved SHA-256),
    metadata, receipt, custody entries. On a server the view is recorded as an access
    (it is in the custody entries it shows)."""
    if save is not None:
        try:
            save.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            fail(f"--save {save}: {e}", as_json=as_json)
    remote = remote_target(as_json)
    if remote is not None:
        from evidence.cli import remote_ops

        info = remote_run(as_json, remote, lambda c: remote_ops.show(
            c, evidence_id, verify=verify, save=save), progress=progress, quiet=quiet)
        _print_show(info, as_json)
        return
    try:
        intake = open_intake(data_dir, db_url, blob_store, max_file_size, as_json,
                         read_only=True)
        held = shard_holding(intake.ledger, evidence_id)  # an item of a frozen shard
        frozen_shard = None
        if held is not intake.ledger:
            intake = Intake(held, intake.store)
            frozen_shard = (shard_of(held) or {}).get("n")
        with intake.ledger:
            try:
                info = intake.show(evidence_id)
                info["frozen_shard"] = frozen_shard  # as GET /v1/evidence/{id} says it
                if info["status"] != "purged":
                    known = _known_damage(intake)
                    for f in info["files"]:
                        f["fixity"] = _file_fixity(intake, f, verify)
                        if f["fixity"] == "unchecked" and f["sha256"] in known:
                            f["fixity"] = known[f["sha256"]]  # found by the audit
                    if save is not None:
                        for f in info["files"]:
                            _save_local(intake, f, save)
            except INTAKE_ERRORS as e:
                fail(str(e), as_json=as_json)
    except DB_DAMAGE as e:
        ledger_damaged(e, as_json)
    _print_show(info, as_json)


def _save_local(intake: Intake, f: dict[str, Any], folder: Path) -> None:
    """Write a stored file into ``folder`` by way of a ``.part`` file, only once its bytes
    hashed to the preserved SHA-256 (the store checks as it reads)."""
    dest = folder / f["name"]
    part = dest.with_name(dest.name + ".part")
    try:
        with open(part, "wb") as out:
            for chunk in intake.store.iter_verified(f["sha256"]):
                out.write(chunk)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)


def _print_show(info: dict[str, Any], as_json: bool) -> None:
    """An item (``Intake.show`` with each file's fixity), the same for local and remote."""
    if as_json:
        emit_json(info)
        return
    click.echo(f"{info['evidence_id']}  ({info['status']})")
    click.echo(f"  kind {info['kind']}, case {info['case']}, submitted by {info['principal']}")
    click.echo(f"  entry {info['seq']} at {info['time']}, leaf hash {info['leaf_hash']}"
               + (f" (in the log of frozen shard {info['frozen_shard']})"
                  if info.get("frozen_shard") is not None else ""))
    for f in info["files"]:
        fx = f.get("fixity")
        where = "purged" if info["status"] == "purged" else (
            "MISSING: run `evidence audit`" if fx == "missing" else
            "DAMAGED: its bytes no longer match the SHA-256; run `evidence audit`"
            if fx == "damaged" else
            "stored, re-hashed: intact" if fx == "ok" else
            "stored, size matches (not re-hashed: --verify)")
        click.echo(f"  file {f['name']} ({f['media_type']}, {f['size']} bytes) "
                   f"sha256 {f['sha256']} [{where}]")
    click.echo(f"  metadata commitment {info['metadata_commitment']}"
               + ("" if info["commitment_opens"] is None else
                  " (opens with the stored salt)" if info["commitment_opens"] else
                  " (DOES NOT OPEN: run `evidence audit`)"))
    if info["metadata"] is not None:
        m = info["metadata"]
        click.echo(f"  title {m.get('title')!r}; stated {m.get('stated')}")
        for err in m.get("extraction_errors") or []:
            click.echo(f"  metadata not extracted from {err['file']}: {err['reason']}")
    if info["submitter_key"]:
        click.echo(f"  signed by submitter {info['submitter_key']}")
    for ev in info["custody"]:
        click.echo(f"  custody: entry {ev['seq']} {ev['type']} at {ev['time']}")


def _known_damage(intake: Intake) -> dict[str, str]:
    """Files the last full audit pass, or an alert since, found missing or damaged."""
    from evidence.ledger.blobs.fixity import FixityAlerts

    cfg = intake.ledger.config
    return {} if cfg is None else FixityAlerts(cfg.data_dir / "fixity").summary()["known"]


def _file_fixity(intake: Intake, f: dict[str, Any], verify: bool) -> str:
    """``ok``, ``damaged``, ``missing`` or ``unchecked`` (a large file, no --verify)."""
    from evidence.ledger.audit.files import check_file

    store = intake.store
    try:
        size = store.size(f["sha256"])
    except BlobNotFound:
        return "missing"
    if size != f["size"]:
        return "damaged"
    if not verify and size > VERIFY_FIRST_MAX:
        return "unchecked"
    state, _detail, _n = check_file(store, f["sha256"], f["size"])
    return state or "ok"


@click.command("receipt")
@click.argument("evidence_id")
@intake_where_options
@remote_options
@click.option("--tlog-proof", "tlog_proof", metavar="FILE", is_flag=False, flag_value="-",
              default=None,
              help="Write the item's C2SP tlog-proof@v1 file (to the newest checkpoint the "
                   "witness quorum cosigned, else the latest) to FILE, or stdout without one.")
@click.option("--cose", "cose_file", metavar="FILE", type=click.Path(dir_okay=False),
              default=None,
              help="Write a COSE receipt of inclusion (RFC 9942, signed by the log key) to "
                   "FILE ('-': stdout).")
@click.option("--tree-size", type=click.IntRange(min=1), default=None,
              help="With --cose: the tree size to prove to (default: the latest "
                   "checkpoint's).")
@click.option("--witnessed", is_flag=True,
              help="Prove to the newest checkpoint the witness quorum cosigned, with its "
                   "cosignatures (what verify-receipts --trust with a quorum accepts).")
def receipt_cmd(evidence_id: str, data_dir: str | None, db_url: str | None,
                blob_store: str | None, max_file_size: str | None, as_json: bool,
                server: str | None, tlog_proof: str | None, cose_file: str | None,
                tree_size: int | None, witnessed: bool) -> None:
    """Print an item's signed receipt and, once a checkpoint covers its entry, the
    inclusion proof to the latest checkpoint and that checkpoint (the full proof).

    --tlog-proof and --cose write the proof in a standard format instead (docs/formats.md,
    "tlog-proof files" and "COSE receipts"); a note on stderr says which checkpoint."""
    if tree_size is not None and cose_file is None:
        fail("--tree-size is for --cose", as_json=as_json, code=2)
    remote = remote_target(as_json)
    if remote is not None:
        from evidence.cli import remote_ops

        if tlog_proof is not None or cose_file is not None:
            _remote_proof_files(remote, evidence_id, tlog_proof, cose_file, tree_size,
                                as_json)
            return
        _print_receipt(remote_run(as_json, remote, lambda c: remote_ops.receipt(
            c, evidence_id, witnessed)), as_json, witnessed)
        return
    intake = open_intake(data_dir, db_url, blob_store, max_file_size, as_json, read_only=True)
    with intake.ledger:
        try:
            r = intake.receipt(evidence_id)
            if tlog_proof is not None or cose_file is not None:
                _local_proof_files(intake, r, tlog_proof, cose_file, tree_size, as_json)
                return
            if witnessed:
                r = _witnessed(intake, r, as_json)
        except INTAKE_ERRORS as e:
            fail(str(e), as_json=as_json)
    _print_receipt(r, as_json, witnessed)


def _witnessed(intake: Intake, r: dict[str, Any], as_json: bool) -> dict[str, Any]:
    from evidence.ledger.anchor.base import AnchorFailed
    from evidence.ledger.anchor.config import AnchorConfigError, load_anchor_config
    from evidence.ledger.anchor.witnessed import witnessed_receipt

    led = intake.ledger
    try:
        cfg = load_anchor_config(led.config.data_dir) if led.config else None
        if cfg is None:
            raise AnchorFailed("no data directory: no anchors.json names the witnesses")
        return witnessed_receipt(r, led, cfg)
    except (AnchorConfigError, AnchorFailed) as e:
        where = "anchors.json: " if isinstance(e, AnchorConfigError) else ""
        fail(f"{where}{e}", as_json=as_json)
        raise SystemExit(1) from None  # fail() has exited; this line keeps the type honest


def _write(target: str, data: bytes) -> None:
    if target == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        Path(target).write_bytes(data)


def _local_proof_files(intake: Intake, r: dict[str, Any], tlog_proof: str | None,
                       cose_file: str | None, tree_size: int | None, as_json: bool) -> None:
    from evidence.ledger.anchor.config import AnchorConfigError, load_anchor_config
    from evidence.ledger.cose import cose_receipt, log_signer
    from evidence.ledger.errors import LedgerError
    from evidence.ledger.tlog_proof import proof_file

    led = intake.ledger
    if tlog_proof is not None:
        try:
            cfg = load_anchor_config(led.config.data_dir) if led.config else None
        except AnchorConfigError as e:
            fail(f"anchors.json: {e}", as_json=as_json)
        pf = proof_file(r, led, cfg)
        if pf.text is None:
            fail(pf.note, as_json=as_json)
        _write(tlog_proof, pf.text.encode())
        click.echo(f"tlog-proof: {pf.note}", err=True)
    if cose_file is not None:
        try:
            data = cose_receipt(led, log_signer(led), int(r["seq"]), tree_size,
                                subject=r["evidence_id"])
        except LedgerError as e:
            fail(str(e), as_json=as_json)
        _write(cose_file, data)
        click.echo(f"COSE receipt: entry {r['seq']}, {len(data)} bytes", err=True)


def _remote_proof_files(remote: Any, evidence_id: str, tlog_proof: str | None,
                        cose_file: str | None, tree_size: int | None, as_json: bool) -> None:
    from urllib.parse import quote

    base = f"/v1/evidence/{quote(evidence_id, safe='')}"

    def fetch(c: Any) -> None:
        if tlog_proof is not None:
            a = c.send("GET", base + "/receipt.tlog-proof")
            _write(tlog_proof, a.body)
            witnessed = a.headers.get("evidence-proof-witnessed", "").lower() == "true"
            click.echo("tlog-proof: " + ("proven to a checkpoint the witness quorum "
                                         "cosigned" if witnessed else
                                         "proven to the latest checkpoint, not witnessed"),
                       err=True)
        if cose_file is not None:
            params = {} if tree_size is None else {"size": tree_size}
            a = c.send("GET", base + "/receipt.cose", params=params)
            _write(cose_file, a.body)
            click.echo(f"COSE receipt: {len(a.body)} bytes", err=True)

    remote_run(as_json, remote, fetch)


def _print_receipt(r: dict[str, Any], as_json: bool, witnessed: bool = False) -> None:
    if as_json:
        emit_json(r)
        return
    click.echo(r["receipt"], nl=False)
    if r["checkpoint"] is None:
        click.echo("no checkpoint the witness quorum cosigned covers this entry yet: wait "
                   "for anchoring, then ask again" if witnessed else
                   "no checkpoint covers this entry yet: run `evidence log checkpoint` "
                   "or wait, then ask again", err=True)
        return
    p = r["inclusion_proof"]
    click.echo(f"\ninclusion proof of entry {p['index']} in tree size {p['tree_size']}:")
    for h in p["proof"]:
        click.echo(h)
    click.echo(f"\nroot {p['root']}, checkpoint:\n")
    click.echo(r["checkpoint"], nl=False)


# --- purge / gc ------------------------------------------------------------------------------


@click.command("purge")
@click.argument("evidence_id")
@click.option("--reason", required=True,
              help="Why (court order, data-protection request). PUBLIC: it goes on the ledger.")
@click.option("--principal", metavar="ID", envvar="EVIDENCE_PRINCIPAL",
              help="Who purges (on the ledger; default local:<user>).")
@intake_where_options
def purge_cmd(evidence_id: str, reason: str, principal: str | None, data_dir: str | None,
              db_url: str | None, blob_store: str | None, max_file_size: str | None,
              as_json: bool) -> None:
    """Delete an item's files and metadata; keep its entry; append evidence.purged."""
    intake = open_intake(data_dir, db_url, blob_store, max_file_size, as_json)
    with intake.ledger:
        try:
            p = intake.purge(evidence_id, reason, principal or principal_default())
        except INTAKE_ERRORS as e:
            fail(str(e), as_json=as_json)
    if as_json:
        emit_json({"ok": True, "evidence_id": p.evidence_id, "seq": p.seq,
                   "leaf_hash": p.leaf_hash, "receipt": p.receipt,
                   "deleted_blobs": list(p.deleted_blobs), "kept_blobs": list(p.kept_blobs)})
        return
    click.echo(f"purged {p.evidence_id}: entry {p.seq} (evidence.purged); "
               f"{len(p.deleted_blobs)} file(s) deleted, {len(p.kept_blobs)} kept "
               "(held by another item)", err=True)
    click.echo(p.receipt, nl=False)


@click.command("gc")
@click.option("--grace", type=click.FloatRange(min=0), default=DEFAULT_GC_GRACE,
              show_default=True, help="Keep unreferenced blobs younger than this (seconds).")
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
@intake_where_options
def gc_cmd(grace: float, dry_run: bool, data_dir: str | None, db_url: str | None,
           blob_store: str | None, max_file_size: str | None, as_json: bool) -> None:
    """Delete blobs that no live item holds (left by a crash or an interrupted purge)."""
    intake = open_intake(data_dir, db_url, blob_store, max_file_size, as_json, read_only=True)
    with intake.ledger:
        try:
            r = intake.gc(grace, dry_run=dry_run)
        except INTAKE_ERRORS as e:
            fail(str(e), as_json=as_json)
    if as_json:
        emit_json({"ok": True, "examined": r.examined, "deleted": list(r.deleted),
                   "kept_young": r.kept_young, "temp_removed": r.temp_removed,
                   "idempotency_keys_expired": r.keys_expired, "dry_run": dry_run})
        return
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{r.examined} blob(s) examined, {verb} {len(r.deleted)}, "
               f"{r.kept_young} unreferenced but younger than {grace:g} s kept, "
               f"{r.temp_removed} temporary file(s) removed, {verb} "
               f"{r.keys_expired} expired idempotency key(s)")
    for sha in r.deleted:
        click.echo(sha)
