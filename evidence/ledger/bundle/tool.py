"""The stand-alone verifier a bundle carries as ``tools/verify_bundle.py``.

A court that receives only the bundle should also hold a program that checks it,
one it can read: one file, ``cryptography`` only. That file lives here, beside this
module, as ``standalone_verify_bundle.py`` (so that every install of the package,
a wheel included, carries it), and ``scripts/verify_bundle.py`` is a symbolic link
to it for auditors working from a checkout: one copy, no drift. It is never
imported; it is read as data.

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
    """The exact bytes of the stand-alone verifier (``scripts/verify_bundle.py``)."""
    return files(__package__).joinpath(COPY_NAME).read_bytes()
