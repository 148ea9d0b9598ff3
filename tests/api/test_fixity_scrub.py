"""The scrubber (issue 15): ``evidence serve`` re-hashing every stored file in the
background at a configured rate; a real server, a file deleted and one damaged on disk."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest

from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger
from evidence.ledger.scrub import Scrubber
from tests.support.api_server import make_world, start_server, submit


def test_serve_scrubs_and_reports_the_last_pass(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVIDENCE_SCRUB_RATE", "100MiB")
    monkeypatch.setenv("EVIDENCE_SCRUB_PAUSE", "0.3")
    world = make_world(tmp_path / "data")
    srv = start_server(world, "--no-anchor")
    try:
        shas = []
        for _ in range(3):
            r = submit(srv)
            assert r.status_code == 201
            shas.append(r.json()["files"][0]["sha256"])
        blob = world.data / "blobs" / shas[0][:2] / shas[0][2:4] / shas[0]
        blob.unlink()
        last = world.data / "fixity" / "last-audit.json"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            doc = json.loads(last.read_text()) if last.exists() else {}
            if doc.get("missing_count") == 1:
                break
            time.sleep(0.2)
        assert doc["by"] == "scrub" and doc["files"] == 3, doc
        assert doc["missing"][0]["sha256"] == shas[0]
        h = httpx.get(srv.base + "/health").json()
        assert h["status"] == "degraded" and h["fixity"]["last_audit"]["missing_count"] == 1
        alerts = (world.data / "fixity" / "alerts.jsonl").read_text().splitlines()
        assert json.loads(alerts[0])["where"] == "scrub"
    finally:
        srv.stop()


def test_a_pass_is_paced_to_the_rate(tmp_path: Path) -> None:
    led = Ledger.create(tmp_path / "d", "scrub.test/log", checkpoint_interval=0)
    store = FilesystemBlobStore(tmp_path / "d" / "blobs")
    try:
        f = tmp_path / "f.bin"
        f.write_bytes(os.urandom(1_000_000))
        Intake(led, store).submit(ItemSpec(files=(f,), kind="document", case="c",
                                           principal="p"))
        s = Scrubber(led.engine, store, tmp_path / "d", rate=4_000_000)
        t0 = time.monotonic()
        report = s.one_pass()
        assert report is not None and report.ok and report.bytes == 1_000_000
        assert time.monotonic() - t0 >= 0.24  # 1 MB at 4 MB/s
    finally:
        led.close()
