"""Anchoring real checkpoints with real TSAs (OpenSSL `ts -reply` over loopback HTTP), on SQLite
and PostgreSQL: tokens stored byte for byte and accepted by `openssl ts -verify`; every bad TSA
recorded as a failed attempt with its reason and nothing stored as valid; intake and the other
TSAs carry on while one hangs; retry/backoff state; status and lag; re-verification offline."""

from __future__ import annotations

import hashlib
import http.server
import re
import shutil
import subprocess
import tempfile
import threading
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select

from evidence.ledger.anchor import store
from evidence.ledger.anchor.base import AnchorFailed
from evidence.ledger.anchor.config import AnchorConfig, RetryPolicy, TsaSource
from evidence.ledger.anchor.schema import anchors
from evidence.ledger.anchor.service import AnchorService
from evidence.ledger.anchor.status import anchor_status, verify_stored_anchors
from evidence.ledger.anchor.tsa import verify_tsa_token
from evidence.ledger.db.engine import read_transaction
from evidence.ledger.log import Ledger
from evidence.verify import der
from evidence.verify.note import parse_note
from evidence.verify.timestamp import parse_response
from tests.support.tsa import LocalTSA

pytestmark = pytest.mark.tsa

ORIGIN = "anchor.test/log"
Variant = Callable[[str], LocalTSA]


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    cluster = request.getfixturevalue("pg_cluster") if request.param == "pg" else None
    url = cluster.create_database("anchor") if cluster else None
    led = Ledger.create(tmp_path / "data", ORIGIN, db_url=url, checkpoint_interval=0)
    try:
        yield led
    finally:
        led.close()
        if url and cluster:
            cluster.drop_database(url)


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger.create(tmp_path / "data", ORIGIN, checkpoint_interval=0)
    try:
        yield led
    finally:
        led.close()


def config(led: Ledger, *sources: tuple[str, str, Path], timeout: float = 10.0,
           retry: RetryPolicy | None = None, **kw: object) -> AnchorConfig:
    assert led.config is not None
    tsas = tuple(TsaSource(name, url, (str(ca),), timeout=timeout) for name, url, ca in sources)
    return AnchorConfig(led.config.data_dir, tsas=tsas,
                        retry=retry or RetryPolicy(base=30, max=3600, jitter=0.0), **kw)


def grow(led: Ledger, n: int) -> int:
    for i in range(n):
        led.append("custody.note", {"text": f"note {i}"})
    cp = led.latest_checkpoint()
    assert cp is not None and cp.size == led.size
    return cp.size


def row(led: Ledger, size: int, source: str) -> store.StoredAnchor:
    (r,) = store.list_anchors(led.engine, size=size, source=source)
    return r


def openssl_verify(token: bytes, text: str, ca: Path, tmp: Path) -> subprocess.CompletedProcess:
    f = tmp / "token.der"
    f.write_bytes(token)
    return subprocess.run(
        ["openssl", "ts", "-verify", "-in", str(f), "-token_in",
         "-digest", hashlib.sha256(text.encode()).hexdigest(), "-CAfile", str(ca)],
        capture_output=True, text=True, timeout=60)


