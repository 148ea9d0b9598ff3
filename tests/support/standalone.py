"""Bundles built from ``evidence.verify`` primitives alone (docs/bundle.md) and a clean
interpreter for the stand-alone scripts: ``python -S`` with only ``cryptography`` (and
``rfc3161-client`` when asked) importable, as a court runs scripts/verify_bundle.py.
The script's tests, its trust-file tests and its CMS tests share them."""

from __future__ import annotations

import functools
import importlib.util
import json
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evidence.verify import merkle
from evidence.verify.checkpoint import Checkpoint, cosign_checkpoint, sign_checkpoint
from evidence.verify.commitment import metadata_commitment, new_salt
from evidence.verify.entry import encode_entry, parse_entry
from evidence.verify.hashing import ZERO_HASH_HEX, leaf_hash, sha256
from evidence.verify.note import ALG_COSIGNATURE_V1, Signer, generate_signer
from evidence.verify.submission import sign_submission

ROOT = Path(__file__).resolve().parents[2]
VERIFY_SCRIPT = ROOT / "scripts" / "verify_bundle.py"
AUDIT_SCRIPT = ROOT / "scripts" / "audit_ledger.py"
ORIGIN = "evidence.test/log"
EXIT = {"verified": 0, "failed": 1, "provisional": 3, "incomplete": 3}


def shim(tmp: Path, with_rfc3161: bool) -> Path:
    """A directory of links to exactly the allowed packages (and what they import)."""
    d = tmp / ("shim-full" if with_rfc3161 else "shim-crypto")
    if d.exists():
        return d
    d.mkdir()
    names = ["cryptography", "cffi", "_cffi_backend", "pycparser"]
    if with_rfc3161:
        names.append("rfc3161_client")
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue  # e.g. cffi absent: cryptography then does not need it
        origin = Path(spec.origin)
        target = origin.parent if origin.name == "__init__.py" else origin
        (d / target.name).symlink_to(target)
    return d


