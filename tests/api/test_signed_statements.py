"""RFC 9943 signed statements registered over HTTP on a real ``evidence serve``
(``POST /v1/evidence/statements``), made by pycose (tests/support/scitt.py), and their COSE
receipts checked by pycose and cbor2 as a SCITT relying party checks a transparent
statement: the statement's own signature with its certificate's key, then the receipt's
signature with the log's key over the root its inclusion proof leads to from the item's
entry, an entry that lists the statement's exact bytes by SHA-256.

Bad statements (not CBOR, a changed signature, no issuer, an unsupported alg, a detached
payload, receipts in the unprotected header, the wrong media type) are RFC 9457 problems,
and nothing is stored: no entry, no blob, nothing left in the upload spool."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import cbor2
import httpx
import pytest

from tests.support import scitt
from tests.support.api_server import (
    Server,
    blobs,
    log_size,
    make_world,
    problem,
    start_server,
)

pycose_messages = pytest.importorskip("pycose.messages", reason="pip install pycose")
from cryptography import x509  # noqa: E402
from pycose.keys.curves import P256, Ed25519  # noqa: E402
from pycose.keys.ec2 import EC2Key  # noqa: E402
from pycose.keys.okp import OKPKey  # noqa: E402

from evidence.verify.note import parse_verifier_key  # noqa: E402

COSE = "application/scitt-statement+cose"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(make_world(tmp_path_factory.mktemp("scitt") / "data"))
    try:
        yield server
    finally:
        server.stop()


def _register(srv: Server, data: bytes, *, who: str = "acme", case: str = "case-a",
              media: str = COSE, accept: str = "application/json",
              key: str | None = None) -> httpx.Response:
    headers = {"Content-Type": media, "Accept": accept}
    if key is not None:
        headers["Idempotency-Key"] = key
    with srv.client(who) as c:
        return c.post("/v1/evidence/statements", params={"case": case}, content=data,
                      headers=headers)


def _rfc9162_root(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.3.2, step by step (hashlib only)."""
    fn, sn = index, size - 1
    r = hashlib.sha256(b"\x00" + leaf).digest()
    for p in path:
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    assert sn == 0
    return r


def _check_transparent_statement(ts: bytes, entry: bytes, log_public: bytes) -> dict:
    """A relying party's check of a transparent statement (statement + receipt in 394),
    by pycose and cbor2 only. Returns the receipt's protected header."""
    top = cbor2.loads(ts)
    (receipt,) = top.value[1][394]
    statement = cbor2.dumps(cbor2.CBORTag(18, [top.value[0], {}, *top.value[2:]]))
    # 1. the issuer's signature, with the key of its x5chain certificate
    msg = pycose_messages.Sign1Message.decode(statement)
    cert = x509.load_der_x509_certificate(cbor2.loads(top.value[0])[33])
    pub = cert.public_key().public_numbers()
    msg.key = EC2Key(crv=P256, x=pub.x.to_bytes(32, "big"), y=pub.y.to_bytes(32, "big"))
    assert msg.verify_signature(), "pycose: the statement's signature does not verify"
    # 2. the entry the receipt proves lists the statement's bytes
    body = json.loads(entry)["body"]
    assert hashlib.sha256(statement).hexdigest() in [f["sha256"] for f in body["files"]]
    # 3. the receipt: root from the proof, the log's signature over it
    r = cbor2.loads(receipt)
    phdr = cbor2.loads(r.value[0])
    assert r.tag == 18 and phdr[1] == -8 and phdr[395] == 1 and r.value[2] is None
    (proof_b,) = r.value[1][396][-1]
    size, index, path = cbor2.loads(proof_b)
    rmsg = pycose_messages.Sign1Message.decode(receipt)
    rmsg.payload = _rfc9162_root(index, size, entry, path)
    rmsg.key = OKPKey(crv=Ed25519, x=log_public)
    assert rmsg.verify_signature(), "pycose: the receipt does not verify over the root"
    return phdr


def test_registered_statement_is_preserved_and_its_receipt_makes_a_transparent_statement(
        srv: Server) -> None:
    issuer = scitt.es256_with_certificate()
    data = scitt.statement(issuer)
    r = _register(srv, data)
    assert r.status_code == 201, r.text
    rec = r.json()
    eid = rec["evidence_id"]
    assert r.headers["location"] == f"/v1/evidence/{eid}"
    assert rec["files"][0]["sha256"] == hashlib.sha256(data).hexdigest()
    with srv.client("acme") as c:
        item = c.get(f"/v1/evidence/{eid}").json()
        (f,) = item["files"]
        assert f["name"] == "signed-statement.cose" and f["media_type"] == "application/cose"
        assert c.get(f["url"]).content == data  # the exact bytes
        assert item["metadata"]["title"] == f"SCITT signed statement: {scitt.SUBJECT}"
        facts = item["metadata"]["extracted"]["files"][0]["scitt_statement"]
        assert (facts["issuer"], facts["subject"]) == (scitt.ISSUER, scitt.SUBJECT)
        assert facts["content_type"] == "application/json" and facts["alg"] == "ES256"
        assert facts["signature"] == "verified" and facts["key"]["kind"] == "x5chain"
        receipt = c.get(f"/v1/evidence/{eid}/receipt.cose").content
        entry = c.get(f"/v1/evidence/{eid}/receipt").json()["entry"].encode()
    top = cbor2.loads(data)
    top.value[1] = {394: [receipt]}
    log_key = parse_verifier_key(srv.world.vkey)
    phdr = _check_transparent_statement(cbor2.dumps(top), entry, log_key.public_key)
    assert phdr[15] == {1: log_key.name, 2: eid}  # CWT claims: iss = the log, sub = the item


