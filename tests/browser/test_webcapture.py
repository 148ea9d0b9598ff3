"""The verify page's ``webcapture`` check (docs/verdict.md section 6), in real Chromium,
held equal to the reference, ``evidence.verify.webcapture.verify_webcapture``.

- ``EvidenceVerify.verifyWebcapture(files, nodes)`` on a capture's files built as the
  capture writes them (warcio's WARC, py-wacz's WACZ, the manifest signed by
  ``write_manifest``) and on each way of breaking them: the manifest, its signature, the
  datapackage files, a WARC payload byte with its digest kept, gzip cut short or damaged,
  an unknown digest algorithm, an unlisted WACZ member, no pinned node. Status and both
  reasons must be the reference's, word for word; on pass and not-checked the capture's
  facts too. Byte flips across the gzip and the deflated ZIP members hold the page's own
  inflate to zlib's rules.
- A whole bundle of a preserved capture (the real intake, the local OpenSSL TSA, a
  witness), verified through the page with a trust file that pins the node: the same
  checks as the package, the capture's facts, the clock offset, the screenshot shown from
  the bundle, the node's clock ahead shown as a warning, and a forged WARC payload red.

Skips with the reason when playwright or chromium is missing.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.bundle.export import export_bundle
from evidence.ledger.capture.run import Capture, preserve
from evidence.ledger.intake import Intake
from evidence.ledger.log import Ledger
from evidence.verify.bundle import verify_bundle
from evidence.verify.note import ALG_COSIGNATURE_V1, Signer, generate_signer
from evidence.verify.trust import parse_trust
from evidence.verify.webcapture import verify_webcapture
from tests.support import capture_files as cf
from tests.support.browser import shared_browser
from tests.support.bundle_world import FIXED_NOW, anchor
from tests.support.capture_files import (
    NODE,
    Files,
    exchange,
    files_of,
    resign,
    result,
    rezip,
    wacz_members,
    with_wacz,
    write_capture,
)
from tests.support.tsa import LocalTSA

pytest.importorskip("warcio")
pytest.importorskip("wacz")

ROOT = Path(__file__).resolve().parents[2]
PAGE_URL = (ROOT / "evidence" / "api" / "static" / "verify" / "index.html").as_uri()
ARTIFACTS = ROOT / "test-artifacts" / "verify-page"


def png(width: int = 24, height: int = 16) -> bytes:
    """A real PNG (the page must be able to show it): a two-colour gradient."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    rows = b"".join(b"\0" + b"".join(bytes((x * 10 % 256, y * 15 % 256, 120))
                                     for x in range(width)) for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                                0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PNG = png()


# --- the browser (one per module) ---------------------------------------------------------

@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest) -> Any:
    return shared_browser(request)


