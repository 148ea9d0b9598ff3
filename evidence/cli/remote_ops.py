"""What each remote-capable command asks the server, answered in the local command's shape.

The command modules (``intake_cmds``, ``list_cmds``, ``bundle_cmds``, ``api_cmds``,
``custody_cmds``, ``capture_cmds``) decide local or remote
(:func:`evidence.cli.options.remote_target`), then print what they got with ONE
rendering: so a command's output is the same whichever side did the work, and
tests/cli/test_remote_cli.py compares the two on one ledger. Each function here takes a
:class:`~evidence.cli.remote_client.Client` and returns the dict the local path would
have produced; a refusal is a :class:`~evidence.cli.remote_client.RemoteFailure`.

Nothing is trusted because the server said it: a downloaded file must hash to the
SHA-256 in the item's signed entry, a bundle's files and submission entry must be the
preserved ones, an upload's receipt must list the bytes that were sent, and a submitter
signature is made here over text this client recomputes (the key never leaves).
"""

from __future__ import annotations

import json
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

from evidence.cli.remote_client import AnswerLost, Client, RemoteFailure, sha256_file
from evidence.verify.note import Signer
from evidence.verify.submission import sign_submission, submission_text

SUBMITTED_KEYS = ("evidence_id", "seq", "leaf_hash", "time", "receipt", "files",
                  "metadata_commitment", "signed_by_submitter", "warnings")
"""``Submitted.to_json()``'s keys: what ``evidence submit --json`` prints either way."""


def _quote(s: str) -> str:
    from urllib.parse import quote

    return quote(s, safe="")


# --- who am I ---------------------------------------------------------------------------------


def whoami(c: Client) -> dict[str, Any]:
    """``GET /v1/me``: checks the token (401 if refused)."""
    doc: dict[str, Any] = c.get_json("/v1/me")
    return doc


# --- list, show, receipt, custody ---------------------------------------------------------------


def list_page(c: Client, **params: Any) -> dict[str, Any]:
    doc: dict[str, Any] = c.get_json("/v1/evidence", **params)
    return doc


def receipt(c: Client, evidence_id: str, witnessed: bool = False) -> dict[str, Any]:
    params = {"witnessed": "true"} if witnessed else {}
    doc: dict[str, Any] = c.get_json(f"/v1/evidence/{_quote(evidence_id)}/receipt", **params)
    return doc


def custody(c: Client, evidence_id: str, after: int, limit: int) -> dict[str, Any]:
    doc: dict[str, Any] = c.get_json(f"/v1/evidence/{_quote(evidence_id)}/custody",
                                     after=after, limit=limit)
    return doc


def show(c: Client, evidence_id: str, *, verify: bool, save: Path | None) -> dict[str, Any]:
    """``GET /v1/evidence/{id}`` (recorded as an access) in ``Intake.show``'s shape plus
    ``access_seq``. Each file's ``fixity``: ``missing`` if the server no longer stores
    it; with ``verify`` or ``save``, downloaded and re-hashed HERE (``ok``; a file that
    does not match is an error and nothing is saved); else ``unchecked``."""
    view: dict[str, Any] = c.get_json(f"/v1/evidence/{_quote(evidence_id)}")
    for f in view["files"]:
        url = f.pop("url", None)
        if view["status"] == "purged":
            continue
        if not f.get("stored", True):
            f["fixity"] = "missing"
        elif (verify or save is not None) and url:
            if save is not None:
                dest = save / f["name"]
                c.download(url, dest, sha256=f["sha256"], size=f["size"], label=f["name"])
            else:
                import tempfile

                with tempfile.TemporaryDirectory(prefix="evidence-verify-") as tmp:
                    c.download(url, Path(tmp) / "file", sha256=f["sha256"], size=f["size"],
                               label=f["name"])
            f["fixity"] = "ok"
        else:
            f["fixity"] = "unchecked"
    return view


# --- submit -----------------------------------------------------------------------------------


