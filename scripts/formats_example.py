#!/usr/bin/env python3
"""Print the worked example of docs/formats.md (a test checks the doc against it).

Three entries with fixed content, their leaf hashes, the tree root, one
inclusion proof and a checkpoint signed by a key derived from a public seed.
Ed25519 is deterministic, so every byte here is reproducible.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from evidence.verify import merkle
from evidence.verify.checkpoint import Checkpoint, sign_checkpoint
from evidence.verify.entry import encode_entry
from evidence.verify.hashing import ZERO_HASH_HEX, leaf_hash
from evidence.verify.note import ALG_ED25519, Signer

ORIGIN = "example.org/evidence-docs"
SEED = hashlib.sha256(b"evidence docs example key - never use for real").digest()

BODIES = [
    ("evidence.submitted", {"evidence_id": "ev-1", "files": [
        {"name": "shop.png", "media_type": "image/png", "size": 5,
         "sha256": hashlib.sha256(b"hello").hexdigest()}],
        "metadata_commitment": hashlib.sha256(b"example").hexdigest(),
        "principal": "acme-ip"}),
    ("custody.note", {"evidence_id": "ev-1", "text": "交给法院 handed to the court"}),
    ("evidence.accessed", {"evidence_id": "ev-1", "principal": "court-a", "action": "download"}),
]
TIMES = ["2026-11-21T08:00:00.000000Z", "2026-11-21T08:00:01.500000Z",
         "2026-11-21T08:00:02.000001Z"]


def build() -> dict:
    entries, prev = [], ZERO_HASH_HEX
    for seq, ((typ, body), t) in enumerate(zip(BODIES, TIMES, strict=True)):
        data = encode_entry(seq, t, prev, typ, body)
        entries.append(data)
        prev = leaf_hash(data).hex()
    leaves = [leaf_hash(e) for e in entries]
    root = merkle.root(leaves)
    signer = Signer(ORIGIN, ALG_ED25519, Ed25519PrivateKey.from_private_bytes(SEED))
    note = sign_checkpoint(Checkpoint(ORIGIN, len(entries), root), signer)
    return {
        "entries": entries,
        "leaves": leaves,
        "root": root,
        "proof_for_0": merkle.inclusion_proof_from_leaves(0, leaves),
        "node_01": merkle.root(leaves[:2]),
        "signer": signer,
        "note": note,
    }


def main() -> None:
    ex = build()
    for seq, (data, lh) in enumerate(zip(ex["entries"], ex["leaves"], strict=True)):
        print(f"entry {seq} bytes: {data.decode()}")
        print(f"entry {seq} leaf hash: {lh.hex()}")
    print(f"node(0,1): {ex['node_01'].hex()}")
    print(f"root (size 3): {ex['root'].hex()}")
    print(f"root base64: {base64.b64encode(ex['root']).decode()}")
    print(f"inclusion proof for seq 0 in size 3: {[h.hex() for h in ex['proof_for_0']]}")
    print(f"log signer key: {ex['signer'].to_string()}")
    print(f"log verifier key: {ex['signer'].verifier().to_string()}")
    print("checkpoint note:")
    print(ex["note"], end="")


if __name__ == "__main__":
    main()
