"""Fixity on every read (issue 15): a real ``evidence serve``, real files damaged or
deleted on disk (and objects in a real SeaweedFS bucket), real HTTP.

No byte is served under the preserved hash unless it is the preserved byte: a small
damaged file is refused before anything is sent (503 ``evidence-damaged``), a large one is
cut off before its last chunk, a byte range is served only from chunks that match their
digests; each failure is in the custody log and raises an operator alert.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from evidence.verify.entry import parse_entry
from tests.support.api_server import Server, make_world, problem, start_server, submit

MiB = 1024 * 1024
BIG = 10 * MiB + 12345  # past the 8 MiB verify-first limit: streamed and hashed


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    world = make_world(tmp_path_factory.mktemp("fixity") / "data")
    s = start_server(world, "--rate", "1000", "--burst", "1000", "--max-upload", "64MiB",
                     "--max-file-size", "32MiB", "--no-anchor")
    try:
        yield s
    finally:
        s.stop()


def _blob(srv: Server, sha: str) -> Path:
    return srv.world.data / "blobs" / sha[:2] / sha[2:4] / sha


def _item(srv: Server, content: bytes) -> tuple[str, str]:
    r = submit(srv, files=[("exhibit.bin", content)])
    assert r.status_code == 201, r.text
    return r.json()["evidence_id"], hashlib.sha256(content).hexdigest()


def _damage(path: Path, offset: int) -> None:
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


def _accesses(srv: Server, ev: str) -> list[dict]:
    with srv.client("judge") as c:
        r = c.get(f"/v1/evidence/{ev}/custody")
    assert r.status_code == 200, r.text
    return [parse_entry(base64.b64decode(e["entry_b64"])).body
            for e in r.json()["entries"] if e["type"] == "evidence.accessed"]


def _alerts(srv: Server) -> list[dict]:
    p = srv.world.data / "fixity" / "alerts.jsonl"
    return [json.loads(x) for x in p.read_text().splitlines()] if p.exists() else []


def test_intact_files_are_served_whole_and_by_range(srv: Server) -> None:
    small = os.urandom(5000)
    big = os.urandom(BIG)
    for content in (small, big):
        ev, sha = _item(srv, content)
        side = srv.world.data / "blobs" / ".chunks" / sha[:2] / sha
        assert side.exists() == (content is big)  # recorded at intake, large files only
        with srv.client("judge") as c:
            r = c.get(f"/v1/evidence/{ev}/files/{sha}")
            assert r.status_code == 200 and r.content == content
            r = c.get(f"/v1/evidence/{ev}/files/{sha}", headers={"Range": "bytes=1000-3999"})
            assert r.status_code == 206 and r.content == content[1000:4000]
            r = c.get(f"/v1/evidence/{ev}/files/{sha}", headers={"Range": "bytes=-7"})
            assert r.status_code == 206 and r.content == content[-7:]
    # a range across chunk boundaries of the large file
    with srv.client("judge") as c:
        r = c.get(f"/v1/evidence/{ev}/files/{sha}",
                  headers={"Range": f"bytes={MiB - 10}-{3 * MiB + 9}"})
    assert r.status_code == 206 and r.content == big[MiB - 10:3 * MiB + 10]
    # 11 chunk digests beside the blob
    assert (srv.world.data / "blobs" / ".chunks" / sha[:2] / sha).stat().st_size == (
        8 + 4 + 8 + 32 + 11 * 32 + 32)


def test_small_damaged_file_is_refused_before_any_byte(srv: Server) -> None:
    content = os.urandom(4096)
    ev, sha = _item(srv, content)
    _damage(_blob(srv, sha), 100)
    before = len(_alerts(srv))
    with srv.client("judge") as c:
        doc = problem(c.get(f"/v1/evidence/{ev}/files/{sha}"), 503, "evidence-damaged")
        assert doc["sha256"] == sha and doc["evidence_id"] == ev
        r = c.get(f"/v1/evidence/{ev}/files/{sha}", headers={"Range": "bytes=0-9"})
        problem(r, 503, "evidence-damaged")
        assert r.headers["retry-after"] == "3600"
    acc = _accesses(srv, ev)
    assert [a.get("fixity") for a in acc] == ["damaged", "damaged"]
    assert acc[1]["range"] == "bytes=0-9"
    new = _alerts(srv)[before:]
    assert [(a["state"], a["sha256"], a["evidence_ids"]) for a in new] == [
        ("damaged", sha, [ev])] * 2
    assert "FIXITY DAMAGED" in srv.log.read_text()
    assert "Traceback" not in srv.log.read_text()
    h = httpx.get(srv.base + "/health").json()
    assert h["status"] == "degraded" and h["fixity"]["alerts"] >= 2


def test_missing_file(srv: Server) -> None:
    ev, sha = _item(srv, os.urandom(3000))
    _blob(srv, sha).unlink()
    with srv.client("judge") as c:
        problem(c.get(f"/v1/evidence/{ev}/files/{sha}"), 503, "evidence-missing")
    assert [a.get("fixity") for a in _accesses(srv, ev)] == ["missing"]
    assert _alerts(srv)[-1]["state"] == "missing"


def test_truncated_file_is_damaged(srv: Server) -> None:
    content = os.urandom(BIG)
    ev, sha = _item(srv, content)
    p = _blob(srv, sha)
    os.chmod(p, 0o644)
    os.truncate(p, BIG - 1)
    with srv.client("judge") as c:
        problem(c.get(f"/v1/evidence/{ev}/files/{sha}"), 503, "evidence-damaged")


def _stream(srv: Server, ev: str, sha: str, headers: dict | None = None
            ) -> tuple[int, int, bytes, bool]:
    """(status, Content-Length, bytes received, whether the transfer was cut off)."""
    got = bytearray()
    with srv.client("judge") as c, c.stream("GET", f"/v1/evidence/{ev}/files/{sha}",
                                             headers=headers or {}) as r:
        try:
            for b in r.iter_raw():
                got += b
        except httpx.RemoteProtocolError:
            return r.status_code, int(r.headers["content-length"]), bytes(got), True
    return r.status_code, int(r.headers["content-length"]), bytes(got), False


@pytest.mark.parametrize("where", [5 * MiB, BIG - 10])
def test_large_damaged_file_is_cut_off_before_its_last_chunk(srv: Server, where: int) -> None:
    content = os.urandom(BIG)
    ev, sha = _item(srv, content)
    _damage(_blob(srv, sha), where)
    status, length, got, cut = _stream(srv, ev, sha)
    assert status == 200 and length == BIG
    assert cut and len(got) < BIG  # a truncated transfer, never a complete wrong body
    assert len(got) <= BIG - (BIG % MiB)  # the last chunk was never sent
    acc = _accesses(srv, ev)
    # the download was recorded before the first byte; its failure right after
    assert [a.get("fixity") for a in acc] == [None, "damaged"]
    assert _alerts(srv)[-1]["sha256"] == sha
    assert "Traceback" not in srv.log.read_text()


def test_ranges_are_served_only_from_chunks_that_verify(srv: Server) -> None:
    content = os.urandom(BIG)
    ev, sha = _item(srv, content)
    with srv.client("judge") as c:  # first range: full check, chunk digests recorded
        r = c.get(f"/v1/evidence/{ev}/files/{sha}", headers={"Range": "bytes=0-99"})
        assert r.status_code == 206 and r.content == content[:100]
    _damage(_blob(srv, sha), 6 * MiB + 5)  # chunk 6
    with srv.client("judge") as c:
        r = c.get(f"/v1/evidence/{ev}/files/{sha}", headers={"Range": "bytes=1000-1999"})
        assert r.status_code == 206 and r.content == content[1000:2000]  # chunk 0: intact
        r = c.get(f"/v1/evidence/{ev}/files/{sha}",
                  headers={"Range": f"bytes={6 * MiB}-{6 * MiB + 10}"})
        problem(r, 503, "evidence-damaged")  # its only chunk fails before the headers
    status, length, got, cut = _stream(srv, ev, sha,
                                       {"Range": f"bytes={4 * MiB}-{7 * MiB - 1}"})
    assert status == 206 and length == 3 * MiB and cut
    assert got == content[4 * MiB:4 * MiB + len(got)] and len(got) <= 2 * MiB
    fix = [a.get("fixity") for a in _accesses(srv, ev)]
    assert fix == [None, None, "damaged", None, "damaged"]


def test_files_preserved_before_chunk_digests_get_them_lazily(srv: Server) -> None:
    content = os.urandom(BIG)
    ev, sha = _item(srv, content)
    side = srv.world.data / "blobs" / ".chunks" / sha[:2] / sha
    side.unlink()  # as if preserved by an older version
    with srv.client("judge") as c:
        r = c.get(f"/v1/evidence/{ev}/files/{sha}", headers={"Range": "bytes=5-9"})
        assert r.status_code == 206 and r.content == content[5:10]
    assert side.exists()  # after a full-file check
    side.unlink()
    _damage(_blob(srv, sha), BIG - 3)  # then damaged: no digests from damaged bytes
    with srv.client("judge") as c:
        r = c.get(f"/v1/evidence/{ev}/files/{sha}", headers={"Range": "bytes=5-9"})
        problem(r, 503, "evidence-damaged")
    assert not side.exists()


def test_a_damaged_chunk_sidecar_is_recomputed(srv: Server) -> None:
    content = os.urandom(BIG)
    ev, sha = _item(srv, content)
    side = srv.world.data / "blobs" / ".chunks" / sha[:2] / sha
    with srv.client("judge") as c:
        assert c.get(f"/v1/evidence/{ev}/files/{sha}",
                     headers={"Range": "bytes=0-9"}).status_code == 206
        raw = bytearray(side.read_bytes())
        raw[60] ^= 1  # a digest bit: the sidecar's trailer no longer matches
        side.write_bytes(bytes(raw))
        r = c.get(f"/v1/evidence/{ev}/files/{sha}", headers={"Range": "bytes=10-19"})
        assert r.status_code == 206 and r.content == content[10:20]
    assert side.read_bytes() != bytes(raw)


@pytest.mark.s3
def test_s3_damaged_and_missing_objects(tmp_path: Path, s3_endpoint, s3_bucket: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_endpoint.key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_endpoint.secret)
    world = make_world(tmp_path / "data")
    s = start_server(world, "--blob-store", f"s3://{s3_bucket}/ev?endpoint={s3_endpoint.endpoint}",
                     "--max-upload", "64MiB", "--max-file-size", "32MiB", "--no-anchor")
    client = s3_endpoint.client()
    try:
        small, big = os.urandom(2000), os.urandom(BIG)
        (ev1, sha1), (ev2, sha2), (ev3, sha3) = (_item(s, small), _item(s, big),
                                                 _item(s, os.urandom(100)))
        with s.client("judge") as c:
            assert c.get(f"/v1/evidence/{ev2}/files/{sha2}").content == big
        # damage: the object replaced behind the store's back (same size, one byte off)
        bad = bytearray(small)
        bad[7] ^= 1
        client.put_object(Bucket=s3_bucket, Key=f"ev/{sha1}", Body=bytes(bad))
        bad = bytearray(big)
        bad[BIG // 2] ^= 1
        client.put_object(Bucket=s3_bucket, Key=f"ev/{sha2}", Body=bytes(bad))
        client.delete_object(Bucket=s3_bucket, Key=f"ev/{sha3}")
        with s.client("judge") as c:
            problem(c.get(f"/v1/evidence/{ev1}/files/{sha1}"), 503, "evidence-damaged")
            problem(c.get(f"/v1/evidence/{ev3}/files/{sha3}"), 503, "evidence-missing")
        status, _length, got, cut = _stream(s, ev2, sha2)
        assert status == 200 and cut and len(got) < BIG
        assert [a["state"] for a in _alerts(s)] == ["damaged", "missing", "damaged"]
        assert "Traceback" not in s.log.read_text()
    finally:
        s.stop()


def test_a_client_hanging_up_mid_download_is_not_a_fixity_failure(srv: Server) -> None:
    content = os.urandom(BIG)
    ev, sha = _item(srv, content)
    before = len(_alerts(srv))
    with srv.client("judge") as c, c.stream("GET", f"/v1/evidence/{ev}/files/{sha}") as r:
        assert r.status_code == 200
        next(r.iter_raw())  # one piece, then hang up
    with srv.client("judge") as c:
        assert c.get(f"/v1/evidence/{ev}/files/{sha}").content == content
    assert len(_alerts(srv)) == before
    assert [a.get("fixity") for a in _accesses(srv, ev)] == [None, None]


def test_bundle_of_an_item_with_a_damaged_file_is_503_alerted_and_in_custody(
        srv: Server) -> None:
    ev, sha = _item(srv, os.urandom(3000))
    _damage(_blob(srv, sha), 100)
    before = len(_alerts(srv))
    with srv.client("judge") as c:
        for _ in range(100):  # until a checkpoint covers it
            r = c.get(f"/v1/evidence/{ev}/bundle", params={"provisional": "1"})
            if r.status_code != 409:
                break
        problem(r, 503, "evidence-damaged")
        assert r.headers["Retry-After"] == "3600"
    alerts = _alerts(srv)[before:]
    assert [(a.get("state"), a.get("sha256")) for a in alerts][-1:] == [("damaged", sha)] \
        or any(sha in json.dumps(a) for a in alerts)
    exports = [a for a in _accesses(srv, ev) if a["action"] == "export"]
    assert exports and exports[-1]["fixity"] == "damaged" and exports[-1]["sha256"] == sha


def test_bundle_of_an_item_with_a_missing_file_is_503_evidence_missing(srv: Server) -> None:
    ev, sha = _item(srv, os.urandom(2000))
    _blob(srv, sha).unlink()
    with srv.client("judge") as c:
        for _ in range(100):  # until a checkpoint covers it
            r = c.get(f"/v1/evidence/{ev}/bundle", params={"provisional": "1"})
            if r.status_code != 409:
                break
        problem(r, 503, "evidence-missing")
