"""LINE, WeChat (PC tools' and the phone's layouts, UTF-8 and GB 18030), the generic
CSV/JSON chat form, and a WhatsApp ZIP's media tied to the messages by SHA-256 (issue 19,
point 3). Every fixture is written here in the layout the app (or the documented generic
form) uses; hostile files end in a clear error or a recorded warning, never a crash."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from evidence.ledger.intake.metadata import chat_zip, extract_metadata, file_warnings

TAB = "\t"


def facts(path: Path) -> dict[str, Any]:
    return extract_metadata("chat", [path])["files"][0]


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


# LINE for iOS, English: title, "Saved on", a blank line, date lines "YYYY/MM/DD(Day)",
# messages TIME TAB SENDER TAB TEXT, a quoted multi-line message, a notice with no sender.
LINE_IOS = (
    "\ufeff[LINE] Chat history with Acme Sales\r\n"
    "Saved on: 2026/06/13 10:20\r\n"
    "\r\n"
    "2026/06/12(Fri)\r\n"
    f"21:03{TAB}Acme Sales{TAB}Hello\r\n"
    f"21:04{TAB}张伟{TAB}\"two lines\r\n"
    "of one message\"\r\n"
    f"21:05{TAB}张伟{TAB}[Photo]\r\n"
    f"21:06{TAB}{TAB}Acme Sales unsent a message\r\n"
    "\r\n"
    "2026/06/13(Sat)\r\n"
    f"09:15{TAB}Acme Sales{TAB}[Sticker]\r\n"
)

# LINE for Android, Traditional Chinese: "Day, MM/DD/YYYY"-style date lines are English
# only; this one writes 2026/06/12（五） and 上午/下午 times.
LINE_ANDROID_ZH = (
    "[LINE] 與張偉的聊天記錄\n"
    "儲存日期：2026/06/13 10:20\n"
    "\n"
    "2026/06/12（五）\n"
    f"下午09:03{TAB}張偉{TAB}你好\n"
    f"下午09:04{TAB}Acme{TAB}[貼圖]\n"
    "\n"
    "Sat, 06/13/2026\n"
    f"上午09:15{TAB}張偉{TAB}早\n"
)


def test_line_ios_records_participants_times_and_omitted_media(tmp_path: Path) -> None:
    c = facts(write(tmp_path, "[LINE] Chat with Acme Sales.txt", LINE_IOS.encode()))["chat"]
    assert c["format"] == "line" and c["chat_name"] == "Chat history with Acme Sales"
    assert c["message_count"] == 4 and c["system_message_count"] == 1
    assert c["participants"] == [{"name": "Acme Sales", "messages": 2},
                                 {"name": "张伟", "messages": 2}]
    assert (c["first_message_at"], c["last_message_at"]) == ("2026-06-12T21:03",
                                                             "2026-06-13T09:15")
    assert c["attachments_omitted"] == 2 and c["warnings"] == []


def test_line_android_chinese_am_pm_and_month_first_dates(tmp_path: Path) -> None:
    c = facts(write(tmp_path, "line.txt", LINE_ANDROID_ZH.encode()))["chat"]
    assert c["format"] == "line" and c["message_count"] == 3
    assert (c["first_message_at"], c["last_message_at"]) == ("2026-06-12T21:03",
                                                             "2026-06-13T09:15")
    assert c["attachments_omitted"] == 1


def test_line_without_title_is_still_recognised(tmp_path: Path) -> None:
    body = LINE_IOS.split("\r\n", 3)[3]  # group exports on some versions: no title lines
    c = facts(write(tmp_path, "group.txt", body.encode()))["chat"]
    assert c["format"] == "line" and c["message_count"] == 4


def test_line_unterminated_quote_is_a_warning(tmp_path: Path) -> None:
    text = "2026/06/12(Fri)\n" + f"21:03{TAB}A{TAB}hi\n21:04{TAB}B{TAB}\"never closed\nmore\n"
    c = facts(write(tmp_path, "cut.txt", text.encode()))["chat"]
    assert c["message_count"] == 2
    assert any("inside a quoted message" in w for w in c["warnings"])


# WeChat. PC: third-party exporters (MemoTrace/WeChatMsg style TXT) write "time name" then
# the message lines. Phone: a merged chat history forwarded by e-mail, or copied out, reads
# "name time" (seconds optional), sometimes "name(time)".
WECHAT_PC = ("2026-06-12 21:03:15 张伟\n你好，样品已经寄出\n\n"
             "2026-06-12 21:04:02 Acme Sales\n[图片]\n\n"
             "2026-06-13 09:00:00 张伟\n多少钱？\n第二行\n")
WECHAT_MOBILE = ("张伟和Acme Sales的聊天记录\n\n"
                 "张伟 2026-06-12 21:03\n你好\n\n"
                 "Acme Sales 2026-06-12 21:04\n价格表见附件\n\n"
                 "张伟(2026-06-13 09:00:00)\n好的\n")


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_wechat_pc_in_utf8_and_gb18030(tmp_path: Path, encoding: str) -> None:
    c = facts(write(tmp_path, "wechat.txt", WECHAT_PC.encode(encoding)))["chat"]
    assert c["format"] == "wechat-pc" and c["encoding"] == encoding
    assert c["participants"] == [{"name": "张伟", "messages": 2},
                                 {"name": "Acme Sales", "messages": 1}]
    assert (c["first_message_at"], c["last_message_at"]) == ("2026-06-12T21:03:15",
                                                             "2026-06-13T09:00:00")
    assert c["replacement_characters"] == 0


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_wechat_mobile_layout(tmp_path: Path, encoding: str) -> None:
    c = facts(write(tmp_path, "mail.txt", WECHAT_MOBILE.encode(encoding)))["chat"]
    assert c["format"] == "wechat-mobile" and c["message_count"] == 3
    assert c["preamble_lines"] == 1  # the "... 的聊天记录" title
    assert (c["first_message_at"], c["last_message_at"]) == ("2026-06-12T21:03",
                                                             "2026-06-13T09:00")


def test_gb18030_read_as_utf8_would_be_garbage_so_it_is_detected(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 but are GB 18030 are read as GB 18030; bytes that are
    neither are read with replacement characters, counted, never a crash."""
    c = facts(write(tmp_path, "bad.txt", b"2026-06-12 21:03:15 \xff\xfe\xfd\n\x81\n"))["chat"]
    assert c["format"] in ("wechat-pc", "unknown")
    assert c["replacement_characters"] >= 1 or c["encoding"] == "gb18030"


