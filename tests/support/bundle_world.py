"""A real ledger with real evidence for the bundle tests: SQLite in a temp data dir,
intake's submissions (files in a filesystem blob store, metadata commitments, a
submitter signature), custody entries written both through intake's index and
bypassing it, a purge, a checkpoint timestamped by the local OpenSSL TSA and
cosigned by a witness, and a newer, unanchored checkpoint.

With ``webcaptures=True`` the anchored checkpoint also covers ``webcapture`` items: one
real capture of a loopback site (Chromium under Playwright, signed by a capture-node
key) preserved through :func:`evidence.ledger.capture.preserve`, and variants of its
files, each submitted the same way as its own item (see :data:`CAPTURE_VARIANTS`).

Also the helpers that rewrite a bundle for the hostile cases."""

from __future__ import annotations

import copy
import io
import json
import os
import zipfile
from dataclasses import dataclass, field
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
from evidence.verify.note import (
    ALG_COSIGNATURE_V1,
    Signer,
    generate_signer,
    parse_note,
    sign_note,
)

ORIGIN = "bundle.example/log"
FIXED_NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
CHROMIUM = os.environ.get("EVIDENCE_CHROMIUM", "/usr/bin/chromium")

#: the ``webcapture`` items of the world, by variant: what was done to the capture's files
#: before they were submitted (each is its own ledger item, submitted through the intake)
CAPTURE_VARIANTS = {
    "good": "the capture as the node wrote it",
    "other-node": "the manifest names and is signed by another capture node",
    "warc-altered": "a WARC payload changed inside the WACZ (its datapackage digests "
                    "recomputed), the manifest re-listed and re-signed by the node",
    "manifest-not-canonical": "the manifest indented (not RFC 8785), signed by the node",
    "datapackage-digest": "datapackage-digest.json names another SHA-256, the manifest "
                          "re-listed and re-signed by the node",
    "file-missing": "page.pdf, which the signed manifest lists, left out of the item",
    "two-files-one-name": "the capture's files and a second, other screenshot.png",
}
#: the bytes of the captured page's HTML that ``warc-altered`` changes (same length, so
#: only the record digests, not the WARC's framing, can catch it)
WARC_EDIT = (b"Counterfeit bags", b"Genuine  bags!!!")


@dataclass
class Captures:
    """The world's web captures: which node made them and the item of each variant."""

    node: Signer    # the node a court pins
    other: Signer   # signs ``other-node``; never pinned
    items: dict[str, str] = field(default_factory=dict)  # variant -> evidence id
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)  # variant -> name->bytes
    manifest: dict[str, Any] = field(default_factory=dict)  # the good capture's manifest


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
    captures: Captures | None = None
    capture_error: str | None = None  # why the captures could not be made (webcaptures=True)
    odd: str | None = None  # odd_names=True: an item whose file names a clerk's OS would refuse
    odd_files: list[tuple[str, bytes]] | None = None  # its (name, bytes), in entry order

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


ODD_NAMES = [  # (file name as submitted, content key): docs/bundle.md "File names (v2)"
    ("..\\..\\evil.exe", "a"),           # backslashes (a Windows path) and a program
    ("CON.txt", "b"),                     # a Windows device name
    ("photo\u202egnp.exe", "c"),           # a right-to-left override: shows as "photo exe.png"
    (" .hidden. ", "d"),                  # leading dot and space, trailing dot and space
    ("same.txt", "e"),                    # two files of one name ...
    ("same.txt", "f"),                    # ... with other bytes
    ("copy of CON.txt", "b"),             # a second name for one content: one member
    ("证据截图" * 15 + ".png", "g"),        # 180 bytes of UTF-8: shortened, extension kept
]


def build_world(root: Path, tsa_url: str, ca_pem: bytes, ca_path: Path, *,
                webcaptures: bool = False, odd_names: bool = False) -> World:
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
    captures, capture_error = None, None
    if webcaptures:
        try:
            captures = make_captures(intake, root / "captures")
        except Exception as e:  # no browser or capture extra: only the capture cases fail
            capture_error = f"the world's web capture could not be made: {e!r}"[:1000]
    odd, odd_files = None, None
    if odd_names:
        odd_files = [(n, f"content {k}\n".encode()) for n, k in ODD_NAMES]
        paths = []
        for i, (n, data) in enumerate(odd_files):
            p = src / f"odd-{i}" / n
            p.parent.mkdir()
            p.write_bytes(data)
            paths.append(p)
        odd = intake.submit(ItemSpec(files=paths, kind="other", case="case-3",
                                     principal="acme-ip")).evidence_id
    anchored = led.sign_checkpoint_now().size
    witness = generate_signer("witness-a.example", ALG_COSIGNATURE_V1)
    anchor(led, anchored, tsa_url, ca_pem, witness)
    led.append("evidence.accessed", {"evidence_id": b, "principal": "court-a",
                                     "action": "download"})
    latest = led.sign_checkpoint_now().size
    return World(root, led, store, intake, witness, ca_pem, ca_path, a, b, c, files_a,
                 anchored, latest, tsa_url, captures, capture_error, odd, odd_files)


# --- web captures ---------------------------------------------------------------------------


