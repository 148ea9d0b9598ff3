"""A clerk unzips a bundle and double-clicks a file (issue 19, point 5; docs/bundle.md "File
names (v2)"): what the unzip tools a clerk has actually write to disk.

The bundles are real exports of a real ledger (tests/support/bundle_world.py), among them an
item whose submitted names a clerk's system would refuse (backslashes, ``CON.txt``, a
right-to-left override, leading and trailing dots and spaces, two ``same.txt``, a 180-byte
Chinese name). Each is unpacked by Python's ``zipfile``, by Info-ZIP ``unzip`` (Debian's
unzip, what a Linux clerk runs) and by ``bsdtar`` (libarchive: the ``tar.exe`` of Windows
10 and later, and macOS's ``tar``); every file must land at ``files/<sha256>/<safe name>``
inside the target folder, with its extension, byte for byte, and nothing anywhere else.
.ci/run installs both tools.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from hashlib import sha256
from pathlib import Path

import pytest

from evidence.verify.bundle_names import safe_name
from tests.support.bundle_world import ODD_NAMES, World, build_world, manifest
from tests.support.tsa import LocalTSA

pytestmark = pytest.mark.tsa


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> Iterator[World]:
    w = build_world(tmp_path_factory.mktemp("unzip"), tsa.url, tsa.ca_cert_pem,
                    tsa.ca_pem_path, odd_names=True)
    yield w
    w.led.close()


def _unpack(tool: str, bundle: Path, into: Path) -> None:
    into.mkdir()
    if tool == "zipfile":
        with zipfile.ZipFile(bundle) as z:
            z.extractall(into)
        return
    exe = shutil.which(tool)
    if exe is None:
        pytest.skip(f"{tool} is not installed (.ci/run installs it)")
    argv = [exe, "-q", str(bundle), "-d", str(into)] if tool == "unzip" else \
        [exe, "-x", "-f", str(bundle), "-C", str(into)]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "LC_ALL": "C.UTF-8"})
    assert p.returncode == 0, p.stdout + p.stderr


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("tool", ["zipfile", "unzip", "bsdtar"])
def test_each_file_lands_under_its_safe_name(tool: str, world: World, tmp_path: Path) -> None:
    assert world.odd is not None and world.odd_files is not None
    for item, files in ((world.a, [(p.name, p.read_bytes()) for p in world.files_a]),
                        (world.odd, world.odd_files)):
        bundle = tmp_path / f"{item}.zip"
        bundle.write_bytes(world.export(item))
        parent = tmp_path / f"{item}-{tool}"
        parent.mkdir()
        out = parent / "bundle"
        _unpack(tool, bundle, out)
        tree = _tree(out)
        # nothing beside the target folder, and exactly the members the manifest lists
        assert list(parent.iterdir()) == [out]
        assert set(tree) == set(manifest(bundle.read_bytes())["members"]) | {"manifest.json"}
        first: dict[str, str] = {}
        for name, data in files:
            digest = sha256(data).hexdigest()
            first.setdefault(digest, name)  # one member per content, under its first name
            path = f"files/{digest}/{safe_name(first[digest])}"
            assert tree[path] == data, (name, path)
        assert "index.html" in tree


def test_the_odd_names_as_a_clerk_sees_them(world: World) -> None:
    """The names the odd item's files get: with their extension, no folder separator, no
    device name, no bidi override, nothing that runs on a double-click."""
    got = [safe_name(n) for n, _ in ODD_NAMES]
    assert got == ["_.._evil.exe_", "_CON.txt", "photo_gnp.exe_", "hidden", "same.txt",
                   "same.txt", "copy of CON.txt", "证据截图" * 9 + "证据.png"]
    assert len(got[-1].encode()) <= 120
