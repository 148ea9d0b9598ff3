"""The verify page on bundles from the real exporter (evidence.ledger.bundle): a real
ledger, intake, custody, a purge, a witness cosignature and an RFC 3161 token from a real
local OpenSSL TSA (tests/bundle_world.py, shared with tests/test_bundle.py).

The page reads each token (genTime, TSA, message imprint) and shows its time as stated,
not verified; Python verifies it against the pinned TSA root. Both agree on every named
check under the page's trust model, and both refuse a token over other data."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evidence.ledger.anchor.tsa_client import request_timestamp
from evidence.verify.bundle import TrustRoots, verify_bundle
from tests.bundle_world import World, build_world, members, rezip
from tests.support.tsa import LocalTSA
from tests.test_verify_page import Page, shared_browser, summary

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


def page_trust(world: World) -> TrustRoots:
    """What the page can check: pinned log and witness keys, no TSA root."""
    return world.trust(tsa_roots=(), require_timestamp=False)


def in_page(browser: Any, world: World, data: bytes, tmp_path: Path, name: str,
            lang: str = "en") -> tuple[Page, dict[str, Any]]:
    path = tmp_path / f"{name}.zip"
    path.write_bytes(data)
    p = Page(browser)
    p.open(keys=False, lang=lang)
    p.page.fill("#log-key", world.led.verifier_key)
    p.page.click("#witness-box summary")
    p.page.fill("#witness-keys", world.witness.verifier().to_string())
    p.page.fill("#quorum", "1")
    got = p.verify(path)
    p.shot(f"exported-{name}-{lang}")
    return p, got


def test_exported_bundle_with_a_real_timestamp(browser: Any, world: World,
                                               tmp_path: Path) -> None:
    data = world.export(world.a)
    proven = verify_bundle(io.BytesIO(data), world.trust())  # with the TSA root pinned
    assert proven.ok
    python = verify_bundle(io.BytesIO(data), page_trust(world))
    p, got = in_page(browser, world, data, tmp_path, "signed-item")
    try:
        assert got["verdict"] == "verified"
        assert summary(got["report"]["checks"]) == summary(python.checks)
        stated = got["report"]["timestamps_stated"]
        assert len(stated) == 1 and stated[0]["imprint_matches"]
        gen = proven.preserved_no_later_than[0]["gen_time"]
        assert stated[0]["genTime"].replace("+00:00", "") == gen.replace("+00:00", "")
        time_text = p.page.locator("#details").inner_text()
        assert "Stated by the token; not cryptographically verified in this page" in time_text
        assert "The token is over this checkpoint" in time_text
        assert stated[0]["signer"] or stated[0]["tsaName"]
        assert "signed by the submitter's own key" in p.page.locator("#checks").inner_text()
        p.page.click("#lang-zh")
        assert "时间戳令牌自述，本页面未做密码学验证" in p.page.locator("#details").inner_text()
        p.shot("exported-signed-item-zh")
    finally:
        p.close()


def test_exported_purged_item(browser: Any, world: World, tmp_path: Path) -> None:
    data = world.export(world.c)
    python = verify_bundle(io.BytesIO(data), page_trust(world))
    p, got = in_page(browser, world, data, tmp_path, "purged", lang="zh")
    try:
        assert got["verdict"] == "purged" and python.ok and python.purged
        assert summary(got["report"]["checks"]) == summary(python.checks)
        assert "证据已被清除" in got["text"]
    finally:
        p.close()


def test_token_over_other_data_fails_in_both(browser: Any, world: World, tsa: LocalTSA,
                                            tmp_path: Path) -> None:
    m = members(world.export(world.a))
    m["timestamps/0.tst"] = request_timestamp(tsa.url, b"some other checkpoint\n").token
    data = rezip(m)  # the forger also fixes the manifest
    proven = verify_bundle(io.BytesIO(data), world.trust())
    assert {c.name for c in proven.checks if not c.ok} == {"timestamps"}
    p, got = in_page(browser, world, data, tmp_path, "token-over-other-data")
    try:
        assert got["verdict"] == "failed"
        failed = [c for c in got["report"]["checks"] if not c["ok"]]
        assert [c["name"] for c in failed] == ["timestamps"] and failed[0]["required"]
        assert "NOT over this checkpoint" in p.page.locator("#details").inner_text()
    finally:
        p.close()
