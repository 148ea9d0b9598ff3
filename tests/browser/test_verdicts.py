"""The verify page's top verdict, trust file and messages (issue 13, points 2, 4, 7), in
real Chromium, on bundles with real RFC 3161 tokens from the local TSA:

- green only when every check passed; amber "not fully verified" naming each check not made
  (no TSA root pinned, no witness quorum, a TSA the court does not trust), or "provisional:
  no proof of time"; red for any failure, a judge's file that differs included, and then no
  line claims a time or "included" (docs/verdict.md section 2);
- forgeries that rewrite the manifest consistently: a byte changed in each region of the
  token, a token for another checkpoint in place of the good one and beside it, a
  cosignature removed under a quorum;
- the trust file: parsed strictly by ``EvidenceVerify.parseTrustPolicy``; a malformed one or
  one whose SHA-256 is not the fingerprint typed is refused in both languages and nothing is
  verified; pre-filled from ``GET /v1/log/trust`` when served, its fingerprint shown;
- a re-zipped bundle reads "not the original bundle file: ask for the original" in each
  language; ``tools/verify_bundle.py`` is accepted and its SHA-256 reported.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from evidence.ledger.anchor.tsa_client import request_timestamp
from tests.support.browser import TRUST, Page, stamped_bundle, trust_text
from tests.support.token_regions import REGIONS, corrupt
from tests.support.tsa import LocalTSA
from tests.vectors_shared import bundles as B

pytestmark = pytest.mark.tsa

TsaVariant = Any


@pytest.fixture(scope="module")
def good(tsa: LocalTSA) -> B.Built:
    return stamped_bundle(tsa)


@pytest.fixture(scope="module")
def trusts(tsa: LocalTSA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("trust-files")
    files = {"full": trust_text(tsa.ca_cert_pem), "no-tsa": trust_text(None),
             "no-quorum": trust_text(tsa.ca_cert_pem, quorum=False)}
    out = {}
    for name, text in files.items():
        out[name] = d / f"{name}.txt"
        out[name].write_text(text, "utf-8")
    return out


def write(tmp_path: Path, built: B.Built, name: str = "bundle.zip") -> Path:
    built.refresh_manifest()
    path = tmp_path / name
    path.write_bytes(built.zip_bytes())
    return path


def copy(built: B.Built) -> B.Built:
    return B.Built(dict(built.members), json.loads(json.dumps(built.manifest)),
                   built.checkpoint_text, dict(built.files))


def claims(tab: Page) -> str:
    return tab.page.locator("main").inner_text()


# --- green, amber, red ----------------------------------------------------------------------


def test_green_only_when_every_check_passed(tab: Page, good: B.Built, trusts: dict[str, Path],
                                            tmp_path: Path) -> None:
    got = tab.open(trust=trusts["full"]).verify(write(tmp_path, copy(good)))
    r = got["report"]
    assert got["verdict"] == r["verdict"] == "verified" and r["ok"]
    assert r["failed_check"] is None and r["not_checked"] == []
    assert "✔ VERIFIED" in got["text"]


@pytest.mark.parametrize("trust,missing,en,zh", [
    ("no-tsa", ["timestamps"], "no TSA root is pinned", "未固定时间戳机构根证书"),
    ("no-quorum", ["cosignatures"], "no witness quorum is pinned", "未固定见证方法定数"),
])
def test_amber_names_each_check_not_made(tab: Page, good: B.Built, trusts: dict[str, Path],
                                         tmp_path: Path, trust: str, missing: list[str],
                                         en: str, zh: str) -> None:
    bundle = write(tmp_path, copy(good))
    got = tab.open(trust=trusts[trust]).verify(bundle)
    r = got["report"]
    assert got["verdict"] == "incomplete" and not r["ok"] and r["not_checked"] == missing
    assert "NOT FULLY VERIFIED" in got["text"] and "✔" not in got["text"]
    assert en in got["text"]
    for c in r["checks"]:
        assert c["status"] == ("not-checked" if c["name"] in missing else "pass")
        assert c["ok"] is (c["status"] == "pass")
    tab.shot(f"amber-{trust}-en")
    got = tab.open(lang="zh", trust=trusts[trust]).verify(bundle)
    assert "未完全核验" in got["text"] and zh in got["text"]
    tab.shot(f"amber-{trust}-zh")


def test_old_key_fields_never_give_green(tab: Page, good: B.Built, tmp_path: Path) -> None:
    """Keys typed by hand pin no TSA root and, with quorum 0, no witness: amber, and both
    checks named, never "PASS, 0 checked"."""
    got = tab.open(quorum=0).verify(write(tmp_path, copy(good)))
    assert got["verdict"] == "incomplete"
    assert got["report"]["not_checked"] == ["cosignatures", "timestamps"]


def test_amber_for_a_tsa_the_court_does_not_trust(tab: Page, tsa_variant: TsaVariant,
                                                  trusts: dict[str, Path], tmp_path: Path) -> None:
    built = stamped_bundle(tsa_variant("untrusted"))
    got = tab.open(trust=trusts["full"]).verify(write(tmp_path, built))
    assert got["verdict"] == "incomplete" and got["report"]["not_checked"] == ["timestamps"]
    assert "none of the bundle's TSAs is one the court trusts" in got["text"]
    assert "Evidence Untrusted Root CA" in got["text"]


def test_provisional_bundle(tab: Page, trusts: dict[str, Path], tmp_path: Path) -> None:
    built = B.build()  # no token: exported before its checkpoint was timestamped
    built.manifest["provisional"] = True
    got = tab.open(trust=trusts["full"]).verify(write(tmp_path, built))
    r = got["report"]
    assert got["verdict"] == "provisional" and r["provisional"] and not r["ok"]
    assert r["not_checked"] == ["timestamps"]
    assert "PROVISIONAL: NO PROOF OF TIME" in got["text"] and "✔" not in got["text"]
    got = tab.open(lang="zh", trust=trusts["full"]).verify(tmp_path / "bundle.zip")
    assert "临时证据包：无时间证明" in got["text"]


def test_provisional_bundle_ignores_any_token(tab: Page, good: B.Built, trusts: dict[str, Path],
                                              tmp_path: Path) -> None:
    built = copy(good)
    built.manifest["provisional"] = True
    built.members["timestamps/0.tst"] = corrupt(built.members["timestamps/0.tst"], "signature")
    got = tab.open(trust=trusts["full"]).verify(write(tmp_path, built))
    assert got["verdict"] == "provisional"
    assert got["report"]["preserved_no_later_than"] == []
    assert "Preserved no later than" not in claims(tab)


def test_mozilla_store_alone_is_not_checked_in_the_page(tab: Page, good: B.Built,
                                                        tmp_path: Path) -> None:
    trust = tmp_path / "trust.txt"
    trust.write_text(fill("log {log}\nwitness court-a {w}\ngroup g any court-a\nquorum g\n"
                          "#@ tsa-store mozilla\n"), "utf-8")
    got = tab.open(trust=trust).verify(write(tmp_path, copy(good)))
    assert got["verdict"] == "incomplete" and got["report"]["not_checked"] == ["timestamps"]
    assert "Mozilla's root store" in got["text"]
    assert "Mozilla's root store (not available" in tab.page.locator("#trust-status").inner_text()


def test_a_bundle_whose_token_was_removed_fails(tab: Page, good: B.Built,
                                               trusts: dict[str, Path], tmp_path: Path) -> None:
    built = copy(good)
    del built.members["timestamps/0.tst"]
    built.manifest["timestamps"] = []
    got = tab.open(trust=trusts["full"]).verify(write(tmp_path, built))
    assert got["verdict"] == "failed" and got["report"]["failed_check"] == "timestamps"


@pytest.mark.parametrize("region", REGIONS)
def test_red_for_a_byte_changed_in_the_token(tab: Page, good: B.Built, trusts: dict[str, Path],
                                             tmp_path: Path, region: str) -> None:
    built = copy(good)
    built.members["timestamps/0.tst"] = corrupt(built.members["timestamps/0.tst"], region)
    got = tab.open(trust=trusts["full"]).verify(write(tmp_path, built))  # manifest rewritten
    r = got["report"]
    assert got["verdict"] == "failed" and r["failed_check"] == "timestamps", got["text"]
    assert r["preserved_no_later_than"] == [] and all("included" not in f for f in r["files"])
    text = claims(tab)
    assert "Preserved no later than" not in text and "In bundle" not in text
    assert "exactly the ones preserved" not in text
    tab.shot(f"red-token-{region}")


@pytest.mark.parametrize("where", ["in-place", "beside"])
def test_red_for_a_token_over_another_checkpoint(tab: Page, good: B.Built, tsa: LocalTSA,
                                                 trusts: dict[str, Path], tmp_path: Path,
                                                 where: str) -> None:
    other = request_timestamp(tsa.url, b"evidence.test/verify-page\n8\nAAAA\n", timeout=30).token
    built = copy(good)
    if where == "in-place":
        built.members["timestamps/0.tst"] = other
    else:
        built.members["timestamps/1.tst"] = other
        built.manifest["timestamps"].append({"tsa": "local-test-tsa", "token": "timestamps/1.tst"})
    got = tab.open(trust=trusts["full"]).verify(write(tmp_path, built))
    assert got["verdict"] == "failed" and got["report"]["failed_check"] == "timestamps"
    assert "other data than this checkpoint" in got["text"]
    assert got["report"]["preserved_no_later_than"] == []


def test_red_for_a_cosignature_removed_under_a_quorum(tab: Page, tsa: LocalTSA,
                                                      trusts: dict[str, Path],
                                                      tmp_path: Path) -> None:
    built = stamped_bundle(tsa, cosign=False)
    got = tab.open(trust=trusts["full"]).verify(write(tmp_path, built))
    assert got["verdict"] == "failed" and got["report"]["failed_check"] == "cosignatures"
    assert "quorum court is not met" in got["text"]


def test_two_files_one_differs(tab: Page, good: B.Built, trusts: dict[str, Path],
                               tmp_path: Path) -> None:
    """Red, the differing file named; the other one is not vouched for after the failure."""
    same, other = tmp_path / "shop.png", tmp_path / "edited.txt"
    same.write_bytes(B.FILES["shop.png"][1])
    other.write_bytes(b"not preserved")
    tab.open(trust=trusts["full"])
    tab.page.set_input_files("#file-input", [str(same), str(other)])
    got = tab.verify(write(tmp_path, copy(good)))
    r = got["report"]
    assert got["verdict"] == "failed" and r["failed_check"] == "compared_files"
    assert "'edited.txt'" in got["text"] and "'shop.png'" not in got["text"]
    assert [c.get("matches", "not vouched") for c in r["compared"]] == ["not vouched", None]
    assert "included" not in json.dumps(r["compared"]) + json.dumps(r["files"])
    text = tab.page.locator("#compare-result").inner_text()
    assert "NO MATCH" in text and "Not compared" in text and "byte for byte" not in text


def test_one_line_per_failed_check(tab: Page, tsa: LocalTSA, trusts: dict[str, Path],
                                   tmp_path: Path) -> None:
    built = stamped_bundle(tsa, stranger=True)  # a stranger's entry, and an altered token
    built.members["timestamps/0.tst"] = corrupt(built.members["timestamps/0.tst"], "signature")
    got = tab.open(trust=trusts["full"]).verify(write(tmp_path, built))
    fails = [c["name"] for c in got["report"]["checks"] if c["status"] == "fail"]
    assert fails == ["custody", "timestamps"]
    lines = tab.page.locator("#verdict .verdict-lines li").all_inner_texts()
    assert len(lines) == 2 and all("\n" not in ln for ln in lines)
    assert lines[0].startswith("Custody entries") and lines[1].startswith("RFC 3161 timestamps")


# --- messages a judge can act on -------------------------------------------------------------


def rezipped(data: bytes) -> bytes:
    """What a clerk's unzip-and-zip does: every member deflated, evidence files included."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info), zipfile.ZIP_DEFLATED)
    return out.getvalue()


