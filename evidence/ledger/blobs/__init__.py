"""Content-addressed, write-once storage of evidence files.

Every blob is named by the lowercase hex SHA-256 of its bytes. Backends:

* :class:`FilesystemBlobStore` (default, embedded): read-only files under
  ``root/ab/cd/<sha256>``, written via temp file + fsync + link + directory fsync.
* :class:`S3BlobStore` (scale-up, needs the ``s3`` extra: boto3): objects under
  ``prefix/<sha256>`` in any S3-compatible bucket, uploads carrying SHA-256 checksums and
  ``If-None-Match: *``.

Every backend can put in two phases (``stage``, then ``commit`` a batch, or ``abort``): the
filesystem store shares one flush among a batch; the others store at ``stage``.

Pick one from configuration with :func:`open_blob_store`:

=========================================================  =================================
``/var/lib/evidence/blobs`` or ``file:///var/lib/...``      filesystem store at that path
``s3://bucket/prefix?endpoint=http://127.0.0.1:8333``       S3 store; ``&region=`` optional
=========================================================  =================================

For ``s3://`` the endpoint may also come from ``EVIDENCE_S3_ENDPOINT``; credentials come
from ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY`` (never from the URL). The bucket
must exist; the store does not create it (buckets carry policy: versioning, Object Lock,
lifecycle rules for incomplete multipart uploads, which operators set).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evidence.ledger.blobs._base import (
    CHUNK_SIZE,
    VERIFY_FIRST_MAX,
    BlobCheck,
    BlobCorrupt,
    BlobDamaged,
    BlobError,
    BlobNotFound,
    BlobRef,
    BlobStore,
    BlobStoreFull,
    BlobTooLarge,
    InvalidBlobId,
    StagedBlob,
)
from evidence.ledger.blobs.factory import open_blob_store
from evidence.ledger.blobs.filesystem import FilesystemBlobStore

if TYPE_CHECKING:  # pragma: no cover
    from evidence.ledger.blobs.s3 import S3BlobStore

__all__ = [
    "CHUNK_SIZE",
    "VERIFY_FIRST_MAX",
    "BlobCheck",
    "BlobCorrupt",
    "BlobDamaged",
    "BlobError",
    "BlobNotFound",
    "BlobRef",
    "BlobStore",
    "BlobStoreFull",
    "BlobTooLarge",
    "FilesystemBlobStore",
    "InvalidBlobId",
    "S3BlobStore",
    "StagedBlob",
    "open_blob_store",
]


def __getattr__(name: str) -> Any:
    """Import the S3 backend on first use, so that boto3 stays optional."""
    if name == "S3BlobStore":
        from evidence.ledger.blobs.s3 import S3BlobStore

        return S3BlobStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
