"""``evidence trust export`` pins the capture nodes (issue 14 point 3): the service's own
capture key (DIR/capture-node.key) and every node in DIR/capture-nodes, as
``#@ capture-node <name> <vkey>`` lines that the court's parser reads back; the
fingerprint moves when a node is added, ``GET /v1/log/trust`` serves the same bytes, and
a capture-nodes file that cannot be pinned as it stands is refused with nothing written."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient

from evidence.api.app import create_app
from evidence.api.services import Services
from evidence.api.settings import ApiSettings
from evidence.cli.main import cli
from evidence.ledger.keyfile import read_private_key
from evidence.verify.trust import parse_trust


def run(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _export(d: Path, out: Path) -> tuple[bytes, str]:
    r = run("trust", "export", "--data-dir", d, "-o", out)
    assert r.exit_code == 0, r.output
    data = out.read_bytes()
    fp = hashlib.sha256(data).hexdigest()
    assert f"sha256 {fp}" in r.output
    return data, fp


def _keygen(name: str, path: Path) -> str:
    r = run("keygen", name, "-o", path)
    assert r.exit_code == 0, r.output
    return read_private_key(path).verifier().to_string()


def test_trust_export_pins_own_and_listed_capture_nodes(tmp_path: Path) -> None:
    d = tmp_path / "data"
    assert run("init", "--data-dir", d, "--origin", "trust.example/log").exit_code == 0
    out = tmp_path / "trust.txt"

    data0, fp0 = _export(d, out)
    assert b"capture-node" not in data0 and parse_trust(data0).capture_nodes == ()

    own = _keygen("trust.example/capture", d / "capture-node.key")
    data1, fp1 = _export(d, out)
    assert fp1 != fp0
    assert f"#@ capture-node trust.example/capture {own}\n".encode() in data1
    assert [(n.name, n.verifier.to_string()) for n in parse_trust(data1).capture_nodes] == \
        [("trust.example/capture", own)]

    abroad = _keygen("abroad.example/node", tmp_path / "abroad.key")
    second = _keygen("second.example/node", tmp_path / "second.key")
    (d / "capture-nodes").write_text(
        "# name principal vkey\n"
        f"node-hk token:node-hk {abroad}\n"
        "\n"
        f"node-de token:node-de {second}  # Frankfurt\n"
        f"node-own token:own {own}\n",  # the service's own key again: pinned once
        encoding="utf-8")
    data2, fp2 = _export(d, out)
    assert fp2 not in (fp0, fp1)
    policy = parse_trust(data2)
    assert [(n.name, n.verifier.to_string()) for n in policy.capture_nodes] == [
        ("trust.example/capture", own), ("node-hk", abroad), ("node-de", second)]
    assert policy.logs[0].verifier.name == "trust.example/log"
    assert _export(d, out) == (data2, fp2)  # no export time: same nodes, same bytes

    svc = Services.open(ApiSettings(data_dir=str(d), anchor=False))
    try:
        with TestClient(create_app(services=svc)) as client:
            r = client.get("/v1/log/trust")
            assert r.status_code == 200 and r.content == data2
            assert r.headers["etag"] == f'"{fp2}"'
    finally:
        svc.close()


def test_unpinnable_capture_nodes_file_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "data"
    assert run("init", "--data-dir", d, "--origin", "trust.example/log").exit_code == 0
    good = _keygen("a.example/node", tmp_path / "a.key")
    out = tmp_path / "trust.txt"
    for text, says in [
        ("node-a token:a\n", "line 1: expected NAME PRINCIPAL VKEY"),
        (f"node-a token:a {good}\nnode-b token:b not-a-key\n", "line 2"),
        (f"node-a token:a {good}\nnode-a token:b "
         f"{_keygen('b.example/node', tmp_path / 'b.key')}\n",
         "a second capture node named 'node-a'"),
    ]:
        (d / "capture-nodes").write_text(text, encoding="utf-8")
        r = run("trust", "export", "--data-dir", d, "-o", out)
        assert r.exit_code != 0 and says in r.output, r.output
        assert not out.exists()
    (d / "capture-nodes").unlink()
    # the log key doubling as the capture key: a court's parser refuses the file, so no
    # file is written (a capture key must be a key of its own)
    (d / "capture-node.key").write_bytes((d / "log.key").read_bytes())
    (d / "capture-node.key").chmod(0o600)
    r = run("trust", "export", "--data-dir", d, "-o", out)
    assert r.exit_code != 0 and "duplicate key trust.example/log" in r.output, r.output
    assert not out.exists()


def test_trust_export_pins_the_key_named_by_the_environment(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """The capture API signs with $EVIDENCE_CAPTURE_KEY when it is set: the trust file
    must pin that key, not DIR/capture-node.key."""
    d = tmp_path / "data"
    assert run("init", "--data-dir", d, "--origin", "env.example/log").exit_code == 0
    default = _keygen("env.example/default", d / "capture-node.key")
    elsewhere = _keygen("env.example/elsewhere", tmp_path / "keys" / "capture.key")
    monkeypatch.setenv("EVIDENCE_CAPTURE_KEY", str(tmp_path / "keys" / "capture.key"))
    data, _ = _export(d, tmp_path / "trust.txt")
    pinned = [n.verifier.to_string() for n in parse_trust(data).capture_nodes]
    assert pinned == [elsewhere] and default not in pinned
