"""The witness-network.org log list (``logs/v0``): which logs a witness should follow.

The format, as the network's own validator (transparency-dev/witness-network,
``cmd/validate``) reads the published lists::

    # comments and blank lines are ignored; lines are trimmed; CRLF is accepted
    logs/v0

    vkey <name>+<8 hex>+<base64 of 0x01 || Ed25519 key>
    origin <origin line>          (optional: absent, or "none", means the vkey's name)
    qpd <add-checkpoint requests per day, an integer > 0>
    contact <free text>

repeated once per log, the lines of one log in this order. An older draft of the
format also had a ``bastion`` line after the origin: it is accepted and ignored
(this witness is reached directly, never through a bastion).

The network's rule for witnesses (witness-network.org/participate): configure every
*new* log a list names (new: its origin is not followed yet), and never remove or
change a log already followed because a list changed. :func:`parse_log_list` only
reads; :mod:`evidence.witness.lists` applies the rule.

Hostile input: a list is at most :data:`MAX_LIST_SIZE` bytes and every line at most
:data:`MAX_LINE` characters; a list that breaks the grammar is refused whole
(:class:`LogListError` names the line), so a half-read list never adds half its logs.
"""

from __future__ import annotations

from dataclasses import dataclass

from evidence.verify.errors import MalformedInput
from evidence.verify.note import ALG_ED25519, Verifier, parse_verifier_key

__all__ = ["HEADER", "MAX_LIST_SIZE", "ListedLog", "LogListError", "parse_log_list"]

HEADER = "logs/v0"
MAX_LIST_SIZE = 16 << 20
"""The network's largest profile lists a million logs at ~150 bytes each; more is not a list."""
MAX_LINE = 4096
MAX_QPD = 86400 * 1000
"""1000 requests a second: a larger figure is a typo, not a budget."""


class LogListError(ValueError):
    """The list is not a ``logs/v0`` list; the message names the line."""


@dataclass(frozen=True)
class ListedLog:
    """One log of a list."""

    origin: str
    key: Verifier
    qpd: int
    contact: str
    line: int
    """Where its ``vkey`` line is (for messages)."""


def _lines(data: bytes) -> list[tuple[int, str]]:
    if len(data) > MAX_LIST_SIZE:
        raise LogListError(f"the list is {len(data)} bytes; the limit is {MAX_LIST_SIZE}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise LogListError(f"the list is not UTF-8: {e}") from None
    out = []
    for n, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r").strip()
        if len(line) > MAX_LINE:
            raise LogListError(f"line {n}: longer than {MAX_LINE} characters")
        if line and not line.startswith("#"):
            out.append((n, line))
    return out


def _value(n: int, line: str, keyword: str) -> str:
    word, _, rest = line.partition(" ")
    if word != keyword:
        raise LogListError(f"line {n}: expected '{keyword}', found {word[:40]!r}")
    rest = rest.strip()
    if not rest:
        raise LogListError(f"line {n}: '{keyword}' needs a value")
    return rest


def parse_log_list(data: bytes) -> list[ListedLog]:
    """Every log of the list, in order; raise :class:`LogListError` if it breaks the format
    (or names one origin twice: which of the two entries would be meant?)."""
    lines = _lines(data)
    if not lines or lines[0][1] != HEADER:
        where = f"line {lines[0][0]}" if lines else "the list"
        raise LogListError(f"{where}: expected the header '{HEADER}'")
    logs: list[ListedLog] = []
    seen: dict[str, int] = {}
    i = 1
    while i < len(lines):
        n, line = lines[i]
        vkey = _value(n, line, "vkey")
        if " " in vkey:
            raise LogListError(f"line {n}: 'vkey' takes one value")
        try:
            key = parse_verifier_key(vkey)
        except (MalformedInput, ValueError) as e:
            raise LogListError(f"line {n}: bad vkey: {e}") from None
        if key.alg != ALG_ED25519:
            raise LogListError(f"line {n}: the log key {key.name} is not an Ed25519 (0x01) key")
        i += 1
        origin = key.name
        if i < len(lines) and lines[i][1].split(" ", 1)[0] == "origin":
            given = _value(*lines[i], "origin")
            origin = key.name if given == "none" else given
            i += 1
        if i < len(lines) and lines[i][1].split(" ", 1)[0] == "bastion":
            _value(*lines[i], "bastion")
            i += 1
        if i >= len(lines):
            raise LogListError(f"line {n}: the log {origin!r} has no qpd and contact lines")
        qn, qline = lines[i]
        qpd_text = _value(qn, qline, "qpd")
        if not qpd_text.isdigit() or not qpd_text.isascii() or len(qpd_text) > 12:
            raise LogListError(f"line {qn}: qpd {qpd_text[:20]!r} is not a whole number")
        qpd = int(qpd_text)
        if not 0 < qpd <= MAX_QPD:
            raise LogListError(f"line {qn}: qpd must be between 1 and {MAX_QPD}")
        i += 1
        if i >= len(lines):
            raise LogListError(f"line {n}: the log {origin!r} has no contact line")
        contact = _value(*lines[i], "contact")
        i += 1
        if origin in seen:
            raise LogListError(f"line {n}: origin {origin!r} is listed twice (first at line "
                               f"{seen[origin]})")
        seen[origin] = n
        logs.append(ListedLog(origin, key, qpd, contact, n))
    return logs
