"""A WhatsApp ZIP export's media preserved as files of the same item (issue 19, point 3;
docs/evidence-kinds.md, chat; docs/decisions.md D19).

Android and iOS exports are made here in the apps' real layout (``WhatsApp Chat with
X.txt`` + ``IMG-20260612-WA0001.jpg``; ``_chat.txt`` + ``00000012-PHOTO-...jpg``) and
submitted through :class:`Intake` and through a real ``evidence serve``: the ZIP stays
the first file, byte for byte; each medium follows with its own SHA-256, size, media
type and ``derived_from``; the chat section links the messages' attachments to them; a
replay derives the same files; the exported bundle verifies with the package, the
stand-alone script and the page; hostile archives (traversal, bombs, duplicate names,
encrypted members) are handled and nothing is written outside the blob store.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.bundle.export import export_bundle
from evidence.ledger.intake import Intake, ItemSpec, SubmissionRefused
from evidence.ledger.intake import derived as derived_mod
from evidence.ledger.log import Ledger
from evidence.verify.bundle import verify_bundle
from evidence.verify.bundle_names import safe_name
from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer
from evidence.verify.trust import parse_trust
from tests.support.api_server import Server, blobs, make_world, start_server
from tests.support.bundle_world import anchor, members
from tests.support.media import make_jpeg
from tests.support.page_runner import PageRunner
from tests.support.tsa import LocalTSA

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "verify_bundle.py"
LRM = "\u200e"

ANDROID_TEXT = (
    "12/06/2026, 10:00 - Messages and calls are end-to-end encrypted. No one outside of this "
    "chat, not even WhatsApp, can read or listen to them. Tap to learn more.\n"
    "12/06/2026, 10:00 - Acme Sales: IMG-20260612-WA0001.jpg (file attached)\n"
    "the counterfeit, front\n"
    "12/06/2026, 10:01 - 张伟: VID-20260612-WA0002.mp4 (file attached)\n"
    "12/06/2026, 10:02 - 张伟: PTT-20260612-WA0003.opus (file attached)\n"
    "12/06/2026, 10:03 - Acme Sales: Invoice June.pdf (file attached)\n"
    "12/06/2026, 10:04 - 张伟: IMG-20260612-WA0009.jpg (file attached)\n"
)
IOS_TEXT = (
    f"[12/06/2026, 10:00:00] Acme Sales: {LRM}Messages and calls are end-to-end encrypted.\n"
    f"{LRM}[12/06/2026, 10:00:00] 张伟: {LRM}<attached: 00000012-PHOTO-2026-06-12-10-00-00.jpg>\n"
    f"{LRM}[12/06/2026, 10:01:30] Acme Sales: {LRM}<attached: 00000013-Invoice 2026-06.pdf>\n"
    "[12/06/2026, 10:02:00] 张伟: 收到\n"
)
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + os.urandom(2000)
OPUS = b"OggS\x00\x02" + os.urandom(600)


def jpeg(tmp: Path, name: str = "photo.jpg") -> bytes:
    p = tmp / name
    make_jpeg(p, gps=False)
    return p.read_bytes() + os.urandom(16)  # a trailer: each photo its own content


def make_zip(path: Path, chat_name: str, text: str, media: dict[str, bytes]) -> Path:
    """As the apps write it: the chat text deflated, media stored (already compressed)."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(zipfile.ZipInfo(chat_name, (2026, 6, 12, 10, 5, 0)), text.encode(),
                    zipfile.ZIP_DEFLATED)
        for name, data in media.items():
            zf.writestr(zipfile.ZipInfo(name, (2026, 6, 12, 10, 5, 0)), data,
                        zipfile.ZIP_STORED)
    return path


def android(tmp: Path) -> tuple[Path, dict[str, bytes]]:
    media = {"IMG-20260612-WA0001.jpg": jpeg(tmp), "VID-20260612-WA0002.mp4": MP4,
             "PTT-20260612-WA0003.opus": OPUS, "Invoice June.pdf": PDF}
    return make_zip(tmp / "WhatsApp Chat with 张伟.zip", "WhatsApp Chat with 张伟.txt",
                    ANDROID_TEXT, media), media


