"""Where the tiles go: a directory or an S3 bucket, laid out as the tlog-tiles URLs are.

A :class:`TileStore` holds ``checkpoint`` and ``tile/...`` under their spec paths
(:mod:`evidence.ledger.tiles_layout`), so the directory (or bucket) is itself the static
read path: any file server or CDN serves it as it is. Every put is whole or nothing (a
temporary file renamed into place; an S3 PUT), so a reader never sees half a tile, and a
follower that dies mid-write leaves either the old object or the new one.

The store is told nothing about what it holds: the follower (:mod:`evidence.ledger.tiles`)
decides what is written and checks it first.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from evidence.ledger.tiles_layout import TileId

__all__ = ["CHECKPOINT", "FilesystemTileStore", "S3TileStore", "TileStore", "cache_control",
           "content_type", "open_tile_store"]

CHECKPOINT = "checkpoint"
IMMUTABLE = "public, max-age=31536000, immutable"
PARTIAL = "public, max-age=60"
"""A partial tile's bytes never change either, but it may be deleted once its full tile
exists (the spec allows it): a shorter life keeps caches from holding what was removed."""
MUTABLE = "public, max-age=5"
"""The checkpoint moves as the log grows: the spec asks for no caching beyond seconds."""


def cache_control(tile: TileId | None) -> str:
    """The Cache-Control of a tile (None: the checkpoint)."""
    if tile is None:
        return MUTABLE
    return IMMUTABLE if tile.full else PARTIAL


def content_type(tile: TileId | None) -> str:
    return "text/plain; charset=utf-8" if tile is None else "application/octet-stream"


def _check(path: str) -> str:
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in path.split("/")):
        raise ValueError(f"not a tile store path: {path!r}")
    return path


class TileStore(ABC):
    """Objects named by tlog-tiles paths (``checkpoint``, ``tile/0/001.p/7``)."""

    @abstractmethod
    def get(self, path: str) -> bytes | None:
        """The object's bytes, or None if there is none."""

    @abstractmethod
    def put(self, path: str, data: bytes, tile: TileId | None = None) -> None:
        """Store ``data`` under ``path``, replacing what was there, atomically (a reader
        sees the old bytes or the new, never a part). ``tile``: what it is (its headers)."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix`` (a folder, ``tile/0/001.p``); how many."""


class FilesystemTileStore(TileStore):
    """A directory; ``<root>/checkpoint`` and ``<root>/tile/...``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"FilesystemTileStore({str(self.root)!r})"

    def file(self, path: str) -> Path:
        return self.root / _check(path)

    def get(self, path: str) -> bytes | None:
        try:
            return self.file(path).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def put(self, path: str, data: bytes, tile: TileId | None = None) -> None:
        final = self.file(path)
        final.parent.mkdir(parents=True, exist_ok=True)
        # a hidden name in the same folder: rename is atomic there, and a static server
        # listing or guessing names does not find it
        tmp = final.parent / f".{final.name}.tmp-{secrets.token_hex(6)}"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)  # public data: the static server's user reads it
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(fd)  # the rename itself survives a power cut
        finally:
            os.close(fd)

    def delete_prefix(self, prefix: str) -> int:
        target = self.file(prefix)
        if not target.is_dir():
            return 0
        n = sum(1 for p in target.rglob("*") if p.is_file())
        shutil.rmtree(target, ignore_errors=True)
        return n


class S3TileStore(TileStore):
    """Objects in a bucket under ``prefix``, each with its Content-Type and Cache-Control,
    so a bucket published as a website (or behind a CDN) answers as ``evidence serve``."""

    def __init__(self, bucket: str, *, endpoint_url: str | None = None, prefix: str = "",
                 region: str | None = None, client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        if client is None:
            import boto3  # optional extra "s3"
            from botocore.config import Config

            client = boto3.client(
                "s3", endpoint_url=endpoint_url,
                aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID"),
                aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
                region_name=region or "us-east-1",
                config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                              retries={"max_attempts": 3, "mode": "standard"}))
        self.client = client

    def __repr__(self) -> str:
        return f"S3TileStore(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def get(self, path: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self.prefix + _check(path))
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise
        return bytes(obj["Body"].read())

    def put(self, path: str, data: bytes, tile: TileId | None = None) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + _check(path), Body=data,
                               ContentType=content_type(tile),
                               CacheControl=cache_control(tile))

    def delete_prefix(self, prefix: str) -> int:
        base = self.prefix + _check(prefix) + "/"
        n = 0
        for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})
                n += len(keys)
        return n


def open_tile_store(spec: str, data_dir: str | os.PathLike[str] | None = None
                    ) -> TileStore | None:
    """The store ``spec`` names: ``off`` (None: no tiles), a directory (relative to
    ``data_dir``), ``file:///abs/path``, or ``s3://bucket/prefix?endpoint=...&region=...``
    (credentials from ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, never the URL)."""
    spec = spec.strip()
    if spec.lower() in ("", "off", "none", "0", "false"):
        return None
    parts = urlsplit(spec)
    if parts.scheme == "s3":
        if not parts.netloc or parts.username or parts.password:
            raise ValueError(f"a tile store URL is s3://bucket/prefix, without credentials: "
                             f"{spec!r}")
        q = parse_qs(parts.query)
        endpoint = q.get("endpoint", [os.environ.get("EVIDENCE_S3_ENDPOINT")])[0]
        return S3TileStore(parts.netloc, endpoint_url=endpoint or None,
                           prefix=unquote(parts.path), region=q.get("region", [None])[0])
    if parts.scheme == "file":
        return FilesystemTileStore(unquote(parts.path))
    if parts.scheme and len(parts.scheme) > 1:
        raise ValueError(f"unsupported tile store URL scheme {parts.scheme!r}")
    path = Path(spec).expanduser()
    if not path.is_absolute():
        if data_dir is None:
            raise ValueError(f"a relative tile store path ({spec!r}) needs a data directory")
        path = Path(data_dir) / path
    return FilesystemTileStore(path)
