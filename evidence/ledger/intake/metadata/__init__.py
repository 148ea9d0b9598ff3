"""What the evidence files say about themselves, per kind of evidence.

:func:`extract_metadata` is a pure function of the files (no database, no network unless
explicitly allowed for DKIM). It returns only *extracted* facts; what the submitter states
is merged by the caller under its own key, so that a reader never confuses a file's content
with a person's claim.

Result schema (``"schema": "evidence.metadata.extracted/v1"``)::

    {"schema": "evidence.metadata.extracted/v1",
     "kind": "screenshot" | "image" | "email" | "chat" | "document" | "web" | "video"
             | "audio" | "other",
     "files": [FileFacts]}

    FileFacts = {"name": str,                       # base name as submitted
                 "size": int, "sha256": hex,        # of the bytes as submitted
                 "media_type": str,                 # from the content (magic bytes)
                 "media_type_by_extension": str | null,   # what the name claims
                 # plus at most one kind-specific section:
                 "image": {...} | "email": {...} | "chat": {...} | "pdf": {...}
                 | "office": {...},
                 # and, beside "image" and "pdf", the file's C2PA content credentials:
                 "c2pa": {...}}

The sections are documented in their modules (:mod:`.image`, :mod:`.eml`,
:mod:`.dkim_check`, :mod:`.chat`, :mod:`.pdf`, :mod:`.office`, :mod:`.c2pa_check`) and,
for courts, in
``docs/evidence-kinds.md``. Every value is JSON-serialisable and JCS-encodable (no floats
that are not finite).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evidence.ledger.intake.metadata.basic import basic_facts
from evidence.ledger.intake.metadata.errors import FileProblem, MetadataError, UnknownKind

SCHEMA = "evidence.metadata.extracted/v1"
KINDS = ("screenshot", "image", "email", "chat", "document", "web", "webcapture", "video",
         "audio", "other")

_OFFICE_TYPES = (
    "application/vnd.openxmlformats-officedocument.",
    "application/vnd.oasis.opendocument.",
)

__all__ = ["KINDS", "SCHEMA", "FileProblem", "MetadataError", "UnknownKind", "extract_metadata",
           "file_notices", "file_warnings"]


def extract_metadata(
    kind: str,
    files: Sequence[Path],
    *,
    dns_records: Mapping[str, str | bytes] | None = None,
    allow_dns: bool = False,
    known: Sequence[tuple[int, str] | tuple[int, str, bytes] | None] | None = None,
) -> dict[str, Any]:
    """Extract what each file says about itself, according to the evidence ``kind``.

    ``known``, aligned with ``files``: ``(size, sha256)`` the caller already computed
    (intake hashes while storing), so that files are not hashed a second time; or
    ``(size, sha256, head)`` with the first :data:`~.sniff.HEAD_BYTES` bytes too (see
    :func:`~.basic.basic_facts`).

    ``dns_records`` maps DKIM key names (``selector._domainkey.domain``) to TXT record
    content, for offline DKIM verification; ``allow_dns`` permits live DNS lookups for keys
    not supplied (off by default: results must be reproducible without network).

    Raises :class:`UnknownKind` for a kind not in :data:`KINDS`, and :class:`MetadataError`
    listing every file that cannot be read as that kind (nothing is returned then).
    """
    if kind not in KINDS:
        raise UnknownKind(f"unknown evidence kind {kind!r}; expected one of {', '.join(KINDS)}")
    out: list[dict[str, Any]] = []
    problems: list[FileProblem] = []
    for i, raw in enumerate(files):
        path = raw if isinstance(raw, Path) else Path(raw)
        try:
            facts = basic_facts(path, known[i] if known is not None else None)
            facts.update(_section(kind, path, facts["media_type"],
                                  facts["media_type_by_extension"], dns_records, allow_dns))
            out.append(facts)
        except MetadataError as e:
            problems.extend(e.problems)
        except Exception as e:  # a parser bug on hostile input must not take the service down
            problems.append(FileProblem(path.name, f"could not be analysed ({type(e).__name__})"))
    if problems:
        raise MetadataError(problems)
    return {"schema": SCHEMA, "kind": kind, "files": out}


def file_warnings(facts: Mapping[str, Any]) -> list[str]:
    """The warnings a file's section carries (``"warnings"``: e.g. a chat export in which
    nothing parsed). The file's facts are still extracted, so they are not a
    :class:`MetadataError`; intake records them in ``extraction_errors`` all the same, so
    that nobody reads an empty summary as a clean one, and ``--strict-metadata`` refuses
    the item."""
    out: list[str] = []
    for value in facts.values():
        if isinstance(value, Mapping) and isinstance(value.get("warnings"), list):
            out.extend(str(w) for w in value["warnings"])
    return out


def file_notices(facts: Mapping[str, Any]) -> list[str]:
    """The notices a file's section carries (``"notices"``: e.g. a C2PA credential that
    does not validate). Unlike warnings they are facts extracted cleanly: they are for the
    submitter's eyes (a submission warning), never in ``extraction_errors``, never a
    reason to refuse under ``--strict-metadata``."""
    out: list[str] = []
    for value in facts.values():
        if isinstance(value, Mapping) and isinstance(value.get("notices"), list):
            out.extend(str(n) for n in value["notices"])
    return out


def _section(
    kind: str,
    path: Path,
    media_type: str,
    claimed: str | None,
    dns_records: Mapping[str, str | bytes] | None,
    allow_dns: bool,
) -> dict[str, Any]:
    """The kind-specific section for one file (empty for kinds with basic facts only)."""
    if kind in ("screenshot", "image"):
        from evidence.ledger.intake.metadata.c2pa_check import check_c2pa
        from evidence.ledger.intake.metadata.image import extract_image

        return {"image": extract_image(path), "c2pa": check_c2pa(path, media_type)}
    if kind == "email":
        from evidence.ledger.intake.metadata.eml import extract_email

        return {"email": extract_email(path, dns_records=dns_records, allow_dns=allow_dns)}
    if kind == "chat":
        from evidence.ledger.intake.metadata.chat import extract_chat

        return {"chat": extract_chat(path)}
    if kind == "document":
        return _document(path, media_type, claimed)
    return {}


def _document(path: Path, media_type: str, claimed: str | None) -> dict[str, Any]:
    """PDF and Office sections by content type. A ZIP whose name claims an Office format but
    that could not be classified (e.g. over a safety cap) goes to the Office extractor too,
    so the submitter learns why instead of silently getting basic facts."""
    if media_type == "application/cose":  # an RFC 9943 signed statement, if it is one
        from evidence.ledger.intake.metadata.scitt import extract_statement

        return {"scitt_statement": extract_statement(path)}
    if media_type == "application/pdf":
        from evidence.ledger.intake.metadata.c2pa_check import check_c2pa
        from evidence.ledger.intake.metadata.pdf import extract_pdf

        return {"pdf": extract_pdf(path), "c2pa": check_c2pa(path, media_type)}
    office_claim = media_type == "application/zip" and (claimed or "").startswith(_OFFICE_TYPES)
    if media_type.startswith(_OFFICE_TYPES) or office_claim:
        from evidence.ledger.intake.metadata.office import extract_office

        return {"office": extract_office(path)}
    return {}  # plain text, legacy binary formats, ...: basic facts only
