"""``evidence log shard`` end to end, on SQLite and PostgreSQL: items preserved in three
shards, two shard commands (each freezing the log, its final checkpoint cosigned by the
served witness and timestamped by the local OpenSSL TSA), then one trust file, exported
after the last shard, with which a bundle of each shard's item verifies in the package
(`evidence verify`) and the stand-alone script alike; a trust file exported while shard 1
was active verifies shard 1's bundle and refuses shard 2's. Bad input: refused by the
command with exit 1, nothing changed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from evidence.cli.main import cli
from evidence.ledger.config import load_config
from evidence.ledger.shards import read_registry
from evidence.verify.note import parse_verifier_key
from tests.support.clean_python import clean_env
from tests.support.cli_run import add_submitter
from tests.support.shard_world import ShardWorld, shard_world
from tests.support.standalone import VERIFY_SCRIPT, run_clean

pytestmark = pytest.mark.tsa

ORIGINS = ("cli-shards.example/1", "cli-shards.example/2", "cli-shards.example/3")


def run(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def world(request, tmp_path: Path, tsa) -> Iterator[ShardWorld]:  # type: ignore[no-untyped-def]
    cluster = request.getfixturevalue("pg_cluster") if request.param == "pg" else None
    made: list[str] = []

    def new_db() -> str | None:
        if cluster is None:
            return None
        made.append(cluster.create_database("cshard"))
        return made[-1]

    yield from shard_world(tmp_path, tsa, new_db(), new_db, ORIGINS[0])
    for url in made:
        assert cluster is not None
        cluster.drop_database(url)


def _submit(d: Path, tmp: Path, n: int) -> str:
    f = tmp / f"shot-{n}.png"
    f.write_bytes(f"screenshot kept in shard {n}".encode())
    r = run("submit", f, "--case", "case-1", "--kind", "screenshot", "--as", "tester",
            "--data-dir", d, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.output)["evidence_id"]


def _shard(world: ShardWorld, origin: str) -> dict:
    db = world.new_db()
    r = run("log", "shard", "--origin", origin, "--data-dir", world.dir, "--json",
            *(["--new-db", db] if db else []))
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    world.witness.witness.add_log(origin, [parse_verifier_key(doc["active"]["key"])])
    return doc


def _verify_both(bundle: Path, trust: Path, tmp: Path) -> tuple[str, str]:
    r = run("verify", bundle, "--trust", trust, "--json")
    package = json.loads(r.output)["verdict"]
    p = run_clean(VERIFY_SCRIPT, [str(bundle), "--trust", str(trust), "--json"],
                  clean_env(tmp), tmp)
    script = json.loads(p.stdout.strip().splitlines()[-1])["verdict"]
    return package, script


def test_three_shards_bundles_verify(world: ShardWorld, tmp_path: Path) -> None:
    d = world.dir
    add_submitter(d, "case-1")
    old_trust = tmp_path / "trust-shard-1.txt"
    assert run("trust", "export", "--data-dir", d, "-o", old_trust).exit_code == 0
    ids = [_submit(d, tmp_path, 1)]
    docs = [_shard(world, ORIGINS[1])]
    ids.append(_submit(d, tmp_path, 2))  # the copied tokens and cases serve the new shard
    docs.append(_shard(world, ORIGINS[2]))
    ids.append(_submit(d, tmp_path, 3))
    assert run("anchor", "--once", "--data-dir", d).exit_code == 0

    for i, doc in enumerate(docs):
        assert doc["frozen"]["shard"] == i + 1 and doc["frozen"]["origin"] == ORIGINS[i]
        assert doc["active"] == {"shard": i + 2, "origin": ORIGINS[i + 1],
                                 "key": doc["active"]["key"]}
        assert doc["anchors"] == {"local-tsa": True, "w1": True}
    reg = read_registry(d)
    assert reg.active == 3 and load_config(d).origin == ORIGINS[2]

    trust = tmp_path / "trust.txt"
    assert run("trust", "export", "--data-dir", d, "-o", trust).exit_code == 0
    text = trust.read_text()
    for s in reg.frozen:  # each frozen shard pinned up to its final size, and no further
        assert f"#@ log-key {s.key} 0 {s.final_size}\n" in text
    bundles = []
    for n, evidence_id in enumerate(ids, start=1):
        out = tmp_path / f"shard-{n}.zip"
        r = run("export", evidence_id, "-o", out, "--data-dir", d, "--json")
        assert r.exit_code == 0, r.output
        doc = json.loads(r.output)
        if n < 3:  # a frozen shard's item is proven to its final checkpoint
            assert doc["checkpoint_size"] == reg.frozen[n - 1].final_size
        assert doc["timestamps"] == 1 and doc["cosignatures"] == 1
        assert _verify_both(out, trust, tmp_path) == ("verified", "verified"), n
        bundles.append(out)
    # an item of a frozen shard is shown from the shard holding it, its file re-hashed
    r = run("show", ids[0], "--verify", "--data-dir", d, "--json")
    assert r.exit_code == 0, r.output
    shown = json.loads(r.output)
    assert shown["evidence_id"] == ids[0] and shown["status"] == "preserved"
    assert shown["frozen_shard"] == 1  # as the API's view names it
    r = run("show", ids[2], "--data-dir", d, "--json")
    assert r.exit_code == 0 and json.loads(r.output)["frozen_shard"] is None, r.output
    r = run("show", ids[1], "--data-dir", d)
    assert r.exit_code == 0 and "(in the log of frozen shard 2)" in r.output, r.output
    assert [f["fixity"] for f in shown["files"]] == ["ok"]
    # the trust file of shard 1's time pins shard 1 only
    assert _verify_both(bundles[0], old_trust, tmp_path) == ("verified", "verified")
    assert _verify_both(bundles[1], old_trust, tmp_path) == ("failed", "failed")


def test_bad_input_changes_nothing(world: ShardWorld, tmp_path: Path) -> None:
    d = world.dir
    add_submitter(d, "case-1")
    _submit(d, tmp_path, 1)
    before = sorted(p.name for p in d.iterdir())
    cfg = (d / "config.json").read_bytes()
    r = run("log", "shard", "--origin", ORIGINS[0], "--data-dir", d, "--json")
    assert r.exit_code == 1 and "already a shard" in json.loads(r.output)["error"]
    (d / "pending-uploads" / "pd_waiting").mkdir(parents=True)
    r = run("log", "shard", "--origin", ORIGINS[1], "--data-dir", d)
    assert r.exit_code == 1 and "appends are pending" in r.output
    assert "nothing was changed" in r.output
    assert sorted(p.name for p in d.iterdir()) == sorted([*before, "pending-uploads"])
    assert (d / "config.json").read_bytes() == cfg
    assert run("log", "append", "custody.note", "--data-dir", d).exit_code == 0  # not frozen
