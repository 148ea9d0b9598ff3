"""scripts/monitor_log.py against real ``evidence serve`` processes.

Two servers share one log key: server B serves a copy of server A's ledger taken after a few
entries, so that from then on the two show different histories under the same key (the split
view a witness refuses). Checkpoints are timestamped by the local OpenSSL TSA and cosigned by
a witness key, written into each server's anchoring tables as anchoring would. The script runs
under ``python -I`` in a virtual environment that holds only ``cryptography``, as on an
auditor's machine; its answers are read from its JSON report and its exit status.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from evidence.ledger.log import Ledger
from evidence.verify.checkpoint import verify_checkpoint
from evidence.verify.merkle import consistency_proof_from_leaves, verify_consistency
from evidence.verify.merkle import root as merkle_root
from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer, parse_verifier_key
from tests.support.api_server import CLI, Server, World, make_world, start_server
from tests.support.bundle_world import anchor
from tests.support.monitor_proxy import Proxy
from tests.support.ports import free_ports
from tests.support.tsa import LocalTSA

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "monitor_log.py"
_ALLOWED = ("cryptography", "cffi", "_cffi_backend", "pycparser")


def _load_script() -> Any:
    spec = importlib.util.spec_from_file_location("monitor_log", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["monitor_log"] = mod  # its dataclasses look their module up while defined
    spec.loader.exec_module(mod)
    return mod


def crypto_only_venv(where: Path) -> Path:
    """A virtual environment whose site-packages holds only cryptography (and what it
    imports): its python under ``-I`` can import nothing of this project."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    site = next((where / "lib").glob("python3*/site-packages"))
    for name in _ALLOWED:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        target = origin.parent if origin.name == "__init__.py" else origin
        (site / target.name).symlink_to(target)
    return where / "bin" / "python"


@dataclass
class Net:
    tmp: Path
    python: Path
    a: Server
    b: Server
    led_a: Ledger
    led_b: Ledger
    tsa: LocalTSA
    witness: Any
    trust: Path
    token: Path
    split_size: int  # the size both ledgers share

    def run(self, url: str, state: Path, *args: str, trust: Path | None = None,
            token: bool = True) -> tuple[int, dict[str, Any], str]:
        cmd = [str(self.python), "-I", str(SCRIPT), url, "--trust", str(trust or self.trust),
               "--state", str(state), "--json", *args]
        if token:
            cmd += ["--token-file", str(self.token)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                           env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, check=False)
        assert "Traceback" not in p.stderr, p.stderr
        lines = p.stdout.strip().splitlines()
        assert len(lines) == 1, (p.stdout, p.stderr)
        return p.returncode, json.loads(lines[0]), p.stderr


def submit(srv: Server, content: bytes, name: str = "f.txt") -> str:
    with srv.client("acme") as c:
        r = c.post("/v1/evidence", data={"case": "case-a", "kind": "document"},
                   files={"file": (name, content, "text/plain")})
        assert r.status_code == 201, r.text
        return str(r.json()["evidence_id"])


def view(srv: Server, evidence_id: str) -> None:
    """A metadata view by the submitter: one evidence.accessed custody entry."""
    with srv.client("acme") as c:
        assert c.get(f"/v1/evidence/{evidence_id}").status_code == 200


def settle(srv: Server) -> int:
    """Wait until a checkpoint covers every entry; return its size."""
    for _ in range(600):
        st = httpx.get(srv.base + "/v1/status", timeout=10).json()
        if st["checkpoint"] and st["checkpoint"]["size"] == st["size"]:
            return int(st["size"])
        time.sleep(0.05)
    raise AssertionError("no checkpoint covers the log")