@pytest.mark.parametrize("lang,words", [
    ("en", "not the original bundle file"), ("zh", "不是原始证据包文件"),
])
def test_rezipped_bundle_asks_for_the_original(tab: Page, good: B.Built, trusts: dict[str, Path],
                                               tmp_path: Path, lang: str, words: str) -> None:
    path = tmp_path / "rezipped.zip"
    good.refresh_manifest()
    path.write_bytes(rezipped(good.zip_bytes()))
    got = tab.open(lang=lang, trust=trusts["full"]).verify(path)
    assert got["verdict"] == "failed" and got["report"]["failed_check"] == "archive"
    assert words in got["text"]
    c = got["report"]["checks"][0]
    assert "ask for the original" in c["reason"] and "请索取原始证据包文件" in c["reason_zh"]
    assert "compression method" not in c["reason_zh"]  # no English text in the Chinese column
    tab.shot(f"rezipped-{lang}")


def test_tool_member_is_accepted_and_reported(tab: Page, good: B.Built, trusts: dict[str, Path],
                                              tmp_path: Path) -> None:
    built = copy(good)
    script = b"#!/usr/bin/env python3\nprint('verify_bundle')\n"
    built.members["tools/verify_bundle.py"] = script
    got = tab.open(trust=trusts["full"]).verify(write(tmp_path, built))
    assert got["verdict"] == "verified"
    assert got["report"]["tool"]["sha256"] == hashlib.sha256(script).hexdigest()
    assert hashlib.sha256(script).hexdigest() in tab.page.locator("#details").inner_text()


