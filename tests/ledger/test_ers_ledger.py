"""Evidence records in the ledger, with the real local OpenSSL TSA (tests/support/tsa.py):
made by the anchoring round for the items of an anchored checkpoint, renewed (timestamp,
then hash tree to SHA-512) with an ``ers.renewed`` entry in the same transaction, and a
renewal that no TSA answers changes nothing."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from evidence.ledger.anchor.config import add_tsa, load_anchor_config
from evidence.ledger.anchor.ers import RenewalRefused
from evidence.ledger.anchor.ers_service import BATCH, RENEWED, named_tsas, renew_records
from evidence.ledger.anchor.ers_store import item_evidence_records, iter_evidence_records
from evidence.ledger.anchor.service import AnchorService
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger
from evidence.ledger.tiles_layout import MAX_BUNDLE_ENTRY
from evidence.verify.entry import MAX_SAFE_INTEGER, encode_entry
from evidence.verify.evidence_record import (
    EvidenceRecordError,
    bytes_document,
    parse_evidence_record,
    verify_evidence_record,
)
from tests.support.ports import free_ports
from tests.support.tsa import LocalTSA

CONTENTS = [[b"contract v1"], [b"photo one", b"photo two"], [b"a chat export"]]


@pytest.fixture
def world(tmp_path: Path, tsa: LocalTSA):  # type: ignore[no-untyped-def]
    d = tmp_path / "data"
    led = Ledger.create(d, "ers.example/log", checkpoint_interval=3600)
    blobs = FilesystemBlobStore(d / "blobs")
    intake = Intake(led, blobs)
    ids = []
    for i, contents in enumerate(CONTENTS):
        paths = []
        for j, c in enumerate(contents):
            (p := tmp_path / f"f{i}-{j}.bin").write_bytes(c)
            paths.append(p)
        ids.append(intake.submit(ItemSpec(files=paths, kind="document", case="C-1",
                                          principal="acme")).evidence_id)
    led.sign_checkpoint_now()
    add_tsa(load_anchor_config(d), "tsa-a", tsa.url, [tsa.ca_pem_path])
    yield led, blobs, ids, load_anchor_config(d)
    led.close()


def docs(contents: list[bytes]) -> list:
    return [bytes_document(c) for c in contents]


def test_the_anchoring_round_makes_one_record_per_item(world, tsa: LocalTSA,
                                                       tmp_path: Path) -> None:
    led, _blobs, ids, cfg = world
    assert all(item_evidence_records(led, e) == [] for e in ids)
    svc = AnchorService(led, cfg)
    report = svc.run_once()
    assert report.records is not None and report.records.made == 3
    assert report.to_json()["evidence_records"] == {"made": 3, "tsa": "tsa-a", "errors": []}
    for eid, contents in zip(ids, CONTENTS, strict=True):
        (record,) = item_evidence_records(led, eid)
        v = verify_evidence_record(record, docs(contents), [tsa.ca_cert_pem])
        assert v.algorithms == ("sha256",) and len(v.timestamps) == 1
    # one tree, one token for the round's items; a record does not cover another item
    assert len({parse_evidence_record(r).chains[0][0].timestamp
                for _, r in iter_evidence_records(led)}) == 1
    with pytest.raises(EvidenceRecordError, match="does not cover the item") as exc:
        verify_evidence_record(item_evidence_records(led, ids[0])[0], docs(CONTENTS[2]),
                               [tsa.ca_cert_pem])
    assert exc.value.rule == "covers"
    # the next round has nothing to make, in this service or a new one
    assert svc.run_once().records is None and svc._records_below == led.size
    assert AnchorService(led, cfg).run_once().records is None
    # an item preserved later gets its record in a later round of the same service
    (p := tmp_path / "later.txt").write_bytes(b"later")
    later = Intake(led, _blobs).submit(ItemSpec(files=[p], kind="document", case="C-1",
                                                principal="acme")).evidence_id
    led.sign_checkpoint_now()
    assert svc.run_once().records.made == 1 and len(item_evidence_records(led, later)) == 1


def test_renewals_append_entries_and_keep_the_proof(world, tsa: LocalTSA) -> None:
    led, blobs, ids, cfg = world
    AnchorService(led, cfg).run_once()
    first = {e: item_evidence_records(led, e)[0] for e in ids}
    size = led.size
    rep = renew_records(led, named_tsas(cfg))  # on demand: every record
    assert (rep.kind, rep.renewed, rep.tsas) == ("timestamp", 3, ["tsa-a"])
    assert rep.entries == [size] and led.size == size + 1
    entry = json.loads(led.entry(size).data)
    assert entry["type"] == "ers.renewed"
    body = entry["body"]
    assert body["kind"] == "timestamp" and body["algorithm"] == "sha256"
    assert body["evidence_ids"] == sorted(ids) and body["tsa"] == "tsa-a"
    for eid, contents in zip(ids, CONTENTS, strict=True):
        (record,) = item_evidence_records(led, eid)
        v = verify_evidence_record(record, docs(contents), [tsa.ca_cert_pem])
        assert len(v.timestamps) == 2
        assert v.first_gen_time == verify_evidence_record(
            first[eid], docs(contents), [tsa.ca_cert_pem]).first_gen_time
        assert v.timestamps[-1].message_imprint == body["root"]
    # not due: the certificate expires years from now
    assert renew_records(led, named_tsas(cfg), due_within=timedelta(days=30)).renewed == 0
    assert led.size == size + 1

    rep = renew_records(led, named_tsas(cfg), hash_tree="sha512", open_blob=blobs.open)
    assert (rep.kind, rep.algorithm, rep.renewed) == ("hash_tree", "sha512", 3)
    assert json.loads(led.entry(size + 1).data)["body"]["kind"] == "hash_tree"
    for eid, contents in zip(ids, CONTENTS, strict=True):
        (record,) = item_evidence_records(led, eid)
        v = verify_evidence_record(record, docs(contents), [tsa.ca_cert_pem])
        assert v.algorithms == ("sha256", "sha512")
    # already under SHA-512: nothing more to do
    assert renew_records(led, named_tsas(cfg), hash_tree="sha512",
                         open_blob=blobs.open).renewed == 0


def test_a_renewal_no_tsa_answers_changes_nothing(world, tsa: LocalTSA) -> None:
    led, blobs, _ids, cfg = world
    AnchorService(led, cfg).run_once()
    before = dict(iter_evidence_records(led))
    size = led.size
    (port,) = free_ports(1)
    down = [t.__class__(t.name, t.tsa.__class__(f"http://127.0.0.1:{port}/", t.tsa.ca_pems,
                                                  2.0)) for t in named_tsas(cfg)]
    for kwargs in ({}, {"hash_tree": "sha512", "open_blob": blobs.open}):
        with pytest.raises(RenewalRefused, match="no TSA could be reached") as exc:
            renew_records(led, down, **kwargs)
        assert "tsa-a" in str(exc.value)
        assert dict(iter_evidence_records(led)) == before and led.size == size


def test_the_tsas_configured_policy_binds_the_records_tokens(world, tsa: LocalTSA) -> None:
    """``evidence anchor tsa add --policy OID`` pins what the checkpoints' tokens must carry;
    the evidence records' archive timestamps from the same TSA are held to it too: a token
    under another policy is refused and nothing changes, the TSA's own policy is accepted."""
    led, _blobs, _ids, cfg = world
    AnchorService(led, cfg).run_once()
    before = dict(iter_evidence_records(led))
    size = led.size

    def pinned(policy: str):  # type: ignore[no-untyped-def]
        return replace(cfg, tsas=tuple(replace(t, policy=policy) for t in cfg.tsas))

    other = named_tsas(pinned("1.2.3.4.99"))
    assert [t.tsa.policy for t in other] == ["1.2.3.4.99"]
    with pytest.raises(RenewalRefused, match="PolicyMismatch") as exc:
        renew_records(led, other)
    assert "1.2.3.4.99" in str(exc.value)
    assert dict(iter_evidence_records(led)) == before and led.size == size
    # the local TSA's policy (tests/support/make_test_tsa.sh, default_policy)
    assert renew_records(led, named_tsas(pinned("1.2.3.4.1"))).renewed == len(before)
    assert led.size > size


