"""Ask witnesses to cosign a checkpoint (c2sp.org/tlog-witness ``add-checkpoint``).

The log side of witnessing, transport and checks only. It does not know the
Ledger class: the caller hands over the signed checkpoint note, the size it
believes the witness last cosigned, and a ``proof(old, new)`` callable that
returns the RFC 9162 consistency proof between two sizes.

A witness is an untrusted network peer like a TSA: stdlib HTTP (nothing more
to pin), a timeout and an overall deadline, a cap on the reply size. Its
answer counts only once the returned line is a valid cosignature, by the
pinned witness key, over exactly this checkpoint; lines by other keys are
ignored (the spec says so) and a line by the pinned key that does not verify
rejects the answer.

On ``409 Conflict`` with ``text/x.tlog.size`` the witness says which size it
last cosigned; the client retries once with a proof from that size. A 409 in
plain text is a fork report (the witness cosigned another root for this size)
and is never retried.
"""

from __future__ import annotations

import base64
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from evidence.ledger.errors import LedgerError
from evidence.verify.checkpoint import (
    Checkpoint,
    VerifiedCheckpoint,
    parse_checkpoint,
    verify_checkpoint_windowed,
)
from evidence.verify.errors import NoVerifiedSignature, VerificationError
from evidence.verify.hashing import HASH_SIZE
from evidence.verify.merkle import MAX_TREE_SIZE
from evidence.verify.note import (
    COSIGNING_ALGS,
    SIG_PREFIX,
    Verifier,
    add_signature_lines,
    parse_note,
)

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "MAX_PROOF_LINES",
    "ConsistencyProof",
    "Cosigned",
    "WitnessBadResponse",
    "WitnessClientError",
    "WitnessConflict",
    "WitnessEndpoint",
    "WitnessRefused",
    "WitnessUnavailable",
    "add_checkpoint",
    "format_add_checkpoint",
    "merge_cosignatures",
    "require_quorum",
]

ConsistencyProof = Callable[[int, int], Sequence[bytes]]
"""``proof(old_size, new_size)``: the RFC 9162 consistency proof between two sizes."""

DEFAULT_TIMEOUT_S = 10.0
MAX_RESPONSE_BYTES = 64 * 1024
MAX_PROOF_LINES = 63
SIZE_CONTENT_TYPE = "text/x.tlog.size"


class WitnessClientError(LedgerError):
    """A witness did not cosign the checkpoint."""

    def __init__(self, message: str, *, url: str = "") -> None:
        super().__init__(message)
        self.url = url


class WitnessUnavailable(WitnessClientError):
    """Could not reach the witness, or it did not answer in time (retry later)."""


class WitnessRefused(WitnessClientError):
    """The witness answered with a refusal: ``status`` and its plain-text ``reason``."""

    def __init__(self, message: str, *, url: str = "", status: int, reason: str) -> None:
        super().__init__(message, url=url)
        self.status = status
        self.reason = reason

    @property
    def fork(self) -> bool:
        """A plain-text 409: the witness cosigned another root for this size (a split view)."""
        return self.status == 409


class WitnessConflict(WitnessClientError):
    """The witness's latest cosigned size does not fit this checkpoint, even after a retry."""

    def __init__(self, message: str, *, url: str = "", witness_size: int) -> None:
        super().__init__(message, url=url)
        self.witness_size = witness_size


class WitnessBadResponse(WitnessClientError):
    """The witness answered 200 with something that is not its cosignature on this checkpoint."""


@dataclass(frozen=True)
class WitnessEndpoint:
    """A witness the log asks: its submission prefix and its pinned verifier key (0x04)."""

    url: str
    key: Verifier
    timeout: float = DEFAULT_TIMEOUT_S

    def __post_init__(self) -> None:
        if self.key.alg not in COSIGNING_ALGS:
            raise ValueError(f"witness key {self.key.name} is not a cosignature/v1 (0x04) or "
                             "ML-DSA-44 (0x06) key")
        scheme = urllib.parse.urlsplit(self.url).scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"witness URL must be http or https: {self.url}")

    @property
    def add_checkpoint_url(self) -> str:
        return self.url.rstrip("/") + "/add-checkpoint"


