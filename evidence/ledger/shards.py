"""Temporal shards: ``evidence log shard`` ends the log being written and starts a new one
with a new origin and a new key (docs/formats.md "Temporal shards", docs/operations.md
"Starting a new shard", docs/decisions.md D23).

Why shards: a log that runs for decades outlives its key, its operator's database and its
size; a shard closes one log for good (frozen: its final checkpoint cosigned and
timestamped, its private key deleted) while every item in it stays provable with the
shard's own key, pinned with a window that ends at the final size.

The steps of :func:`start_shard`, each checked before the next, and where a failure leaves
the data directory:

1. checks (nothing written): a valid new origin used by no shard yet, the log not
   frozen, no deferred submission waiting for its signature (appends pending), the new
   database empty and not the old one;
2. the new ledger is made in ``<data-dir>/shards/<n>/`` (key and, by default, SQLite
   database) and the identities (principals, API tokens, cases and their members) are
   copied into it;
3. the old log is frozen: ``log.frozen`` naming the new origin and key, the final
   checkpoint signed;
4. the final checkpoint is cosigned and timestamped by the configured anchors;
5. the new log's entry 0, ``log.started``, names the final tree head;
6. the switch: ``shards.json`` lists the frozen shard, ``config.json`` names the new one
   (one rename), the frozen shard's private key file is deleted.

A failure in step 1 or 2 changes nothing of the old log (step 2's directory is removed);
from step 3 on the old log is frozen for good, and running the same command again resumes
at the step that failed (:func:`start_shard` recognises its own successor).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from evidence.ledger.clock import utc_now
from evidence.ledger.config import (
    CONFIG_FILE,
    LedgerConfig,
    default_db_url,
    load_config,
    replace_config,
)
from evidence.ledger.db.engine import write_transaction
from evidence.ledger.errors import LedgerError, LedgerFrozen
from evidence.ledger.keyfile import read_private_key
from evidence.ledger.log import Ledger, StoredCheckpoint
from evidence.ledger.pq_key import pq_key_path
from evidence.verify.note import (
    ALG_MLDSA44,
    Verifier,
    generate_signer,
    is_valid_key_name,
    parse_verifier_key,
)

REGISTRY = "shards.json"
SHARDS_DIR = "shards"
PENDING_UPLOADS = "pending-uploads"  # evidence/api/pending.py's folder of deferred items
STARTED = "log.started"
PENDING_STATUS = "pending"  # anchors.status of a row to try (ledger/anchor/schema.py)
# who may do what follows the service to the new shard: identities, and the grants' live
# state (downloads counted, revocation), which only the active shard's database can take;
# each grant's evidence.shared entry stays in the log that recorded it (its shared_seq is
# that log's), and later custody entries go to the active log (docs/decisions.md D26)
_ID_TABLES = ("principals", "api_tokens", "cases", "case_members", "grants", "grant_items")


class ShardError(LedgerError):
    """The shard command cannot go on; the message says what was (not) changed."""


@dataclass(frozen=True)
class FrozenShard:
    """One frozen shard as ``shards.json`` lists it."""

    n: int
    origin: str
    key: str
    dir: str
    db_url: str | None
    final_size: int
    final_root: str
    log_keys: tuple[tuple[str, int, int], ...]  # every key of the shard, window to final
    mldsa: tuple[str, int, int] | None = None  # its ML-DSA-44 key, from its first size

    def database_url(self, data_dir: Path) -> str:
        return self.db_url or default_db_url(data_dir / self.dir)

    def pins(self) -> list[tuple[Verifier, int, int]]:
        """The trust file's pins of this shard: each Ed25519 key (``#@ log-key``), its
        window ending at the final size at the latest (no checkpoint extending a frozen
        shard passes), then its ML-DSA-44 key if it had one (``#@ log-mldsa``, required
        on its checkpoints from its first size; tests/ledger/test_shards_mldsa.py)."""
        return [(parse_verifier_key(v), lo, hi) for v, lo, hi in
                (*self.log_keys, *([self.mldsa] if self.mldsa else []))]


@dataclass(frozen=True)
class Registry:
    active: int
    frozen: tuple[FrozenShard, ...]

    def origins(self) -> set[str]:
        return {s.origin for s in self.frozen}

    def shard(self, n: int) -> FrozenShard | None:
        return next((s for s in self.frozen if s.n == n), None)


def read_registry(data_dir: str | os.PathLike[str]) -> Registry:
    """``<data-dir>/shards.json``; absent: shard 1 is the only (active) shard."""
    path = Path(data_dir) / REGISTRY
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Registry(1, ())
    except (OSError, ValueError) as e:
        raise ShardError(f"cannot read {path}: {e}") from None
    try:
        frozen = tuple(FrozenShard(int(s["n"]), str(s["origin"]), str(s["key"]), str(s["dir"]),
                                   s["db_url"], int(s["final_size"]), str(s["final_root"]),
                                   tuple((str(v), int(lo), int(hi)) for v, lo, hi
                                         in s["log_keys"]),
                                   None if s.get("mldsa") is None else
                                   (str(s["mldsa"][0]), int(s["mldsa"][1]),
                                    int(s["mldsa"][2])))
                       for s in doc["shards"])
        reg = Registry(int(doc["active"]), frozen)
    except (KeyError, TypeError, ValueError) as e:
        raise ShardError(f"{path} is not a shard registry ({e})") from None
    if [s.n for s in reg.frozen] != list(range(1, reg.active)):
        raise ShardError(f"{path}: shards must be 1..{reg.active - 1} in order")
    return reg


def _write_registry(data_dir: Path, reg: Registry) -> None:
    doc = {"v": 1, "active": reg.active,
           "shards": [{**asdict(s), "log_keys": [list(k) for k in s.log_keys],
                       "mldsa": None if s.mldsa is None else list(s.mldsa)}
                      for s in reg.frozen]}
    path = data_dir / REGISTRY
    tmp = path.with_name(REGISTRY + ".new")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def frozen_pins(data_dir: str | os.PathLike[str]) -> list[tuple[Verifier, int, int]]:
    """Every frozen shard's keys with their windows, for the trust file (after the
    active shard's own retired keys): Ed25519 keys as ``#@ log-key``, an ML-DSA-44 key
    (alg 0x06) as ``#@ log-mldsa`` (the trust file writes its from-size only)."""
    return [p for s in read_registry(data_dir).frozen for p in s.pins()]


