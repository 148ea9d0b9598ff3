"""The remote CLI against a real ``evidence serve``: login, precedence, the same output as
the local commands on one ledger, one-command signing, DKIM records over HTTP, progress,
resumed and checked downloads, and the bad cases (a refused token, a server that is down,
an upload or a download cut off half-way by a proxy that drops the connection).

The world (tests/support/api_server.py) is made before the server starts; the local
commands read the same ledger (SQLite) while it runs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evidence.ledger.access import AccessControl
from evidence.ledger.log import Ledger
from tests.support.api_server import SOON, Server, World, log_size, make_world, start_server
from tests.support.media import DOMAIN, make_message
from tests.support.ports import free_ports
from tests.support.remote_cli import DroppingProxy, js, login, run, the_file

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, Server]]:
    w = make_world(tmp_path_factory.mktemp("remote") / "data")
    srv = start_server(w, "--no-anchor")
    try:
        yield w, srv
    finally:
        srv.stop()


# --- login, logout, precedence -------------------------------------------------------------------


def test_login_stores_the_token_privately_and_refuses_an_exposed_file(
        world: tuple[World, Server], tmp_path: Path) -> None:
    w, srv = world
    me = js(login(tmp_path, srv))
    assert (me["principal"], me["role"], me["cases"]) == ("acme", "submitter", ["case-a"])
    cfg = tmp_path / "evidence" / "remote.toml"
    assert Path(me["config"]) == cfg
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    assert stat.S_IMODE(cfg.parent.stat().st_mode) == 0o700
    text = cfg.read_text()
    assert w.tokens["acme"] in text and srv.base in text
    assert not [p for p in cfg.parent.iterdir() if p.name != "remote.toml"]  # no temp left
    # the login is used by the evidence commands
    assert js(run(tmp_path, "list", "--json"))["items"] is not None
    # a file others may read: refused, not written into (and not used)
    cfg.chmod(0o644)
    p = run(tmp_path, "login", srv.base, "--token-stdin", stdin=w.tokens["lawyer"], ok=False)
    assert "readable or writable by others" in p.stderr
    assert w.tokens["lawyer"] not in cfg.read_text()
    assert "readable or writable by others" in run(tmp_path, "list", ok=False).stderr
    cfg.chmod(0o600)
    # logout forgets it; the commands are local again (no ledger here: refused locally)
    run(tmp_path, "logout")
    assert not cfg.exists()
    assert run(tmp_path, "logout", ok=False).returncode == 1


def test_login_refuses_a_bad_token_and_stores_nothing(world: tuple[World, Server],
                                                      tmp_path: Path) -> None:
    w, srv = world
    for bad in ("revoked", "expired"):
        p = run(tmp_path, "login", srv.base, "--token-stdin", stdin=w.tokens[bad], ok=False)
        assert p.returncode == 4 and "Log in again" in p.stderr, p.stderr
    p = run(tmp_path, "login", srv.base, "--token-stdin", stdin="evk_not-a-token", ok=False)
    assert p.returncode == 4
    assert not (tmp_path / "evidence" / "remote.toml").exists()


def test_expired_or_revoked_token_in_use(world: tuple[World, Server], tmp_path: Path) -> None:
    w, srv = world
    login(tmp_path, srv)
    # the stored token is revoked behind the user's back: a clean message, exit 4
    info, tok = _new_token(w, "acme")
    run(tmp_path, "login", srv.base, "--token-stdin", stdin=tok)
    _revoke(w, info)
    p = run(tmp_path, "list", "--json", ok=False)
    assert p.returncode == 4
    doc = js(p)
    assert doc["ok"] is False and doc["problem"] in ("unauthorized", "token-revoked",
                                                     "invalid-token"), doc
    assert f"evidence login {srv.base}" in doc["error"]
    p = run(tmp_path, "show", "ev_x", env={"EVIDENCE_TOKEN": w.tokens["expired"]}, ok=False)
    assert p.returncode == 4 and "Log in again" in p.stderr and "Traceback" not in p.stderr


def _new_token(w: World, who: str) -> tuple[Any, str]:
    led = Ledger.open(w.data)
    try:
        return AccessControl(led).create_token(who, label="remote-cli")
    finally:
        led.close()


def _revoke(w: World, info: Any) -> None:
    led = Ledger.open(w.data)
    try:
        AccessControl(led).revoke_token(info.id)
    finally:
        led.close()


def test_precedence_flags_then_environment_then_login(world: tuple[World, Server],
                                                      tmp_path: Path) -> None:
    w, srv = world
    env = {"EVIDENCE_SERVER": srv.base, "EVIDENCE_TOKEN": w.tokens["rival"]}
    # the environment alone: rival sees case-b only
    assert js(run(tmp_path, "list", "--case", "case-a", "--json", env=env))["items"] == []
    # --data-dir on the command line beats EVIDENCE_SERVER: the local ledger (all items)
    local = js(run(tmp_path, "list", "--data-dir", str(w.data), "--json", env=env))
    # EVIDENCE_TOKEN beats the stored login; --server beats EVIDENCE_DATA_DIR
    login(tmp_path, srv, "acme")
    env2 = {"EVIDENCE_DATA_DIR": str(tmp_path / "nowhere"), "EVIDENCE_TOKEN": w.tokens["rival"]}
    remote = js(run(tmp_path, "list", "--server", srv.base, "--case", "case-a", "--json",
                    env=env2))
    assert remote["items"] == []
    # EVIDENCE_DATA_DIR beats the stored login
    p = run(tmp_path, "list", "--json", env={"EVIDENCE_DATA_DIR": str(w.data)})
    assert js(p) == local
    # the stored login alone: acme's view
    mine = js(run(tmp_path, "list", "--case", "case-a", "--json"))
    assert all(i["case"] == "case-a" for i in mine["items"])


# --- the same output, local and remote -----------------------------------------------------------


def test_local_and_remote_give_the_same_output(world: tuple[World, Server],
                                               tmp_path: Path) -> None:
    w, srv = world
    login(tmp_path, srv)
    local = ("--data-dir", str(w.data))
    f = the_file(tmp_path)
    # submit: local (as acme, a named principal) and remote (acme's token)
    a = js(run(tmp_path, "submit", str(f), "--case", "case-a", "--kind", "document",
               "--title", "local", "--as", "acme", *local, "--json"))
    b = js(run(tmp_path, "submit", str(f), "--case", "case-a", "--kind", "document",
               "--title", "remote", "--json"))
    assert set(a) == set(b) and a["ok"] and b["ok"]
    assert a["files"] == b["files"] and a["signed_by_submitter"] is b["signed_by_submitter"]
    for k in ("evidence_id", "seq", "leaf_hash", "time", "receipt", "metadata_commitment"):
        assert a[k] != b[k]
    # text output of submit: the same lines (values differ)
    t = run(tmp_path, "submit", str(f), "--case", "case-a", "--kind", "document")
    eid = t.stdout.splitlines()[0]
    assert eid.startswith("ev_") and t.stdout.splitlines()[1].startswith("evidence.receipt/v1")
    assert t.stderr.startswith(f"preserved {eid}: entry ")
    # show: the remote view is recorded (in its own custody), then both read the same
    rs = js(run(tmp_path, "show", eid, "--json"))
    ls = js(run(tmp_path, "show", eid, *local, "--json"))
    assert rs.pop("access_seq") == rs["custody"][-1]["seq"]
    assert [f.pop("fixity") for f in ls["files"]] == ["ok"]
    assert [f.pop("fixity") for f in rs["files"]] == ["unchecked"]  # not downloaded
    assert rs == ls
    rt = run(tmp_path, "show", eid, "--verify").stdout
    lt = run(tmp_path, "show", eid, *local).stdout
    assert _no_custody(rt) == _no_custody(lt)
    # list, receipt, custody: nothing appended between the two, identical
    for cmd in (["list", "--case", "case-a"], ["receipt", eid], ["custody", eid],
                ["custody", eid, "--after", str(rs["seq"])]):
        assert run(tmp_path, *cmd, "--json").stdout == run(tmp_path, *cmd, *local,
                                                           "--json").stdout, cmd
        assert run(tmp_path, *cmd).stdout == run(tmp_path, *cmd, *local).stdout, cmd
    # grants: add (local as acme, remote with acme's token), list, revoke
    g1 = js(run(tmp_path, "grant", "add", "--as", "acme", "--to", "foreign", "--evidence",
                eid, "--expires", SOON, *local, "--json"))
    g2 = js(run(tmp_path, "grant", "add", "--to", "foreign", "--evidence", eid,
                "--expires", SOON, "--json"))
    assert set(g1) == set(g2)
    for k in ("grantee", "granted_by", "case", "evidence_ids", "expires_at", "status"):
        assert g1[k] == g2[k], k
    gl = ["grant", "list", "--evidence", eid, "--json"]
    assert run(tmp_path, *gl).stdout == run(tmp_path, *gl, *local).stdout
    r1 = js(run(tmp_path, "grant", "revoke", g1["id"], "--as", "acme", *local, "--json"))
    r2 = js(run(tmp_path, "grant", "revoke", g2["id"], "--json"))
    assert (r1["status"], r1["revoked_by"]) == (r2["status"], r2["revoked_by"]) == (
        "revoked", "acme")
    # export: local first (appends nothing), then remote (appends its export access after)
    le = js(run(tmp_path, "export", eid, "-o", str(tmp_path / "l.zip"), "--provisional",
                *local, "--json"))
    re_ = js(run(tmp_path, "export", eid, "-o", str(tmp_path / "r.zip"), "--provisional",
                 "--json"))
    assert le.pop("path") != re_.pop("path")
    assert le.pop("bytes") > 0 and re_.pop("bytes") > 0
    assert le == re_
    assert not list(tmp_path.glob("*.part"))
    # --server and the local options that make no sense there
    assert run(tmp_path, "grant", "add", "--as", "acme", "--to", "foreign", "--evidence",
               eid, "--expires", SOON, ok=False).returncode == 2


def _no_custody(text: str) -> list[str]:
    return [line.replace("stored, re-hashed: intact", "X").replace(
        "stored, size matches (not re-hashed: --verify)", "X")
        for line in text.splitlines() if "custody:" not in line]


# --- the local commands: known cases, named principals -------------------------------------------


def test_local_submit_refuses_unknown_case_and_records_a_named_principal(
        world: tuple[World, Server], tmp_path: Path) -> None:
    w, srv = world
    local = ("--data-dir", str(w.data))
    f = the_file(tmp_path)
    before = log_size(srv)
    p = run(tmp_path, "submit", str(f), "--case", "no-such-case", "--kind", "document",
            "--as", "acme", *local, "--json", ok=False)
    assert js(p)["problem"] == "unknown-case" and "evidence case add" in js(p)["error"]
    p = run(tmp_path, "submit", str(f), "--case", "case-a", "--kind", "document", *local,
            ok=False)
    assert "--as" in p.stderr and "acme" in p.stderr  # names the case's members
    p = run(tmp_path, "submit", str(f), "--case", "case-a", "--kind", "document",
            "--as", "rival", *local, ok=False)  # not a member of case-a
    assert "may not submit" in p.stderr
    p = run(tmp_path, "submit", str(f), "--case", "case-a", "--kind", "document",
            "--as", "judge", *local, ok=False)  # not a submitter
    assert log_size(srv) == before
    eid = js(run(tmp_path, "submit", str(f), "--case", "case-a", "--kind", "document",
                 *local, "--json", env={"EVIDENCE_PRINCIPAL": "lawyer"}))["evidence_id"]
    assert js(run(tmp_path, "show", eid, *local, "--json"))["principal"] == "lawyer"


# --- signing in one command, DKIM records --------------------------------------------------------


def test_remote_submit_signs_in_one_command(world: tuple[World, Server],
                                            tmp_path: Path) -> None:
    w, srv = world
    login(tmp_path, srv)
    key = tmp_path / "me.key"
    vkey = js(run(tmp_path, "keygen", "acme-signer", "-o", str(key), "--json"))
    vkey = vkey.get("verifier_key") or vkey.get("vkey")
    before = log_size(srv)
    res = js(run(tmp_path, "submit", str(the_file(tmp_path)), "--case", "case-a", "--kind",
                 "document", "--sign-key", str(key), "--json"))
    assert res["signed_by_submitter"] is True
    assert log_size(srv) == before + 1  # one entry: nothing appended by the first step
    entry = json.loads(js(run(tmp_path, "receipt", res["evidence_id"], "--json"))["entry"])
    assert entry["body"]["submitter"]["key"] == vkey
    assert key.read_bytes() not in (w.data / f"serve-{srv.port}.log").read_bytes()


@pytest.fixture(scope="module")
def dkim_mail(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    import dkim
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
    spki = k.public_key().public_bytes(serialization.Encoding.DER,
                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    msg = make_message()
    signed = dkim.sign(msg, b"s1", DOMAIN.encode(), pem,
                       include_headers=[b"from", b"to", b"subject", b"date"]) + msg
    d = tmp_path_factory.mktemp("dkim")
    (d / "mail.eml").write_bytes(signed)
    (d / "record.txt").write_bytes(b"v=DKIM1; k=rsa; p=" + base64.b64encode(spki))
    return d / "mail.eml", d / "record.txt", f"s1._domainkey.{DOMAIN}"


def test_dkim_records_give_pass_by_both_routes(world: tuple[World, Server], tmp_path: Path,
                                               dkim_mail: tuple[Path, Path, str]) -> None:
    w, srv = world
    login(tmp_path, srv)
    mail, record, name = dkim_mail
    common = ("--case", "case-a", "--kind", "email", "--dns-record", f"{name}={record}")
    a = js(run(tmp_path, "submit", str(mail), *common, "--as", "acme",
               "--data-dir", str(w.data), "--json"))["evidence_id"]
    b = js(run(tmp_path, "submit", str(mail), *common, "--json"))["evidence_id"]
    c = js(run(tmp_path, "submit", str(mail), "--case", "case-a", "--kind", "email",
               "--json"))["evidence_id"]  # without the record: the key is not available
    results = []
    for eid in (a, b, c):
        md = js(run(tmp_path, "show", eid, "--json"))["metadata"]
        results.append(md["extracted"]["files"][0]["email"]["dkim"]["result"])
    assert results[:2] == ["pass", "pass"] and results[2] != "pass", results
    # hostile values are refused over the API, nothing preserved
    before = log_size(srv)
    with srv.client("acme") as cl:
        r = cl.post("/v1/evidence", data={"case": "case-a", "kind": "email",
                                          "dns_records": '["not", "an object"]'},
                    files=[("file", ("m.eml", mail.read_bytes()))])
    assert r.status_code == 422 and r.json()["code"] == "invalid-input"
    assert log_size(srv) == before


# --- progress, downloads -------------------------------------------------------------------------


def test_progress_bar_on_request_and_quiet(world: tuple[World, Server], tmp_path: Path) -> None:
    _w, srv = world
    login(tmp_path, srv)
    f = the_file(tmp_path, size=3 << 20)
    p = run(tmp_path, "submit", str(f), "--case", "case-a", "--kind", "other", "--progress")
    assert "uploading" in p.stderr
    p = run(tmp_path, "submit", str(f), "--case", "case-a", "--kind", "other", "--quiet")
    assert "uploading" not in p.stderr  # and stderr is not a terminal: none by default
    p = run(tmp_path, "submit", str(f), "--case", "case-a", "--kind", "other")
    assert "uploading" not in p.stderr


def test_upload_cut_half_way_is_retried_once_with_nothing_duplicated(
        world: tuple[World, Server], tmp_path: Path) -> None:
    w, srv = world
    proxy = DroppingProxy(srv.port, b"POST /v1/evidence", 1 << 20, "up")
    try:
        f = the_file(tmp_path, size=24 << 20)
        sha = hashlib.sha256(f.read_bytes()).hexdigest()
        before = log_size(srv)
        res = js(run(tmp_path, "submit", str(f), "--case", "case-a", "--kind", "other",
                     "--json", env={"EVIDENCE_SERVER": f"http://127.0.0.1:{proxy.port}",
                                    "EVIDENCE_TOKEN": w.tokens["acme"]}))
        assert proxy.cut == 1
        assert sum(h.startswith(b"POST /v1/evidence ") for h in proxy.heads) == 2
        keys = {line for h in proxy.heads for line in h.lower().split(b"\r\n")
                if line.startswith(b"idempotency-key:")}
        assert len(keys) == 1, proxy.heads  # both attempts name one submission
        assert res["files"][0]["sha256"] == sha
        assert log_size(srv) == before + 1
        with srv.client() as cl:
            assert [m["evidence_id"] for m in cl.get(
                "/v1/lookup", params={"sha256": sha}).json()["matches"]] == [res["evidence_id"]]
    finally:
        proxy.close()


def test_upload_whose_answer_is_lost_is_found_not_repeated(world: tuple[World, Server],
                                                            tmp_path: Path) -> None:
    """The body arrived in full and the answer was cut: the server made the item; the
    client finds it (/v1/lookup, then the item's case and principal) instead of sending
    the upload again."""
    w, srv = world
    proxy = DroppingProxy(srv.port, b"POST /v1/evidence", 20, "down")
    try:
        f = the_file(tmp_path)
        sha = hashlib.sha256(f.read_bytes()).hexdigest()
        before = log_size(srv)
        res = js(run(tmp_path, "submit", str(f), "--case", "case-a", "--kind", "other",
                     "--json", env={"EVIDENCE_SERVER": f"http://127.0.0.1:{proxy.port}",
                                    "EVIDENCE_TOKEN": w.tokens["acme"]}))
        assert proxy.cut == 1
        assert sum(h.startswith(b"POST /v1/evidence ") for h in proxy.heads) == 1
        assert "answer to the upload was lost" in res["warnings"][0]
        with srv.client() as cl:
            assert [m["evidence_id"] for m in cl.get(
                "/v1/lookup", params={"sha256": sha}).json()["matches"]] == [res["evidence_id"]]
        assert log_size(srv) == before + 2  # the item, and the client's view of it (access)
    finally:
        proxy.close()


def test_download_resumes_with_range_and_is_checked(world: tuple[World, Server],
                                                    tmp_path: Path) -> None:
    w, srv = world
    login(tmp_path, srv)
    f = the_file(tmp_path, size=20 << 20)
    eid = js(run(tmp_path, "submit", str(f), "--case", "case-a", "--kind", "other",
                 "--json"))["evidence_id"]
    env = {"EVIDENCE_SERVER": "", "EVIDENCE_TOKEN": w.tokens["acme"]}
    proxy = DroppingProxy(srv.port, f"GET /v1/evidence/{eid}/files/".encode(), 5 << 20, "down",
                          graceful=True)
    try:
        out = tmp_path / "saved"
        run(tmp_path, "show", eid, "--save", str(out), "--server",
            f"http://127.0.0.1:{proxy.port}", env=env)
        assert proxy.cut == 1
        assert any(b"\r\nrange: bytes=" in h.lower() for h in proxy.heads), proxy.heads
        assert (out / f.name).read_bytes() == f.read_bytes()
        assert not list(out.glob("*.part"))
    finally:
        proxy.close()
    # a byte changed on the way: detected here, nothing written
    bad = DroppingProxy(srv.port, f"GET /v1/evidence/{eid}/files/".encode(), 1 << 40,
                        "down", corrupt=True)
    try:
        out = tmp_path / "bad"
        p = run(tmp_path, "show", eid, "--save", str(out), "--server",
                f"http://127.0.0.1:{bad.port}", "--json", env=env, ok=False)
        assert js(p)["problem"] == "not-the-preserved-bytes"
        assert not list(out.iterdir())
    finally:
        bad.close()


def test_a_server_that_is_down(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    p = run(tmp_path, "list", "--server", f"http://127.0.0.1:{port}", "--json",
            env={"EVIDENCE_TOKEN": "evk_x", "EVIDENCE_RETRIES": "2"}, ok=False)
    assert p.returncode == 5
    doc = js(p)
    assert doc["problem"] == "server-unreachable" and "after 3 attempt(s)" in doc["error"]
    p = run(tmp_path, "login", f"http://127.0.0.1:{port}", "--token-stdin", stdin="evk_x",
            env={"EVIDENCE_RETRIES": "0"}, ok=False)
    assert p.returncode == 5 and "cannot reach" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "evidence" / "remote.toml").exists()
