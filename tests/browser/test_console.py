"""The web console (/console/, docs/console.md) in Debian's chromium, against a real
``evidence serve`` whose anchoring asks the real local OpenSSL TSA.

- A new user's whole journey: sign in, preserve a file (dropped), see it anchored with the
  TSA's name; export the bundle; grant a foreign party access, who downloads the file and
  the bundle; a judge verifies the bundle on /verify.
- Every role against every console action: what the console offers is what the API's
  permission matrix allows, a denied action is shown as denied, and the API refuses it.
- Bad input: an expired token (a clean sign-out, with the reason), a server that is down
  (a message and a retry that works once it is back), an upload cut off half-way (a retry
  that preserves the item once), a hostile key file.
- The signing key: WebCrypto Ed25519 in the browser, in the key-file format of
  ``evidence keygen`` both ways; a signed submission verifies with the Python verifier.
- Chinese and English (the same keys), the CSP, ``GET /`` leading to the console.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from evidence.ledger.anchor.config import add_tsa, load_anchor_config, save_anchor_config
from evidence.verify.bundle import verify_bundle
from evidence.verify.note import generate_signer, parse_signer_key
from evidence.verify.submission import verify_submission
from tests.support.api_server import (
    CLI,
    SOON,
    Server,
    make_world,
    sql,
    start_server,
)
from tests.support.browser import ARTIFACTS, Page
from tests.support.console_page import IN_A_MONTH, PNG, Console
from tests.support.tsa import LocalTSA

pytestmark = pytest.mark.tsa


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> Iterator[Server]:
    """The service, anchoring every half second with the local TSA (no witness)."""
    world = make_world(tmp_path_factory.mktemp("console") / "data")
    cfg = add_tsa(load_anchor_config(world.data), "local-tsa", tsa.url, [tsa.ca_pem_path])
    save_anchor_config(type(cfg)(cfg.data_dir, cfg.tsas, cfg.witnesses, cfg.witness_quorum, 0.5))
    s = start_server(world, "--rate", "1000", "--burst", "1000")
    try:
        yield s
    finally:
        s.stop()




def item_count_with(srv: Server, who: str, sha: str, case: str = "case-a") -> int:
    with srv.client(who) as c:
        items = c.get("/v1/evidence", params={"case": case, "limit": 500}).json()["items"]
    return sum(1 for i in items if any(f["sha256"] == sha for f in i["files"]))


# --- the journey -----------------------------------------------------------------------------


def test_a_new_users_journey(tabs: Any, srv: Server, tmp_path: Path) -> None:
    import hashlib

    me = tabs().open()
    me.sign_in("acme")
    assert "Acme" in me.page.inner_text("#whoami")
    shot = b"\x89PNG" + PNG[4:]
    eid = me.preserve([("listing.png", shot, "image/png")], kind="screenshot",
                      title="Copycat listing")
    assert re.fullmatch(r"ev_\w+", eid)
    me.wait_anchored(eid)
    me.shot("console-list")

    # the item page: anchoring with the TSA's name, metadata, receipt, custody, preview
    me.page.click(f'#list-results a[href="#/item/{eid}"]')
    me.page.wait_for_selector("#item-custody")
    assert me.page.get_attribute("#item-anchoring .tsa", "data-tsa") == "local-tsa"
    assert "Timestamped by local-tsa" in me.page.inner_text("#item-anchoring")
    assert me.page.inner_text("#item-h") == "Copycat listing"
    assert "evidence.receipt/v1" in me.page.inner_text("#item-receipt")
    types = me.page.eval_on_selector_all("#item-custody li", "ls => ls.map(l => l.dataset.type)")
    assert types[0] == "evidence.submitted" and "evidence.accessed" in types
    me.page.click("li[data-sha256] button.preview")
    me.page.wait_for_selector("figure.preview img")
    src = me.page.get_attribute("figure.preview img", "src")
    assert src.startswith("blob:")
    assert me.page.evaluate("() => document.querySelector('figure.preview img').naturalWidth") == 1
    me.shot("console-item")

    # export the bundle: with the TSA root pinned, Python finds nothing wrong with it; the
    # one check not made is the witnesses' (this deployment has none)
    bundle = me.download("#export-btn")
    assert me.page.get_attribute("#export-msg .msg", "data-key") == "exported"
    checked = verify_bundle(io.BytesIO(bundle), _trust(srv))
    assert _unproven(checked) == ["cosignatures"]

    # grant a foreign party access, from the item page's share button
    me.page.click("#share-btn")
    me.page.wait_for_selector("#view-grants:not([hidden])")
    assert me.page.input_value("#g-items") == eid
    me.page.fill("#g-grantee", "foreign")
    me.page.fill("#g-expires", IN_A_MONTH)
    me.page.fill("#g-max", "5")
    me.page.click("#grant-btn")
    me.page.wait_for_selector("#grant-msg .msg.ok")
    gid = me.page.get_attribute("#grant-msg .msg.ok", "data-grant")
    me.page.wait_for_selector(f'#grants-list tr[data-grant="{gid}"][data-status="active"]')

    # the foreign party signs in elsewhere, finds the item, downloads the file and the bundle
    them = tabs().open(lang="zh")
    them.sign_in("foreign")
    them.page.wait_for_selector(f'#list-results tr[data-id="{eid}"]')
    them.page.click(f'#list-results a[href="#/item/{eid}"]')
    them.page.wait_for_selector("li[data-sha256] button.download")
    got = them.download("li[data-sha256] button.download")
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(shot).hexdigest()
    assert "SHA-256 核对一致" in them.page.inner_text("#status")
    foreign_bundle = them.download("#export-btn")
    them.shot("console-foreign-zh")
    with srv.client("acme") as c:
        g = c.get(f"/v1/grants/{gid}").json()
    assert g["downloads"] == 2  # the file and the bundle, each counted once

    # a judge verifies the foreign party's bundle on /verify (the trust file the service
    # publishes pins the log key and the TSA root)
    path = tmp_path / f"{eid}.zip"
    path.write_bytes(foreign_bundle)
    judge = Page(me.context.browser, url=srv.base + "/verify/")
    try:
        judge.page.goto(srv.base + "/verify/#lang=en")
        judge.page.evaluate("() => window.EvidencePage.trustReady")
        got = judge.verify(path)
        # no check failed; the time is proven by the pinned TSA; only the witnesses are
        # not checked, as in Python (this deployment has no witness)
        assert got["verdict"] == "incomplete", got["text"]
        statuses = {c["name"]: c["status"] for c in got["report"]["checks"]}
        assert "fail" not in statuses.values(), statuses
        assert [n for n, s in statuses.items() if s != "pass"] == ["cosignatures"]
        assert got["report"]["preserved_no_later_than"], got["report"]
        assert "local-tsa" in got["text"] or "Preserved no later than" in got["text"]
        judge.shot("console-bundle-on-verify")
    finally:
        judge.close()


def _unproven(report: Any) -> list[str]:
    """The checks of a report that did not pass (failed or not made)."""
    assert not [c.name for c in report.checks if c.status == "fail"], report.checks
    return [c.name for c in report.checks if c.status != "pass"]


def _trust(srv: Server) -> Any:
    from evidence.verify.trust import parse_trust

    return parse_trust(httpx.get(srv.base + "/v1/log/trust").content)


# --- roles ----------------------------------------------------------------------------------

ROLES = ("acme", "judge", "rival", "other-court", "foreign", "foreign-b", "auditor", "admin")
# what the console offers each (docs/api.md's table); nav: list, submit, capture, grants, key
OFFERED = {
    "acme":        {"list": True, "submit": True, "capture": True, "grants": True, "key": True},
    "judge":       {"list": True, "submit": False, "capture": False, "grants": True, "key": False},
    "rival":       {"list": True, "submit": True, "capture": True, "grants": True, "key": True},
    "other-court": {"list": True, "submit": False, "capture": False, "grants": True, "key": False},
    "foreign":     {"list": True, "submit": False, "capture": False, "grants": True, "key": False},
    "foreign-b":   {"list": True, "submit": False, "capture": False, "grants": True, "key": False},
    "auditor":     {"list": False, "submit": False, "capture": False, "grants": True, "key": False},
    "admin":       {"list": False, "submit": False, "capture": False, "grants": True, "key": False},
}
GRANT_CREATE = {"acme": True, "judge": True, "rival": True, "other-court": True}
# on case-a's item: what each sees on its page (files, receipt, custody), tests/api/test_matrix
SEES = {  # role: (files and bundle, receipt, custody)
    "acme": (True, True, True), "judge": (True, True, True), "foreign": (True, True, True),
    "rival": (False, False, False), "other-court": (False, False, False),
    "foreign-b": (False, False, False), "auditor": (False, True, True),
    "admin": (False, False, False),
}


@pytest.fixture(scope="module")
def shared(srv: Server) -> dict[str, str]:
    """An item of case-a granted to ``foreign``, and a grant acme gave."""
    with srv.client("acme") as c:
        r = c.post("/v1/evidence", data={"case": "case-a", "kind": "document", "title": "roles"},
                   files=[("file", ("roles.txt", b"matrix item for the console", "text/plain"))])
        assert r.status_code == 201, r.text
        eid = r.json()["evidence_id"]
        g = c.post("/v1/grants", json={"grantee": "foreign", "evidence_ids": [eid],
                                       "expires_at": SOON})
        assert g.status_code == 201, g.text
    return {"eid": eid, "gid": g.json()["id"]}


@pytest.mark.parametrize("who", ROLES)
def test_every_role_against_every_action(tabs: Any, srv: Server, shared: dict[str, str],
                                         who: str) -> None:
    c = tabs().open()
    c.sign_in(who)
    page = c.page
    offered = page.eval_on_selector_all(
        "#nav [data-action]", "as => Object.fromEntries(as.map(a => [a.dataset.action, "
        "a.dataset.allowed === 'true']))")
    assert offered == OFFERED[who]
    eid, gid = shared["eid"], shared["gid"]
    # every action denied in the console is shown so, and refused by the API
    refusals = {
        "list": ("GET", "/v1/evidence", {}),
        "submit": ("POST", "/v1/evidence/pending/pd_" + "0" * 32 + "/sign",
                   {"json": {"key": "k", "signature": "s"}}),
        "capture": ("POST", "/v1/captures", {"json": {"url": "http://127.0.0.1:9/",
                                                      "case": "case-a"}}),
    }
    for action, allowed in OFFERED[who].items():
        if allowed or action not in refusals:
            continue
        c.go(action)
        note = page.locator(f'[data-denied="{action}"]')
        assert note.is_visible() and note.inner_text()
        if action != "list":
            assert page.locator(f"#{action}-btn").is_disabled()
        m, p, kw = refusals[action]
        r = c.api(m, p, **kw)
        assert r["status"] in (403, 404), (action, r)  # never allowed
    # the key: only a member submitter may hold one
    c.go("key")
    assert page.locator("#keygen-btn").is_disabled() is (not OFFERED[who]["key"])
    # grants: the form, and a grant create through the API
    c.go("grants")
    can_grant = GRANT_CREATE.get(who, False)
    assert page.locator("#grant-btn").is_disabled() is (not can_grant)
    r = c.api("POST", "/v1/grants", json={"grantee": "foreign-c", "evidence_ids": [eid],
                                          "expires_at": SOON})
    assert (r["status"] == 200) is (who in ("acme", "judge")), r
    # revoking acme's grant: offered to whom the API allows
    page.wait_for_selector("#grants-list table, #grants-list .empty")
    row = page.locator(f'#grants-list tr[data-grant="{gid}"]')
    if row.count():
        revocable = row.locator("button.revoke").count() == 1
        assert revocable is (who in ("acme", "judge", "admin")), who
        if not revocable:
            assert row.locator(f'[data-denied-grant="{gid}"]').count() == 1
            r = c.api("POST", f"/v1/grants/{gid}/revoke")
            assert r["status"] in (403, 404), r
    else:
        assert who in ("rival", "other-court", "foreign-b")  # not theirs to see
    # the item page: what each sees, and the API agrees
    c.go(f"item/{eid}")
    page.wait_for_function("() => !document.querySelector('#status').dataset.key || "
                           "document.querySelector('#status').dataset.key !== 'loading'")
    page.wait_for_selector("#item-body section")
    files, receipt, custody = SEES[who]
    assert (page.locator("li[data-sha256]").count() == 1) is files
    assert (page.locator("#export-btn").count() == 1) is files
    assert (page.locator("#item-receipt").count() == 1) is receipt
    assert (page.locator("#item-custody").count() == 1) is custody
    body = page.inner_text("#item-body")
    if not files:
        assert ("Not found, or not yours to see" in body or "may not see" in body), body
        assert c.api("GET", f"/v1/evidence/{eid}/bundle", query={"provisional": 1})[
            "status"] == 404
    c.shot(f"console-role-{who}")


# --- bad input --------------------------------------------------------------------------------


def test_an_expired_token_signs_out_cleanly(tabs: Any, srv: Server) -> None:
    c = tabs().open()
    c.sign_in("acme", token=srv.world.tokens["expired"])
    c.page.wait_for_selector("#signin-msg.bad")
    assert "expired" in c.page.inner_text("#signin-msg")
    assert c.page.is_hidden("#nav")
    # expiring while signed in: the next request signs out, with the reason, token gone
    from evidence.ledger.access import AccessControl
    from evidence.ledger.log import Ledger

    led = Ledger.open(srv.world.data)
    try:
        info, tok = AccessControl(led).create_token("lawyer", label="short")
    finally:
        led.close()
    c.sign_in("lawyer", token=tok)
    c.page.wait_for_selector("#whoami:not([hidden])")
    sql(srv, "UPDATE api_tokens SET expires_at = '2001-01-01T00:00:00.000000Z' WHERE id = :i",
        i=info.id)
    c.page.click("#search-btn")
    c.page.wait_for_selector("#view-signin:not([hidden])")
    assert c.page.get_attribute("#signin-msg", "data-key") == "signed_out_expired"
    assert c.page.is_hidden("#nav") and c.page.input_value("#token") == ""
    assert c.page.evaluate("() => sessionStorage.length") == 0
    assert c.page.inner_text("#list-results") == ""
    c.page.click("#lang-zh")
    assert "令牌已过期" in c.page.inner_text("#signin-msg")


def _restart(srv: Server) -> Server:
    """The same server again, on the same port (after it was stopped)."""
    log = srv.log.with_suffix(".again.log")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*CLI, "serve", "--data-dir", str(srv.world.data), "--port", str(srv.port),
             "--log-level", "warning", "--rate", "1000", "--burst", "1000"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    again = Server(srv.world, proc, srv.port, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(again.base + "/health", timeout=2).status_code == 200:
                return again
        except httpx.HTTPError:
            time.sleep(0.2)
    again.stop()
    raise RuntimeError(log.read_text()[-2000:])


def test_a_server_that_is_down(browser: Any, tmp_path: Path) -> None:
    world = make_world(tmp_path / "data")
    srv = start_server(world)
    c = Console(browser, srv)
    try:
        c.open().sign_in("acme")
        srv.stop()
        c.page.click("#search-btn")
        c.page.wait_for_selector("#alert:not([hidden])")
        assert "cannot be reached" in c.page.inner_text("#alert-text")
        assert c.page.is_visible("#retry")
        c.page.click("#retry")  # still down: the same message, no page error
        c.page.wait_for_selector("#alert:not([hidden])")
        srv = _restart(srv)
        c.page.click("#retry")
        c.page.wait_for_selector("#alert", state="hidden")
        c.page.wait_for_function("() => document.getElementById('status').dataset.key === "
                                 "'list_count'")
        assert c.page.is_visible("#whoami")  # still signed in
        assert not c.real_errors(), c.real_errors()
    finally:
        c.close()
        srv.stop()


@pytest.mark.parametrize("kept", [False, True], ids=["cut-before-the-server", "answer-lost"])
def test_an_upload_cut_off_is_retried_once(tabs: Any, srv: Server, kept: bool) -> None:
    """The upload fails at the network: before the server had it, or after it kept it and
    before its answer came back. Retry preserves the item exactly once either way."""
    import hashlib
    import os

    data = b"retry me " + os.urandom(16).hex().encode()
    sha = hashlib.sha256(data).hexdigest()
    c = tabs().open()
    c.sign_in("acme")
    hits: list[int] = []

    def cut(route: Any) -> None:
        if route.request.method != "POST":
            return route.continue_()
        hits.append(1)
        if len(hits) == 1:
            if kept:
                route.fetch()  # the server takes it whole...
            return route.abort("connectionreset")  # ...and the answer is lost
        return route.continue_()

    c.page.route("**/v1/evidence", cut)
    c.go("submit")
    c.drop([("retry.txt", data, "text/plain")])
    c.page.click("#submit-btn")
    c.page.wait_for_selector("[data-code=upload-failed]")
    assert c.page.is_visible("#submit-retry")
    assert item_count_with(srv, "acme", sha) == (1 if kept else 0)
    c.page.click("#submit-retry")
    c.page.wait_for_selector("#preserved")
    assert item_count_with(srv, "acme", sha) == 1
    want = "found_after_retry" if kept else "preserved"
    assert c.page.get_attribute("#status", "data-key") == want
    assert len(hits) == (1 if kept else 2)  # when kept, nothing was sent again


def test_refusals_are_shown_with_their_reason(tabs: Any, srv: Server) -> None:
    c = tabs().open()
    c.sign_in("acme")
    c.go("submit")
    c.page.click("#submit-btn")  # no file
    assert c.page.inner_text("#submit-result").startswith("Choose or drop")
    c.drop([("bad.eml", b"not an e-mail at all", "message/rfc822")])
    c.page.select_option("#f-kind", "email")
    assert c.page.is_visible("#f-dns") and c.page.is_hidden("#f-source")
    c.page.fill("#f-dns", "no equals sign here")
    c.page.click("#submit-btn")
    assert "no “=”" in c.page.inner_text("#submit-result")
    c.go("grants")
    c.page.fill("#g-grantee", "nobody-such")
    c.page.fill("#g-items", "ev_nothing")
    c.page.fill("#g-expires", IN_A_MONTH)
    c.page.click("#grant-btn")
    c.page.wait_for_selector("#grant-msg [data-code]")
    assert c.page.get_attribute("#grant-msg [data-code]", "data-code") in (
        "unknown-grantee", "unknown-evidence", "not-found")
    c.go("capture")
    c.page.fill("#c-url", "http://127.0.0.1:9/")
    c.page.click("#capture-btn")
    c.page.wait_for_selector("#capture-result [data-code]")
    assert c.page.get_attribute("#capture-result [data-code]", "data-code") == "capture-disabled"
    assert "does not capture" in c.page.inner_text("#capture-result")


# --- the signing key --------------------------------------------------------------------------


def test_signing_in_the_browser_with_a_cli_key(tabs: Any, srv: Server, tmp_path: Path) -> None:
    signer = generate_signer("acme-lawyer")
    key_file = tmp_path / "acme-lawyer.key"
    key_file.write_text(signer.to_string() + "\n")
    c = tabs().open()
    c.sign_in("acme")
    c.go("key")
    c.page.set_input_files("#k-file", str(key_file))
    c.page.wait_for_selector("#verifier-key")
    assert c.page.inner_text("#verifier-key") == signer.verifier().to_string()
    eid = c.preserve([("signed.txt", b"signed in the browser " + key_file.name.encode(),
                       "text/plain")], sign=True)
    assert "Signed with your own key" in c.page.inner_text("#preserved")
    with srv.client("acme") as h:
        entry = json.loads(h.get(f"/v1/evidence/{eid}/receipt").json()["entry"])
    assert verify_submission(entry["body"], expected_key=signer.verifier().to_string())

    # a key made in the browser exports in the CLI's format, which Python reads
    c.go("key")
    c.page.fill("#k-name", "browser-made")
    c.page.click("#keygen-btn")
    c.page.wait_for_function("() => (document.getElementById('verifier-key')?.textContent "
                             "|| '').startsWith('browser-made+')")
    shown = c.page.inner_text("#verifier-key")
    exported = c.download("#key-export").decode()
    assert exported.startswith("PRIVATE+KEY+browser-made+") and exported.endswith("\n")
    assert parse_signer_key(exported.strip()).verifier().to_string() == shown


@pytest.mark.parametrize("text", [
    "not a key", "PRIVATE+KEY+x+00000000+AAAA",
    generate_signer("w", 0x04).to_string(),  # a witness key
    re.sub(r"\+[0-9a-f]{8}\+", "+00000000+", generate_signer("k").to_string()),  # wrong id
])
def test_a_bad_key_file_is_refused(tabs: Any, tmp_path: Path, text: str) -> None:
    c = tabs().open()
    c.sign_in("acme")
    c.go("key")
    before = c.page.inner_text("#key-info")
    path = tmp_path / "bad.key"
    path.write_text(text)
    c.page.set_input_files("#k-file", str(path))
    c.page.wait_for_function("() => document.getElementById('status').dataset.key === "
                             "'key_error'")
    assert "Key refused" in c.page.inner_text("#status")
    assert c.page.inner_text("#key-info") == before


# --- the page itself --------------------------------------------------------------------------


def test_languages_csp_and_the_front_door(tabs: Any, srv: Server) -> None:
    r = httpx.get(srv.base + "/", follow_redirects=False)
    assert r.status_code in (302, 307) and r.headers["location"] == "/console/"
    page = httpx.get(srv.base + "/console/")
    verify = httpx.get(srv.base + "/verify/")
    assert page.headers["content-security-policy"] == verify.headers["content-security-policy"]
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]
    assert httpx.get(srv.base + "/console/../etc/passwd").status_code == 404
    assert httpx.get(srv.base + "/console/nothing.js").status_code == 404
    c = tabs().open(lang="zh")
    keys = c.page.evaluate("""async () => { const m = await import('./i18n.js');
        return [Object.keys(m.STRINGS.en).sort(), Object.keys(m.STRINGS.zh).sort()]; }""")
    assert keys[0] == keys[1]
    assert c.page.evaluate("() => document.activeElement.id") == "token"  # keyboard: here first
    assert c.page.inner_text("#signin-h") == "登录"
    c.page.click("#lang-en")
    assert c.page.inner_text("#signin-h") == "Sign in"
    assert c.page.get_attribute("html", "lang") == "en"
    # every form control has a label
    unlabelled = c.page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(e => e.type !== 'hidden' && !(e.labels && e.labels.length)).map(e => e.id)""")
    assert unlabelled == []
    c.page.focus("#token")
    c.page.keyboard.type(srv.world.tokens["judge"])
    c.page.keyboard.press("Enter")
    c.page.wait_for_selector("#whoami:not([hidden])")
    hosts = {httpx.URL(r.url).host for r in c.requests if r.url.startswith("http")}
    assert hosts == {"127.0.0.1"}
    (ARTIFACTS).mkdir(parents=True, exist_ok=True)
    c.shot("console-judge")


