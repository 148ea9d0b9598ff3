"""The verify page on bundles from the real exporter (evidence.ledger.bundle): a real
ledger, intake, custody, a purge, a witness cosignature and an RFC 3161 token from a real
local OpenSSL TSA (tests/support/bundle_world.py, shared with tests/ledger/bundle/test_bundle.py).

The page is given a trust file pinning the log key, the witness (quorum 1) and the TSA
root, and verifies the token itself (CMS signature, chain, validity at genTime). It agrees
with `evidence verify` under the same pins: green on a good bundle, the same failing
check on a forged token, and the time it proves is the one Python proves."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evidence.ledger.anchor.tsa_client import request_timestamp
from evidence.verify.bundle import verify_bundle
from tests.support.browser import Page, shared_browser
from tests.support.bundle_world import World, build_world, members, rezip
from tests.support.tsa import LocalTSA

pytestmark = pytest.mark.tsa


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest) -> Any:
    return shared_browser(request)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> Iterator[World]:
    w = build_world(tmp_path_factory.mktemp("verify-page-world"), tsa.url, tsa.ca_cert_pem,
                    tsa.ca_pem_path)
    yield w
    w.led.close()


@pytest.fixture(scope="module")
def trust_file(world: World, tsa: LocalTSA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `world.trust()` pins, as a trust file (docs/verdict.md section 3)."""
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    root = x509.load_pem_x509_certificate(tsa.ca_cert_pem).public_bytes(Encoding.DER)
    path = tmp_path_factory.mktemp("trust") / "trust.txt"
    path.write_text(f"log {world.led.verifier_key}\n"
                    f"witness w1 {world.witness.verifier().to_string()}\n"
                    "group witnesses 1 w1\nquorum witnesses\n"
                    f"#@ tsa local {base64.b64encode(root).decode()}\n", "utf-8")
    return path


def failing(checks: Any) -> list[str]:
    return [c.name for c in checks if not c.ok]


def in_page(browser: Any, trust_file: Path, data: bytes, tmp_path: Path, name: str,
            lang: str = "en") -> tuple[Page, dict[str, Any]]:
    path = tmp_path / f"{name}.zip"
    path.write_bytes(data)
    p = Page(browser)
    p.open(keys=False, lang=lang, trust=trust_file)
    got = p.verify(path)
    p.shot(f"exported-{name}-{lang}")
    return p, got


def test_exported_bundle_with_a_real_timestamp(browser: Any, world: World, trust_file: Path,
                                               tmp_path: Path) -> None:
    data = world.export(world.a)
    proven = verify_bundle(io.BytesIO(data), world.trust())  # with the TSA root pinned
    assert proven.ok
    p, got = in_page(browser, trust_file, data, tmp_path, "signed-item")
    try:
        r = got["report"]
        assert got["verdict"] == "verified", got["text"]
        assert [c["name"] for c in r["checks"]] == [c.name for c in proven.checks]
        assert all(c["status"] == "pass" for c in r["checks"])
        gen = proven.preserved_no_later_than[0]["gen_time"]
        assert r["preserved_no_later_than"][0]["gen_time"] == gen
        time_text = p.page.locator("#details").inner_text()
        assert "Verified: the TSA signature and its certificate chain" in time_text
        assert "signed by the submitter's own key" in p.page.locator("#checks").inner_text()
        p.page.click("#lang-zh")
        assert "已验证：时间戳机构的签名及其至固定根证书" in p.page.locator("#details").inner_text()
        p.shot("exported-signed-item-zh")
    finally:
        p.close()


def test_exported_purged_item(browser: Any, world: World, trust_file: Path,
                              tmp_path: Path) -> None:
    data = world.export(world.c)
    python = verify_bundle(io.BytesIO(data), world.trust())
    p, got = in_page(browser, trust_file, data, tmp_path, "purged", lang="zh")
    try:
        assert got["verdict"] == "verified" and python.ok and python.purged
        assert got["report"]["purged"]
        assert "证据已被清除" in got["text"]
    finally:
        p.close()


def test_token_over_other_data_fails_in_both(browser: Any, world: World, tsa: LocalTSA,
                                            trust_file: Path, tmp_path: Path) -> None:
    m = members(world.export(world.a))
    m["timestamps/0.tst"] = request_timestamp(tsa.url, b"some other checkpoint\n").token
    data = rezip(m)  # the forger also fixes the manifest
    proven = verify_bundle(io.BytesIO(data), world.trust())
    assert failing(proven.checks) == ["timestamps"]
    p, got = in_page(browser, trust_file, data, tmp_path, "token-over-other-data")
    try:
        r = got["report"]
        assert got["verdict"] == "failed" and r["failed_check"] == "timestamps"
        assert [c["name"] for c in r["checks"] if c["status"] == "fail"] == ["timestamps"]
        assert "other data than this checkpoint" in got["text"]
        assert "Preserved no later than" not in p.page.locator("main").inner_text()
    finally:
        p.close()
