"""The log's keys over time: windows of tree sizes, rotation and revocation
(docs/formats.md "Log key rotation").

Windows are read from the log's own ``key.rotated`` and ``key.revoked`` entries, never
stored twice, so an auditor with an export derives what the operator does. During a
rotation's overlap :class:`LogSigners` signs each checkpoint with every key whose window
holds its size: one signed note, one signature line per key.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evidence.verify.errors import VerificationError
from evidence.verify.note import ALG_ED25519, Signer, Verifier, parse_verifier_key, sign_note

__all__ = [
    "KeyWindow",
    "LogSigners",
    "RotationError",
    "key_windows",
    "rotation_body",
    "rotation_message",
]

ROTATED, REVOKED = "key.rotated", "key.revoked"
MAX_REASON = 200


class RotationError(ValueError):
    """A rotation or revocation the rules refuse; nothing was changed. ``seq``: the
    ``key.*`` entry that breaks them, when read from the log (an audit names it)."""

    seq: int | None = None


def rotation_message(old_key: str, new_key: str, from_size: int, until_size: int) -> bytes:
    """What both keys sign in a ``key.rotated`` entry."""
    return (f"evidence.key.rotated/v1\n{old_key}\n{new_key}\n{from_size}\n{until_size}\n"
            ).encode()


@dataclass
class KeyWindow:
    vkey: str
    from_size: int
    until_size: int | None  # None: open (the current key)
    revoked: bool = False

    @property
    def verifier(self) -> Verifier:
        return parse_verifier_key(self.vkey)

    def holds(self, size: int) -> bool:
        return self.from_size <= size and (self.until_size is None or size <= self.until_size)


def key_windows(first_key: str, entries: Iterable[tuple[int, str, Any]]) -> list[KeyWindow]:
    """Every log key with its window, from the first key and the ``key.*`` entries
    ``(seq, type, body)`` in order; raises :class:`RotationError` naming an entry that
    breaks the rules (signatures, sizes, keys), as an audit must."""
    wins = [KeyWindow(first_key, 0, None)]
    for seq, typ, body in entries:
        try:
            _follow(wins, seq, typ, body)
        except RotationError as e:
            e.seq = seq
            raise
    return wins


def _follow(wins: list[KeyWindow], seq: int, typ: str, body: Any) -> None:
    """Apply one ``key.*`` entry to ``wins`` (the current key last)."""
    if typ == ROTATED:
        check_rotation(seq, body, wins)
        cur = wins[-1]
        cur.until_size = body["until_size"]
        wins.append(KeyWindow(body["new_key"], body["from_size"], None))
    elif typ == REVOKED:
        if not isinstance(body, dict):
            raise RotationError(f"entry {seq}: key.revoked's body is not an object")
        w = _find(wins, body.get("key"), seq)
        n = body.get("until_size")
        if w is wins[-1] or type(n) is not int or not w.from_size <= n or (
                w.until_size is not None and n > w.until_size):
            raise RotationError(f"entry {seq}: key.revoked does not narrow the window of "
                                "a retired key")
        w.until_size, w.revoked = n, True


def _find(wins: Sequence[KeyWindow], vkey: Any, seq: int) -> KeyWindow:
    w = next((w for w in wins if w.vkey == vkey), None)
    if w is None:
        raise RotationError(f"entry {seq}: names a key that is not one of this log's keys")
    return w


def check_rotation(seq: int, body: Any, wins: Sequence[KeyWindow]) -> None:
    """The rules of docs/formats.md ``key.rotated``: both signatures, the sizes, the keys."""
    want = {"old_key", "new_key", "from_size", "until_size", "old_signature", "new_signature"}
    if not isinstance(body, dict) or set(body) != want:
        raise RotationError(f"entry {seq}: key.rotated needs exactly {sorted(want)}")
    old, new = body["old_key"], body["new_key"]
    f, u = body["from_size"], body["until_size"]
    if old != wins[-1].vkey:
        raise RotationError(f"entry {seq}: key.rotated's old key is not the key then current")
    if any(w.vkey == new for w in wins):
        raise RotationError(f"entry {seq}: key.rotated's new key is one the log already had")
    if type(f) is not int or type(u) is not int or f != seq + 1 or u < f:
        raise RotationError(f"entry {seq}: key.rotated's from_size must be seq + 1 and "
                            "until_size >= it")
    msg = rotation_message(old, new, f, u)
    for which, vk in (("old", old), ("new", new)):
        try:
            v = parse_verifier_key(vk)
            sig = base64.b64decode(body[f"{which}_signature"], validate=True)
            if v.alg != ALG_ED25519 or v.name != parse_verifier_key(old).name:
                raise RotationError(f"entry {seq}: the {which} key is not an Ed25519 key of "
                                    "this log's name")
            v.verify(msg, sig)
        except (VerificationError, ValueError, TypeError) as e:
            if isinstance(e, RotationError):
                raise
            raise RotationError(f"entry {seq}: key.rotated's {which} signature does not "
                                "verify") from None


def rotation_body(old: Signer, new: Signer, from_size: int, until_size: int) -> dict[str, Any]:
    ov, nv = old.verifier().to_string(), new.verifier().to_string()
    msg = rotation_message(ov, nv, from_size, until_size)
    return {"old_key": ov, "new_key": nv, "from_size": from_size, "until_size": until_size,
            "old_signature": base64.b64encode(old.signature(msg)).decode(),
            "new_signature": base64.b64encode(new.signature(msg)).decode()}


class LogSigners:
    """The keys that sign checkpoints, each for its window of sizes."""

    def __init__(self, keys: Sequence[tuple[Signer, int, int | None]]) -> None:
        if not keys:
            raise ValueError("a log needs a signing key")
        self.keys = list(keys)
        self.name = keys[-1][0].name
        self.pq: tuple[Signer, int] | None = None
        """The ML-DSA-44 key and the first size it signs (:mod:`evidence.ledger.pq_key`)."""

    def for_size(self, size: int) -> list[Signer]:
        """The current key first, then any older key still inside its overlap."""
        out = [s for s, lo, hi in reversed(self.keys) if lo <= size and (hi is None or size <= hi)]
        return out or [self.keys[-1][0]]

    def sign(self, text: str, size: int) -> str:
        """The checkpoint note: one Ed25519 line per key of :meth:`for_size`, then from the
        ML-DSA-44 key's first size its tlog-cosignature v1.1 line with the time 0 (the log
        states no freshness; docs/decisions.md D23)."""
        note = sign_note(text, self.for_size(size))
        if self.pq is not None and size >= self.pq[1]:
            note += self.pq[0].signature_line(text.encode(), cosigned_at=0)
        return note


def retired_key_path(data_dir: Path, v: Verifier) -> Path:
    """Where a rotated-out private key is kept while it still co-signs (0600)."""
    return Path(data_dir) / "log-keys" / f"{v.name.replace('/', '_')}+{v.key_id:08x}.key"
