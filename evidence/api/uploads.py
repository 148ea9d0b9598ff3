"""Receiving a submission: a ``multipart/form-data`` body parsed as it streams in.

File parts are written straight to a private spool folder (one sub-folder per part,
named by the submitted base name), a chunk at a time: memory stays flat whatever the
file size. (A small upload stays in memory until intake takes it; a lone such part is
then written into the upload's folder itself.) Nothing reaches the blob store or the
ledger until the WHOLE body has arrived and parsed cleanly; then intake stores the
spooled files exactly as the CLI stores local files (same code path, same checks, same
entry). An upload that is aborted, truncated, oversized or malformed is refused and its
spool folder removed: no blob, no entry.

Names are checked, never cleaned up silently: a name with a path separator, a
control character, ``.`` or ``..`` is refused (400 ``invalid-file-name``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import secrets
import shutil
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser
from python_multipart.multipart import parse_options_header as _parse_options_header
from starlette.requests import Request

from evidence.api.problems import Problem
from evidence.ledger.names import unique_name

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
SPILL = 1 << 20  # a file part stays in memory up to this size, then goes to the spool
MAX_IN_MEMORY = 4 << 20  # and the parts of one upload in memory, together, up to this


@dataclass
class FilePart:
    """One file of an upload: in memory (``buf``) until spilled to ``path``. Public as the
    element type of :attr:`Upload.parts`."""

    name: str
    buf: bytearray = field(default_factory=bytearray)
    path: Path | None = None  # set once spilled (or materialized)


FIELDS = ("case", "kind", "title", "meta", "source_url", "captured_at", "sign",
          "strict_metadata", "dns_records")
FILE_FIELDS = ("file", "files")
MAX_FIELD = 64 * 1024
MAX_HEADER = 16 * 1024
_FILENAME_STAR = re.compile(r"filename\*\s*=\s*([^;]+)", re.IGNORECASE)


@dataclass
class Upload:
    folder: Path | None  # made at the first spill, or by :meth:`materialize`
    fields: dict[str, str] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    size: int = 0
    spool_root: Path | None = None
    parts: list[FilePart] = field(default_factory=list)

    def ensure_folder(self, root: Path | None = None) -> Path:
        """This upload's private folder, ``<root>/upload-<unique>`` (0700), made on first
        use. One ``mkdir`` in the usual case (no tempfile, no exists-check of the root, no
        random bytes from the kernel: this runs once per submission). The name is this
        process's random prefix and a counter; ``mkdir`` refuses an existing name."""
        if self.folder is None:
            root = root or self.spool_root
            assert root is not None
            while True:
                folder = f"{root}/upload-{unique_name()}"
                try:
                    os.mkdir(folder, 0o700)
                except FileNotFoundError:  # the root is gone (or was never made)
                    root.mkdir(parents=True, exist_ok=True, mode=0o700)
                    continue
                except FileExistsError:  # 64 random bits: not in this universe, but
                    continue
                break
            self.folder = Path(folder)
        return self.folder

    def materialize(self, fast_root: Path | None = None) -> list[Path]:
        """Write the parts still in memory to files (in a worker thread, not on the event
        loop): beside the spilled ones if any part spilled, else under ``fast_root`` (a
        tmpfs, when the service has one: small files never touch the disk twice), else
        under the spool. Returns the files' paths in part order."""
        if self.files:
            return self.files
        folder = str(self.ensure_folder(fast_root))
        alone = len(self.parts) == 1  # no other name to meet: no folder of its own
        for i, part in enumerate(self.parts):
            if part.path is None:
                if alone:
                    path = f"{folder}/{part.name}"
                else:
                    part_dir = f"{folder}/{i}"
                    os.mkdir(part_dir, 0o700)
                    path = f"{part_dir}/{part.name}"
                fd = os.open(path, _CREATE, 0o600)
                try:
                    view = memoryview(part.buf)
                    while view:
                        view = view[os.write(fd, view):]
                finally:
                    os.close(fd)
                part.path = Path(path)
                part.buf = bytearray()
            self.files.append(part.path)
        return self.files

    def cleanup(self) -> None:
        """Remove what was spooled: the files and folders made here, by name (cheaper than
        a tree walk); anything unexpected falls back to a full removal."""
        if self.folder is None:
            return
        folder = str(self.folder)
        try:
            for part in self.parts:
                if part.path is not None:
                    path = str(part.path)
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
                    part_dir = path.rsplit("/", 1)[0]
                    if part_dir != folder:  # (a lone in-memory part sits in the folder)
                        os.rmdir(part_dir)
            os.rmdir(folder)
        except OSError:
            shutil.rmtree(self.folder, ignore_errors=True)

    def meta(self) -> dict[str, str]:
        raw = self.fields.get("meta")
        if raw is None or raw == "":
            return {}
        try:
            value = json.loads(raw)
        except ValueError:
            raise Problem(400, "malformed-json", "the meta field is not valid JSON") from None
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise Problem(422, "invalid-input", "meta must be a JSON object of strings")
        return value

    def dns_records(self) -> dict[str, str] | None:
        """The ``dns_records`` field (``evidence submit --dns-record NAME=FILE``): a JSON
        object of DKIM key names (``selector._domainkey.domain``) to their TXT record text,
        so that an e-mail's signature is checked offline against the records the submitter
        captured, exactly as the CLI checks it. Names are compared as the CLI compares them
        (no trailing dot, lower case); a name given twice that way is refused."""
        raw = self.fields.get("dns_records")
        if raw is None or raw == "":
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            raise Problem(400, "malformed-json", "the dns_records field is not valid JSON"
                          ) from None
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise Problem(422, "invalid-input", "dns_records must be a JSON object of strings "
                          '(key name -> TXT record), e.g. {"s1._domainkey.example.com": '
                          '"v=DKIM1; k=rsa; p=..."}')
        out: dict[str, str] = {}
        for k, v in value.items():
            name = k.strip().rstrip(".").lower()
            if not name or name in out:
                raise Problem(422, "invalid-input", f"dns_records: key name {k[:80]!r} is "
                              "empty or given twice")
            out[name] = v.strip()
        return out or None

    def strict_metadata(self) -> bool:
        """The ``strict_metadata`` field (``evidence submit --strict-metadata``): refuse
        the item when a file's metadata is not extracted cleanly, instead of preserving it
        with the errors recorded."""
        raw = self.fields.get("strict_metadata", "").strip().lower()
        if raw in ("", "false", "0"):
            return False
        if raw in ("true", "1"):
            return True
        raise Problem(422, "invalid-input", "strict_metadata must be true or false")


