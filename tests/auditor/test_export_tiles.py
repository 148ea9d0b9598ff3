"""`evidence log export` writes the ledger's tlog-tiles into DIR/tlog/ (docs/formats.md,
"Log export"): same paths and bytes as the tile store, full tiles copied once, partial tiles
replaced, `"tiles": null` with the reason when the store cannot be copied; and the export
directory, served by `python -m http.server`, is read by Go's tlog client."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest

from evidence.ledger.audit.export_log import export_log
from evidence.ledger.log import Ledger
from evidence.ledger.tiles import sync_tiles
from evidence.ledger.tiles_store import FilesystemTileStore
from tests.support.standalone import load_audit_script
from tests.support.tiles_go import entries_digest, run_client


def make(tmp_path: Path, n: int) -> Ledger:
    led = Ledger.create(tmp_path / "data", "export-tiles.example/log", checkpoint_interval=3600)
    led.append_many([("custody.note", {"i": i}) for i in range(n)])
    led.sign_checkpoint_now()
    return led


def tlog_files(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


def test_tiles_copied_then_brought_up_to_date(tmp_path: Path) -> None:
    led = make(tmp_path, 300)
    try:
        store = FilesystemTileStore(tmp_path / "data" / "tlog")
        sync_tiles(led, store)
        out = tmp_path / "export"
        r = export_log(led, out)
        assert r.tiles == 300 and r.tiles_reason is None
        got = tlog_files(out / "tlog")
        assert got == tlog_files(store.root)
        assert set(got) == {"checkpoint", "tile/0/000", "tile/0/001.p/44", "tile/1/000.p/1",
                            "tile/entries/000", "tile/entries/001.p/44"}
        man = json.loads((out / "manifest.json").read_bytes())
        assert man["tiles"] == 300 and "tiles_reason" not in man
        assert {p for p in man["files"] if p.startswith("tlog/")} == {f"tlog/{p}" for p in got}
        full_mtime = (out / "tlog/tile/0/000").stat().st_mtime_ns

        led.append_many([("custody.note", {"i": i}) for i in range(300, 600)])
        led.sign_checkpoint_now()
        sync_tiles(led, store)  # prunes tile/0/001.p/*: the export cuts nothing it lacks
        r = export_log(led, out)
        assert r.tiles == 600
        got, held = tlog_files(out / "tlog"), tlog_files(store.root)
        assert all(held[p] == data for p, data in got.items())  # the store keeps old partials
        assert "tile/1/000.p/1" in held and "tile/1/000.p/1" not in got
        assert "tile/0/001.p/44" not in got and "tile/0/002.p/88" in got
        assert not (out / "tlog/tile/0/001.p").exists()
        assert (out / "tlog/tile/0/000").stat().st_mtime_ns == full_mtime  # never rewritten

        fresh = tmp_path / "fresh"
        assert export_log(led, fresh).tiles == 600
        assert tlog_files(fresh / "tlog") == got
    finally:
        led.close()


@pytest.mark.parametrize("how", ["off", "behind"])
def test_no_tiles_is_said(tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    led = make(tmp_path, 20)
    try:
        if how == "off":
            monkeypatch.setenv("EVIDENCE_TILES", "off")
        else:
            sync_tiles(led, FilesystemTileStore(tmp_path / "data" / "tlog"))
            led.append_many([("custody.note", {"i": 99})])
            led.sign_checkpoint_now()
        r = export_log(led, tmp_path / "export")
        assert r.tiles is None
        reason = r.tiles_reason
        assert ("off" in r.tiles_reason) if how == "off" else ("caught up" in r.tiles_reason)
        man = json.loads((tmp_path / "export/manifest.json").read_bytes())
        assert man["tiles"] is None and man["tiles_reason"] == r.tiles_reason
        assert not (tmp_path / "export/tlog").exists()
        r = subprocess.run([sys.executable, "-c", "from evidence.cli.main import main; main()",
                            "log", "export", "--data-dir", str(tmp_path / "data"),
                            str(tmp_path / "again")], capture_output=True, text=True,
                           timeout=300, check=False)
        assert r.returncode == 0, r.stderr
        assert f"no tlog-tiles in the export / 导出未含 tlog 瓦片: {reason}" in r.stderr
    finally:
        led.close()


def test_go_reads_the_export_from_a_static_server(go_client: Path, static_server,
                                                  tmp_path: Path) -> None:
    led = make(tmp_path, 813)
    try:
        sync_tiles(led, FilesystemTileStore(tmp_path / "data" / "tlog"))
        export_log(led, tmp_path / "export")
        base = static_server(tmp_path / "export" / "tlog")
        r = run_client(go_client, base, led.verifier_key)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["size"] == 813 and out["entries_digest"] == entries_digest(led, 813)
    finally:
        led.close()


def test_the_tiles_check_in_worker_processes(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """audit_ledger.py's tiles check spread over forked workers, one level-0 tile per job,
    finds the same faults as in one process (the bundle of the third tile changed)."""
    al = load_audit_script()

    led = make(tmp_path, 1000)
    try:
        sync_tiles(led, FilesystemTileStore(tmp_path / "data" / "tlog"))
        export_log(led, tmp_path / "export")
    finally:
        led.close()
    d = str(tmp_path / "export")
    monkeypatch.setattr(al, "TILE_JOB", 1)
    log = al.signed_checkpoints(d, al.vb.shorthand_trust(
        (tmp_path / "export/log.vkey").read_text().strip(), [], 0, []))
    pool = multiprocessing.get_context("fork").Pool(2)  # as the script's --workers 2 makes
    try:
        assert al.check_tiles(d, log, pool)[0] == "pass"
        bundle = tmp_path / "export/tlog/tile/entries/002"
        data = bytearray(bundle.read_bytes())
        data[-1] ^= 1
        bundle.write_bytes(bytes(data))
        assert al.check_tiles(d, log, pool) == (
            "fail", "tlog/tile/entries/002 does not hold exactly the entries' bytes")
        bundle.unlink()
        assert al.check_tiles(d, log, pool) == ("fail", "tlog/tile/entries/002 is missing")
        assert al.check_tiles(d, log) == ("fail", "tlog/tile/entries/002 is missing")
    finally:
        pool.terminate()


def test_partial_tiles_cut_from_a_store_that_went_further(tmp_path: Path) -> None:
    """A store at size 700 holds no partial tiles of size 650 (the follower never stopped
    there): copy_tiles cuts them from the wider ones, the bytes a store stopped at 650 has."""
    from evidence.ledger.export_tiles import copy_tiles

    led = make(tmp_path, 650)
    try:
        cp650 = led.latest_checkpoint()
        led.append_many([("custody.note", {"i": i}) for i in range(650, 700)])
        led.sign_checkpoint_now()
        ahead = FilesystemTileStore(tmp_path / "ahead")
        sync_tiles(led, ahead)
        ref = FilesystemTileStore(tmp_path / "ref")
        sync_tiles(led, ref, checkpoint=cp650)
    finally:
        led.close()
    assert not (ahead.root / "tile/0/002.p/138").exists()
    got: dict[str, bytes] = {}
    copy_tiles(ahead, 650, cp650.note.encode(), {},
               lambda p, d: got.__setitem__(p, d) is None)
    assert {p: d for p, d in got.items() if p != "tlog/checkpoint"} == {
        f"tlog/{p}": d for p, d in tlog_files(ref.root).items() if p != "checkpoint"}
    assert "tlog/tile/0/002.p/138" in got and "tlog/tile/entries/002.p/138" in got
