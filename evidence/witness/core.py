"""The witness's decision, pure: (what it knows about a log, a request) -> cosign or refuse.

No I/O, no clock, no key: :func:`check_add_checkpoint` takes the witness's
record for the request's origin and the parsed request and either returns the
new record to store or raises :class:`Refusal`, which names the rule that broke
(``kind``), the HTTP status c2sp.org/tlog-witness prescribes for it, and a
reason for the person reading the log. The caller (:mod:`evidence.witness.store`)
runs it inside one write transaction, so the check of the old size and the
update of the record are atomic, as the spec demands.

Checks, in the order the spec states them:

1. origin unknown -> 404 ``unknown-log``;
2. no signature by a pinned log key verifies (or one by a pinned key is bad)
   -> 403 ``bad-signature``;
3. old size larger than the checkpoint size -> 400 ``rollback`` when the
   checkpoint is smaller than what the witness already cosigned, else
   ``old-size-too-large``;
4. old size is not the size the witness last cosigned -> 409 ``old-size-mismatch``
   with the witness's size (``text/x.tlog.size``); if the checkpoint is smaller
   than that size, the kind is ``rollback`` (the body must still be the size);
5. old size equal to the checkpoint size but another root -> 409 ``fork``
   (plain text, not a size: the log showed two trees of one size);
6. a consistency proof that is not empty where it must be, or that does not
   lead from the cosigned root to the new one -> 422 ``inconsistent`` (from the
   witness's seat a bogus proof and a forked log look the same, and the reason
   says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from evidence.verify.checkpoint import Checkpoint
from evidence.verify.errors import NoteError, VerificationError
from evidence.verify.hashing import EMPTY_ROOT, Hash32
from evidence.verify.merkle import verify_consistency
from evidence.verify.note import ALG_ED25519, ALG_MLDSA44, OpenedNote, Verifier, open_note
from evidence.witness.protocol import AddCheckpointRequest


@dataclass(frozen=True)
class LogRecord:
    """What a witness keeps per log: the pinned keys and the latest cosigned tree."""

    origin: str
    keys: tuple[Verifier, ...]
    size: int = 0
    root: Hash32 = EMPTY_ROOT
    note: str | None = None
    """The latest cosigned checkpoint note as received (None before the first)."""

    def __post_init__(self) -> None:
        problem = log_keys_problem(self.keys)
        if problem is not None:
            raise ValueError(f"log {self.origin!r}: {problem}")


def log_keys_problem(keys: Sequence[Verifier]) -> str | None:
    """Why these cannot be a log's pinned keys, or None: Ed25519 (0x01) keys, at least one
    (any one of them signing is enough: a rotation's overlap), and ML-DSA-44 (0x06) keys,
    each of which must sign every checkpoint cosigned from then on (docs/formats.md
    "ML-DSA-44 signatures": pinned, the post-quantum line is required, never optional)."""
    if not any(k.alg == ALG_ED25519 for k in keys):
        return "needs at least one pinned Ed25519 (0x01) log key"
    for k in keys:
        if k.alg not in (ALG_ED25519, ALG_MLDSA44):
            return f"log key {k.name} is neither an Ed25519 (0x01) nor an ML-DSA-44 (0x06) key"
    return None


class Refusal(Exception):
    """The witness will not cosign. ``kind`` names the rule; ``status`` is the HTTP code."""

    def __init__(self, kind: str, status: int, reason: str, *, size: int | None = None,
                 retry_after: int | None = None) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.status = status
        self.reason = reason
        self.size = size
        """For 409 ``old-size-mismatch`` / ``rollback``: the size the witness last cosigned."""
        self.retry_after = retry_after
        """For 429 ``rate-limited``: seconds until the log's next request is allowed."""

    @property
    def size_conflict(self) -> bool:
        """True when the HTTP body must be the witness's size (``text/x.tlog.size``)."""
        return self.status == 409 and self.size is not None


MALFORMED = "malformed"
UNKNOWN_LOG = "unknown-log"
BAD_SIGNATURE = "bad-signature"
OLD_SIZE_TOO_LARGE = "old-size-too-large"
ROLLBACK = "rollback"
OLD_SIZE_MISMATCH = "old-size-mismatch"
FORK = "fork"
INCONSISTENT = "inconsistent"
RATE_LIMITED = "rate-limited"


def verify_log_signature(note: str, keys: Sequence[Verifier]) -> OpenedNote:
    """Open ``note`` with the pinned log keys; raise 403 ``bad-signature`` unless one verifies."""
    try:
        opened = open_note(note, keys)
    except NoteError as e:
        raise Refusal(BAD_SIGNATURE, 403, f"checkpoint signature: {e}") from None
    pinned = {(k.name, k.key_id) for k in keys}
    if not any((v.name, v.key_id) in pinned and v.alg == ALG_ED25519 for v in opened.verified):
        raise Refusal(BAD_SIGNATURE, 403, "no signature by a pinned log key verifies")
    signed = {(v.name, v.key_id) for v in opened.verified}
    for k in keys:  # a pinned ML-DSA-44 key is required, not one of several
        if k.alg == ALG_MLDSA44 and (k.name, k.key_id) not in signed:
            raise Refusal(BAD_SIGNATURE, 403, f"no signature by the pinned ML-DSA-44 log "
                          f"key {k.name}+{k.key_id:08x}: it must sign every checkpoint")
    return opened


def check_add_checkpoint(record: LogRecord | None, req: AddCheckpointRequest) -> LogRecord:
    """Decide one add-checkpoint request. Returns the record to store, or raises Refusal."""
    cp: Checkpoint = req.checkpoint
    if record is None:
        raise Refusal(UNKNOWN_LOG, 404, f"this witness does not follow a log with origin "
                                        f"{cp.origin!r}")
    if record.origin != cp.origin:  # a caller bug, not the client's
        raise ValueError("record and checkpoint are for different origins")
    opened = verify_log_signature(req.note, record.keys)
    if req.old_size > cp.size:
        if cp.size < record.size:
            raise Refusal(ROLLBACK, 400, f"checkpoint size {cp.size} is smaller than size "
                                         f"{record.size} already cosigned (old size "
                                         f"{req.old_size})")
        raise Refusal(OLD_SIZE_TOO_LARGE, 400, f"old size {req.old_size} is larger than the "
                                               f"checkpoint size {cp.size}")
    if req.old_size != record.size:
        kind = ROLLBACK if cp.size < record.size else OLD_SIZE_MISMATCH
        raise Refusal(kind, 409, f"old size {req.old_size} is not {record.size}, the size this "
                                 f"witness last cosigned" +
                                 (f"; the checkpoint (size {cp.size}) would roll it back"
                                  if kind == ROLLBACK else ""),
                      size=record.size)
    if req.old_size == cp.size:
        if req.proof:
            raise Refusal(INCONSISTENT, 422, f"old size equals the checkpoint size {cp.size}; "
                                             f"the proof must be empty, got {len(req.proof)} "
                                             "hashes")
        if cp.root != record.root:
            if cp.size == 0:
                raise Refusal(INCONSISTENT, 422, "a checkpoint of size 0 must carry the "
                                                 "empty-tree root")
            raise Refusal(FORK, 409, f"size {cp.size} was cosigned with root "
                                     f"{record.root.hex()}, this checkpoint has root "
                                     f"{cp.root.hex()}")
    elif req.old_size == 0:
        if req.proof:
            raise Refusal(INCONSISTENT, 422, f"old size is 0, so the proof must be empty; got "
                                             f"{len(req.proof)} hashes")
    else:
        try:
            verify_consistency(req.old_size, cp.size, record.root, cp.root, req.proof)
        except VerificationError as e:
            raise Refusal(INCONSISTENT, 422, f"consistency proof from size {req.old_size} "
                                             f"(cosigned root {record.root.hex()}) to size "
                                             f"{cp.size} (root {cp.root.hex()}) does not "
                                             f"verify: {e}. Either the proof is bogus or the "
                                             f"log forked") from None
    del opened  # verified above; the note is stored as received
    return replace(record, size=cp.size, root=cp.root, note=req.note)
