"""Metadata extraction per evidence kind. Every input file is generated here, by the same
kind of software that produces real evidence (Pillow, pypdf, dkimpy, zipfile)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence.ledger.intake import (
    KINDS,
    SCHEMA,
    MetadataError,
    UnknownKind,
    extract_metadata,
)
from evidence.ledger.intake.metadata import chat as chatmod
from evidence.ledger.intake.metadata import safezip
from tests.support.media import DOMAIN, make_jpeg, make_message


def one(kind: str, path: Path, **kw: Any) -> dict[str, Any]:
    """Extract one file and check the result is JSON- and JCS-serialisable."""
    result = extract_metadata(kind, [path], **kw)
    assert result["schema"] == SCHEMA and result["kind"] == kind
    json.dumps(result, allow_nan=False)
    rfc8785.dumps(result)
    (facts,) = result["files"]
    return facts


# -- general -------------------------------------------------------------------------


def test_unknown_kind(tmp_path: Path) -> None:
    with pytest.raises(UnknownKind, match="hologram"):
        extract_metadata("hologram", [])


def test_basic_facts_for_every_kind(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_bytes(b"plain words\n")
    for kind in ("web", "video", "audio", "other", "document"):
        assert one(kind, p) == {
            "name": "notes.txt", "size": 12,
            "sha256": hashlib.sha256(b"plain words\n").hexdigest(),
            "media_type": "text/plain", "media_type_by_extension": "text/plain",
        }


def test_unreadable_files_are_reported_per_file(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    with pytest.raises(MetadataError) as err:
        extract_metadata("other", [tmp_path / "missing.png", tmp_path / "dir"])
    names = [p.file for p in err.value.problems]
    assert names == ["missing.png", "dir"]
    assert "missing.png: cannot be read" in str(err.value)
    assert "dir: is a directory" in str(err.value)


@pytest.mark.parametrize(
    ("name", "content", "media_type"),
    [
        ("clip.mp4", b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", "video/mp4"),
        ("clip.mov", b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", "video/quicktime"),
        ("voice.wav", b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wav"),
        ("song.mp3", b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg"),
        ("voice.ogg", b"OggS\x00\x02", "audio/ogg"),
        ("v.webm", b"\x1aE\xdf\xa3\x9fB\x86\x81\x01", "video/webm"),
        ("page.html", b"\xef\xbb\xbf  <!DOCTYPE html><html><title>x</title>", "text/html"),
        ("page.mhtml", b"From: <Saved by Blink>\r\nMIME-Version: 1.0\r\n"
         b"Content-Type: multipart/related;\r\n\ttype=\"text/html\"\r\n\r\n", "multipart/related"),
        ("crawl.warc", b"WARC/1.1\r\nWARC-Type: warcinfo\r\n", "application/warc"),
        ("capture.har", b'{\n  "log": {"version": "1.2"}}', "application/json"),
        ("blob.bin", bytes(range(256)), "application/octet-stream"),
        ("report.pdf", b"%PDF-1.7\n", "application/pdf"),
        ("fake.jpg", b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
    ],
)
def test_media_type_from_magic_bytes(tmp_path: Path, name: str, content: bytes,
                                     media_type: str) -> None:
    p = tmp_path / name
    p.write_bytes(content)
    facts = one("other", p)
    assert facts["media_type"] == media_type
    if name == "fake.jpg":  # the name's claim is kept apart from the content's fact
        assert facts["media_type_by_extension"] == "image/jpeg"


def test_result_has_no_submitter_claims(tmp_path: Path) -> None:
    p = tmp_path / "x.txt"
    p.write_text("hi")
    result = extract_metadata("other", [p])
    assert set(result) == {"schema", "kind", "files"}


# -- images and screenshots ------------------------------------------------------------


def test_jpeg_with_exif(tmp_path: Path) -> None:
    p = tmp_path / "photo.jpg"
    make_jpeg(p)
    img = one("image", p)["image"]
    assert (img["format"], img["width"], img["height"]) == ("JPEG", 64, 48)
    assert img["exif_present"] is True
    assert img["datetime_original"] == {
        "raw": "2024:01:02 10:11:12", "local": "2024-01-02T10:11:12",
        "offset": "+08:00", "rfc3339": "2024-01-02T10:11:12+08:00",
    }
    assert img["datetime"]["local"] == "2024-01-03T09:00:00"
    assert img["datetime"]["rfc3339"] is None  # no OffsetTime: no zone is invented
    assert (img["make"], img["model"], img["software"]) == ("Canon", "EOS R5", "Firmware 1.0")
    assert img["gps"] == {"present": True, "latitude": -33.865, "longitude": -151.21,
                          "altitude_m": 12.5}


def test_jpeg_without_gps(tmp_path: Path) -> None:
    p = tmp_path / "photo.jpg"
    make_jpeg(p, gps=False)
    gps = one("screenshot", p)["image"]["gps"]
    assert gps == {"present": False, "latitude": None, "longitude": None, "altitude_m": None}


def test_png_screenshot_without_exif(tmp_path: Path) -> None:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Software", "Snipping Tool")
    info.add_itxt("Description", "截图 2024")
    p = tmp_path / "截图.png"
    Image.new("RGBA", (1920, 1080)).save(p, "PNG", pnginfo=info)
    facts = one("screenshot", p)
    img = facts["image"]
    assert facts["name"] == "截图.png" and facts["media_type"] == "image/png"
    assert (img["format"], img["width"], img["height"]) == ("PNG", 1920, 1080)
    assert img["exif_present"] is False and img["datetime_original"] is None
    assert img["text"] == {"Software": "Snipping Tool", "Description": "截图 2024"}


def test_broken_exif_is_a_metadata_error(tmp_path: Path) -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "JPEG")
    jpeg = buf.getvalue()
    segment = b"Exif\x00\x00" + b"garbage!" * 4
    app1 = b"\xff\xe1" + (len(segment) + 2).to_bytes(2, "big") + segment
    p = tmp_path / "broken.jpg"
    p.write_bytes(jpeg[:2] + app1 + jpeg[2:])
    with pytest.raises(MetadataError, match=r"broken\.jpg: EXIF"):
        extract_metadata("image", [p])


def test_not_an_image(tmp_path: Path) -> None:
    p = tmp_path / "shot.png"
    p.write_bytes(b"this is text, not a PNG")
    with pytest.raises(MetadataError, match=r"shot\.png: is not an image"):
        extract_metadata("screenshot", [p])


def test_truncated_image_is_an_error_not_a_crash(tmp_path: Path) -> None:
    src = tmp_path / "photo.jpg"
    make_jpeg(src)
    p = tmp_path / "cut.jpg"
    p.write_bytes(src.read_bytes()[:40])
    with pytest.raises(MetadataError, match=r"cut\.jpg"):
        extract_metadata("image", [p])


# -- e-mail and DKIM -------------------------------------------------------------------

SELECTOR = "court2024"
KEY_NAME = f"{SELECTOR}._domainkey.{DOMAIN}"


@pytest.fixture(scope="module")
def rsa_key() -> tuple[bytes, bytes]:
    """(private key PEM, DNS TXT record) for a freshly generated 2048-bit RSA key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(spki)


