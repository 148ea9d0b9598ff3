"""The trust file (docs/formats.md section 10) is one set of bytes wherever it is written:
``GET /v1/log/trust`` (TestClient and a running ``evidence serve``), the fingerprint
``evidence serve`` prints at start, ``evidence trust export``, ``evidence log export``'s
DIR/trust.txt and ``evidence log freeze``'s DIR/trust.txt (of the active shard, and of a
frozen shard, which carries the active shard's file). The ledger has every kind of line:
a key rotated out and one revoked, an ML-DSA-44 key, a frozen shard whose two keys are
windowed to its final size, two witnesses with quorum 2, the local OpenSSL TSA's root
and a capture node. The expected bytes are written here from the docs, not from the code."""

from __future__ import annotations

import base64
import difflib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi.testclient import TestClient

from evidence.api.app import create_app
from evidence.api.services import Services
from evidence.api.settings import ApiSettings
from evidence.cli.main import cli
from evidence.ledger.anchor.config import (
    add_tsa,
    add_witness,
    load_anchor_config,
    save_anchor_config,
)
from evidence.ledger.audit.export_log import export_log
from evidence.ledger.freeze import freeze_log
from evidence.ledger.log import Ledger
from evidence.ledger.shards import start_shard
from evidence.verify.note import (
    ALG_COSIGNATURE_V1,
    ALG_MLDSA44,
    Signer,
    generate_signer,
)
from evidence.verify.trust import parse_trust
from tests.support.anchored_ledger import AnchoredLedger
from tests.support.api_server import World as ServeWorld
from tests.support.api_server import start_server
from tests.support.tsa import LocalTSA

pytestmark = pytest.mark.tsa
ORIGIN_1 = "trustfile.example/log"
ORIGIN_2 = "trustfile.example/log-2"


@dataclass(frozen=True)
class World:
    dir: Path
    expected: bytes
    """The trust file as docs/formats.md describes it for this ledger."""


def _vkey(s: Signer) -> str:
    return s.verifier().to_string()


def _notes(led: Ledger, n: int) -> None:
    led.append_many([("custody.note", {"n": i, "who": "法官 judge"}) for i in range(n)])
    led.sign_checkpoint_now()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> Iterator[World]:
    root = tmp_path_factory.mktemp("trust-file")
    d = root / "data"
    witnesses = {n: generate_signer(f"{n}.example", ALG_COSIGNATURE_V1) for n in ("w1", "w2")}
    node = generate_signer("node-hk.example/capture")
    keys = [generate_signer(ORIGIN_1) for _ in range(2)] + \
        [generate_signer(ORIGIN_2) for _ in range(2)]
    pq = generate_signer(ORIGIN_2, ALG_MLDSA44)

    with Ledger.create(d, ORIGIN_1, checkpoint_interval=3600) as led:
        s1_first = led.verifier_key
        cfg = add_tsa(load_anchor_config(d), "local-tsa", tsa.url, [tsa.ca_pem_path])
        for name, w in witnesses.items():
            cfg = add_witness(cfg, name, "http://witness.invalid", _vkey(w))
        save_anchor_config(replace(cfg, witness_quorum=2))
        (d / "capture-nodes").write_text(f"node-hk token:node-hk {_vkey(node)}\n",
                                         encoding="utf-8")
        _notes(led, 5)
        s1_rot = led.size + 1  # F = r + 1 (formats.md "Log key rotation")
        led.rotate_key(keys[0], overlap=1)
        _notes(led, 3)

    def anchor(old: Ledger, size: int) -> dict[str, bool]:
        AnchoredLedger(d, old, tsa.url, tsa.ca_cert_pem, dict(witnesses)).anchor(
            size, tsa=("local-tsa", tsa.url, tsa.ca_cert_pem), witnesses=("w1", "w2"))
        return {"local-tsa": True, "w1": True, "w2": True}

    final = start_shard(d, ORIGIN_2, anchor=anchor).frozen.final_size

    with Ledger.open(d) as led:
        s2_first = led.verifier_key
        _notes(led, 4)
        a_from = led.size + 1
        led.rotate_key(keys[2], overlap=2)  # the active shard's first key: rotated out
        _notes(led, 4)
        led.rotate_key(keys[3], overlap=0)  # the second: rotated out at once, then revoked
        _notes(led, 2)
        led.revoke_key(_vkey(keys[2]), a_from + 1, "compromised")
        pq_from = led.size + 1
        assert led.add_mldsa_key(pq) == pq_from
        _notes(led, 3)
        assert led.verifier_key == _vkey(keys[3])

    root_der = x509.load_pem_x509_certificate(tsa.ca_cert_pem).public_bytes(Encoding.DER)
    lines = [f"# evidence trust policy for {ORIGIN_2}",
             f"log {_vkey(keys[3])}",
             *(f"witness {n} {_vkey(w)} http://witness.invalid" for n, w in witnesses.items()),
             "group witnesses 2 w1 w2",
             "quorum witnesses",
             f"#@ tsa local-tsa {base64.b64encode(root_der).decode()}",
             f"#@ capture-node node-hk {_vkey(node)}",
             # the active shard's retired keys, in the order the log first used them
             f"#@ log-key {s2_first} 0 {a_from + 2}",
             f"#@ log-key {_vkey(keys[2])} {a_from} {a_from + 1}",
             # each frozen shard's keys, windowed to its final size (formats.md "Temporal
             # shards")
             f"#@ log-key {s1_first} 0 {s1_rot + 1}",
             f"#@ log-key {_vkey(keys[0])} {s1_rot} {final}",
             # after the #@ log-key lines (formats.md "ML-DSA-44 signatures", Trust file)
             f"#@ log-mldsa {_vkey(pq)} {pq_from}"]
    yield World(d, ("\n".join(lines) + "\n").encode())


