"""Small evidence bundles built from evidence.verify primitives, good and deliberately bad.

The verdict vectors in ``verify_page.json`` name these by ``generated:<variant>``; the
Python verifier (``evidence.verify.bundle``) and the browser page both verify each one, so
the two cannot drift. Keys come from fixed seeds: a vector file can pin them, and every run
builds byte-identical entries and checkpoints (ZIP timestamps are fixed too).

A tiny log of 9 entries holds two other items and ``ev_main``; a bundle carries the entries
about ``ev_main`` plus inclusion proofs for them and for the leaf before each (the chain
links), exactly as ``docs/bundle.md`` lays out.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from evidence.verify import merkle
from evidence.verify.checkpoint import Checkpoint, cosign_checkpoint, sign_checkpoint
from evidence.verify.commitment import metadata_commitment
from evidence.verify.entry import encode_entry
from evidence.verify.hashing import ZERO_HASH_HEX, leaf_hash
from evidence.verify.note import ALG_COSIGNATURE_V1, ALG_ED25519, Signer, add_signature_lines
from evidence.verify.submission import sign_submission

LOG_NAME = "evidence.test/verify-page"
OTHER_LOG_NAME = "evidence.other/log"
WITNESS_NAME = "witness.test/court-a"
EVIDENCE_ID = "ev_main"
COSIGNED_AT = 1795766400  # 2026-11-28T00:00:00Z
ZIP_TIME = (2026, 11, 28, 8, 0, 0)

FILES = {
    "shop.png": ("image/png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8),
    "聊天记录.txt": ("text/plain", "2026-11-20 卖家：正品 genuine, 100% original\n".encode()),
}
METADATA = {"title": "网店截图 shop listing", "gps": [31.2304, 121.4737], "pages": 2,
            "captured_by": "acme-ip", "ratio": 1e-7, "big": 1e21}
SALT = bytes(range(32))


def signer(name: str, alg: int, seed_label: str) -> Signer:
    seed = hashlib.sha256(f"verify-page test key: {seed_label}".encode()).digest()
    return Signer(name, alg, Ed25519PrivateKey.from_private_bytes(seed))


LOG = signer(LOG_NAME, ALG_ED25519, "log")
IMPOSTOR = signer(LOG_NAME, ALG_ED25519, "impostor")  # same name, another key
OTHER_LOG = signer(OTHER_LOG_NAME, ALG_ED25519, "other log")
WITNESS = signer(WITNESS_NAME, ALG_COSIGNATURE_V1, "witness")
SUBMITTER = signer("acme-ip.example/submitter", ALG_ED25519, "submitter")


def trust_keys() -> dict[str, Any]:
    """What a court pins for these bundles (the vector file repeats it)."""
    return {"log_key": LOG.verifier().to_string(),
            "witness_keys": [WITNESS.verifier().to_string()]}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Built:
    """One bundle as named members (before zipping) and what went into it."""

    members: dict[str, bytes]
    manifest: dict[str, Any]
    checkpoint_text: str
    files: dict[str, bytes] = field(default_factory=dict)

    def refresh_manifest(self) -> None:
        self.manifest["members"] = {n: {"sha256": _sha(d), "size": len(d)}
                                    for n, d in sorted(self.members.items())}

    def zip_bytes(self, *, manifest: bytes | None = None) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            body = manifest if manifest is not None else json.dumps(
                self.manifest, ensure_ascii=False, indent=1, sort_keys=True).encode()
            _add(z, "manifest.json", body, zipfile.ZIP_DEFLATED)
            for name, data in self.members.items():
                method = zipfile.ZIP_STORED if name.startswith("files/") else zipfile.ZIP_DEFLATED
                _add(z, name, data, method)
        return buf.getvalue()


def _add(z: zipfile.ZipFile, name: str, data: bytes, method: int) -> None:
    info = zipfile.ZipInfo(name, ZIP_TIME)
    info.compress_type = method
    info.external_attr = 0o644 << 16
    z.writestr(info, data)


def build(*, purged: bool = False, submitter_signed: str = "", log: Signer = LOG,
          cosign: bool = True, stranger: bool = False,
          timestamp: Callable[[bytes], bytes] | None = None) -> Built:
    """A good bundle (or the raw material for a bad one)."""
    files = [{"media_type": mt, "name": name, "sha256": _sha(data), "size": len(data)}
             for name, (mt, data) in FILES.items()]
    commitment = metadata_commitment(SALT, METADATA).hex()
    main_body: dict[str, Any] = {"evidence_id": EVIDENCE_ID, "files": files,
                                 "metadata_commitment": commitment, "principal": "acme-ip"}
    if submitter_signed:
        # "bad": the submitter signed another file list (the log records what it is given)
        signed = files if submitter_signed == "good" else files[:1]
        main_body["submitter"] = sign_submission(EVIDENCE_ID, commitment, signed, SUBMITTER)
    other_file = {"media_type": "text/plain", "name": "x.txt", "sha256": _sha(b"x"), "size": 1}
    plan: list[tuple[str, dict[str, Any]]] = [
        ("evidence.submitted", {"evidence_id": "ev_other1", "files": [other_file],
                                "metadata_commitment": "ab" * 32, "principal": "beta"}),
        ("custody.note", {"evidence_id": "ev_other1", "text": "note"}),
        ("evidence.submitted", main_body),
        ("evidence.accessed", {"action": "download", "evidence_id": "ev_other1",
                               "principal": "beta"}),
        ("evidence.accessed", {"action": "download", "evidence_id": EVIDENCE_ID,
                               "principal": "court-a"}),
        ("evidence.shared", {"evidence_id": EVIDENCE_ID, "grantee": "foreign-court-b",
                             "principal": "acme-ip"}),
        ("custody.note", {"evidence_id": EVIDENCE_ID, "text": "交给法院 handed to the court"}),
        ("evidence.purged", {"evidence_id": EVIDENCE_ID, "principal": "operator",
                             "reason": "court order 2026-77"}) if purged else
        ("custody.note", {"evidence_id": "ev_other1", "text": "later"}),
        ("evidence.submitted", {"evidence_id": "ev_other2", "files": [other_file],
                                "metadata_commitment": "cd" * 32, "principal": "gamma"}),
    ]
    entries: list[bytes] = []
    prev = ZERO_HASH_HEX
    for seq, (typ, body) in enumerate(plan):
        data = encode_entry(seq, f"2026-11-21T08:00:{seq:02d}.{seq * 1000:06d}Z", prev, typ, body)
        entries.append(data)
        prev = leaf_hash(data).hex()
    leaves = [leaf_hash(e) for e in entries]
    size = len(entries)
    root = merkle.root(leaves)
    text = Checkpoint(log.name, size, root).to_text()
    note = sign_checkpoint(Checkpoint(log.name, size, root), log)
    if cosign:
        note = add_signature_lines(note, [cosign_checkpoint(text, WITNESS,
                                                            cosigned_at=COSIGNED_AT)])
    mine = [seq for seq, (_, body) in enumerate(plan) if body.get("evidence_id") == EVIDENCE_ID]
    if stranger:
        mine.append(3)  # an entry about another item, smuggled in as "custody"
    proof_for = sorted({s for s in mine} | {s - 1 for s in mine if s > 0})

    members: dict[str, bytes] = {}
    for seq in sorted(mine):
        members[f"entries/{seq}.entry"] = entries[seq]
    for seq in proof_for:
        proof = merkle.inclusion_proof_from_leaves(seq, leaves)
        members[f"proofs/{seq}.json"] = json.dumps(
            {"index": seq, "tree_size": size, "leaf_hash": leaves[seq].hex(),
             "proof": [h.hex() for h in proof], "root": root.hex()}).encode()
    members["checkpoint/checkpoint.note"] = note.encode()
    stamps = []
    if timestamp is not None:
        members["timestamps/0.tst"] = timestamp(text.encode())
        stamps.append({"tsa": "local-test-tsa", "token": "timestamps/0.tst",
                       "gen_time": "2026-11-21T08:00:05Z"})
    file_bytes: dict[str, bytes] = {}
    if not purged:
        members["metadata/metadata.json"] = json.dumps(
            {"metadata": METADATA, "salt": SALT.hex()}, ensure_ascii=False).encode()
        for f in files:
            data = FILES[f["name"]][1]
            members[f"files/{f['sha256']}"] = data
            file_bytes[f["name"]] = data
    members["report/report.txt"] = "Verification report / 验证报告\n".encode()
    manifest: dict[str, Any] = {
        "format": "evidence-bundle/v1", "evidence_id": EVIDENCE_ID,
        "created_at": "2026-11-28T08:00:00.000000Z", "exporter": "tests/vectors_shared",
        "log": {"origin": log.name, "verifier_key": log.verifier().to_string()},
        "checkpoint_size": size, "submission_seq": 2,
        "custody_seqs": [s for s in sorted(mine) if s != 2],
        "files": [{"path": f"files/{f['sha256']}", **f} for f in files],
        "timestamps": stamps,
    }
    built = Built(members, manifest, text, file_bytes)
    built.refresh_manifest()
    return built


# --- variants: each returns the ZIP bytes ---------------------------------------------


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def _good(**kw: Any) -> bytes:
    return build(**kw).zip_bytes()


def _tampered_file() -> bytes:
    b = build()
    name = next(n for n in b.members if n.startswith("files/"))
    b.members[name] = _flip(b.members[name], 20)
    b.refresh_manifest()  # the forger updates the manifest too: the ledger still catches it
    return b.zip_bytes()


def _tampered_member() -> bytes:
    b = build()
    name = next(n for n in b.members if n.startswith("files/"))
    manifest = json.dumps(b.manifest).encode()
    b.members[name] = _flip(b.members[name], 20)
    return b.zip_bytes(manifest=manifest)


def _tampered_entry() -> bytes:
    b = build()
    e = b.members["entries/6.entry"]
    b.members["entries/6.entry"] = e.replace(b"court", b"COURT")
    b.refresh_manifest()
    return b.zip_bytes()


def _tampered_metadata() -> bytes:
    b = build()
    opened = json.loads(b.members["metadata/metadata.json"])
    opened["metadata"]["title"] = "something else"
    b.members["metadata/metadata.json"] = json.dumps(opened).encode()
    b.refresh_manifest()
    return b.zip_bytes()


def _broken_proof() -> bytes:
    b = build()
    p = json.loads(b.members["proofs/4.json"])
    p["proof"][0] = ("0" if p["proof"][0][0] != "0" else "1") + p["proof"][0][1:]
    b.members["proofs/4.json"] = json.dumps(p).encode()
    b.refresh_manifest()
    return b.zip_bytes()


def _broken_chain() -> bytes:
    b = build()
    del b.members["proofs/3.json"]  # entry 4's prev link is no longer proven
    b.refresh_manifest()
    return b.zip_bytes()


def _stranger() -> bytes:
    return build(stranger=True).zip_bytes()


def _wrong_format() -> bytes:
    b = build()
    b.manifest["format"] = "evidence-bundle/v9"  # v2 exists now: a format no verifier knows
    return b.zip_bytes()


def _with_extra_member(name: str, data: bytes, method: int = zipfile.ZIP_STORED) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(_good()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for info in src.infolist():
            _add(z, info.filename, src.read(info), info.compress_type)
        info = zipfile.ZipInfo(name, ZIP_TIME)
        info.compress_type = method
        z.writestr(info, data)
    return buf.getvalue()


def _symlink() -> bytes:
    src = zipfile.ZipFile(io.BytesIO(_good()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "report/report.txt":
                info = zipfile.ZipInfo(info.filename, ZIP_TIME)
                info.external_attr = (0o120777 << 16)
                data = b"/etc/passwd"
            z.writestr(info, data)
    return buf.getvalue()


def _huge_declared() -> bytes:
    """A file member whose central directory claims 100 GiB (ZIP64 extra), over the limit."""
    data = bytearray(_good())
    name = next(i.filename for i in zipfile.ZipFile(io.BytesIO(bytes(data))).infolist()
                if i.filename.startswith("files/")).encode()
    pos = data.find(b"PK\x01\x02")  # the first central directory record
    while True:
        pos = data.find(b"PK\x01\x02", pos)
        (n,) = struct.unpack("<H", data[pos + 28:pos + 30])
        if data[pos + 46:pos + 46 + n] == name:
            break
        pos += 46
    struct.pack_into("<I", data, pos + 24, 0xFFFFFFFF)  # uncompressed size -> in ZIP64 extra
    struct.pack_into("<I", data, pos + 20, 0xFFFFFFFF)  # compressed size -> in ZIP64 extra
    extra = struct.pack("<HHQQ", 1, 16, 100 << 30, 100 << 30)
    n, m = struct.unpack("<HH", data[pos + 28:pos + 32])
    struct.pack_into("<H", data, pos + 30, m + len(extra))
    insert_at = pos + 46 + n + m
    data[insert_at:insert_at] = extra
    # the end-of-central-directory record: central directory size grew
    eocd = data.rfind(b"PK\x05\x06")
    (cd_size,) = struct.unpack("<I", data[eocd + 12:eocd + 16])
    struct.pack_into("<I", data, eocd + 12, cd_size + len(extra))
    return bytes(data)


def _duplicate() -> bytes:
    src = zipfile.ZipFile(io.BytesIO(_good()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for info in src.infolist():
            _add(z, info.filename, src.read(info), info.compress_type)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Duplicate name": that is the point
            _add(z, "report/report.txt", b"second copy", zipfile.ZIP_STORED)
    return buf.getvalue()


def _not_zip() -> bytes:
    return b"This is not a ZIP file, it is a letter.\n" * 100


VARIANTS: dict[str, Callable[[], bytes]] = {
    "good": _good,
    "good-submitter-signed": lambda: _good(submitter_signed="good"),
    "bad-submitter-signature": lambda: _good(submitter_signed="bad"),
    "good-no-cosignature": lambda: _good(cosign=False),
    "purged": lambda: _good(purged=True),
    "tampered-file": _tampered_file,
    "tampered-member": _tampered_member,
    "tampered-entry": _tampered_entry,
    "tampered-metadata": _tampered_metadata,
    "broken-proof": _broken_proof,
    "broken-chain": _broken_chain,
    "stranger-in-custody": _stranger,
    "unpinned-key": lambda: _good(log=IMPOSTOR),
    "other-log": lambda: _good(log=OTHER_LOG),
    "wrong-format": _wrong_format,
    "not-zip": _not_zip,
    "unknown-member": lambda: _with_extra_member("../evil.sh", b"#!/bin/sh\n"),
    "zip-bomb": lambda: _with_extra_member("report/report.html", b"\0" * (8 << 20),
                                           zipfile.ZIP_DEFLATED),
    "duplicate-member": _duplicate,
    "symlink": _symlink,
    "huge-declared": _huge_declared,
}


def write_variant(name: str, folder: Path) -> Path:
    path = folder / f"{name}.zip"
    path.write_bytes(VARIANTS[name]())
    return path