def sign(message: bytes, pem: bytes) -> bytes:
    import dkim

    sig = dkim.sign(message, SELECTOR.encode(), DOMAIN.encode(), pem,
                    include_headers=[b"from", b"to", b"cc", b"subject", b"date", b"message-id"])
    return sig + message


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    from dkim import dnsplug

    def refuse(*a: Any, **kw: Any) -> None:
        raise AssertionError("a DNS lookup was made without permission")

    monkeypatch.setattr(dnsplug, "get_txt", refuse)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_email_headers_and_attachments(tmp_path: Path, no_network: None) -> None:
    p = write(tmp_path, "mail.eml", make_message())
    facts = one("email", p)
    assert facts["media_type"] == "message/rfc822"
    e = facts["email"]
    assert e["from"] == [{"name": "李雷", "address": "li.lei@example.com"}]
    assert [a["address"] for a in e["to"]] == ["legal@rights-holder.example", "bob@example.org"]
    assert e["cc"] == [{"name": None, "address": "carol@example.net"}]
    assert e["subject"] == "侵权样品 / infringing samples"
    assert e["date"] == "2024-03-05T14:30:00+08:00"
    assert e["message_id"].endswith(f"@{DOMAIN}>")
    assert e["received_count"] == 2
    assert e["attachments"] == [{
        "filename": "价格表.pdf", "media_type": "application/pdf",
        "size": len(b"%PDF-1.4 fake price list"),
        "sha256": hashlib.sha256(b"%PDF-1.4 fake price list").hexdigest(),
    }]
    assert e["dkim"] == {"result": "none", "signatures": []}


