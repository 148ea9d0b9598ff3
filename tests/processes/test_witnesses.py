"""A log and two witnesses as real processes on loopback (issue 5, point 3).

The witnesses are ``evidence witness serve`` subprocesses, set up with the real
CLI; the log is ``TinyLog`` (built from ``evidence.verify`` alone) and talks to
them with :mod:`evidence.ledger.anchor.witness_client`. Refusals are also sent
as raw HTTP requests to check status, content type and reason, and each one is
checked to leave the witness's state unchanged.
"""

from __future__ import annotations

import base64
import http.server
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from evidence.ledger.anchor.witness_client import (
    WitnessBadResponse,
    WitnessConflict,
    WitnessEndpoint,
    WitnessRefused,
    WitnessUnavailable,
    add_checkpoint,
    format_add_checkpoint,
    merge_cosignatures,
    require_quorum,
)
from evidence.verify.errors import NoVerifiedSignature
from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer, parse_verifier_key
from tests.support.ports import free_ports
from tests.support.tiny_log import ORIGIN, TinyLog

CLI = [sys.executable, "-c", "from evidence.cli.main import main; main()"]


def cli(*args: str) -> dict:
    r = subprocess.run([*CLI, *args, "--json"], capture_output=True, timeout=60)
    out = json.loads(r.stdout)
    assert r.returncode == 0 and out["ok"], r.stderr
    return out


def call(url: str, body: bytes | None = None) -> tuple[int, str, bytes]:
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.headers.get("Content-Type", ""), e.read()


