"""Intake's public two-step submit (prepare, then submit_prepared), used by deferred
submitter signatures: real SQLite ledger, real filesystem blob store."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.intake import Intake, ItemSpec, Prepared, SubmissionRefused
from evidence.ledger.log import Ledger
from evidence.verify.commitment import verify_commitment
from evidence.verify.entry import parse_entry
from evidence.verify.note import generate_signer
from evidence.verify.submission import SubmissionSignatureError, verify_submission


@pytest.fixture
def intake(tmp_path: Path) -> Iterator[Intake]:
    led = Ledger.create(tmp_path / "data", "prepared.example/log", checkpoint_interval=3600)
    yield Intake(led, FilesystemBlobStore(tmp_path / "data" / "blobs"))
    led.close()


def _spec(tmp_path: Path, text: bytes = b"a chat export\n") -> ItemSpec:
    f = tmp_path / "chat.txt"
    f.write_bytes(text)
    return ItemSpec(files=[f], kind="document", case="C-7", principal="local:test",
                    title="exported chat")


def test_prepare_appends_nothing_then_submit_prepared_appends_it(intake: Intake,
                                                                 tmp_path: Path) -> None:
    size = intake.ledger.size
    prepared = intake.prepare(_spec(tmp_path))
    assert intake.ledger.size == size
    sha = prepared.body["files"][0]["sha256"]
    assert intake.store.exists(sha)
    # it travels as JSON (the HTTP API keeps it while the submitter signs)
    prepared = Prepared.from_json(json.loads(json.dumps(prepared.to_json())))
    done = intake.submit_prepared(prepared)
    assert intake.ledger.size == size + 1
    assert done.evidence_id == prepared.evidence_id and done.body == prepared.body
    entry = parse_entry(intake.ledger.entry(done.seq).data)
    assert entry.body == prepared.body
    assert intake.show(done.evidence_id)["commitment_opens"] is True
    verify_commitment(prepared.body["metadata_commitment"], prepared.salt,
                      json.loads(prepared.metadata_jcs))


def test_submitter_signature_made_later(intake: Intake, tmp_path: Path) -> None:
    me = generate_signer("rights-holder")
    prepared = intake.prepare(_spec(tmp_path))
    sig = base64.b64encode(me.signature(prepared.text().encode())).decode("ascii")
    good = {"key": me.verifier().to_string(), "signature": sig}

    other = generate_signer("someone-else")
    forged = {"key": other.verifier().to_string(), "signature": sig}
    size = intake.ledger.size
    with pytest.raises(SubmissionSignatureError):
        intake.submit_prepared(prepared, forged)
    assert intake.ledger.size == size  # nothing appended

    done = intake.submit_prepared(prepared, good)
    body = parse_entry(intake.ledger.entry(done.seq).data).body
    assert verify_submission(body, required=True).to_string() == me.verifier().to_string()
    assert intake.item(done.evidence_id).submitter_key == me.verifier().to_string()


def test_prepare_refuses_what_submit_refuses(intake: Intake, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(SubmissionRefused, match="empty"):
        intake.prepare(ItemSpec(files=[empty], kind="document", case="C", principal="p"))
    with pytest.raises(ValueError, match="sign_key"):
        intake.prepare(ItemSpec(files=[empty], kind="document", case="C", principal="p",
                                sign_key=generate_signer("k")))


def test_discarded_blobs_are_gone_and_a_removed_blob_comes_back_from_its_file(
        intake: Intake, tmp_path: Path) -> None:
    prepared = intake.prepare(_spec(tmp_path, b"first\n"))
    sha = prepared.body["files"][0]["sha256"]
    intake.discard_prepared(prepared)
    assert not intake.store.exists(sha)
    # appended anyway (e.g. signed after a sweep): the blob is stored again from the file
    done = intake.submit_prepared(prepared)
    assert intake.store.exists(sha)
    assert intake.show(done.evidence_id)["files"][0]["stored"] is True


def test_a_file_changed_since_prepare_is_not_appended(intake: Intake, tmp_path: Path) -> None:
    spec = _spec(tmp_path, b"original\n")
    prepared = intake.prepare(spec)
    intake.discard_prepared(prepared)
    Path(spec.files[0]).write_bytes(b"tampered\n")
    size = intake.ledger.size
    with pytest.raises(Exception, match="changed since it was prepared"):
        intake.submit_prepared(prepared)
    assert intake.ledger.size == size