def test_dkim_pass_offline(tmp_path: Path, rsa_key: tuple[bytes, bytes], no_network: None) -> None:
    pem, record = rsa_key
    p = write(tmp_path, "signed.eml", sign(make_message(), pem))
    dkim = one("email", p, dns_records={KEY_NAME: record})["email"]["dkim"]
    assert dkim["result"] == "pass"
    (sig,) = dkim["signatures"]
    assert (sig["domain"], sig["selector"], sig["algorithm"]) == (DOMAIN, SELECTOR, "rsa-sha256")
    assert sig["key_source"] == "supplied" and sig["key_name"] == KEY_NAME
    assert sig["key_record"] == record.decode()
    assert "subject" in sig["signed_headers"] and sig["signed_at"].endswith("+00:00")


def test_dkim_record_as_zone_file_text(tmp_path: Path, rsa_key: tuple[bytes, bytes],
                                       no_network: None) -> None:
    pem, record = rsa_key
    half = len(record) // 2
    zone_text = f'"{record[:half].decode()}" "{record[half:].decode()}"'
    p = write(tmp_path, "signed.eml", sign(make_message(), pem))
    dkim = one("email", p, dns_records={KEY_NAME.upper() + ".": zone_text})["email"]["dkim"]
    assert dkim["result"] == "pass"


def test_dkim_tampered_body_fails(tmp_path: Path, rsa_key: tuple[bytes, bytes],
                                  no_network: None) -> None:
    pem, record = rsa_key
    signed = sign(make_message(), pem)
    tampered = signed.replace(b"Please see the attached", b"Please see the amended")
    assert tampered != signed
    p = write(tmp_path, "tampered.eml", tampered)
    dkim = one("email", p, dns_records={KEY_NAME: record})["email"]["dkim"]
    assert dkim["result"] == "fail"
    assert "body hash" in dkim["signatures"][0]["reason"]


def test_dkim_tampered_header_fails(tmp_path: Path, rsa_key: tuple[bytes, bytes],
                                    no_network: None) -> None:
    pem, record = rsa_key
    signed = sign(make_message(), pem)
    tampered = signed.replace(b"carol@example.net", b"dave@example.net")
    p = write(tmp_path, "tampered.eml", tampered)
    assert one("email", p, dns_records={KEY_NAME: record})["email"]["dkim"]["result"] == "fail"


def test_dkim_without_key_is_key_unavailable(tmp_path: Path, rsa_key: tuple[bytes, bytes],
                                            no_network: None) -> None:
    pem, _ = rsa_key
    p = write(tmp_path, "signed.eml", sign(make_message(), pem))
    dkim = one("email", p)["email"]["dkim"]
    assert dkim["result"] == "key-unavailable"
    sig = dkim["signatures"][0]
    assert sig["key_record"] is None and sig["domain"] == DOMAIN
    assert "DNS lookups not allowed" in sig["reason"]


