"""Errors raised by the ledger, written for the operator who has to act on them.

Nothing here is a verification failure of *someone else's* data (those are
:mod:`evidence.verify.errors`); these say the ledger cannot do what was asked.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base class for ledger errors."""


class LedgerExists(LedgerError):
    """``init`` found a ledger (or its key or config) already there; nothing was changed."""


class NotALedger(LedgerError):
    """The database or data directory is not an evidence ledger."""


class ConfigMismatch(LedgerError):
    """The database belongs to a log with another origin or key than configured."""


class OutOfRange(LedgerError, ValueError):
    """A sequence number or tree size past the end of the log (or negative)."""


class AppendRejected(LedgerError, ValueError):
    """An entry was refused before it was sequenced (bad type, floats, non-ASCII keys...)."""


class LedgerClosed(LedgerError):
    """The ledger was closed; it accepts no more appends."""


class LedgerFrozen(LedgerError):
    """The log is a frozen shard (its last entry is ``log.frozen``): it takes no more appends."""
