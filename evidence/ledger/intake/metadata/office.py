"""Office documents: OOXML (.docx/.xlsx/.pptx) and OpenDocument (.odt/.ods/.odp).

Both are ZIP archives with small XML files of document properties. We read only those, with
:mod:`.safezip` caps, and parse XML only after refusing any DTD (no entity expansion, no
external entities: the standard library parser would otherwise expand internal entities).

Schema of the ``"office"`` section::

    {"format": "docx" | "xlsx" | "pptx" | "odt" | "ods" | "odp" | "ooxml" | "opendocument",
     "application": str | null, "app_version": str | null, "template": str | null,
     "company": str | null,
     "title": str | null, "subject": str | null,
     "creator": str | null, "last_modified_by": str | null, "revision": str | null,
     "created": FileTime | null, "modified": FileTime | null, "last_printed": FileTime | null,
     "pages": int | null, "words": int | null, "characters": int | null,
     "slides": int | null, "total_edit_minutes": int | null}

All of these are written by the editing software and editable by anyone; they are the
document's claims about itself.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from evidence.ledger.intake.metadata import safezip
from evidence.ledger.intake.metadata.errors import MetadataError
from evidence.ledger.intake.metadata.timefmt import clean_text, file_time

NS = {
    "cp": "http://schemas.openxmlformats.org/package/2006/metadata/core-properties",
    "dc": "http://purl.org/dc/elements/1.1/",
    "dcterms": "http://purl.org/dc/terms/",
    "ep": "http://schemas.openxmlformats.org/officeDocument/2006/extended-properties",
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "meta": "urn:oasis:names:tc:opendocument:xmlns:meta:1.0",
}
_OOXML = {"word/document.xml": "docx", "xl/workbook.xml": "xlsx", "ppt/presentation.xml": "pptx"}
_ODF = {"text": "odt", "spreadsheet": "ods", "presentation": "odp"}
_W3CDTF = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})?$"
)
_DTD = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)

FIELDS = ("application", "app_version", "template", "company", "title", "subject", "creator",
          "last_modified_by", "revision", "created", "modified", "last_printed", "pages",
          "words", "characters", "slides", "total_edit_minutes")


def is_office(names: set[str]) -> bool:
    return any(n in names for n in _OOXML) or "meta.xml" in names or "mimetype" in names


def extract_office(path: Path) -> dict[str, Any]:
    """Describe an OOXML or OpenDocument file. Raises :class:`MetadataError` when the
    archive is malformed, exceeds a safety cap, or its property XML is unsafe/invalid."""
    try:
        with safezip.open_zip(path) as zf:
            names = set(zf.namelist())
            if "meta.xml" in names or "mimetype" in names:
                section = _odf(zf, names)
            else:
                section = _ooxml(zf, names)
    except safezip.UnsafeZip as e:
        raise MetadataError.for_file(path.name, str(e)) from None
    except _BadXml as e:
        raise MetadataError.for_file(path.name, str(e)) from None
    return {k: section.get(k) for k in ("format", *FIELDS)}


class _BadXml(Exception):
    pass


def _xml(zf: Any, name: str) -> ET.Element | None:
    data = safezip.read_member(zf, name)
    if data is None:
        return None
    if _DTD.search(data):
        raise _BadXml(f"{name} contains a DTD or entity declaration; refused")
    try:
        return ET.fromstring(data)
    except ET.ParseError as e:
        raise _BadXml(f"{name} is not well-formed XML ({e})") from None


def _text(root: ET.Element | None, path: str) -> str | None:
    if root is None:
        return None
    el = root.find(path, NS)
    return clean_text(el.text, 1000) if el is not None else None


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 16 else None


def _when(value: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    m = _W3CDTF.match(value)
    parts = tuple(int(g) for g in m.groups()[:6]) if m else None
    return file_time(value, parts, m.group(7) if m else None)  # type: ignore[arg-type]


def _ooxml(zf: Any, names: set[str]) -> dict[str, Any]:
    fmt = next((f for member, f in _OOXML.items() if member in names), "ooxml")
    core = _xml(zf, "docProps/core.xml")
    app = _xml(zf, "docProps/app.xml")
    return {
        "format": fmt,
        "application": _text(app, "ep:Application"),
        "app_version": _text(app, "ep:AppVersion"),
        "template": _text(app, "ep:Template"),
        "company": _text(app, "ep:Company"),
        "title": _text(core, "dc:title"),
        "subject": _text(core, "dc:subject"),
        "creator": _text(core, "dc:creator"),
        "last_modified_by": _text(core, "cp:lastModifiedBy"),
        "revision": _text(core, "cp:revision"),
        "created": _when(_text(core, "dcterms:created")),
        "modified": _when(_text(core, "dcterms:modified")),
        "last_printed": _when(_text(core, "cp:lastPrinted")),
        "pages": _int(_text(app, "ep:Pages")),
        "words": _int(_text(app, "ep:Words")),
        "characters": _int(_text(app, "ep:Characters")),
        "slides": _int(_text(app, "ep:Slides")),
        "total_edit_minutes": _int(_text(app, "ep:TotalTime")),
    }


def _odf(zf: Any, names: set[str]) -> dict[str, Any]:
    declared = (safezip.read_member(zf, "mimetype", cap=200) or b"").decode("ascii", "replace")
    sub = declared.strip().rsplit(".", 1)[-1]
    meta = _xml(zf, "meta.xml")
    m = meta.find("office:meta", NS) if meta is not None else None
    stats = m.find("meta:document-statistic", NS) if m is not None else None

    def stat(attr: str) -> int | None:
        if stats is None:
            return None
        return _int(stats.get(f"{{{NS['meta']}}}{attr}"))

    generator = _text(m, "meta:generator") if m is not None else None
    edit = _text(m, "meta:editing-duration") if m is not None else None
    return {
        "format": _ODF.get(sub, "opendocument"),
        "application": generator,
        "title": _text(m, "dc:title") if m is not None else None,
        "subject": _text(m, "dc:subject") if m is not None else None,
        "creator": _text(m, "meta:initial-creator") if m is not None else None,
        "last_modified_by": _text(m, "dc:creator") if m is not None else None,
        "revision": _text(m, "meta:editing-cycles") if m is not None else None,
        "created": _when(_text(m, "meta:creation-date")) if m is not None else None,
        "modified": _when(_text(m, "dc:date")) if m is not None else None,
        "last_printed": _when(_text(m, "meta:print-date")) if m is not None else None,
        "pages": stat("page-count"),
        "words": stat("word-count"),
        "characters": stat("character-count"),
        "slides": stat("page-count") if sub == "presentation" else None,
        "total_edit_minutes": _iso_minutes(edit),
    }


def _iso_minutes(duration: str | None) -> int | None:
    """ISO 8601 duration ``PnDTnHnMnS`` -> whole minutes."""
    if not duration:
        return None
    m = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.\d+)?S)?)?", duration)
    if not m:
        return None
    d, h, mi, s = (int(g or 0) for g in m.groups())
    return (d * 24 + h) * 60 + mi + s // 60
