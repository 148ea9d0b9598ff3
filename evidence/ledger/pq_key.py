"""The log's ML-DSA-44 key: a post-quantum signature line beside the Ed25519 one on every
checkpoint from the size its ``key.mldsa_added`` entry names (docs/formats.md
"ML-DSA-44 signatures").

The entry is the log's own statement, signed by the Ed25519 key then signing the log and
by the new ML-DSA-44 key, so an auditor derives the trust file's ``#@ log-mldsa <vkey>
<from-size>`` from the log alone, as for rotations (:mod:`evidence.ledger.log_keys`).
The key's private half is ``log-mldsa.key`` in the shard's directory (0600,
``PRIVATE+KEY+<origin>+<id>+base64(0x06 || 32-byte seed)``). One ML-DSA-44 key per log;
replacing it is not built.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA44PublicKey
from sqlalchemy import Engine

from evidence.ledger.db.engine import read_transaction
from evidence.ledger.db.log_queries import key_entry_rows
from evidence.verify.errors import VerificationError
from evidence.verify.note import ALG_ED25519, ALG_MLDSA44, Signer, Verifier, parse_verifier_key

__all__ = ["MLDSA_ADDED", "PostQuantumError", "added_body", "check_added", "pq_key_path",
           "read_added"]

MLDSA_ADDED = "key.mldsa_added"
KEY_FILE = "log-mldsa.key"
ROLE = "mldsa-log"
"""Its row in the ``keys`` table (not ``log%``: it never signs alone)."""
_FIELDS = {"log_key", "mldsa_key", "from_size", "log_signature", "mldsa_signature"}


class PostQuantumError(ValueError):
    """An ML-DSA-44 key or ``key.mldsa_added`` entry the rules refuse; nothing changed.
    ``seq``: the entry that breaks them, when read from the log (an audit names it)."""

    seq: int | None = None


def pq_key_path(shard_path: Path) -> Path:
    """``log-mldsa.key`` in the shard's own directory (``LedgerConfig.shard_path``: the
    data directory for shard 1, ``DIR/shards/<n>`` for the others), so each shard has its
    own and the shard command deletes the frozen one's (docs/formats.md "Temporal
    shards")."""
    return Path(shard_path) / KEY_FILE


def added_message(log_key: str, mldsa_key: str, from_size: int) -> bytes:
    """What both keys sign in a ``key.mldsa_added`` entry (no C2SP message starts so)."""
    return f"evidence.key.mldsa_added/v1\n{log_key}\n{mldsa_key}\n{from_size}\n".encode()


def added_body(log: Signer, pq: Signer, from_size: int) -> dict[str, Any]:
    if pq.alg != ALG_MLDSA44:
        raise PostQuantumError("the key is not an ML-DSA-44 (0x06) key")
    if pq.name != log.name:
        raise PostQuantumError(f"the ML-DSA-44 key is named {pq.name!r}; it must be named "
                               f"after the log's origin {log.name!r}")
    lk, pk = log.verifier().to_string(), pq.verifier().to_string()
    msg = added_message(lk, pk, from_size)
    return {"log_key": lk, "mldsa_key": pk, "from_size": from_size,
            "log_signature": base64.b64encode(log.sign_bytes(msg)).decode(),
            "mldsa_signature": base64.b64encode(pq.sign_bytes(msg)).decode()}


def check_added(seq: int, body: Any, log_keys: Sequence[str]) -> tuple[Verifier, int]:
    """The ML-DSA-44 key and its first size from a ``key.mldsa_added`` entry at ``seq``;
    raises :class:`PostQuantumError` naming the rule broken: exactly the five fields,
    ``from_size = seq + 1``, ``log_key`` one of the log's Ed25519 keys, an ML-DSA-44 key
    named after the log, both signatures over :func:`added_message` (held by
    tests/cli/test_log_key_mldsa.py)."""
    try:
        return _check_added(seq, body, log_keys)
    except PostQuantumError as e:
        e.seq = seq
        raise


def _check_added(seq: int, body: Any, log_keys: Sequence[str]) -> tuple[Verifier, int]:
    if not isinstance(body, dict) or set(body) != _FIELDS:
        raise PostQuantumError(f"entry {seq}: {MLDSA_ADDED} needs exactly {sorted(_FIELDS)}")
    lk, pk, f = body["log_key"], body["mldsa_key"], body["from_size"]
    if type(f) is not int or f != seq + 1:
        raise PostQuantumError(f"entry {seq}: {MLDSA_ADDED}'s from_size must be its seq + 1 "
                               f"({seq + 1})")
    if lk not in log_keys:
        raise PostQuantumError(f"entry {seq}: {MLDSA_ADDED}'s log_key is not one of this "
                               "log's keys")
    try:
        lv, pv = parse_verifier_key(lk), parse_verifier_key(pk)
        if lv.alg != ALG_ED25519 or pv.alg != ALG_MLDSA44 or pv.name != lv.name:
            raise PostQuantumError(f"entry {seq}: {MLDSA_ADDED}'s mldsa_key is not an ML-DSA-44 "
                                   "(0x06) key named after the log")
        msg = added_message(lk, pk, f)
        for which, v in (("log", lv), ("mldsa", pv)):
            sig = base64.b64decode(str(body[f"{which}_signature"]), validate=True)
            if v.alg == ALG_MLDSA44:
                MLDSA44PublicKey.from_public_bytes(v.public_key).verify(sig, msg)
            else:
                v.verify(msg, sig)
    except PostQuantumError:
        raise
    except (VerificationError, InvalidSignature, ValueError, TypeError):
        raise PostQuantumError(f"entry {seq}: a {MLDSA_ADDED} signature does not "
                               "verify") from None
    return pv, f


def read_added(engine: Engine, log_keys: Sequence[str]) -> tuple[Verifier, int] | None:
    """The log's ML-DSA-44 key and the first size it signs, or None (never added)."""
    with read_transaction(engine) as conn:  # an index probe (ix_entries_key_seq)
        rows = key_entry_rows(conn, (MLDSA_ADDED,))
    if not rows:
        return None
    if len(rows) > 1:
        e = PostQuantumError(f"entry {rows[1][0]}: a second {MLDSA_ADDED} (one per log)")
        e.seq = rows[1][0]
        raise e
    return check_added(rows[0][0], json.loads(rows[0][2])["body"], log_keys)
