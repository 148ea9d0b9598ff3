"""``Idempotency-Key`` on the routes that append an item (docs/api.md, "Retrying a
submission"): a retry gets the first answer and appends nothing, another payload under the
key is refused, concurrent duplicates make one item, a retry after the server was killed
finds the committed item, keys are per principal and expire.

A real ``evidence serve`` on SQLite and on PostgreSQL (two workers: duplicates reach two
processes, where only the check under the log's lock can tell them apart); the ledger's
own check (evidence/ledger/intake/idempotency.py) directly through :class:`Intake`; the
time to live through an app in this process with a short one.
"""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select

from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.intake.idempotency import (
    Claim,
    KeyInFlight,
    KeyUsed,
    hooks,
    idempotency_keys,
)
from evidence.ledger.log import Ledger
from tests.support.api_server import (
    Server,
    blobs,
    log_size,
    make_world,
    problem,
    start_server,
)

REPLAYED = "idempotent-replayed"


def _db_param() -> list:
    return ["sqlite", pytest.param("pg", marks=pytest.mark.pg)]


@pytest.fixture(scope="module", params=_db_param())
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Server]:
    db, cluster = None, None
    if request.param == "pg":
        cluster = request.getfixturevalue("pg_cluster")
        db = cluster.create_database("idem")
    world = make_world(tmp_path_factory.mktemp("idem") / "data", db=db)
    srv = start_server(world, "--rate", "1000", "--burst", "1000", workers=2 if db else 1)
    try:
        yield srv
    finally:
        srv.stop()
        if cluster is not None and db is not None:
            cluster.drop_database(db)


def new_key() -> str:
    return f'"{uuid.uuid4()}"'


def post(srv: Server, key: str | None, content: bytes, *, who: str = "acme",
         name: str = "notice.txt", **fields: str) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    with srv.client(who) as c:
        return c.post("/v1/evidence", headers=headers,
                      data={"case": "case-a", "kind": "document", **fields},
                      files=[("file", (name, content, "text/plain"))])


def items_titled(srv: Server, title: str) -> list[str]:
    with srv.client("acme") as c:
        page = c.get("/v1/evidence", params={"case": "case-a", "q": title, "limit": 100}).json()
    return [i["evidence_id"] for i in page["items"] if i["title"] == title]


# --- replay, reuse, malformed keys ----------------------------------------------------------


def test_a_retry_gets_the_first_answer_and_appends_nothing(server: Server) -> None:
    key, content, title = new_key(), os.urandom(64), f"replay {uuid.uuid4()}"
    size = log_size(server)
    first = post(server, key, content, title=title, meta='{"shop": "x"}')
    assert first.status_code == 201, first.text
    assert REPLAYED not in first.headers
    assert log_size(server) == size + 1
    # the same request again, its framing changed (meta spaced otherwise, another boundary)
    again = post(server, key, content, title=title, meta='{ "shop" : "x" }')
    assert again.status_code == 201, again.text
    assert again.headers[REPLAYED] == "true"
    assert again.content == first.content  # byte for byte: id, seq, receipt, log key
    assert again.headers["location"] == first.headers["location"]
    bare = post(server, key.strip('"'), content, title=title, meta='{"shop": "x"}')
    assert bare.status_code == 201 and bare.content == first.content  # a bare token: same key
    assert log_size(server) == size + 1
    assert items_titled(server, title) == [first.json()["evidence_id"]]


def test_the_same_key_for_another_request_is_422(server: Server) -> None:
    key, content, title = new_key(), os.urandom(64), f"reuse {uuid.uuid4()}"
    first = post(server, key, content, title=title)
    assert first.status_code == 201, first.text
    size, stored = log_size(server), blobs(server)
    other = os.urandom(64)
    for changed in ({"content": other}, {"title": title + "!"}, {"name": "other.txt"},
                    {"kind": "other"}):
        kw = {"content": content, "title": title, **changed}
        problem(post(server, key, **kw), 422, "idempotency-key-reused")
    assert log_size(server) == size
    if server.world.db is None:  # (the blob listing reads the local store)
        assert blobs(server) == stored  # the other file was not kept
    assert items_titled(server, title) == [first.json()["evidence_id"]]


