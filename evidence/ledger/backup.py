"""Backups that restore: one consistent snapshot of a ledger, checked before it is trusted.

A backup is a directory (format ``evidence-backup/v1``, layout in docs/operations.md):

    manifest.json        what is here, with the SHA-256 and size of every member
    ledger.db            SQLite: the online backup API's copy (one consistent snapshot)
    ledger.pgdump        PostgreSQL: pg_dump --format=custom of an exported snapshot
    config/...           the data directory's configuration files (config.json, anchors...)
    keys/...             the log key and other key files (left out with --no-keys)
    blobs/ab/cd/<sha256> every evidence file the snapshot holds (left out with --no-blobs)

Consistency: the list of evidence files is read *from the same snapshot* as the
database copy (the SQLite copy itself; on PostgreSQL a REPEATABLE READ transaction
whose snapshot pg_dump is told to use), so every file the restored ledger names is
in the backup, whatever was appended or purged meanwhile. Blobs are immutable and
named by their SHA-256: each is hashed while it is copied, and a damaged or missing
one makes the backup report it and fail (a backup of damage is no backup).

Restore verifies the whole backup (every member and every blob against its name)
before it writes anything, then writes a fresh data directory that ``evidence audit``
passes.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from evidence import __version__
from evidence.ledger.blobs import BlobNotFound, BlobStore, open_blob_store
from evidence.ledger.config import CONFIG_FILE, DB_FILE
from evidence.ledger.errors import LedgerError
from evidence.ledger.evidence_store import live_blob_hashes
from evidence.ledger.log import Ledger

FORMAT = "evidence-backup/v1"
MANIFEST = "manifest.json"
SQLITE_COPY = "ledger.db"
PG_DUMP = "ledger.pgdump"
CHUNK = 1 << 20
_SKIP_DIRS = {"blobs", "run", ".tmp", "tmp"}
"""Data-directory folders that are not configuration: the blobs (copied from the blob
store by name), runtime state and temporary files."""

Progress = Callable[[int, int], None]


class BackupError(LedgerError):
    """The backup or restore cannot be made as asked; nothing was left half-written."""


@dataclass
class BackupReport:
    path: str
    database: str
    tree_size: int
    blobs: int = 0
    blob_bytes: int = 0
    keys_included: bool = True
    blobs_included: bool = True
    damaged: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.damaged

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "path": self.path, "database": self.database,
                "tree_size": self.tree_size, "blobs": self.blobs,
                "blob_bytes": self.blob_bytes, "keys_included": self.keys_included,
                "blobs_included": self.blobs_included, "damaged": self.damaged}


# --- backup --------------------------------------------------------------------------------


def backup(ledger: Ledger, store: BlobStore, dest: str | os.PathLike[str], *,
           keys: bool = True, blobs: bool = True, progress: Progress | None = None
           ) -> BackupReport:
    """Write a backup of ``ledger`` (and its blobs in ``store``) to the new directory
    ``dest``. On any error the partly written directory is removed."""
    cfg = ledger.config
    if cfg is None:
        raise BackupError("this ledger has no data directory (opened by database URL "
                          "alone): give --data-dir")
    out = Path(dest)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BackupError(f"{out} exists and is not an empty directory")
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _backup_into(ledger, store, cfg.data_dir, Path(cfg.key_path), out,
                            keys=keys, blobs=blobs, progress=progress)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise


def _backup_into(ledger: Ledger, store: BlobStore, data_dir: Path, key_path: Path, out: Path,
                 *, keys: bool, blobs: bool, progress: Progress | None) -> BackupReport:
    engine = ledger.engine
    if engine.dialect.name == "sqlite":
        kind, db_member = "sqlite", SQLITE_COPY
        _sqlite_snapshot(engine.url.database or "", out / SQLITE_COPY)
        listed, size = _read_snapshot_sqlite(out / SQLITE_COPY)
    elif engine.dialect.name == "postgresql":
        kind, db_member = "postgresql", PG_DUMP
        listed, size = _pg_snapshot(engine, out / PG_DUMP)
    else:  # pragma: no cover - the ledger supports only these two
        raise BackupError(f"cannot back up a {engine.dialect.name} database")

    members: dict[str, dict[str, Any]] = {}
    members[db_member] = _describe(out / db_member)
    for rel, src in _config_files(data_dir, key_path):
        is_key = src.suffix == ".key" or src == key_path
        if is_key and not keys:
            continue
        target = ("keys/" if is_key else "config/") + rel
        (out / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out / target)
        os.chmod(out / target, 0o600)
        members[target] = _describe(out / target)

    report = BackupReport(str(out), kind, size, keys_included=keys, blobs_included=blobs)
    blob_list: list[list[Any]] = []
    total = len(listed)
    for i, sha in enumerate(sorted(listed)):
        try:
            n = _copy_blob(store, sha, out / "blobs" if blobs else None)
        except BlobNotFound:
            report.damaged.append({"sha256": sha, "problem": "missing"})
            continue
        except _Mismatch as e:
            report.damaged.append({"sha256": sha, "problem": "damaged", "actual": e.actual})
            continue
        blob_list.append([sha, n])
        report.blobs += 1
        report.blob_bytes += n
        if progress:
            progress(i + 1, total)

    manifest = {
        "format": FORMAT, "created_at": _now(), "created_by": f"evidence {__version__}",
        "origin": _origin(ledger), "database": {"kind": kind, "file": db_member},
        "tree_size": size, "key_path": key_path.name,
        "keys_included": keys, "blobs_included": blobs,
        "members": members, "blobs": blob_list, "damaged": report.damaged,
    }
    _write_json(out / MANIFEST, manifest)
    _fsync_tree(out)
    return report


def _origin(ledger: Ledger) -> str:
    cfg = ledger.config
    return cfg.origin if cfg is not None else ""


def _sqlite_snapshot(src: str, dst: Path) -> None:
    """SQLite's online backup: a consistent copy while writers go on (WAL included)."""
    if not src or not Path(src).is_file():
        raise BackupError(f"the SQLite database {src!r} is not a file")
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(dst)
        try:
            source.backup(target, pages=4096)
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
    finally:
        source.close()


