"""The C2SP tlog-witness ``add-checkpoint`` request body, parsed strictly.

c2sp.org/tlog-witness: the body is an old size line, zero or more consistency
proof lines, an empty line, then a signed checkpoint note::

    old <size>\\n
    <base64 hash>\\n          (0..63 lines)
    \\n
    <origin>\\n<size>\\n<base64 root>\\n[extensions]\\n\\n— <name> <sig>\\n...

Everything here is hostile input from the network: the body is bounded before
anything is split, every line has a fixed maximum length, sizes are canonical
decimals within 0..2^64-1, hashes are canonical base64 of exactly 32 bytes. A
body that breaks any rule raises :class:`MalformedRequest` (HTTP 400); nothing
else escapes this module.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from evidence.verify.checkpoint import Checkpoint, parse_checkpoint
from evidence.verify.errors import MalformedInput
from evidence.verify.hashing import HASH_SIZE, Hash32
from evidence.verify.merkle import MAX_TREE_SIZE
from evidence.verify.note import MAX_NOTE_SIZE, ParsedNote, parse_note

MAX_BODY_SIZE = 1 << 20
"""A request body larger than 1 MiB is refused before it is read in full."""

MAX_PROOF_LINES = 63
"""c2sp.org/tlog-witness: "The client MUST NOT send more than 63 consistency proof lines"."""

_OLD_PREFIX = b"old "
_MAX_SIZE_DIGITS = len(str(MAX_TREE_SIZE))
_B64_HASH_LEN = 44  # base64 of 32 bytes, with one '=' of padding
_MAX_HEADER = len(_OLD_PREFIX) + _MAX_SIZE_DIGITS + 1 + MAX_PROOF_LINES * (_B64_HASH_LEN + 1)


class MalformedRequest(ValueError):
    """The add-checkpoint body breaks the tlog-witness syntax (HTTP 400)."""


@dataclass(frozen=True)
class AddCheckpointRequest:
    """A syntactically valid add-checkpoint request. Nothing in it is verified yet."""

    old_size: int
    proof: tuple[Hash32, ...]
    note: str
    """The whole signed note, as sent (text and signature lines)."""
    parsed: ParsedNote
    checkpoint: Checkpoint


def parse_decimal(data: bytes, what: str) -> int:
    """An ASCII decimal with no leading zeros ("0" for zero), within 0..2^64-1."""
    if not data or len(data) > _MAX_SIZE_DIGITS or not data.isdigit() or not data.isascii():
        raise MalformedRequest(f"{what} {data[:30]!r} is not a decimal of at most "
                               f"{_MAX_SIZE_DIGITS} digits")
    if len(data) > 1 and data[:1] == b"0":
        raise MalformedRequest(f"{what} {data[:30]!r} has a leading zero")
    value = int(data)
    if value > MAX_TREE_SIZE:
        raise MalformedRequest(f"{what} {value} is larger than 2^64-1")
    return value


def _parse_hash(line: bytes, n: int) -> Hash32:
    if len(line) != _B64_HASH_LEN:
        raise MalformedRequest(f"consistency proof line {n} is not the base64 of a 32-byte hash")
    try:
        raw = base64.b64decode(line, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedRequest(f"consistency proof line {n} is not valid base64") from None
    if len(raw) != HASH_SIZE or base64.b64encode(raw) != line:
        raise MalformedRequest(f"consistency proof line {n} is not canonical base64 of "
                               f"{HASH_SIZE} bytes")
    return Hash32(raw)


def parse_add_checkpoint(body: bytes) -> AddCheckpointRequest:
    """Parse an add-checkpoint body; raise :class:`MalformedRequest` on any syntax error."""
    if not isinstance(body, bytes | bytearray):
        raise MalformedRequest("request body must be bytes")
    body = bytes(body)
    if len(body) > MAX_BODY_SIZE:
        raise MalformedRequest(f"request body is {len(body)} bytes; the limit is {MAX_BODY_SIZE}")
    split = body.find(b"\n\n", 0, _MAX_HEADER + 1)
    if split < 0:
        raise MalformedRequest("request has no empty line between the old size and proof lines "
                               "and the checkpoint (or the proof is longer than 63 lines)")
    header, note_bytes = body[: split + 1], body[split + 2 :]
    lines = header[:-1].split(b"\n")
    old_line, proof_lines = lines[0], lines[1:]
    if not old_line.startswith(_OLD_PREFIX):
        raise MalformedRequest("request does not start with 'old <size>'")
    old_size = parse_decimal(old_line[len(_OLD_PREFIX) :], "old size")
    if len(proof_lines) > MAX_PROOF_LINES:
        raise MalformedRequest(f"request has {len(proof_lines)} consistency proof lines; "
                               f"at most {MAX_PROOF_LINES} are allowed")
    proof = tuple(_parse_hash(line, n) for n, line in enumerate(proof_lines, 1))
    if len(note_bytes) > MAX_NOTE_SIZE:
        raise MalformedRequest("checkpoint note is larger than the note size limit")
    try:
        note = note_bytes.decode("utf-8")
        parsed = parse_note(note)
        checkpoint = parse_checkpoint(parsed.text)
    except UnicodeDecodeError as e:
        raise MalformedRequest(f"checkpoint note is not valid UTF-8 (byte {e.start})") from None
    except MalformedInput as e:
        raise MalformedRequest(f"checkpoint: {e}") from None
    return AddCheckpointRequest(old_size, proof, note, parsed, checkpoint)


def format_size_response(size: int) -> bytes:
    """The body of a 409 whose Content-Type is ``text/x.tlog.size``."""
    return f"{size}\n".encode()


SIZE_CONTENT_TYPE = "text/x.tlog.size"
