"""deploy/entrypoint.sh with deploy/compose.yaml's environment, without containers.

The compose file's roles run here as local processes: the same entrypoint script, the same
variables (read from compose.yaml; only host names, ports and folders are pointed at the
throwaway PostgreSQL, SeaweedFS and ports of this test), and HAProxy from Debian with
deploy/haproxy.cfg itself. A submission goes through HAProxy to two `evidence serve` nodes
on one PostgreSQL and one S3 bucket; the anchoring process gets the witness's cosignature.
tests/deploy/test_container.py runs the image itself where podman can.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.deploy.compose_env import (
    ENTRYPOINT,
    HAPROXY_CFG,
    bind_mounts,
    load_compose,
    localize,
    service_env,
)
from tests.support.ports import free_ports
from tests.support.s3 import S3Endpoint

pytestmark = pytest.mark.slow

EVIDENCE = Path(sys.executable).with_name("evidence")
START_TIMEOUT_S = 120.0


def base_env(run_dir: Path) -> dict[str, str]:
    """What a container has besides the compose variables: a PATH, and where the entrypoint
    finds `evidence` and Python (the image sets these in its Dockerfile)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    return {"PATH": f"{EVIDENCE.parent}:/usr/bin:/bin:/usr/sbin:/sbin",
            "HOME": str(run_dir), "LANG": "C.UTF-8", "EVIDENCE_BIN": str(EVIDENCE),
            "EVIDENCE_PYTHON": sys.executable, "EVIDENCE_RUN_DIR": str(run_dir),
            "EVIDENCE_WAIT_SECONDS": "60"}


def run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(ENTRYPOINT), *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


class Procs:
    """The long-running roles of one test; all stopped (SIGTERM, then SIGKILL) at the end."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, args: list[str], env: dict[str, str]) -> None:
        with (self.logs / f"{name}.log").open("wb") as out:
            self.running[name] = subprocess.Popen(args, env=env, stdout=out,
                                                  stderr=subprocess.STDOUT,
                                                  start_new_session=True)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]

    def alive(self, name: str) -> None:
        proc = self.running[name]
        assert proc.poll() is None, f"{name} exited {proc.returncode}:\n{self.log(name)}"

    def stop_all(self) -> None:
        for proc in self.running.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.running.values():
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    logs = tmp_path / "logs"
    logs.mkdir()
    p = Procs(logs)
    try:
        yield p
    finally:
        p.stop_all()


def wait_healthy(procs: Procs, name: str, env: dict[str, str]) -> None:
    """The container's healthcheck (`entrypoint.sh health`) until it passes."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        procs.alive(name)
        r = run(["health"], env, timeout=30)
        if r.returncode == 0:
            return
        assert time.monotonic() < deadline, f"{name} not healthy: {r.stderr}\n{procs.log(name)}"
        time.sleep(0.5)


# --- first start: creating, never replacing -----------------------------------------------


def _sqlite_env(tmp_path: Path, name: str = "node") -> dict[str, str]:
    env = base_env(tmp_path / "run" / name)
    env.update(EVIDENCE_DATA_DIR=str(tmp_path / "log"), EVIDENCE_PUBLIC_DIR=str(
        tmp_path / "public"), EVIDENCE_ORIGIN="deploy.test/log")
    return env


def test_first_start_without_an_origin_creates_nothing(tmp_path: Path) -> None:
    env = _sqlite_env(tmp_path)
    del env["EVIDENCE_ORIGIN"]
    r = run(["init"], env)
    assert r.returncode == 1
    assert "EVIDENCE_ORIGIN unset" in r.stderr
    assert not (tmp_path / "log" / "config.json").exists()
    assert not (tmp_path / "public").exists()


