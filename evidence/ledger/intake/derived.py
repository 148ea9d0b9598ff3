"""Files derived from a submitted one: a WhatsApp chat ZIP's media, as files of the item.

A WhatsApp "Export chat" with media is one ZIP. The ZIP is preserved byte for byte as
submitted (the item's original); this module then stores each medium of the archive as
a further file of the SAME item, so that the bundle carries it under its own name and
the messages can point at it (docs/evidence-kinds.md, chat; docs/decisions.md D19).
Each derived file's entry object is::

    {"name": safe base name, "media_type": str, "size": int, "sha256": hex,
     "derived_from": {"sha256": the ZIP's SHA-256, "member": the member's name}}

and follows every submitted file in the entry's ``files`` (so the first ``len(paths)``
objects are the submitted files, in order: :func:`originals`).

Hostile archives. A member is streamed from the archive straight into the blob store:
nothing is ever written under a name from the archive, so no name can lead out of
anywhere. The bounds are the bundle reader's (:class:`evidence.verify.bundle_reader.Limits`:
a member over 1 MiB may inflate at most :data:`MAX_RATIO` times, and so may everything
read), plus intake's file-size limit, :data:`MAX_TOTAL` inflated bytes and
:data:`MAX_FILES` media per archive. What is over a bound, encrypted, a symbolic link,
empty, or unreadable (unknown compression, a CRC mismatch: ``zipfile`` reads a member only
to its declared size and checks its CRC there) is left in the ZIP with a warning. The
result depends on the ZIP's bytes and those bounds alone (archive order; no clock, no
randomness): a replayed submission derives the same files.
"""

from __future__ import annotations

import io
import stat
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import IO, Any

from evidence.ledger.blobs import BlobError, BlobRef, BlobStore, BlobTooLarge, StagedBlob
from evidence.ledger.intake.entry_room import ENTRY_LIMIT, listed_size
from evidence.ledger.intake.metadata import safezip, sniff
from evidence.ledger.intake.metadata.chat_summary import MAX_NAME
from evidence.ledger.intake.metadata.chat_zip import chat_member
from evidence.ledger.intake.metadata.errors import MetadataError
from evidence.verify.bundle_names import safe_name

MAX_FILES = 1000
"""Media stored per archive at most. The entry must also hold one object for each, in at
most 65,535 bytes (:mod:`.entry_room`): ``derive``'s ``room`` stops sooner when it is full."""
MAX_MEMBER_NAME = MAX_NAME
"""Characters of a member name recorded in ``derived_from`` (as the chat section lists
it); a member with a longer name is not stored."""
MAX_TOTAL = 2 * 1024 * 1024 * 1024
"""Inflated bytes stored per archive."""
MAX_RATIO = 200
"""Largest inflated/compressed ratio of a member over 1 MiB and of all media read
(beyond their first 1 MiB): the bundle reader's bound."""
_MIB = 1 << 20
_READ_ERRORS = (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, ValueError,
                EOFError, zlib.error)


@dataclass(frozen=True)
class Derived:
    """One medium stored from an archive: its entry object and, when staged, its blob."""

    entry: dict[str, Any]
    staged: StagedBlob | None = None


@dataclass
class Derivation:
    """What one archive gave: its media stored, and why others were not."""

    files: list[Derived] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def originals(files: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The entry's files as submitted (aligned with the item's paths), without the derived."""
    return [f for f in files if "derived_from" not in f]


def is_chat_zip(head: bytes) -> bool:
    return head.startswith(b"PK\x03\x04")


class _Tap(io.RawIOBase):
    """A member as read: its first bytes kept (for the media type), its length counted."""

    def __init__(self, member: IO[bytes]) -> None:
        self.member, self.head, self.size = member, b"", 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.member.read(len(view))
        view[: len(data)] = data
        if len(self.head) < sniff.HEAD_BYTES:
            self.head += data[: sniff.HEAD_BYTES - len(self.head)]
        self.size += len(data)
        return len(data)


def media_type(name: str, head: bytes) -> str:
    """The medium's type from its first bytes. Only ``head`` is looked at: a ZIP inside is
    ``application/zip`` and a text over :data:`~.sniff.HEAD_BYTES` that starts like JSON
    is ``text/plain`` (the sniffer would confirm both on a file, and a member is none)."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "application/zip"
    # one byte short of a full head: the sniffer takes it for the whole file and never
    # opens the path (which names no file)
    return sniff.sniff(PurePath(name), head[: sniff.HEAD_BYTES - 1])  # type: ignore[arg-type]


