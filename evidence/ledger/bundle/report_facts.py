"""What the court report states about who, what and which authority, gathered at export.

:func:`report_facts` adds to ``report_data`` (evidence.ledger.bundle.export) what a judge
asks first and the ledger alone does not say:

* ``title`` and ``source_url``: the item's committed metadata (``title``,
  ``stated.source_url``; a web capture's URL when the submitter stated none);
* ``submitter``: the principal, its display name and organisation (``evidence user add
  --name --org``) and the case's title: the operator's records, not on the ledger;
* ``submitter_signature``: whether the submission entry carries the rights holder's own
  signature, checked here as the bundle verifier's ``submitter`` check does (state
  ``signed``, ``unsigned`` or ``invalid``; the key's name and id, and the verifier key);
* ``image``: a thumbnail of the first image of a ``screenshot``/``image`` item (the web
  capture's thumbnail code: top part, at most 900 px wide);
* ``email``: From, To, Subject, Date and the DKIM result of each ``.eml`` of an ``email``
  item, from the extracted metadata (the sender's claims, recorded as found);
* ``c2pa``: the C2PA content credentials found at intake in the item's images and PDFs
  (:func:`evidence.ledger.bundle.report_c2pa.c2pa_facts`);
* per timestamp: the TSA certificate's subject CN and O, read from the token after it is
  re-verified against the TSA's configured roots (``verified``), and the operator's
  ``legal_name`` from anchors.json; with EU trusted lists configured, ``eidas``: whether
  the TSA was qualified at genTime (:mod:`evidence.ledger.bundle.trusted_list`), and
  ``eidas_trusted_list``: each list's date, sequence number and SHA-256; per witness: its
  key's name and ``legal_name``;
* ``leaf_hash`` of the submission entry, ``verify_url`` (the verify page's https URL for
  this item, or None), ``time_zone`` and ``forum`` (how the report is read).

Every string taken from the item, the operator's records or a certificate is passed
through :func:`evidence.ledger.bundle.report_webcapture.clean` (control and bidirectional
characters shown as U+FFFD, at most 2,000 characters); the renderings escape it again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import IO, Any
from urllib.parse import quote, urlsplit

from cryptography import x509
from cryptography.x509.oid import NameOID

from evidence.ledger.bundle import report_time
from evidence.ledger.bundle.report_c2pa import c2pa_facts
from evidence.ledger.bundle.report_webcapture import SCREENSHOT_LIMIT, clean, thumbnail
from evidence.ledger.bundle.trusted_list import TrustedList, qualification, verified_chain
from evidence.verify.errors import MalformedInput, VerificationError
from evidence.verify.hashing import leaf_hash
from evidence.verify.note import parse_verifier_key
from evidence.verify.submission import verify_submission
from evidence.verify.timestamp import token_certificates

Opener = Callable[[], IO[bytes]]

FORUMS = ("cn", "eu", "us", "intl")
"""``--forum``: China, the EU (eIDAS), the US (FRE), international (Berkeley Protocol,
ISO/IEC 27037). ``all`` (the default) shows every one, compactly."""
VERIFY_URL_ENV = "EVIDENCE_REPORT_VERIFY_URL"
"""The verify page's public https URL (``https://evidence.example/verify/``), when
``evidence export --verify-url`` does not give it."""
IMAGE_KINDS = ("screenshot", "image")


class BadReportOption(ValueError):
    """A report option (--tz, --forum, --verify-url) that cannot be used."""


def check_forum(forum: str | None) -> list[str]:
    """The forums to print: ``all``/None is every one; else a comma-separated list."""
    if forum in (None, "", "all"):
        return list(FORUMS)
    chosen = [f.strip() for f in str(forum).split(",") if f.strip()]
    bad = [f for f in chosen if f not in FORUMS]
    if bad or not chosen:
        raise BadReportOption(f"unknown forum {bad or forum!r}: use all or one or more of "
                              f"{', '.join(FORUMS)}")
    return chosen


def verify_page_url(base: str | None, evidence_id: str) -> str | None:
    """``<base>?id=<evidence_id>`` for the verify page at ``base`` (an https URL; a bare
    origin gets ``/verify/``). None without a base. Only the id goes in: it is printed on
    the report anyway, and the page sends nothing anywhere."""
    base = (base or os.environ.get(VERIFY_URL_ENV) or "").strip()
    if not base:
        return None
    parts = urlsplit(base)
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment \
            or parts.username or parts.password:
        raise BadReportOption(f"--verify-url {base!r}: give the verify page's https URL, "
                              "e.g. https://evidence.example/verify/ (no query, no user)")
    path = parts.path if parts.path not in ("", "/") else "/verify/"
    if not path.endswith("/"):
        path += "/"
    return f"https://{parts.netloc}{path}?id={quote(evidence_id, safe='')}"


# --- the item ----------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else clean(value)


def _title_and_source(metadata: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    m = metadata or {}
    stated = m.get("stated") if isinstance(m.get("stated"), dict) else {}
    meta = stated.get("meta") if isinstance(stated.get("meta"), dict) else {}
    return _text(m.get("title")), _text(stated.get("source_url") or meta.get("url"))


def _signature(entry: Any) -> dict[str, Any]:
    """The bundle verifier's ``submitter`` check, run on the submission entry."""
    body = entry.body
    try:
        who = verify_submission(body)
    except (VerificationError, MalformedInput) as e:
        return {"state": "invalid", "error": clean(e)}
    if who is None:
        return {"state": "unsigned"}
    raw = body.get("submitter") or {}
    return {"state": "signed", "key": clean(f"{who.name}+{who.key_id:08x}"),
            "vkey": _text(raw.get("key"))}