def ios(tmp: Path) -> tuple[Path, dict[str, bytes]]:
    media = {"00000012-PHOTO-2026-06-12-10-00-00.jpg": jpeg(tmp),
             "00000013-Invoice 2026-06.pdf": PDF}
    return make_zip(tmp / "WhatsApp Chat - 张伟.zip", "_chat.txt", IOS_TEXT, media), media


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Intake, FilesystemBlobStore]]:
    led = Ledger.create(tmp_path / "data", "chat-media.example/log", checkpoint_interval=3600)
    store = FilesystemBlobStore(tmp_path / "data" / "blobs")
    yield Intake(led, store), store
    led.close()


def chat_spec(path: Path, **kw: Any) -> ItemSpec:
    return ItemSpec([path], "chat", "C-1", "acme", **kw)


def chat_section(intake: Intake, evidence_id: str) -> dict[str, Any]:
    meta = intake.show(evidence_id)["metadata"]
    return meta["extracted"]["files"][0]["chat"]


def stored_blobs(root: Path) -> set[str]:
    return {p.name for p in (root / "data" / "blobs").glob("??/??/*") if len(p.name) == 64}


# --- what the item holds ---------------------------------------------------------------------


def test_android_zip_media_are_files_of_the_item(tmp_path: Path, world) -> None:
    intake, store = world
    path, media = android(tmp_path)
    zip_bytes = path.read_bytes()
    s = intake.submit(chat_spec(path))
    files = s.body["files"]
    # the ZIP first, as submitted, byte for byte: the original
    assert files[0] == {"name": path.name, "media_type": "application/zip",
                        "size": len(zip_bytes), "sha256": sha(zip_bytes)}
    with store.open(files[0]["sha256"]) as f:
        assert f.read() == zip_bytes
    # then each medium, in archive order, with its own hash and its source
    assert [f["name"] for f in files[1:]] == list(media)
    types = {"IMG-20260612-WA0001.jpg": "image/jpeg", "VID-20260612-WA0002.mp4": "video/mp4",
             "PTT-20260612-WA0003.opus": "audio/ogg", "Invoice June.pdf": "application/pdf"}
    for f in files[1:]:
        data = media[f["name"]]
        assert f == {"name": f["name"], "media_type": types[f["name"]], "size": len(data),
                     "sha256": sha(data),
                     "derived_from": {"sha256": sha(zip_bytes), "member": f["name"]}}
        with store.open(f["sha256"]) as b:
            assert b.read() == data
    # the database's file rows and show() list them too
    shown = intake.show(s.evidence_id)["files"]
    assert [(f["name"], f["sha256"], f["stored"]) for f in shown] == [
        (f["name"], f["sha256"], True) for f in files]
    # the messages link each attachment by name and SHA-256 to the stored file
    chat = chat_section(intake, s.evidence_id)
    assert chat["format"] == "whatsapp-android"
    links = {ln["attachment"]: ln for ln in chat["archive"]["attachment_links"]}
    for name, data in media.items():
        assert links[name] == {"attachment": name, "member": name, "sha256": sha(data),
                               "file": name}
    assert links["IMG-20260612-WA0009.jpg"] == {  # named by a message, not in the archive
        "attachment": "IMG-20260612-WA0009.jpg", "member": None, "sha256": None, "file": None}
    assert all(m["stored"] for m in chat["archive"]["media_files"])
    assert chat["warnings"] == [] and s.warnings == ()


def test_ios_zip_and_a_replay_derive_the_same_files(tmp_path: Path, world) -> None:
    intake, _ = world
    path, media = ios(tmp_path)
    first = intake.submit(chat_spec(path))
    again = intake.submit(chat_spec(path))  # the same ZIP once more: a second item
    assert first.evidence_id != again.evidence_id
    assert first.body["files"] == again.body["files"]  # deterministic: same names and hashes
    names = [f["name"] for f in first.body["files"]]
    assert names == ["WhatsApp Chat - 张伟.zip", *media]
    chat = chat_section(intake, first.evidence_id)
    assert chat["format"] == "whatsapp-ios"
    assert [(ln["attachment"], ln["sha256"]) for ln in chat["archive"]["attachment_links"]] == [
        (n, sha(d)) for n, d in media.items()]


