"""Spool folders and blob temporary files are named by ledger/names.py: a per-process
random prefix and a counter (no random bytes from the kernel per submission). Names never
repeat, not in a forked worker either; a name in use is skipped; and a lone in-memory part
is written into its upload's folder (two parts of one name still get a folder each)."""

from __future__ import annotations

import io
import os
from pathlib import Path

from evidence.api.uploads import FilePart, Upload
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.names import unique_name

PREFIX_LEN = 12  # six random bytes in hex, then the counter in hex


def test_names_are_unique_and_a_forked_child_has_its_own() -> None:
    names = {unique_name() for _ in range(1000)}
    assert len(names) == 1000
    parent_prefix = next(iter(names))[:PREFIX_LEN]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next name
        os.write(w, unique_name().encode())
        os._exit(0)
    os.close(w)
    child_name = os.read(r, 200).decode()
    os.close(r)
    os.waitpid(pid, 0)
    assert child_name not in names and child_name[:PREFIX_LEN] != parent_prefix


def test_a_lone_part_sits_in_the_folder_and_cleanup_leaves_nothing(tmp_path: Path) -> None:
    up = Upload(None, spool_root=tmp_path)
    up.parts.append(FilePart("notice.txt", bytearray(b"evidence")))
    [path] = up.materialize()
    assert path.parent == up.folder and path.read_bytes() == b"evidence"
    up.cleanup()
    assert list(tmp_path.iterdir()) == []

    two = Upload(None, spool_root=tmp_path)
    two.parts += [FilePart("same.txt", bytearray(b"one")),
                  FilePart("same.txt", bytearray(b"two"))]
    a, b = two.materialize()
    assert a.name == b.name and a != b and a.read_bytes() == b"one"
    assert a.parent.parent == two.folder == b.parent.parent
    two.cleanup()
    assert list(tmp_path.iterdir()) == []


def test_a_temporary_name_in_use_is_skipped(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs")
    # take the next name the counter would give
    last = unique_name()
    following = f"{last[:PREFIX_LEN]}{int(last[PREFIX_LEN:], 16) + 1:x}"
    taken = tmp_path / "blobs" / ".tmp" / f"put-{following}.part"
    taken.write_bytes(b"someone else's")
    ref = store.put(io.BytesIO(b"content"))
    assert store.open(ref.sha256).read() == b"content"
    assert taken.read_bytes() == b"someone else's"
