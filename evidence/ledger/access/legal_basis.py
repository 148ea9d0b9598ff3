"""What a cross-border grant records about its legality: the purpose, the recipient (its
jurisdiction and organisation) and the basis for the transfer.

A court abroad, or a regulator at home, asks first *why* evidence left the country and
*under what authority*. China's Data Security Law Art. 36 forbids giving data stored in
China to a foreign judicial or law-enforcement body without approval; the Personal
Information Protection Law Art. 38-41 requires a standard contract, a certification or
a security assessment before personal information is exported; treaty channels (the
Hague Evidence Convention, bilateral mutual legal assistance) and court orders are the
other usual grounds. The grant's ``evidence.shared`` entries carry these fields, so the
ledger itself shows the basis every retrieval under the grant relied on.

Whether the fields are required is the deployment's choice (``[grants]
require_legal_basis``, evidence/ledger/config_file.py); when given, they are checked
the same either way. Every field is public (it is on the ledger): a reference such as
"(2026) 京04民初123号", not the content of the evidence.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass

from evidence.ledger.access.errors import InvalidInput

__all__ = ["BASES", "BODY_FIELDS", "NO_LEGAL_BASIS", "LegalBasis", "check_legal_basis",
           "describe_basis"]

# basis -> (English, Chinese): what the value means, for the report and the docs
BASES: dict[str, tuple[str, str]] = {
    "court-order": ("a court order", "法院命令"),
    "treaty-request": ("a request through a treaty channel (e.g. the Hague Evidence "
                       "Convention, bilateral mutual legal assistance)",
                       "通过条约渠道的请求（如《海牙取证公约》、双边司法协助）"),
    "own-production": ("the party's own production", "当事人自行提交"),
    "dsl-art36-approval": ("approval under China's Data Security Law Art. 36",
                           "依《数据安全法》第三十六条获得的批准"),
    "pi-standard-contract": ("personal-information export: standard contract",
                             "个人信息出境：标准合同"),
    "pi-certification": ("personal-information export: certification",
                         "个人信息出境：个人信息保护认证"),
    "pi-security-assessment": ("personal-information export: security assessment",
                               "个人信息出境：数据出境安全评估"),
    "other": ("other (see the reference)", "其他（见依据文号）"),
}

# the grant's field -> its member in the evidence.shared body (docs/formats.md)
BODY_FIELDS = {"purpose": "purpose", "jurisdiction": "recipient_jurisdiction",
               "organisation": "recipient_organisation", "basis": "legal_basis",
               "basis_ref": "legal_basis_ref"}
MAX_LEN = {"purpose": 500, "organisation": 200, "basis_ref": 200}
_LABEL = {"purpose": "purpose", "jurisdiction": "recipient_jurisdiction",
          "organisation": "recipient_organisation", "basis": "legal_basis",
          "basis_ref": "legal_basis_ref"}

# ISO 3166-1 alpha-2, officially assigned codes, and EU (exceptionally reserved: a
# recipient may be an EU body such as Eurojust)
_ISO3166 = frozenset(("AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS",
    "AT", "AU", "AW", "AX", "AZ", "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ",
    "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA", "CC",
    "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW",
    "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER",
    "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF", "GG",
    "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK",
    "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS",
    "IT", "JE", "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW",
    "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA",
    "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR",
    "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI",
    "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL",
    "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW", "SA",
    "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR",
    "SS", "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL",
    "TM", "TN", "TO", "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ",
    "VA", "VC", "VE", "VG", "VI", "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
    "EU"))
# a country, or an ISO 3166-2 subdivision of one (US-NY, DE-BY)
_JURISDICTION = re.compile(r"\A([A-Z]{2})(?:-[A-Z0-9]{1,3})?\Z")
# control and format characters (bidi overrides among them), separators that break a
# line, surrogates, private use and unassigned: none belongs in a court-facing field
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


@dataclass(frozen=True)
class LegalBasis:
    """The legal fields of one grant; each None when not given."""

    purpose: str | None = None
    jurisdiction: str | None = None
    organisation: str | None = None
    basis: str | None = None
    basis_ref: str | None = None

    def body(self) -> dict[str, str]:
        """The members of the ``evidence.shared`` body (absent when not given)."""
        return {BODY_FIELDS[k]: v for k, v in asdict(self).items() if v is not None}

    def is_empty(self) -> bool:
        return all(v is None for v in asdict(self).values())


NO_LEGAL_BASIS = LegalBasis()


def describe_basis(basis: str) -> tuple[str, str]:
    """(English, Chinese) words for a basis value; an unknown one (a newer writer's) is
    shown as it is."""
    return BASES.get(basis, (basis, basis))


def _text(name: str, value: object) -> str | None:
    if value is None:
        return None
    label = _LABEL[name]
    if not isinstance(value, str):
        raise InvalidInput(f"{label} must be text")
    bad = next((c for c in value if unicodedata.category(c) in _REFUSED_CATEGORIES), None)
    if bad is not None:
        raise InvalidInput(f"{label} contains the control or format character "
                           f"U+{ord(bad):04X}; write it as plain text")
    value = value.strip()
    if not value:
        raise InvalidInput(f"{label} is empty (leave it out instead)")
    limit = MAX_LEN.get(name)
    if limit is not None and len(value) > limit:
        raise InvalidInput(f"{label} is longer than {limit} characters")
    return value


def check_legal_basis(given: LegalBasis | None, *, required: bool) -> LegalBasis:
    """The fields checked and normalised (trimmed; the jurisdiction in capitals), or
    :class:`InvalidInput` naming the first problem. ``required``: purpose, jurisdiction,
    organisation and basis must all be given. A basis of ``other`` needs a reference
    (it says what the basis is); a reference needs a basis."""
    g = given or LegalBasis()
    purpose = _text("purpose", g.purpose)
    organisation = _text("organisation", g.organisation)
    basis_ref = _text("basis_ref", g.basis_ref)
    jurisdiction = _text("jurisdiction", g.jurisdiction)
    if jurisdiction is not None:
        jurisdiction = jurisdiction.upper()
        m = _JURISDICTION.match(jurisdiction)
        if m is None or m.group(1) not in _ISO3166:
            raise InvalidInput(f"recipient_jurisdiction {jurisdiction[:20]!r} is not an ISO "
                               "3166 code (a country such as US or DE, or a subdivision "
                               "such as US-NY)")
    basis = _text("basis", g.basis)
    if basis is not None and basis not in BASES:
        raise InvalidInput(f"legal_basis {basis[:40]!r} is not one of {', '.join(BASES)}")
    if basis == "other" and basis_ref is None:
        raise InvalidInput("legal_basis 'other' needs legal_basis_ref saying what it is")
    if basis_ref is not None and basis is None:
        raise InvalidInput("legal_basis_ref is given without legal_basis")
    if required:
        missing = [_LABEL[k] for k, v in (("purpose", purpose), ("jurisdiction", jurisdiction),
                                          ("organisation", organisation), ("basis", basis))
                   if v is None]
        if missing:
            raise InvalidInput("this service requires the legal basis of every grant; "
                               f"missing: {', '.join(missing)}", code="legal-basis-required")
    return LegalBasis(purpose, jurisdiction, organisation, basis, basis_ref)
