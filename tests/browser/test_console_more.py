"""The console's actions that tests/browser/test_console.py does not reach, each against a
real ``evidence serve`` in Debian's chromium (docs/console.md):

- the upload progress bar over a throttled link (values rise to 100, aria-valuenow with them);
- "More" (the listing's cursor) and the date filters, in the browser's own time zone;
- the per-kind fields (source address, capture time, DKIM key records, other facts, strict
  metadata) as the server recorded them (GET the item's metadata);
- an item not anchored yet: the 409 explained, a provisional bundle offered, which the
  Python verifier calls "provisional";
- a grant revoked by a click, and the foreign party then refused (EN and ZH);
- a judge's downloads and previews, each a recorded download in custody;
- a web capture started from the console, polled until done, the item then listed;
- the grant form's legal-basis fields on a server that requires them.

The server here has no TSA (nothing is ever anchored), captures with a node key on loopback,
and requires a grant's legal basis (``[grants] require_legal_basis``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import httpx
import pytest

from evidence.ledger.access.legal_basis import BASES
from evidence.ledger.keyfile import write_private_key
from evidence.verify.bundle import verify_bundle
from evidence.verify.note import generate_signer
from tests.support.api_server import Server, make_world, start_server
from tests.support.console_page import DENIED_LOAD, IN_A_MONTH, PNG, Console
from tests.support.media import DOMAIN, make_message

SHANGHAI = ZoneInfo("Asia/Shanghai")
LEGAL = {"purpose": "evidence for the trial in (2026) 京04民初123号",
         "recipient_jurisdiction": "us-ny", "recipient_organisation": "S.D.N.Y.",
         "legal_basis": "treaty-request", "legal_basis_ref": "Hague request 2026/17"}
NODE = generate_signer("capture.test/console-node")


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """No TSA, capture on loopback with a node key, the legal basis required."""
    base = tmp_path_factory.mktemp("console-more")
    world = make_world(base / "data")
    write_private_key(world.data / "capture-node.key", NODE)
    conf = base / "evidence.toml"
    conf.write_text("[grants]\nrequire_legal_basis = true\n", "utf-8")
    old = os.environ.get("EVIDENCE_CAPTURE_ALLOW_NETWORKS")
    os.environ["EVIDENCE_CAPTURE_ALLOW_NETWORKS"] = "127.0.0.1/32"
    try:
        s = start_server(world, "--rate", "1000", "--burst", "1000", "--config", str(conf))
    finally:
        if old is None:
            del os.environ["EVIDENCE_CAPTURE_ALLOW_NETWORKS"]
        else:
            os.environ["EVIDENCE_CAPTURE_ALLOW_NETWORKS"] = old
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def tabs(browser: Any, srv: Server) -> Iterator[Any]:
    """Console tabs (``tabs(**context)``), in Shanghai's time zone unless told; none may
    end with a page error."""
    made: list[Console] = []

    def new(**ctx: Any) -> Console:
        ctx.setdefault("timezone_id", "Asia/Shanghai")
        c = Console(browser, srv, **ctx)
        made.append(c)
        return c

    yield new
    for c in made:
        assert not [e for e in c.errors if DENIED_LOAD not in e], c.errors
        c.close()


def _meta(srv: Server, eid: str, who: str = "acme") -> dict[str, Any]:
    with srv.client(who) as c:
        r = c.get(f"/v1/evidence/{eid}")
        assert r.status_code == 200, r.text
        return r.json()


def _custody(srv: Server, eid: str) -> list[dict[str, Any]]:
    with srv.client("acme") as c:
        entries = c.get(f"/v1/evidence/{eid}/custody").json()["entries"]
    return [{"type": e["type"], **json.loads(base64.b64decode(e["entry_b64"]))["body"]}
            for e in entries]


def _api_item(srv: Server, title: str) -> str:
    with srv.client("acme") as c:
        r = c.post("/v1/evidence", data={"case": "case-a", "kind": "document", "title": title},
                   files=[("file", (f"{title}.txt", f"{title} {os.urandom(8).hex()}".encode(),
                                    "text/plain"))])
        assert r.status_code == 201, r.text
        return r.json()["evidence_id"]


def _grant(srv: Server, eid: str, grantee: str = "foreign") -> str:
    with srv.client("acme") as c:
        r = c.post("/v1/grants", json={"grantee": grantee, "evidence_ids": [eid],
                                       "expires_at": f"{IN_A_MONTH}T23:59:59+08:00", **LEGAL})
        assert r.status_code == 201, r.text
        return r.json()["id"]


def _preserved(c: Console, timeout: float = 20_000) -> str:
    """The id of the item the submit form preserved (the refusal, if it was refused)."""
    c.page.wait_for_selector("#preserved, #submit-result [role=alert]", timeout=timeout)
    assert c.page.locator("#preserved").count() == 1, c.page.inner_text("#submit-result")
    return c.page.get_attribute("#preserved", "data-id")


def _settled(c: Console) -> None:
    c.page.wait_for_function("() => document.getElementById('status').dataset.key !== 'loading'")


# --- 1. the upload progress bar --------------------------------------------------------------


def test_upload_progress_rises_to_100_with_aria(tabs: Any, srv: Server, tmp_path: Path) -> None:
    data = os.urandom(6 << 20)
    path = tmp_path / "large.bin"
    path.write_bytes(data)
    c = tabs().open()
    c.sign_in("acme")
    c.go("submit")
    # a slow uplink (chromium's own throttling), so the upload takes many progress events
    cdp = c.context.new_cdp_session(c.page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0,
                                                 "downloadThroughput": -1,
                                                 "uploadThroughput": 1 << 20})
    c.page.evaluate("""() => {
        const p = document.getElementById('up-progress');
        window.__seen = [];
        new MutationObserver(() => window.__seen.push({now: p.getAttribute('aria-valuenow'),
            value: p.value, max: p.max, text: p.getAttribute('aria-valuetext')}))
          .observe(p, {attributes: true, attributeFilter: ['aria-valuenow']}); }""")
    c.page.set_input_files("#f-files", str(path))
    c.page.click("#submit-btn")
    c.page.wait_for_selector("#preserved", timeout=120_000)
    eid = c.page.get_attribute("#preserved", "data-id")
    seen = c.page.evaluate("() => window.__seen")
    nows = [int(s["now"]) for s in seen]
    assert nows == sorted(nows), nows  # never goes back
    assert nows[-1] == 100, nows
    assert len({n for n in nows if 0 < n < 100}) >= 3, nows  # it moved on the way
    assert all(int(s["now"]) == s["value"] and s["max"] == 100 for s in seen), seen
    assert seen[-1]["text"].startswith("Uploading: 6.0 MiB of 6.0 MiB"), seen[-1]
    (f,) = _meta(srv, eid)["files"]
    assert f["sha256"] == hashlib.sha256(data).hexdigest() and f["size"] == len(data)


# --- 2. "More" and the date filters ------------------------------------------------------------


def test_more_follows_the_cursor_and_dates_filter(tabs: Any, srv: Server) -> None:
    tag = "bulk" + os.urandom(4).hex()
    made = {_api_item(srv, f"{tag}-{i:02d}") for i in range(53)}
    c = tabs().open()
    c.sign_in("acme")
    c.go("list")

    def rows() -> list[str]:
        return c.page.eval_on_selector_all("#list-results tr[data-id]",
                                           "rs => rs.map(r => r.dataset.id)")

    def search(**fields: str) -> None:
        for name in ("q", "since", "until"):
            c.page.fill(f"#s-{name}", fields.get(name, ""))
        c.page.click("#search-btn")  # sets the status to "loading" before it asks
        _settled(c)

    search(q=tag)
    first = rows()
    assert len(first) == 50 and set(first) <= made
    assert c.page.is_visible("#more-btn")
    c.page.click("#more-btn")
    _settled(c)
    both = rows()
    assert both[:50] == first and len(both) == 53 and set(both) == made  # no repeats, none lost
    assert c.page.is_hidden("#more-btn")  # the last page
    more = [r.url for r in c.requests if "/v1/evidence?" in r.url and "cursor=" in r.url]
    assert more and parse_qs(urlparse(more[-1]).query)["q"] == [tag]  # the same query

    # dates are the user's days (Shanghai here), sent as instants
    today = datetime.now(SHANGHAI).date()
    tomorrow = (today + timedelta(days=1)).isoformat()
    search(q=tag, since=today.isoformat())
    assert len(rows()) == 50
    sent = parse_qs(urlparse([r.url for r in c.requests if "since=" in r.url][-1]).query)
    midnight = datetime.fromisoformat(sent["since"][0].replace("Z", "+00:00"))
    assert midnight.astimezone(SHANGHAI).isoformat() == f"{today.isoformat()}T00:00:00+08:00"
    search(q=tag, since=tomorrow)
    assert rows() == [] and c.page.is_visible("#list-results .empty")
    search(q=tag, until=today.isoformat())
    assert rows() == []
    search(q=tag, since=today.isoformat(), until=tomorrow)
    assert len(rows()) == 50 and c.page.is_visible("#more-btn")


# --- 3. per-kind fields ------------------------------------------------------------------------


def test_per_kind_fields_reach_the_server(tabs: Any, srv: Server, tmp_path: Path) -> None:
    c = tabs().open()
    c.sign_in("acme")
    c.go("submit")
    c.page.select_option("#f-kind", "screenshot")
    c.page.fill("#f-title", "shop listing")
    c.page.fill("#f-source", "https://shop.example/item/42?ref=x")
    c.page.fill("#f-captured", "2026-11-30T09:15:30")  # Shanghai time
    c.page.fill("#f-meta", "platform = Taobao\nshop_id = 7781")
    c.drop([("shot.png", PNG, "image/png")])
    c.page.click("#submit-btn")
    eid = _preserved(c)
    md = _meta(srv, eid)["metadata"]
    assert md["title"] == "shop listing"
    assert md["stated"] == {"source_url": "https://shop.example/item/42?ref=x",
                            "captured_at": "2026-11-30T01:15:30.000Z",
                            "meta": {"platform": "Taobao", "shop_id": "7781"}}
    assert md["extracted"]["kind"] == "screenshot"
    # the item page shows what was stated
    c.go(f"item/{eid}")
    c.page.wait_for_selector("#item-facts")
    facts = c.page.inner_text("#item-facts")
    assert "https://shop.example/item/42?ref=x" in facts and "platform = Taobao" in facts

    # an e-mail with its DKIM key record: the signature checks ("pass"), as by the CLI
    import dkim
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
    spki = k.public_key().public_bytes(serialization.Encoding.DER,
                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    msg = make_message()
    mail = dkim.sign(msg, b"s1", DOMAIN.encode(), pem,
                     include_headers=[b"from", b"to", b"subject", b"date"]) + msg
    record = "v=DKIM1; k=rsa; p=" + base64.b64encode(spki).decode()

    def send_mail(records: str) -> str:
        c.go("submit")
        c.page.select_option("#f-kind", "email")
        c.page.fill("#f-title", "")
        c.page.fill("#f-meta", "")
        assert c.page.is_hidden("#f-source")  # not an e-mail's field: not sent
        c.page.fill("#f-dns", records)
        c.drop([("notice.eml", mail, "message/rfc822")])
        c.page.click("#submit-btn")
        return _preserved(c)

    with_key = send_mail(f"s1._domainkey.{DOMAIN} = {record}")
    without = send_mail("")
    dk = _meta(srv, with_key)["metadata"]
    assert dk["extracted"]["files"][0]["email"]["dkim"]["result"] == "pass", dk
    assert dk["stated"]["source_url"] is None  # the hidden field was filled before: not sent
    assert _meta(srv, without)["metadata"]["extracted"]["files"][0]["email"]["dkim"][
        "result"] != "pass"

    # strict metadata: a damaged image is refused (nothing preserved), accepted without it
    broken = PNG[:40]
    with srv.client("acme") as h:
        size = h.get("/v1/status").json()["size"]
    c.go("submit")
    c.page.select_option("#f-kind", "image")
    c.page.check("#f-strict")
    c.drop([("broken.png", broken, "image/png")])
    c.page.click("#submit-btn")
    c.page.wait_for_selector("#submit-result [data-code]")
    refusal = c.page.inner_text("#submit-result")
    assert c.page.locator("#preserved").count() == 0
    assert "broken.png" in refusal, refusal
    with srv.client("acme") as h:
        assert h.get("/v1/status").json()["size"] == size
    c.page.uncheck("#f-strict")
    c.page.click("#submit-btn")
    lax = _meta(srv, _preserved(c))["metadata"]
    assert lax["extraction_errors"], lax  # kept, with the error recorded


# --- 4. a provisional bundle ------------------------------------------------------------------


def test_not_anchored_offers_a_provisional_bundle(tabs: Any, srv: Server) -> None:
    from evidence.verify.trust import parse_trust

    c = tabs().open()
    c.sign_in("acme")
    eid = c.preserve([("early.txt", b"before any TSA answers " + os.urandom(8).hex().encode(),
                       "text/plain")], title="early")
    c.go(f"item/{eid}")
    c.page.wait_for_selector("#export-btn")
    assert c.page.is_hidden("#export-prov-btn")  # offered only once the server says why
    c.page.click("#export-btn")
    c.page.wait_for_selector('#export-msg [data-code="not-anchored-yet"]')
    assert "Not anchored yet" in c.page.inner_text("#export-msg")
    assert c.page.is_visible("#export-prov-btn")
    c.page.click("#lang-zh")
    assert "尚未锚定" in c.page.inner_text("#export-msg")
    c.page.click("#lang-en")
    bundle = c.download("#export-prov-btn")
    assert c.page.get_attribute("#export-msg .msg", "data-key") == "exported"
    assert "Provisional bundle exported" in c.page.inner_text("#export-msg")
    report = verify_bundle(io.BytesIO(bundle),
                           parse_trust(httpx.get(srv.base + "/v1/log/trust").content))
    assert report.verdict == "provisional", [(x.name, x.status) for x in report.checks]
    assert report.evidence_id == eid
    assert not [x.name for x in report.checks if x.status == "fail"]
    exports = [b for b in _custody(srv, eid) if b.get("action") == "export"]
    assert len(exports) == 1 and exports[0]["principal"] == "acme"  # the refused one is not


# --- 5. revoking a grant by a click -------------------------------------------------------------


def test_revoke_by_click_then_the_foreign_party_is_refused(tabs: Any, srv: Server) -> None:
    eid = _api_item(srv, "revocable")
    gid = _grant(srv, eid)
    them = tabs().open()
    them.sign_in("foreign")
    them.go(f"item/{eid}")
    them.page.wait_for_selector("li[data-sha256] button.download")
    them.download("li[data-sha256] button.download")  # allowed while the grant lasts

    me = tabs().open()
    me.sign_in("acme")
    me.go("grants")
    row = f'#grants-list tr[data-grant="{gid}"]'
    me.page.wait_for_selector(f'{row}[data-status="active"] button.revoke')
    me.page.click(f"{row} button.revoke")
    me.page.wait_for_selector(f'{row}[data-status="revoked"]')
    assert me.page.locator(f"{row} button.revoke").count() == 0
    assert gid in me.page.inner_text("#grant-msg")
    with srv.client("acme") as h:
        assert h.get(f"/v1/grants/{gid}").json()["status"] == "revoked"
    assert [b["type"] for b in _custody(srv, eid)].count("evidence.share_revoked") == 1

    # the foreign party's page is still open: the next download is refused, and said so
    sha = _meta(srv, eid)["files"][0]["sha256"]
    with srv.client("foreign") as h:
        r = h.get(f"/v1/evidence/{eid}/files/{sha}")
    assert r.status_code == 403 and r.json()["code"] == "grant-revoked", r.text
    code = "grant-revoked"
    them.page.click("li[data-sha256] button.download")
    them.page.wait_for_selector(f'#item-body [data-code="{code}"]')
    en = them.page.inner_text(f'#item-body [data-code="{code}"]')
    them.page.click("#lang-zh")
    zh = them.page.inner_text(f'#item-body [data-code="{code}"]')
    assert code in en and code in zh and en != zh
    assert "Your access was revoked" in en and "您的访问权限已被撤销" in zh, (en, zh)
    # and the item is gone from their list
    them.go("list")
    them.page.click("#search-btn")
    _settled(them)
    assert them.page.locator(f'#list-results tr[data-id="{eid}"]').count() == 0


# --- 6. a judge's downloads and previews --------------------------------------------------------


def test_a_judges_downloads_and_previews_are_recorded(tabs: Any, srv: Server) -> None:
    acme = tabs().open()
    acme.sign_in("acme")
    eid = acme.preserve([("exhibit.png", PNG, "image/png")], kind="image", title="exhibit")
    before = [b for b in _custody(srv, eid) if b.get("action") == "download"]
    judge = tabs().open()
    judge.sign_in("judge")
    judge.go(f"item/{eid}")
    judge.page.wait_for_selector("li[data-sha256] button.preview")
    got = judge.download("li[data-sha256] button.download")
    assert got == PNG
    judge.page.click("li[data-sha256] button.preview")
    judge.page.wait_for_selector("figure.preview img")
    assert judge.page.evaluate("() => document.querySelector('figure.preview img')"
                               ".naturalWidth") == 1
    assert "SHA-256 was checked" in judge.page.inner_text("figure.preview figcaption")
    downloads = [b for b in _custody(srv, eid) if b.get("action") == "download"][len(before):]
    assert [(d["principal"], d["sha256"]) for d in downloads] == \
        [("judge", hashlib.sha256(PNG).hexdigest())] * 2  # the download and the preview
    # the console's own custody list shows them, in the judge's language
    judge.go("list")
    judge.go(f"item/{eid}")
    judge.page.wait_for_selector("#item-custody")
    lines = judge.page.eval_on_selector_all(
        '#item-custody li[data-type="evidence.accessed"]', "ls => ls.map(l => l.innerText)")
    assert sum("downloaded" in x and "judge" in x for x in lines) == 2, lines


# --- 7. a web capture from the console ---------------------------------------------------------


@pytest.mark.slow
def test_a_capture_started_in_the_console_is_polled_and_listed(tabs: Any, srv: Server) -> None:
    from tests.support.capture_sites import serve

    c = tabs().open()
    c.sign_in("acme")
    c.go("capture")
    with serve() as site:
        c.page.fill("#c-url", site.base + "/r1")
        c.page.fill("#c-title", "captured shop")
        c.page.click("#capture-btn")
        c.page.wait_for_selector("#captured, #capture-result [data-code]", timeout=180_000)
        assert c.page.locator("#captured").count() == 1, c.page.inner_text("#capture-result")
    eid = c.page.get_attribute("#captured", "data-id")
    assert site.base + "/" in c.page.inner_text("#captured")  # the final address, after /r1
    polls = [r.url for r in c.requests if "/v1/captures/cap_" in r.url]
    assert polls  # the job was asked for until it was done
    meta = _meta(srv, eid)
    assert meta["kind"] == "webcapture" and meta["metadata"]["title"] == "captured shop"
    c.go("list")
    c.page.fill("#s-q", eid)
    c.page.click("#search-btn")
    c.page.wait_for_selector(f'#list-results tr[data-id="{eid}"]')
    listed = c.page.inner_text(f'#list-results tr[data-id="{eid}"]')
    assert "captured shop" in listed and "Web capture" in listed, listed
    # captures are a kind of their own in the search, not one to upload
    assert c.page.locator('#f-kind option[value="webcapture"]').count() == 0
    c.page.fill("#s-q", "")
    c.page.select_option("#s-kind", "webcapture")
    c.page.click("#search-btn")
    _settled(c)
    kinds = c.page.eval_on_selector_all("#list-results tr[data-id]", "rs => rs.map(r => "
                                        "r.children[1].textContent)")
    assert kinds and set(kinds) == {"Web capture"}, kinds


# --- 8. the grant's legal basis ----------------------------------------------------------------


def test_grant_legal_basis_required_refused_then_accepted(tabs: Any, srv: Server) -> None:
    eid = _api_item(srv, "legal")
    c = tabs().open()
    c.sign_in("acme")
    c.go("grants")
    # every basis offered, with its words in both languages (the ledger's own)
    opts = c.page.eval_on_selector_all("#g-basis option", "os => os.map(o => [o.value, o.text])")
    assert [v for v, _ in opts] == ["", *BASES]
    for value, text in opts[1:]:
        assert text == f"{value}: {BASES[value][0]}", text
    c.page.click("#lang-zh")
    opts_zh = c.page.eval_on_selector_all("#g-basis option", "os => os.map(o => o.text)")
    for (value, _), text in zip(opts[1:], opts_zh[1:], strict=True):
        assert text == f"{value}：{BASES[value][1]}", text
    c.page.click("#lang-en")

    with srv.client("acme") as h:
        size = h.get("/v1/status").json()["size"]
    c.page.fill("#g-grantee", "foreign-b")
    c.page.fill("#g-items", eid)
    c.page.fill("#g-expires", IN_A_MONTH)
    c.page.fill("#g-purpose", LEGAL["purpose"])  # not enough: the server names what lacks
    c.page.click("#grant-btn")
    c.page.wait_for_selector('#grant-msg [data-code="legal-basis-required"]')
    said = c.page.inner_text("#grant-msg")
    assert "requires the legal basis" in said
    assert "missing: recipient_jurisdiction, recipient_organisation, legal_basis" in said, said
    with srv.client("acme") as h:
        assert h.get("/v1/status").json()["size"] == size  # nothing appended
    c.page.click("#lang-zh")  # the refusal is said again in Chinese, with the server's words
    said = c.page.inner_text('#grant-msg [data-code="legal-basis-required"]')
    assert "本服务要求每项授权写明法律依据" in said and "missing: recipient_jurisdiction" in said
    c.page.click("#lang-en")

    c.page.fill("#g-org", LEGAL["recipient_organisation"])
    c.page.fill("#g-juris", LEGAL["recipient_jurisdiction"])
    c.page.select_option("#g-basis", LEGAL["legal_basis"])
    assert c.page.inner_text("#g-basis-desc") == BASES["treaty-request"][0]
    c.page.fill("#g-basis-ref", LEGAL["legal_basis_ref"])
    c.page.click("#grant-btn")
    c.page.wait_for_selector("#grant-msg .msg.ok")
    gid = c.page.get_attribute("#grant-msg .msg.ok", "data-grant")
    with srv.client("acme") as h:
        g = h.get(f"/v1/grants/{gid}").json()
    assert {k: g[k] for k in LEGAL} == {**LEGAL, "recipient_jurisdiction": "US-NY"}
    # the grants list shows them
    row = f'#grants-list tr[data-grant="{gid}"]'
    c.page.wait_for_selector(row)
    legal = c.page.inner_text(f"{row} td.legal")
    assert "S.D.N.Y. (US-NY)" in legal and BASES["treaty-request"][0] in legal
    assert "Hague request 2026/17" in legal and "京04民初123号" in legal
    # the item's custody shows them (the evidence.shared entry)
    c.go(f"item/{eid}")
    c.page.wait_for_selector('#item-custody li[data-type="evidence.shared"]')
    line = c.page.inner_text('#item-custody li[data-type="evidence.shared"]')
    assert "S.D.N.Y." in line and "US-NY" in line and BASES["treaty-request"][0] in line
    assert "Hague request 2026/17" in line and "京04民初123号" in line
    c.page.click("#lang-zh")
    line = c.page.inner_text('#item-custody li[data-type="evidence.shared"]')
    assert BASES["treaty-request"][1] in line
