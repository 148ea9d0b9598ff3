"""The stand-alone verifier travels with the bundle (issue 13, point 9; docs/verdict.md
section 4): ``tools/verify_bundle.py`` is byte for byte ``scripts/verify_bundle.py``,
listed in the manifest like any member; the reports print its SHA-256 and where the
reference copy is; and the copy taken out of a real bundle verifies that bundle."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from evidence.ledger.bundle import tool
from evidence.verify.bundle import verify_bundle
from tests.support.bundle_world import World, build_world, members
from tests.support.tsa import LocalTSA

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "verify_bundle.py"


def test_the_packaged_copy_is_the_script() -> None:
    """scripts/verify_bundle.py is a link to the packaged file: one copy, never two."""
    assert SCRIPT.is_symlink()
    copy = Path(tool.__file__).with_name(tool.COPY_NAME)
    assert copy.read_bytes() == SCRIPT.read_bytes(), tool.__doc__
    assert tool.tool_source() == SCRIPT.read_bytes()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> Iterator[World]:
    w = build_world(tmp_path_factory.mktemp("tool"), tsa.url, tsa.ca_cert_pem, tsa.ca_pem_path)
    yield w
    w.led.close()


@pytest.mark.tsa
def test_the_bundle_carries_the_script_and_the_report_its_hash(world: World) -> None:
    data = world.export(world.a)
    m = members(data)
    script = tool.tool_source()  # == scripts/verify_bundle.py: the test above
    digest = hashlib.sha256(script).hexdigest()
    assert m[tool.TOOL_MEMBER] == script
    man = json.loads(m["manifest.json"])
    assert man["members"][tool.TOOL_MEMBER] == {"sha256": digest, "size": len(script)}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.getinfo(tool.TOOL_MEMBER).compress_type in (zipfile.ZIP_STORED,
                                                             zipfile.ZIP_DEFLATED)
    txt = m["report/report.txt"].decode()
    html = m["report/report.html"].decode()
    for text in (txt, html):
        assert digest in text and "scripts/verify_bundle.py" in text, text[-2000:]
        assert tool.TOOL_MEMBER in text
        assert "独立验证程序" in text and "Stand-alone verifier" in text
    pypdf = pytest.importorskip("pypdf")
    pdf = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(
        m["report/report.pdf"])).pages)
    assert digest in pdf.replace("\n", "") and "scripts/verify_bundle.py" in pdf
    # every reader accepts the member, and reports it
    report = verify_bundle(io.BytesIO(data), world.trust())
    assert report.verdict == "verified", [c for c in report.checks if not c.ok]


@pytest.mark.tsa
def test_the_copy_from_the_bundle_verifies_it(world: World, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(world.export(world.a))
    with zipfile.ZipFile(bundle) as z:
        (tmp_path / "verify_bundle.py").write_bytes(z.read(tool.TOOL_MEMBER))
    (tmp_path / "log.vkey").write_text(world.led.verifier_key + "\n")
    r = subprocess.run(
        [sys.executable, "-I", str(tmp_path / "verify_bundle.py"), str(bundle),
         "--log-key", world.led.verifier_key, "--witness-key",
         world.witness.verifier().to_string(), "--witness-quorum", "1",
         "--tsa-ca", str(world.ca_path), "--json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["ok"] is True
