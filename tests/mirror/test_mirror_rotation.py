"""``evidence mirror`` follows a log across a key rotation (docs/formats.md "Log key
rotation"): a real log's tiles at three moments (before the rotation, at its overlap
checkpoint signed by both keys, after the overlap under the new key alone), served by
``python -m http.server``. With the trust file of before, the mirror follows through the
overlap and refuses the new key alone with what to do; with the operator's new trust
file (every key with its window) the same directory goes on; a checkpoint the old key
signs past its window is refused and changes nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evidence.ledger.keyfile import read_private_key
from evidence.ledger.log import Ledger
from evidence.ledger.tiles import sync_tiles
from evidence.ledger.tiles_store import FilesystemTileStore
from evidence.verify.note import generate_signer, parse_note, sign_note
from tests.support.served_folder import snapshot

CLI = [sys.executable, "-c", "from evidence.cli.main import main; main()"]
ORIGIN = "mirror-rot.example/log"
OVERLAP = 3


@pytest.fixture(scope="module")
def moments(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("rotated-log")
    led = Ledger.create(tmp / "data", ORIGIN, checkpoint_interval=3600)
    try:
        store = FilesystemTileStore(tmp / "tlog")
        assert led.config is not None
        old = read_private_key(led.config.key_path)
        led.append_many([("custody.note", {"i": i}) for i in range(40)])
        led.sign_checkpoint_now()
        sync_tiles(led, store)
        shutil.copytree(tmp / "tlog", tmp / "before")
        new = generate_signer(ORIGIN)
        w = led.rotate_key(new, overlap=OVERLAP)
        sync_tiles(led, store, prune=False)
        shutil.copytree(tmp / "tlog", tmp / "overlap")
        led.append_many([("custody.note", {"j": i}) for i in range(20)])
        led.sign_checkpoint_now()
        sync_tiles(led, store, prune=False)
        shutil.copytree(tmp / "tlog", tmp / "after")
        until = w.from_size + OVERLAP
        old_vkey, new_vkey = old.verifier().to_string(), new.verifier().to_string()
        (tmp / "old-trust.txt").write_text(f"log {old_vkey}\nquorum none\n")
        (tmp / "new-trust.txt").write_text(
            f"log {new_vkey}\nquorum none\n#@ log-key {old_vkey} 0 {until}\n")
        return {"dir": tmp, "old": old, "new": new, "from": w.from_size, "until": until}
    finally:
        led.close()


def once(url: str, mdir: Path, trust: Path) -> tuple[int, dict]:
    for _ in range(100):  # http.server may still be starting
        r = subprocess.run([*CLI, "mirror", url, "--dir", str(mdir), "--trust", str(trust),
                            "--once", "--json"], capture_output=True, text=True, timeout=300)
        if "Connection refused" not in r.stdout + r.stderr:
            break
        subprocess.run(["sleep", "0.1"], check=True)
    out = (r.stdout or r.stderr).strip().splitlines()
    return r.returncode, json.loads(out[-1]) if out and out[-1].startswith("{") else {
        "raw": r.stdout + r.stderr}


def test_mirror_follows_a_rotation(moments: dict, serve, tmp_path: Path) -> None:
    d = moments["dir"]
    old_trust, new_trust = d / "old-trust.txt", d / "new-trust.txt"
    mdir = tmp_path / "mirror"
    rc, got = once(serve(d / "before"), mdir, old_trust)
    assert rc == 0, got
    # the overlap: both keys signed, the old trust file is enough
    url = serve(d / "overlap")
    note = (d / "overlap" / "checkpoint").read_text()
    assert len(parse_note(note).signatures) == 2
    rc, got = once(url, mdir, old_trust)
    assert rc == 0 and got["size"] == moments["from"], got
    # past the overlap: the new key alone; the old file cannot follow, and says why
    url = serve(d / "after")
    before = snapshot(mdir)
    rc, got = once(url, mdir, old_trust)
    assert rc == 1, got
    text = json.dumps(got)
    assert "bad-signature" in text and "new trust file" in text, got
    assert snapshot(mdir) == before
    # the new trust file: the same directory goes on, pinned to the new key now
    rc, got = once(url, mdir, new_trust)
    assert rc == 0 and got["size"] > moments["until"], got
    cfg = json.loads((mdir / "mirror.json").read_text())
    assert cfg["log_key"] == moments["new"].verifier().to_string()
    # a new mirror from the new trust file alone, from the start
    rc, got = once(url, tmp_path / "fresh", new_trust)
    assert rc == 0 and got["size_before"] == 0, got


def test_the_old_key_past_its_window_is_refused(moments: dict, serve, tmp_path: Path) -> None:
    d = moments["dir"]
    mdir = tmp_path / "mirror"
    rc, got = once(serve(d / "overlap"), mdir, d / "new-trust.txt")
    assert rc == 0, got
    forged = tmp_path / "forged"
    shutil.copytree(d / "after", forged)
    text = parse_note((forged / "checkpoint").read_text()).text
    (forged / "checkpoint").write_text(sign_note(text, [moments["old"]]))
    before = snapshot(mdir)
    rc, got = once(serve(forged), mdir, d / "new-trust.txt")
    assert rc == 1, got
    assert f"sizes 0 to {moments['until']}" in json.dumps(got), got
    assert snapshot(mdir) == before