def test_dkim_wrong_key_fails(tmp_path: Path, rsa_key: tuple[bytes, bytes],
                              no_network: None) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem, _ = rsa_key
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    spki = other.public_bytes(serialization.Encoding.DER,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    p = write(tmp_path, "signed.eml", sign(make_message(), pem))
    dkim = one("email", p, dns_records={KEY_NAME: b"v=DKIM1; k=rsa; p=" + base64.b64encode(spki)})
    assert dkim["email"]["dkim"]["result"] == "fail"


def test_dkim_online_only_when_allowed(tmp_path: Path, rsa_key: tuple[bytes, bytes],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from dkim import dnsplug

    pem, record = rsa_key
    asked: list[str] = []

    def fake_dns(name: str, timeout: int = 5) -> bytes:
        asked.append(name)
        return record

    monkeypatch.setattr(dnsplug, "get_txt", fake_dns)
    p = write(tmp_path, "signed.eml", sign(make_message(), pem))
    assert one("email", p)["email"]["dkim"]["result"] == "key-unavailable"
    assert asked == []
    sig = one("email", p, allow_dns=True)["email"]["dkim"]["signatures"][0]
    assert (sig["result"], sig["key_source"]) == ("pass", "dns")
    assert asked == [KEY_NAME + "."]


@pytest.mark.parametrize(
    "content",
    [b"\x89PNG\r\n\x1a\n\x00\x00\x00binary", b"just some words\nwith no headers at all\n", b""],
    ids=["binary", "no-headers", "empty"],
)
def test_malformed_eml(tmp_path: Path, content: bytes) -> None:
    p = write(tmp_path, "bad.eml", content)
    with pytest.raises(MetadataError, match=r"bad\.eml: "):
        extract_metadata("email", [p])


def test_odd_headers_do_not_crash(tmp_path: Path, no_network: None) -> None:
    raw = (b"From: =?utf-8?q?broken <not an address\r\nTo: ,,,@@\r\nDate: yesterday-ish\r\n"
           b"Subject: =?gb2312?B?1tDOxA==?=\r\nDKIM-Signature: v=1; garbage\r\n\r\nbody\r\n")
    e = one("email", write(tmp_path, "odd.eml", raw))["email"]
    assert e["date"] is None and e["date_raw"] == "yesterday-ish"
    assert e["subject"] == "中文"
    assert e["dkim"]["result"] == "fail"


# -- chat exports ----------------------------------------------------------------------

WHATSAPP_IOS = (
    "\ufeff[02/01/2024, 10:11:12] 张伟: 你好，样品已经寄出\n"
    "[02/01/2024, 10:12:00] Acme Sales: Thanks. Price list:\n"
    "line two of the same message\n"
    "\n"
    "[13/01/2024, 21:05:09] \u200e张伟: \u200eimage omitted\n"
    "[13/01/2024, 21:06:00] Messages and calls are end-to-end encrypted.\n"
)

WHATSAPP_ANDROID_MDY = (
    "1/13/24, 9:05\u202fPM - Messages and calls are end-to-end encrypted. No one outside\n"
    "1/13/24, 9:05\u202fPM - Bob: hello: with a colon\n"
    "1/14/24, 10:00\u202fAM - Alice: morning\n"
    "continued\n"
    "2/1/24, 12:30\u202fAM - Bob: late\n"
)

WECHAT = (
    "2024-01-02 10:11:12 王芳\n"
    "你好\n"
    "第二行\n"
    "\n"
    "2024-01-02 10:15:00 Acme 采购部\n"
    "OK\n"
    "2024-02-01 08:00:00 王芳\n"
    "[图片]\n"
)


def test_whatsapp_ios_with_bom_multiline_and_chinese(tmp_path: Path) -> None:
    p = write(tmp_path, "_chat.txt", WHATSAPP_IOS.encode("utf-8"))
    c = one("chat", p)["chat"]
    assert c["format"] == "whatsapp-ios"
    assert (c["encoding"], c["bom"]) == ("utf-8", True)
    assert c["message_count"] == 3 and c["system_message_count"] == 1
    assert c["participants"] == [{"name": "张伟", "messages": 2},
                                 {"name": "Acme Sales", "messages": 1}]
    assert c["first_message_at"] == "2024-01-02T10:11:12"
    assert c["last_message_at"] == "2024-01-13T21:06:00"
    assert c["date_order"] == "dmy"
    assert c["replacement_characters"] == 0


def test_whatsapp_android_us_locale(tmp_path: Path) -> None:
    p = write(tmp_path, "WhatsApp Chat with Bob.txt", WHATSAPP_ANDROID_MDY.encode())
    c = one("chat", p)["chat"]
    assert c["format"] == "whatsapp-android" and c["date_order"] == "mdy"
    assert c["message_count"] == 3 and c["system_message_count"] == 1
    assert [x["name"] for x in c["participants"]] == ["Bob", "Alice"]
    assert c["first_message_at"] == "2024-01-13T21:05"
    assert c["last_message_at"] == "2024-02-01T00:30"


def test_ambiguous_dates_are_flagged(tmp_path: Path) -> None:
    p = write(tmp_path, "c.txt", b"01/02/2024, 10:00 - A: x\n03/04/2024, 11:00 - B: y\n")
    c = one("chat", p)["chat"]
    assert c["date_order"] == "ambiguous-dmy-assumed"
    assert c["first_message_at"] == "2024-02-01T10:00"


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030", "utf-16"])
def test_wechat_pc_export(tmp_path: Path, encoding: str) -> None:
    p = write(tmp_path, "wechat.txt", WECHAT.encode(encoding))
    c = one("chat", p)["chat"]
    assert c["format"] == "wechat-pc" and c["encoding"] == encoding
    assert c["message_count"] == 3
    assert c["participants"] == [{"name": "王芳", "messages": 2},
                                 {"name": "Acme 采购部", "messages": 1}]
    assert (c["first_message_at"], c["last_message_at"]) == ("2024-01-02T10:11:12",
                                                              "2024-02-01T08:00:00")


def test_unknown_chat_layout_gets_basic_facts(tmp_path: Path) -> None:
    p = write(tmp_path, "chat.txt", b"some notes\nwithout timestamps\n")
    facts = one("chat", p)
    assert facts["chat"]["format"] == "unknown" and facts["chat"]["message_count"] == 0
    assert facts["chat"]["first_message_at"] is None


def test_chat_with_invalid_bytes(tmp_path: Path) -> None:
    data = b"[02/01/2024, 10:11:12] A: ok\n" + b"[02/01/2024, 10:11:13] B: \xff\xfe\xfd\n"
    c = one("chat", write(tmp_path, "c.txt", data))["chat"]
    assert c["message_count"] == 2


# U+200E (LEFT-TO-RIGHT MARK) is how iOS marks its own system lines: a person's name or
# message never carries it where the parser looks, so the generated ones do not either
names = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"),
                                       blacklist_characters="\u200e"),
                min_size=1, max_size=12).map(str.strip).filter(
    lambda s: s and ":" not in s and "[" not in s and "]" not in s)


