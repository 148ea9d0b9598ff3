"""``evidence keygen``: a new signing key for a log, a witness or a submitter (Ed25519), or
an ML-DSA-44 key for a log's or a witness's post-quantum line."""

from __future__ import annotations

from pathlib import Path

import click

from evidence.cli.output import emit_json, fail
from evidence.ledger.keyfile import KeyFileError, write_private_key
from evidence.verify.errors import BadKey
from evidence.verify.note import ALG_COSIGNATURE_V1, ALG_ED25519, ALG_MLDSA44, generate_signer


@click.command()
@click.argument("name")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
    help="Private key file to write (default: NAME.key, with '/' replaced by '_').",
)
@click.option(
    "--witness", is_flag=True,
    help="Make a witness cosigning key (C2SP tlog-cosignature, type 0x04).",
)
@click.option(
    "--mldsa", is_flag=True,
    help="Make an ML-DSA-44 key (type 0x06, C2SP tlog-cosignature v1.1): for `evidence log "
    "key mldsa --key`; name it after the log's origin.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def keygen(name: str, output: Path | None, witness: bool, mldsa: bool, as_json: bool) -> None:
    """Create a key named NAME (Ed25519; --mldsa: ML-DSA-44); print its verifier key.

    The private key goes to a new file with mode 0600 (an existing file is
    never overwritten). Give the printed verifier key to whoever must check
    your signatures; it is safe to publish.
    """
    if witness and mldsa:
        fail("--witness and --mldsa exclude each other (an ML-DSA-44 key cosigns as it is)",
             as_json=as_json)
    alg = ALG_MLDSA44 if mldsa else ALG_COSIGNATURE_V1 if witness else ALG_ED25519
    try:
        signer = generate_signer(name, alg)
    except BadKey as e:
        fail(str(e), as_json=as_json)
    path = output or Path(name.replace("/", "_") + ".key")
    try:
        write_private_key(path, signer)
    except (KeyFileError, OSError) as e:
        fail(str(e), as_json=as_json)
    vkey = signer.verifier().to_string()
    if as_json:
        emit_json({"ok": True, "name": name, "key_file": str(path), "verifier_key": vkey,
                   "type": "ml-dsa-44" if mldsa else "cosignature/v1" if witness
                   else "ed25519"})
    else:
        click.echo(f"private key written to {path} (mode 0600; keep it secret)", err=True)
        click.echo(vkey)