def test_times_in_utc_and_a_second_zone(tab: Page, good: B.Built, trusts: dict[str, Path],
                                        tmp_path: Path) -> None:
    got = tab.open(lang="zh", trust=trusts["full"]).verify(write(tmp_path, copy(good)))
    details = tab.page.locator("#details").inner_text()
    assert "2026-11-21 08:00:02 UTC (2026-11-21 16:00:02 Asia/Shanghai)" in details
    gen = got["report"]["preserved_no_later_than"][0]["gen_time"]
    assert gen.endswith("+00:00") and "UTC (" in got["text"] and "Asia/Shanghai" in got["text"]


# --- the trust file ---------------------------------------------------------------------------


BAD_TRUST = {
    "crlf": ("log {log}\r\nquorum none\r\n", "CR", "回车符"),
    "no-log": ("quorum none\n", "names no log key", "未列出任何日志公钥"),
    "no-quorum": ("log {log}\n", 'no "quorum" line', "缺少"),
    "unknown-extension": ("log {log}\nquorum none\n#@ tsa-roots x\n", "unknown extension",
                          "未知的扩展"),
    "bad-cert": ("log {log}\nquorum none\n#@ tsa x AAAA\n", "does not parse", "无法解析"),
    "undefined-member": ("log {log}\ngroup g 1 nobody\nquorum g\n", "not defined",
                         "未在此行之前定义"),
    "k-too-big": ("log {log}\nwitness w {w}\ngroup g 2 w\nquorum g\n", "threshold", "门限"),
    "duplicate-member": ("log {log}\nwitness w {w}\ngroup g 1 w w\nquorum g\n", "twice", "重复"),
    "reserved-name": ("log {log}\nwitness none {w}\nquorum none\n", "reserved", "保留"),
    "duplicate-key": ("log {log}\nlog {log}\nquorum none\n", "twice", "重复"),
    "two-quorums": ("log {log}\nquorum none\nquorum none\n", "second", "第二个"),
    "no-final-lf": ("log {log}\nquorum none", "LF", "LF"),
    "control-byte": ("log {log}\nquorum none\x01\n", "control byte", "控制字节"),
    "bad-key": ("log evidence.test/x+00000000+AAAA\nquorum none\n", "not a verifier key",
                "验证密钥"),
    "unknown-line": ("log {log}\nquorum none\nwitnesses x\n", "unknown line", "无法识别"),
}


