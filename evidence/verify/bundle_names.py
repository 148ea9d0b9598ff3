"""The file names of an ``evidence-bundle/v2``: ``files/<sha256>/<safe name>``.

A clerk opens a bundle's files with a double-click, so v2 stores each under the name it
was submitted with (docs/bundle.md "File names (v2)"). That name is a party's claim and
may be anything: :func:`safe_name` derives from it a name every system a clerk uses can
store and that cannot leave its folder, hide, pose as another type or run. Verifiers
recompute it from the signed submission entry and require exactly it, so it must come
out the same in every verifier of every age: every step works on code points in fixed
ranges, never on a Unicode database (no normalisation, no case mapping beyond ASCII).
``scripts/verify_bundle.py`` and ``static/verify/verify.js`` implement the same steps;
``tests/verify/test_bundle_names.py`` holds the three to one table.

:func:`name_part_ok` is the weaker rule the archive check applies before the manifest
is read: a part that could never be derived this way (a ``/``, ``..``, a control
character) is refused at ``archive``; a well-formed part that is not the derived name
fails ``files``.

Imports: stdlib only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["FORMATS", "FORMAT_V1", "FORMAT_V2", "INDEX", "MAX_NAME_BYTES", "file_member",
           "name_part_ok", "safe_name", "v2_members"]

FORMAT_V1 = "evidence-bundle/v1"
FORMAT_V2 = "evidence-bundle/v2"
FORMATS = (FORMAT_V1, FORMAT_V2)
INDEX = "index.html"
"""v2's optional static page linking each file (informational, like the report)."""

MAX_NAME_BYTES = 120
"""UTF-8 bytes a safe name is cut to (step 4), before ``_`` may be added at each end."""
MAX_PART_BYTES = 255
"""The longest name part the archive check accepts (what file systems store)."""
_MAX_EXT_BYTES = 16

_REPLACED = re.compile(
    "[\x00-\x1f\x7f-\x9f\"*/:<>?\\\\|\ud800-\udfff\u061c\u200b-\u200f\u202a-\u202e"
    "\u2028\u2029\u2060-\u206f\ufeff\ufdd0-\ufdef\ufff0-\uffff"
    "\U0001fffe\U0001ffff\U0002fffe\U0002ffff\U0003fffe\U0003ffff\U0004fffe\U0004ffff"
    "\U0005fffe\U0005ffff\U0006fffe\U0006ffff\U0007fffe\U0007ffff\U0008fffe\U0008ffff"
    "\U0009fffe\U0009ffff\U000afffe\U000affff\U000bfffe\U000bffff\U000cfffe\U000cffff"
    "\U000dfffe\U000dffff\U000e0000-\U000e007f\U000efffe\U000effff\U000ffffe\U000fffff"
    "\U0010fffe\U0010ffff]")
"""Step 2: controls, Windows' forbidden characters and the folder separators, lone
surrogates, invisible and bidirectional-override characters, line and paragraph
separators, specials, noncharacters and tags."""

_DEVICES = frozenset({"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
                      *(f"{p}{d}" for p in ("COM", "LPT") for d in "0123456789\u00b9\u00b2\u00b3")})
"""Step 6: Windows device names (also with any extension: ``nul.txt`` is the device)."""

_PROGRAMS = frozenset((
    "app", "appref-ms", "application", "bat", "cmd", "com", "command", "cpl", "desktop", "exe",
    "hta", "inf", "jar", "js", "jse", "lnk", "msc", "msi", "msp", "pif", "ps1", "psm1", "reg",
    "scf", "scr", "sct", "sh", "url", "vb", "vbe", "vbs", "ws", "wsc", "wsf", "wsh"))
"""Step 7: extensions a double-click runs rather than opens."""

_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _utf8_len(s: str) -> int:
    """UTF-8 length, counted per code point (step 2 has removed every surrogate)."""
    return sum(1 if c < "\x80" else 2 if c < "\u0800" else 3 if c < "\U00010000" else 4
               for c in s)


def _strip(s: str) -> str:
    return s.strip(" .")


def _shorten(s: str) -> str:
    if _utf8_len(s) <= MAX_NAME_BYTES:
        return s
    dot = s.rfind(".")
    ext = s[dot:] if dot > 0 and _utf8_len(s[dot:]) <= _MAX_EXT_BYTES else ""
    room, out = MAX_NAME_BYTES - _utf8_len(ext), []
    for c in s[:len(s) - len(ext)]:
        room -= _utf8_len(c)
        if room < 0:
            break
        out.append(c)
    return _strip("".join(out) + ext)


def safe_name(name: Any) -> str:
    """The safe name of a submitted file name (docs/bundle.md "File names (v2)", steps
    1-7). Total: any JSON value gives a non-empty name that :func:`name_part_ok` accepts."""
    s = name if isinstance(name, str) else ""
    s = _shorten(_strip(_REPLACED.sub("_", s))) or "file"
    if s.split(".", 1)[0].rstrip(" ").translate(_ASCII_UPPER) in _DEVICES:
        s = "_" + s
    dot = s.rfind(".")
    if dot >= 0 and s[dot + 1:].translate(_ASCII_LOWER) in _PROGRAMS:
        s += "_"
    return s


def name_part_ok(part: str) -> bool:
    """The archive check's rule for the ``<name>`` of ``files/<sha256>/<name>``: 1 to 255
    bytes, no code point of step 2 (so no ``/``, ``\\``, control or bidi character), no
    space or dot at either end (so not ``.`` or ``..``). Every safe name passes."""
    return (0 < _utf8_len(part) <= MAX_PART_BYTES and not _REPLACED.search(part)
            and _strip(part) == part)


def file_member(fmt: str, sha256: str, name: Any) -> str:
    """Where a file of this SHA-256 and (first) submitted name is stored in ``fmt``."""
    return f"files/{sha256}" if fmt == FORMAT_V1 else f"files/{sha256}/{safe_name(name)}"


def v2_members(files: Iterable[tuple[str, Any]]) -> dict[str, str]:
    """SHA-256 -> member for the (sha256, name) pairs of a submission entry, in its order:
    one member per content, under the first name given to it."""
    out: dict[str, str] = {}
    for digest, name in files:
        out.setdefault(digest, file_member(FORMAT_V2, digest, name))
    return out
