"""Request and response models of the HTTP API (separate from the database tables).

Hashes are lowercase hex; times are the ledger's RFC 3339 UTC form with microseconds.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Hex64 = Field(pattern=r"^[0-9a-f]{64}$")


class ProblemModel(BaseModel):
    """RFC 9457 problem details (``application/problem+json``)."""

    model_config = ConfigDict(title="Problem", extra="allow")
    type: str = Field(description="urn:evidence:problem:<code>")
    title: str
    status: int
    detail: str
    code: str = Field(description="stable error code; see docs/api.md")
    instance: str | None = None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    fixity: dict[str, Any] | None = None
    """Stored-file fixity (evidence/ledger/blobs/fixity.py): alert counts, the newest
    alert, the last full audit pass; ``degraded`` while damage is known."""


class CheckpointSummary(BaseModel):
    size: int
    root: str = Hex64
    created_at: str


class Status(BaseModel):
    origin: str
    verifier_key: str = Field(description="the log's public key: pin it")
    size: int = Field(description="entries committed now")
    checkpoint: CheckpointSummary | None = Field(description="the latest signed checkpoint")
    version: str


class Me(BaseModel):
    id: str
    role: Literal["submitter", "court", "foreign", "auditor", "admin"]
    display_name: str
    organisation: str | None
    token_id: str | None
    cases: list[str]
    idempotency_ttl: int | None = Field(None, description=(
        "seconds this server honours an Idempotency-Key on submissions and signatures: a "
        "client whose answer was lost may send the same request with the same key again "
        "within them (docs/api.md); absent from servers that do not honour keys"))


class SubmittedFile(BaseModel):
    """A file as the submission entry lists it. A file taken out of another (a chat ZIP's
    media, docs/evidence-kinds.md) also has ``derived_from: {sha256, member}``: the other
    file's SHA-256 and the archive member. Every key is passed on exactly as the entry has
    it (an absent key stays absent, never null), since a submitter signs the JCS of
    exactly this list."""

    model_config = ConfigDict(extra="allow")

    name: str
    media_type: str
    size: int
    sha256: str = Hex64


class SubmissionReceipt(BaseModel):
    """What ``POST /v1/evidence`` answers: the item's entry is durable."""

    evidence_id: str
    seq: int
    leaf_hash: str = Hex64
    time: str
    receipt: str = Field(description="the log's signed receipt (evidence.receipt/v1 note)")
    log_key: str
    files: list[SubmittedFile]
    metadata_commitment: str = Hex64
    signed_by_submitter: bool
    warnings: list[str]


class PendingSubmission(BaseModel):
    """What ``POST /v1/evidence`` with ``sign=deferred`` answers (202): the item is
    stored and described but NOT on the ledger until ``sign_url`` gets its signature."""

    pending_id: str
    evidence_id: str
    metadata_commitment: str = Hex64
    files: list[SubmittedFile]
    files_digest: str = Hex64
    text: str = Field(description="the exact text to sign with your Ed25519 key "
                                  "(evidence.submission/v1, docs/api.md)")
    expires_at: str = Field(description="unsigned after this, it is removed (RFC 3339)")
    sign_url: str
    warnings: list[str]