def run_clean(script: Path, args: list[str], env: dict[str, str], cwd: Path
              ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-S", str(script), *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600, check=False)


@functools.cache
def load_verify_script() -> Any:
    """scripts/verify_bundle.py imported by path into this process, once: its pieces are
    compared with the package's."""
    spec = importlib.util.spec_from_file_location("verify_bundle_cms", VERIFY_SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while defining classes
    spec.loader.exec_module(mod)
    return mod


def load_script_module(name: str, path: Path) -> Any:
    """A stand-alone script imported by path as module ``name``, once per process: the
    module already registered under ``name`` from the same file is reused (audit_ledger.py
    reuses ``verify_bundle`` the same way; two copies make each other's classes and
    functions unpicklable for the worker pools)."""
    mod = sys.modules.get(name)
    if mod is not None and Path(getattr(mod, "__file__", "") or "").resolve() == path.resolve():
        return mod
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up while defining classes
    spec.loader.exec_module(mod)
    return mod


@functools.cache
def load_audit_script() -> Any:
    """scripts/audit_ledger.py imported by path into this process, once, as
    ``audit_ledger``: its worker pool pickles its functions by that module name, so every
    test module must share this one module object (two loads made the second's functions
    unpicklable)."""
    spec = importlib.util.spec_from_file_location("audit_ledger", AUDIT_SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


@dataclass
class Built:
    members: dict[str, bytes]
    log: Signer
    witnesses: list[Signer]
    evidence_id: str
    entries: dict[int, bytes]
    leaves: list[bytes]
    timestamps: list[dict[str, Any]] = field(default_factory=list)
    provisional: bool = True
    """Without a token the bundle says it is provisional (docs/verdict.md section 2), unless
    a case wants the missing proof of time to be a failure."""

    def manifest(self, **over: Any) -> dict[str, Any]:
        sub = next(s for s, e in self.entries.items()
                   if parse_entry(e).type == "evidence.submitted")
        files = [{"path": f"files/{f['sha256']}", **f}
                 for f in parse_entry(self.entries[sub]).body["files"]
                 if f"files/{f['sha256']}" in self.members]
        m = {"format": "evidence-bundle/v1", "evidence_id": self.evidence_id,
             "created_at": "2026-11-21T08:00:00.000000Z", "exporter": "tests",
             "log": {"origin": ORIGIN, "verifier_key": self.log.verifier().to_string()},
             "checkpoint_size": len(self.leaves), "submission_seq": sub,
             "custody_seqs": sorted(s for s in self.entries if s != sub),
             "files": files, "timestamps": self.timestamps,
             "members": {n: {"sha256": sha256(b).hex(), "size": len(b)}
                         for n, b in sorted(self.members.items())}}
        if self.provisional and not self.timestamps:
            m["provisional"] = True
        m.update(over)
        return m

    def zip(self, path: Path, *, manifest: dict[str, Any] | bytes | None = None,
            extra: list[tuple[str, bytes]] = ()) -> Path:
        man = manifest if manifest is not None else self.manifest()
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("manifest.json", man if isinstance(man, bytes) else
                       json.dumps(man, ensure_ascii=False, indent=1).encode())
            for name, data in self.members.items():
                kind = zipfile.ZIP_STORED if name.startswith("files/") else zipfile.ZIP_DEFLATED
                z.writestr(name, data, compress_type=kind)
            for name, data in extra:
                z.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
        return path


T0 = "2026-11-21T08:00:{:02d}.000000Z"
FILES = {"shop.png": (b"\x89PNG fake screenshot " * 40, "image/png"),
         "mail.eml": ("From: a@example.com\nSubject: 侵权\n\n正文\n".encode(), "message/rfc822")}
METADATA = {"title": "侵权网店截图 shop screenshot", "gps": [39.9042, 116.4074],
            "ratio": 1e-7, "big": 1e21, "n": 3, "ok": True, "none": None, "\u00e9t\u00e9": "x"}


def build(*, purged: bool = False, signed: bool = False, witnesses: int = 0,
          stranger: bool = False, metadata: dict[str, Any] | None = None,
          tokens: list[tuple[str, bytes]] = (), size_after: int = 3) -> Built:
    """A log of unrelated entries, our submission, custody entries and a few more after;
    a checkpoint over all of it; the bundle members for our item."""
    log = generate_signer(ORIGIN)
    wits = [generate_signer(f"witness{i}.test", ALG_COSIGNATURE_V1) for i in range(witnesses)]
    ev = "ev_01J9ZK7Q"
    meta = METADATA if metadata is None else metadata
    salt = new_salt()
    files = [{"name": n, "media_type": mt, "size": len(b), "sha256": sha256(b).hex()}
             for n, (b, mt) in FILES.items()]
    body: dict[str, Any] = {"evidence_id": ev, "files": files, "principal": "user:alice",
                            "metadata_commitment": metadata_commitment(salt, meta).hex()}
    if signed:
        body["submitter"] = sign_submission(ev, body["metadata_commitment"], files,
                                            generate_signer("alice.example"))
    items: list[tuple[str, dict[str, Any]]] = [
        ("evidence.submitted", {"evidence_id": "ev_other1", "files": [], "principal": "u:b"}),
        ("custody.note", {"evidence_id": "ev_other1", "principal": "u:b"}),
        ("evidence.submitted", body),
        ("evidence.accessed", {"evidence_id": ev, "principal": "user:judge", "action": "view"}),
        ("evidence.shared", {"evidence_id": "ev_other1" if stranger else ev,
                             "principal": "user:alice", "grantee": "court:de-muc"}),
    ]
    if purged:
        items.append(("evidence.purged", {"evidence_id": ev, "principal": "admin",
                                          "reason": "court order"}))
    items += [("custody.note", {"evidence_id": "ev_other2", "principal": "u:c"})] * size_after
    data, prev = [], ZERO_HASH_HEX
    for seq, (typ, b) in enumerate(items):
        data.append(encode_entry(seq, T0.format(seq), prev, typ, b))
        prev = leaf_hash(data[-1]).hex()
    leaves = [leaf_hash(d) for d in data]
    ours = {s: d for s, d in enumerate(data)
            if parse_entry(d).body.get("evidence_id") == ev or (stranger and s == 4)}
    cp = Checkpoint(ORIGIN, len(leaves), merkle.root(leaves))
    note = sign_checkpoint(cp, log)
    for i, w in enumerate(wits):
        note += cosign_checkpoint(cp.to_text(), w, cosigned_at=1_800_000_000 + i)
    members: dict[str, bytes] = {"checkpoint/checkpoint.note": note.encode()}
    for seq, d in ours.items():
        members[f"entries/{seq}.entry"] = d
        for s in {seq, seq - 1} - {-1}:
            members[f"proofs/{s}.json"] = proof_json(s, leaves)
    if not purged:
        members["metadata/metadata.json"] = json.dumps(
            {"metadata": meta, "salt": salt.hex()}, ensure_ascii=False).encode()
        for b, _ in FILES.values():
            members[f"files/{sha256(b).hex()}"] = b
    stamps = []
    for i, (tsa, token) in enumerate(tokens):
        members[f"timestamps/{i}.tst"] = token
        stamps.append({"tsa": tsa, "token": f"timestamps/{i}.tst", "chain": None,
                       "gen_time": None})
    members["report/report.txt"] = "证据报告 Evidence report\n".encode()
    return Built(members, log, wits, ev, ours, leaves, stamps)


def proof_json(index: int, leaves: list[bytes]) -> bytes:
    proof = merkle.inclusion_proof_from_leaves(index, leaves)
    return json.dumps({"index": index, "tree_size": len(leaves),
                       "leaf_hash": leaves[index].hex(), "proof": [p.hex() for p in proof],
                       "root": merkle.root(leaves).hex()}).encode()


def checkpoint_text(b: Built) -> bytes:
    note = b.members["checkpoint/checkpoint.note"].decode()
    return note[: note.rfind("\n\n") + 1].encode()


def with_tokens(b: Built, tokens: list[tuple[str, bytes]]) -> Built:
    for i, (name, token) in enumerate(tokens):
        b.members[f"timestamps/{i}.tst"] = token
        b.timestamps.append({"tsa": name, "token": f"timestamps/{i}.tst", "chain": None,
                             "gen_time": None})
    return b
