"""WhatsApp "Export chat" with media: a ZIP holding the chat text and the media files.

iOS names the text ``_chat.txt``; Android ``WhatsApp Chat with <name>.txt`` (the words in
the phone's language). The text is summarised exactly as a text export is
(:func:`.chat.summarise_stream`), and the section gains::

    "archive": {"chat_member": str | null,
                "media_files": [{"name": str, "size": int, "referenced": bool}],
                "media_truncated": bool,              # more than 2000 members
                "attachments_missing": [str]}         # referenced, not in the archive

``size`` is the size the archive declares. The archive is preserved as one file, byte for
byte; its members are listed, not stored apart (intake keeps each submitted file whole).

Read as hostile input through :mod:`.safezip` (entry count checked before opening), and
the chat text through a reader that stops at :data:`MAX_CHAT_TEXT` inflated bytes whatever
the archive declares, so a "zip bomb" costs at most that much reading.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

from evidence.ledger.intake.metadata import safezip
from evidence.ledger.intake.metadata.chat_summary import MAX_ATTACHMENTS, MAX_NAME, Tally, report
from evidence.ledger.intake.metadata.errors import MetadataError

MAX_CHAT_TEXT = 256 * 1024 * 1024
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
        chat = _chat_member(members)
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
    section["archive"] = {
        "chat_member": chat.filename[:MAX_NAME] if chat is not None else None,
        "media_files": [{"name": i.filename[:MAX_NAME], "size": i.file_size,
                         "referenced": _base(i.filename) in referenced}
                        for i in media[:MAX_ATTACHMENTS]],
        "media_truncated": len(media) > MAX_ATTACHMENTS,
        "attachments_missing": sorted(referenced - present),
    }
    return section


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


def _chat_member(members: list[zipfile.ZipInfo]) -> zipfile.ZipInfo | None:
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
