"""Output helpers shared by commands: JSON for scripts, readable text for people."""

from __future__ import annotations

import json
import sys
from typing import Any

import click


def emit_json(value: Any) -> None:
    """One JSON document on one line (JSON Lines): ``cmd --json >> log.jsonl`` then a
    line-by-line reader must work as printed (``evidence verify-receipts``); a person
    pipes it through ``jq`` to read it indented."""
    click.echo(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def fail(message: str, *, code: int = 1, as_json: bool = False, **extra: Any) -> None:
    """Print an error the user can act on and exit non-zero."""
    if as_json:
        emit_json({"ok": False, "error": message, **extra})
    else:
        click.echo(f"error: {message}", err=True)
    sys.exit(code)
