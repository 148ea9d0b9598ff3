"""The blob-store contract, run against every backend.

The same tests run on the filesystem store and on the S3 store against a real SeaweedFS
server (the ``s3_endpoint`` and ``s3_bucket`` fixtures of tests/support/s3.py; never a
mock). A few tests at the end cover what only one backend has (file modes, multipart,
server-side checksums).
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evidence.ledger.blobs import (
    BlobCorrupt,
    BlobNotFound,
    BlobRef,
    BlobStore,
    BlobTooLarge,
    FilesystemBlobStore,
    InvalidBlobId,
    open_blob_store,
)

MiB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- fixtures ------------------------------------------------------------------------


def _make_s3(request: pytest.FixtureRequest, tmp_path: Path, **kw: Any) -> BlobStore:
    from evidence.ledger.blobs.s3 import S3BlobStore

    ep = request.getfixturevalue("s3_endpoint")
    bucket = request.getfixturevalue("s3_bucket")
    spool = tmp_path / "spool"
    spool.mkdir(exist_ok=True)
    return S3BlobStore(bucket, ep.endpoint, ep.key, ep.secret, prefix="evidence/blobs",
                       spool_dir=str(spool), **kw)


@pytest.fixture(params=["filesystem", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "filesystem":
        return FilesystemBlobStore(tmp_path / "blobs")
    return _make_s3(request, tmp_path)


def stored_names(store: BlobStore) -> list[str]:
    """Every blob name present, straight from the backend (not via the store's API)."""
    if isinstance(store, FilesystemBlobStore):
        return sorted(p.name for p in store.root.glob("??/??/*"))
    resp = store.client.list_objects_v2(Bucket=store.bucket)  # type: ignore[attr-defined]
    return sorted(o["Key"].rsplit("/", 1)[-1] for o in resp.get("Contents", []))


def leftovers(store: BlobStore, tmp_path: Path) -> list[str]:
    """Temporary files and unfinished uploads: all must be gone after a failed put."""
    if isinstance(store, FilesystemBlobStore):
        return [p.name for p in (store.root / ".tmp").iterdir()]
    found = [p.name for p in (tmp_path / "spool").iterdir()]
    ups = store.client.list_multipart_uploads(Bucket=store.bucket)  # type: ignore[attr-defined]
    return found + [u["Key"] for u in ups.get("Uploads", [])]


def plant(store: BlobStore, name: str, data: bytes) -> None:
    """Put ``data`` under ``name`` behind the store's back (a damaged or foreign blob)."""
    if isinstance(store, FilesystemBlobStore):
        path = store.path_of(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o444)
    else:
        store.client.put_object(  # type: ignore[attr-defined]
            Bucket=store.bucket, Key=store.key_of(name), Body=data  # type: ignore[attr-defined]
        )


def read_stored(store: BlobStore, name: str) -> bytes:
    with store.open(name) as f:
        return f.read()


class FailingStream(io.RawIOBase):
    """A client that sends ``good`` bytes and then hangs up."""

    def __init__(self, good: int, chunk: int = 64 * 1024) -> None:
        self.left = good
        self.chunk = chunk

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            raise ConnectionResetError("client went away")
        take = min(self.left, self.chunk, n if n > 0 else self.chunk)
        self.left -= take
        return b"x" * take


class PatternStream(io.RawIOBase):
    """``total`` bytes generated on the fly (never held in memory), with a running hash."""

    def __init__(self, total: int) -> None:
        self.left = total
        self.counter = 0
        self.hash = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        n = min(self.left, n if n > 0 else MiB)
        block = hashlib.sha256(self.counter.to_bytes(8, "big")).digest() * (n // 32 + 1)
        data = block[:n]
        self.counter += 1
        self.left -= n
        self.hash.update(data)
        return data


# -- the shared contract ---------------------------------------------------------------


def test_round_trip(store: BlobStore) -> None:
    data = os.urandom(300_000)
    ref = store.put(io.BytesIO(data))
    assert ref == BlobRef(sha(data), len(data))
    assert store.exists(ref.sha256)
    assert store.size(ref.sha256) == len(data)
    assert read_stored(store, ref.sha256) == data
    assert store.verify(ref.sha256).ok


def test_empty_blob(store: BlobStore) -> None:
    ref = store.put(io.BytesIO(b""))
    assert ref == BlobRef(sha(b""), 0)
    assert read_stored(store, ref.sha256) == b""


def test_put_file(store: BlobStore, tmp_path: Path) -> None:
    path = tmp_path / "screenshot.png"
    path.write_bytes(b"\x89PNG fake but fine" * 1000)
    ref = store.put_file(path)
    assert ref.sha256 == sha(path.read_bytes())
    assert read_stored(store, ref.sha256) == path.read_bytes()


def test_second_put_is_idempotent(store: BlobStore) -> None:
    data = b"the same evidence twice"
    first = store.put(io.BytesIO(data))
    second = store.put(io.BytesIO(data))
    assert first == second
    assert stored_names(store) == [first.sha256]


def test_existing_blob_is_never_overwritten(store: BlobStore) -> None:
    data = b"genuine evidence"
    name = sha(data)
    plant(store, name, b"X" * len(data))  # same size, damaged content
    assert store.put(io.BytesIO(data)) == BlobRef(name, len(data))
    assert read_stored(store, name) == b"X" * len(data)  # left untouched, for the audit
    assert not store.verify(name).ok


def test_existing_blob_of_wrong_size_is_reported(store: BlobStore) -> None:
    data = b"genuine evidence"
    plant(store, sha(data), b"short")
    with pytest.raises(BlobCorrupt, match="size"):
        store.put(io.BytesIO(data))
    assert read_stored(store, sha(data)) == b"short"


def test_size_limit_leaves_nothing(store: BlobStore, tmp_path: Path) -> None:
    with pytest.raises(BlobTooLarge) as err:
        store.put(io.BytesIO(b"a" * 1001), max_size=1000)
    assert err.value.max_size == 1000
    assert stored_names(store) == []
    assert leftovers(store, tmp_path) == []
    assert store.put(io.BytesIO(b"a" * 1000), max_size=1000).size == 1000  # limit inclusive


def test_client_abort_leaves_nothing(store: BlobStore, tmp_path: Path) -> None:
    with pytest.raises(ConnectionResetError):
        store.put(FailingStream(good=3 * MiB + 5))  # type: ignore[arg-type]
    assert stored_names(store) == []
    assert leftovers(store, tmp_path) == []


def test_corruption_detected_on_read(store: BlobStore) -> None:
    data = b"original bytes " * 1000
    name = sha(data)
    plant(store, name, data[:-1] + b"!")
    check = store.verify(name)
    assert not check.ok
    assert check.actual_sha256 == sha(data[:-1] + b"!")
    assert "corrupt" in check.reason
    with pytest.raises(BlobCorrupt):
        check.raise_if_corrupt()
    with pytest.raises(BlobCorrupt), store.open_verified(name) as f:
        while f.read(4096):
            pass


def test_verified_read_of_good_blob(store: BlobStore) -> None:
    data = os.urandom(2 * MiB + 3)
    ref = store.put(io.BytesIO(data))
    with store.open_verified(ref.sha256) as f:
        assert f.read() == data


@pytest.mark.parametrize(
    ("start", "stop"),
    [(0, None), (0, 0), (0, 1), (5, 100), (999, 1000), (999, None), (10, 5000), (2000, None),
     (1000, None), (123, 124)],
)
def test_range_reads(store: BlobStore, start: int, stop: int | None) -> None:
    data = (bytes(range(256)) * 4)[:1000]
    ref = store.put(io.BytesIO(data))
    with store.open_range(ref.sha256, start, stop) as f:
        assert f.read() == data[start:stop]
    assert b"".join(store.iter_range(ref.sha256, start, stop, chunk_size=7)) == data[start:stop]


def test_negative_range_refused(store: BlobStore) -> None:
    ref = store.put(io.BytesIO(b"abc"))
    with pytest.raises(ValueError):
        store.open_range(ref.sha256, -1)


def test_missing_blob(store: BlobStore) -> None:
    name = sha(b"never stored")
    assert not store.exists(name)
    with pytest.raises(BlobNotFound):
        store.open(name)
    with pytest.raises(BlobNotFound):
        store.size(name)
    with pytest.raises(BlobNotFound):
        store.open_range(name, 0, 1)
    check = store.verify(name)
    assert not check.ok and check.actual_sha256 is None
    with pytest.raises(BlobNotFound):
        check.raise_if_corrupt()


def test_delete(store: BlobStore) -> None:
    ref = store.put(io.BytesIO(b"purge me by court order"))
    assert store.delete(ref.sha256) is True
    assert not store.exists(ref.sha256)
    assert stored_names(store) == []
    assert store.delete(ref.sha256) is False


# -- the two-phase put (stage, commit, abort): one contract, whatever the backend does --


def test_staged_blobs_are_stored_once_committed(store: BlobStore, tmp_path: Path) -> None:
    a, b = b"first staged blob " * 500, b"second staged blob " * 500
    batch = [store.stage(io.BytesIO(d)) for d in (a, b, a)]  # the same content twice
    assert [s.ref for s in batch] == [BlobRef(sha(a), len(a)), BlobRef(sha(b), len(b)),
                                      BlobRef(sha(a), len(a))]
    assert store.commit(batch) == [None, None, None]
    assert stored_names(store) == sorted({sha(a), sha(b)})
    assert read_stored(store, sha(a)) == a and read_stored(store, sha(b)) == b
    assert leftovers(store, tmp_path) == []


def test_a_staged_blob_is_stored_only_by_its_commit_or_by_stage(store: BlobStore) -> None:
    """A store that stages locally names nothing before the commit; any other stores the
    blob in stage (its commit has nothing left to do)."""
    data = b"staged, not yet committed"
    staged = store.stage(io.BytesIO(data))
    assert store.exists(sha(data)) is (not store.stages_locally)
    assert store.commit([staged]) == [None]
    assert store.exists(sha(data))


def test_abort_leaves_no_staged_copy_and_never_deletes_a_stored_blob(
        store: BlobStore, tmp_path: Path) -> None:
    kept = store.put(io.BytesIO(b"preserved earlier"))
    staged = store.stage(io.BytesIO(b"preserved earlier"))
    store.abort(staged)
    assert store.exists(kept.sha256)
    data = b"never committed"
    store.abort(store.stage(io.BytesIO(data)))
    assert leftovers(store, tmp_path) == []
    assert store.exists(sha(data)) is (not store.stages_locally)


def test_stage_size_limit_leaves_nothing(store: BlobStore, tmp_path: Path) -> None:
    with pytest.raises(BlobTooLarge):
        store.stage(io.BytesIO(b"x" * 101), max_size=100)
    assert leftovers(store, tmp_path) == []
    assert stored_names(store) == []


def test_iter_blobs_lists_every_stored_blob_once(store: BlobStore) -> None:
    names = {store.put(io.BytesIO(d)).sha256 for d in (b"a", b"bb", b"ccc", b"a")}
    listed = list(store.iter_blobs())
    assert sorted(n for n, _ in listed) == sorted(names)
    assert all(isinstance(t, float) and t > 0 for _, t in listed)


def test_sweep_temp_never_touches_stored_blobs(store: BlobStore) -> None:
    ref = store.put(io.BytesIO(b"kept through a sweep"))
    staged = store.stage(io.BytesIO(b"staged through a sweep"))
    store.sweep_temp(older_than_seconds=3600)  # the staged copy is young: kept
    assert store.commit([staged]) == [None]
    assert store.exists(ref.sha256) and store.exists(staged.ref.sha256)


@pytest.mark.parametrize(
    "bad", ["", "../../etc/passwd", "A" * 64, "g" * 64, "a" * 63, "a" * 65, "a" * 62 + "/x"]
)
def test_invalid_names_refused(store: BlobStore, bad: str) -> None:
    for call in (store.open, store.exists, store.size, store.delete, store.verify):
        with pytest.raises(InvalidBlobId):
            call(bad)


@pytest.mark.slow
def test_200mb_stream_keeps_memory_flat(store: BlobStore) -> None:
    stream = PatternStream(200 * MiB)
    tracemalloc.start()
    try:
        ref = store.put(stream)  # type: ignore[arg-type]
        _, peak_put = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        digest = hashlib.sha256()
        with store.open(ref.sha256) as f:
            while chunk := f.read(MiB):
                digest.update(chunk)
        _, peak_read = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ref == BlobRef(stream.hash.hexdigest(), 200 * MiB)
    assert digest.hexdigest() == ref.sha256
    assert peak_put < 100 * MiB, f"put peaked at {peak_put / MiB:.1f} MiB"
    assert peak_read < 100 * MiB, f"read peaked at {peak_read / MiB:.1f} MiB"
    assert store.delete(ref.sha256)


# -- filesystem only -------------------------------------------------------------------


def test_fs_layout_and_mode(tmp_path: Path) -> None:
    fs = FilesystemBlobStore(tmp_path)
    ref = fs.put(io.BytesIO(b"evidence"))
    path = fs.path_of(ref.sha256)
    assert path == tmp_path / ref.sha256[:2] / ref.sha256[2:4] / ref.sha256
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert list((tmp_path / ".tmp").iterdir()) == []


def test_fs_idempotent_put_keeps_the_same_file(tmp_path: Path) -> None:
    fs = FilesystemBlobStore(tmp_path)
    ref = fs.put(io.BytesIO(b"evidence"))
    before = fs.path_of(ref.sha256).stat()
    fs.put(io.BytesIO(b"evidence"))
    after = fs.path_of(ref.sha256).stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_fs_flipped_byte_on_disk_is_reported(tmp_path: Path) -> None:
    fs = FilesystemBlobStore(tmp_path)
    data = os.urandom(10_000)
    ref = fs.put(io.BytesIO(data))
    path = fs.path_of(ref.sha256)
    path.chmod(0o644)
    with open(path, "r+b") as f:
        f.seek(5000)
        byte = f.read(1)
        f.seek(5000)
        f.write(bytes([byte[0] ^ 0x01]))
    check = fs.verify(ref.sha256)
    assert not check.ok and check.size == len(data)
    assert check.actual_sha256 != ref.sha256


def test_fs_sweep_temp_removes_only_old_files(tmp_path: Path) -> None:
    fs = FilesystemBlobStore(tmp_path)
    old = tmp_path / ".tmp" / "put-crashed.part"
    new = tmp_path / ".tmp" / "put-running.part"
    old.write_bytes(b"half")
    new.write_bytes(b"half")
    os.utime(old, (1, 1))
    assert fs.sweep_temp(older_than_seconds=3600) == 1
    assert not old.exists() and new.exists()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=5000), chunk=st.integers(min_value=1, max_value=700))