def test_two_nodes_starting_at_once_make_one_ledger(tmp_path: Path) -> None:
    """Two first starts on one data volume (compose starts serve1 and serve2 together):
    one ledger, one key, both starts succeed; a third start changes nothing."""
    envs = [_sqlite_env(tmp_path, f"n{i}") for i in range(2)]
    starts = [subprocess.Popen([str(ENTRYPOINT), "init"], env=e, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for e in envs]
    outs = [p.communicate(timeout=120) for p in starts]
    assert [p.returncode for p in starts] == [0, 0], outs
    created = sum("creating the ledger" in err for _out, err in outs)
    assert created == 1, outs
    key = (tmp_path / "log" / "log.key").read_bytes()
    vkey = subprocess.run([str(EVIDENCE), "log", "key"], env=envs[0], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert (tmp_path / "public" / "log.vkey").read_text().strip() == vkey
    assert vkey.startswith("deploy.test/log+")
    again = run(["init"], envs[1])
    assert again.returncode == 0 and "not initialising" in again.stderr
    assert (tmp_path / "log" / "log.key").read_bytes() == key


def test_a_different_published_key_stops_the_start(tmp_path: Path) -> None:
    """A published verifier key that is not this ledger's (a replaced data volume): the
    start is refused and the published key is left as it was."""
    env = _sqlite_env(tmp_path)
    (tmp_path / "public").mkdir()
    other = "deploy.test/log+00000000+AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\n"
    (tmp_path / "public" / "log.vkey").write_text(other)
    r = run(["serve"], env)  # never reaches `evidence serve`
    assert r.returncode == 1
    assert "holds another key than this one" in r.stderr
    assert (tmp_path / "public" / "log.vkey").read_text() == other


def test_other_arguments_are_evidence_commands(tmp_path: Path) -> None:
    env = _sqlite_env(tmp_path)
    r = run(["--version"], env)
    assert r.returncode == 0 and r.stdout.startswith("evidence, version"), r
    r = run([], env)
    assert r.returncode == 1 and "no role" in r.stderr


# --- the compose file's services as local processes ----------------------------------------


@pytest.mark.pg
@pytest.mark.s3
def test_compose_roles_behind_haproxy(tmp_path: Path, procs: Procs, pg_fresh_url: str,
                                      s3_endpoint: S3Endpoint, s3_bucket: str) -> None:
    haproxy = shutil.which("haproxy", path="/usr/sbin:/usr/bin:/sbin:/bin")
    if haproxy is None:
        pytest.skip("haproxy not installed: apt-get install haproxy (in .ci/run)")
    compose = load_compose()
    given = {"EVIDENCE_PG_PASSWORD": "from-the-test", "EVIDENCE_S3_SECRET": s3_endpoint.secret}
    p1, p2, pw, plb, pstats = free_ports(5)
    compose_db = service_env(compose, "init", given)["EVIDENCE_DB_URL"]
    where = {
        compose_db: pg_fresh_url,
        "http://s3:8333": s3_endpoint.endpoint,
        "s3://evidence/": f"s3://{s3_bucket}/",
        "/var/lib/evidence/": f"{tmp_path}/",
        "http://witness:7380": f"http://127.0.0.1:{pw}",
    }

    def env_of(service: str, **overrides: str) -> dict[str, str]:
        env = localize(service_env(compose, service, given),
                       {**where, **bind_mounts(compose, service)})
        if "AWS_ACCESS_KEY_ID" in env:  # the fixture's SeaweedFS has its own identity
            env["AWS_ACCESS_KEY_ID"] = s3_endpoint.key
        for name in ("EVIDENCE_SERVE_HOST", "EVIDENCE_WITNESS_HOST"):
            if env.get(name) == "0.0.0.0":
                env[name] = "127.0.0.1"  # a test listens on loopback only
        if env.get("EVIDENCE_SERVE_FORWARDED_ALLOW_IPS") == "172.30.0.10":
            env["EVIDENCE_SERVE_FORWARDED_ALLOW_IPS"] = "127.0.0.1"  # HAProxy, here
        env.update(overrides)
        return {**base_env(tmp_path / "run" / service), **env}

    # init: the ledger in PostgreSQL, its key published; a second run changes nothing
    init_env = env_of("init")
    assert init_env["EVIDENCE_DB_URL"] == pg_fresh_url
    assert Path(init_env["EVIDENCE_CONFIG"]).name == "evidence.example.toml"
    r = run(["init"], init_env)
    assert r.returncode == 0, r.stderr
    log_vkey = (tmp_path / "public" / "log.vkey").read_text().strip()
    assert log_vkey.startswith("evidence.example.org/log+")
    r = run(["init"], init_env)
    assert r.returncode == 0 and "not initialising" in r.stderr, r.stderr

    # the operator's first principal and token, through the same entrypoint
    admin = env_of("serve1")
    for args in (["user", "add", "acme", "--role", "submitter"], ["case", "add", "case-a"],
                 ["case", "member", "add", "case-a", "acme"]):
        r = run(args, admin)
        assert r.returncode == 0, r.stderr
    r = run(["token", "create", "acme", "--json"], admin)
    assert r.returncode == 0, r.stderr
    token = json.loads(r.stdout)["token"]

    # the witness, the two nodes, the anchoring process (compose's interval is 30 s: 1 here)
    # (each node's effective configuration is checked as `evidence serve` will read it)
    wenv = env_of("witness", EVIDENCE_WITNESS_PORT=str(pw))
    procs.start("witness", [str(ENTRYPOINT), "witness"], wenv)
    wait_healthy(procs, "witness", wenv)
    assert (tmp_path / "public" / "witness.vkey").read_text().startswith(
        "witness.example.org/w1+")
    nodes = {"serve1": p1, "serve2": p2}
    for name, port in nodes.items():
        env = env_of(name, EVIDENCE_SERVE_PORT=str(port))
        assert env["EVIDENCE_ANCHORING_IN_SERVER"] == "false"
        check = subprocess.run([str(EVIDENCE), "config", "check"], env=env,
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        assert f"port = {port}  # env EVIDENCE_SERVE_PORT" in check.stdout, check.stdout
        procs.start(name, [str(ENTRYPOINT), "serve"], env)
    for name, port in nodes.items():
        wait_healthy(procs, name, env_of(name, EVIDENCE_SERVE_PORT=str(port)))
    aenv = env_of("anchor", EVIDENCE_ANCHORING_INTERVAL="1")
    procs.start("anchor", [str(ENTRYPOINT), "anchor"], aenv)

    # HAProxy with deploy/haproxy.cfg and the compose file's variables, pointed here
    lb_env = localize(service_env(compose, "haproxy", given), {
        "serve1:8080": f"127.0.0.1:{p1}", "serve2:8080": f"127.0.0.1:{p2}"})
    assert lb_env["EVIDENCE_LB_BIND"] == ":8080"
    lb_env.update(EVIDENCE_LB_BIND=f"127.0.0.1:{plb}", EVIDENCE_LB_STATS=f"127.0.0.1:{pstats}")
    procs.start("haproxy", [haproxy, "-db", "-f", str(HAPROXY_CFG)],
                {"PATH": "/usr/sbin:/usr/bin:/bin", **lb_env})
    lb = f"http://127.0.0.1:{plb}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:  # both nodes in rotation (health checks: rise 2, every 2 s)
        procs.alive("haproxy")
        try:
            rows = httpx.get(f"http://127.0.0.1:{pstats}/;csv", timeout=5).text
            up = [ln for ln in rows.splitlines() if ln.startswith("evidence_nodes,serve")
                  and ",UP," in ln]
            if len(up) == 2:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, procs.log("haproxy")
        time.sleep(0.5)

    # submissions through the balancer, then read back through it
    sent: dict[str, str] = {}
    with httpx.Client(base_url=lb, headers={"Authorization": f"Bearer {token}"},
                      timeout=60) as c:
        for i in range(8):
            body = f"deployment test {i} ".encode() + os.urandom(8)
            r = c.post("/v1/evidence", data={"case": "case-a", "kind": "document"},
                       files=[("file", (f"f{i}.txt", body, "text/plain"))])
            assert r.status_code == 201, r.text
            doc = r.json()
            assert doc["log_key"] == log_vkey
            sent[doc["evidence_id"]] = hashlib.sha256(body).hexdigest()
        for evidence_id, sha in sent.items():
            found = c.get("/v1/lookup", params={"sha256": sha}).json()["matches"]
            assert [m["evidence_id"] for m in found] == [evidence_id]
            assert c.get(f"/v1/evidence/{evidence_id}").status_code == 200
        size = c.get("/v1/status").json()["size"]
    assert size >= len(sent)

    # both nodes answered (HAProxy's own count), the files are in the bucket
    stats = httpx.get(f"http://127.0.0.1:{pstats}/;csv", timeout=5).text.splitlines()
    header = stats[0].lstrip("# ").split(",")
    served = {row[1]: int(row[header.index("stot")]) for row in
              (ln.split(",") for ln in stats[1:]) if row[0] == "evidence_nodes"
              and row[1] in nodes}
    assert all(n > 0 for n in served.values()) and len(served) == 2, served
    keys = {o["Key"] for o in s3_endpoint.client().list_objects_v2(
        Bucket=s3_bucket, Prefix="blobs/").get("Contents", [])}
    assert set(sent.values()) <= {k.rsplit("/", 1)[-1] for k in keys}, keys

    # the anchoring process registered the witness and got its cosignature on the log
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        procs.alive("anchor")
        r = subprocess.run([str(EVIDENCE), "status", "--json"], env=aenv, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        sources = {s["name"]: s for s in json.loads(r.stdout)["sources"]}
        assert set(sources) <= {"witness1"}, sources  # empty until the entrypoint adds it
        if sources and (sources["witness1"]["anchored_size"] or 0) >= size:
            break
        assert time.monotonic() < deadline, (sources, procs.log("anchor"))
        time.sleep(1)
    for name in ("serve1", "serve2", "anchor", "witness", "haproxy"):
        procs.alive(name)