def open_frozen(data_dir: str | os.PathLike[str], n: int) -> Ledger:
    """A frozen shard's ledger, read-only (no key: it can append and sign nothing)."""
    d = Path(data_dir)
    s = read_registry(d).shard(n)
    if s is None:
        raise ShardError(f"there is no frozen shard {n} in {d}")
    # read-only with a URL and a directory without config.json: the shard's own database
    # is opened without any configuration (Ledger.open), so the active config cannot mix in
    return Ledger.open(d / SHARDS_DIR / str(n) / "ro", db_url=s.database_url(d), read_only=True)


def frozen_holding(data_dir: str | os.PathLike[str], evidence_id: str,
                   ledger_of: Callable[[FrozenShard], Ledger]
                   ) -> tuple[FrozenShard, Ledger] | None:
    """THE lookup of an item in the frozen shards (the CLI's :func:`shard_holding` and the
    API's :class:`FrozenShards` both use it): the newest frozen shard whose log preserved
    ``evidence_id`` and its ledger as ``ledger_of`` gives it; None when none does. The
    active shard is the caller's to ask first (it is asked on every request)."""
    from evidence.ledger.items import find_item

    for s in reversed(read_registry(data_dir).frozen):
        led = ledger_of(s)
        if find_item(led, evidence_id) is not None:
            return s, led
    return None


