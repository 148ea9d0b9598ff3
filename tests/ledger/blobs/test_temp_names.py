"""Spool folders and blob temporary files are named by a per-process random prefix and a
counter (no random bytes from the kernel per submission): names never repeat, not in a
forked worker either, a name in use is skipped, and a lone in-memory part is written
into its upload's folder (two parts of one name still get a folder each)."""

from __future__ import annotations

import io
import os
from pathlib import Path

from evidence.api import uploads
from evidence.api.uploads import Upload, _FilePart
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.blobs import filesystem as fs


def test_names_are_unique_and_a_forked_child_has_its_own() -> None:
    names = {uploads._unique() for _ in range(1000)}
    assert len(names) == 1000
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next name and its temp prefix
        os.write(w, f"{uploads._unique()} {fs._TEMP_PREFIX}".encode())
        os._exit(0)
    os.close(w)
    child_name, child_prefix = os.read(r, 200).decode().split()
    os.close(r)
    os.waitpid(pid, 0)
    assert child_name not in names and child_name[:12] != uploads._PREFIX
    assert child_prefix != fs._TEMP_PREFIX


def test_a_lone_part_sits_in_the_folder_and_cleanup_leaves_nothing(tmp_path: Path) -> None:
    up = Upload(None, spool_root=tmp_path)
    up.parts.append(_FilePart("notice.txt", bytearray(b"evidence")))
    [path] = up.materialize()
    assert path.parent == up.folder and path.read_bytes() == b"evidence"
    up.cleanup()
    assert list(tmp_path.iterdir()) == []

    two = Upload(None, spool_root=tmp_path)
    two.parts += [_FilePart("same.txt", bytearray(b"one")),
                  _FilePart("same.txt", bytearray(b"two"))]
    a, b = two.materialize()
    assert a.name == b.name and a != b and a.read_bytes() == b"one"
    assert a.parent.parent == two.folder == b.parent.parent
    two.cleanup()
    assert list(tmp_path.iterdir()) == []


def test_a_temporary_name_in_use_is_skipped(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs")
    # take the next name the counter would give
    n = next(fs._TEMP_COUNTER)
    taken = tmp_path / "blobs" / ".tmp" / f"put-{fs._TEMP_PREFIX}{n + 1:x}.part"
    taken.write_bytes(b"someone else's")
    ref = store.put(io.BytesIO(b"content"))
    assert store.open(ref.sha256).read() == b"content"
    assert taken.read_bytes() == b"someone else's"
