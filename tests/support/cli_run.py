"""The ``evidence`` CLI run as a child process, as an operator runs it: the repository on
PYTHONPATH and none of the settings a developer's shell may carry (blob store, size
limit, database URL), so each test states the settings it means; and, for the setup of
a test, in process (:func:`cli_stdout`)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
CLI = "from evidence.cli.main import main; main()"


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    for k in ("EVIDENCE_BLOB_STORE", "EVIDENCE_MAX_FILE_SIZE", "EVIDENCE_DB_URL"):
        env.pop(k, None)
    return env


def cli_stdout(*args: str) -> str:
    """``evidence <args>`` run in process; its stdout (it must exit 0)."""
    from evidence.cli.main import cli

    r = CliRunner().invoke(cli, list(args))
    assert r.exit_code == 0, (args, r.stdout, r.stderr)
    return r.stdout


def failed_entries_audit(data_dir: Path) -> dict:
    """``evidence audit --entries-only --json`` in process on a ledger a test damaged: it
    must exit 1; its ledger report (``first_bad_seq``, ``reason``)."""
    import json

    from evidence.cli.main import cli

    r = CliRunner().invoke(cli, ["audit", "--data-dir", str(data_dir), "--json",
                                 "--entries-only"])
    assert r.exit_code == 1, (r.stdout, r.stderr, r.exception)
    doc = json.loads(r.stdout or r.stderr)
    return doc.get("ledger", doc)


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


def add_submitter(data_dir: str | Path, *cases: str, principal: str = "tester",
                  db: str | None = None) -> str:
    """Make ``principal`` a submitter member of each case (made if missing) on the ledger in
    ``data_dir``: local ``evidence submit`` refuses an unknown case and records a named
    principal (``--as``), as the API does. Returns the principal, for ``--as``."""
    from evidence.ledger.access import AccessControl, AccessError
    from evidence.ledger.log import Ledger

    led = Ledger.open(str(data_dir), db)
    try:
        ac = AccessControl(led)
        with contextlib.suppress(AccessError):  # already there
            ac.add_principal(principal, "submitter", principal.title())
        for case in cases:
            if not ac.case_exists(case):
                ac.add_case(case)
            if not ac.is_member(principal, case):
                ac.add_member(case, principal)
    finally:
        led.close()
    return principal
