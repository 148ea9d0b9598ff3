"""The deployment files are valid for the tools that read them: ``haproxy -c``,
``systemd-analyze verify``, and the compose file's variables are ones something reads."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.compose_env import (
    COMPOSE,
    DEPLOY,
    ENTRYPOINT,
    HAPROXY_CFG,
    ROOT,
    bind_mounts,
    load_compose,
    service_env,
)

UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
EVIDENCE_SERVICES = ("init", "serve1", "serve2", "anchor", "witness")


def test_haproxy_config_is_valid() -> None:
    haproxy = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists(
        "/usr/sbin/haproxy") else None)
    if haproxy is None:
        pytest.skip("haproxy not installed: apt-get install haproxy")
    # the compose file's names do not resolve here: init-addr lets the check pass anyway,
    # as it lets HAProxy start in compose before a node is up
    r = subprocess.run([haproxy, "-c", "-f", str(HAPROXY_CFG)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Configuration file is valid" in r.stdout + r.stderr
    # the same file with the test's addresses, as tests/deploy/test_entrypoint.py runs it
    env = dict(os.environ, EVIDENCE_LB_BIND="127.0.0.1:18080", EVIDENCE_LB_SERVE1="127.0.0.1:9",
               EVIDENCE_LB_SERVE2="127.0.0.1:10", EVIDENCE_LB_STATS="127.0.0.1:18404")
    r = subprocess.run([haproxy, "-c", "-f", str(HAPROXY_CFG)], capture_output=True,
                       text=True, timeout=60, env=env)
    assert r.returncode == 0 and "could not resolve" not in r.stderr, r.stderr


def test_systemd_units_verify(tmp_path: Path) -> None:
    """``systemd-analyze verify`` on each unit. It needs the ExecStart binary to exist: the
    copies checked here run this checkout's `evidence` instead of /opt/evidence/bin's."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not found (package systemd): the units are unchecked")
    assert {u.name for u in UNITS} == {"evidence-serve.service", "evidence-anchor.service",
                                        "evidence-witness.service"}
    evidence = Path(sys.executable).with_name("evidence")
    assert evidence.exists(), f"{evidence}: pip install -e . first"
    copies = []
    for unit in UNITS:
        text = unit.read_text()
        assert "/opt/evidence/bin/evidence " in text
        for setting in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                        "CapabilityBoundingSet=\n", "StateDirectory="):
            assert setting in text, f"{unit.name}: no {setting.strip()}"
        assert re.search(r"^User=evidence", text, re.M), f"{unit.name}: no dedicated user"
        copy = tmp_path / unit.name
        copy.write_text(text.replace("/opt/evidence/bin/evidence", str(evidence)))
        copies.append(str(copy))
    r = subprocess.run([analyze, "verify", "--man=no", *copies], capture_output=True,
                       text=True, timeout=120)
    # it exits 0 on an unknown or unparsable setting, only warning: any line about our
    # units is a failure
    ours = [line for line in (r.stdout + r.stderr).splitlines()
            if any(Path(c).name in line for c in copies)]
    assert r.returncode == 0 and not ours, r.stdout + r.stderr


def test_compose_has_the_roles_and_the_variables_are_read(tmp_path: Path) -> None:
    """Every service the deployment needs is there, and every EVIDENCE_* variable the
    compose file sets is read: a configuration key (EVIDENCE_<SECTION>_<KEY>, checked by
    `evidence config check`, which refuses an unknown one) or a name the entrypoint, the
    service or HAProxy's config reads literally. A typo would otherwise be ignored."""
    from evidence.ledger.config_file import SCHEMA

    compose = load_compose()
    services = compose["services"]
    for name in (*EVIDENCE_SERVICES, "postgres", "s3", "haproxy"):
        assert name in services, f"compose.yaml has no {name}"
    for name in EVIDENCE_SERVICES:
        s = services[name]
        assert s["build"]["dockerfile"] == "deploy/Dockerfile", name
        assert s["command"][0] in ("init", "serve", "anchor", "witness"), name
    assert list(services["haproxy"]["ports"]) == ["8080:8080"]
    assert not any("ports" in services[n] for n in (*EVIDENCE_SERVICES, "postgres", "s3")), \
        "only the load balancer is published"
    readers = ENTRYPOINT.read_text() + HAPROXY_CFG.read_text() + "".join(
        p.read_text() for p in (ROOT / "evidence").rglob("*.py"))
    prefixes = tuple(f"EVIDENCE_{section.upper()}_" for section in SCHEMA)
    given = {"EVIDENCE_PG_PASSWORD": "x", "EVIDENCE_S3_SECRET": "x"}
    for name in EVIDENCE_SERVICES:
        env = service_env(compose, name, given)
        unread = sorted(n for n in env if n.startswith("EVIDENCE_")
                        and not n.startswith(prefixes) and n not in readers)
        assert not unread, f"{name}: set in {COMPOSE.name} but read by nothing: {unread}"
        if "EVIDENCE_CONFIG" in env:  # the mounted file, with this environment
            env["EVIDENCE_CONFIG"] = bind_mounts(compose, name)[env["EVIDENCE_CONFIG"]]
        r = subprocess.run([str(Path(sys.executable).with_name("evidence")), "config",
                            "check", "--no-files"], capture_output=True, text=True,
                           timeout=60, cwd=tmp_path,
                           env={"PATH": os.environ.get("PATH", ""), **env})
        assert r.returncode == 0, f"{name}: {r.stdout}{r.stderr}"