def test_prepared_then_signed_keeps_the_media(tmp_path: Path, world) -> None:
    """The deferred-signature path: the media are stored at prepare; a medium removed
    meanwhile is taken again from the ZIP when the item is appended."""
    intake, store = world
    path, media = ios(tmp_path)
    prepared = intake.prepare(chat_spec(path))
    photo = prepared.body["files"][1]
    store.delete(photo["sha256"])
    s = intake.submit_prepared(prepared)
    assert s.body["files"] == prepared.body["files"]
    with store.open(photo["sha256"]) as f:
        assert f.read() == media[photo["name"]]


def test_a_chat_text_or_a_zip_without_chat_stays_one_file(tmp_path: Path, world) -> None:
    intake, _ = world
    text = tmp_path / "WhatsApp Chat with 张伟.txt"
    text.write_text(ANDROID_TEXT, "utf-8")
    assert len(intake.submit(chat_spec(text)).body["files"]) == 1
    photos = make_zip(tmp_path / "photos.zip", "readme.md", "photos", {"a.jpg": jpeg(tmp_path)})
    assert len(intake.submit(chat_spec(photos)).body["files"]) == 1
    # the same WhatsApp ZIP as a "document": preserved as one file, not taken apart
    path, _ = android(tmp_path)
    assert len(intake.submit(ItemSpec([path], "document", "C-1", "acme")).body["files"]) == 1


# --- hostile archives --------------------------------------------------------------------------


def test_traversal_names_are_labels_never_paths(tmp_path: Path, world) -> None:
    intake, _ = world
    spool = tmp_path / "spool" / "deep"
    spool.mkdir(parents=True)
    before = {p for p in tmp_path.rglob("*")}
    evil = {"../../escaped.jpg": b"\xff\xd8\xff one", "/etc/cron.d/evil": b"* * * * * x",
            "..\\..\\win.txt": b"windows", "C:/drive.txt": b"drive",
            "sub/../../../up.exe": b"MZ program", "CON.txt": b"device"}
    path = make_zip(spool / "chat.zip", "_chat.txt", IOS_TEXT, evil)
    s = intake.submit(chat_spec(path))
    got = {f["derived_from"]["member"]: f["name"] for f in s.body["files"][1:]}
    assert got == {"../../escaped.jpg": "escaped.jpg", "/etc/cron.d/evil": "evil",
                   "..\\..\\win.txt": "win.txt", "C:/drive.txt": "drive.txt",
                   "sub/../../../up.exe": "up.exe_", "CON.txt": "_CON.txt"}
    for name in got.values():
        assert name == safe_name(name)  # the bundle stores it under this very name
    # nothing was written anywhere but the blob store (the ZIP itself and the data dir)
    new = {p for p in tmp_path.rglob("*")} - before - {path}
    outside = [p for p in new if not p.is_relative_to(tmp_path / "data")]
    assert outside == []
    assert not (tmp_path / "escaped.jpg").exists() and not Path("/etc/cron.d/evil").exists()
    assert {f["sha256"] for f in s.body["files"]} <= stored_blobs(tmp_path)


