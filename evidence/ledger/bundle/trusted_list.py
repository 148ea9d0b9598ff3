"""An EU trusted list (ETSI TS 119 612), read offline, and whether a TSA was qualified.

eIDAS Art. 41(2) presumes a *qualified* electronic time stamp accurate; whether a time
stamp is qualified is a fact of the member states' trusted lists: the TSA's service must
be listed with the type ``QTST`` (``http://uri.etsi.org/TrstSvc/Svctype/TSA/QTST``) and
the status ``granted`` at the token's genTime. An operator (or the court) saves the lists
to disk (a national list, or the LOTL and the national lists it points to) and configures
them (``[eidas] trusted_lists``, ``evidence export --trusted-list FILE``): this module never
fetches anything.

What it reads, per list: the scheme information (territory, operator, type, sequence
number, issue date, next update) and, of every trust service whose current or past type
is QTST, the provider's and service's names, the digital identities (``X509Certificate``,
``X509SKI``, ``X509SubjectName``) and the status timeline (``ServiceInformation`` plus
each ``ServiceHistoryInstance``: type, status, ``StatusStartingTime``).

What it does not do: verify the list's own XAdES signature. The report says so, with the
file's SHA-256, in both languages: the operator configured the file, and a court can
compare it with the copy published by the member state.

Qualified is claimed only on a match of a listed ``X509Certificate`` with a certificate of
the token's *verified* chain (the signing certificate, or a CA certificate above it whose
signature over the one below checks), and only if the status in force at genTime is
``granted`` under the type QTST. A service listed by SKI or subject name alone matches
nothing here ("not determined"): a name can be reissued, a certificate cannot.

Hostile input: XML is parsed with defusedxml with DTDs forbidden (no entity expansion, no
external entity or reference), a file larger than :data:`MAX_LIST` is refused unread, and
each refusal is a :class:`TrustedListError` naming the file and what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from evidence.ledger.errors import LedgerError

__all__ = ["GRANTED", "MAX_LIST", "QTST", "QtstService", "TrustedList", "TrustedListError",
           "load_trusted_list", "load_trusted_lists", "parse_trusted_list", "qualification"]

TSL = "{http://uri.etsi.org/02231/v2#}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"
QTST = "http://uri.etsi.org/TrstSvc/Svctype/TSA/QTST"
GRANTED = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted"
MAX_LIST = 64 << 20
"""A national list is a few megabytes (the largest some 20 MB); more is not one."""
MAX_LISTS = 64


class TrustedListError(LedgerError):
    """A configured trusted-list file that cannot be used (unreadable, too large, not
    XML, hostile XML, not a TS 119 612 list)."""


@dataclass(frozen=True)
class Status:
    """One period of a service: from ``start`` on, this type and status."""

    start: datetime
    service_type: str
    status: str

    @property
    def qualified(self) -> bool:
        return self.service_type == QTST and self.status == GRANTED

    @property
    def status_name(self) -> str:
        return self.status.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class QtstService:
    """A trust service that is or was of the type QTST."""

    tsp: str
    name: str
    certificates: tuple[bytes, ...]  # DER, of the current ServiceDigitalIdentity
    skis: tuple[bytes, ...]
    subject_names: tuple[str, ...]
    timeline: tuple[Status, ...]  # sorted by start

    def status_at(self, t: datetime) -> Status | None:
        """The period in force at ``t`` (None: before the service was listed)."""
        i = bisect_right([s.start for s in self.timeline], t)
        return self.timeline[i - 1] if i else None


@dataclass(frozen=True)
class TrustedList:
    path: str
    sha256: str
    territory: str | None
    operator: str | None
    tsl_type: str | None
    sequence: int | None
    issued: datetime | None
    next_update: datetime | None
    has_signature: bool  # a ds:Signature element is present (not verified here)
    services: tuple[QtstService, ...]

    def summary(self) -> dict[str, Any]:
        """What the report states about the list (plain JSON)."""
        return {"path": self.path, "file": Path(self.path).name, "sha256": self.sha256,
                "territory": self.territory, "operator": self.operator,
                "type": (self.tsl_type or "").rsplit("/", 1)[-1] or None,
                "sequence": self.sequence, "issued": _iso(self.issued),
                "next_update": _iso(self.next_update), "has_signature": self.has_signature,
                "signature_verified": False, "qtst_services": len(self.services)}


# --- reading ---------------------------------------------------------------------------


def load_trusted_lists(paths: Sequence[str | Path]) -> list[TrustedList]:
    if len(paths) > MAX_LISTS:
        raise TrustedListError(f"{len(paths)} trusted lists configured; at most {MAX_LISTS}")
    return [load_trusted_list(p) for p in paths]


def load_trusted_list(path: str | Path) -> TrustedList:
    p = Path(path).expanduser()
    try:
        with open(p, "rb") as f:
            data = f.read(MAX_LIST + 1)
    except OSError as e:
        raise TrustedListError(f"trusted list {p}: cannot read it ({e.strerror})") from None
    if len(data) > MAX_LIST:
        raise TrustedListError(f"trusted list {p}: larger than {MAX_LIST >> 20} MiB: "
                               "not a trusted list, refused unread")
    return parse_trusted_list(data, str(p))


def parse_trusted_list(data: bytes, name: str) -> TrustedList:
    """The list in ``data`` (``name``: for messages and the report)."""
    if len(data) > MAX_LIST:
        raise TrustedListError(f"trusted list {name}: larger than {MAX_LIST >> 20} MiB")
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True,
                          forbid_external=True)
    except DefusedXmlException as e:
        raise TrustedListError(f"trusted list {name}: refused: the XML declares a DTD, "
                               f"entities or external references ({type(e).__name__}); a "
                               "trusted list has none") from None
    except (ParseError, ValueError) as e:
        raise TrustedListError(f"trusted list {name}: not well-formed XML ({e})") from None
    if root.tag != f"{TSL}TrustServiceStatusList":
        raise TrustedListError(f"trusted list {name}: the root element is {root.tag}, not "
                               "TrustServiceStatusList of ETSI TS 119 612 "
                               "(http://uri.etsi.org/02231/v2#)")
    scheme = root.find(f"{TSL}SchemeInformation")
    if scheme is None:
        raise TrustedListError(f"trusted list {name}: no SchemeInformation")
    seq = _text(scheme.find(f"{TSL}TSLSequenceNumber"))
    services = [s for tsp in root.iterfind(f"{TSL}TrustServiceProviderList/"
                                           f"{TSL}TrustServiceProvider")
                for s in _qtst_services(tsp, name)]
    return TrustedList(
        path=name, sha256=hashlib.sha256(data).hexdigest(),
        territory=_text(scheme.find(f"{TSL}SchemeTerritory")),
        operator=_name(scheme.find(f"{TSL}SchemeOperatorName")),
        tsl_type=_text(scheme.find(f"{TSL}TSLType")),
        sequence=int(seq) if seq and seq.isdigit() and len(seq) < 12 else None,
        issued=_time(scheme.find(f"{TSL}ListIssueDateTime"), name),
        next_update=_time(scheme.find(f"{TSL}NextUpdate/{TSL}dateTime"), name),
        has_signature=root.find(f"{DS}Signature") is not None,
        services=tuple(services))


def _qtst_services(tsp: Element, name: str) -> list[QtstService]:
    tsp_name = _name(tsp.find(f"{TSL}TSPInformation/{TSL}TSPName")) or "-"
    out = []
    for svc in tsp.iterfind(f"{TSL}TSPServices/{TSL}TSPService"):
        info = svc.find(f"{TSL}ServiceInformation")
        if info is None:
            continue
        periods = [info, *svc.iterfind(f"{TSL}ServiceHistory/{TSL}ServiceHistoryInstance")]
        # a period without its StatusStartingTime (mandatory) is left out: it can
        # never be the one in force, so it never makes a time stamp qualified
        timeline = sorted((Status(start, _text(p.find(f"{TSL}ServiceTypeIdentifier")) or "",
                                  _text(p.find(f"{TSL}ServiceStatus")) or "")
                           for p in periods
                           if (start := _time(p.find(f"{TSL}StatusStartingTime"), name))),
                          key=lambda s: s.start)
        if not any(s.service_type == QTST for s in timeline):
            continue
        certs, skis, subjects = [], [], []
        for d in info.iterfind(f"{TSL}ServiceDigitalIdentity/{TSL}DigitalId"):
            if (c := _b64(d.find(f"{TSL}X509Certificate"), name)) is not None:
                certs.append(c)
            if (k := _b64(d.find(f"{TSL}X509SKI"), name)) is not None:
                skis.append(k)
            if (s := _text(d.find(f"{TSL}X509SubjectName"))) is not None:
                subjects.append(s)
        out.append(QtstService(tsp_name, _name(info.find(f"{TSL}ServiceName")) or "-",
                               tuple(certs), tuple(skis), tuple(subjects), tuple(timeline)))
    return out


def _text(e: Element | None) -> str | None:
    if e is None or e.text is None:
        return None
    return e.text.strip() or None


def _name(e: Element | None) -> str | None:
    """A multilingual name: the English one, else the first."""
    if e is None:
        return None
    names = list(e.iterfind(f"{TSL}Name"))
    en = [n for n in names if n.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"]
    return _text((en or names or [None])[0])


def _time(e: Element | None, name: str) -> datetime | None:
    t = _text(e)
    if t is None:
        return None
    try:
        d = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise TrustedListError(f"trusted list {name}: {t!r} is not an xsd:dateTime") from None
    return (d if d.tzinfo else d.replace(tzinfo=UTC)).astimezone(UTC)


def _b64(e: Element | None, name: str) -> bytes | None:
    t = _text(e)
    if t is None:
        return None
    try:
        return base64.b64decode("".join(t.split()), validate=True)
    except (binascii.Error, ValueError):
        raise TrustedListError(f"trusted list {name}: a digital identity is not base64") \
            from None


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the question ------------------------------------------------------------------------


def verified_chain(signer: x509.Certificate, others: Sequence[x509.Certificate]
                   ) -> list[x509.Certificate]:
    """``signer`` and the CA certificates above it among ``others``, each kept only when
    its signature over the one below checks (so a certificate merely carried in a token
    is never taken for the one that issued the signer)."""
    chain = [signer]
    while len(chain) < 10:
        below = chain[-1]
        if below.issuer == below.subject:
            break
        up = None
        for c in others:
            if c.subject != below.issuer or c in chain:
                continue
            try:
                below.verify_directly_issued_by(c)
            except (ValueError, TypeError, InvalidSignature):
                continue
            up = c
            break
        if up is None:
            break
        chain.append(up)
    return chain


def qualification(lists: Sequence[TrustedList],
                  verified: tuple[Sequence[x509.Certificate], datetime] | None
                  ) -> dict[str, Any]:
    """Whether the token whose ``verified`` (chain, genTime) is given (the chain signer
    first; None when the token could not be re-verified) was a qualified time stamp at
    its genTime, per ``lists``.

    ``state``: ``qualified``; ``not_qualified`` (the service is listed, but its status at
    genTime was not QTST/granted); ``not_listed``; ``not_determined`` (no list, or the
    chain was not re-verified)."""
    if not lists:
        return {"state": "not_determined", "why": "no_list"}
    if verified is None:
        return {"state": "not_determined", "why": "not_verified"}
    chain, gen_time = verified
    ders = [c.public_bytes(Encoding.DER) for c in chain]
    found: list[dict[str, Any]] = []
    for tl in lists:
        for svc in tl.services:
            hit = next((i for i, d in enumerate(ders) if d in svc.certificates), None)
            if hit is None:
                continue
            st = svc.status_at(gen_time)
            found.append({
                "state": "qualified" if st is not None and st.qualified else "not_qualified",
                "list": Path(tl.path).name, "territory": tl.territory, "tsp": svc.tsp,
                "service": svc.name, "match": "signer" if hit == 0 else "issuer",
                "status": None if st is None else st.status_name,
                "status_type": None if st is None else st.service_type.rsplit("/", 1)[-1],
                "status_since": None if st is None else _iso(st.start)})
    if not found:
        return {"state": "not_listed"}
    found.sort(key=lambda f: f["state"] != "qualified")
    return {**found[0], "matches": len(found)}