class Page:
    """One tab on the page from file://, recording console and page errors."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(30_000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))

    def open(self, lang: str = "en", trust: Path | None = None) -> Page:
        self.page.goto("about:blank")
        self.page.goto(f"{PAGE_URL}#lang={lang}")
        self.page.evaluate("() => window.EvidencePage.trustReady")
        if trust is not None:
            self.page.set_input_files("#trust-file", str(trust))
            self.page.wait_for_function("() => document.getElementById('trust-fingerprint') || "
                                        "document.querySelector('#trust-status.bad')")
        return self

    def check(self, files: Files, nodes: list[str]) -> dict[str, Any]:
        """EvidenceVerify.verifyWebcapture on the files (bytes crossing as base64)."""
        return self.page.evaluate("""async ([files, nodes]) => {
            const m = new Map();
            const bytes = (v) => Uint8Array.from(atob(v), (c) => c.charCodeAt(0));
            for (const [k, v] of Object.entries(files)) m.set(k, bytes(v));
            return await EvidenceVerify.verifyWebcapture(m, nodes);
        }""", [{k: base64.b64encode(v).decode() for k, v in files.items()}, nodes])

    def verify(self, bundle: Path) -> dict[str, Any]:
        self.page.set_input_files("#bundle-input", str(bundle))
        self.page.wait_for_function(
            "() => !window.EvidencePage.state.busy && "
            "document.getElementById('verdict').dataset.verdict", timeout=120_000)
        return self.page.evaluate("""() => ({
            verdict: document.getElementById('verdict').dataset.verdict,
            text: document.querySelector('main').innerText,
            report: JSON.parse(JSON.stringify(window.EvidencePage.state.report))})""")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser: Any) -> Iterator[Page]:
    p = Page(browser).open()
    yield p
    assert not p.errors, p.errors
    p.close()


# --- a capture's files, as the capture writes them ---------------------------------------


def make_capture(out: Path, node: Signer, *, ended_at: str = "2026-12-06T21:00:01.250000Z",
                 url: str = "https://shop.example/") -> Files:
    write_capture(out, node, [exchange(url, b"<title>x</title>page " * 50),
                              exchange(url + "a.png", PNG, "image/png")],
                  screenshot=PNG, title="x", text="page",
                  fields={"request": {"url": url}, "started_at": "2026-12-06T21:00:00.000000Z",
                          "ended_at": ended_at, "result": result(url, "x")})
    return files_of(out)


@pytest.fixture(scope="module")
def item(tmp_path_factory: pytest.TempPathFactory) -> Files:
    return make_capture(tmp_path_factory.mktemp("capture"), NODE)


def warc_of(item: Files) -> tuple[str, bytes]:
    return cf.warc_of(item["capture.wacz"])


def with_warc(item: Files, warc: bytes) -> Files:
    name, _ = warc_of(item)
    return with_wacz(item, rezip(item["capture.wacz"], {name: warc}))


def plain(item: Files) -> bytes:
    return gzip.decompress(warc_of(item)[1])


def records(item: Files) -> list[bytes]:
    """The WARC's records (each with its trailing CRLF CRLF), uncompressed."""
    data, out, i = plain(item), [], 0
    while i < len(data):
        head_end = data.index(b"\r\n\r\n", i) + 4
        length = int(next(line.split(b":", 1)[1] for line in data[i:head_end].split(b"\r\n")
                          if line.lower().startswith(b"content-length:")))
        out.append(data[i:head_end + length + 4])
        i = head_end + length + 4
    return out


def members_gz(recs: list[bytes]) -> bytes:
    return b"".join(gzip.compress(r, mtime=0) for r in recs)


def redigest(item: Files, encode: Callable[[str, bytes], str], algo: str = "sha256") -> Files:
    """Every record's digests rewritten with ``algo`` in the encoding ``encode`` gives."""
    out = []
    for r in records(item):
        head_end = r.index(b"\r\n\r\n") + 4
        head, block = r[:head_end], r[head_end:-4]
        payload = block.split(b"\r\n\r\n", 1)[1] if b"application/http" in head else block
        lines = []
        for line in head.split(b"\r\n"):
            if line.startswith(b"WARC-Block-Digest:"):
                line = ("WARC-Block-Digest: " + encode(algo, hashlib.new(algo, block).digest())
                        ).encode()
            elif line.startswith(b"WARC-Payload-Digest:"):
                line = ("WARC-Payload-Digest: "
                        + encode(algo, hashlib.new(algo, payload).digest())).encode()
            lines.append(line)
        out.append(b"\r\n".join(lines) + block + b"\r\n\r\n")
    return with_warc(item, members_gz(out))


def gzip_header_member(data: bytes, *, name: bytes = b"", hcrc: int | None = None,
                       extra: bytes = b"") -> bytes:
    """One gzip member with the optional header fields zlib reads (FEXTRA, FNAME, FHCRC)."""
    flags = (4 if extra else 0) | (8 if name else 0) | (2 if hcrc is not None else 0)
    head = b"\x1f\x8b\x08" + bytes([flags]) + b"\0\0\0\0\0\xff"
    if extra:
        head += struct.pack("<H", len(extra)) + extra
    if name:
        head += name + b"\0"
    if hcrc is not None:
        head += struct.pack("<H", (zlib.crc32(head) & 0xFFFF) ^ hcrc)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = c.compress(data) + c.flush()
    return head + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


