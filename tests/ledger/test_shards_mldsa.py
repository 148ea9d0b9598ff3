"""ML-DSA-44 keys across shards (docs/formats.md "Temporal shards", D26), on SQLite and
PostgreSQL, sharded for real (the local OpenSSL TSA and a served witness anchor each final
checkpoint): each shard's ``log-mldsa.key`` in its own directory, the frozen one's deleted
at the switch with its Ed25519 key, ``shards.json`` keeping the public key with its first
size, a new shard of a post-quantum log getting its own key, and the exported trust file
pinning every shard's ML-DSA-44 key; a bundle of each shard verified with that one file
by ``evidence verify`` and the stand-alone script."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from evidence.cli.main import cli
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger
from evidence.ledger.shards import open_frozen, read_registry
from evidence.verify.note import ALG_MLDSA44, generate_signer, parse_note
from evidence.verify.trust import parse_trust
from tests.support.clean_python import clean_env
from tests.support.shard_world import ShardWorld, shard_world
from tests.support.standalone import VERIFY_SCRIPT, run_clean

pytestmark = pytest.mark.tsa
ORIGINS = ("pq-shards.example/1", "pq-shards.example/2", "pq-shards.example/3")


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def world(request, tmp_path: Path, tsa) -> Iterator[ShardWorld]:  # type: ignore[no-untyped-def]
    cluster = request.getfixturevalue("pg_cluster") if request.param == "pg" else None
    made: list[str] = []

    def new_db() -> str | None:
        if cluster is None:
            return None
        made.append(cluster.create_database("pqshard"))
        return made[-1]

    yield from shard_world(tmp_path, tsa, new_db(), new_db, ORIGINS[0])
    for url in made:
        assert cluster is not None
        cluster.drop_database(url)


def _submit(d: Path, tmp: Path, name: str) -> str:
    f = tmp / f"{name}.txt"
    f.write_bytes(f"preserved in {name}\n".encode())
    with Ledger.open(d) as led:
        return Intake(led, FilesystemBlobStore(d / "blobs")).submit(ItemSpec(
            files=[f], kind="document", case="C-1", principal="acme")).evidence_id


def test_each_shard_has_its_own_mldsa_key_pinned_in_the_trust_file(
        world: ShardWorld, tmp_path: Path) -> None:
    d = world.dir
    with Ledger.open(d) as led:
        first = led.add_mldsa_key(generate_signer(ORIGINS[0], ALG_MLDSA44))
    assert (d / "log-mldsa.key").is_file()
    ids = [_submit(d, tmp_path, "shard-1")]
    world.shard(ORIGINS[1])
    assert not (d / "log-mldsa.key").exists() and not (d / "log.key").exists()
    assert (d / "shards" / "2" / "log-mldsa.key").is_file()
    ids.append(_submit(d, tmp_path, "shard-2"))
    world.shard(ORIGINS[2])
    assert not (d / "shards" / "2" / "log-mldsa.key").exists()
    assert (d / "shards" / "3" / "log-mldsa.key").is_file()
    ids.append(_submit(d, tmp_path, "shard-3"))
    with Ledger.open(d) as led:
        pq3 = led.mldsa_key()
        led.sign_checkpoint_now()
    assert pq3 is not None and pq3[0].name == ORIGINS[2]

    reg = read_registry(d)
    keys = []
    for s in reg.frozen:
        assert s.mldsa is not None and s.mldsa[2] == s.final_size
        with open_frozen(d, s.n) as old:
            pq = old.mldsa_key()
            assert pq is not None and (pq[0].to_string(), pq[1]) == s.mldsa[:2]
            # the final checkpoint carries the shard's ML-DSA-44 line
            cp = old.checkpoint_at(s.final_size)
            assert cp is not None
            assert pq[0].key_id in {sig.key_id for sig in parse_note(cp.note).signatures}
        keys.append(s.mldsa[0])
    assert reg.frozen[0].mldsa[1] == first  # type: ignore[index]
    assert len({*keys, pq3[0].to_string()}) == 3  # three shards, three keys

    runner = CliRunner()  # the active shard's checkpoint anchored (TSA and witness)
    r = runner.invoke(cli, ["anchor", "--data-dir", str(d)])
    assert r.exit_code == 0, r.output
    trust = tmp_path / "trust.txt"
    r = runner.invoke(cli, ["trust", "export", "--data-dir", str(d), "-o", str(trust)])
    assert r.exit_code == 0, r.output
    pins = [ln.split()[2:] for ln in trust.read_text().splitlines()
            if ln.startswith("#@ log-mldsa ")]
    assert sorted(p[0] for p in pins) == sorted([*keys, pq3[0].to_string()])
    parse_trust(trust.read_bytes())  # the court's parser reads it whole
    for n, evidence_id in enumerate(ids, 1):
        out = tmp_path / f"shard-{n}.zip"
        r = runner.invoke(cli, ["export", evidence_id, "-o", str(out), "--data-dir", str(d)])
        assert r.exit_code == 0, r.output
        r = runner.invoke(cli, ["verify", str(out), "--trust", str(trust), "--json"])
        assert json.loads(r.output)["verdict"] == "verified", (n, r.output)
        p = run_clean(VERIFY_SCRIPT, [str(out), "--trust", str(trust), "--json"],
                      clean_env(tmp_path), tmp_path)
        assert json.loads(p.stdout.strip().splitlines()[-1])["verdict"] == "verified", (
            n, p.stdout[-2000:], p.stderr[-2000:])