def test_fs_any_bytes_any_chunking(tmp_path: Path, data: bytes, chunk: int) -> None:
    class Trickle(io.RawIOBase):
        def __init__(self) -> None:
            self.pos = 0

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            out = data[self.pos : self.pos + min(chunk, n if n > 0 else chunk)]
            self.pos += len(out)
            return out

    fs = FilesystemBlobStore(tmp_path / "h")
    ref = fs.put(Trickle())  # type: ignore[arg-type]
    assert ref == BlobRef(sha(data), len(data))
    assert read_stored(fs, ref.sha256) == data


# -- S3 only ---------------------------------------------------------------------------


class Client:
    """The boto3 client an S3 store is given, passed through; a test overrides the
    calls it wants to disturb (the store's one door to the server)."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def _s3_through(s3: BlobStore, client: Any, tmp_path: Path, prefix: str | None = None
                ) -> BlobStore:
    """Another store on ``s3``'s bucket, speaking through ``client``."""
    from evidence.ledger.blobs.s3 import S3BlobStore

    assert isinstance(s3, S3BlobStore)
    return S3BlobStore(s3.bucket, prefix=s3.prefix if prefix is None else prefix,
                       client=client, spool_dir=str(tmp_path / "spool"), part_size=5 * MiB)


def _flipped(body: bytes) -> bytes:
    data = bytearray(body)
    if data:
        data[len(data) // 2] ^= 0xFF
    return bytes(data)


@pytest.mark.s3
@pytest.mark.parametrize("size", [1000, 12 * MiB + 17], ids=["single", "multipart"])
def test_s3_checksum_mismatch_rejected_by_server(
    request: pytest.FixtureRequest, tmp_path: Path, size: int
) -> None:
    """Bytes changed after hashing (here: on their way out) are refused by the store
    itself."""
    s3 = _make_s3(request, tmp_path, part_size=5 * MiB)

    class Flipping(Client):
        def put_object(self, *, Body: bytes, **kw: Any) -> Any:
            return self.real.put_object(Body=_flipped(Body), **kw)

        def upload_part(self, *, Body: bytes, **kw: Any) -> Any:
            return self.real.upload_part(Body=_flipped(Body), **kw)

    flipping = _s3_through(s3, Flipping(s3.client), tmp_path)  # type: ignore[attr-defined]
    with pytest.raises(BlobCorrupt, match="rejected"):
        flipping.put(PatternStream(size))  # type: ignore[arg-type]
    assert stored_names(s3) == []
    assert leftovers(s3, tmp_path) == []


@pytest.mark.s3
@pytest.mark.parametrize("size", [1000, 11 * MiB], ids=["single", "multipart"])
def test_s3_concurrent_put_does_not_overwrite(
    request: pytest.FixtureRequest, tmp_path: Path, size: int
) -> None:
    """The object appears between our existence check and our write (a racing upload):
    the server's If-None-Match refuses the write and the put becomes the no-op."""
    from botocore.exceptions import ClientError

    s3 = _make_s3(request, tmp_path, part_size=5 * MiB)
    stream = PatternStream(size)
    data = stream.read(size)
    name = sha(data)
    plant(s3, name, b"R" * size)  # what the "other" upload stored (same size)
    calls = {"n": 0}

    class MissesOnce(Client):
        def head_object(self, **kw: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == 1:  # as if asked just before the other upload finished
                raise ClientError({"Error": {"Code": "404", "Message": "Not Found"}},
                                  "HeadObject")
            return self.real.head_object(**kw)

    racing = _s3_through(s3, MissesOnce(s3.client), tmp_path)  # type: ignore[attr-defined]
    assert racing.put(io.BytesIO(data)) == BlobRef(name, size)
    assert calls["n"] >= 2  # asked again, after the refused write
    with s3.open_range(name, 0, 10) as f:
        assert f.read() == b"R" * 10
    assert leftovers(s3, tmp_path) == []


@pytest.mark.s3
def test_s3_multipart_round_trip_and_abort(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    s3 = _make_s3(request, tmp_path, part_size=5 * MiB)
    data = os.urandom(11 * MiB + 1)
    ref = s3.put(io.BytesIO(data))
    assert ref.sha256 == sha(data) and s3.size(ref.sha256) == len(data)
    assert read_stored(s3, ref.sha256) == data
    with s3.open_range(ref.sha256, 5 * MiB - 3, 5 * MiB + 3) as f:
        assert f.read() == data[5 * MiB - 3 : 5 * MiB + 3]

    class Dying(Client):
        parts = 0

        def upload_part(self, **kw: Any) -> Any:
            self.parts += 1
            if self.parts == 2:
                raise OSError("disk went away during part 2")
            return self.real.upload_part(**kw)

    dying = _s3_through(s3, Dying(s3.client), tmp_path, prefix="other")  # type: ignore[attr-defined]
    with pytest.raises(OSError, match="part 2"):
        dying.put(io.BytesIO(os.urandom(11 * MiB)))
    assert leftovers(s3, tmp_path) == []
    assert stored_names(s3) == [ref.sha256]


# -- factory ---------------------------------------------------------------------------


def test_factory_filesystem(tmp_path: Path) -> None:
    for spec in (str(tmp_path / "a"), f"file://{tmp_path / 'b'}", tmp_path / "c"):
        s = open_blob_store(spec)
        assert isinstance(s, FilesystemBlobStore)
    assert (tmp_path / "b" / ".tmp").is_dir()


def test_factory_s3(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("boto3")
    from evidence.ledger.blobs.s3 import S3BlobStore

    monkeypatch.setenv("EVIDENCE_S3_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    s = open_blob_store("s3://bucket/some/prefix/?region=eu-west-1")
    assert isinstance(s, S3BlobStore)
    assert (s.bucket, s.prefix) == ("bucket", "some/prefix/")
    assert s.client.meta.endpoint_url == "http://127.0.0.1:1"
    assert s.client.meta.region_name == "eu-west-1"
    s = open_blob_store("s3://b?endpoint=http://127.0.0.1:2")
    assert s.client.meta.endpoint_url == "http://127.0.0.1:2" and s.prefix == ""


@pytest.mark.parametrize("bad", ["s3://", "s3://user:pw@bucket/x", "ftp://host/x"])
def test_factory_refuses(bad: str) -> None:
    with pytest.raises(ValueError):
        open_blob_store(bad)
