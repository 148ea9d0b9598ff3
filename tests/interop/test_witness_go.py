"""Our tlog-witness client against a witness nobody here wrote the checks of: a minimal
c2sp.org/tlog-witness server in Go (tests/interop/go/witness_server.go), written from the
spec text for this test, whose log signatures are checked by Go's sumdb/note, consistency
proofs by sumdb/tlog (RFC 6962) and whose cosignatures (cosignature/v1, made with
crypto/ed25519 as c2sp.org/tlog-cosignature says) our verifier must accept. Independent in
its checks, not in authorship: it was written in this project for this test.

The anchoring loop anchors a growing ledger through it (first contact with old size 0,
then consistency proofs); a 409 with ``text/x.tlog.size`` is answered by a request from
the witness's size (at once without a budget, at the next allowed time with one); 404 for
an origin it does not follow."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from evidence.ledger.anchor.config import AnchorConfig, RetryPolicy, WitnessSource
from evidence.ledger.anchor.service import AnchorService
from evidence.ledger.anchor.status import cosigned_note
from evidence.ledger.anchor.witness_client import (
    WitnessConflict,
    WitnessEndpoint,
    WitnessRefused,
    add_checkpoint,
    require_quorum,
)
from evidence.ledger.log import Ledger
from evidence.verify.note import parse_verifier_key

HERE = Path(__file__).parent
GOCODE = Path("/usr/share/gocode")
NEEDS = "apt-get install golang-go golang-golang-x-mod-dev"
ORIGIN = "go-interop.example/log"


@pytest.fixture(scope="session")
def go_witness_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.skip(f"Go is not installed ({NEEDS})")
    if not (GOCODE / "src/golang.org/x/mod/sumdb/tlog/tlog.go").is_file():
        pytest.skip(f"golang.org/x/mod/sumdb is not under {GOCODE} ({NEEDS})")
    out = tmp_path_factory.mktemp("gowitness")
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": str(GOCODE), "GOPROXY": "off",
           "GOTOOLCHAIN": "local", "GOFLAGS": "", "GOCACHE": str(out / "cache"),
           "CGO_ENABLED": "0"}
    r = subprocess.run([go, "build", "-o", str(out / "witness_server"), "witness_server.go"],
                       cwd=HERE / "go", env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return out / "witness_server"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger.create(tmp_path / "data", ORIGIN, checkpoint_interval=0)
    try:
        yield led
    finally:
        led.close()


@pytest.fixture
def go_witness(go_witness_binary: Path, ledger: Ledger) -> Iterator[WitnessEndpoint]:
    proc = subprocess.Popen([str(go_witness_binary), "-log-key", ledger.verifier_key,
                             "-origin", ORIGIN], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url, vkey = proc.stdout.readline().split()
        yield WitnessEndpoint(url, parse_verifier_key(vkey), timeout=30)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def grow(led: Ledger, n: int) -> int:
    for i in range(n):
        led.append("custody.note", {"text": f"note {i}"})
    cp = led.latest_checkpoint()
    assert cp is not None
    return cp.size


def config(led: Ledger, w: WitnessEndpoint, qpd: int | None) -> AnchorConfig:
    assert led.config is not None
    return AnchorConfig(led.config.data_dir, witnesses=(WitnessSource(
        "go", w.url, w.key.to_string(), timeout=30, qpd=qpd),), witness_quorum=1,
        retry=RetryPolicy(base=30, max=3600, jitter=0.0))


def test_anchoring_through_the_go_witness(ledger: Ledger, go_witness: WitnessEndpoint) -> None:
    svc = AnchorService(ledger, config(ledger, go_witness, qpd=None))
    for n in (3, 1, 17, 64):
        size = grow(ledger, n)
        rep = svc.run_once()
        assert [(a.checkpoint_size, a.ok) for a in rep.attempts] == [(size, True)], rep
        note = cosigned_note(ledger, size, svc.config)
        assert require_quorum(note, ledger.verifier, [go_witness.key], 1).checkpoint.size == size


def test_409_size_and_refusals(ledger: Ledger, go_witness: WitnessEndpoint) -> None:
    a = grow(ledger, 5)
    cp = ledger.checkpoint_at(a)
    assert cp is not None

    def proof(o: int, n: int) -> list[bytes]:
        return list(ledger.consistency_proof(o, n).proof)

    assert add_checkpoint(go_witness, cp.note, 0, proof).size == a
    b = grow(ledger, 6)
    bn = ledger.checkpoint_at(b)
    assert bn is not None
    with pytest.raises(WitnessConflict) as info:  # one call allowed: the size comes back
        add_checkpoint(go_witness, bn.note, 0, proof, max_calls=1)
    assert info.value.witness_size == a
    c = add_checkpoint(go_witness, bn.note, 0, proof)  # re-sent from the witness's size
    assert c.size == b
    other = Ledger.create(ledger.config.data_dir.parent / "other", "other.example/log",
                          checkpoint_interval=0) if ledger.config else None
    assert other is not None
    try:
        other.append("custody.note", {"text": "x"})
        ocp = other.latest_checkpoint()
        assert ocp is not None
        with pytest.raises(WitnessRefused) as refused:
            add_checkpoint(go_witness, ocp.note, 0, lambda o, n: [])
        assert refused.value.status == 404 and "does not follow" in str(refused.value)
    finally:
        other.close()


def test_budget_against_the_go_witness(ledger: Ledger, go_witness: WitnessEndpoint) -> None:
    """The witness already holds a checkpoint the anchors table does not know: one request
    learns its size (409), the next allowed one is sent from it."""
    a = grow(ledger, 4)
    cp = ledger.checkpoint_at(a)
    assert cp is not None
    add_checkpoint(go_witness, cp.note, 0, lambda o, n: [])
    b = grow(ledger, 9)
    now = [datetime.now(UTC)]
    svc = AnchorService(ledger, config(ledger, go_witness, qpd=288), clock=lambda: now[0])
    (att,) = svc.run_once().attempts
    assert not att.ok and f"last cosigned size {a}" in (att.error or "")
    now[0] += timedelta(minutes=4)
    assert svc.run_once().attempts == ()  # 288 a day: 5 minutes apart
    now[0] += timedelta(minutes=1)
    (att,) = svc.run_once().attempts
    assert att.ok and att.checkpoint_size == b
