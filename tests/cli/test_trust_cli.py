"""The trust file end to end: ``evidence trust export`` from the ledger and its anchors
config, the same bytes at ``GET /v1/log/trust`` (ETag = SHA-256), ``evidence verify
--trust [--trust-sha256]`` on a real bundle, and every bad trust input a usage error
(exit 2, nothing verified). Also the printed report: one block per language, nothing cut
at 80 columns, UTC beside --tz, --debug detail on stderr only, --json one line."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient

from evidence.api.app import create_app
from evidence.api.services import Services
from evidence.api.settings import ApiSettings
from evidence.cli.main import cli
from evidence.ledger.anchor.config import (
    add_tsa,
    add_tsa_preset,
    add_witness,
    load_anchor_config,
    save_anchor_config,
    trust_policy,
)
from evidence.verify.trust import parse_trust
from tests.support.bundle_world import World, build_world, members, rezip
from tests.support.tsa import LocalTSA

pytestmark = pytest.mark.tsa
EVIDENCE = str(Path(sys.executable).parent / "evidence")


def run(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> Iterator[World]:
    w = build_world(tmp_path_factory.mktemp("trust"), tsa.url, tsa.ca_cert_pem,
                    tsa.ca_pem_path)
    d = w.led.config.data_dir
    cfg = add_tsa(load_anchor_config(d), "tsa-local", tsa.url, [tsa.ca_pem_path])
    cfg = add_witness(cfg, "witness-a", "http://witness.invalid",
                      w.witness.verifier().to_string())
    save_anchor_config(cfg.__class__(**{**cfg.__dict__, "witness_quorum": 1}))
    yield w
    w.led.close()


@pytest.fixture(scope="module")
def files(world: World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("inputs")
    bundle = d / "a.zip"
    bundle.write_bytes(world.export(world.a))
    trust = d / "trust.txt"
    r = run("trust", "export", "--data-dir", world.led.config.data_dir, "-o", trust)
    assert r.exit_code == 0, r.output
    return {"bundle": bundle, "trust": trust, "dir": d}


def test_export_writes_a_file_the_court_parser_reads(world: World, files: dict[str, Path]
                                                     ) -> None:
    data = files["trust"].read_bytes()
    fp = hashlib.sha256(data).hexdigest()
    p = parse_trust(data)
    assert [lg.verifier for lg in p.logs] == [world.led.verifier]
    assert [w.name for w in p.witnesses] == ["witness-a"]
    assert p.groups[0].members == ("witness-a",) and p.groups[0].threshold == "1"
    assert p.quorum == p.groups[0].name and [t.name for t in p.tsas] == ["tsa-local"]
    assert not p.tsa_store_mozilla and p.fingerprint == fp
    # stdout and --json give the same bytes; the fingerprint goes to stderr
    r = CliRunner().invoke(cli, ["trust", "export", "--data-dir",
                                 str(world.led.config.data_dir)])
    assert r.exit_code == 0 and r.stdout_bytes == data and fp in r.stderr
    doc = json.loads(run("trust", "export", "--data-dir", world.led.config.data_dir,
                         "--json").output)
    assert doc["sha256"] == fp and doc["text"].encode() == data
    # exported twice: the same fingerprint (no export time in the file)
    assert trust_policy(load_anchor_config(world.led.config.data_dir),
                        world.led.verifier).fingerprint == fp


def test_verify_with_the_trust_file(files: dict[str, Path]) -> None:
    fp = hashlib.sha256(files["trust"].read_bytes()).hexdigest()
    r = run("verify", files["bundle"], "--trust", files["trust"], "--trust-sha256",
            fp.upper(), "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["verdict"] == "verified" and doc["trust_fingerprint"] == fp
    assert r.output.count("\n") == 1


BAD_TRUST = {
    "malformed": (b"log not-a-key\nquorum none\n", "line 1"),
    "no-log": (b"# nothing pinned\nquorum none\n", "names no log key"),
    "cr": (None, "carriage return"),
    "unknown-extension": (None, "unknown extension 'tsa-roots'"),
    "duplicate-key": (None, "duplicate key"),
    "forward-ref": (None, "not a witness or group defined above"),
}


def _bad(kind: str, good: bytes) -> bytes:
    data = BAD_TRUST[kind][0]
    if data is not None:
        return data
    text = good.decode()
    log = next(ln for ln in text.splitlines() if ln.startswith("log "))
    witness = next(ln for ln in text.splitlines() if ln.startswith("witness "))
    return {"cr": text.replace("\n", "\r\n"),
            "unknown-extension": text + "#@ tsa-roots all\n",
            "duplicate-key": text.replace(log, log + "\n" + log),
            "forward-ref": text.replace(witness + "\n", "").replace(
                "quorum", witness + "\nquorum")}[kind].encode()


@pytest.mark.parametrize("kind", sorted(BAD_TRUST))
def test_bad_trust_file_exits_2_and_verifies_nothing(kind: str, files: dict[str, Path]
                                                     ) -> None:
    bad = files["dir"] / f"bad-{kind}.txt"
    bad.write_bytes(_bad(kind, files["trust"].read_bytes()))
    for extra in ([], ["--json"]):
        r = run("verify", files["bundle"], "--trust", bad, *extra)
        assert r.exit_code == 2, r.output
        assert BAD_TRUST[kind][1] in r.output and "verdict" not in r.output


def test_trust_usage_errors(files: dict[str, Path], world: World) -> None:
    trust, bundle = files["trust"], files["bundle"]
    r = run("verify", bundle, "--trust", trust, "--trust-sha256", "0" * 64)
    assert r.exit_code == 2 and "not the trust file the operator stated" in r.output
    assert "nothing was verified" in r.output and "VERIFIED" not in r.output
    r = run("verify", bundle, "--trust", trust, "--trust-sha256", "abc")
    assert r.exit_code == 2 and "64 hex digits" in r.output
    r = run("verify", bundle, "--trust", trust, "--log-key", world.led.verifier_key)
    assert r.exit_code == 2 and "not both" in r.output
    r = run("verify", bundle, "--trust-sha256", "0" * 64, "--log-key", world.led.verifier_key)
    assert r.exit_code == 2 and "give --trust FILE too" in r.output
    r = run("verify", bundle, "--trust", files["dir"] / "missing.txt")
    assert r.exit_code == 2 and "cannot read" in r.output
    assert run("verify", bundle).exit_code == 2
    r = run("verify", bundle, "--trust", trust, "--tz", "Mars/Olympus")
    assert r.exit_code == 2 and "--tz" in r.output
    r = run("verify", bundle, "--log-key", world.led.verifier_key, "--witness-quorum", "1")
    assert r.exit_code == 2 and "no witness key" in r.output


def test_receipts_take_the_trust_file(files: dict[str, Path], world: World) -> None:
    """README pipeline: `evidence receipt ID --json >> proofs.jsonl` (one line each), then
    verify-receipts with the court's trust file."""
    proofs = files["dir"] / "proofs.jsonl"
    data_dir = world.led.config.data_dir
    with proofs.open("w") as f:
        for item in (world.a, world.c):
            r = run("receipt", item, "--data-dir", data_dir, "--json")
            assert r.exit_code == 0, r.output
            assert r.output.count("\n") == 1
            f.write(r.output)
    # the receipts' checkpoint is newer than the cosigned one: the quorum is not met
    r = run("verify-receipts", proofs, "--trust", files["trust"], "--json")
    doc = json.loads(r.output)
    assert r.exit_code == 1 and doc["proven"] == 0
    assert all("quorum is 1" in f["error"] for f in doc["failed"]) and len(doc["failed"]) == 2
    text = files["trust"].read_text()
    quorum = next(ln for ln in text.splitlines() if ln.startswith("quorum "))
    lenient = files["dir"] / "trust-quorum-none.txt"
    lenient.write_text(text.replace(quorum, "quorum none"))
    r = run("verify-receipts", proofs, "--trust", lenient, "--json")
    doc = json.loads(r.output)
    assert r.exit_code == 0 and doc["failed"] == [] and doc["proven"] == 2, doc


