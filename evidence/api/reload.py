"""SIGHUP: a running worker re-reads its configuration and applies it without a restart.

``evidence serve`` turns this on (``ApiSettings.sighup``). On SIGHUP each worker reads the
configuration file again, with the environment it started with and the flags it was
given (which still win, docs/decisions.md), and ``<data-dir>/anchors.json``. If any of it
is invalid, nothing changes and the reason is logged. Otherwise what changed is logged
(one line per worker, ``evidence.config``) and applied between requests:

- limits (``[limits]``): request, upload and file sizes, files per submission, rate and
  burst (a new rate or burst starts every token's bucket full), page size, the HTTP
  hardening limits (new connections get them); ``serve.metrics``,
  ``serve.public_lookup``; ``grants.require_legal_basis``; the bundle report's
  ``serve.public_url`` and ``eidas.trusted_lists`` (evidence/api/report_options.py);
- the verify page's pre-fill (``[verify_page]``);
- anchoring: when anchors.json or ``[anchoring]`` changed, the anchoring loop stops after
  its current round and starts again with the new TSAs and witnesses.

Other keys (address, port, workers, database, blob store, log format...) need a restart:
the log line names them. A request is never refused because of a reload: each request
reads the settings object once, and the new one replaces it in one assignment.

With several workers, ``evidence serve``'s supervisor forwards SIGHUP to each of them
(evidence/cli/api_cmds.py) instead of uvicorn's default of restarting them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from evidence.api.settings import ApiSettings
from evidence.ledger.config_file import (
    SCHEMA,
    ConfigError,
    Effective,
    anchor_changes_of,
    resolve,
)

log = logging.getLogger("evidence.config")

# ApiSettings field -> configuration key
API_FIELDS = {
    "data_dir": "ledger.data_dir", "db_url": "ledger.db_url",
    "blob_store": "ledger.blob_store",
    "max_file_size": "limits.max_file_size", "max_upload": "limits.max_upload",
    "max_body": "limits.max_body", "max_files": "limits.max_files", "rate": "limits.rate",
    "burst": "limits.burst", "page_limit": "limits.page_limit",
    "anchor": "anchoring.in_server", "anchor_interval": "anchoring.interval",
    "public_lookup": "serve.public_lookup", "pending_ttl": "serve.pending_ttl",
    "idle_trim": "serve.idle_trim", "idempotency_ttl": "serve.idempotency_ttl",
    "bundle_cache": "serve.bundle_cache",
    "publish_when_witnessed": "serve.publish_when_witnessed",
    "fast_wire": "serve.fast_wire", "metrics": "serve.metrics", "log_format": "serve.log_format",
    "access_log": "serve.access_log", "require_legal_basis": "grants.require_legal_basis",
    "public_url": "serve.public_url", "trusted_lists": "eidas.trusted_lists",
}
# evidence.api.hardening.HttpLimits field -> configuration key
HTTP_FIELDS = {k: f"limits.{k}" for k in (
    "max_head_bytes", "max_headers", "head_timeout", "body_timeout", "max_connections",
    "max_connections_per_ip")}


def api_settings(eff: Effective, base: ApiSettings | None = None) -> ApiSettings:
    """``base`` (default: the defaults) with every key the configuration sets."""
    return replace(base or ApiSettings(), **{f: eff[k] for f, k in API_FIELDS.items()})


def http_limits(eff: Effective) -> Any:
    from evidence.api.hardening import HttpLimits

    return HttpLimits(**{f: eff[k] for f, k in HTTP_FIELDS.items()})


def verify_page(eff: Effective) -> dict[str, Any]:
    """The verify page's pre-fill (routers/verify_page.py): only the keys set to something,
    so that an unset ``log_key`` stays the serving ledger's own."""
    return {k: v for k, v in eff.section("verify_page").items() if v}