def check_file_name(raw: str) -> str:
    """The submitted base name, or 400: no separators, no control characters, not . or .."""
    name = unicodedata.normalize("NFC", raw)
    if (not name or name in (".", "..") or "/" in name or "\\" in name
            or any(unicodedata.category(c)[0] == "C" for c in name)
            or len(name.encode("utf-8")) > 255):
        raise Problem(400, "invalid-file-name",
                      f"file name {raw[:80]!r} is not a plain base name (no '/', '\\', control "
                      "characters, '.' or '..'; at most 255 bytes)")
    return name


@functools.lru_cache(maxsize=512)
def parse_options_header(value: str | bytes) -> tuple[bytes, dict[bytes, bytes]]:
    """python-multipart's, remembered: most part headers repeat from request to request
    (``form-data; name="case"``). The answer is shared: read it, do not change it."""
    return _parse_options_header(value)


_TOKEN = re.compile(rb"[A-Za-z0-9-]+")
MAX_WHOLE = SPILL  # a body up to this size that arrives in one piece may take the fast parse


def regular_parts(body: bytes, boundary: bytes
                  ) -> list[tuple[list[tuple[bytes, bytes]], int, int]] | None:
    """The parts of a complete multipart body IF it has the plainest shape, else None.

    Each part as (headers, start, end) of its data in ``body``. Plainest shape: starts
    with ``--boundary CRLF``; every part has 1 to 8 header lines ``Name: value`` (name of
    letters, digits and ``-``; no CR or LF inside; at most 1024 bytes), then a blank
    line; every ``CRLF --boundary`` in the body is followed by CRLF (next part) or by
    ``--`` (the end; whatever follows is the epilogue, which python-multipart discards).
    python-multipart parses such a body into exactly these parts, headers and data (held
    by tests/equivalence/test_uploads_parse.py on generated and mangled bodies); anything else,
    including every malformed body, is left to python-multipart, so its errors stay the
    same."""
    first = b"--" + boundary + b"\r\n"
    if not body.startswith(first):
        return None
    delim = b"\r\n--" + boundary
    parts: list[tuple[list[tuple[bytes, bytes]], int, int]] = []
    pos = len(first)
    while True:
        head_end = body.find(b"\r\n\r\n", pos)
        if head_end <= pos:  # no headers, or no blank line
            return None
        lines = body[pos:head_end].split(b"\r\n")
        if len(lines) > 8:
            return None
        headers = []
        for line in lines:
            name, colon, value = line.partition(b":")
            if (not colon or len(line) > 1024 or b"\n" in line or b"\r" in line
                    or not _TOKEN.fullmatch(name)):
                return None
            headers.append((name, value.lstrip(b" ")))
        start = head_end + 4
        end = body.find(delim, start)
        if end < 0:
            return None
        parts.append((headers, start, end))
        after = end + len(delim)
        tail = body[after:after + 2]
        if tail == b"--":
            return parts
        if tail != b"\r\n":
            return None
        pos = after + 2