def anchored(net: Net, srv: Server, led: Ledger) -> int:
    size = settle(srv)
    anchor(led, size, net.tsa.url, net.tsa.ca_cert_pem, net.witness)
    return size


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> Iterator[Net]:
    tmp = tmp_path_factory.mktemp("monitor")
    world_a = make_world(tmp / "a")
    # a few shared entries, then the copy that will show another history under the same key
    srv = start_server(world_a)
    try:
        for i in range(3):
            submit(srv, f"shared {i}\n".encode())
        split = settle(srv)
    finally:
        srv.stop()
    shutil.copytree(tmp / "a", tmp / "b", ignore=shutil.ignore_patterns("serve-*.log", "run"))
    world_b = World(tmp / "b", None, tokens=dict(world_a.tokens), vkey=world_a.vkey)
    a, b = start_server(world_a), start_server(world_b)
    led_a, led_b = Ledger.open(tmp / "a"), Ledger.open(tmp / "b")
    witness = generate_signer("witness.test/w1", ALG_COSIGNATURE_V1)
    ca_der = x509.load_pem_x509_certificate(tsa.ca_cert_pem).public_bytes(Encoding.DER)
    trust = tmp / "trust.txt"
    trust.write_text(f"log {world_a.vkey}\nwitness w1 {witness.verifier().to_string()}\n"
                     f"group g 1 w1\nquorum g\n#@ tsa local {base64.b64encode(ca_der).decode()}\n")
    token = tmp / "auditor.token"
    token.write_text(world_a.tokens["auditor"] + "\n")
    python = crypto_only_venv(tmp / "venv")
    for mod, importable in (("evidence", False), ("httpx", False), ("cryptography", True)):
        p = subprocess.run([str(python), "-I", "-c", f"import {mod}"], capture_output=True,
                           cwd=ROOT, check=False)
        assert (p.returncode == 0) == importable, (mod, p.stderr)
    n = Net(tmp, python, a, b, led_a, led_b, tsa, witness, trust, token, split)
    try:
        yield n
    finally:
        a.stop()
        b.stop()
        led_a.close()
        led_b.close()


def copy_state(src: Path, dst: Path) -> Path:
    shutil.copyfile(src, dst)
    return dst


# ---- the tree code, held equal to the package's ----------------------------------------

def test_consistency_and_edge_match_the_package() -> None:
    m = _load_script()
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(40)]
    edge: list[bytes] = []
    for n in range(1, 41):
        m.edge_append(edge, n - 1, leaves[n - 1])
        assert m.edge_root(edge) == merkle_root(leaves[:n])
    for size2 in range(1, 41):
        root2 = merkle_root(leaves[:size2])
        for size1 in range(1, size2 + 1):
            root1 = merkle_root(leaves[:size1])
            proof = consistency_proof_from_leaves(size1, leaves[:size2])
            variants = [proof, proof[:-1], [*proof, root1], [root1, *proof]]
            if proof:
                variants.append([proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]])
            for v in variants:
                for r1 in (root1, root2):
                    assert m.verify_consistency(size1, size2, r1, root2, v) == \
                        _package_accepts(size1, size2, r1, root2, v), (size1, size2)
            assert m.verify_consistency(size1, size2, root1, root2, proof)


def _package_accepts(size1: int, size2: int, root1: bytes, root2: bytes,
                     proof: list[bytes]) -> bool:
    try:
        verify_consistency(size1, size2, root1, root2, proof)
    except Exception:
        return False
    return True


# ---- following a log -------------------------------------------------------------------

def test_first_run_then_only_the_new_entries(net: Net) -> None:
    state = net.tmp / "follow.json"
    size0 = anchored(net, net.a, net.led_a)
    rc, rep, _ = net.run(net.a.base, state)
    assert rc == 0, rep
    assert rep["previous"] is None and rep["checkpoint"]["size"] == size0
    assert rep["entries"] == {**rep["entries"], "checked": True, "start": 0, "end": size0,
                              "count": size0}
    assert rep["anchors"]["anchored_size"] == size0 and rep["anchors"]["pending"] == []
    assert rep["anchors"]["latest"]["cosigned_by"] == ["w1"]
    assert len(rep["anchors"]["latest"]["timestamps"]) == 1
    assert rep["state_written"] and json.loads(state.read_text())["size"] == size0

    ev = submit(net.a, b"second run\n")
    view(net.a, ev)
    size1 = anchored(net, net.a, net.led_a)
    proxy = Proxy(net.a.base, lambda path, status, body: None)
    try:
        rc, rep, _ = net.run(proxy.base, state)
    finally:
        proxy.close()
    assert rc == 0, rep
    assert rep["previous"]["size"] == size0 and rep["checkpoint"]["size"] == size1
    assert rep["entries"]["start"] == size0 and rep["entries"]["end"] == size1
    assert rep["entries"]["count"] == size1 - size0 == 2 and rep["entries"]["pages"] == 1
    # the server was asked for exactly the new range, and for one consistency proof
    entries = [p for p in proxy.paths if p.startswith("/v1/log/entries")]
    assert entries == [f"/v1/log/entries?start={size0}&limit={size1 - size0}"]
    assert f"/v1/log/proof/consistency?size1={size0}&size2={size1}" in proxy.paths
    stored = json.loads(state.read_text())
    assert stored["size"] == size1 and stored["entries"]["size"] == size1

    rc, rep, _ = net.run(net.a.base, state)  # nothing new
    assert rc == 0 and rep["entries"]["count"] == 0 and rep["entries"]["pages"] == 0


