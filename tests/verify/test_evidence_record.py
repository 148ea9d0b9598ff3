"""RFC 4998 evidence records: made with a real local TSA, renewed, verified, and refused when
hostile. Bouncy Castle's side is in tests/interop/test_ers_bouncycastle.py."""

from __future__ import annotations

import hashlib

import pytest

from evidence.ledger.anchor.ers import ErsTsa, build_records, renew_hash_tree, renew_timestamps
from evidence.ledger.anchor.tsa_client import TsaClientError
from evidence.verify import der
from evidence.verify.evidence_record import (
    EvidenceRecordError,
    bytes_document,
    parse_evidence_record,
    verify_evidence_record,
)
from evidence.verify.timestamp import PolicyMismatch
from tests.support.ports import free_ports
from tests.support.tsa import LocalTSA

FILES = [[b"the original contract.pdf"], [b"chat.zip", b"photo-1.jpg", b"voice.opus"],
         [b"a web capture"], [b"fourth"], [b"fifth item"]]


def docs(files: list[bytes]) -> list:
    return [bytes_document(f) for f in files]


@pytest.fixture(scope="module")
def tsa_ep(tsa: LocalTSA) -> ErsTsa:
    return ErsTsa(url=tsa.url, ca_pems=(tsa.ca_cert_pem,))


@pytest.fixture(scope="module")
def records(tsa_ep: ErsTsa) -> list[bytes]:
    return build_records([docs(f) for f in FILES], tsa_ep)


def test_each_record_covers_its_item_and_only_it(records: list[bytes], tsa: LocalTSA) -> None:
    roots = [tsa.ca_cert_pem]
    for i, files in enumerate(FILES):
        verdict = verify_evidence_record(records[i], docs(files), roots)
        assert verdict.algorithms == ("sha256",)
        assert len(verdict.timestamps) == 1
        other = FILES[(i + 1) % len(FILES)]
        with pytest.raises(EvidenceRecordError) as exc:
            verify_evidence_record(records[i], docs(other), roots)
        assert exc.value.rule == "covers"
        assert "does not cover the item" in str(exc.value)
    # one TSA token for the whole group: the tree spans the items built together
    tokens = {parse_evidence_record(r).chains[0][0].timestamp for r in records}
    assert len(tokens) == 1


def test_a_single_item_record_has_no_tree(tsa_ep: ErsTsa, tsa: LocalTSA) -> None:
    (record,) = build_records([docs([b"alone"])], tsa_ep)
    assert parse_evidence_record(record).chains[0][0].reduced_hashtree is None
    verify_evidence_record(record, docs([b"alone"]), [tsa.ca_cert_pem])


def test_a_data_group_needs_all_its_documents(records: list[bytes], tsa: LocalTSA) -> None:
    with pytest.raises(EvidenceRecordError, match="does not cover the item"):
        verify_evidence_record(records[1], docs(FILES[1][:2]), [tsa.ca_cert_pem])


def test_timestamp_then_hash_tree_renewal(records: list[bytes], tsa_ep: ErsTsa,
                                          tsa: LocalTSA) -> None:
    items = [docs(f) for f in FILES]
    renewed = renew_timestamps(records, items, tsa_ep)
    for r, d in zip(renewed, items, strict=True):
        v = verify_evidence_record(r, d, [tsa.ca_cert_pem])
        assert len(v.timestamps) == 2 and v.algorithms == ("sha256",)
        assert v.timestamps[1].gen_time >= v.timestamps[0].gen_time
    rehashed = renew_hash_tree(renewed, items, tsa_ep)
    for r, d, files in zip(rehashed, items, FILES, strict=True):
        v = verify_evidence_record(r, d, [tsa.ca_cert_pem])
        assert v.algorithms == ("sha256", "sha512")
        assert v.timestamps[-1].hash_algorithm == "sha512"
        assert v.first_gen_time == v.timestamps[0].gen_time
        # the new chain binds the documents themselves under SHA-512
        with pytest.raises(EvidenceRecordError):
            verify_evidence_record(r, docs([*files[:-1], files[-1] + b"!"]), [tsa.ca_cert_pem])
    again = renew_timestamps(rehashed, items, tsa_ep)
    assert len(parse_evidence_record(again[0]).chains[1]) == 2
    verify_evidence_record(again[0], items[0], [tsa.ca_cert_pem])


def test_renewal_with_no_tsa_changes_nothing(records: list[bytes], tsa: LocalTSA) -> None:
    (port,) = free_ports(1)
    dead = ErsTsa(url=f"http://127.0.0.1:{port}/", ca_pems=(tsa.ca_cert_pem,), timeout=2)
    before = list(records)
    with pytest.raises(TsaClientError, match="cannot reach"):
        renew_timestamps(records, [docs(f) for f in FILES], dead)
    assert records == before


