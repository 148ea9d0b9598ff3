"""Open the configured blob store from one string (a setting, a CLI option)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from evidence.ledger.blobs._base import BlobStore

REPLICA = "replica:"


def open_blob_store(url_or_path: str | Path, *, data_dir: str | Path | None = None,
                    replica_mode: str | None = None) -> BlobStore:
    """Return the blob store that ``url_or_path`` names.

    * a filesystem path, or ``file:///abs/path``: :class:`FilesystemBlobStore` there;
    * ``s3://bucket/optional/prefix?endpoint=https://host:port&region=eu-west-1``:
      :class:`S3BlobStore`. The endpoint may instead come from ``EVIDENCE_S3_ENDPOINT``
      (the query wins); without either, AWS's own endpoint is used. Credentials come from
      ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, or boto3's usual chain when unset.
      They are never read from the URL, so a configuration string can be logged safely;
    * ``replica:<primary>|<replica>``: :class:`ReplicatedBlobStore`, two copies of every
      file; each side is one of the forms above (not another ``replica:``). A relative
      path on either side is relative to ``data_dir`` (refused without one).
      ``replica_mode`` is ``sync`` (default: a put returns once both copies are durable)
      or ``async`` (once the primary is; the replica follows, its lag kept in
      ``<data_dir>/replica``).
    """
    if isinstance(url_or_path, str) and url_or_path.startswith(REPLICA):
        return _replicated(url_or_path, data_dir, replica_mode or "sync")
    if isinstance(url_or_path, Path):
        return _filesystem(url_or_path)
    parts = urlsplit(url_or_path)
    if parts.scheme == "s3":
        from evidence.ledger.blobs.s3 import S3BlobStore

        if not parts.netloc:
            raise ValueError(f"no bucket in blob store URL {url_or_path!r}")
        if parts.username or parts.password:
            raise ValueError("put S3 credentials in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
        query = parse_qs(parts.query)
        endpoint = query.get("endpoint", [os.environ.get("EVIDENCE_S3_ENDPOINT")])[0]
        region = query.get("region", [None])[0]
        return S3BlobStore(
            parts.netloc,
            endpoint_url=endpoint or None,
            key=os.environ.get("AWS_ACCESS_KEY_ID"),
            secret=os.environ.get("AWS_SECRET_ACCESS_KEY"),
            prefix=unquote(parts.path).strip("/"),
            region=region,
        )
    if parts.scheme == "file":
        return _filesystem(Path(unquote(parts.path)))
    if parts.scheme and len(parts.scheme) > 1:  # one letter: a Windows drive, a path
        raise ValueError(f"unsupported blob store URL scheme {parts.scheme!r}")
    return _filesystem(Path(url_or_path))


def _filesystem(path: Path) -> BlobStore:
    from evidence.ledger.blobs.filesystem import FilesystemBlobStore

    return FilesystemBlobStore(path)


def _replicated(url: str, data_dir: str | Path | None, mode: str) -> BlobStore:
    from evidence.ledger.blobs.replicated import ReplicatedBlobStore

    sides = url[len(REPLICA):].split("|")
    if len(sides) != 2 or not all(s.strip() for s in sides):
        raise ValueError(f"a replica blob store is replica:<primary>|<replica>, not {url!r}")
    stores = []
    for side in (s.strip() for s in sides):
        if side.startswith(REPLICA):
            raise ValueError("a replica store cannot contain another replica store")
        scheme = urlsplit(side).scheme
        if not scheme or len(scheme) == 1:  # a plain path
            p = Path(side).expanduser()
            if not p.is_absolute():
                if data_dir is None:
                    raise ValueError(f"relative path {side!r} in a replica store URL "
                                     "needs a data directory")
                p = Path(data_dir) / p
            side = str(p)
        stores.append(open_blob_store(side))
    if mode not in ("sync", "async"):
        raise ValueError(f"replica_mode must be sync or async, not {mode!r}")
    state = None if data_dir is None else Path(data_dir) / "replica"
    if mode == "async" and state is None:
        raise ValueError("replica_mode async needs a data directory (for the replica's lag)")
    return ReplicatedBlobStore(stores[0], stores[1], mode=mode, state_dir=state)