def zip_members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def zip_of(m: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n, data in m.items():
            z.writestr(zipfile.ZipInfo(n, (2026, 11, 21, 8, 0, 0)), data)
    return buf.getvalue()


def refresh_datapackage(m: dict[str, bytes]) -> None:
    """Recompute the WACZ's ``datapackage.json`` resources and ``datapackage-digest.json``
    for its members as they now are (what a forger who knows WACZ does)."""
    pkg = json.loads(m["datapackage.json"])
    for r in pkg["resources"]:
        r["hash"] = "sha256:" + sha256(m[r["path"]]).hexdigest()
        r["bytes"] = len(m[r["path"]])
    m["datapackage.json"] = json.dumps(pkg).encode()
    m["datapackage-digest.json"] = json.dumps(
        {"path": "datapackage.json",
         "hash": "sha256:" + sha256(m["datapackage.json"]).hexdigest()}).encode()


def wacz_with_warc_edit(wacz: bytes, old: bytes, new: bytes) -> bytes:
    """The WACZ with ``old`` replaced by ``new`` in the WARC record holding it (each gzip
    member inflated and re-gzipped), its datapackage digests made to agree."""
    import gzip
    import zlib

    m = zip_members(wacz)
    name = next(n for n in m if n.startswith("archive/") and n.endswith(".warc.gz"))
    out, rest, hits = b"", m[name], 0
    while rest:
        d = zlib.decompressobj(wbits=31)
        plain = d.decompress(rest)
        rest = d.unused_data
        hits += plain.count(old)
        out += gzip.compress(plain.replace(old, new), mtime=0)
    if hits != 1:
        raise ValueError(f"{old!r} occurs {hits} times in the WARC, not once")
    m[name] = out
    refresh_datapackage(m)
    return zip_of(m)


def wacz_with_wrong_digest(wacz: bytes) -> bytes:
    """``datapackage-digest.json`` naming the SHA-256 of other bytes (the package and its
    resources untouched)."""
    m = zip_members(wacz)
    doc = json.loads(m["datapackage-digest.json"])
    doc["hash"] = "sha256:" + sha256(b"another datapackage.json").hexdigest()
    m["datapackage-digest.json"] = json.dumps(doc).encode()
    return zip_of(m)


def make_captures(intake: Intake, folder: Path) -> Captures:
    """One real capture of a loopback site by a capture node, preserved as a ``webcapture``
    item, and one item per other variant of :data:`CAPTURE_VARIANTS`, each through
    :func:`evidence.ledger.capture.preserve` (the intake, kind ``webcapture``)."""
    from evidence.ledger.capture import Options, capture, preserve
    from evidence.ledger.capture.manifest import write_manifest
    from evidence.ledger.capture.run import Capture
    from evidence.verify.webcapture import signed_text
    from tests.support.capture_sites import serve

    node = generate_signer("capture.bundle.example/node-1")
    other = generate_signer("capture.bundle.example/node-2")
    opts = Options(allow_private=True, chromium=CHROMIUM, timeout=60.0, settle_timeout=3.0)
    with serve() as site:
        cap = capture(site.base + "/", node, opts, folder=folder / "good")
    caps = Captures(node, other, manifest=cap.manifest)
    good = {p.name: p.read_bytes() for p in cap.files}

    def relisted(man: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        man = copy.deepcopy(man)
        for f in man["files"]:
            f["size"], f["sha256"] = len(files[f["name"]]), sha256(files[f["name"]]).hexdigest()
        return man

    def submit(variant: str, files: dict[str, bytes], man: dict[str, Any],
               signer: Signer | None) -> None:
        """``files`` as they are, then (``signer``) the manifest written and signed."""
        d = folder / variant
        d.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (d / name).write_bytes(data)
        if signer is not None:
            write_manifest(d, man, signer)
        names = [n for n in good if n in files or signer is not None]
        paths = [d / n for n in names]
        caps.files[variant] = {p.name: p.read_bytes() for p in paths}
        sub = preserve(intake, Capture(d, paths, man), case="case-2", principal="acme-ip")
        caps.items[variant] = sub.evidence_id

    plain = {n: b for n, b in good.items() if not n.startswith("capture-manifest.")}
    caps.files["good"] = good
    caps.items["good"] = preserve(intake, cap, case="case-2", principal="acme-ip").evidence_id
    moved = copy.deepcopy(cap.manifest)
    moved["node"] = {"name": other.name, "key": other.verifier().to_string()}
    submit("other-node", plain, moved, other)
    for variant, wacz in (("warc-altered", wacz_with_warc_edit(good["capture.wacz"],
                                                               *WARC_EDIT)),
                          ("datapackage-digest", wacz_with_wrong_digest(good["capture.wacz"]))):
        files = {**plain, "capture.wacz": wacz}
        submit(variant, files, relisted(cap.manifest, files), node)
    indented = json.dumps(cap.manifest, indent=1, ensure_ascii=False).encode()
    submit("manifest-not-canonical",
           {**plain, "capture-manifest.json": indented,
            "capture-manifest.sig": sign_note(signed_text(sha256(indented).hexdigest()),
                                              [node]).encode()}, cap.manifest, None)
    submit("file-missing", {n: b for n, b in good.items() if n != "page.pdf"}, cap.manifest,
           None)
    second = folder / "two-files-one-name" / "screenshot.png"
    second.parent.mkdir(parents=True)
    second.write_bytes(good["screenshot.png"] + b"\0")
    caps.files["two-files-one-name"] = good  # by name: the second screenshot is not here
    caps.items["two-files-one-name"] = preserve(
        intake, Capture(cap.folder, [*cap.files, second], cap.manifest), case="case-2",
        principal="acme-ip").evidence_id
    assert set(caps.items) == set(CAPTURE_VARIANTS), caps.items
    return caps


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
