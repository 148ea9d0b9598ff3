"""Messenger exports as their apps write them: WhatsApp iOS and Android (text and ZIP with
media), Telegram Desktop (JSON and HTML). Every fixture is made here, in the app's own
layout: the sniffer must call them what they are, the chat summary must record
participants, message count, first and last time and attachments, a chat that parses to
nothing must be a recorded warning (refused with strict metadata, through the library and
over HTTP), and hostile files must end in a clear extraction error, never a crash."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from evidence.ledger.intake import Intake, ItemSpec, SubmissionRefused
from evidence.ledger.intake.metadata import (
    MetadataError,
    chat_zip,
    extract_metadata,
    file_warnings,
    jsonshape,
)
from tests.support.api_server import make_world, problem, start_server, submit

LRM = "\u200e"

# iOS "Export chat" -> "Without media": the text as _chat.txt. U+200E before the app's own
# notices and before every attachment line; the first line of a 1:1 chat has none.
WHATSAPP_IOS = (
    f"[12/06/2026, 21:00:00] Acme Sales: {LRM}Messages and calls are end-to-end encrypted. "
    "No one outside of this chat, not even WhatsApp, can read or listen to them.\n"
    "[12/06/2026, 21:03:15] 张伟: 你好，样品已经寄出\n"
    "[12/06/2026, 21:03:40] Acme Sales: Thanks. Price list:\n"
    "line two of the same message\n"
    f"{LRM}[12/06/2026, 21:04:02] 张伟: {LRM}<attached: 00000012-PHOTO-2026-06-12-21-04-02.jpg>\n"
    f"{LRM}[13/06/2026, 09:15:00] Acme Sales: {LRM}image omitted\n"
    f"{LRM}[13/06/2026, 09:16:00] 张伟: {LRM}<attached: 00000013-Invoice 2026-06.pdf>\n"
    f"[13/06/2026, 09:17:00] 张伟: {LRM}This message was deleted.\n"
    f"{LRM}[13/06/2026, 09:20:00] Acme Sales: {LRM}Missed voice call\n"
)

WHATSAPP_ANDROID = (
    "12/06/2026, 21:00 - Messages and calls are end-to-end encrypted. No one outside of this "
    "chat, not even WhatsApp, can read or listen to them. Tap to learn more.\n"
    "12/06/2026, 21:03 - 张伟: 你好\n"
    "12/06/2026, 21:04 - Acme Sales: IMG-20260612-WA0001.jpg (file attached)\n"
    "Look at this\n"
    "12/06/2026, 21:05 - 张伟: <Media omitted>\n"
    "13/06/2026, 09:00 - Acme Sales: Invoice June.pdf (file attached)\n"
    "13/06/2026, 09:01 - 张伟 joined using this group's invite link\n"
)


def telegram_json(messages: list[dict[str, Any]]) -> bytes:
    """result.json of Telegram Desktop's "Export chat history" (machine-readable JSON)."""
    return json.dumps({"name": "Acme Sales", "type": "personal_chat", "id": 4242,
                       "messages": messages}, ensure_ascii=False, indent=1).encode()


TELEGRAM_MESSAGES = [
    {"id": 1, "type": "service", "date": "2026-06-12T21:00:00", "date_unixtime": "1781290800",
     "actor": "张伟", "actor_id": "user1", "action": "phone_call", "text": "",
     "text_entities": []},
    {"id": 2, "type": "message", "date": "2026-06-12T21:03:15", "date_unixtime": "1781290995",
     "from": "张伟", "from_id": "user1", "text": "你好", "text_entities": [
         {"type": "plain", "text": "你好"}]},
    {"id": 3, "type": "message", "date": "2026-06-12T21:04:00", "date_unixtime": "1781291040",
     "from": "Acme Sales", "from_id": "user2",
     "photo": "photos/photo_1@12-06-2026_21-04-00.jpg", "width": 1280, "height": 960,
     "text": ["see ", {"type": "link", "text": "https://shop.example/x"}],
     "text_entities": []},
    {"id": 4, "type": "message", "date": "2026-06-13T09:00:00", "date_unixtime": "1781334000",
     "from": "张伟", "from_id": "user1", "file": "files/Invoice June.pdf",
     "mime_type": "application/pdf", "text": "", "text_entities": []},
    {"id": 5, "type": "message", "date": "2026-06-13T09:01:00", "date_unixtime": "1781334060",
     "from": None, "from_id": "user3", "media_type": "voice_message",
     "file": "(File not included. Change data exporting settings to download.)",
     "text": "", "text_entities": []},
]


