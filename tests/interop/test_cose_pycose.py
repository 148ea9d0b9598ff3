"""The log's COSE receipts (RFC 9942) read by code nobody here wrote: ``pycose`` decodes the
COSE_Sign1 and checks its EdDSA signature, ``cbor2`` decodes the headers and the proof, and
the root is recomputed from the inclusion path by a literal transcription of RFC 9162
section 2.1.3.2 in this file (hashlib only). Every entry of a real ledger, at several tree
sizes; a receipt with a changed path or for another entry fails."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

cbor2 = pytest.importorskip("cbor2", reason="pip install pycose (the dev extra)")
pycose_messages = pytest.importorskip("pycose.messages", reason="pip install pycose")
from pycose.keys.curves import Ed25519  # noqa: E402
from pycose.keys.okp import OKPKey  # noqa: E402

from evidence.ledger.cose import cose_receipt, log_signer  # noqa: E402
from evidence.ledger.log import Ledger  # noqa: E402


def _rfc9162_root(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes:
    """RFC 9162 2.1.3.2, step by step."""
    assert index < size
    fn, sn = index, size - 1
    r = hashlib.sha256(b"\x00" + leaf).digest()
    for p in path:
        assert sn != 0
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    assert sn == 0
    return r


def _check_with_pycose(data: bytes, public_key: bytes, entry: bytes) -> tuple[int, int]:
    tagged = cbor2.loads(data)
    assert tagged.tag == 18
    protected = cbor2.loads(tagged.value[0])
    assert protected[1] == -8 and protected[395] == 1  # EdDSA, RFC9162_SHA256
    assert tagged.value[2] is None  # detached payload
    (proof_b,) = tagged.value[1][396][-1]
    size, index, path = cbor2.loads(proof_b)
    root = _rfc9162_root(index, size, entry, path)
    msg = pycose_messages.Sign1Message.decode(data)
    msg.payload = root
    msg.key = OKPKey(crv=Ed25519, x=public_key)
    if not msg.verify_signature():
        raise AssertionError("pycose: the signature does not verify over the recomputed root")
    return size, index


@pytest.fixture(scope="module")
def led(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("cose") / "data"
    ledger = Ledger.create(d, "cose.example/log", checkpoint_interval=3600)
    for i in range(13):
        ledger.append("test.note", {"n": i})
        if i in (0, 6):
            ledger.sign_checkpoint_now()
    yield ledger
    ledger.close()


def test_pycose_verifies_every_entry_at_several_sizes(led: Ledger) -> None:
    signer = log_signer(led)
    pub = led.verifier.public_key
    for size in (1, 7, 8, 13):
        for seq in range(size):
            data = cose_receipt(led, signer, seq, size)
            assert _check_with_pycose(data, pub, led.entry(seq).data) == (size, seq)


def test_pycose_refuses_a_changed_path_or_another_entry(led: Ledger) -> None:
    signer = log_signer(led)
    pub = led.verifier.public_key
    data = cose_receipt(led, signer, 3, 13)
    with pytest.raises(AssertionError, match="does not verify"):
        _check_with_pycose(data, pub, led.entry(4).data)
    tagged = cbor2.loads(data)
    (proof_b,) = tagged.value[1][396][-1]
    size, index, path = cbor2.loads(proof_b)
    path[0] = bytes([path[0][0] ^ 1]) + path[0][1:]
    tagged.value[1][396][-1] = [cbor2.dumps([size, index, path])]
    with pytest.raises(AssertionError, match="does not verify"):
        _check_with_pycose(cbor2.dumps(tagged), pub, led.entry(3).data)


def test_default_size_is_the_latest_checkpoint(led: Ledger, tmp_path: Path) -> None:
    data = cose_receipt(led, log_signer(led), 2)
    size, _ = _check_with_pycose(data, led.verifier.public_key, led.entry(2).data)
    assert size == led.latest_checkpoint().size == 7