@settings(max_examples=60, deadline=None)
@given(messages=st.lists(
    st.tuples(names, st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                                    blacklist_characters="\u200e"),
                             max_size=40),
              st.datetimes(min_value=dt.datetime(2001, 1, 1), max_value=dt.datetime(2098, 12, 31))),
    min_size=1, max_size=20,
))
def test_whatsapp_round_trip_property(messages: list[Any]) -> None:
    """Render messages as an iOS export; the summary must recover count, names and span."""
    lines = []
    for name, body, when in messages:
        body_lines = body.replace("\r", " ").split("\n")
        lines.append(f"[{when:%d/%m/%Y, %H:%M:%S}] {name}: {body_lines[0]}\n")
        lines += [f"  {b}\n" for b in body_lines[1:]]  # continuation lines, indented
    c = chatmod.summarise_lines(lines, chatmod.detect_format(lines))
    assert c["format"] == "whatsapp-ios"
    assert c["message_count"] == len(messages)
    assert sum(p["messages"] for p in c["participants"]) == len(messages)
    whens = [m[2].replace(microsecond=0) for m in messages]
    if c["date_order"] == "dmy":
        assert c["first_message_at"] == min(whens).isoformat()
        assert c["last_message_at"] == max(whens).isoformat()


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=600))
def test_chat_parser_never_crashes(text: str) -> None:
    lines = text.splitlines(keepends=True)
    for fmt in ("whatsapp-ios", "whatsapp-android", "wechat-pc", "unknown"):
        c = chatmod.summarise_lines(lines, fmt)
        assert c["message_count"] + c["system_message_count"] <= c["line_count"]
        json.dumps(c)


# -- PDF -------------------------------------------------------------------------------


def make_pdf(path: Path, pages: int = 3, **encrypt: str) -> None:
    from pypdf import PdfWriter

    w = PdfWriter()
    for _ in range(pages):
        w.add_blank_page(width=595, height=842)
    w.add_metadata({
        "/Producer": "Acme PDF Engine 2.1",
        "/Creator": "Writer",
        "/Author": "陈静",
        "/Title": "Catalogue",
        "/CreationDate": "D:20240102101112+08'00'",
        "/ModDate": "D:20240301000000Z",
    })
    if encrypt:
        w.encrypt(**encrypt)
    with open(path, "wb") as f:
        w.write(f)


def test_pdf(tmp_path: Path) -> None:
    p = tmp_path / "catalogue.pdf"
    make_pdf(p)
    facts = one("document", p)
    pdf = facts["pdf"]
    assert facts["media_type"] == "application/pdf"
    assert pdf["page_count"] == 3 and pdf["encrypted"] is False
    assert pdf["opens_without_password"] is None
    assert (pdf["producer"], pdf["creator"], pdf["author"]) == ("Acme PDF Engine 2.1",
                                                                "Writer", "陈静")
    assert pdf["created"]["rfc3339"] == "2024-01-02T10:11:12+08:00"
    assert pdf["modified"]["rfc3339"] == "2024-03-01T00:00:00+00:00"
    assert pdf["signature_fields"] == 0


