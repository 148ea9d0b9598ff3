"""``evidence capture URL...``: the service's own browser visits each page and preserves
what it was served as one ``webcapture`` item per URL.

The capture node's key (its own Ed25519 key, separate from the log key) is
``--capture-key`` (else ``$EVIDENCE_CAPTURE_KEY``, else ``DIR/capture-node.key``);
make one with ``evidence keygen NAME -o DIR/capture-node.key`` and pin its verifier key
in the trust file as ``#@ capture-node <name> <vkey>``.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import click

from evidence.cli.options import (
    INTAKE_ERRORS,
    intake_where_options,
    local_submitter,
    open_intake,
    remote_options,
    remote_run,
    remote_target,
)
from evidence.cli.output import emit_json, fail
from evidence.ledger.capture import (
    MAX_CLICKS,
    MAX_SELECTOR,
    Capture,
    CaptureRefused,
    Options,
    capture,
    preserve,
)
from evidence.ledger.config import resolve_data_dir
from evidence.ledger.intake import SubmissionRefused
from evidence.ledger.keyfile import KeyFileError, read_private_key

_VIEWPORT = re.compile(r"([1-9][0-9]{1,4})x([1-9][0-9]{1,4})")


def _viewport(text: str, as_json: bool) -> tuple[int, int]:
    m = _VIEWPORT.fullmatch(text or "")
    if not m or not (200 <= int(m[1]) <= 4000 and 200 <= int(m[2]) <= 4000):
        fail(f"--viewport {text!r}: expected WIDTHxHEIGHT, each 200 to 4000", as_json=as_json)
    return int(m[1]), int(m[2])


def _check_clicks(clicks: tuple[str, ...], as_json: bool) -> None:
    if len(clicks) > MAX_CLICKS:
        fail(f"--click: at most {MAX_CLICKS} selectors", as_json=as_json)
    for c in clicks:
        if not c.strip() or len(c) > MAX_SELECTOR:
            fail(f"--click {c[:50]!r}: a selector of 1 to {MAX_SELECTOR} characters",
                 as_json=as_json)


@click.command("prune")
@click.option("--older-than", "older_than", type=click.FloatRange(min=0), metavar="DAYS",
              envvar="EVIDENCE_CAPTURE_RETENTION_DAYS", default=30.0, show_default=True,
              help="Delete finished jobs unchanged for longer than this "
                   "(env EVIDENCE_CAPTURE_RETENTION_DAYS).")
@click.option("--data-dir", metavar="DIR", envvar="EVIDENCE_DATA_DIR",
              help="Ledger data directory (env EVIDENCE_DATA_DIR; default ./evidence-data).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def capture_prune_cmd(older_than: float, data_dir: str | None, as_json: bool) -> None:
    """Prune the HTTP capture jobs in DIR/captures: delete finished jobs (done, refused,
    failed) older than DAYS, and mark failed (code abandoned) an unfinished job whose
    worker is gone; nothing was preserved for it. Evidence items are never touched.
    `evidence serve` does this when it starts and then hourly."""
    from evidence.ledger.capture import jobs

    folder = resolve_data_dir(data_dir) / jobs.FOLDER
    try:
        done = jobs.prune(folder, retention_days=older_than, capture_timeout=Options().timeout)
    except OSError as e:
        fail(f"cannot prune {folder}: {e}", as_json=as_json)
    if as_json:
        emit_json(done.to_json())
        return
    click.echo(f"{len(done.deleted)} finished job(s) older than {older_than:g} days deleted, "
               f"{len(done.abandoned)} abandoned job(s) marked failed (nothing was preserved "
               f"for them), {done.kept} kept", err=True)
    for name in done.unreadable:
        click.echo(f"warning: {folder / name} is not a readable job; left as it is", err=True)


class _CaptureCommand(click.Command):
    """``evidence capture URL...``, and ``evidence capture prune``: "prune" can never be a
    URL to capture (it has no scheme), so it names the pruning command instead."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        if args and args[0] == "prune":
            return capture_prune_cmd.make_context(f"{info_name} prune", args[1:],
                                                  parent=parent, **extra)
        return super().make_context(info_name, args, parent=parent, **extra)


