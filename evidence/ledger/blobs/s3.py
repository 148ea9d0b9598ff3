"""Blobs as objects in an S3-compatible bucket (AWS S3, SeaweedFS, Ceph RGW, ...).

The object key is the content's SHA-256, which is only known once the whole stream has
been read. So a put first *spools* the stream (in memory up to one part, then to a
temporary file) while hashing it, both the whole content and each upload part, in that one
pass. Then it uploads from the spool:

* small blobs with one ``PutObject``, large ones with a multipart upload;
* every request carries the SHA-256 the bytes had when they were first read
  (``ChecksumSHA256``; per part for multipart), so if anything between the client and the
  disk of the store changed them (the spool, the network, a proxy), the store rejects the
  request instead of keeping damaged evidence;
* ``If-None-Match: *`` makes the write conditional, so an existing object is never
  replaced; "already exists" is treated as the idempotent no-op once the stored object's
  size (and full-object checksum, where the store reports one) has been confirmed.

A failed or abandoned put leaves nothing: the spool is a temporary file and an unfinished
multipart upload is aborted.

boto3 is an optional dependency (the ``s3`` extra) and is imported only when a store is
created.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import re
import tempfile
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from evidence.ledger.blobs._base import (
    CHUNK_SIZE,
    BlobCorrupt,
    BlobNotFound,
    BlobRef,
    BlobStore,
    LimitedReader,
    check_sha256_hex,
    normalise_range,
    read_chunks,
)

if TYPE_CHECKING:  # pragma: no cover
    from botocore.exceptions import ClientError

#: S3 refuses multipart parts under 5 MiB (except the last one).
MIN_PART_SIZE = 5 * 1024 * 1024
DEFAULT_PART_SIZE = 8 * 1024 * 1024

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_ALREADY_EXISTS = {"412", "PreconditionFailed", "409", "ConditionalRequestConflict"}
_BAD_CHECKSUM = {"BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch"}
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _code(e: ClientError) -> str:
    err = e.response.get("Error", {})
    return str(err.get("Code") or e.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


class _Spool:
    """The stream's bytes, its SHA-256 and one SHA-256 per upload part, from one pass."""

    def __init__(self, stream: BinaryIO, max_size: int | None, part_size: int,
                 spool_dir: str | None) -> None:
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115 (closed by close())
            max_size=part_size, dir=spool_dir
        )
        try:
            whole = hashlib.sha256()
            part = hashlib.sha256()
            in_part = 0
            self.part_digests: list[bytes] = []
            self.size = 0
            for chunk in read_chunks(stream, max_size, min(CHUNK_SIZE, part_size)):
                view = memoryview(chunk)
                whole.update(view)
                self.file.write(view)
                self.size += len(view)
                while view:  # split chunks at part boundaries for the per-part digests
                    take = min(len(view), part_size - in_part)
                    part.update(view[:take])
                    in_part += take
                    view = view[take:]
                    if in_part == part_size:
                        self.part_digests.append(part.digest())
                        part, in_part = hashlib.sha256(), 0
            if in_part or not self.part_digests:
                self.part_digests.append(part.digest())
            self.sha256 = whole.digest()
            self.file.seek(0)
        except BaseException:
            self.file.close()
            raise

    def close(self) -> None:
        self.file.close()