def _bomb_zip(path: Path, inflated: int) -> bytes:
    """A member of ``inflated`` zero bytes, deflated (ratio ~1000), after a photo."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("_chat.txt", IOS_TEXT.encode(), zipfile.ZIP_DEFLATED)
        zf.writestr("00000020-PHOTO-2026-06-12-10-00-00.jpg", b"\xff\xd8\xff good",
                    zipfile.ZIP_STORED)
        info = zipfile.ZipInfo("00000021-VIDEO-bomb.mp4")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as m:
            chunk = bytes(1 << 20)
            for _ in range(inflated >> 20):
                m.write(chunk)
    return path.read_bytes()


def test_a_zip_bomb_member_is_left_in_the_zip_with_a_warning(tmp_path: Path, world) -> None:
    intake, _ = world
    path = tmp_path / "bomb.zip"
    _bomb_zip(path, 64 << 20)  # 64 MiB of zeros in ~64 KiB: ratio ~1000
    s = intake.submit(chat_spec(path))
    names = [f["name"] for f in s.body["files"]]
    assert names == ["bomb.zip", "00000020-PHOTO-2026-06-12-10-00-00.jpg"]
    assert any("zip bomb" in w and "00000021-VIDEO-bomb.mp4" in w for w in s.warnings)
    with pytest.raises(SubmissionRefused, match="zip bomb"):
        intake.submit(chat_spec(path, strict_metadata=True))


def test_a_member_lying_about_its_size_is_not_stored(tmp_path: Path, world) -> None:
    """The header declares 10 bytes, the data inflates to 1 MiB: zipfile stops at the
    declared size and the CRC fails; nothing of it is stored."""
    intake, _ = world
    big = bytes(1 << 20)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("_chat.txt", IOS_TEXT.encode(), zipfile.ZIP_DEFLATED)
        zf.writestr("liar.jpg", big, zipfile.ZIP_DEFLATED)
    data = bytearray(buf.getvalue())
    # patch the declared size in the local header and the central directory
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        pos = 0
        while (pos := data.find(sig, pos)) >= 0:
            name_len = struct.unpack_from("<H", data, pos + (26 if sig == b"PK\x03\x04" else 28))[0]
            start = pos + (30 if sig == b"PK\x03\x04" else 46)
            if data[start:start + name_len] == b"liar.jpg":
                struct.pack_into("<I", data, pos + off, 10)
            pos += 4
    path = tmp_path / "liar.zip"
    path.write_bytes(bytes(data))
    before = stored_blobs(tmp_path)
    s = intake.submit(chat_spec(path))
    assert [f["name"] for f in s.body["files"]] == ["liar.zip"]
    assert any("liar.jpg" in w and "unreadable" in w for w in s.warnings)
    assert stored_blobs(tmp_path) - before == {s.body["files"][0]["sha256"]}
    assert sha(bytes(10)) not in stored_blobs(tmp_path)


def test_duplicate_names_are_kept_apart_and_ambiguous(tmp_path: Path, world) -> None:
    intake, _ = world
    a, b = b"\xff\xd8\xff first", b"\xff\xd8\xff second"
    name = "00000012-PHOTO-2026-06-12-10-00-00.jpg"
    path = tmp_path / "dups.zip"
    with zipfile.ZipFile(path, "w") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("_chat.txt", IOS_TEXT.encode())
        zf.writestr(name, a)
        zf.writestr(name, b)  # the same member name twice, another content
        zf.writestr(f"sub/{name}", a)  # another folder, the same content as the first
        zf.writestr("00000013-Invoice 2026-06.pdf", PDF)
        zf.writestr("00000013-Invoice 2026-06.pdf", PDF)  # the same name and content twice
    s = intake.submit(chat_spec(path))
    got = [(f["derived_from"]["member"], f["sha256"]) for f in s.body["files"][1:]]
    assert got == [(name, sha(a)), (name, sha(b)), (f"sub/{name}", sha(a)),
                   ("00000013-Invoice 2026-06.pdf", sha(PDF))]
    links = {ln["attachment"]: ln for ln in chat_section(intake, s.evidence_id)["archive"][
        "attachment_links"]}
    assert links[name] == {"attachment": name, "member": None, "sha256": None, "file": None,
                           "ambiguous": True}
    assert links["00000013-Invoice 2026-06.pdf"]["sha256"] == sha(PDF)


def test_encrypted_members_are_skipped_with_a_warning(tmp_path: Path, world) -> None:
    intake, _ = world
    path = tmp_path / "locked.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("_chat.txt", IOS_TEXT.encode())
        zf.writestr("00000012-PHOTO-2026-06-12-10-00-00.jpg", b"\xff\xd8\xff secret")
        zf.writestr("00000013-Invoice 2026-06.pdf", PDF)
    data = bytearray(path.read_bytes())
    target = b"00000012-PHOTO-2026-06-12-10-00-00.jpg"
    for sig, flag_off, name_off, head in ((b"PK\x03\x04", 6, 26, 30), (b"PK\x01\x02", 8, 28, 46)):
        pos = 0
        while (pos := data.find(sig, pos)) >= 0:
            n = struct.unpack_from("<H", data, pos + name_off)[0]
            if data[pos + head:pos + head + n] == target:
                struct.pack_into("<H", data, pos + flag_off,
                                 struct.unpack_from("<H", data, pos + flag_off)[0] | 1)
            pos += 4
    path.write_bytes(bytes(data))
    s = intake.submit(chat_spec(path))
    assert [f["name"] for f in s.body["files"][1:]] == ["00000013-Invoice 2026-06.pdf"]
    assert any("encrypted" in w and target.decode() in w for w in s.warnings)
    chat = chat_section(intake, s.evidence_id)
    photo = next(m for m in chat["archive"]["media_files"] if m["name"] == target.decode())
    assert photo["stored"] is False
    with pytest.raises(SubmissionRefused, match="encrypted"):
        intake.submit(chat_spec(path, strict_metadata=True))


def test_caps_on_count_and_file_size(tmp_path: Path, world, monkeypatch) -> None:
    intake, _ = world
    monkeypatch.setattr(derived_mod, "MAX_FILES", 3)
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("_chat.txt", IOS_TEXT.encode())
        for i in range(5):
            zf.writestr(f"0000001{i}-PHOTO.jpg", b"\xff\xd8\xff" + bytes([i]))
        # 4 bits of entropy a byte: deflates to about half, well within the ratio
        video = MP4[:24] + bytes(b & 0x0F for b in os.urandom(40_000))
        zf.writestr("0000009-VIDEO.mp4", video, zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 30_000
    intake.stager.max_file_size = 30_000  # the video is over it, the ZIP is not
    s = intake.submit(chat_spec(path))
    assert len(s.body["files"]) == 1 + 3
    assert any("more than 3 media" in w for w in s.warnings)
    assert any("file size limit" in w and "0000009-VIDEO.mp4" in w for w in s.warnings)


def test_a_refused_item_leaves_no_media_blobs(tmp_path: Path, world) -> None:
    """--strict-metadata refuses an item whose chat has a warning: its media blobs go
    with the ZIP's."""
    intake, _ = world
    media = {"IMG-20260612-WA0001.jpg": jpeg(tmp_path)}
    path = make_zip(tmp_path / "chat.zip", "WhatsApp Chat with X.txt",
                    "not a chat at all\n", media)  # parses to nothing: a warning
    before = stored_blobs(tmp_path)
    with pytest.raises(SubmissionRefused):
        intake.submit(chat_spec(path, strict_metadata=True))
    assert stored_blobs(tmp_path) == before