def test_a_hash_tree_renewal_refuses_a_damaged_file(world) -> None:
    """The SHA-512 chain must bind the preserved bytes: a stored file that no longer hashes
    to its SHA-256 stops the renewal before the TSA is asked, and nothing changes."""
    import hashlib

    led, blobs, _ids, cfg = world
    AnchorService(led, cfg).run_once()
    before = dict(iter_evidence_records(led))
    size = led.size
    sha = hashlib.sha256(CONTENTS[0][0]).hexdigest()
    path = next(p for p in Path(blobs.root).rglob(sha) if p.is_file())
    path.chmod(0o644)
    path.write_bytes(b"contract v2")  # same item, other bytes: the store is damaged
    with pytest.raises(RenewalRefused, match="does not hash to its SHA-256"):
        renew_records(led, named_tsas(cfg), hash_tree="sha512", open_blob=blobs.open)
    assert dict(iter_evidence_records(led)) == before and led.size == size


def test_the_largest_renewal_entry_fits_an_entry_bundle() -> None:
    """An ``ers.renewed`` entry lists up to BATCH evidence ids: at its longest (a TSA name
    of 64 characters, the most anchor/config.py allows; a SHA-512 root; the largest seq)
    it still fits a tlog-tiles entry bundle, so tiles clients can read it."""
    body = {"kind": "hash-tree", "algorithm": "sha512", "tsa": "t" * 64, "root": "0" * 128,
            "token_sha256": "0" * 64, "gen_time": "9999-12-31T23:59:59.999999Z",
            "evidence_ids": ["ev_" + "Z" * 26] * BATCH}
    entry = encode_entry(MAX_SAFE_INTEGER, "9999-12-31T23:59:59.999999Z", "0" * 64, RENEWED,
                         body)
    assert len(entry) <= MAX_BUNDLE_ENTRY
