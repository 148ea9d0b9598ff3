"""The ledger's read functions for the API and the CLI (``Ledger.nodes``,
``Ledger.size_and_nodes``, ``Ledger.entries_at``, :mod:`evidence.ledger.items`) answer
from a real ledger what its tables hold."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from evidence.ledger import items
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger
from evidence.verify.merkle import NodeId


def test_nodes_and_entries(tmp_path: Path) -> None:
    led = Ledger.create(tmp_path / "data", "reads.example/log", checkpoint_interval=3600)
    try:
        led.append_many([("custody.note", {"i": i}) for i in range(10)])
        proof = led.inclusion_proof(3, 8)
        leaf, top = NodeId(0, 3), NodeId(3, 0)  # entry 3; the subtree of entries 0..7
        found = led.nodes([leaf, top, NodeId(3, 1)])  # entries 8..15: not a stored subtree
        assert found == {leaf: led.entry(3).leaf_hash, top: proof.root}
        assert led.nodes([]) == {}
        assert led.size_and_nodes([leaf]) == (10, {leaf: led.entry(3).leaf_hash})
        assert led.size_and_nodes([]) == (10, {})
        got = led.entries_at([7, 2, 99])
        assert [e.seq for e in got] == [2, 7]
        assert got == [led.entry(2), led.entry(7)]
        assert led.entries_at([]) == []
    finally:
        led.close()


def test_items_lookup_cases_and_custody(tmp_path: Path) -> None:
    led = Ledger.create(tmp_path / "data", "reads.example/log", checkpoint_interval=3600)
    try:
        intake = Intake(led, FilesystemBlobStore(tmp_path / "data" / "blobs"))
        f = tmp_path / "offer.txt"
        f.write_bytes(b"Offer: 5 USD")
        sha = hashlib.sha256(b"Offer: 5 USD").hexdigest()
        a = intake.submit(ItemSpec(files=[f], kind="document", case="C-1", principal="acme"))
        b = intake.submit(ItemSpec(files=[f], kind="document", case="C-2", principal="acme"))
        intake.purge(b.evidence_id, "withdrawn", "acme")

        by_id = items.lookup(led, evidence_id=a.evidence_id)
        assert [(m.evidence_id, m.seq, m.purged) for m in by_id] == [(a.evidence_id, a.seq,
                                                                       False)]
        assert by_id[0].leaf_hash == led.entry(a.seq).leaf_hash
        assert by_id[0].time == led.entry(a.seq).time
        by_hash = items.lookup(led, sha256=sha.upper())
        assert [(m.evidence_id, m.purged) for m in by_hash] == [(a.evidence_id, False),
                                                                (b.evidence_id, True)]
        assert items.lookup(led, sha256="0" * 64) == []
        assert items.lookup(led, evidence_id="ev_unknown") == []
        with pytest.raises(ValueError):
            items.lookup(led)

        assert items.live_cases(led, [a.evidence_id, b.evidence_id, "ev_unknown"]) == {
            a.evidence_id: "C-1", b.evidence_id: None, "ev_unknown": None}
        assert items.find_item(led, "ev_unknown") is None

        item_b = items.find_item(led, b.evidence_id)
        assert item_b is not None and item_b.purged
        chain = items.custody(led, item_b)
        assert [e.type for e in chain] == ["evidence.submitted", "evidence.purged"]
        assert chain == led.entries_at([b.seq, item_b.purged_seq])
        assert items.custody(led, item_b, after=b.seq) == chain[1:]
        assert items.custody(led, item_b, limit=1) == chain[:1]
        assert items.custody(led, item_b, after=item_b.purged_seq) == []
    finally:
        led.close()