@dataclass(frozen=True)
class Cosigned:
    """A witness's verified cosignature on one checkpoint."""

    witness: str
    lines: tuple[str, ...]
    """The cosignature line(s) by the pinned key, each ending in a newline."""
    size: int
    """The checkpoint size: what the witness has now cosigned (the next old size)."""
    cosigned_at: int


def format_add_checkpoint(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    """The add-checkpoint request body."""
    if not 0 <= old_size <= MAX_TREE_SIZE:
        raise ValueError(f"old size {old_size} outside 0..2^64-1")
    if len(proof) > MAX_PROOF_LINES:
        raise ValueError(f"consistency proof of {len(proof)} hashes exceeds {MAX_PROOF_LINES}")
    lines = [f"old {old_size}\n"]
    for h in proof:
        if len(h) != HASH_SIZE:
            raise ValueError("consistency proof hashes must be 32 bytes")
        lines.append(base64.b64encode(bytes(h)).decode() + "\n")
    return ("".join(lines) + "\n" + note).encode()


def _post(url: str, body: bytes, timeout: float) -> tuple[int, str, bytes]:
    """POST; return (status, content type, body), non-2xx included."""
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "text/plain; charset=utf-8"})

    def read(resp: Any) -> bytes:  # an HTTPResponse, or an HTTPError for non-2xx
        chunks, size = [], 0
        while True:
            if time.monotonic() > deadline:
                raise WitnessUnavailable(f"{url} did not finish its answer within {timeout} s",
                                         url=url)
            chunk = resp.read(min(16384, MAX_RESPONSE_BYTES + 1 - size))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise WitnessBadResponse(f"{url} answered more than {MAX_RESPONSE_BYTES} bytes",
                                         url=url)

    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), read(resp)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers.get("Content-Type", ""), read(exc)
    except TimeoutError as exc:
        raise WitnessUnavailable(f"{url} did not answer within {timeout} s", url=url) from exc
    except urllib.error.URLError as exc:
        raise WitnessUnavailable(f"cannot reach {url}: {exc.reason}", url=url) from exc
    except OSError as exc:
        raise WitnessUnavailable(f"cannot reach {url}: {exc}", url=url) from exc


def _parse_size(body: bytes) -> int | None:
    """A ``text/x.tlog.size`` body: canonical decimal and a newline; None if it is not."""
    if not body.endswith(b"\n") or len(body) > 21:
        return None
    digits = body[:-1]
    if not digits.isdigit() or (len(digits) > 1 and digits[:1] == b"0"):
        return None
    size = int(digits)
    return size if size <= MAX_TREE_SIZE else None


def _check_cosignature(witness: WitnessEndpoint, text: str, body: bytes) -> Cosigned:
    """Each returned line by the pinned key must verify over ``text``; others are ignored."""
    url = witness.add_checkpoint_url
    try:
        answer = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WitnessBadResponse(f"{url} answered 200 with a body that is not UTF-8",
                                 url=url) from None
    lines = answer.splitlines(keepends=True)
    if not lines or any(not ln.startswith(SIG_PREFIX) or not ln.endswith("\n") for ln in lines):
        raise WitnessBadResponse(f"{url} answered 200 with something other than signature "
                                 f"lines: {answer[:200]!r}", url=url)
    mine: list[str] = []
    cosigned_at = 0
    for line in dict.fromkeys(lines):
        try:
            (sig,) = parse_note(text + "\n" + line).signatures
        except VerificationError as e:
            raise WitnessBadResponse(f"{url} answered a malformed signature line: {e}",
                                     url=url) from None
        if (sig.name, sig.key_id) != (witness.key.name, witness.key.key_id):
            continue  # c2sp.org/tlog-witness: ignore cosignatures from unknown keys
        try:
            verified = witness.key.verify(text.encode(), sig.signature)
        except VerificationError as e:
            raise WitnessBadResponse(f"{url} returned a cosignature by {witness.key.name} that "
                                     f"does not verify on this checkpoint: {e}", url=url) from None
        mine.append(line)
        cosigned_at = max(cosigned_at, verified.cosigned_at or 0)
    if not mine:
        raise WitnessBadResponse(f"{url} returned no cosignature by the pinned key "
                                 f"{witness.key.name}", url=url)
    return Cosigned(witness.key.name, tuple(mine), 0, cosigned_at)


