"""``evidence export`` and ``evidence verify`` round trips: --json and the human table,
"is this file the preserved one?" by file and by hash, exit codes, the newer checkpoint
from files (as ``evidence log proof consistency --json`` writes it) and, with --online
only, from a log URL."""

from __future__ import annotations

import http.server
import json
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner, Result

from evidence.cli.bundle_cmds import CHECKPOINT_PATH
from evidence.cli.main import cli
from tests.support.bundle_world import World, build_world, members, rezip
from tests.support.tsa import LocalTSA

pytestmark = pytest.mark.tsa


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> Iterator[World]:
    w = build_world(tmp_path_factory.mktemp("cli"), tsa.url, tsa.ca_cert_pem, tsa.ca_pem_path)
    yield w
    w.led.close()


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def flat(text: str) -> str:
    """The printed report with its wrapping undone (rich wraps at the terminal width)."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def keys(world: World, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    d = tmp_path_factory.mktemp("keys")
    (d / "log.vkey").write_text(world.led.verifier_key + "\n")
    return ["--log-key", str(d / "log.vkey"), "--witness-key", world.witness.verifier().to_string(),
            "--witness-quorum", "1", "--tsa-ca", str(world.ca_path)]


@pytest.fixture(scope="module")
def bundle(world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out") / "a.zip"
    r = run("export", world.a, "-o", out, "--data-dir", world.led.config.data_dir, "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["ok"] and doc["path"] == str(out) and doc["timestamps"] == 1
    assert doc["cosignatures"] == 1 and doc["checkpoint_size"] == world.anchored_size
    return out


def test_export_human_and_refusals(world: World, tmp_path: Path) -> None:
    data_dir = world.led.config.data_dir
    r = run("export", world.c, "-o", tmp_path / "c.zip", "--data-dir", data_dir)
    assert r.exit_code == 0 and "purged item" in r.output
    r = run("export", world.c, "-o", tmp_path / "c.zip", "--data-dir", data_dir)
    assert r.exit_code == 1 and "exists" in r.output
    assert run("export", world.c, "-o", tmp_path / "c.zip", "--data-dir", data_dir,
               "--force").exit_code == 0
    r = run("export", "ev_unknown", "-o", tmp_path / "u.zip", "--data-dir", data_dir, "--json")
    assert r.exit_code == 1 and "no evidence item" in json.loads(r.output)["error"]
    # item b's newest custody entry is after the anchored checkpoint: by default the
    # bundle is proven to the anchored one (the entry left out, warned); to the latest,
    # unanchored checkpoint it is refused, or written provisional on request
    r = run("export", world.b, "-o", tmp_path / "b0.zip", "--data-dir", data_dir)
    assert r.exit_code == 0 and "not in this bundle" in r.output, r.output
    latest = ["--checkpoint", str(world.latest_size)]
    r = run("export", world.b, "-o", tmp_path / "b.zip", "--data-dir", data_dir, *latest)
    assert r.exit_code == 1 and "not anchored yet" in r.output
    assert not (tmp_path / "b.zip").exists()
    r = run("export", world.b, "-o", tmp_path / "b.zip", "--data-dir", data_dir, *latest,
            "--provisional")
    assert r.exit_code == 0 and "PROVISIONAL" in r.output


def test_export_bundle_format(world: World, bundle: Path, keys: list[str],
                              tmp_path: Path) -> None:
    """v2 by default (each file under its name); --bundle-format v1 for an older verifier;
    both verify (docs/bundle.md "Versioning")."""
    with zipfile.ZipFile(bundle) as z:
        names = z.namelist()
    assert any(n.startswith("files/") and n.endswith("/shop.png") for n in names)
    out = tmp_path / "a-v1.zip"
    r = run("export", world.a, "-o", out, "--data-dir", world.led.config.data_dir,
            "--bundle-format", "v1")
    assert r.exit_code == 0, r.output
    with zipfile.ZipFile(out) as z:
        assert json.loads(z.read("manifest.json"))["format"] == "evidence-bundle/v1"
        assert "index.html" not in z.namelist()
    doc = json.loads(run("verify", out, *keys, "--json").output)
    assert doc["verdict"] == "verified" and doc["format"] == "evidence-bundle/v1"
    r = run("export", world.a, "-o", tmp_path / "x.zip", "--data-dir",
            world.led.config.data_dir, "--bundle-format", "v3")
    assert r.exit_code == 2 and not (tmp_path / "x.zip").exists()


def test_verify_json(bundle: Path, keys: list[str], world: World) -> None:
    r = run("verify", bundle, *keys, "--json")
    assert r.exit_code == 0, r.output
    assert r.output.count("\n") == 1  # one line: JSON Lines
    doc = json.loads(r.output)
    assert doc["ok"] and doc["verdict"] == "verified" and doc["evidence_id"] == world.a
    assert doc["failed_check"] is None and doc["not_checked"] == []
    assert [c["name"] for c in doc["checks"]][:3] == ["archive", "manifest", "checkpoint"]
    assert all(c["ok"] and c["status"] == "pass" and c["reason"] and c["reason_zh"]
               for c in doc["checks"])


def test_verify_human_table(bundle: Path, keys: list[str]) -> None:
    r = run("verify", bundle, *keys)
    assert r.exit_code == 0, r.output
    for text in ("PASS", "通过", "timestamps", "Preserved no later than", "已保全", "shop.png",
                 "Custody timeline", "evidence.accessed", "VERIFIED: every check passed",
                 "核验通过", "(included)", "Asia/Shanghai", "UTC"):
        assert text in r.output, text


def test_verify_fails_with_exit_1(bundle: Path, keys: list[str], tmp_path: Path) -> None:
    m = members(bundle.read_bytes())
    name = next(n for n in m if n.startswith("files/"))
    m[name] = b"tampered"
    bad = tmp_path / "bad.zip"
    bad.write_bytes(rezip(m))
    r = run("verify", bad, *keys)
    assert r.exit_code == 1 and "FAIL" in r.output and "NOT VERIFIED" in r.output
    # after a failure no summary claims a time or "included"
    for claim in ("preserved no later than", "已保全", "included", "已包含"):
        assert claim not in flat(r.output).lower(), claim
    r = run("verify", bad, *keys, "--json")
    doc = json.loads(r.output)
    assert r.exit_code == 1 and not doc["ok"] and doc["verdict"] == "failed"
    assert doc["failed_check"] == "files" and doc["preserved_no_later_than"] == []
    assert not any("included" in f for f in doc["files"])
    # without the TSA root the time is not proven: not fully verified (exit 3), never green
    r = run("verify", bundle, "--log-key", keys[1])
    assert r.exit_code == 3 and "--tsa-ca" in r.output and "NOT FULLY VERIFIED" in r.output
    assert "未完全核验" in r.output and "timestamps not checked" in flat(r.output)
    assert run("verify", bundle, "--log-key", keys[1], "--no-timestamps").exit_code == 3


def test_is_this_the_preserved_file(bundle: Path, keys: list[str], world: World,
                                    tmp_path: Path) -> None:
    f = world.files_a[0]
    r = run("verify", f, "--bundle", bundle, *keys)
    assert r.exit_code == 0 and "is the preserved file 'shop.png'" in flat(r.output)
    other = tmp_path / "other.png"
    other.write_bytes(f.read_bytes() + b"\x00")
    r = run("verify", other, "--bundle", bundle, *keys)
    assert r.exit_code == 1 and "is NOT one of the preserved files" in flat(r.output)
    assert "compared_files" in r.output and "Preserved no later than" not in flat(r.output)
    # --compare, repeatable, on the bundle itself
    r = run("verify", bundle, *keys, "--compare", f, "--compare", world.files_a[1], "--json")
    doc = json.loads(r.output)
    assert r.exit_code == 0 and doc["checks"][-1]["name"] == "compared_files"
    assert [c["matches"] for c in doc["compared"]] == ["shop.png", "chat.txt"]
    r = run("verify", bundle, *keys, "--compare", f, "--compare", other, "--json")
    doc = json.loads(r.output)
    assert r.exit_code == 1 and doc["failed_check"] == "compared_files"
    import hashlib

    h = hashlib.sha256(world.files_a[1].read_bytes()).hexdigest().upper()
    r = run("verify", "--hash", h, "--bundle", bundle, *keys, "--json")
    doc = json.loads(r.output)
    assert r.exit_code == 0 and doc["match"]["name"] == "chat.txt"
    assert run("verify", "--hash", "12", "--bundle", bundle, *keys).exit_code == 2
    assert run("verify", f, "--hash", h, "--bundle", bundle, *keys).exit_code == 2
    assert run("verify", *keys).exit_code == 2


def test_newer_checkpoint_from_files(bundle: Path, keys: list[str], world: World,
                                     tmp_path: Path) -> None:
    data_dir = world.led.config.data_dir
    r = run("log", "proof", "consistency", str(world.anchored_size), str(world.latest_size),
            "--data-dir", data_dir, "--json")
    assert r.exit_code == 0, r.output
    (tmp_path / "proof.json").write_text(r.output)
    (tmp_path / "cp.note").write_text(world.led.checkpoint_at(world.latest_size).note)
    r = run("verify", bundle, *keys, "--newer-checkpoint", tmp_path / "cp.note",
            "--consistency-proof", tmp_path / "proof.json", "--json")
    doc = json.loads(r.output)
    assert r.exit_code == 0 and doc["still_in_log"]["size"] == world.latest_size
    assert doc["checks"][-1]["name"] == "still_in_log"
    (tmp_path / "proof.json").write_text("not json")
    r = run("verify", bundle, *keys, "--newer-checkpoint", tmp_path / "cp.note",
            "--consistency-proof", tmp_path / "proof.json")
    assert r.exit_code == 1 and "still_in_log" in r.output
    r = run("verify", bundle, *keys, "--newer-checkpoint", tmp_path / "cp.note")
    assert r.exit_code == 2


class _Log(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, bytes]] = {}
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body = self.routes.get(self.path.split("?")[0])
        self.send_response(200 if body else 404)
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *a: Any) -> None:
        pass


def test_newer_checkpoint_online_only_when_allowed(bundle: Path, keys: list[str],
                                                   world: World) -> None:
    proof = world.led.consistency_proof(world.anchored_size, world.latest_size).to_json()
    _Log.routes = {"/" + CHECKPOINT_PATH: world.led.checkpoint_at(world.latest_size).note.encode(),
                   "/v1/log/proof/consistency": json.dumps(proof).encode()}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Log)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        r = run("verify", bundle, *keys, "--log-url", url)
        assert r.exit_code == 2 and "--online" in r.output and not _Log.seen
        r = run("verify", bundle, *keys, "--log-url", url, "--online", "--json")
        assert r.exit_code == 0, r.output
        assert json.loads(r.output)["still_in_log"]["source"] == url
        assert any(f"size1={world.anchored_size}" in p for p in _Log.seen)
    finally:
        server.shutdown()
        server.server_close()