# --- the bundle: three verifiers ---------------------------------------------------------------


def _vkey(key: Any) -> str:
    return key if isinstance(key, str) else key.to_string()


@pytest.mark.tsa
def test_the_bundle_carries_the_media_and_verifies_three_ways(
        tmp_path: Path, tsa: LocalTSA, request: pytest.FixtureRequest) -> None:
    led = Ledger.create(tmp_path / "data", "chat-bundle.example/log", checkpoint_interval=3600)
    try:
        store = FilesystemBlobStore(tmp_path / "data" / "blobs")
        path, media = android(tmp_path)
        s = Intake(led, store).submit(chat_spec(path))
        size = led.sign_checkpoint_now().size
        witness = generate_signer("witness-a.example", ALG_COSIGNATURE_V1)
        anchor(led, size, tsa.url, tsa.ca_cert_pem, witness)
        out = tmp_path / "bundle.zip"
        export_bundle(led, store, s.evidence_id, out, now=datetime.now(UTC))
        root = x509.load_pem_x509_certificate(tsa.ca_cert_pem).public_bytes(Encoding.DER)
        trust = tmp_path / "trust.txt"
        trust.write_text(f"log {_vkey(led.verifier)}\n"
                         f"witness w1 {_vkey(witness.verifier())}\n"
                         "group court 1 w1\nquorum court\n"
                         f"#@ tsa local {base64.b64encode(root).decode()}\n", "utf-8")
    finally:
        led.close()
    m = members(out.read_bytes())
    # a clerk double-clicks files/<sha256>/IMG-20260612-WA0001.jpg
    for name, data in media.items():
        assert m[f"files/{sha(data)}/{name}"] == data
    assert m[f"files/{sha(path.read_bytes())}/{path.name}"] == path.read_bytes()
    # the report lists the media under the chat: attachment, file of the item, SHA-256
    text = m["report/report.txt"].decode()
    chat = text[text.index("Chat / 聊天记录"):]
    for name, data in media.items():
        assert f"attachment / 附件 {name}: file / 文件 {name}\n    SHA-256: {sha(data)}" in chat
    assert "attachment / 附件 IMG-20260612-WA0009.jpg: file / 文件 -\n" in chat
    html = m["report/report.html"].decode()
    assert "Attachment named by a message" in html and sha(media["Invoice June.pdf"]) in html

    r = verify_bundle(str(out), parse_trust(trust.read_bytes()), store_roots=())
    assert (r.verdict, next((c.name for c in r.checks if c.status == "fail"), None)) == (
        "verified", None)
    assert {f["sha256"] for f in r.files} == {f["sha256"] for f in s.body["files"]}
    p = subprocess.run([sys.executable, "-I", str(SCRIPT), str(out), "--trust", str(trust),
                        "--json"], capture_output=True, text=True, timeout=300)
    got = json.loads(p.stdout)
    assert (p.returncode, got["verdict"], got["failed_check"]) == (0, "verified", None), p.stderr
    assert len(got["files"]) == len(s.body["files"])
    page = PageRunner(request).verify(out, trust, None)
    assert page.key == ("verified", None), page.diagnostics
    assert len(page.report["files"]) == len(s.body["files"])


