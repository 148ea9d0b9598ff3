"""Exceptions raised by the verification core.

Every check that fails raises; nothing in ``evidence.verify`` "verifies" by
returning a bool that a caller could forget to test. Each exception carries a
message written for the person who has to act on it (an auditor, a clerk), and
the class says which rule broke, so callers and tests can tell reasons apart.
"""

from __future__ import annotations


class VerificationError(Exception):
    """Base class: something presented as evidence of integrity is not."""


class MalformedInput(VerificationError, ValueError):
    """Input cannot even be parsed: wrong length, bad encoding, bad syntax."""


# --- Merkle proofs -----------------------------------------------------------


class ProofError(VerificationError):
    """An inclusion or consistency proof does not hold."""


class IndexOutOfRange(ProofError, MalformedInput):
    """The leaf index is not inside the tree, or the sizes are out of order."""


class WrongProofSize(ProofError, MalformedInput):
    """The proof has more or fewer hashes than the tree shape requires."""


class RootMismatch(ProofError):
    """The proof recomputes to a root other than the one claimed."""


# --- Signed notes and checkpoints -----------------------------------------


class NoteError(VerificationError):
    """A signed note is malformed or its signatures do not verify."""


class MalformedNote(NoteError, MalformedInput):
    """The note breaks the C2SP signed-note syntax."""


class InvalidSignature(NoteError):
    """A signature by a known (pinned) key does not verify."""


class NoVerifiedSignature(NoteError):
    """No signature on the note is by a known key; nothing vouches for it."""


class BadKey(MalformedInput):
    """A verifier-key or signer-key string is malformed or inconsistent."""


class MalformedCheckpoint(MalformedInput):
    """The note body is not a C2SP tlog-checkpoint."""


# --- Entries ------------------------------------------------------------------


class EntryError(VerificationError):
    """A ledger entry is malformed or does not fit the log at its position."""
