"""Reading an evidence bundle as hostile input: the ZIP checks made before any claim is.

A bundle is one ZIP file (format ``evidence-bundle/v2`` or ``v1``, byte layout in
``docs/bundle.md``). :class:`BundleReader` opens it and refuses it, with a
:class:`BundleError` in English and Chinese, unless: every member name is one a
format knows (so no path can leave anywhere: nothing is extracted at all, and a v2
file name part is checked by :func:`evidence.verify.bundle_names.name_part_ok`), has
no NUL, is flagged UTF-8 when it is not ASCII and carries no Unicode Path extra field
(which other unzip tools would show instead); there are no symlinks, no duplicates,
no encryption, no folder entries and no overlapping members; and counts, sizes and
compression ratios are within :class:`Limits`. Member bytes are then read bounded,
or streamed and hashed, never trusted by their headers: a stored member's local
header must agree with the central directory.

What the members claim is checked in :mod:`evidence.verify.bundle`.

Which format the bundle is, and so which of the two file layouts it must use, is
known only once the manifest is read: that is the ``manifest`` check's business.

Imports: stdlib, ``evidence.verify.errors`` and ``evidence.verify.bundle_names`` only.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from evidence.verify.bundle_names import FORMAT_V1, FORMAT_V2, INDEX, name_part_ok
from evidence.verify.errors import MalformedInput, VerificationError

FORMAT = FORMAT_V2
"""The format the exporter writes; ``bundle_names.FORMATS`` are those this reader and
:mod:`evidence.verify.bundle` accept."""
MANIFEST = "manifest.json"
CHECKPOINT = "checkpoint/checkpoint.note"
METADATA = "metadata/metadata.json"
TOOL = "tools/verify_bundle.py"
NOT_ORIGINAL = "not the original bundle file: ask for the original"
NOT_ORIGINAL_ZH = "不是原始证据包文件：请索取原件"
CHUNK = 1 << 20
"""Bytes read at a time when a member is streamed through a hash."""

_MEMBER_PATTERNS = (
    re.compile(r"\Amanifest\.json\Z"),
    re.compile(r"\Aentries/(0|[1-9][0-9]{0,15})\.entry\Z"),
    re.compile(r"\Aproofs/(0|[1-9][0-9]{0,15})\.json\Z"),
    re.compile(r"\Acheckpoint/checkpoint\.note\Z"),
    re.compile(r"\Atimestamps/(0|[1-9][0-9]{0,2})\.(tst|chain\.pem)\Z"),
    re.compile(r"\Ametadata/metadata\.json\Z"),
    re.compile(r"\Afiles/[0-9a-f]{64}\Z"),
    re.compile(r"\Areport/report\.(html|txt|pdf)\Z"),
    re.compile(r"\Atools/verify_bundle\.py\Z"),
    re.compile(r"\Atlog-proof/item\.tlog-proof\Z"),
    re.compile(r"\Aers/item\.ers\Z"),
    re.compile(r"\Aindex\.html\Z"),
)
"""Every member name the formats allow (docs/bundle.md) besides v2's file members
(:data:`V2_FILE`); any other name is refused."""
V2_FILE = re.compile(r"\Afiles/([0-9a-f]{64})/(.+)\Z", re.DOTALL)
"""A v2 file member; its name part must also pass ``name_part_ok``."""
V1_FILE = re.compile(r"\Afiles/[0-9a-f]{64}\Z")
_UNICODE_EXTRAS = (0x7075, 0x6375)
"""Info-ZIP Unicode Path and Unicode Comment extra fields: unzip, bsdtar and 7-Zip show
their name instead of the one the verifiers checked, so no member may carry one."""


def known_name(name: str) -> bool:
    """A member name one of the formats allows (docs/bundle.md, "Members")."""
    if any(p.match(name) for p in _MEMBER_PATTERNS):
        return True
    m = V2_FILE.match(name)
    return m is not None and name_part_ok(m.group(2))


def layout_error(fmt: str, name: str) -> str | None:
    """Why member ``name`` is not of format ``fmt``'s layout (the ``manifest`` check), or
    None. Both layouts pass the archive check, which runs before the format is known."""
    if fmt == FORMAT_V1 and (V2_FILE.match(name) or name == INDEX):
        return f"member {name[:100]!r} is not of the {FORMAT_V1} layout"
    if fmt == FORMAT_V2 and V1_FILE.match(name):
        return f"member {name[:100]!r} is not of the {FORMAT_V2} layout"
    return None


def _extra_ids(extra: bytes) -> Iterator[int]:
    pos = 0
    while pos + 4 <= len(extra):
        ident, size = struct.unpack_from("<HH", extra, pos)
        yield ident
        pos += 4 + size
_LOCAL_HEADER = 30
"""Fixed part of a ZIP local file header (before the name and extra field)."""
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
               zlib.error, NotImplementedError, RuntimeError)
"""What :mod:`zipfile` raises for damaged or unsupported members (zlib.error for a
corrupt deflate stream, RuntimeError for encryption, NotImplementedError for methods)."""


def parse_json(data: bytes, what: str) -> Any:
    """A JSON member, or :class:`MalformedInput` naming it (never a parser's own error)."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedInput(f"{what} is not UTF-8 JSON") from None


class BundleError(VerificationError):
    """The archive cannot be read safely: it is refused before any check. ``zh`` is the
    Chinese for the court's column (the English names the member, for the technician)."""

    def __init__(self, message: str, zh: str = "归档文件已损坏或不安全，无法读取") -> None:
        super().__init__(message)
        self.zh = zh


@dataclass(frozen=True)
class Limits:
    """Bounds for hostile archives. Evidence files may be large (video); the
    structure members never are."""

    max_members: int = 20_000
    max_file_size: int = 64 << 30
    max_total_size: int = 256 << 30
    max_small_member: int = 16 << 20
    max_ratio: int = 200
    """Largest uncompressed/compressed ratio of a member over 1 MiB, and of the
    archive as a whole (beyond its first 1 MiB)."""


DEFAULT_LIMITS = Limits()
"""The bounds used unless a caller passes its own."""


class BundleReader:
    """A ZIP opened for reading with every structural check done up front.

    Nothing is ever extracted: members are read into memory (small ones, bounded)
    or streamed through a hash (files)."""

    def __init__(self, source: str | IO[bytes], limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        try:
            self._zip = zipfile.ZipFile(source)
        except _ZIP_ERRORS as e:
            raise BundleError(f"not a readable ZIP archive: {e}",
                              "不是可读取的 ZIP 归档文件（文件已损坏或不是证据包）") from None
        try:
            self.infos = self._check_structure(self._zip.infolist())
        except BundleError:
            self._zip.close()
            raise

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> BundleReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_structure(self, infos: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
        lim = self.limits
        if len(infos) > lim.max_members:
            raise BundleError(f"archive has {len(infos)} members; the limit is {lim.max_members}",
                              f"归档文件有 {len(infos)} 个成员，超过上限 {lim.max_members}")
        if any(i.filename.endswith("/") or i.filename.startswith("__MACOSX/") for i in infos):
            # folder entries are what a zip tool adds when a clerk unzips and re-zips
            raise BundleError(f"{NOT_ORIGINAL} (the archive has folder entries, as written by "
                              "a zip tool, not by the exporter)", NOT_ORIGINAL_ZH)
        out: dict[str, zipfile.ZipInfo] = {}
        total = compressed = 0
        for info in infos:
            name = info.filename
            if "\0" in info.orig_filename:
                raise BundleError(f"member name {name[:100]!r} has a NUL byte (a name that "
                                  "tools would read differently)",
                                  "归档文件成员名含有空字节（已拒绝）")
            if not info.flag_bits & 0x800 and not info.orig_filename.isascii():
                raise BundleError(f"member name {name[:100]!r} is not ASCII and not marked "
                                  "UTF-8", "归档文件成员名不是 ASCII 且未标记为 UTF-8（已拒绝）")
            if any(i in _UNICODE_EXTRAS for i in _extra_ids(info.extra)):
                raise BundleError(f"member {name[:100]!r} carries a second (Unicode) name "
                                  "that unzip tools would show instead",
                                  "归档文件成员带有另一个（Unicode）名称，解压工具会显示该名称（已拒绝）")
            if not known_name(name):
                raise BundleError(f"unexpected member {name[:100]!r} (not part of the format; "
                                  "absolute paths, '..' and unknown names are refused)",
                                  "归档文件含有不属于证据包格式的成员（已拒绝）")
            if name in out:
                raise BundleError(f"duplicate member {name!r}", "归档文件含有重复的成员")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise BundleError(f"member {name!r} is a symbolic link",
                                  "归档文件含有符号链接（已拒绝）")
            if info.flag_bits & 0x1:
                raise BundleError(f"member {name!r} is encrypted", "归档文件含有加密成员")
            is_file = name.startswith("files/")
            allowed = (zipfile.ZIP_STORED,) if is_file else (zipfile.ZIP_STORED,
                                                             zipfile.ZIP_DEFLATED)
            if is_file and info.compress_type == zipfile.ZIP_DEFLATED:
                raise BundleError(f"{NOT_ORIGINAL} (evidence file {name[:80]!r} is compressed; "
                                  "the exporter stores evidence files as they are)",
                                  NOT_ORIGINAL_ZH)
            if info.compress_type not in allowed:
                raise BundleError(f"member {name!r} uses compression method "
                                  f"{info.compress_type}; evidence files must be stored, "
                                  "other members stored or deflated",
                                  "归档文件使用了不支持的压缩方式")
            if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
                raise BundleError(f"stored member {name!r} declares {info.file_size} bytes but "
                                  f"occupies {info.compress_size}",
                                  "归档文件成员的大小与其头部声明不符")
            cap = lim.max_file_size if is_file else lim.max_small_member
            if info.file_size > cap:
                raise BundleError(f"member {name!r} declares {info.file_size} bytes; limit {cap}",
                                  "归档文件成员超过大小上限")
            if (info.file_size > 1 << 20
                    and info.file_size > lim.max_ratio * max(info.compress_size, 1)):
                raise BundleError(f"member {name!r} expands {info.file_size} bytes from "
                                  f"{info.compress_size} (zip bomb?); the limit is "
                                  f"{lim.max_ratio}x", "归档文件成员的压缩比异常（疑似压缩炸弹）")
            total += info.file_size
            compressed += info.compress_size
            out[name] = info
        if total > lim.max_total_size:
            raise BundleError(f"archive expands to {total} bytes; limit {lim.max_total_size}",
                              "归档文件解压后超过大小上限")
        if total > (1 << 20) + lim.max_ratio * compressed:
            raise BundleError(f"archive expands to {total} bytes from {compressed} "
                              f"(zip bomb?); the limit is {lim.max_ratio}x",
                              "归档文件的压缩比异常（疑似压缩炸弹）")
        self._check_no_overlap(infos)
        if MANIFEST not in out:
            raise BundleError("archive has no manifest.json", "归档文件缺少清单 manifest.json")
        return out

    def _check_no_overlap(self, infos: list[zipfile.ZipInfo]) -> None:
        """Members must not share bytes (an "overlapping" zip bomb reuses one
        compressed stream for many members) nor run into the central directory."""
        end_of_data = getattr(self._zip, "start_dir", None)
        spans = sorted((i.header_offset, i.header_offset + _LOCAL_HEADER
                        + len(i.orig_filename.encode("utf-8", "surrogateescape"))
                        + i.compress_size, i.filename) for i in infos)
        for (_, end, name), (nxt, _, other) in itertools.pairwise(spans):
            if end > nxt:
                raise BundleError(f"members {name!r} and {other!r} overlap in the archive",
                                  "归档文件成员相互重叠（已拒绝）")
        if spans and end_of_data is not None and spans[-1][1] > end_of_data:
            raise BundleError(f"member {spans[-1][2]!r} runs into the central directory",
                              "归档文件成员与中央目录重叠（已拒绝）")

    def read(self, name: str) -> bytes:
        """A small member, whole. Its size is bounded by the structure check, and
        zipfile stops at the declared size and checks the CRC."""
        info = self.infos.get(name)
        if info is None:
            raise BundleError(f"member {name!r} is missing", f"缺少成员 {name!r}")
        try:
            with self._zip.open(info) as f:
                data = f.read(self.limits.max_small_member + 1)
        except _ZIP_ERRORS as e:
            raise BundleError(f"member {name!r} is damaged: {e}", f"成员 {name!r} 已损坏") from None
        if len(data) != info.file_size:
            raise BundleError(f"member {name!r} is not the size its header declares",
                              f"成员 {name!r} 的大小与其头部声明不符")
        return data

    def digest(self, name: str, progress: Callable[[int], None] | None = None
               ) -> tuple[str, int]:
        """SHA-256 and size of a member, streamed (flat memory for large files).

        Stored members (evidence files) are read straight from the archive after
        checking their local header against the central directory: SHA-256 is the
        integrity check, so zipfile's CRC-32 pass, which would only repeat it, is
        skipped. Deflated members go through zipfile, CRC included."""
        info = self.infos.get(name)
        if info is None:
            raise BundleError(f"member {name!r} is missing", f"缺少成员 {name!r}")
        h, n = hashlib.sha256(), 0
        try:
            if info.compress_type == zipfile.ZIP_STORED:
                for chunk in self._stored(info):
                    h.update(chunk)
                    n += len(chunk)
                    if progress:
                        progress(len(chunk))
            else:
                with self._zip.open(info) as f:
                    while chunk := f.read(CHUNK):
                        h.update(chunk)
                        n += len(chunk)
        except _ZIP_ERRORS as e:
            raise BundleError(f"member {name!r} is damaged: {e}", f"成员 {name!r} 已损坏") from None
        if n != info.file_size:
            raise BundleError(f"member {name!r} is not the size its header declares",
                              f"成员 {name!r} 的大小与其头部声明不符")
        return h.hexdigest(), n

    def stream(self, name: str) -> Iterator[bytes]:
        """A stored evidence file in chunks (flat memory), local header checked as for
        :meth:`digest`: for a check that hashes it under another algorithm (an RFC 4998
        record's SHA-512 chain). The caller compares what it hashed; size is checked here."""
        info = self.infos.get(name)
        if info is None or info.compress_type != zipfile.ZIP_STORED:
            raise BundleError(f"member {name!r} is missing or not stored",
                              f"缺少成员 {name!r} 或其未以存储方式保存")
        n = 0
        try:
            for chunk in self._stored(info):
                n += len(chunk)
                yield chunk
        except _ZIP_ERRORS as e:
            raise BundleError(f"member {name!r} is damaged: {e}", f"成员 {name!r} 已损坏") from None
        if n != info.file_size:
            raise BundleError(f"member {name!r} is not the size its header declares",
                              f"成员 {name!r} 的大小与其头部声明不符")

    def read_file(self, name: str) -> bytes:
        """An evidence file (a stored ``files/`` member), whole, for a check that needs
        its bytes (a web capture's WACZ). Bounded by its declared size, which the
        structure check held to ``max_file_size``; the local header is checked as for
        :meth:`digest`. Memory is the file's size."""
        info = self.infos.get(name)
        if info is None:
            raise BundleError(f"member {name!r} is missing", f"缺少成员 {name!r}")
        if info.compress_type != zipfile.ZIP_STORED:  # the structure check refuses it
            raise BundleError(f"member {name!r} is not stored", f"成员 {name!r} 未以存储方式保存")
        try:
            fp = self._seek_data(info)
            data = fp.read(info.compress_size)
        except _ZIP_ERRORS as e:
            raise BundleError(f"member {name!r} is damaged: {e}", f"成员 {name!r} 已损坏") from None
        if len(data) != info.file_size:
            raise BundleError(f"member {name!r} is truncated", f"成员 {name!r} 被截断")
        return data

    def _seek_data(self, info: zipfile.ZipInfo) -> IO[bytes]:
        """The archive positioned at a stored member's first byte, after checking its
        local header's method and name against the central directory."""
        fp = self._zip.fp
        if fp is None:
            raise BundleError("the archive is closed", "归档文件已关闭")
        fp.seek(info.header_offset)
        head = fp.read(_LOCAL_HEADER)
        if len(head) != _LOCAL_HEADER or head[:4] != b"PK\x03\x04":
            raise BundleError(f"member {info.filename!r} has no local header",
                              f"成员 {info.filename!r} 缺少本地文件头（已损坏）")
        (method,) = struct.unpack_from("<H", head, 8)
        name_len, extra_len = struct.unpack_from("<HH", head, 26)
        if method != zipfile.ZIP_STORED or fp.read(name_len) != info.filename.encode():
            raise BundleError(f"member {info.filename!r}: the local header does not match "
                              "the central directory",
                              f"成员 {info.filename!r} 的本地文件头与中央目录不符")
        fp.seek(extra_len, 1)
        return fp

    def _stored(self, info: zipfile.ZipInfo) -> Iterator[memoryview]:
        fp = self._seek_data(info)
        buf = memoryview(bytearray(CHUNK))
        left = info.compress_size
        while left:
            got = fp.readinto(buf[:min(CHUNK, left)])
            if not got:
                raise BundleError(f"member {info.filename!r} is truncated",
                                  f"成员 {info.filename!r} 被截断")
            left -= got
            yield buf[:got]
