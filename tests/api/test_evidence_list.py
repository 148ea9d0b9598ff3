"""Listing evidence: ``GET /v1/evidence`` on a real ``evidence serve`` and ``evidence list`` on
its data directory, over one real SQLite ledger with items in several cases.

Who sees what (members of a case, a foreign party's active grants, no auditor or admin),
every filter alone and combined, pages that stay exact while items are appended between
them, hostile query parameters (422, nothing written), purged items, and the status
moving from pending to witnessed to anchored as a checkpoint is cosigned and then
timestamped by the real local TSA (tests/support/tsa.py)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from evidence.ledger import listing
from evidence.ledger.access import AccessControl, parse_user_time
from evidence.ledger.anchor.config import add_witness, load_anchor_config, save_anchor_config
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger
from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer
from tests.support.anchored_ledger import AnchoredLedger
from tests.support.api_server import (
    SOON,
    Server,
    grant,
    log_size,
    make_world,
    problem,
    start_server,
    submit,
    wait_proof,
)
from tests.support.cli_run import run_cli
from tests.support.tsa import LocalTSA

# cases of this module's own, acme a member of each: each test reads only its own
OWN_CASES = ("case-f", "case-p", "case-s", "case-x")


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    world = make_world(tmp_path_factory.mktemp("listing") / "data")
    led = Ledger.open(world.data)
    try:
        ac = AccessControl(led)
        for case in OWN_CASES:
            ac.add_case(case, case)
            ac.add_member(case, "acme")
    finally:
        led.close()
    s = start_server(world, "--rate", "1000", "--burst", "1000")
    try:
        yield s
    finally:
        s.stop()


@dataclass(frozen=True)
class Item:
    id: str
    seq: int
    time: str
    body: bytes


def put(srv: Server, case: str, who: str = "acme", *, kind: str = "document",
        body: bytes | None = None, **fields: str) -> Item:
    body = body if body is not None else f"{case} {fields} {kind}".encode() + hashlib.sha256(
        json.dumps(fields).encode() + str(log_size(srv)).encode()).digest()
    r = submit(srv, who, case=case, kind=kind, files=[("exhibit.bin", body)], **fields)
    assert r.status_code == 201, r.text
    j = r.json()
    return Item(j["evidence_id"], j["seq"], j["time"], body)


def page(srv: Server, who: str = "acme", **params: object) -> dict:
    with srv.client(who) as c:
        r = c.get("/v1/evidence", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def ids(srv: Server, who: str = "acme", **params: object) -> list[str]:
    """Every page followed to the end."""
    out: list[str] = []
    cursor = None
    for _ in range(100):
        p = page(srv, who, **params, **({"cursor": cursor} if cursor else {}))
        out += [i["evidence_id"] for i in p["items"]]
        cursor = p["next_cursor"]
        if cursor is None:
            return out
    raise AssertionError("no end of pages")


# --- who sees what, and the filters ----------------------------------------------------------


@pytest.fixture(scope="module")
def fx(srv: Server) -> dict[str, Item]:
    return {
        "a": put(srv, "case-f", title="Invoice 发票 ACME", source_url="https://shop.example/item/1"),
        "b": put(srv, "case-f", kind="web", title="Listing",
                 source_url="https://MARKET.example/x?id=7"),
        "c": put(srv, "case-f", title="Other"),
        "r": put(srv, "case-b", "rival", title="Invoice of the rival",
                 source_url="https://shop.example/item/1"),
    }


def test_an_item_as_listed(srv: Server, fx: dict[str, Item]) -> None:
    (it,) = [i for i in page(srv, case="case-f")["items"] if i["evidence_id"] == fx["a"].id]
    assert it == {
        "evidence_id": fx["a"].id, "kind": "document", "case": "case-f",
        "title": "Invoice 发票 ACME", "source_url": "https://shop.example/item/1",
        "seq": fx["a"].seq, "time": fx["a"].time,
        "files": [{"name": "exhibit.bin", "size": len(fx["a"].body),
                   "sha256": hashlib.sha256(fx["a"].body).hexdigest()}],
        "status": it["status"], "purged": False}
    assert it["status"] in ("pending", "witnessed", "anchored")


def test_members_see_their_cases_only(srv: Server, fx: dict[str, Item]) -> None:
    mine = ids(srv, "acme")
    assert [x for x in mine if x in {i.id for i in fx.values()}] == [
        fx["a"].id, fx["b"].id, fx["c"].id]
    theirs = ids(srv, "rival")
    assert fx["r"].id in theirs and not {fx["a"].id, fx["b"].id, fx["c"].id} & set(theirs)
    # a case the caller is not a member of: an empty list, the same as a case that does
    # not exist, so the answer says nothing about it
    assert page(srv, "rival", case="case-f") == {"items": [], "next_cursor": None}
    assert page(srv, "rival", case="no-such-case") == {"items": [], "next_cursor": None}
    assert page(srv, "other-court", case="case-f") == {"items": [], "next_cursor": None}
    assert page(srv, "judge", case="case-f") == {"items": [], "next_cursor": None}
    assert page(srv, "foreign-b") == {"items": [], "next_cursor": None}


def test_each_filter_alone(srv: Server, fx: dict[str, Item]) -> None:
    a, b, c = fx["a"].id, fx["b"].id, fx["c"].id
    assert ids(srv, case="case-f") == [a, b, c]
    assert ids(srv, case="case-f", kind="document") == [a, c]
    assert ids(srv, case="case-f", kind="web") == [b]
    assert ids(srv, case="case-f", kind="email") == []
    # q: title or source URL, case-insensitive, any script; the rival's item never
    assert ids(srv, q="INVOICE") == [a]
    assert ids(srv, q="发票") == [a]
    assert ids(srv, q="market.EXAMPLE/x?ID=7") == [b]
    assert ids(srv, q="shop.example/item") == [a]
    assert ids(srv, q=c[-10:].lower()) == [c]  # the id itself
    assert ids(srv, q="no such words anywhere") == []
    # log time: since inclusive, until exclusive, any UTC offset
    assert ids(srv, case="case-f", since=fx["b"].time) == [b, c]
    assert ids(srv, case="case-f", until=fx["b"].time) == [a]
    assert ids(srv, case="case-f", since="2000-01-01T08:00:00+08:00") == [a, b, c]
    assert ids(srv, case="case-f", until="2000-01-01T00:00:00Z") == []


def test_filters_combined(srv: Server, fx: dict[str, Item]) -> None:
    a, b, c = fx["a"].id, fx["b"].id, fx["c"].id
    assert ids(srv, case="case-f", kind="document", q="o", since=fx["a"].time) == [a, c]
    assert ids(srv, case="case-f", kind="document", q="o", since=fx["b"].time) == [c]
    assert ids(srv, case="case-f", q="example", until=fx["c"].time) == [a, b]
    assert ids(srv, case="case-f", kind="web", q="invoice") == []
    assert ids(srv, "rival", q="invoice", case="case-b") == [fx["r"].id]


def test_grants_add_exactly_the_granted_items(srv: Server, fx: dict[str, Item]) -> None:
    assert page(srv, "foreign", case="case-f") == {"items": [], "next_cursor": None}
    g = grant(srv, evidence_ids=[fx["b"].id])
    assert g.status_code == 201, g.text
    assert ids(srv, "foreign", case="case-f") == [fx["b"].id]
    assert ids(srv, "foreign", q="market") == [fx["b"].id]
    assert ids(srv, "foreign", q="invoice") == []
    assert ids(srv, "foreign-b", case="case-f") == []
    later = grant(srv, evidence_ids=[fx["c"].id], not_before="2999-01-01T00:00:00Z",
                  expires_at="2999-06-01T00:00:00Z")
    assert later.status_code == 201, later.text
    assert ids(srv, "foreign", case="case-f") == [fx["b"].id]  # not valid yet: not listed
    with srv.client("acme") as c:
        assert c.post(f"/v1/grants/{g.json()['id']}/revoke").status_code == 200
    assert ids(srv, "foreign", case="case-f") == []


def test_auditors_admins_and_strangers_are_refused(srv: Server, fx: dict[str, Item]) -> None:
    for who in ("auditor", "admin"):
        with srv.client(who) as c:
            problem(c.get("/v1/evidence"), 403, "role-not-allowed")
    problem(httpx.get(srv.base + "/v1/evidence"), 401, "missing-token")
    with srv.client("revoked") as c:
        problem(c.get("/v1/evidence"), 401, "token-revoked")


# --- pages --------------------------------------------------------------------------------------


def test_pages_stay_exact_while_items_are_appended(srv: Server) -> None:
    made = [put(srv, "case-p", title=f"page item {i}") for i in range(3)]
    seen: list[str] = []
    p = page(srv, case="case-p", limit=2)
    seen += [i["evidence_id"] for i in p["items"]]
    made += [put(srv, "case-p", title=f"page item {i}") for i in range(3, 5)]
    put(srv, "case-a", title="page item elsewhere")  # another case between pages
    p = page(srv, case="case-p", limit=2, cursor=p["next_cursor"])
    seen += [i["evidence_id"] for i in p["items"]]
    made.append(put(srv, "case-p", title="page item 5"))
    while p["next_cursor"]:
        p = page(srv, case="case-p", limit=2, cursor=p["next_cursor"])
        seen += [i["evidence_id"] for i in p["items"]]
    assert seen == [m.id for m in made]
    # with q too (here: the titles "... item 1", "... item 11"), again across an append
    p = page(srv, case="case-p", q="ITEM 1", limit=1)
    assert [i["evidence_id"] for i in p["items"]] == [made[1].id]
    assert p["next_cursor"] is None  # nothing after it, as of this read
    extra = put(srv, "case-p", title="page item 11")
    p = page(srv, case="case-p", q="page ITEM", limit=4)
    got = [i["evidence_id"] for i in p["items"]]
    late = put(srv, "case-p", title="page item 12")
    while p["next_cursor"]:
        p = page(srv, case="case-p", q="page ITEM", limit=4, cursor=p["next_cursor"])
        got += [i["evidence_id"] for i in p["items"]]
    assert got == [m.id for m in made] + [extra.id, late.id]
    assert ids(srv, case="case-p", q="item 1") == [made[1].id, extra.id, late.id]


def test_hostile_query_parameters_get_clear_422s(srv: Server, fx: dict[str, Item]) -> None:
    good = page(srv, case="case-f", limit=1)["next_cursor"]
    assert good
    bad: list[dict[str, object]] = [
        {"limit": 0}, {"limit": 501}, {"limit": 10**30}, {"limit": "abc"}, {"limit": -1},
        {"cursor": "garbage"}, {"cursor": ""}, {"cursor": "x" * 65}, {"cursor": "LTE"},
        {"cursor": good},  # another listing's cursor: bound to its filters
        {"cursor": good, "case": "case-f", "kind": "web"},
        {"since": "yesterday"}, {"since": "2026-01-01T00:00:00"},  # no offset
        {"since": "2026-13-45T00:00:00Z"}, {"until": "0" * 65},
        {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"since": "2026-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"kind": "bogus"}, {"status": "done"}, {"q": ""}, {"q": "   "}, {"q": "x" * 201},
        {"q": "a\x00b"}, {"case": "../etc"}, {"case": "x" * 129},
    ]
    before = log_size(srv)
    with srv.client("acme") as c:
        for params in bad:
            doc = problem(c.get("/v1/evidence", params=params), 422, "invalid-input")
            assert doc["detail"], params
    assert log_size(srv) == before  # refused requests write nothing
    # the cursor with the filters it was given for goes on
    assert page(srv, case="case-f", limit=1, cursor=good)["items"]


def test_purged_items_are_listed_as_purged(srv: Server) -> None:
    it = put(srv, "case-x", title="Purge me please", source_url="https://gone.example/")
    kept = put(srv, "case-x", title="Keep me")
    run_cli("purge", it.id, "--reason", "court order 2026-01", "--principal", "acme",
            "--data-dir", str(srv.world.data))
    items = page(srv, case="case-x")["items"]
    assert [(i["evidence_id"], i["purged"], i["title"], i["source_url"]) for i in items] == [
        (it.id, True, None, None), (kept.id, False, "Keep me", None)]
    assert items[0]["files"] == [{"name": "exhibit.bin", "size": len(it.body),
                                  "sha256": hashlib.sha256(it.body).hexdigest()}]
    assert ids(srv, case="case-x", q="purge me") == []  # its title is gone with it
    assert ids(srv, case="case-x", q=it.id.lower()) == [it.id]
    assert ids(srv, case="case-x", kind="document") == [it.id, kept.id]


# --- status -------------------------------------------------------------------------------------


def test_status_follows_cosigning_then_timestamping(srv: Server, tsa: LocalTSA) -> None:
    with srv.client("acme") as c:
        one = put(srv, "case-s", title="status one")
        size1 = wait_proof(c, one.seq)["tree_size"]
        two = put(srv, "case-s", title="status two")
        size2 = wait_proof(c, two.seq)["tree_size"]
    assert one.seq < size1 <= two.seq < size2

    def statuses() -> list[tuple[str, str]]:
        return [(i["evidence_id"], i["status"]) for i in page(srv, case="case-s")["items"]]

    assert statuses() == [(one.id, "pending"), (two.id, "pending")]
    led = Ledger.open(srv.world.data)
    try:
        world = AnchoredLedger(srv.world.data, led, tsa.url, tsa.ca_cert_pem, {})
        world.anchor(size1, witnesses=("w1",))  # cosigned only: no proof of time yet
        assert statuses() == [(one.id, "witnessed"), (two.id, "pending")]
        assert ids(srv, case="case-s", status="witnessed") == [one.id]
        assert ids(srv, case="case-s", status="pending") == [two.id]
        assert ids(srv, case="case-s", status="anchored") == []
        world.anchor(size2, tsa=("local-tsa", tsa.url, tsa.ca_cert_pem))
    finally:
        led.close()
    # the timestamped checkpoint covers both entries; a timestamp outranks cosignatures
    assert statuses() == [(one.id, "anchored"), (two.id, "anchored")]
    assert ids(srv, case="case-s", status="anchored") == [one.id, two.id]
    assert ids(srv, case="case-s", status="witnessed") == []
    assert ids(srv, case="case-s", status="pending") == []
    assert ids(srv, case="case-s", status="anchored", q="two") == [two.id]


# --- the CLI: the same query on the data directory ----------------------------------------------


def test_cli_lists_what_the_api_lists(srv: Server, fx: dict[str, Item]) -> None:
    d = str(srv.world.data)
    out = json.loads(run_cli("list", "--case", "case-f", "--json", "--data-dir", d).stdout)
    assert out == page(srv, case="case-f", limit=50)
    # the operator on the host sees every case
    every = json.loads(run_cli("list", "--q", "invoice", "--json", "--data-dir", d).stdout)
    assert [i["evidence_id"] for i in every["items"]] == [fx["a"].id, fx["r"].id]
    one = json.loads(run_cli("list", "--case", "case-f", "--kind", "web", "--since",
                             fx["a"].time, "--until", "2999-01-01T00:00:00+08:00", "--json",
                             "--data-dir", d).stdout)
    assert [i["evidence_id"] for i in one["items"]] == [fx["b"].id]
    text = run_cli("list", "--case", "case-f", "--limit", "1", "--data-dir", d).stdout
    assert fx["a"].id in text and "Invoice 发票 ACME" in text and fx["b"].id not in text
    cursor = text.strip().splitlines()[-1].removeprefix("more: --cursor ")
    text2 = run_cli("list", "--case", "case-f", "--limit", "1", "--cursor", cursor,
                    "--data-dir", d).stdout
    assert fx["b"].id in text2 and "https://MARKET.example/x?id=7" in text2


def test_cli_refuses_bad_input_clearly(srv: Server) -> None:
    d = str(srv.world.data)
    p = run_cli("list", "--since", "yesterday", "--data-dir", d, check=False)
    assert p.returncode == 1 and "since 'yesterday' is not an RFC 3339" in p.stderr
    p = run_cli("list", "--cursor", "garbage", "--json", "--data-dir", d, check=False)
    assert p.returncode == 1
    assert json.loads(p.stdout) == {"ok": False, "problem": "invalid-input", "error": (
        "cursor is not one this server gave for these filters: start again without it, "
        "or repeat the filters it was given with")}
    p = run_cli("list", "--limit", "501", "--data-dir", d, check=False)
    assert p.returncode == 2 and "--limit" in p.stderr
    p = run_cli("list", "--status", "done", "--data-dir", d, check=False)
    assert p.returncode == 2 and "--status" in p.stderr


# --- the ledger-side query itself ---------------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path) -> Iterator[tuple[Ledger, Intake, Path]]:
    d = tmp_path / "data"
    led = Ledger.create(d, "list.example/log", checkpoint_interval=3600)
    try:
        yield led, Intake(led, FilesystemBlobStore(d / "blobs")), tmp_path
    finally:
        led.close()


def _submit(intake: Intake, tmp: Path, n: int, case: str = "C-1", **kw: str) -> list[str]:
    out = []
    for i in range(n):
        f = tmp / f"f{len(list(tmp.glob('f*')))}.txt"
        f.write_bytes(f"{case} {i} {kw}".encode())
        out.append(intake.submit(ItemSpec(files=[f], kind="document", case=case,
                                          principal="acme", **kw)).evidence_id)
    return out


def test_q_examines_a_bounded_share_of_items_per_page(local) -> None:
    led, intake, tmp = local
    plain = _submit(intake, tmp, 25, title="nothing to see")
    (needle,) = _submit(intake, tmp, 1, title="the NEEDLE")
    f = listing.list_filter(q="needle")
    pages = []
    cursor = None
    while True:
        p = listing.list_items(led, None, f, cursor=cursor, limit=5, scan_budget=10)
        pages.append([i.evidence_id for i in p.items])
        if (cursor := p.next_cursor) is None:
            break
    # 26 rows, 10 examined per page: two empty pages that say "go on", then the match
    assert pages == [[], [], [needle]]
    assert len(plain) == 25
    assert [i.evidence_id for i in listing.list_items(led, None, f, limit=5).items] == [needle]


def test_witnessed_needs_the_configured_quorum(local, tsa: LocalTSA) -> None:
    led, intake, tmp = local
    (eid,) = _submit(intake, tmp, 1)
    cp = led.sign_checkpoint_now()
    signers = {n: generate_signer(f"{n}.example", ALG_COSIGNATURE_V1) for n in ("w1", "w2")}
    cfg = load_anchor_config(tmp / "data")
    for name, s in signers.items():
        cfg = add_witness(cfg, name, "http://witness.invalid", s.verifier().to_string())
    save_anchor_config(replace(cfg, witness_quorum=2))
    world = AnchoredLedger(tmp / "data", led, tsa.url, tsa.ca_cert_pem, dict(signers))

    def status() -> str:
        (it,) = listing.list_items(led, None, listing.list_filter()).items
        assert it.evidence_id == eid
        return it.status

    world.anchor(cp.size, witnesses=("w1", "stranger"))  # a witness nobody configured
    assert status() == "pending"
    world.anchor(cp.size, witnesses=("w2",))
    assert status() == "witnessed"
    world.anchor(cp.size, tsa=("local-tsa", tsa.url, tsa.ca_cert_pem))
    assert status() == "anchored"


def test_a_case_page_is_one_index_range(local) -> None:
    """On SQLite, a page of one case reads ix_evidence_items_case_id_seq from the cursor on,
    in order (no sort of the case's items), whatever the case's size; several cases are one
    such range each, merged. The plans are those of the page queries list_items sends."""
    led, intake, tmp = local
    ac = AccessControl(led)
    for case in ("C-1", "C-2"):
        ac.add_case(case)
    ac.add_principal("acme", "submitter")
    ac.add_member("C-1", "acme")
    ac.add_member("C-2", "acme")
    _submit(intake, tmp, 3, "C-1")
    _submit(intake, tmp, 2, "C-2")
    acme = ac.get_principal("acme")

    def plan(viewer, **kw: str) -> str:  # type: ignore[no-untyped-def]
        sent: list[tuple[str, Any]] = []

        def seen(conn, cursor, statement, parameters, context, many) -> None:  # type: ignore[no-untyped-def]
            if "FROM evidence_items" in statement and "LIMIT" in statement:
                sent.append((statement, parameters))

        event.listen(led.engine, "before_cursor_execute", seen)
        try:
            assert listing.list_items(led, viewer, listing.list_filter(kind="document", **kw),
                                      limit=50).items
        finally:
            event.remove(led.engine, "before_cursor_execute", seen)
        ((sql, params),) = sent  # one page, one query
        with led.engine.connect() as conn:
            return "\n".join(str(r[-1]) for r in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + sql, params))

    case_range = "USING INDEX ix_evidence_items_case_id_seq (case_id=? AND seq>? AND seq<?)"
    one = plan(None, case="C-1")
    assert case_range in one and "TEMP B-TREE" not in one, one
    two = plan(acme)  # each part sorted on its own: at most a page of rows
    assert two.count(case_range) == 2, two
    every = plan(None)  # the operator: the log order itself (the unique index on seq)
    assert "USING INDEX sqlite_autoindex_evidence_items_2 (seq>? AND seq<?)" in every, every
    assert "TEMP B-TREE" not in every, every


def test_the_same_query_on_postgresql(pg_fresh_url: str, tmp_path: Path) -> None:
    """The merged per-case ranges, the grant part, the time search and the coverage
    query as PostgreSQL runs them."""
    d = tmp_path / "data"
    led = Ledger.create(d, "list.example/log", db_url=pg_fresh_url, checkpoint_interval=3600)
    try:
        intake = Intake(led, FilesystemBlobStore(d / "blobs"))
        ac = AccessControl(led)
        for case in ("C-1", "C-2", "C-3"):
            ac.add_case(case)
        ac.add_principal("acme", "submitter")
        ac.add_member("C-1", "acme")
        ac.add_member("C-2", "acme")
        ac.add_principal("abroad", "foreign")
        c1 = _submit(intake, tmp_path, 3, "C-1", title="Alpha")
        c3 = _submit(intake, tmp_path, 2, "C-3", title="Gamma")
        c2 = _submit(intake, tmp_path, 2, "C-2", title="Beta")
        acme, abroad = ac.get_principal("acme"), ac.get_principal("abroad")
        ac.add_principal("owner", "submitter")
        ac.add_member("C-3", "owner")
        ac.create_grant(ac.get_principal("owner"), "abroad", {c3[1]: "C-3"},
                        expires_at=parse_user_time(SOON))

        def every(who, **kw: str) -> list[str]:  # type: ignore[no-untyped-def]
            f, out, cursor = listing.list_filter(**kw), [], None
            while True:
                p = listing.list_items(led, who, f, cursor=cursor, limit=2)
                out += [i.evidence_id for i in p.items]
                if (cursor := p.next_cursor) is None:
                    return out

        assert every(acme) == c1 + c2
        assert every(acme, case="C-2") == c2
        assert every(acme, q="ALPHA") == c1
        assert every(abroad) == [c3[1]]
        assert every(None, kind="document") == c1 + c3 + c2
        t = listing.list_items(led, None, listing.list_filter(), limit=500).items
        assert every(acme, since=t[3].time) == c2  # the first of C-3's, by time
        assert every(acme, status="pending") == c1 + c2
        cp = led.sign_checkpoint_now()
        AnchoredLedger(d, led, "", b"", {}).anchor(cp.size, witnesses=("w1",))
        assert every(acme, status="witnessed") == c1 + c2
        assert every(acme, status="pending") == []
    finally:
        led.close()


def test_a_broken_anchoring_configuration_is_a_503(srv: Server, fx: dict[str, Item]) -> None:
    """The status of an item comes from the anchoring configuration: when the operator's
    anchors.json cannot be read, the listing says so (503), not a 500, and changes nothing."""
    path = Path(srv.world.data) / "anchors.json"
    before = path.read_bytes() if path.exists() else None
    try:
        path.write_text("{not json")
        with srv.client("acme") as c:
            r = c.get("/v1/evidence", params={"case": "case-f"})
        assert r.status_code == 503, r.text
        assert r.json()["type"].endswith("anchoring-config-unavailable")
        assert "anchors.json" in r.json()["detail"] and str(path) not in r.text
    finally:
        if before is None:
            path.unlink()
        else:
            path.write_bytes(before)
    assert fx["a"].id in ids(srv, case="case-f")
