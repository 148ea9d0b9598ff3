"""``evidence witness init | add-log | keys | info | serve``: a witness that cosigns checkpoints.

A witness (another court, a notary, a trade body) keeps its own Ed25519
cosigning key and, per followed log, the latest checkpoint it cosigned. It
implements c2sp.org/tlog-witness ``add-checkpoint``; see docs/operations.md,
"Witness".
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from evidence.cli.output import emit_json, fail
from evidence.ledger.keyfile import KeyFileError
from evidence.verify.errors import MalformedInput
from evidence.verify.note import (
    ALG_COSIGNATURE_V1,
    ALG_MLDSA44,
    MAX_NOTE_SIZE,
    parse_verifier_key,
)
from evidence.witness.cosigner import Witness, WitnessError
from evidence.witness.store import StoreError

_dir_option = click.option("--dir", "directory", required=True, metavar="DIR",
                           type=click.Path(file_okay=False, path_type=Path),
                           help="The witness directory (key and state).")
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _open(directory: Path, as_json: bool) -> Witness:
    try:
        return Witness.open(directory)
    except (WitnessError, StoreError, KeyFileError) as e:
        fail(str(e), as_json=as_json)
        raise  # unreachable: fail exits


@click.group()
def witness() -> None:
    """Run a witness: cosign a log's checkpoints, refuse forks and rollbacks."""


@witness.command("init")
@_dir_option
@click.option("--name", required=True,
              help="The witness's key name, e.g. witness.court.example/w1 (no spaces or '+').")
@click.option("--mldsa", is_flag=True,
              help="An ML-DSA-44 (post-quantum, type 0x06) cosigning key, as C2SP "
              "tlog-cosignature v1.1 recommends, instead of Ed25519 (0x04).")
@_json_option
def init_cmd(directory: Path, name: str, mldsa: bool, as_json: bool) -> None:
    """Create a witness in DIR: a new cosigning key (mode 0600) and an empty state.

    Prints the witness's verifier key: give it to the log operators and to
    whoever checks cosigned checkpoints. Refuses if DIR already holds a witness.
    """
    try:
        w = Witness.init(directory, name, ALG_MLDSA44 if mldsa else ALG_COSIGNATURE_V1)
    except (WitnessError, StoreError, KeyFileError, OSError) as e:
        fail(str(e), as_json=as_json)
    if as_json:
        emit_json({"ok": True, "name": w.name, "verifier_key": w.verifier_key,
                   "dir": str(directory)})
    else:
        click.echo(f"witness {w.name} created in {directory} (key file mode 0600)", err=True)
        click.echo(w.verifier_key)


@witness.command("add-log")
@_dir_option
@click.option("--origin", required=True, help="The log's origin (first checkpoint line).")
@click.option("--key", "keys", multiple=True, required=True, metavar="VKEY",
              help="The log's verifier key (name+keyid+base64). Repeat for several: "
                   "Ed25519 keys (any one signing is enough, as during a rotation) and the "
                   "log's ML-DSA-44 key (0x06; then required on every checkpoint).")
@click.option("--checkpoint", "checkpoint_file", metavar="FILE",
              type=click.Path(dir_okay=False, allow_dash=True),
              help="A signed checkpoint of the log you trust (obtained out of band) to "
                   "start from, instead of trusting the first one the log sends.")
@click.option("--qpd", type=click.IntRange(min=1), default=None, metavar="N",
              help="Allow the log at most N add-checkpoint requests a day (default: no "
                   "limit); more are refused with 429.")
@_json_option
def add_log_cmd(directory: Path, origin: str, keys: tuple[str, ...],
                checkpoint_file: str | None, qpd: int | None, as_json: bool) -> None:
    """Follow a log: pin its origin and verifier key(s)."""
    w = _open(directory, as_json)
    try:
        verifiers = [parse_verifier_key(k) for k in keys]
    except MalformedInput as e:
        fail(f"bad --key: {e}", code=2, as_json=as_json)
    note = None
    if checkpoint_file is not None:
        try:
            if checkpoint_file == "-":
                data = sys.stdin.buffer.read(MAX_NOTE_SIZE + 1)
            else:
                with Path(checkpoint_file).open("rb") as f:
                    data = f.read(MAX_NOTE_SIZE + 1)
            note = data.decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            fail(f"cannot read {checkpoint_file}: {e}", code=2, as_json=as_json)
    try:
        rec = w.add_log(origin, verifiers, note, qpd=qpd)
    except WitnessError as e:
        fail(str(e), as_json=as_json)
    if as_json:
        emit_json({"ok": True, "origin": rec.origin, "keys": [k.to_string() for k in rec.keys],
                   "size": rec.size, "root": rec.root.hex(), "qpd": qpd})
    else:
        click.echo(f"following {rec.origin} from size {rec.size}")


