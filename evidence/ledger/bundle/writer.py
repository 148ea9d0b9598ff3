"""Write an ``evidence-bundle/v2`` (or, asked, ``v1``) ZIP from its pieces (docs/bundle.md).

The writer knows nothing about the ledger: :class:`BundlePieces` is plain data
plus, for each original file, a function that opens it (the blob store's
stream). Files are copied into ``ZIP_STORED`` members (v2: ``files/<sha256>/<safe
name>``, the name derived by :func:`evidence.verify.bundle_names.safe_name` exactly as
the verifiers derive it; v1: ``files/<sha256>``) chunk by chunk and hashed
in the same pass, so memory stays flat for a multi-GB video, and a blob whose
bytes no longer match its name stops the export (the store is damaged: a bundle
that would fail verification is never produced). Small members are deflated.

The manifest is written last, from the digests computed while writing, and
lists every other member. Output is deterministic for given pieces (fixed
member order, timestamps from ``created_at``, fixed permissions), and goes to a
temporary file beside the target that is renamed into place only when complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, BinaryIO

from evidence.ledger.blobs import BlobDamaged
from evidence.ledger.bundle.index_page import render_index
from evidence.verify.bundle_ers import BUNDLE_MEMBER as ERS_MEMBER
from evidence.verify.bundle_names import FORMAT_V2, FORMATS, INDEX, file_member
from evidence.verify.bundle_reader import CHECKPOINT, MANIFEST, METADATA
from evidence.verify.hashing import hash_from_hex
from evidence.verify.tlog_proof import BUNDLE_MEMBER as TLOG_PROOF
from evidence.verify.tlog_proof import TlogProof

CHUNK = 1 << 20
TOOL_NAMES = frozenset({"tools/verify_bundle.py"})
_ZIP64_FROM = (1 << 31) - 1


class BundleWriteError(Exception):
    """The bundle cannot be written as asked (a blob is damaged, a piece is missing)."""


@dataclass(frozen=True)
class BundleFile:
    """One original file: what the submission entry says about it, and how to read it."""

    name: str
    media_type: str
    size: int
    sha256: str
    open: Callable[[], BinaryIO] = field(repr=False)


@dataclass(frozen=True)
class BundleTimestamp:
    tsa: str
    token: bytes
    chain_pem: bytes
    gen_time: str | None


@dataclass
class BundlePieces:
    """Everything a bundle holds. ``entries`` are the exact stored bytes by seq;
    ``proofs`` the inclusion proof JSON (docs/formats.md section 4) by leaf index,
    for every entry and for the leaf before each."""

    evidence_id: str
    created_at: str
    exporter: str
    log_origin: str
    log_verifier_key: str
    checkpoint_note: str
    checkpoint_size: int
    submission_seq: int
    entries: Mapping[int, bytes]
    proofs: Mapping[int, Mapping[str, Any]]
    timestamps: Sequence[BundleTimestamp] = ()
    metadata: Mapping[str, Any] | None = None
    salt: bytes | None = None
    files: Sequence[BundleFile] = ()
    report: Mapping[str, bytes] = field(default_factory=dict)
    """``report/<name>`` members, e.g. ``{"report.txt": b"..."}``."""
    tools: Mapping[str, bytes] = field(default_factory=dict)
    """Other members by full name, e.g. ``{"tools/verify_bundle.py": b"..."}``."""
    provisional: bool = False
    """Written as ``"provisional": true`` in the manifest (docs/verdict.md section 2)."""
    format: str = FORMAT_V2
    """``evidence-bundle/v2`` (files under their names, ``index.html``) or ``v1`` (for a
    court whose verifier predates v2)."""
    evidence_record: bytes | None = None
    """The item's RFC 4998 EvidenceRecord (DER), written as ``ers/item.ers`` in v2 only."""
    shard: Mapping[str, Any] | None = None
    """The manifest's ``"shard"`` (:func:`evidence.ledger.shards.shard_of`): which shard's
    log proves the item; None (no key) for a log never sharded. A hint, never trusted."""


@dataclass(frozen=True)
class WrittenBundle:
    path: Path | None
    size: int
    members: int
    manifest: dict[str, Any]


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode()


class _Zip:
    """A ZipFile that records the SHA-256 and size of every member it writes."""

    def __init__(self, fp: IO[bytes], when: datetime) -> None:
        self.zf = zipfile.ZipFile(fp, "w", allowZip64=True)
        self.when = (max(when.year, 1980), when.month, when.day, when.hour, when.minute,
                     when.second)
        self.members: dict[str, dict[str, Any]] = {}

    def _info(self, name: str, method: int) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, self.when)
        info.compress_type = method
        info.create_system = 3
        info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
        return info

    def small(self, name: str, data: bytes) -> None:
        self.zf.writestr(self._info(name, zipfile.ZIP_DEFLATED), data)
        self.members[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}

    def stream(self, name: str, src: BinaryIO, size: int) -> str:
        info = self._info(name, zipfile.ZIP_STORED)
        info.file_size = size
        h, n = hashlib.sha256(), 0
        with self.zf.open(info, "w", force_zip64=size >= _ZIP64_FROM) as dst:
            while chunk := src.read(CHUNK):
                h.update(chunk)
                n += len(chunk)
                if n > size:
                    break
                dst.write(chunk)
        if n != size:
            raise BlobDamaged(f"{name}: the stored blob has {'more' if n > size else n} "
                              f"bytes, the entry says {size}: the blob store is damaged")
        digest = h.hexdigest()
        self.members[name] = {"sha256": digest, "size": n}
        return digest


