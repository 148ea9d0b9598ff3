"""What stops a mirror round: a refusal (the log is inconsistent) or an unavailable source.

A refusal names what differs; the mirror keeps its last good state and never serves
what it refused. An unavailable source (network, a missing file) is not evidence against
the log: the round is simply tried again.
"""

from __future__ import annotations

__all__ = ["MirrorDamaged", "MirrorError", "MirrorRefused", "SourceUnavailable"]


class MirrorError(Exception):
    """A mirror round did not complete; nothing it had not verified was published."""


class MirrorRefused(MirrorError):
    """The log contradicts itself or what the mirror already holds (a fork, a rewritten
    entry, a tile that is not its leaves' hashes, a checkpoint going backwards, a bad
    signature). ``kind`` is a short stable code; the message says what differs."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class SourceUnavailable(MirrorError):
    """The log could not be read (connection, HTTP error, a file it does not serve)."""


class MirrorDamaged(MirrorError):
    """The mirror's own directory is not what it wrote (a missing or altered file)."""