# --- the files, broken one way at a time ---------------------------------------------------


def _manifest(item: Files) -> dict[str, Any]:
    return json.loads(item["capture-manifest.json"])


def _with_int(item: Files, text: str) -> Files:
    """A manifest carrying a number written as ``text`` (canonical around it)."""
    m = _manifest(item)
    m["extra"] = "@@N@@"
    return resign(item, rfc8785.dumps(m).replace(b'"@@N@@"', text.encode()))


def _datapackage_utf16(item: Files) -> Files:
    members = wacz_members(item["capture.wacz"])
    pkg = members["datapackage.json"].decode().encode("utf-16")
    digest = json.dumps({"path": "datapackage.json",
                         "hash": "sha256:" + hashlib.sha256(pkg).hexdigest()}).encode()
    return with_wacz(item, rezip(item["capture.wacz"], {"datapackage.json": pkg,
                                                        "datapackage-digest.json": digest},
                                 fix=False))


def _datapackage_nan(item: Files) -> Files:
    members = wacz_members(item["capture.wacz"])
    pkg = members["datapackage.json"].replace(b"{", b'{"odd": NaN, ', 1)
    digest = json.dumps({"path": "datapackage.json",
                         "hash": "SHA256:" + hashlib.sha256(pkg).hexdigest().upper()}).encode()
    return with_wacz(item, rezip(item["capture.wacz"], {"datapackage.json": pkg,
                                                        "datapackage-digest.json": digest},
                                 fix=False))


def _b32(algo: str, d: bytes) -> str:
    return f"{algo}:{base64.b32encode(d).decode()}"


def _resource_with_header_of(total: int) -> bytes:
    """A WARC resource record whose WARC header, through its blank line, is ``total``
    bytes (the limit is on where the header ends, whatever the gzip split)."""
    head = b"WARC/1.1\r\nWARC-Type: resource\r\nContent-Length: 2\r\nX-Pad: "
    return head + b"a" * (total - len(head) - 4) + b"\r\n\r\nok\r\n\r\n"