def test_signing_a_chat_archive_whose_media_the_server_adds(tabs: Any, srv: Server,
                                                            tmp_path: Path) -> None:
    """A WhatsApp ZIP gets its media as further files of the item (each naming the ZIP in
    ``derived_from``): the console signs the list the server describes once the files it
    sent are the ones listed and every derived file names one of them."""
    signer = generate_signer("acme-chat")
    key_file = tmp_path / "acme-chat.key"
    key_file.write_text(signer.to_string() + "\n")
    photo = b"\xff\xd8\xff\xe0 not really a photo " + os.urandom(32)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("WhatsApp Chat with Zhang Wei.txt",
                    "12/06/2026, 10:00 - Acme Sales: IMG-20260612-WA0001.jpg (file attached)\n"
                    "12/06/2026, 10:01 - Zhang Wei: ok\n", zipfile.ZIP_DEFLATED)
        zf.writestr("IMG-20260612-WA0001.jpg", photo, zipfile.ZIP_STORED)
    c = tabs().open()
    c.sign_in("acme")
    c.go("key")
    c.page.set_input_files("#k-file", str(key_file))
    c.page.wait_for_selector("#verifier-key")
    eid = c.preserve([("WhatsApp Chat with Zhang Wei.zip", buf.getvalue(),
                       "application/zip")], kind="chat", sign=True)
    assert "Signed with your own key" in c.page.inner_text("#preserved")
    with srv.client("acme") as h:
        entry = json.loads(h.get(f"/v1/evidence/{eid}/receipt").json()["entry"])
    files = entry["body"]["files"]
    assert len(files) == 2 and files[1]["derived_from"]["member"] == "IMG-20260612-WA0001.jpg"
    assert files[1]["sha256"] == hashlib.sha256(photo).hexdigest()
    assert verify_submission(entry["body"], expected_key=signer.verifier().to_string())
