"""C2SP tlog-checkpoint: the signed statement "the log of <origin> has <size> entries
with root <hash>", and the check that pinned log and witness keys vouch for it.

Body format (c2sp.org/tlog-checkpoint), each line ending in a newline::

    <origin>
    <tree size, ASCII decimal, no leading zeros>
    <base64 of the 32-byte root hash>
    [<extension line>...]
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from evidence.verify.errors import MalformedCheckpoint, NoteError, NoVerifiedSignature
from evidence.verify.hashing import HASH_SIZE, Hash32
from evidence.verify.merkle import MAX_TREE_SIZE
from evidence.verify.note import (
    ALG_ED25519,
    ALG_MLDSA44,
    COSIGNING_ALGS,
    OpenedNote,
    Signer,
    VerifiedSignature,
    Verifier,
    check_text,
    open_note,
    sign_note,
)


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: Hash32
    extensions: tuple[str, ...] = ()

    def to_text(self) -> str:
        """The checkpoint body exactly as signed."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        text = "".join(line + "\n" for line in (*lines, *self.extensions))
        parse_checkpoint(text)  # refuse to produce what we would refuse to read
        return text


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint body (the note text, without signatures)."""
    if not isinstance(text, str):
        raise MalformedCheckpoint("checkpoint text must be a string")
    try:
        check_text(text)
    except NoteError as e:
        raise MalformedCheckpoint(f"checkpoint text: {e}") from None
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedCheckpoint("checkpoint needs origin, size and root lines")
    origin, size_s, root_s, *ext = lines
    if not origin:
        raise MalformedCheckpoint("checkpoint origin line is empty")
    if not size_s.isascii() or not size_s.isdigit() or (len(size_s) > 1 and size_s[0] == "0"):
        raise MalformedCheckpoint(f"checkpoint size {size_s[:30]!r} is not a canonical decimal")
    size = int(size_s)
    if size > MAX_TREE_SIZE:
        raise MalformedCheckpoint("checkpoint size is larger than 2^64-1")
    try:
        root = base64.b64decode(root_s.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise MalformedCheckpoint("checkpoint root is not valid base64") from None
    if len(root) != HASH_SIZE:
        raise MalformedCheckpoint(f"checkpoint root is {len(root)} bytes, not {HASH_SIZE}")
    if any(not line for line in ext):
        raise MalformedCheckpoint("checkpoint has an empty extension line")
    return Checkpoint(origin, size, Hash32(root), tuple(ext))


def sign_checkpoint(cp: Checkpoint, signer: Signer) -> str:
    """The signed note of a checkpoint, as published."""
    if signer.alg != ALG_ED25519:
        raise ValueError("a log signs checkpoints with an Ed25519 (0x01) key")
    return sign_note(cp.to_text(), [signer])


def cosign_checkpoint(note_text: str, witness: Signer, *, cosigned_at: int | None = None) -> str:
    """A witness's tlog-cosignature line over a checkpoint body: Ed25519 (0x04) or
    ML-DSA-44 (0x06, tlog-cosignature v1.1)."""
    if witness.alg not in COSIGNING_ALGS:
        raise ValueError("a witness cosigns with a cosignature/v1 (0x04) or ML-DSA-44 "
                         "(0x06) key")
    parse_checkpoint(note_text)
    return witness.signature_line(note_text.encode(), cosigned_at=cosigned_at)


@dataclass(frozen=True)
class VerifiedCheckpoint:
    """A checkpoint and what vouched for it."""

    checkpoint: Checkpoint
    note: OpenedNote
    log_signature: VerifiedSignature
    cosignatures: tuple[VerifiedSignature, ...]


def verify_checkpoint(
    note: str | bytes,
    log_key: Verifier,
    *,
    witness_keys: Sequence[Verifier] = (),
    quorum: int = 0,
    origin: str | None = None,
) -> VerifiedCheckpoint:
    """Check a checkpoint note against the pinned log key and witness keys.

    The origin must equal the log key's name unless ``origin`` says otherwise
    (C2SP: a log's key name is its origin). ``quorum`` witnesses among
    ``witness_keys`` must have cosigned.
    """
    if log_key.alg != ALG_ED25519:
        raise ValueError("the pinned log key must be an Ed25519 (0x01) verifier key")
    opened = open_note(note, [log_key, *witness_keys])
    cp = parse_checkpoint(opened.text)
    want_origin = log_key.name if origin is None else origin
    if cp.origin != want_origin:
        raise MalformedCheckpoint(f"checkpoint origin {cp.origin!r} is not {want_origin!r}")
    log_sigs = [v for v in opened.verified if (v.name, v.key_id) == (log_key.name, log_key.key_id)]
    if not log_sigs:
        raise NoVerifiedSignature(f"checkpoint is not signed by the pinned log key {log_key.name}")
    cosigs = tuple(v for v in opened.verified if v.alg in COSIGNING_ALGS
                   and (v.name, v.key_id) != (log_key.name, log_key.key_id))
    if len(cosigs) < quorum:
        raise NoVerifiedSignature(
            f"checkpoint has {len(cosigs)} valid witness cosignature(s); quorum is {quorum}"
        )
    return VerifiedCheckpoint(cp, opened, log_sigs[0], cosigs)


class OutsideWindow(NoVerifiedSignature):
    """Only log keys whose window does not hold the checkpoint's size signed it (a key
    rotated out or revoked before this size)."""


class MissingPostQuantum(NoVerifiedSignature):
    """A pinned ML-DSA-44 log key's window holds the checkpoint's size, and the note has
    no signature line by it (docs/verdict.md section 3, ``#@ log-mldsa``)."""

    def __init__(self, key: Verifier, size: int, from_size: int) -> None:
        self.key, self.size, self.from_size = key, size, from_size
        super().__init__(
            f"checkpoint of size {size} has no signature by the pinned ML-DSA-44 log key "
            f"{key.name}+{key.key_id:08x}, required from size {from_size}")

    @property
    def zh(self) -> str:
        return (f"大小为 {self.size} 的检查点缺少固定的 ML-DSA-44 日志公钥 "
                f"{self.key.name}+{self.key.key_id:08x} 的签名（自大小 {self.from_size} "
                "起必须有该抗量子签名）")


def verify_checkpoint_windowed(
    note: str | bytes,
    log_keys: Sequence[tuple[Verifier, tuple[int, int] | None]],
    *,
    witness_keys: Sequence[Verifier] = (),
) -> tuple[VerifiedCheckpoint, Verifier]:
    """Check a checkpoint against every pinned log key of its origin, each with its window
    of tree sizes (``(from, until)`` inclusive, None for every size): docs/verdict.md
    section 3, the rule all three verifiers share.

    The note is opened with all of them and the witness keys (a bad signature by any
    rejects it); it passes when an Ed25519 key whose window holds the size verified, and
    every ML-DSA-44 (0x06) log key whose window holds the size verified too
    (:class:`MissingPostQuantum` otherwise). Returns the checkpoint and the Ed25519 key
    (the first such in the order given)."""
    pq = [(v, w) for v, w in log_keys if v.alg == ALG_MLDSA44]
    log_keys = [(v, w) for v, w in log_keys if v.alg != ALG_MLDSA44]
    if not log_keys:
        raise ValueError("no pinned log key for this origin")
    if any(v.alg != ALG_ED25519 for v, _ in log_keys):
        raise ValueError("a pinned log key must be an Ed25519 (0x01) or ML-DSA-44 (0x06) "
                         "verifier key")
    origin = log_keys[0][0].name
    opened = open_note(note, [*(v for v, _ in log_keys), *(v for v, _ in pq), *witness_keys])
    cp = parse_checkpoint(opened.text)
    if cp.origin != origin:
        raise MalformedCheckpoint(f"checkpoint origin {cp.origin!r} is not {origin!r}")
    signed = {(s.name, s.key_id) for s in opened.verified if s.alg == ALG_ED25519}
    mine = [(v, w) for v, w in log_keys if (v.name, v.key_id) in signed]
    good = [v for v, w in mine if w is None or w[0] <= cp.size <= w[1]]
    if not good:
        if mine:
            v, w = mine[0]
            assert w is not None
            raise OutsideWindow(
                f"checkpoint of size {cp.size} is signed only by the log key "
                f"{v.name}+{v.key_id:08x}, which is pinned for checkpoints of sizes "
                f"{w[0]} to {w[1]} (rotated out or revoked)")
        raise NoVerifiedSignature(f"checkpoint is not signed by a pinned log key {origin}")
    key = good[0]
    everyone = {(s.name, s.key_id) for s in opened.verified}
    for v, w in pq:  # a pinned post-quantum key is required, not an alternative
        if (w is None or w[0] <= cp.size <= w[1]) and (v.name, v.key_id) not in everyone:
            raise MissingPostQuantum(v, cp.size, 0 if w is None else w[0])
    log_sig = next(s for s in opened.verified if (s.name, s.key_id) == (key.name, key.key_id))
    mine_keys = {(v.name, v.key_id) for v, _ in (*log_keys, *pq)}
    cosigs = tuple(v for v in opened.verified if v.alg in COSIGNING_ALGS
                   and (v.name, v.key_id) not in mine_keys)
    return VerifiedCheckpoint(cp, opened, log_sig, cosigs), key
