"""The submission fast path (evidence/api/hot/submit.py) answers exactly as the FastAPI route.

Two apps share ONE open service (one ledger, one blob store, one rate limiter): one with
the fast path, one without (``ApiSettings(fast_submit=False)``: every submission goes
through FastAPI's router, dependencies and exception middleware). Each request, good
or hostile, is sent to both through a small ASGI driver that controls how the body is
chunked and when the client hangs up; the answers must agree in status, headers and
body (for a success: everything but the new item's id, time, receipt and commitment),
and the ledger effects must agree: one new entry for a 201, nothing (no entry, no blob,
no spool file) for anything else. The same requests over a real uvicorn are in
tests/api/test_api_e2e.py, which runs through the fast path. The apps and the
driver are in tests/support/submit_pair.py; the ``world`` and ``pair`` fixtures in
tests/equivalence/conftest.py.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings

from tests.support.api_server import make_world
from tests.support.submit_pair import (
    MAX_FILE,
    MAX_UPLOAD,
    MULTIPART,
    Pair,
    any_request,
    auth,
    body,
    call_asgi,
    good,
    part,
    with_length,
)


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
        assert asyncio.run(call_asgi(p.fast, h, [good()], False)).status == 201
        fast, slow = p.both(h, [good()])
        assert fast.status == 429 and fast.header(b"retry-after") == slow.header(b"retry-after")
        assert math.isclose(int(fast.header(b"retry-after") or 0), 1000, abs_tol=1)
        # a court's token: the fast path leaves it to the route, which takes from its
        # bucket before refusing the role: 403, then 429 on either path
        h = [auth(world, "judge"), MULTIPART]
        assert asyncio.run(call_asgi(p.fast, h, [good()], False)).status == 403
        fast, slow = p.both(h, [good()])
        assert fast.status == 429
    finally:
        p.close()


def test_idempotency_keys_agree(pair: Pair, world: Any) -> None:
    """The same script of keyed requests on each path (each with its own keys, so that
    the second path is not answered from the first's): equal answers step by step, a
    replay byte-identical to its path's first answer, and the same ledger effects."""
    from evidence.api.idempotency import IN_FLIGHT

    content = b"keyed " + os.urandom(8).hex().encode()
    b = good(content, title="Keyed")
    script: list[tuple[str, list[tuple[bytes, bytes]], list[bytes], bool, int, int]] = [
        # (name, extra headers, chunks, hang up, status, new entries)
        ("first", [(b"idempotency-key", b'"K1"')], [b], False, 201, 1),
        ("replay", [(b"idempotency-key", b"K1")], [b[:50], b[50:]], False, 201, 0),
        ("reused", [(b"idempotency-key", b'"K1"')], [good(content, title="Other")], False,
         422, 0),
        ("too long", [(b"idempotency-key", b"k" * 256)], [b], False, 400, 0),
        ("space", [(b"idempotency-key", b'"a b"')], [b], False, 400, 0),
        ("unclosed", [(b"idempotency-key", b'"K1')], [b], False, 400, 0),
        ("non-ascii", [(b"idempotency-key", b"caf\xc3\xa9")], [b], False, 400, 0),
        ("twice", [(b"idempotency-key", b'"K1"'), (b"idempotency-key", b'"K1"')], [b], False,
         400, 0),
        ("cut off", [(b"idempotency-key", b'"K2"')], [b[:120]], True, 400, 0),
        ("after the cut", [(b"idempotency-key", b'"K2"')], [good(content + b"2")], False, 201,
         1),
        ("in flight", [(b"idempotency-key", b'"K3"')], [b], False, 409, 0),
    ]
    answers: dict[str, list[Any]] = {"fast": [], "slow": []}
    for path, app in (("fast", pair.fast), ("slow", pair.slow)):
        for name, extra, chunks, hang_up, status, entries in script:
            headers = [auth(world), MULTIPART,
                       *[(k, v.replace(b"K", path.encode() + b"-K")) for k, v in extra]]
            leave = (IN_FLIGHT.enter("acme", f"{path}-K3") if name == "in flight"
                     else None)
            before = pair.effects()
            try:
                a = asyncio.run(call_asgi(app, headers, chunks, hang_up))
            finally:
                if leave is not None:
                    leave()
            after = pair.effects()
            assert a.status == status, (path, name, a.body)
            assert after[0] - before[0] == entries, (path, name)
            assert after[2] == 0, (path, name)  # no upload left behind
            if status not in (201, 202):
                assert after[1] == before[1], (path, name)  # no blob kept
            answers[path].append(a)
        first, replay = answers[path][0], answers[path][1]
        assert replay.body == first.body and replay.header(b"idempotent-replayed") == b"true"
        assert first.header(b"idempotent-replayed") is None
        assert answers[path][-1].header(b"retry-after") == b"1"
    for (name, *_rest), fast, slow in zip(script, answers["fast"], answers["slow"],
                                          strict=True):
        assert fast.normal() == slow.normal(), name


# any multipart body, cut anywhere, chunked anyhow: the same answer and the same effects
@pytest.mark.slow  # 120 generated requests through both paths: seconds (the fixed cases stay quick)
@settings(max_examples=120, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(req=any_request())
def test_any_body_agrees(pair: Pair, world: Any, req: tuple[bytes, list[bytes], bool]) -> None:
    _b, chunks, hang_up = req
    fast, _ = pair.both([auth(world), MULTIPART], chunks, hang_up)
    event(f"status {fast.status}")