@pytest.mark.parametrize("value", [
    "", '""', '"' + "k" * 256 + '"', "k" * 256, '"two words"', "two words", '"open',
    '"a"b', '"bad\\escape"', "caf\u00e9",
])
def test_malformed_keys_are_400_and_change_nothing(server: Server, value: str) -> None:
    size = log_size(server)
    with server.client("acme") as c:
        r = c.post("/v1/evidence", headers=[("Idempotency-Key", value.encode("utf-8"))],
                   data={"case": "case-a", "kind": "document"},
                   files=[("file", ("a.txt", os.urandom(16), "text/plain"))])
    problem(r, 400, "invalid-idempotency-key")
    assert log_size(server) == size


def test_a_key_given_twice_is_400(server: Server) -> None:
    with server.client("acme") as c:
        r = c.post("/v1/evidence", headers=[("Idempotency-Key", '"a"'),
                                            ("Idempotency-Key", '"b"')],
                   data={"case": "case-a", "kind": "document"},
                   files=[("file", ("a.txt", os.urandom(16), "text/plain"))])
    problem(r, 400, "invalid-idempotency-key")


def test_keys_are_per_principal(server: Server) -> None:
    key, content = new_key(), os.urandom(64)
    mine = post(server, key, content, who="acme")
    theirs = post(server, key, content, who="lawyer")  # same case, same bytes, same key
    assert mine.status_code == theirs.status_code == 201, (mine.text, theirs.text)
    assert REPLAYED not in theirs.headers
    assert mine.json()["evidence_id"] != theirs.json()["evidence_id"]
    assert post(server, key, content, who="lawyer").json()["evidence_id"] == \
        theirs.json()["evidence_id"]


# --- concurrency --------------------------------------------------------------------------


def test_concurrent_duplicates_make_one_item(server: Server) -> None:
    for _round in range(3):
        key, content, title = new_key(), os.urandom(256), f"race {uuid.uuid4()}"
        size = log_size(server)
        start = threading.Barrier(4)

        def send(_i: int, key: str = key, content: bytes = content, title: str = title,
                 start: threading.Barrier = start) -> httpx.Response:
            start.wait()
            return post(server, key, content, title=title)

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(send, range(4)))
        made = {r.json()["evidence_id"] for r in answers if r.status_code == 201}
        for r in answers:
            if r.status_code == 409:
                assert problem(r, 409, "idempotency-key-in-flight")
                assert r.headers["retry-after"] == "1"
            else:
                assert r.status_code == 201, r.text
        assert len(made) == 1, [r.text for r in answers]
        assert sum(REPLAYED not in r.headers for r in answers if r.status_code == 201) <= 1
        assert log_size(server) == size + 1
        last = post(server, key, content, title=title)  # after the race: the one item
        assert last.status_code == 201 and last.headers[REPLAYED] == "true"
        assert {last.json()["evidence_id"]} == made
        assert items_titled(server, title) == list(made)


