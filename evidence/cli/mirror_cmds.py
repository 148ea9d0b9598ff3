"""``evidence mirror URL``: copy a log through its C2SP tlog-tiles, verify it, serve the
copy and cosign it (c2sp.org/tlog-mirror; docs/operations.md "Running a mirror").

Exit codes with ``--once``: 0 mirrored (or nothing new), 1 refused (the log is
inconsistent; the message names what differs; nothing of it was published), 2 usage,
3 the log could not be read or the mirror's directory is damaged (try again / look).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path

import click

from evidence.cli.output import emit_json, fail
from evidence.cli.trust_options import load_policy
from evidence.ledger.keyfile import KeyFileError, read_private_key
from evidence.mirror.errors import MirrorError, MirrorRefused
from evidence.mirror.follow import follow
from evidence.mirror.mirror_dir import MirrorDir
from evidence.mirror.server import MirrorStatus, start_server
from evidence.mirror.source import TileSource
from evidence.mirror.sync import mirror_round
from evidence.verify.note import ALG_COSIGNATURE_V1, Signer


def _host_port(value: str | None) -> tuple[str, int] | None:
    if value is None:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise click.BadParameter(f"{value!r} is not HOST:PORT", param_hint="--serve")
    return host.strip("[]") or "127.0.0.1", int(port)


def _signer(key_file: Path | None) -> Signer | None:
    if key_file is None:
        return None
    try:
        signer = read_private_key(key_file)
    except KeyFileError as e:
        raise click.BadParameter(str(e), param_hint="--key") from None
    if signer.alg != ALG_COSIGNATURE_V1:
        raise click.BadParameter(f"{key_file} is not a cosignature/v1 key: make the mirror's "
                                 "key with `evidence keygen NAME --witness` (a key of its "
                                 "own, not a witness's)", param_hint="--key")
    return signer


@click.command("mirror")
@click.argument("url")
@click.option("--dir", "directory", required=True, metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="The mirror's directory: its copy of the log (tlog/) and what it pins "
                   "(mirror.json). Created if missing; resumed if not.")
@click.option("--log-key", metavar="VKEY",
              help="The log's verifier key (or a file holding it).")
@click.option("--trust", "trust_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="A trust file (evidence trust export): its log keys, instead of --log-key.")
@click.option("--trust-sha256", metavar="HEX",
              help="The trust file's SHA-256 as its publisher stated it.")
@click.option("--key", "key_file", metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="The mirror's private cosigning key (evidence keygen NAME --witness): "
                   "each checkpoint it verified is published with its cosignature.")
@click.option("--serve", "serve", metavar="HOST:PORT",
              help="Serve the copy over HTTP: /tlog/checkpoint, /tlog/tile/..., the same "
                   "under /<sha256 of the origin>/, and /mirror (status, JSON).")
@click.option("--interval", type=click.FloatRange(min=0.05), default=10.0, show_default=True,
              help="Seconds between two rounds.")
@click.option("--once", is_flag=True,
              help="One round, then exit: 0 mirrored, 1 refused, 3 unreadable.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with --once).")
def mirror_cmd(url: str, directory: Path, log_key: str | None, trust_file: str | None,
               trust_sha256: str | None, key_file: Path | None, serve: str | None,
               interval: float, once: bool, as_json: bool) -> None:
    """Mirror the log whose tiles are at URL (e.g. https://log.example/tlog/).

    Every round reads the log's checkpoint (signed by the pinned log key), its new
    entry bundles and hash tiles; checks each entry's bytes against its leaf hash and
    the chain rules, computes every tile itself and compares it with the log's, and
    checks that the new checkpoint extends the tree already mirrored. Only then is the
    checkpoint written (last), with the mirror's cosignature. A log that contradicts
    itself or the mirror (another root at a mirrored size, a rewritten entry, a tile
    that is not its leaves' hashes, a checkpoint going backwards, a bad signature) is
    refused with what differs; the mirror keeps and serves its last good state.
    """
    policy = load_policy(trust_file, trust_sha256, log_key, (), None)
    # every key of a rotated log, windowed, and a pinned ML-DSA-44 key (required on every
    # checkpoint from its first size: tests/mirror/test_mirror_mldsa.py)
    keys = [lg.verifier if lg.window is None else (lg.verifier, lg.window)
            for lg in policy.logs]
    signer = _signer(key_file)
    addr = _host_port(serve)
    if once and addr is not None:
        raise click.UsageError("--once runs one round and exits: it cannot --serve")
    try:
        source = TileSource(url)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="URL") from None
    mirror = MirrorDir(directory)
    try:
        mirror.lock()
    except MirrorError as e:
        fail(str(e), code=2, as_json=as_json)
    if once:
        _once(source, mirror, keys, signer, as_json)
        return
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    status = MirrorStatus(source=source.base,
                          mirror_key=signer.verifier().to_string() if signer else None)
    status.published(mirror.store)
    httpd = None
    if addr is not None:
        try:
            httpd = start_server(addr[0], addr[1], mirror.store, status)
        except OSError as e:
            fail(f"--serve {serve}: {e.strerror or e}", code=2)
        click.echo(f"mirror of {source.base} served on http://{serve}/tlog/", err=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        follow(source, mirror, keys, signer, status, interval=interval, stop=stop)
    finally:
        if httpd is not None:
            httpd.shutdown()
        mirror.unlock()


def _once(source: TileSource, mirror: MirrorDir, keys: list, signer: Signer | None,
          as_json: bool) -> None:
    try:
        result = mirror_round(source, mirror, keys, signer)
    except MirrorRefused as e:
        fail(f"refused ({e.kind}): {e}", code=1, as_json=as_json, kind=e.kind)
    except MirrorError as e:
        fail(str(e), code=3, as_json=as_json)
    finally:
        mirror.unlock()
    if as_json:
        emit_json({"ok": True, **result.as_dict()})
    else:
        click.echo(f"{result.origin}: {result.size_before} -> {result.size} entries, "
                   f"{len(result.written)} files written"
                   + (", cosigned" if result.cosigned else ""))