class Proxy:
    """A loopback HTTP proxy in front of a real TSA: records the exact reply bytes, and can
    alter the *request* (nonce or imprint) so that the real TSA signs a token that does not
    answer our question. Only requests are changed; replies pass through untouched."""

    def __init__(self, target: str, mode: str = "record") -> None:
        self.target, self.mode = target, mode
        self.replies: list[bytes] = []
        proxy = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                body = proxy.alter(body)
                req = urllib.request.Request(proxy.target, data=body, method="POST", headers={
                    "Content-Type": "application/timestamp-query"})
                with urllib.request.urlopen(req, timeout=60) as r:
                    reply, ctype = r.read(), r.headers["Content-Type"]
                proxy.replies.append(reply)
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *a: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def alter(self, q: bytes) -> bytes:
        """TimeStampReq ::= SEQUENCE { version, messageImprint SEQUENCE { alg, OCTET STRING },
        reqPolicy OID OPTIONAL, nonce INTEGER OPTIONAL, certReq BOOLEAN OPTIONAL }."""
        if self.mode == "record":
            return q
        top = der.parse_single(q, 0x30)
        fields = der.children(q, top)
        if self.mode == "nonce":
            (nonce,) = [f for f in fields[2:] if f.tag == 0x02]
            pos = nonce.end - 1  # last byte: the value stays a positive INTEGER
        else:  # imprint
            imprint = der.children(q, fields[1])[1]
            pos = imprint.end - 1
        return q[:pos] + bytes([q[pos] ^ 0x01]) + q[pos + 1:]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def proxy_factory(tsa: LocalTSA) -> Iterator[Callable[[str], Proxy]]:
    made: list[Proxy] = []

    def make(mode: str) -> Proxy:
        p = Proxy(tsa.url, mode)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


# --- good TSAs ----------------------------------------------------------------------------------


def test_two_tsas_anchor_real_checkpoints(ledger: Ledger, tsa: LocalTSA, tsa_variant: Variant,
                                          proxy_factory: Callable[[str], Proxy],
                                          tmp_path: Path) -> None:
    rec = proxy_factory("record")
    quirky = tsa_variant("quirky")
    cfg = config(ledger, ("good", rec.url, tsa.ca_pem_path),
                 ("quirky", quirky.url, tsa.ca_pem_path))
    svc = AnchorService(ledger, cfg)
    size = grow(ledger, 5)
    report = svc.run_once()
    assert report.checkpoint_size == size
    assert [(a.source, a.ok) for a in report.attempts] == [("good", True), ("quirky", True)]
    note = ledger.checkpoint_at(size).note
    text = parse_note(note).text
    good, odd = row(ledger, size, "good"), row(ledger, size, "quirky")
    root_der = x509.load_pem_x509_certificate(tsa.ca_cert_pem).public_bytes(Encoding.DER)
    # byte for byte: the token is the one inside the reply the TSA sent
    assert good.token == parse_response(rec.replies[-1])
    for r in (good, odd):
        assert r.status == "anchored" and r.attempts == 1 and r.last_error is None
        assert r.gen_time == r.proof_time and r.serial and r.token
        assert root_der in r.certs and r.certs[0] != root_der  # TSA cert first, pinned root too
        res = openssl_verify(r.token, text, tsa.ca_pem_path, tmp_path)
        assert res.returncode == 0 and "Verification: OK" in res.stdout, res.stderr
        proof, v = verify_tsa_token(r.token, note, [tsa.ca_cert_pem], tsa=r.source,
                                    expected_size=size)
        assert proof.checkpoint_size == size and f"size {size}" in proof.statement
        assert f"per TSA {r.source}" in proof.statement and v.verifier == r.verifier
    assert good.verifier == "rfc3161-client"
    assert odd.verifier.startswith("rfc3161-client (certificate SET re-sorted")
    # the stored token over another checkpoint's text proves nothing
    grow(ledger, 1)
    other = ledger.latest_checkpoint().note
    with pytest.raises(AnchorFailed, match="ImprintMismatch"):
        verify_tsa_token(good.token, parse_note(other).text, [tsa.ca_cert_pem], tsa="good")
    res = openssl_verify(good.token, parse_note(other).text, tsa.ca_pem_path, tmp_path)
    assert res.returncode != 0
    # re-verification with the configured pins
    checks = verify_stored_anchors(ledger, cfg, size)
    assert [(c.source, c.ok) for c in checks] == [("good", True), ("quirky", True)]
    # a second round anchors the new checkpoint; nothing is due for the old one
    rep2 = svc.run_once()
    assert {(a.checkpoint_size, a.source, a.ok) for a in rep2.attempts} == {
        (size + 1, "good", True), (size + 1, "quirky", True)}
    assert svc.run_once().attempts == ()


