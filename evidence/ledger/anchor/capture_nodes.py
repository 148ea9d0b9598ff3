"""The capture nodes a trust file pins (``#@ capture-node <name> <vkey>``).

A court checks a web capture's manifest signature against the capture-node keys in the
trust file it pinned, so the trust file has to list every key this service may sign
captures with: its own node's (``$EVIDENCE_CAPTURE_KEY``, else ``DIR/capture-node.key``, used by
``evidence capture`` and the capture API)
and every remote node it accepts results from (``DIR/capture-nodes``, one
``<name> <principal> <vkey>`` a line, ``#`` comments; the API reads the same file).
Read here, in the ledger layer, so that ``evidence trust export``, ``GET /v1/log/trust``
and ``evidence serve``'s printed fingerprint stay the same bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

from evidence.verify.errors import BadKey
from evidence.verify.note import ALG_ED25519, parse_verifier_key
from evidence.verify.trust import CaptureNode

OWN_KEY = "capture-node.key"
NODES_FILE = "capture-nodes"
KEY_ENV = "EVIDENCE_CAPTURE_KEY"


def own_key_path(data_dir: Path) -> Path:
    """Where the service's own capture key is: ``$EVIDENCE_CAPTURE_KEY``, else
    ``DIR/capture-node.key``. One rule for the capture API, ``evidence capture`` and the
    trust file, so that the key captures are signed with is the key the court pins."""
    return Path(os.environ.get(KEY_ENV) or Path(data_dir) / OWN_KEY)


def pinned_capture_nodes(data_dir: Path) -> tuple[CaptureNode, ...]:
    """The service's own capture node first (named by its key's name), then the listed
    nodes in the file's order; a key listed twice is pinned once. Raises ValueError
    naming the file and line for anything that cannot be pinned as it stands (a wrong
    pin would make a court reject good captures or accept a node nobody vouched for)."""
    from evidence.ledger.keyfile import KeyFileError, read_private_key

    out: list[CaptureNode] = []
    own = own_key_path(data_dir)
    if own.exists():
        try:
            signer = read_private_key(own)
        except KeyFileError as e:
            raise ValueError(f"capture-node key: {e}") from None
        if signer.alg != ALG_ED25519:
            raise ValueError(f"{own}: a capture-node key must be a plain Ed25519 key")
        out.append(CaptureNode(signer.name, signer.verifier()))
    listed = Path(data_dir) / NODES_FILE
    try:
        text = listed.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot read {listed}: {e}") from None
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split("#", 1)[0].split()
        if not parts:
            continue
        if len(parts) != 3:
            raise ValueError(f"{listed} line {n}: expected NAME PRINCIPAL VKEY")
        try:
            v = parse_verifier_key(parts[2])
        except BadKey as e:
            raise ValueError(f"{listed} line {n}: {e}") from None
        if any(c.verifier.to_string() == v.to_string() for c in out):
            continue
        if any(c.name == parts[0] for c in out):
            raise ValueError(f"{listed} line {n}: a second capture node named {parts[0]!r}")
        out.append(CaptureNode(parts[0], v))
    return tuple(out)