def submit(c: Client, files: list[Path], *, case: str, kind: str, title: str | None,
           meta: dict[str, str], source_url: str | None, captured_at: str | None,
           signer: Signer | None, dns_records: dict[str, str] | None,
           strict_metadata: bool) -> dict[str, Any]:
    """``POST /v1/evidence`` (streamed, with a progress bar), signed in one go when a key
    is given: ``sign=deferred``, check the text against what was sent, sign it here,
    ``POST`` the signature. Returns ``Submitted.to_json()``'s shape."""
    for p in files:
        if not p.is_file():
            raise RemoteFailure(f"{p}: not a regular file (a folder needs --each, which "
                                "is local only for now)")
    sent = [{"name": p.name, "size": p.stat().st_size, "sha256": sha256_file(p)}
            for p in files]
    fields = [("case", case), ("kind", kind)]
    for k, v in (("title", title), ("source_url", source_url), ("captured_at", captured_at)):
        if v is not None:
            fields.append((k, v))
    if meta:
        fields.append(("meta", json.dumps(meta, ensure_ascii=False)))
    if dns_records:
        fields.append(("dns_records", json.dumps(dns_records, ensure_ascii=False)))
    if strict_metadata:
        fields.append(("strict_metadata", "true"))
    if signer is not None:
        fields.append(("sign", "deferred"))
    before = _lookup_ids(c, sent[0]["sha256"]) if signer is None else None
    # one logical submission, one key, on every attempt: a server that made the item from
    # an earlier attempt answers with it instead of making another (docs/api.md)
    key = {"Idempotency-Key": f'"{uuid.uuid4()}"'}
    for again in (False, True):
        try:
            a = c.post_multipart("/v1/evidence", fields, files, headers=key)
            break
        except AnswerLost as e:
            if signer is not None:  # a pending item nobody signs expires: nothing on the ledger
                raise RemoteFailure(f"the upload was sent but the answer was lost ({e}); "
                                    "nothing is on the ledger until it is signed: submit "
                                    "again") from None
            if before is None and keys_honoured(c):
                # lookup is off, but the server answers a resend with the same key with
                # the item the first made, or makes it once if the first made nothing
                if again:
                    raise RemoteFailure(
                        f"the upload was sent twice with one Idempotency-Key and both "
                        f"answers were lost ({e}); a third try with the same key is safe: "
                        f"submit again, or check `evidence list --case {case}`") from None
                continue
            found = _recover(c, sent, case, before, str(e))
            if found is not None:
                return found
            if again:
                raise RemoteFailure(f"the upload was sent twice and both answers were lost "
                                    f"({e}); no item appeared for it: nothing was preserved"
                                    ) from None
    doc = a.json()
    _same_files(sent, doc["files"])
    if signer is None:
        return {k: doc[k] for k in SUBMITTED_KEYS}
    text = submission_text(doc["evidence_id"], doc["metadata_commitment"], doc["files"])
    if text != doc["text"]:
        raise RemoteFailure("the server's text to sign is not the text of the item it "
                            "describes; nothing was signed or preserved")
    sig = sign_submission(doc["evidence_id"], doc["metadata_commitment"], doc["files"], signer)
    sign_key = {"Content-Type": "application/json", "Idempotency-Key": f'"{uuid.uuid4()}"'}
    try:
        done = c.send("POST", doc["sign_url"], body=json.dumps(sig).encode(),
                      headers=sign_key).json()
    except AnswerLost as e:
        done = _signature_lost(c, doc, sig, sign_key, str(e))
    done["warnings"] = list(doc.get("warnings") or []) + [
        w for w in done.get("warnings") or [] if w not in (doc.get("warnings") or [])]
    return {k: done[k] for k in SUBMITTED_KEYS}


def keys_honoured(c: Client) -> bool:
    """Does the server honour ``Idempotency-Key``? It says so in ``GET /v1/me``
    (``idempotency_ttl``, docs/api.md); a server that predates it does not say."""
    ttl = whoami(c).get("idempotency_ttl")
    return isinstance(ttl, int) and not isinstance(ttl, bool) and ttl > 0


def _signature_lost(c: Client, doc: dict[str, Any], sig: dict[str, Any],
                    headers: dict[str, str], why: str) -> dict[str, Any]:
    """The signature was sent and its answer lost: resend it with the same key where the
    server honours keys (it answers with the item the first made); else ask lookup."""
    eid = doc["evidence_id"]
    if keys_honoured(c):
        try:
            out: dict[str, Any] = c.send("POST", doc["sign_url"], body=json.dumps(sig).encode(),
                                         headers=headers).json()
            return out
        except AnswerLost as e:
            raise RemoteFailure(f"the signature was sent twice with one Idempotency-Key and "
                                f"both answers were lost ({e}); check `evidence show {eid}`"
                                ) from None
    found = _lookup_ids(c, None, evidence_id=eid)
    if found is None:
        raise RemoteFailure(f"the signature was sent but the answer was lost ({why}); {eid} "
                            f"may be on the ledger: check `evidence show {eid}` before you "
                            "submit again (this server's lookup is off)")
    if not found:
        raise RemoteFailure(f"the signature was sent but the answer was lost ({why}) and "
                            f"{eid} is not on the ledger: submit again")
    return _as_submitted(c, eid, warning="the answer to the signature was lost; this is "
                         "the item it made")


