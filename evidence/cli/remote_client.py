"""The remote CLI's HTTP client: one request, retried; an upload streamed; a download
resumed and checked.

Standard library only (``http.client``): the CLI must not grow a dependency for this,
and httpx is a development dependency here, not a runtime one.

Failures a user can act on become :class:`RemoteFailure` with an exit status:

- the server refused the token (401): exit 4, "log in again" (an expired or revoked
  token is not retried: it will not get better);
- the server cannot be reached (refused connection, DNS failure, timeout, a proxy's
  502/503/504 without a problem document): retried with exponential backoff, at most
  ``retries`` times (default 4: about 7.5 s in all), then exit 5 naming the server;
- the server answers 503 ``unavailable`` (its database busy, or it is starting or
  stopping: nothing was changed): any request is retried the same way, waiting at least
  its ``Retry-After`` (at most ``max_backoff``), then exit 5;
- any other refusal (a problem document, docs/api.md "Errors"): exit 1 with its detail
  and stable ``code``.

What may be retried. A GET is retried after any connection failure. A POST is retried
only while its body was not sent in full: the server stores nothing from a truncated
body (evidence/api/uploads.py), so the retry cannot make a second item. A POST whose
body was sent but whose answer was lost is not retried blindly: the caller decides
(``submit`` asks ``/v1/lookup`` whether the server made the item; see remote_cmds). A
submission carries an ``Idempotency-Key`` (the same on every attempt), so a second send
is answered with the first item if it was made after all; a 409
``idempotency-key-in-flight`` (the first still being committed) is retried after its
Retry-After.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import ssl
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from evidence.cli.remote_config import Remote

EXIT_FAILED = 1
EXIT_AUTH = 4
EXIT_UNREACHABLE = 5
CHUNK = 1 << 20
RETRY_STATUSES = (502, 503, 504)


class RemoteFailure(Exception):
    """What the command prints and exits with."""

    def __init__(self, message: str, *, exit_code: int = EXIT_FAILED, code: str | None = None,
                 status: int | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.code = code
        self.status = status
        self.extra = extra or {}


class AnswerLost(Exception):
    """A POST's body was sent in full and the connection failed before the answer: the
    server may have acted on it. Not retried by the client (see the module doc)."""


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise RemoteFailure(f"the server answered {self.status} with something that is "
                                "not JSON") from None


@dataclass
class Progress:
    """A transfer's progress bar on stderr (rich), or nothing."""

    shown: bool
    _bar: Any = None
    _task: Any = None

    @staticmethod
    def wanted(progress: bool | None, quiet: bool) -> bool:
        """--progress forces the bar, --quiet hides it; otherwise: stderr is a terminal."""
        if quiet:
            return False
        if progress is not None:
            return progress
        return sys.stderr.isatty()

    def start(self, label: str, total: int | None, done: int = 0) -> None:
        if not self.shown:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import (
            Progress as Bar,
        )

        if self._bar is None:
            self._bar = Bar(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                            TransferSpeedColumn(), TimeRemainingColumn(),
                            console=Console(stderr=True, force_terminal=None))
            self._bar.start()
        self._task = self._bar.add_task(label[:40], total=total, completed=done)

    def advance(self, n: int) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=n)

    def reset(self, done: int = 0) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=done)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