def test_watched_ids_and_file_hashes(net: Net) -> None:
    state = net.tmp / "watch.json"
    x = submit(net.a, b"watched by id\n")
    later = b"watched by file hash\n"
    h = hashlib.sha256(later).hexdigest()
    anchored(net, net.a, net.led_a)
    rc, rep, _ = net.run(net.a.base, state, "--watch-id", x, "--watch-sha256", h)
    assert rc == 0, rep
    assert [(w["type"], w["evidence_id"]) for w in rep["watch"]] == [("evidence.submitted", x)]

    y = submit(net.a, later, "later.txt")
    view(net.a, x)
    view(net.a, y)
    anchored(net, net.a, net.led_a)
    rc, rep, _ = net.run(net.a.base, state, "--watch-id", x, "--watch-sha256", h)
    assert rc == 0, rep
    got = [(w["type"], w["evidence_id"], w["body"].get("action")) for w in rep["watch"]]
    assert got == [("evidence.submitted", y, None), ("evidence.accessed", x, "metadata"),
                   ("evidence.accessed", y, "metadata")]
    assert rep["watch"][0]["matched_sha256"] == [h]
    # the item found by its file hash stays watched by id (its custody entries name no hash)
    view(net.a, y)
    anchored(net, net.a, net.led_a)
    rc, rep, _ = net.run(net.a.base, state, "--watch-sha256", h)
    assert rc == 0 and [(w["type"], w["evidence_id"]) for w in rep["watch"]] == \
        [("evidence.accessed", y)]
    # the text form names each entry on one line
    p = subprocess.run([str(net.python), "-I", str(SCRIPT), net.a.base, "--trust",
                        str(net.trust), "--state", str(state), "--token-file", str(net.token),
                        "--watch-id", x], capture_output=True, text=True, timeout=120,
                       check=False)
    assert p.returncode == 0 and p.stdout.startswith("OK: api.test/log"), p.stdout + p.stderr


def test_a_state_file_of_another_log_is_refused(net: Net) -> None:
    state = net.tmp / "mine.json"
    anchored(net, net.a, net.led_a)
    assert net.run(net.a.base, state)[0] == 0
    before = state.read_bytes()
    # another log with the SAME origin name and its own key
    other = Ledger.create(net.tmp / "other", "api.test/log")
    other_trust = net.tmp / "other-trust.txt"
    other_trust.write_text(f"log {other.verifier_key}\nquorum none\n")
    other.close()
    rc, rep, _ = net.run(net.a.base, state, trust=other_trust)
    assert rc == 2 and rep["problem"] == "usage", rep
    assert "another log" in rep["message"] and not rep["state_written"]
    assert state.read_bytes() == before
    # an edited state (a bigger size than its signed checkpoint) is damaged, not believed
    doc = json.loads(before)
    doc["size"] += 10
    edited = net.tmp / "edited.json"
    edited.write_text(json.dumps(doc))
    rc, rep, _ = net.run(net.a.base, edited)
    assert rc == 2 and "damaged" in rep["message"], rep
    assert json.loads(edited.read_text())["size"] == doc["size"]