def _same_files(sent: list[dict[str, Any]], got: list[dict[str, Any]]) -> None:
    """The server must describe exactly the bytes this client sent (and may add files it
    took out of them: a chat ZIP's media, each with ``derived_from``)."""
    want = [(f["name"], f["size"], f["sha256"]) for f in sent]
    have = [(f["name"], f["size"], f["sha256"]) for f in got if "derived_from" not in f]
    if want != have:
        raise RemoteFailure(f"the server preserved other files than were sent: sent {want}, "
                            f"it lists {have}; check the item and tell the operator",
                            code="files-differ")


def _lookup_ids(c: Client, sha256: str | None, *, evidence_id: str | None = None
                ) -> set[str] | None:
    """The items ``/v1/lookup`` knows for a file hash (or an id); None when the server
    turned lookup off."""
    params = {"sha256": sha256} if sha256 else {"evidence_id": evidence_id}
    a = c.send("GET", "/v1/lookup", params=params, auth=False, check=False)
    if a.status == 404:
        return None
    c.check(a)
    return {m["evidence_id"] for m in a.json()["matches"]}


def _recover(c: Client, sent: list[dict[str, Any]], case: str, before: set[str] | None,
             why: str) -> dict[str, Any] | None:
    """The body was sent in full and the answer lost: did the server make the item? A
    new lookup match for the first file, in this case, by this principal, is it (the
    item completes even when its client has gone: evidence/api/submission.py). None if
    no such item appeared within about 8 s: the caller sends the upload once more."""
    if before is None:
        raise RemoteFailure(f"the upload was sent but the answer was lost ({why}); it may "
                            f"have been preserved. Check `evidence list --case {case}` "
                            "before you submit again (this server's lookup is off)")
    me = whoami(c)["id"]
    for wait in (0.2, 0.5, 1.0, 2.0, 4.0):
        time.sleep(wait)
        for eid in sorted((_lookup_ids(c, sent[0]["sha256"]) or set()) - before):
            view = c.get_json(f"/v1/evidence/{_quote(eid)}")
            if view["case"] == case and view["principal"] == me and [
                    (f["name"], f["sha256"]) for f in view["files"]] == [
                    (f["name"], f["sha256"]) for f in sent]:
                return _as_submitted(c, eid, warning="the answer to the upload was lost; "
                                     "this is the item the server made from it")
    return None


def _as_submitted(c: Client, evidence_id: str, *, warning: str) -> dict[str, Any]:
    r = receipt(c, evidence_id)
    body = json.loads(r["entry"])
    body = body.get("body", body)
    return {"evidence_id": evidence_id, "seq": r["seq"], "leaf_hash": r["leaf_hash"],
            "time": r["time"], "receipt": r["receipt"], "files": body.get("files", []),
            "metadata_commitment": body.get("metadata_commitment"),
            "signed_by_submitter": "submitter" in body, "warnings": [warning]}


# --- export -----------------------------------------------------------------------------------


def export(c: Client, evidence_id: str, output: Path, *, provisional: bool, force: bool,
           tz: str | None = None, forum: str | None = None) -> dict[str, Any]:
    """``GET .../bundle`` into OUTPUT (by way of OUTPUT.part), checked before it is put
    in place: its submission entry is the one the log signed (``/receipt``), and each
    evidence file in it hashes to the SHA-256 that entry lists. ``tz`` and ``forum``
    shape its report (the server checks them). Returns ``ExportResult.to_json()``'s
    shape."""
    if output.exists() and not force:
        raise RemoteFailure(f"{output} exists (use --force to overwrite)")
    r = receipt(c, evidence_id)
    entry = r["entry"].encode("utf-8")
    facts: dict[str, Any] = {}

    def check(part: Path) -> None:
        facts.update(_check_bundle(part, entry, r["seq"]))

    try:
        params = {k: v for k, v in (("provisional", "true" if provisional else None),
                                    ("tz", tz), ("forum", forum)) if v}
        size = c.download(f"/v1/evidence/{_quote(evidence_id)}/bundle", output,
                          params=params or None,
                          label=output.name, check_file=check)
    except RemoteFailure as e:
        if e.code == "not-anchored-yet":
            e.args = (str(e).replace("ask with ?provisional=1", "export with --provisional"),)
        raise
    return {"ok": True, "evidence_id": evidence_id, "path": str(output), "bytes": size,
            **facts}


