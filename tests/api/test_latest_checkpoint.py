"""A worker's cached latest checkpoint never answers "not covered yet" on its own.

Each server worker keeps the latest checkpoint in memory for ``LATEST_TTL``. Another
worker (or process) may meanwhile have read a newer one and served a proof to it; a
client that then asks this worker must not be told the entry is not checkpointed. Here
the other worker is a second ledger handle on the same data directory, and the TTL is
made long so the stale copy is certainly still cached when the requests arrive.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from evidence.api import services
from evidence.api.app import create_app
from evidence.api.settings import ApiSettings
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger


def test_stale_cached_checkpoint_is_reread_before_not_covered(tmp_path: Path,
                                                               monkeypatch) -> None:
    monkeypatch.setattr(services, "LATEST_TTL", 3600.0)
    data = tmp_path / "data"
    led = Ledger.create(data, "latest.example/log", checkpoint_interval=3600)
    led.append_many([("custody.note", {"i": i}) for i in range(3)])
    old = led.sign_checkpoint_now()
    app = create_app(ApiSettings(data_dir=str(data), anchor=False))
    with TestClient(app) as c:
        first = c.get("/v1/log/checkpoint")  # this worker now holds the size-3 checkpoint
        assert first.status_code == 200 and first.text == old.note
        doc = tmp_path / "shop.txt"
        doc.write_bytes(b"a page preserved after the cached checkpoint")
        item = Intake(led, FilesystemBlobStore(data / "blobs")).submit(ItemSpec(
            files=[doc], kind="web", case="case-1", principal="acme-ip"))
        new = led.sign_checkpoint_now()
        assert item.seq >= old.size and new.size > item.seq

        proof = c.get("/v1/log/proof/inclusion", params={"seq": item.seq})
        assert proof.status_code == 200, proof.text
        assert proof.json()["tree_size"] == new.size and proof.json()["checkpoint"] == new.note

        found = c.get("/v1/lookup", params={"evidence_id": item.evidence_id}).json()
        assert [(m["seq"], m["checkpoint_size"]) for m in found["matches"]] == [
            (item.seq, new.size)]

        # an entry that really is past every checkpoint is still refused, after a re-read
        led.append_many([("custody.note", {"i": 99})])
        past = c.get("/v1/log/proof/inclusion", params={"seq": new.size})
        assert past.status_code == 409 and past.json()["code"] == "not-yet-checkpointed"
    led.close()


def test_before_the_first_checkpoint_an_entry_is_not_yet_checkpointed(tmp_path: Path) -> None:
    """The same 409 (with Retry-After) before the log's first checkpoint as after it: a
    client retrying an acknowledged entry's proof needs one answer, not 404 then 409."""
    data = tmp_path / "data"
    led = Ledger.create(data, "first.example/log", checkpoint_interval=3600)
    led.append_many([("custody.note", {"i": 0})])
    app = create_app(ApiSettings(data_dir=str(data), anchor=False))
    with TestClient(app) as c:
        r = c.get("/v1/log/proof/inclusion", params={"seq": 0})
        assert r.status_code == 409 and r.json()["code"] == "not-yet-checkpointed", r.text
        assert r.headers["Retry-After"] == "1"
        assert c.get("/v1/log/checkpoint").json()["code"] == "no-checkpoint"
        led.sign_checkpoint_now()
        assert c.get("/v1/log/proof/inclusion", params={"seq": 0}).status_code == 200
    led.close()


@pytest.mark.tsa
def test_latest_anchored_checkpoints(tmp_path: Path, tsa) -> None:  # type: ignore[no-untyped-def]
    """GET /v1/log/checkpoint/anchored: the newest timestamped checkpoint and the newest
    cosigned by the configured quorum, each as /v1/log/checkpoints/{size} shows it; newer
    checkpoints that nobody anchored (superseded) do not count."""
    from dataclasses import replace

    from evidence.ledger.anchor.config import load_anchor_config, save_anchor_config
    from tests.support.anchored_ledger import build_anchored_ledger

    w = build_anchored_ledger(tmp_path / "w", tsa.url, tsa.ca_pem_path)  # 10, 25 anchored
    try:
        app = create_app(ApiSettings(data_dir=str(w.dir), anchor=False))
        with TestClient(app) as c:
            doc = c.get("/v1/log/checkpoint/anchored").json()
            assert doc["timestamped"]["size"] == doc["cosigned"]["size"] == 25
            assert doc["timestamped"] == c.get("/v1/log/checkpoints/25").json()
            assert doc["timestamped"]["timestamps"] and doc["cosigned"]["cosignatures"]
            assert c.get("/v1/log/checkpoint").text.startswith("audit.example/log\n40\n")

            w.anchor(40, witnesses=("w1",))  # cosigned, not timestamped
            doc = c.get("/v1/log/checkpoint/anchored").json()
            assert (doc["timestamped"]["size"], doc["cosigned"]["size"]) == (25, 40)

            save_anchor_config(replace(load_anchor_config(w.dir), witness_quorum=2))
            assert c.get("/v1/log/checkpoint/anchored").json()["cosigned"] is None
            w.anchor(10, witnesses=("w2",))
            assert c.get("/v1/log/checkpoint/anchored").json()["cosigned"]["size"] == 10
    finally:
        w.led.close()


def test_latest_anchored_checkpoints_before_any(tmp_path: Path) -> None:
    data = tmp_path / "data"
    led = Ledger.create(data, "latest.example/log", checkpoint_interval=3600)
    led.append_many([("custody.note", {"i": 1})])
    led.sign_checkpoint_now()
    app = create_app(ApiSettings(data_dir=str(data), anchor=False))
    with TestClient(app) as c:
        r = c.get("/v1/log/checkpoint/anchored")
        assert r.status_code == 200 and r.json() == {"timestamped": None, "cosigned": None}
    led.close()