class S3BlobStore(BlobStore):
    """Content-addressed blobs in one bucket, under ``prefix`` + lowercase hex SHA-256."""

    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None = None,
        key: str | None = None,
        secret: str | None = None,
        prefix: str = "",
        *,
        region: str | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        spool_dir: str | None = None,
        client: Any = None,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3 minimum)")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.part_size = part_size
        self.spool_dir = spool_dir
        if client is None:
            import boto3  # optional extra "s3": imported only when this backend is used
            from botocore.config import Config

            client = boto3.client(
                "s3",
                endpoint_url=endpoint_url,
                aws_access_key_id=key,
                aws_secret_access_key=secret,
                region_name=region or "us-east-1",
                config=Config(
                    signature_version="s3v4",
                    s3={"addressing_style": "path"},
                    retries={"max_attempts": 3, "mode": "standard"},
                ),
            )
        self.client = client

    def __repr__(self) -> str:
        return f"S3BlobStore(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def key_of(self, sha256: str) -> str:
        """The object key of a blob. Validates the name first."""
        return self.prefix + check_sha256_hex(sha256)

    # -- writing ---------------------------------------------------------------------

    def put(self, stream: BinaryIO, *, max_size: int | None = None) -> BlobRef:
        spool = _Spool(stream, max_size, self.part_size, self.spool_dir)
        try:
            ref = BlobRef(spool.sha256.hex(), spool.size)
            if self._head(ref.sha256) is not None:  # skip the upload: already preserved
                self._confirm_existing(ref)
                return ref
            if len(spool.part_digests) == 1:
                self._put_single(spool, ref)
            else:
                self._put_multipart(spool, ref)
            return ref
        finally:
            spool.close()

    def _put_single(self, spool: _Spool, ref: BlobRef) -> None:
        from botocore.exceptions import ClientError

        body = spool.file.read(spool.size)
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.key_of(ref.sha256),
                Body=body,
                ChecksumSHA256=_b64(spool.sha256),
                IfNoneMatch="*",
            )
        except ClientError as e:
            self._handle_write_error(e, ref)

    def _put_multipart(self, spool: _Spool, ref: BlobRef) -> None:
        from botocore.exceptions import ClientError

        key = self.key_of(ref.sha256)
        upload_id = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=key, ChecksumAlgorithm="SHA256"
        )["UploadId"]
        try:
            parts = []
            for number, digest in enumerate(spool.part_digests, start=1):
                body = spool.file.read(self.part_size)
                resp = self.client.upload_part(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number,
                    Body=body, ChecksumAlgorithm="SHA256", ChecksumSHA256=_b64(digest),
                )
                del body
                parts.append({"PartNumber": number, "ETag": resp["ETag"],
                              "ChecksumSHA256": _b64(digest)})
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": parts}, IfNoneMatch="*",
            )
        except ClientError as e:
            self._abort(key, upload_id)
            self._handle_write_error(e, ref)
        except BaseException:
            self._abort(key, upload_id)
            raise
        self._confirm_existing(ref)  # cheap, and catches a store that ignored a checksum

    def _abort(self, key: str, upload_id: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        # If the abort fails too, the bucket's lifecycle rule for incomplete uploads is the
        # backstop; the original error is the one worth reporting.
        with contextlib.suppress(ClientError, BotoCoreError):
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    def _handle_write_error(self, e: ClientError, ref: BlobRef) -> None:
        code = _code(e)
        if code in _ALREADY_EXISTS:  # a concurrent put of the same content won the race
            self._confirm_existing(ref)
            return
        if code in _BAD_CHECKSUM:
            raise BlobCorrupt(
                f"the object store rejected blob {ref.sha256}: its bytes did not match their "
                f"SHA-256 checksum on arrival ({code}); nothing was stored"
            ) from e
        raise e

    def _confirm_existing(self, ref: BlobRef) -> None:
        head = self._head(ref.sha256, checksum=True)
        if head is None:
            raise BlobNotFound(f"blob {ref.sha256} vanished right after it was written")
        if head["ContentLength"] != ref.size:
            raise BlobCorrupt(
                f"blob {ref.sha256} exists with size {head['ContentLength']}, expected "
                f"{ref.size}: the stored copy is corrupt and was left untouched"
            )
        stored = head.get("ChecksumSHA256")
        # A multipart object reports a checksum of part checksums ("...-3"): not comparable.
        if stored and "-" not in stored and stored != _b64(bytes.fromhex(ref.sha256)):
            raise BlobCorrupt(f"blob {ref.sha256} exists with a different SHA-256 checksum")

    # -- reading ---------------------------------------------------------------------

    def _head(self, sha256: str, *, checksum: bool = False) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key_of(sha256)}
        if checksum:
            kwargs["ChecksumMode"] = "ENABLED"
        try:
            return self.client.head_object(**kwargs)
        except ClientError as e:
            if _code(e) in _NOT_FOUND:
                return None
            raise

    def _get(self, sha256: str, **extra: Any) -> BinaryIO:
        from botocore.exceptions import ClientError

        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self.key_of(sha256), **extra)
        except ClientError as e:
            if _code(e) in _NOT_FOUND:
                raise BlobNotFound(f"no blob {sha256}") from None
            raise
        return io.BufferedReader(LimitedReader(resp["Body"], resp["ContentLength"]), CHUNK_SIZE)

    def open(self, sha256: str) -> BinaryIO:
        return self._get(sha256)

    def open_range(self, sha256: str, start: int, stop: int | None = None) -> BinaryIO:
        start, stop = normalise_range(start, stop, self.size(sha256))
        if start == stop:
            return io.BytesIO(b"")
        return self._get(sha256, Range=f"bytes={start}-{stop - 1}")

    def exists(self, sha256: str) -> bool:
        return self._head(sha256) is not None

    def _sidecar_key(self, sha256: str) -> str:
        """``prefix/chunks/<sha256>``: not a 64-hex name, so never listed as a blob."""
        return self.prefix + "chunks/" + check_sha256_hex(sha256)

    def load_chunk_sidecar(self, sha256: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self._sidecar_key(sha256))
        except ClientError as e:
            if _code(e) in _NOT_FOUND:
                return None
            raise
        with contextlib.closing(resp["Body"]) as body:
            return body.read()

    def store_chunk_sidecar(self, sha256: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._sidecar_key(sha256), Body=data,
                               ChecksumSHA256=_b64(hashlib.sha256(data).digest()))

    def size(self, sha256: str) -> int:
        head = self._head(sha256)
        if head is None:
            raise BlobNotFound(f"no blob {sha256}")
        return int(head["ContentLength"])

    def iter_blobs(self) -> Iterator[tuple[str, float]]:
        for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix):
            for obj in page.get("Contents", []):
                name = obj["Key"][len(self.prefix):]
                if _HEX64.fullmatch(name):
                    yield name, obj["LastModified"].timestamp()

    def delete(self, sha256: str) -> bool:
        """Delete the object and, in a versioned bucket, every version of it.

        A purge ordered by a court must remove the content, not hide it behind a delete
        marker. Object Lock retention, if the bucket has it, still wins: the store refuses
        and the error propagates.
        """
        from botocore.exceptions import ClientError

        key = self.key_of(sha256)
        existed = self._head(sha256) is not None
        self.client.delete_object(Bucket=self.bucket, Key=self._sidecar_key(sha256))
        self.client.delete_object(Bucket=self.bucket, Key=key)
        try:
            pages = self.client.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=key
            )
            for page in pages:
                versions = [(v, True) for v in page.get("Versions", [])]
                versions += [(m, False) for m in page.get("DeleteMarkers", [])]
                for v, is_content in versions:
                    if v["Key"] == key and v.get("VersionId") not in (None, "null"):
                        existed = existed or is_content
                        self.client.delete_object(
                            Bucket=self.bucket, Key=key, VersionId=v["VersionId"]
                        )
        except ClientError as e:
            if _code(e) not in {"NotImplemented", "501"}:
                raise
        return existed