def _report(files: dict[str, Path], *args: str, columns: int = 80) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "dumb", "NO_COLOR": "1"}
    return subprocess.run([EVIDENCE, "verify", str(files["bundle"]), "--trust",
                           str(files["trust"]), *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_printed_report_wraps_chinese_at_80_columns(files: dict[str, Path]) -> None:
    from evidence.verify.bundle import verify_bundle

    report = verify_bundle(str(files["bundle"]), parse_trust(files["trust"].read_bytes()))
    p = _report(files)
    assert p.returncode == 0, p.stderr
    from rich.cells import cell_len

    wide = [ln for ln in p.stdout.splitlines() if cell_len(ln) > 80]
    assert not wide, wide
    flat = "".join(p.stdout.split())
    for c in report.checks:  # every Chinese reason whole (wrapped, never cut)
        assert "".join(c.reason_zh.split()) in flat, c.reason_zh
        assert "".join(c.reason.split()) in flat, c.reason
    assert "…" not in p.stdout
    assert "VERIFIED: every check passed." in p.stdout and "核验通过" in p.stdout
    # times in UTC and in the forum's zone
    assert "UTC" in p.stdout and "Asia/Shanghai (UTC+0800)" in p.stdout
    p = _report(files, "--tz", "Europe/Berlin", "--lang", "en")
    assert "Europe/Berlin (UTC+0100)" in p.stdout and "核验" not in p.stdout
    p = _report(files, "--lang", "zh")
    assert "核验通过" in p.stdout and "every check passed" not in p.stdout


def test_failure_report_and_debug(files: dict[str, Path], world: World) -> None:
    """A token over other data: one line per reason, no OpenSSL text in any reason, the
    detail only with --debug and only on stderr; no time claimed."""
    from evidence.ledger.anchor.tsa_client import request_timestamp

    m = members(files["bundle"].read_bytes())
    m["timestamps/0.tst"] = request_timestamp(world.tsa_url, b"another checkpoint\n",
                                              timeout=30).token
    bad = files["dir"] / "bad-token.zip"
    bad.write_bytes(rezip(m))
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    p = subprocess.run([EVIDENCE, "verify", str(bad), "--trust", str(files["trust"])],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 1
    assert p.stdout.splitlines()[0].startswith("NOT VERIFIED: the timestamps check failed")
    flat = " ".join(p.stdout.split())
    assert "other data than this checkpoint" in flat and "SHA-256 of this message" not in flat
    assert "preserved no later than" not in flat.lower() and "已保全" not in p.stdout
    assert p.stderr == ""
    p = subprocess.run([EVIDENCE, "verify", str(bad), "--trust", str(files["trust"]),
                        "--debug", "--json"], capture_output=True, text=True, env=env,
                       timeout=120)
    doc = json.loads(p.stdout)
    assert doc["failed_check"] == "timestamps" and doc["preserved_no_later_than"] == []
    assert "debug: timestamps:" in p.stderr and "SHA-256 of this message" in p.stderr


def test_rezipped_bundle_is_named(files: dict[str, Path]) -> None:
    import zipfile

    m = members(files["bundle"].read_bytes())
    rez = files["dir"] / "rezipped.zip"
    with zipfile.ZipFile(rez, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in m.items():
            z.writestr(name, data)
    r = run("verify", rez, "--trust", files["trust"], "--json")
    doc = json.loads(r.output)
    assert r.exit_code == 1 and doc["failed_check"] == "archive"
    c = doc["checks"][0]
    assert "not the original bundle file: ask for the original" in c["reason"]
    assert c["reason_zh"] == "不是原始证据包文件：请索取原件"
    # a zip tool's folder entries say the same
    with zipfile.ZipFile(rez, "w") as z:
        z.writestr("files/", b"")
        for name, data in m.items():
            z.writestr(name, data)
    doc = json.loads(run("verify", rez, "--trust", files["trust"], "--json").output)
    assert doc["checks"][0]["reason_zh"] == "不是原始证据包文件：请索取原件"


def test_served_trust_file_is_the_exported_one(world: World, files: dict[str, Path]) -> None:
    data = files["trust"].read_bytes()
    fp = hashlib.sha256(data).hexdigest()
    svc = Services.open(ApiSettings(data_dir=str(world.led.config.data_dir), anchor=False))
    try:
        with TestClient(create_app(services=svc)) as client:
            r = client.get("/v1/log/trust")
            assert r.status_code == 200 and r.content == data
            assert r.headers["content-type"] == "text/plain; charset=utf-8"
            assert r.headers["etag"] == f'"{fp}"' and r.headers["cache-control"] == "no-cache"
            r = client.get("/v1/log/trust", headers={"If-None-Match": f'"{fp}"'})
            assert r.status_code == 304 and r.content == b""
    finally:
        svc.close()


def test_preset_tsa_pins_mozilla_roots(tmp_path: Path, world: World) -> None:
    from evidence.ledger.log import Ledger

    d = tmp_path / "d"
    Ledger.create(d, "preset.example/log").close()
    r = run("anchor", "tsa", "add", "--preset", "digicert", "--data-dir", d)
    assert r.exit_code == 0, r.output
    cfg = load_anchor_config(d)
    assert cfg.tsas[0].url == "http://timestamp.digicert.com" and cfg.tsas[0].preset
    p = trust_policy(cfg, world.led.verifier)
    assert p.tsa_store_mozilla and "#@ tsa-store mozilla\n" in p.to_text()
    assert [t.certificate.subject.rfc4514_string() for t in p.tsas] == [
        "CN=DigiCert Trusted Root G4,OU=www.digicert.com,O=DigiCert Inc,C=US"]
    r = run("anchor", "tsa", "add", "--preset", "freetsa", "--data-dir", d)
    assert r.exit_code == 1 and "--ca" in r.output
    r = run("anchor", "tsa", "add", "--preset", "digicert", "--data-dir", d)
    assert r.exit_code == 1 and "already configured" in r.output
    r = run("anchor", "tsa", "add", "x", "http://x.example", "--data-dir", d)
    assert r.exit_code == 2 and "--ca" in r.output
    with pytest.raises(Exception, match="unknown TSA preset"):
        add_tsa_preset(cfg, "nope")


def test_a_chain_file_pins_only_its_root(tmp_path: Path, world: World) -> None:
    """An operator may configure a TSA with its whole chain; only the root becomes a pin
    (docs/verdict.md section 3: verifiers refuse an intermediate as a pin)."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    from evidence.ledger.log import Ledger

    def cert(key: ec.EllipticCurvePrivateKey, cn: str, issuer: str,
             signer: ec.EllipticCurvePrivateKey) -> x509.Certificate:
        now = datetime.now(UTC)
        return (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
                .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(now + timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(signer, hashes.SHA256()))

    root_key, mid_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(
        ec.SECP256R1())
    root = cert(root_key, "Chain Root", "Chain Root", root_key)
    mid = cert(mid_key, "Chain TSA CA", "Chain Root", root_key)
    chain = tmp_path / "chain.pem"
    chain.write_bytes(mid.public_bytes(Encoding.PEM) + root.public_bytes(Encoding.PEM))
    d = tmp_path / "d"
    Ledger.create(d, "chain.example/log").close()
    r = run("anchor", "tsa", "add", "chain-tsa", "http://tsa.chain.example", "--ca", chain,
            "--data-dir", d)
    assert r.exit_code == 0, r.output
    p = trust_policy(load_anchor_config(d), world.led.verifier)
    assert [t.der for t in p.tsas] == [root.public_bytes(Encoding.DER)]
    parse_trust(p.to_text().encode())  # the exported file is one the court's parser takes


def test_served_trust_file_with_a_broken_config_is_503(tmp_path: Path) -> None:
    from evidence.ledger.log import Ledger

    d = tmp_path / "d"
    Ledger.create(d, "broken.example/log").close()
    svc = Services.open(ApiSettings(data_dir=str(d), anchor=False))
    try:
        with TestClient(create_app(services=svc)) as client:
            r = client.get("/v1/log/trust")
            assert r.status_code == 200 and r.text.endswith("quorum none\n")
            (d / "capture-nodes").write_text("node-1 principal-1 not-a-key\n")
            r = client.get("/v1/log/trust")
            assert r.status_code == 503 and r.json()["type"].endswith("trust-file-unavailable")
            assert "capture-nodes" in r.json()["detail"] and str(d) not in r.text
            (d / "capture-nodes").unlink()
            (d / "anchors.json").write_text("{not json")
            r = client.get("/v1/log/trust")
            assert r.status_code == 503 and r.json()["type"].endswith("trust-file-unavailable")
    finally:
        svc.close()


def test_serve_prints_the_trust_file_fingerprint(world: World, files: dict[str, Path]) -> None:
    """`evidence serve` names the trust file's URL and SHA-256 at start, and serves it."""
    import signal
    import time
    import urllib.request

    from tests.support.ports import free_ports

    fp = hashlib.sha256(files["trust"].read_bytes()).hexdigest()
    (port,) = free_ports(1)
    log = files["dir"] / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([EVIDENCE, "serve", "--data-dir", str(world.led.config.data_dir),
                                 "--port", str(port), "--no-anchor", "--log-level", "warning"],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/v1/log/trust"
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline and proc.poll() is None and body is None:
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    body = r.read()
            except OSError:
                time.sleep(0.2)
        assert body == files["trust"].read_bytes(), log.read_text()[-2000:]
        assert f"trust file: http://127.0.0.1:{port}/v1/log/trust sha256 {fp}" in \
            log.read_text()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