def frozen_shard_holding(led: Ledger, evidence_id: str) -> tuple[FrozenShard, Ledger] | None:
    """The frozen shard that preserved ``evidence_id`` and its ledger, opened read-only
    (the caller closes it), when ``led`` (the active one, left open) does not hold the
    item and is a data directory's; None otherwise."""
    from evidence.ledger.items import find_item

    if led.config is None or find_item(led, evidence_id) is not None:
        return None
    d = led.config.data_dir
    opened: list[Ledger] = []

    def open_one(s: FrozenShard) -> Ledger:
        opened.append(open_frozen(d, s.n))
        return opened[-1]

    found = None
    try:
        found = frozen_holding(d, evidence_id, open_one)
    finally:
        for old in opened:
            if found is None or old is not found[1]:
                old.close()
    return found


def shard_holding(led: Ledger, evidence_id: str) -> Ledger:
    """The ledger of the shard that preserved ``evidence_id``: ``led`` (the active one) if
    it holds the item or is not a data directory's, else the newest frozen shard holding
    it, opened read-only (``led`` is then closed); ``led`` when none does."""
    found = frozen_shard_holding(led, evidence_id)
    if found is None:
        return led
    led.close()
    return found[1]


class FrozenShards:
    """The frozen shards of one data directory for a long-running reader (the API): each
    one's read-only ledger opened once and kept (a frozen shard never changes), the item
    lookup of :func:`frozen_holding`, and the leaf an item's first custody entry in the
    active shard links to (:func:`evidence.ledger.custody.latest_leaf`)."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.data_dir = Path(data_dir)
        self._open: dict[int, Ledger] = {}
        self._lock = threading.Lock()

    def ledger(self, n: int) -> Ledger:
        with self._lock:
            led = self._open.get(n)
            if led is None:
                led = self._open[n] = open_frozen(self.data_dir, n)
            return led

    def holding(self, evidence_id: str) -> tuple[FrozenShard, Ledger] | None:
        if not (self.data_dir / REGISTRY).is_file():  # never sharded: nothing to open
            return None
        return frozen_holding(self.data_dir, evidence_id, lambda s: self.ledger(s.n))

    def last_leaf(self, evidence_id: str) -> str | None:
        """Hex leaf hash of the newest entry about ``evidence_id`` in the frozen shard
        holding it (its shard took no entry since), None if no frozen shard holds it."""
        from evidence.ledger.items import find_item

        found = self.holding(evidence_id)
        if found is None:
            return None
        item = find_item(found[1], evidence_id)
        assert item is not None
        last = max([item.seq, *(s for s, _t in item.events)])
        return found[1].entry(last).leaf_hash.hex()

    def close(self) -> None:
        with self._lock:
            for led in self._open.values():
                led.close()
            self._open.clear()


def shard_of(led: Ledger) -> dict[str, Any] | None:
    """What a bundle's manifest says of the shard whose log proves it (``"shard"``,
    docs/bundle.md; informational, never a trust source): read from the log itself, so a
    frozen shard's read-only ledger answers without its data directory. A frozen log
    (last entry ``log.frozen``): its number, origin, final size and root; a shard started
    by the shard command (entry 0 ``log.started``): its number and origin; None for a log
    never sharded."""
    final = led.final_checkpoint_size()
    if final is not None:
        body = json.loads(led.entry(final - 1).data)["body"]
        return {"n": int(body["shard"]), "origin": led.origin, "frozen": True,
                "final_size": final, "final_root": led.root(final).hex(),
                "successor_origin": str(body["successor_origin"])}
    if led.size == 0:
        return None
    first = led.entry(0)
    if first.type != STARTED:
        return None
    return {"n": int(json.loads(first.data)["body"]["shard"]), "origin": led.origin,
            "frozen": False}


def pending_appends(data_dir: Path) -> int:
    """Deferred submissions waiting for their submitter's signature (each would be
    appended to the log being frozen): folders of ``pending-uploads`` (tombstones of
    expired ones aside)."""
    root = data_dir / PENDING_UPLOADS
    if not root.is_dir():
        return 0
    return sum(1 for p in root.iterdir() if p.is_dir() and not p.name.endswith(".expired"))


@dataclass(frozen=True)
class ShardResult:
    frozen: FrozenShard
    active: int
    origin: str
    key: str
    anchors: dict[str, bool]  # source name -> anchored the final checkpoint


AnchorFinal = Callable[[Ledger, int], dict[str, bool]]
"""Cosigns and timestamps the final checkpoint of the size given; returns, for each
configured source, whether it is anchored (see :func:`anchor_final`)."""


def anchor_final(led: Ledger, size: int) -> dict[str, bool]:
    """One anchoring round on the frozen log (its newest checkpoint is the final one) with
    the data directory's configured TSAs and witnesses; what each source holds after it."""
    from evidence.ledger.anchor.config import load_anchor_config
    from evidence.ledger.anchor.service import AnchorService, build_anchors
    from evidence.ledger.anchor.store import ensure_rows, list_anchors

    assert led.config is not None
    cfg = load_anchor_config(led.config.data_dir)
    if cfg.source_names:
        ensure_rows(led.engine, size, [(a.name, a.kind, a.url) for a in build_anchors(cfg)],
                    datetime.now(UTC))
        _due_now(led, size)  # the operator asks now: an earlier failure's backoff is cut short
        AnchorService(led, cfg).run_once()
    rows = {r.source: r for r in list_anchors(led.engine, size=size)}
    return {name: bool(name in rows and (rows[name].token or rows[name].cosignature))
            for name in cfg.source_names}


