"""Temporal shards (docs/formats.md "Temporal shards") on SQLite and PostgreSQL, with the
local OpenSSL TSA and a served witness as the configured anchors: three shards, each
frozen one refusing appends (in its own process and in another), its final checkpoint
cosigned and timestamped, the links both ways, the trust pins; and the bad inputs, each
refused with nothing changed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from evidence.ledger.anchor.config import add_tsa, load_anchor_config, save_anchor_config
from evidence.ledger.anchor.store import list_anchors
from evidence.ledger.config import load_config
from evidence.ledger.errors import LedgerFrozen
from evidence.ledger.log import Ledger
from evidence.ledger.shards import (
    REGISTRY,
    ShardError,
    frozen_pins,
    open_frozen,
    read_registry,
    start_shard,
)
from evidence.verify.checkpoint import verify_checkpoint
from evidence.verify.note import parse_note, parse_verifier_key
from tests.support.shard_world import ShardWorld, shard_world

O1, O2, O3 = "shards.example/log-1", "shards.example/log-2", "shards.example/log-3"


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def world(request, tmp_path: Path, tsa) -> Iterator[ShardWorld]:  # type: ignore[no-untyped-def]
    cluster = request.getfixturevalue("pg_cluster") if request.param == "pg" else None
    made: list[str] = []

    def new_db() -> str | None:
        if cluster is None:
            return None
        made.append(cluster.create_database("shard"))
        return made[-1]

    yield from shard_world(tmp_path, tsa, new_db(), new_db, O1)
    for url in made:
        assert cluster is not None
        cluster.drop_database(url)


def _notes(d: Path, n: int) -> list[str]:
    with Ledger.open(d) as led:
        return [f"{n}-{i}" for i in range(3) if led.append("custody.note", {"text": f"{n}-{i}"})]


def _dir_state(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*"))
            if p.is_file() and not p.name.startswith("ledger.db")}


def test_three_shards(world: ShardWorld) -> None:
    d = world.dir
    _notes(d, 1)
    r1 = world.shard(O2)
    _notes(d, 2)
    r2 = world.shard(O3)
    _notes(d, 3)

    reg = read_registry(d)
    assert reg.active == 3 and [s.origin for s in reg.frozen] == [O1, O2]
    assert [s.dir for s in reg.frozen] == [".", "shards/2"]
    assert load_config(d).origin == O3
    assert not (d / "log.key").exists() and not (d / "shards/2/log.key").exists()
    assert (d / "shards/3/log.key").exists()

    for res, s, succ in ((r1, reg.frozen[0], O2), (r2, reg.frozen[1], O3)):
        assert res.frozen == s and all(res.anchors.values()) and res.anchors
        with open_frozen(d, s.n) as led:
            assert led.origin == s.origin and led.final_checkpoint_size() == s.final_size
            last = json.loads(led.entry(s.final_size - 1).data)
            assert last["type"] == "log.frozen"
            assert last["body"]["successor_origin"] == succ
            # the final checkpoint: signed by the shard's key, cosigned by w1, timestamped
            cp = led.checkpoint_at(s.final_size)
            assert cp is not None and cp.size == s.final_size == led.size
            signed = verify_checkpoint(cp.note, parse_verifier_key(s.key)).checkpoint
            assert signed.size == s.final_size
            rows = {r.source: r for r in list_anchors(led.engine, size=s.final_size)}
            assert rows["local-tsa"].token and rows["w1"].cosignature
            with pytest.raises(Exception, match="read-only"):
                led.append("custody.note", {"text": "late"})
        # the successor's entry 0 names the final tree head
        with (Ledger.open(d) if s.n == 2 else open_frozen(d, 2)) as nxt:
            first = json.loads(nxt.entry(0).data)
            assert first["type"] == "log.started"
            assert first["body"] == {"shard": s.n + 1, "predecessor_origin": s.origin,
                                     "predecessor_key": s.key,
                                     "predecessor_size": s.final_size,
                                     "predecessor_root": s.final_root}
    # the trust pins: each frozen key, its window ending at the final size
    assert [(v.to_string(), lo, hi) for v, lo, hi in frozen_pins(d)] == [
        (s.key, 0, s.final_size) for s in reg.frozen]
    with Ledger.open(d) as led:
        assert led.origin == O3 and led.size == 4 and led.final_checkpoint_size() is None


def test_a_frozen_log_refuses_appends_in_every_process(world: ShardWorld) -> None:
    """A second writer that opened the log before the freeze (another process on
    PostgreSQL, a stale worker) is refused by its sequencer: it reads the last entry."""
    d = world.dir
    stale = Ledger.open(d)
    try:
        stale.append("custody.note", {"text": "before"})
        world.shard(O2)
        with pytest.raises(LedgerFrozen, match="frozen"):
            stale.append("custody.note", {"text": "after the freeze"})
        with open_frozen(d, 1) as led:
            assert led.size == read_registry(d).frozen[0].final_size
    finally:
        stale.close()


def test_freeze_in_process(world: ShardWorld) -> None:
    """The process that froze the log refuses at once, and cannot freeze it twice."""
    with Ledger.open(world.dir) as led:
        led.append("custody.note", {"text": "x"})
        other = Ledger.create(world.dir.parent / "other", "shards.example/other")
        try:
            cp = led.freeze(1, other.verifier)
        finally:
            other.close()
        assert cp.size == led.size == led.final_checkpoint_size() == 2
        with pytest.raises(LedgerFrozen, match="frozen"):
            led.append("custody.note", {"text": "y"})
        with pytest.raises(LedgerFrozen, match="already frozen"):
            led.freeze(1, other.verifier)
        assert led.size == 2


@pytest.mark.parametrize("case", ["same-origin", "bad-origin", "pending", "frozen", "old-db",
                                  "no-tsa"])
def test_bad_input_changes_nothing(world: ShardWorld, case: str) -> None:
    d = world.dir
    _notes(d, 1)
    if case == "frozen":
        world.shard(O2)
    before, size = _dir_state(d), Ledger.open(d).size
    origin, db = O3, world.new_db()
    if case == "same-origin":
        origin = O1
        match = "already a shard"
    elif case == "bad-origin":
        origin, match = "has space", "without spaces"
    elif case == "pending":
        (d / "pending-uploads" / "pd_waiting").mkdir(parents=True)
        before = _dir_state(d)
        match = "appends are pending: 1 deferred"
    elif case == "frozen":
        origin, match = O2, "already a shard"
    elif case == "no-tsa":
        save_anchor_config(replace(load_anchor_config(d), tsas=()))
        before = _dir_state(d)
        match = "no TSA is configured"
    else:
        db = load_config(d).db_url
        match = "new, empty database"
    with pytest.raises(ShardError, match=match) as e:
        start_shard(d, origin, db_url=db)
    assert "nothing was changed" in str(e.value)
    assert _dir_state(d) == before
    with Ledger.open(d) as led:
        assert led.size == size and led.final_checkpoint_size() is None


def test_shard_of_a_frozen_log_is_refused(world: ShardWorld) -> None:
    """The shard command run on a data directory whose log is frozen by another way
    (its successor not made by the command) says so and changes nothing."""
    d = world.dir
    with Ledger.open(d) as led:
        other = Ledger.create(d.parent / "other", "shards.example/elsewhere")
        led.freeze(1, other.verifier)
        other.close()
    before = _dir_state(d)
    with pytest.raises(ShardError, match=r"already frozen; its successor is "
                                         r"'shards\.example/elsewhere'"):
        start_shard(d, O2, db_url=world.new_db())
    assert _dir_state(d) == before and not (d / REGISTRY).exists()


def test_anchoring_failure_resumes(world: ShardWorld, tsa) -> None:  # type: ignore[no-untyped-def]
    """An unreachable TSA: the log is frozen, the new shard not active; the same command,
    once the TSA answers, finishes the shard (its backoff cut short: the operator asks)."""
    d = world.dir
    good = load_anchor_config(d)
    save_anchor_config(add_tsa(replace(good, tsas=()), "local-tsa", "http://127.0.0.1:9/tsa",
                               [tsa.ca_pem_path]))
    db = world.new_db()
    with pytest.raises(ShardError, match="lacks a timestamp from local-tsa"):
        start_shard(d, O2, db_url=db)
    assert load_config(d).origin == O1 and not (d / REGISTRY).exists()
    with Ledger.open(d) as led:
        assert led.final_checkpoint_size() == led.size
    save_anchor_config(good)
    res = start_shard(d, O2, db_url=db)
    assert res.anchors == {"local-tsa": True, "w1": True}
    assert load_config(d).origin == O2 and read_registry(d).active == 2
    with Ledger.open(d) as led:
        cp = led.latest_checkpoint()
        assert cp is not None and parse_note(cp.note).text.startswith(O2 + "\n")


def test_a_switch_cut_between_its_renames_is_finished(world: ShardWorld,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash after shards.json lists the frozen shard but before config.json names the
    new one (the rename fails here): the same command finishes the switch."""
    import evidence.ledger.shards as shards

    d = world.dir
    _notes(d, 1)

    def crash(*_a: object, **_k: object) -> None:
        raise OSError("disk full (the test)")

    with monkeypatch.context() as m:
        m.setattr(shards, "replace_config", crash)
        with pytest.raises(OSError, match="disk full"):
            world.shard(O2)
    assert read_registry(d).active == 2 and load_config(d).origin == O1
    with pytest.raises(ShardError, match=r"--origin shards\.example/log-2"):
        start_shard(d, O3)
    res = start_shard(d, O2)
    assert res.active == 2 and res.frozen == read_registry(d).frozen[0]
    assert load_config(d).origin == O2 and not (d / "log.key").exists()
    with Ledger.open(d) as led:
        assert led.origin == O2 and json.loads(led.entry(0).data)["type"] == "log.started"
        led.append("custody.note", {"text": "the new shard takes appends"})


def test_the_audit_names_an_entry_after_log_frozen(world: ShardWorld,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer that ignores the marker (the sequencer's check switched off here, as a
    modified program would) forks the frozen shard; the audit names the first entry
    after log.frozen. The same log before that entry audits clean."""
    import evidence.ledger.sequencer as sequencer

    d = world.dir
    with Ledger.open(d) as led:
        led.append("custody.note", {"text": "x"})
        other = Ledger.create(d.parent / "other", "shards.example/other")
        led.freeze(1, other.verifier)
        other.close()
        assert led.audit(workers=1).ok
        monkeypatch.setattr(sequencer, "FROZEN", "no.such.type")
        led.append("custody.note", {"text": "after the freeze"})
        led.sign_checkpoint_now()
        report = led.audit(workers=1)
    assert not report.ok and report.first_bad_seq == 2, report
    assert "follows log.frozen (entry 1)" in str(report.reason)
