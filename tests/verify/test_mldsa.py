"""ML-DSA-44 in signed notes (C2SP signed-note type 0x06, tlog-cosignature v1.1): the
signed message byte for byte, key and signature sizes, the key strings, and what a 0x06
signature does not cover (extension lines). The message is assembled here by hand from the
spec's ``cosigned_message`` struct, never by the code under test."""

from __future__ import annotations

import base64
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA44PublicKey

from evidence.verify.checkpoint import Checkpoint, cosign_checkpoint, verify_checkpoint
from evidence.verify.errors import BadKey, InvalidSignature
from evidence.verify.note import (
    ALG_ED25519,
    ALG_MLDSA44,
    generate_signer,
    key_id,
    open_note,
    parse_note,
    parse_signer_key,
    parse_verifier_key,
    sign_note,
    subtree_message,
)

ORIGIN = "example.com/behind-the-sofa"
ROOT = base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
TEXT = f"{ORIGIN}\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def test_subtree_message_is_the_spec_struct() -> None:
    name = "witness.example/w1"
    want = (b"subtree/v1\n\x00" + bytes([len(name)]) + name.encode()
            + (1679315147).to_bytes(8, "big") + bytes([len(ORIGIN)]) + ORIGIN.encode()
            + (0).to_bytes(8, "big") + (20852163).to_bytes(8, "big") + ROOT)
    assert len(b"subtree/v1\n\x00") == 12
    assert subtree_message(name, 1679315147, TEXT.encode()) == want


def test_sizes_and_key_strings() -> None:
    s = generate_signer("witness.example/w1", ALG_MLDSA44)
    v = s.verifier()
    assert len(v.public_key) == 1312
    data = base64.b64decode(v.to_string().split("+", 2)[2])
    assert data[0] == 0x06 and len(data) == 1313
    assert v.key_id == key_id(v.name, 0x06, v.public_key)
    assert parse_verifier_key(v.to_string()) == v
    assert parse_signer_key(s.to_string()).verifier() == v  # the 32-byte seed round-trips
    line = cosign_checkpoint(TEXT, s, cosigned_at=1679315147)
    blob = base64.b64decode(line.split(" ")[2])
    assert len(blob) == 4 + 8 + 2420
    assert struct.unpack(">IQ", blob[:12]) == (v.key_id, 1679315147)
    # the signature is FIPS 204 pure ML-DSA-44 with an empty context over the struct
    MLDSA44PublicKey.from_public_bytes(v.public_key).verify(
        blob[12:], subtree_message(v.name, 1679315147, TEXT.encode()))
    opened = open_note(TEXT + "\n" + line, [v])
    assert opened.verified[0].cosigned_at == 1679315147 and opened.verified[0].kind == \
        "cosignature"


def test_a_log_signs_with_time_zero_and_witness_counts() -> None:
    log = generate_signer(ORIGIN)
    pq = generate_signer(ORIGIN, ALG_MLDSA44)
    w = generate_signer("w.example/pq", ALG_MLDSA44)
    note = sign_note(TEXT, [log]) + pq.signature_line(TEXT.encode(), cosigned_at=0)
    note += cosign_checkpoint(TEXT, w, cosigned_at=5)
    vc = verify_checkpoint(note, log.verifier(), witness_keys=[w.verifier()], quorum=1)
    assert [(s.name, s.cosigned_at) for s in vc.cosignatures] == [(w.name, 5)]
    line = next(s for s in parse_note(note).signatures if s.key_id == pq.key_id)
    assert struct.unpack(">Q", line.signature[:8]) == (0,)


def test_extension_lines_have_no_mldsa_signature() -> None:
    w = generate_signer("w.example/pq", ALG_MLDSA44)
    text = Checkpoint(ORIGIN, 3, ROOT, ("ext line",)).to_text()
    with pytest.raises(InvalidSignature, match="extension"):
        cosign_checkpoint(text, w)
    # a 0x06 line made over the plain body does not vouch for the body with an extension
    plain = Checkpoint(ORIGIN, 3, ROOT).to_text()
    line = cosign_checkpoint(plain, w, cosigned_at=7)
    with pytest.raises(InvalidSignature):
        open_note(text + "\n" + line, [w.verifier()])


@pytest.mark.parametrize("mutate", ["time", "sig", "short"])
def test_altered_lines_are_rejected(mutate: str) -> None:
    w = generate_signer("w.example/pq", ALG_MLDSA44)
    blob = bytearray(base64.b64decode(cosign_checkpoint(TEXT, w, cosigned_at=9).split(" ")[2]))
    if mutate == "time":
        blob[11] ^= 1
    elif mutate == "sig":
        blob[-1] ^= 1
    else:
        del blob[-1]
    line = f"\u2014 {w.name} {base64.b64encode(bytes(blob)).decode()}\n"
    with pytest.raises(InvalidSignature):
        open_note(TEXT + "\n" + line, [w.verifier()])
    with pytest.raises(InvalidSignature):  # a time past 2^63-1: no message (spec)
        subtree_message(w.name, 2**63, TEXT.encode())


def test_bad_keys_are_refused() -> None:
    v = generate_signer("w.example/pq", ALG_MLDSA44).verifier()
    name, hex_id, b64 = v.to_string().split("+", 2)
    short = base64.b64encode(base64.b64decode(b64)[:-1]).decode()
    with pytest.raises(BadKey):
        parse_verifier_key(f"{name}+{hex_id}+{short}")
    ed_sized = base64.b64encode(bytes([ALG_MLDSA44]) + bytes(32)).decode()
    with pytest.raises(BadKey):
        parse_verifier_key(f"{name}+{key_id(name, ALG_MLDSA44, bytes(32)):08x}+{ed_sized}")
    long_ed = base64.b64encode(bytes([ALG_ED25519]) + v.public_key).decode()
    with pytest.raises(BadKey):
        parse_verifier_key(f"{name}+{key_id(name, ALG_ED25519, v.public_key):08x}+{long_ed}")


def test_note_keeps_the_lines_in_order() -> None:
    log, pq = generate_signer(ORIGIN), generate_signer(ORIGIN, ALG_MLDSA44)
    note = sign_note(TEXT, [log]) + pq.signature_line(TEXT.encode(), cosigned_at=0)
    assert [s.key_id for s in parse_note(note).signatures] == [log.key_id, pq.key_id]
