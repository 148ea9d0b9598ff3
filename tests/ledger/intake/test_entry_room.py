"""Every item's entry fits a C2SP tlog-tiles entry bundle (at most 65,535 bytes: its length
prefix is a uint16), so tiles clients can read every entry (evidence/ledger/intake/
entry_room.py).

- A WhatsApp export with more media than the entry can list keeps the rest in the ZIP,
  with a warning naming the limit; the item is preserved, its entry fits, and the tiles
  carry its entry bundle.
- An item whose submitted files alone would not fit is refused before anything is
  appended, with a message that says so and what to do; the log does not change.
- The room kept for a deferred submitter's signature is enough for one."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.intake import Intake, ItemSpec, SubmissionRefused
from evidence.ledger.intake.entry_room import ENTRY_LIMIT, SUBMITTER_ROOM, entry_size
from evidence.ledger.intake.staging import MAX_MEDIA_TYPE
from evidence.ledger.log import Ledger
from evidence.ledger.tiles import sync_tiles
from evidence.ledger.tiles_layout import MAX_BUNDLE_ENTRY
from evidence.ledger.tiles_store import FilesystemTileStore
from evidence.verify.entry import MAX_SAFE_INTEGER, parse_entry
from evidence.verify.note import generate_signer
from evidence.verify.submission import sign_submission

MEDIA = 400  # about 260 bytes of entry each: well over what 65,535 bytes can list


@pytest.fixture
def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    led = Ledger.create(tmp_path / "data", "room.example/log", checkpoint_interval=3600)
    yield led, Intake(led, FilesystemBlobStore(tmp_path / "data" / "blobs"))
    led.close()


def whatsapp_zip(path: Path, media: int) -> Path:
    lines = ["12/06/2026, 10:00 - Messages and calls are end-to-end encrypted."]
    with zipfile.ZipFile(path, "w") as z:
        for i in range(1, media + 1):
            name = f"IMG-20260612-WA{i:04d}.jpg"
            lines.append(f"12/06/2026, 10:{i % 60:02d} - Acme Sales: {name} (file attached)")
            z.writestr(name, b"\xff\xd8\xff\xe0 photo %d\xff\xd9" % i)
        z.writestr("WhatsApp Chat with Zhang Wei.txt", "\n".join(lines) + "\n")
    return path


def entry_bytes(led: Ledger, seq: int) -> bytes:
    return led.entry(seq).data


def test_media_past_what_the_entry_holds_stay_in_the_zip(world, tmp_path: Path) -> None:
    led, intake = world
    z = whatsapp_zip(tmp_path / "chat.zip", MEDIA)
    got = intake.submit(ItemSpec(files=[z], kind="chat", case="C-1", principal="acme"))
    data = entry_bytes(led, got.seq)
    body = parse_entry(data).body
    derived = [f for f in body["files"] if "derived_from" in f]
    assert 0 < len(derived) < MEDIA
    assert body["files"][0]["name"] == "chat.zip"  # the ZIP itself, byte for byte, first
    # full: the signature's room is kept, and one more medium's object (about 250 bytes)
    # would not fit beside the margins kept for the longest media type and seq
    assert len(data) <= ENTRY_LIMIT - SUBMITTER_ROOM
    margins = (MAX_MEDIA_TYPE - len("application/zip")) + (len(str(MAX_SAFE_INTEGER)) - 1)
    assert len(data) + margins + 260 > ENTRY_LIMIT - SUBMITTER_ROOM
    assert any(f"log entry is full: it holds at most {ENTRY_LIMIT} bytes" in w
               and f"{MEDIA - len(derived)} media file(s)" in w and "remain in the ZIP" in w
               for w in got.warnings), got.warnings
    # the media stored are the archive's first ones, in order
    assert [f["derived_from"]["member"] for f in derived] == [
        f"IMG-20260612-WA{i:04d}.jpg" for i in range(1, len(derived) + 1)]
    # tiles clients read it: its entry bundle is written
    cp = led.sign_checkpoint_now()
    store = FilesystemTileStore(tmp_path / "tlog")
    report = sync_tiles(led, store, checkpoint=cp, prune=False)
    assert report.size == cp.size and report.oversized == []
    bundle = (tmp_path / "tlog" / "tile" / "entries" / "000.p" / str(cp.size)).read_bytes()
    assert int.from_bytes(bundle[:2], "big") == len(data) and bundle[2:] == data


@pytest.mark.slow  # a second archive of 400 media: seconds
def test_a_signed_chat_item_fits_too(world, tmp_path: Path) -> None:
    led, intake = world
    key = generate_signer("acme.example")
    z = whatsapp_zip(tmp_path / "chat.zip", MEDIA)
    got = intake.submit(ItemSpec(files=[z], kind="chat", case="C-1", principal="acme",
                                 sign_key=key))
    data = entry_bytes(led, got.seq)
    assert "submitter" in parse_entry(data).body and len(data) <= MAX_BUNDLE_ENTRY


def test_the_room_kept_holds_a_submitters_signature(world, tmp_path: Path) -> None:
    """A deferred submission is signed after its body is made: the body it gets then must
    still fit. The largest signature object a key name of 100 characters gives is within
    the room kept."""
    key = generate_signer("n" * 100)
    body = {"evidence_id": "ev_" + "0" * 26, "kind": "chat", "metadata_commitment": "0" * 64,
            "principal": "acme", "files": [{"name": "a", "media_type": "text/plain",
                                             "size": 1, "sha256": "0" * 64}]}
    signed = {**body, "submitter": sign_submission(body["evidence_id"],
                                                   body["metadata_commitment"],
                                                   body["files"], key)}
    assert entry_size(signed) - entry_size(body) < SUBMITTER_ROOM


def test_submitted_files_that_cannot_fit_are_refused_and_nothing_changes(
        world, tmp_path: Path) -> None:
    led, intake = world
    paths = []
    for i in range(200):  # 200 names of 200 bytes: over 65,535 bytes of entry
        (p := tmp_path / (f"{i:03d}-" + "x" * 196)).write_bytes(b"file %d" % i)
        paths.append(p)
    before = led.size
    with pytest.raises(SubmissionRefused) as exc:
        intake.submit(ItemSpec(files=paths, kind="document", case="C-1", principal="acme"))
    (failure,) = exc.value.failures
    assert failure.file == "files"
    assert f"a log entry holds at most {ENTRY_LIMIT} bytes" in failure.reason
    assert "200 file(s)" in failure.reason and "several items" in failure.reason
    assert led.size == before
    # the same files in two items are preserved
    for half in (paths[:100], paths[100:]):
        got = intake.submit(ItemSpec(files=half, kind="document", case="C-1",
                                     principal="acme"))
        assert len(entry_bytes(led, got.seq)) <= MAX_BUNDLE_ENTRY
    assert led.size == before + 2


@pytest.mark.slow  # an archive of 400 media, prepared then signed: seconds
def test_a_deferred_signature_that_would_overflow_is_refused_and_the_item_waits(
        world, tmp_path: Path) -> None:
    """A deferred submission's body keeps room for an ordinary signature; a key whose name
    alone is longer than that room is refused with the limit named, nothing is appended,
    and the same prepared item is then signed with an ordinary key."""
    led, intake = world
    prepared = intake.prepare(ItemSpec(files=[whatsapp_zip(tmp_path / "chat.zip", MEDIA)],
                                       kind="chat", case="C-1", principal="acme"))
    before = led.size
    for name, fits in (("k" * 2000, False), ("acme.example", True)):
        key = generate_signer(name)
        signed = sign_submission(prepared.evidence_id, prepared.body["metadata_commitment"],
                                 prepared.body["files"], key)
        if fits:
            got = intake.submit_prepared(prepared, signed)
            assert len(entry_bytes(led, got.seq)) <= MAX_BUNDLE_ENTRY
        else:
            with pytest.raises(SubmissionRefused, match=f"at most {ENTRY_LIMIT} bytes"):
                intake.submit_prepared(prepared, signed)
            assert led.size == before
    assert led.size == before + 1
