"""SharedFlush: single-item submissions from many threads share blob flushes and
appends, with Intake.submit's results and guarantees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evidence.ledger.intake import Intake, SubmissionRefused
from evidence.ledger.intake.shared_flush import SharedFlush
from evidence.verify.commitment import verify_commitment
from evidence.verify.receipt import verify_receipt
from tests.support.intake import one_file_item, submit_grouped


def test_concurrent_items_are_grouped_and_each_is_complete(intake: Intake, tmp_path: Path,
                                                           monkeypatch) -> None:
    flushes: list[int] = []
    real = intake.store.commit

    def counting(pending):  # type: ignore[no-untyped-def]
        flushes.append(len(pending))
        return real(pending)

    monkeypatch.setattr(intake.store, "commit", counting)
    files = []
    for i in range(64):
        p = tmp_path / f"f{i}.txt"
        p.write_bytes(f"content {i % 60}".encode())  # a few items share a blob
        files.append(p)
    done = submit_grouped(intake, files)
    led = intake.ledger
    assert sorted(d.seq for d in done) == list(range(64))
    assert sum(flushes) == 64 and len(flushes) < 64  # shared flushes
    for d, p in zip(done, files, strict=True):
        entry = led.entry(d.seq)
        verify_receipt(d.receipt, led.verifier, entry.data)
        body = json.loads(entry.data)["body"]
        assert body["evidence_id"] == d.evidence_id
        assert intake.store.open(body["files"][0]["sha256"]).read() == p.read_bytes()
        item = intake.item(d.evidence_id)
        verify_commitment(body["metadata_commitment"], item.salt, json.loads(item.metadata_jcs))
    assert not intake.holds  # every hold released
    assert led.audit().ok


def test_refusals_leave_nothing_and_others_go_on(intake: Intake, tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_bytes(b"fine")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    grouped = SharedFlush(intake)
    try:
        with pytest.raises(SubmissionRefused, match="empty"):
            grouped.submit(one_file_item(empty))
        with pytest.raises(SubmissionRefused, match=r"missing|not|exist"):
            grouped.submit(one_file_item(tmp_path / "missing.txt"))
        assert grouped.submit(one_file_item(good)).seq == 0
    finally:
        grouped.close()
    assert intake.ledger.size == 1
    assert not intake.holds
    stored = {p.name for p in (tmp_path / "data" / "blobs").rglob("*") if p.is_file()}
    assert len(stored) == 1


def test_closed_submitter_refuses_and_keeps_nothing(intake: Intake, tmp_path: Path) -> None:
    p = tmp_path / "late.txt"
    p.write_bytes(b"late")
    grouped = SharedFlush(intake)
    grouped.close()
    with pytest.raises(RuntimeError, match="closed"):
        grouped.submit(one_file_item(p))
    assert intake.ledger.size == 0 and not intake.holds
    assert not [x for x in (tmp_path / "data" / "blobs").rglob("*") if x.is_file()]


@pytest.mark.s3
def test_grouped_over_s3_stores_at_stage_and_a_refusal_leaves_nothing(
        tmp_path: Path, s3_endpoint, s3_bucket) -> None:  # type: ignore[no-untyped-def]
    """A store that does not stage locally goes through the same pipeline: its blobs are
    stored while staging (commit has nothing to do), and a refused item's are removed."""
    from evidence.ledger.blobs.s3 import S3BlobStore
    from evidence.ledger.intake import ItemSpec
    from evidence.ledger.log import Ledger

    spool = tmp_path / "spool"
    spool.mkdir()
    store = S3BlobStore(s3_bucket, s3_endpoint.endpoint, s3_endpoint.key, s3_endpoint.secret,
                        prefix="grouped", spool_dir=str(spool))
    assert not store.stages_locally
    led = Ledger.create(tmp_path / "data", "grouped.example/log", checkpoint_interval=3600)
    try:
        intake = Intake(led, store)
        files = []
        for i in range(6):
            p = tmp_path / f"s{i}.txt"
            p.write_bytes(f"on s3 {i}".encode())
            files.append(p)
        done = submit_grouped(intake, files, threads=3)
        assert sorted(d.seq for d in done) == list(range(6))
        for d, p in zip(done, files, strict=True):
            assert store.open(d.body["files"][0]["sha256"]).read() == p.read_bytes()

        fresh, empty = tmp_path / "fresh.txt", tmp_path / "empty.txt"
        fresh.write_bytes(b"stored while staging, then refused with its item")
        empty.write_bytes(b"")
        grouped = SharedFlush(intake)
        try:
            with pytest.raises(SubmissionRefused, match="empty"):
                grouped.submit(ItemSpec(files=[fresh, empty], kind="document", case="C-1",
                                        principal="acme"))
        finally:
            grouped.close()
        assert len(list(store.iter_blobs())) == 6
        assert led.size == 6 and not intake.holds
    finally:
        led.close()
