"""scripts/monitor_log.py holds the log's ML-DSA-44 key (docs/verdict.md section 3,
docs/formats.md "ML-DSA-44 signatures") against a real ``evidence serve`` whose log got
the key from ``evidence log key mldsa``.

With a trust file pinning it (``#@ log-mldsa <vkey> <from-size>``) a checkpoint from that
size without the ML-DSA-44 line, or with a line by the key that does not verify, is a
``bad-checkpoint`` and the state is left as it was; the log's own checkpoint is then
accepted. With the trust file of before (no pin) and an auditor's token the monitor reads
the ``key.mldsa_added`` entry (checked by the rules: both keys sign it), requires the line
from then on, says so, and keeps requiring it in later runs without a token, as it
follows ``key.rotated`` (tests/auditor/test_monitor_rotation.py). A key.mldsa_added entry
that breaks a rule is ``bad-entries``. Forged checkpoints are served by a proxy in front
of the real server (tests/support/monitor_proxy.py)."""

from __future__ import annotations

import base64
import copy
import importlib.util
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

from evidence.verify.entry import parse_entry
from evidence.verify.note import parse_note
from tests.support.api_server import Server, World, make_world, start_server
from tests.support.cli_run import cli_stdout
from tests.support.monitor_proxy import Rewriter, settle, submit_items

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "monitor_log.py"
MLDSA_SIG = 8 + 2420  # time and ML-DSA-44 signature after the key id (docs/formats.md)


def edit_mldsa_line(note: bytes, how: str) -> bytes:
    """The note with its ML-DSA-44 line cut, or one byte of its signature flipped (the key
    id kept: a line by the pinned key that does not verify)."""
    parsed = parse_note(note.decode())
    lines, seen = [], False
    for s in parsed.signatures:
        line = s.line if s.line.endswith("\n") else s.line + "\n"
        if len(s.signature) == MLDSA_SIG:
            seen = True
            if how == "cut":
                continue
            prefix, b64 = line.rstrip("\n").rsplit(" ", 1)
            raw = bytearray(base64.b64decode(b64))
            raw[300] ^= 1
            line = f"{prefix} {base64.b64encode(bytes(raw)).decode()}\n"
        lines.append(line)
    assert seen, "the log's checkpoint has no ML-DSA-44 line"
    return (parsed.text + "\n" + "".join(lines)).encode()


@dataclass
class Log:
    tmp: Path
    world: World
    srv: Server
    old_trust: Path  # the trust file of before: the Ed25519 key only
    pq_trust: Path  # with #@ log-mldsa
    token: Path
    before: Path  # a state verified before the key was added
    from_size: int
    mldsa_key: str
    seq: int  # the key.mldsa_added entry

    def run(self, state: Path, trust: Path, url: str | None = None, token: bool = True
            ) -> tuple[int, dict[str, Any]]:
        cmd = [sys.executable, "-I", str(SCRIPT), url or self.srv.base, "--trust",
               str(trust), "--state", str(state), "--json", "--quiet"]
        if token:
            cmd += ["--token-file", str(self.token)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        assert "Traceback" not in p.stderr, p.stderr
        lines = p.stdout.strip().splitlines()
        assert len(lines) == 1, (p.stdout, p.stderr)
        return p.returncode, json.loads(lines[0])

    def copy_state(self, name: str, src: Path | None = None) -> Path:
        dst = self.tmp / name
        shutil.copyfile(src or self.before, dst)
        return dst


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Log]:
    tmp = tmp_path_factory.mktemp("monitor-mldsa")
    world = make_world(tmp / "data")
    old_trust = tmp / "old-trust.txt"
    old_trust.write_text(f"log {world.vkey}\nquorum none\n")
    token = tmp / "auditor.token"
    token.write_text(world.tokens["auditor"] + "\n")
    lg = Log(tmp, world, start_server(world), old_trust, tmp / "pq-trust.txt", token,
             tmp / "before.json", 0, "", 0)
    try:
        submit_items(lg.srv, 2)
        rc, rep = lg.run(lg.before, old_trust)
        assert rc == 0, rep
    finally:
        lg.srv.stop()
    got = json.loads(cli_stdout("log", "key", "mldsa", "--data-dir", str(world.data), "--json"))
    lg.from_size, lg.mldsa_key = got["from_size"], got["mldsa_key"]
    lg.seq = lg.from_size - 1
    lg.pq_trust.write_text(f"log {world.vkey}\nquorum none\n"
                           f"#@ log-mldsa {lg.mldsa_key} {lg.from_size}\n")
    lg.srv = start_server(world)
    try:
        assert submit_items(lg.srv, 2) > lg.from_size
        yield lg
    finally:
        lg.srv.stop()