def _due_now(led: Ledger, size: int) -> None:
    from evidence.ledger.anchor.schema import ANCHORED, anchors

    with write_transaction(led.engine) as conn:
        conn.execute(update(anchors).where(anchors.c.checkpoint_size == size,
                                           anchors.c.status != ANCHORED)
                     .values(next_attempt_at=utc_now(), status=PENDING_STATUS))


def _missing(cfg_dir: Path, got: dict[str, bool]) -> list[str]:
    from evidence.ledger.anchor.config import load_anchor_config

    cfg = load_anchor_config(cfg_dir)
    tsas = [t.name for t in cfg.tsas if not got.get(t.name)]
    have = sum(1 for w in cfg.witnesses if got.get(w.name))
    short = [f"{cfg.witness_quorum - have} more witness cosignature(s)"] \
        if have < cfg.witness_quorum else []
    return [f"a timestamp from {t}" for t in tsas] + short


def start_shard(data_dir: str | os.PathLike[str] | None, new_origin: str, *,
                db_url: str | None = None, anchor: AnchorFinal = anchor_final) -> ShardResult:
    """Freeze the active shard and make a new one with origin ``new_origin`` active (the
    steps and what a failure leaves: the module's docstring)."""
    cfg = load_config(data_dir)
    d = cfg.data_dir
    reg = read_registry(d)
    cut = reg.shard(reg.active - 1)
    if cut is not None and cut.origin == cfg.origin:  # stopped between the two renames
        return _finish_switch(cfg, reg, new_origin, cut)
    old_n, new_n = reg.active, reg.active + 1
    new_rel = f"{SHARDS_DIR}/{new_n}"
    new_dir = d / new_rel
    with Ledger.open(d) as old:
        final = old.final_checkpoint_size()
        resume = final is not None and _successor(old) == new_origin \
            and (new_dir / CONFIG_FILE).is_file()
        if final is not None and not resume:
            raise ShardError(f"the log {old.origin!r} (shard {old_n}) is already frozen; "
                             f"its successor is {_successor(old)!r}: nothing was changed")
        if not resume:
            _check_new(cfg, reg, new_origin, db_url, new_dir)
            new_cfg = _make_new(cfg, old, new_origin, db_url, new_dir)
            old.freeze(old_n, _key_of(new_cfg))
            final = old.final_checkpoint_size()
        assert final is not None
        new_cfg = load_config(new_dir, db_url)
        got = anchor(old, final)
        missing = _missing(d, got)
        if missing:
            raise ShardError(
                f"the log {old.origin!r} is frozen (final checkpoint of size {final}), but "
                f"that checkpoint still lacks {', '.join(missing)}; run the same command "
                "again to retry (it resumes here); the new shard is not active yet")
        cp = old.checkpoint_at(final)
        assert cp is not None
        _publish_tiles(d, old_n, old, cp)
        wins = old.key_windows()
        pq = old.mldsa_key(wins)
        frozen = FrozenShard(old_n, old.origin, old.verifier_key,
                             "." if old_n == 1 else f"{SHARDS_DIR}/{old_n}",
                             _stored_url(cfg, d, old_n), final, old.root(final).hex(),
                             tuple((w.vkey, w.from_size,
                                    final if w.until_size is None else min(w.until_size, final))
                                   for w in wins if w.from_size <= final),
                             None if pq is None or pq[1] > final else
                             (pq[0].to_string(), pq[1], final))
    with Ledger.open(new_dir, db_url=new_cfg.db_url) as new:
        if new.size == 0:
            new.append(STARTED, {"shard": new_n, "predecessor_origin": frozen.origin,
                                 "predecessor_key": frozen.key, "predecessor_size": final,
                                 "predecessor_root": frozen.final_root})
        if frozen.mldsa is not None and new.mldsa_key() is None:
            # a post-quantum log stays one: the new shard's own ML-DSA-44 key, in its
            # directory, signing from its second checkpoint on (key.mldsa_added)
            new.add_mldsa_key(generate_signer(new_origin, ALG_MLDSA44))
        new.sign_checkpoint_now()
        new_key = new.verifier_key
    reg = Registry(new_n, (*reg.frozen, frozen))
    _write_registry(d, reg)
    _finish_switch(cfg, reg, new_origin, frozen)
    return ShardResult(frozen, new_n, new_origin, new_key, got)


