"""Changing the keys a witness pins for a log it already follows (``Witness.change_keys``,
``evidence witness keys``): a log's new Ed25519 key after a rotation, its ML-DSA-44 key once
it signs with one, a revoked key dropped. The latest cosigned checkpoint stays; every
refused change leaves the state as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from evidence.cli.main import cli
from evidence.ledger.anchor.witness_client import format_add_checkpoint
from evidence.verify.note import ALG_COSIGNATURE_V1, ALG_MLDSA44, generate_signer, sign_note
from evidence.witness.core import BAD_SIGNATURE, Refusal
from evidence.witness.cosigner import Witness, WitnessError
from tests.support.tiny_log import ORIGIN, TinyLog


def _state(w: Witness) -> list[tuple]:
    return [(r.origin, tuple(k.to_string() for k in r.keys), r.size, r.root, r.note)
            for r in w.store.logs()]


def test_rotation_mldsa_and_revocation(tmp_path: Path) -> None:
    w = Witness.init(tmp_path / "w", "witness.example/w1")
    log = TinyLog().grow(8)
    old, new = log.signer, generate_signer(ORIGIN)
    pq = generate_signer(ORIGIN, ALG_MLDSA44)

    def request(prev: int, signers: list, pq_line: bool = False) -> bytes:
        body = log.checkpoint().to_text()
        note = sign_note(body, signers) + (
            pq.signature_line(body.encode(), cosigned_at=0) if pq_line else "")
        return format_add_checkpoint(prev, log.proof(prev, log.size) if prev else [], note)

    def refused(body: bytes, says: str) -> None:
        before = _state(w)
        with pytest.raises(Refusal) as info:
            w.add_checkpoint(body)
        assert info.value.kind == BAD_SIGNATURE and says in info.value.reason, info.value
        assert _state(w) == before

    w.add_log(ORIGIN, [old.verifier()])
    w.add_checkpoint(request(0, [old]))
    # the log rotates: a checkpoint by the new key alone is refused until it is pinned
    log.grow(4)
    refused(request(8, [new]), "")
    w.change_keys(ORIGIN, add=[new.verifier()])
    assert _state(w)[0][2] == 8  # the latest cosigned checkpoint stays
    w.add_checkpoint(request(8, [new]))
    # the log adds its ML-DSA-44 key: from now on required
    log.grow(4)
    w.change_keys(ORIGIN, add=[pq.verifier()])
    refused(request(12, [new]), "no signature by the pinned ML-DSA-44 log key")
    w.add_checkpoint(request(12, [new], pq_line=True))
    # the old key revoked and dropped: a checkpoint it alone signs is refused
    log.grow(4)
    w.change_keys(ORIGIN, drop=[old.verifier()])
    refused(request(16, [old], pq_line=True), "")
    w.add_checkpoint(request(16, [new], pq_line=True))
    assert _state(w)[0][2] == 20

    # refused changes, nothing changed
    before = _state(w)
    witness_key = generate_signer(ORIGIN, ALG_COSIGNATURE_V1).verifier()
    for kwargs, says in (
            ({"add": [new.verifier()]}, "already pinned"),
            ({"drop": [old.verifier()]}, "is not pinned"),
            ({"drop": [new.verifier()]}, "at least one pinned Ed25519"),
            ({"add": [witness_key]}, "neither an Ed25519"),
            ({}, "name a key")):
        with pytest.raises(WitnessError, match=says):
            w.change_keys(ORIGIN, **kwargs)
        assert _state(w) == before, kwargs
    with pytest.raises(WitnessError, match="not followed"):
        w.change_keys("example.org/unknown", add=[old.verifier()])
    assert _state(w) == before


def test_the_command(tmp_path: Path) -> None:
    d = tmp_path / "w"
    Witness.init(d, "witness.example/w1")
    log = TinyLog()
    old, new = log.signer.verifier().to_string(), generate_signer(ORIGIN).verifier().to_string()
    run = CliRunner().invoke
    assert run(cli, ["witness", "add-log", "--dir", str(d), "--origin", ORIGIN,
                     "--key", old]).exit_code == 0
    r = run(cli, ["witness", "keys", "--dir", str(d), "--origin", ORIGIN, "--add", new,
                  "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"ok": True, "origin": ORIGIN, "keys": [old, new],
                                     "size": 0}
    r = run(cli, ["witness", "keys", "--dir", str(d), "--origin", ORIGIN, "--drop", new,
                  "--drop", old])
    assert r.exit_code == 1 and "nothing changed" in r.stderr, r.output
    r = run(cli, ["witness", "keys", "--dir", str(d), "--origin", ORIGIN, "--add", "junk"])
    assert r.exit_code == 2 and "bad key" in r.stderr, r.output
    r = run(cli, ["witness", "keys", "--dir", str(d), "--origin", ORIGIN, "--drop", old])
    assert r.exit_code == 0 and new in r.stdout and old not in r.stdout, r.output
    r = run(cli, ["witness", "info", "--dir", str(d), "--json"])
    assert [lg["keys"] for lg in json.loads(r.stdout)["logs"]] == [[new]], r.stdout