def test_a_pinned_policy_is_checked_on_every_archive_timestamp(records: list[bytes],
                                                              tsa: LocalTSA) -> None:
    items = [docs(f) for f in FILES]
    wrong = ErsTsa(url=tsa.url, ca_pems=(tsa.ca_cert_pem,), policy="1.2.3.4.99")
    for make in (lambda: build_records(items, wrong),
                 lambda: renew_timestamps(records, items, wrong),
                 lambda: renew_hash_tree(records, items, wrong, "sha512")):
        with pytest.raises(PolicyMismatch, match=r"1\.2\.3\.4\.99"):
            make()
    right = ErsTsa(url=tsa.url, ca_pems=(tsa.ca_cert_pem,), policy="1.2.3.4.1")
    made = build_records(items[:1], right)
    assert verify_evidence_record(made[0], items[0], [tsa.ca_cert_pem]).timestamps[0].policy \
        == "1.2.3.4.1"


def test_untrusted_tsa_is_refused(records: list[bytes], tsa_variant) -> None:
    other = tsa_variant("untrusted")
    with pytest.raises(EvidenceRecordError) as exc:
        verify_evidence_record(records[0], docs(FILES[0]), [other.ca_cert_pem])
    assert exc.value.rule == "untrusted"


def test_an_altered_token_fails_whatever_is_pinned(records: list[bytes], tsa: LocalTSA,
                                                   tsa_variant) -> None:
    """Integrity comes first (docs/verdict.md section 1): an altered token is ``timestamp``,
    not ``untrusted``, even when its TSA is not pinned."""
    token = parse_evidence_record(records[0]).chains[0][0].timestamp
    altered = token[:-5] + bytes([token[-5] ^ 1]) + token[-4:]  # in the CMS signature
    bad = _replace(records[0], token, altered)
    for roots in ([tsa.ca_cert_pem], [tsa_variant("untrusted").ca_cert_pem]):
        with pytest.raises(EvidenceRecordError) as exc:
            verify_evidence_record(bad, docs(FILES[0]), roots)
        assert exc.value.rule == "timestamp", exc.value


# --- hostile records ----------------------------------------------------------------------------


def _replace(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1
    return data.replace(old, new)


def test_truncated_and_extra_bytes(records: list[bytes], tsa: LocalTSA) -> None:
    r = records[0]
    for bad in (r[:-1], r[: len(r) // 2], r + b"\x00", r + r, b"", b"\x30\x80\x00\x00"):
        with pytest.raises(EvidenceRecordError) as exc:
            verify_evidence_record(bad, docs(FILES[0]), [tsa.ca_cert_pem])
        assert exc.value.rule == "der"


def _rebuild(record: bytes, oid_der: bytes) -> bytes:
    """The record with every algorithm identifier replaced by `oid_der` (tree, token kept)."""
    p = parse_evidence_record(record)
    enc = der.encode_tlv
    chains = b""
    for chain in p.chains:
        stamps = b""
        for a in chain:
            body = enc(0xA0, oid_der)
            if a.reduced_hashtree is not None:
                body += enc(0xA2, b"".join(enc(0x30, b"".join(enc(0x04, v) for v in values))
                                           for values in a.reduced_hashtree))
            stamps += enc(0x30, body + a.timestamp)
        chains += enc(0x30, stamps)
    return enc(0x30, b"\x02\x01\x01" + enc(0x30, enc(0x30, oid_der)) + enc(0x30, chains))


def test_wrong_hash_algorithm(records: list[bytes], tsa: LocalTSA) -> None:
    sha256 = bytes.fromhex("0609608648016503040201")
    assert _rebuild(records[0], sha256) == records[0]  # the rebuild itself changes nothing
    sha1 = bytes.fromhex("06052b0e03021a")
    with pytest.raises(EvidenceRecordError) as exc:
        verify_evidence_record(_rebuild(records[0], sha1), docs(FILES[0]), [tsa.ca_cert_pem])
    assert exc.value.rule == "algorithm"
    assert "1.3.14.3.2.26" in str(exc.value)
    sha512 = bytes.fromhex("0609608648016503040203")  # named, but tree and token are SHA-256
    with pytest.raises(EvidenceRecordError) as exc:
        verify_evidence_record(_rebuild(records[0], sha512), docs(FILES[0]), [tsa.ca_cert_pem])
    assert exc.value.rule == "algorithm"
    assert "not 64 bytes long" in str(exc.value)


def test_tree_that_does_not_reach_the_stamped_root(records: list[bytes], tsa: LocalTSA) -> None:
    p = parse_evidence_record(records[0])
    tree = p.chains[0][0].reduced_hashtree
    assert tree is not None and len(tree) >= 2
    sibling = tree[-1][0]
    forged = hashlib.sha256(b"another sibling").digest()
    bad = _replace(records[0], sibling, forged)
    with pytest.raises(EvidenceRecordError) as exc:
        verify_evidence_record(bad, docs(FILES[0]), [tsa.ca_cert_pem])
    assert exc.value.rule == "root"
    assert "does not stamp the root" in str(exc.value)
