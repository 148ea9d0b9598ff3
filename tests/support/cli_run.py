"""The ``evidence`` CLI run as a child process, as an operator runs it: the repository on
PYTHONPATH and none of the settings a developer's shell may carry (blob store, size
limit, database URL), so each test states the settings it means."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI = "from evidence.cli.main import main; main()"


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    for k in ("EVIDENCE_BLOB_STORE", "EVIDENCE_MAX_FILE_SIZE", "EVIDENCE_DB_URL"):
        env.pop(k, None)
    return env


def run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([sys.executable, "-c", CLI, *args], env=cli_env(),
                       capture_output=True, text=True, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} failed ({p.returncode}): {p.stderr}")
    return p


def init_data_dir(tmp_path: Path) -> str:
    d = str(tmp_path / "data")
    run_cli("init", "--data-dir", d, "--origin", "cli.example/log", "--checkpoint-interval", "0")
    return d