def test_split_view_fork_and_rollback(net: Net) -> None:
    """Server B shows another history under the same key: the monitor that followed A says
    FORK (a consistency proof that fails; two roots for one size) or ROLLBACK (a smaller
    size), keeps its state, and writes the two signed checkpoints that prove it."""
    small = net.tmp / "split-small.json"
    big = net.tmp / "split-big.json"
    submit(net.a, b"only on A\n")
    s_small = anchored(net, net.a, net.led_a)
    assert net.run(net.a.base, small)[0] == 0
    copy_state(small, big)
    for i in range(3):
        submit(net.a, f"more on A {i}\n".encode())
    s_big = anchored(net, net.a, net.led_a)
    assert net.run(net.a.base, big)[0] == 0 and s_big == s_small + 3

    b_size = settle(net.b)
    for i in range(s_small + 1 - b_size):
        submit(net.b, f"only on B {i}\n".encode())
    assert anchored(net, net.b, net.led_b) == s_small + 1

    # B is larger than what was verified on A, but does not extend it
    for token in (True, False):
        st = copy_state(small, net.tmp / f"fork-{token}.json")
        before = st.read_bytes()
        rc, rep, _ = net.run(net.b.base, st, token=token)
        assert rc == 1 and rep["problem"] == "fork", rep
        assert rep["message"].startswith("FORK") and "consistency proof fails" in rep["message"]
        assert st.read_bytes() == before and not rep["state_written"]
        assert rep["evidence_file"] and Path(rep["evidence_file"]).exists()
    proof = json.loads(Path(rep["evidence_file"]).read_text())
    key = parse_verifier_key(net.a.world.vkey)
    one = verify_checkpoint(proof["verified"], key).checkpoint
    two = verify_checkpoint(proof["served"], key).checkpoint
    assert (one.size, two.size) == (s_small, s_small + 1)
    assert "consistency_proof" in proof

    # B is smaller than what was verified on A: a rollback
    st = copy_state(big, net.tmp / "rollback.json")
    rc, rep, _ = net.run(net.b.base, st)
    assert rc == 1 and rep["problem"] == "rollback" and rep["message"].startswith("ROLLBACK")
    assert f"smaller than the size {s_big}" in rep["message"]

    # B at the very size verified on A, with another root: two signed roots for one size
    for i in range(s_big - (s_small + 1)):
        submit(net.b, f"even more on B {i}\n".encode())
    assert anchored(net, net.b, net.led_b) == s_big
    st = copy_state(big, net.tmp / "same-size.json")
    rc, rep, _ = net.run(net.b.base, st)
    assert rc == 1 and rep["problem"] == "fork" and "two roots for size" in rep["message"]
    proof = json.loads(Path(rep["evidence_file"]).read_text())
    one, two = (verify_checkpoint(proof[k], key).checkpoint for k in ("verified", "served"))
    assert one.size == two.size == s_big and one.root != two.root
    # B followed on its own is a consistent log
    assert net.run(net.b.base, net.tmp / "b-alone.json")[0] == 0


def test_missing_anchor_after_the_grace_period(net: Net) -> None:
    state = net.tmp / "anchors.json"
    anchored(net, net.a, net.led_a)
    assert net.run(net.a.base, state)[0] == 0
    submit(net.a, b"not anchored yet\n")
    size = settle(net.a)
    rc, rep, _ = net.run(net.a.base, state)  # within the default grace: named, not a fault
    assert rc == 0 and rep["anchors"]["pending"][0]["size"] == size, rep
    assert "not anchored yet" in rep["message"]
    rc, rep, _ = net.run(net.a.base, state, "--anchor-grace", "0")
    assert rc == 1 and rep["problem"] == "missing-anchor", rep
    assert rep["message"].startswith("MISSING ANCHOR") and "quorum" in rep["message"]
    assert rep["state_written"]  # what did verify is kept
    anchor(net.led_a, size, net.tsa.url, net.tsa.ca_cert_pem, net.witness)
    rc, rep, _ = net.run(net.a.base, state, "--anchor-grace", "0")
    assert rc == 0 and rep["anchors"]["anchored_size"] == size and not rep["anchors"]["pending"]


def test_a_token_of_another_checkpoint_is_a_bad_anchor(net: Net) -> None:
    old = anchored(net, net.a, net.led_a)
    old_view = httpx.get(f"{net.a.base}/v1/log/checkpoints/{old}").json()
    submit(net.a, b"token swap\n")
    new = anchored(net, net.a, net.led_a)

    def swap(path: str, status: int, body: bytes) -> tuple[int, bytes] | None:
        if path != f"/v1/log/checkpoints/{new}":
            return None
        doc = json.loads(body)
        doc["timestamps"] = old_view["timestamps"]
        return 200, json.dumps(doc).encode()

    proxy = Proxy(net.a.base, swap)
    try:
        rc, rep, _ = net.run(proxy.base, net.tmp / "swap.json")
    finally:
        proxy.close()
    assert rc == 1 and rep["problem"] == "bad-anchor" and "RFC 3161" in rep["message"], rep


