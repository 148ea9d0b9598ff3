"""C2SP signed notes, checkpoints and cosignatures, against Go/C2SP/Tessera vectors."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence.verify.checkpoint import (
    Checkpoint,
    cosign_checkpoint,
    parse_checkpoint,
    sign_checkpoint,
    verify_checkpoint,
)
from evidence.verify.errors import (
    BadKey,
    InvalidSignature,
    MalformedCheckpoint,
    MalformedInput,
    MalformedNote,
    NoteError,
    NoVerifiedSignature,
    VerificationError,
)
from evidence.verify.hashing import sha256
from evidence.verify.note import (
    ALG_COSIGNATURE_V1,
    MAX_NOTE_SIZE,
    add_signature_lines,
    generate_signer,
    open_note,
    parse_note,
    parse_signer_key,
    parse_verifier_key,
    sign_note,
)
from tests.support.vectors import load_json


@pytest.fixture(scope="module")
def vectors() -> dict:
    return load_json("signed-note", "note_vectors.json")


def test_verify_cases(vectors: dict) -> None:
    assert vectors["verify_cases"]
    for case in vectors["verify_cases"]:
        keys = [parse_verifier_key(k) for k in case["vkeys"]]
        want = case["expect_verified_names"]
        if want is None:
            with pytest.raises(NoteError):
                open_note(case["note"].encode(), keys)
        else:
            assert open_note(case["note"].encode(), keys).verified_names() == want, case["id"]


def test_key_ids(vectors: dict) -> None:
    for case in vectors["key_id_cases"]:
        v = parse_verifier_key(case["vkey"])
        assert f"{v.key_id:08x}" == case["key_id_hex"]
        assert v.to_string() == case["vkey"]


def test_deterministic_signing_byte_for_byte(vectors: dict) -> None:
    for case in vectors["sign_cases"]:
        signer = parse_signer_key(case["skey"])
        assert signer.to_string() == case["skey"]
        assert sign_note(case["text"], [signer]) == case["expected_note"]


def test_published_keys_round_trip(vectors: dict) -> None:
    for name, skey in vectors["published_test_private_keys"].items():
        if name == "note":
            continue
        signer = parse_signer_key(skey)
        note = sign_note("hello\n", [signer])
        assert open_note(note, [signer.verifier()]).verified_names() == [signer.name]


def test_tessera_checkpoint_parses(vectors: dict) -> None:
    case = next(c for c in vectors["verify_cases"] if c["id"] == "tessera-checkpoint-15")
    key = parse_verifier_key(case["vkeys"][0])
    v = verify_checkpoint(case["note"], key)
    assert v.checkpoint.origin == "example.com/log/testdata"
    assert v.checkpoint.size == 15


# --- our own keys, several signers, cosignatures ---


def test_several_keys_and_unknown_signatures() -> None:
    a, b, c = (generate_signer(n) for n in ("a.example", "b.example", "c.example"))
    note = sign_note("text\n", [a, b, c])
    opened = open_note(note, [a.verifier(), c.verifier()])
    assert opened.verified_names() == ["a.example", "c.example"]
    assert [s.name for s in opened.unverified] == ["b.example"]


def test_bad_signature_by_pinned_key_rejects_whole_note() -> None:
    a, b = generate_signer("a.example"), generate_signer("b.example")
    good = sign_note("text\n", [a])
    forged_b = sign_note("other\n", [b]).split("\n\n")[1]
    with pytest.raises(InvalidSignature, match=r"b\.example"):
        open_note(good + forged_b, [a.verifier(), b.verifier()])


def test_wrong_key_id_is_not_a_known_signature() -> None:
    a = generate_signer("a.example")
    note = sign_note("text\n", [a])
    text, line = note.split("\n\n")
    name, b64 = line[2:-1].split(" ")
    blob = bytearray(base64.b64decode(b64))
    blob[0] ^= 0xFF
    bad = f"{text}\n\n\u2014 {name} {base64.b64encode(bytes(blob)).decode()}\n"
    with pytest.raises(NoVerifiedSignature):
        open_note(bad, [a.verifier()])


def test_cosignatures() -> None:
    log = generate_signer("log.example")
    w1 = generate_signer("witness1.example", ALG_COSIGNATURE_V1)
    w2 = generate_signer("witness2.example", ALG_COSIGNATURE_V1)
    cp = Checkpoint("log.example", 10, sha256(b"root"))
    note = sign_checkpoint(cp, log)
    lines = [cosign_checkpoint(cp.to_text(), w, cosigned_at=1_700_000_000) for w in (w1, w2)]
    cosigned = add_signature_lines(note, lines)
    v = verify_checkpoint(cosigned, log.verifier(), witness_keys=[w1.verifier(), w2.verifier()],
                          quorum=2)
    assert [c.name for c in v.cosignatures] == ["witness1.example", "witness2.example"]
    assert all(c.cosigned_at == 1_700_000_000 for c in v.cosignatures)
    assert parse_verifier_key(w1.verifier().to_string()).alg == ALG_COSIGNATURE_V1
    with pytest.raises(NoVerifiedSignature, match="quorum is 3"):
        verify_checkpoint(cosigned, log.verifier(), witness_keys=[w1.verifier(), w2.verifier()],
                          quorum=3)
    # a cosignature over another checkpoint does not count: it is a bad signature
    other = cosign_checkpoint(Checkpoint("log.example", 11, sha256(b"x")).to_text(), w1)
    with pytest.raises(InvalidSignature):
        verify_checkpoint(add_signature_lines(note, [other]), log.verifier(),
                          witness_keys=[w1.verifier()])
    # the timestamp is signed: changing it breaks the cosignature
    name, b64 = lines[0][2:-1].split(" ")
    blob = bytearray(base64.b64decode(b64))
    blob[11] ^= 1
    tampered = f"\u2014 {name} {base64.b64encode(bytes(blob)).decode()}\n"
    with pytest.raises(InvalidSignature):
        verify_checkpoint(add_signature_lines(note, [tampered]), log.verifier(),
                          witness_keys=[w1.verifier()])


def test_checkpoint_origin_and_log_key() -> None:
    log = generate_signer("log.example")
    other = generate_signer("other.example")
    note = sign_checkpoint(Checkpoint("log.example", 3, sha256(b"r")), log)
    with pytest.raises(NoVerifiedSignature):
        verify_checkpoint(note, other.verifier())
    with pytest.raises(MalformedCheckpoint, match="origin"):
        verify_checkpoint(note, log.verifier(), origin="elsewhere")


# --- checkpoint syntax ---


def test_checkpoint_round_trip_with_extensions() -> None:
    cp = Checkpoint("example.org/log", 42, sha256(b"r"), ("ext one", "ext two"))
    assert parse_checkpoint(cp.to_text()) == cp


@pytest.mark.parametrize(
    "text, reason",
    [
        ("o\n1\n", "origin, size and root"),
        ("\n1\n" + base64.b64encode(b"x" * 32).decode() + "\n", "origin"),
        ("o\n01\n" + base64.b64encode(b"x" * 32).decode() + "\n", "canonical"),
        ("o\n-1\n" + base64.b64encode(b"x" * 32).decode() + "\n", "canonical"),
        ("o\n1\n" + base64.b64encode(b"x" * 31).decode() + "\n", "31 bytes"),
        ("o\n1\n!!!!\n", "base64"),
        ("o\n18446744073709551616\n" + base64.b64encode(b"x" * 32).decode() + "\n", "larger than"),
        ("o\n1\n" + base64.b64encode(b"x" * 32).decode() + "\n\n", "empty extension"),
        ("o\n1\n" + base64.b64encode(b"x" * 32).decode(), "newline"),
    ],
)
def test_malformed_checkpoints(text: str, reason: str) -> None:
    with pytest.raises(MalformedCheckpoint, match=reason):
        parse_checkpoint(text)


# --- hostile notes ---

_SIGNER = generate_signer("fuzz.example")
_NOTE = sign_note("fuzz.example\n5\n" + base64.b64encode(b"r" * 32).decode() + "\n", [_SIGNER])


@pytest.mark.parametrize(
    "data, exc, reason",
    [
        (_NOTE.replace("\n\n", "\n").encode(), MalformedNote, "blank line"),
        (_NOTE[:-3].encode() + b"!!\n", MalformedNote, "base64"),
        (_NOTE.encode().replace(b"fuzz.example\n5", b"fuzz.example\xff\n5"), MalformedNote,
         "UTF-8"),
        (_NOTE.replace("\n5\n", "\n5\x07\n").encode(), MalformedNote, "control character"),
        (_NOTE.replace("\n5\n", "\n5\r\n").encode(), MalformedNote, "control character"),
        (b"x" * (MAX_NOTE_SIZE + 1), MalformedNote, "limit"),
        (_NOTE[:-1].encode(), MalformedNote, "newline"),
        (_NOTE.encode() + b"\xe2\x80\x94 fuzz.example AAAA\n", MalformedNote, "too short"),
        (_NOTE.encode() + b"- fuzz.example AAAAAAAA\n", MalformedNote, "does not start"),
        ((_NOTE + "\n").encode(), MalformedNote, "no signature lines"),
    ],
)
def test_hostile_notes(data: bytes, exc: type[Exception], reason: str) -> None:
    with pytest.raises(exc, match=reason):
        open_note(data, [_SIGNER.verifier()])


def test_too_many_signatures() -> None:
    line = _NOTE.split("\n\n")[1]
    with pytest.raises(MalformedNote, match="more than 100"):
        parse_note(_NOTE + line * 100)


@pytest.mark.parametrize(
    "vkey",
    [
        "",
        "name",
        "name+c74f20a3",
        "na me+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",
        "PeterNeumann+c74f20a3+AhpcMQ==",
        "PeterNeumann+c74f20a3+not base64!",
    ],
)
def test_bad_verifier_keys(vkey: str) -> None:
    with pytest.raises(BadKey):
        parse_verifier_key(vkey)


def test_bad_signer_keys() -> None:
    good = generate_signer("k.example").to_string()
    bads = ("", "k.example+00000000+AAAA", good[:-4] + "AAAA", good.replace("+k.example+", "+j+"))
    for bad in bads:
        with pytest.raises(BadKey):
            parse_signer_key(bad)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400), st.integers(0, 10_000))
def test_fuzz_mutated_notes_never_crash_or_falsely_pass(junk: bytes, pos: int) -> None:
    data = bytearray(_NOTE.encode())
    p = pos % (len(data) + 1)
    mutated = bytes(data[:p]) + junk + bytes(data[p + len(junk) // 2 :])
    try:
        opened = open_note(mutated, [_SIGNER.verifier()])
    except (VerificationError, MalformedInput):
        return
    # Only a note whose signed text is unchanged may verify.
    assert opened.text.encode() == _NOTE.split("\n\n")[0].encode() + b"\n"