class Reloader:
    """One worker's reload: :meth:`install` on its event loop, :meth:`reload` on SIGHUP
    (in a thread of its own: stopping the anchoring loop may wait for its round)."""

    def __init__(self, app: Starlette, svc: Any) -> None:
        self.app, self.svc = app, svc
        self.file = svc.settings.config_file
        self.flags: dict[str, Any] = dict(svc.settings.config_flags)
        self._lock = threading.Lock()
        self.current: Effective | None = None
        self.anchors: dict[str, Any] | None = None
        try:
            self.current = resolve(self.file, os.environ, self.flags)
        except ConfigError as e:  # changed since `evidence serve` checked it
            log.error("configuration %s: %s (running with the settings serve started with)",
                      self.file, e)
        try:
            self.anchors = self._read_anchors()
        except Exception as e:  # reported; the anchoring loop reports it too
            log.error("anchors.json: %s", e)
        if self.current is not None:
            # a worker started after a reload (uvicorn replaces one that died) takes the
            # file as it is now, like its siblings did on SIGHUP; restart-only keys keep
            # the values serve started with
            snap = svc.settings
            self._apply(self.current, restart_anchoring=(snap.anchor, snap.anchor_interval)
                        != (self.current["anchoring.in_server"],
                            self.current["anchoring.interval"]))

    def _data_dir(self) -> Path:
        from evidence.ledger.config import resolve_data_dir

        led = self.svc.ledger
        return led.config.data_dir if led.config else resolve_data_dir(
            self.svc.settings.data_dir)

    def _read_anchors(self) -> dict[str, Any]:
        from evidence.ledger.anchor.config import load_anchor_config

        return load_anchor_config(self._data_dir()).to_json()

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, self._signalled)

    def uninstall(self) -> None:
        with contextlib.suppress(RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)  # stopping: a SIGHUP is not fatal

    def _signalled(self) -> None:
        threading.Thread(target=self.reload, name="evidence-reload", daemon=True).start()

    def reload(self) -> list[str]:
        """Read everything, then apply all of it or (on any error) none. The changes, as
        logged."""
        from evidence.ledger.anchor.config import AnchorConfigError

        with self._lock:
            try:
                new = resolve(self.file, os.environ, self.flags)
                anchors = self._read_anchors()
            except (ConfigError, AnchorConfigError) as e:
                log.error("reload refused, nothing changed (worker %d): %s", os.getpid(), e)
                return []
            changes, restart = self._diff(new)
            anchor_changes = anchor_changes_of(self.anchors or {}, anchors)
            self._apply(new, restart_anchoring=bool(anchor_changes) or any(
                c.startswith("anchoring.") for c in changes))
            self.current, self.anchors = new, anchors
            said = changes + anchor_changes
            if restart:
                said.append(f"needs a restart to take effect: {', '.join(restart)}")
            log.warning("configuration reloaded (worker %d, %s): %s", os.getpid(),
                        self.file or "no file", "; ".join(said) or "no change")
            return said

    def _diff(self, new: Effective) -> tuple[list[str], list[str]]:
        changes, restart = [], []
        for dotted, v in new.values.items():
            old = self.current.values[dotted].value if self.current else None
            if self.current is not None and old == v.value:
                continue
            section, key = dotted.split(".", 1)
            if SCHEMA[section][key].reload:
                if self.current is not None:
                    changes.append(f"{dotted} {_show(section, key, old)} -> "
                                   f"{_show(section, key, v.value)}")
            elif self.current is not None:
                restart.append(dotted)
        return changes, restart

    def _apply(self, new: Effective, *, restart_anchoring: bool) -> None:
        from evidence.api import hardening
        from evidence.api.hot.ratelimit import open_token_bucket
        from evidence.api.services import start_anchoring

        svc = self.svc
        old: ApiSettings = svc.settings
        # keys that need a restart keep the value this worker runs with
        live = {f: new[k] for f, k in API_FIELDS.items()
                if SCHEMA[k.split(".")[0]][k.split(".")[1]].reload}
        settings = replace(old, **live)
        if (settings.rate, settings.burst) != (old.rate, old.burst):
            svc.limiter = open_token_bucket(settings.rate, settings.burst,
                                            self._data_dir() / "run" / "ratelimit-v1.bin")
        if settings.max_file_size != old.max_file_size:
            _set_max_file_size(svc, settings.max_file_size, self._data_dir())
        svc.settings = settings
        hardening.HardenedHttpProtocol.limits = http_limits(new)
        self.app.state.verify_page = verify_page(new)
        if restart_anchoring:
            if svc.anchoring is not None:
                thread, stop = svc.anchoring
                stop.set()
                thread.join(timeout=120)
            svc.anchoring = (start_anchoring(svc.ledger, self._data_dir(),
                                             settings.anchor_interval)
                             if settings.anchor else None)


def _set_max_file_size(svc: Any, value: int | None, data_dir: Path) -> None:
    """The intake's per-file limit, where intake keeps it (the service, its stager and its
    appender each check it)."""
    from evidence.ledger.intake import load_settings

    size = value or load_settings(data_dir).max_file_size
    for holder in (svc.intake, getattr(svc.intake, "stager", None),
                   getattr(svc.intake, "_appender", None)):
        if holder is not None and hasattr(holder, "max_file_size"):
            holder.max_file_size = size


def _show(section: str, key: str, value: Any) -> str:
    if SCHEMA[section][key].secret and value:
        return "(changed)"
    return repr(value)
