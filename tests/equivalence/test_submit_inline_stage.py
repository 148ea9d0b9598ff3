"""A small upload staged on the event loop (``submission.INLINE_STAGE``) answers exactly as
one staged in a worker thread: same status, headers and body (for a success, all but the
new item's id, time, receipt and commitment), same ledger effects (one entry for a 201,
nothing left behind otherwise), for good and hostile requests."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from hypothesis import HealthCheck, given, settings

from evidence.api import submission
from tests.support.submit_pair import (
    MULTIPART,
    Answer,
    Pair,
    any_request,
    auth,
    body,
    call_asgi,
    good,
    part,
    with_length,
)


def both(pair: Pair, headers: list[tuple[bytes, bytes]], chunks: list[bytes],
         hang_up: bool = False) -> Answer:
    """The fast path with the item staged on the loop, then in a worker thread."""
    answers, deltas = [], []
    saved = submission.INLINE_STAGE
    for inline in (saved, -1):
        submission.INLINE_STAGE = inline
        try:
            before = pair.effects()
            answers.append(asyncio.run(call_asgi(pair.fast, headers, chunks, hang_up)))
            after = pair.effects()
        finally:
            submission.INLINE_STAGE = saved
        deltas.append((after[0] - before[0], after[1] - before[1], after[2]))
    on_loop, in_thread = answers
    assert on_loop.normal() == in_thread.normal(), (on_loop.status, on_loop.body,
                                                    in_thread.status, in_thread.body)
    for entries, blobs, spool in deltas:
        assert spool == 0
        assert entries == (1 if on_loop.status == 201 else 0)
        if on_loop.status not in (201, 202):
            assert blobs == 0
    return on_loop


def test_good_and_refused_items_agree(pair: Pair, world: Any) -> None:
    a = auth(world)
    content = b"the same listing, twice " + os.urandom(8).hex().encode()
    cases: list[tuple[bytes, int]] = [
        (good(content), 201),
        (good(content, title="A listing", meta='{"shop": "example"}',
              source_url="https://shop.example/item/1", captured_at="2026-01-02T03:04:05Z"),
         201),
        (good(b"From: a@example.com\r\nSubject: x\r\n\r\nnot much", kind="email"), 201),
        (body(part("case", b"case-a"), part("kind", b"other"),
              part("file", b"one " + os.urandom(4).hex().encode(), b"a.txt"),
              part("files", b"two " + os.urandom(4).hex().encode(), b"b.txt")), 201),
        (good(meta="{not json"), 400),
        (good(meta='["a list"]'), 422),
        (good(kind="nonsense"), 422),
        (good(sign="now"), 422),
        (body(part("case", b"case-a"), part("kind", b"other"),
              part("file", b"", b"empty.txt")), 422),
        (body(part("case", b"no-such-case"), part("kind", b"other"),
              part("file", b"x", b"a")), 404),
    ]
    for b, status in cases:
        got = both(pair, [a, MULTIPART, *with_length(b)], [b])
        assert got.status == status, (b[:200], got.body)


@settings(max_examples=60, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(req=any_request())
def test_any_body_agrees(pair: Pair, world: Any, req: tuple[bytes, list[bytes], bool]) -> None:
    _b, chunks, hang_up = req
    both(pair, [auth(world), MULTIPART], chunks, hang_up)
