"""A preserved web capture replays in pywb (Webrecorder's wayback), a tool that shares no
code with the capture: the WACZ the ledger holds is added to a pywb collection
(``wb-manager add --unpack-wacz``, which indexes the WARC with pywb's own indexer) and
served by ``wayback`` as a real process on loopback. In identity mode (``id_``) the
replayed bodies of the page and of its image must be exactly the bytes the local site
served, and a recorded redirect must replay as the same redirect.

pywb is no dependency of this package (it pins old libraries of its own): it is
installed into its own virtual environment, cached under
``test-artifacts/pywb-<version>-py<major.minor>/`` so reruns skip the install. When pip
cannot reach the package index the test is skipped with pip's reason.
"""

from __future__ import annotations

import fcntl
import http.client
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from evidence.ledger.capture import Options, capture, preserve
from evidence.ledger.evidence_store import load_item
from evidence.ledger.intake import Intake
from evidence.verify.note import generate_signer
from tests.support.capture_sites import serve

CHROMIUM = os.environ.get("EVIDENCE_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
PYWB = "2.10.0"  # installs and replays on Python 3.11 (pywb 2.10 reads WACZ 1.1 itself)
VENV = ROOT / "test-artifacts" / f"pywb-{PYWB}-py{sys.version_info[0]}.{sys.version_info[1]}"

pytestmark = pytest.mark.slow

if not Path(CHROMIUM).exists():
    pytest.skip(f"chromium not found at {CHROMIUM}", allow_module_level=True)
pytest.importorskip("playwright")
pytest.importorskip("wacz")

NODE = generate_signer("capture.test/replay-node")


def _pywb_venv() -> Path:
    """The cached pywb environment, built once under a lock (parallel sessions share it);
    it counts as built only once pip succeeded and the marker file is written."""
    done = VENV / ".installed"
    if done.exists():
        return VENV
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.parent / f".{VENV.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return VENV
        shutil.rmtree(VENV, ignore_errors=True)  # a build that was interrupted
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=300)
        pip = subprocess.run([str(VENV / "bin" / "pip"), "install",
                              "--disable-pip-version-check", "-q", f"pywb=={PYWB}"],
                             capture_output=True, text=True, timeout=900)
        if pip.returncode != 0:
            shutil.rmtree(VENV, ignore_errors=True)
            why = (pip.stderr.strip().splitlines() or ["no output"])[-1][:300]
            pytest.skip(f"pip could not install pywb=={PYWB} (no package index?): {why}")
        done.write_text(f"pywb=={PYWB}\n")
    return VENV


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


@pytest.fixture
def wayback(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(pywb root folder, pywb bin folder); the collection ``c`` exists, empty."""
    venv = _pywb_venv()
    root = tmp_path / "pywb"
    root.mkdir()
    init = subprocess.run([str(venv / "bin" / "wb-manager"), "init", "c"], cwd=root,
                          capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stderr
    yield root, venv / "bin"


def _start_wayback(root: Path, bin_dir: Path) -> tuple[subprocess.Popen[str], int]:
    port = _free_port()
    proc = subprocess.Popen([str(bin_dir / "wayback"), "-b", "127.0.0.1", "-p", str(port),
                             "-d", str(root)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while True:
        try:
            if _get(port, "/c/")[0] == 200:
                return proc, port
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            raise AssertionError("wayback did not start: "
                                 + (proc.stdout.read() if proc.stdout else "")[-2000:])
        time.sleep(0.3)


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_preserved_wacz_replays_in_pywb_byte_for_byte(tmp_path: Path, intake: Intake,
                                                       wayback: tuple[Path, Path]) -> None:
    root, bin_dir = wayback
    with serve() as site:
        cap = capture(site.base + "/r1", NODE, Options(allow_private=True, chromium=CHROMIUM,
                                                       settle_timeout=3.0),
                      folder=tmp_path / "cap")
        served = {path: (status, body) for path, status, body in site.served}
        # the WACZ as the ledger holds it, not the capture's working copy
        sub = preserve(intake, cap, case="C-1", principal="acme")
        with intake.ledger.engine.connect() as c:
            item = load_item(c, sub.evidence_id)
        wacz = next(f for f in item.files if f.name == "capture.wacz")
        (tmp_path / "capture.wacz").write_bytes(intake.store.open(wacz.sha256).read())

        add = subprocess.run([str(bin_dir / "wb-manager"), "add", "--unpack-wacz", "c",
                              str(tmp_path / "capture.wacz")], cwd=root, capture_output=True,
                             text=True, timeout=300)
        assert add.returncode == 0, add.stderr
        index = "".join(p.read_text() for p in (root / "collections" / "c" / "indexes")
                        .glob("*.cdxj"))
        assert f'"url": "{site.base}/img/a.png"' in index  # pywb indexed the WARC itself

        proc, port = _start_wayback(root, bin_dir)
        try:
            # the page (served gzip-encoded; the WARC holds the decoded bytes) and its image
            for path, media in (("/", "text/html"), ("/img/a.png", "image/png")):
                assert served[path][0] == 200
                status, headers, body = _get(port, f"/c/id_/{site.base}{path}")
                assert status == 200 and headers["content-type"].startswith(media)
                assert body == served[path][1], path
                assert headers["link"].startswith(f'<{site.base}{path}>; rel="original"')
            # the recorded redirects replay as they were served
            status, headers, _ = _get(port, f"/c/id_/{site.base}/r1")
            assert (status, headers["location"]) == (302, "/r2")
            status, headers, _ = _get(port, f"/c/id_/{site.base}/r2")
            assert (status, headers["location"]) == (301, "/")
            # the rewritten replay a person opens shows the page's text
            status, _, page = _get(port, f"/c/mp_/{site.base}/")
            assert status == 200 and b"Counterfeit bags" in page
            # replay serves the recording only: a page not captured is missing, and the
            # live site (still up) is not asked for it
            site.served.clear()
            assert _get(port, f"/c/id_/{site.base}/lazy")[0] == 404
            assert site.served == []
        finally:
            _stop(proc)
