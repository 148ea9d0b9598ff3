"""Three ``evidence serve`` nodes and ``evidence anchor --loop`` on one PostgreSQL and one
S3 bucket (SeaweedFS), behind HAProxy; a bounded load of submissions and proof reads from
several client threads; one node SIGKILLed mid-load and restarted (issue 21, point 2).

Asserted at the end:

- no acknowledged submission is lost: every 201's entry is in the log at its ``seq`` with
  the same leaf hash and evidence id, and its file is in the bucket byte for byte and
  served byte for byte through the balancer;
- each logical submission is in the log exactly once: the clients retry through the
  balancer with the rule of tests/support/multinode.py (one Idempotency-Key per
  submission, the same on every attempt: a retry of a committed one is answered with it),
  and a request held open on the killed node is resolved that way;
- one gap-free log: entries ``0 .. size-1``, the final checkpoint's root is the root of
  all their leaf hashes, and a consistency proof from a checkpoint taken before the kill
  to the final one verifies;
- ``evidence audit`` is clean (every entry, node, checkpoint and stored file), the
  separate anchoring process time-stamped a checkpoint, and the restarted node serves;
- a resubmission with its key, long after: the first answer, nothing appended; without
  a key: a second item, a second entry, the same file stored once.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from evidence.verify.checkpoint import verify_checkpoint
from evidence.verify.entry import parse_entry
from evidence.verify.hashing import leaf_hash
from evidence.verify.merkle import root, verify_consistency, verify_inclusion
from evidence.verify.note import parse_verifier_key
from tests.support.multinode import (
    CASE,
    Cluster,
    Outcome,
    RetryingClient,
    make_cluster,
    multipart,
)

pytestmark = [pytest.mark.slow, pytest.mark.pg, pytest.mark.s3, pytest.mark.tsa]

THREADS = 6
PHASES = {"before": 90, "during": 150, "after": 60}
"""Submissions per phase: before the kill, while a node is killed and restarted, after."""
VICTIM = "n3"


@pytest.fixture
def cluster(tmp_path: Path, pg_fresh_url: str, s3_endpoint, s3_bucket: str, tsa
            ) -> Iterator[Cluster]:
    c = make_cluster(tmp_path, pg_fresh_url,
                     f"s3://{s3_bucket}/ev?endpoint={s3_endpoint.endpoint}",
                     s3_endpoint.key, s3_endpoint.secret, nodes=3,
                     tsa=(tsa.url, tsa.ca_pem_path))
    try:
        c.start()
        c.start_anchoring()
        yield c
    finally:
        c.stop()


class Load:
    """The client threads' shared record: every outcome, every file's content, the proofs
    they checked."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.verifier = parse_verifier_key(cluster.world.vkey)
        self.lock = threading.Lock()
        self.outcomes: list[Outcome] = []
        self.contents: dict[str, bytes] = {}
        self.proofs = 0
        self.errors: list[BaseException] = []

    def run(self, phase: str, n: int) -> list[threading.Thread]:
        refs = [f"mn-{phase}-{i:04d}-{os.urandom(4).hex()}" for i in range(n)]
        threads = [threading.Thread(target=self._worker, args=(refs[t::THREADS],),
                                    name=f"client-{phase}-{t}") for t in range(THREADS)]
        for t in threads:
            t.start()
        return threads

    def _worker(self, refs: list[str]) -> None:
        client = RetryingClient(self.cluster.base, self.cluster.world.tokens["acme"])
        rnd = random.Random()
        try:
            for ref in refs:
                content = os.urandom(rnd.randrange(100, 20000)) + ref.encode()
                with self.lock:
                    self.contents[ref] = content
                out = client.submit(ref, content)
                with self.lock:
                    self.outcomes.append(out)
                    earlier = rnd.choice(self.outcomes)
                self._check_proof(client, earlier)
        except BaseException as e:
            with self.lock:
                self.errors.append(e)
        finally:
            client.close()

    def _check_proof(self, client: RetryingClient, out: Outcome) -> None:
        """An inclusion proof of an acknowledged entry (by its seq or its leaf hash) through
        the balancer, checked against the signed checkpoint it comes with (409 while no
        checkpoint covers it yet, 404 before the log's first checkpoint)."""
        seq = out.receipt["seq"]
        # by seq, or by leaf hash: the leaf index of a node that did not write the entry
        by = random.choice(({"seq": seq}, {"leaf_hash": out.receipt["leaf_hash"]}))
        r = client.get("/v1/log/proof/inclusion", params=by)
        if r.status_code in (404, 409):
            assert r.json()["code"] in ("not-yet-checkpointed", "no-checkpoint"), r.text
            return
        assert r.status_code == 200, r.text
        p = r.json()
        cp = verify_checkpoint(p["checkpoint"], self.verifier).checkpoint
        assert (p["index"], p["tree_size"]) == (seq, cp.size)
        verify_inclusion(seq, cp.size, bytes.fromhex(out.receipt["leaf_hash"]),
                         [bytes.fromhex(h) for h in p["proof"]], cp.root)
        with self.lock:
            self.proofs += 1

    def acked(self) -> int:
        with self.lock:
            return len(self.outcomes)