# --- over HTTP ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    world = make_world(tmp_path_factory.mktemp("chat-media") / "data")
    srv = start_server(world, "--rate", "1000", "--burst", "1000")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.mark.slow  # a served API and a replayed upload: seconds
def test_over_the_api_with_a_replayed_key(tmp_path: Path, server: Server) -> None:
    path, media = ios(tmp_path)
    key = f'"{uuid.uuid4()}"'

    def post() -> Any:
        with server.client("acme") as c:
            return c.post("/v1/evidence", headers={"Idempotency-Key": key},
                          data={"case": "case-a", "kind": "chat"},
                          files=[("file", (path.name, path.read_bytes(), "application/zip"))])

    first = post()
    assert first.status_code == 201, first.text
    files = first.json()["files"]
    assert [f["name"] for f in files] == [path.name, *media]
    assert [f.get("derived_from", {}).get("member") for f in files] == [None, *media]
    again = post()
    assert again.status_code == 201 and again.content == first.content
    assert {f["sha256"] for f in files} <= blobs(server)
    eid = first.json()["evidence_id"]
    with server.client("acme") as c:
        item = c.get(f"/v1/evidence/{eid}").json()
        for f in item["files"][1:]:
            got = c.get(f["url"])
            assert got.status_code == 200 and got.content == media[f["name"]]
    chat = item["metadata"]["extracted"]["files"][0]["chat"]
    assert [ln["sha256"] for ln in chat["archive"]["attachment_links"]] == [
        sha(d) for d in media.values()]
    # the spool holds nothing of it any more, and nothing was unpacked beside it
    data = server.world.data
    leftovers = [p for p in data.rglob("*") if p.is_file() and (
        p.name in media or p.name == path.name)]
    assert leftovers == []
