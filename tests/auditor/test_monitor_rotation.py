"""scripts/monitor_log.py follows a log key rotation (docs/formats.md "Log key rotation",
docs/operations.md "Rotating the log key") against a real ``evidence serve``.

A monitor that holds only the old trust file and an auditor's token reads the log's
``key.rotated`` entry (signed by both keys, checked by the rules), then accepts
checkpoints signed by the new key; inside the overlap it wants both signatures; after a
``key.revoked`` it refuses a checkpoint past the revoked size under the revoked key, even
though its trust file still pins that key. Without a token it cannot follow and says so.
Forged checkpoints are served by a small proxy in front of the real server
(tests/support/monitor_proxy.py), signed with the real keys (as a thief of the old key
would)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from evidence.ledger.keyfile import read_private_key
from evidence.ledger.log_keys import retired_key_path
from evidence.verify.note import Signer, parse_note, parse_verifier_key, sign_note
from tests.support.api_server import Server, World, make_world, start_server
from tests.support.cli_run import cli_stdout
from tests.support.monitor_proxy import Rewriter, settle, submit_items

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "monitor_log.py"
OVERLAP = 2


@dataclass
class Log:
    tmp: Path
    world: World
    srv: Server
    old_trust: Path
    token: Path
    old: Signer
    new_vkey: str
    from_size: int
    until_size: int
    before: Path  # a state verified before the rotation
    at_rotation: Path  # a state verified at the rotation's checkpoint (inside the overlap)

    def run(self, state: Path, url: str | None = None, token: bool = True
            ) -> tuple[int, dict[str, Any]]:
        cmd = [sys.executable, "-I", str(SCRIPT), url or self.srv.base, "--trust",
               str(self.old_trust), "--state", str(state), "--json", "--quiet"]
        if token:
            cmd += ["--token-file", str(self.token)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        assert "Traceback" not in p.stderr, p.stderr
        lines = p.stdout.strip().splitlines()
        assert len(lines) == 1, (p.stdout, p.stderr)
        return p.returncode, json.loads(lines[0])


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Log]:
    tmp = tmp_path_factory.mktemp("monitor-rotation")
    world = make_world(tmp / "data")
    old = read_private_key(tmp / "data" / "log.key")
    trust = tmp / "old-trust.txt"
    trust.write_text(f"log {world.vkey}\nquorum none\n")
    token = tmp / "auditor.token"
    token.write_text(world.tokens["auditor"] + "\n")
    srv = start_server(world)
    try:
        submit_items(srv, 2)
    finally:
        srv.stop()
    lg = Log(tmp, world, srv, trust, token, old, "", 0, 0, tmp / "before.json",
             tmp / "at-rotation.json")
    srv = lg.srv = start_server(world)
    try:
        rc, rep = lg.run(lg.before)
        assert rc == 0, rep
    finally:
        srv.stop()
    got = json.loads(cli_stdout("log", "key", "rotate", "--data-dir", str(world.data),
                                "--overlap", str(OVERLAP), "--json"))
    assert got["old_key"] == world.vkey
    lg.new_vkey, lg.from_size, lg.until_size = (got["verifier_key"], got["from_size"],
                                                got["until_size"])
    lg.srv = start_server(world)
    try:
        yield lg
    finally:
        lg.srv.stop()


def test_follows_the_rotation_through_the_overlap_and_after(log: Log) -> None:
    # the rotation's own checkpoint (size F), signed by both keys: the old file verifies it
    assert settle(log.srv) == log.from_size
    shutil.copyfile(log.before, log.at_rotation)
    rc, rep = log.run(log.at_rotation)
    assert rc == 0, rep
    assert rep["checkpoint"]["size"] == log.from_size
    assert any("rotated its key" in n and log.new_vkey in n for n in rep["notes"]), rep
    assert json.loads(log.at_rotation.read_text())["log_key"] == log.new_vkey

    # past the overlap only the new key signs; the state knows it
    size = submit_items(log.srv, log.until_size - log.from_size + 2)
    assert size > log.until_size
    note = httpx.get(log.srv.base + "/v1/log/checkpoint").text
    assert len(parse_note(note).signatures) == 1
    follow = log.tmp / "follow.json"
    shutil.copyfile(log.at_rotation, follow)
    rc, rep = log.run(follow)
    assert rc == 0, rep
    assert rep["checkpoint"]["size"] == size

    # a monitor last run before the rotation follows it in one run (entries first)
    jump = log.tmp / "jump.json"
    shutil.copyfile(log.before, jump)
    rc, rep = log.run(jump)
    assert rc == 0, rep
    assert rep["entries"]["checked"] and rep["checkpoint"]["size"] == size
    assert any("rotated its key" in n for n in rep["notes"]), rep

    # a first run with the old trust file follows from entry 0
    fresh = log.tmp / "fresh.json"
    rc, rep = log.run(fresh)
    assert rc == 0, rep
    assert rep["previous"] is None and rep["entries"]["start"] == 0, rep
    assert json.loads(fresh.read_text())["log_key"] == log.new_vkey

    # without a token it cannot: the checkpoint is refused, with what to do
    blind = log.tmp / "blind.json"
    shutil.copyfile(log.before, blind)
    before = blind.read_bytes()
    rc, rep = log.run(blind, token=False)
    assert rc == 1 and rep["problem"] == "bad-checkpoint", rep
    assert "new trust file" in rep["message"] and "token" in rep["message"], rep
    assert blind.read_bytes() == before


def test_overlap_checkpoint_without_the_old_signature(log: Log) -> None:
    """A checkpoint of size F (inside the overlap) that only the new key signed: the
    rotation is followed, but the overlap rule (both keys sign) refuses it."""
    new = read_private_key(log.world.data / "log.key")
    assert new.verifier().to_string() == log.new_vkey

    def only_new(note: bytes) -> bytes:
        return sign_note(parse_note(note.decode()).text, [new]).encode()

    state = log.tmp / "overlap.json"
    shutil.copyfile(log.before, state)
    before = state.read_bytes()
    # the server is past the overlap now: serve the note of size F again, as at rotation
    f_note = json.loads(log.at_rotation.read_text())["checkpoint"].encode()
    proxy = Rewriter(log.srv.base, lambda _real: only_new(f_note))
    try:
        rc, rep = log.run(state, proxy.base)
    finally:
        proxy.close()
    assert rc == 1 and rep["problem"] == "bad-checkpoint", rep
    assert "inside the overlap" in rep["message"] and "both keys sign it" in rep["message"]
    assert state.read_bytes() == before


def test_refuses_a_checkpoint_past_a_revocation_under_the_revoked_key(log: Log) -> None:
    follow = log.tmp / "follow.json"
    assert follow.exists(), "runs after test_follows_the_rotation_through_the_overlap_and_after"
    log.srv.stop()
    cli_stdout("log", "key", "revoke", "--data-dir", str(log.world.data), log.world.vkey,
               "--from-size", str(log.from_size), "--reason", "test")
    log.srv = start_server(log.world)
    size = submit_items(log.srv, 1)
    rc, rep = log.run(follow)  # the old trust file still pins the old key for every size
    assert rc == 0, rep
    assert any("revoked log keys" in n for n in rep["notes"]), rep

    # the revoked key signs the real tree of the latest size (a thief of that key)
    old = read_private_key(retired_key_path(log.world.data, parse_verifier_key(log.world.vkey)))
    assert old.verifier().to_string() == log.world.vkey

    def only_old(note: bytes) -> bytes:
        return sign_note(parse_note(note.decode()).text, [old]).encode()

    stolen = log.tmp / "stolen.json"
    shutil.copyfile(follow, stolen)
    before = stolen.read_bytes()
    proxy = Rewriter(log.srv.base, only_old)
    try:
        rc, rep = log.run(stolen, proxy.base)
    finally:
        proxy.close()
    assert rc == 1 and rep["problem"] == "bad-checkpoint", rep
    assert f"sizes 0 to {log.from_size}" in rep["message"], rep
    assert rep["checkpoint"] is None or rep["checkpoint"]["size"] == size
    assert stolen.read_bytes() == before