@click.command("capture", cls=_CaptureCommand)
@click.argument("urls", nargs=-1, required=True)
@click.option("--case", "case", required=True, help="Case (matter) the captures belong to.")
@click.option("--title", help="A short title (default: the page's title).")
@click.option("--wait-for", metavar="SELECTOR", help="Wait until this CSS selector appears.")
@click.option("--wait", type=click.FloatRange(0, 60), metavar="SECONDS",
              help="Wait this long after the page loaded.")
@click.option("--scroll", is_flag=True, help="Scroll to the bottom (lazy images, capped "
              "for endless pages).")
@click.option("--click", "clicks", multiple=True, metavar="SELECTOR",
              help="Click this CSS selector's element after the waits and scrolling, then "
                   "wait for the network to be idle (repeatable, in order; at most 10).")
@click.option("--video", is_flag=True, help="Also record a WebM video of the session.")
@click.option("--viewport", default="1280x800", show_default=True, metavar="WxH")
@click.option("--locale", metavar="LOCALE", help="Browser locale, e.g. zh-CN.")
@click.option("--allow-private", is_flag=True,
              help="Operator only: allow loopback, private and link-local addresses.")
@click.option("--allow-network", "allow_networks", multiple=True, metavar="CIDR",
              help="Operator only: allow this non-public network, e.g. 10.1.0.0/16 "
                   "(repeatable).")
@click.option("--ignore-tls-errors", is_flag=True,
              help="Capture a page whose TLS certificate is invalid (stated in the manifest).")
@click.option("--trust-spki", "trust_spki", multiple=True, metavar="BASE64",
              help="Accept a certificate with this SPKI SHA-256 (base64), e.g. a test CA's "
                   "leaf; stated in the manifest.")
@click.option("--session", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="A login session to use (Playwright storage-state JSON); recorded as "
                   "supplied (cookie names and domains, its SHA-256).")
@click.option("--max-bytes", type=click.IntRange(1), default=50 * 1024 * 1024,
              show_default=True, help="Stop recording bodies past this many bytes "
              "(labelled truncated).")
@click.option("--max-requests", type=click.IntRange(1), default=500, show_default=True,
              help="Block requests past this many (labelled truncated).")
@click.option("--timeout", type=click.FloatRange(1, 600), default=60.0, show_default=True,
              help="Seconds for the whole visit; over it the capture is refused.")
@click.option("--capture-key", type=click.Path(dir_okay=False, path_type=Path),
              envvar="EVIDENCE_CAPTURE_KEY", metavar="KEYFILE",
              help="The capture node's key (default DIR/capture-node.key; "
                   "env EVIDENCE_CAPTURE_KEY).")
@click.option("--chromium", default="/usr/bin/chromium", show_default=True,
              envvar="EVIDENCE_CHROMIUM", metavar="PATH")
@click.option("--as", "--principal", "principal", metavar="ID", envvar="EVIDENCE_PRINCIPAL",
              help="Who asks for the capture, recorded on the ledger: a submitter member of "
                   "the case (env EVIDENCE_PRINCIPAL). On a server your token says who.")
