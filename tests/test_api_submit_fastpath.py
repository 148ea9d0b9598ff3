"""The submission fast path (evidence/api/hot/submit.py) answers exactly as the FastAPI route.

Two apps share ONE open service (one ledger, one blob store, one rate limiter): one with
the fast path, one without (``ApiSettings(fast_submit=False)``: every submission goes
through FastAPI's router, dependencies and exception middleware). Each request, good
or hostile, is sent to both through a small ASGI driver that controls how the body is
chunked and when the client hangs up; the answers must agree in status, headers and
body (for a success: everything but the new item's id, time, receipt and commitment),
and the ledger effects must agree: one new entry for a 201, nothing (no entry, no blob,
no spool file) for anything else. The same requests over a real uvicorn are in
tests/test_api_e2e.py, which now runs through the fast path.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from evidence.api.app import create_app
from evidence.api.services import Services
from evidence.api.settings import ApiSettings
from tests.test_api_e2e import make_world

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


async def _call(app: Any, headers: list[tuple[bytes, bytes]], chunks: list[bytes],
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
            answers.append(asyncio.run(_call(app, headers, chunks, hang_up)))
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


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return make_world(tmp_path_factory.mktemp("fastpath") / "data")


@pytest.fixture(scope="module")
def pair(world: Any) -> Iterator[Pair]:
    with Pair(world.data) as p:
        yield p


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


def test_good_submissions_agree(pair: Pair, world: Any) -> None:
    content = b"the same listing, twice " + os.urandom(8).hex().encode()
    for fields in ({}, {"title": "A listing", "meta": '{"shop": "example"}',
                        "source_url": "https://shop.example/item/1",
                        "captured_at": "2026-01-02T03:04:05Z"}):
        b = good(content, **fields)
        fast, slow = pair.both([auth(world), MULTIPART, *with_length(b)], [b])
        assert fast.status == 201, fast.body
        assert json.loads(fast.body)["files"] == json.loads(slow.body)["files"]
    # several files, sent in small chunks, no Content-Length
    b = body(part("case", b"case-a"), part("kind", b"other"),
             part("file", b"one " + os.urandom(4).hex().encode(), b"a.txt"),
             part("files", b"two " + os.urandom(4).hex().encode(), b"b.txt"))
    fast, _ = pair.both([auth(world), MULTIPART], [b[i:i + 7] for i in range(0, len(b), 7)])
    assert fast.status == 201 and len(json.loads(fast.body)["files"]) == 2
    # deferred signing: 202, stored, nothing on the ledger
    b = good(sign="deferred")
    fast, _ = pair.both([auth(world), MULTIPART, *with_length(b)], [b])
    assert fast.status == 202, fast.body


def test_who_may_submit_agrees(pair: Pair, world: Any) -> None:
    b = good()
    h = [MULTIPART, *with_length(b)]
    tok = world.tokens["acme"].encode()
    cases = {
        "no token": ([], 401), "basic": ([(b"authorization", b"Basic YWxhZGRpbg==")], 401),
        "bearer alone": ([(b"authorization", b"Bearer")], 401),
        "bearer blank": ([(b"authorization", b"Bearer    ")], 401),
        "lower-case scheme": ([(b"authorization", b"bearer " + tok)], 201),
        "padded token": ([(b"authorization", b"Bearer   " + tok + b"  ")], 201),
        "malformed": ([(b"authorization", b"Bearer evk_../../etc")], 401),
        "unknown": ([(b"authorization", b"Bearer evk_" + b"A" * 43)], 401),
        "revoked": ([auth(world, "revoked")], 401), "expired": ([auth(world, "expired")], 401),
        "court": ([auth(world, "judge")], 403), "foreign": ([auth(world, "foreign")], 403),
        "auditor": ([auth(world, "auditor")], 403), "admin": ([auth(world, "admin")], 403),
        "another case": ([auth(world, "rival")], 404),
        "two headers": ([(b"authorization", b"Bearer nonsense"), auth(world)], 401),
    }
    for name, (extra, status) in cases.items():
        fast, _ = pair.both([*extra, *h], [good()] if status == 201 else [b])
        assert fast.status == status, (name, fast.body)


def test_hostile_bodies_agree(pair: Pair, world: Any) -> None:
    a = auth(world)
    big = os.urandom(MAX_FILE + 1)
    huge = body(part("case", b"case-a"), part("kind", b"other"), *(
        part("file", os.urandom(MAX_FILE - 100), b"f%d" % i) for i in range(5)))
    cases: list[tuple[list[tuple[bytes, bytes]], list[bytes], bool, int]] = [
        ([(b"content-type", b"application/json")], [b'{"case": "case-a"}'], False, 415),
        ([(b"content-type", b"multipart/form-data")], [good()], False, 400),
        ([(b"content-type", b"multipart/form-data; boundary=" + b"x" * 201)], [b"x"], False,
         400),
        ([MULTIPART, (b"content-length", b"12x")], [good()], False, 400),
        ([MULTIPART, (b"content-length", str(MAX_UPLOAD + 1).encode())], [b"x"], False, 413),
        ([MULTIPART], [huge[:40000], huge[40000:]], False, 413),  # no length, too long
        ([MULTIPART], [good(big)], False, 413),  # file-too-large
        ([MULTIPART], [body(part("case", b"case-a"), part("file", b"x", b"a"))], False, 422),
        ([MULTIPART], [body(part("case", b"case-a"), part("kind", b"other"))], False, 422),
        ([MULTIPART], [good(colour="red")], False, 400),
        ([MULTIPART], [body(part("case", b"case-a"), part("case", b"case-b"),
                            part("kind", b"other"), part("file", b"x", b"a"))], False, 400),
        ([MULTIPART], [good(meta="{not json")], False, 400),
        ([MULTIPART], [good(meta='["a list"]')], False, 422),
        ([MULTIPART], [good(sign="now")], False, 422),
        ([MULTIPART], [good(kind="nonsense")], False, 422),
        ([MULTIPART], [body(part("case", b"case-a"), part("kind", b"other"),
                            part("file", b"", b"empty.txt"))], False, 422),
        ([MULTIPART], [body(part("case", b"no-such-case"), part("kind", b"other"),
                            part("file", b"x", b"a"))], False, 404),
        ([MULTIPART], [body(part("case", b"\xff"), part("kind", b"other"))], False, 400),
        ([MULTIPART], [body(part("file", b"x", b"a"), part("upload", b"y", b"b"))], False,
         400),
        ([MULTIPART], [b"--B\r\nX-Nothing: here\r\n\r\nx\r\n--B--\r\n"], False, 400),
        ([MULTIPART], [b"this is not multipart at all"], False, 400),
        ([MULTIPART], [good()[:-30]], False, 400),  # truncated: no closing boundary
        ([MULTIPART], [good()[:120], good()[120:200]], True, 400),  # aborted mid-body
        ([MULTIPART], [], True, 400),  # hung up before any byte
    ]
    for name in (b"../../etc/passwd", b"a/b.txt", b"..", b".", b"a\\b.txt", b"",
                 b"tab\there", b"nul\x00", b"\xff\xfe.txt", b"x" * 256):
        cases.append(([MULTIPART], [body(part("case", b"case-a"), part("kind", b"other"),
                                         part("file", b"x", name))], False, 400))
    for headers, chunks, hang_up, status in cases:
        fast, _ = pair.both([a, *headers], chunks, hang_up)
        assert fast.status == status, (headers, chunks[:1], fast.body)
        assert fast.header(b"content-type") == b"application/problem+json"


def test_cors_headers_agree(pair: Pair, world: Any) -> None:
    b = good()
    fast, _ = pair.both([auth(world), MULTIPART, (b"origin", b"https://elsewhere.example")],
                        [b])
    assert fast.status == 201 and fast.header(b"access-control-allow-origin") == b"*"
    fast, _ = pair.both([(b"origin", b"null"), MULTIPART], [b])
    assert fast.status == 401 and fast.header(b"access-control-allow-origin") == b"*"


def test_rate_limit_agrees(tmp_path: Path) -> None:
    world = make_world(tmp_path / "data")
    p = Pair(world.data)
    try:
        p.svc.limiter.rate, p.svc.limiter.burst = 0.001, 1  # one request, then ~1000 s
        h = [auth(world), MULTIPART]
        assert asyncio.run(_call(p.fast, h, [good()], False)).status == 201
        fast, slow = p.both(h, [good()])
        assert fast.status == 429 and fast.header(b"retry-after") == slow.header(b"retry-after")
        assert math.isclose(int(fast.header(b"retry-after") or 0), 1000, abs_tol=1)
        # a court's token: the fast path leaves it to the route, which takes from its
        # bucket before refusing the role: 403, then 429 on either path
        h = [auth(world, "judge"), MULTIPART]
        assert asyncio.run(_call(p.fast, h, [good()], False)).status == 403
        fast, slow = p.both(h, [good()])
        assert fast.status == 429
    finally:
        p.close()


# any multipart body, cut anywhere, chunked anyhow: the same answer and the same effects
_names = st.sampled_from(["case", "kind", "title", "meta", "source_url", "captured_at",
                          "sign", "file", "files"] * 4 + ["colour", ""])
_values = st.one_of(st.sampled_from([b"case-a", b"case-b", b"document", b"other", b"",
                                     b'{"a": "b"}', b"{", b"deferred", b"2026-01-01"]),
                    st.binary(max_size=40))
_filenames = st.one_of(st.none(), st.sampled_from([b"a.txt", b"b.jpg", b"..", b"a/b", b"",
                                                    b"\xff"]),
                       st.binary(min_size=1, max_size=12))


@st.composite
def _requests(draw: Any) -> tuple[bytes, list[bytes], bool]:
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


@settings(max_examples=120, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(req=_requests())
def test_any_body_agrees(pair: Pair, world: Any, req: tuple[bytes, list[bytes], bool]) -> None:
    _b, chunks, hang_up = req
    fast, _ = pair.both([auth(world), MULTIPART], chunks, hang_up)
    event(f"status {fast.status}")
