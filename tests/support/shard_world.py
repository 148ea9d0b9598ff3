"""A data directory that can be sharded for real: a ledger (SQLite, or PostgreSQL with
``--db`` URLs from the cluster), the local OpenSSL TSA and a served witness of ours as its
configured anchors (quorum 1), and ``shard(origin)`` that runs ``start_shard`` and tells
the witness about the new log (a witness follows a log only once its operator adds it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from evidence.ledger.anchor.config import (
    add_tsa,
    add_witness,
    load_anchor_config,
    save_anchor_config,
)
from evidence.ledger.log import Ledger
from evidence.ledger.shards import ShardResult, start_shard
from evidence.verify.note import parse_verifier_key
from evidence.witness.cosigner import Witness
from tests.witness.conftest import ServedWitness, serve_witness  # the one served witness

__all__ = ["ShardWorld", "shard_world"]


@dataclass
class ShardWorld:
    dir: Path
    witness: ServedWitness
    new_db: Callable[[], str | None]  # a fresh database URL for the next shard (None: SQLite)

    def shard(self, origin: str) -> ShardResult:
        res = start_shard(self.dir, origin, db_url=self.new_db())
        self.witness.witness.add_log(origin, [parse_verifier_key(res.key)])
        return res


def shard_world(tmp_path: Path, tsa, first_db: str | None,  # type: ignore[no-untyped-def]
                new_db: Callable[[], str | None], origin: str) -> Iterator[ShardWorld]:
    d = tmp_path / "data"
    Ledger.create(d, origin, db_url=first_db, checkpoint_interval=3600).close()
    served_gen = serve_witness(Witness.init(tmp_path / "witness", "witness.example/w1"))
    served = next(served_gen)
    try:
        with Ledger.open(d) as led:
            served.witness.add_log(origin, [led.verifier])
        cfg = add_tsa(load_anchor_config(d), "local-tsa", tsa.url, [tsa.ca_pem_path])
        cfg = replace(add_witness(cfg, "w1", served.url, served.vkey), witness_quorum=1)
        save_anchor_config(cfg)
        yield ShardWorld(d, served, new_db)
    finally:
        next(served_gen, None)