@intake_where_options
@remote_options
def capture_cmd(urls: tuple[str, ...], case: str, title: str | None, wait_for: str | None,
                wait: float | None, scroll: bool, clicks: tuple[str, ...], video: bool,
                viewport: str,
                locale: str | None, allow_private: bool, allow_networks: tuple[str, ...],
                ignore_tls_errors: bool, trust_spki: tuple[str, ...], session: Path | None,
                max_bytes: int, max_requests: int,
                timeout: float, capture_key: Path | None, chromium: str,
                principal: str | None, data_dir: str | None, db_url: str | None,
                blob_store: str | None, max_file_size: str | None, as_json: bool,
                server: str | None) -> None:
    """Capture each URL with a fresh headless Chromium and preserve it: WACZ (every
    request and response), screenshot, PDF, DOM, text, HAR, optional video, and the
    signed capture manifest, as ONE evidence item of kind webcapture per URL.

    A URL that is refused (not http(s), private address, DNS failure, refused
    connection, endless redirect, TLS error, timeout) preserves nothing; the exit
    status is then 1. A page answering 4xx/5xx is captured and labelled.

    `evidence capture prune [--older-than DAYS]` prunes the jobs of captures asked for
    over HTTP (see its --help).

    With a server (--server, or `evidence login`) the server's browser captures each URL
    (POST /v1/captures) and this command waits for each job; the operator-only options
    (--allow-*, --ignore-tls-errors, --trust-spki, --session, --max-*, --timeout,
    --capture-key, --chromium) are the server's own settings there.
    """
    remote = remote_target(as_json)
    if remote is not None:
        _capture_remote(remote, urls, case, title, wait_for, wait, scroll, clicks, video,
                        viewport, locale, as_json)
        return
    try:
        import playwright  # noqa: F401
        import wacz  # noqa: F401
        import warcio  # noqa: F401
    except ImportError as e:
        fail(f"web capture needs the capture extra (pip install 'evidence[capture]'): {e}",
             as_json=as_json)
    if wait_for and wait is not None:
        fail("give --wait-for or --wait, not both", as_json=as_json)
    _check_clicks(clicks, as_json)
    key_path = capture_key or resolve_data_dir(data_dir) / "capture-node.key"
    if not key_path.exists():
        fail(f"no capture-node key at {key_path}: create one with `evidence keygen "
             f"NAME -o {key_path}` (a key of its own, not the log key)", as_json=as_json)
    try:
        signer = read_private_key(key_path)
    except KeyFileError as e:
        fail(str(e), as_json=as_json)
    for n in allow_networks:
        try:
            ipaddress.ip_network(n, strict=False)
        except ValueError:
            fail(f"--allow-network {n!r} is not an IP network (CIDR)", as_json=as_json)
    opts = Options(wait_for=wait_for, wait=wait, scroll=scroll, click=clicks, video=video,
                   viewport=_viewport(viewport, as_json), locale=locale,
                   allow_private=allow_private, allowed_networks=allow_networks,
                   ignore_tls_errors=ignore_tls_errors,
                   trusted_spki=tuple(trust_spki), session=session, max_bytes=max_bytes,
                   max_requests=max_requests, timeout=timeout, chromium=chromium)
    intake = open_intake(data_dir, db_url, blob_store, max_file_size, as_json)
    results: list[dict[str, Any]] = []
    with intake.ledger:
        who = local_submitter(intake.ledger, case, principal, as_json)
        for url in urls:
            results.append(_one(intake, url, signer, opts, case, who, title))
            _print_one(results[-1], as_json)
    if not all(r["ok"] for r in results):
        sys.exit(1)


def _print_one(r: dict[str, Any], as_json: bool) -> None:
    """One URL's outcome, the same for a local and a remote capture."""
    if as_json:
        emit_json(r)
    elif r["ok"]:
        for w in r.get("labels") or []:
            click.echo(f"label: {w}", err=True)
        click.echo(f"preserved {r['evidence_id']}: {r['url']} -> {r['final_url']} "
                   f"(HTTP {r['http_status']}, server {r['server_ip']}), entry "
                   f"{r['seq']}, time {r['time']}", err=True)
        click.echo(r["evidence_id"])
    else:
        click.echo(f"error: {r['url']}: {r['error']} [{r['code']}]", err=True)
        click.echo("nothing was preserved for this URL", err=True)


_LOCAL_ONLY = ("allow_private", "allow_networks", "ignore_tls_errors", "trust_spki",
               "session", "max_bytes", "max_requests", "timeout", "capture_key", "chromium",
               "principal")


