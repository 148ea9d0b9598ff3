"""What the app holds while it runs: the open ledger, intake, access rules, blob store.

Opened once per worker process (FastAPI lifespan), closed on shutdown (which drains the
sequencer: every acknowledged entry is durable). Reads that are immutable once written
(checkpoints by size) are cached; the latest checkpoint is re-read at most every
:data:`LATEST_TTL` seconds (a slightly older checkpoint is still a valid one).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.types import Scope

from evidence import __version__
from evidence.api.hot.ratelimit import TokenBucket, open_token_bucket
from evidence.api.pending import PendingStore
from evidence.api.proofs import ProofCache
from evidence.api.settings import ApiSettings
from evidence.api.uploads import private_staging_folder, remove_staging_folder
from evidence.ledger.access import AccessControl
from evidence.ledger.blobs import BlobStore
from evidence.ledger.config import resolve_data_dir
from evidence.ledger.intake import Intake, load_settings
from evidence.ledger.intake.shared_flush import SharedFlush
from evidence.ledger.items import find_item
from evidence.ledger.log import Ledger, StoredCheckpoint
from evidence.ledger.scrub import start_scrubber
from evidence.ledger.shards import FrozenShards

LATEST_TTL = 0.25


@dataclass
class Services:
    settings: ApiSettings
    ledger: Ledger
    intake: Intake
    access: AccessControl
    store: BlobStore
    limiter: TokenBucket
    spool: Path
    proofs: ProofCache
    anchoring: tuple[threading.Thread, threading.Event] | None = None
    pending: PendingStore | None = None  # submissions waiting for their signature
    fast_spool: Path | None = None  # a private tmpfs folder for small uploads, if any
    scrubber: Any = None  # evidence.ledger.scrub.Scrubber when scrub_rate is set
    # publish_when_witnessed: "the latest checkpoint" is the newest the witness quorum
    # cosigned (evidence.ledger.anchor.published), for every read and proof that uses it
    publisher: Any = None
    # concurrent single-item submissions share blob flushes and appends
    grouped: SharedFlush = field(init=False)
    version: str = __version__
    # worker threads for blocking calls from the event loop (intake waits for its group
    # commit there); as many as anyio's default pool, which the plain-def routes use
    executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(
        max_workers=40, thread_name_prefix="api"))
    # the frozen shards' read-only ledgers, opened once (evidence.ledger.shards)
    frozen: FrozenShards | None = None
    _frozen_intakes: dict[int, Intake] = field(default_factory=dict)
    _cp_cache: OrderedDict[int, StoredCheckpoint] = field(default_factory=OrderedDict)
    _latest: tuple[float, StoredCheckpoint | None] = (0.0, None)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(cls, settings: ApiSettings) -> Services:
        ledger = Ledger.open(settings.data_dir, settings.db_url)
        try:
            data_dir = ledger.config.data_dir if ledger.config else resolve_data_dir(
                settings.data_dir)
            intake_settings = load_settings(data_dir, blob_store=settings.blob_store,
                                            max_file_size=settings.max_file_size)
            store = intake_settings.open_store()
            intake = Intake(ledger, store, max_file_size=intake_settings.max_file_size)
            spool = Path(settings.upload_dir) if settings.upload_dir else data_dir / "tmp-uploads"
            # one table of buckets for every worker of this server (hot/ratelimit.py)
            limiter = open_token_bucket(settings.rate, settings.burst,
                                        data_dir / "run" / "ratelimit-v1.bin")
            frozen = FrozenShards(data_dir)
            svc = cls(settings, ledger, intake, AccessControl(ledger, frozen.last_leaf),
                      store, limiter, spool, ProofCache(ledger), frozen=frozen)
            svc.grouped = SharedFlush(intake)
            if settings.publish_when_witnessed:
                from evidence.ledger.anchor.published import WitnessedPublisher

                svc.publisher = WitnessedPublisher(ledger, data_dir)
            svc.pending = PendingStore(data_dir / "pending-uploads", intake,
                                       ttl=settings.pending_ttl)
            svc.pending.sweep()
            spool.mkdir(parents=True, exist_ok=True, mode=0o700)
            if settings.memory_spool:
                svc.fast_spool = private_staging_folder()
            if settings.anchor:
                svc.anchoring = start_anchoring(ledger, data_dir, settings.anchor_interval)
            svc.scrubber = start_scrubber(ledger.engine, store, data_dir,
                                          ledger=ledger)
            return svc
        except BaseException:
            if "svc" in locals():
                svc.grouped.close()
            ledger.close()
            raise

    def close(self) -> None:
        if self.scrubber is not None:
            self.scrubber.close()
        if self.anchoring is not None:
            thread, stop = self.anchoring
            stop.set()
            thread.join(timeout=60)
        self.executor.shutdown(wait=True)
        self.grouped.close()
        remove_staging_folder(self.fast_spool)
        self.access.close()
        if self.frozen is not None:
            self.frozen.close()
        self.ledger.close()

    def holding(self, evidence_id: str) -> Held:
        """The shard whose log preserved ``evidence_id``: the active one (asked first, and
        the answer when no shard holds it), else the frozen one holding it, read-only. Its
        retrievals are still recorded, in the active log (``self.access``)."""
        if self.frozen is not None and find_item(self.ledger, evidence_id) is None:
            found = self.frozen.holding(evidence_id)
            if found is not None:
                s, led = found
                with self._lock:
                    intake = self._frozen_intakes.get(s.n)
                    if intake is None or intake.ledger is not led:
                        intake = self._frozen_intakes[s.n] = Intake(led, self.store)
                return Held(led, intake, s.n, s.final_size)
        return Held(self.ledger, self.intake, None, None)

    @property
    def max_file_size(self) -> int:
        return self.intake.max_file_size

    def latest_checkpoint(self, covering: int = -1) -> StoredCheckpoint | None:
        """The latest checkpoint, from memory if read less than LATEST_TTL ago and it
        covers entry ``covering``; otherwise read again. Every worker keeps its own copy,
        so a cached one can be older than the one another worker just served: an answer
        of "not covered yet" is always the database's, never a stale copy's."""
        cp = self.latest_cached()
        if cp is not None and cp.size > covering:
            return cp
        now = time.monotonic()
        cp = self.ledger.latest_checkpoint() if self.publisher is None else \
            self.publisher.latest()
        self._latest = (now, cp)
        if cp is not None:
            self.proofs.saw_committed(cp.size)
        return cp

    def latest_cached(self) -> StoredCheckpoint | None:
        """The latest checkpoint if read less than LATEST_TTL ago (no I/O), else None."""
        at, cp = self._latest
        return cp if cp is not None and time.monotonic() - at < LATEST_TTL else None

    def latest_read_at(self) -> float:
        """When the checkpoint :meth:`latest_cached` holds was read (``time.monotonic()``):
        a reader that answers many requests a second reads it again before it expires
        (evidence/api/hot/reads.py)."""
        return self._latest[0]

    def checkpoint_cached(self, size: int) -> StoredCheckpoint | None:
        return self._cp_cache.get(size)

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        with self._lock:
            cp = self._cp_cache.get(size)
        if cp is not None:
            return cp
        cp = self.ledger.checkpoint_at(size)
        if cp is not None:
            with self._lock:
                self._cp_cache[size] = cp
                while len(self._cp_cache) > 4096:
                    self._cp_cache.popitem(last=False)
        return cp


@dataclass(frozen=True)
class Held:
    """Where an item lives: its shard's ledger and an intake over it (read them only when
    ``shard`` is set: a frozen shard takes no entry)."""

    ledger: Ledger
    intake: Intake
    shard: int | None  # the frozen shard's number; None: the active shard
    final_size: int | None  # a frozen shard's final checkpoint size


def services_of(scope: Scope) -> Services | None:
    """The open services of the app serving this request (``create_app``'s lifespan puts
    them on ``app.state``), or None before they are open. The one way the dependencies
    (:func:`evidence.api.deps.services`) and the hot paths (:mod:`evidence.api.hot`)
    find them."""
    app = scope.get("app")
    if not isinstance(app, Starlette):
        return None
    svc = getattr(app.state, "services", None)  # State raises AttributeError when unset
    return svc if isinstance(svc, Services) else None


def start_anchoring(ledger: Ledger, data_dir: Path, interval: float | None = None
                    ) -> tuple[threading.Thread, threading.Event] | None:
    """The AnchorService beside the API (docs/operations.md, Anchoring), when anchors.json
    names any TSA or witness; rounds every ``interval`` seconds (None: anchors.json's).
    Each worker runs one; their attempts are claimed in the database, so several never
    ask one source about one checkpoint at once. Also called on SIGHUP (api/reload.py)."""
    from evidence.ledger.anchor.config import load_anchor_config

    config = load_anchor_config(data_dir)
    if not config.source_names:
        return None
    # only now: a worker with nothing to anchor loads no TSA or witness client
    from evidence.ledger.anchor.service import AnchorService

    return AnchorService(ledger, config).start_background(interval)
