"""Two ASGI apps over ONE open service, one with the submission fast path and one without,
and a small ASGI driver that controls how a request's body is chunked and when the client
hangs up: the fast path's equivalence tests send every request to both and compare.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from evidence.api.app import create_app
from evidence.api.services import Services
from evidence.api.settings import ApiSettings

MAX_UPLOAD = 64 * 1024
MAX_FILE = 16 * 1024
VOLATILE = {"evidence_id", "seq", "leaf_hash", "time", "receipt", "metadata_commitment",
            "pending_id", "text", "expires_at", "sign_url", "files_digest"}


class Answer:
    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def header(self, name: bytes) -> bytes | None:
        return next((v for k, v in self.headers if k == name), None)

    def normal(self) -> tuple[Any, ...]:
        """What must be equal between the two paths."""
        names = [k for k, _v in self.headers]
        if self.status in (201, 202):
            doc = json.loads(self.body)
            fixed = {k: v for k, v in doc.items() if k not in VOLATILE}
            location = self.header(b"location") or b""
            return (self.status, names, sorted(doc), fixed,
                    location.rsplit(b"/", 1)[0] if self.status == 201 else location[:20])
        return self.status, self.headers, self.body


async def call_asgi(app: Any, headers: list[tuple[bytes, bytes]], chunks: list[bytes],
                hang_up: bool) -> Answer:
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
             "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/v1/evidence", "raw_path": b"/v1/evidence", "query_string": b"",
             "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000),
             "server": ("127.0.0.1", 8080)}
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1
                 or hang_up} for i, c in enumerate(chunks)] or [
        {"type": "http.request", "body": b"", "more_body": hang_up}]
    if hang_up:
        messages.append({"type": "http.disconnect"})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()  # after the body: nothing more until cancelled
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Answer(start["status"], list(start["headers"]), body)


class Pair:
    def __init__(self, data: Path, **overrides: Any) -> None:
        base = ApiSettings(data_dir=str(data), rate=1000, burst=1000, max_upload=MAX_UPLOAD,
                           max_file_size=MAX_FILE, anchor=False, **overrides)
        self.svc = Services.open(base)
        self.fast = create_app(base, services=self.svc)
        self.slow = create_app(ApiSettings(**{**base.__dict__, "fast_submit": False}),
                               services=self.svc)
        for app in (self.fast, self.slow):
            app.state.services = self.svc
        self.data = data

    def __enter__(self) -> Pair:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.svc.close()

    def effects(self) -> tuple[int, int, int]:
        blobs = sum(1 for _ in (self.data / "blobs").glob("??/??/*"))
        spool = sum(1 for _ in self.svc.spool.iterdir())
        if self.svc.fast_spool is not None:
            spool += sum(1 for _ in self.svc.fast_spool.glob("upload-*"))
        return self.svc.ledger.size, blobs, spool

    def both(self, headers: list[tuple[bytes, bytes]], chunks: list[bytes],
             hang_up: bool = False) -> tuple[Answer, Answer]:
        """Send to the fast path, then to the route; the effects of each must match."""
        answers, deltas = [], []
        for app in (self.fast, self.slow):
            before = self.effects()
            answers.append(asyncio.run(call_asgi(app, headers, chunks, hang_up)))
            after = self.effects()
            deltas.append((after[0] - before[0], after[1] - before[1], after[2]))
        fast, slow = answers
        assert fast.normal() == slow.normal(), (fast.status, fast.body, slow.status, slow.body)
        for entries, blobs, spool in deltas:
            assert spool == 0  # no upload left behind, whatever happened
            assert entries == (1 if fast.status == 201 else 0)
            if fast.status not in (201, 202):  # (a stored file's twin is not stored again)
                assert blobs == 0
        return fast, slow


def auth(world: Any, who: str = "acme") -> tuple[bytes, bytes]:
    return b"authorization", b"Bearer " + world.tokens[who].encode()


def part(name: str, value: bytes, filename: bytes | None = None,
         ctype: bytes | None = None) -> bytes:
    disp = b'Content-Disposition: form-data; name="' + name.encode() + b'"'
    if filename is not None:
        disp += b'; filename="' + filename + b'"'
    head = disp + (b"\r\nContent-Type: " + ctype if ctype else b"")
    return b"--B\r\n" + head + b"\r\n\r\n" + value + b"\r\n"


def body(*parts: bytes, end: bool = True) -> bytes:
    return b"".join(parts) + (b"--B--\r\n" if end else b"")


MULTIPART = (b"content-type", b"multipart/form-data; boundary=B")


def good(content: bytes = b"", **fields: str) -> bytes:
    fields = {"case": "case-a", "kind": "document", **fields}
    return body(*(part(k, v.encode()) for k, v in fields.items()),
                part("file", content or os.urandom(32).hex().encode(), b"notice.txt",
                     b"text/plain"))


def with_length(b: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-length", str(len(b)).encode())]


# any multipart body, cut anywhere, chunked anyhow
_names = st.sampled_from(["case", "kind", "title", "meta", "source_url", "captured_at",
                          "sign", "file", "files"] * 4 + ["colour", ""])
_values = st.one_of(st.sampled_from([b"case-a", b"case-b", b"document", b"other", b"",
                                     b'{"a": "b"}', b"{", b"deferred", b"2026-01-01"]),
                    st.binary(max_size=40))
_filenames = st.one_of(st.none(), st.sampled_from([b"a.txt", b"b.jpg", b"..", b"a/b", b"",
                                                    b"\xff"]),
                       st.binary(min_size=1, max_size=12))


@st.composite
def any_request(draw: Any) -> tuple[bytes, list[bytes], bool]:
    parts = draw(st.lists(st.tuples(_names, _values, _filenames), max_size=6))
    if draw(st.booleans()):
        parts[:0] = [("case", b"case-a", None), ("kind", b"other", None)]
    b = body(*(part(n, v, f) for n, v, f in parts), end=draw(st.integers(0, 5)) > 0)
    if draw(st.booleans()):  # the usual shape, then mangled a little
        b = good(draw(st.binary(min_size=1, max_size=200)))
    cut = draw(st.integers(0, len(b)))
    b = b[:cut] if draw(st.integers(0, 4)) == 0 else b
    sizes = draw(st.lists(st.integers(1, 64), max_size=8))
    chunks, i = [], 0
    for s in sizes:
        chunks.append(b[i:i + s])
        i += s
    chunks.append(b[i:])
    return b, [c for c in chunks if c], draw(st.integers(0, 5)) == 0
