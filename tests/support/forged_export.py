"""A forger's copy of a log export (docs/formats.md "Log export"): entries changed and
chained again, checkpoints signed again over the new roots, the manifest written again,
tiles dropped. What someone holding every key could make; the auditor tests check that
the offline audit names the change where ``evidence audit`` does."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evidence.verify.merkle import root as merkle_root
from evidence.verify.note import parse_note

AUDITOR = Path(__file__).resolve().parents[2] / "scripts" / "audit_ledger.py"

Change = Callable[[int, dict[str, Any]], None]
"""``change(seq, entry)``: edits the parsed entry in place."""
Resign = Callable[[int, str, Any], str]
"""``resign(size, body, note)``: the new checkpoint file's text for the checkpoint body
``body`` (its root the forged tree's) of the old checkpoint ``note``."""


def export_rows(export: Path) -> list[dict[str, Any]]:
    """The lines of an export's ``entries.jsonl``."""
    return [json.loads(ln) for ln in (export / "entries.jsonl").read_text().splitlines()]


def row_entry(row: dict[str, Any]) -> dict[str, Any]:
    """The parsed entry of one ``entries.jsonl`` line."""
    return json.loads(base64.b64decode(row["entry_b64"]))


def forge_export(export: Path, out: Path, change: Change, resign: Resign) -> Path:
    """``out``: a copy of ``export`` with ``change`` applied to every entry, the chain and
    the leaf hashes made again, each checkpoint replaced by ``resign``'s text over the
    new root, and the manifest's hashes and sizes made again; its tiles dropped."""
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(export, out, symlinks=True)
    shutil.rmtree(out / "tlog", ignore_errors=True)
    leaves: list[bytes] = []
    lines = []
    prev = "0" * 64
    for row in export_rows(export):
        e = row_entry(row)
        e["prev"] = prev
        change(e["seq"], e)
        data = json.dumps(e, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False).encode()
        leaf = hashlib.sha256(b"\x00" + data).digest()
        leaves.append(leaf)
        prev = leaf.hex()
        lines.append(json.dumps({"seq": e["seq"], "leaf_hash": leaf.hex(),
                                 "entry_b64": base64.b64encode(data).decode()}) + "\n")
    (out / "entries.jsonl").write_text("".join(lines))
    for f in (out / "checkpoints").iterdir():
        size = int(f.name)
        note = parse_note(f.read_text())
        origin, _, _, *ext = note.text[:-1].split("\n")
        body = "\n".join([origin, str(size),
                          base64.b64encode(merkle_root(leaves[:size])).decode(), *ext]) + "\n"
        f.write_text(resign(size, body, note))
    manifest = out / "manifest.json"
    doc = json.loads(manifest.read_text())
    doc["files"] = {n: {"sha256": hashlib.sha256((out / n).read_bytes()).hexdigest(),
                        "size": (out / n).stat().st_size}
                    for n in doc["files"] if (out / n).exists()}
    manifest.write_text(json.dumps(doc, sort_keys=True, separators=(",", ":")))
    return out


def audit_log_only(export: Path, trust: Path, *args: str) -> dict[str, Any]:
    """scripts/audit_ledger.py's ``--json`` report on ``export`` (``--log-only``: the log
    check alone), run as an auditor runs it (``python -I``), with its exit status as
    ``"exit"``."""
    p = subprocess.run([sys.executable, "-I", str(AUDITOR), str(export), "--trust", str(trust),
                        "--log-only", "--json", "--quiet", *args],
                       capture_output=True, text=True, timeout=300)
    assert p.stdout.strip() and "Traceback" not in p.stderr, p.stderr[-800:]
    report = json.loads(p.stdout)
    report["exit"] = p.returncode
    return report


def log_check(report: dict[str, Any]) -> dict[str, Any]:
    """The report's ``log`` check."""
    return next(c for c in report["checks"] if c["name"] == "log")