def _publish_tiles(d: Path, n: int, old: Ledger, final: StoredCheckpoint) -> None:
    """The frozen shard's tiles brought up to its final checkpoint in its own tile store
    (``tiles.shard_tile_store``), where ``/v1/shards/<n>/tlog/`` serves them for good;
    a failure stops the command before the switch (run it again: it resumes here)."""
    from evidence.ledger.tiles import shard_tile_store, sync_tiles

    try:
        store = shard_tile_store(d, n)
        if store is not None:
            sync_tiles(old, store, checkpoint=final)
    except Exception as e:  # a tile store that cannot be written (disk, S3): said, resumable
        raise ShardError(f"the log {old.origin!r} is frozen (final checkpoint of size "
                         f"{final.size}), but its tiles could not be published: {e}; run the "
                         "same command again to retry (it resumes here); the new shard is "
                         "not active yet") from e


def _finish_switch(cfg: LedgerConfig, reg: Registry, new_origin: str, frozen: FrozenShard
                   ) -> ShardResult:
    """Step 6 after ``shards.json`` lists ``frozen``: ``config.json`` names the new shard,
    the frozen shard's private key is deleted. Run again, it completes a switch cut short
    between the two renames (``tests/ledger/test_shards.py``)."""
    d, new_rel = cfg.data_dir, f"{SHARDS_DIR}/{reg.active}"
    new_cfg = load_config(d / new_rel)
    if new_cfg.origin != new_origin:
        raise ShardError(f"shard {reg.active} ({new_cfg.origin!r}) is being switched to; run "
                         f"the command with --origin {new_cfg.origin} to finish it")
    replace_config(LedgerConfig(d, new_cfg.origin, new_cfg.db_url, new_cfg.key_path,
                                cfg.checkpoint_interval), new_rel)
    (d / new_rel / CONFIG_FILE).unlink(missing_ok=True)
    cfg.key_path.unlink(missing_ok=True)  # nothing may be signed by a frozen shard's key
    pq_key_path(cfg.shard_path).unlink(missing_ok=True)  # nor by its ML-DSA-44 key
    with Ledger.open(d, read_only=True) as new:
        key = new.verifier_key
    return ShardResult(frozen, reg.active, new_origin, key, {})


def _successor(led: Ledger) -> str | None:
    last = led.entry(led.size - 1)
    body = json.loads(last.data)["body"]
    return body.get("successor_origin") if isinstance(body, dict) else None