@pytest.mark.parametrize("db", _db_param())
def test_the_ledgers_check_makes_one_item_from_concurrent_submissions(
        tmp_path: Path, db: str, request: pytest.FixtureRequest) -> None:
    """Under the log's lock, without HTTP: two threads submit the same claimed item; one
    item, the other refused with the stored row (same batch: KeyInFlight)."""
    url = request.getfixturevalue("pg_fresh_url") if db == "pg" else None
    led = Ledger.create(tmp_path / "data", "idem.example/log", db_url=url,
                        checkpoint_interval=0)
    intake = Intake(led, FilesystemBlobStore(tmp_path / "data" / "blobs"))
    try:
        f = tmp_path / "a.txt"
        f.write_bytes(b"the same listing")
        claim = Claim("acme", "k1", "evidence.submit", {"case": "c"})
        start = threading.Barrier(2)

        def go(_i: int) -> object:
            start.wait()
            try:
                return intake.submit(ItemSpec(files=[f], kind="document", case="c",
                                              principal="acme", idempotency=claim))
            except (KeyUsed, KeyInFlight) as e:
                return e

        with ThreadPoolExecutor(2) as pool:
            outcomes = list(pool.map(go, range(2)))
        done = [o for o in outcomes if not isinstance(o, Exception)]
        refused = [o for o in outcomes if isinstance(o, Exception)]
        assert len(done) == 1 and len(refused) == 1, outcomes
        assert led.size == 1
        if isinstance(refused[0], KeyUsed):
            assert refused[0].matches
            assert refused[0].record.evidence_id == done[0].evidence_id  # type: ignore[union-attr]
        # another payload under the key, later: refused with the row, not matching
        g = tmp_path / "b.txt"
        g.write_bytes(b"another listing")
        with pytest.raises(KeyUsed) as e:
            intake.submit(ItemSpec(files=[g], kind="document", case="c", principal="acme",
                                   idempotency=claim))
        assert not e.value.matches and led.size == 1
        # the blob of the refused payload was not kept
        assert not intake.store.exists(hashlib.sha256(b"another listing").hexdigest())
    finally:
        led.close()


def test_one_batch_never_holds_a_key_twice(tmp_path: Path) -> None:
    """Two requests with one key in one sequencer batch: the second is refused in flight
    (its row is not written yet when the second is checked: the batch's shared marks)."""
    led = Ledger.create(tmp_path / "data", "idem.example/log", checkpoint_interval=0)
    try:
        check, _rows = hooks(Claim("acme", "k", "evidence.submit"), "0" * 64)
        shared: dict = {}
        with led.engine.connect() as conn:
            check(conn, shared)
            with pytest.raises(KeyInFlight):
                check(conn, shared)
            check(conn, {})  # another batch: no mark, and no row committed
    finally:
        led.close()


# --- the deferred signature ------------------------------------------------------------------


def test_the_signature_of_a_deferred_submission_takes_a_key(server: Server) -> None:
    from evidence.verify.note import generate_signer

    me = generate_signer("acme-ip.example")
    with server.client("acme") as c:
        p = c.post("/v1/evidence", data={"case": "case-a", "kind": "document",
                                         "sign": "deferred"},
                   files=[("file", ("s.txt", os.urandom(32), "text/plain"))]).json()
        sig = {"key": me.verifier().to_string(),
               "signature": base64.b64encode(me.signature(p["text"].encode())).decode()}
        size = log_size(server)
        key = new_key()
        first = c.post(p["sign_url"], json=sig, headers={"Idempotency-Key": key})
        assert first.status_code == 201, first.text
        again = c.post(p["sign_url"], json=sig, headers={"Idempotency-Key": key})
        assert again.status_code == 201 and again.headers[REPLAYED] == "true"
        assert again.content == first.content
        problem(c.post(p["sign_url"], json=sig), 404, "unknown-pending")  # without the key
        other = {**sig, "signature": base64.b64encode(b"\0" * 64).decode()}
        problem(c.post(p["sign_url"], json=other, headers={"Idempotency-Key": key}), 422,
                "idempotency-key-reused")
        # the key of a signature is not the key of an upload
        problem(post(server, key, os.urandom(8)), 422, "idempotency-key-reused")
    assert log_size(server) == size + 1


# --- a server killed after its commit ----------------------------------------------------------