def _principal(led: Any, principal: str, case_id: str) -> dict[str, Any]:
    """The operator's records of the submitter and the case (absent ones stay None)."""
    out: dict[str, Any] = {"principal": clean(principal), "display_name": None,
                           "organisation": None, "case_title": None}
    try:
        from sqlalchemy import select
        from sqlalchemy.exc import SQLAlchemyError

        from evidence.ledger.access.schema import cases, principals
        from evidence.ledger.db.engine import read_transaction
    except ImportError:  # pragma: no cover - the ledger always has them
        return out
    try:
        with read_transaction(led.engine) as conn:
            p = conn.execute(select(principals.c.display_name, principals.c.organisation)
                             .where(principals.c.id == principal)).first()
            c = conn.execute(select(cases.c.title).where(cases.c.id == case_id)).first()
    except SQLAlchemyError:  # a ledger without the access tables (never served)
        return out
    if p is not None:
        out["display_name"] = _text(p.display_name if p.display_name != principal else None)
        out["organisation"] = _text(p.organisation)
    if c is not None:
        out["case_title"] = _text(c.title if c.title != case_id else None)
    return out


def _extracted(metadata: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    ex = (metadata or {}).get("extracted")
    files = ex.get("files") if isinstance(ex, dict) else None
    return [f for f in files or [] if isinstance(f, dict)]


def _addresses(value: Any) -> str | None:
    if not isinstance(value, list):
        return None
    shown = []
    for a in value[:20]:
        if isinstance(a, dict):
            name, addr = a.get("name"), a.get("address")
            shown.append(f"{name} <{addr}>" if name else str(addr or ""))
    return _text(", ".join(s for s in shown if s))


def _emails(metadata: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    out = []
    for f in _extracted(metadata):
        e = f.get("email")
        if not isinstance(e, dict):
            continue
        dkim = e.get("dkim") if isinstance(e.get("dkim"), dict) else {}
        sigs = [s for s in dkim.get("signatures") or [] if isinstance(s, dict)]
        out.append({
            "file": _text(f.get("name")), "from": _addresses(e.get("from")),
            "to": _addresses(e.get("to")), "subject": _text(e.get("subject")),
            "date": _text(e.get("date")), "date_raw": _text(e.get("date_raw")),
            "message_id": _text(e.get("message_id")),
            "dkim_result": _text(dkim.get("result")) or "none",
            "dkim_signatures": [{"result": _text(s.get("result")), "domain": _text(s.get("domain")),
                                 "selector": _text(s.get("selector")),
                                 "key_source": _text(s.get("key_source"))} for s in sigs[:10]],
        })
    return out


def _chats(metadata: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Each chat export's summary, and for a WhatsApp ZIP the attachments the messages
    name, each with the file of the item it was stored as (docs/evidence-kinds.md)."""
    out = []
    for f in _extracted(metadata):
        c = f.get("chat")
        if not isinstance(c, dict):
            continue
        archive = c.get("archive") if isinstance(c.get("archive"), dict) else {}
        links = [x for x in archive.get("attachment_links") or [] if isinstance(x, dict)]
        people = [p.get("name") for p in c.get("participants") or [] if isinstance(p, dict)]
        out.append({
            "file": _text(f.get("name")), "format": _text(c.get("format")),
            "message_count": c.get("message_count"),
            "participants": _text(", ".join(str(n) for n in people[:20] if n)),
            "first": _text(c.get("first_message_at")), "last": _text(c.get("last_message_at")),
            "media": [{"attachment": _text(x.get("attachment")), "file": _text(x.get("file")),
                       "sha256": _text(x.get("sha256"))} for x in links[:500]],
        })
    return out


def _image(kind: str, files: Sequence[tuple[str, str, str, Opener]]) -> dict[str, Any] | None:
    """The first image of a screenshot/image item, as the web capture's thumbnail."""
    if kind not in IMAGE_KINDS:
        return None
    import hashlib

    for name, media_type, sha, open_ in files:
        if not media_type.startswith("image/"):
            continue
        with open_() as f:
            data = f.read(SCREENSHOT_LIMIT + 1)
        ok = len(data) <= SCREENSHOT_LIMIT and hashlib.sha256(data).hexdigest() == sha
        return {"name": clean(name), "sha256": sha, **((ok and thumbnail(data)) or {})}
    return None


# --- the authorities ---------------------------------------------------------------------


def _name_part(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    vals = [str(a.value) for a in name.get_attributes_for_oid(oid)]
    return _text(", ".join(vals)) if vals else None


def _tsa_identity(row: Any, note: str, config: Any
                  ) -> tuple[dict[str, Any], tuple[list[x509.Certificate], datetime] | None]:
    """The TSA certificate that signed the token: re-verified against the TSA's configured
    roots when the TSA is still configured (``verified``), else read from the token as
    stored (it was verified when it was anchored). Also, when re-verified, the verified
    chain (signer first: :func:`evidence.ledger.bundle.trusted_list.verified_chain`) and
    the token's genTime, for the trusted-list question; else None."""
    from evidence.ledger.anchor.tsa import verify_tsa_token

    src = next((t for t in (config.tsas if config else ()) if t.name == row.source), None)
    out: dict[str, Any] = {"legal_name": _text(src.legal_name) if src else None,
                           "verified": False}
    subject, gen_time, roots = None, None, []
    if src is not None:
        try:
            pems = src.ca_pems(config.data_dir)
            _, v = verify_tsa_token(row.token, note, pems, tsa=src.name, policy_oid=src.policy)
            subject, gen_time, out["verified"] = v.signer_subject, v.gen_time, True
            roots = [c for pem in pems for c in x509.load_pem_x509_certificates(pem)]
        except Exception:  # any failure: the report says "not re-verified", shows the token's
            subject = None
    try:
        certs = [x509.load_der_x509_certificate(c) for c in token_certificates(row.token)]
    except (ValueError, MalformedInput):
        certs = []
    cert = next((c for c in certs if c.subject.rfc4514_string() == subject), None) \
        if subject else None
    if cert is None and not out["verified"]:
        # the leaf: the certificate no other one in the token names as its issuer
        cert = next((c for c in certs if not any(o.issuer == c.subject and o is not c
                                                 for o in certs)), None)
    if cert is not None:
        out.update(subject_cn=_name_part(cert.subject, NameOID.COMMON_NAME),
                   subject_o=_name_part(cert.subject, NameOID.ORGANIZATION_NAME),
                   subject_c=_name_part(cert.subject, NameOID.COUNTRY_NAME),
                   issuer=_text(cert.issuer.rfc4514_string()))
    if not out["verified"] or cert is None or gen_time is None:
        return out, None
    return out, (verified_chain(cert, [*certs, *roots]), gen_time)


def _witness_identity(name: str, config: Any) -> dict[str, Any]:
    src = next((w for w in (config.witnesses if config else ()) if w.name == name), None)
    if src is None:
        return {"key_name": None, "legal_name": None}
    try:
        key_name = parse_verifier_key(src.key).name
    except (MalformedInput, ValueError):
        key_name = None
    return {"key_name": _text(key_name), "legal_name": _text(src.legal_name)}


# --- the seam ------------------------------------------------------------------------------


def report_facts(data: dict[str, Any], *, led: Any, item: Any,
                 metadata: Mapping[str, Any] | None, submission: bytes | None,
                 files: Sequence[tuple[str, str, str, Opener]], tsa_rows: Sequence[Any],
                 note: str, config: Any, verify_url: str | None = None,
                 time_zone: str | None = None, forum: str | None = None,
                 trusted_lists: Sequence[TrustedList] = ()) -> None:
    """Add this module's keys to ``data`` (``report_data``) and to its timestamps and
    witnesses. ``files``: (name, media type, SHA-256, opener) of the preserved files;
    ``submission``: the submission entry's bytes; ``note``: the checkpoint note;
    ``trusted_lists``: the EU trusted-list snapshots configured (each timestamp gets
    ``eidas``: :func:`evidence.ledger.bundle.trusted_list.qualification`)."""
    from evidence.verify.entry import parse_entry

    data["title"], data["source_url"] = _title_and_source(metadata)
    if data["source_url"] is None and isinstance(data.get("webcapture"), dict):
        data["source_url"] = data["webcapture"].get("url")
    data["submitter"] = _principal(led, item.principal, item.case_id)
    data["submitter_signature"] = (_signature(parse_entry(submission))
                                   if submission is not None else {"state": "unknown"})
    data["leaf_hash"] = leaf_hash(submission).hex() if submission is not None else None
    data["image"] = _image(item.kind, files)
    data["email"] = _emails(metadata) if item.kind == "email" else []
    data["chat"] = _chats(metadata) if item.kind == "chat" else []
    data["c2pa"] = c2pa_facts(metadata)
    for t, row in zip(data.get("timestamps") or [], tsa_rows, strict=False):
        ident, verified = _tsa_identity(row, note, config)
        t.update(ident)
        if trusted_lists:
            t["eidas"] = qualification(trusted_lists, verified)
    for w in data.get("witnesses") or []:
        w.update(_witness_identity(w.get("name"), config))
    data["verify_url"] = verify_page_url(verify_url, item.evidence_id)
    data["time_zone"] = report_time.check_zone(time_zone)
    data["forum"] = check_forum(forum)
    data["eidas_trusted_list"] = [tl.summary() for tl in trusted_lists] or None
