"""How many bytes an item's entry may take, and how many it takes.

A C2SP tlog-tiles entry bundle prefixes each entry with its length as a uint16, so an
entry over 65,535 bytes cannot be put in one, and tiles clients (monitors, mirrors, Go's
tlog readers) could read neither it nor the other 255 entries of its bundle. Intake keeps
every item's entry within that bound: a chat archive's media become files of the item
only while their objects fit (the rest stay in the ZIP, with a warning: :mod:`.derived`),
and an item whose submitted files alone would not fit is refused before anything is
appended, naming the limit (:func:`check_fits`). The sizes are exact for the body given
and the longest header any entry can have (the largest seq, a time with every digit).
Held by tests/ledger/intake/test_entry_room.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evidence.ledger.intake.model import SUBMITTED, FileFailure, SubmissionRefused
from evidence.ledger.tiles_layout import MAX_BUNDLE_ENTRY
from evidence.verify.entry import MAX_SAFE_INTEGER, canonical_json, encode_entry

ENTRY_LIMIT = MAX_BUNDLE_ENTRY
"""Bytes an item's entry may take: what one tlog-tiles entry bundle can hold."""
SUBMITTER_ROOM = 1024
"""Kept free in a body without a ``submitter`` object, for the signature a deferred
submission gets later (an Ed25519 verifier key and signature in base64, its name short)."""
_LATEST = "9999-12-31T23:59:59.999999Z"
_PREV = "0" * 64


def entry_size(body: Mapping[str, Any]) -> int:
    """The bytes of the ``evidence.submitted`` entry of ``body`` at its longest header."""
    return len(encode_entry(MAX_SAFE_INTEGER, _LATEST, _PREV, SUBMITTED, body))


def room_left(body: Mapping[str, Any]) -> int:
    """Bytes the entry of ``body`` could still grow by (negative: over the limit)."""
    reserve = 0 if "submitter" in body else SUBMITTER_ROOM
    return ENTRY_LIMIT - reserve - entry_size(body)


def listed_size(obj: Mapping[str, Any]) -> int:
    """What one more object in the body's ``files`` list adds: itself and a comma."""
    return len(canonical_json(obj)) + 1


def check_fits(body: Mapping[str, Any]) -> None:
    """Refuse an item whose entry would not fit an entry bundle (nothing is appended)."""
    if room_left(body) < 0:
        files = body.get("files") or []
        kept = "" if "submitter" in body else f", {SUBMITTER_ROOM} of them kept for a signature"
        raise SubmissionRefused([FileFailure(
            "files", f"the item's log entry would be {entry_size(body)} bytes with its "
                     f"{len(files)} file(s); a log entry holds at most {ENTRY_LIMIT} bytes "
                     f"(C2SP tlog-tiles{kept}): submit these files as several items")])
