"""Where a ledger lives: one resolution rule for the data directory, the database
URL and the log key, shared by every command and service.

Resolution (first that is set wins):

=================  ===================================  ======================================
what               explicit argument / CLI option       then
=================  ===================================  ======================================
data directory     ``--data-dir DIR``                   ``$EVIDENCE_DATA_DIR``, ``./evidence-data``
database URL       ``--db URL``                         ``$EVIDENCE_DB_URL``, ``db_url`` in
                                                        ``config.json``, SQLite
                                                        ``<data-dir>/ledger.db``
=================  ===================================  ======================================

``<data-dir>/config.json`` (written by ``evidence init``, mode 0600)::

    {"origin": "evidence.example/log", "db_url": null,
     "key_path": "log.key", "checkpoint_interval": 1.0}

``key_path`` is relative to the data directory unless absolute. ``db_url`` is
null for the embedded default (so the directory can be moved). A
``"shard_dir": "shards/<n>"`` (written by ``evidence log shard``; docs/formats.md
"Temporal shards") makes the default database ``<data-dir>/shards/<n>/ledger.db``.
A ``checkpoint_interval`` of 0 signs a checkpoint after every committed batch;
``N > 0`` at most one per N seconds, and one when appends pause.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from evidence.ledger.errors import LedgerError, LedgerExists, NotALedger

ENV_DATA_DIR = "EVIDENCE_DATA_DIR"
ENV_DB_URL = "EVIDENCE_DB_URL"
DEFAULT_DATA_DIR = "evidence-data"
CONFIG_FILE = "config.json"
DB_FILE = "ledger.db"
DEFAULT_KEY_FILE = "log.key"
DEFAULT_CHECKPOINT_INTERVAL = 1.0


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """``--data-dir``, else ``$EVIDENCE_DATA_DIR``, else ``./evidence-data``."""
    if data_dir is None or str(data_dir) == "":
        data_dir = os.environ.get(ENV_DATA_DIR) or DEFAULT_DATA_DIR
    return Path(data_dir).expanduser()


def default_db_url(data_dir: Path) -> str:
    return f"sqlite:///{(Path(data_dir) / DB_FILE).absolute()}"


@dataclass(frozen=True)
class LedgerConfig:
    """A resolved configuration. ``db_url`` and ``key_path`` are final (absolute)."""

    data_dir: Path
    origin: str
    db_url: str
    key_path: Path
    checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL
    shard_dir: str | None = None  # "shards/<n>" of the active shard n >= 2 (shards.py)

    @property
    def shard_path(self) -> Path:
        """The directory of this configuration's shard: its own files (the ML-DSA-44 key)
        live there, so a new shard's never meet a frozen one's."""
        return self.data_dir / self.shard_dir if self.shard_dir else self.data_dir

    @property
    def config_path(self) -> Path:
        return self.data_dir / CONFIG_FILE


def _resolve_key_path(data_dir: Path, key_path: str | os.PathLike[str] | None) -> Path:
    p = Path(key_path) if key_path else Path(DEFAULT_KEY_FILE)
    p = p.expanduser()
    return p if p.is_absolute() else (data_dir / p)


def new_config(
    data_dir: str | os.PathLike[str] | None,
    origin: str,
    *,
    db_url: str | None = None,
    key_path: str | os.PathLike[str] | None = None,
    checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL,
) -> LedgerConfig:
    """The configuration ``init`` will write (``db_url``: argument, else env, else default)."""
    d = resolve_data_dir(data_dir)
    if checkpoint_interval < 0:
        raise LedgerError("checkpoint interval must be >= 0 seconds")
    url = db_url or os.environ.get(ENV_DB_URL) or default_db_url(d)
    return LedgerConfig(d, origin, url, _resolve_key_path(d, key_path), float(checkpoint_interval))


def write_config(cfg: LedgerConfig) -> None:
    """Write ``config.json`` (mode 0600: a database URL may carry a password); never overwrite."""
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    stored_url = None if cfg.db_url == default_db_url(cfg.data_dir) else cfg.db_url
    key = cfg.key_path
    if key.is_relative_to(cfg.data_dir):
        key = key.relative_to(cfg.data_dir)
    doc = {"origin": cfg.origin, "db_url": stored_url, "key_path": str(key),
           "checkpoint_interval": cfg.checkpoint_interval}
    try:
        fd = os.open(cfg.config_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise LedgerExists(f"{cfg.config_path} already exists; refusing to overwrite") from None
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


def load_config(
    data_dir: str | os.PathLike[str] | None = None, db_url: str | None = None
) -> LedgerConfig:
    """Read ``<data-dir>/config.json``; ``db_url`` and ``$EVIDENCE_DB_URL`` override its URL."""
    d = resolve_data_dir(data_dir)
    path = d / CONFIG_FILE
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise NotALedger(
            f"no ledger configuration at {path}; run `evidence init` or pass --data-dir"
        ) from None
    except (OSError, ValueError) as e:
        raise NotALedger(f"cannot read {path}: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("origin"), str):
        raise NotALedger(f"{path} is not a ledger configuration (no origin)")
    shard_dir = doc.get("shard_dir")
    if shard_dir is not None and not _is_shard_dir(shard_dir):
        raise NotALedger(f"{path}: shard_dir must be shards/<n>, not {str(shard_dir)[:80]!r}")
    url = (db_url or os.environ.get(ENV_DB_URL) or doc.get("db_url")
           or default_db_url(d / shard_dir if shard_dir else d))
    interval = doc.get("checkpoint_interval", DEFAULT_CHECKPOINT_INTERVAL)
    if not isinstance(interval, int | float) or isinstance(interval, bool) or interval < 0:
        raise NotALedger(f"{path}: checkpoint_interval must be a number >= 0")
    return LedgerConfig(d, doc["origin"], url, _resolve_key_path(d, doc.get("key_path")),
                        float(interval), shard_dir)


def _is_shard_dir(v: object) -> bool:
    parts = v.split("/") if isinstance(v, str) else []
    return len(parts) == 2 and parts[0] == "shards" and parts[1].isdigit() \
        and parts[1] == str(int(parts[1])) and int(parts[1]) >= 2


def replace_config(cfg: LedgerConfig, shard_dir: str) -> None:
    """Make ``cfg`` (a shard's, under ``<data-dir>/<shard_dir>``) the data directory's
    ``config.json``, atomically (temporary file, fsync, rename): ``evidence log shard``'s
    switch to the new shard."""
    if not _is_shard_dir(shard_dir):
        raise LedgerError(f"shard_dir must be shards/<n>, not {shard_dir!r}")
    stored_url = None if cfg.db_url == default_db_url(cfg.data_dir / shard_dir) else cfg.db_url
    key = cfg.key_path
    if key.is_relative_to(cfg.data_dir):
        key = key.relative_to(cfg.data_dir)
    try:  # the data directory's other settings (e.g. "tiles") stay
        kept = json.loads(cfg.config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        kept = {}
    doc = {**(kept if isinstance(kept, dict) else {}),
           "origin": cfg.origin, "db_url": stored_url, "key_path": str(key),
           "checkpoint_interval": cfg.checkpoint_interval, "shard_dir": shard_dir}
    tmp = cfg.config_path.with_name(CONFIG_FILE + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, cfg.config_path)


def config_as_dict(cfg: LedgerConfig) -> dict[str, object]:
    """For display: the URL's password (if any) is masked."""
    out = asdict(cfg)
    out["data_dir"], out["key_path"] = str(cfg.data_dir), str(cfg.key_path)
    out["db_url"] = mask_url(cfg.db_url)
    return out


def mask_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"
