"""PDF documents (pypdf): the document information dictionary and basic structure.

Schema of the ``"pdf"`` section::

    {"pdf_version": "1.7" | null, "page_count": int | null,   # null: encrypted, no password
     "encrypted": bool, "opens_without_password": bool | null,
     "producer": str | null, "creator": str | null, "author": str | null,
     "title": str | null, "subject": str | null,
     "created": FileTime | null, "modified": FileTime | null,
     "signature_fields": int | null}   # AcroForm fields of type /Sig (signed or not)

The information dictionary is written by whatever software produced the file and can be
edited freely; it is the producer's claim, not a proof of when or by whom.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from evidence.ledger.intake.metadata.errors import MetadataError
from evidence.ledger.intake.metadata.timefmt import clean_text, file_time

_PDF_DATE = re.compile(
    r"^(?:D:)?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?"
    r"(?:(Z)|([+-])(\d{2})'?(?:(\d{2})'?)?)?"
)

_INFO_KEYS = ("producer", "creator", "author", "title", "subject", "created", "modified")


def pdf_date(raw: Any) -> dict[str, Any] | None:
    """A PDF date string (``D:YYYYMMDDHHmmSSOHH'mm'``) as a FileTime."""
    text = clean_text(raw, 64)
    if text is None:
        return None
    m = _PDF_DATE.match(text)
    if not m:
        return file_time(text, None, None)
    y, mo, d, hh, mi, ss, zulu, sign, oh, om = m.groups()
    parts = (int(y), int(mo or 1), int(d or 1), int(hh or 0), int(mi or 0), int(ss or 0))
    offset = "Z" if zulu else (f"{sign}{oh}:{om or '00'}" if sign else None)
    return file_time(text, parts, offset)


def extract_pdf(path: Path) -> dict[str, Any]:
    """Describe a PDF. Raises :class:`MetadataError` if pypdf cannot parse it at all."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(path, strict=False)
        encrypted = bool(reader.is_encrypted)
        readable: bool | None = None
        if encrypted:
            try:
                readable = bool(reader.decrypt(""))
            except (PyPdfError, NotImplementedError, ValueError):
                readable = False  # e.g. AES without the optional crypto backend
        can_read = readable is not False
        info = _info(reader) if can_read else dict.fromkeys(_INFO_KEYS)
        return {
            "pdf_version": (clean_text(reader.pdf_header, 16) or "").removeprefix("%PDF-")
            or None,
            "page_count": len(reader.pages) if can_read else None,
            "encrypted": encrypted,
            "opens_without_password": readable,
            **info,
            "signature_fields": _signature_fields(reader) if can_read else None,
        }
    except MetadataError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError,
            RecursionError, OSError) as e:
        raise MetadataError.for_file(
            path.name, f"PDF cannot be parsed ({type(e).__name__}: {e})"
        ) from None


def _info(reader: Any) -> dict[str, Any]:
    try:
        meta = reader.metadata
    except Exception:
        meta = None
    if meta is None:
        return dict.fromkeys(_INFO_KEYS)

    def text(key: str) -> str | None:
        try:
            value = meta.get(key)
            value = value.get_object() if hasattr(value, "get_object") else value
        except Exception:
            return None
        return clean_text(value, 1000)

    return {
        "producer": text("/Producer"),
        "creator": text("/Creator"),
        "author": text("/Author"),
        "title": text("/Title"),
        "subject": text("/Subject"),
        "created": pdf_date(text("/CreationDate")),
        "modified": pdf_date(text("/ModDate")),
    }


def _signature_fields(reader: Any) -> int | None:
    try:
        fields = reader.get_fields() or {}
    except Exception:
        return None
    return sum(1 for f in fields.values() if f.get("/FT") == "/Sig")