class SubmitterSignature(BaseModel):
    """The submitter's signature over a pending submission's ``text``."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(max_length=1024, description="your verifier key (evidence keygen), "
                                                  "name+hex id+base64")
    signature: str = Field(max_length=256, description="base64 of the 64-byte Ed25519 "
                                                       "signature over text")


class EvidenceFile(SubmittedFile):
    stored: bool
    url: str = Field(description="where to download it (GET, Range supported)")


class CustodyRef(BaseModel):
    seq: int
    type: str
    time: str
    leaf_hash: str = Hex64


class EvidenceView(BaseModel):
    evidence_id: str
    kind: str
    case: str
    principal: str
    seq: int
    leaf_hash: str = Hex64
    time: str
    status: Literal["preserved", "purged"]
    purged_seq: int | None
    purged_at: str | None
    files: list[EvidenceFile]
    metadata_commitment: str = Hex64
    metadata: dict[str, Any] | None = Field(description="the committed metadata (opened)")
    salt: str | None = Field(description="hex salt that opens metadata_commitment")
    commitment_opens: bool | None
    submitter_key: str | None
    receipt: str
    custody: list[CustodyRef]
    access_seq: int = Field(description="the evidence.accessed entry recording this view "
                                        "(in the active shard's log)")
    frozen_shard: int | None = Field(None, description=(
        "the frozen shard whose log holds the item (seq, custody and receipt are that "
        "log's); null: the active shard"))


class InclusionProofModel(BaseModel):
    index: int
    tree_size: int
    leaf_hash: str = Hex64
    proof: list[str]
    root: str = Hex64
    checkpoint: str | None = Field(
        description="the signed checkpoint of tree_size (null when tree_size has none)")


class ConsistencyProofModel(BaseModel):
    size1: int
    size2: int
    root1: str = Hex64
    root2: str = Hex64
    proof: list[str]
    checkpoint: str | None = Field(description="the signed checkpoint of size2, if any")


class ReceiptView(BaseModel):
    evidence_id: str
    seq: int
    leaf_hash: str = Hex64
    time: str
    log_key: str
    receipt: str
    entry: str = Field(description="the exact entry bytes (UTF-8 JSON)")
    checkpoint: str | None
    inclusion_proof: dict[str, Any] | None


class Timestamp(BaseModel):
    source: str
    url: str | None
    gen_time: str | None
    serial: str | None
    policy: str | None
    verifier: str | None
    token_b64: str = Field(description="DER TimeStampToken exactly as received, base64")
    certs_b64: list[str]


class Cosignature(BaseModel):
    source: str
    verifier: str | None
    cosigned_at: int | None
    cosignature: str = Field(description="the tlog-cosignature/v1 signature line(s)")


class CheckpointView(BaseModel):
    size: int
    root: str = Hex64
    created_at: str
    note: str = Field(description="the signed checkpoint note (log signature only)")
    cosigned_note: str = Field(description="the note with every witness cosignature")
    timestamps: list[Timestamp]
    cosignatures: list[Cosignature]


class AnchoredCheckpoints(BaseModel):
    timestamped: CheckpointView | None = Field(
        description="the newest checkpoint with a stored RFC 3161 token; null while none has")
    cosigned: CheckpointView | None = Field(
        description="the newest checkpoint cosigned by the configured witness quorum (by "
                    "one witness when no quorum is configured); null while none is")


class LookupMatch(BaseModel):
    evidence_id: str
    seq: int = Field(description="the evidence.submitted entry")
    leaf_hash: str = Hex64
    time: str = Field(description="log time of the submission")
    purged: bool
    checkpoint_size: int | None = Field(
        description="the latest checkpoint, when it covers the entry (prove inclusion with "
                    "/v1/log/proof/inclusion?seq=...; its anchors: /v1/log/checkpoints/{size})")


class LookupResult(BaseModel):
    matches: list[LookupMatch]


class LogEntry(BaseModel):
    seq: int
    leaf_hash: str = Hex64
    entry_b64: str = Field(description="the exact entry bytes that were hashed, base64")


class EntriesPage(BaseModel):
    size: int = Field(description="the log's size when the page was read")
    entries: list[LogEntry]
    next: int | None = Field(description="start of the next page, null at the end")


class CustodyEntry(LogEntry):
    type: str
    time: str


class CustodyView(BaseModel):
    evidence_id: str
    entries: list[CustodyEntry]
    frozen_shard: int | None = Field(None, description=(
        "the frozen shard whose log holds the item and ``entries`` (null: the active one)"))
    active_entries: list[CustodyEntry] | None = Field(None, description=(
        "an item of a frozen shard: the entries about it in the active shard's log "
        "(retrievals and grants since the freeze; the first links to the last of entries)"))


# evidence.ledger.access.BASES, spelled out for the OpenAPI enum (a test holds them equal)
LegalBasisName = Literal["court-order", "treaty-request", "own-production",
                         "dsl-art36-approval", "pi-standard-contract", "pi-certification",
                         "pi-security-assessment", "other"]


class GrantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grantee: str = Field(min_length=1, max_length=128, description="a foreign principal's id")
    evidence_ids: list[str] = Field(min_length=1, max_length=100)
    expires_at: str = Field(min_length=1, max_length=64,
                            description="RFC 3339 with offset, e.g. 2026-12-31T23:59:59+08:00")
    not_before: str | None = Field(default=None, min_length=1, max_length=64,
                                   description="default: now")
    max_downloads: int | None = Field(default=None, ge=1, le=1_000_000,
                                      description="null: no limit")
    note: str | None = Field(default=None, max_length=1000)
    # the legal fields (evidence/ledger/access/legal_basis.py): on the ledger, in every
    # evidence.shared entry; required when the deployment sets [grants] require_legal_basis
    purpose: str | None = Field(default=None, min_length=1, max_length=500,
                                description="why the evidence is shared (public: on the "
                                            "ledger)")
    recipient_jurisdiction: str | None = Field(
        default=None, min_length=2, max_length=16,
        description="the recipient's ISO 3166 code: a country (US, DE) or a subdivision "
                    "(US-NY)")
    recipient_organisation: str | None = Field(default=None, min_length=1, max_length=200,
                                               description="the court, authority or firm "
                                                           "receiving the evidence")
    legal_basis: LegalBasisName | None = Field(
        default=None, description="the basis for the transfer; 'other' needs legal_basis_ref")
    legal_basis_ref: str | None = Field(default=None, min_length=1, max_length=200,
                                        description="its reference, e.g. the order's number")


class GrantView(BaseModel):
    id: str
    grantee: str
    granted_by: str
    case_id: str
    evidence_ids: list[str]
    not_before: str
    expires_at: str
    max_downloads: int | None
    downloads: int
    note: str | None
    created_at: str
    shared_seq: int
    revoked_at: str | None
    revoked_by: str | None
    revoked_seq: int | None
    status: Literal["pending", "active", "exhausted", "expired", "revoked"]
    purpose: str | None = None
    recipient_jurisdiction: str | None = None
    recipient_organisation: str | None = None
    legal_basis: str | None = None
    legal_basis_ref: str | None = None


class GrantList(BaseModel):
    grants: list[GrantView]


class ListedFileModel(BaseModel):
    model_config = ConfigDict(title="ListedFile")
    name: str
    size: int
    sha256: str = Hex64


class ListedItemModel(BaseModel):
    """One item of ``GET /v1/evidence``: what identifies it, not its content (not recorded)."""

    model_config = ConfigDict(title="ListedItem")
    evidence_id: str
    kind: str
    case: str
    title: str | None = Field(description="from the committed metadata; null once purged")
    source_url: str | None = Field(description="as stated at submission; null once purged")
    seq: int = Field(description="the evidence.submitted entry")
    time: str = Field(description="log time of the submission")
    files: list[ListedFileModel]
    status: Literal["anchored", "witnessed", "pending"] = Field(
        description="anchored: a checkpoint covering the entry has a verified RFC 3161 "
                    "timestamp; witnessed: only the witness cosignatures; pending: neither yet")
    purged: bool


class EvidenceList(BaseModel):
    items: list[ListedItemModel]
    next_cursor: str | None = Field(
        description="pass as cursor for the next page; null at the end (a page may be short, "
                    "even empty, and still have one when q examined its share of items)")