# The generic form (docs/evidence-kinds.md): CSV with time, sender, text[, attachment].
GENERIC_CSV = ("time,sender,text,attachment\r\n"
               "2026-06-12T21:03:15+08:00,张伟,你好,\r\n"
               "2026-06-12T21:04:02+08:00,Acme Sales,\"see the photo,\r\nand the list\","
               "IMG_0001.jpg\r\n"
               "2026-06-12T21:05:00+08:00,,张伟 joined,\r\n"
               "yesterday,张伟,a time that is not ISO 8601,\r\n")


def test_generic_csv(tmp_path: Path) -> None:
    c = facts(write(tmp_path, "chat.csv", GENERIC_CSV.encode("utf-8-sig")))["chat"]
    assert c["format"] == "generic-csv"
    assert c["message_count"] == 3 and c["system_message_count"] == 1
    assert c["attachments"] == ["IMG_0001.jpg"]
    assert (c["first_message_utc"], c["last_message_utc"]) == ("2026-06-12T13:03:15Z",
                                                               "2026-06-12T13:05:00Z")
    assert any("1 message(s) with a time that is not ISO 8601" in w for w in c["warnings"])


def test_generic_csv_with_a_huge_field_is_a_warning(tmp_path: Path) -> None:
    huge = "x" * 300_000
    text = f'time,sender,text\n2026-06-12T21:03:15,A,hi\n2026-06-12T21:04:00,B,"{huge}"\n'
    c = facts(write(tmp_path, "huge.csv", text.encode()))["chat"]
    assert c["format"] == "generic-csv" and c["message_count"] >= 1
    assert c["long_lines"] == 1 or any("cannot be read" in w for w in c["warnings"])


def test_generic_json(tmp_path: Path) -> None:
    doc = {"chat_name": "Acme / 张伟", "messages": [
        {"time": "2026-06-12T21:03:15", "sender": "张伟", "text": "你好"},
        {"time": "2026-06-12T21:04:02", "sender": "Acme Sales", "text": "photo",
         "attachment": "IMG_0001.jpg"}]}
    c = facts(write(tmp_path, "chat.json", json.dumps(doc, ensure_ascii=False).encode()))
    c = c["chat"]
    assert c["format"] == "generic-json" and c["chat_name"] == "Acme / 张伟"
    assert c["message_count"] == 2 and c["attachments"] == ["IMG_0001.jpg"]
    assert (c["first_message_at"], c["last_message_at"]) == ("2026-06-12T21:03:15",
                                                             "2026-06-12T21:04:02")


def test_empty_generic_json_is_a_warning(tmp_path: Path) -> None:
    f = facts(write(tmp_path, "empty.json", b'{"messages": [], "sender": 1}'))
    assert f["chat"]["message_count"] == 0
    assert any("no messages" in w or "no chat layout" in w for w in file_warnings(f))


# WhatsApp ZIP: media tied to the messages by SHA-256; hostile members.


def test_zip_media_hashes_and_hostile_names(tmp_path: Path) -> None:
    photo = b"\xff\xd8\xff" + b"\x01" * 500
    p = tmp_path / "WhatsApp Chat.zip"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("_chat.txt", "[12/06/2026, 21:04:02] 张伟: \u200e<attached: "
                    "00000012-PHOTO-2026-06-12-21-04-02.jpg>\n".encode())
        zf.writestr("00000012-PHOTO-2026-06-12-21-04-02.jpg", photo)
        zf.writestr("../../evil.jpg", b"x")
    c = facts(p)["chat"]
    by_name = {m["name"]: m for m in c["archive"]["media_files"]}
    linked = by_name["00000012-PHOTO-2026-06-12-21-04-02.jpg"]
    assert linked["referenced"] and linked["sha256"] == hashlib.sha256(photo).hexdigest()
    assert by_name["../../evil.jpg"]["unsafe_name"] is True
    assert any("absolute path or '..'" in w for w in c["warnings"])
    assert not (tmp_path.parent / "evil.jpg").exists()


def test_zip_media_over_the_hashing_cap_are_counted_not_read(tmp_path: Path,
                                                              monkeypatch) -> None:
    monkeypatch.setattr(chat_zip, "MAX_MEDIA_HASHED", 1000)
    p = tmp_path / "bomb.zip"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("_chat.txt", "[12/06/2026, 21:04:02] A: hi\n")
        zf.writestr("big.bin", b"\x00" * (4 << 20))  # 4 MiB inflated, a few KiB stored
    c = facts(p)["chat"]
    (big,) = c["archive"]["media_files"]
    assert big["sha256"] is None and c["archive"]["media_not_hashed"] == 1
    assert any("could not be hashed" in w for w in c["warnings"])