async def receive_upload(request: Request, spool_root: Path, *, max_upload: int,
                         max_files: int, max_file_size: int, whole: bool = True) -> Upload:
    """Parse the streamed multipart body into spooled files and text fields. A small
    body that arrives in one piece in the plainest shape is split directly
    (:func:`regular_parts`; ``whole=False`` turns that off), any other by
    python-multipart as it streams."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data":
        raise Problem(415, "unsupported-media-type",
                      "send the evidence as multipart/form-data (fields case, kind, ...; "
                      "one or more file parts named 'file')")
    boundary = params.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise Problem(400, "bad-multipart", "the multipart boundary is missing or too long")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Problem(400, "bad-request", "Content-Length is not a number")
        if int(declared) > max_upload:
            raise Problem(413, "too-large", f"the upload is larger than the limit of "
                                            f"{max_upload} bytes")
    up = Upload(None, spool_root=spool_root)
    state = _PartState(up, max_files=max_files, max_file_size=max_file_size)
    parser: MultipartParser | None = None  # made only for a body the direct split leaves
    one_piece = int(declared) if whole and declared is not None else -1
    try:
        async for chunk in request.stream():
            up.size += len(chunk)
            if up.size > max_upload:
                raise Problem(413, "too-large",
                              f"the upload is larger than the limit of {max_upload} bytes")
            if chunk:
                if state.ended:  # the epilogue, discarded (as python-multipart does)
                    continue
                if len(chunk) == one_piece <= MAX_WHOLE:  # the whole body, at once
                    parts = regular_parts(chunk, boundary)
                    if parts is not None:
                        state.feed(chunk, parts)
                        state.raise_pending()
                        continue
                one_piece = -1
                if parser is None:
                    parser = MultipartParser(boundary, state.callbacks())
                try:
                    parser.write(chunk)
                except MultipartParseError as e:
                    raise Problem(400, "bad-multipart", f"malformed multipart body: {e}"
                                  ) from None
                state.raise_pending()
        try:
            if parser is not None:
                parser.finalize()
        except MultipartParseError as e:
            raise Problem(400, "bad-multipart", f"malformed multipart body: {e}") from None
        state.raise_pending()
        if not state.ended:
            raise Problem(400, "truncated-upload", "the multipart body ended before its final "
                          "boundary (truncated upload); nothing was stored")
        if not up.parts:
            raise Problem(422, "invalid-input", "no file parts (name them 'file')")
        for required in ("case", "kind"):
            if not up.fields.get(required):
                raise Problem(422, "invalid-input", f"the field {required!r} is required")
        return up
    except BaseException:
        state.close_file()
        up.cleanup()
        raise
    finally:
        state.close_file()


class _PartState:
    """python-multipart callbacks; errors are parked and raised after ``write`` returns."""

    def __init__(self, up: Upload, *, max_files: int, max_file_size: int) -> None:
        self.up = up
        self.max_files = max_files
        self.max_file_size = max_file_size
        self.ended = False
        self.error: Problem | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._hname = bytearray()
        self._hvalue = bytearray()
        self._file: BinaryIO | None = None
        self._part: FilePart | None = None
        self._file_size = 0
        self._in_memory = 0
        self._field: str | None = None
        self._buf = bytearray()

    def callbacks(self) -> dict[str, Any]:
        return {"on_part_begin": self._begin, "on_header_field": self._hfield,
                "on_header_value": self._hval, "on_header_end": self._hend,
                "on_headers_finished": self._headers_done, "on_part_data": self._data,
                "on_part_end": self._end_part, "on_end": self._end}

    def feed(self, body: bytes, parts: list[tuple[list[tuple[bytes, bytes]], int, int]]
             ) -> None:
        """The callbacks python-multipart would make for these :func:`regular_parts`."""
        for headers, start, end in parts:
            self._begin()
            for name, value in headers:
                self._hfield(name, 0, len(name))
                if value:
                    self._hval(value, 0, len(value))
                self._hend()
            self._headers_done()
            if end > start:
                self._data(body, start, end)
            self._end_part()
        self._end()

    def raise_pending(self) -> None:
        if self.error is not None:
            raise self.error

    def _fail(self, p: Problem) -> None:
        if self.error is None:
            self.error = p

    def close_file(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    def _begin(self) -> None:
        self._headers, self._field, self._buf = [], None, bytearray()
        self._hname, self._hvalue = bytearray(), bytearray()

    def _hfield(self, data: bytes, start: int, end: int) -> None:
        self._hname += data[start:end]

    def _hval(self, data: bytes, start: int, end: int) -> None:
        self._hvalue += data[start:end]
        if len(self._hvalue) > MAX_HEADER:
            self._fail(Problem(400, "bad-multipart", "a part header is too long"))

    def _hend(self) -> None:
        self._headers.append((bytes(self._hname).lower(), bytes(self._hvalue)))
        self._hname, self._hvalue = bytearray(), bytearray()

    def _headers_done(self) -> None:
        if self.error is not None:
            return
        disp = next((v for k, v in self._headers if k == b"content-disposition"), None)
        if disp is None:
            return self._fail(Problem(400, "bad-multipart", "a part has no Content-Disposition"))
        kind, params = parse_options_header(disp)
        try:
            name = params.get(b"name", b"").decode("utf-8")
            filename = params.get(b"filename")
            star = _FILENAME_STAR.search(disp.decode("latin-1"))
            if star:  # RFC 5987: UTF-8''percent-encoded
                charset, _, value = star.group(1).strip().strip('"').partition("''")
                filename = unquote(value, errors="strict").encode() if charset.lower() in (
                    "utf-8", "utf8") else None
                if filename is None:
                    return self._fail(Problem(400, "invalid-file-name",
                                              "filename* must be UTF-8"))
            fname = None if filename is None else filename.decode("utf-8")
        except UnicodeDecodeError:
            return self._fail(Problem(400, "invalid-file-name", "a part's name or file name is "
                                      "not UTF-8"))
        if kind != b"form-data":
            return self._fail(Problem(400, "bad-multipart", "parts must be form-data"))
        if fname is not None or name in FILE_FIELDS:
            if name not in FILE_FIELDS:
                return self._fail(Problem(400, "unknown-field",
                                          f"file part {name!r}: name file parts 'file'"))
            if fname is None:
                return self._fail(Problem(400, "invalid-file-name", "a file part has no "
                                          "filename"))
            if len(self.up.parts) >= self.max_files:
                return self._fail(Problem(413, "too-many-files",
                                          f"at most {self.max_files} files per submission"))
            safe = check_file_name_or_none(fname)
            if safe is None:
                return self._fail(Problem(400, "invalid-file-name",
                                          f"file name {fname[:80]!r} is not a plain base name "
                                          "(no '/', '\\', control characters, '.' or '..'; at "
                                          "most 255 bytes)"))
            self._part = FilePart(safe)
            self._file_size = 0
            self.up.parts.append(self._part)
            return None
        if name not in FIELDS:
            return self._fail(Problem(400, "unknown-field", f"unknown field {name[:40]!r}; "
                                      f"expected {', '.join(FIELDS)} and file parts"))
        if name in self.up.fields:
            return self._fail(Problem(400, "bad-multipart", f"the field {name!r} is repeated"))
        self._field = name
        return None

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self.error is not None:
            return
        n = end - start
        if self._part is not None:
            self._file_size += n
            if self._file_size > self.max_file_size:
                self.close_file()
                self._part = None
                return self._fail(Problem(413, "file-too-large", f"a file is larger than the "
                                          f"limit of {self.max_file_size} bytes"))
            if self._file is not None:
                self._file.write(data[start:end])
            elif (self._file_size <= SPILL
                  and self._in_memory + n <= MAX_IN_MEMORY):
                self._part.buf += data[start:end]
                self._in_memory += n
            else:
                self._spill(self._part)
                assert self._file is not None
                self._file.write(data[start:end])
        elif self._field is not None:
            self._buf += data[start:end]
            if len(self._buf) > MAX_FIELD:
                self._fail(Problem(413, "too-large", f"the field {self._field!r} is longer "
                                   f"than {MAX_FIELD} bytes"))
        return None

    def _spill(self, part: FilePart) -> None:
        """From memory to the spool: a large file streams to disk from here on."""
        folder = self.up.ensure_folder()
        part_dir = folder / str(len(self.up.parts) - 1)
        part_dir.mkdir(mode=0o700)
        part.path = part_dir / part.name
        fd = os.open(part.path, _CREATE, 0o600)
        self._file = os.fdopen(fd, "wb")
        self._file.write(part.buf)
        self._in_memory -= len(part.buf)
        part.buf = bytearray()

    def _end_part(self) -> None:
        if self._part is not None:
            self.close_file()
            self._part = None
        elif self._field is not None and self.error is None:
            try:
                self.up.fields[self._field] = bytes(self._buf).decode("utf-8")
            except UnicodeDecodeError:
                self._fail(Problem(400, "bad-request", f"the field {self._field!r} is not UTF-8"))
        self._field = None

    def _end(self) -> None:
        self.ended = True


def check_file_name_or_none(raw: str) -> str | None:
    try:
        return check_file_name(raw)
    except Problem:
        return None


# --- staging folders: one per server process, swept when a process starts -------------------

_OWN = re.compile(r"w(\d+)-[0-9a-f]{8}")
LEGACY_AGE = 3600.0
"""Folders of older versions (``upload-*`` straight under the shared folder) are removed
once this old: their owner cannot be told."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: not ours to judge, keep
        return True
    return True


