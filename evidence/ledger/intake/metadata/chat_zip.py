"""WhatsApp "Export chat" with media: a ZIP holding the chat text and the media files.

iOS names the text ``_chat.txt``; Android ``WhatsApp Chat with <name>.txt`` (the words in
the phone's language). The text is summarised exactly as a text export is
(:func:`.chat.summarise_stream`), and the section gains::

    "archive": {"chat_member": str | null,
                "media_files": [{"name": str, "size": int, "referenced": bool,
                                 "sha256": str | null,  # of the member's content
                                 "unsafe_name": bool}], # absolute, "..", drive, NUL
                "media_truncated": bool,              # more than 2000 members
                "media_not_hashed": int,              # over the caps below
                "attachments_missing": [str],         # referenced, not in the archive
                # added by intake (evidence/ledger/intake/derived.py), which stores the
                # media as files of the item: "stored": bool in each media_files entry,
                "attachment_links": [{"attachment": str, "member": str | null,
                                      "sha256": str | null, "file": str | null,
                                      "ambiguous": true}]}  # (only when ambiguous)

``size`` is the size the archive declares. The archive is preserved byte for byte; its
members are listed and each medium's SHA-256 recorded (read once, at most
:data:`MAX_MEDIA_HASHED` inflated bytes in all), so a medium the messages name
(``referenced``) is tied to exact content. This module only reads (metadata is a function
of the file); intake stores the media as further files of the item and links them here
(:mod:`evidence.ledger.intake.derived`). Members are never written out under their
names, so a hostile name (``../../etc/passwd``) is only flagged.

Read as hostile input through :mod:`.safezip` (entry count checked before opening), and
the chat text through a reader that stops at :data:`MAX_CHAT_TEXT` inflated bytes whatever
the archive declares, so a "zip bomb" costs at most that much reading.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

from evidence.ledger.intake.metadata import safezip
from evidence.ledger.intake.metadata.chat_summary import MAX_ATTACHMENTS, MAX_NAME, Tally, report
from evidence.ledger.intake.metadata.errors import MetadataError

MAX_CHAT_TEXT = 256 * 1024 * 1024
MAX_MEDIA_HASHED = 2 * 1024 * 1024 * 1024  # inflated bytes hashed per archive
_READ_ERRORS = (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, ValueError,
                EOFError, zlib.error)


class _Capped(io.RawIOBase):
    """At most ``cap`` bytes of a member; ``truncated`` once more were there."""

    def __init__(self, member: IO[bytes], cap: int) -> None:
        self.member, self.left, self.truncated = member, cap, False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self.left <= 0:
            self.truncated = self.truncated or bool(self.member.read(1))
            return 0
        data = self.member.read(min(len(view), self.left))
        view[: len(data)] = data
        self.left -= len(data)
        return len(data)

    def close(self) -> None:
        self.member.close()
        super().close()


def extract_chat_zip(path: Path) -> dict[str, Any]:
    """Summarise a WhatsApp ZIP export. Raises :class:`MetadataError` for an archive that
    cannot be read safely; one without a chat text is format ``unknown`` with a warning."""
    try:
        zf = safezip.open_zip(path)
    except safezip.UnsafeZip as e:
        raise MetadataError.for_file(path.name, f"is not a readable chat archive: {e}") from None
    with zf:
        members = [i for i in zf.infolist() if not i.is_dir()]
        chat = chat_member(members)
        if chat is None:
            t = Tally("unknown")
            t.warn("ZIP archive without a WhatsApp chat text (_chat.txt or "
                   "\"WhatsApp Chat ... .txt\")")
            section = report(t, first=None, last=None, date_order=None, encoding=None,
                             bom=False, line_count=None, preamble_lines=None, long_lines=0,
                             replacement_characters=0)
        else:
            section = _summarise_member(path, zf, chat)
        referenced = {_base(a) for a in section["attachments"]}
        media = [i for i in members if i is not chat]
        present = {_base(i.filename) for i in media}
        listed, not_hashed, budget = [], 0, MAX_MEDIA_HASHED
        for i in media[:MAX_ATTACHMENTS]:
            digest = None
            if i.file_size <= budget:
                digest = _sha256(zf, i)
                budget -= i.file_size
            if digest is None:
                not_hashed += 1
            listed.append({"name": i.filename[:MAX_NAME], "size": i.file_size,
                           "referenced": _base(i.filename) in referenced, "sha256": digest,
                           "unsafe_name": _unsafe(i.filename)})
    if not_hashed:
        section["warnings"].append(f"{not_hashed} media file(s) could not be hashed (over "
                                   f"{MAX_MEDIA_HASHED} bytes in all, or unreadable)")
    if any(m["unsafe_name"] for m in listed):
        section["warnings"].append("media file names with an absolute path or '..' (not "
                                   "written anywhere; listed as given)")
    section["archive"] = {
        "chat_member": chat.filename[:MAX_NAME] if chat is not None else None,
        "media_files": listed,
        "media_truncated": len(media) > MAX_ATTACHMENTS,
        "media_not_hashed": not_hashed,
        "attachments_missing": sorted(referenced - present),
    }
    return section


def _sha256(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> str | None:
    """The member's SHA-256, reading at most its declared size (zipfile stops there and
    checks the CRC at the end); None if it cannot be read (encrypted, corrupt, ...)."""
    h = hashlib.sha256()
    try:
        with zf.open(info) as member:
            while chunk := member.read(1 << 20):
                h.update(chunk)
    except _READ_ERRORS:
        return None
    return h.hexdigest()


def _unsafe(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return (name.startswith(("/", "\\")) or ".." in parts or "\0" in name
            or (len(name) > 1 and name[1] == ":"))


def _summarise_member(path: Path, zf: zipfile.ZipFile, chat: zipfile.ZipInfo
                      ) -> dict[str, Any]:
    from evidence.ledger.intake.metadata.chat import summarise_stream

    opened: list[_Capped] = []

    def opener() -> IO[bytes]:
        capped = _Capped(zf.open(chat), MAX_CHAT_TEXT)
        opened.append(capped)
        return io.BufferedReader(capped)

    try:
        section = summarise_stream(opener)
    except _READ_ERRORS as e:  # encrypted, unknown compression, CRC mismatch, ...
        raise MetadataError.for_file(path.name, (
            f"chat text {chat.filename[:MAX_NAME]!r} cannot be read: {e}")) from None
    if any(c.truncated for c in opened):
        section["warnings"].append(f"only the first {MAX_CHAT_TEXT} bytes of the chat text "
                                   "were read")
    return section


def chat_member(members: list[zipfile.ZipInfo]) -> zipfile.ZipInfo | None:
    """``_chat.txt`` (iOS), else a ``WhatsApp...txt`` (Android), else the only ``.txt``."""
    texts = [i for i in members if i.filename.lower().endswith(".txt")]
    for pick in (lambda i: _base(i.filename) == "_chat.txt",
                 lambda i: "whatsapp" in _base(i.filename).lower()):
        found = [i for i in texts if pick(i)]
        if found:
            return found[0]
    return texts[0] if len(texts) == 1 else None


def _base(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1]