def _split_gz(data: bytes, k: int) -> bytes:
    step = -(-len(data) // k)
    return b"".join(gzip.compress(data[i:i + step]) for i in range(0, len(data), step))


def _bzip2_member(wacz: bytes, name: str) -> bytes:
    """The WACZ with one member recompressed with bzip2 (Python reads it, a browser has no
    bzip2): every verifier fails such a member rather than check it or not."""
    src = zipfile.ZipFile(io.BytesIO(wacz))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for info in src.infolist():
            z.writestr(info.filename, src.read(info.filename),
                       zipfile.ZIP_BZIP2 if info.filename == name else info.compress_type)
    return out.getvalue()


CASES: dict[str, tuple[str, Callable[[Files], Files], bool]] = {
    # name: (expected status, files, pin the node)
    "good": ("pass", lambda i: i, True),
    "no pinned node": ("not-checked", lambda i: i, False),
    "no pinned node, screenshot changed": ("fail", lambda i: {**i, "screenshot.png": PNG + b"x"},
                                           False),
    "manifest byte changed": ("fail", lambda i: {**i, "capture-manifest.json":
                              i["capture-manifest.json"].replace(b"shop.example", b"shop.exbmple",
                                                                 1)}, True),
    "manifest not canonical": ("fail", lambda i: resign(i, json.dumps(_manifest(i), indent=1)
                                                         .encode()), True),
    "manifest not JSON": ("fail", lambda i: resign(i, b"{"), True),
    "manifest integer beyond 2^53": ("fail", lambda i: _with_int(i, "9007199254740992"), True),
    "manifest integer 2^53-1": ("pass", lambda i: _with_int(i, "9007199254740991"), True),
    "manifest number 1e+21": ("pass", lambda i: _with_int(i, "1e+21"), True),
    "manifest number 0.000001": ("pass", lambda i: _with_int(i, "0.000001"), True),
    "manifest number 1e21 written out": ("fail", lambda i: _with_int(i, "1e21"), True),
    "manifest in UTF-16": ("fail", lambda i: resign(i, b"\xff\xfe" + i["capture-manifest.json"]
                                                     .decode().encode("utf-16-le")), True),
    "manifest of another schema": ("fail", lambda i: resign(i, {**_manifest(i), "schema": "x"}),
                                   True),
    "signature byte changed": ("fail", lambda i: {**i, "capture-manifest.sig":
                               i["capture-manifest.sig"].replace(b" capture.test/node-v ",
                                                                 b" capture.test/node-v A", 1)
                               .replace(b" capture.test/node-v AA", b" capture.test/node-v B",
                                        1)}, True),
    "signature over another manifest": ("fail", lambda i: {**i, "capture-manifest.json":
                                        resign(i, {**_manifest(i), "ended_at": "c"})[
                                            "capture-manifest.json"]}, True),
    "signature missing": ("fail", lambda i: {k: v for k, v in i.items()
                                             if k != "capture-manifest.sig"}, True),
    "signed by a node that is not pinned": ("fail", lambda i: resign(
        i, _manifest(i), generate_signer("capture.test/rogue")), True),
    "manifest names another node": ("fail", lambda i: resign(
        i, {**_manifest(i), "node": {"key": generate_signer("x.test/n").verifier().to_string()}}),
        True),
    "screenshot changed": ("fail", lambda i: {**i, "screenshot.png": PNG + b"x"}, True),
    "screenshot not listed as one": ("fail", lambda i: resign(i, {**_manifest(i), "files": [
        f for f in _manifest(i)["files"] if f["role"] != "screenshot"]}), True),
    "datapackage changed": ("fail", lambda i: with_wacz(i, rezip(i["capture.wacz"], {
        "datapackage.json": wacz_members(i["capture.wacz"])["datapackage.json"] + b" "},
        fix=False)), True),
    "datapackage-digest missing": ("fail", lambda i: with_wacz(i, rezip(
        i["capture.wacz"], {"datapackage-digest.json": None}, fix=False)), True),
    "datapackage in UTF-16 (Python reads it)": ("pass", _datapackage_utf16, True),
    "datapackage with NaN, digest in capitals (Python reads it)": ("pass", _datapackage_nan,
                                                                    True),
    "unlisted WACZ member": ("fail", lambda i: with_wacz(i, rezip(i["capture.wacz"],
                                                                  {"extra.txt": b"x"})), True),
    "unlisted folder entry": ("pass", lambda i: with_wacz(i, rezip(i["capture.wacz"],
                                                                   {"extra/": b""})), True),
    "WACZ is not a ZIP": ("fail", lambda i: with_wacz(i, b"PK\x03\x04 broken"), True),
    "WACZ all deflated": ("pass", lambda i: with_wacz(i, rezip(
        i["capture.wacz"], {}, method=zipfile.ZIP_DEFLATED)), True),
    "WARC payload byte changed, digests kept": ("fail", lambda i: with_warc(i, gzip.compress(
        plain(i).replace(b"x</title>page", b"X</title>page", 1))), True),
    "WARC gzip cut short": ("fail", lambda i: with_warc(i, warc_of(i)[1][:-30]), True),
    "WARC gzip trailer cut": ("fail", lambda i: with_warc(i, warc_of(i)[1][:-3]), True),
    "WARC empty": ("fail", lambda i: with_warc(i, b""), True),
    "WARC not gzip": ("fail", lambda i: with_warc(i, plain(i)), True),
    "WARC garbage after the last member": ("fail", lambda i: with_warc(
        i, warc_of(i)[1] + b"junk"), True),
    "WARC zero byte after the last member": ("fail", lambda i: with_warc(
        i, warc_of(i)[1] + b"\0"), True),
    "WARC one gzip member for all records": ("pass", lambda i: with_warc(
        i, gzip.compress(plain(i))), True),
    "WARC members with FNAME, FEXTRA and a good FHCRC": ("pass", lambda i: with_warc(i, b"".join(
        gzip_header_member(r, name=b"r.warc", extra=b"ab\x02\x00xy", hcrc=0)
        for r in records(i))), True),
    "WARC member with a bad FHCRC": ("fail", lambda i: with_warc(i, b"".join(
        gzip_header_member(r, hcrc=1) for r in records(i))), True),
    "WARC record cut short": ("fail", lambda i: with_warc(i, gzip.compress(plain(i)[:-40])),
                              True),
    "WARC Content-Length lies": ("fail", lambda i: with_warc(i, gzip.compress(plain(i).replace(
        b"Content-Length: ", b"Content-Length: 1", 1))), True),
    "WARC Content-Length in other digits (int() reads them)": ("pass", lambda i: with_warc(
        i, gzip.compress(
        plain(i).replace(b"Content-Length: 16\r\n", "Content-Length: １_6\r\n".encode(), 1))),
        True),
    "WARC Content-Length with + and _": ("pass", lambda i: with_warc(i, gzip.compress(
        plain(i).replace(b"Content-Length: 16\r\n", b"Content-Length: +1_6\r\n", 1))), True),
    "WARC not WARC": ("fail", lambda i: with_warc(i, gzip.compress(b"HTTP/1.1 200 OK\r\n\r\n")),
                      True),
    "WARC unknown digest algorithm": ("fail", lambda i: with_warc(i, gzip.compress(plain(
        i).replace(b"WARC-Block-Digest: sha256:", b"WARC-Block-Digest: md5:", 1))), True),
    "WARC response without payload digest": ("fail", lambda i: with_warc(i, members_gz([
        r if b"WARC-Type: response" not in r else
        b"\r\n".join(x for x in r.split(b"\r\n") if not x.startswith(b"WARC-Payload-Digest"))
        for r in records(i)])), True),
    "WARC header over 64 KiB": ("fail", lambda i: with_warc(i, gzip.compress(
        b"WARC/1.1\r\nX: " + b"a" * (100 << 10))), True),
    **{f"WARC header ending at {n} bytes, {k} gzip member(s)": (
        "pass" if n <= 64 << 10 else "fail",
        lambda i, n=n, k=k: with_warc(i, _split_gz(_resource_with_header_of(n), k)), True)
       for n in (64 << 10, (64 << 10) + 1) for k in (1, 3)},
    "a WACZ member compressed with bzip2": ("fail", lambda i: with_wacz(i, _bzip2_member(
        i["capture.wacz"], "pages/pages.jsonl")), True),
    "datapackage.json over 4 MiB": ("fail", lambda i: with_wacz(i, rezip(
        i["capture.wacz"], {"datapackage.json": b" " * (4 << 20) + b"{}"}, fix=False)), True),
    "WARC digests SHA-1 base32": ("pass", lambda i: redigest(i, _b32, "sha1"), True),
    "WARC digests SHA-256 lowercase base32": ("pass", lambda i: redigest(
        i, lambda a, d: _b32(a, d).lower()), True),
    "WARC digests hex with blanks between pairs": ("pass", lambda i: redigest(
        i, lambda a, d: f"SHA-256:{' '.join(d[k:k + 2].hex() for k in range(0, 32, 2))}"),
        True),
    "WARC digests hex with a blank inside a pair": ("fail", lambda i: redigest(
        i, lambda a, d: f"sha256:{d.hex()[:3]} {d.hex()[3:]}"), True),
    "WARC digests base64": ("pass", lambda i: redigest(
        i, lambda a, d: f"sha1:{base64.b64encode(d).decode()}", "sha1"), True),
    "WARC digests base64 with excess padding": ("fail", lambda i: redigest(
        i, lambda a, d: f"sha1:{base64.b64encode(d).decode()}=", "sha1"), True),
    "WARC digests base64 without padding": ("fail", lambda i: redigest(
        i, lambda a, d: f"sha1:{base64.b64encode(d).decode().rstrip('=')}", "sha1"), True),
}


def reference(files: Files, pinned: bool) -> dict[str, Any]:
    r = verify_webcapture(files, [NODE.verifier()] if pinned else [])
    return {"status": r.status, "reason": r.reason, "reason_zh": r.reason_zh,
            "summary": r.summary}


SUMMARY_KEYS = ("url", "final_url", "http_status", "title", "server_ip", "tls_subject",
                "tls_issuer", "started_at", "ended_at", "node", "labels")


@pytest.mark.parametrize("case", list(CASES))
def test_page_equals_reference(tab: Page, item: Files, case: str) -> None:
    want_status, make, pinned = CASES[case]
    files = make(item)
    ref = reference(files, pinned)
    got = tab.check(files, [NODE.verifier().to_string()] if pinned else [])
    assert ref["status"] == want_status, ref
    assert (got["status"], got["reason"], got["reason_zh"]) == (
        ref["status"], ref["reason"], ref["reason_zh"])
    assert "\n" not in got["reason"] + got["reason_zh"] and len(got["reason"]) <= 300
    if want_status == "fail":
        assert got["summary"] == {}
    else:
        assert {k: got["summary"][k] for k in SUMMARY_KEYS} == {
            k: ref["summary"][k] for k in SUMMARY_KEYS}
        assert got["screenshot"] == ref["summary"].get("screenshot", "screenshot.png")
        assert got["node_name"] == (NODE.name if pinned else None)


def _flipped(item: Files, at: list[int], target: Callable[[Files], tuple[str, bytes]],
             put: Callable[[Files, bytes], Files]) -> list[tuple[int, Files]]:
    _, data = target(item)
    return [(p, put(item, data[:p] + bytes([data[p] ^ 0x5A]) + data[p + 1:])) for p in at]


def _spread(n: int, count: int) -> list[int]:
    return sorted({min(n - 1, k * n // count) for k in range(count)} | {0, 1, 3, 9, n - 1, n - 5})


def test_gzip_byte_flips_equal_reference(tab: Page, item: Files) -> None:
    """A byte of the WARC's gzip changed at many places (headers, deflate data, trailers),
    the WACZ and manifest made over it: the page's inflate fails, or not, as zlib does."""
    _, warc = warc_of(item)
    starts = [i for i in range(len(warc) - 1) if warc[i:i + 3] == b"\x1f\x8b\x08"]
    at = sorted(set(_spread(len(warc), 60)) | {s + k for s in starts[:2] for k in range(12)})
    passed = []
    for p, files in _flipped(item, at, warc_of, with_warc):
        ref = reference(files, True)
        got = tab.check(files, [NODE.verifier().to_string()])
        assert (p, got["status"], got["reason"], got["reason_zh"]) == (
            p, ref["status"], ref["reason"], ref["reason_zh"])
        if got["status"] == "pass":
            passed.append(p)
    # only a member header's MTIME, XFL and OS bytes are read by nobody
    assert passed and all(any(4 <= p - s <= 9 for s in starts) for p in passed), passed


def test_deflated_member_byte_flips_equal_reference(tab: Page, item: Files) -> None:
    """A byte of the WACZ's deflated datapackage.json changed in place (CRC and digests
    left as they were): refused as zipfile and zlib refuse it."""
    wacz = item["capture.wacz"]
    info = zipfile.ZipFile(io.BytesIO(wacz)).getinfo("datapackage.json")
    assert info.compress_type == zipfile.ZIP_DEFLATED
    name_len, extra_len = struct.unpack("<HH", wacz[info.header_offset + 26:
                                                    info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    statuses = []
    for p in _spread(info.compress_size, 25):
        bad = wacz[:start + p] + bytes([wacz[start + p] ^ 0x21]) + wacz[start + p + 1:]
        files = with_wacz(item, bad)
        ref = reference(files, True)
        got = tab.check(files, [NODE.verifier().to_string()])
        assert (p, got["status"], got["reason"]) == (p, ref["status"], ref["reason"])
        statuses.append(got["status"])
    # a flip in the last byte's unused bits changes nothing: that one passes in both
    assert statuses.count("fail") >= len(statuses) - 2


# --- a whole bundle through the page ----------------------------------------------------------


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="microseconds").replace("+00:00", "Z")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> Iterator[dict[str, Any]]:
    """Three captures preserved through the real intake and anchored (TSA and witness):
    an honest one, one whose node clock is a day ahead, and one whose WARC carries a
    payload changed after its digests were written (WACZ and manifest made over it)."""
    root = tmp_path_factory.mktemp("capture-bundles")
    led = Ledger.create(root / "data", "capture-page.example/log", checkpoint_interval=3600)
    store = FilesystemBlobStore(root / "data" / "blobs")
    intake = Intake(led, store)
    now = datetime.now(UTC)
    made = {"good": make_capture(root / "good", NODE, ended_at=_iso(now - timedelta(seconds=90))),
            "ahead": make_capture(root / "ahead", NODE, ended_at=_iso(now + timedelta(days=1)))}
    forged = make_capture(root / "forged-src", NODE, ended_at=_iso(now))
    made["forged"] = with_warc(forged, gzip.compress(
        plain(forged).replace(b"x</title>page", b"X</title>page", 1)))
    items = {}
    for name, files in made.items():
        folder = root / f"item-{name}"
        folder.mkdir()
        for n, data in files.items():
            (folder / n).write_bytes(data)
        cap = Capture(folder, [folder / n for n in sorted(files)],
                      json.loads(files["capture-manifest.json"]))
        items[name] = preserve(intake, cap, case="case-p", principal="acme-ip").evidence_id
    size = led.sign_checkpoint_now().size
    witness = generate_signer("witness-p.example", ALG_COSIGNATURE_V1)
    anchor(led, size, tsa.url, tsa.ca_cert_pem, witness)
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    root_der = x509.load_pem_x509_certificate(tsa.ca_cert_pem).public_bytes(Encoding.DER)
    base = [f"log {led.verifier.to_string()}", f"witness court-w {witness.verifier().to_string()}",
            "group court any court-w", "quorum court",
            f"#@ tsa test-root {base64.b64encode(root_der).decode()}"]
    trusts = {"pinned": [*base, f"#@ capture-node shanghai-1 {NODE.verifier().to_string()}"],
              "unpinned": base}
    out: dict[str, Any] = {"trust": {}, "bundle": {}, "trust_bytes": {}}
    for name, lines in trusts.items():
        out["trust_bytes"][name] = ("\n".join(lines) + "\n").encode()
        out["trust"][name] = root / f"trust-{name}.txt"
        out["trust"][name].write_bytes(out["trust_bytes"][name])
    for name, evidence_id in items.items():
        buf = io.BytesIO()
        export_bundle(led, store, evidence_id, buf, now=FIXED_NOW)
        out["bundle"][name] = root / f"{name}.zip"
        out["bundle"][name].write_bytes(buf.getvalue())
    yield out
    led.close()


def package(world: dict[str, Any], bundle: str, trust: str) -> dict[str, Any]:
    r = verify_bundle(str(world["bundle"][bundle]), parse_trust(world["trust_bytes"][trust]))
    return json.loads(json.dumps(r.to_json()))


def statuses(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["name"], c["status"]) for c in report["checks"]]


@pytest.mark.tsa
def test_bundle_verified_with_the_capture_shown(tab: Page, world: dict[str, Any]) -> None:
    got = tab.open(trust=world["trust"]["pinned"]).verify(world["bundle"]["good"])
    ref = package(world, "good", "pinned")
    r = got["report"]
    assert got["verdict"] == r["verdict"] == ref["verdict"] == "verified"
    assert statuses(r) == statuses(ref)
    assert ("webcapture", "pass") in statuses(r)
    w, want = r["webcapture"], ref["webcapture"]
    assert {k: w[k] for k in want if k != "clock_offset_seconds"} == {
        k: want[k] for k in want if k != "clock_offset_seconds"}
    assert w["node_name"] == "shanghai-1" and w["screenshot"] == "screenshot.png"
    assert w["clock_offset_seconds"] == pytest.approx(want["clock_offset_seconds"], abs=1e-6)
    assert 90 <= w["clock_offset_seconds"] < 3600
    # the facts, the screenshot from the bundle, what a court can and cannot conclude
    tab.page.wait_for_function("() => { const i = document.getElementById('capture-screenshot');"
                               " return i && i.complete && i.naturalWidth > 0; }")
    img = tab.page.evaluate("() => { const i = document.getElementById('capture-screenshot');"
                            " return [i.src, i.naturalWidth, i.naturalHeight]; }")
    assert img[0].startswith("blob:") and img[1:] == [24, 16]
    text = tab.page.locator("#capture").inner_text()
    for want_text in ("https://shop.example/", "203.0.113.7", "CN=shop.example", "CN=Test CA",
                      "shanghai-1", "never-settled", "A court can conclude",
                      "A court cannot conclude", "at most"):
        assert want_text in text, want_text
    assert tab.page.locator("#capture-clock-warning").count() == 0
    tab.page.screenshot(path=str(ARTIFACTS / "webcapture-verified-en.png"), full_page=True)
    got = tab.open(lang="zh", trust=world["trust"]["pinned"]).verify(world["bundle"]["good"])
    text = tab.page.locator("#capture").inner_text()
    for want_text in ("法院可以认定", "法院不能认定", "服务器 IP 地址", "已在信任文件中固定"):
        assert want_text in text, want_text
    tab.page.screenshot(path=str(ARTIFACTS / "webcapture-verified-zh.png"), full_page=True)


@pytest.mark.tsa
def test_bundle_node_clock_ahead_is_a_warning(tab: Page, world: dict[str, Any]) -> None:
    got = tab.open(trust=world["trust"]["pinned"]).verify(world["bundle"]["ahead"])
    ref = package(world, "ahead", "pinned")
    assert got["verdict"] == ref["verdict"] == "verified"
    off = got["report"]["webcapture"]["clock_offset_seconds"]
    assert off == pytest.approx(ref["webcapture"]["clock_offset_seconds"], abs=1e-6)
    assert off < -86000
    warning = tab.page.locator("#capture-clock-warning").inner_text()
    assert "clock was ahead by at least" in warning


@pytest.mark.tsa
def test_bundle_without_a_pinned_node_is_incomplete(tab: Page, world: dict[str, Any]) -> None:
    got = tab.open(trust=world["trust"]["unpinned"]).verify(world["bundle"]["good"])
    ref = package(world, "good", "unpinned")
    r = got["report"]
    assert got["verdict"] == ref["verdict"] == "incomplete"
    assert statuses(r) == statuses(ref) and r["not_checked"] == ["webcapture"]
    assert r["webcapture"]["node_name"] is None
    assert "no capture-node key is pinned" in got["text"]
    assert "no capture node is pinned" in tab.page.locator("#capture").inner_text()


@pytest.mark.tsa
def test_bundle_with_a_forged_payload_fails(tab: Page, world: dict[str, Any]) -> None:
    got = tab.open(trust=world["trust"]["pinned"]).verify(world["bundle"]["forged"])
    ref = package(world, "forged", "pinned")
    r = got["report"]
    assert got["verdict"] == ref["verdict"] == "failed"
    assert r["failed_check"] == ref["failed_check"] == "webcapture"
    assert statuses(r) == statuses(ref)
    c = next(c for c in r["checks"] if c["name"] == "webcapture")
    assert "digest of the record for https://shop.example/ does not match" in c["reason"]
    assert "摘要与内容不符（已被改动）" in c["reason_zh"]
    assert r["webcapture"] is None and tab.page.locator("#capture").count() == 0
