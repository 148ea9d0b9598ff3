"""Build deploy/Dockerfile with podman and run it: the API as a non-root user, a submission
over HTTP, the healthcheck, and a restart that keeps the volume's ledger and key.

Where no registry is reachable (this machine: only PyPI, Debian and npm), the Debian 12 base
is built here: `debootstrap --variant=minbase bookworm` from Debian's mirror, imported with
`podman import`, and passed as the Dockerfile's BASE. Set EVIDENCE_TEST_BASE_IMAGE to use
another (e.g. docker.io/library/debian:12-slim where it can be pulled).

How podman runs on this machine (root, no systemd, cgroup v1 hybrid, no CAP_SYS_RESOURCE):
crun refuses cgroups in hybrid mode, so runc; podman's default rlimits (nofile and nproc of
1048576) cannot be set without CAP_SYS_RESOURCE, so explicit lower ones; the host network.
Skips, saying which step failed and how, where podman is missing or cannot run a container.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.deploy.compose_env import ROOT
from tests.support.ports import free_ports

pytestmark = pytest.mark.slow

IMAGE = "localhost/evidence:deploy-test"
DEBOOTSTRAP_IMAGE = "localhost/debian-debootstrap:12"
PODMAN_GLOBAL = ["--runtime", "runc", "--cgroup-manager", "cgroupfs"]
LIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=8192:8192"]
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(["podman", *PODMAN_GLOBAL, *args], capture_output=True, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"podman {' '.join(args[:3])} ... exit {r.returncode}:\n"
                             f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def _images() -> set[str]:
    r = podman("images", "--format", "{{.Repository}}:{{.Tag}}")
    return set(r.stdout.split())


def _base_image() -> str:
    given = os.environ.get("EVIDENCE_TEST_BASE_IMAGE")
    if given:
        return given
    if DEBOOTSTRAP_IMAGE in _images():
        return DEBOOTSTRAP_IMAGE
    if shutil.which("debootstrap") is None:
        pytest.skip("no Debian 12 base image: no registry here, and debootstrap is not "
                    "installed to build one (apt-get install debootstrap)")
    root = Path(tempfile.mkdtemp(prefix="evidence-rootfs-"))
    try:
        r = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(root),
                            "http://deb.debian.org/debian"], capture_output=True, text=True,
                           timeout=1800)
        if r.returncode != 0:
            pytest.skip(f"debootstrap bookworm failed (exit {r.returncode}): "
                        f"{r.stderr[-500:]}")
        shutil.rmtree(root / "var/lib/apt/lists", ignore_errors=True)
        (root / "var/lib/apt/lists/partial").mkdir(parents=True)
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        imp = subprocess.run(["podman", *PODMAN_GLOBAL, "import", "-", DEBOOTSTRAP_IMAGE],
                             stdin=tar.stdout, capture_output=True, text=True, timeout=600)
        tar.wait()
        assert imp.returncode == 0, imp.stderr
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return DEBOOTSTRAP_IMAGE


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    if shutil.which("podman") is None:
        pytest.skip("podman not installed (apt-get install podman runc): the image is "
                    "untested here; tests/deploy/test_entrypoint.py runs its entrypoint")
    base = _base_image()
    probe = podman("run", "--rm", "--network=host", *LIMITS, base, "true", check=False)
    if probe.returncode != 0:
        pytest.skip(f"podman cannot run a container here: {probe.stderr.strip()[-500:]}")
    args = ["build", "--format", "docker", "--network=host", *LIMITS,
            "--build-arg", f"BASE={base}", "-f", str(ROOT / "deploy" / "Dockerfile"),
            "-t", IMAGE]
    if HOST_CA.exists():  # an egress proxy's CA, for pip inside the build
        args += ["-v", f"{HOST_CA}:/run/host-ca.crt:ro", "--build-arg",
                 "PIP_CERT=/run/host-ca.crt"]
    podman(*args, str(ROOT), timeout=3600)
    yield IMAGE


def _wait_health(name: str, port: int) -> None:
    deadline = time.monotonic() + 180
    while True:
        state = podman("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
        assert state == "running", podman("logs", name, check=False).stderr[-3000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=3).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, podman("logs", name, check=False).stderr[-3000:]
        time.sleep(1)


def test_image_serves_as_non_root_and_keeps_its_volume(image: str) -> None:
    (port,) = free_ports(1)
    name, volume = f"evidence-test-{uuid.uuid4().hex[:8]}", f"evidence-test-{uuid.uuid4().hex[:8]}"
    run = ["run", "-d", "--name", name, "--network=host", *LIMITS, "-v",
           f"{volume}:/var/lib/evidence", "-e", "EVIDENCE_ORIGIN=container.test/log",
           "-e", f"EVIDENCE_SERVE_PORT={port}", "-e", "EVIDENCE_SERVE_HOST=127.0.0.1",
           image, "serve"]
    try:
        podman(*run)
        _wait_health(name, port)
        user = podman("exec", name, "id", "-u").stdout.strip()
        assert user == "10001", "the service runs as the image's evidence user, not root"
        assert podman("exec", name, "evidence-entrypoint", "health").returncode == 0
        check = podman("image", "inspect", "--format", "{{json .HealthCheck}}", image).stdout
        assert '"evidence-entrypoint","health"' in check.replace("/usr/local/bin/", ""), check
        assert podman("exec", name, "test", "-e", "/usr/bin/chromium",
                      check=False).returncode != 0, "no browser without CAPTURE=true"
        for args in (["user", "add", "acme", "--role", "submitter"], ["case", "add", "c1"],
                     ["case", "member", "add", "c1", "acme"]):
            podman("exec", name, "evidence-entrypoint", *args)
        token = podman("exec", name, "evidence-entrypoint", "token", "create",
                       "acme").stdout.strip()
        vkey = podman("exec", name, "evidence", "log", "key").stdout.strip()
        r = httpx.post(f"http://127.0.0.1:{port}/v1/evidence",
                       headers={"Authorization": f"Bearer {token}"},
                       data={"case": "c1", "kind": "document"},
                       files=[("file", ("a.txt", b"from the container test", "text/plain"))],
                       timeout=60)
        assert r.status_code == 201, r.text
        assert r.json()["log_key"] == vkey
        modes = podman("exec", name, "stat", "-c", "%a %U %n", "/var/lib/evidence/log/log.key",
                       "/var/lib/evidence/log/config.json").stdout.split("\n")
        assert all(m.startswith("600 evidence ") for m in modes if m), modes

        # a new container on the same volume: the same ledger and key, nothing re-created
        podman("rm", "-f", "-t", "30", name, timeout=120)
        podman(*run)
        _wait_health(name, port)
        assert podman("exec", name, "evidence", "log", "key").stdout.strip() == vkey
        logs = podman("logs", name).stderr
        assert "not initialising" in logs and "creating the ledger" not in logs, logs
        status = httpx.get(f"http://127.0.0.1:{port}/v1/status", timeout=10).json()
        assert status["size"] >= 1
    finally:
        podman("rm", "-f", "-t", "5", name, check=False, timeout=120)
        podman("volume", "rm", "-f", volume, check=False)
