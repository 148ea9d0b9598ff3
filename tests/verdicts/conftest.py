"""Fixtures of the verdict tests: a Python the stand-alone script runs in alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv whose only package is ``cryptography`` (with the ``cffi`` it loads): the
    stand-alone script must work where the ``evidence`` package, ``rfc3161-client`` and
    ``rfc8785`` cannot be imported. The packages are linked from this run's own venv, so no
    network is needed and the version is the one the rest of the tests use."""
    # cffi's compiled half ships as the top-level module _cffi_backend: only its file is
    # used here (linked into the venv); cffi has no public name for it
    import _cffi_backend
    import cffi
    import cryptography
    import pycparser

    venv = tmp_path_factory.mktemp("bare-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   capture_output=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-I", "-c", "import sysconfig; "
                                "print(sysconfig.get_paths()['purelib'])"], check=True,
                               capture_output=True, text=True).stdout.strip())
    for mod in (cryptography, cffi, pycparser):
        (site / mod.__name__).symlink_to(Path(mod.__file__).parent)
    backend = Path(_cffi_backend.__file__)
    (site / backend.name).symlink_to(backend)
    probe = ("import importlib.util as u, cryptography.x509, "
             "cryptography.hazmat.primitives.asymmetric.ed25519; "
             "print([m for m in ('evidence', 'rfc3161_client', 'rfc8785', 'asn1crypto', "
             "'pyasn1') if u.find_spec(m)])")
    got = subprocess.run([str(python), "-I", "-c", probe], check=True, capture_output=True,
                         text=True, cwd=venv).stdout.strip()
    assert got == "[]", f"the bare venv can import {got}"
    return python