def fill(text: str) -> str:
    return text.replace("{log}", TRUST["log_key"]).replace("{w}", TRUST["witness_keys"][0])


def test_parse_trust_policy_good(tab: Page, trusts: dict[str, Path]) -> None:
    tab.open(keys=False)
    text = trusts["full"].read_text("utf-8").replace("quorum court", "  quorum\tcourt  ")
    text = "# comment\n\n#@x not an extension: a comment\n" + text + "#@ tsa-store mozilla\n"
    got = tab.page.evaluate("""async (text) => {
        const p = await EvidenceVerify.parseTrustPolicy(text);
        return {fp: p.fingerprint, logs: p.logs.map((l) => l.key.name), quorum: p.quorum,
                witnesses: p.witnesses.map((w) => w.name), groups: p.groups, store: p.tsaStore,
                tsa: p.tsa.map((t) => [t.name, t.subject]),
                any: EvidenceVerify.quorumSatisfied(p, p.quorum, new Set(['court-a'])),
                none: EvidenceVerify.quorumSatisfied(p, p.quorum, new Set())};
    }""", text)
    assert got["fp"] == hashlib.sha256(text.encode()).hexdigest()
    assert got["logs"] == ["evidence.test/verify-page"] and got["quorum"] == "court"
    assert got["groups"] == [{"name": "court", "k": 1, "members": ["court-a"]}]
    assert got["tsa"] == [["test-root", "CN=Evidence Test Root CA"]] and got["store"] == "mozilla"
    assert got["any"] is True and got["none"] is False