@dataclass
class WitnessProcess:
    directory: Path
    vkey: str
    proc: subprocess.Popen | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> WitnessEndpoint:
        return WitnessEndpoint(self.url, parse_verifier_key(self.vkey), timeout=30)

    def start(self) -> None:
        for _attempt in range(5):
            (self.port,) = free_ports(1)
            self.proc = subprocess.Popen(
                [*CLI, "witness", "serve", "--dir", str(self.directory), "--port", str(self.port)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    with urllib.request.urlopen(self.url + "/info", timeout=2):
                        return
                except OSError:
                    time.sleep(0.1)
            self.stop()  # port taken in the meantime, or too slow: try another port
        raise RuntimeError(f"witness in {self.directory} did not start")

    def stop(self) -> str:
        """Stop the process; return what it logged."""
        if self.proc is None:
            return ""
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        self.proc = None
        return err.decode("utf-8", "replace")

    def info(self) -> dict:
        status, _, body = call(self.url + "/info")
        assert status == 200
        return json.loads(body)

    def log_state(self) -> dict:
        (lg,) = [lg for lg in self.info()["logs"] if lg["origin"] == ORIGIN]
        return lg

    def post(self, body: bytes) -> tuple[int, str, str]:
        status, ctype, answer = call(self.url + "/add-checkpoint", body)
        return status, ctype, answer.decode()


@pytest.fixture
def log() -> TinyLog:
    return TinyLog()


@pytest.fixture
def witnesses(tmp_path: Path, log: TinyLog) -> Iterator[list[WitnessProcess]]:
    ws = []
    for n in (1, 2):
        d = tmp_path / f"w{n}"
        out = cli("witness", "init", "--dir", str(d), "--name", f"witness{n}.example/w")
        assert out["verifier_key"].startswith(f"witness{n}.example/w+")
        added = cli("witness", "add-log", "--dir", str(d), "--origin", ORIGIN, "--key", log.vkey)
        assert added["size"] == 0
        ws.append(WitnessProcess(d, out["verifier_key"]))
    try:
        for w in ws:
            w.start()
        yield ws
    finally:
        for w in ws:
            w.stop()


def cosign_all(log: TinyLog, ws: list[WitnessProcess], seen: dict[str, int]) -> str:
    """Collect both cosignatures on the log's current checkpoint; return the merged note."""
    note = log.note()
    got = []
    for w in ws:
        c = add_checkpoint(w.endpoint, note, seen.get(w.url, 0), log.proof)
        assert c.size == log.size and len(c.lines) == 1
        seen[w.url] = c.size
        got.append(c)
    return merge_cosignatures(note, got)


def test_log_grows_and_both_witnesses_cosign(witnesses: list[WitnessProcess],
                                             log: TinyLog) -> None:
    keys = [parse_verifier_key(w.vkey) for w in witnesses]
    seen: dict[str, int] = {}
    for n in (1, 2, 5, 8, 13, 64, 100):
        log.grow(n)
        note = cosign_all(log, witnesses, seen)
        v = require_quorum(note, log.signer.verifier(), keys, 2)
        assert v.checkpoint.size == log.size
        assert sorted(c.name for c in v.cosignatures) == ["witness1.example/w",
                                                          "witness2.example/w"]
        assert all(c.alg == ALG_COSIGNATURE_V1 for c in v.cosignatures)
    for w in witnesses:
        st = w.log_state()
        assert (st["size"], st["root"]) == (log.size, log.checkpoint().root.hex())
    # one cosignature is not a quorum of two
    one = merge_cosignatures(log.note(), [add_checkpoint(witnesses[0].endpoint, log.note(),
                                                         log.size, log.proof)])
    require_quorum(one, log.signer.verifier(), keys, 1)
    with pytest.raises(NoVerifiedSignature, match="quorum is 2"):
        require_quorum(one, log.signer.verifier(), keys, 2)


def test_split_view_refused(witnesses: list[WitnessProcess], log: TinyLog) -> None:
    w1, w2 = witnesses
    seen: dict[str, int] = {}
    log.grow(10)
    cosign_all(log, witnesses, seen)
    # The operator forks after leaf 6 and shows the other history to w1 only.
    other = log.fork(6).grow(4)
    assert other.size == log.size and other.checkpoint().root != log.checkpoint().root
    before = w1.log_state()
    with pytest.raises(WitnessRefused) as info:
        add_checkpoint(w1.endpoint, other.note(), 10, other.proof)
    assert info.value.status == 409 and info.value.fork and "fork" in info.value.reason
    status, ctype, text = w1.post(other.request(10))
    assert (status, ctype.split(";")[0]) == (409, "text/plain")
    assert text.startswith("fork: size 10 was cosigned with root " + log.checkpoint().root.hex())
    # the forked history grown further: its own consistency proof does not lead from our root
    other.grow(7)
    status, _, text = w1.post(other.request(10))
    assert status == 422 and text.startswith("inconsistent:") and "forked" in text
    assert w1.log_state() == before
    # w2 refuses the forked history too, so the fork can never gather a quorum
    with pytest.raises(WitnessRefused) as info:
        add_checkpoint(w2.endpoint, other.note(), 10, other.proof)
    assert info.value.status == 422 and "inconsistent" in info.value.reason
    keys = [parse_verifier_key(w.vkey) for w in witnesses]
    with pytest.raises(NoVerifiedSignature, match="quorum"):
        require_quorum(other.note(), log.signer.verifier(), keys, 1)
    logged = w1.stop()
    assert "refused add-checkpoint" in logged and "fork" in logged and "inconsistent" in logged


def test_rollback_refused(witnesses: list[WitnessProcess], log: TinyLog) -> None:
    w1 = witnesses[0]
    log.grow(12)
    cosign_all(log, [w1], {})
    before = w1.log_state()
    status, _, text = w1.post(log.request(12, 7, proof=[]))
    assert status == 400 and text.startswith("rollback:") and "smaller than size 12" in text
    status, ctype, text = w1.post(log.request(7, 7))
    assert (status, ctype, text) == (409, "text/x.tlog.size", "12\n")
    with pytest.raises(WitnessConflict) as info:  # the client sees it and does not send
        add_checkpoint(w1.endpoint, log.note(7), 3, log.proof)
    assert info.value.witness_size == 12
    assert w1.log_state() == before


def test_wrong_old_size_409_then_retry(witnesses: list[WitnessProcess], log: TinyLog) -> None:
    w1 = witnesses[0]
    log.grow(9)
    cosign_all(log, [w1], {})
    log.grow(11)
    status, ctype, text = w1.post(log.request(4))
    assert (status, ctype, text) == (409, "text/x.tlog.size", "9\n")
    assert w1.log_state()["size"] == 9
    # the client believed 4 (stale), learns 9 from the 409, retries with a proof 9 -> 20
    asked: list[tuple[int, int]] = []

    def proof(old: int, new: int) -> list[bytes]:
        asked.append((old, new))
        return log.proof(old, new)

    c = add_checkpoint(w1.endpoint, log.note(), 4, proof)
    assert asked == [(4, 20), (9, 20)] and c.size == 20
    assert w1.log_state()["size"] == 20
    require_quorum(merge_cosignatures(log.note(), [c]), log.signer.verifier(),
                   [parse_verifier_key(w1.vkey)], 1)


def test_bad_requests_refused_and_nothing_stored(witnesses: list[WitnessProcess],
                                                 log: TinyLog) -> None:
    w1 = witnesses[0]
    log.grow(8)
    cosign_all(log, [w1], {})
    before = w1.log_state()
    log.grow(5)
    impostor = generate_signer(ORIGIN)
    stranger = TinyLog("example.org/not-followed").grow(13)
    good_proof = log.proof(8, 13)
    cases = [
        ("bad signature", log.request(8, note=log.note(signer=impostor)), 403, "bad-signature:"),
        ("unsigned by the log", log.request(8, note=log.note(signer=generate_signer("x.org/y"))),
         403, "bad-signature:"),
        ("wrong origin", stranger.request(8), 404, "unknown-log:"),
        ("bogus proof", log.request(8, proof=[bytes(32)] * len(good_proof)), 422,
         "inconsistent:"),
        ("short proof", log.request(8, proof=good_proof[:-1]), 422, "inconsistent:"),
        ("old size > new size", log.request(20, 13, proof=[]), 400, "old-size-too-large:"),
        ("malformed: no empty line", b"old 8\n" + log.note().encode(), 400, "malformed:"),
        ("malformed: bad size", b"old 08\n\n" + log.note().encode(), 400, "malformed:"),
        ("malformed: not a note", b"old 8\n\nhello\n", 400, "malformed:"),
        ("malformed: binary", bytes(range(256)), 400, "malformed:"),
        ("too many proof lines", format_add_checkpoint(8, [bytes(32)] * 63, log.note())
         .replace(b"old 8\n", b"old 8\n" + base64.b64encode(bytes(32)) + b"\n"), 400,
         "malformed:"),
        ("too large", b"old 8\n\n" + b"x" * (1 << 20), 413, "malformed:"),
    ]
    for what, body, want_status, want_reason in cases:
        status, ctype, text = w1.post(body)
        assert (status, ctype.split(";")[0]) == (want_status, "text/plain"), (what, text)
        assert text.startswith(want_reason) and text.endswith("\n"), (what, text)
        assert w1.log_state() == before, what
    # the witness still works, and refused nothing it should accept
    assert add_checkpoint(w1.endpoint, log.note(), 8, log.proof).size == 13
    logged = w1.stop()
    for kind in ("bad-signature", "unknown-log", "inconsistent", "old-size-too-large",
                 "malformed"):
        assert "refused add-checkpoint" in logged and kind in logged, kind


def test_state_survives_restart(witnesses: list[WitnessProcess], log: TinyLog) -> None:
    w1 = witnesses[0]
    log.grow(6)
    cosign_all(log, [w1], {})
    w1.stop()  # SIGTERM; the state was committed before the 200 went out
    w1.proc = None
    w1.start()
    assert w1.log_state()["size"] == 6
    other = log.fork(3).grow(3)
    status, _, text = w1.post(other.request(6))
    assert status == 409 and text.startswith("fork:")
    # and a hard kill mid-life loses nothing either
    log.grow(4)
    add_checkpoint(w1.endpoint, log.note(), 6, log.proof)
    w1.proc.kill()
    w1.proc.wait()
    w1.proc = None
    w1.start()
    assert w1.log_state()["size"] == 10
    status, ctype, text = w1.post(log.request(6))
    assert (status, ctype, text) == (409, "text/x.tlog.size", "10\n")


# --- the client against witnesses that misbehave ------------------------------------------


class _Fake(http.server.BaseHTTPRequestHandler):
    """A real HTTP server that answers add-checkpoint with what the test sets."""

    answer: tuple[int, str, bytes] = (200, "text/plain", b"")
    hang = False

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.hang:
            time.sleep(5)
            return
        status, ctype, body = self.answer
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def bad_witness() -> Iterator[tuple[type[_Fake], str]]:
    handler = type("Handler", (_Fake,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield handler, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_client_rejects_garbage_and_foreign_cosignatures(bad_witness, log: TinyLog) -> None:
    handler, url = bad_witness
    wkey = generate_signer("witness.example/w", ALG_COSIGNATURE_V1)
    endpoint = WitnessEndpoint(url, wkey.verifier(), timeout=10)
    log.grow(5)
    note, text = log.note(), log.checkpoint().to_text()
    from evidence.verify.checkpoint import cosign_checkpoint

    other_text = log.fork(2).grow(3).checkpoint().to_text()
    stranger = generate_signer("witness.example/w", ALG_COSIGNATURE_V1)  # same name, other key
    cases = {
        "garbage": b"hello\n",
        "not UTF-8": b"\xff\xfe\n",
        "over another checkpoint": cosign_checkpoint(other_text, wkey).encode(),
        "by another key only": cosign_checkpoint(text, stranger).encode(),
        "empty": b"",
        "cosignature cut short": cosign_checkpoint(text, wkey)[:-10].encode() + b"\n",
    }
    for what, body in cases.items():
        handler.answer = (200, "text/plain", body)
        with pytest.raises(WitnessBadResponse):
            add_checkpoint(endpoint, note, 0, log.proof)
        del what
    # a good one among foreign lines: the foreign ones are ignored, not returned
    good = cosign_checkpoint(text, wkey)
    handler.answer = (200, "text/plain", (cosign_checkpoint(text, stranger) + good).encode())
    assert add_checkpoint(endpoint, note, 0, log.proof).lines == (good,)
    handler.answer = (409, "text/x.tlog.size", b"03\n")
    with pytest.raises(WitnessBadResponse, match="malformed size"):
        add_checkpoint(endpoint, note, 0, log.proof)
    handler.answer = (409, "text/x.tlog.size", b"2\n")  # says 2 on every try
    with pytest.raises(WitnessConflict):
        add_checkpoint(endpoint, note, 0, log.proof)
    handler.answer = (500, "text/plain", b"oops")
    with pytest.raises(WitnessRefused) as info:
        add_checkpoint(endpoint, note, 0, log.proof)
    assert info.value.status == 500
    handler.answer = (200, "text/plain", b"\xe2\x80\x94 x " + b"A" * (1 << 17) + b"\n")
    with pytest.raises(WitnessBadResponse, match="more than"):
        add_checkpoint(endpoint, note, 0, log.proof)


def test_client_timeout_and_unreachable(bad_witness, log: TinyLog) -> None:
    handler, url = bad_witness
    handler.hang = True
    wkey = generate_signer("witness.example/w", ALG_COSIGNATURE_V1).verifier()
    log.grow(2)
    with pytest.raises(WitnessUnavailable):
        add_checkpoint(WitnessEndpoint(url, wkey, timeout=0.5), log.note(), 0, log.proof)
    (port,) = free_ports(1)
    with pytest.raises(WitnessUnavailable, match="cannot reach"):
        add_checkpoint(WitnessEndpoint(f"http://127.0.0.1:{port}", wkey, timeout=5),
                       log.note(), 0, log.proof)


def test_cli_init_add_log_with_checkpoint_and_info(tmp_path: Path, log: TinyLog) -> None:
    import stat

    d = tmp_path / "w"
    out = cli("witness", "init", "--dir", str(d), "--name", "notary.example/w")
    assert stat.S_IMODE((d / "witness.key").stat().st_mode) == 0o600
    again = subprocess.run([*CLI, "witness", "init", "--dir", str(d), "--name", "x.example/w"],
                           capture_output=True, timeout=60)
    assert again.returncode != 0 and b"refusing to overwrite" in again.stderr
    log.grow(7)
    (tmp_path / "cp").write_text(log.note())
    added = cli("witness", "add-log", "--dir", str(d), "--origin", ORIGIN, "--key", log.vkey,
                "--checkpoint", str(tmp_path / "cp"))
    assert (added["size"], added["root"]) == (7, log.checkpoint().root.hex())
    forged = log.note(signer=generate_signer(ORIGIN))
    (tmp_path / "bad").write_text(forged)
    bad = subprocess.run([*CLI, "witness", "add-log", "--dir", str(d), "--origin", "o.example/x",
                          "--key", log.vkey, "--checkpoint", str(tmp_path / "bad"), "--json"],
                         capture_output=True, timeout=60)
    assert bad.returncode != 0 and "not accepted" in json.loads(bad.stdout)["error"]
    info = cli("witness", "info", "--dir", str(d))
    assert info["verifier_key"] == out["verifier_key"]
    assert [(lg["origin"], lg["size"]) for lg in info["logs"]] == [(ORIGIN, 7)]
    assert "PRIVATE+KEY" not in json.dumps(info)
