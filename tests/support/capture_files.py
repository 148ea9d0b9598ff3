"""A web capture's files built as the capture writes them, and then edited as a forger
would: the test modules of the three ``webcapture`` verifiers (the package, the verify
page, the stand-alone script) and of the bundle and its report break the same files in
the same ways, so the building and the editing live here once.

An item is the capture's files by name (``screenshot.png``, ``capture.wacz``,
``capture-manifest.json``, ``capture-manifest.sig``). The WARC is written by warcio and
packed by py-wacz (``evidence.ledger.capture.warc``), the manifest signed by the capture's
own ``write_manifest``: the honest item is never hand-made. What differs between the
modules (the pages fetched, the screenshot, the manifest's facts, the media types
listed) is a parameter.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import rfc8785

from evidence.ledger.capture.browser import Exchange
from evidence.ledger.capture.manifest import write_manifest
from evidence.ledger.capture.run import Capture
from evidence.ledger.capture.warc import write_wacz, write_warc
from evidence.verify.note import Signer, generate_signer, sign_note
from evidence.verify.webcapture import MANIFEST_SCHEMA, signed_text

Files = dict[str, bytes]

# The capture node the webcapture tests pin (a fresh key each run; the name is what the
# tests read back).
NODE = generate_signer("capture.test/node-v")

# What ``file_entry`` lists in a real capture; ``("x", "x")`` where a module's manifest
# has always said nothing about them.
MEDIA_TYPES = ("image/png", "application/wacz+zip")


# --- building an item -----------------------------------------------------------------------


def exchange(url: str, body: bytes, ctype: str = "text/html", *, user_agent: str = "t",
             received_at: str = "2026-12-06T21:00:00.5Z",
             extra_headers: Sequence[tuple[str, str]] = ()) -> Exchange:
    """One GET answered 200, as the browser hands it to ``write_warc``."""
    return Exchange(url=url, method="GET", request_headers=[("User-Agent", user_agent)],
                    request_body=None, requested_at="2026-12-06T21:00:00.000001Z",
                    status=200, status_text="OK", received_at=received_at,
                    response_headers=[("Content-Type", ctype), *extra_headers], body=body,
                    server_ip="203.0.113.7")


def result(url: str, title: str) -> dict[str, Any]:
    """The manifest's ``result`` of an ordinary capture: one page, TLS, never settled."""
    return {"final_url": url, "http_status": 200, "title": title, "server_ip": "203.0.113.7",
            "tls": {"subject": "CN=shop.example", "issuer": "CN=Test CA"},
            "labels": ["never-settled"]}


