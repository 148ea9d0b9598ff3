"""The whole-body multipart split (uploads.regular_parts) parses as python-multipart does.

``receive_upload`` splits a small body that arrived in one piece directly when it has the
plainest shape, and leaves every other body to python-multipart. Here the same body goes
through both (``whole=True`` / ``whole=False``) and the outcome must be identical: the
same fields, the same file parts (names and bytes), or the same problem (status, code,
detail). Bodies are generated well-formed and then, often, mangled.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from evidence.api.problems import Problem
from evidence.api.uploads import receive_upload, regular_parts

BOUNDARY = b"b0undary"


def outcome(body: bytes, spool: Path, *, whole: bool, ctype: bytes | None = None,
            more: bytes = b"") -> Any:
    """``more``: bytes past the declared Content-Length (a broken server or client)."""
    headers = [(b"content-type", ctype or b"multipart/form-data; boundary=" + BOUNDARY),
               (b"content-length", str(len(body)).encode())]
    messages = [{"type": "http.request", "body": body, "more_body": bool(more)}]
    if more:
        messages.append({"type": "http.request", "body": more, "more_body": False})

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    from starlette.requests import Request

    async def run() -> Any:
        req = Request({"type": "http", "method": "POST", "path": "/v1/evidence",
                       "headers": headers}, receive)
        try:
            up = await receive_upload(req, spool, max_upload=1 << 20, max_files=4,
                                      max_file_size=4096, whole=whole)
        except Problem as p:
            return ("problem", p.status, p.code, p.detail)
        try:
            return ("upload", dict(up.fields), [(p.name, bytes(p.buf)) for p in up.parts],
                    up.size)
        finally:
            up.cleanup()

    return asyncio.run(run())


def test_clients_bodies_take_the_direct_split() -> None:
    req = httpx.Request("POST", "http://x/v1/evidence",
                        data={"case": "case-a", "kind": "document", "title": "Ünïcode"},
                        files=[("file", ("a.txt", b"x" * 100, "text/plain")),
                               ("file", ("b.bin", b"\r\n--not it\r\n", None))])
    body = req.read()
    boundary = req.headers["content-type"].split("boundary=")[1].encode()
    parts = regular_parts(body, boundary)
    assert parts is not None and len(parts) == 5
    headers, start, end = parts[4]
    assert body[start:end] == b"\r\n--not it\r\n"
    assert headers[0][0].lower() == b"content-disposition"


def test_same_outcome_on_known_bodies(tmp_path: Path) -> None:
    def part(name: bytes, data: bytes, filename: bytes | None = None) -> bytes:
        disp = b'Content-Disposition: form-data; name="' + name + b'"'
        if filename is not None:
            disp += b'; filename="' + filename + b'"'
        return b"--" + BOUNDARY + b"\r\n" + disp + b"\r\n\r\n" + data + b"\r\n"

    end = b"--" + BOUNDARY + b"--\r\n"
    good = part(b"case", b"case-a") + part(b"kind", b"other") + part(b"file", b"x", b"a.txt")
    bodies = [good + end, good + end[:-2], good + end + b"epilogue", good,
              b"\r\n" + good + end, good.replace(b"\r\n\r\n", b"\r\n \r\n", 1) + end,
              good + b"--" + BOUNDARY + b" \r\n" + end, part(b"file", b"", b"e.txt") + end,
              good + part(b"file", b"y" * 5000, b"big") + end,
              good.replace(b"Content-Disposition", b"Content_Disposition") + end,
              good.replace(b"Content-Disposition:", b"Content-Disposition:   ") + end,
              good.replace(b": form-data", b":form-data") + end,
              part(b"file", b"data\r\n--" + BOUNDARY + b"x", b"t.txt") + end, end, b""]
    for body in bodies:
        for more in (b"", b"--" + BOUNDARY + b"\r\n", good):
            a = outcome(body, tmp_path, whole=True, more=more)
            b = outcome(body, tmp_path, whole=False, more=more)
            assert a == b, (body, more)
    assert not any(tmp_path.iterdir())


_header_names = st.sampled_from([b"Content-Disposition"] * 8 + [
    b"content-disposition", b"Content-Type", b"X-Other", b"Bad Name", b"", b"A_B"])
_values = st.one_of(
    st.sampled_from([b'form-data; name="case"', b'form-data; name="kind"',
                     b'form-data; name="file"; filename="a.txt"',
                     b'form-data; name="file"; filename="b.txt"',
                     b'form-data; name="files"; filename="../x"', b"text/plain",
                     b'form-data; name="title"', b"attachment", b"", b" lead",
                     b'form-data; name="file"; filename*=UTF-8\'\'%C3%A9.txt']),
    st.binary(max_size=30), *[st.just(b'form-data; name="file"; filename="c.txt"')] * 4)
_data = st.one_of(st.sampled_from([b"case-a", b"document", b"other", b"", b"\r\n",
                                   b"\r\n--" + BOUNDARY, b"--" + BOUNDARY + b"--",
                                   b"\r\n--" + BOUNDARY + b"-x", b"x\r\n--b0und"]),
                  st.binary(max_size=50))


@st.composite
def bodies(draw: Any) -> bytes:
    out = b""
    for _ in range(draw(st.integers(0, 5))):
        headers = draw(st.lists(st.tuples(_header_names, _values), min_size=0, max_size=10))
        if draw(st.integers(0, 7)) > 0:  # mostly a plain part: one disposition, a type
            headers = [(b"Content-Disposition", draw(_values)),
                       *headers[:draw(st.integers(0, 1))]]
        head = b"\r\n".join(n + b":" + draw(st.sampled_from([b" "] * 6 + [b"", b"  "])) + v
                            for n, v in headers)
        out += b"--" + BOUNDARY + b"\r\n" + head + b"\r\n\r\n" + draw(_data) + b"\r\n"
    out += draw(st.sampled_from([b"--" + BOUNDARY + b"--\r\n"] * 4 + [
                                 b"--" + BOUNDARY + b"--",
                                 b"--" + BOUNDARY + b"--trailing", b"", b"--" + BOUNDARY]))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):  # mangle: cut, add, replace
        if not out:
            break
        i = draw(st.integers(0, len(out) - 1))
        how = draw(st.integers(0, 2))
        b = draw(st.sampled_from([b"\r", b"\n", b"-", b" ", b":", b"x", b"\x00"]))
        out = out[:i] if how == 0 else out[:i] + b + out[i + (how == 2):]
    return out


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=bodies())
def test_same_outcome_on_generated_bodies(tmp_path: Path, body: bytes) -> None:
    event("direct split" if regular_parts(body, BOUNDARY) is not None else "python-multipart")
    a = outcome(body, tmp_path, whole=True)
    event(a[0] if a[0] == "upload" else f"problem {a[2]}")
    assert a == outcome(body, tmp_path, whole=False)
