"""evidence.verify.webcapture on hostile and damaged input, without a browser: WARC and
WACZ files built here (the WARC with warcio, as the capture writes it), then broken one
way at a time. Every failure is a ``fail`` with a one-line reason in both languages,
never an exception, and never a pass."""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import rfc8785

from evidence.verify.note import generate_signer
from evidence.verify.webcapture import WebcaptureError, check_wacz, check_warc, verify_webcapture
from tests.support.capture_files import (
    NODE,
    exchange,
    files_of,
    resign,
    rezip,
    warc_of,
    with_wacz,
    write_capture,
)

pytest.importorskip("warcio")
pytest.importorskip("wacz")

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(scope="module")
def item(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("v")
    gz = [("Content-Encoding", "gzip")]
    write_capture(out, NODE, [exchange("https://shop.example/", b"<title>x</title>page " * 50,
                                       extra_headers=gz),
                              exchange("https://shop.example/a.png", PNG, extra_headers=gz)],
                  screenshot=PNG, title="x", text="page", capture_id="t", media_types=("x", "x"),
                  fields={"request": {"url": "https://shop.example/"}, "started_at": "a",
                          "ended_at": "b",
                          "result": {"final_url": "https://shop.example/", "labels": []}})
    return files_of(out)


def _fail(files: dict[str, bytes]) -> str:
    r = verify_webcapture(files, [NODE.verifier()])
    assert r.status == "fail", r
    assert r.reason and r.reason_zh and "\n" not in r.reason + r.reason_zh
    assert len(r.reason) <= 300 and len(r.reason_zh) <= 300
    assert r.summary == {}
    return r.reason


def test_good_item_passes(item: dict[str, bytes]) -> None:
    r = verify_webcapture(item, [NODE.verifier()])
    assert r.status == "pass" and r.warc_records == 5
    assert r.to_check()["name"] == "webcapture" and r.to_check()["ok"] is True


def _rezip(wacz: bytes, change: dict[str, bytes | None], *, fix_digests: bool) -> bytes:
    """The WACZ rebuilt with every member stored (the Python reader takes either)."""
    return rezip(wacz, change, fix=fix_digests, method=zipfile.ZIP_STORED)


def test_damaged_wacz_and_warc_fail(item: dict[str, bytes]) -> None:
    wacz = item["capture.wacz"]
    name, warc = warc_of(wacz)
    plain = gzip.decompress(warc)
    cases = {
        "payload changed": gzip.compress(plain.replace(b"x</title>page", b"X</title>page", 1)),
        "record cut short": gzip.compress(plain[:-40]),
        "length lies": gzip.compress(plain.replace(b"Content-Length: ", b"Content-Length: 1",
                                                   1)),
        "not gzip": b"WARC/1.1\r\n" + plain[10:],
        "gzip cut": warc[:-30],
        "not WARC": gzip.compress(b"HTTP/1.1 200 OK\r\n\r\n"),
    }
    for what, bad in cases.items():
        reason = _fail(with_wacz(item, _rezip(wacz, {name: bad}, fix_digests=True)))
        assert "WARC" in reason or name in reason, (what, reason)
    # the WACZ's own digests
    assert "datapackage" in _fail(with_wacz(item, _rezip(
        wacz, {name: gzip.compress(plain)}, fix_digests=False)))
    assert "does not list" in _fail(with_wacz(item, _rezip(
        wacz, {"extra.txt": b"x"}, fix_digests=True)))
    assert "datapackage-digest.json" in _fail(with_wacz(item, _rezip(
        wacz, {"datapackage-digest.json": None}, fix_digests=False)))
    assert "not a ZIP" in _fail(with_wacz(item, b"PK\x03\x04 broken"))


def test_gzip_bomb_and_huge_headers_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import evidence.verify.webcapture as W

    monkeypatch.setattr(W, "MAX_INFLATED", 1 << 20)
    bomb = gzip.compress(b"WARC/1.1\r\nContent-Length: 99999999\r\n\r\n" + b"\0" * (4 << 20))
    with pytest.raises(WebcaptureError, match="inflates beyond"):
        check_warc(io.BytesIO(bomb), "bomb.warc.gz")
    long_header = gzip.compress(b"WARC/1.1\r\n" + b"X: " + b"a" * (100 << 10))
    with pytest.raises(WebcaptureError, match="too long"):
        check_warc(io.BytesIO(long_header), "h.warc.gz")
    with pytest.raises(WebcaptureError, match="not a ZIP"):
        check_wacz(b"")


def _record_with_header_of(total: int) -> bytes:
    """One WARC record (no digests) whose WARC header, through its blank line, is exactly
    ``total`` bytes long."""
    head = b"WARC/1.1\r\nWARC-Type: resource\r\nContent-Length: 2\r\nX-Pad: "
    pad = total - len(head) - 4
    return head + b"a" * pad + b"\r\n\r\n" + b"ok\r\n\r\n"


def _members(data: bytes, cuts: list[int]) -> bytes:
    """``data`` as several gzip members, split at ``cuts``."""
    edges = [0, *cuts, len(data)]
    return b"".join(gzip.compress(data[a:b]) for a, b in itertools.pairwise(edges))


@pytest.mark.parametrize("cuts", [[], [100], [30_000, 60_000], [65_530]])
def test_header_limit_is_a_rule_on_the_bytes_not_on_the_gzip_split(cuts: list[int]) -> None:
    """A WARC header must END within 64 KiB; the same bytes give the same answer however
    the gzip members split them (the three verifiers buffer differently)."""
    assert check_warc(io.BytesIO(_members(_record_with_header_of(64 << 10), cuts)),
                      "ok.warc.gz") == 1
    with pytest.raises(WebcaptureError, match="too long"):
        check_warc(io.BytesIO(_members(_record_with_header_of((64 << 10) + 1), cuts)),
                   "long.warc.gz")


def test_datapackage_files_are_bounded(item: dict[str, bytes]) -> None:
    wacz = item["capture.wacz"]
    huge = b" " * (4 << 20) + b"{}"
    reason = _fail(with_wacz(item, _rezip(wacz, {"datapackage.json": huge}, fix_digests=False)))
    assert "over 4 MiB" in reason


def test_manifest_and_signature_failures(item: dict[str, bytes]) -> None:
    m = json.loads(item["capture-manifest.json"])
    assert "another manifest" in _fail({**item, "capture-manifest.json": rfc8785.dumps(
        {**m, "ended_at": "c"})})
    assert "canonical" in _fail({**item, "capture-manifest.json":
                                 json.dumps(m, indent=2).encode()})
    assert "not valid JSON" in _fail({**item, "capture-manifest.json": b"{"})
    assert "capture-manifest.sig" in _fail({k: v for k, v in item.items()
                                            if k != "capture-manifest.sig"})
    assert "pinned capture-node key" in _fail({**item, "capture-manifest.sig": b"garbage\n"})
    # signed by a pinned key, but the manifest names another node
    other = generate_signer("capture.test/node-w")
    swapped = resign(item, m, other)
    r = verify_webcapture(swapped, [NODE.verifier(), other.verifier()])
    assert r.status == "fail" and "another capture node" in r.reason
    # screenshot changed, or missing
    assert "screenshot.png does not match" in _fail({**item, "screenshot.png": PNG + b"x"})
    # without any pinned key: the files are checked, the result is not-checked
    assert verify_webcapture(item, []).status == "not-checked"
    bad = {**item, "screenshot.png": PNG + b"x"}
    assert verify_webcapture(bad, []).status == "fail"


def test_verify_module_is_pure() -> None:
    """verify/webcapture.py needs no warcio, wacz or playwright (the trust anchor)."""
    code = ("import sys; sys.modules['warcio'] = None; sys.modules['wacz'] = None; "
            "sys.modules['playwright'] = None; import evidence.verify.webcapture")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_sha1_and_hex_digests_are_read(tmp_path: Path) -> None:
    """Other tools write SHA-1 base32 (warcio's default) or hex digests: both are read."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=True)
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/plain")], protocol="HTTP/1.1")
    w.write_record(w.create_warc_record("http://x.example/", "response",
                                        payload=io.BytesIO(b"hello"), http_headers=http))
    assert check_warc(io.BytesIO(buf.getvalue()), "sha1.warc.gz") == 1
    plain = gzip.decompress(buf.getvalue())
    start = plain.index(b"WARC-Payload-Digest: sha1:") + len(b"WARC-Payload-Digest: ")
    end = plain.index(b"\r\n", start)
    # the header block is outside the record's Content-Length: the value may change size
    hexed = plain[:start] + b"sha1:" + hashlib.sha1(b"hello").hexdigest().encode() + plain[end:]
    assert check_warc(io.BytesIO(gzip.compress(hexed)), "hex.warc.gz") == 1
    wrong = plain[:start] + b"sha1:" + hashlib.sha1(b"hellO").hexdigest().encode() + plain[end:]
    with pytest.raises(WebcaptureError, match="payload digest"):
        check_warc(io.BytesIO(gzip.compress(wrong)), "wrong.warc.gz")