def _junk(target: str, answer: tuple[int, bytes]
          ) -> Callable[[str, int, bytes], tuple[int, bytes] | None]:
    return lambda path, status, body: answer if path.startswith(target) else None


def _bad_signature(path: str, status: int, body: bytes) -> tuple[int, bytes] | None:
    if path != "/v1/log/checkpoint":
        return None
    lines = body.decode().split("\n")
    lines[1] = str(int(lines[1]) + 1)  # the signed size changed: the signature fails
    return 200, "\n".join(lines).encode()


def _wrong_leaf(path: str, status: int, body: bytes) -> tuple[int, bytes] | None:
    if not path.startswith("/v1/log/entries"):
        return None
    doc = json.loads(body)
    doc["entries"][0]["entry_b64"] = base64.b64encode(b'{"v":1}').decode()
    return 200, json.dumps(doc).encode()


GARBAGE = {
    "checkpoint-html": (_junk("/v1/log/checkpoint", (200, b"<html>hello</html>")), 3,
                        "not a signed note"),
    "checkpoint-500": (_junk("/v1/log/checkpoint", (500, b"oops")), 3, "HTTP 500"),
    "checkpoint-redirect": (_junk("/v1/log/checkpoint", (302, b"")), 3, "HTTP 302"),
    "proof-not-json": (_junk("/v1/log/proof/", (200, b"{not json")), 3, "did not answer JSON"),
    "proof-wrong-shape": (_junk("/v1/log/proof/", (200, b'{"proof": "x"}')), 3, "garbage"),
    "entries-wrong-shape": (_junk("/v1/log/entries", (200, b'{"entries": [7]}')), 3,
                            "garbage"),
    "anchors-not-a-note": (_junk("/v1/log/checkpoints/", (200, b'{"note": "hi"}')), 3,
                           "not a signed note"),
    "anchored-not-json": (_junk("/v1/log/checkpoint/anchored", (200, b"{oops")), 3,
                          "did not answer JSON"),
    "anchored-wrong-shape": (_junk("/v1/log/checkpoint/anchored", (200, b'{"timestamped": 7}')),
                             3, "garbage"),
    "anchored-not-a-note": (_junk("/v1/log/checkpoint/anchored",
                                  (200, b'{"timestamped": {"note": "hi"}}')), 3,
                            "not a signed note"),
    "anchored-500": (_junk("/v1/log/checkpoint/anchored", (500, b"oops")), 3, "HTTP 500"),
    "checkpoint-bad-signature": (_bad_signature, 1, "does not verify"),
    "entry-not-its-leaf-hash": (_wrong_leaf, 1, "BAD ENTRIES"),
}


@pytest.mark.parametrize("case", sorted(GARBAGE))
def test_a_server_answering_garbage(net: Net, case: str) -> None:
    rewrite, want_rc, words = GARBAGE[case]
    base_state = net.tmp / "garbage-base.json"
    if not base_state.exists():
        anchored(net, net.a, net.led_a)
        assert net.run(net.a.base, base_state)[0] == 0
        submit(net.a, b"one more for the garbage cases\n")
        anchored(net, net.a, net.led_a)
    st = copy_state(base_state, net.tmp / f"garbage-{case}.json")
    proxy = Proxy(net.a.base, rewrite)
    try:
        rc, rep, _ = net.run(proxy.base, st)
    finally:
        proxy.close()
    assert rc == want_rc and words in rep["message"], rep
    assert "\n" not in rep["message"] and not rep["state_written"]
    assert st.read_bytes() == base_state.read_bytes()


