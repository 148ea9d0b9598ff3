"""witness-network.org log lists (``logs/v0``) and per-log budgets (``qpd``) at our witness:
the list read as the network's validator reads it, new logs followed and old ones never
changed by a list, unknown logs refused, each log's requests capped by its qpd (429 with
Retry-After, in HTTP too), and ``evidence witness serve --log-list`` reading a changed
list on SIGHUP as a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from evidence.verify.note import generate_signer
from evidence.witness.app import create_app
from evidence.witness.core import RATE_LIMITED, UNKNOWN_LOG, Refusal
from evidence.witness.cosigner import Witness
from evidence.witness.lists import ListWatcher, apply_log_list
from evidence.witness.loglist import LogListError, parse_log_list
from evidence.witness.store import burst
from tests.support.ports import free_ports
from tests.support.tiny_log import TinyLog

CLI = [sys.executable, "-c", "from evidence.cli.main import main; main()"]
T0 = 1_800_000_000


def entry(log: TinyLog, qpd: int, *, origin: str | None = "", bastion: bool = False,
          contact: str = "ops (at) example.org") -> str:
    lines = [f"vkey {log.vkey}"]
    if origin != "":
        lines.append(f"origin {origin or 'none'}")
    if bastion:
        lines.append("bastion none")
    return "\n".join([*lines, f"qpd {qpd}", f"contact {contact}"]) + "\n"


def listing(*entries: str, header: str = "logs/v0") -> bytes:
    return ("# a test list\n#\n" + header + "\n\n" + "\n".join(entries)).encode()


@pytest.fixture
def witness(tmp_path: Path) -> Witness:
    return Witness.init(tmp_path / "w", "witness.example/w1")


# --- the format ---------------------------------------------------------------------------


def test_parse_the_networks_grammar() -> None:
    a = TinyLog("a.example/log")  # origin = the key name (origin line absent)
    b = TinyLog("b.example/log", signer=generate_signer("b.example/key"))
    c = TinyLog("c.example/log")
    data = listing(entry(a, 86400, origin=""), entry(b, 24, origin="b.example/log"),
                   entry(c, 288, origin=None, bastion=True, contact="https://c.example/about"))
    data = data.replace(b"\n", b"\r\n", 3) + b"   # trailing comment line\n"
    got = parse_log_list(data)
    assert [(g.origin, g.key.to_string(), g.qpd, g.contact) for g in got] == [
        ("a.example/log", a.vkey, 86400, "ops (at) example.org"),
        ("b.example/log", b.vkey, 24, "ops (at) example.org"),
        ("c.example/log", c.vkey, 288, "https://c.example/about")]
    assert parse_log_list(b"logs/v0\n") == []


@pytest.mark.parametrize("data, says", [
    (b"", "expected the header"),
    (b"logs/v1\n", "expected the header"),
    (b"logs/v0\nqpd 5\n", "expected 'vkey'"),
    (b"logs/v0\nvkey nonsense\nqpd 1\ncontact x\n", "bad vkey"),
    (b"logs/v0\nvkey KEY\ncontact x\n", "expected 'qpd'"),
    (b"logs/v0\nvkey KEY\nqpd 0\ncontact x\n", "between 1"),
    (b"logs/v0\nvkey KEY\nqpd -3\ncontact x\n", "not a whole number"),
    (b"logs/v0\nvkey KEY\nqpd 1.5\ncontact x\n", "not a whole number"),
    (b"logs/v0\nvkey KEY\nqpd 10\n", "no contact line"),
    (b"logs/v0\nvkey KEY\nqpd 10\ncontact\n", "needs a value"),
    (b"logs/v0\nvkey KEY\n", "no qpd"),
    (b"logs/v0\nvkey KEY\nqpd 1\ncontact x\nvkey KEY\nqpd 1\ncontact y\n", "listed twice"),
    (b"logs/v0\nvkey KEY extra\nqpd 1\ncontact x\n", "one value"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_parse_refuses_with_the_line(data: bytes, says: str) -> None:
    data = data.replace(b"KEY", TinyLog().vkey.encode())
    with pytest.raises(LogListError, match=says):
        parse_log_list(data)


def test_parse_refuses_a_witness_key() -> None:
    key = generate_signer("w.example/w", 4).verifier().to_string()  # cosignature/v1
    with pytest.raises(LogListError, match="not an Ed25519"):
        parse_log_list(f"logs/v0\nvkey {key}\nqpd 1\ncontact x\n".encode())


# --- the network's rule: new logs added, none removed or changed ---------------------------


def test_list_adds_new_logs_and_never_changes_old_ones(witness: Witness, tmp_path: Path) -> None:
    a, b = TinyLog("a.example/log").grow(3), TinyLog("b.example/log").grow(2)
    path = tmp_path / "list"
    path.write_bytes(listing(entry(a, 24)))
    r = apply_log_list(witness, path)
    assert (r.added, r.already, r.error) == (["a.example/log"], 0, None)
    witness.add_checkpoint(a.request(0), now=T0)
    # the list changes: a's key is replaced, b appears, then a disappears
    a2 = TinyLog("a.example/log", signer=generate_signer("a.example/log"))
    path.write_bytes(listing(entry(a2, 1), entry(b, 48)))
    r = apply_log_list(witness, path)
    assert (r.added, r.already) == (["b.example/log"], 1)
    path.write_bytes(listing(entry(b, 48)))
    apply_log_list(witness, path)
    logs = {lg["origin"]: lg for lg in witness.info()["logs"]}
    assert logs["a.example/log"]["keys"] == [a.vkey] and logs["a.example/log"]["qpd"] == 24
    assert logs["a.example/log"]["size"] == 3 and logs["b.example/log"]["qpd"] == 48
    assert logs["b.example/log"]["listed_in"] == str(path)
    a.grow(1)
    witness.add_checkpoint(a.request(3), now=T0 + 3600)  # still a's old key
    with pytest.raises(Refusal) as info:
        witness.add_checkpoint(a2.grow(5).request(4), now=T0 + 7200)
    assert info.value.kind == "bad-signature"


def test_a_bad_list_changes_nothing(witness: Witness, tmp_path: Path) -> None:
    a = TinyLog("a.example/log")
    path = tmp_path / "list"
    path.write_bytes(listing(entry(a, 24)) + b"vkey " + a.vkey.encode() + b"\n")
    r = apply_log_list(witness, path)
    assert r.error and "no qpd" in r.error and witness.info()["logs"] == []
    r = apply_log_list(witness, tmp_path / "missing")
    assert r.error and "missing" in r.error


def test_logs_not_on_a_list_are_refused(witness: Witness, tmp_path: Path) -> None:
    listed, other = TinyLog("a.example/log").grow(1), TinyLog("z.example/log").grow(1)
    path = tmp_path / "list"
    path.write_bytes(listing(entry(listed, 24)))
    apply_log_list(witness, path)
    with pytest.raises(Refusal) as info:
        witness.add_checkpoint(other.request(0))
    assert (info.value.kind, info.value.status) == (UNKNOWN_LOG, 404)
    assert witness.add_checkpoint(listed.request(0)).startswith("\u2014 witness.example/w1 ")


# --- qpd: each log's requests capped ----------------------------------------------------------


def test_qpd_caps_requests_per_day(witness: Witness, tmp_path: Path) -> None:
    log = TinyLog("a.example/log").grow(1)
    path = tmp_path / "list"
    path.write_bytes(listing(entry(log, 24)))  # one an hour, two back to back
    apply_log_list(witness, path)
    assert burst(24) == 2
    witness.add_checkpoint(log.request(0), now=T0)
    log.grow(1)
    witness.add_checkpoint(log.request(1), now=T0 + 1)
    log.grow(1)
    with pytest.raises(Refusal) as info:
        witness.add_checkpoint(log.request(2), now=T0 + 2)
    r = info.value
    assert (r.kind, r.status) == (RATE_LIMITED, 429) and 3500 < (r.retry_after or 0) <= 3600
    assert witness.info()["logs"][0]["size"] == 2  # nothing stored
    start = T0 + 2 + r.retry_after
    witness.add_checkpoint(log.request(2), now=start)  # a token came back
    # a day of trying every 10 minutes: the bucket was empty, so at most qpd get through
    ok, cosigned = 0, 3
    for step in range(1, 24 * 6 + 1):
        log.grow(1)
        try:
            witness.add_checkpoint(log.request(cosigned), now=start + step * 600)
            ok, cosigned = ok + 1, log.size
        except Refusal as e:
            assert e.kind == RATE_LIMITED
    assert 23 <= ok <= 24  # never more than qpd (the last token may be a hair short)


def test_forged_requests_do_not_spend_the_logs_budget(witness: Witness, tmp_path: Path) -> None:
    log = TinyLog("a.example/log").grow(2)
    path = tmp_path / "list"
    path.write_bytes(listing(entry(log, 1)))
    apply_log_list(witness, path)
    forger = TinyLog("a.example/log", signer=generate_signer("a.example/log")).grow(2)
    for _ in range(5):
        with pytest.raises(Refusal) as info:
            witness.add_checkpoint(forger.request(0), now=T0)
        assert info.value.status == 403
    witness.add_checkpoint(log.request(0), now=T0)


def test_add_log_by_hand_with_qpd_and_http_429(witness: Witness) -> None:
    log = TinyLog("a.example/log").grow(1)
    witness.add_log(log.origin, [log.signer.verifier()], qpd=1)
    client = TestClient(create_app(witness))
    assert client.post("/add-checkpoint", content=log.request(0)).status_code == 200
    log.grow(1)
    assert client.post("/add-checkpoint", content=log.request(1)).status_code == 200
    log.grow(1)
    r = client.post("/add-checkpoint", content=log.request(2))
    assert r.status_code == 429 and r.text.startswith("rate-limited: ")
    assert r.headers["content-type"].startswith("text/plain")
    assert 0 < int(r.headers["retry-after"]) <= 86400
    assert client.get("/info").json()["logs"][0]["qpd"] == 1


def test_watcher_reads_a_changed_list(witness: Witness, tmp_path: Path) -> None:
    a, b = TinyLog("a.example/log"), TinyLog("b.example/log")
    path = tmp_path / "list"
    path.write_bytes(listing(entry(a, 24)))
    watcher = ListWatcher(witness, [path])
    assert [r.added for r in watcher.reports] == [["a.example/log"]]
    assert watcher.apply_all() == []  # unchanged: not read again
    path.write_bytes(listing(entry(a, 24), entry(b, 24)))
    os.utime(path, ns=(time.time_ns() + 10**9,) * 2)
    (report,) = watcher.apply_all()
    assert report.added == ["b.example/log"]


# --- a real process: serve --log-list, SIGHUP --------------------------------------------------


@pytest.mark.slow  # a served witness process: the full run only
def test_serve_follows_a_list_and_rereads_it_on_sighup(tmp_path: Path) -> None:
    a, b = TinyLog("a.example/log").grow(2), TinyLog("b.example/log").grow(2)
    d = tmp_path / "w"
    subprocess.run([*CLI, "witness", "init", "--dir", str(d), "--name", "w.example/w"],
                   check=True, capture_output=True, timeout=60)
    path = tmp_path / "list"
    path.write_bytes(listing(entry(a, 24)))
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([*CLI, "witness", "serve", "--dir", str(d), "--port", str(port),
                             "--log-list", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def origins() -> list[str] | None:
        try:
            with urllib.request.urlopen(url + "/info", timeout=2) as r:
                return [lg["origin"] for lg in json.loads(r.read())["logs"]]
        except OSError:
            return None

    def post(log: TinyLog) -> int:
        req = urllib.request.Request(url + "/add-checkpoint", data=log.request(0), method="POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    try:
        deadline = time.monotonic() + 60
        while origins() is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert origins() == ["a.example/log"]
        assert post(a) == 200 and post(b) == 404
        # same size and time stamp: only SIGHUP makes the witness read it again
        st = path.stat()
        path.write_bytes(listing(entry(b, 24)).ljust(st.st_size, b"\n")[:max(
            st.st_size, len(listing(entry(b, 24))))])
        os.utime(path, ns=(st.st_mtime_ns, st.st_mtime_ns))
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while origins() != ["a.example/log", "b.example/log"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert origins() == ["a.example/log", "b.example/log"]  # a stays: lists never remove
        assert post(b) == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert b"following 'b.example/log' from log list" in err
