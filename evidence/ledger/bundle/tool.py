"""The stand-alone verifier a bundle carries as ``tools/verify_bundle.py``.

A court that receives only the bundle should also hold a program that checks it,
one it can read: ``scripts/verify_bundle.py`` (one file, ``cryptography`` only).
``scripts/`` is not part of the installed package, so the package keeps a
byte-for-byte copy beside this module, ``standalone_verify_bundle.py``, and
``tests/test_bundle_tool.py`` fails the moment the two differ (copy the script
over it: ``cp scripts/verify_bundle.py evidence/ledger/bundle/standalone_verify_bundle.py``).
A copy in the source tree, rather than a build step, works the same in an
editable install, a wheel and a source checkout: the bytes shipped are the bytes
reviewed. The copy is never imported; it is read as data.

The report prints the member's SHA-256 beside where to get the reference copy, so
a court need not trust the copy inside the bundle: it compares the two.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

__all__ = ["COPY_NAME", "TOOL_MEMBER", "TOOL_REFERENCE", "tool_source"]

TOOL_MEMBER = "tools/verify_bundle.py"
COPY_NAME = "standalone_verify_bundle.py"
TOOL_REFERENCE = (
    "scripts/verify_bundle.py in the evidence project's source repository, at the "
    "exporter's version / 本项目源代码仓库中的 scripts/verify_bundle.py（与导出程序同一版本）",
)
"""Where the reference copy is, in the report's words (both languages)."""


@cache
def tool_source() -> bytes:
    """The exact bytes of ``scripts/verify_bundle.py`` at this version."""
    return files(__package__).joinpath(COPY_NAME).read_bytes()