def test_the_pinned_root_is_the_only_trust(sqlite_ledger: Ledger, tsa: LocalTSA,
                                           tsa_variant: Variant, tmp_path: Path) -> None:
    led = sqlite_ledger
    size = grow(led, 2)
    cfg = config(led, ("good", tsa.url, tsa.ca_pem_path))
    AnchorService(led, cfg).run_once()
    other_root = tsa_variant("untrusted").ca_cert_pem
    with pytest.raises(AnchorFailed, match="UntrustedTimestampChain"):
        verify_tsa_token(row(led, size, "good").token, led.checkpoint_at(size).note,
                         [other_root], tsa="good")


# --- bad TSAs -----------------------------------------------------------------------------------

BAD = [
    ("untrusted", "UntrustedTimestampChain"),
    ("expired", "TsaCertificateExpired"),
    ("reject", "TimestampNotGranted"),
    ("no-eku", "MissingTimestampingEKU"),
    ("noncritical-eku", "MissingTimestampingEKU: .*not critical"),
    ("garbage", "MalformedTimestamp"),
    ("slow", "TsaTimeout"),
    ("http-error", "TsaHttpError: .*500"),
    ("huge", "TsaReplyTooLarge"),
    ("nonce", "NonceMismatch"),
    ("imprint", "ImprintMismatch"),
]


def _assert_failed_and_nothing_stored(led: Ledger, size: int, name: str, reason: str) -> None:
    r = row(led, size, name)
    assert r.status == "failed" and r.attempts == 1
    assert r.last_error and re.search(reason, r.last_error), r.last_error
    assert (r.token, r.certs, r.proof_time, r.gen_time, r.serial, r.verifier, r.anchored_at) == (
        None, (), None, None, None, None, None)
    assert r.next_attempt_at is not None


@pytest.mark.parametrize("variant,reason", BAD, ids=[b[0] for b in BAD])
def test_bad_tsa_recorded_as_failure(ledger: Ledger, tsa: LocalTSA, tsa_variant: Variant,
                                     proxy_factory: Callable[[str], Proxy], variant: str,
                                     reason: str) -> None:
    url = proxy_factory(variant).url if variant in ("nonce", "imprint") else \
        tsa_variant(variant).url
    cfg = config(ledger, (variant, url, tsa.ca_pem_path), ("good", tsa.url, tsa.ca_pem_path),
                 timeout=1.0 if variant == "slow" else 20.0)
    size = grow(ledger, 3)
    report = AnchorService(ledger, cfg).run_once()
    by = {a.source: a for a in report.attempts}
    assert by["good"].ok and not by[variant].ok
    _assert_failed_and_nothing_stored(ledger, size, variant, reason)
    assert row(ledger, size, "good").status == "anchored"  # the other TSA was not held back
    st = {s["name"]: s for s in anchor_status(ledger, cfg)["sources"]}
    assert st[variant]["anchored_size"] is None and st[variant]["lag_entries"] == size
    assert st[variant]["last_status"] == "failed" and st[variant]["attempts"] == 1
    assert re.search(reason, st[variant]["last_error"])


def test_intake_and_other_tsas_continue_while_a_tsa_hangs(sqlite_ledger: Ledger, tsa: LocalTSA,
                                                          tsa_variant: Variant) -> None:
    led = sqlite_ledger
    slow = tsa_variant("slow")
    cfg = config(led, ("slow", slow.url, tsa.ca_pem_path), ("good", tsa.url, tsa.ca_pem_path),
                 timeout=30.0)
    size = grow(led, 2)
    svc = AnchorService(led, cfg)
    out: dict[str, object] = {}
    t = threading.Thread(target=lambda: out.setdefault("report", svc.run_once()))
    t.start()
    # the good TSA's answer is stored while the slow one still hangs
    for _ in range(600):
        if row_or_none(led, size, "good") == "anchored":
            break
        t.join(0.1)
    assert row_or_none(led, size, "good") == "anchored"
    assert t.is_alive(), "the slow TSA should still be hanging (30 s timeout)"
    # intake goes on meanwhile: appends commit and new checkpoints are signed
    for i in range(20):
        led.append("custody.note", {"text": f"during {i}"})
    assert led.size == size + 20 and led.latest_checkpoint().size == size + 20
    assert t.is_alive()
    t.join(120)
    assert not t.is_alive()
    _assert_failed_and_nothing_stored(led, size, "slow", "TsaTimeout")