def _multipart(key: str, token: str, content: bytes, title: str) -> bytes:
    b = "idemkill" + os.urandom(6).hex()
    body = b"".join(
        f'--{b}\r\nContent-Disposition: form-data; name="{n}"\r\n\r\n{v}\r\n'.encode()
        for n, v in (("case", "case-a"), ("kind", "document"), ("title", title))
    ) + (f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="k.txt"\r\n'
         "Content-Type: text/plain\r\n\r\n").encode() + content + f"\r\n--{b}--\r\n".encode()
    head = (f"POST /v1/evidence HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}"
            f"\r\nIdempotency-Key: {key}\r\nContent-Type: multipart/form-data; boundary={b}"
            f"\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    return head + body


@pytest.mark.parametrize("db", _db_param())
def test_a_retry_after_the_server_was_killed_finds_the_committed_item(
        tmp_path: Path, db: str, request: pytest.FixtureRequest) -> None:
    """The request is sent in full and its answer never read; once its key's row is
    committed the server is SIGKILLed (whatever it had or had not written back is lost
    with the connection). A new server on the same data answers the retry from the
    database: the committed item, nothing appended."""
    url = None
    if db == "pg":
        url = request.getfixturevalue("pg_fresh_url")
    world = make_world(tmp_path / "data", db=url)
    engine = create_engine(url or f"sqlite:///{world.data / 'ledger.db'}")
    srv = start_server(world, "--rate", "1000", "--burst", "1000")
    key, content, title = new_key(), os.urandom(128), f"killed {uuid.uuid4()}"
    try:
        size = log_size(srv)
        sock = socket.create_connection(("127.0.0.1", srv.port))
        sock.sendall(_multipart(key, world.tokens["acme"], content, title))
        t = idempotency_keys.c
        row = None
        for _ in range(600):  # until the row is committed (the entry with it)
            with engine.connect() as conn:
                row = conn.execute(select(t.evidence_id).where(
                    t.idem_key == key.strip('"'))).first()
            if row is not None:
                break
            time.sleep(0.05)
        assert row is not None, "the submission was never committed"
        os.killpg(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait()
        sock.close()
    finally:
        srv.stop()
    srv = start_server(world, "--rate", "1000", "--burst", "1000")
    try:
        assert log_size(srv) == size + 1
        r = post(srv, key, content, title=title, name="k.txt")
        assert r.status_code == 201, r.text
        assert r.headers[REPLAYED] == "true" and r.json()["evidence_id"] == row[0]
        assert log_size(srv) == size + 1
        assert items_titled(srv, title) == [row[0]]
    finally:
        srv.stop()
        engine.dispose()


# --- retention -------------------------------------------------------------------------------


def test_keys_expire_and_gc_removes_them(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from evidence.api.app import create_app
    from evidence.api.settings import ApiSettings

    world = make_world(tmp_path / "data")
    app = create_app(ApiSettings(data_dir=str(world.data), anchor=False, rate=1000,
                                 burst=1000, idempotency_ttl=1.0))
    h = {"Authorization": f"Bearer {world.tokens['acme']}", "Idempotency-Key": new_key()}
    form = {"case": "case-a", "kind": "document"}
    files = [("file", ("e.txt", b"expiring " + os.urandom(8), "text/plain"))]
    with TestClient(app) as c:
        first = c.post("/v1/evidence", headers=h, data=form, files=files)
        assert first.status_code == 201
        assert c.post("/v1/evidence", headers=h, data=form, files=files).headers.get(
            REPLAYED) == "true"
        time.sleep(1.5)  # past the key's time to live
        later = c.post("/v1/evidence", headers=h, data=form, files=files)
        assert later.status_code == 201 and REPLAYED not in later.headers
        assert later.json()["evidence_id"] != first.json()["evidence_id"]
        again = c.post("/v1/evidence", headers=h, data=form, files=files)  # the key, taken over
        assert again.headers.get(REPLAYED) == "true"
        assert again.json()["evidence_id"] == later.json()["evidence_id"]
    led = Ledger.open(world.data)
    try:
        intake = Intake(led, FilesystemBlobStore(world.data / "blobs"))
        assert intake.gc(key_ttl=3600).keys_expired == 0  # still young by that measure
        assert intake.gc(key_ttl=0, dry_run=True).keys_expired == 1
        assert intake.gc(key_ttl=0).keys_expired == 1
        with led.engine.connect() as conn:
            assert conn.execute(select(idempotency_keys.c.idem_key)).all() == []
    finally:
        led.close()
