"""The parallel bulk import (worker processes prepare, this process appends) gives what
the in-process path gives: the same items, files, metadata and refusals, commitments
that open, and no blob or temporary file left behind, also when a worker dies or the
import is stopped early. Real SQLite ledgers, real filesystem blob stores, real worker
processes (fork and spawn)."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.intake import Intake, Submitted, expand_each
from evidence.ledger.intake.bulk import submit_each
from evidence.ledger.intake.maintenance import iter_blobs
from evidence.ledger.log import Ledger
from evidence.verify.commitment import verify_commitment
from evidence.verify.entry import parse_entry
from evidence.verify.note import generate_signer
from evidence.verify.receipt import verify_receipt
from evidence.verify.submission import verify_submission
from tests.support.media import make_jpeg, make_message

pytestmark = pytest.mark.slow  # worker processes

WHATSAPP = ("[02/01/2024, 10:11:12] Alice: offer for the fake bags\n"
            "[02/01/2024, 10:12:00] Bob: 20 pieces, shipped tomorrow\n")


def _open(where: Path) -> Intake:
    led = Ledger.create(where / "data", "bulk.example/log", checkpoint_interval=3600)
    return Intake(led, FilesystemBlobStore(where / "data" / "blobs"), max_file_size=4096)


@pytest.fixture
def intakes(tmp_path: Path) -> Iterator[tuple[Intake, Intake]]:
    """Two fresh ledgers: one for the in-process path, one for the worker processes."""
    a, b = _open(tmp_path / "seq"), _open(tmp_path / "par")
    yield a, b
    a.ledger.close()
    b.ledger.close()


def _mixed_folder(top: Path) -> Path:
    """Files of every sort --each meets, good and bad."""
    top.mkdir()
    sub = top / "sub"
    sub.mkdir()
    make_jpeg(top / "photo.jpg")
    (top / "not-a-photo.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken jpeg")
    (top / "mail.eml").write_bytes(make_message())
    (top / "chat.txt").write_text(WHATSAPP)
    (top / "same-content.txt").write_text(WHATSAPP)  # two items, one blob
    (top / "page.pdf").write_bytes(b"%PDF-1.4 not really a pdf\n")
    (top / "empty.txt").write_bytes(b"")
    (top / "too-big.bin").write_bytes(b"x" * 5000)
    (top / "dangling.png").symlink_to(top / "missing.png")
    (top / "outside.txt").symlink_to(top.parent / "elsewhere.txt")
    (top.parent / "elsewhere.txt").write_text("outside the folder\n")
    (top / "inside-link.txt").symlink_to(top / "chat.txt")
    os.mkfifo(top / "pipe")
    for i in range(40):
        (sub / f"note{i:02d}.txt").write_text(f"note {i}\n" * (1 + i % 5))
    return top


def _each(intake: Intake, top: Path, spec: dict[str, Any], **kw: Any
          ) -> tuple[dict[str, Any], dict[str, str]]:
    """What ``submit --each`` reports, by file: Submitted, or the reason it was not."""
    found = list(expand_each([top]))
    bad = {str(p): r for p, r in found if r is not None}
    ok: dict[str, Any] = {}
    for s, res in submit_each(intake, [p for p, r in found if r is None], spec, **kw):
        if isinstance(res, Submitted):
            ok[str(s.files[0])] = res
        else:
            bad[str(s.files[0])] = "; ".join(f.reason for f in res.failures) if hasattr(
                res, "failures") else str(res)
    return ok, bad


def _item_view(intake: Intake, res: Submitted) -> dict[str, Any]:
    """An item as stored, less what differs by nature between two submissions (the
    evidence id, the salt and so the commitment, the entry number and time)."""
    info = intake.show(res.evidence_id)
    assert info["commitment_opens"] is True
    assert all(f["stored"] for f in info["files"])
    entry = intake.ledger.entry(res.seq)
    verify_receipt(res.receipt, intake.ledger.verifier, entry.data)
    body = parse_entry(entry.data).body
    assert body == res.body
    verify_commitment(body["metadata_commitment"], bytes.fromhex(info["salt"]),
                      info["metadata"])
    meta = dict(info["metadata"])
    assert meta.pop("evidence_id") == res.evidence_id
    return {"files": info["files"], "kind": info["kind"], "case": info["case"],
            "principal": info["principal"], "metadata": meta,
            "warnings": list(res.warnings), "signed": "submitter" in body}


def _clean(intake: Intake) -> None:
    """Every stored blob belongs to an item; no temporary file is left."""
    store = intake.store
    assert isinstance(store, FilesystemBlobStore)
    assert os.listdir(store.root / ".tmp") == []
    with intake.ledger.engine.connect() as c:
        from sqlalchemy import select

        from evidence.ledger.evidence_store import evidence_files
        held = {r[0] for r in c.execute(select(evidence_files.c.sha256))}
    assert {sha for sha, _ in iter_blobs(store)} == held


def _same(a: Intake, b: Intake, top: Path, spec: dict[str, Any], **kw: Any) -> None:
    ok_a, bad_a = _each(a, top, spec, workers=1)
    ok_b, bad_b = _each(b, top, spec, min_parallel=0, **kw)
    assert bad_b == bad_a
    assert sorted(ok_b) == sorted(ok_a)
    for f in ok_a:
        assert _item_view(b, ok_b[f]) == _item_view(a, ok_a[f])
    _clean(a)
    _clean(b)


@pytest.mark.parametrize("kind", ["image", "email", "chat", "document"])
def test_workers_give_what_the_in_process_path_gives(intakes: tuple[Intake, Intake],
                                                     tmp_path: Path, kind: str) -> None:
    top = _mixed_folder(tmp_path / "folder")
    spec = {"kind": kind, "case": "C-9", "principal": "acme", "title": "seized",
            "meta": {"shop": "x"}, "source_url": "https://shop.example/1",
            "captured_at": "2026-01-02T03:04:05Z"}
    _same(*intakes, top, spec, workers=2)
    ok, bad = _each(intakes[1], top, spec, min_parallel=0, workers=2)
    assert len(ok) == 47 and set(map(os.path.basename, bad)) == {
        "empty.txt", "too-big.bin", "dangling.png", "outside.txt", "pipe"}


def test_submitter_signature_is_made_in_the_importing_process(
        intakes: tuple[Intake, Intake], tmp_path: Path) -> None:
    top = _mixed_folder(tmp_path / "folder")
    key = generate_signer("acme.example")
    spec = {"kind": "other", "case": "C-9", "principal": "acme", "sign_key": key}
    _same(*intakes, top, spec, workers=2)
    ok, _ = _each(intakes[1], top, spec, min_parallel=0, workers=2)
    for res in ok.values():
        body = parse_entry(intakes[1].ledger.entry(res.seq).data).body
        assert verify_submission(body, required=True).to_string() == \
            key.verifier().to_string()


def test_spawned_workers_when_another_thread_runs(intakes: tuple[Intake, Intake],
                                                  tmp_path: Path) -> None:
    """Forking next to a running thread could copy a held lock: then workers are
    spawned (a fresh interpreter each), with the same results."""
    top = _mixed_folder(tmp_path / "folder")
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        _same(*intakes, top, {"kind": "document", "case": "C", "principal": "p"},
              workers=2)
    finally:
        stop.set()
        t.join()


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b"%PDF-1.7\n", b"\x89PNG\r\n\x1a\n", b"PK\x03\x04", b"GIF89a",
                     b"From: a@b.example\r\nSubject: x\r\n\r\nhi\r\n", b"x" * 4097]),
    st.builds(bytes.__add__, st.sampled_from([b"\xff\xd8\xff", b"PK\x03\x04", b"{"]),
              st.binary(max_size=32))), min_size=1, max_size=12))
def test_property_same_outcome_file_by_file(tmp_path_factory: pytest.TempPathFactory,
                                            contents: list[bytes]) -> None:
    where = tmp_path_factory.mktemp("prop")
    top = where / "in"
    top.mkdir()
    for i, data in enumerate(contents):
        (top / f"f{i:02d}.bin").write_bytes(data)
    a, b = _open(where / "seq"), _open(where / "par")
    try:
        _same(a, b, top, {"kind": "image", "case": "C", "principal": "p"}, workers=2)
    finally:
        a.ledger.close()
        b.ledger.close()


def test_a_worker_killed_mid_import_is_replaced_by_this_process(
        intakes: tuple[Intake, Intake], tmp_path: Path) -> None:
    _, intake = intakes
    top = tmp_path / "many"
    top.mkdir()
    for i in range(600):
        (top / f"f{i:04d}.txt").write_text(f"item {i}\n")
    paths = sorted(top.iterdir())
    before = {p.pid for p in multiprocessing.active_children()}
    it = submit_each(intake, paths, {"kind": "document", "case": "C", "principal": "p"},
                     workers=2)
    # the workers are started before submit_each returns: its new children
    workers = {p.pid for p in multiprocessing.active_children()} - before
    assert len(workers) == 2
    os.kill(min(workers), signal.SIGKILL)
    results = list(it)
    assert [str(s.files[0]) for s, _ in results if not isinstance(_, Submitted)] == []
    assert sorted(str(s.files[0]) for s, _ in results) == sorted(map(str, paths))
    assert len({r.evidence_id for _, r in results}) == 600
    # what the killed worker had written is temporary files only (as after a crash):
    # no blob without an item; gc's sweep removes them
    store = intake.store
    assert isinstance(store, FilesystemBlobStore)
    store.sweep_temp(0)
    _clean(intake)


def test_stopped_early_leaves_no_blob_and_no_temporary_file(
        intakes: tuple[Intake, Intake], tmp_path: Path) -> None:
    _, intake = intakes
    top = tmp_path / "many"
    top.mkdir()
    for i in range(1000):
        (top / f"f{i:04d}.txt").write_text(f"item {i}\n")
    it = submit_each(intake, sorted(top.iterdir()),
                     {"kind": "document", "case": "C", "principal": "p"}, workers=2)
    got = [next(it) for _ in range(50)]
    it.close()  # type: ignore[attr-defined]
    assert all(isinstance(r, Submitted) for _, r in got)
    _clean(intake)  # items handed to the ledger before the stop are committed, whole
    reported = {r.evidence_id for _, r in got}
    with intake.ledger.engine.connect() as c:
        from sqlalchemy import select

        from evidence.ledger.evidence_store import evidence_items
        ids = {r[0] for r in c.execute(select(evidence_items.c.evidence_id))}
    assert reported <= ids


def test_cli_json_is_the_same_with_and_without_workers(tmp_path: Path) -> None:
    """``--workers 1`` (in this process) and the default (worker processes) print the
    same report for a folder large enough for workers."""
    from tests.support.cli_run import add_submitter, init_data_dir, run_cli

    top = tmp_path / "folder"
    top.mkdir()
    for i in range(250):
        (top / f"f{i:03d}.txt").write_text(f"note {i}\n")
    (top / "empty.txt").write_bytes(b"")
    out = {}
    for workers in ("1", "2"):
        d = init_data_dir(tmp_path / f"w{workers}")
        p = run_cli("submit", str(top), "--each", "--case", "C", "--kind", "document",
                 "--workers", workers, "--data-dir", d, "--json", "--as", add_submitter(d, "C"),
                 check=False)
        assert p.returncode == 1
        out[workers] = json.loads(p.stdout)
    for doc in out.values():
        doc["submitted"] = sorted(
            ({k: v for k, v in s.items() if k in ("file", "files", "warnings",
                                                   "signed_by_submitter")}
             for s in doc["submitted"]), key=lambda s: s["file"])
    assert out["1"] == out["2"]
    assert len(out["2"]["submitted"]) == 250 and out["2"]["ok"] is False
    assert [Path(f["file"]).name for f in out["2"]["failed"]] == ["empty.txt"]
    assert set(out["2"]) == {"ok", "submitted", "failed"}