def test_pdf_encrypted_with_password(tmp_path: Path) -> None:
    p = tmp_path / "secret.pdf"
    make_pdf(p, user_password="secret", owner_password="owner")
    pdf = one("document", p)["pdf"]
    assert pdf["encrypted"] is True and pdf["opens_without_password"] is False
    assert pdf["page_count"] is None and pdf["producer"] is None


def test_pdf_encrypted_without_user_password(tmp_path: Path) -> None:
    p = tmp_path / "restricted.pdf"
    make_pdf(p, user_password="", owner_password="owner")
    pdf = one("document", p)["pdf"]
    assert pdf["encrypted"] is True and pdf["opens_without_password"] is True
    assert pdf["page_count"] == 3 and pdf["producer"] == "Acme PDF Engine 2.1"


def test_malformed_pdf(tmp_path: Path) -> None:
    p = write(tmp_path, "broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\nnonsense")
    with pytest.raises(MetadataError, match=r"broken\.pdf: PDF cannot be parsed"):
        extract_metadata("document", [p])


# -- Office ----------------------------------------------------------------------------

CORE = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"
 xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<dc:title>报价单</dc:title><dc:creator>Zhang Wei</dc:creator>
<cp:lastModifiedBy>Li Na</cp:lastModifiedBy><cp:revision>7</cp:revision>
<dcterms:created xsi:type="dcterms:W3CDTF">2024-01-02T02:11:12Z</dcterms:created>
<dcterms:modified xsi:type="dcterms:W3CDTF">2024-01-05T08:00:00Z</dcterms:modified>
</cp:coreProperties>"""

APP = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">
<Application>Microsoft Office Word</Application><AppVersion>16.0000</AppVersion>
<Pages>4</Pages><Words>1234</Words><Characters>7000</Characters>{extra}<TotalTime>42</TotalTime>
<Company>Acme</Company></Properties>"""


def make_ooxml(path: Path, main: str, core: str = CORE, extra: str = "") -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns='
                   '"http://schemas.openxmlformats.org/package/2006/content-types"/>')
        z.writestr("_rels/.rels", "<Relationships/>")
        z.writestr(main, "<document/>")
        z.writestr("docProps/core.xml", core)
        z.writestr("docProps/app.xml", APP.format(extra=extra))


def test_docx(tmp_path: Path) -> None:
    p = tmp_path / "quote.docx"
    make_ooxml(p, "word/document.xml")
    facts = one("document", p)
    o = facts["office"]
    assert facts["media_type"].endswith("wordprocessingml.document")
    assert o["format"] == "docx"
    assert (o["application"], o["app_version"], o["company"]) == ("Microsoft Office Word",
                                                                   "16.0000", "Acme")
    assert (o["creator"], o["last_modified_by"], o["title"]) == ("Zhang Wei", "Li Na", "报价单")
    assert o["created"]["rfc3339"] == "2024-01-02T02:11:12+00:00"
    assert o["modified"]["local"] == "2024-01-05T08:00:00"
    assert (o["pages"], o["words"], o["characters"], o["total_edit_minutes"]) == (4, 1234, 7000,
                                                                                  42)
    assert o["slides"] is None


def test_pptx_and_xlsx(tmp_path: Path) -> None:
    p = tmp_path / "deck.pptx"
    make_ooxml(p, "ppt/presentation.xml", extra="<Slides>12</Slides>")
    o = one("document", p)["office"]
    assert (o["format"], o["slides"]) == ("pptx", 12)
    x = tmp_path / "prices.xlsx"
    make_ooxml(x, "xl/workbook.xml")
    assert one("document", x)["office"]["format"] == "xlsx"


def test_odt(tmp_path: Path) -> None:
    meta = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0"
 xmlns:dc="http://purl.org/dc/elements/1.1/"><office:meta>
