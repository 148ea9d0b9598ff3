"""The command blocks the docs promise to work do work, as printed (issue 13, point 8).

Every fenced block marked ``<!-- runnable -->`` on the line before it, in README.md and in
docs/*.md, runs in a fresh empty folder (a new ledger, nothing inherited from the
environment's EVIDENCE_* settings) with the project's ``evidence`` on PATH, a real local
OpenSSL TSA (``TSA_URL``, ``TSA_CA``) and a free port for a witness (``WITNESS_PORT``).
Every command must exit 0: the block runs under ``set -euo pipefail`` and the first
command that fails is named. Processes a block starts in the background are ended with
it (its own session).

Also held here: README.md has a runnable walkthrough ending with the court command of
docs/verdict.md, and its two commands for a fresh machine are still at the top.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.ports import free_ports
from tests.support.tsa import LocalTSA

ROOT = Path(__file__).resolve().parents[1]
MARK = "<!-- runnable -->"
_BLOCK = re.compile(r"^<!-- runnable -->[ \t]*\n```(?:sh|bash|shell)?[ \t]*\n(.*?)^```[ \t]*$",
                    re.M | re.S)
PRELUDE = "set -euo pipefail\ntrap 'echo \"FAILED (exit $?): $BASH_COMMAND\" >&2' ERR\n"


def runnable_blocks(text: str) -> list[str]:
    """The fenced blocks right after a runnable mark; a mark without one is an error (a
    block someone meant to be tested that silently is not)."""
    blocks = _BLOCK.findall(text)
    assert text.count(MARK) == len(blocks), "a runnable mark not followed by a fenced block"
    return blocks


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


CASES = [pytest.param(doc, i, block, id=f"{doc.relative_to(ROOT)}#{i}")
         for doc in _documents()
         for i, block in enumerate(runnable_blocks(doc.read_text(encoding="utf-8")))]


def test_readme_has_the_walkthrough_and_the_fresh_machine_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = runnable_blocks(text)
    assert blocks, "README.md has no runnable walkthrough"
    walk = "\n".join(blocks)
    for step in ("evidence init", "evidence anchor tsa add", "evidence submit",
                 "evidence anchor\n", "evidence export", "evidence trust export > trust.txt",
                 "evidence receipt \"$ID\" --json >> proofs.jsonl",
                 "evidence verify-receipts proofs.jsonl",
                 'evidence verify bundle.zip --trust trust.txt --trust-sha256 "$FINGERPRINT"'):
        assert step in walk, step
    head = text[:text.index("## ")]
    assert ".venv/bin/pip install -e ." in head and ".venv/bin/evidence serve" in head
    assert "bash scripts/test.sh" in head


def _env(tmp: Path, tsa: LocalTSA) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")}
    bin_dir = str(Path(sys.executable).parent)
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
               HOME=str(tmp), TSA_URL=tsa.url, TSA_CA=str(tsa.ca_pem_path),
               WITNESS_PORT=str(free_ports(1)[0]), PYTHONDONTWRITEBYTECODE="1")
    return env


@pytest.mark.tsa
@pytest.mark.slow
@pytest.mark.parametrize(("doc", "index", "block"), CASES)
def test_runnable_block(doc: Path, index: int, block: str, tmp_path: Path,
                        tsa: LocalTSA) -> None:
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.Popen(["bash", "-c", PRELUDE + block], cwd=work,
                            env=_env(tmp_path, tsa), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=300)
    finally:
        with contextlib.suppress(ProcessLookupError):  # what it left running (a witness)
            os.killpg(proc.pid, signal.SIGTERM)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, f"{doc.name} block {index}:\n{out[-6000:]}"
    if doc.name == "README.md" and "evidence verify bundle.zip" in block:
        assert "VERIFIED" in out and "核验通过" in out, out[-3000:]
