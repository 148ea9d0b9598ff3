"""Is this text JSON? A grammar check, not a guess from the first character.

A leading ``[`` or ``{`` says little: a WhatsApp iOS export starts every line with
``[02/01/2024, 10:11:12]``, a log file with ``[INFO]``. So the sniffer calls text JSON only
when it parses: a file that fits in the sniffed head is checked whole; a larger one must be
a valid JSON *prefix* over its head and then parse whole (up to :data:`CONFIRM_BYTES`;
beyond that, a valid prefix over the first :data:`PREFIX_BYTES` is taken as enough, so the
sniffer's cost stays bounded whatever the file's size).

The checker works on tokens with an explicit stack: no recursion, so deep nesting costs
memory proportional to the text already bounded by the caller, never a RecursionError.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

CONFIRM_BYTES = 8 * 1024 * 1024
PREFIX_BYTES = 1024 * 1024

_TOKEN = re.compile(
    r'[ \t\r\n]*(?:'
    r'(?P<s>"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*")'
    r'|(?P<n>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)'
    r'|(?P<l>true|false|null)'
    r'|(?P<p>[{}\[\],:]))'
)
# What may stand at the very end of a truncated sample: the start of a token.
_PARTIAL = re.compile(
    r'[ \t\r\n]*(?:'
    r'"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*(?:\\(?:u[0-9a-fA-F]{0,3})?)?'
    r'|-?(?:0|[1-9][0-9]*)?(?:\.[0-9]*)?(?:[eE][+-]?[0-9]*)?'
    r'|t(?:r(?:ue?)?)?|f(?:a(?:l(?:se?)?)?)?|n(?:u(?:ll?)?)?'
    r')\Z'
)

# Parser states: what the next token may be.
_VALUE, _VALUE_OR_CLOSE, _KEY, _KEY_OR_CLOSE, _COLON, _COMMA_OR_CLOSE, _DONE = range(7)


def check(text: str, *, complete: bool) -> bool:
    """True if ``text`` is a JSON object or array (``complete``), or the beginning of one
    (not ``complete``: the sample was cut, so an unfinished token or container at its end
    is allowed). A bare scalar (``123``, ``"x"``, ``true``) is not JSON *as a file type*."""
    text = text.lstrip("\ufeff")
    stack: list[str] = []
    state = _VALUE
    pos = 0
    while True:
        m = _TOKEN.match(text, pos)
        if m is None:
            rest = text[pos:]
            if not rest.strip(" \t\r\n"):
                return state == _DONE if complete else bool(stack) or state == _DONE
            if complete or state == _DONE:
                return False
            return _PARTIAL.match(rest) is not None and bool(stack)
        pos = m.end()
        kind = m.lastgroup
        tok = m.group(kind or "p")
        if state == _DONE:
            return False  # something after the top-level value
        if not stack and state == _VALUE and tok not in ("{", "["):
            return False
        if kind == "p" and tok in "{[":
            if state not in (_VALUE, _VALUE_OR_CLOSE):
                return False
            stack.append(tok)
            state = _KEY_OR_CLOSE if tok == "{" else _VALUE_OR_CLOSE
        elif kind == "p" and tok in "}]":
            opener = "{" if tok == "}" else "["
            ok_states = (_KEY_OR_CLOSE, _COMMA_OR_CLOSE) if tok == "}" else (
                _VALUE_OR_CLOSE, _COMMA_OR_CLOSE)
            if not stack or stack[-1] != opener or state not in ok_states:
                return False
            stack.pop()
            state = _COMMA_OR_CLOSE if stack else _DONE
        elif tok == ",":
            if state != _COMMA_OR_CLOSE:
                return False
            state = _KEY if stack[-1] == "{" else _VALUE
        elif tok == ":":
            if state != _COLON:
                return False
            state = _VALUE
        elif kind == "s" and state in (_KEY, _KEY_OR_CLOSE):
            state = _COLON
        elif state in (_VALUE, _VALUE_OR_CLOSE):  # a string, number or literal value
            state = _COMMA_OR_CLOSE
        else:
            return False


def confirm(path: Path, codec: str) -> bool:
    """Whether the whole file (larger than the sniffed head) is JSON, within the bounds in
    the module doc. ``codec`` decoded the head. An unreadable file is not JSON."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            data = f.read(size if size <= CONFIRM_BYTES else PREFIX_BYTES)
    except OSError:
        return False
    if size > CONFIRM_BYTES:
        return check(data.decode(codec, errors="ignore"), complete=False)
    try:
        text = data.decode(codec)
        value = json.loads(text.lstrip("\ufeff"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    return isinstance(value, (dict, list))