@witness.command("keys")
@_dir_option
@click.option("--origin", required=True, help="The followed log's origin.")
@click.option("--add", "add", multiple=True, metavar="VKEY",
              help="Pin this key of the log too (repeatable): its new Ed25519 key after a "
                   "rotation, or its ML-DSA-44 key (then required on every checkpoint).")
@click.option("--drop", "drop", multiple=True, metavar="VKEY",
              help="Unpin this key (repeatable): a key the log revoked or retired.")
@_json_option
def keys_cmd(directory: Path, origin: str, add: tuple[str, ...], drop: tuple[str, ...],
             as_json: bool) -> None:
    """Change the keys pinned for a followed log; its latest checkpoint stays."""
    w = _open(directory, as_json)
    try:
        adding = [parse_verifier_key(k) for k in add]
        dropping = [parse_verifier_key(k) for k in drop]
    except MalformedInput as e:
        fail(f"bad key: {e}", code=2, as_json=as_json)
    try:
        rec = w.change_keys(origin, add=adding, drop=dropping)
    except WitnessError as e:
        fail(f"{e}; nothing changed", as_json=as_json)
    pinned = [k.to_string() for k in rec.keys]
    if as_json:
        emit_json({"ok": True, "origin": rec.origin, "keys": pinned, "size": rec.size})
    else:
        click.echo(f"{rec.origin}: {len(pinned)} key(s) pinned, from size {rec.size}")
        for k in pinned:
            click.echo(f"  {k}")


@witness.command("info")
@_dir_option
@_json_option
def info_cmd(directory: Path, as_json: bool) -> None:
    """Show the witness's verifier key and the logs it follows."""
    info = _open(directory, as_json).info()
    if as_json:
        emit_json({"ok": True, **info})
        return
    click.echo(info["verifier_key"])
    for lg in info["logs"]:
        budget = f" qpd {lg['qpd']}" if lg.get("qpd") else ""
        listed = f" (from {lg['listed_in']})" if lg.get("listed_in") else ""
        click.echo(f"{lg['origin']}: size {lg['size']} root {lg['root']}{budget}{listed}")


@witness.command("serve")
@_dir_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=7380, show_default=True, type=click.IntRange(0, 65535),
              help="TCP port to listen on.")
@click.option("--log-list", "log_lists", multiple=True, metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="A witness-network.org log list (logs/v0): follow every new log it names, "
                   "with its qpd. Read again when it changes and on SIGHUP; a log already "
                   "followed is never removed or changed by a list. Repeat for several.")
def serve_cmd(directory: Path, host: str, port: int, log_lists: tuple[Path, ...]) -> None:
    """Serve c2sp.org/tlog-witness: POST /add-checkpoint, GET /info.

    Every refusal is logged (kind and reason) and answered in plain text.
    """
    import signal

    import uvicorn

    from evidence.witness.app import create_app
    from evidence.witness.lists import ListWatcher

    w = _open(directory, False)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    watcher = None
    if log_lists:
        watcher = ListWatcher(w, list(log_lists))
        for r in watcher.reports:
            click.echo(f"log list {r.path}: " + (r.error or f"{len(r.added)} log(s) added, "
                                                 f"{r.already} already followed"), err=True)
        watcher.start()
        signal.signal(signal.SIGHUP, lambda *_: watcher.wake())
    click.echo(f"witness {w.name} on http://{host}:{port}/ ({w.verifier_key})", err=True)
    try:
        uvicorn.run(create_app(w), host=host, port=port, log_level="info", access_log=True)
    finally:
        if watcher is not None:
            watcher.close()
