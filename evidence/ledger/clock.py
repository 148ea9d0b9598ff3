"""The ledger's clock: the one spelling of "now" that entries, grants and access rows use.

:func:`utc_now` is :func:`evidence.verify.entry.format_time` of the current instant
(RFC 3339, UTC, six fractional digits), so a time the ledger writes is always one an
entry may carry and every verifier parses. The sequencer stamps entries with it (and
never earlier than the previous entry's time); the API and the CLI compare grant
windows against it. It lives apart from the sequencer so that readers of the time need
not import the writer.
"""

from __future__ import annotations

from datetime import UTC, datetime

from evidence.verify.entry import format_time

__all__ = ["utc_now"]


def utc_now() -> str:
    """The current time as the ledger writes it (``2026-03-04T05:06:07.123456Z``)."""
    return format_time(datetime.now(UTC))
