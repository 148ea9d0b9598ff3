"""Child Python processes for crash tests: run a script that prints ``seq leaf_hash``
per acknowledged append, SIGKILL it mid-stream, and collect every acknowledgement it
printed (before and as the kill landed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def child_env() -> dict[str, str]:
    """This environment, with the checkout first on the child's import path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def kill_after_acks(code: str, args: list[str], acks: int) -> list[tuple[int, str]]:
    """Run ``python -c code *args``; SIGKILL it once it has printed ``acks`` lines of
    ``seq leaf_hash``; return every such line it printed, as ``(seq, leaf_hash)``."""
    child = subprocess.Popen([sys.executable, "-c", code, *args], env=child_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None
    acked: list[tuple[int, str]] = []
    while len(acked) < acks:
        line = child.stdout.readline()
        if not line:
            raise AssertionError(child.stderr.read().decode()[-2000:])
        seq, h = line.split()
        acked.append((int(seq), h.decode()))
    os.kill(child.pid, signal.SIGKILL)
    rest, _ = child.communicate(timeout=60)
    for line in rest.splitlines():  # acknowledged before the kill landed
        parts = line.split()
        if len(parts) == 2:
            acked.append((int(parts[0]), parts[1].decode()))
    assert child.returncode == -signal.SIGKILL
    return acked