def sweep_staging(parent: Path) -> int:
    """Remove the staging folders under ``parent`` of processes that no longer run
    (a server killed mid-upload); return how many. A recycled process id keeps its
    folder until that process ends: the safe side."""
    import time

    removed = 0
    for d in parent.iterdir():
        m = _OWN.fullmatch(d.name)
        try:
            if m is not None:
                if _alive(int(m[1])):
                    continue
            elif not (d.name.startswith("upload-")
                      and d.lstat().st_mtime < time.time() - LEGACY_AGE):
                continue
        except OSError:
            continue
        if d.is_dir() and not d.is_symlink():
            shutil.rmtree(d, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                d.unlink()
        removed += 1
    return removed


def private_staging_folder(root: Path = Path("/dev/shm")) -> Path | None:
    """This server process's own folder for small uploads on tmpfs:
    ``/dev/shm/evidence-uploads-<uid>/w<pid>-<random>`` (0700), after sweeping the
    folders of processes that are gone; or None (no tmpfs: small uploads go to the
    spool). The parent is checked to be ours (a folder, not a symbolic link, owned by
    this user, not readable by others). Each server counts and cleans only its own
    folder; :func:`remove_staging_folder` removes it at shutdown."""
    import stat

    if not root.is_dir():
        return None
    parent = root / f"evidence-uploads-{os.getuid()}"
    try:
        parent.mkdir(mode=0o700, exist_ok=True)
        st = parent.lstat()
    except OSError:
        return None
    if (not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid()
            or stat.S_IMODE(st.st_mode) & 0o077):
        return None
    sweep_staging(parent)
    own = parent / f"w{os.getpid()}-{secrets.token_hex(4)}"
    try:
        own.mkdir(mode=0o700)
    except OSError:
        return None
    return own


def remove_staging_folder(folder: Path | None) -> None:
    if folder is not None and _OWN.fullmatch(folder.name):
        shutil.rmtree(folder, ignore_errors=True)