def telegram_html(body: str) -> bytes:
    """messages.html of Telegram Desktop's "Export chat history" (human-readable HTML)."""
    return ("<!DOCTYPE html>\n<html>\n <head>\n  <meta charset=\"utf-8\"/>\n"
            "  <title>Exported Data</title>\n"
            "  <link href=\"css/style.css\" rel=\"stylesheet\"/>\n </head>\n"
            " <body onload=\"CheckLocation();\">\n  <div class=\"page_wrap\">\n"
            "   <div class=\"page_header\">\n    <div class=\"content\">\n"
            "     <div class=\"text bold\">\nAcme Sales\n     </div>\n    </div>\n   </div>\n"
            "   <div class=\"page_body chat_page\">\n    <div class=\"history\">\n"
            f"{body}"
            "    </div>\n   </div>\n  </div>\n </body>\n</html>\n").encode()


def html_message(n: int, when: str, sender: str | None, inner: str) -> str:
    joined = " joined" if sender is None else ""
    name = (f"      <div class=\"from_name\">\n{sender}\n      </div>\n" if sender else "")
    return (f"     <div class=\"message default clearfix{joined}\" id=\"message{n}\">\n"
            "      <div class=\"pull_left userpic_wrap\">\n"
            "       <div class=\"userpic userpic1\" style=\"width: 42px; height: 42px\">"
            "</div>\n      </div>\n"
            "      <div class=\"body\">\n"
            f"       <div class=\"pull_right date details\" title=\"{when}\">\n"
            f"{when[11:16]}\n       </div>\n{name}{inner}      </div>\n     </div>\n")


TELEGRAM_HTML_BODY = (
    "     <div class=\"message service\" id=\"message-1\">\n"
    "      <div class=\"body details\">\n12 June 2026\n      </div>\n     </div>\n"
    + html_message(1, "12.06.2026 21:03:15 UTC+02:00", "张伟",
                   "       <div class=\"text\">\n你好 <a href=\"https://shop.example/x\">"
                   "link</a>\n       </div>\n")
    + html_message(2, "12.06.2026 21:03:40 UTC+02:00", None,
                   "       <div class=\"text\">\nsecond message, same sender\n"
                   "       </div>\n")
    + html_message(3, "12.06.2026 21:04:00 UTC+02:00", "Acme Sales",
                   "       <div class=\"media_wrap clearfix\">\n"
                   "        <a class=\"photo_wrap clearfix pull_left\" "
                   "href=\"photos/photo_1@12-06-2026_21-04-00.jpg\">"
                   "<img class=\"photo\" src=\"photos/photo_1@12-06-2026_21-04-00_thumb.jpg\"/>"
                   "</a>\n       </div>\n"
                   "       <div class=\"forwarded body\">\n"
                   "        <div class=\"from_name\">\nSomeone Else\n        </div>\n"
                   "        <div class=\"text\">\nforwarded text\n        </div>\n"
                   "       </div>\n")
    + "     <div class=\"message service\" id=\"message4\">\n"
      "      <div class=\"body details\">\nAcme Sales invited 李娜\n      </div>\n     </div>\n"
    + html_message(5, "13.06.2026 09:00:00 UTC+02:00", "张伟",
                   "       <div class=\"media_wrap clearfix\">\n"
                   "        <div class=\"media clearfix pull_left media_voice_message\">\n"
                   "         <div class=\"body\">\n"
                   "          <div class=\"title bold\">\nVoice message\n          </div>\n"
                   "          <div class=\"status details\">\nNot included, change data "
                   "exporting settings to download.\n          </div>\n"
                   "         </div>\n        </div>\n       </div>\n")
)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def facts(path: Path) -> dict[str, Any]:
    return extract_metadata("chat", [path])["files"][0]