def test_an_unreachable_server_and_usage_errors(net: Net) -> None:
    (port,) = free_ports(1)
    rc, rep, _ = net.run(f"http://127.0.0.1:{port}", net.tmp / "nowhere.json")
    assert rc == 3 and rep["message"].startswith("cannot reach"), rep
    bad = net.tmp / "bad-trust.txt"
    bad.write_text("log nonsense\n")
    rc, rep, _ = net.run(net.a.base, net.tmp / "nowhere.json", trust=bad)
    assert rc == 2, rep
    rc, rep, _ = net.run(net.a.base, net.tmp / "nowhere.json", "--trust-sha256", "0" * 64)
    assert rc == 2 and "SHA-256" in rep["message"]
    p = subprocess.run([str(net.python), "-I", str(SCRIPT), "--help"], capture_output=True,
                       text=True, check=False)
    assert p.returncode == 0 and "exit status: 0 ok; 1 a problem" in " ".join(p.stdout.split())


def _altered_proof(path: str, status: int, body: bytes) -> tuple[int, bytes] | None:
    if not path.startswith("/v1/log/proof/consistency"):
        return None
    doc = json.loads(body)
    last = doc["proof"][-1]
    doc["proof"][-1] = last[:-1] + ("0" if last[-1] != "0" else "1")
    return 200, json.dumps(doc).encode()


def test_a_bad_proof_is_told_from_a_fork_by_the_entries(net: Net) -> None:
    """A consistency proof that fails while the entries do make the signed root is the
    server's bad proof; without the entries (no token) nothing tells it from a fork."""
    state = net.tmp / "badproof.json"
    anchored(net, net.a, net.led_a)
    assert net.run(net.a.base, state)[0] == 0
    submit(net.a, b"for the bad proof\n")
    anchored(net, net.a, net.led_a)
    proxy = Proxy(net.a.base, _altered_proof)
    try:
        for token, kind, words in ((True, "bad-proof", "BAD PROOF"), (False, "fork", "FORK")):
            st = copy_state(state, net.tmp / f"badproof-{token}.json")
            rc, rep, _ = net.run(proxy.base, st, token=token)
            assert rc == 1 and rep["problem"] == kind and rep["message"].startswith(words), rep
            assert st.read_bytes() == state.read_bytes()
    finally:
        proxy.close()
    assert net.run(net.a.base, state)[0] == 0  # the real server's proof holds


def test_a_token_by_a_tsa_nobody_pinned_is_skipped_and_named(
        net: Net, tsa_variant: Callable[[str], LocalTSA]) -> None:
    from evidence.ledger.anchor.tsa_client import request_timestamp

    other = tsa_variant("untrusted")
    submit(net.a, b"timestamped by a TSA nobody pinned\n")
    size = settle(net.a)
    note = httpx.get(f"{net.a.base}/v1/log/checkpoints/{size}").json()["note"]
    text = note[: note.index("\n\n") + 1].encode()
    tok = request_timestamp(other.url, text, trusted_ca_pems=[other.ca_cert_pem], timeout=30)
    foreign = {"source": "other", "token_b64": base64.b64encode(tok.token).decode(),
               "certs_b64": []}
    good: list[dict[str, Any]] = []

    def add_foreign(path: str, status: int, body: bytes) -> tuple[int, bytes] | None:
        if path != f"/v1/log/checkpoints/{size}":
            return None
        doc = json.loads(body)
        doc["timestamps"] = [*doc["timestamps"], foreign]
        good[:] = doc["timestamps"][:-1]
        return 200, json.dumps(doc).encode()

    proxy = Proxy(net.a.base, add_foreign)
    try:
        # only the foreign token (and the witness has not cosigned yet): not anchored
        rc, rep, _ = net.run(proxy.base, net.tmp / "foreign.json", "--anchor-grace", "0")
        assert rc == 1 and rep["problem"] == "missing-anchor", rep
        assert "1 by TSAs not pinned skipped" in rep["message"]
        assert rep["anchors"]["latest"]["skipped_tsas"]
        # with the pinned TSA's token beside it: anchored, the foreign one still named
        anchor(net.led_a, size, net.tsa.url, net.tsa.ca_cert_pem, net.witness)
        rc, rep, _ = net.run(proxy.base, net.tmp / "foreign.json", "--anchor-grace", "0")
        assert rc == 0 and len(good) == 1, rep
        assert "1 token(s) by TSAs not pinned skipped" in rep["message"]
    finally:
        proxy.close()


