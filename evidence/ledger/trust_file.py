"""The trust file of a ledger: what a court pins (docs/formats.md section 10, docs/verdict.md
section 3), assembled in one place.

Every writer of the trust file calls :func:`trust_policy_of`: ``GET /v1/log/trust`` (and the
verify page's pre-fill, through it), the fingerprint ``evidence serve`` prints at start,
``evidence trust export``, and DIR/trust.txt of ``evidence log export`` and ``evidence log
freeze``. A court compares the fingerprint an operator filed with the file it was given, so
these must be the same bytes: one function, not five calls that could each pick other keys
(tests/ledger/test_trust_file.py holds them byte-identical, and equal to the documented
bytes, for a ledger with every kind of line).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from evidence.ledger.anchor.config import load_anchor_config, trust_policy
from evidence.ledger.config import resolve_data_dir

if TYPE_CHECKING:
    from evidence.ledger.log import Ledger
    from evidence.verify.trust import TrustPolicy

__all__ = ["trust_policy_of"]


def trust_policy_of(ledger: Ledger, *, data_dir: str | os.PathLike[str] | None = None,
                    log_url: str | None = None) -> TrustPolicy:
    """The trust file for ``ledger`` (``.raw`` its bytes, ``.fingerprint`` their SHA-256),
    from what the log's own entries say (its current key on the ``log`` line, each key
    rotated out or revoked with its window, its ML-DSA-44 key from its first size) and what
    its data directory configures (``anchors.json``'s witnesses, quorum and TSA roots, the
    capture nodes, ``shards.json``'s frozen shards and their keys).

    ``data_dir``: the ``--data-dir`` given, read only when the ledger was opened without a
    configuration (read-only from a database URL), and resolved as everywhere else
    (``--data-dir``, else ``$EVIDENCE_DATA_DIR``, else ``./evidence-data``). ``log_url``: written
    on the ``log`` line (``evidence trust export --log-url``). Raises
    :class:`~evidence.ledger.anchor.config.AnchorConfigError` when the configuration cannot be
    written as a trust file (the message names the file and line)."""
    where = ledger.config.data_dir if ledger.config is not None else resolve_data_dir(data_dir)
    return trust_policy(load_anchor_config(where), ledger.verifier, log_url=log_url,
                        retired=ledger.retired_log_keys(), mldsa=ledger.mldsa_key())