def whatsapp_zip(tmp_path: Path, name: str, chat_name: str, text: str,
                 media: dict[str, bytes]) -> Path:
    p = tmp_path / name
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(chat_name, text.encode())
        for member, data in media.items():
            zf.writestr(member, data)
    return p


# -- the sniffer -----------------------------------------------------------------------


@pytest.mark.parametrize("repeat", [1, 200])  # inside the sniffed head, and far past it
def test_whatsapp_exports_are_text_not_json(tmp_path: Path, repeat: int) -> None:
    for name, text in (("_chat.txt", WHATSAPP_IOS), ("WhatsApp Chat with 张伟.txt",
                                                      WHATSAPP_ANDROID)):
        f = facts(write(tmp_path, name, (text * repeat).encode()))
        assert f["media_type"] == "text/plain", name
        assert f["chat"]["format"] in ("whatsapp-ios", "whatsapp-android")
        assert f["chat"]["message_count"] > 0 and f["chat"]["warnings"] == []


@pytest.mark.parametrize(("content", "expected"), [
    (b'{"log": {"version": "1.2", "entries": []}}', "application/json"),
    (b"[1, 2, 3]\n", "application/json"),
    (b"[INFO] service started\n[WARN] disk low\n", "text/plain"),
    (b"[1/2/24, 9:05:11 PM] Bob: hi\n", "text/plain"),
    (b"{not json at all}\n", "text/plain"),
    (b"[" * 9000, "text/plain"),  # deep nesting past the head: parsed, not JSON, no crash
    (b'{"a": [' + b"1, " * 5000 + b"2]}", "application/json"),  # confirmed past the head
    (b'{"a": [' + b"1, " * 5000 + b"2]} trailing", "text/plain"),
    (b'{"a": "' + b"x" * 9000 + b'\xff"}', "text/plain"),  # invalid UTF-8 past the head
])
def test_json_only_if_it_parses(tmp_path: Path, content: bytes, expected: str) -> None:
    p = write(tmp_path, "upload.bin", content)
    assert extract_metadata("other", [p])["files"][0]["media_type"] == expected