def _stored_url(cfg: LedgerConfig, d: Path, n: int) -> str | None:
    """The registry's ``db_url``: null for the SQLite file in the shard's own directory."""
    own = default_db_url(d if n == 1 else d / SHARDS_DIR / str(n))
    return None if cfg.db_url == own else cfg.db_url


def _check_new(cfg: LedgerConfig, reg: Registry, origin: str, db_url: str | None,
               new_dir: Path) -> None:
    if not is_valid_key_name(origin):
        raise ShardError(f"the new origin {origin[:80]!r} must be non-empty, without spaces "
                         "or '+': nothing was changed")
    from evidence.ledger.anchor.config import load_anchor_config

    if not load_anchor_config(cfg.data_dir).tsas:
        raise ShardError("no TSA is configured: a frozen shard's final checkpoint must be "
                         "timestamped (evidence anchor tsa add ...): nothing was changed")
    if origin == cfg.origin or origin in reg.origins():
        raise ShardError(f"the origin {origin!r} is already a shard of this data directory "
                         "(a new shard needs a new origin): nothing was changed")
    n = pending_appends(cfg.data_dir)
    if n:
        raise ShardError(f"appends are pending: {n} deferred submission(s) in "
                         f"{cfg.data_dir / PENDING_UPLOADS} wait for their signature and "
                         "would be appended to the log being frozen; let them be signed or "
                         "expire (evidence serve sweeps expired ones), then shard: nothing "
                         "was changed")
    if db_url is not None and db_url == cfg.db_url:
        raise ShardError("--db is the database of the log being frozen; a new shard needs "
                         "a new, empty database: nothing was changed")
    if new_dir.exists() and any(new_dir.iterdir()):
        raise ShardError(f"{new_dir} is not empty (a shard command that failed before the "
                         "freeze? remove it): nothing was changed")
    if os.environ.get("EVIDENCE_DB_URL") and db_url is None:
        raise ShardError("$EVIDENCE_DB_URL is set: give the new shard's database with --db "
                         "(and point $EVIDENCE_DB_URL at it afterwards): nothing was changed")


def _make_new(cfg: LedgerConfig, old: Ledger, origin: str, db_url: str | None,
              new_dir: Path) -> LedgerConfig:
    """Step 2: the new ledger, with the old one's identities; removed again on failure."""
    url = db_url or default_db_url(new_dir)
    try:
        with Ledger.create(new_dir, origin, db_url=url,
                           checkpoint_interval=cfg.checkpoint_interval) as new:
            _copy_identities(old, new)
    except BaseException as e:
        shutil.rmtree(new_dir, ignore_errors=True)
        if isinstance(e, LedgerFrozen | ShardError):
            raise
        if isinstance(e, LedgerError):
            raise ShardError(f"the new shard cannot be made: {e}: nothing was changed") from None
        raise
    return load_config(new_dir, url)


def _copy_identities(old: Ledger, new: Ledger) -> None:
    """Principals, API tokens, cases and their members, so the service's callers keep their
    tokens and cases; grants with their items, so a grant made before the freeze keeps
    counting and can be revoked (tests/api/test_shard_evidence.py)."""
    from evidence.ledger.access.schema import access_metadata

    with old.engine.connect() as src, new.engine.begin() as dst:
        for name in _ID_TABLES:
            table = access_metadata.tables[name]
            rows = [dict(r._mapping) for r in src.execute(select(table))]
            if rows:
                dst.execute(table.insert(), rows)


def _key_of(cfg: LedgerConfig) -> Verifier:
    return read_private_key(cfg.key_path).verifier()


__all__ = ["REGISTRY", "STARTED", "FrozenShard", "FrozenShards", "Registry", "ShardError",
           "ShardResult", "anchor_final", "frozen_holding", "frozen_pins",
           "frozen_shard_holding", "open_frozen", "pending_appends", "read_registry",
           "shard_holding", "shard_of", "start_shard"]