def row_or_none(led: Ledger, size: int, source: str) -> str | None:
    rows = store.list_anchors(led.engine, size=size, source=source)
    return rows[0].status if rows else None


# --- retries ----------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_backoff_doubles_and_gives_up(sqlite_ledger: Ledger, tsa: LocalTSA,
                                      tsa_variant: Variant) -> None:
    led = sqlite_ledger
    clock = Clock()
    cfg = config(led, ("down", tsa_variant("http-error").url, tsa.ca_pem_path),
                 retry=RetryPolicy(base=10, max=35, jitter=0.0, max_attempts=4))
    svc = AnchorService(led, cfg, clock=clock)
    size = grow(led, 2)
    delays = []
    for attempt in (1, 2, 3):
        rep = svc.run_once()
        assert [(a.source, a.ok) for a in rep.attempts] == [("down", False)]
        r = row(led, size, "down")
        assert r.attempts == attempt and r.status == "failed"
        nxt = datetime.fromisoformat(r.next_attempt_at.replace("Z", "+00:00"))
        delays.append((nxt - clock.now).total_seconds())
        assert svc.run_once().attempts == ()  # not due yet: no request
        assert row(led, size, "down").attempts == attempt
        clock.advance(delays[-1] - 0.5)
        assert svc.run_once().attempts == ()  # still not due
        clock.advance(1)
    assert delays == [10, 20, 35]  # base, doubled, capped at max
    rep = svc.run_once()
    r = row(led, size, "down")
    assert r.attempts == 4 and r.next_attempt_at is None and "gave up after 4" in r.last_error
    clock.advance(10_000)
    assert svc.run_once().attempts == ()


def test_jitter_stays_within_bounds() -> None:
    import random

    p = RetryPolicy(base=8, max=100, jitter=0.5)
    rng = random.Random(5)
    got = [p.delay(3, rng) for _ in range(200)]
    assert all(16 <= d <= 32 for d in got) and len({round(d, 3) for d in got}) > 50


def test_new_checkpoint_supersedes_unfinished_older(sqlite_ledger: Ledger, tsa: LocalTSA,
                                                    tsa_variant: Variant) -> None:
    led = sqlite_ledger
    clock = Clock()
    down = tsa_variant("http-error").url
    cfg = config(led, ("down", down, tsa.ca_pem_path))
    svc = AnchorService(led, cfg, clock=clock)
    s1 = grow(led, 1)
    svc.run_once()
    s2 = grow(led, 1)
    svc.run_once()
    assert row(led, s1, "down").status == "superseded"
    assert row(led, s2, "down").status == "failed"
    # with retry_older, older checkpoints stay due for a TSA
    cfg2 = config(led, ("down", down, tsa.ca_pem_path), retry_older=True)
    svc2 = AnchorService(led, cfg2, clock=clock)
    s3 = grow(led, 1)
    clock.advance(100_000)
    rep = svc2.run_once()
    assert {a.checkpoint_size for a in rep.attempts} == {s2, s3}
    assert row(led, s2, "down").attempts == 2