def add_checkpoint(witness: WitnessEndpoint, note: str, old_size: int,
                   proof: ConsistencyProof, *, checkpoint: Checkpoint | None = None,
                   max_calls: int = 2) -> Cosigned:
    """Ask ``witness`` to cosign the signed checkpoint ``note``.

    ``old_size`` is the size the log believes the witness last cosigned (0 if
    it never did). On a 409 that names another size, retries once with a proof
    from that size, if ``max_calls`` (2) allows; with 1 (a witness with a request
    budget) it raises :class:`WitnessConflict` carrying the witness's size for the
    next call instead. Raises a :class:`WitnessClientError` subclass unless a
    verified cosignature came back.
    """
    if max_calls not in (1, 2):
        raise ValueError("max_calls is 1 or 2")
    text = parse_note(note).text
    if checkpoint is None:
        checkpoint = parse_checkpoint(text)
    url = witness.add_checkpoint_url
    size = checkpoint.size
    for attempt in range(1, max_calls + 1):
        if old_size > size:
            raise WitnessConflict(f"{url} last cosigned size {old_size}, larger than this "
                                  f"checkpoint's {size}: the log would be rolled back",
                                  url=url, witness_size=old_size)
        hashes = list(proof(old_size, size)) if 0 < old_size < size else []
        body = format_add_checkpoint(old_size, hashes, note)
        status, ctype, answer = _post(url, body, witness.timeout)
        if status == 200:
            return replace(_check_cosignature(witness, text, answer), size=size)
        media = ctype.split(";", 1)[0].strip().lower()
        if status == 409 and media == SIZE_CONTENT_TYPE:
            their = _parse_size(answer)
            if their is None:
                raise WitnessBadResponse(f"{url} answered 409 with a malformed size "
                                         f"{answer[:40]!r}", url=url)
            if their == old_size:
                raise WitnessConflict(f"{url} still expects old size {their} (sent {old_size})",
                                      url=url, witness_size=their)
            if attempt == max_calls:
                raise WitnessConflict(f"{url} last cosigned size {their}, not {old_size}: the "
                                      "next request starts from it", url=url,
                                      witness_size=their)
            old_size = their
            continue
        reason = answer[:2000].decode("utf-8", "replace").strip()
        meaning = _MEANING.get(status, "")
        raise WitnessRefused(f"{url} refused (HTTP {status}{meaning}): {reason}", url=url,
                             status=status, reason=reason)
    raise AssertionError("unreachable")


_MEANING = {
    400: ", the old size is larger than the checkpoint's",
    403: ", no signature by a log key it trusts for this origin: check the log key it pinned",
    404: ", it does not follow this log's origin: ask its operator to add the log, or get the "
         "log on a witness-network.org list it follows",
    409: ", it cosigned another root for this size: a split view?",
    422: ", the consistency proof from its size does not verify",
    429: ", over the requests a day it allows this log: lower the rate (qpd in anchors.json)",
}
"""What each c2sp.org/tlog-witness refusal says (429 is a rate limit some witnesses add)."""


def merge_cosignatures(note: str, cosigned: Sequence[Cosigned | str]) -> str:
    """The note with the cosignature lines appended (duplicates dropped)."""
    lines: list[str] = []
    for c in cosigned:
        lines.extend([c] if isinstance(c, str) else c.lines)
    return add_signature_lines(note, lines)


def require_quorum(note: str,
                   log_keys: Verifier | Sequence[tuple[Verifier, tuple[int, int] | None]],
                   witness_keys: Sequence[Verifier], quorum: int) -> VerifiedCheckpoint:
    """Raise unless the log's keys and at least ``quorum`` of ``witness_keys`` vouch for
    ``note``. ``log_keys``: one key, or the log's keys with their windows and its ML-DSA-44
    key (``Ledger.checkpoint_keys()``), checked by the rule every verifier holds
    (:func:`~evidence.verify.checkpoint.verify_checkpoint_windowed`)."""
    keys = [(log_keys, None)] if isinstance(log_keys, Verifier) else list(log_keys)
    vc, _ = verify_checkpoint_windowed(note, keys, witness_keys=witness_keys)
    if len(vc.cosignatures) < quorum:
        raise NoVerifiedSignature(f"checkpoint has {len(vc.cosignatures)} valid witness "
                                  f"cosignature(s); quorum is {quorum}")
    return vc