def write_capture(folder: Path, node: Signer, exchanges: Sequence[Exchange], *,
                  screenshot: bytes, title: str, text: str, fields: Mapping[str, Any],
                  capture_id: str | None = None, media_types: tuple[str, str] = MEDIA_TYPES,
                  alter_wacz: Callable[[Path], None] | None = None) -> dict[str, Any]:
    """Write a capture's four files into ``folder`` (made if missing): the WARC of
    ``exchanges`` packed as ``capture.wacz`` (the first exchange is the page), the
    screenshot, and the manifest (``fields`` beside schema, id, node and files) signed
    by ``node``. ``alter_wacz`` edits the WACZ file before the manifest lists it (a
    forger's capture, signed by the node). Returns the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    warc = folder / "capture.warc.gz"
    write_warc(warc, list(exchanges), {"software": "test"})
    write_wacz(folder / "capture.wacz", warc, url=exchanges[0].url, title=title, text=text)
    warc.unlink()
    if alter_wacz is not None:
        alter_wacz(folder / "capture.wacz")
    (folder / "screenshot.png").write_bytes(screenshot)
    listed = []
    for (name, role), media in zip((("screenshot.png", "screenshot"), ("capture.wacz", "wacz")),
                                   media_types, strict=True):
        data = (folder / name).read_bytes()
        listed.append({"role": role, "name": name, "media_type": media, "size": len(data),
                       "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {"schema": MANIFEST_SCHEMA,
                "capture_id": folder.name if capture_id is None else capture_id,
                "node": {"name": node.name, "key": node.verifier().to_string()},
                **fields, "files": listed}
    write_manifest(folder, manifest, node)
    return manifest


def capture_of(folder: Path, manifest: dict[str, Any]) -> Capture:
    """The written capture as ``capture.run.preserve`` takes it."""
    return Capture(folder, [folder / n for n in ("screenshot.png", "capture.wacz",
                                                 "capture-manifest.json", "capture-manifest.sig")],
                   manifest)


def files_of(folder: Path) -> Files:
    """The item: every file in ``folder`` by name."""
    return {p.name: p.read_bytes() for p in folder.iterdir()}


# --- the manifest, signed again ---------------------------------------------------------------


def resign(item: Files, manifest: bytes | dict[str, Any], node: Signer = NODE) -> Files:
    """The item with another manifest (a dict is written canonically, bytes as they are),
    signed by ``node``."""
    data = rfc8785.dumps(manifest) if isinstance(manifest, dict) else manifest
    return {**item, "capture-manifest.json": data, "capture-manifest.sig": sign_note(
        signed_text(hashlib.sha256(data).hexdigest()), [node]).encode()}


def relisted(item: Files, manifest: dict[str, Any] | None = None, node: Signer = NODE,
             **files: bytes) -> Files:
    """The item with ``files`` replaced, the manifest (the item's own when None)
    re-listing their size and digest, signed again: only the checks after the signature
    can object. Entries of a malformed ``files`` list are left alone."""
    out = {**item, **files}
    m = json.loads(item["capture-manifest.json"]) if manifest is None else manifest
    for f in m["files"] if isinstance(m.get("files"), list) else []:
        if isinstance(f, dict) and f.get("name") in files:
            f["size"], f["sha256"] = len(out[f["name"]]), hashlib.sha256(
                out[f["name"]]).hexdigest()
    return resign(out, m, node)


def with_wacz(item: Files, wacz: bytes, node: Signer = NODE) -> Files:
    """Another WACZ, listed and signed in the manifest: only the WACZ's own checks can
    find what is wrong inside it."""
    return relisted(item, None, node, **{"capture.wacz": wacz})


# --- the WACZ, edited ---------------------------------------------------------------------------


def wacz_members(wacz: bytes) -> Files:
    with zipfile.ZipFile(io.BytesIO(wacz)) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def forge_digests(members: Files) -> Files:
    """The members with datapackage.json's resource digests and sizes, and
    datapackage-digest.json, made over them as they are (a forger's WACZ: only the WARC
    records' own digests can tell)."""
    members = dict(members)
    pkg = json.loads(members["datapackage.json"])
    for r in pkg["resources"]:
        if r["path"] in members:
            r["hash"] = "sha256:" + hashlib.sha256(members[r["path"]]).hexdigest()
            r["bytes"] = len(members[r["path"]])
    members["datapackage.json"] = json.dumps(pkg).encode()
    members["datapackage-digest.json"] = json.dumps({
        "path": "datapackage.json",
        "hash": "sha256:" + hashlib.sha256(members["datapackage.json"]).hexdigest()}).encode()
    return members


def wacz_of(members: Files, *, fix: bool = True,
            method: int | Mapping[str, int] = zipfile.ZIP_STORED) -> bytes:
    """A ZIP of these members in this order; with ``fix`` the datapackage digests are
    made over them (:func:`forge_digests`). ``method`` is one compression for all, or one
    a name (a name not in it: deflated)."""
    if fix:
        members = forge_digests(members)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data, compress_type=method if isinstance(method, int)
                       else method.get(name, zipfile.ZIP_DEFLATED))
    return buf.getvalue()


def rezip(wacz: bytes, change: Mapping[str, bytes | None], *, fix: bool = True,
          method: int | None = None) -> bytes:
    """The WACZ with members changed (None: removed, a new name: added last); with ``fix``
    the datapackage digests are made over the changed members. Each member keeps its
    compression unless ``method`` names one for all."""
    members = wacz_members(wacz)
    kept = {i.filename: i.compress_type for i in zipfile.ZipFile(io.BytesIO(wacz)).infolist()}
    for k, v in change.items():
        if v is None:
            members.pop(k, None)
        else:
            members[k] = v
    return wacz_of(members, fix=fix, method=kept if method is None else method)


def warc_of(wacz: bytes) -> tuple[str, bytes]:
    """The WACZ's WARC: its member name and its gzip bytes."""
    members = wacz_members(wacz)
    name = next(n for n in members if n.endswith(".warc.gz"))
    return name, members[name]
