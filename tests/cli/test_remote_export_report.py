"""``evidence export --server`` passes --tz and --forum to the server, whose report then
carries them, and its own ``[serve] public_url`` in the QR code's verify URL; the options a
server decides (--trusted-list, --verify-url) are refused with a message that says so.

A real ``evidence serve`` (child process, started with a configuration file) and the CLI in
child processes, as tests/cli/test_remote_cli.py does."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.api_server import Server, World, make_world, start_server
from tests.support.cli_run import CLI, cli_env

PUBLIC = "https://evidence.example"


def run(home: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None,
        ok: bool = True) -> subprocess.CompletedProcess[str]:
    """The CLI in a child process with its own config folder, no remote settings and no
    verify URL from the developer's shell."""
    e = cli_env()
    for k in ("EVIDENCE_SERVER", "EVIDENCE_TOKEN", "EVIDENCE_DATA_DIR", "EVIDENCE_PRINCIPAL",
              "EVIDENCE_REMOTE_CONFIG", "EVIDENCE_REPORT_VERIFY_URL"):
        e.pop(k, None)
    e["XDG_CONFIG_HOME"] = str(home)
    e.update(env or {})
    p = subprocess.run([sys.executable, "-c", CLI, *args], env=e, input=stdin,
                       capture_output=True, text=True, timeout=300)
    assert (p.returncode == 0) == ok, (args, p.returncode, p.stdout, p.stderr)
    return p


def js(p: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, Server]]:
    root = tmp_path_factory.mktemp("remote-report")
    w = make_world(root / "data")
    cfg = root / "evidence.toml"
    cfg.write_text(f'[serve]\npublic_url = "{PUBLIC}"\n')
    srv = start_server(w, "--no-anchor", "--config", str(cfg))
    try:
        yield w, srv
    finally:
        srv.stop()


def _report(path: Path) -> str:
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as z:
        return " ".join(z.read("report/report.txt").decode().split())


def test_remote_export_passes_zone_and_forum(world: tuple[World, Server],
                                             tmp_path: Path) -> None:
    _w, srv = world
    run(tmp_path, "login", srv.base, "--token-stdin", "--json",
        stdin=srv.world.tokens["acme"] + "\n")
    f = tmp_path / "notice.txt"
    f.write_bytes(b"infringing listing " + os.urandom(8).hex().encode())
    eid = js(run(tmp_path, "submit", str(f), "--case", "case-a", "--kind", "document",
                 "--json"))["evidence_id"]
    out = tmp_path / "b.zip"
    r = js(run(tmp_path, "export", eid, "-o", str(out), "--provisional", "--tz",
               "Asia/Tokyo", "--forum", "us", "--json"))
    assert r["path"] == str(out) and r["provisional"] is True
    txt = _report(out)
    assert "Asia/Tokyo (chosen at export)" in txt and "(UTC+09:00)" in txt
    assert "902(14)" in txt and "eIDAS Regulation Art. 41-42" not in txt
    assert f"verify page / 核验页面: {PUBLIC}/verify/?id={eid}" in txt
    # without options: the server's zone and every forum
    plain = tmp_path / "plain.zip"
    run(tmp_path, "export", eid, "-o", str(plain), "--provisional", "--json")
    txt = _report(plain)
    assert "chosen at export" not in txt
    assert "902(14)" in txt and "eIDAS Regulation Art. 41-42" in txt

    # a zone the server does not know: its 422, nothing written
    bad = run(tmp_path, "export", eid, "-o", str(tmp_path / "x.zip"), "--provisional",
              "--tz", "Mars/Olympus", ok=False)
    assert "unknown time zone" in bad.stderr + bad.stdout
    assert not (tmp_path / "x.zip").exists() and not list(tmp_path.glob("*.part"))

    # what the server decides is refused here, saying whose it is
    (tmp_path / "DE.xml").write_bytes(b"<x/>")
    p = run(tmp_path, "export", eid, "-o", str(tmp_path / "y.zip"), "--trusted-list",
            str(tmp_path / "DE.xml"), ok=False)
    assert p.returncode == 2 and "[eidas] trusted_lists" in p.stderr
    p = run(tmp_path, "export", eid, "-o", str(tmp_path / "y.zip"), "--verify-url",
            "https://elsewhere.example/verify/", ok=False)
    assert p.returncode == 2 and "[serve] public_url" in p.stderr
    # the environment's verify URL (meant for local exports) does not stop a remote one
    run(tmp_path, "export", eid, "-o", str(tmp_path / "z.zip"), "--provisional",
        env={"EVIDENCE_REPORT_VERIFY_URL": "https://elsewhere.example/verify/"})
    assert f"{PUBLIC}/verify/?id={eid}" in _report(tmp_path / "z.zip")
