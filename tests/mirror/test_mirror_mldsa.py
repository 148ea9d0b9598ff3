"""``evidence mirror`` holds a pinned ML-DSA-44 log key (docs/verdict.md section 3,
docs/formats.md "ML-DSA-44 signatures"): with ``#@ log-mldsa <vkey> <from-size>`` in its
trust file, a checkpoint of that size or more without the log's ML-DSA-44 line, or with a
line by that key that does not verify, is refused with the reason and nothing is stored;
the good checkpoint is then accepted by the same directory, its ML-DSA-44 line kept and
the mirror's own cosignature (tlog-cosignature/v1, Ed25519) added as before.

A real log gets its key from ``evidence log key mldsa``, its tiles are written by the
tile follower and served by ``python -m http.server``; forged checkpoints are the log's
tiles with the checkpoint file altered (as tests/mirror/test_mirror_rotation.py does)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evidence.ledger.keyfile import write_private_key
from evidence.ledger.log import Ledger
from evidence.ledger.tiles import sync_tiles
from evidence.ledger.tiles_store import FilesystemTileStore
from evidence.verify.checkpoint import verify_checkpoint_windowed
from evidence.verify.note import ALG_COSIGNATURE_V1, ALG_MLDSA44, generate_signer, parse_note
from evidence.verify.trust import parse_trust
from tests.support.served_folder import snapshot

CLI = [sys.executable, "-c", "from evidence.cli.main import main; main()"]
ORIGIN = "mirror-pq.example/log"
MLDSA_LINE = 4 + 8 + 2420  # key id, time, ML-DSA-44 signature (docs/formats.md)


def cli(*args: str) -> str:
    r = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("pq-log")
    data = tmp / "data"
    store = FilesystemTileStore(tmp / "tlog")
    led = Ledger.create(data, ORIGIN, checkpoint_interval=3600)
    try:
        led.append_many([("custody.note", {"i": i}) for i in range(40)])
        led.sign_checkpoint_now()
        sync_tiles(led, store)
    finally:
        led.close()
    shutil.copytree(tmp / "tlog", tmp / "before")
    added = json.loads(cli("log", "key", "mldsa", "--data-dir", str(data), "--json"))
    led = Ledger.open(data)
    try:
        led.append_many([("custody.note", {"j": i}) for i in range(20)])
        led.sign_checkpoint_now()
        sync_tiles(led, store, prune=False)
    finally:
        led.close()
    shutil.copytree(tmp / "tlog", tmp / "after")
    cli("trust", "export", "--data-dir", str(data), "-o", str(tmp / "trust.txt"))
    trust = (tmp / "trust.txt").read_text()
    assert f"#@ log-mldsa {added['mldsa_key']} {added['from_size']}" in trust, trust
    return {"dir": tmp, "from": added["from_size"], "mldsa_key": added["mldsa_key"],
            "policy": parse_trust((tmp / "trust.txt").read_bytes())}


def forge(src: Path, dst: Path, how: str) -> Path:
    """The log's tiles with its checkpoint's ML-DSA-44 line cut, or its signature bytes
    altered (the key id kept: a line by the pinned key that does not verify)."""
    shutil.copytree(src, dst)
    note = (dst / "checkpoint").read_text()
    body, sigs = note.split("\n\n", 1)
    out = []
    for line in sigs.splitlines():
        prefix, b64 = line.rsplit(" ", 1)
        raw = base64.b64decode(b64)
        if len(raw) == MLDSA_LINE:
            if how == "cut":
                continue
            raw = raw[:100] + bytes([raw[100] ^ 1]) + raw[101:]
            line = f"{prefix} {base64.b64encode(raw).decode()}"
        out.append(line + "\n")
    assert len(out) == (1 if how == "cut" else 2)
    (dst / "checkpoint").write_text(body + "\n\n" + "".join(out))
    return dst


def test_mirror_requires_the_pinned_mldsa_line(log: dict, serve, tmp_path: Path) -> None:
    d, trust = log["dir"], log["dir"] / "trust.txt"
    signer = generate_signer("mirror-pq.test/m1", ALG_COSIGNATURE_V1)
    write_private_key(tmp_path / "mirror.key", signer)
    after_note = (d / "after" / "checkpoint").read_text()
    assert [s for s in parse_note(after_note).signatures if len(s.signature) == MLDSA_LINE - 4]
    mdir = tmp_path / "mirror"

    def round_(folder: Path) -> tuple[int, dict]:
        r = subprocess.run([*CLI, "mirror", serve(folder), "--dir", str(mdir), "--trust",
                            str(trust), "--key", str(tmp_path / "mirror.key"), "--once",
                            "--json"], capture_output=True, text=True, timeout=300)
        out = (r.stdout or r.stderr).strip().splitlines()
        return r.returncode, json.loads(out[-1]) if out and out[-1].startswith("{") else {
            "raw": r.stdout + r.stderr}

    # below the key's first size the Ed25519 line is all the log signs, and all it needs
    for _ in range(100):  # http.server may still be starting
        rc, got = round_(d / "before")
        if "Connection refused" not in json.dumps(got):
            break
    assert rc == 0 and got["size"] == 40 < log["from"], got
    before = snapshot(mdir)
    for how, reason in (("cut", f"has no signature by the pinned ML-DSA-44 log key "
                                f"{ORIGIN}+"),
                        ("bad", "ML-DSA-44")):
        rc, got = round_(forge(d / "after", tmp_path / how, how))
        assert rc == 1 and got.get("kind") == "bad-signature", (how, got)
        assert reason in got["error"], got
        if how == "cut":
            assert f"required from size {log['from']}" in json.dumps(got), got
        assert snapshot(mdir) == before, how  # nothing stored: no tile, no checkpoint
    # the log's own checkpoint: accepted by the same directory
    rc, got = round_(d / "after")
    assert rc == 0 and got["size_before"] == 40 and got["size"] > log["from"], got
    assert got["cosigned"] is True
    served = (mdir / "tlog" / "checkpoint").read_text()
    assert served.startswith(after_note)  # the log's lines, both, byte for byte
    pinned = [(lg.verifier, lg.window) for lg in log["policy"].logs]
    assert {lg.verifier.alg for lg in log["policy"].logs} >= {ALG_MLDSA44}
    vc, _ = verify_checkpoint_windowed(served, pinned, witness_keys=[signer.verifier()])
    assert [c.name for c in vc.cosignatures] == ["mirror-pq.test/m1"]
    assert {s.name for s in parse_note(served).signatures} == {ORIGIN, "mirror-pq.test/m1"}
    assert len(parse_note(served).signatures) == 3
    # and a forgery after it is refused again, leaving the good state served
    good = snapshot(mdir)
    rc, got = round_(forge(d / "after", tmp_path / "cut-again", "cut"))
    assert rc == 1 and "has no signature by the pinned ML-DSA-44" in got["error"], got
    assert snapshot(mdir) == good