def _capture_remote(remote: Any, urls: tuple[str, ...], case: str, title: str | None,
                    wait_for: str | None, wait: float | None, scroll: bool,
                    clicks: tuple[str, ...], video: bool, viewport: str, locale: str | None,
                    as_json: bool) -> None:
    from click.core import ParameterSource

    from evidence.cli import remote_ops

    ctx = click.get_current_context()
    given = [n for n in _LOCAL_ONLY if ctx.get_parameter_source(n) == ParameterSource.COMMANDLINE]
    if given:
        fail(f"{', '.join('--' + n.replace('_', '-') for n in given)}: the local capture's "
             "options; a server captures with its own settings", as_json=as_json, code=2)
    if wait_for and wait is not None:
        fail("give --wait-for or --wait, not both", as_json=as_json)
    _check_clicks(clicks, as_json)
    _viewport(viewport, as_json)
    options = {"wait_for": wait_for, "wait": wait, "scroll": scroll, "click": list(clicks),
               "video": video, "viewport": viewport, "locale": locale}
    results = []
    for url in urls:
        results.append(remote_run(as_json, remote, lambda c, u=url: remote_ops.capture(
            c, u, case=case, title=title, options=options)))
        _print_one(results[-1], as_json)
    if not all(r["ok"] for r in results):
        sys.exit(1)


def _one(intake: Any, url: str, signer: Any, opts: Options, case: str, principal: str,
         title: str | None) -> dict[str, Any]:
    """Capture then preserve one URL; the temporary folder goes either way."""
    try:
        cap: Capture = capture(url, signer, opts)
    except CaptureRefused as e:
        return {"ok": False, **e.to_json(), "url": url}
    try:
        res = preserve(intake, cap, case=case, principal=principal, title=title)
    except SubmissionRefused as e:
        return {"ok": False, "url": url, "code": "intake-refused", "error": str(e)}
    except INTAKE_ERRORS as e:
        return {"ok": False, "url": url, "code": "intake-error", "error": str(e)}
    finally:
        shutil.rmtree(cap.folder, ignore_errors=True)
    m = cap.manifest["result"]
    return {"ok": True, "url": url, "final_url": m["final_url"],
            "http_status": m["http_status"], "server_ip": m["server_ip"],
            "tls": m["tls"], "labels": m["labels"], "capture_id": cap.manifest["capture_id"],
            "files": [p.name for p in cap.files], **res.to_json()}


@click.command("capture-verify")
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--capture-node", "capture_nodes", multiple=True, metavar="VKEY",
              help="A capture node's verifier key you trust (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def capture_verify_cmd(paths: tuple[Path, ...], capture_nodes: tuple[str, ...],
                       as_json: bool) -> None:
    """Check a web capture's files offline (a folder, or the files themselves): the
    capture node's signature, every file's SHA-256 in the manifest, the WACZ and WARC
    digests. Exit 0 verified, 3 not fully verified (no capture-node key given), 1 failed."""
    from evidence.verify.errors import BadKey
    from evidence.verify.note import parse_verifier_key
    from evidence.verify.webcapture import verify_webcapture

    try:
        keys = [parse_verifier_key(k) for k in capture_nodes]
    except BadKey as e:
        fail(f"--capture-node: {e}", as_json=as_json, code=2)
    files: dict[str, bytes] = {}
    for p in paths:
        for f in sorted(p.iterdir()) if p.is_dir() else [p]:
            if f.is_file():
                if f.name in files:
                    fail(f"two files named {f.name}", as_json=as_json, code=2)
                files[f.name] = f.read_bytes()
    r = verify_webcapture(files, keys)
    if as_json:
        emit_json({**r.to_check(), "summary": r.summary, "warc_records": r.warc_records})
    else:
        click.echo(f"{r.status}: {r.reason}")
        click.echo(f"{r.status}：{r.reason_zh}")
        for k, v in r.summary.items():
            if v:
                click.echo(f"  {k}: {v}")
    sys.exit({"pass": 0, "not-checked": 3}.get(r.status, 1))


# --- a capture node elsewhere --------------------------------------------------------------


