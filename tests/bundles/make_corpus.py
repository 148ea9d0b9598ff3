"""Make the corpus of hostile bundle archives kept in ``tests/bundles/`` (one ZIP each).

    python -m tests.bundles.make_corpus      # rewrites tests/bundles/*.zip

These are the archive-level attacks: every one must be refused by the reader's
structure checks (the ``archive`` check) before anything is parsed, whatever keys
are pinned. They need no ledger and no TSA, so they are small files kept in the
repository (reviewable, and usable by other implementations of the verifier, such
as ``scripts/verify_bundle.py``). Attacks on what a bundle *claims* (a proof from
another item, a token over other data, a key not pinned, ...) need a real ledger
and a real TSA whose keys exist only during a test run, so ``tests/ledger/bundle/test_bundle.py``
builds them at test time from a freshly exported bundle.

Deterministic: fixed names, contents and timestamps. Deflate output depends on the
zlib build, so the test compares those cases by their central directory only.
"""

from __future__ import annotations

import io
import stat
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

WHEN = (2026, 11, 21, 8, 0, 0)
MANIFEST = b'{"format": "evidence-bundle/v1", "members": {}}'
HEX = "ab" * 32


def _zip(members: list[tuple[str, bytes, int]], tweak: Callable[[zipfile.ZipInfo], None]
         | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data, method in members:
            info = zipfile.ZipInfo(name, WHEN)
            info.compress_type = method
            info.create_system = 3
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            if tweak:
                tweak(info)
            z.writestr(info, data)
    return buf.getvalue()


def _with_manifest(*extra: tuple[str, bytes, int]) -> bytes:
    return _zip([("manifest.json", MANIFEST, zipfile.ZIP_STORED), *extra])


def zip_slip() -> bytes:
    return _with_manifest(("../x", b"escaped", zipfile.ZIP_STORED))


def absolute_path() -> bytes:
    return _with_manifest(("/etc/cron.d/x", b"* * * * * root sh", zipfile.ZIP_STORED))


def backslash_path() -> bytes:
    return _with_manifest(("..\\..\\x", b"escaped on Windows", zipfile.ZIP_STORED))


def unknown_name() -> bytes:
    return _with_manifest(("files/run.sh", b"#!/bin/sh\n", zipfile.ZIP_STORED))


def symlink() -> bytes:
    def link(info: zipfile.ZipInfo) -> None:
        if info.filename == "report/report.txt":
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return _zip([("manifest.json", MANIFEST, zipfile.ZIP_STORED),
                 ("report/report.txt", b"/etc/passwd", zipfile.ZIP_STORED)], link)


def duplicate() -> bytes:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate: that is the point
        return _zip([("manifest.json", MANIFEST, zipfile.ZIP_STORED),
                     ("manifest.json", b'{"format": "evidence-bundle/v1"}',
                      zipfile.ZIP_STORED)])


def ratio_bomb() -> bytes:
    """One member of 20 MiB of zeros deflated to ~20 KiB (ratio ~1000:1)."""
    return _with_manifest(("proofs/0.json", bytes(20 << 20), zipfile.ZIP_DEFLATED))


def total_bomb() -> bytes:
    """40 members of exactly 1 MiB each (under the per-member rule), 40 MiB in all from
    ~40 KiB: refused by the whole-archive ratio."""
    return _with_manifest(*[(f"proofs/{i}.json", bytes(1 << 20), zipfile.ZIP_DEFLATED)
                            for i in range(40)])


def overlap() -> bytes:
    """Two central-directory records pointing at the same local member: the trick of
    "better zip bombs" (one compressed kernel, many members)."""
    data = bytearray(_with_manifest(("entries/0.entry", b"A" * 100, zipfile.ZIP_STORED),
                                    ("entries/1.entry", b"A" * 100, zipfile.ZIP_STORED)))
    cds = [i for i in range(len(data)) if data[i:i + 4] == b"PK\x01\x02"]
    first = struct.unpack_from("<I", data, cds[1] + 42)[0]
    struct.pack_into("<I", data, cds[2] + 42, first)  # entries/1 -> entries/0's bytes
    return bytes(data)


def directory() -> bytes:
    return _with_manifest(("files/", b"", zipfile.ZIP_STORED))


def encrypted_flag() -> bytes:
    data = bytearray(_with_manifest(("report/report.txt", b"secret", zipfile.ZIP_STORED)))
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        for i in [i for i in range(len(data)) if data[i:i + 4] == sig]:
            struct.pack_into("<H", data, i + off, struct.unpack_from("<H", data, i + off)[0] | 1)
    return bytes(data)


def bzip2_file() -> bytes:
    return _with_manifest((f"files/{HEX}", b"evidence file" * 10, zipfile.ZIP_BZIP2))


def truncated() -> bytes:
    whole = _with_manifest(("report/report.txt", b"x" * 1000, zipfile.ZIP_STORED))
    return whole[: len(whole) // 2]


def not_a_zip() -> bytes:
    return b"%PDF-1.7\n% this is not a bundle\n" + bytes(200)


def empty() -> bytes:
    return b""


CASES: dict[str, Callable[[], bytes]] = {f.__name__: f for f in (
    zip_slip, absolute_path, backslash_path, unknown_name, symlink, duplicate, ratio_bomb,
    total_bomb, overlap, directory, encrypted_flag, bzip2_file, truncated, not_a_zip, empty)}
DEFLATED = {"ratio_bomb", "total_bomb"}


def make(name: str) -> bytes:
    return CASES[name]()


def main() -> None:
    here = Path(__file__).parent
    for name in CASES:
        (here / f"{name}.zip").write_bytes(make(name))
        print(f"{name}.zip")


if __name__ == "__main__":
    main()
