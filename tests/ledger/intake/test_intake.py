"""Evidence intake against real components: SQLite and a throwaway PostgreSQL, the
filesystem blob store and (end to end) S3 on a real SeaweedFS server. Receipts,
commitments, submitter signatures, purge, bad input, and atomicity (a failed
submission leaves no entry and no new blob)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from evidence.ledger.blobs import BlobStore, FilesystemBlobStore
from evidence.ledger.errors import AppendRejected
from evidence.ledger.evidence_store import (
    event_row,
    evidence_events,
    evidence_files,
    evidence_items,
)
from evidence.ledger.intake import (
    AlreadyPurged,
    Intake,
    ItemSpec,
    SubmissionRefused,
    UnknownEvidence,
    expand_each,
    load_settings,
)
from evidence.ledger.intake import pipeline as intake_pipeline
from evidence.ledger.intake.maintenance import iter_blobs
from evidence.ledger.intake.settings import SettingsError, parse_size
from evidence.ledger.log import Ledger
from evidence.verify.checkpoint import verify_checkpoint
from evidence.verify.commitment import verify_commitment
from evidence.verify.entry import parse_entry
from evidence.verify.errors import MalformedInput
from evidence.verify.hashing import hash_from_hex
from evidence.verify.merkle import verify_inclusion
from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer
from evidence.verify.receipt import verify_receipt
from evidence.verify.submission import (
    SubmissionSignatureError,
    files_digest,
    sign_submission,
    submission_text,
    verify_submission,
)

ORIGIN = "intake.example/log"
Factory = Callable[..., Intake]


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def make_intake(request, tmp_path) -> Iterator[Factory]:
    """Fresh ledgers with a filesystem blob store, on SQLite or PostgreSQL."""
    made: list[tuple[Ledger, str | None]] = []
    cluster = request.getfixturevalue("pg_cluster") if request.param == "pg" else None

    def factory(store: BlobStore | None = None, **kw: Any) -> Intake:
        d = Path(tempfile.mkdtemp(dir=tmp_path))
        url = cluster.create_database("intake") if cluster else None
        led = Ledger.create(d / "data", ORIGIN, db_url=url, checkpoint_interval=3600)
        made.append((led, url))
        return Intake(led, store or FilesystemBlobStore(d / "data" / "blobs"), **kw)

    yield factory
    for led, url in made:
        led.close()
        if url and cluster:
            cluster.drop_database(url)


def _files(tmp_path: Path, **contents: bytes) -> list[Path]:
    out = []
    for name, data in contents.items():
        p = tmp_path / name.replace("_", ".")
        p.write_bytes(data)
        out.append(p)
    return out


def _spec(files: list[Path], **kw: Any) -> ItemSpec:
    kw.setdefault("kind", "document")
    kw.setdefault("case", "case-2026-001")
    kw.setdefault("principal", "acme-ip")
    return ItemSpec(files=files, **kw)


def _count(led: Ledger, table) -> int:  # type: ignore[no-untyped-def]
    with led.engine.connect() as c:
        return c.execute(select(func.count()).select_from(table)).scalar_one()


def _blobs(store: BlobStore) -> set[str]:
    return {sha for sha, _ in iter_blobs(store)}


# --- the submit path -----------------------------------------------------------------------


def test_submit_commits_entry_rows_receipt_and_blobs(make_intake, tmp_path) -> None:
    intake = make_intake()
    led = intake.ledger
    files = _files(tmp_path, shot_png=b"\x89PNG\r\n\x1a\n" + b"not really" * 10,
                   page_html=b"<html><body>offer</body></html>")
    res = intake.submit(_spec(files, kind="web", title="Shop page", meta={"platform": "x"},
                              source_url="https://shop.example/item/1",
                              captured_at="2026-01-02T03:04:05Z"))
    assert res.evidence_id.startswith("ev_") and len(res.evidence_id) == 29
    entry = led.entry(res.seq)
    parsed = parse_entry(entry.data)
    assert parsed.type == "evidence.submitted" and parsed.leaf_hash.hex() == res.leaf_hash
    body = json.loads(entry.data)["body"]
    assert set(body) == {"evidence_id", "kind", "files", "metadata_commitment", "principal"}
    assert [f["name"] for f in body["files"]] == ["shot.png", "page.html"]
    assert body["files"][1]["media_type"] == "text/html"
    text = entry.data.decode()
    for secret in ("Shop page", "shop.example", "case-2026-001", "platform"):
        assert secret not in text  # nothing descriptive on the public ledger
    # the receipt is the log's signature over exactly this entry
    r = verify_receipt(res.receipt, led.verifier, entry.data)
    assert (r.seq, r.leaf_hash) == (res.seq, res.leaf_hash)
    # the commitment opens with the stored metadata and salt
    item = intake.item(res.evidence_id)
    metadata = json.loads(item.metadata_jcs)
    verify_commitment(body["metadata_commitment"], item.salt, metadata)
    assert metadata["schema"] == "evidence.metadata/v1"
    assert metadata["case"] == "case-2026-001" and metadata["title"] == "Shop page"
    assert metadata["stated"] == {"source_url": "https://shop.example/item/1",
                                  "captured_at": "2026-01-02T03:04:05Z",
                                  "meta": {"platform": "x"}}
    assert [f["sha256"] for f in metadata["extracted"]["files"]] == \
        [f["sha256"] for f in body["files"]]
    assert item.receipt == res.receipt
    for f, path in zip(body["files"], files, strict=True):
        with intake.store.open(f["sha256"]) as b:
            assert b.read() == path.read_bytes()
    info = intake.show(res.evidence_id)
    assert info["status"] == "preserved" and info["commitment_opens"] is True
    assert [e["type"] for e in info["custody"]] == ["evidence.submitted"]
    assert led.audit().ok


def test_receipt_upgrades_to_full_proof(make_intake, tmp_path) -> None:
    intake = make_intake()
    led = intake.ledger
    res = intake.submit(_spec(_files(tmp_path, a_txt=b"alpha")))
    assert intake.receipt(res.evidence_id)["inclusion_proof"] is None  # no checkpoint yet
    intake.submit(_spec(_files(tmp_path, b_txt=b"beta")))
    led.sign_checkpoint_now()
    full = intake.receipt(res.evidence_id)
    cp = verify_checkpoint(full["checkpoint"], led.verifier).checkpoint
    p = full["inclusion_proof"]
    assert p["tree_size"] == cp.size == 2
    verify_inclusion(res.seq, cp.size, hash_from_hex(res.leaf_hash),
                     [hash_from_hex(h) for h in p["proof"]], cp.root)
    verify_receipt(full["receipt"], led.verifier, full["entry"].encode())


def test_evidence_tables_on_both_databases(make_intake) -> None:
    led = make_intake().ledger
    for t in (evidence_items, evidence_files, evidence_events):
        assert _count(led, t) == 0


# --- submitter signatures --------------------------------------------------------------------


def test_submitter_signature_good_bad_and_other_key(make_intake, tmp_path) -> None:
    intake = make_intake()
    me, other = generate_signer("acme-ip.example"), generate_signer("someone.example")
    res = intake.submit(_spec(_files(tmp_path, c_txt=b"contract"), sign_key=me))
    body = json.loads(intake.ledger.entry(res.seq).data)["body"]
    assert body["submitter"]["key"] == me.verifier().to_string()
    assert verify_submission(body).to_string() == me.verifier().to_string()
    verify_submission(body, expected_key=me.verifier().to_string(), required=True)
    with pytest.raises(SubmissionSignatureError, match="not by the expected key"):
        verify_submission(body, expected_key=other.verifier())
    for change in ({"files": [dict(body["files"][0], name="other.txt")]},
                   {"metadata_commitment": "0" * 64}, {"evidence_id": "ev_SOMETHINGELSE"}):
        with pytest.raises(SubmissionSignatureError, match="does not sign"):
            verify_submission({**body, **change})
    forged = dict(body, submitter={"key": other.verifier().to_string(),
                                   "signature": body["submitter"]["signature"]})
    with pytest.raises(SubmissionSignatureError):
        verify_submission(forged)
    with pytest.raises(SubmissionSignatureError, match="base64"):
        verify_submission(dict(body, submitter={**body["submitter"], "signature": "!!"}))
    with pytest.raises(SubmissionSignatureError, match="not signed"):
        verify_submission({k: v for k, v in body.items() if k != "submitter"}, required=True)
    assert verify_submission({k: v for k, v in body.items() if k != "submitter"}) is None


def test_submission_text_is_domain_separated_and_refuses_newlines() -> None:
    files = [{"name": "a", "media_type": "text/plain", "size": 1, "sha256": "0" * 64}]
    text = submission_text("ev_1", "a" * 64, files)
    assert text == f"evidence.submission/v1\nev_1\n{'a' * 64}\n{files_digest(files)}\n"
    with pytest.raises(MalformedInput):
        submission_text("ev_1\nX", "a" * 64, files)
    with pytest.raises(Exception, match="Ed25519"):
        sign_submission("ev_1", "a" * 64, files, generate_signer("w", ALG_COSIGNATURE_V1))
    sig = sign_submission("ev_1", "a" * 64, files, generate_signer("k"))
    assert len(base64.b64decode(sig["signature"])) == 64


# --- purge ---------------------------------------------------------------------------------


def test_purge_keeps_entry_and_proofs_deletes_unshared_files(make_intake, tmp_path) -> None:
    intake = make_intake()
    led = intake.ledger
    shared, own = _files(tmp_path, shared_txt=b"same bytes", own_txt=b"only mine")
    first = intake.submit(_spec([shared, own]))
    second = intake.submit(_spec([shared]))
    shared_sha = intake.item(second.evidence_id).files[0].sha256
    own_sha = intake.item(first.evidence_id).files[1].sha256
    size_before = led.size
    p = intake.purge(first.evidence_id, "court order 2026-77", "clerk")
    assert p.deleted_blobs == (own_sha,) and p.kept_blobs == (shared_sha,)
    assert not intake.store.exists(own_sha) and intake.store.exists(shared_sha)
    item = intake.item(first.evidence_id)
    assert item.purged and item.metadata_jcs is None and item.salt is None
    assert led.size == size_before + 1
    purged = json.loads(led.entry(p.seq).data)
    assert purged["type"] == "evidence.purged"
    assert purged["body"] == {"evidence_id": first.evidence_id, "reason": "court order 2026-77",
                              "principal": "clerk",
                              "prev_custody": led.entry(first.seq).leaf_hash.hex()}
    verify_receipt(p.receipt, led.verifier, led.entry(p.seq).data)
    info = intake.show(first.evidence_id)
    assert info["status"] == "purged" and info["metadata"] is None
    assert [e["type"] for e in info["custody"]] == ["evidence.submitted", "evidence.purged"]
    # the original entry and its proof are untouched; the audit stays clean
    cp = led.sign_checkpoint_now()
    proof = led.inclusion_proof(first.seq, cp.size)
    verify_inclusion(first.seq, cp.size, proof.leaf_hash, list(proof.proof), cp.root)
    assert led.audit().ok
    with pytest.raises(AlreadyPurged):
        intake.purge(first.evidence_id, "again", "clerk")
    with pytest.raises(UnknownEvidence):
        intake.purge("ev_NOSUCHITEM", "x", "clerk")
    assert led.size == size_before + 1  # refusals append nothing
    p2 = intake.purge(second.evidence_id, "data-protection request", "clerk")
    assert p2.deleted_blobs == (shared_sha,) and not intake.store.exists(shared_sha)


def test_concurrent_double_purge_appends_one_entry(make_intake, tmp_path) -> None:
    intake = make_intake()
    res = intake.submit(_spec(_files(tmp_path, x_txt=b"x")))
    from concurrent.futures import ThreadPoolExecutor

    def go(_: int) -> str:
        try:
            intake.purge(res.evidence_id, "order", "clerk")
            return "ok"
        except AlreadyPurged:
            return "already"

    with ThreadPoolExecutor(4) as pool:
        outcomes = sorted(pool.map(go, range(4)))
    assert outcomes == ["already"] * 3 + ["ok"]
    assert intake.ledger.size == 2


# --- bad input and atomicity ------------------------------------------------------------------


def test_size_limit_on_second_file_leaves_no_entry_and_no_blob(make_intake, tmp_path) -> None:
    intake = make_intake(max_file_size=1000)
    small, big = _files(tmp_path, small_txt=b"s" * 10, big_bin=b"b" * 1001)
    with pytest.raises(SubmissionRefused) as e:
        intake.submit(_spec([small, big]))
    assert [f.file for f in e.value.failures] == [str(big)]
    assert "larger than the limit of 1000 bytes" in str(e.value)
    assert intake.ledger.size == 0 and _count(intake.ledger, evidence_items) == 0
    assert _blobs(intake.store) == set()


def test_database_failure_in_the_batch_leaves_nothing(make_intake, tmp_path, monkeypatch
                                                      ) -> None:
    intake = make_intake()
    keep = intake.submit(_spec(_files(tmp_path, old_txt=b"already preserved")))
    before = _blobs(intake.store)
    real = intake_pipeline.submitted_rows

    def broken(**kw: Any) -> list[Any]:  # a duplicate primary key: the database refuses
        rows = real(**kw)
        return [*rows, event_row(kw["evidence_id"], kw["seq"], "evidence.submitted")]

    monkeypatch.setattr(intake_pipeline, "submitted_rows", broken)
    a, b = _files(tmp_path, new_txt=b"new content", old2_txt=b"already preserved")
    with pytest.raises(Exception, match=r"(?i)unique|duplicate|integrity"):
        intake.submit(_spec([a, b]))
    assert intake.ledger.size == 1
    assert _count(intake.ledger, evidence_items) == 1
    assert _blobs(intake.store) == before  # the new blob removed, the shared one kept
    assert intake.store.exists(intake.item(keep.evidence_id).files[0].sha256)
    assert intake.ledger.audit().ok


def test_rows_hook_failure_rejects_only_its_request(make_intake) -> None:
    led = make_intake().ledger

    def bad(conn, made):  # type: ignore[no-untyped-def]
        raise ValueError("cannot build rows")

    def good(conn, made):  # type: ignore[no-untyped-def]
        return [event_row("ev_X", made[0].seq, "custody.note")]

    futs = [led.append_batch([("custody.note", {"i": i})], rows=bad if i == 1 else good)
            for i in range(3)]
    assert futs[0].result()[0].seq == 0
    with pytest.raises(AppendRejected, match="cannot build rows"):
        futs[1].result()
    assert futs[2].result()[0].seq == 1
    assert led.size == 2 and _count(led, evidence_events) == 2


def test_bad_files_each_get_a_reason(make_intake, tmp_path) -> None:
    intake = make_intake()
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    dangling = tmp_path / "gone.png"
    dangling.symlink_to(tmp_path / "nowhere")
    folder = tmp_path / "dir"
    folder.mkdir()
    good = _files(tmp_path, good_txt=b"fine")[0]
    with pytest.raises(SubmissionRefused) as e:
        intake.submit(_spec([good, empty, fifo, dangling, folder, tmp_path / "missing"]))
    reasons = {Path(f.file).name: f.reason for f in e.value.failures}
    assert reasons == {"empty.txt": "is empty (0 bytes): nothing to preserve",
                       "pipe": "is a FIFO, not a regular file",
                       "gone.png": "is a dangling symbolic link",
                       "dir": "is a directory, not a file",
                       "missing": "does not exist"}
    assert intake.ledger.size == 0 and _blobs(intake.store) == set()
    for kw, what in (({"kind": "hologram"}, "--kind"), ({"case": ""}, "--case"),
                     ({"captured_at": "yesterday"}, "--captured-at"),
                     ({"meta": {"bad key": "v"}}, "metadata")):
        with pytest.raises(SubmissionRefused) as e:
            intake.submit(_spec([good], **kw))
        assert e.value.failures[0].file == what
    assert intake.ledger.size == 0


def test_malformed_email_is_preserved_with_the_error_recorded(make_intake, tmp_path) -> None:
    intake = make_intake()
    eml = _files(tmp_path, broken_eml=b"\x00\x01 this is no mail at all")[0]
    res = intake.submit(_spec([eml], kind="email"))
    assert res.warnings and "metadata not extracted" in res.warnings[0]
    # named by the file's name only: over the API a path would show the server's spool
    assert res.warnings[0].startswith("broken.eml: ") and str(tmp_path) not in res.warnings[0]
    meta = json.loads(intake.item(res.evidence_id).metadata_jcs)
    assert meta["extraction_errors"][0]["file"] == "broken.eml"
    assert meta["extracted"]["files"] == []
    with pytest.raises(SubmissionRefused):
        intake.submit(_spec([eml], kind="email", strict_metadata=True))
    assert intake.ledger.size == 1


def test_gc_removes_old_orphans_only(make_intake, tmp_path) -> None:
    intake = make_intake()
    live = intake.submit(_spec(_files(tmp_path, live_txt=b"live")))
    purged = intake.submit(_spec(_files(tmp_path, p_txt=b"to purge")))
    intake.purge(purged.evidence_id, "order", "clerk")
    orphan = intake.store.put(__import__("io").BytesIO(b"crash left me here")).sha256
    r = intake.gc(3600)
    assert r.deleted == () and r.kept_young == 1
    r = intake.gc(0)
    assert r.deleted == (orphan,)
    assert _blobs(intake.store) == {intake.item(live.evidence_id).files[0].sha256}


def test_expand_each_reports_unusable_entries(tmp_path) -> None:
    top = tmp_path / "folder"
    (top / "sub").mkdir(parents=True)
    (top / "sub" / "a.txt").write_text("a")
    (top / "b.txt").write_text("b")
    (top / "inside-link").symlink_to(top / "b.txt")
    (top / "outside-link").symlink_to(tmp_path)
    (top / "out-file").symlink_to(Path(shutil.which("sh") or "/bin/sh"))
    (top / "dangling").symlink_to(top / "nope")
    got = {p.name: r for p, r in expand_each([top])}
    assert got["a.txt"] is None and got["b.txt"] is None and got["inside-link"] is None
    assert got["outside-link"] == "is a symbolic link to a folder: not followed"
    assert got["out-file"] == "is a symbolic link out of the folder: not followed"
    assert got["dangling"] == "is a dangling symbolic link"


def test_settings(tmp_path, monkeypatch) -> None:
    assert parse_size("4GiB") == 4 << 30 and parse_size("512k") == 512 << 10
    assert parse_size("100") == 100
    for bad in ("", "x", "-1", "0", "3 parsecs"):
        with pytest.raises(SettingsError):
            parse_size(bad)
    monkeypatch.delenv("EVIDENCE_BLOB_STORE", raising=False)
    monkeypatch.delenv("EVIDENCE_MAX_FILE_SIZE", raising=False)
    s = load_settings(tmp_path)
    assert s.blob_store == str(tmp_path / "blobs") and s.max_file_size == 4 << 30
    (tmp_path / "config.json").write_text(json.dumps(
        {"origin": "o", "blob_store": "s3://b/p?endpoint=http://h:1", "max_file_size": "1M"}))
    s = load_settings(tmp_path)
    assert s.blob_store == "s3://b/p?endpoint=http://h:1" and s.max_file_size == 1 << 20
    monkeypatch.setenv("EVIDENCE_BLOB_STORE", "elsewhere")
    assert load_settings(tmp_path).blob_store == str(tmp_path / "elsewhere")
    assert load_settings(tmp_path, blob_store="/abs").blob_store == "/abs"


# --- S3 end to end -----------------------------------------------------------------------------


@pytest.mark.s3
def test_submit_show_purge_gc_on_s3(tmp_path, s3_endpoint, s3_bucket, monkeypatch) -> None:
    from evidence.ledger.blobs import open_blob_store

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_endpoint.key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_endpoint.secret)
    store = open_blob_store(f"s3://{s3_bucket}/ev?endpoint={s3_endpoint.endpoint}")
    led = Ledger.create(tmp_path / "data", ORIGIN)
    try:
        intake = Intake(led, store, max_file_size=1 << 20)
        files = _files(tmp_path, a_txt=b"on s3", b_txt=b"second")
        res = intake.submit(_spec(files))
        verify_receipt(res.receipt, led.verifier, led.entry(res.seq).data)
        shas = [f["sha256"] for f in res.body["files"]]
        assert _blobs(store) == set(shas)
        with store.open(shas[0]) as f:
            assert f.read() == b"on s3"
        big = _files(tmp_path, big_bin=b"z" * ((1 << 20) + 1))[0]
        with pytest.raises(SubmissionRefused):
            intake.submit(_spec([_files(tmp_path, c_txt=b"third")[0], big]))
        assert _blobs(store) == set(shas) and led.size == 1
        intake.purge(res.evidence_id, "order", "clerk")
        assert _blobs(store) == set()
        assert led.audit().ok
    finally:
        led.close()