def derive(store: BlobStore, path: Path, zip_sha256: str, *, max_file_size: int,
           defer: bool, room: int | None = None) -> Derivation:
    """Store the media of the WhatsApp chat archive at ``path`` (content ``zip_sha256``).
    With ``defer`` each blob is only staged (``Derived.staged``: the caller commits or
    aborts it); without, it is stored. An archive that is no chat export gives nothing.
    ``room``: the bytes the item's entry has left for the media's objects
    (:func:`.entry_room.listed_size` each); a medium whose object would not fit is left in
    the ZIP (None: no bound but :data:`MAX_FILES`)."""
    out = Derivation()
    try:
        zf = safezip.open_zip(path)
    except safezip.UnsafeZip:
        return out  # the chat section records why the archive cannot be read
    with zf:
        members = [i for i in zf.infolist() if not i.is_dir()]
        chat = chat_member(members)
        if chat is None:
            return out
        _derive_members(store, zf, [i for i in members if i is not chat], zip_sha256,
                        max_file_size, defer, out, room)
    return out


def _derive_members(store: BlobStore, zf: zipfile.ZipFile, media: list[zipfile.ZipInfo],
                    zip_sha256: str, max_file_size: int, defer: bool, out: Derivation,
                    room: int | None) -> None:
    seen: set[tuple[str, str]] = set()
    total = compressed = 0
    skipped: dict[str, list[str]] = {}
    full = f"the item's log entry is full: it holds at most {ENTRY_LIMIT} bytes"

    def listed(info: zipfile.ZipInfo, media: str, size: int, sha256: str) -> dict[str, Any]:
        name = _base(info.filename)
        return {"name": safe_name(name), "media_type": media, "size": size, "sha256": sha256,
                "derived_from": {"sha256": zip_sha256, "member": info.filename}}

    def skip(why: str, info: zipfile.ZipInfo) -> None:
        skipped.setdefault(why, []).append(info.filename[:80])

    for info in media:
        why = _refusal(info, max_file_size)
        if why is None and len(out.files) >= MAX_FILES:
            why = f"more than {MAX_FILES} media in the archive"
        if why is None and total + info.file_size > MAX_TOTAL:
            why = f"past {MAX_TOTAL} inflated bytes of media in all"
        if why is None and (total + info.file_size
                            > _MIB + MAX_RATIO * (compressed + info.compress_size)):
            why = f"the media inflate more than {MAX_RATIO} times in all (zip bomb?)"
        if why is None and room is not None and listed_size(
                listed(info, "", info.file_size, zip_sha256)) > room:
            why = full  # even with the shortest media type: not read at all
        if why is not None:
            skip(why, info)
            continue
        got = _store_member(store, zf, info, max_file_size, defer)
        if isinstance(got, str):
            skip(got, info)
            continue
        ref, head, staged = got
        total += info.file_size
        compressed += info.compress_size
        if (info.filename, ref.sha256) in seen or ref.sha256 == zip_sha256:
            if staged is not None:
                store.abort(staged)
            continue
        entry = listed(info, media_type(_base(info.filename), head), ref.size, ref.sha256)
        if room is not None:
            cost = listed_size(entry)
            if cost > room:
                if staged is not None:
                    store.abort(staged)
                skip(full, info)
                continue
            room -= cost
        seen.add((info.filename, ref.sha256))
        out.files.append(Derived(entry, staged))
    for why, names in skipped.items():
        shown = ", ".join(repr(n) for n in names[:3]) + (" ..." if len(names) > 3 else "")
        out.warnings.append(f"{len(names)} media file(s) of the archive not stored as files "
                            f"of the item ({why}): {shown}; they remain in the ZIP")


def _refusal(info: zipfile.ZipInfo, max_file_size: int) -> str | None:
    """Why this member is not stored, from its header alone (None: it may be)."""
    if info.flag_bits & 0x1:
        return "encrypted"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "a symbolic link"
    if len(info.filename) > MAX_MEMBER_NAME or "\0" in info.filename:
        return f"a name over {MAX_MEMBER_NAME} characters or with a NUL"
    if info.file_size == 0:
        return "empty"
    if info.file_size > max_file_size:
        return f"over the file size limit of {max_file_size} bytes"
    if info.file_size > _MIB and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        return f"inflates more than {MAX_RATIO} times (zip bomb?)"
    return None


