"""`evidence anchor ...` and `evidence status` end to end (real CLI processes, a real TSA), and
witness cosignatures collected by the anchoring loop from two `evidence witness serve`
processes on loopback, with a quorum."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from evidence.ledger.anchor import store
from evidence.ledger.anchor.base import AnchorFailed
from evidence.ledger.anchor.config import (
    AnchorConfig,
    AnchorConfigError,
    RetryPolicy,
    WitnessSource,
    add_tsa,
    add_witness,
    load_anchor_config,
)
from evidence.ledger.anchor.service import AnchorService
from evidence.ledger.anchor.status import anchor_status, cosigned_note, verify_stored_anchors
from evidence.ledger.log import Ledger
from evidence.verify.checkpoint import verify_checkpoint
from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer, parse_verifier_key
from tests.support.ports import free_ports
from tests.support.tsa import LocalTSA

CLI = [sys.executable, "-c", "from evidence.cli.main import main; main()"]
ORIGIN = "anchor.test/log"


def run(data: Path, *args: str, ok: bool = True) -> dict:
    env = {**os.environ, "EVIDENCE_DATA_DIR": str(data)}
    r = subprocess.run([*CLI, *args, "--json"], capture_output=True, timeout=120, env=env)
    out = json.loads(r.stdout)
    if ok:
        assert r.returncode == 0 and out.get("ok", True), (r.stdout, r.stderr)
    return out


@pytest.mark.tsa
def test_cli_round_trip(tmp_path: Path, tsa: LocalTSA, tsa_variant) -> None:
    data = tmp_path / "data"
    init = run(data, "init", "--origin", ORIGIN, "--checkpoint-interval", "0")
    assert init["origin"] == ORIGIN
    for i in range(3):
        run(data, "log", "append", "custody.note", "--body", json.dumps({"text": str(i)}))
    cfg = run(data, "anchor", "tsa", "add", "good", tsa.url, "--ca", str(tsa.ca_pem_path))
    assert cfg["config"]["tsas"][0]["ca"] == ["anchor-ca/good.pem"]
    assert (data / "anchor-ca" / "good.pem").read_bytes().strip() == tsa.ca_cert_pem.strip()
    run(data, "anchor", "tsa", "add", "junk", tsa_variant("garbage").url,
        "--ca", str(tsa.ca_pem_path))
    wkey = generate_signer("w.example/w", ALG_COSIGNATURE_V1).verifier().to_string()
    port = free_ports(1)[0]  # nobody listens there
    run(data, "anchor", "witness", "add", "w1", f"http://127.0.0.1:{port}", "--key", wkey,
        "--timeout", "2")
    # refused changes leave the file as it was
    before = (data / "anchors.json").read_bytes()
    bad = run(data, "anchor", "witness", "add", "w2", "http://x", "--key", init["verifier_key"],
              ok=False)
    assert not bad["ok"] and "not a cosignature/v1" in bad["error"]
    bad = run(data, "anchor", "tsa", "add", "good", tsa.url, "--ca", str(tsa.ca_pem_path),
              ok=False)
    assert "already configured" in bad["error"]
    bad = run(data, "anchor", "set", "--quorum", "2", ok=False)
    assert "witness_quorum" in bad["error"]
    assert (data / "anchors.json").read_bytes() == before
    run(data, "anchor", "set", "--quorum", "1", "--retry-base", "5", "--max-attempts", "9")
    listed = run(data, "anchor", "list")["config"]
    assert [t["name"] for t in listed["tsas"]] == ["good", "junk"]
    assert listed["witnesses"][0]["key"] == wkey and listed["witness_quorum"] == 1
    assert listed["retry"]["base"] == 5 and listed["retry"]["max_attempts"] == 9

    rnd = run(data, "anchor", "--once", ok=False)  # exit 1: some sources failed
    assert rnd["checkpoint_size"] == 3 and not rnd["ok"]
    res = {a["source"]: a for a in rnd["attempts"]}
    assert res["good"]["ok"] and not res["junk"]["ok"] and not res["w1"]["ok"]
    assert "MalformedTimestamp" in res["junk"]["error"]
    assert "WitnessUnavailable" in res["w1"]["error"]

    st = run(data, "status")
    assert st["log_size"] == 3 and st["latest_checkpoint"]["size"] == 3
    src = {s["name"]: s for s in st["sources"]}
    assert src["good"]["anchored_size"] == 3 and src["good"]["lag_entries"] == 0
    assert src["junk"]["anchored_size"] is None and src["junk"]["lag_entries"] == 3
    assert src["w1"]["kind"] == "witness" and "WitnessUnavailable" in src["w1"]["last_error"]
    assert st["witness_quorum"] == 1 and st["newest_size_with_quorum"] is None
    text_status = subprocess.run([*CLI, "status"], capture_output=True, text=True, timeout=60,
                                 env={**os.environ, "EVIDENCE_DATA_DIR": str(data)})
    assert "lag 3 entries" in text_status.stdout and "junk" in text_status.stdout

    shown = run(data, "anchor", "show", "3")
    (a,) = shown["anchors"]
    assert a["source"] == "good" and a["ok"] and "existed no later than" in a["statement"]

    tok = tmp_path / "t.der"
    chain = tmp_path / "chain.pem"
    run(data, "anchor", "token", "3", "good", "-o", str(tok), "--certs", str(chain))
    note = run(data, "log", "checkpoint")["note"]
    text = note[: note.index("\n\n") + 1]
    digest = hashlib.sha256(text.encode()).hexdigest()
    v = subprocess.run(["openssl", "ts", "-verify", "-in", str(tok), "-token_in", "-digest",
                        digest, "-CAfile", str(data / "anchor-ca" / "good.pem")],
                       capture_output=True, text=True, timeout=60)
    assert v.returncode == 0 and "Verification: OK" in v.stdout, v.stderr
    assert chain.read_bytes().count(b"BEGIN CERTIFICATE") >= 2

    run(data, "anchor", "remove", "junk")
    assert [t["name"] for t in run(data, "anchor", "list")["config"]["tsas"]] == ["good"]
    missing = run(data, "anchor", "token", "3", "junk", "-o", str(tok), ok=False)
    assert "no token stored" in missing["error"]


def test_config_validation(tmp_path: Path, tsa: LocalTSA) -> None:
    cfg = load_anchor_config(tmp_path)
    assert cfg.tsas == () and cfg.witnesses == ()
    with pytest.raises(AnchorConfigError, match="holds no PEM certificate"):
        not_pem = tmp_path / "x.pem"
        not_pem.write_text("hello")
        add_tsa(cfg, "t", tsa.url, [not_pem])
    with pytest.raises(AnchorConfigError, match="source name"):
        add_tsa(cfg, "bad name", tsa.url, [tsa.ca_pem_path])
    with pytest.raises(AnchorConfigError, match="http"):
        add_tsa(cfg, "t", "file:///etc/passwd", [tsa.ca_pem_path])
    with pytest.raises(AnchorConfigError, match="dotted OID"):
        add_tsa(cfg, "t", tsa.url, [tsa.ca_pem_path], policy="not-an-oid")
    assert not (tmp_path / "anchors.json").exists()
    cfg = add_tsa(cfg, "t", tsa.url, [tsa.ca_pem_path], policy="1.2.3.4")
    with pytest.raises(AnchorConfigError, match="already configured"):
        add_witness(cfg, "t", "http://127.0.0.1:1", "x")
    with pytest.raises(AnchorConfigError, match="bad verifier key"):
        add_witness(cfg, "w", "http://127.0.0.1:1", "not a key")
    assert load_anchor_config(tmp_path) == cfg
    (tmp_path / "anchors.json").write_text('{"tsas": [{"name": "x"}]}')
    with pytest.raises(AnchorConfigError, match="malformed"):
        load_anchor_config(tmp_path)
    (tmp_path / "anchors.json").write_text('{"retry": {"base": 10, "max": 5}}')
    with pytest.raises(AnchorConfigError, match="retry"):
        load_anchor_config(tmp_path)


# --- witnesses ------------------------------------------------------------------------------


class WitnessProc:
    def __init__(self, directory: Path, name: str, log_vkey: str) -> None:
        self.dir = directory
        self.vkey = self._cli("witness", "init", "--dir", str(directory),
                              "--name", name)["verifier_key"]
        self._cli("witness", "add-log", "--dir", str(directory), "--origin", ORIGIN,
                  "--key", log_vkey)
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @staticmethod
    def _cli(*args: str) -> dict:
        r = subprocess.run([*CLI, *args, "--json"], capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        for _ in range(5):
            (self.port,) = free_ports(1)
            self.proc = subprocess.Popen([*CLI, "witness", "serve", "--dir", str(self.dir),
                                          "--port", str(self.port)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    with urllib.request.urlopen(self.url + "/info", timeout=2):
                        return
                except OSError:
                    time.sleep(0.1)
            self.stop()
        raise RuntimeError("witness did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


@pytest.fixture
def led(tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger.create(tmp_path / "data", ORIGIN, checkpoint_interval=0)
    try:
        yield ledger
    finally:
        ledger.close()


@pytest.fixture
def witnesses(tmp_path: Path, led: Ledger) -> Iterator[list[WitnessProc]]:
    ws = [WitnessProc(tmp_path / f"w{n}", f"witness{n}.example/w", led.verifier_key)
          for n in (1, 2)]
    try:
        for w in ws:
            w.start()
        yield ws
    finally:
        for w in ws:
            w.stop()


@pytest.mark.tsa
def test_witnesses_and_tsa_anchor_with_quorum(led: Ledger, witnesses: list[WitnessProc],
                                              tsa: LocalTSA) -> None:
    from evidence.ledger.anchor.config import TsaSource

    assert led.config is not None
    cfg = AnchorConfig(
        led.config.data_dir,
        tsas=(TsaSource("good", tsa.url, (str(tsa.ca_pem_path),)),),
        witnesses=tuple(WitnessSource(f"w{i}", w.url, w.vkey, timeout=30)
                        for i, w in enumerate(witnesses, 1)),
        witness_quorum=2, retry=RetryPolicy(jitter=0.0))
    svc = AnchorService(led, cfg)
    keys = [parse_verifier_key(w.vkey) for w in witnesses]
    for n in (3, 5, 17):  # each round: consistency proof from the size each witness last saw
        for i in range(n):
            led.append("custody.note", {"text": f"{n}/{i}"})
        rep = svc.run_once()
        assert all(a.ok for a in rep.attempts), rep
        size = led.size
        note = cosigned_note(led, size, cfg)
        v = verify_checkpoint(note, led.verifier, witness_keys=keys, quorum=2)
        assert v.checkpoint.size == size
        r = store.list_anchors(led.engine, size=size, source="w1")[0]
        assert r.status == "anchored" and r.cosigned_at and r.cosignature.startswith("— ")
    st = anchor_status(led, cfg)
    assert st["newest_size_with_quorum"] == led.size
    assert all(s["lag_entries"] == 0 for s in st["sources"])
    checks = verify_stored_anchors(led, cfg, led.size)
    assert sorted((c.source, c.ok) for c in checks) == [("good", True), ("w1", True),
                                                         ("w2", True)]
    # older witness rows were never left pending: they are anchored or superseded
    assert {r.status for r in store.list_anchors(led.engine, source="w2")} == {"anchored"}

    # one witness down: quorum not met on the next checkpoint, its failure is recorded
    witnesses[1].stop()
    led.append("custody.note", {"text": "after"})
    rep = svc.run_once()
    by = {a.source: a for a in rep.attempts}
    assert by["w1"].ok and by["good"].ok and not by["w2"].ok
    assert "WitnessUnavailable" in by["w2"].error
    with pytest.raises(AnchorFailed, match="quorum is 2"):
        cosigned_note(led, led.size, cfg)
    st = anchor_status(led, cfg)
    assert st["newest_size_with_quorum"] == led.size - 1
    w2 = next(s for s in st["sources"] if s["name"] == "w2")
    assert w2["lag_entries"] == 1 and "WitnessUnavailable" in w2["last_error"]


@pytest.mark.tsa
def test_anchor_service_runs_beside_intake_in_a_thread(led: Ledger, tsa: LocalTSA) -> None:
    from evidence.ledger.anchor.config import TsaSource

    assert led.config is not None
    cfg = AnchorConfig(led.config.data_dir,
                       tsas=(TsaSource("good", tsa.url, (str(tsa.ca_pem_path),)),),
                       interval=0.05)
    thread, stop = AnchorService(led, cfg).start_background()
    try:
        for i in range(30):
            led.append("custody.note", {"text": str(i)})
        final = led.size
        done = threading.Event()
        for _ in range(1200):
            rows = store.list_anchors(led.engine, size=final, source="good")
            if rows and rows[0].status == "anchored":
                done.set()
                break
            time.sleep(0.05)
        assert done.is_set()
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive()
