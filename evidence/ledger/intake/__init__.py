"""Evidence intake: turning an upload into something the ledger can commit to.

This package describes files (:mod:`.metadata`); storing them is the blob store's job
(:mod:`evidence.ledger.blobs`), committing to them the ledger's.
"""

from evidence.ledger.intake.metadata import (
    KINDS,
    SCHEMA,
    FileProblem,
    MetadataError,
    UnknownKind,
    extract_metadata,
)

__all__ = ["KINDS", "SCHEMA", "FileProblem", "MetadataError", "UnknownKind", "extract_metadata"]
