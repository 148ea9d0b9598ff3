"""The trust core: every rule a court relies on, and nothing else.

Pure functions over bytes handed in: no database, no network, no clock but the
one a caller passes. An auditor reads these modules in this order, each using
only the ones before it, and may stop at the end of the part that answers the
question in hand:

I. Is this entry in this log, and did the log sign it? (the afternoon read)

1. ``errors.py``      what can go wrong, as exception types
2. ``hashing.py``     the hash rules: leaf ``SHA-256(0x00 || entry)``, node
                      ``SHA-256(0x01 || left || right)`` (nothing else hashes nodes)
3. ``merkle.py``      RFC 9162 trees: proof planning, proofs, verification
4. ``entry.py``       an entry's canonical bytes and how they are parsed
5. ``log.py``         a whole log: the chain of entries and its tree, checked together
6. ``note.py``        C2SP signed notes: Ed25519 and ML-DSA-44 keys, signatures, cosignatures
7. ``checkpoint.py``  the log's signed tree heads, their key windows and witness quorum
8. ``receipt.py``     the log's signed promise that an entry is in it
9. ``full_proof.py``  receipt + checkpoint + inclusion proof, many at a time
10. ``cose_receipt.py`` the same proof as an RFC 9942 COSE receipt

II. What does the court pin, and how is one verdict reached?

11. ``trust.py``      the court's trust file: which keys, windows and roots it pins
12. ``verdict.py``    named checks, and the one verdict computed from them alone
13. ``tlog_proof.py`` a C2SP ``.tlog-proof`` file judged against the trust file

III. Since when? (time from outside the log)

14. ``der.py``, ``timestamp.py``  RFC 3161 timestamp tokens, read strictly
15. ``evidence_record.py`` RFC 4998 evidence records: archive timestamps and renewals

IV. Is this exactly what was preserved? (the bundle a court is handed)

16. ``commitment.py`` salted commitments to the metadata
17. ``submission.py`` the submitter's own signature over what was submitted
18. ``webcapture.py`` a web capture's signed manifest and archives
19. ``bundle_names.py``, ``bundle_reader.py``  the bundle's file names, and its ZIP
                      read as hostile input, refused before any check
20. ``bundle_item.py`` the item's claims: submission, submitter, custody, files, metadata
21. ``bundle_time.py`` the bundle's timestamps, and a newer checkpoint that must extend it
22. ``bundle_ers.py`` the bundle's evidence record against the item's files
23. ``bundle.py``     the evidence bundle: the checks in order, and those of the log

``fast/`` is not on this list. Each of its modules computes exactly what one of
the modules above computes, faster, for the ledger's bulk work (a batch of new
entries, an audit of millions, thousands of receipts); a test in
``tests/equivalence/`` holds each to its reference, and no module above imports
it (an import-linter contract in ``pyproject.toml``). Auditors may skip it.

Example: the check a court runs on a bundle::

    from pathlib import Path
    from evidence.verify import parse_trust, verify_bundle

    policy = parse_trust(Path("trust.txt").read_bytes())
    report = verify_bundle("EV-0001.zip", policy)
    print(report.verdict)  # "verified", "provisional", "incomplete" or "failed"
    for check in report.checks:
        print(check.name, check.status, check.reason, check.reason_zh)

The names below are loaded on first use, so importing this package costs
nothing for a caller that needs one module.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "VerificationError": "errors",
    "verify_inclusion": "merkle",
    "verify_consistency": "merkle",
    "parse_entry": "entry",
    "check_entries": "log",
    "LogBroken": "log",
    "verify_checkpoint": "checkpoint",
    "verify_receipt": "receipt",
    "FullProofChecker": "full_proof",
    "verify_commitment": "commitment",
    "verify_submission": "submission",
    "verify_timestamp": "timestamp",
    "parse_trust": "trust",
    "TrustPolicy": "trust",
    "check_tlog_proof": "tlog_proof",
    "verify_cose_receipt": "cose_receipt",
    "verify_evidence_record": "evidence_record",
    "verify_bundle": "bundle",
    "BundleReport": "bundle",
}
"""Each public entry point and the module (of this package) that defines it."""

__all__ = list(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:  # so that ``from evidence.verify import merkle`` finds the module
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
