"""``evidence note verify``: check any C2SP signed note or checkpoint against pinned keys."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from evidence.cli.output import emit_json, fail
from evidence.verify.checkpoint import parse_checkpoint
from evidence.verify.errors import MalformedInput, VerificationError
from evidence.verify.note import MAX_NOTE_SIZE, open_note, parse_verifier_key


@click.group()
def note() -> None:
    """Signed notes (C2SP signed-note): checkpoints, receipts, cosignatures."""


@note.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--key", "keys", multiple=True, required=True, metavar="VKEY",
              help="A pinned verifier key (name+keyid+base64). Repeat for several.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def verify_note(file: str, keys: tuple[str, ...], as_json: bool) -> None:
    """Verify the signed note in FILE ('-' for stdin) with the pinned keys.

    Works for notes written by other transparency-log software too (Go's
    sumdb/note, Tessera, witnesses). Exits 0 when at least one pinned key
    verified and no pinned key's signature is bad; non-zero otherwise.
    """
    try:
        verifiers = [parse_verifier_key(k) for k in keys]
    except MalformedInput as e:
        fail(f"bad --key: {e}", code=2, as_json=as_json)
    try:
        if file == "-":
            data = sys.stdin.buffer.read(MAX_NOTE_SIZE + 1)
        else:
            with Path(file).open("rb") as f:
                data = f.read(MAX_NOTE_SIZE + 1)
    except OSError as e:
        fail(f"cannot read {file}: {e.strerror}", code=2, as_json=as_json)
    try:
        opened = open_note(data, verifiers)
    except VerificationError as e:
        fail(f"note not verified: {e}", as_json=as_json, reason=type(e).__name__)
    try:
        cp = parse_checkpoint(opened.text)
        checkpoint = {"origin": cp.origin, "size": cp.size, "root": cp.root.hex(),
                      "extensions": list(cp.extensions)}
    except MalformedInput:
        checkpoint = None
    verified = [
        {"name": v.name, "key_id": f"{v.key_id:08x}", "kind": v.kind,
         **({"cosigned_at": v.cosigned_at} if v.cosigned_at is not None else {})}
        for v in opened.verified
    ]
    unverified = [{"name": s.name, "key_id": f"{s.key_id:08x}"} for s in opened.unverified]
    if as_json:
        emit_json({"ok": True, "verified": verified, "unverified": unverified,
                   "checkpoint": checkpoint})
        return
    for v in verified:
        extra = f" at {v['cosigned_at']}" if "cosigned_at" in v else ""
        click.echo(f"verified: {v['name']} ({v['key_id']}, {v['kind']}{extra})")
    for u in unverified:
        click.echo(f"ignored (key not pinned): {u['name']} ({u['key_id']})")
    if checkpoint:
        click.echo(f"checkpoint: {checkpoint['origin']} size {checkpoint['size']} "
                   f"root {checkpoint['root']}")