def _serve(d: Path) -> tuple[str, bytes]:
    """`evidence serve`'s printed fingerprint and the bytes it serves."""
    srv = start_server(ServeWorld(d, None), "--no-anchor")
    try:
        body = httpx.get(srv.base + "/v1/log/trust", timeout=60).content
        prefix = f"trust file: {srv.base}/v1/log/trust sha256 "
        said = srv.log.read_text()
        line = next((ln for ln in said.splitlines() if ln.startswith(prefix)), None)
        assert line is not None, said[-2000:]
        return line.removeprefix(prefix), body
    finally:
        srv.stop()


def test_every_writer_writes_the_same_bytes(world: World, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVIDENCE_CAPTURE_KEY", raising=False)
    d = world.dir
    out: dict[str, bytes] = {}

    svc = Services.open(ApiSettings(data_dir=str(d), anchor=False))
    try:
        with TestClient(create_app(services=svc)) as client:
            r = client.get("/v1/log/trust")
            assert r.status_code == 200, r.text
            out["GET /v1/log/trust"] = r.content
            etag = r.headers["etag"]
    finally:
        svc.close()

    r2 = CliRunner().invoke(cli, ["trust", "export", "--data-dir", str(d), "-o",
                                  str(tmp_path / "trust.txt")], catch_exceptions=False)
    assert r2.exit_code == 0, r2.output
    out["evidence trust export"] = (tmp_path / "trust.txt").read_bytes()
    printed = r2.output.strip().rsplit(" ", 1)[-1]

    with Ledger.open(d) as led:
        export_log(led, tmp_path / "export")
        out["evidence log export"] = (tmp_path / "export" / "trust.txt").read_bytes()
        freeze_log(led, tmp_path / "freeze")
        out["evidence log freeze"] = (tmp_path / "freeze" / "trust.txt").read_bytes()
    r3 = CliRunner().invoke(cli, ["log", "freeze", "--data-dir", str(d), "--shard", "1",
                                  str(tmp_path / "freeze-shard-1")], catch_exceptions=False)
    assert r3.exit_code == 0, r3.output
    out["evidence log freeze --shard 1"] = (tmp_path / "freeze-shard-1" / "trust.txt"
                                            ).read_bytes()

    served_fp, out["evidence serve: GET /v1/log/trust"] = _serve(d)

    differ = {k: v for k, v in out.items() if v != out["evidence trust export"]}
    assert not differ, {k: v.decode() for k, v in out.items()}
    fp = hashlib.sha256(out["evidence trust export"]).hexdigest()
    assert (printed, served_fp, etag) == (fp, fp, f'"{fp}"')


def test_the_bytes_are_the_documented_ones(world: World, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Every kind of line, in the order docs/formats.md gives, parsed back by the court's
    parser."""
    monkeypatch.delenv("EVIDENCE_CAPTURE_KEY", raising=False)
    r = CliRunner().invoke(cli, ["trust", "export", "--data-dir", str(world.dir)],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    data = r.stdout_bytes
    assert data == world.expected, "\n".join(difflib.unified_diff(
        world.expected.decode().splitlines(), data.decode().splitlines(), "documented",
        "written", lineterm=""))
    p = parse_trust(data)
    assert p.raw == data and len(p.logs) == 6 and p.quorum == "witnesses"
