"""GroupedSubmitter: single-item submissions from many threads share blob flushes and
appends, with Intake.submit's results and guarantees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evidence.ledger.intake import Intake, SubmissionRefused
from evidence.ledger.intake.grouped import GroupedSubmitter
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
    assert not intake._inflight  # every hold released
    assert led.audit().ok


def test_refusals_leave_nothing_and_others_go_on(intake: Intake, tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_bytes(b"fine")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    grouped = GroupedSubmitter(intake)
    try:
        with pytest.raises(SubmissionRefused, match="empty"):
            grouped.submit(one_file_item(empty))
        with pytest.raises(SubmissionRefused, match=r"missing|not|exist"):
            grouped.submit(one_file_item(tmp_path / "missing.txt"))
        assert grouped.submit(one_file_item(good)).seq == 0
    finally:
        grouped.close()
    assert intake.ledger.size == 1
    assert not intake._inflight
    stored = {p.name for p in (tmp_path / "data" / "blobs").rglob("*") if p.is_file()}
    assert len(stored) == 1


def test_closed_submitter_refuses_and_keeps_nothing(intake: Intake, tmp_path: Path) -> None:
    p = tmp_path / "late.txt"
    p.write_bytes(b"late")
    grouped = GroupedSubmitter(intake)
    grouped.close()
    with pytest.raises(RuntimeError, match="closed"):
        grouped.submit(one_file_item(p))
    assert intake.ledger.size == 0 and not intake._inflight
    assert not [x for x in (tmp_path / "data" / "blobs").rglob("*") if x.is_file()]