def _check_bundle(path: Path, entry: bytes, seq: int) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(path) as z:
            manifest = json.loads(z.read("manifest.json"))
            if z.read(f"entries/{seq}.entry") != entry:
                raise RemoteFailure("the bundle's submission entry is not the one the log "
                                    "signed; nothing was written", code="bundle-mismatch")
            body = json.loads(entry)
            body = body.get("body", body)
            names = set(z.namelist())
            purged = "metadata/metadata.json" not in names
            if not purged:
                from evidence.verify.bundle_names import FORMAT_V1, v2_members

                files = body.get("files", [])
                where = ({f["sha256"]: f"files/{f['sha256']}" for f in files}
                         if manifest.get("format") == FORMAT_V1 else  # docs/bundle.md
                         v2_members((f["sha256"], f.get("name")) for f in files))
                for f in files:
                    import hashlib

                    h = hashlib.sha256()
                    with z.open(where[f["sha256"]]) as m:
                        while data := m.read(1 << 20):
                            h.update(data)
                    if h.hexdigest() != f["sha256"]:
                        raise RemoteFailure(f"the bundle's copy of {f['name']} is not the "
                                            "preserved file; nothing was written",
                                            code="bundle-mismatch")
            note = z.read("checkpoint/checkpoint.note").decode("utf-8")
            # the exporter's warnings, as its text report lists them (report_txt.py)
            report = (z.read("report/report.txt").decode("utf-8")
                      if "report/report.txt" in names else "")
            warnings = [line.split(": ", 1)[1] for line in report.splitlines()
                        if line.startswith("  NOTE / 注意: ")]
    except (zipfile.BadZipFile, KeyError, ValueError) as e:
        raise RemoteFailure(f"the server's bundle is not a readable evidence bundle ({e}); "
                            "nothing was written", code="bundle-mismatch") from None
    signatures = sum(1 for line in note.split("\n\n", 1)[-1].splitlines()
                     if line.startswith("\u2014 "))
    return {"checkpoint_size": manifest["checkpoint_size"],
            "entries": [manifest["submission_seq"], *manifest.get("custody_seqs", [])],
            "timestamps": len(manifest.get("timestamps", [])),
            "cosignatures": max(0, signatures - 1), "purged": purged,
            "provisional": bool(manifest.get("provisional", False)), "warnings": warnings}


# --- grants -----------------------------------------------------------------------------------


def grant_json(g: dict[str, Any]) -> dict[str, Any]:
    """A ``GrantView`` in ``evidence grant --json``'s shape (``case``, not ``case_id``)."""
    out = {("case" if k == "case_id" else k): v for k, v in g.items()}
    return {k: out.get(k) for k in (
        "id", "grantee", "granted_by", "case", "evidence_ids", "not_before", "expires_at",
        "max_downloads", "downloads", "note", "created_at", "shared_seq", "revoked_at",
        "revoked_by", "revoked_seq", "status", "purpose", "recipient_jurisdiction",
        "recipient_organisation", "legal_basis", "legal_basis_ref")}


def grant_add(c: Client, *, grantee: str, evidence_ids: list[str], expires: str,
              not_before: str | None, max_downloads: int | None, note: str | None,
              legal: Any = None) -> dict[str, Any]:
    doc = {"grantee": grantee, "evidence_ids": evidence_ids, "expires_at": expires,
           "not_before": not_before, "max_downloads": max_downloads, "note": note,
           **(legal.body() if legal is not None else {})}
    return grant_json(c.post_json("/v1/grants", {k: v for k, v in doc.items()
                                                  if v is not None}))


def grant_revoke(c: Client, grant_id: str) -> dict[str, Any]:
    return grant_json(c.post_json(f"/v1/grants/{_quote(grant_id)}/revoke", {}))


def grant_list(c: Client, evidence_id: str | None) -> list[dict[str, Any]]:
    return [grant_json(g) for g in c.get_json("/v1/grants", evidence_id=evidence_id)["grants"]]


# --- capture ----------------------------------------------------------------------------------


def capture(c: Client, url: str, *, case: str, title: str | None, options: dict[str, Any],
            poll: float = 1.0, deadline: float = 900.0) -> dict[str, Any]:
    """``POST /v1/captures`` then poll the job until it ends; the result in
    ``evidence capture --json``'s shape (``ok`` false with ``code`` and ``error`` when the
    page was refused: nothing preserved)."""
    job = c.post_json("/v1/captures", {"url": url, "case": case, "title": title, **options})
    end = time.monotonic() + deadline
    while job["status"] in ("queued", "running"):
        if time.monotonic() > end:
            raise RemoteFailure(f"capture {job['id']} of {url} did not finish in "
                                f"{deadline:g} s; ask `GET /v1/captures/{job['id']}` later")
        time.sleep(poll)
        job = c.get_json(f"/v1/captures/{_quote(job['id'])}")
    if job["status"] != "done":
        return {"ok": False, "url": url, "code": job.get("code") or job["status"],
                "error": job.get("error") or job["status"]}
    sub = _as_submitted(c, job["evidence_id"], warning="")
    sub["warnings"] = []
    return {"ok": True, "url": url, "final_url": job.get("final_url"),
            "http_status": job.get("http_status"), "server_ip": job.get("server_ip"),
            "labels": job.get("labels") or [], "capture_id": job["id"],
            "files": [f["name"] for f in sub["files"]], **sub}

