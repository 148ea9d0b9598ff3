"""Evidence intake: turning files into preserved evidence items.

Read in the order an item walks: :mod:`.model` (what goes in and out, the errors),
:mod:`.files` (opening the submitter's files safely), :mod:`.staging` (check, store,
describe), :mod:`.pipeline` (commit blobs, hand entries to the sequencer, report),
:mod:`.holds` (blobs in flight), :mod:`.service` (:class:`Intake`, the face of it all:
submit, prepare, read, purge), :mod:`.maintenance` (gc). :mod:`.grouped` feeds the
pipeline from concurrent HTTP requests, :mod:`.bulk` from worker processes.
:mod:`.metadata` describes files (what they say about themselves); :mod:`.settings`
says where blobs go and how large a file may be.
"""

from evidence.ledger.intake.files import expand_each
from evidence.ledger.intake.maintenance import DEFAULT_GC_GRACE
from evidence.ledger.intake.metadata import (
    KINDS,
    SCHEMA,
    FileProblem,
    MetadataError,
    UnknownKind,
    extract_metadata,
)
from evidence.ledger.intake.model import (
    AlreadyPurged,
    FileFailure,
    GcReport,
    IntakeError,
    ItemSpec,
    Prepared,
    Purged,
    StagedItem,
    SubmissionRefused,
    Submitted,
    UnknownEvidence,
)
from evidence.ledger.intake.service import Intake
from evidence.ledger.intake.settings import IntakeSettings, load_settings
from evidence.ledger.intake.staging import METADATA_SCHEMA, new_evidence_id

__all__ = [
    "DEFAULT_GC_GRACE",
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
    "StagedItem",
    "SubmissionRefused",
    "Submitted",
    "UnknownEvidence",
    "UnknownKind",
    "expand_each",
    "extract_metadata",
    "load_settings",
    "new_evidence_id",
]