def write_bundle(pieces: BundlePieces, out: str | os.PathLike[str] | IO[bytes], *,
                 overwrite: bool = False) -> WrittenBundle:
    """Write the bundle to ``out`` (a path: atomically, refusing an existing file
    unless ``overwrite``; or a writable, seekable binary stream)."""
    if isinstance(out, str | os.PathLike):
        target = Path(out)
        if target.exists() and not overwrite:
            raise BundleWriteError(f"{target} exists; refusing to overwrite it")
        tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
        try:
            with open(tmp, "xb") as fp:
                manifest = _write(pieces, fp)
                fp.flush()
                os.fsync(fp.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return WrittenBundle(target, target.stat().st_size, len(manifest["members"]) + 1,
                             manifest)
    manifest = _write(pieces, out)
    return WrittenBundle(None, out.tell(), len(manifest["members"]) + 1, manifest)


def _write(p: BundlePieces, fp: IO[bytes]) -> dict[str, Any]:
    missing = [s for s in p.entries for i in (s, s - 1) if i >= 0 and i not in p.proofs]
    if p.provisional and p.timestamps:
        raise BundleWriteError("a provisional bundle carries no timestamp (docs/verdict.md)")
    if p.format not in FORMATS:
        raise BundleWriteError(f"unknown bundle format {p.format!r}")
    if p.submission_seq not in p.entries or missing:
        raise BundleWriteError(f"pieces incomplete: submission {p.submission_seq}, proofs "
                               f"missing for entries {sorted(set(missing))[:5]}")
    z = _Zip(fp, datetime.fromisoformat(p.created_at.replace("Z", "+00:00")))
    try:
        manifest = _write_members(p, z)
    except BaseException:
        with contextlib.suppress(Exception):
            z.zf.close()  # the output is discarded; just release the ZipFile
        raise
    z.zf.close()
    return manifest


def _tlog_proof(p: BundlePieces) -> bytes:
    """The submission's C2SP tlog-proof to the bundle's checkpoint (docs/bundle.md), its
    entry in the ``extra`` line: the same proof as ``proofs/<seq>.json``, in the format
    other tools read."""
    hashes = tuple(hash_from_hex(h, "proof hash") for h in p.proofs[p.submission_seq]["proof"])
    return TlogProof(p.submission_seq, hashes, p.checkpoint_note,
                     bytes(p.entries[p.submission_seq])).to_text().encode()


def _write_members(p: BundlePieces, z: _Zip) -> dict[str, Any]:
    for seq in sorted(p.entries):
        z.small(f"entries/{seq}.entry", p.entries[seq])
    for index in sorted(p.proofs):
        z.small(f"proofs/{index}.json", _json_bytes(dict(p.proofs[index])))
    if p.format == FORMAT_V2:  # a v1 bundle is for an older verifier, which knows no such name
        z.small(TLOG_PROOF, _tlog_proof(p))
        if p.evidence_record is not None:  # checked by all three verifiers (docs/verdict.md)
            z.small(ERS_MEMBER, p.evidence_record)
    z.small(CHECKPOINT, p.checkpoint_note.encode())
    stamps = []
    for i, t in enumerate(p.timestamps):
        z.small(f"timestamps/{i}.tst", t.token)
        z.small(f"timestamps/{i}.chain.pem", t.chain_pem)
        stamps.append({"tsa": t.tsa, "token": f"timestamps/{i}.tst",
                       "chain": f"timestamps/{i}.chain.pem", "gen_time": t.gen_time})
    if p.metadata is not None and p.salt is not None:
        z.small(METADATA, _json_bytes({"metadata": dict(p.metadata), "salt": p.salt.hex()}))
    listed = []
    paths: dict[str, str] = {}  # one member per content, named after the first file
    for f in p.files:
        path = paths.setdefault(f.sha256, file_member(p.format, f.sha256, f.name))
        listed.append({"path": path, "name": f.name, "media_type": f.media_type,
                       "size": f.size, "sha256": f.sha256})
        if path in z.members:  # two names, one content: one member
            continue
        with f.open() as src:
            got = z.stream(path, src, f.size)
        if got != f.sha256:
            # BlobDamaged, not a write error: callers answer it as fixity (alert, custody
            # entry, 503 evidence-damaged), and the partial bundle is discarded
            raise BlobDamaged(f"the stored blob for {f.name!r} ({f.sha256}) hashes to {got}: "
                              "the blob store is damaged")
    if p.format == FORMAT_V2 and listed:
        z.small(INDEX, render_index(p.evidence_id, [
            (f["name"], f["media_type"], f["size"], f["sha256"], f["path"]) for f in listed]))
    for name in sorted(p.report):
        z.small(f"report/{name}", p.report[name])
    for name in sorted(p.tools):
        if name not in TOOL_NAMES:  # readers refuse any other name
            raise BundleWriteError(f"{name!r} is not a member name a bundle may carry")
        z.small(name, p.tools[name])
    manifest = {
        "format": p.format,
        "evidence_id": p.evidence_id,
        "created_at": p.created_at,
        "exporter": p.exporter,
        "log": {"origin": p.log_origin, "verifier_key": p.log_verifier_key},
        "checkpoint_size": p.checkpoint_size,
        "submission_seq": p.submission_seq,
        "custody_seqs": sorted(s for s in p.entries if s != p.submission_seq),
        "files": listed,
        "timestamps": stamps,
        "members": dict(sorted(z.members.items())),
    }
    if p.provisional:
        manifest["provisional"] = True
    if p.shard is not None:
        manifest["shard"] = dict(p.shard)
    z.small(MANIFEST, _json_bytes(manifest))
    return manifest