def test_an_anchored_checkpoint_served_wrong(net: Net) -> None:
    """What GET /v1/log/checkpoint/anchored answers is checked like the rest: a token over
    another checkpoint is a bad anchor; an anchored checkpoint of another history (server
    B's, under the same key) is a FORK, proved by the two signed notes."""
    old = anchored(net, net.a, net.led_a)
    old_view = httpx.get(f"{net.a.base}/v1/log/checkpoints/{old}").json()
    submit(net.a, b"anchored view swap\n")
    anchored(net, net.a, net.led_a)
    base = net.tmp / "anchored-base.json"
    assert net.run(net.a.base, base)[0] == 0

    def swap(path: str, status: int, body: bytes) -> tuple[int, bytes] | None:
        if path != "/v1/log/checkpoint/anchored":
            return None
        doc = json.loads(body)
        doc["timestamped"]["timestamps"] = old_view["timestamps"]
        return 200, json.dumps(doc).encode()

    b_size = settle(net.b)
    submit(net.b, b"only on B, anchored\n")
    b_anchored = anchored(net, net.b, net.led_b)
    assert b_anchored > max(b_size, net.split_size)
    while settle(net.a) <= b_anchored:
        submit(net.a, b"A grows past B\n")
    anchored(net, net.a, net.led_a)
    b_doc = httpx.get(f"{net.b.base}/v1/log/checkpoint/anchored").content

    def from_b(path: str, status: int, body: bytes) -> tuple[int, bytes] | None:
        return (200, b_doc) if path == "/v1/log/checkpoint/anchored" else None

    for rewrite, kind, words in ((swap, "bad-anchor", "RFC 3161"),
                                 (from_b, "fork", "consistency proof fails")):
        st = copy_state(base, net.tmp / f"anchored-{kind}.json")
        proxy = Proxy(net.a.base, rewrite)
        try:
            rc, rep, _ = net.run(proxy.base, st)
        finally:
            proxy.close()
        assert rc == 1 and rep["problem"] == kind and words in rep["message"], rep
        assert st.read_bytes() == base.read_bytes() and not rep["state_written"]
    proof = json.loads(Path(rep["evidence_file"]).read_text())
    key = parse_verifier_key(net.a.world.vkey)
    assert verify_checkpoint(proof["served"], key).checkpoint.size == b_anchored


