"""Output helpers shared by commands: JSON for scripts, readable text for people."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

PRETTY_LIMIT = 64 * 1024
"""JSON documents up to this size are printed indented for people; larger ones (a bulk
import's 10,000 results) compact: ``indent`` makes Python's encoder take its pure-Python
path, about a second for 10,000 items, for output that only a script will read."""


def emit_json(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if len(text) <= PRETTY_LIMIT:
        text = json.dumps(value, indent=2, ensure_ascii=False)
    click.echo(text)


def fail(message: str, *, code: int = 1, as_json: bool = False, **extra: Any) -> None:
    """Print an error the user can act on and exit non-zero."""
    if as_json:
        emit_json({"ok": False, "error": message, **extra})
    else:
        click.echo(f"error: {message}", err=True)
    sys.exit(code)