def test_claim_is_compare_and_swap(ledger: Ledger, tsa: LocalTSA) -> None:
    size = grow(ledger, 1)
    now = datetime.now(UTC)
    store.ensure_rows(ledger.engine, size, [("a", "tsa", tsa.url)], now)
    (due,) = store.due_rows(ledger.engine, ["a"], now)
    assert store.claim(ledger.engine, due, now, 60)
    assert not store.claim(ledger.engine, due, now, 60)  # a second process loses the race
    assert store.due_rows(ledger.engine, ["a"], now) == []  # leased
    assert len(store.due_rows(ledger.engine, ["a"], now + timedelta(seconds=61))) == 1


# --- status -----------------------------------------------------------------------------------


def test_status_reports_lag_per_source(ledger: Ledger, tsa: LocalTSA,
                                       tsa_variant: Variant) -> None:
    cfg = config(ledger, ("good", tsa.url, tsa.ca_pem_path),
                 ("down", tsa_variant("http-error").url, tsa.ca_pem_path))
    svc = AnchorService(ledger, cfg)
    s1 = grow(ledger, 4)
    svc.run_once()
    grow(ledger, 6)
    st = anchor_status(ledger, cfg, now=datetime.now(UTC) + timedelta(seconds=100))
    assert st["log_size"] == 10 and st["latest_checkpoint"]["size"] == 10
    good, down = st["sources"]
    assert (good["name"], good["anchored_size"], good["lag_entries"]) == ("good", s1, 6)
    assert good["lag_seconds"] >= 100 and good["last_error"] is None
    assert good["anchored_time"] == row(ledger, s1, "good").gen_time
    assert (down["anchored_size"], down["lag_entries"], down["attempts"]) == (None, 10, 1)
    assert "TsaHttpError" in down["last_error"] and down["next_attempt_at"]
    svc.run_once()
    st = anchor_status(ledger, cfg)
    assert st["sources"][0]["lag_entries"] == 0 and st["sources"][0]["lag_seconds"] == 0


def test_anchors_table_rows_only_anchored_with_proof(sqlite_ledger: Ledger, tsa: LocalTSA,
                                                     tsa_variant: Variant) -> None:
    """Whatever happened, no row claims `anchored` without a token and a proof time."""
    led = sqlite_ledger
    cfg = config(led, ("good", tsa.url, tsa.ca_pem_path),
                 *[(v, tsa_variant(v).url, tsa.ca_pem_path)
                   for v in ("untrusted", "expired", "no-eku", "garbage")])
    grow(led, 3)
    AnchorService(led, cfg).run_once()
    with read_transaction(led.engine) as conn:
        rows = conn.execute(select(anchors)).all()
    assert {r.source: r.status for r in rows} == {
        "good": "anchored", "untrusted": "failed", "expired": "failed", "no-eku": "failed",
        "garbage": "failed"}
    for r in rows:
        assert (r.token is not None) == (r.status == "anchored") == (r.proof_time is not None)


def test_no_checkpoint_no_sources() -> None:
    d = Path(tempfile.mkdtemp())
    try:
        with Ledger.create(d / "data", ORIGIN) as led:
            assert AnchorService(led, AnchorConfig(d / "data")).run_once().attempts == ()
            cfg = AnchorConfig(d / "data", tsas=(TsaSource("x", "http://127.0.0.1:9/", ("c",)),))
            with pytest.raises(Exception, match="cannot read CA file"):
                AnchorService(led, cfg)
    finally:
        shutil.rmtree(d)


def test_anchor_schema_matches_migration(tmp_path: Path) -> None:
    """`anchor/schema.py` (what the code queries) and migration 0003 (what creates the table)
    describe the same table (indexes and CHECK constraints live in the migration only)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from evidence.ledger.anchor.schema import anchor_metadata

    with Ledger.create(tmp_path / "d", ORIGIN) as led, led.engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c), anchor_metadata)
    # other parts' tables (and their indexes) are not in this metadata: ignore their removal
    assert [d for d in diff if not (isinstance(d, tuple) and d[0] in ("remove_table",
                                                                      "remove_index"))] == []