def _join(threads: list[threading.Thread], load: Load) -> None:
    for t in threads:
        t.join(timeout=900)
        assert not t.is_alive(), f"{t.name} hung"
    assert not load.errors, load.errors[:3]


def _wait_for(cond, what: str, timeout: float = 300) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def _checkpoint(cluster: Cluster, verifier) -> tuple[int, bytes, str]:  # type: ignore[no-untyped-def]
    r = httpx.get(cluster.base + "/v1/log/checkpoint", timeout=30)
    assert r.status_code == 200, r.text
    cp = verify_checkpoint(r.text, verifier).checkpoint
    return cp.size, cp.root, r.text


def _checkpoint_covering(cluster: Cluster, load: Load) -> tuple[int, bytes, str]:
    """The latest checkpoint, once it covers every entry acknowledged so far (a node signs
    one at most every ``checkpoint_interval`` and when its appends pause)."""
    last = max(o.receipt["seq"] for o in load.outcomes)
    found: list[tuple[int, bytes, str]] = []

    def covers() -> bool:
        found[:] = [_checkpoint(cluster, load.verifier)]
        return found[0][0] > last

    _wait_for(covers, f"a checkpoint covering entry {last}", timeout=60)
    return found[0]


def _held_open_on_victim(cluster: Cluster, sent_half: threading.Event,
                         killed: threading.Event, result: list) -> None:
    """A submission pinned to the victim whose body stops half-way until the victim is
    killed: its answer is lost for certain, and the client must settle it."""
    ref = f"mn-held-{os.urandom(4).hex()}"
    content = os.urandom(64 << 10) + ref.encode()
    ctype, body = multipart(CASE, ref, "held.bin", content)

    def stream() -> Iterator[bytes]:
        yield body[: len(body) // 2]
        sent_half.set()
        killed.wait(120)
        time.sleep(0.2)
        yield body[len(body) // 2:]

    client = RetryingClient(cluster.base, cluster.world.tokens["acme"])
    try:
        result.append((ref, content, client.submit(ref, content, first={"X-Pin-Node": VICTIM},
                                                   body=(ctype, stream()))))
    except BaseException as e:
        result.append(e)
    finally:
        client.close()


def test_a_node_killed_mid_load_loses_no_acknowledged_submission(cluster: Cluster) -> None:
    load = Load(cluster)
    verifier = load.verifier
    tokens = cluster.world.tokens
    victim = cluster.nodes[VICTIM]
    assert cluster.balancer is not None

    # phase 1: all three nodes up
    _join(load.run("before", PHASES["before"]), load)
    early_size, early_root, early_note = _checkpoint_covering(cluster, load)

    # phase 2: the load goes on; a request is held open on the victim; SIGKILL; restart
    threads = load.run("during", PHASES["during"])
    _wait_for(lambda: load.acked() >= PHASES["before"] + PHASES["during"] // 4,
              "a quarter of the second phase")
    sent_half, killed, held = threading.Event(), threading.Event(), []
    holder = threading.Thread(target=_held_open_on_victim,
                              args=(cluster, sent_half, killed, held))
    holder.start()
    assert sent_half.wait(60)
    _wait_for(lambda: _sessions(cluster, VICTIM) >= 1, "the held request on the victim")
    victim.kill()
    killed.set()
    cluster.balancer.wait_state(VICTIM, "DOWN")
    victim.start()
    victim.wait_ready()
    cluster.balancer.wait_state(VICTIM, "UP")
    _join(threads, load)
    holder.join(timeout=300)
    assert len(held) == 1 and not isinstance(held[0], BaseException), held
    held_ref, held_content, held_out = held[0]
    assert held_out.lost_answers >= 1, held_out  # its answer was lost, and it was settled
    load.outcomes.append(held_out)
    load.contents[held_ref] = held_content

    # an answer lost after the commit (the balancer throws the node's 201 away): the
    # client sends it again with its key and gets the committed item, not a second one
    lost_ref = f"mn-lost-answer-{os.urandom(4).hex()}"
    load.contents[lost_ref] = os.urandom(3000) + lost_ref.encode()
    client = RetryingClient(cluster.base, tokens["acme"])
    try:
        lost = client.submit(lost_ref, load.contents[lost_ref], first={"X-Drop-Answer": "1"})
    finally:
        client.close()
    assert (lost.how, lost.lost_answers, lost.attempts) == ("replayed", 1, 2), lost
    load.outcomes.append(lost)

    # phase 3: the restarted node takes its share again
    _join(load.run("after", PHASES["after"]), load)
    after_nodes = collections.Counter(o.served_by for o in load.outcomes
                                      if o.ref.startswith("mn-after-"))
    assert after_nodes[VICTIM] >= 1, after_nodes
    assert load.proofs >= 1
    print(f"outcomes: {collections.Counter(o.how for o in load.outcomes)}; lost answers "
          f"settled: {sum(o.lost_answers for o in load.outcomes)}; proofs checked: "
          f"{load.proofs}; served by: {collections.Counter(o.served_by for o in load.outcomes)}")

    # --- the log: gap-free, one tree, every acknowledged entry in it -------------------
    final_size, final_root, final_note = _checkpoint_covering(cluster, load)
    entries = _all_entries(cluster, tokens["auditor"], final_size)
    assert [e["seq"] for e in entries] == list(range(final_size))  # no gap, no repeat
    leaves = [bytes.fromhex(e["leaf_hash"]) for e in entries]
    for e, h in zip(entries, leaves, strict=True):
        assert leaf_hash(base64.b64decode(e["entry_b64"])) == h
    assert root(leaves) == final_root  # the final checkpoint is the tree of these entries
    r = httpx.get(cluster.base + "/v1/log/proof/consistency",
                  params={"size1": early_size, "size2": final_size}, timeout=30)
    assert r.status_code == 200, r.text
    verify_consistency(early_size, final_size, early_root, final_root,
                       [bytes.fromhex(h) for h in r.json()["proof"]])
    assert verify_checkpoint(early_note, verifier) and verify_checkpoint(final_note, verifier)

    total = sum(PHASES.values()) + 2  # the held one, the lost answer
    assert len(load.outcomes) == total
    assert len({o.ref for o in load.outcomes}) == total
    for o in load.outcomes:
        seq = o.receipt["seq"]
        assert seq < final_size, o
        assert entries[seq]["leaf_hash"] == o.receipt["leaf_hash"], o
        body = parse_entry(base64.b64decode(entries[seq]["entry_b64"]))
        assert body.type == "evidence.submitted", body
        assert body.body["evidence_id"] == o.receipt["evidence_id"], o

    # each logical submission exactly once: the retry rule made no duplicate
    titles = collections.Counter(i["title"] for i in _all_items(cluster, tokens["acme"]))
    assert titles == collections.Counter({o.ref: 1 for o in load.outcomes})

    # every acknowledged file: in the bucket and through the balancer, byte for byte
    s3 = _bucket(cluster)
    judge = RetryingClient(cluster.base, tokens["judge"])
    try:
        for o in load.outcomes:
            content = load.contents[o.ref]
            sha = hashlib.sha256(content).hexdigest()
            assert s3.get(sha) == content, o.ref
            r = judge.get(f"/v1/evidence/{o.receipt['evidence_id']}/files/{sha}")
            assert r.status_code == 200 and r.content == content, (o.ref, r.status_code)
    finally:
        judge.close()

    # a resubmission with its key, through any node: the first answer, nothing appended
    again = load.outcomes[0]
    size_now = httpx.get(cluster.base + "/v1/status", timeout=30).json()["size"]
    client = RetryingClient(cluster.base, tokens["acme"])
    try:
        for node in cluster.nodes:  # each node answers it from the shared database
            r = client.http.post("/v1/evidence", headers={"Idempotency-Key": again.key,
                                                          "X-Pin-Node": node},
                                 data={"case": CASE, "kind": "document", "title": again.ref},
                                 files=[("file", ("exhibit.bin", load.contents[again.ref],
                                                  "application/octet-stream"))])
            assert r.status_code == 201 and r.headers["idempotent-replayed"] == "true", r.text
            assert r.headers.get("x-served-by") == node, r.headers
            assert r.json()["evidence_id"] == again.receipt["evidence_id"]
        assert httpx.get(cluster.base + "/v1/status", timeout=30).json()["size"] == size_now
        titles = collections.Counter(i["title"] for i in _all_items(cluster, tokens["acme"]))
        assert titles[again.ref] == 1
        # what a blind resubmission does (no key): a second item, the file once
        r = client.http.post("/v1/evidence", data={"case": CASE, "kind": "document",
                                                   "title": again.ref},
                             files=[("file", ("exhibit.bin", load.contents[again.ref],
                                              "application/octet-stream"))])
    finally:
        client.close()
    assert r.status_code == 201, r.text
    second = r.json()
    assert second["evidence_id"] != again.receipt["evidence_id"]
    assert second["seq"] > again.receipt["seq"]
    assert second["files"][0]["sha256"] == hashlib.sha256(load.contents[again.ref]).hexdigest()
    titles = collections.Counter(i["title"] for i in _all_items(cluster, tokens["acme"]))
    assert titles[again.ref] == 2

    # --- anchoring (the separate process) and the audit, with the load stopped --------
    def anchored() -> bool:
        size, _root, _note = _checkpoint(cluster, verifier)
        r = httpx.get(f"{cluster.base}/v1/log/checkpoints/{size}", timeout=30)
        return r.status_code == 200 and any(t["source"] == "local"
                                            for t in r.json()["timestamps"])

    _wait_for(anchored, "the anchoring process to time-stamp the latest checkpoint")
    audit = cluster.cli("audit", "--json", check=False)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    report = json.loads(audit.stdout)
    assert report["ok"] and report["size"] >= final_size + 1, report
    for node in cluster.nodes.values():
        log = node.log.read_text(errors="replace")
        assert "Traceback" not in log, (node.name, log[-3000:])


def _sessions(cluster: Cluster, name: str) -> int:
    """Requests HAProxy has open to ``name`` right now."""
    assert cluster.balancer is not None
    import csv
    import io

    text = cluster.balancer.command("show stat").lstrip("# ")
    for row in csv.DictReader(io.StringIO(text)):
        if row["pxname"] == "nodes" and row["svname"] == name:
            return int(row["scur"] or 0)
    return 0


def _all_entries(cluster: Cluster, token: str, size: int) -> list[dict]:
    out: list[dict] = []
    with httpx.Client(base_url=cluster.base, timeout=60,
                      headers={"Authorization": f"Bearer {token}"}) as c:
        while len(out) < size:
            r = c.get("/v1/log/entries", params={"start": len(out), "limit": 1000})
            assert r.status_code == 200, r.text
            out += r.json()["entries"]
    return out[:size]


def _all_items(cluster: Cluster, token: str) -> list[dict]:
    items: list[dict] = []
    cursor = None
    with httpx.Client(base_url=cluster.base, timeout=60,
                      headers={"Authorization": f"Bearer {token}"}) as c:
        while True:
            params: dict[str, object] = {"case": CASE, "limit": 100}
            if cursor:
                params["cursor"] = cursor
            r = c.get("/v1/evidence", params=params)
            assert r.status_code == 200, r.text
            items += r.json()["items"]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                return items


class _Bucket:
    def __init__(self, cluster: Cluster) -> None:
        import boto3
        from botocore.config import Config

        cfg = json.loads((cluster.ledger_dir / "config.json").read_text())
        url = httpx.URL(cfg["blob_store"].replace("s3://", "http://", 1))
        self.bucket, self.prefix = url.host, url.path.strip("/")
        self.client = boto3.client(
            "s3", endpoint_url=url.params["endpoint"],
            aws_access_key_id=cluster.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=cluster.env["AWS_SECRET_ACCESS_KEY"],
            region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))

    def get(self, sha: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket,
                                      Key=f"{self.prefix}/{sha}")["Body"].read()


def _bucket(cluster: Cluster) -> _Bucket:
    return _Bucket(cluster)


def test_a_deferred_submission_waits_on_the_node_that_took_it(cluster: Cluster) -> None:
    """``sign=deferred`` keeps the pending item in the data directory of the node that
    answered 202 (``pending-uploads``), so its sign request must reach that node: on
    another node it is 404 (docs/operations.md, "Several nodes": route by HAProxy's cookie,
    or share the folder). The holder knows it: a bad signature there is 422, and the item
    still waits."""
    token = cluster.world.tokens["acme"]
    holder, other = cluster.nodes["n1"], cluster.nodes["n2"]
    headers = {"Authorization": f"Bearer {token}"}
    r = httpx.post(holder.base + "/v1/evidence", headers=headers, timeout=60,
                   data={"case": CASE, "kind": "document", "sign": "deferred"},
                   files=[("file", ("x.bin", os.urandom(500), "application/octet-stream"))])
    assert r.status_code == 202, r.text
    sign_url = r.json()["sign_url"]
    bad = {"key": "someone+01234567+" + base64.b64encode(b"\x01" + bytes(32)).decode(),
           "signature": base64.b64encode(bytes(64)).decode()}
    elsewhere = httpx.post(other.base + sign_url, json=bad, headers=headers, timeout=60)
    assert elsewhere.status_code == 404, elsewhere.text
    here = httpx.post(holder.base + sign_url, json=bad, headers=headers, timeout=60)
    assert here.status_code in (400, 422), here.text
