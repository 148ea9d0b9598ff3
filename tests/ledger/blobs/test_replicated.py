"""A second copy (issue 15, point 3): ``replica:<primary>|<replica>`` over two real stores
(two directories; a directory and the SeaweedFS S3 server the tests start). Each copy is
damaged and deleted in turn: reads still give the preserved bytes, the audit names the
bad copy, the scrubber rebuilds it and appends ``blob.repaired``; both copies bad is
damage (503 ``evidence-damaged`` on download). Async mode: the lag is reported, then
caught up."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from evidence.ledger.audit.files import audit_files
from evidence.ledger.blobs import (
    BlobDamaged,
    BlobNotFound,
    BlobStore,
    FilesystemBlobStore,
    open_blob_store,
)
from evidence.ledger.blobs.replicated import ReplicatedBlobStore
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger
from evidence.ledger.scrub import Scrubber
from evidence.verify.entry import parse_entry
from tests.support.api_server import CLI, make_world, problem, start_server, submit

pytestmark = pytest.mark.slow  # a served copy and a repair

MiB = 1024 * 1024
SMALL = b"a small preserved file " + os.urandom(16)
LARGE = os.urandom(10 * MiB + 12345)  # above VERIFY_FIRST_MAX: read chunk by chunk


def _s3(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    from evidence.ledger.blobs.s3 import S3BlobStore

    ep = request.getfixturevalue("s3_endpoint")
    bucket = request.getfixturevalue("s3_bucket")
    (tmp_path / "spool").mkdir(exist_ok=True)
    return S3BlobStore(bucket, ep.endpoint, ep.key, ep.secret, prefix="replica",
                       spool_dir=str(tmp_path / "spool"))


@pytest.fixture(params=["fs+fs", pytest.param("fs+s3", marks=pytest.mark.s3)])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> ReplicatedBlobStore:
    primary = FilesystemBlobStore(tmp_path / "primary")
    replica: BlobStore = (FilesystemBlobStore(tmp_path / "replica")
                          if request.param == "fs+fs" else _s3(request, tmp_path))
    return ReplicatedBlobStore(primary, replica)


def damage(store: BlobStore, sha: str) -> None:
    """Flip one byte in the middle of the stored copy, behind the store's back."""
    if isinstance(store, FilesystemBlobStore):
        p = store.path_of(sha)
        data = bytearray(p.read_bytes())
        data[len(data) // 2] ^= 0x01
        p.chmod(0o644)
        p.write_bytes(bytes(data))
        return
    c, key = store.client, store.key_of(sha)  # type: ignore[attr-defined]
    data = bytearray(c.get_object(Bucket=store.bucket, Key=key)["Body"].read())  # type: ignore[attr-defined]
    data[len(data) // 2] ^= 0x01
    c.put_object(Bucket=store.bucket, Key=key, Body=bytes(data))  # type: ignore[attr-defined]


def remove(store: BlobStore, sha: str) -> None:
    """Delete the stored copy behind the store's back (no purge, no entry)."""
    if isinstance(store, FilesystemBlobStore):
        store.path_of(sha).unlink()
        return
    store.client.delete_object(Bucket=store.bucket, Key=store.key_of(sha))  # type: ignore[attr-defined]


def raw(store: BlobStore, sha: str) -> bytes:
    with store.open(sha) as f:
        return f.read()


def reads_all(store: ReplicatedBlobStore, sha: str, data: bytes) -> None:
    """Every read path gives the preserved bytes."""
    assert store.size(sha) == len(data)
    assert b"".join(store.iter_verified(sha)) == data
    if len(data) <= 8 * MiB:
        assert store.read_verified(sha) == data
    cd = store.chunk_digests(sha, len(data))
    lo, hi = len(data) // 3, min(len(data), len(data) // 3 + 3 * MiB // 2)
    assert b"".join(store.iter_range_verified(sha, lo, hi, cd)) == data[lo:hi]
    assert raw(store, sha) == data


@pytest.fixture
def world(tmp_path: Path, pair: ReplicatedBlobStore) -> Any:
    led = Ledger.create(tmp_path / "d", "replica.test/log", checkpoint_interval=0)
    files = []
    for name, data in (("small.bin", SMALL), ("large.bin", LARGE)):
        f = tmp_path / name
        f.write_bytes(data)
        files.append(f)
    sub = Intake(led, pair).submit(ItemSpec(files=tuple(files), kind="document", case="c",
                                            principal="p"))
    yield led, pair, sub.evidence_id
    led.close()


def test_a_put_is_on_both_copies(pair: ReplicatedBlobStore) -> None:
    for data in (SMALL, LARGE):
        ref = pair.put(io.BytesIO(data))
        assert ref.sha256 == hashlib.sha256(data).hexdigest()
        assert raw(pair.primary, ref.sha256) == data
        assert raw(pair.replica, ref.sha256) == data
        assert pair.put(io.BytesIO(data)) == ref  # idempotent on both


@pytest.mark.parametrize("copy", ["primary", "replica"])
@pytest.mark.parametrize("fault", ["damaged", "missing"])
def test_each_copy_damaged_or_missing_is_read_around_audited_and_repaired(
        world: Any, tmp_path: Path, copy: str, fault: str) -> None:
    led, store, ev = world
    shas = {hashlib.sha256(d).hexdigest(): d for d in (SMALL, LARGE)}
    for sha in shas:
        (damage if fault == "damaged" else remove)(store.copy(copy), sha)
    for sha, data in shas.items():
        reads_all(store, sha, data)  # the preserved bytes, from the other copy

    report = audit_files(led.engine, store)
    assert not report.ok and len(report.problems) == 2
    for p in report.problems:
        assert p.state == fault and p.copy == copy and p.evidence_ids == (ev,)
        assert p.detail.startswith(f"the {copy} copy: ")
        assert p.to_json()["copy"] == copy

    size = led.size
    scrub = Scrubber(led.engine, store, tmp_path / "d", rate=1 << 40, ledger=led)
    passed = scrub.one_pass()
    assert passed is not None and passed.ok  # repaired: not a problem of the pass
    assert led.size == size + 2
    bodies = sorted((parse_entry(led.entry(s).data) for s in (size, size + 1)),
                    key=lambda e: e.body["sha256"])
    assert [(e.type, e.body) for e in bodies] == [
        ("blob.repaired", {"sha256": sha, "copy": copy, "problem": fault})
        for sha in sorted(shas)]
    for sha, data in shas.items():
        assert raw(store.copy(copy), sha) == data  # rebuilt
    assert audit_files(led.engine, store).ok
    again = scrub.one_pass()
    assert again is not None and again.ok and led.size == size + 2  # nothing more to do


def test_both_copies_bad_is_damage(world: Any, tmp_path: Path) -> None:
    led, store, _ev = world
    for data in (SMALL, LARGE):
        sha = hashlib.sha256(data).hexdigest()
        damage(store.primary, sha)
        remove(store.replica, sha)
        with pytest.raises(BlobDamaged):
            store.read_verified(sha)
        with pytest.raises(BlobDamaged):
            b"".join(store.iter_verified(sha))
    report = audit_files(led.engine, store)
    assert [(p.state, p.copy) for p in report.problems] == [("damaged", "both")] * 2
    size = led.size
    scrub = Scrubber(led.engine, store, tmp_path / "d", rate=1 << 40, ledger=led)
    passed = scrub.one_pass()
    assert passed is not None and len(passed.problems) == 2 and led.size == size
    alerts = (tmp_path / "d" / "fixity" / "alerts.jsonl").read_text().splitlines()
    assert {json.loads(a)["state"] for a in alerts} == {"damaged"}


def test_both_copies_missing_is_missing(pair: ReplicatedBlobStore) -> None:
    ref = pair.put(io.BytesIO(SMALL))
    remove(pair.primary, ref.sha256)
    remove(pair.replica, ref.sha256)
    with pytest.raises(BlobNotFound):
        pair.read_verified(ref.sha256)
    with pytest.raises(BlobNotFound):
        pair.size(ref.sha256)


def test_a_truncated_primary_is_read_from_the_replica(pair: ReplicatedBlobStore) -> None:
    ref = pair.put(io.BytesIO(LARGE))
    p = pair.primary.path_of(ref.sha256)  # type: ignore[attr-defined]
    p.chmod(0o644)
    with open(p, "r+b") as f:
        f.truncate(3 * MiB)
    (pair.primary.root / ".chunks").rename(pair.primary.root / ".chunks-gone")  # type: ignore[attr-defined]
    reads_all(pair, ref.sha256, LARGE)


def test_factory_url(tmp_path: Path) -> None:
    s = open_blob_store("replica:blobs|/abs/" + tmp_path.name, data_dir=tmp_path)
    assert isinstance(s, ReplicatedBlobStore) and s.mode == "sync"
    assert s.primary.root == tmp_path / "blobs"  # type: ignore[attr-defined]
    for bad in ("replica:only-one", "replica:a|b|c", "replica:|b",
                "replica:a|replica:b|c"):
        with pytest.raises(ValueError):
            open_blob_store(bad, data_dir=tmp_path)
    with pytest.raises(ValueError, match="data directory"):
        open_blob_store("replica:a|b")
    with pytest.raises(ValueError, match="replica_mode"):
        open_blob_store("replica:a|b", data_dir=tmp_path, replica_mode="later")


@pytest.mark.s3
def test_async_lag_reported_then_caught_up(request: pytest.FixtureRequest,
                                          tmp_path: Path) -> None:
    """The S3 replica refuses the copies (a wrong secret): puts are acknowledged from the
    primary, the lag grows; once the replica takes them (the right credentials), the
    copier catches up."""
    from evidence.ledger.blobs.s3 import S3BlobStore

    ep = request.getfixturevalue("s3_endpoint")
    name = request.getfixturevalue("s3_bucket")
    (tmp_path / "spool").mkdir()
    replica = S3BlobStore(name, ep.endpoint, ep.key, "not-the-secret",
                          spool_dir=str(tmp_path / "spool"))
    store = ReplicatedBlobStore(FilesystemBlobStore(tmp_path / "primary"), replica,
                                mode="async", state_dir=tmp_path / "state")
    try:
        refs = [store.put(io.BytesIO(d)) for d in (SMALL, b"second " + os.urandom(8))]
        assert all(store.primary.exists(r.sha256) for r in refs)
        time.sleep(1.2)
        lag = store.lag()
        assert lag["mode"] == "async" and lag["pending"] == 2
        assert lag["oldest_age_seconds"] >= 1.0 and lag["oldest_queued_at"]
        assert b"".join(store.iter_verified(refs[0].sha256)) == SMALL  # primary serves
        replica.client = ep.client()  # the operator fixes the credentials
        assert store.wait_caught_up(30), store.lag()
        assert store.lag()["pending"] == 0
        for r in refs:
            assert replica.verify(r.sha256).ok
    finally:
        store.close()


def test_async_markers_survive_and_resume(tmp_path: Path) -> None:
    """A marker left by a process that stopped before copying is copied by the next
    process that opens the store."""
    state = tmp_path / "state"
    primary = FilesystemBlobStore(tmp_path / "p")
    ref = primary.put(io.BytesIO(SMALL))
    (state / "pending").mkdir(parents=True)
    (state / "pending" / ref.sha256).write_text("2026-01-01T00:00:00.000000Z")
    store = ReplicatedBlobStore(primary, FilesystemBlobStore(tmp_path / "r"), mode="async",
                                state_dir=state)
    try:
        assert store.wait_caught_up(10)
        assert raw(store.replica, ref.sha256) == SMALL
    finally:
        store.close()


# -- the service -----------------------------------------------------------------------


def _configure(data: Path, **cfg: str) -> None:
    path = data / "config.json"
    doc = json.loads(path.read_text())
    doc.update(cfg)
    path.write_text(json.dumps(doc))


def test_served_from_either_copy_and_503_when_both_are_bad(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVIDENCE_SCRUB_RATE", "1GiB")
    monkeypatch.setenv("EVIDENCE_SCRUB_PAUSE", "0.3")
    world = make_world(tmp_path / "data")
    _configure(world.data, blob_store="replica:blobs|replica-blobs")
    srv = start_server(world, "--no-anchor")
    try:
        body = b"a listing " + os.urandom(16)
        r = submit(srv, files=[("a.txt", body)])
        assert r.status_code == 201, r.text
        ev, sha = r.json()["evidence_id"], r.json()["files"][0]["sha256"]
        primary = FilesystemBlobStore(world.data / "blobs")
        replica = FilesystemBlobStore(world.data / "replica-blobs")
        assert raw(replica, sha) == body  # acknowledged: on both
        damage(primary, sha)
        with srv.client("acme") as c:
            got = c.get(f"/v1/evidence/{ev}/files/{sha}")
            assert got.status_code == 200 and got.content == body
            # the scrubber rebuilds the primary and records it
            deadline = time.monotonic() + 30
            while raw(primary, sha) != body and time.monotonic() < deadline:
                time.sleep(0.2)
            assert raw(primary, sha) == body
            remove(primary, sha)
            damage(replica, sha)
            # both bad (the scrubber cannot repair from either)
            got = c.get(f"/v1/evidence/{ev}/files/{sha}")
            problem(got, 503, "evidence-damaged")
        h = httpx.get(srv.base + "/health").json()
        assert h["fixity"]["replica"]["mode"] == "sync"
    finally:
        srv.stop()
    led = Ledger.open(world.data)
    try:
        repaired = [e for e in (parse_entry(x.data) for x in led.entries())
                    if e.type == "blob.repaired"]
    finally:
        led.close()
    assert repaired[0].body == {"sha256": sha, "copy": "primary", "problem": "damaged"}


def test_async_lag_in_health_and_status(tmp_path: Path) -> None:
    world = make_world(tmp_path / "data")
    _configure(world.data, blob_store="replica:blobs|replica-blobs", replica_mode="async")
    srv = start_server(world, "--no-anchor")
    try:
        replica_tmp = world.data / "replica-blobs" / ".tmp"
        replica_tmp.rmdir()  # the replica cannot take a blob: copies fail and wait
        r = submit(srv)
        assert r.status_code == 201, r.text
        sha = r.json()["files"][0]["sha256"]
        time.sleep(1.1)
        lag = httpx.get(srv.base + "/health").json()["fixity"]["replica"]
        assert lag["mode"] == "async" and lag["pending"] == 1
        assert lag["oldest_age_seconds"] >= 1.0
        out = subprocess.run([*CLI, "status", "--data-dir", str(world.data), "--json"],
                             capture_output=True, text=True, timeout=60)
        assert json.loads(out.stdout)["fixity"]["replica"]["pending"] == 1, out.stderr
        text = subprocess.run([*CLI, "status", "--data-dir", str(world.data)],
                              capture_output=True, text=True, timeout=60).stdout
        assert "replica (async): 1 file(s) not yet copied" in text
        replica_tmp.mkdir()  # the replica is back: the copier catches up
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            lag = httpx.get(srv.base + "/health").json()["fixity"]["replica"]
            if lag["pending"] == 0:
                break
            time.sleep(0.2)
        assert lag["pending"] == 0 and lag["oldest_queued_at"] is None
        assert FilesystemBlobStore(world.data / "replica-blobs").verify(sha).ok
    finally:
        srv.stop()


def test_audit_names_the_copy_and_repair_rebuilds_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    led = Ledger.create(data, "replica.test/log", checkpoint_interval=0)
    try:
        _configure(data, blob_store="replica:blobs|replica-blobs")
        store = open_blob_store("replica:blobs|replica-blobs", data_dir=data)
        f = tmp_path / "f.bin"
        f.write_bytes(SMALL)
        ev = Intake(led, store).submit(ItemSpec(files=(f,), kind="document", case="c",
                                                principal="p")).evidence_id
    finally:
        led.close()
    sha = hashlib.sha256(SMALL).hexdigest()
    damage(FilesystemBlobStore(data / "replica-blobs"), sha)
    audit = [*CLI, "audit", "--data-dir", str(data), "--json"]
    out = subprocess.run(audit, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    assert doc["entries_ok"] and doc["files"]["damaged"] == [{
        "sha256": sha, "evidence_ids": [ev], "state": "damaged", "copy": "replica",
        "detail": doc["files"]["damaged"][0]["detail"]}]
    assert "the replica copy: " in doc["files"]["damaged"][0]["detail"]
    out = subprocess.run([*audit, "--repair"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    doc = json.loads(out.stdout)
    assert doc["ok"] and [{k: r[k] for k in ("sha256", "copy", "problem")}
                          for r in doc["repaired"]] == [
        {"sha256": sha, "copy": "replica", "problem": "damaged"}]
    assert raw(FilesystemBlobStore(data / "replica-blobs"), sha) == SMALL
    led = Ledger.open(data)
    try:
        e = parse_entry(led.entry(doc["repaired"][0]["seq"]).data)
    finally:
        led.close()
    assert (e.type, e.body) == ("blob.repaired",
                                {"sha256": sha, "copy": "replica", "problem": "damaged"})
    out = subprocess.run(audit, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and json.loads(out.stdout)["files"]["ok"], out.stdout


def test_gc_collects_orphans_of_either_copy_and_keeps_live_files(world: Any) -> None:
    led, store, _ev = world
    a = store.primary.put(io.BytesIO(b"orphan on the primary"))
    b = store.replica.put(io.BytesIO(b"orphan on the replica"))
    report = Intake(led, store).gc(grace_seconds=0)
    assert sorted(report.deleted) == sorted([a.sha256, b.sha256])
    assert not store.exists(a.sha256) and not store.exists(b.sha256)
    for data in (SMALL, LARGE):
        sha = hashlib.sha256(data).hexdigest()
        assert store.primary.exists(sha) and store.replica.exists(sha)


def test_a_queued_copy_is_lag_not_a_missing_copy(tmp_path: Path) -> None:
    """In async mode a file not yet on the replica is not reported missing there nor
    'repaired' by the scrubber: it is in the lag."""
    led = Ledger.create(tmp_path / "d", "replica.test/log", checkpoint_interval=0)
    try:
        primary = FilesystemBlobStore(tmp_path / "p")
        replica = FilesystemBlobStore(tmp_path / "r")
        store = ReplicatedBlobStore(primary, replica, mode="async", state_dir=tmp_path / "s")
        (tmp_path / "r" / ".tmp").rmdir()  # the replica cannot take it: the copy stays queued
        f = tmp_path / "f.bin"
        f.write_bytes(SMALL)
        store.put_file(f)
        time.sleep(0.3)  # the copier tried, and failed
        sha = hashlib.sha256(SMALL).hexdigest()
        Intake(led, primary).submit(ItemSpec(files=(f,), kind="document", case="c",
                                             principal="p"))
        assert store.lag()["pending"] == 1 and not replica.exists(sha)
        assert audit_files(led.engine, store).ok
        size = led.size
        passed = Scrubber(led.engine, store, tmp_path / "d", rate=1 << 40,
                          ledger=led).one_pass()
        assert passed is not None and passed.ok and led.size == size
        store.close()
    finally:
        led.close()