def test_a_pinned_mldsa_key_is_required(log: Log) -> None:
    state = log.copy_state("pinned.json")
    for how in ("cut", "bad"):
        for token in (True, False):  # the pin alone is enough: no entry needs reading
            before = state.read_bytes()
            proxy = Rewriter(log.srv.base, lambda note, how=how: edit_mldsa_line(note, how))
            try:
                rc, rep = log.run(state, log.pq_trust, proxy.base, token=token)
            finally:
                proxy.close()
            assert rc == 1 and rep["problem"] == "bad-checkpoint", (how, rep)
            if how == "cut":
                assert "has no signature by the pinned ML-DSA-44 log key" in rep["message"]
                assert f"required from size {log.from_size}" in rep["message"], rep
            else:
                assert "ML-DSA-44" in rep["message"], rep
            assert state.read_bytes() == before  # nothing recorded
    rc, rep = log.run(state, log.pq_trust)  # the log's own checkpoint
    assert rc == 0, rep
    assert rep["checkpoint"]["size"] == settle(log.srv) > log.from_size
    # the state's own checkpoint is verified again with the key: an edited one is refused
    doc = json.loads(state.read_text())
    doc["checkpoint"] = edit_mldsa_line(doc["checkpoint"].encode(), "cut").decode()
    edited = log.tmp / "edited.json"
    edited.write_text(json.dumps(doc))
    rc, rep = log.run(edited, log.pq_trust, token=False)
    assert rc == 2 and "damaged" in rep["message"] and "ML-DSA-44" in rep["message"], rep


def test_the_key_mldsa_added_entry_is_followed(log: Log) -> None:
    size = settle(log.srv)
    # the trust file of before, a state from before the key: the entries up to the
    # checkpoint hold key.mldsa_added, so the stripped checkpoint is refused
    state = log.copy_state("followed.json")
    before = state.read_bytes()
    proxy = Rewriter(log.srv.base, lambda note: edit_mldsa_line(note, "cut"))
    try:
        rc, rep = log.run(state, log.old_trust, proxy.base)
    finally:
        proxy.close()
    assert rc == 1 and rep["problem"] == "bad-checkpoint", rep
    assert "has no signature by the pinned ML-DSA-44 log key" in rep["message"], rep
    assert state.read_bytes() == before
    # the log's own checkpoint: accepted, the key named, kept in the state
    rc, rep = log.run(state, log.old_trust)
    assert rc == 0 and rep["checkpoint"]["size"] == size, rep
    assert any("added an ML-DSA-44 key" in n and f"from size {log.from_size}" in n
               for n in rep["notes"]), rep
    kept = json.loads(state.read_text())["key_entries"]
    assert [(e["seq"], e["type"]) for e in kept] == [(log.seq, "key.mldsa_added")]
    assert kept[0]["body"]["mldsa_key"] == log.mldsa_key
    # later runs require it with no token and no new entry to read
    before = state.read_bytes()
    for how in ("cut", "bad"):
        proxy = Rewriter(log.srv.base, lambda note, how=how: edit_mldsa_line(note, how))
        try:
            rc, rep = log.run(state, log.old_trust, proxy.base, token=False)
        finally:
            proxy.close()
        assert rc == 1 and rep["problem"] == "bad-checkpoint", (how, rep)
        assert state.read_bytes() == before
    # a first run with the old trust file reads every entry and requires it too
    fresh = log.tmp / "fresh.json"
    proxy = Rewriter(log.srv.base, lambda note: edit_mldsa_line(note, "cut"))
    try:
        rc, rep = log.run(fresh, log.old_trust, proxy.base)
    finally:
        proxy.close()
    assert rc == 1 and rep["problem"] == "bad-checkpoint", rep
    assert not fresh.exists()


def _load_script() -> Any:
    spec = importlib.util.spec_from_file_location("monitor_log", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["monitor_log"] = mod  # its dataclasses look their module up while defined
    spec.loader.exec_module(mod)
    return mod


def test_a_key_mldsa_added_that_breaks_a_rule_is_bad_entries(log: Log) -> None:
    r = httpx.get(f"{log.srv.base}/v1/log/entries?start={log.seq}&limit=1",
                  headers={"Authorization": f"Bearer {log.world.tokens['auditor']}"})
    assert r.status_code == 200, r.text
    row = r.json()["entries"][0]
    entry = parse_entry(base64.b64decode(row["entry_b64"]))
    assert entry.type == "key.mldsa_added"
    good = {"seq": log.seq, "type": entry.type, "body": entry.body}
    mon = _load_script()
    trust = mon.load_trust(str(log.old_trust), None)
    eff = mon.trust_after(trust, [good])
    assert [(k.text, k.window) for k in eff.log_keys if k.alg == 0x06] == [
        (log.mldsa_key, (log.from_size, 2**64 - 1))]

    def flip(b64: str) -> str:
        raw = bytearray(base64.b64decode(b64))
        raw[5] ^= 1
        return base64.b64encode(bytes(raw)).decode()

    other = json.loads(cli_stdout("keygen", "other.example/log", "--mldsa", "-o",
                                  str(log.tmp / "other.key"), "--json"))["verifier_key"]
    cases = {
        "from_size must be its seq + 1": {"from_size": log.from_size + 1},
        "needs exactly the fields": {"extra": 1},
        "log_key is not one of the log's": {"log_key": other},
        "not an ML-DSA-44 (0x06) key named after the log": {"mldsa_key": other},
        "signature that does not verify": {"mldsa_signature": flip(
            entry.body["mldsa_signature"])},
        "signature that does not verify ": {"log_signature": flip(
            entry.body["log_signature"])},
    }
    for want, change in cases.items():
        bad = copy.deepcopy(good)
        bad["body"].update(change)
        with pytest.raises(mon.Found) as e:
            mon.trust_after(trust, [bad])
        assert e.value.kind == "bad-entries" and want.strip() in str(e.value), (want, e.value)
    second = {**copy.deepcopy(good), "seq": log.seq + 1}
    with pytest.raises(mon.Found, match=r"a second key\.mldsa_added"):
        mon.trust_after(trust, [good, second])
