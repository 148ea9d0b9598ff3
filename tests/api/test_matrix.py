"""Permission matrix: every role against every endpoint, allowed and denied, on a real
``evidence serve``. One table; each cell is the status that actor must get.

Actors: members of the case the item belongs to (``acme`` submitter, ``judge`` court),
members of another case (``rival``, ``other-court``), a foreign party with an active
grant for the item (``foreign``) and one without (``foreign-b``), an auditor, an admin,
and nobody (no token). 404 for "exists but not yours" is deliberate: it is the same
answer as for an id that never existed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.support.api_server import (
    PROBLEM,
    SOON,
    Server,
    make_world,
    start_server,
    submit,
    wait_proof,
)

ACTORS = ("acme", "judge", "rival", "other-court", "foreign", "foreign-b", "auditor", "admin",
          None)
PUBLIC = dict.fromkeys(ACTORS, 200)


def row(acme, judge, rival, other_court, foreign, foreign_b, auditor, admin, nobody):
    return dict(zip(ACTORS, (acme, judge, rival, other_court, foreign, foreign_b, auditor,
                             admin, nobody), strict=True))


#                       acme judge rival o-court foreign f-b  auditor admin nobody
MATRIX: dict[str, dict[str | None, int]] = {
    "health": PUBLIC,
    "status": PUBLIC,
    "checkpoint": PUBLIC,
    "checkpoint_by_size": PUBLIC,
    "checkpoint_anchored": PUBLIC,
    "inclusion_proof": PUBLIC,
    "consistency_proof": PUBLIC,
    "lookup": PUBLIC,
    "trust_file": PUBLIC,
    "log_anchors": PUBLIC,
    "tlog_checkpoint": PUBLIC,
    "tlog_tile": PUBLIC,
    "log_entries":      row(403, 403, 403, 403, 403, 403, 200, 200, 401),
    "shards": PUBLIC,
    "shard_checkpoint": PUBLIC,
    "shard_inclusion": PUBLIC,
    "shard_consistency": PUBLIC,
    "shard_entries":    row(403, 403, 403, 403, 403, 403, 200, 200, 401),
    "shard_tlog_checkpoint": PUBLIC,
    "shard_tlog_tile": PUBLIC,
    "me":               row(200, 200, 200, 200, 200, 200, 200, 200, 401),
    "submit":           row(201, 403, 404, 403, 403, 403, 403, 403, 401),
    "submit_statement": row(201, 403, 404, 403, 403, 403, 403, 403, 401),
    # listing: every case member and foreign party may ask (it lists what it may see, maybe
    # nothing: LISTED below); auditors and admins see no evidence
    "evidence_list":    row(200, 200, 200, 200, 200, 200, 403, 403, 401),
    "pending_sign":     row(201, 403, 404, 403, 403, 403, 403, 403, 401),
    "metadata":         row(200, 200, 404, 404, 200, 404, 404, 404, 401),
    "download":         row(200, 200, 404, 404, 200, 404, 404, 404, 401),
    "receipt":          row(200, 200, 404, 404, 200, 404, 200, 404, 401),
    "receipt_tlog_proof": row(200, 200, 404, 404, 200, 404, 200, 404, 401),
    "receipt_cose":     row(200, 200, 404, 404, 200, 404, 200, 404, 401),
    "custody":          row(200, 200, 404, 404, 200, 404, 200, 404, 401),
    "bundle":           row(200, 200, 404, 404, 200, 404, 404, 404, 401),
    "grant_create":     row(201, 201, 404, 404, 403, 403, 403, 403, 401),
    "grant_list":       row(200, 200, 200, 200, 200, 200, 200, 200, 401),
    "grant_get":        row(200, 200, 404, 404, 200, 404, 200, 200, 401),
    "grant_revoke":     row(200, 200, 404, 404, 403, 404, 403, 200, 401),
    # no capture-node key on this server: a member submitter gets 403 capture-disabled
    "capture_start":    row(403, 403, 404, 403, 403, 403, 403, 403, 401),
    "capture_status":   row(404, 403, 404, 403, 403, 403, 403, 403, 401),
    # capture-node endpoints: no principal here is a listed capture node
    "capture_claim":    row(403, 403, 403, 403, 403, 403, 403, 403, 401),
    "capture_refusal":  row(403, 403, 403, 403, 403, 403, 403, 403, 401),
    "capture_result":   row(403, 403, 403, 403, 403, 403, 403, 403, 401),
}


@dataclass
class Fixture:
    srv: Server
    eid: str
    sha: str
    gid: str
    size: int


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixture]:
    world = make_world(tmp_path_factory.mktemp("matrix") / "data")
    srv = start_server(world, "--rate", "1000", "--burst", "1000")
    try:
        rec = submit(srv).json()
        with srv.client("acme") as c:
            g = c.post("/v1/grants", json={"grantee": "foreign", "evidence_ids": [
                rec["evidence_id"]], "expires_at": SOON})
            assert g.status_code == 201, g.text
            wait_proof(c, rec["seq"])
        yield Fixture(srv, rec["evidence_id"], rec["files"][0]["sha256"], g.json()["id"],
                      httpx.get(srv.base + "/v1/status").json()["checkpoint"]["size"])
    finally:
        srv.stop()


def _fresh_grant(fx: Fixture) -> str:
    with fx.srv.client("acme") as c:
        r = c.post("/v1/grants", json={"grantee": "foreign", "evidence_ids": [fx.eid],
                                       "expires_at": SOON})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _submit(fx: Fixture, c: httpx.Client) -> httpx.Response:
    return c.post("/v1/evidence", data={"case": "case-a", "kind": "other"},
                  files={"file": ("m.txt", b"matrix evidence", "text/plain")})


def _submit_statement(fx: Fixture, c: httpx.Client) -> httpx.Response:
    """An RFC 9943 signed statement made by pycose (tests/support/scitt.py)."""
    from tests.support import scitt

    return c.post("/v1/evidence/statements", params={"case": "case-a"},
                  content=scitt.statement(scitt.eddsa_with_cose_key()),
                  headers={"Content-Type": "application/scitt-statement+cose"})


def _sign_pending(fx: Fixture, c: httpx.Client) -> httpx.Response:
    """acme makes a sign=deferred submission; the actor signs it (acme's key)."""
    import base64

    from evidence.verify.note import generate_signer

    with fx.srv.client("acme") as mine:
        p = mine.post("/v1/evidence", data={"case": "case-a", "kind": "other",
                                            "sign": "deferred"},
                      files={"file": ("m.txt", b"matrix pending", "text/plain")})
    assert p.status_code == 202, p.text
    me = generate_signer("acme.example")
    return c.post(p.json()["sign_url"], json={
        "key": me.verifier().to_string(),
        "signature": base64.b64encode(me.signature(p.json()["text"].encode())).decode()})


def _tlog(c: httpx.Client, path: str, prefix: str = "/tlog/") -> httpx.Response:
    """A tiles read once the tiles follower has published its first checkpoint."""
    deadline = time.monotonic() + 30
    while (r := c.get(prefix + path)).status_code == 404 and time.monotonic() < deadline:
        time.sleep(0.1)
    return r


REQUESTS: dict[str, Callable[[Fixture, httpx.Client], httpx.Response]] = {
    "health": lambda fx, c: c.get("/health"),
    "status": lambda fx, c: c.get("/v1/status"),
    "checkpoint": lambda fx, c: c.get("/checkpoint"),
    "checkpoint_by_size": lambda fx, c: c.get(f"/v1/log/checkpoints/{fx.size}"),
    "checkpoint_anchored": lambda fx, c: c.get("/v1/log/checkpoint/anchored"),
    "inclusion_proof": lambda fx, c: c.get("/v1/log/proof/inclusion", params={"seq": 0}),
    "consistency_proof": lambda fx, c: c.get("/v1/log/proof/consistency",
                                             params={"size1": 1}),
    "lookup": lambda fx, c: c.get("/v1/lookup", params={"evidence_id": fx.eid}),
    "trust_file": lambda fx, c: c.get("/v1/log/trust"),
    "log_anchors": lambda fx, c: c.get("/v1/log/anchors", params={"seq": 0}),
    "tlog_checkpoint": lambda fx, c: _tlog(c, "checkpoint"),
    "tlog_tile": lambda fx, c: _tlog(c, "tile/0/000.p/1"),
    "log_entries": lambda fx, c: c.get("/v1/log/entries"),
    "shards": lambda fx, c: c.get("/v1/shards"),
    "shard_checkpoint": lambda fx, c: c.get("/v1/shards/1/checkpoint"),
    "shard_inclusion": lambda fx, c: c.get("/v1/shards/1/proof/inclusion", params={"seq": 0}),
    "shard_consistency": lambda fx, c: c.get("/v1/shards/1/proof/consistency",
                                             params={"size1": 1}),
    "shard_entries": lambda fx, c: c.get("/v1/shards/1/entries"),
    "shard_tlog_checkpoint": lambda fx, c: _tlog(c, "checkpoint", "/v1/shards/1/tlog/"),
    "shard_tlog_tile": lambda fx, c: _tlog(c, "tile/0/000.p/1", "/v1/shards/1/tlog/"),
    "me": lambda fx, c: c.get("/v1/me"),
    "submit": _submit,
    "submit_statement": _submit_statement,
    "evidence_list": lambda fx, c: c.get("/v1/evidence"),
    "pending_sign": _sign_pending,
    "metadata": lambda fx, c: c.get(f"/v1/evidence/{fx.eid}"),
    "download": lambda fx, c: c.get(f"/v1/evidence/{fx.eid}/files/{fx.sha}"),
    "receipt": lambda fx, c: c.get(f"/v1/evidence/{fx.eid}/receipt"),
    "receipt_tlog_proof": lambda fx, c: c.get(f"/v1/evidence/{fx.eid}/receipt.tlog-proof"),
    "receipt_cose": lambda fx, c: c.get(f"/v1/evidence/{fx.eid}/receipt.cose"),
    "custody": lambda fx, c: c.get(f"/v1/evidence/{fx.eid}/custody"),
    # provisional=1: the item is not anchored here (no TSA), and without it the allowed
    # actors get 409 not-anchored-yet (tests/ledger/bundle/test_provisional.py); who may is the same
    "bundle": lambda fx, c: c.get(f"/v1/evidence/{fx.eid}/bundle",
                                  params={"provisional": "1"}),
    "grant_create": lambda fx, c: c.post("/v1/grants", json={
        "grantee": "foreign-c", "evidence_ids": [fx.eid], "expires_at": SOON}),
    "grant_list": lambda fx, c: c.get("/v1/grants"),
    "grant_get": lambda fx, c: c.get(f"/v1/grants/{fx.gid}"),
    "grant_revoke": lambda fx, c: c.post(f"/v1/grants/{_fresh_grant(fx)}/revoke"),
    "capture_start": lambda fx, c: c.post("/v1/captures", json={
        "url": "http://127.0.0.1:9/", "case": "case-a"}),
    "capture_status": lambda fx, c: c.get("/v1/captures/cap_" + "0" * 32),
    "capture_claim": lambda fx, c: c.post("/v1/captures/claim"),
    "capture_refusal": lambda fx, c: c.post("/v1/captures/cap_" + "0" * 32 + "/refusal",
                                            json={"code": "x", "error": "y"}),
    "capture_result": lambda fx, c: c.post("/v1/captures/cap_" + "0" * 32 + "/result",
                                           files=[("file", ("a.txt", b"a", "text/plain"))]),
}


def test_matrix_covers_every_route(fx: Fixture) -> None:
    doc = httpx.get(fx.srv.base + "/openapi.json").json()
    operations = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert len(operations) == len(REQUESTS) + 1  # /checkpoint and /v1/log/checkpoint
    assert set(MATRIX) == set(REQUESTS)


# whether GET /v1/evidence lists the item: its case's members and the grantee, nobody else
LISTED = {"acme": True, "judge": True, "rival": False, "other-court": False, "foreign": True,
          "foreign-b": False}


@pytest.mark.parametrize("actor", list(LISTED))
def test_listing_shows_the_item_to_those_who_may_see_it(fx: Fixture, actor: str) -> None:
    with fx.srv.client(actor) as c:
        r = c.get("/v1/evidence", params={"limit": 500})
    assert r.status_code == 200, r.text
    assert (fx.eid in [i["evidence_id"] for i in r.json()["items"]]) is LISTED[actor]


@pytest.mark.parametrize("endpoint", list(MATRIX))
@pytest.mark.parametrize("actor", ACTORS, ids=lambda a: a or "nobody")
def test_permission(fx: Fixture, endpoint: str, actor: str | None) -> None:
    want = MATRIX[endpoint][actor]
    with fx.srv.client(actor) as c:
        r = REQUESTS[endpoint](fx, c)
    assert r.status_code == want, (endpoint, actor, r.status_code, r.text[:300])
    if want >= 400:
        assert r.headers["content-type"].startswith(PROBLEM)
        assert r.json()["status"] == want
