"""Evidence intake: turning files into preserved evidence items.

:mod:`.metadata` describes files (what they say about themselves); :mod:`.service`
stores them in the blob store and commits to them in the ledger (one
``evidence.submitted`` entry per item, with its off-ledger rows in the same
transaction), hands back a signed receipt, and purges; :mod:`.settings` says where
blobs go and how large a file may be.
"""

from evidence.ledger.intake.metadata import (
    KINDS,
    SCHEMA,
    FileProblem,
    MetadataError,
    UnknownKind,
    extract_metadata,
)
from evidence.ledger.intake.service import (
    METADATA_SCHEMA,
    AlreadyPurged,
    FileFailure,
    GcReport,
    Intake,
    IntakeError,
    ItemSpec,
    Prepared,
    Purged,
    SubmissionRefused,
    Submitted,
    UnknownEvidence,
    expand_each,
    new_evidence_id,
)
from evidence.ledger.intake.settings import IntakeSettings, load_settings

__all__ = [
    "KINDS",
    "METADATA_SCHEMA",
    "SCHEMA",
    "AlreadyPurged",
    "FileFailure",
    "FileProblem",
    "GcReport",
    "Intake",
    "IntakeError",
    "IntakeSettings",
    "ItemSpec",
    "MetadataError",
    "Prepared",
    "Purged",
    "SubmissionRefused",
    "Submitted",
    "UnknownEvidence",
    "UnknownKind",
    "expand_each",
    "extract_metadata",
    "load_settings",
    "new_evidence_id",
]
