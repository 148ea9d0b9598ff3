"""Custody entries link to the item's previous entry (issue 15, point 7).

What must hold: every entry about an item after its submission names, in
``prev_custody``, the leaf hash of the entry just before it among the entries about
that item, also when many retrievals of one item land in the same group-commit batch
and when several items' custody entries interleave.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from evidence.ledger.access.service import AccessControl, Authorization
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.custody import LINK, linked
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger


def soon() -> str:
    return (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    led = Ledger.create(tmp_path / "data", "custody.example/log", checkpoint_interval=0)
    intake = Intake(led, FilesystemBlobStore(tmp_path / "data" / "blobs"))
    ac = AccessControl(led)
    ac.add_case("C-1", "case")
    ac.add_principal("acme", "submitter", "Acme")
    ac.add_principal("foreign", "foreign", "Foreign party")
    ac.add_member("C-1", "acme")
    ids = []
    for i in range(2):
        f = tmp_path / f"e{i}.txt"
        f.write_bytes(f"exhibit {i}".encode())
        ids.append(intake.submit(ItemSpec([f], "document", "C-1", "acme")).evidence_id)
    try:
        yield led, intake, ac, ids
    finally:
        led.close()


def chains(led: Ledger) -> dict[str, list[tuple[int, str, dict]]]:
    """Per item: (seq, leaf hash hex, body) of every entry about it, in log order."""
    out: dict[str, list[tuple[int, str, dict]]] = defaultdict(list)
    for e in led.entries():
        body = json.loads(e.data)["body"]
        eid = body.get("evidence_id")
        if eid:
            out[eid].append((e.seq, e.leaf_hash.hex(), body))
    return out


def assert_linked(led: Ledger) -> None:
    for eid, items in chains(led).items():
        assert "prev_custody" not in items[0][2], "the submission links to nothing"
        for (_s0, leaf, _b0), (seq, _leaf, body) in itertools.pairwise(items):
            assert body.get(LINK) == leaf, f"{eid}: entry {seq} does not link to its predecessor"


def test_every_kind_of_custody_entry_links_to_the_one_before(world) -> None:  # type: ignore[no-untyped-def]
    led, intake, ac, (a, b) = world
    acme = ac.get_principal("acme")
    ac.record_access(Authorization(acme, a, "case"), "metadata", remote_addr="127.0.0.1")
    g = ac.create_grant(acme, "foreign", {a: "C-1", b: "C-1"}, expires_at=soon())
    ac.record_access(Authorization(acme, b, "case"), "download", remote_addr="127.0.0.1")
    ac.revoke_grant(acme, g.id)
    intake.purge(a, "court order", "acme")
    assert_linked(led)
    kinds = [body.get("action") or t for t, body in
             ((json.loads(e.data)["type"], json.loads(e.data)["body"]) for e in led.entries())]
    assert "evidence.purged" in kinds and "evidence.share_revoked" in kinds


def test_concurrent_retrievals_of_one_item_form_one_line(world) -> None:  # type: ignore[no-untyped-def]
    """Sixty retrievals from twelve threads, most of them sharing batches: no two
    entries may name the same predecessor (that would be a fork a bundle could hide)."""
    led, _intake, ac, (a, b) = world
    acme = ac.get_principal("acme")
    errors: list[BaseException] = []

    def work(eid: str) -> None:
        try:
            for _ in range(5):
                ac.record_access(Authorization(acme, eid, "case"), "download",
                                 remote_addr="127.0.0.1")
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(a if i % 3 else b,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    c = chains(led)
    assert len(c[a]) == 1 + 40 and len(c[b]) == 1 + 20
    assert_linked(led)
    links = [body[LINK] for items in c.values() for _s, _l, body in items[1:]]
    assert len(links) == len(set(links))


def test_a_request_with_two_entries_about_one_item_is_refused_alone(world) -> None:  # type: ignore[no-untyped-def]
    led, _intake, ac, (a, _b) = world
    acme = ac.get_principal("acme")
    size = led.size
    # no request of AccessControl's makes two (its grants name each item once): the
    # rule is held where every custody append is linked
    items = [("custody.note", {"evidence_id": a, "text": "x"}),
             ("custody.note", {"evidence_id": a, "text": "y"})]
    prepare, rows = linked(items, lambda c, m: [])
    with pytest.raises(Exception, match="two custody entries about one item"):
        led.append_many(items, rows=rows, prepare=prepare)
    assert led.size == size
    ac.record_access(Authorization(acme, a, "case"), "metadata", remote_addr=None)
    assert_linked(led)