@dataclass
class Client:
    """Requests to one evidence server with one token (see the module doc)."""

    remote: Remote
    retries: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0
    timeout: float = 120.0
    progress: Progress = field(default_factory=lambda: Progress(False))
    attempts: int = 0  # connection attempts made (for messages and tests)

    # --- plumbing -------------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        u = urlsplit(self.remote.url)
        if u.scheme == "https":
            return http.client.HTTPSConnection(u.hostname or "", u.port, timeout=self.timeout,
                                               context=ssl.create_default_context())
        return http.client.HTTPConnection(u.hostname or "", u.port, timeout=self.timeout)

    def _target(self, path: str, params: dict[str, Any] | None) -> str:
        prefix = urlsplit(self.remote.url).path
        q = {k: v for k, v in (params or {}).items() if v is not None}
        return prefix + path + (("?" + urlencode(q)) if q else "")

    def _headers(self, extra: dict[str, str] | None, auth: bool) -> dict[str, str]:
        h = {"User-Agent": "evidence-cli", "Accept": "application/json, */*"}
        if auth:
            if not self.remote.token:
                raise RemoteFailure(
                    f"no token for {self.remote.url}: run `evidence login {self.remote.url}` "
                    "or set EVIDENCE_TOKEN", exit_code=EXIT_AUTH, code="no-token")
            h["Authorization"] = f"Bearer {self.remote.token}"
        return {**h, **(extra or {})}

    def _sleep(self, attempt: int, retry_after: str | None = None) -> None:
        delay = min(self.max_backoff, self.backoff * (2 ** attempt))
        if retry_after and retry_after.isdigit():
            delay = min(self.max_backoff, max(delay, float(retry_after)))
        time.sleep(delay)

    def _unreachable(self, why: BaseException | str) -> RemoteFailure:
        return RemoteFailure(
            f"cannot reach the evidence server {self.remote.url} ({why}) after "
            f"{self.attempts} attempt(s); check the address and your connection, or ask its "
            "operator whether it is up. Nothing was changed by this command.",
            exit_code=EXIT_UNREACHABLE, code="server-unreachable")

    def check(self, a: Answer) -> Answer:
        """``a`` if it is a success, else the failure it means."""
        if a.status < 400:
            return a
        doc: dict[str, Any] = {}
        if a.headers.get("content-type", "").startswith(("application/problem+json",
                                                         "application/json")):
            try:
                doc = json.loads(a.body)
            except ValueError:
                doc = {}
        if not isinstance(doc, dict):
            doc = {}
        detail = str(doc.get("detail") or a.body[:300].decode("utf-8", "replace") or a.status)
        code = doc.get("code")
        if a.status == 401:
            raise RemoteFailure(
                f"the server refused the token ({detail}): it has expired, been revoked or "
                f"is not for this server. Log in again: evidence login {self.remote.url}",
                exit_code=EXIT_AUTH, code=code or "unauthorized", status=401)
        extra = {k: v for k, v in doc.items()
                 if k not in ("type", "title", "status", "detail", "code", "instance")}
        raise RemoteFailure(detail, code=code, status=a.status, extra=extra)

    # --- one request ------------------------------------------------------------------------

    def send(self, method: str, path: str, *, params: dict[str, Any] | None = None,
             body: bytes | Callable[[], Iterator[bytes]] | None = None,
             length: int | None = None, headers: dict[str, str] | None = None,
             auth: bool = True, check: bool = True,
             on_response: Callable[[http.client.HTTPResponse], Answer] | None = None
             ) -> Answer:
        """One request, retried as the module doc says. ``body`` is bytes or a function
        giving a fresh iterator of chunks for each attempt (with ``length``)."""
        hdrs = self._headers(headers, auth)
        target = self._target(path, params)
        last: BaseException | str = "no attempt"
        retry_after: str | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(attempt - 1, retry_after)
                retry_after = None
            self.attempts += 1
            conn = self._connection()
            try:
                try:
                    conn.connect()
                except (OSError, http.client.HTTPException) as e:
                    last = e.strerror if isinstance(e, OSError) and e.strerror else e
                    continue
                chunks: Any
                if callable(body):
                    chunks = body()
                    conn.putrequest(method, target, skip_accept_encoding=True)
                    for k, v in {**hdrs, "Content-Length": str(length)}.items():
                        conn.putheader(k, v)
                    conn.endheaders()
                    try:
                        for c in chunks:
                            conn.send(c)
                    except (OSError, http.client.HTTPException) as e:
                        last = e
                        continue  # the body was cut short: the server stores nothing
                else:
                    h = dict(hdrs)
                    if body is not None:
                        h["Content-Length"] = str(len(body))
                    try:
                        conn.request(method, target, body=body, headers=h)
                    except (OSError, http.client.HTTPException) as e:
                        last = e
                        continue
                try:
                    resp = conn.getresponse()
                    if on_response is not None and resp.status < 300:
                        return on_response(resp)
                    a = Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()},
                               resp.read())
                except (OSError, http.client.HTTPException) as e:
                    if method != "GET":
                        raise AnswerLost(str(e)) from None
                    last = e
                    continue
            finally:
                conn.close()
            problem = a.headers.get("content-type", "").startswith("application/problem+json")
            if method == "GET" and a.status in RETRY_STATUSES and not problem:
                last = f"HTTP {a.status} from a proxy"
                continue
            if a.status == 503 and problem and _code(a) == "unavailable":
                # the server is up but its database is busy (or it is starting or
                # stopping): it changed nothing, so any request may be sent again
                if attempt == self.retries:
                    raise RemoteFailure(
                        f"the evidence server {self.remote.url} is busy or unavailable "
                        f"({_detail(a)}) after {self.attempts} attempt(s); try again later. "
                        "Nothing was changed by this command.",
                        exit_code=EXIT_UNREACHABLE, code="unavailable", status=503)
                retry_after = a.headers.get("retry-after")
                continue
            if a.status == 429 and attempt < self.retries:
                retry_after = a.headers.get("retry-after")
                continue
            if (a.status == 409 and attempt < self.retries
                    and b'"idempotency-key-in-flight"' in a.body):
                # the same submission (same key) is still being committed: its answer
                # comes to this request once it is (docs/api.md, "Idempotency-Key")
                retry_after = a.headers.get("retry-after")
                continue
            return self.check(a) if check else a
        raise self._unreachable(last)

    def get_json(self, path: str, **params: Any) -> Any:
        return self.send("GET", path, params=params).json()

    def post_json(self, path: str, doc: Any) -> Any:
        return self.send("POST", path, body=json.dumps(doc).encode(),
                         headers={"Content-Type": "application/json"}).json()

    # --- uploads ----------------------------------------------------------------------------

    def post_multipart(self, path: str, fields: list[tuple[str, str]],
                       files: list[Path], label: str = "uploading",
                       headers: dict[str, str] | None = None) -> Answer:
        """A ``multipart/form-data`` POST streamed from the files (memory stays flat),
        with a progress bar. Retried from the start while the body was not sent in full;
        :class:`AnswerLost` once it was. ``headers``: sent with every attempt (the
        submission's ``Idempotency-Key``)."""
        import secrets
        from urllib.parse import quote

        boundary = "evidence-" + secrets.token_hex(16)
        heads: list[bytes] = []
        for name, value in fields:
            heads.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n'
                         "\r\n".encode() + value.encode("utf-8") + b"\r\n")
        file_heads: list[tuple[bytes, Path, int]] = []
        for p in files:
            fname = p.name
            disp = (f'form-data; name="file"; filename="{fname}"' if fname.isascii()
                    and '"' not in fname and "\\" not in fname else
                    f"form-data; name=\"file\"; filename*=UTF-8''{quote(fname, safe='')}")
            file_heads.append((f"--{boundary}\r\nContent-Disposition: {disp}\r\n"
                               "Content-Type: application/octet-stream\r\n\r\n".encode(),
                               p, p.stat().st_size))
        tail = f"--{boundary}--\r\n".encode()
        total = (sum(map(len, heads)) + sum(len(h) + n + 2 for h, _p, n in file_heads)
                 + len(tail))

        def chunks() -> Iterator[bytes]:
            self.progress.reset(0)
            yield from heads
            for h, p, n in file_heads:
                yield h
                sent = 0
                with open(p, "rb") as f:
                    while data := f.read(CHUNK):
                        sent += len(data)
                        if sent > n:
                            break
                        yield data
                        self.progress.advance(len(data))
                if sent != n:
                    raise RemoteFailure(f"{p} changed while it was being sent; nothing was "
                                        "preserved (the server refuses a short body)")
                yield b"\r\n"
            yield tail

        self.progress.start(label, total)
        try:
            return self.send("POST", path, body=chunks, length=total, headers={
                **(headers or {}), "Content-Type": f"multipart/form-data; boundary={boundary}"})
        finally:
            self.progress.stop()

    # --- downloads --------------------------------------------------------------------------

    def download(self, path: str, dest: Path, *, sha256: str | None = None,
                 size: int | None = None, params: dict[str, Any] | None = None,
                 label: str | None = None,
                 check_file: Callable[[Path], None] | None = None) -> int:
        """GET ``path`` into ``dest`` by way of ``dest.part``: an interrupted transfer is
        resumed with ``Range`` from what the ``.part`` file holds, ``If-Range`` the
        validator of those bytes (a file's ETag is its SHA-256; else the strong ETag the
        server gave, kept in ``dest.part.etag`` so that a later run resumes too), retried
        at most ``retries`` times. The bytes are checked before ``dest`` is made: against
        ``sha256`` (and ``size``) when given, and by ``check_file``; on a mismatch the
        ``.part`` file is removed and nothing is written. Returns the size."""
        part = dest.with_name(dest.name + ".part")
        tag = None if sha256 is not None else dest.with_name(dest.name + ".part.etag")
        last: BaseException | str = "no attempt"
        self.progress.start(label or dest.name, size)
        try:
            for attempt in range(self.retries + 1):
                if attempt:
                    self._sleep(attempt - 1)
                have = part.stat().st_size if part.exists() else 0
                validator = f'"{sha256}"' if sha256 is not None else _read_tag(tag)
                if validator is None or (size is not None and have > size):
                    have = 0  # no validator: a resumed range could splice two bodies
                extra = {"Range": f"bytes={have}-", "If-Range": validator} if have else {}
                self.progress.reset(have)
                try:
                    self.send("GET", path, params=params, headers=extra, on_response=lambda r,
                              h=have: self._receive(r, part, h, tag))
                    break
                except _Interrupted as e:
                    last = e.why
                    continue
            else:
                raise self._unreachable(f"the transfer broke off: {last}")
        finally:
            self.progress.stop()
        n = part.stat().st_size
        try:
            if sha256 is not None:
                got = _sha256_file(part)
                if got != sha256 or (size is not None and n != size):
                    raise RemoteFailure(
                        f"{dest.name}: the bytes received (SHA-256 {got}, {n} bytes) are not "
                        f"the preserved ones (SHA-256 {sha256}); nothing was written. Ask "
                        "again; if it persists, tell the operator (evidence audit)",
                        code="not-the-preserved-bytes")
            if check_file is not None:
                check_file(part)
        except BaseException:
            part.unlink(missing_ok=True)
            if tag is not None:
                tag.unlink(missing_ok=True)
            raise
        os.replace(part, dest)
        if tag is not None:
            tag.unlink(missing_ok=True)
        return n

    def _receive(self, resp: http.client.HTTPResponse, part: Path, have: int,
                 tag: Path | None = None) -> Answer:
        """Write a 200 (from the start) or 206 (from ``have``) body into ``part``; for a
        200, keep its strong ETag in ``tag`` (none: a later resume starts over)."""
        headers = {k.lower(): v for k, v in resp.getheaders()}
        if resp.status == 206:
            rng = headers.get("content-range", "")
            if not rng.startswith(f"bytes {have}-"):
                resp.close()
                part.unlink(missing_ok=True)
                raise _Interrupted(f"the server answered another range ({rng})")
            mode = "ab"
        else:
            mode, have = "wb", 0
            self.progress.reset(0)
            if tag is not None:
                etag = headers.get("etag", "")
                if etag.startswith('"') and etag.endswith('"') and len(etag) <= 200:
                    tag.write_text(etag + "\n", encoding="ascii")
                else:  # a weak or no validator: these bytes cannot be resumed
                    tag.unlink(missing_ok=True)
        expected = headers.get("content-length")
        got = 0
        with open(part, mode) as f:
            try:
                while data := resp.read(CHUNK):
                    f.write(data)
                    got += len(data)
                    self.progress.advance(len(data))
            except (OSError, http.client.HTTPException) as e:
                raise _Interrupted(str(e)) from None
        if expected is not None and expected.isdigit() and got != int(expected):
            raise _Interrupted(f"{got} of {expected} bytes arrived")
        return Answer(resp.status, headers, b"")


def _read_tag(tag: Path | None) -> str | None:
    """The strong ETag kept beside a ``.part`` file, if any."""
    if tag is None:
        return None
    try:
        text = tag.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    ok = text.startswith('"') and text.endswith('"') and 2 < len(text) <= 200
    return text if ok and text.isprintable() else None


def _problem(a: Answer) -> dict[str, Any]:
    try:
        doc = json.loads(a.body)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _code(a: Answer) -> str | None:
    code = _problem(a).get("code")
    return code if isinstance(code, str) else None


def _detail(a: Answer) -> str:
    return str(_problem(a).get("detail") or f"HTTP {a.status}")[:300]


class _Interrupted(Exception):
    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while data := f.read(CHUNK):
            h.update(data)
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read a chunk at a time."""
    return _sha256_file(path)


__all__ = ["EXIT_AUTH", "EXIT_UNREACHABLE", "Answer", "AnswerLost", "Client", "Progress",
           "RemoteFailure", "sha256_file"]
