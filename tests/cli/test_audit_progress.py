"""`evidence audit` reports its progress on stderr when it is not a terminal too (cron, a
log file): a line every five seconds and one at the end, entries and entries/s; `--quiet`
and `--json` keep stderr empty. On a terminal it draws a bar (not tested here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evidence.ledger.log import Ledger

pytestmark = pytest.mark.slow


def evidence(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from evidence.cli.main import main; main()",
                           *args], capture_output=True, text=True, timeout=300, check=False)


def test_audit_progress_on_stderr_unless_quiet(tmp_path: Path) -> None:
    d = tmp_path / "data"
    led = Ledger.create(d, "progress.example/log", checkpoint_interval=3600)
    for k in range(6):
        led.append_many([("custody.note", {"n": 10_000 * k + i}) for i in range(10_000)])
    led.sign_checkpoint_now()
    led.close()
    args = ["audit", "--entries-only", "--data-dir", str(d)]
    r = evidence(*args)
    assert r.returncode == 0 and r.stdout.startswith("OK: 60000 entries"), r.stdout + r.stderr
    assert "audited 60,000 of 60,000 entries (100.0%)" in r.stderr
    assert "entries/s" in r.stderr
    for extra in ("--quiet", "--json"):
        r = evidence(*args, extra)
        assert r.returncode == 0 and r.stderr == "", (extra, r.stderr)
    assert json.loads(r.stdout)["ok"] is True