def _read_snapshot_sqlite(path: Path) -> tuple[set[str], int]:
    """The blobs and the tree size *of the copy*, so they match it exactly."""
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            hashes = live_blob_hashes(conn)
            size = _tree_size(conn)
    finally:
        engine.dispose()
    return hashes, size


def _tree_size(conn: Any) -> int:
    row = conn.execute(text("SELECT COALESCE(MAX(seq) + 1, 0) FROM entries")).first()
    return int(row[0]) if row else 0


def _pg_snapshot(engine: Any, dst: Path) -> tuple[set[str], int]:
    """pg_dump of the very snapshot whose blob list we read (pg_export_snapshot)."""
    pg_dump = _pg_tool("pg_dump")
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            hashes = live_blob_hashes(conn)
            size = _tree_size(conn)
            _run([pg_dump, "--format=custom", "--no-owner", f"--snapshot={snapshot}",
                  f"--file={dst}", f"--dbname={_libpq_url(engine.url)}"], "pg_dump")
    return hashes, size


def _libpq_url(url: Any) -> str:
    """SQLAlchemy's ``postgresql+psycopg://`` URL as libpq reads it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if candidates:
        return candidates[-1]
    raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client)")


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise BackupError(f"{what} failed: {last}")


def _config_files(data_dir: Path, key_path: Path) -> Iterator[tuple[str, Path]]:
    """Configuration files of the data directory (relative name, path), the log key
    included even when it lives outside the directory."""
    seen: set[Path] = set()
    for root, dirs, files in os.walk(data_dir):
        rel_root = Path(root).relative_to(data_dir)
        if rel_root == Path("."):
            dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
        dirs.sort()
        for name in sorted(files):
            p = Path(root) / name
            if rel_root == Path(".") and name.startswith(DB_FILE):
                continue  # the database is copied as a snapshot, not as a file
            if not p.is_file() or p.is_symlink():
                continue
            seen.add(p.resolve())
            yield str(rel_root / name) if rel_root != Path(".") else name, p
    if key_path.is_file() and key_path.resolve() not in seen:
        yield key_path.name, key_path


class _Mismatch(Exception):
    def __init__(self, actual: str) -> None:
        super().__init__(actual)
        self.actual = actual


def _copy_blob(store: BlobStore, sha: str, into: Path | None) -> int:
    """Hash the stored blob (and copy it when ``into`` is given); raise if it is not
    the preserved content."""
    h, n = hashlib.sha256(), 0
    target = None
    tmp = None
    if into is not None:
        target = into / sha[:2] / sha[2:4] / sha
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(sha + ".part")
    with store.open(sha) as src, (open(tmp, "wb") if tmp else contextlib.nullcontext()) as dst:
        while chunk := src.read(CHUNK):
            h.update(chunk)
            n += len(chunk)
            if dst is not None:
                dst.write(chunk)
    actual = h.hexdigest()
    if actual != sha:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise _Mismatch(actual)
    if tmp is not None and target is not None:
        os.replace(tmp, target)
    return n


def _describe(path: Path) -> dict[str, Any]:
    h, n = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            n += len(chunk)
    return {"sha256": h.hexdigest(), "size": n}


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True) + "\n")


def _fsync_tree(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(dirpath, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- restore -------------------------------------------------------------------------------


@dataclass
class RestoreReport:
    data_dir: str
    database: str
    tree_size: int
    blobs: int
    keys_restored: bool

    def to_json(self) -> dict[str, Any]:
        return {"ok": True, "data_dir": self.data_dir, "database": self.database,
                "tree_size": self.tree_size, "blobs": self.blobs,
                "keys_restored": self.keys_restored}


def read_manifest(src: Path) -> dict[str, Any]:
    try:
        doc = json.loads((src / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError(f"{src} is not a backup: no {MANIFEST}") from None
    except (ValueError, UnicodeDecodeError):
        raise BackupError(f"{src / MANIFEST} is not JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise BackupError(f"{src / MANIFEST} is not an {FORMAT} manifest")
    if not isinstance(doc.get("members"), dict) or not isinstance(doc.get("blobs"), list):
        raise BackupError(f"{src / MANIFEST} lists no members or blobs")
    return doc


def check_backup(src: str | os.PathLike[str], progress: Progress | None = None
                 ) -> dict[str, Any]:
    """Every member and every blob of the backup is what its manifest says; raise
    :class:`BackupError` naming the first that is not. Returns the manifest."""
    root = Path(src)
    doc = read_manifest(root)
    for rel, want in doc["members"].items():
        p = _inside(root, rel)
        if not p.is_file():
            raise BackupError(f"backup member {rel} is missing")
        if not isinstance(want, dict) or _describe(p) != {"sha256": want.get("sha256"),
                                                          "size": want.get("size")}:
            raise BackupError(f"backup member {rel} is not what the manifest says (damaged)")
    if doc.get("damaged"):
        raise BackupError(f"the backup recorded {len(doc['damaged'])} damaged or missing "
                          "evidence file(s) at the time it was made: it is incomplete")
    if doc.get("blobs_included"):
        total = len(doc["blobs"])
        for i, item in enumerate(doc["blobs"]):
            if (not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], str)
                    or len(item[0]) != 64):
                raise BackupError("the manifest's blob list is malformed")
            sha, size = item
            p = _inside(root, f"blobs/{sha[:2]}/{sha[2:4]}/{sha}")
            if not p.is_file():
                raise BackupError(f"evidence file {sha} is missing from the backup")
            if _describe(p) != {"sha256": sha, "size": size}:
                raise BackupError(f"evidence file {sha} in the backup is damaged")
            if progress:
                progress(i + 1, total)
    return doc


def _inside(root: Path, rel: str) -> Path:
    p = (root / rel).resolve()
    if not str(p).startswith(str(root.resolve()) + os.sep):
        raise BackupError(f"backup member {rel!r} points outside the backup")
    return p


def restore(src: str | os.PathLike[str], data_dir: str | os.PathLike[str], *,
            db_url: str | None = None, blob_store: str | None = None,
            key_file: str | None = None, progress: Progress | None = None) -> RestoreReport:
    """Check the backup, then restore it into the new data directory ``data_dir``
    (and, for a PostgreSQL backup, into the empty database ``db_url``)."""
    root = Path(src)
    doc = check_backup(root, progress)
    out = Path(data_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BackupError(f"{out} exists and is not an empty directory")
    kind = doc["database"]["kind"]
    if kind == "postgresql" and not db_url:
        raise BackupError("this backup is of a PostgreSQL ledger: give --db URL of an empty "
                          "database to restore into")
    if kind == "sqlite" and db_url:
        raise BackupError("this backup is of a SQLite ledger: it is restored into the data "
                          "directory (no --db)")
    if not doc.get("keys_included") and not key_file:
        raise BackupError("this backup was made without keys: give --key FILE (the log key "
                          "kept apart) to restore it")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _restore_into(root, doc, out, db_url=db_url, blob_store=blob_store,
                             key_file=key_file)
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        else:
            for child in out.iterdir():
                shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink()
        raise


def _restore_into(root: Path, doc: dict[str, Any], out: Path, *, db_url: str | None,
                  blob_store: str | None, key_file: str | None) -> RestoreReport:
    for rel in doc["members"]:
        if rel.startswith("config/"):
            dst = out / rel[len("config/"):]
        elif rel.startswith("keys/"):
            dst = out / rel[len("keys/"):]
        else:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, dst)
        os.chmod(dst, 0o600)
    key_name = str(doc.get("key_path") or "log.key")
    if key_file:
        shutil.copyfile(key_file, out / key_name)
        os.chmod(out / key_name, 0o600)

    cfg_path = out / CONFIG_FILE
    cfg = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}
    cfg["key_path"] = key_name
    kind = doc["database"]["kind"]
    if kind == "sqlite":
        shutil.copyfile(root / doc["database"]["file"], out / DB_FILE)
        cfg["db_url"] = None
    else:
        assert db_url is not None
        _run([_pg_tool("pg_restore"), "--no-owner", "--exit-on-error",
              f"--dbname={_libpq_url(db_url)}", str(root / doc["database"]["file"])],
             "pg_restore")
        cfg["db_url"] = db_url

    store_url = blob_store or str(out / "blobs")
    if blob_store:
        cfg["blob_store"] = blob_store
    else:
        cfg.pop("blob_store", None)
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    os.chmod(cfg_path, 0o600)

    n = 0
    if doc.get("blobs_included"):
        store = open_blob_store(store_url)
        for sha, _size in doc["blobs"]:
            with open(root / "blobs" / sha[:2] / sha[2:4] / sha, "rb") as f:
                ref = store.put(f)
            if ref.sha256 != sha:  # checked above; a second look costs nothing here
                raise BackupError(f"evidence file {sha} changed while it was restored")
            n += 1
    elif not blob_store:
        Path(store_url).mkdir(parents=True, exist_ok=True)
    return RestoreReport(str(out), kind, int(doc.get("tree_size", 0)), n,
                         keys_restored=bool(doc.get("keys_included")) or bool(key_file))