def _http(method: str, url: str, token: str, body: bytes | None = None,
          ctype: str | None = None, timeout: float = 600.0) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=body, method=method,
                                 headers={"Authorization": f"Bearer {token}",
                                          **({"Content-Type": ctype} if ctype else {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # the operator's URL
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _multipart(paths: list[Path]) -> tuple[bytes, str]:
    import secrets

    boundary = "evidence-" + secrets.token_hex(16)
    parts: list[bytes] = []
    for p in paths:
        parts += [f"--{boundary}\r\n".encode(),
                  f'Content-Disposition: form-data; name="file"; filename="{p.name}"\r\n'
                  "Content-Type: application/octet-stream\r\n\r\n".encode(),
                  p.read_bytes(), b"\r\n"]
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@click.command("capture-node")
@click.option("--service", required=True, metavar="URL", envvar="EVIDENCE_SERVICE",
              help="The evidence service, e.g. https://evidence.example")
@click.option("--token-file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="This node's API token (a principal the service lists in capture-nodes).")
@click.option("--key", "key_file", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="This node's own capture key (evidence keygen), listed by the service.")
@click.option("--allow-private", is_flag=True, help="Allow non-public addresses (operator).")
@click.option("--allow-network", "allow_networks", multiple=True, metavar="CIDR")
@click.option("--chromium", default="/usr/bin/chromium", show_default=True,
              envvar="EVIDENCE_CHROMIUM", metavar="PATH")
@click.option("--poll", type=click.FloatRange(0.1, 600), default=2.0, show_default=True,
              help="Seconds between asks when there is no job.")
@click.option("--once", is_flag=True, help="Do at most one job, then exit.")
def capture_node_cmd(service: str, token_file: Path, key_file: Path, allow_private: bool,
                     allow_networks: tuple[str, ...], chromium: str, poll: float,
                     once: bool) -> None:
    """Run a capture node: take capture jobs addressed to this node from the service,
    capture each page with this machine's browser (as seen from here), sign the manifest
    with this node's key and hand the files back. The service preserves a result only if
    this node and its key are listed there."""
    import time

    try:
        token = token_file.read_text().strip()
        signer = read_private_key(key_file)
    except (OSError, KeyFileError) as e:
        fail(str(e))
    for n in allow_networks:
        try:
            ipaddress.ip_network(n, strict=False)
        except ValueError:
            fail(f"--allow-network {n!r} is not an IP network (CIDR)")
    base = service.rstrip("/")
    while True:
        status, body = _http("POST", base + "/v1/captures/claim", token, b"", "application/json")
        if status == 204:
            if once:
                click.echo("no job", err=True)
                return
            time.sleep(poll)
            continue
        if status != 200:
            why = body[:300].decode("utf-8", "replace")
            fail(f"the service refused this node ({status}): {why}")
        job = json.loads(body)
        o = job.get("options") or {}
        w, _, h = str(o.get("viewport") or "1280x800").partition("x")
        opts = Options(wait_for=o.get("wait_for"), wait=o.get("wait"),
                       scroll=bool(o.get("scroll")), video=bool(o.get("video")),
                       click=tuple(str(c) for c in o.get("click") or ()),  # as validated there
                       viewport=(int(w), int(h)), locale=o.get("locale"),
                       allow_private=allow_private, allowed_networks=allow_networks,
                       chromium=chromium)
        url = f"{base}/v1/captures/{job['id']}"
        try:
            cap = capture(job["url"], signer, opts)
        except CaptureRefused as e:
            _http("POST", url + "/refusal", token,
                  json.dumps({"code": e.code, "error": str(e)[:1000]}).encode(),
                  "application/json")
            click.echo(f"{job['id']}: refused: {e} [{e.code}]", err=True)
        else:
            try:
                data, ctype = _multipart(cap.files)
                status, body = _http("POST", url + "/result", token, data, ctype)
            finally:
                shutil.rmtree(cap.folder, ignore_errors=True)
            answer = body[:500].decode("utf-8", "replace")
            if status == 201:
                click.echo(f"{job['id']}: preserved {json.loads(body)['evidence_id']}", err=True)
            else:
                click.echo(f"{job['id']}: the service did not accept it ({status}): {answer}",
                           err=True)
        if once:
            return
