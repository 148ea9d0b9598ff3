"""What the reports say of one custody entry, in both languages.

A grant (``evidence.shared``) records its recipient, legal basis and purpose in its entry
(docs/formats.md, grant entries; evidence/ledger/access/legal_basis.py): a court abroad
asks under what authority the evidence was handed over, so the reports show them beside
the action, the reason and the grantee.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evidence.ledger.access.legal_basis import describe_basis

__all__ = ["CUSTODY_KEYS", "custody_detail"]

CUSTODY_KEYS = ("principal", "action", "reason", "grantee", "purpose",
                "recipient_jurisdiction", "recipient_organisation", "legal_basis",
                "legal_basis_ref")
"""The entry body's members the report data copies for each custody entry."""


def custody_detail(c: Mapping[str, Any]) -> str:
    """One line: ``action=... reason=... grantee=...``, then for a grant its recipient,
    basis (English / Chinese, with its reference) and purpose, each where recorded."""
    parts = [" ".join(f"{k}={c[k]}" for k in ("action", "reason", "grantee") if c.get(k))]
    org, where = c.get("recipient_organisation"), c.get("recipient_jurisdiction")
    if org or where:
        parts.append(f"recipient / 接收方: {org or '-'}" + (f" ({where})" if where else ""))
    if c.get("legal_basis"):
        en, zh = describe_basis(str(c["legal_basis"]))
        ref = c.get("legal_basis_ref")
        parts.append(f"basis / 依据: {en} / {zh}" + (f", {ref}" if ref else ""))
    if c.get("purpose"):
        parts.append(f"purpose / 目的: {c['purpose']}")
    return "; ".join(p for p in parts if p)
