"""A clean interpreter for the auditors' stand-alone scripts: only ``cryptography`` (and what
it imports) can be imported, never ``evidence`` or the rest of the test environment, as on a
court's machine with ``pip install cryptography`` and nothing else.

``python -S`` skips site-packages and their ``.pth`` files (which is how the editable
``evidence`` is found); ``PYTHONPATH`` then offers only a folder of links to the allowed
packages."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["clean_env", "run_clean"]

_ALLOWED = ("cryptography", "cffi", "_cffi_backend", "pycparser")


def clean_env(tmp: Path) -> dict[str, str]:
    """The environment of a ``cryptography``-only interpreter; links made under ``tmp``."""
    shim = tmp / "shim-cryptography"
    if not shim.exists():
        shim.mkdir(parents=True)
        for name in _ALLOWED:
            spec = importlib.util.find_spec(name)
            if spec is None or spec.origin is None:
                continue  # e.g. cffi absent: cryptography then does not need it
            origin = Path(spec.origin)
            target = origin.parent if origin.name == "__init__.py" else origin
            (shim / target.name).symlink_to(target)
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
            "PYTHONPATH": str(shim), "PYTHONIOENCODING": "utf-8"}


def run_clean(script: Path, args: list[str], env: dict[str, str], cwd: Path,
              ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-S", str(script), *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600, check=False)
