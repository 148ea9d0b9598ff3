"""A real ledger with real evidence for the bundle tests: SQLite in a temp data dir,
intake's submissions (files in a filesystem blob store, metadata commitments, a
submitter signature), custody entries written both through intake's index and
bypassing it, a purge, a checkpoint timestamped by the local OpenSSL TSA and
cosigned by a witness, and a newer, unanchored checkpoint.

Also the helpers that rewrite a bundle for the hostile cases."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

from evidence.ledger.anchor.base import AnchorResult
from evidence.ledger.anchor.store import ensure_rows, record_success
from evidence.ledger.anchor.tsa_client import request_timestamp
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.bundle.export import export_bundle
from evidence.ledger.evidence_store import event_row
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger
from evidence.verify.bundle import TrustRoots
from evidence.verify.checkpoint import cosign_checkpoint
from evidence.verify.note import ALG_COSIGNATURE_V1, Signer, generate_signer, parse_note

ORIGIN = "bundle.example/log"
FIXED_NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


@dataclass
class World:
    dir: Path
    led: Ledger
    store: FilesystemBlobStore
    intake: Intake
    witness: Signer
    ca_pem: bytes
    ca_path: Path
    a: str  # two files, signed by the submitter, custody entries
    b: str  # one file, a custody entry after the anchored checkpoint
    c: str  # purged
    files_a: list[Path]
    anchored_size: int
    latest_size: int
    tsa_url: str

    def trust(self, **kw: Any) -> TrustRoots:
        kw.setdefault("log_key", self.led.verifier)
        kw.setdefault("witness_keys", [self.witness.verifier()])
        kw.setdefault("witness_quorum", 1)
        kw.setdefault("tsa_roots", [self.ca_pem])
        return TrustRoots(**kw)

    def export(self, evidence_id: str, **kw: Any) -> bytes:
        buf = io.BytesIO()
        export_bundle(self.led, self.store, evidence_id, buf, now=FIXED_NOW, **kw)
        return buf.getvalue()


def anchor(led: Ledger, size: int, tsa_url: str, ca_pem: bytes, witness: Signer) -> None:
    """Timestamp and cosign the stored checkpoint of ``size``, as anchoring would."""
    cp = led.checkpoint_at(size)
    assert cp is not None
    text = parse_note(cp.note).text
    now = datetime.now(UTC)
    ensure_rows(led.engine, size, [("tsa-local", "tsa", tsa_url),
                                   ("witness-a", "witness", "http://witness.invalid")], now)
    tok = request_timestamp(tsa_url, text.encode(), trusted_ca_pems=[ca_pem], timeout=30)
    v = tok.verdict
    assert v is not None
    record_success(led.engine, size, "tsa-local", AnchorResult(
        proof_time=v.gen_time, token=tok.token, certs=tok.certificates, gen_time=v.gen_time,
        serial=v.serial_number, policy=v.policy, verifier=v.verifier), now)
    t = int(now.timestamp())
    line = cosign_checkpoint(text, witness, cosigned_at=t)
    record_success(led.engine, size, "witness-a", AnchorResult(
        proof_time=datetime.fromtimestamp(t, UTC), cosignature=line, cosigned_at=t,
        verifier="witness-cosignature/v1"), now)


def build_world(root: Path, tsa_url: str, ca_pem: bytes, ca_path: Path) -> World:
    d = root / "ledger"
    led = Ledger.create(d / "data", ORIGIN, checkpoint_interval=3600)
    store = FilesystemBlobStore(d / "data" / "blobs")
    intake = Intake(led, store)
    src = root / "src"
    src.mkdir()

    def files(**contents: bytes) -> list[Path]:
        out = []
        for name, data in contents.items():
            p = src / name.replace("_", ".")
            p.write_bytes(data)
            out.append(p)
        return out

    led.append("custody.note", {"text": "an unrelated entry first"})
    files_a = files(shop_png=b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40,
                    chat_txt="买家：多少钱？\nseller: 5 USD\n".encode())
    a = intake.submit(ItemSpec(files=files_a, kind="other", case="case-1", principal="acme-ip",
                               title="shop listing", meta={"note": "seen on 2026-11-20"},
                               sign_key=generate_signer("acme-ip.example"))).evidence_id
    b = intake.submit(ItemSpec(files=files(mail_txt=b"Subject: offer\n\nhello\n"),
                               kind="other", case="case-1", principal="acme-ip")).evidence_id
    c = intake.submit(ItemSpec(files=files(gone_txt=b"to be purged\n"), kind="other",
                               case="case-1", principal="acme-ip")).evidence_id
    # custody: one through intake's index (same transaction), one bypassing every index
    led.append_many([("evidence.accessed", {"evidence_id": a, "principal": "court-a",
                                            "action": "view"})],
                    rows=lambda conn, made: [event_row(a, made[0].seq, "evidence.accessed")])
    led.append("custody.note", {"text": "unrelated again"})
    led.append("evidence.shared", {"evidence_id": a, "principal": "acme-ip",
                                   "grantee": "foreign-court"})
    intake.purge(c, reason="court order 2026/17", principal="admin")
    anchored = led.sign_checkpoint_now().size
    witness = generate_signer("witness-a.example", ALG_COSIGNATURE_V1)
    anchor(led, anchored, tsa_url, ca_pem, witness)
    led.append("evidence.accessed", {"evidence_id": b, "principal": "court-a",
                                     "action": "download"})
    latest = led.sign_checkpoint_now().size
    return World(root, led, store, intake, witness, ca_pem, ca_path, a, b, c, files_a,
                 anchored, latest, tsa_url)


# --- rewriting bundles -------------------------------------------------------------------


def members(bundle: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(bundle)) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def rezip(m: dict[str, bytes], *, fix_manifest: bool = True) -> bytes:
    """A bundle from members; with ``fix_manifest`` the manifest's member list is
    recomputed, as an attacker would, so that the deeper checks are what must catch it."""
    m = dict(m)
    try:
        man = json.loads(m.get("manifest.json", b""))
    except ValueError:
        man = None
    if fix_manifest and isinstance(man, dict):
        man["members"] = {n: {"sha256": sha256(b).hexdigest(), "size": len(b)}
                          for n, b in sorted(m.items()) if n != "manifest.json"}
        m["manifest.json"] = json.dumps(man).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in m.items():
            method = zipfile.ZIP_STORED if name.startswith("files/") else zipfile.ZIP_DEFLATED
            z.writestr(zipfile.ZipInfo(name, (2026, 11, 21, 8, 0, 0)), data,
                       compress_type=method)
    return buf.getvalue()


def manifest(bundle: bytes) -> dict[str, Any]:
    return json.loads(members(bundle)["manifest.json"])
