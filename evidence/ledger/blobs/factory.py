"""Open the configured blob store from one string (a setting, a CLI option)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from evidence.ledger.blobs._base import BlobStore


def open_blob_store(url_or_path: str | Path) -> BlobStore:
    """Return the blob store that ``url_or_path`` names.

    * a filesystem path, or ``file:///abs/path``: :class:`FilesystemBlobStore` there;
    * ``s3://bucket/optional/prefix?endpoint=https://host:port&region=eu-west-1``:
      :class:`S3BlobStore`. The endpoint may instead come from ``EVIDENCE_S3_ENDPOINT``
      (the query wins); without either, AWS's own endpoint is used. Credentials come from
      ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, or boto3's usual chain when unset.
      They are never read from the URL, so a configuration string can be logged safely.
    """
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