<meta:generator>LibreOffice/7.4</meta:generator><meta:initial-creator>Wang</meta:initial-creator>
<dc:creator>Zhao</dc:creator><meta:creation-date>2024-01-02T10:11:12</meta:creation-date>
<dc:date>2024-01-03T10:11:12.123</dc:date><meta:editing-duration>PT1H5M3S</meta:editing-duration>
<meta:document-statistic meta:page-count="2" meta:word-count="300"/>
</office:meta></office:document-meta>"""
    p = tmp_path / "letter.odt"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        z.writestr("meta.xml", meta)
        z.writestr("content.xml", "<x/>")
    facts = one("document", p)
    o = facts["office"]
    assert facts["media_type"] == "application/vnd.oasis.opendocument.text"
    assert (o["format"], o["application"], o["creator"], o["last_modified_by"]) == (
        "odt", "LibreOffice/7.4", "Wang", "Zhao")
    assert o["created"] == {"raw": "2024-01-02T10:11:12", "local": "2024-01-02T10:11:12",
                            "offset": None, "rfc3339": None}
    assert (o["pages"], o["words"], o["total_edit_minutes"]) == (2, 300, 65)


def test_office_xml_with_entities_is_refused(tmp_path: Path) -> None:
    bomb = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            '<cp:coreProperties xmlns:cp="x"><dc:title xmlns:dc="y">&b;</dc:title>'
            '</cp:coreProperties>')
    p = tmp_path / "evil.docx"
    make_ooxml(p, "word/document.xml", core=bomb)
    with pytest.raises(MetadataError, match=r"evil\.docx: docProps/core\.xml contains a DTD"):
        extract_metadata("document", [p])


def test_office_zip_bomb_member_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "bomb.docx"
    make_ooxml(p, "word/document.xml",
               core=CORE.replace("</cp:coreProperties>", " " * (3 * 1024 * 1024)
                                 + "</cp:coreProperties>"))
    assert p.stat().st_size < 100_000  # compresses to almost nothing
    with pytest.raises(MetadataError, match=r"bomb\.docx: docProps/core\.xml declares"):
        extract_metadata("document", [p])


def test_office_too_many_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "many.docx"
    make_ooxml(p, "word/document.xml")
    with zipfile.ZipFile(p, "a") as z:
        for i in range(30):
            z.writestr(f"junk/{i}", b"")
    monkeypatch.setattr(safezip, "MAX_ENTRIES", 20)
    with pytest.raises(MetadataError, match=r"many\.docx: ZIP archive declares 35 entries"):
        extract_metadata("document", [p])


def test_office_malformed_xml(tmp_path: Path) -> None:
    p = tmp_path / "bad.docx"
    make_ooxml(p, "word/document.xml", core="<cp:coreProperties><unclosed>")
    with pytest.raises(MetadataError, match=r"bad\.docx: docProps/core\.xml is not well-formed"):
        extract_metadata("document", [p])


def test_truncated_office_zip_is_an_error(tmp_path: Path) -> None:
    src = tmp_path / "quote.docx"
    make_ooxml(src, "word/document.xml")
    p = write(tmp_path, "cut.docx", src.read_bytes()[:200])
    with pytest.raises(MetadataError, match=r"cut\.docx: not a ZIP archive"):
        extract_metadata("document", [p])


def test_plain_zip_as_document_gets_basic_facts(tmp_path: Path) -> None:
    p = tmp_path / "photos.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("a.txt", "x")
    facts = one("document", p)
    assert facts["media_type"] == "application/zip" and "office" not in facts


def test_every_kind_is_dispatched(tmp_path: Path) -> None:
    p = tmp_path / "x.txt"
    p.write_text("[02/01/2024, 10:11:12] A: hi\n")
    sections = {"chat": "chat"}
    for kind in set(KINDS) - {"screenshot", "image", "email"}:
        facts = one(kind, p)
        extra = set(facts) - {"name", "size", "sha256", "media_type", "media_type_by_extension"}
        assert extra == ({sections[kind]} if kind in sections else set())


@settings(max_examples=150, deadline=None)
@given(head=st.binary(max_size=64), tail=st.binary(max_size=64),
       prefix=st.sampled_from([b"", b"PK\x03\x04", b"%PDF-", b"\xff\xd8\xff", b"RIFF",
                               b"\x00\x00\x00\x18ftyp", b"\xef\xbb\xbf", b"\xff\xfe"]))
def test_any_bytes_get_basic_facts_or_a_clean_error(head: bytes, tail: bytes,
                                                     prefix: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "upload.bin"
        p.write_bytes(prefix + head + tail)
        for kind in ("other", "document", "chat", "image", "email"):
            try:
                one(kind, p)
            except MetadataError as e:
                assert e.problems and e.problems[0].file == "upload.bin"
                assert "could not be analysed" not in str(e), str(e)  # no unexpected crash
