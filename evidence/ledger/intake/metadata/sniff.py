"""Media type from a file's first bytes, not from its name.

A submitter's file name is a claim; the bytes are a fact. We report both (the type the
extension suggests and the one the content shows) so a mismatch is visible. The table covers
the formats evidence arrives in; anything else is ``application/octet-stream`` or, if it
decodes as text, ``text/plain``.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from evidence.ledger.intake.metadata import jsonshape, safezip

HEAD_BYTES = 8192

_PREFIXES: list[tuple[bytes, str]] = [
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"BM", "image/bmp"),
    (b"\x00\x00\x01\x00", "image/vnd.microsoft.icon"),
    (b"%PDF-", "application/pdf"),
    (b"\x1f\x8b", "application/gzip"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"Rar!\x1a\x07", "application/vnd.rar"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),  # .doc/.xls/.msg
    (b"\x1aE\xdf\xa3", "video/webm"),  # Matroska/WebM (EBML)
    (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"),
    (b"ID3", "audio/mpeg"),
    (b"#!AMR", "audio/amr"),
    (b"#!SILK_V3", "audio/silk"),  # WeChat voice messages
    (b"\x02#!SILK_V3", "audio/silk"),
    (b"WARC/", "application/warc"),
    (b"SQLite format 3\x00", "application/vnd.sqlite3"),
]

_ANY_PREFIX = tuple(prefix for prefix, _ in _PREFIXES)

_RIFF = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}

_FTYP = {
    b"heic": "image/heic", b"heix": "image/heic", b"mif1": "image/heif", b"msf1": "image/heif",
    b"avif": "image/avif", b"qt  ": "video/quicktime", b"M4A ": "audio/mp4",
    b"M4V ": "video/mp4", b"3gp4": "video/3gpp", b"3gp5": "video/3gpp", b"3g2a": "video/3gpp2",
}

_ZIP_MIMETYPE_MEMBER = {
    "word/document.xml": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xl/workbook.xml": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt/presentation.xml":
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}


EXTRA_TYPES = {".eml": "message/rfc822", ".mhtml": "multipart/related",
               ".mht": "multipart/related", ".har": "application/json",
               ".warc": "application/warc", ".heic": "image/heic", ".webp": "image/webp",
               ".amr": "audio/amr", ".silk": "audio/silk"}
"""Extensions :func:`by_extension` knows before asking :mod:`mimetypes` (whose tables differ
between systems): public so that its reference in tests/equivalence/test_intake_helpers.py
is built from the same table."""


def by_extension(name: str) -> str | None:
    """What the file name claims (None if the extension is unknown). ``name`` is a base
    name (no directory)."""
    dot = name.rfind(".")
    suffix = name[dot:].lower() if 0 < dot < len(name) - 1 else ""  # PurePath.suffix
    return EXTRA_TYPES.get(suffix) or mimetypes.guess_type(name, strict=False)[0]


def sniff(path: Path, head: bytes) -> str:
    """The media type the content shows. ``head`` is the file's first bytes."""
    if head.startswith(_ANY_PREFIX):  # one C call when none matches (text, mostly)
        for prefix, media_type in _PREFIXES:
            if head.startswith(prefix):
                return media_type
    if head[:4] == b"RIFF" and head[8:12] in _RIFF:
        return _RIFF[head[8:12]]
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _FTYP:
            return _FTYP[brand]
        return "video/mp4"
    if head[:2] == b"\xff\xfb" or head[:2] in (b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    if head[:2] in (b"\xff\xf1", b"\xff\xf9"):
        return "audio/aac"
    if head[:2] == b"\xd2\x84" and len(head) > 2 and 0x41 <= head[2] <= 0x5B:
        return "application/cose"  # 18([<<protected>>, ...]): a tagged COSE_Sign1 (RFC 9052)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _zip_type(path)
    return _text_type(path, head)


def _zip_type(path: Path) -> str:
    """Tell OOXML, OpenDocument and EPUB apart from a plain ZIP (within the safety caps)."""
    try:
        with safezip.open_zip(path) as zf:
            names = set(zf.namelist())
            for member, media_type in _ZIP_MIMETYPE_MEMBER.items():
                if member in names:
                    return media_type
            declared = safezip.read_member(zf, "mimetype", cap=200)
    except safezip.UnsafeZip:
        return "application/zip"
    if declared:
        text = declared.decode("ascii", errors="replace").strip()
        if text.startswith(("application/vnd.oasis.opendocument.", "application/epub+zip")):
            return text
    return "application/zip"


def _text_type(path: Path, head: bytes) -> str:
    decoded = _decode_head(head)
    if decoded is None:
        return "application/octet-stream"
    text, codec = decoded
    start = text.lstrip("\ufeff \t\r\n")[:1024]
    lower = start.lower()
    if lower.startswith(("<!doctype html", "<html")):
        return "text/html"
    if lower.startswith("<?xml") or lower.startswith("<svg"):
        return "image/svg+xml" if "<svg" in lower else "application/xml"
    if start[:1] in ("{", "[") and _is_json(path, head, text, codec):
        return "application/json"  # also HAR page captures
    header_block = lower.split("\n\n", 1)[0].split("\r\n\r\n", 1)[0]
    if "mime-version:" in header_block and "multipart/related" in header_block:
        return "multipart/related"  # MHTML page capture
    first = lower.split("\n", 1)[0]
    if first.startswith(("received:", "return-path:", "delivered-to:", "from:", "message-id:",
                         "x-", "mime-version:", "date:", "dkim-signature:", "to:", "subject:")):
        return "message/rfc822"
    return "text/plain"


def _is_json(path: Path, head: bytes, text: str, codec: str) -> bool:
    """JSON only if it parses (a leading ``[`` is also how every WhatsApp iOS export line
    starts): the head must be JSON, whole when it is the whole file, else a valid beginning
    confirmed on the file within :mod:`.jsonshape`'s bounds."""
    if len(head) < HEAD_BYTES:  # the head is the whole file
        return jsonshape.check(text, complete=True)
    if not jsonshape.check(text, complete=False):
        return False
    return jsonshape.confirm(path, codec)


def _decode_head(head: bytes) -> tuple[str, str] | None:
    """The head as text and the codec that decoded it, or None if it is not text."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return head[: len(head) // 2 * 2].decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            return None
    if b"\x00" in head:
        return None
    for encoding in ("utf-8", "gb18030"):
        try:
            return head.decode(encoding), encoding
        except UnicodeDecodeError as e:
            if e.start >= len(head) - 4:  # a character cut at the end of the sample
                return head[: e.start].decode(encoding), encoding
    return None
