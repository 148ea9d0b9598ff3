"""The stand-alone script's ``webcapture`` check (docs/verdict.md section 6).

Capture files are built as the capture writes them (the WARC with warcio, the WACZ with
py-wacz, the manifest signed by ``evidence.ledger.capture.manifest.write_manifest``), then
altered one region at a time: the manifest, its signature, the WACZ's datapackage files,
WARC record headers and payloads, the gzip stream, the digest algorithm, an unlisted member,
and single bytes swept across each. On every variant the script's own check
(``verify_capture_files``, the script loaded by path) reaches the same status as the
reference, :func:`evidence.verify.webcapture.verify_webcapture`, with a capture node pinned
and without one.

Then whole bundles: webcapture items preserved through the real intake, anchored with the
local OpenSSL TSA and a witness, exported, and checked by the script as a court runs it (a
separate interpreter where only ``cryptography`` can be imported): the check's place, the
report's ``webcapture`` object with the clock offset, ``--capture-node`` and the trust
file's ``#@ capture-node`` lines."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import json
import sys
import zipfile
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import rfc8785

import evidence.verify.webcapture as ref
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.bundle.export import export_bundle
from evidence.ledger.capture.browser import Exchange
from evidence.ledger.capture.run import Capture, preserve
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger
from evidence.verify.note import ALG_COSIGNATURE_V1, Signer, generate_signer
from tests.support.bundle_world import FIXED_NOW, anchor
from tests.support.capture_files import (
    NODE,
    exchange,
    resign,
    result,
    wacz_members,
    wacz_of,
    with_wacz,
    write_capture,
)
from tests.support.clean_python import clean_env, run_clean
from tests.support.tsa import LocalTSA

pytest.importorskip("warcio")
pytest.importorskip("wacz")

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "verify_bundle.py"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 2
URL = "https://shop.example/item/7"
OTHER = generate_signer("capture.test/node-w")


def _load_script() -> ModuleType:
    """The script as a module, from its file (it is not part of the package's API)."""
    spec = importlib.util.spec_from_file_location("standalone_verify_bundle_wc", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


vb = _load_script()


def make_capture(folder: Path, node: Signer, *, ended_at: str = "2026-12-06T21:00:01.000000Z",
                 ) -> dict[str, Any]:
    """The files of a capture as ``capture.run`` writes them; returns the manifest."""
    def page(url: str, body: bytes, ctype: str) -> Exchange:
        return exchange(url, body, ctype, user_agent="test",
                        received_at="2026-12-06T21:00:00.500000Z")

    return write_capture(folder, node, [
        page(URL, b"<html><title>Item 7</title>Offer: 5 USD " * 30, "text/html"),
        page("https://shop.example/logo.png", PNG, "image/png")],
        screenshot=PNG, title="Item 7", text="Offer: 5 USD", media_types=("x", "x"),
        fields={"request": {"url": URL}, "started_at": "2026-12-06T20:59:58.250000Z",
                "ended_at": ended_at, "result": result(URL, "Item 7")})


@pytest.fixture(scope="module")
def item(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("wc") / "capture"
    make_capture(folder, NODE)
    return {p.name: p.read_bytes() for p in folder.iterdir()}


# --- the two implementations, side by side --------------------------------------------------


def script_keys(*signers: Signer) -> dict[str, Any]:
    return {s.name: vb.parse_key(s.verifier().to_string()) for s in signers}


def both(files: dict[str, bytes], *signers: Signer) -> str:
    """The status both implementations give; they must agree, and the script's reasons
    are one line each, in both languages, at most 300 characters."""
    want = ref.verify_webcapture(files, [s.verifier() for s in signers])
    got = vb.verify_capture_files(files, script_keys(*signers))
    assert got.status == want.status, (want.reason, got.reason)
    assert got.reason and got.reason_zh
    for text in (got.reason, got.reason_zh):
        assert "\n" not in text and len(text) <= 300
    if got.status != "fail":
        assert got.records == want.warc_records
        assert {k: v for k, v in got.facts.items()
                if k not in ("node_name", "clock_offset_seconds")} == want.summary
    return got.status


def statuses(files: dict[str, bytes]) -> tuple[str, str]:
    """(with the node pinned, with nothing pinned), each held equal to the reference."""
    return both(files, NODE), both(files)


def warc_name(item: dict[str, bytes]) -> str:
    return next(n for n in wacz_members(item["capture.wacz"]) if n.endswith(".warc.gz"))


def with_warc(item: dict[str, bytes], warc: bytes, *, fix: bool = True) -> dict[str, bytes]:
    members = wacz_members(item["capture.wacz"])
    members[warc_name(item)] = warc
    return with_wacz(item, wacz_of(members, fix=fix))


def plain_warc(item: dict[str, bytes]) -> bytes:
    return gzip.decompress(wacz_members(item["capture.wacz"])[warc_name(item)])


# --- the check on an item's files ------------------------------------------------------------


def test_a_good_capture_passes_pinned_and_is_not_checked_unpinned(item: dict[str, bytes]
                                                                  ) -> None:
    assert statuses(item) == ("pass", "not-checked")
    got = vb.verify_capture_files(item, script_keys(NODE, OTHER))
    assert got.facts["node_name"] == NODE.name and got.facts["screenshot"] == "screenshot.png"
    assert got.facts["node"] == NODE.verifier().to_string() and got.records == 5
    assert vb.verify_capture_files(item, {}).facts["node_name"] is None
    # signed by a node that is pinned, but not the one the court expects: fails
    assert vb.verify_capture_files(item, script_keys(OTHER)).status == "fail"
    assert both(item, OTHER) == "fail"


def _manifest_cases(item: dict[str, bytes]) -> dict[str, dict[str, bytes]]:
    m = json.loads(item["capture-manifest.json"])

    def edit(**over: Any) -> dict[str, Any]:
        return {**json.loads(item["capture-manifest.json"]), **over}

    files = m["files"]
    return {
        "a field changed, not signed again": {**item, "capture-manifest.json": rfc8785.dumps(
            edit(ended_at="2026-12-06T21:00:09.000000Z"))},
        "a field changed, signed again": resign(item, edit(title="other")),
        "indented (not RFC 8785), signed": resign(item, json.dumps(m, indent=1)
                                                         .encode()),
        "not JSON": {**item, "capture-manifest.json": b"{\"schema\":"},
        "a float that is not canonical": {**item, "capture-manifest.json":
                                          item["capture-manifest.json"][:-1] + b',"x":1.0}'},
        "an integer beyond 2^53": {**item, "capture-manifest.json":
                                   item["capture-manifest.json"][:-1] + b',"z":9007199254740993}'},
        "a lone surrogate": {**item, "capture-manifest.json":
                             item["capture-manifest.json"][:-1] + b',"z":"\\ud800"}'},
        "deeply nested": {**item, "capture-manifest.json":
                          item["capture-manifest.json"][:-1] + b',"z":' + b"[" * 5000
                          + b"]" * 5000 + b"}"},
        "other schema": resign(item, rfc8785.dumps(
            edit(schema="evidence.webcapture.manifest/v2"))),
        "not an object": resign(item, b"[]"),
        "manifest missing": {k: v for k, v in item.items() if k != "capture-manifest.json"},
        "no files listed": resign(item, edit(files=[])),
        "files not a list": resign(item, edit(files={"a": 1})),
        "a file entry not an object": resign(item, edit(files=[*files, "x"])),
        "a file without a name": resign(item, edit(files=[*files, {"role": "x"}])),
        "a listed file missing": resign(item, edit(files=[*files, {
            "role": "pdf", "name": "page.pdf", "size": 1, "sha256": "00" * 32}])),
        "a size as true": resign(item, edit(files=[*files, {
            "role": "x", "name": "one", "size": True,
            "sha256": hashlib.sha256(b"1").hexdigest()}]), ) | {"one": b"1"},
        "an uppercase SHA-256": resign(item, edit(files=[{**f, "sha256": f["sha256"].upper()}
                                                           for f in files])),
        "no screenshot role": resign(item, edit(files=[{**f, "role": "image"}
                                                         if f["role"] == "screenshot" else f
                                                         for f in files])),
        "no wacz role": resign(item, edit(files=[f for f in files if f["role"] != "wacz"])),
        "screenshot changed": {**item, "screenshot.png": PNG + b"x"},
        "node names another key": resign(item, edit(node={
            "name": "x", "key": OTHER.verifier().to_string()})),
        "node not an object": resign(item, edit(node="capture.test/node-v")),
        "node key a list": resign(item, edit(node={"key": [1]})),
        "result a string": resign(item, edit(result="fine")),
        "tls a list": resign(item, edit(result={**m["result"], "tls": [1]})),
        "labels a string": resign(item, edit(result={**m["result"], "labels": "ab"})),
        "labels a number": resign(item, edit(result={**m["result"], "labels": 7})),
        "request missing": resign(item, {k: v for k, v in edit().items() if k != "request"}),
    }


def _signature_cases(item: dict[str, bytes]) -> dict[str, dict[str, bytes]]:
    sig = item["capture-manifest.sig"]
    text, _, lines = sig.decode().rpartition("\n\n")
    from evidence.verify.note import sign_note
    from evidence.verify.webcapture import signed_text

    digest = hashlib.sha256(item["capture-manifest.json"]).hexdigest()
    return {
        "signature missing": {k: v for k, v in item.items() if k != "capture-manifest.sig"},
        "garbage": {**item, "capture-manifest.sig": b"garbage\n"},
        "empty": {**item, "capture-manifest.sig": b""},
        "signed by an unpinned node": {**item, "capture-manifest.sig": sign_note(
            signed_text(digest), [OTHER]).encode()},
        "also signed by an unpinned node": {**item, "capture-manifest.sig": sign_note(
            signed_text(digest), [OTHER, NODE]).encode()},
        "over another manifest": {**item, "capture-manifest.sig": sign_note(
            signed_text("00" * 32), [NODE]).encode()},
        "other header": {**item, "capture-manifest.sig": sign_note(
            f"evidence.webcapture/v2\n{digest}\n", [NODE]).encode()},
        "uppercase digest": {**item, "capture-manifest.sig": sign_note(
            signed_text(digest.upper()), [NODE]).encode()},
        "a CR in the note": {**item, "capture-manifest.sig": sig.replace(b"\n", b"\r\n", 1)},
        "signature line doubled": {**item, "capture-manifest.sig": sig + sig.split(b"\n\n")[1]},
        "signature bytes altered": {**item, "capture-manifest.sig": (
            text + "\n\n" + lines[:-6] + ("A" if lines[-6] != "A" else "B") + lines[-5:]
        ).encode()},
    }


def _wacz_cases(item: dict[str, bytes]) -> dict[str, dict[str, bytes]]:
    members = wacz_members(item["capture.wacz"])
    pkg = json.loads(members["datapackage.json"])
    warc = warc_name(item)

    def with_pkg(p: dict[str, Any], *, fix_digest: bool = True) -> dict[str, bytes]:
        m = {**members, "datapackage.json": json.dumps(p).encode()}
        if fix_digest:
            m["datapackage-digest.json"] = json.dumps({
                "path": "datapackage.json", "hash": "sha256:" + hashlib.sha256(
                    m["datapackage.json"]).hexdigest()}).encode()
        return with_wacz(item, wacz_of(m, fix=False))

    res = pkg["resources"]
    return {
        "datapackage.json changed, digest not": with_pkg({**pkg, "title": "x"},
                                                         fix_digest=False),
        "datapackage.json changed, digest too": with_pkg({**pkg, "title": "x"}),
        "digest file names another path": with_wacz(item, wacz_of({
            **members, "datapackage-digest.json": json.dumps({
                "path": "other.json", "hash": "sha256:" + hashlib.sha256(
                    members["datapackage.json"]).hexdigest()}).encode()}, fix=False)),
        "digest file a list": with_wacz(item, wacz_of({
            **members, "datapackage-digest.json": b"[]"}, fix=False)),
        "digest file missing": with_wacz(item, wacz_of(
            {k: v for k, v in members.items() if k != "datapackage-digest.json"}, fix=False)),
        "datapackage.json not JSON": with_wacz(item, wacz_of(
            {**members, "datapackage.json": b"{"}, fix=False)),
        "no resources": with_pkg({**pkg, "resources": []}),
        "a resource listed twice": with_pkg({**pkg, "resources": [*res, res[0]]}),
        "a resource not in the ZIP": with_pkg({**pkg, "resources": [
            *res, {"path": "archive/more.warc.gz", "hash": "sha256:" + "0" * 64, "bytes": 0}]}),
        "a resource's hash in capitals": with_pkg({**pkg, "resources": [
            {**r, "hash": r["hash"].upper()} for r in res]}),
        "a resource's size wrong": with_pkg({**pkg, "resources": [
            {**r, "bytes": r["bytes"] + 1} if r["path"] == warc else r for r in res]}),
        "a resource's size as a float": with_pkg({**pkg, "resources": [
            {**r, "bytes": float(r["bytes"])} for r in res]}),
        "an unlisted member": with_wacz(item, wacz_of(
            {**members, "extra.txt": b"x"})),
        "an unlisted folder entry": with_wacz(item, wacz_of(
            {**members, "extra/": b""})),
        "the WARC not gzipped": with_wacz(item, _renamed_warc(members,
                                                                                warc)),
        "no WARC listed": with_pkg({**pkg, "resources": [r for r in res if r["path"] != warc]}),
        "not a ZIP": with_wacz(item, b"PK\x03\x04 broken"),
        "two members of one name": with_wacz(item, _twice(members)),
    }


def _renamed_warc(members: dict[str, bytes], warc: str) -> bytes:
    """The WARC stored ungzipped as ``archive/*.warc`` (listed): only .warc.gz is read."""
    m = {k: v for k, v in members.items() if k != warc}
    m[warc[:-3]] = gzip.decompress(members[warc])
    pkg = json.loads(m["datapackage.json"])
    for r in pkg["resources"]:
        if r["path"] == warc:
            r["path"] = warc[:-3]
    m["datapackage.json"] = json.dumps(pkg).encode()
    return wacz_of(m)


def _twice(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z, pytest.warns(UserWarning):
        for name, data in members.items():
            z.writestr(name, data)
        z.writestr("datapackage.json", members["datapackage.json"])
    return buf.getvalue()


def _warc_cases(item: dict[str, bytes]) -> dict[str, dict[str, bytes]]:
    plain = plain_warc(item)
    raw = wacz_members(item["capture.wacz"])[warc_name(item)]
    first_payload = plain.index(b"WARC-Payload-Digest: sha256:")

    def sub(old: bytes, new: bytes, count: int = 1) -> bytes:
        assert old in plain, old
        return gzip.compress(plain.replace(old, new, count))

    cases = {
        "payload byte changed": sub(b"Offer: 5 USD", b"Offer: 9 USD"),
        "block digest changed": sub(b"WARC-Block-Digest: sha256:", b"WARC-Block-Digest: sha256:A"),
        "payload digest removed": gzip.compress(
            plain[:first_payload] + b"X-" + plain[first_payload:]),
        "unknown digest algorithm": sub(b"WARC-Payload-Digest: sha256:",
                                        b"WARC-Payload-Digest: md5:"),
        "digest algorithm spelled SHA-256": sub(b"WARC-Block-Digest: sha256:",
                                                b"WARC-Block-Digest: SHA-256:", 99),
        "Content-Length larger": sub(b"Content-Length: ", b"Content-Length: 1"),
        "Content-Length not a number": sub(b"Content-Length: ", b"Content-Length: x"),
        "Content-Length negative": sub(b"Content-Length: ", b"Content-Length: -"),
        "not WARC/1.x": sub(b"WARC/1.1\r\n", b"WARC/2.0\r\n"),
        "content type not HTTP": sub(b"Content-Type: application/http; msgtype=response",
                                     b"Content-Type: text/plain"),
        "record end missing": gzip.compress(plain[:-4]),
        "record cut short": gzip.compress(plain[:-40]),
        "trailing line breaks": gzip.compress(plain + b"\r\n"),
        "a trailing empty header": gzip.compress(plain + b"\r\n\r\n"),
        "trailing text": gzip.compress(plain + b"WARC/1.1\r\n"),
        "leading line breaks": gzip.compress(b"\r\n" + plain),
        "one gzip member": gzip.compress(plain),
        "empty gzip": gzip.compress(b""),
        "empty file": b"",
        "gzip cut": raw[:-30],
        "gzip cut in half": raw[:len(raw) // 2],
        "gzip trailer altered": raw[:-5] + bytes([raw[-5] ^ 1]) + raw[-4:],
        "garbage after gzip": raw + b"garbage",
        "zeros after gzip": raw + b"\0" * 8,
        "not gzip": plain,
    }
    return {k: with_warc(item, v) for k, v in cases.items()}


def test_every_region_altered_gets_the_reference_status(item: dict[str, bytes]) -> None:
    """Named alterations of each region: the script and the reference agree, pinned and
    not; and the known outcomes hold (a change is a failure, a harmless variant is not)."""
    seen: dict[str, tuple[str, str]] = {}
    for group in (_manifest_cases, _signature_cases, _wacz_cases, _warc_cases):
        for what, files in group(item).items():
            seen[what] = statuses(files)
    harmless = {"an uppercase SHA-256": ("fail", "fail"),  # sha256 must be lowercase hex
                "signed by an unpinned node": ("fail", "not-checked"),
                "also signed by an unpinned node": ("pass", "not-checked"),
                "signature line doubled": ("pass", "not-checked"),
                "a size as true": ("pass", "not-checked"),
                "node not an object": ("fail", "not-checked"),
                "node key a list": ("fail", "not-checked"),
                "result a string": ("pass", "not-checked"),
                "tls a list": ("pass", "not-checked"),
                "labels a string": ("pass", "not-checked"),
                "labels a number": ("pass", "not-checked"),
                "request missing": ("pass", "not-checked"),
                "a field changed, signed again": ("pass", "not-checked"),
                "datapackage.json changed, digest too": ("pass", "not-checked"),
                "node names another key": ("fail", "not-checked"),
                "over another manifest": ("fail", "not-checked"),
                "other header": ("fail", "not-checked"),
                "uppercase digest": ("fail", "not-checked"),
                "signature bytes altered": ("fail", "not-checked"),
                "garbage": ("fail", "not-checked"),
                "empty": ("fail", "not-checked"),
                "a CR in the note": ("fail", "not-checked"),
                "a field changed, not signed again": ("fail", "not-checked"),
                "a resource's hash in capitals": ("pass", "not-checked"),
                "a resource's size as a float": ("pass", "not-checked"),
                "an unlisted folder entry": ("pass", "not-checked"),
                "digest algorithm spelled SHA-256": ("pass", "not-checked"),
                "content type not HTTP": ("fail", "fail"),
                "trailing line breaks": ("pass", "not-checked"),
                "leading line breaks": ("pass", "not-checked"),
                "one gzip member": ("pass", "not-checked"),
                "empty gzip": ("pass", "not-checked")}
    wrong = {what: got for what, got in seen.items()
             if got != harmless.get(what, ("fail", "fail"))}
    assert not wrong, wrong


def _flip(data: bytes, i: int) -> bytes:
    return data[:i] + bytes([data[i] ^ (0x01, 0x20, 0x80)[i % 3]]) + data[i + 1:]


def _positions(n: int, count: int) -> range:
    return range(0, n, max(1, n // count))


def test_single_bytes_swept_across_each_region(item: dict[str, bytes]) -> None:
    """A byte changed at positions across the manifest, the signature, the whole WACZ,
    datapackage.json, the gzipped WARC and the inflated WARC (the WACZ's digests and the
    manifest made over the change, so that the inner checks must find it)."""
    outcomes: Counter[tuple[str, str, str]] = Counter()
    manifest, sig = item["capture-manifest.json"], item["capture-manifest.sig"]
    for i in _positions(len(manifest), 120):
        outcomes["manifest", *statuses({**item, "capture-manifest.json": _flip(manifest, i)})] \
            += 1
    for i in _positions(len(sig), 60):
        outcomes["signature", *statuses({**item, "capture-manifest.sig": _flip(sig, i)})] += 1
    wacz = item["capture.wacz"]
    for i in _positions(len(wacz), 150):
        outcomes["wacz", *statuses(with_wacz(item, _flip(wacz, i)))] += 1
    members = wacz_members(wacz)
    pkg = members["datapackage.json"]
    for i in _positions(len(pkg), 40):
        m = {**members, "datapackage.json": _flip(pkg, i)}
        outcomes["datapackage", *statuses(with_wacz(item, wacz_of(
            m, fix=False)))] += 1
    raw = members[warc_name(item)]
    for i in _positions(len(raw), 120):
        outcomes["warc.gz", *statuses(with_warc(item, _flip(raw, i)))] += 1
    plain = plain_warc(item)
    for i in _positions(len(plain), 200):
        outcomes["warc", *statuses(with_warc(item, gzip.compress(_flip(plain, i))))] += 1
    # not vacuous: each region has changes that fail and changes the rules let through
    regions = {r for r, _, _ in outcomes}
    assert regions == {"manifest", "signature", "wacz", "datapackage", "warc.gz", "warc"}
    for region in regions:
        assert sum(v for (r, p, _), v in outcomes.items() if r == region and p == "fail"), \
            (region, outcomes)
    assert sum(v for (r, p, _), v in outcomes.items() if p == "pass") > 0, outcomes


def _records(*heads: bytes) -> bytes:
    return b"".join(h + b"\r\n\r\n" for h in heads)


@pytest.mark.parametrize("size", [60 << 10, 64 << 10, (64 << 10) + 1, 70 << 10, 100 << 10,
                                  200 << 10, 300 << 10])
@pytest.mark.parametrize("members", [1, 3])
def test_header_limits_bite_where_the_reference_bites(size: int, members: int) -> None:
    """A header (WARC or HTTP) must end within 64 KiB: a rule on the bytes, so the answer
    is the same in one gzip member or several, and the script's is the reference's. WARC
    headers and HTTP headers of sizes around the limit, before and after a first record."""
    filler = b"X-Fill: " + b"a" * size
    http = b"HTTP/1.1 200 OK\r\nX-Fill: " + b"b" * size + b"\r\n\r\nbody"
    first = b"WARC/1.1\r\nWARC-Type: resource\r\nContent-Length: 3\r\n\r\nabc\r\n\r\n"
    cases = [
        b"WARC/1.1\r\n" + filler + b"\r\nContent-Length: 0\r\n\r\n\r\n\r\n",
        first + b"WARC/1.1\r\n" + filler + b"\r\nContent-Length: 0\r\n\r\n\r\n\r\n",
        b"WARC/1.1\r\nWARC-Type: response\r\nContent-Type: application/http\r\n"
        b"WARC-Payload-Digest: sha256:" + hashlib.sha256(b"body").hexdigest().encode()
        + b"\r\nContent-Length: " + str(len(http)).encode() + b"\r\n\r\n" + http + b"\r\n\r\n",
        first * 5 + b"WARC/1.1\r\n" + filler,  # ends inside the header
    ]
    for data in cases:
        step = -(-len(data) // members)
        gz = b"".join(gzip.compress(data[i:i + step]) for i in range(0, len(data), step))
        want = _ref_warc(gz)
        got = _script_warc(gz)
        assert got == want, (size, members, want, got)
        assert want == _ref_warc(gzip.compress(data)), (size, members)  # split-independent


def _ref_warc(gz: bytes) -> str:
    try:
        return f"pass {ref.check_warc(io.BytesIO(gz), 'x.warc.gz')}"
    except ref.WebcaptureError:
        return "fail"


def _script_warc(gz: bytes) -> str:
    try:
        return f"pass {vb.check_warc(io.BytesIO(gz), 'x.warc.gz')}"
    except vb.CaptureFail:
        return "fail"


def test_record_and_inflate_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The caps (records, inflated bytes) stop both at the same place; a gzip bomb ends."""
    monkeypatch.setattr(ref, "MAX_WARC_RECORDS", 3)
    monkeypatch.setattr(vb, "MAX_WARC_RECORDS", 3)
    rec = b"WARC/1.1\r\nContent-Length: 1\r\n\r\nx\r\n\r\n"
    for n in (3, 4):
        gz = gzip.compress(rec * n)
        assert _script_warc(gz) == _ref_warc(gz) == ("pass 3" if n == 3 else "fail")
    monkeypatch.setattr(ref, "MAX_INFLATED", 1 << 20)
    monkeypatch.setattr(vb, "MAX_WARC_INFLATED", 1 << 20)
    bomb = gzip.compress(b"WARC/1.1\r\nContent-Length: 99999999\r\n\r\n" + b"\0" * (4 << 20))
    assert _script_warc(bomb) == _ref_warc(bomb) == "fail"
    with pytest.raises(vb.CaptureFail, match="8 GiB"):
        vb.check_warc(io.BytesIO(bomb), "bomb.warc.gz")


def test_sha1_base32_and_hex_digests_are_read() -> None:
    """warcio writes SHA-1 in base32 by default; others write hex: both are read."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=True)
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/plain")], protocol="HTTP/1.1")
    w.write_record(w.create_warc_record("http://x.example/", "response",
                                        payload=io.BytesIO(b"hello"), http_headers=http))
    gz = buf.getvalue()
    assert _script_warc(gz) == _ref_warc(gz) == "pass 1"
    plain = gzip.decompress(gz)
    start = plain.index(b"WARC-Payload-Digest: sha1:") + len(b"WARC-Payload-Digest: ")
    end = plain.index(b"\r\n", start)
    for value, want in ((hashlib.sha1(b"hello").hexdigest(), "pass 1"),
                        (hashlib.sha1(b"hellO").hexdigest(), "fail")):
        gz = gzip.compress(plain[:start] + b"sha1:" + value.encode() + plain[end:])
        assert _script_warc(gz) == _ref_warc(gz) == want


# --- whole bundles, as a court runs the script ----------------------------------------------

ORIGIN = "capture-script.example/log"


class World:
    def __init__(self, root: Path, tsa: LocalTSA) -> None:
        self.root = root
        self.led = Ledger.create(root / "data", ORIGIN, checkpoint_interval=3600)
        self.store = FilesystemBlobStore(root / "data" / "blobs")
        intake = Intake(self.led, self.store)
        now = datetime.now(UTC)

        def stamp(t: datetime) -> str:
            return t.isoformat(timespec="microseconds").replace("+00:00", "Z")

        self.ended = {"good": stamp(now - timedelta(seconds=90)),
                      "ahead": stamp(now + timedelta(hours=2))}
        self.items: dict[str, str] = {}
        folders: dict[str, Path] = {}
        for name, node, ended in (("good", NODE, self.ended["good"]),
                                  ("ahead", NODE, self.ended["ahead"]),
                                  ("stranger", OTHER, self.ended["good"]),
                                  ("purged", NODE, self.ended["good"])):
            folders[name] = root / name
            manifest = make_capture(folders[name], node, ended_at=ended)
            files = [folders[name] / n for n in ("screenshot.png", "capture.wacz",
                                                  "capture-manifest.json",
                                                  "capture-manifest.sig")]
            self.items[name] = preserve(intake, Capture(folders[name], files, manifest),
                                        case="case-s", principal="acme-ip").evidence_id
        other = root / "dup"
        other.mkdir()
        (other / "screenshot.png").write_bytes(PNG + b"another")
        good = folders["good"]
        dup = Capture(good, [good / "screenshot.png", good / "capture.wacz",
                             good / "capture-manifest.json", good / "capture-manifest.sig",
                             other / "screenshot.png"], json.loads(
                                 (good / "capture-manifest.json").read_bytes()))
        self.items["duplicate"] = preserve(intake, dup, case="case-s",
                                           principal="acme-ip").evidence_id
        self.items["document"] = intake.submit(ItemSpec(
            files=[good / "capture-manifest.json", good / "capture.wacz"], kind="document",
            case="case-s", principal="acme-ip")).evidence_id
        intake.purge(self.items["purged"], reason="court order", principal="admin")
        size = self.led.sign_checkpoint_now().size
        self.witness = generate_signer("witness-s.example", ALG_COSIGNATURE_V1)
        anchor(self.led, size, tsa.url, tsa.ca_cert_pem, self.witness)
        self.ca_path = tsa.ca_pem_path
        self.env = clean_env(root / "clean")

    def bundle(self, item: str) -> Path:
        path = self.root / f"{item}.zip"
        if not path.exists():
            with path.open("wb") as f:
                export_bundle(self.led, self.store, self.items[item], f, now=FIXED_NOW)
        return path

    def pins(self, *nodes: Signer, tsa: bool = True) -> list[str]:
        out = ["--log-key", self.led.verifier_key, "--witness-key",
               self.witness.verifier().to_string(), "--witness-quorum", "1"]
        out += ["--tsa-ca", str(self.ca_path)] if tsa else ["--no-timestamps"]
        for n in nodes:
            out += ["--capture-node", n.verifier().to_string()]
        return out

    def run(self, item: str, args: list[str], *, json_out: bool = True
            ) -> tuple[int, Any, str]:
        p = run_clean(SCRIPT, [str(self.bundle(item)), *args,
                               *(["--json"] if json_out else [])], self.env, self.root)
        if p.returncode == 2:
            return 2, None, p.stderr
        assert "Traceback" not in p.stderr, p.stderr
        return p.returncode, json.loads(p.stdout) if json_out else p.stdout, p.stderr


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("wc-bundles"), tsa)
    yield w
    w.led.close()


def _check(report: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((c for c in report["checks"] if c["name"] == name), None)


def _offset(report: dict[str, Any], ended_at: str) -> float:
    first = datetime.fromisoformat(report["preserved_no_later_than"][0]["gen_time"])
    return (first - datetime.fromisoformat(ended_at.replace("Z", "+00:00"))).total_seconds()


@pytest.mark.tsa
def test_a_pinned_node_verifies_and_the_report_carries_the_capture(world: World) -> None:
    code, r, _ = world.run("good", world.pins(NODE))
    assert (code, r["verdict"]) == (0, "verified"), r["checks"]
    names = [c["name"] for c in r["checks"]]
    assert names[names.index("files") + 1] == "webcapture"
    assert _check(r, "webcapture")["status"] == "pass"
    doc = r["webcapture"]
    offset = doc.pop("clock_offset_seconds")
    assert doc == {"url": URL, "final_url": URL, "http_status": 200, "title": "Item 7",
                   "server_ip": "203.0.113.7", "tls_subject": "CN=shop.example",
                   "tls_issuer": "CN=Test CA", "started_at": "2026-12-06T20:59:58.250000Z",
                   "ended_at": world.ended["good"], "node": NODE.verifier().to_string(),
                   "node_name": NODE.name, "labels": ["never-settled"],
                   "screenshot": "screenshot.png"}
    assert isinstance(offset, float) and offset == _offset(r, world.ended["good"]) > 0
    # the check on the bundle's files is the reference's on the same files
    files = {f["name"]: (world.root / "good" / f["name"]).read_bytes() for f in r["files"]}
    assert ref.verify_webcapture(files, [NODE.verifier()]).status == "pass"


@pytest.mark.tsa
def test_the_same_pin_from_a_trust_file(world: World, tmp_path: Path) -> None:
    trust = tmp_path / "trust.txt"
    trust.write_text(f"log {world.led.verifier_key}\n"
                     f"witness w1 {world.witness.verifier().to_string()}\n"
                     "group g 1 w1\nquorum g\n"
                     "#@ tsa local " + _der_b64(world.ca_path) + "\n"
                     f"#@ capture-node shanghai-1 {NODE.verifier().to_string()}\n")
    code, r, _ = world.run("good", ["--trust", str(trust)])
    assert (code, r["verdict"]) == (0, "verified")
    assert r["webcapture"]["node_name"] == "shanghai-1"
    # the trust file and a shorthand pin together: a usage error, nothing verified
    code, _, err = world.run("good", ["--trust", str(trust), "--capture-node",
                                      NODE.verifier().to_string()])
    assert code == 2 and "not both" in err
    code, _, err = world.run("good", [*world.pins(), "--capture-node", "nonsense"])
    assert code == 2 and "capture-node" in err


def _der_b64(pem_path: Path) -> str:
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    cert = x509.load_pem_x509_certificate(pem_path.read_bytes())
    return base64.b64encode(cert.public_bytes(Encoding.DER)).decode()


@pytest.mark.tsa
def test_a_clock_ahead_is_a_warning_not_a_failure(world: World) -> None:
    code, r, _ = world.run("ahead", world.pins(NODE))
    assert (code, r["verdict"]) == (0, "verified")
    offset = r["webcapture"]["clock_offset_seconds"]
    assert offset == _offset(r, world.ended["ahead"]) and offset < -7000
    code, text, _ = world.run("ahead", world.pins(NODE), json_out=False)
    assert code == 0
    assert "WARNING: the capture node's clock was ahead by at least" in text
    assert "警告：采集节点的时钟至少快了" in text
    assert "screenshot.png" in text and URL in text
    _, text, _ = world.run("good", world.pins(NODE), json_out=False)
    assert "WARNING" not in text and "警告" not in text and URL in text


@pytest.mark.tsa
def test_no_node_pinned_is_incomplete_and_no_timestamp_no_offset(world: World) -> None:
    code, r, _ = world.run("good", world.pins())
    assert (code, r["verdict"], r["not_checked"]) == (3, "incomplete", ["webcapture"])
    assert r["webcapture"]["node_name"] is None
    assert r["webcapture"]["node"] == NODE.verifier().to_string()
    assert r["webcapture"]["clock_offset_seconds"] == _offset(r, world.ended["good"])
    code, r, _ = world.run("good", world.pins(NODE, tsa=False))
    assert (code, r["not_checked"]) == (3, ["timestamps"])
    assert r["webcapture"]["clock_offset_seconds"] is None
    assert r["webcapture"]["node_name"] == NODE.name


@pytest.mark.tsa
def test_failures_carry_no_capture(world: World) -> None:
    for item, pins in (("stranger", world.pins(NODE)), ("duplicate", world.pins(NODE)),
                       ("duplicate", world.pins())):
        code, r, _ = world.run(item, pins)
        assert (code, r["failed_check"]) == (1, "webcapture"), (item, r["checks"])
        assert r["webcapture"] is None and r["preserved_no_later_than"] == []
    _, r, _ = world.run("duplicate", world.pins(NODE))
    assert "two files" in _check(r, "webcapture")["reason"]
    # the stranger pinned as well: it verifies, under the name of its key
    code, r, _ = world.run("stranger", world.pins(NODE, OTHER))
    assert code == 0 and r["webcapture"]["node_name"] == OTHER.name


@pytest.mark.tsa
def test_no_check_for_other_kinds_or_a_purged_capture(world: World) -> None:
    for item in ("document", "purged"):
        code, r, _ = world.run(item, world.pins(NODE))
        assert code == 0 and _check(r, "webcapture") is None, (item, r["checks"])
        assert r["webcapture"] is None


@pytest.mark.tsa
def test_the_copy_in_the_bundle_is_this_script(world: World) -> None:
    """Bundles carry the script: the copy that checks web captures is the one shipped."""
    with zipfile.ZipFile(world.bundle("good")) as z:
        assert z.read("tools/verify_bundle.py") == SCRIPT.read_bytes()