def _store_member(store: BlobStore, zf: zipfile.ZipFile, info: zipfile.ZipInfo,
                  max_file_size: int, defer: bool
                  ) -> tuple[BlobRef, bytes, StagedBlob | None] | str:
    """The member streamed into the store (read at most to its declared size, its CRC
    checked at the end), or why it could not be."""
    try:
        with zf.open(info) as member:
            tap = _Tap(member)
            stream = io.BufferedReader(tap)
            if defer:
                staged: StagedBlob | None = store.stage(stream, max_size=max_file_size)  # type: ignore[arg-type]
                ref = staged.ref  # type: ignore[union-attr]
            else:
                staged, ref = None, store.put(stream, max_size=max_file_size)  # type: ignore[arg-type]
    except BlobTooLarge:
        return f"over the file size limit of {max_file_size} bytes"
    except _READ_ERRORS as e:
        return f"unreadable: {type(e).__name__}"
    except BlobError as e:
        return f"not stored: {e}"
    if tap.size != info.file_size:  # zipfile stops at the declared size; never shorter
        if staged is not None:
            store.abort(staged)
        return "shorter than declared"
    return ref, tap.head, staged


def annotate(section: dict[str, Any], derivation: Derivation) -> bool:
    """Link a WhatsApp archive's chat section (:mod:`.metadata.chat_zip`) to the media
    stored as files of the item: ``media_files[].stored`` and ``attachment_links`` (one
    per attachment the messages name: the member, its SHA-256 and the file's name, or
    nulls; ``ambiguous`` when several members carry that name); and the warnings of
    media not stored. False (nothing done) when the section has no archive."""
    archive = section.get("archive")
    if not isinstance(archive, dict):
        return False
    stored: dict[str, list[dict[str, Any]]] = {}
    for d in derivation.files:
        stored.setdefault(d.entry["derived_from"]["member"], []).append(d.entry)
    by_base: dict[str, list[dict[str, Any]]] = {}
    for m in archive.get("media_files", []):
        same = [e for e in stored.get(m["name"], [])
                if m["sha256"] is None or e["sha256"] == m["sha256"]]
        m["stored"] = bool(same)
        found = {"member": m["name"],
                 "sha256": m["sha256"] or (same[0]["sha256"] if same else None),
                 "file": same[0]["name"] if same else None}
        candidates = by_base.setdefault(_base(m["name"]), [])
        if found not in candidates:  # the same member twice, same content: one medium
            candidates.append(found)
    links = []
    for name in section.get("attachments", []):
        found = by_base.get(_base(name), [])
        link: dict[str, Any] = {"attachment": name, "member": None, "sha256": None,
                                "file": None}
        if len(found) > 1:
            link["ambiguous"] = True
        elif found:
            link.update(found[0])
        links.append(link)
    archive["attachment_links"] = links
    section.setdefault("warnings", []).extend(derivation.warnings)
    return True


def restore(store: BlobStore, paths: Sequence[Path], files: Sequence[Mapping[str, Any]],
            max_file_size: int) -> list[str]:
    """Store again, from their archives, the derived files of ``files`` missing from the
    store (a concurrent gc removed a pre-existing orphan of the same content between our
    put and the commit). ``paths``: the submitted files, aligned with :func:`originals`.
    Returns the SHA-256 of each derived file that could not be restored."""
    source = {f["sha256"]: p for p, f in zip(paths, originals(files), strict=True)}
    lost = []
    for f in files:
        origin = f.get("derived_from")
        if origin is None or store.exists(f["sha256"]):
            continue
        path = source.get(origin["sha256"])
        if path is None or not _restore_one(store, path, origin["member"], f["sha256"],
                                            max_file_size):
            lost.append(f["sha256"])
    return lost


def _restore_one(store: BlobStore, path: Path, member: str, sha256: str,
                 max_file_size: int) -> bool:
    try:
        with safezip.open_zip(path) as zf:
            for info in zf.infolist():
                if info.filename != member or _refusal(info, max_file_size) is not None:
                    continue
                got = _store_member(store, zf, info, max_file_size, defer=False)
                if not isinstance(got, str) and got[0].sha256 == sha256:
                    return True
    except (safezip.UnsafeZip, MetadataError, *_READ_ERRORS):
        return False
    return False


def _base(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1]
