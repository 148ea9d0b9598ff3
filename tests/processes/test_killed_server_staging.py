"""Upload staging folders owned by each server process (issue 15): a killed server's
folder is removed by the next server that starts, a live one's is left alone, and a
server counts and removes only its own. Real folders in /dev/shm, real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from evidence.api.services import Services
from evidence.api.settings import ApiSettings
from evidence.api.uploads import private_staging_folder, sweep_staging
from tests.support.api_server import make_world

SHM = Path("/dev/shm")
pytestmark = pytest.mark.skipif(not SHM.is_dir(), reason="no /dev/shm (tmpfs) here")


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_killed_servers_folder_is_swept_a_live_ones_kept(tmp_path: Path) -> None:
    parent = SHM / f"evidence-uploads-{os.getuid()}"
    parent.mkdir(mode=0o700, exist_ok=True)
    dead = parent / f"w{_dead_pid()}-0badf00d"
    (dead / "upload-x").mkdir(parents=True)
    (dead / "upload-x" / "part").write_bytes(b"left by a SIGKILL")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        alive = parent / f"w{live.pid}-00c0ffee"
        alive.mkdir()
        fresh_legacy = parent / "upload-legacy"  # an older version's, too young to judge
        fresh_legacy.mkdir()
        world = make_world(tmp_path / "data")
        svc = Services.open(ApiSettings(data_dir=str(world.data), anchor=False))
        try:
            own = svc.fast_spool
            assert own is not None and own.parent == parent and own.is_dir()
            assert own.name.startswith(f"w{os.getpid()}-")
            assert oct(own.stat().st_mode & 0o777) == "0o700"
            assert not dead.exists() and alive.exists() and fresh_legacy.exists()
            assert not any(own.iterdir())  # what the tests of the fast path count
            other = private_staging_folder()  # a second server in this process
            assert other is not None and other != own and own.exists()
            other.rmdir()
        finally:
            svc.close()
        assert not own.exists()  # removed at shutdown
    finally:
        live.kill()
        live.wait()
    assert sweep_staging(parent) >= 1 and not alive.exists()
    fresh_legacy.rmdir()


def test_a_server_killed_with_sigkill_leaves_a_folder_the_next_one_removes(
        tmp_path: Path) -> None:
    world = make_world(tmp_path / "data")
    code = ("import os, sys, time\n"
            "from evidence.api.services import Services\n"
            "from evidence.api.settings import ApiSettings\n"
            f"svc = Services.open(ApiSettings(data_dir={str(world.data)!r}, anchor=False))\n"
            "(svc.fast_spool / 'upload-1').mkdir()\n"
            "print(svc.fast_spool, flush=True)\n"
            "time.sleep(60)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                         cwd=Path(__file__).resolve().parents[2])
    folder = Path(p.stdout.readline().strip())
    p.kill()
    p.wait()
    assert (folder / "upload-1").is_dir()  # SIGKILL: nothing cleaned up
    svc = Services.open(ApiSettings(data_dir=str(world.data), anchor=False))
    try:
        assert not folder.exists()
    finally:
        svc.close()
