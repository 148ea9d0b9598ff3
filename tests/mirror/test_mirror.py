"""``evidence mirror`` as a real process, following a real log.

A live ``evidence serve`` takes submissions while ``evidence mirror --serve`` follows its
``/tlog/``: the mirror's tiles are byte for byte the log's, its checkpoint carries the
log's signature and a cosignature that verifies with the mirror's key, Go's sumdb/tlog
client (tests/interop/go/tiles_client.go) verifies every entry and a consistency proof
through the mirror, and a restarted mirror resumes where it stopped.

Then a log turned inconsistent, served by ``python -m http.server`` from a copy of its
tiles that the test alters: a bad signature, a tile that is not its leaves' hashes, a
rewritten entry, another root at a mirrored size, a checkpoint going backwards, a
signed root the entries do not have. Each is refused with its reason (exit 1 with
``--once``), the mirror's directory is left exactly as it was, and a following mirror
keeps serving its last good state, then catches up once the log is whole again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from evidence.ledger.keyfile import read_private_key, write_private_key
from evidence.ledger.log import Ledger
from evidence.ledger.tiles import sync_tiles
from evidence.ledger.tiles_layout import ENTRIES, TileId, decode_bundle, level_count, tile_at
from evidence.ledger.tiles_store import FilesystemTileStore
from evidence.verify.checkpoint import Checkpoint, sign_checkpoint, verify_checkpoint
from evidence.verify.hashing import leaf_hash
from evidence.verify.merkle import root
from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer, parse_verifier_key
from evidence.verify.trust import policy_from_pins
from tests.support.api_server import make_world, start_server, submit
from tests.support.ports import free_ports
from tests.support.tiles_go import run_client

CLI = [sys.executable, "-c", "from evidence.cli.main import main; main()"]
ORIGIN_HASH_LEN = 64


def mirror_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "mirror", *args], capture_output=True, text=True,
                          timeout=timeout)


def start_mirror(*args: str, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen([*CLI, "mirror", *args], stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_for(what: str, check, timeout: float = 90, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            tail = log.read_text()[-2000:] if log is not None and log.exists() else ""
            raise AssertionError(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.1)


def tlog_size(base: str) -> int | None:
    try:
        r = httpx.get(base + "checkpoint", timeout=5)
    except httpx.HTTPError:
        return None
    return int(r.text.split("\n")[1]) if r.status_code == 200 else None


def tile_paths(size: int) -> list[str]:
    """Every tile and bundle of a tree of ``size`` entries (full, and each level's partial)."""
    out, level = [], 0
    while level_count(size, level) > 0:
        n = 0
        while (t := tile_at(size, level, n)) is not None:
            out.append(t.path)
            if level == 0:
                out.append(TileId(ENTRIES, n, t.width).path)
            n += 1
        level += 1
    return out


def mirror_key(tmp: Path) -> tuple[Path, str]:
    signer = generate_signer("mirror.test/m1", ALG_COSIGNATURE_V1)
    path = tmp / "mirror.key"
    write_private_key(path, signer)
    return path, signer.verifier().to_string()


def digest(root: Path) -> str:
    """Every file under ``root`` (names and bytes): the mirror's whole state."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != "mirror.lock":
            h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


# --- a live log, a live mirror ----------------------------------------------------------


@pytest.mark.slow
def test_a_mirror_follows_a_live_log(go_client: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVIDENCE_TILES_PAUSE", "0.1")
    world = make_world(tmp_path / "data")
    srv = start_server(world)
    key_file, mirror_vkey = mirror_key(tmp_path)
    (port,) = free_ports(1)
    log_tlog, mirror_base = srv.base + "/tlog/", f"http://127.0.0.1:{port}/tlog/"
    mdir, mlog = tmp_path / "mirror", tmp_path / "mirror.log"
    args = [log_tlog, "--dir", str(mdir), "--log-key", world.vkey, "--key", str(key_file)]
    proc = start_mirror(*args, "--serve", f"127.0.0.1:{port}", "--interval", "0.2", log=mlog)
    try:
        for _ in range(3):
            assert submit(srv).status_code == 201
        first = wait_for("the log's tiles", lambda: tlog_size(log_tlog), log=mlog)
        wait_for("the mirror's first copy", lambda: (tlog_size(mirror_base) or 0) >= first,
                 log=mlog)
        old = httpx.get(mirror_base + "checkpoint").text
        (tmp_path / "old").write_text(old)
        for _ in range(6):  # appended while the mirror follows
            assert submit(srv).status_code == 201
        size = httpx.get(srv.base + "/v1/status").json()["size"]
        wait_for("the log's tiles", lambda: (tlog_size(log_tlog) or 0) >= size, log=mlog)
        wait_for("the mirror", lambda: tlog_size(mirror_base) == tlog_size(log_tlog),
                 log=mlog)
        size = tlog_size(mirror_base)
        assert size is not None and size > first

        # the same bytes on every path, and under the draft's /<sha256(origin)>/ prefix
        log_note = httpx.get(log_tlog + "checkpoint").text
        origin = log_note.split("\n")[0]
        by_origin = f"http://127.0.0.1:{port}/{hashlib.sha256(origin.encode()).hexdigest()}/"
        for path in tile_paths(size):
            theirs = httpx.get(log_tlog + path)
            mine = httpx.get(mirror_base + path)
            assert theirs.status_code == mine.status_code == 200, path
            assert mine.content == theirs.content, path
            assert mine.headers["cache-control"] == theirs.headers["cache-control"], path
            assert httpx.get(by_origin + path).content == theirs.content
        on_disk = FilesystemTileStore(world.data / "tlog")
        for path in tile_paths(size):
            mirrored = (mdir / "tlog" / path)
            if mirrored.exists() and on_disk.get(path) is not None:
                assert mirrored.read_bytes() == on_disk.get(path), path

        # the checkpoint: the log's body and signature, and the mirror's cosignature
        note = httpx.get(mirror_base + "checkpoint").text
        assert note.split("\n\n")[0] == log_note.split("\n\n")[0]
        log_key, m_key = parse_verifier_key(world.vkey), parse_verifier_key(mirror_vkey)
        v = verify_checkpoint(note, log_key, witness_keys=[m_key], quorum=1)
        assert v.checkpoint.size == size
        assert [c.name for c in v.cosignatures] == ["mirror.test/m1"]
        with pytest.raises(Exception, match="quorum"):  # the log's own note has none
            verify_checkpoint(log_note, log_key, witness_keys=[m_key], quorum=1)
        status = httpx.get(f"http://127.0.0.1:{port}/mirror").json()
        assert status["size"] == size and status["last_refusal"] is None
        assert status["mirror_key"] == mirror_vkey

        # Go's sumdb/tlog reads the log through the mirror: every entry, every proof
        r = run_client(go_client, mirror_base, world.vkey, tmp_path / "old")
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["size"] == size and out["proofs_checked"] == size
        assert out["consistent_from"] == int(old.split("\n")[1])
        assert out["root"] == v.checkpoint.root.hex()

        # malformed paths and tiles past the mirrored tree are refused
        assert httpx.get(mirror_base + "tile/00/000").status_code == 400
        assert httpx.get(mirror_base + f"tile/0/000.p/{size + 1}").status_code == 404
    finally:
        stop(proc)

    # a restarted mirror resumes from its own directory: only the new part is read
    try:
        for _ in range(2):
            assert submit(srv).status_code == 201
        new = httpx.get(srv.base + "/v1/status").json()["size"]
        wait_for("the log's tiles", lambda: (tlog_size(log_tlog) or 0) >= new)
        r = mirror_cli(*args, "--once", "--json")
        assert r.returncode == 0, r.stderr
        done = json.loads(r.stdout)
        assert done["size_before"] == size and done["size"] == tlog_size(log_tlog)
        assert done["fetched"] <= 8  # the checkpoint and the last tiles, not the whole log
    finally:
        srv.stop()


# --- a log that turns inconsistent ------------------------------------------------------


@pytest.fixture
def static_dir() -> Iterator:
    """``python -m http.server`` on a directory the test may replace while it runs."""
    procs: list[subprocess.Popen] = []

    def start(root: Path) -> str:
        (port,) = free_ports(1)
        p = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                              "127.0.0.1", "--directory", str(root)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
        base = f"http://127.0.0.1:{port}/"
        wait_for("http.server", lambda: tlog_size(base) is not None or p.poll() is not None)
        return base

    yield start
    for p in procs:
        p.terminate()
        p.wait(timeout=30)


@pytest.fixture(scope="module")
def two_sizes(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One log's tiles at 300 and at 813 entries, and what the test needs to forge."""
    tmp = tmp_path_factory.mktemp("log")
    led = Ledger.create(tmp / "data", "mirror-bad.example/log", checkpoint_interval=3600)
    try:
        store = FilesystemTileStore(tmp / "tlog")
        led.append_many([("custody.note", {"i": i}) for i in range(300)])
        led.sign_checkpoint_now()
        sync_tiles(led, store)
        shutil.copytree(tmp / "tlog", tmp / "v300")
        led.append_many([("custody.note", {"i": i, "pad": "x" * (i % 40)})
                         for i in range(300, 813)])
        led.sign_checkpoint_now()
        sync_tiles(led, store, prune=False)
        shutil.copytree(tmp / "tlog", tmp / "v813")
        assert led.config is not None
        return {"dir": tmp, "vkey": led.verifier_key,
                "signer": read_private_key(led.config.key_path)}
    finally:
        led.close()


def variant(two_sizes: dict, tmp: Path, name: str, size: int = 813) -> Path:
    out = tmp / name
    shutil.copytree(two_sizes["dir"] / f"v{size}", out)
    return out


def forge_checkpoint(two_sizes: dict, folder: Path, size: int, root: bytes) -> None:
    """A checkpoint the log's own key signs, with whatever root the test wants."""
    cp = Checkpoint("mirror-bad.example/log", size, root)
    (folder / "checkpoint").write_text(sign_checkpoint(cp, two_sizes["signer"]))


def test_an_inconsistent_log_is_refused_with_its_reason(two_sizes: dict, static_dir,
                                                        tmp_path: Path) -> None:
    key_file, _ = mirror_key(tmp_path)
    mdir = tmp_path / "mirror"

    def once(base: str) -> subprocess.CompletedProcess[str]:
        return mirror_cli(base, "--dir", str(mdir), "--log-key", two_sizes["vkey"],
                          "--key", str(key_file), "--once", "--json")

    r = once(static_dir(variant(two_sizes, tmp_path, "good300", 300)))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["size"] == 300
    good = digest(mdir)

    def refused(folder: Path, kind: str, *words: str) -> str:
        r = once(static_dir(folder))
        assert r.returncode == 1, (r.stdout, r.stderr)
        doc = json.loads(r.stdout)
        assert doc["ok"] is False and doc["kind"] == kind, doc
        for w in words:
            assert w in doc["error"], doc["error"]
        assert digest(mdir) == good, "a refused round changed the mirror"
        return doc["error"]

    # a checkpoint whose log signature does not verify
    bad_sig = variant(two_sizes, tmp_path, "bad-sig")
    text = (bad_sig / "checkpoint").read_text()
    body, sig = text.split("\n\n")
    line = sig.rstrip("\n")
    flipped = line[:-6] + ("A" if line[-6] != "A" else "B") + line[-5:]
    (bad_sig / "checkpoint").write_text(body + "\n\n" + flipped + "\n")
    refused(bad_sig, "bad-signature", "does not verify")

    # a hash tile that is not its leaves' hashes (in the part being copied)
    bad_tile = variant(two_sizes, tmp_path, "bad-tile")
    tile = bad_tile / "tile" / "0" / "002"
    data = bytearray(tile.read_bytes())
    data[32 * 7] ^= 1
    tile.write_bytes(bytes(data))
    refused(bad_tile, "tile-mismatch", "tile/0/002", "hash 7", "entry 519")

    # an entry already mirrored, rewritten (same length), with tiles to match
    rewritten = variant(two_sizes, tmp_path, "rewritten")
    bundle = rewritten / "tile" / "entries" / "001"
    raw = bundle.read_bytes()
    assert b'"i":260' in raw
    bundle.write_bytes(raw.replace(b'"i":260', b'"i":261', 1))
    refused(rewritten, "rewritten-entry", "entry 260", "differs from the copy")

    # another root for the size already mirrored: a fork
    fork = variant(two_sizes, tmp_path, "fork", 300)
    forge_checkpoint(two_sizes, fork, 300, hashlib.sha256(b"another tree").digest())
    refused(fork, "fork", "two roots for size 300")

    # history rewritten before the mirrored size, every tile and the root made to match
    history = variant(two_sizes, tmp_path, "history")
    bundle = history / "tile" / "entries" / "000"
    raw = bundle.read_bytes()
    assert raw.count(b'"i":5}') == 1
    bundle.write_bytes(raw.replace(b'"i":5}', b'"i":7}'))
    leaves = []
    for n in range(4):
        t = tile_at(813, 0, n)
        assert t is not None
        if n == 0:
            (history / t.path).write_bytes(b"".join(
                leaf_hash(e) for e in decode_bundle(bundle.read_bytes())))
        data = (history / t.path).read_bytes()
        leaves += [data[i:i + 32] for i in range(0, len(data), 32)]
    upper = history / "tile" / "1" / "000.p" / "3"
    upper.write_bytes(b"".join(root(leaves[k * 256:(k + 1) * 256]) for k in range(3)))
    forge_checkpoint(two_sizes, history, 813, root(leaves))
    refused(history, "rewritten-history", "tile/1/000.p/3", "hash 0")

    # a root for 813 that its entries do not have (the tiles are the true ones)
    lie = variant(two_sizes, tmp_path, "lie")
    forge_checkpoint(two_sizes, lie, 813, hashlib.sha256(b"not the tree").digest())
    refused(lie, "not-consistent", "size 813")

    # after all that, the true log is mirrored from the state kept (pinned by a trust
    # file this time, with its fingerprint)
    policy = policy_from_pins([parse_verifier_key(two_sizes["vkey"])])
    trust = tmp_path / "trust.txt"
    trust.write_text(policy.to_text())
    r = mirror_cli(static_dir(two_sizes["dir"] / "v813"), "--dir", str(mdir), "--trust",
                   str(trust), "--trust-sha256", hashlib.sha256(trust.read_bytes()).hexdigest(),
                   "--key", str(key_file), "--once", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["size_before"] == 300
    assert json.loads(r.stdout)["size"] == 813

    # ...and its earlier checkpoint is now a step backwards
    good = digest(mdir)
    refused(two_sizes["dir"] / "v300", "checkpoint-backwards", "size 300", "813")

    # the pinned key is the log's: another key's checkpoint is refused, not mirrored
    other = generate_signer("mirror-bad.example/log")
    r = mirror_cli(static_dir(two_sizes["dir"] / "v813"), "--dir", str(tmp_path / "m2"),
                   "--log-key", other.verifier().to_string(), "--once")
    assert r.returncode == 1 and "bad-signature" in r.stderr
    assert not (tmp_path / "m2" / "tlog" / "checkpoint").exists()


@pytest.mark.slow
def test_a_following_mirror_keeps_serving_its_last_good_state(two_sizes: dict, static_dir,
                                                              tmp_path: Path) -> None:
    served = tmp_path / "served"
    shutil.copytree(two_sizes["dir"] / "v300", served)
    source = static_dir(served)
    (port,) = free_ports(1)
    base, mlog = f"http://127.0.0.1:{port}/", tmp_path / "mirror.log"
    proc = start_mirror(source, "--dir", str(tmp_path / "mirror"), "--log-key",
                        two_sizes["vkey"], "--serve", f"127.0.0.1:{port}", "--interval",
                        "0.1", log=mlog)
    try:
        wait_for("the mirror", lambda: tlog_size(base + "tlog/") == 300, log=mlog)
        shutil.rmtree(served)  # the log now serves a tile that is not its leaves' hashes
        shutil.copytree(two_sizes["dir"] / "v813", served)
        tile = served / "tile" / "0" / "002"
        data = bytearray(tile.read_bytes())
        data[0] ^= 1
        tile.write_bytes(bytes(data))
        status = wait_for("a refusal", lambda: (httpx.get(base + "mirror").json()
                                                .get("last_refusal")), log=mlog)
        assert "tile/0/002" in status
        assert tlog_size(base + "tlog/") == 300
        assert httpx.get(base + "tlog/tile/0/002").status_code == 404  # never served
        assert httpx.get(base + "tlog/tile/entries/001").status_code == 404
        assert "tile/0/002" in mlog.read_text()

        shutil.rmtree(served)  # the log whole again: the mirror catches up
        shutil.copytree(two_sizes["dir"] / "v813", served)
        wait_for("the catch-up", lambda: tlog_size(base + "tlog/") == 813, log=mlog)
        want = (two_sizes["dir"] / "v813" / "tile" / "0" / "002").read_bytes()
        assert httpx.get(base + "tlog/tile/0/002").content == want
        assert httpx.get(base + "mirror").json()["last_error"] is None
    finally:
        stop(proc)
