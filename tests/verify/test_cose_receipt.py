"""Our own reader of COSE receipts (verify/cose_receipt.py): it accepts what ledger/cose.py
signs for every entry, and refuses every hostile variant with one clear error, never a
crash: bytes cut anywhere, each byte changed, non-shortest and indefinite CBOR, duplicate
map keys, another key, another entry, a size the log never had."""

from __future__ import annotations

import pytest

from evidence.ledger.cose import CoseSizeRefused, cose_receipt, encode_cbor, log_signer
from evidence.ledger.log import Ledger
from evidence.verify.cose_receipt import (
    MalformedReceipt,
    decode_cbor,
    key_kid,
    verify_cose_receipt,
)
from evidence.verify.errors import VerificationError
from evidence.verify.note import generate_signer


@pytest.fixture(scope="module")
def led(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("coseown") / "data"
    ledger = Ledger.create(d, "coseown.example/log", checkpoint_interval=3600)
    for i in range(9):
        ledger.append("test.note", {"n": i})
    ledger.sign_checkpoint_now()
    yield ledger
    ledger.close()


def test_every_entry_verifies(led: Ledger) -> None:
    signer = log_signer(led)
    for size in (1, 2, 5, 9):
        for seq in range(size):
            got = verify_cose_receipt(cose_receipt(led, signer, seq, size), led.verifier,
                                      led.entry(seq).data)
            assert (got.tree_size, got.leaf_index) == (size, seq)
            assert got.root == led.root(size) and got.kid == key_kid(led.verifier)


def test_sizes_the_log_never_had_are_refused(led: Ledger) -> None:
    signer = log_signer(led)
    for seq, size in ((0, 10), (0, 0), (0, 2**64), (5, 5), (8, 3)):
        with pytest.raises(CoseSizeRefused):
            cose_receipt(led, signer, seq, size)


def test_every_cut_and_every_changed_byte_is_refused(led: Ledger) -> None:
    data = cose_receipt(led, log_signer(led), 4, 9)
    entry = led.entry(4).data
    for n in range(len(data)):
        with pytest.raises(VerificationError):
            verify_cose_receipt(data[:n], led.verifier, entry)
        for bit in (0x01, 0x80):
            bad = data[:n] + bytes([data[n] ^ bit]) + data[n + 1:]
            with pytest.raises(VerificationError):
                verify_cose_receipt(bad, led.verifier, entry)
    with pytest.raises(VerificationError):
        verify_cose_receipt(data + b"\x00", led.verifier, entry)


def test_another_entry_or_key_is_refused(led: Ledger) -> None:
    data = cose_receipt(led, log_signer(led), 4, 9)
    with pytest.raises(VerificationError, match="does not verify"):
        verify_cose_receipt(data, led.verifier, led.entry(5).data)
    other = generate_signer(led.origin).verifier()
    with pytest.raises(MalformedReceipt, match="kid"):
        verify_cose_receipt(data, other, led.entry(4).data)


def test_the_cbor_reader_is_strict() -> None:
    for bad in (b"\x18\x05",          # 5 not in its shortest form
                b"\x9f\x01\xff",      # indefinite-length array
                b"\xa2\x01\x01\x01\x02",  # key 1 twice
                b"\xfb" + bytes(8),   # a float
                b"\x5a\xff\xff\xff\xff",  # a byte string longer than the input
                b"\x81" * 20 + b"\x01",   # nested too deeply
                b"\x01\x02"):         # bytes after the item
        with pytest.raises(MalformedReceipt):
            decode_cbor(bad)
    value = {1: -8, 4: b"k", 395: 1, -1: [b"", "t", None]}
    assert decode_cbor(encode_cbor(value)) == {1: -8, 4: b"k", 395: 1,
                                               -1: [b"", "t", decode_cbor(b"\xf6")]}
