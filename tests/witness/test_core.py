"""The witness without HTTP: request parser, the pure decision, the SQLite state.

``TinyLog`` (tests/support/tiny_log.py) is the small in-test log built from
``evidence.verify`` alone.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evidence.verify.checkpoint import Checkpoint, sign_checkpoint
from evidence.verify.hashing import EMPTY_ROOT, Hash32
from evidence.verify.note import generate_signer
from evidence.witness.core import (
    BAD_SIGNATURE,
    FORK,
    INCONSISTENT,
    MALFORMED,
    OLD_SIZE_MISMATCH,
    OLD_SIZE_TOO_LARGE,
    ROLLBACK,
    UNKNOWN_LOG,
    LogRecord,
    Refusal,
    check_add_checkpoint,
)
from evidence.witness.cosigner import Witness, WitnessError
from evidence.witness.protocol import (
    MAX_BODY_SIZE,
    MAX_PROOF_LINES,
    MalformedRequest,
    parse_add_checkpoint,
)
from tests.support.tiny_log import ORIGIN, TinyLog


def record(log: TinyLog, size: int = 0) -> LogRecord:
    return LogRecord(log.origin, (log.signer.verifier(),), size, log.checkpoint(size).root)


def decide(rec: LogRecord | None, body: bytes) -> LogRecord:
    return check_add_checkpoint(rec, parse_add_checkpoint(body))


def refused(rec: LogRecord | None, body: bytes) -> Refusal:
    with pytest.raises(Refusal) as info:
        decide(rec, body)
    return info.value


# --- the parser ---------------------------------------------------------------------------


def test_parse_round_trip() -> None:
    log = TinyLog().grow(13)
    req = parse_add_checkpoint(log.request(5))
    assert req.old_size == 5 and list(req.proof) == log.proof(5, 13)
    assert req.checkpoint == log.checkpoint() and req.note == log.note()
    assert parse_add_checkpoint(log.request(0)).proof == ()


@pytest.mark.parametrize("body, says", [
    (b"", "no empty line"),
    (b"old 0\n", "no empty line"),
    (b"new 0\n\n", "does not start with 'old"),
    (b"old 01\n\nx", "leading zero"),
    (b"old -1\n\nx", "not a decimal"),
    (b"old 18446744073709551616\n\nx", r"larger than 2\^64-1"),
    (b"old 1 \n\nx", "not a decimal"),
    (b"old 3\nAAAA\n\nx", "not the base64 of a 32-byte hash"),
    (b"old 3\n" + b"!" * 44 + b"\n\nx", "not valid base64"),
    (b"old 3\r\n\nx", "not a decimal"),
    (b"old 0\n\nnot a note\n", "checkpoint:"),
    (b"old 0\n\n\xff\xfe\n\n", "not valid UTF-8"),
])
def test_parse_refuses(body: bytes, says: str) -> None:
    with pytest.raises(MalformedRequest, match=says):
        parse_add_checkpoint(body)


def test_parse_limits() -> None:
    log = TinyLog().grow(3)
    h = base64.b64encode(b"\x01" * 32) + b"\n"
    too_long = b"old 1\n" + h * (MAX_PROOF_LINES + 1) + b"\n" + log.note().encode()
    with pytest.raises(MalformedRequest, match="63"):
        parse_add_checkpoint(too_long)
    ok = b"old 1\n" + h * MAX_PROOF_LINES + b"\n" + log.note().encode()
    assert len(parse_add_checkpoint(ok).proof) == MAX_PROOF_LINES
    with pytest.raises(MalformedRequest, match="limit"):
        parse_add_checkpoint(b"old 0\n\n" + b"a" * MAX_BODY_SIZE)
    # non-canonical base64 of a hash (last char's spare bits set)
    canon = base64.b64encode(b"\x00" * 32)
    bent = canon[:42] + b"B="
    with pytest.raises(MalformedRequest, match="canonical"):
        parse_add_checkpoint(b"old 1\n" + bent + b"\n\n" + log.note().encode())


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_fuzz_parser_raises_only_malformed(body: bytes) -> None:
    with contextlib.suppress(MalformedRequest):
        parse_add_checkpoint(body)


_GOOD = TinyLog().grow(9)
_GOOD_BODY = _GOOD.request(4)


@pytest.mark.slow
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_parser_mutations(data: st.DataObject) -> None:
    """Valid bodies with bytes flipped, cut or inserted: parsed, or MalformedRequest."""
    body = bytearray(_GOOD_BODY)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        i = data.draw(st.integers(0, max(len(body) - 1, 0)))
        if op == "flip" and body:
            body[i] = data.draw(st.sampled_from(b"\n \x00\xe2\x80\x94=+/0123456789AZaz"))
        elif op == "cut":
            del body[i : i + data.draw(st.integers(1, 50))]
        else:
            body[i:i] = data.draw(st.binary(max_size=20))
    with contextlib.suppress(MalformedRequest):
        parse_add_checkpoint(bytes(body))


# --- the decision ---------------------------------------------------------------------------


def test_first_checkpoint_and_growth() -> None:
    log = TinyLog().grow(3)
    rec = decide(record(log), log.request(0))
    assert (rec.size, rec.root, rec.note) == (3, log.checkpoint().root, log.note())
    log.grow(10)
    rec = decide(rec, log.request(3))
    assert rec.size == 13
    # same checkpoint again: nothing new, cosigned again (spec: all checks pass)
    assert decide(rec, log.request(13)).size == 13


def test_unknown_origin_404() -> None:
    log = TinyLog().grow(2)
    r = refused(None, log.request(0))
    assert (r.kind, r.status) == (UNKNOWN_LOG, 404)


def test_bad_signatures_403() -> None:
    log = TinyLog().grow(5)
    rec = record(log)
    # signed by another key of the same name
    impostor = generate_signer(ORIGIN)
    r = refused(rec, log.request(0, note=log.note(signer=impostor)))
    assert (r.kind, r.status) == (BAD_SIGNATURE, 403)
    # the log's real signature over another body (root changed after signing)
    note = log.note()
    cp = log.checkpoint()
    forged = note.replace(base64.b64encode(cp.root).decode(),
                          base64.b64encode(b"\x07" * 32).decode())
    r = refused(rec, log.request(0, note=forged))
    assert (r.kind, r.status) == (BAD_SIGNATURE, 403)


def test_old_size_larger_than_checkpoint_400() -> None:
    log = TinyLog().grow(5)
    r = refused(record(log, 0), log.request(7, 5, proof=[]))
    assert (r.kind, r.status) == (OLD_SIZE_TOO_LARGE, 400)


def test_rollback() -> None:
    log = TinyLog().grow(9)
    rec = record(log, 9)
    r = refused(rec, log.request(9, 4, proof=[]))
    assert (r.kind, r.status, r.size_conflict) == (ROLLBACK, 400, False)
    assert "smaller than size 9" in r.reason
    r = refused(rec, log.request(4, 4))
    assert (r.kind, r.status, r.size) == (ROLLBACK, 409, 9) and r.size_conflict


def test_wrong_old_size_409_with_size() -> None:
    log = TinyLog().grow(12)
    r = refused(record(log, 6), log.request(3))
    assert (r.kind, r.status, r.size) == (OLD_SIZE_MISMATCH, 409, 6) and r.size_conflict


def test_fork_same_size_other_root() -> None:
    log = TinyLog().grow(8)
    other = log.fork(5).grow(3)
    r = refused(record(log, 8), other.request(8))
    assert (r.kind, r.status, r.size_conflict) == (FORK, 409, False)
    assert log.checkpoint().root.hex() in r.reason and other.checkpoint().root.hex() in r.reason


def test_fork_with_larger_size_fails_consistency_422() -> None:
    log = TinyLog().grow(8)
    other = log.fork(5).grow(6)  # size 11, consistent with its own size 8, not with ours
    r = refused(record(log, 8), other.request(8))
    assert (r.kind, r.status) == (INCONSISTENT, 422)
    assert "bogus or the log forked" in r.reason


@pytest.mark.parametrize("mangle", [
    lambda p: [bytes(32)] * len(p),
    lambda p: p[:-1],
    lambda p: [*p, bytes(32)],
    lambda p: list(reversed(p)),
])
def test_bogus_proof_422(mangle) -> None:
    log = TinyLog().grow(21)
    good = log.proof(13, 21)
    r = refused(record(log, 13), log.request(13, proof=mangle(good)))
    assert (r.kind, r.status) == (INCONSISTENT, 422)


def test_proof_must_be_empty_from_zero_and_equal_sizes() -> None:
    log = TinyLog().grow(4)
    h = [bytes(32)]
    assert refused(record(log), log.request(0, proof=h)).status == 422
    assert refused(record(log, 4), log.request(4, proof=h)).status == 422


def test_size_zero_checkpoint() -> None:
    log = TinyLog()
    assert decide(record(log), log.request(0)).root == EMPTY_ROOT
    bad = sign_checkpoint(Checkpoint(ORIGIN, 0, Hash32(b"\x01" * 32)), log.signer)
    assert refused(record(log), log.request(0, note=bad)).kind == INCONSISTENT


# --- the witness on disk -------------------------------------------------------------------


@pytest.fixture
def witness(tmp_path: Path) -> Witness:
    return Witness.init(tmp_path / "w", "witness.example/w1")


def state(w: Witness) -> list[tuple]:
    return [(r.origin, r.size, r.root, r.note) for r in w.store.logs()]


def test_init_refuses_to_overwrite(tmp_path: Path, witness: Witness) -> None:
    with pytest.raises(WitnessError, match="already exists"):
        Witness.init(tmp_path / "w", "witness.example/w1")
    assert Witness.open(tmp_path / "w").verifier_key == witness.verifier_key


def test_add_log_with_initial_checkpoint(witness: Witness) -> None:
    log = TinyLog().grow(6)
    witness.add_log(ORIGIN, [log.signer.verifier()], log.note())
    assert state(witness) == [(ORIGIN, 6, log.checkpoint().root, log.note())]
    with pytest.raises(WitnessError, match="already followed"):
        witness.add_log(ORIGIN, [log.signer.verifier()])
    other = TinyLog("example.org/other").grow(2)
    with pytest.raises(WitnessError, match="not accepted"):
        witness.add_log(other.origin, [other.signer.verifier()], log.note())
    log.grow(3)
    witness.add_checkpoint(log.request(6))
    assert state(witness)[0][1] == 9


def test_refusals_store_nothing_but_keep_evidence(witness: Witness) -> None:
    log = TinyLog().grow(8)
    witness.add_log(ORIGIN, [log.signer.verifier()])
    line = witness.add_checkpoint(log.request(0), now=1700000000)
    assert line.startswith("\u2014 witness.example/w1 ")
    before = state(witness)
    other = log.fork(5).grow(3)
    bad = [
        (other.request(8), FORK),
        (other.grow(2).request(8), INCONSISTENT),
        (log.request(8, 4, proof=[]), ROLLBACK),
        (log.request(3), OLD_SIZE_MISMATCH),
        (log.request(8, note=log.note(signer=generate_signer(ORIGIN))), BAD_SIGNATURE),
        (TinyLog("example.org/unknown").grow(1).request(0), UNKNOWN_LOG),
        (b"old 0\n\ngarbage", MALFORMED),
    ]
    for body, kind in bad:
        with pytest.raises(Refusal) as info:
            witness.add_checkpoint(body)
        assert info.value.kind == kind
        assert state(witness) == before, kind
    kept = witness.store.misbehaviour(ORIGIN)
    assert [k["kind"] for k in kept] == [FORK, INCONSISTENT, ROLLBACK]
    assert kept[0]["request"] == bad[0][0] and "was cosigned with root" in kept[0]["reason"]


def test_a_pinned_mldsa_log_key_is_required(witness: Witness) -> None:
    """A log pinned with its ML-DSA-44 key beside the Ed25519 one: a checkpoint is
    cosigned only with a valid line by it; cut or altered, 403 bad-signature and the state
    unchanged. A log pinned with no Ed25519 key, or with a key of another kind, is not
    followed."""
    from evidence.ledger.anchor.witness_client import format_add_checkpoint
    from evidence.verify.note import ALG_COSIGNATURE_V1, ALG_MLDSA44, sign_note

    log = TinyLog().grow(8)
    pq = generate_signer(ORIGIN, ALG_MLDSA44)

    def note(size: int, line: str | None = None) -> str:
        body = log.checkpoint(size).to_text()
        return sign_note(body, [log.signer]) + (
            pq.signature_line(body.encode(), cosigned_at=0) if line is None else line)

    def request(old: int, n: str) -> bytes:
        size = log.size
        return format_add_checkpoint(old, log.proof(old, size) if 0 < old < size else [], n)

    witness.add_log(ORIGIN, [log.signer.verifier(), pq.verifier()])
    witness.add_checkpoint(request(0, note(8)))
    before = state(witness)
    assert before[0][1] == 8
    log.grow(4)
    good = pq.signature_line(log.checkpoint().to_text().encode(), cosigned_at=0)
    flipped = good[:-6] + ("A" if good[-6] != "A" else "B") + good[-5:]
    for n, says in ((note(12, ""), "no signature by the pinned ML-DSA-44 log key"),
                    (note(12, flipped), "")):
        with pytest.raises(Refusal) as info:
            witness.add_checkpoint(request(8, n))
        assert info.value.kind == BAD_SIGNATURE and says in info.value.reason, info.value
        assert state(witness) == before
    witness.add_checkpoint(request(8, note(12)))
    assert state(witness)[0][1] == 12
    with pytest.raises(WitnessError, match="at least one pinned Ed25519"):
        witness.add_log("example.org/pq-only", [generate_signer("example.org/pq-only",
                                                                ALG_MLDSA44).verifier()])
    other = TinyLog("example.org/other")
    with pytest.raises(WitnessError, match="neither an Ed25519"):
        witness.add_log(other.origin, [other.signer.verifier(), generate_signer(
            other.origin, ALG_COSIGNATURE_V1).verifier()])
    assert [r.origin for r in witness.store.logs()] == [ORIGIN]


def test_concurrent_requests_never_roll_back(witness: Witness) -> None:
    """Many threads race to advance one log; the compare-and-swap keeps the largest."""
    log = TinyLog().grow(40)
    witness.add_log(ORIGIN, [log.signer.verifier()])
    accepted: list[tuple[int, int]] = []
    lock = threading.Lock()

    def advance(target: int) -> None:
        for _ in range(200):
            current = witness.store.get(ORIGIN).size
            if current >= target:
                return
            try:
                witness.add_checkpoint(log.request(current, target))
            except Refusal as r:
                assert r.status == 409 and r.size_conflict, r
                continue
            with lock:
                accepted.append((current, target))
            return

    threads = [threading.Thread(target=advance, args=(t,)) for t in range(5, 41, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert witness.store.get(ORIGIN).size == 40
    # compare-and-swap: every accepted request started where the previous one ended
    chain = sorted(accepted)
    assert chain[0][0] == 0 and chain[-1][1] == 40
    assert all(a[1] == b[0] for a, b in itertools.pairwise(chain)), chain


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=400))
def test_fuzz_witness_refuses_cleanly(witness: Witness, body: bytes) -> None:
    """Arbitrary bodies: a Refusal with an HTTP status, never another exception."""
    log = TinyLog().grow(3)
    if witness.store.get(ORIGIN) is None:
        witness.add_log(ORIGIN, [log.signer.verifier()])
    before = state(witness)
    with pytest.raises(Refusal) as info:
        witness.add_checkpoint(b"old 0\n\n" + body if body[:1] == b"\x00" else body)
    assert info.value.status in (400, 403, 404, 409, 422)
    assert state(witness) == before


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=400),
                      st.builds(lambda b: _GOOD_BODY[: len(b)] + b, st.binary(max_size=300))))
def test_fuzz_http_never_500(witness: Witness, body: bytes) -> None:
    """The ASGI app in-process (the process tests cover the real server): no 5xx, ever."""
    from fastapi.testclient import TestClient

    from evidence.witness.app import create_app

    if witness.store.get(ORIGIN) is None:
        witness.add_log(ORIGIN, [_GOOD.signer.verifier()])
    with TestClient(create_app(witness), raise_server_exceptions=False) as client:
        r = client.post("/add-checkpoint", content=body)
    assert r.status_code in (200, 400, 403, 404, 409, 413, 422), r.text
    if r.status_code != 200:
        assert r.text.endswith("\n") and r.text.strip()