@pytest.mark.parametrize("case", sorted(BAD_TRUST))
def test_parse_trust_policy_refuses(tab: Page, case: str) -> None:
    text, en, zh = BAD_TRUST[case]
    tab.open(keys=False)
    got = tab.page.evaluate("""async (text) => {
        try { await EvidenceVerify.parseTrustPolicy(text); return null; }
        catch (e) { return {name: e.constructor.name, en: e.message, zh: e.zh}; }
    }""", fill(text))
    assert got is not None, case
    assert got["name"] == "TrustFileError" and en in got["en"] and zh in got["zh"], got
    assert "\n" not in got["en"] + got["zh"]


@pytest.mark.parametrize("lang,word", [("en", "This trust file is refused"),
                                       ("zh", "此信任文件被拒绝")])
def test_malformed_trust_file_verifies_nothing(tab: Page, good: B.Built, tmp_path: Path,
                                              lang: str, word: str) -> None:
    bad = tmp_path / "trust.txt"
    bad.write_text(fill("log {log}\nquorum none\n#@ tsa-roots x\n"), "utf-8")
    tab.open(lang=lang, keys=False, trust=bad)
    status = tab.page.locator("#trust-status").inner_text()
    assert word in status
    assert ("line 3" if lang == "en" else "第 3 行") in status
    got = tab.verify(write(tmp_path, copy(good)))
    assert got["verdict"] == "error" and got["report"] is None
    assert "✔" not in got["text"]
    tab.shot(f"trust-malformed-{lang}")


def test_fingerprint_that_differs_refuses_the_file(tab: Page, good: B.Built,
                                                   trusts: dict[str, Path],
                                                   tmp_path: Path) -> None:
    fp = hashlib.sha256(trusts["full"].read_bytes()).hexdigest()
    tab.open(keys=False)
    tab.page.fill("#trust-sha256", "0" * 64)
    tab.set_trust(trusts["full"])
    assert "not the fingerprint you entered" in tab.page.locator("#trust-status").inner_text()
    got = tab.verify(write(tmp_path, copy(good)))
    assert got["verdict"] == "error" and got["report"] is None
    # the right fingerprint (as typed from a filing, in capitals): accepted and shown
    tab.open(keys=False)
    tab.page.fill("#trust-sha256", fp.upper())
    tab.set_trust(trusts["full"])
    assert tab.page.locator("#trust-fingerprint").inner_text() == fp
    assert tab.verify(tmp_path / "bundle.zip")["verdict"] == "verified"


def test_served_page_prefills_the_published_trust_file(browser: Any, trusts: dict[str, Path],
                                                       good: B.Built, tmp_path: Path) -> None:
    """`GET /v1/log/trust` from the page's own origin fills the picker and shows the
    fingerprint; a 404 (a service that does not publish one) leaves it empty."""
    import threading
    import time

    uvicorn = pytest.importorskip("uvicorn")
    from fastapi import FastAPI
    from fastapi.responses import Response

    from evidence.api.routers.verify_page import router
    from tests.support.ports import free_ports

    text = trusts["full"].read_bytes()
    app = FastAPI()
    app.include_router(router)
    published = {"on": True}

    @app.get("/v1/log/trust")
    def trust() -> Response:  # the route `evidence serve` publishes (docs/verdict.md §3)
        if not published["on"]:
            return Response(b"not found\n", status_code=404)
        return Response(text, media_type="text/plain; charset=utf-8",
                        headers={"ETag": f'"{hashlib.sha256(text).hexdigest()}"'})

    (port,) = free_ports(1)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    p = Page(browser, url=f"http://127.0.0.1:{port}/verify/")
    try:
        p.open(keys=False)
        fp = hashlib.sha256(text).hexdigest()
        assert p.page.locator("#trust-fingerprint").inner_text() == fp
        assert "published by this service" in p.page.locator("#trust-status").inner_text()
        assert p.verify(write(tmp_path, copy(good)))["verdict"] == "verified"
        p.shot("served-trust-prefilled")
        published["on"] = False
        p.open(keys=False)
        assert p.page.locator("#trust-fingerprint").count() == 0
        assert "No trust file loaded" in p.page.locator("#trust-status").inner_text()
        assert not p.errors or all("404" in e for e in p.errors)
        p.errors.clear()
    finally:
        p.close()
        server.should_exit = True
        thread.join(10)
