"""A log's tiles as a static site: ``serve_folder`` runs one ``python -m http.server`` on
a folder whose content the test swaps (``show(folder)`` copies it in and gives the URL),
and ``snapshot`` reads a directory's files (a mirror's, to show a refused checkpoint
changed nothing). The ``serve`` fixture of tests/mirror/conftest.py wraps ``serve_folder``;
used by tests/mirror/test_mirror_rotation.py and tests/mirror/test_mirror_mldsa.py."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.support.ports import free_ports

__all__ = ["serve_folder", "snapshot"]


def serve_folder(tmp_path: Path) -> Iterator[Callable[[Path], str]]:
    """One ``python -m http.server`` on a folder whose content the test swaps."""
    root = tmp_path / "served"
    (port,) = free_ports(1)
    p = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                          "127.0.0.1", "--directory", str(root.parent)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def show(folder: Path) -> str:
        if root.exists():
            shutil.rmtree(root)
        shutil.copytree(folder, root)
        return f"http://127.0.0.1:{port}/served/"

    try:
        yield show
    finally:
        p.terminate()
        p.wait(timeout=30)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (its lock file aside) by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".lock"}