def test_accept_cose_answers_the_receipt(srv: Server) -> None:
    data = scitt.statement(scitt.es256_with_certificate(), hash_envelope=True)
    r = _register(srv, data, accept="application/cose")
    assert r.status_code == 201 and r.headers["content-type"] == "application/cose"
    eid = r.headers["location"].rsplit("/", 1)[1]
    with srv.client("acme") as c:
        entry = c.get(f"/v1/evidence/{eid}/receipt").json()["entry"].encode()
        item = c.get(f"/v1/evidence/{eid}").json()
    facts = item["metadata"]["extracted"]["files"][0]["scitt_statement"]
    assert facts["payload"]["kind"] == "hash"
    top = cbor2.loads(data)
    top.value[1] = {394: [r.content]}
    _check_transparent_statement(cbor2.dumps(top), entry,
                                 parse_verifier_key(srv.world.vkey).public_key)


def test_a_retry_with_its_idempotency_key_appends_nothing(srv: Server) -> None:
    """The answer lost, the same statement sent again with the same key: the first item's
    answer again (JSON, or its COSE receipt), nothing appended; the key with another
    statement or case is refused, nothing appended either."""
    data = scitt.statement(scitt.es256_with_certificate())
    first = _register(srv, data, key="scitt-retry-1")
    assert first.status_code == 201, first.text
    size = httpx.get(srv.base + "/v1/status").json()["size"]
    again = _register(srv, data, key='"scitt-retry-1"')  # the RFC 8941 string form
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    cose = _register(srv, data, key="scitt-retry-1", accept="application/cose")
    assert cose.status_code == 201 and cose.headers["content-type"] == "application/cose"
    assert cose.headers["location"] == first.headers["location"]
    entry = _with_client(srv, lambda c: c.get(
        first.headers["location"] + "/receipt").json()["entry"].encode())
    top = cbor2.loads(data)
    top.value[1] = {394: [cose.content]}
    _check_transparent_statement(cbor2.dumps(top), entry,
                                 parse_verifier_key(srv.world.vkey).public_key)
    other = scitt.statement(scitt.es256_with_certificate())
    titled = _with_client(srv, lambda c: c.post(
        "/v1/evidence/statements", params={"case": "case-a", "title": "another title"},
        content=data, headers={"Content-Type": COSE, "Idempotency-Key": "scitt-retry-1"}))
    for r in (_register(srv, other, key="scitt-retry-1"), titled):
        assert r.status_code == 422 and r.json()["code"] == "idempotency-key-reused", r.text
    r = _register(srv, data, key="bad key with spaces")
    assert r.status_code == 400 and r.json()["code"] == "invalid-idempotency-key", r.text
    assert httpx.get(srv.base + "/v1/status").json()["size"] == size


def _with_client(srv: Server, f):  # type: ignore[no-untyped-def]
    with srv.client("acme") as c:
        return f(c)


def _edit(data: bytes, i: int, value) -> bytes:
    top = cbor2.loads(data)
    top.value[i] = value(top.value[i])
    return cbor2.dumps(top)


def _unsigned(protected: dict) -> bytes:
    return cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps(protected), {}, b"x", b"\0" * 64]))


def test_bad_statements_are_problems_and_store_nothing(srv: Server) -> None:
    issuer = scitt.es256_with_certificate()
    good = scitt.statement(issuer)
    bad = {
        "malformed CBOR": (b"\xd2\x84\x58\xff" + b"\0" * 10, "bad-statement", "CBOR"),
        "wrong signature": (_edit(good, 3, lambda s: bytes([s[0] ^ 1]) + s[1:]),
                            "bad-signature", "does not verify"),
        "changed payload": (_edit(good, 2, lambda p: p.replace(b"77", b"78")),
                            "bad-signature", "does not verify"),
        "missing issuer": (scitt.statement(issuer, iss=None), "bad-statement", "no issuer"),
        "unsupported alg": (_unsigned({1: -47, 15: {1: "a", 2: "b"}, 33: issuer.cert}),
                            "unsupported-statement", "alg -47 is not supported"),
        "detached payload": (_edit(good, 2, lambda p: None), "unsupported-statement",
                             "detached"),
        "a transparent statement": (_edit(good, 1, lambda u: {394: [b"r"]}), "bad-statement",
                                    "unprotected header is not empty"),
    }
    size, stored = log_size(srv), blobs(srv)
    for name, (data, code, words) in bad.items():
        doc = problem(_register(srv, data), 422, code)
        assert words in doc["detail"], (name, doc)
    doc = problem(_register(srv, good, media="application/octet-stream"), 415)
    assert "application/scitt-statement+cose" in doc["detail"]
    problem(_register(srv, good, who="judge"), 403)  # a court may not submit
    problem(_register(srv, good, who="rival"), 404)  # not a member of case-a
    problem(_register(srv, good, case="no-such-case"), 404)
    assert log_size(srv) == size and blobs(srv) == stored
    spool = srv.world.data / "tmp-uploads"
    assert not list(spool.glob("statement-*")) if spool.exists() else True