@pytest.mark.slow
def test_steady_load_superseded_checkpoints_are_not_missing_anchors(
        tmp_path: Path, tsa: LocalTSA) -> None:
    """A real `evidence serve` that anchors itself (the local TSA, a round a second) while
    items arrive steadily: nearly every checkpoint a monitor sees is superseded before a
    round reaches it and is never timestamped itself. The monitor finds the newer
    timestamped checkpoint through GET /v1/log/checkpoint/anchored and reports no missing
    anchor; in front of a server without that endpoint (HTTP 404, a proxy) the same state
    gives the false MISSING ANCHOR this endpoint exists to prevent."""
    world = make_world(tmp_path / "data")
    for args in (["anchor", "tsa", "add", "local", tsa.url, "--ca", str(tsa.ca_pem_path)],
                 ["anchor", "set", "--interval", "1"]):
        r = subprocess.run([*CLI, *args, "--data-dir", str(world.data), "--json"],
                           capture_output=True, text=True, timeout=60, check=False)
        assert r.returncode == 0, r.stdout + r.stderr
    ca_der = x509.load_pem_x509_certificate(tsa.ca_cert_pem).public_bytes(Encoding.DER)
    trust = tmp_path / "trust.txt"
    trust.write_text(f"log {world.vkey}\nquorum none\n"
                     f"#@ tsa local {base64.b64encode(ca_der).decode()}\n")
    token = tmp_path / "auditor.token"
    token.write_text(world.tokens["auditor"] + "\n")
    python = crypto_only_venv(tmp_path / "venv")
    srv = start_server(world)
    stop = threading.Event()

    def steady() -> None:
        i = 0
        while not stop.is_set():
            submit(srv, f"steady {i}\n".encode())
            i += 1
            time.sleep(0.05)

    feeder = threading.Thread(target=steady, daemon=True)
    feeder.start()

    def run(url: str, state: Path, grace: int) -> tuple[int, dict[str, Any]]:
        p = subprocess.run([str(python), "-I", str(SCRIPT), url, "--trust", str(trust),
                            "--state", str(state), "--token-file", str(token), "--json",
                            "--anchor-grace", str(grace)], capture_output=True, text=True,
                           timeout=300, env={"PATH": "/usr/bin:/bin"}, check=False)
        assert "Traceback" not in p.stderr, p.stderr
        return p.returncode, json.loads(p.stdout)

    def timestamps_of(size: int) -> list[Any]:
        return httpx.get(f"{srv.base}/v1/log/checkpoints/{size}", timeout=30
                         ).json()["timestamps"]

    try:
        settle(srv)
        for attempt in range(8):  # until the checkpoint the monitor saw is superseded
            state = tmp_path / f"steady-{attempt}.json"
            rc, rep = run(srv.base, state, 3600)
            assert rc == 0, rep
            seen, t_seen = rep["checkpoint"]["size"], time.monotonic()
            deadline = time.monotonic() + 120
            while True:  # a round timestamps a newer checkpoint
                doc = httpx.get(f"{srv.base}/v1/log/checkpoint/anchored", timeout=30).json()
                if doc["timestamped"] and doc["timestamped"]["size"] > seen:
                    break
                assert time.monotonic() < deadline, doc
                time.sleep(0.2)
            if not timestamps_of(seen):
                break
        else:
            pytest.fail("every checkpoint the monitor saw was timestamped itself")
        time.sleep(max(0.0, 5 - (time.monotonic() - t_seen)))  # past a grace of 5 s
        assert not timestamps_of(seen)
        old_server = copy_state(state, tmp_path / "steady-old-server.json")
        rc, rep = run(srv.base, state, 5)
        assert rc == 0, rep
        assert rep["anchors"]["anchored_size"] > seen, rep
        assert rep["anchors"]["server"]["timestamped"] > seen
        assert all(p["size"] > seen for p in rep["anchors"]["pending"])

        hide = Proxy(srv.base, lambda path, status, body:
                     (404, b'{"code": "not-found"}') if path.startswith(
                         "/v1/log/checkpoint/anchored") else None)
        try:
            for again in range(5):  # unless the newest checkpoint was timestamped itself
                rc, rep = run(hide.base, copy_state(old_server, tmp_path / f"o-{again}.json"),
                              5)
                if rc != 0:
                    break
                assert rep["anchors"]["latest"]["timestamps"], rep
        finally:
            hide.close()
        assert rc == 1 and rep["problem"] == "missing-anchor", rep
        assert f"checkpoint of size {seen}" in rep["message"]
        assert rep["anchors"]["server"] == {"available": False}
    finally:
        stop.set()
        feeder.join(timeout=60)
        srv.stop()


@pytest.mark.slow
def test_a_long_catch_up_shows_progress_unless_quiet(tmp_path: Path) -> None:
    """A first run over 12,000 entries reports its progress on stderr (entries, percent,
    entries/s); --quiet keeps stderr empty; stdout is the one report line either way."""
    world = make_world(tmp_path / "data")
    led = Ledger.open(world.data)
    try:
        led.append_many([("custody.note", {"n": i}) for i in range(12_000)])
        size = led.sign_checkpoint_now().size
    finally:
        led.close()
    trust = tmp_path / "trust.txt"
    trust.write_text(f"log {world.vkey}\nquorum none\n")
    token = tmp_path / "auditor.token"
    token.write_text(world.tokens["auditor"] + "\n")
    python = crypto_only_venv(tmp_path / "venv")
    srv = start_server(world)
    try:
        for quiet in (False, True):
            p = subprocess.run([str(python), "-I", str(SCRIPT), srv.base, "--trust", str(trust),
                                "--state", str(tmp_path / f"s-{quiet}.json"), "--token-file",
                                str(token), "--json", *(["--quiet"] if quiet else [])],
                               capture_output=True, text=True, timeout=300,
                               env={"PATH": "/usr/bin:/bin"}, check=False)
            assert p.returncode == 0, p.stdout + p.stderr
            assert json.loads(p.stdout)["entries"]["count"] == size
            if quiet:
                assert p.stderr == ""
            else:
                assert f"monitor_log.py: entries {size:,}/{size:,} (100%" in p.stderr
                assert "/s)" in p.stderr
    finally:
        srv.stop()
