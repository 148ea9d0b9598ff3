"""Where each shard's tiles go (docs/formats.md "Tiles of each shard"): shard 1 where the
setting says, shard n >= 2 under ``shards/<n>/`` of it, for a folder, a file URL and an
S3 URL; ``off`` stays off; and the switch to a new shard keeps the data directory's own
settings in ``config.json`` (its ``tiles`` among them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evidence.ledger.config import LedgerConfig, replace_config
from evidence.ledger.tiles import active_shard, shard_spec


@pytest.mark.parametrize(("spec", "n", "want"), [
    ("tlog", 1, "tlog"),
    ("tlog", 2, "tlog/shards/2"),
    ("/srv/tiles/", 3, "/srv/tiles/shards/3"),
    ("file:///srv/tiles", 2, "file:///srv/tiles/shards/2"),
    ("s3://bucket/log?endpoint=http://s3:8333", 4,
     "s3://bucket/log/shards/4?endpoint=http://s3:8333"),
    ("s3://bucket", 2, "s3://bucket/shards/2"),
    ("off", 5, "off"),
])
def test_each_shard_has_its_own_tile_store(spec: str, n: int, want: str) -> None:
    assert shard_spec(spec, n) == want


def test_the_switch_keeps_the_tiles_setting(tmp_path: Path) -> None:
    d = tmp_path / "data"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"origin": "a.example/1", "db_url": None,
                                               "key_path": "log.key",
                                               "checkpoint_interval": 0,
                                               "tiles": "s3://bucket/log"}))
    assert active_shard(d) == 1
    replace_config(LedgerConfig(d, "a.example/2", "sqlite:///x.db", d / "shards/2/log.key",
                                0), "shards/2")
    doc = json.loads((d / "config.json").read_text())
    assert doc["tiles"] == "s3://bucket/log" and doc["origin"] == "a.example/2"
    assert doc["shard_dir"] == "shards/2" and active_shard(d) == 2
