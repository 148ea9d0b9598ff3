"""Items of frozen shards over HTTP (docs/decisions.md D26): three shards (SQLite and
PostgreSQL, each final checkpoint timestamped by the local OpenSSL TSA and cosigned by a
served witness), an item preserved in each of the first two, served by a server on the
third as an item of the active shard is: metadata, files (with the fixity checks),
receipts, the ``.tlog-proof``, custody, the bundle (verified by ``evidence verify`` with
the exported trust file) and grants, made before the freeze (still counting downloads)
and after it. Every retrieval is recorded in the ACTIVE shard's log, its custody link
continuing the frozen shard's chain; the frozen shards' logs do not grow."""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import json
import os
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from evidence.api.app import create_app
from evidence.api.settings import ApiSettings
from evidence.cli.main import cli
from evidence.ledger.access import AccessControl
from evidence.ledger.log import Ledger
from evidence.ledger.shards import open_frozen, read_registry
from evidence.verify.entry import parse_entry
from tests.support.shard_world import ShardWorld, shard_world

pytestmark = pytest.mark.tsa
ORIGINS = ("api-shard-ev.example/1", "api-shard-ev.example/2", "api-shard-ev.example/3")


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def world(request, tmp_path: Path, tsa) -> Iterator[ShardWorld]:  # type: ignore[no-untyped-def]
    cluster = request.getfixturevalue("pg_cluster") if request.param == "pg" else None
    made: list[str] = []

    def new_db() -> str | None:
        if cluster is None:
            return None
        made.append(cluster.create_database("evshard"))
        return made[-1]

    yield from shard_world(tmp_path, tsa, new_db(), new_db, ORIGINS[0])
    for url in made:
        assert cluster is not None
        cluster.drop_database(url)


def _client(d: Path) -> TestClient:
    return TestClient(create_app(ApiSettings(data_dir=str(d), anchor=False)))


def _submit(c: TestClient, token: str, content: bytes) -> str:
    r = c.post("/v1/evidence", data={"case": "case-a", "kind": "document"},
               files=[("file", ("exhibit.bin", content, "application/octet-stream"))],
               headers=_auth(token))
    assert r.status_code == 201, r.text
    return r.json()["evidence_id"]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _grant(c: TestClient, token: str, ev: str, downloads: int) -> dict:
    until = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = c.post("/v1/grants", json={"grantee": "fp", "evidence_ids": [ev],
                                   "expires_at": until, "max_downloads": downloads},
               headers=_auth(token))
    assert r.status_code == 201, r.text
    return r.json()


def _bodies(entries: list[dict]) -> list[tuple[str, dict]]:
    out = []
    for e in entries:
        p = parse_entry(base64.b64decode(e["entry_b64"]))
        out.append((p.type, p.body))
    return out


def _linked(chain: list[dict]) -> None:
    """Each custody entry links to the one before it, across the shards' logs."""
    for prev, e in itertools.pairwise(chain):
        assert _bodies([e])[0][1]["prev_custody"] == prev["leaf_hash"], e["seq"]


