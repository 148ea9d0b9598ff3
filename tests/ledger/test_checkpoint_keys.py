"""The log's own readers of its checkpoints hold the rule every verifier holds
(docs/verdict.md section 3): ``Ledger.checkpoint_keys()`` gives the Ed25519 keys with
their windows and the ML-DSA-44 key required from its first size, and the tile follower
(:func:`evidence.ledger.tiles.sync_tiles`, which verifies the checkpoint its store
publishes before writing past it) and the witness client's ``require_quorum`` verify with
them through :func:`evidence.verify.checkpoint.verify_checkpoint_windowed`.

A real ledger that adds its ML-DSA-44 key and rotates its Ed25519 key afterwards; a store
whose checkpoint lost its ML-DSA-44 line (or has a line by the key that does not verify)
is refused with the reason and nothing is written; a cosigned note is held to the same
rule by ``require_quorum``."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from evidence.ledger.anchor.witness_client import require_quorum
from evidence.ledger.log import Ledger
from evidence.ledger.tiles import TilesError, sync_tiles
from evidence.ledger.tiles_store import CHECKPOINT, FilesystemTileStore
from evidence.verify.checkpoint import MissingPostQuantum, cosign_checkpoint
from evidence.verify.errors import NoVerifiedSignature, VerificationError
from evidence.verify.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    ALG_MLDSA44,
    add_signature_lines,
    generate_signer,
    parse_note,
)

ORIGIN = "tiles-pq.example/log"
MLDSA_SIG = 8 + 2420  # time and ML-DSA-44 signature, after the key id


def edit_mldsa_line(note: str, how: str) -> str:
    """The note with its ML-DSA-44 line cut, or one byte of its signature flipped."""
    parsed = parse_note(note)
    body = parsed.text + "\n"
    lines = []
    for s in parsed.signatures:
        if len(s.signature) == MLDSA_SIG:
            if how == "cut":
                continue
            prefix, b64 = s.line.rstrip("\n").rsplit(" ", 1)
            raw = bytearray(base64.b64decode(b64))
            raw[200] ^= 1
            lines.append(f"{prefix} {base64.b64encode(bytes(raw)).decode()}\n")
        else:
            lines.append(s.line if s.line.endswith("\n") else s.line + "\n")
    return body + "".join(lines)


@pytest.fixture
def ledger(tmp_path: Path):
    led = Ledger.create(tmp_path / "data", ORIGIN, checkpoint_interval=3600)
    try:
        led.append_many([("custody.note", {"i": i}) for i in range(5)])
        led.sign_checkpoint_now()
        yield led
    finally:
        led.close()


def test_checkpoint_keys(ledger: Ledger) -> None:
    assert ledger.checkpoint_keys() == [(ledger.verifier, None)]  # no ML-DSA-44 key yet
    pq = generate_signer(ORIGIN, ALG_MLDSA44)
    first = ledger.add_mldsa_key(pq)
    assert first == 6  # the entry is seq 5
    keys = ledger.checkpoint_keys()
    assert keys == [(ledger.verifier, None), (pq.verifier(), (first, 2**64 - 1))]
    old = ledger.verifier
    new = generate_signer(ORIGIN)
    w = ledger.rotate_key(new, overlap=2)
    assert ledger.checkpoint_keys() == [(old, (0, w.from_size + 2)),
                                        (new.verifier(), None),
                                        (pq.verifier(), (first, 2**64 - 1))]
    assert {v.alg for v, _ in ledger.checkpoint_keys()} == {ALG_ED25519, ALG_MLDSA44}


@pytest.mark.parametrize("how", ["cut", "bad"])
def test_tile_follower_refuses_a_published_checkpoint_without_its_mldsa_line(
        ledger: Ledger, tmp_path: Path, how: str) -> None:
    store = FilesystemTileStore(tmp_path / "tlog")
    first = ledger.add_mldsa_key(generate_signer(ORIGIN, ALG_MLDSA44))
    ledger.append_many([("custody.note", {"j": i}) for i in range(3)])
    ledger.sign_checkpoint_now()
    done = sync_tiles(ledger, store)
    assert done.size > first
    note = store.get(CHECKPOINT)
    assert note is not None
    forged = edit_mldsa_line(note.decode(), how)
    assert forged != note.decode()
    store.put(CHECKPOINT, forged.encode())
    files = {p: p.read_bytes() for p in sorted((tmp_path / "tlog").rglob("*")) if p.is_file()}
    ledger.append_many([("custody.note", {"k": i}) for i in range(3)])
    ledger.sign_checkpoint_now()
    want = "has no signature by the pinned ML-DSA-44" if how == "cut" else "ML-DSA-44"
    with pytest.raises(TilesError, match=f"not this log's .*{want}"):
        sync_tiles(ledger, store)
    assert {p: p.read_bytes() for p in sorted((tmp_path / "tlog").rglob("*"))
            if p.is_file()} == files  # nothing written past the forged checkpoint
    store.put(CHECKPOINT, note)  # the log's own checkpoint back: the follower goes on
    assert sync_tiles(ledger, store).size == ledger.size


def test_require_quorum_holds_the_mldsa_key(ledger: Ledger) -> None:
    ledger.add_mldsa_key(generate_signer(ORIGIN, ALG_MLDSA44))
    ledger.append_many([("custody.note", {"j": 1})])
    cp = ledger.sign_checkpoint_now()
    witness = generate_signer("witness.test/w1", ALG_COSIGNATURE_V1)
    text = parse_note(cp.note).text
    cosigned = add_signature_lines(cp.note, [cosign_checkpoint(text, witness)])
    keys = ledger.checkpoint_keys()
    vc = require_quorum(cosigned, keys, [witness.verifier()], 1)
    assert vc.checkpoint.size == cp.size and len(vc.cosignatures) == 1
    with pytest.raises(NoVerifiedSignature, match="quorum is 2"):
        require_quorum(cosigned, keys, [witness.verifier()], 2)
    with pytest.raises(MissingPostQuantum):
        require_quorum(edit_mldsa_line(cosigned, "cut"), keys, [witness.verifier()], 1)
    with pytest.raises(VerificationError):
        require_quorum(edit_mldsa_line(cosigned, "bad"), keys, [witness.verifier()], 1)
    # one Ed25519 key alone, as before, does not know the ML-DSA-44 key
    assert require_quorum(edit_mldsa_line(cosigned, "cut"), ledger.verifier,
                          [witness.verifier()], 1).checkpoint.size == cp.size
