"""``evidence serve --publish-when-witnessed`` (``[serve] publish_when_witnessed``): a
checkpoint signed but not yet cosigned by the witness quorum is published nowhere
(``/checkpoint``, ``/v1/log/checkpoint``, ``/tlog/checkpoint``, the read fast path, proofs
by default or by size); once our witness, over real HTTP, has cosigned it, it is
published everywhere with the cosignature appended."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from evidence.api import services
from evidence.api.app import create_app
from evidence.api.settings import ApiSettings
from evidence.ledger.anchor.config import (
    AnchorConfig,
    WitnessSource,
    load_anchor_config,
    save_anchor_config,
)
from evidence.ledger.anchor.service import AnchorService
from evidence.ledger.anchor.witness_client import require_quorum
from evidence.ledger.log import Ledger
from evidence.verify.note import parse_verifier_key
from tests.witness.conftest import ServedWitness

ORIGIN = "published.example/log"


@pytest.fixture
def world(tmp_path: Path, served_witness: ServedWitness,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Ledger, ServedWitness, Path]]:
    monkeypatch.setattr(services, "LATEST_TTL", 0.0)  # every read sees the database
    monkeypatch.setenv("EVIDENCE_TILES_PAUSE", "0.05")
    data = tmp_path / "data"
    led = Ledger.create(data, ORIGIN, checkpoint_interval=3600)
    served_witness.witness.add_log(ORIGIN, [led.verifier])
    save_anchor_config(AnchorConfig(data, witnesses=(
        WitnessSource("w1", served_witness.url, served_witness.vkey),), witness_quorum=1))
    try:
        yield led, served_witness, data
    finally:
        led.close()


def wait_for(check, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_only_cosigned_checkpoints_are_published(world) -> None:  # type: ignore[no-untyped-def]
    led, w, data = world
    wkey = parse_verifier_key(w.vkey)
    led.append_many([("custody.note", {"i": i}) for i in range(3)])
    a = led.sign_checkpoint_now()
    app = create_app(ApiSettings(data_dir=str(data), anchor=False, publish_when_witnessed=True))
    anchoring = AnchorService(led, load_anchor_config(data))
    with TestClient(app) as c:
        for path in ("/checkpoint", "/v1/log/checkpoint"):
            r = c.get(path)
            assert r.status_code == 404 and r.json()["code"] == "no-checkpoint", path
        assert c.get("/v1/log/proof/inclusion", params={"seq": 0}).status_code == 409
        assert c.get("/v1/log/checkpoints/3").json()["code"] == "not-published"
        follower = app.state.tiles.follower
        seen = follower.rounds
        wait_for(lambda: follower.rounds > seen + 2, "tiles follower rounds")
        assert c.get("/tlog/checkpoint").status_code == 404  # the tiles publish nothing yet

        assert [x.ok for x in anchoring.run_once().attempts] == [True]
        r = c.get("/checkpoint")
        assert r.status_code == 200 and r.text.startswith(a.note)
        assert r.text != a.note and r.text.count("\u2014 ") == 2  # the log's and the witness's
        assert require_quorum(r.text, led.verifier, [wkey], 1).checkpoint.size == a.size
        assert c.get("/v1/log/checkpoint").text == r.text
        assert c.get("/v1/log/checkpoint").text == r.text  # the fast path, once cached

        # a newer checkpoint, signed but not cosigned: published nowhere
        led.append_many([("custody.note", {"i": i}) for i in range(3, 7)])
        b = led.sign_checkpoint_now()
        assert c.get("/checkpoint").text == r.text
        p = c.get("/v1/log/proof/inclusion", params={"seq": 1}).json()
        assert p["tree_size"] == a.size and p["checkpoint"] == r.text
        late = c.get("/v1/log/proof/inclusion", params={"seq": 5})
        assert late.status_code == 409 and late.json()["code"] == "not-yet-checkpointed"
        for url, params in (("/v1/log/proof/inclusion", {"seq": 1, "size": b.size}),
                            ("/v1/log/proof/consistency", {"size1": 1, "size2": b.size}),
                            (f"/v1/log/checkpoints/{b.size}", {})):
            got = c.get(url, params=params)
            assert got.status_code == 404 and got.json()["code"] == "not-published", url
        assert c.get("/v1/log/proof/consistency", params={"size1": 1}).json()[
            "checkpoint"] == r.text
        tl = wait_for(lambda: (x := c.get("/tlog/checkpoint")).status_code == 200 and x,
                      "the tiles' checkpoint")
        assert tl.text == r.text
        seen = follower.rounds
        wait_for(lambda: follower.rounds > seen + 2, "tiles follower rounds")
        assert c.get("/tlog/checkpoint").text == r.text  # b is not published as tiles

        # cosigned: b is published everywhere
        assert [x.ok for x in anchoring.run_once().attempts] == [True]
        r2 = c.get("/checkpoint")
        assert r2.text.startswith(b.note) and r2.text != b.note
        assert require_quorum(r2.text, led.verifier, [wkey], 1).checkpoint.size == b.size
        assert c.get("/v1/log/proof/inclusion", params={"seq": 5}).json()[
            "tree_size"] == b.size
        wait_for(lambda: c.get("/tlog/checkpoint").text == r2.text, "the tiles at b")
