"""``GET /v1/shards`` and ``/v1/shards/{n}/...`` over three shards (SQLite and PostgreSQL,
sharded for real: the local OpenSSL TSA and a served witness anchor each final
checkpoint): every shard listed, each frozen shard's final checkpoint served with its
cosignature and verifiable with that shard's key, its proofs verifying against it, its
entries for auditors only (with a token made before the shards: tokens follow the
service), and ``/v1/log/...`` serving the active shard unchanged."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from evidence.api.app import create_app
from evidence.api.settings import ApiSettings
from evidence.ledger.access import AccessControl
from evidence.ledger.log import Ledger
from evidence.ledger.shards import read_registry
from evidence.verify.checkpoint import verify_checkpoint
from evidence.verify.hashing import leaf_hash
from evidence.verify.merkle import verify_consistency, verify_inclusion
from evidence.verify.note import parse_note, parse_verifier_key
from tests.support.shard_world import ShardWorld, shard_world

pytestmark = pytest.mark.tsa
ORIGINS = ("api-shards.example/1", "api-shards.example/2", "api-shards.example/3")


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def world(request, tmp_path: Path, tsa) -> Iterator[ShardWorld]:  # type: ignore[no-untyped-def]
    cluster = request.getfixturevalue("pg_cluster") if request.param == "pg" else None
    made: list[str] = []

    def new_db() -> str | None:
        if cluster is None:
            return None
        made.append(cluster.create_database("ashard"))
        return made[-1]

    yield from shard_world(tmp_path, tsa, new_db(), new_db, ORIGINS[0])
    for url in made:
        assert cluster is not None
        cluster.drop_database(url)


def test_the_api_serves_every_shard(world: ShardWorld) -> None:
    d = world.dir
    with Ledger.open(d) as led:
        ac = AccessControl(led)
        ac.add_principal("aud", "auditor", "Auditor")
        _info, token = ac.create_token("aud", label="tests")
        led.append_many([("custody.note", {"text": f"shard 1 #{i}"}) for i in range(4)])
    world.shard(ORIGINS[1])
    with Ledger.open(d) as led:
        led.append("custody.note", {"text": "shard 2"})
    world.shard(ORIGINS[2])
    with Ledger.open(d) as led:
        led.append("custody.note", {"text": "shard 3"})
        active = led.sign_checkpoint_now()
    reg = read_registry(d)

    with TestClient(create_app(ApiSettings(data_dir=str(d), anchor=False))) as c:
        listed = c.get("/v1/shards").json()
        assert listed["active"] == 3
        assert [(s["shard"], s["origin"], s["frozen"], s["size"]) for s in listed["shards"]] \
            == [(1, ORIGINS[0], True, reg.frozen[0].final_size),
                (2, ORIGINS[1], True, reg.frozen[1].final_size), (3, ORIGINS[2], False, 2)]
        for s in reg.frozen:
            r = c.get(f"/v1/shards/{s.n}/checkpoint")
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
            vc = verify_checkpoint(r.text, parse_verifier_key(s.key),
                                   witness_keys=[parse_verifier_key(world.witness.vkey)])
            assert vc.checkpoint.size == s.final_size and vc.checkpoint.origin == s.origin
            assert vc.checkpoint.root.hex() == s.final_root and len(vc.cosignatures) == 1
            # every entry of the frozen shard proven to its final checkpoint
            page = c.get(f"/v1/shards/{s.n}/entries", headers={
                "Authorization": f"Bearer {token}"}).json()
            assert page["size"] == s.final_size and page["next"] is None
            last = json.loads(base64.b64decode(page["entries"][-1]["entry_b64"]))
            assert last["type"] == "log.frozen"
            for e in page["entries"]:
                p = c.get(f"/v1/shards/{s.n}/proof/inclusion", params={"seq": e["seq"]}).json()
                assert p["tree_size"] == s.final_size and p["checkpoint"] is not None
                verify_inclusion(e["seq"], s.final_size,
                                 leaf_hash(base64.b64decode(e["entry_b64"])),
                                 [bytes.fromhex(h) for h in p["proof"]],
                                 bytes.fromhex(s.final_root))
            k = c.get(f"/v1/shards/{s.n}/proof/consistency", params={"size1": 1}).json()
            verify_consistency(1, s.final_size, bytes.fromhex(k["root1"]),
                               bytes.fromhex(s.final_root), [bytes.fromhex(h) for h in k["proof"]])
        # the active shard: under /v1/shards/3 and, unchanged, under /v1/log
        assert c.get("/v1/shards/3/checkpoint").text == active.note
        assert c.get("/v1/log/checkpoint").text == active.note
        assert parse_note(active.note).text.startswith(ORIGINS[2] + "\n")
        # refusals: an unknown shard, entries without a token, a proof past the final size
        r = c.get("/v1/shards/9/checkpoint")
        assert r.status_code == 404 and r.json()["code"] == "unknown-shard"
        assert c.get("/v1/shards/1/entries").status_code == 401
        r = c.get("/v1/shards/1/proof/inclusion",
                  params={"seq": 0, "size": reg.frozen[0].final_size + 1})
        assert r.status_code == 400, r.text


def test_a_server_on_a_frozen_shard_refuses_submissions(world: ShardWorld) -> None:
    """A server left running on shard 1 while it is frozen (the operator forgot to stop
    it): a submission gets 503 ``log-frozen`` and nothing is appended."""
    d = world.dir
    with Ledger.open(d) as led:
        ac = AccessControl(led)
        ac.add_principal("acme", "submitter", "Acme")
        ac.add_case("case-a")
        ac.add_member("case-a", "acme")
        _info, token = ac.create_token("acme", label="tests")
    auth = {"Authorization": f"Bearer {token}"}

    def submit(c: TestClient) -> object:
        return c.post("/v1/evidence", data={"case": "case-a", "kind": "document"},
                      files=[("file", ("a.txt", b"a listing", "application/octet-stream"))],
                      headers=auth)

    with TestClient(create_app(ApiSettings(data_dir=str(d), anchor=False))) as c:
        assert submit(c).status_code == 201  # type: ignore[attr-defined]
        world.shard(ORIGINS[1])
        size = read_registry(d).frozen[0].final_size
        r = submit(c)
        assert r.status_code == 503 and r.json()["code"] == "log-frozen", r.text  # type: ignore[attr-defined]
    with Ledger.open(d) as led:
        assert led.size == 1  # the new shard: its log.started entry only
    with TestClient(create_app(ApiSettings(data_dir=str(d), anchor=False))) as c:
        assert submit(c).status_code == 201  # type: ignore[attr-defined]  # restarted
        assert c.get("/v1/shards").json()["shards"][0]["size"] == size