def test_items_of_frozen_shards_are_served_and_their_retrievals_recorded(
        world: ShardWorld, tmp_path: Path) -> None:
    d = world.dir
    with Ledger.open(d) as led:
        ac = AccessControl(led)
        ac.add_principal("acme", "submitter", "Acme")
        ac.add_principal("fp", "foreign", "Foreign party")
        ac.add_case("case-a")
        ac.add_member("case-a", "acme")
        _i, acme = ac.create_token("acme", label="tests")
        _i, fp = ac.create_token("fp", label="tests")
    contents = [b"preserved in shard 1 " * 50, b"preserved in shard 2 " * 50]
    with _client(d) as c:
        ev1 = _submit(c, acme, contents[0])
        before = _grant(c, acme, ev1, downloads=2)  # made before the freeze
    world.shard(ORIGINS[1])
    with _client(d) as c:
        ev2 = _submit(c, acme, contents[1])
    world.shard(ORIGINS[2])
    reg = read_registry(d)
    sizes = [s.final_size for s in reg.frozen]

    with _client(d) as c:
        for n, (ev, content) in enumerate(((ev1, contents[0]), (ev2, contents[1])), 1):
            sha = hashlib.sha256(content).hexdigest()
            r = c.get(f"/v1/evidence/{ev}", headers=_auth(acme))
            assert r.status_code == 200, r.text
            view = r.json()
            assert view["frozen_shard"] == n and view["files"][0]["sha256"] == sha
            r = c.get(f"/v1/evidence/{ev}/files/{sha}", headers=_auth(acme))
            assert r.status_code == 200 and r.content == content
            r = c.get(f"/v1/evidence/{ev}/files/{sha}", headers={
                **_auth(acme), "Range": "bytes=5-9"})
            assert r.status_code == 206 and r.content == content[5:10]
            rc = c.get(f"/v1/evidence/{ev}/receipt", headers=_auth(acme)).json()
            assert rc["log_key"] == reg.frozen[n - 1].key
            assert rc["checkpoint"].startswith(ORIGINS[n - 1] + "\n")
            r = c.get(f"/v1/evidence/{ev}/receipt.tlog-proof", headers=_auth(acme))
            assert r.status_code == 200 and ORIGINS[n - 1] in r.text
            r = c.get(f"/v1/evidence/{ev}/receipt.cose", headers=_auth(acme))
            assert r.status_code == 409 and r.json()["code"] == "shard-frozen"
            # custody: the frozen shard's entries, then the active log's, linked on
            cu = c.get(f"/v1/evidence/{ev}/custody", headers=_auth(acme)).json()
            assert cu["frozen_shard"] == n
            chain = cu["entries"] + cu["active_entries"]
            assert _bodies(chain)[0][0] == "evidence.submitted"
            assert [t for t, b in _bodies(cu["active_entries"])] == ["evidence.accessed"] * 3
            assert [b["action"] for t, b in _bodies(cu["active_entries"])] == [
                "metadata", "download", "download"]
            _linked(chain)

        # the bundle: proven to the frozen shard, verified with the exported trust file
        r = c.get(f"/v1/evidence/{ev1}/bundle", headers=_auth(acme))
        assert r.status_code == 200, r.text
        bundle = tmp_path / "ev1.zip"
        bundle.write_bytes(r.content)
        with zipfile.ZipFile(io.BytesIO(r.content)) as z:
            assert z.read("checkpoint/checkpoint.note").decode().startswith(ORIGINS[0] + "\n")

        # the grant made before the freeze: still counting, in the active shard
        sha1 = hashlib.sha256(contents[0]).hexdigest()
        for _ in range(2):
            r = c.get(f"/v1/evidence/{ev1}/files/{sha1}", headers=_auth(fp))
            assert r.status_code == 200 and r.content == contents[0]
        r = c.get(f"/v1/evidence/{ev1}/files/{sha1}", headers=_auth(fp))
        assert r.status_code == 403 and r.json()["code"] == "download-limit-reached"
        assert c.get(f"/v1/grants/{before['id']}", headers=_auth(acme)).json()[
            "downloads"] == 2
        # a grant made now on an item of a frozen shard, then revoked
        after = _grant(c, acme, ev2, downloads=5)
        sha2 = hashlib.sha256(contents[1]).hexdigest()
        r = c.get(f"/v1/evidence/{ev2}/files/{sha2}", headers=_auth(fp))
        assert r.status_code == 200 and r.content == contents[1]
        r = c.post(f"/v1/grants/{after['id']}/revoke", headers=_auth(acme))
        assert r.status_code == 200, r.text
        r = c.get(f"/v1/evidence/{ev2}/files/{sha2}", headers=_auth(fp))
        assert r.status_code == 403 and r.json()["code"] == "grant-revoked"
        cu = c.get(f"/v1/evidence/{ev2}/custody", headers=_auth(acme)).json()
        assert [t for t, _b in _bodies(cu["active_entries"])][-3:] == [
            "evidence.shared", "evidence.accessed", "evidence.share_revoked"]
        _linked(cu["entries"] + cu["active_entries"])
        # the local command reads the same two logs: the same document, byte for byte
        r = CliRunner().invoke(cli, ["custody", ev2, "--data-dir", str(d), "--json"])
        assert r.exit_code == 0, r.output
        assert json.loads(r.output) == cu
        r = CliRunner().invoke(cli, ["custody", ev2, "--data-dir", str(d)])
        assert r.exit_code == 0 and "in the log of frozen shard 2:" in r.output, r.output
        assert "since the freeze, in the active shard's log:" in r.output, r.output

        # fixity: a frozen shard's stored file damaged is never served, and is recorded
        blob = d / "blobs" / sha1[:2] / sha1[2:4] / sha1
        os.chmod(blob, 0o644)
        data = bytearray(blob.read_bytes())
        data[3] ^= 0xFF
        blob.write_bytes(bytes(data))
        r = c.get(f"/v1/evidence/{ev1}/files/{sha1}", headers=_auth(acme))
        assert r.status_code == 503 and r.json()["code"] == "evidence-damaged"
        cu = c.get(f"/v1/evidence/{ev1}/custody", headers=_auth(acme)).json()
        assert _bodies(cu["active_entries"])[-1][1]["fixity"] == "damaged"
        r = c.get(f"/v1/evidence/{ev1}/bundle", headers=_auth(acme),
                  params={"tz": "UTC"})  # another variant: built again, from the store
        assert r.status_code == 503 and r.json()["code"] == "evidence-damaged"
        # an id no shard holds
        r = c.get("/v1/evidence/ev_nosuchitem/custody", headers=_auth(acme))
        assert r.status_code == 404

    # nothing was appended to a frozen shard; every retrieval is in the active log
    for s, size in zip(reg.frozen, sizes, strict=True):
        with open_frozen(d, s.n) as old:
            assert old.size == size
    with Ledger.open(d, read_only=True) as led:
        got = [parse_entry(e.data) for e in led.entries(0, led.size)]
    accessed = [e.body for e in got if e.type == "evidence.accessed"]
    assert {b["evidence_id"] for b in accessed} == {ev1, ev2}

    runner = CliRunner()
    trust = tmp_path / "trust.txt"
    assert runner.invoke(cli, ["trust", "export", "--data-dir", str(d), "-o",
                               str(trust)]).exit_code == 0
    r = runner.invoke(cli, ["verify", str(bundle), "--trust", str(trust), "--json"])
    assert json.loads(r.output)["verdict"] == "verified", r.output