@pytest.mark.slow  # seconds, not milliseconds: the full run only
def test_json_check_bounds_a_huge_file_to_its_prefix(tmp_path: Path) -> None:
    big = b'{"messages": [' + b'{"id": 1, "type": "message"}, ' * (
        jsonshape.CONFIRM_BYTES // 28 + 10)
    p = write(tmp_path, "result.json", big + b"{}]}")
    assert extract_metadata("other", [p])["files"][0]["media_type"] == "application/json"
    assert jsonshape.check(big.decode(), complete=False)
    assert not jsonshape.check(big.decode(), complete=True)


# -- WhatsApp text ---------------------------------------------------------------------


def test_whatsapp_ios_records_participants_times_and_attachments(tmp_path: Path) -> None:
    c = facts(write(tmp_path, "_chat.txt", WHATSAPP_IOS.encode()))["chat"]
    assert c["format"] == "whatsapp-ios" and c["date_order"] == "dmy"
    # the encryption notice and the missed call are the app's, though under a name
    assert (c["message_count"], c["system_message_count"]) == (6, 2)
    assert c["participants"] == [{"name": "张伟", "messages": 4},
                                 {"name": "Acme Sales", "messages": 2}]
    assert (c["first_message_at"], c["last_message_at"]) == ("2026-06-12T21:00:00",
                                                              "2026-06-13T09:20:00")
    assert c["first_message_utc"] is None  # the export states no zone
    assert c["attachments"] == ["00000012-PHOTO-2026-06-12-21-04-02.jpg",
                                "00000013-Invoice 2026-06.pdf"]
    assert c["attachments_omitted"] == 1 and c["warnings"] == []


def test_whatsapp_android_records_participants_times_and_attachments(tmp_path: Path) -> None:
    c = facts(write(tmp_path, "WhatsApp Chat with 张伟.txt", WHATSAPP_ANDROID.encode()))["chat"]
    assert c["format"] == "whatsapp-android" and c["date_order"] == "dmy"
    assert (c["message_count"], c["system_message_count"]) == (4, 2)
    assert c["participants"] == [{"name": "张伟", "messages": 2},
                                 {"name": "Acme Sales", "messages": 2}]
    assert (c["first_message_at"], c["last_message_at"]) == ("2026-06-12T21:00",
                                                              "2026-06-13T09:01")
    assert c["attachments"] == ["IMG-20260612-WA0001.jpg", "Invoice June.pdf"]
    assert c["attachments_omitted"] == 1


def test_huge_line_and_invalid_utf8_are_read_bounded(tmp_path: Path) -> None:
    data = (WHATSAPP_ANDROID.encode() + b"12/06/2026, 21:06 - Acme Sales: " + b"A" * 3_000_000
            + b"\n12/06/2026, 21:07 - Acme Sales: \xff\xfe broken\n")
    c = facts(write(tmp_path, "WhatsApp Chat.txt", data))["chat"]
    assert c["message_count"] == 6 and c["long_lines"] == 1
    assert c["replacement_characters"] == 2
    assert any("read only in part" in w for w in c["warnings"])


# -- Telegram --------------------------------------------------------------------------


def test_telegram_json_records_everything(tmp_path: Path) -> None:
    f = facts(write(tmp_path, "result.json", telegram_json(TELEGRAM_MESSAGES)))
    c = f["chat"]
    assert f["media_type"] == "application/json"
    assert (c["format"], c["chat_name"], c["chat_type"]) == ("telegram-json", "Acme Sales",
                                                             "personal_chat")
    assert (c["message_count"], c["system_message_count"]) == (4, 1)
    assert c["participants"] == [{"name": "张伟", "messages": 2},
                                 {"name": "Acme Sales", "messages": 1},
                                 {"name": "user3", "messages": 1}]  # a deleted account
    assert (c["first_message_at"], c["last_message_at"]) == ("2026-06-12T21:00:00",
                                                              "2026-06-13T09:01:00")
    assert (c["first_message_utc"], c["last_message_utc"]) == ("2026-06-12T19:00:00Z",
                                                                "2026-06-13T07:01:00Z")
    assert c["attachments"] == ["photos/photo_1@12-06-2026_21-04-00.jpg",
                                "files/Invoice June.pdf"]
    assert c["attachments_omitted"] == 1 and c["warnings"] == []


def test_telegram_account_export_sums_its_chats(tmp_path: Path) -> None:
    doc = {"about": "Here is the data you requested.",
           "chats": {"about": "...", "list": [
               {"name": "A", "type": "personal_chat", "id": 1, "messages": TELEGRAM_MESSAGES},
               {"name": "B", "type": "private_group", "id": 2,
                "messages": TELEGRAM_MESSAGES[1:3]}]}}
    c = facts(write(tmp_path, "result.json", json.dumps(doc).encode()))["chat"]
    assert (c["format"], c["chat_type"], c["chat_count"]) == ("telegram-json", "account", 2)
    assert c["message_count"] == 6


def test_telegram_html_records_everything(tmp_path: Path) -> None:
    f = facts(write(tmp_path, "messages.html", telegram_html(TELEGRAM_HTML_BODY)))
    c = f["chat"]
    assert f["media_type"] == "text/html"
    assert (c["format"], c["chat_name"]) == ("telegram-html", "Acme Sales")
    # the date separator is not counted; the invitation is
    assert (c["message_count"], c["system_message_count"]) == (4, 1)
    # a joined message is its predecessor's sender's; a forwarded name is not a sender
    assert c["participants"] == [{"name": "张伟", "messages": 3},
                                 {"name": "Acme Sales", "messages": 1}]
    assert (c["first_message_at"], c["last_message_at"]) == ("2026-06-12T21:03:15",
                                                              "2026-06-13T09:00:00")
    assert (c["first_message_utc"], c["last_message_utc"]) == ("2026-06-12T19:03:15Z",
                                                                "2026-06-13T07:00:00Z")
    assert c["attachments"] == ["photos/photo_1@12-06-2026_21-04-00.jpg"]
    assert c["attachments_omitted"] == 1 and c["warnings"] == []


def test_unterminated_html_markup_stops_with_a_warning(tmp_path: Path) -> None:
    data = telegram_html(html_message(1, "12.06.2026 21:03:15", "A", "")) + (
        b"<div class=\"" + b"x" * 2_000_000)
    c = facts(write(tmp_path, "messages.html", data))["chat"]
    assert c["message_count"] == 1
    assert any("unterminated" in w for w in c["warnings"])


def test_markup_html_parser_rejects_stops_with_a_warning(tmp_path: Path) -> None:
    data = telegram_html(html_message(1, "12.06.2026 21:03:15", "A", "") + "<![ifNot included\n")
    c = facts(write(tmp_path, "messages.html", data))["chat"]
    assert c["message_count"] == 1
    assert any("cannot read" in w for w in c["warnings"])


@pytest.mark.parametrize(("content", "reason"), [
    (b'{"messages": ' + b"[" * 200_000 + b"]" * 200_000 + b"}", "brackets"),
    (b'{"messages": [' + b'{"a": ' * 3000 + b"1" + b"}" * 3000 + b"]" + b" " * 200_000 + b"}",
     "nested too deeply"),
    (b'{"messages": [{"type": "message", "from": "A"', "not valid JSON"),
    (b'{"messages": ["\xff\xfe"]}', "not valid JSON"),
])
def test_hostile_json_is_a_clear_extraction_error(tmp_path: Path, content: bytes,
                                                  reason: str) -> None:
    with pytest.raises(MetadataError) as e:
        facts(write(tmp_path, "result.json", content))
    assert reason in str(e.value) and "could not be analysed" not in str(e.value)


# -- WhatsApp ZIP with media -----------------------------------------------------------


def test_whatsapp_ios_zip_lists_media_and_links_them(tmp_path: Path) -> None:
    photo, audio = b"\xff\xd8\xff" + b"\x00" * 100, b"OggS" + b"\x00" * 50
    p = whatsapp_zip(tmp_path, "WhatsApp Chat - 张伟.zip", "_chat.txt", WHATSAPP_IOS, {
        "00000012-PHOTO-2026-06-12-21-04-02.jpg": photo,
        "00000099-AUDIO-2026-06-14-10-00-00.opus": audio})
    f = facts(p)
    c = f["chat"]
    assert f["media_type"] == "application/zip"
    assert c["format"] == "whatsapp-ios" and c["message_count"] == 6
    assert c["archive"] == {
        "chat_member": "_chat.txt",
        "media_files": [
            {"name": "00000012-PHOTO-2026-06-12-21-04-02.jpg", "size": 103, "referenced": True,
             "sha256": hashlib.sha256(photo).hexdigest(), "unsafe_name": False},
            {"name": "00000099-AUDIO-2026-06-14-10-00-00.opus", "size": 54,
             "referenced": False, "sha256": hashlib.sha256(audio).hexdigest(),
             "unsafe_name": False}],
        "media_truncated": False,
        "media_not_hashed": 0,
        "attachments_missing": ["00000013-Invoice 2026-06.pdf"]}


def test_whatsapp_android_zip(tmp_path: Path) -> None:
    p = whatsapp_zip(tmp_path, "WhatsApp Chat with 张伟.zip", "WhatsApp Chat with 张伟.txt",
                     WHATSAPP_ANDROID, {"IMG-20260612-WA0001.jpg": b"\xff\xd8\xff",
                                        "Invoice June.pdf": b"%PDF-1.7\n"})
    c = facts(p)["chat"]
    assert c["format"] == "whatsapp-android"
    assert c["archive"]["chat_member"] == "WhatsApp Chat with 张伟.txt"
    assert all(m["referenced"] for m in c["archive"]["media_files"])
    assert c["archive"]["attachments_missing"] == []


def test_zip_without_chat_text_is_a_warning(tmp_path: Path) -> None:
    p = whatsapp_zip(tmp_path, "photos.zip", "a.jpg", "x", {"b.jpg": b"y"})
    f = facts(p)
    assert f["chat"]["format"] == "unknown" and f["chat"]["message_count"] == 0
    assert any("without a WhatsApp chat text" in w for w in file_warnings(f))


def test_zip_bomb_is_read_only_to_the_cap(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(chat_zip, "MAX_CHAT_TEXT", 1 << 20)
    line = b"12/06/2026, 21:03 - A: " + b"x" * 100 + b"\n"
    p = tmp_path / "bomb.zip"
    with (zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf,
          zf.open("_chat.txt", "w") as out):
        for _ in range((8 << 20) // len(line)):  # 8 MiB inflated, a few KiB stored
            out.write(line)
    assert p.stat().st_size < 200_000
    c = facts(p)["chat"]
    assert 0 < c["message_count"] <= (1 << 20) // len(line) + 1
    assert any("only the first" in w for w in c["warnings"])


def test_broken_zip_is_a_clear_extraction_error(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("_chat.txt", WHATSAPP_IOS * 50)
    data = bytearray(buf.getvalue())
    data[60:200] = b"\x00" * 140  # damage the compressed text
    with pytest.raises(MetadataError) as e:
        facts(write(tmp_path, "chat.zip", bytes(data)))
    assert "cannot be read" in str(e.value) and "could not be analysed" not in str(e.value)


# -- a chat that parses to nothing -----------------------------------------------------


def _spec(path: Path, **kw: Any) -> ItemSpec:
    return ItemSpec(files=[path], kind="chat", case="C-1", principal="acme", **kw)


def test_empty_telegram_export_is_recorded_and_refused_when_strict(intake: Intake,
                                                                    tmp_path: Path) -> None:
    p = write(tmp_path, "result.json", telegram_json([]))
    res = intake.submit(_spec(p))
    assert res.warnings and "no messages were found" in res.warnings[0]
    meta = json.loads(intake.item(res.evidence_id).metadata_jcs)
    assert meta["extraction_errors"] == [{"file": "result.json", "reason": (
        "no messages were found in this telegram-json export: the file is preserved, "
        "but its summary is empty")}]
    assert meta["extracted"]["files"][0]["chat"]["message_count"] == 0  # facts still kept
    size = intake.ledger.size
    with pytest.raises(SubmissionRefused) as e:
        intake.submit(_spec(p, strict_metadata=True))
    assert "no messages were found" in str(e.value)
    assert intake.ledger.size == size
    clean = intake.submit(_spec(write(tmp_path, "ok.json", telegram_json(TELEGRAM_MESSAGES)),
                                strict_metadata=True))
    assert clean.warnings == ()


@pytest.mark.slow  # a served API: out of the quick lane
def test_strict_metadata_over_http(tmp_path: Path) -> None:
    srv = start_server(make_world(tmp_path / "data"))
    try:
        empty = [("result.json", telegram_json([]))]
        r = submit(srv, kind="chat", files=empty, strict_metadata="true")
        assert "no messages were found" in problem(r, 422, "submission-refused")["detail"]
        problem(submit(srv, kind="chat", files=empty, strict_metadata="maybe"), 422,
                "invalid-input")
        r = submit(srv, kind="chat", files=empty)
        assert r.status_code == 201, r.text
        assert any("no messages were found" in w for w in r.json()["warnings"])
    finally:
        srv.stop()
