"""The evidence bundle: read it as hostile input, then check every claim it makes.

A bundle is one ZIP file (format ``evidence-bundle/v1``, byte layout in
``docs/bundle.md``) that lets a court answer, offline and trusting only the
keys it pins: are these exactly the preserved files, since when, and who has
handled them? Nothing in the bundle is trusted because it is in the bundle:
the manifest only says where things are; every statement is checked against
the pinned log key, witness keys and TSA roots.

Reading is defensive and lives in :mod:`evidence.verify.bundle_reader`
(:class:`~evidence.verify.bundle_reader.BundleReader`): the archive is refused
before any check unless its structure is safe and within limits.

Verification (:func:`verify_bundle`) returns a :class:`BundleReport` of named
:class:`Check` results, each ``pass``, ``fail`` or ``not-checked`` with a one-line
reason in English and Chinese, and the top verdict computed from them alone
(``docs/verdict.md``: failed, provisional, incomplete, verified). What is trusted
is one :class:`~evidence.verify.trust.TrustPolicy` (the court's trust file). It
never raises for a bad bundle.

Imports: stdlib, ``cryptography`` / ``rfc8785`` / ``rfc3161-client`` (through
``evidence.verify``) and ``evidence.verify`` only.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import IO, Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from evidence.verify import merkle
from evidence.verify.bundle_reader import (
    CHECKPOINT,
    CHUNK,
    DEFAULT_LIMITS,
    FORMAT,
    MANIFEST,
    METADATA,
    TOOL,
    BundleError,
    BundleReader,
    Limits,
)
from evidence.verify.checkpoint import VerifiedCheckpoint, parse_checkpoint, verify_checkpoint
from evidence.verify.commitment import verify_commitment
from evidence.verify.entry import Entry, parse_entry
from evidence.verify.errors import MalformedInput, VerificationError
from evidence.verify.hashing import hash_from_hex
from evidence.verify.note import Verifier, parse_note
from evidence.verify.submission import verify_submission
from evidence.verify.timestamp import (
    ImprintMismatch,
    MalformedTimestamp,
    MissingTimestampingEKU,
    TimestampError,
    TimestampSignatureInvalid,
    TimestampVerdict,
    TsaCertificateExpired,
    UntrustedTimestampChain,
    token_certificates,
    verify_timestamp,
    verify_token_integrity,
)
from evidence.verify.trust import (
    CaptureNode,
    TrustPolicy,
    mozilla_roots,
    parse_trust,
    policy_from_pins,
)
from evidence.verify.webcapture import verify_webcapture

PASS, FAIL, NOT_CHECKED = "pass", "fail", "not-checked"
FAILED, PROVISIONAL, INCOMPLETE, VERIFIED = "failed", "provisional", "incomplete", "verified"
MAX_REASON = 300
SUBMITTED = "evidence.submitted"
PURGED = "evidence.purged"
WEBCAPTURE = "webcapture"
UNEXPECTED = "unexpected error"


def _one_line(text: str) -> str:
    """A reason a judge reads: one line, bounded (docs/verdict.md section 1)."""
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_REASON else text[:MAX_REASON - 1] + "…"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    reason: str
    reason_zh: str
    required: bool = True
    detail: str | None = field(default=None, compare=False)
    """Library error text behind a reason: for ``--debug`` only, never in a reason."""

    @property
    def ok(self) -> bool:
        return self.status == PASS

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "ok": self.ok,
                "required": self.required, "reason": self.reason,
                "reason_zh": self.reason_zh}


@dataclass
class BundleReport:
    """What was checked, and what the checks established (filled as they pass)."""

    checks: list[Check] = field(default_factory=list)
    evidence_id: str | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    checkpoint: dict[str, Any] | None = None
    submitted_at: str | None = None
    preserved_no_later_than: list[dict[str, str]] = field(default_factory=list)
    custody: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    purged: bool = False
    provisional: bool = False
    still_in_log: dict[str, Any] | None = None
    tool: dict[str, Any] | None = None
    """``tools/verify_bundle.py`` when the bundle carries it: its SHA-256 and size."""
    compared: list[dict[str, Any]] = field(default_factory=list)
    webcapture: dict[str, Any] | None = None
    """A web capture's facts from its signed manifest (docs/verdict.md section 6), once
    the ``webcapture`` check passed or was not checked; None after any failure."""
    running: str = field(default="archive", repr=False)
    """The check in progress (a structural surprise fails this one)."""

    @property
    def verdict(self) -> str:
        """docs/verdict.md section 2, from the checks alone."""
        if not self.checks or any(c.status == FAIL for c in self.checks):
            return FAILED
        if self.provisional:
            return PROVISIONAL
        if any(c.status == NOT_CHECKED for c in self.checks):
            return INCOMPLETE
        return VERIFIED

    @property
    def ok(self) -> bool:
        return self.verdict == VERIFIED

    @property
    def failed_check(self) -> str | None:
        return next((c.name for c in self.checks if c.status == FAIL), None)

    @property
    def not_checked(self) -> list[str]:
        return [c.name for c in self.checks if c.status == NOT_CHECKED]

    @property
    def checkpoint_size(self) -> int | None:
        return None if self.checkpoint is None else self.checkpoint["size"]

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def add(self, name: str, ok: bool | str, reason: str, reason_zh: str, *,
            required: bool = True, detail: str | None = None) -> bool:
        status = ok if isinstance(ok, str) else PASS if ok else FAIL
        self.checks.append(Check(name, status, _one_line(reason), _one_line(reason_zh),
                                 required, detail))
        return status == PASS

    def fail(self, name: str, reason: str, reason_zh: str, *, detail: str | None = None
             ) -> None:
        self.add(name, FAIL, reason, reason_zh, detail=detail)

    def not_checked_(self, name: str, reason: str, reason_zh: str) -> None:
        self.add(name, NOT_CHECKED, reason, reason_zh)

    def settle(self) -> None:
        """After a failure no summary claims anything (docs/verdict.md section 2)."""
        if self.verdict == FAILED:
            self.preserved_no_later_than = []
            self.webcapture = None
            for f in self.files:
                f.pop("included", None)
            self.checks = [
                Check(c.name, c.status, "the timestamps verify, but no time is claimed: "
                      "another check failed",
                      "时间戳验证通过，但因其他检查未通过，不据此主张任何时间",
                      c.required, c.detail) if c.name == "timestamps" and c.ok else c
                for c in self.checks]

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "ok": self.ok,
            "failed_check": self.failed_check,
            "not_checked": self.not_checked,
            "format": FORMAT,
            "evidence_id": self.evidence_id,
            "provisional": self.provisional,
            "checkpoint": self.checkpoint,
            "submitted_at": self.submitted_at,
            "preserved_no_later_than": self.preserved_no_later_than,
            "purged": self.purged,
            "files": self.files,
            "compared": self.compared,
            "custody": self.custody,
            "metadata": self.metadata,
            "still_in_log": self.still_in_log,
            "tool": self.tool,
            "webcapture": self.webcapture,
            "checks": [c.to_json() for c in self.checks],
        }


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedInput(f"{what} is not UTF-8 JSON") from None


# --- verification -------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustRoots:
    """The older way to say what is trusted (one log key, witness keys and a count, TSA
    PEMs): the command-line shorthand, turned into the trust file it stands for by
    :meth:`policy` (docs/verdict.md section 3, last paragraph)."""

    log_key: Verifier
    witness_keys: Sequence[Verifier] = ()
    witness_quorum: int = 0
    tsa_roots: Sequence[bytes] = ()
    """PEM bytes of the TSA root CAs the court accepts."""
    require_timestamp: bool = True
    """False: no TSA root is pinned, so the timestamps check is not made."""
    capture_nodes: Sequence[Verifier] = ()
    """Capture-node keys whose signed capture manifests are accepted."""

    def policy(self) -> TrustPolicy:
        return with_capture_nodes(
            policy_from_pins([self.log_key], self.witness_keys, self.witness_quorum,
                             self.tsa_roots if self.require_timestamp else ()),
            self.capture_nodes)


def with_capture_nodes(policy: TrustPolicy, keys: Sequence[Verifier]) -> TrustPolicy:
    """``policy`` plus ``#@ capture-node`` lines for ``keys`` (the shorthand
    ``--capture-node VKEY``), read back through the trust-file parser so that the
    shorthand gets the file's checks (a key pinned twice, or also as the log key, is a
    :class:`~evidence.verify.trust.TrustFileError`). Each node is named by its key's name,
    as ``evidence trust export`` names it; a repeated name gets ``-2``, ``-3``..."""
    if not keys:
        return policy
    nodes = list(policy.capture_nodes)
    for v in keys:
        name, k = v.name, 1
        while any(n.name == name for n in nodes):
            k += 1
            name = f"{v.name}-{k}"
        nodes.append(CaptureNode(name, v))
    return parse_trust(replace(policy, capture_nodes=tuple(nodes), raw=None)
                       .to_text().encode())


@dataclass(frozen=True)
class NewerCheckpoint:
    """A checkpoint newer than the bundle's (from the log's public URL or a file) and
    the consistency proof from the bundle's checkpoint to it, in the JSON shape of
    ``evidence log proof consistency --json``. Neither is trusted: the note must be
    signed by the pinned log key and the proof must hold between the two roots."""

    note: bytes
    consistency: Any
    source: str = "file"


def verify_bundle(source: str | IO[bytes], trust: TrustPolicy | TrustRoots, *,
                  limits: Limits = DEFAULT_LIMITS, newer: NewerCheckpoint | None = None,
                  compare: Sequence[tuple[str, str]] | None = None,
                  store_roots: Sequence[bytes] | None = None,
                  progress: Callable[[int], None] | None = None) -> BundleReport:
    """Check a bundle against a trust policy; never raises for a bad bundle, reports it.

    ``compare``: the judge's own files as (name, SHA-256 hex), each of which must be one
    of the preserved files (the ``compared_files`` check). ``store_roots``: PEM bytes of
    the root store the policy's ``#@ tsa-store mozilla`` stands for (default: the
    ``certifi`` package's, when installed; none otherwise)."""
    policy = trust.policy() if isinstance(trust, TrustRoots) else trust
    if policy.tsa_store_mozilla and store_roots is None:
        store_roots = mozilla_roots()
    report = BundleReport()
    try:
        reader = BundleReader(source, limits)
    except BundleError as e:
        report.fail("archive", str(e), e.zh)
        return report
    with reader:
        try:
            _verify(reader, policy, store_roots or (), report, newer, compare, progress)
        except BundleError as e:
            report.fail(report.running, str(e), e.zh)
        except (VerificationError, MalformedInput, KeyError, TypeError, ValueError,
                AttributeError, IndexError) as e:
            # A structural surprise after the archive checks: report, never crash.
            report.fail(report.running, f"bundle is malformed: {e}",
                        "证据包格式错误（详见英文说明）", detail=repr(e))
        except Exception as e:  # fail closed; tests require that this never happens
            report.fail(report.running, f"{UNEXPECTED} ({type(e).__name__}); the bundle is "
                        "not accepted", f"意外错误（{type(e).__name__}）；证据包不予接受",
                        detail=repr(e))
    report.settle()
    return report


def _verify(reader: BundleReader, policy: TrustPolicy, store: Sequence[bytes],
            report: BundleReport, newer: NewerCheckpoint | None,
            compare: Sequence[tuple[str, str]] | None,
            progress: Callable[[int], None] | None = None) -> None:
    report.add("archive", True, "archive structure is safe and within limits",
               "归档结构安全，且未超出限制")

    report.running = "manifest"
    manifest, digests = _check_manifest(reader, report, progress)
    if manifest is None:
        return
    report.provisional = manifest.get("provisional") is True
    if TOOL in digests:
        report.tool = {"name": TOOL, "sha256": digests[TOOL],
                       "size": reader.infos[TOOL].file_size}

    report.running = "checkpoint"
    cp = _check_checkpoint(reader, policy, report)
    if cp is None:
        return

    report.running = "entries"
    entries = _check_entries(reader, cp, report)
    if entries is None:
        return

    report.running = "submission"
    evidence_id = manifest.get("evidence_id")
    submission = _check_submission(entries, evidence_id, report)
    if submission is None:
        return
    report.running = "submitter"
    _check_submitter(submission, report)
    report.running = "custody"
    _check_custody(entries, submission, report)
    report.running = "files"
    carried = _check_files(submission, digests, report)
    if carried and submission.body.get("kind") == WEBCAPTURE:
        report.running = WEBCAPTURE
        _check_webcapture(reader, submission, policy, report)
    report.running = "metadata"
    _check_metadata(reader, submission, report)
    report.running = "timestamps"
    _check_timestamps(reader, manifest, cp, policy, store, report)
    if report.webcapture is not None:
        report.webcapture["clock_offset_seconds"] = _clock_offset(report)
    if newer is not None:
        report.running = "still_in_log"
        _check_still_in_log(newer, cp, policy, report)
    if compare is not None:
        report.running = "compared_files"
        _check_compared(compare, report)


def _check_manifest(reader: BundleReader, report: BundleReport,
                    progress: Callable[[int], None] | None
                    ) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The manifest lists every member with its SHA-256 and size; every member is
    hashed here, once (files streamed)."""
    manifest = _json(reader.read(MANIFEST), MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        fmt = manifest.get("format") if isinstance(manifest, dict) else None
        report.fail("manifest", f"manifest format is {str(fmt)[:40]!r}, not {FORMAT} "
                    "(a newer verifier may read it)",
                    f"清单格式为 {str(fmt)[:40]!r}，不是 {FORMAT}（可能需要更新的验证程序）")
        return None, {}
    members = manifest.get("members")
    if not isinstance(members, dict):
        report.fail("manifest", "manifest has no member list", "清单缺少成员列表")
        return None, {}
    present = set(reader.infos) - {MANIFEST}
    listed = set(members)
    if present != listed:
        missing, extra = sorted(listed - present), sorted(present - listed)
        report.fail("manifest", f"members missing {missing[:5]}, unlisted {extra[:5]}",
                    f"缺少成员 {missing[:5]}，或存在未列出的成员 {extra[:5]}")
        return None, {}
    digests: dict[str, str] = {}
    bad = []
    for name in sorted(listed):
        want = members[name]
        got_hex, got_size = reader.digest(name, progress if name.startswith("files/") else None)
        digests[name] = got_hex
        if (not isinstance(want, dict) or want.get("sha256") != got_hex
                or type(want.get("size")) is not int or want["size"] != got_size):
            bad.append(name)
    if bad:
        report.fail("manifest", f"members differ from the manifest's SHA-256 or size: {bad[:5]}",
                    f"成员与清单中的 SHA-256 或大小不符：{bad[:5]}")
        return None, {}
    report.add("manifest", True, f"all {len(listed)} members match the manifest's SHA-256 "
               "and size", f"全部 {len(listed)} 个成员与清单中的 SHA-256 和大小一致")
    return manifest, digests


def _check_checkpoint(reader: BundleReader, policy: TrustPolicy, report: BundleReport
                      ) -> VerifiedCheckpoint | None:
    """Signed by the pinned log key whose key name is the checkpoint's origin; then the
    witnesses of the policy's quorum (docs/verdict.md section 3)."""
    note = reader.read(CHECKPOINT)
    pinned = ", ".join(lg.verifier.name for lg in policy.logs)
    try:
        origin = parse_checkpoint(parse_note(note).text).origin
    except (VerificationError, MalformedInput) as e:
        report.fail("checkpoint", f"the checkpoint is not a valid signed checkpoint: {e}",
                    "检查点不是有效的已签名检查点", detail=str(e))
        return None
    log_key = policy.log_for_origin(origin)
    if log_key is None:
        report.fail("checkpoint", f"the checkpoint is of the log {origin[:100]!r}, which the "
                    f"trust policy does not pin (pinned: {pinned[:150]})",
                    f"检查点属于日志 {origin[:100]!r}，而信任策略未固定该日志"
                    f"（已固定：{pinned[:150]}）")
        return None
    try:
        cp = verify_checkpoint(note, log_key, witness_keys=policy.witness_verifiers)
    except (VerificationError, MalformedInput) as e:
        report.fail("checkpoint", f"checkpoint not verified with the pinned log key "
                    f"{log_key.name}: {e}",
                    f"检查点未能用固定的日志公钥 {log_key.name} 验证", detail=str(e))
        return None
    c = cp.checkpoint
    report.checkpoint = {"origin": c.origin, "size": c.size, "root": c.root.hex(),
                         "cosigned_by": [{"name": s.name, "cosigned_at": s.cosigned_at}
                                         for s in cp.cosignatures]}
    report.add("checkpoint", True, f"checkpoint of size {c.size} is signed by the "
               f"pinned log key {log_key.name}",
               f"大小为 {c.size} 的检查点由固定的日志公钥 {log_key.name} 签名")
    witnessed = sorted(policy.witness_names(cp.cosignatures))
    names = ", ".join(witnessed) or "none"
    if not policy.witnesses:
        report.not_checked_("cosignatures", "no witness key is pinned: who else saw this "
                            "checkpoint is not checked",
                            "未固定任何见证方公钥：未核验是否有其他方见证该检查点")
    elif policy.quorum is None:
        report.not_checked_("cosignatures", f"the trust policy's quorum is none: cosignatures "
                            f"are not required ({len(witnessed)} pinned witness(es) cosigned: "
                            f"{names})", f"信任策略的法定数为 none：不要求联署（{len(witnessed)} "
                            f"个固定见证方已联署：{names}）")
    elif policy.satisfied(cp.cosignatures):
        report.add("cosignatures", True, f"the witness quorum ({policy.describe_quorum()}) is "
                   f"met: valid cosignatures by {names}",
                   f"见证法定数（{policy.describe_quorum(zh=True)}）已满足：{names} 的联署有效")
    else:
        report.fail("cosignatures", f"the witness quorum ({policy.describe_quorum()}) is not "
                    f"met: valid cosignatures only by {names}",
                    f"见证法定数（{policy.describe_quorum(zh=True)}）未满足："
                    f"仅有 {names} 的有效联署")
    return cp


def _check_entries(reader: BundleReader, cp: VerifiedCheckpoint, report: BundleReport
                   ) -> dict[int, Entry] | None:
    size, root = cp.checkpoint.size, cp.checkpoint.root
    entries: dict[int, Entry] = {}
    proofs: dict[int, Any] = {}
    for name in reader.infos:
        if name.startswith("entries/"):
            seq = int(name[len("entries/"):-len(".entry")])
            try:
                e = parse_entry(reader.read(name))
            except VerificationError as err:
                report.fail("entries", f"{name}: {err}", f"{name}：记录格式错误（详见英文说明）")
                return None
            if e.seq != seq:
                report.fail("entries", f"{name} holds entry {e.seq}",
                            f"{name} 中的记录序号为 {e.seq}")
                return None
            entries[seq] = e
        elif name.startswith("proofs/"):
            proofs[int(name[len("proofs/"):-len(".json")])] = _json(reader.read(name), name)
    if not entries:
        report.fail("entries", "the bundle holds no entries", "证据包中没有任何记录")
        return None
    report.add("entries", True, f"{len(entries)} entries parse as canonical ledger entries, "
               "each at its own number", f"{len(entries)} 条记录均为规范的账本记录，序号与位置一致")

    def included(index: int, leaf: bytes) -> str | None:
        p = proofs.get(index)
        if not isinstance(p, dict):
            return f"no inclusion proof for leaf {index}"
        if type(p.get("index")) is not int or p["index"] != index:
            return f"proofs/{index}.json is a proof for leaf {str(p.get('index'))[:20]}"
        if type(p.get("tree_size")) is not int or p["tree_size"] != size:
            return f"the proof for leaf {index} is not to the bundle's checkpoint (size {size})"
        if p.get("leaf_hash") != leaf.hex():
            return f"the proof for leaf {index} is for another leaf"
        hashes = p.get("proof")
        if not isinstance(hashes, list):
            return f"the proof for leaf {index} has no list of hashes"
        try:
            merkle.verify_inclusion(index, size, leaf,
                                    [hash_from_hex(h, "proof hash") for h in hashes], root)
        except (VerificationError, MalformedInput) as err:
            return f"leaf {index}: {err}"
        return None

    for seq, e in sorted(entries.items()):
        if err := included(seq, e.leaf_hash):
            report.fail("inclusion", err,
                        "包含证明未通过：记录不在检查点的默克尔树中（详见英文说明）")
            return None
    report.add("inclusion", True, f"all {len(entries)} entries are in the tree of the "
               f"checkpoint (RFC 9162 inclusion proofs)",
               f"全部 {len(entries)} 条记录均包含在检查点的默克尔树中（RFC 9162 包含证明）")
    # chain links: each entry's prev is the leaf just before it, proven in the same tree
    for seq, e in sorted(entries.items()):
        if seq == 0:
            err = None if e.prev == "0" * 64 else "entry 0 must have a zero prev"
        else:
            err = included(seq - 1, bytes.fromhex(e.prev))
        if err:
            report.fail("chain", f"entry {seq}'s prev link: {err}",
                        f"第 {seq} 条记录的前序链接未通过验证（详见英文说明）")
            return None
    report.add("chain", True, "each entry's prev hash is the leaf before it in the same tree",
               "每条记录的前序哈希均为同一棵树中前一个叶子")
    return entries


def _check_submission(entries: Mapping[int, Entry], evidence_id: Any, report: BundleReport
                      ) -> Entry | None:
    sub = [e for e in entries.values()
           if e.type == SUBMITTED and e.body.get("evidence_id") == evidence_id]
    if not isinstance(evidence_id, str) or len(sub) != 1:
        report.fail("submission", f"the bundle holds {len(sub)} submission entries for "
                    f"{str(evidence_id)[:80]!r}, not exactly one",
                    f"证据包中 {str(evidence_id)[:80]!r} 的提交记录有 {len(sub)} 条，而非恰好一条")
        return None
    s = sub[0]
    report.evidence_id = evidence_id
    report.submitted_at = s.time
    report.add("submission", True, f"evidence {evidence_id} was submitted as entry {s.seq} "
               f"at {s.time} (log time)",
               f"证据 {evidence_id} 于 {s.time}（日志时间）作为第 {s.seq} 条记录提交")
    return s


def _check_submitter(submission: Entry, report: BundleReport) -> None:
    try:
        who = verify_submission(submission.body)
    except (VerificationError, MalformedInput) as e:
        report.fail("submitter", f"the submitter's signature does not verify: {e}",
                    "提交方签名验证失败（详见英文说明）")
        return
    if who is None:
        report.add("submitter", True, "not signed by the submitter (optional)",
                   "提交方未签名（可选）", required=False)
        return
    key = f"{who.name}+{who.key_id:08x}"
    report.add("submitter", True, f"signed by the submitter's own key {key} (the key named "
               "in the entry; compare it with the key the submitter published)",
               f"由提交方自己的密钥 {key} 签名（该密钥见于记录中；请与提交方公布的密钥比对）")


def _check_custody(entries: Mapping[int, Entry], submission: Entry,
                   report: BundleReport) -> None:
    evidence_id = report.evidence_id
    ordered = sorted(entries.values(), key=lambda e: e.seq)
    custody = [e for e in ordered if e is not submission]
    strangers = [e.seq for e in custody if e.body.get("evidence_id") != evidence_id]
    early = [e.seq for e in custody if e.seq < submission.seq]
    backwards = [b.seq for a, b in itertools.pairwise(ordered) if b.time < a.time]
    report.purged = any(e.type == PURGED for e in custody)
    report.custody = [{"seq": e.seq, "time": e.time, "type": e.type,
                       **{k: e.body[k] for k in ("principal", "action", "reason", "grantee",
                                                 "text") if k in e.body}} for e in ordered]
    if strangers:
        report.fail("custody", f"entries {strangers[:5]} are about another evidence item",
                    f"记录 {strangers[:5]} 属于其他证据")
    elif early:
        report.fail("custody", f"entries {early[:5]} come before the submission",
                    f"记录 {early[:5]} 早于提交记录")
    elif backwards:
        report.fail("custody", f"entries {backwards[:5]} have an earlier time than the entry "
                    "before them", f"记录 {backwards[:5]} 的时间早于其前一条记录")
    elif (broken := _broken_custody_link(ordered)) is not None:
        report.fail("custody", *broken)
    else:
        report.add("custody", True, f"{len(custody)} custody entries, all about this item and "
                   "after its submission, in time order",
                   f"{len(custody)} 条保管记录，均关于本证据、在提交之后且按时间排列")


def _broken_custody_link(ordered: Sequence[Entry]) -> tuple[str, str] | None:
    """docs/formats.md "Custody links": an entry's ``prev_custody`` is the leaf hash of the
    entry just before it among the bundle's entries about the item, so a custody entry
    dropped from the middle of a bundle breaks the next one's link. Entries written before
    links existed carry none and are not linked. (English, Chinese) reason, or None."""
    leaves = {e.leaf_hash.hex(): e.seq for e in ordered}
    for i, e in enumerate(ordered):
        if "prev_custody" not in e.body:
            continue
        link = e.body["prev_custody"]
        before = ordered[i - 1] if i else None
        if before is not None and isinstance(link, str) and link == before.leaf_hash.hex():
            continue
        if not isinstance(link, str) or not re.fullmatch(r"[0-9a-f]{64}", link):
            return (f"entry {e.seq} has a custody link that is not a hex leaf hash",
                    f"记录 {e.seq} 的保管链接不是十六进制叶哈希")
        if link in leaves:
            return (f"entry {e.seq} links to entry {leaves[link]}, not to the entry just before "
                    "it about this item", f"记录 {e.seq} 链接到记录 {leaves[link]}，"
                    "而非本证据紧邻其前的记录")
        return (f"entry {e.seq} links to a custody entry that is not in the bundle: a custody "
                "entry was removed", f"记录 {e.seq} 链接到证据包中没有的保管记录："
                "有保管记录被删除")
    return None


def _check_files(submission: Entry, digests: Mapping[str, str], report: BundleReport) -> bool:
    """True when the bundle carries the item's files and they are the preserved ones
    (the check passed, not only because the item was purged)."""
    declared = submission.body.get("files")
    if not isinstance(declared, list) or not declared or not all(
            isinstance(f, dict) and isinstance(f.get("sha256"), str) for f in declared):
        report.fail("files", "the submission entry lists no files", "提交记录未列出任何文件")
        return False
    report.files = [{k: f.get(k) for k in ("name", "media_type", "size", "sha256")}
                    for f in declared]
    present = {name[len("files/"):] for name in digests if name.startswith("files/")}
    wanted = {f["sha256"] for f in declared}
    for f in report.files:
        f["included"] = f["sha256"] in present
    if report.purged and not present:
        report.add("files", True, "the item was purged: the bundle carries no files; the "
                   "entry still proves their SHA-256 and sizes",
                   "该证据已被清除：证据包不含文件；记录仍证明其 SHA-256 与大小",
                   required=False)
        return False
    missing, extra = sorted(wanted - present), sorted(present - wanted)
    if missing or extra:
        report.fail("files", f"files missing {missing[:3]}, extra {extra[:3]}",
                    f"缺少文件 {missing[:3]}，或多出文件 {extra[:3]}")
        return False
    # the member named files/<h> hashes to h (manifest check) and was hashed here
    for f in declared:
        got = digests[f"files/{f['sha256']}"]
        if got != f["sha256"]:
            report.fail("files", f"file {str(f.get('name'))!r} is not the preserved one",
                        f"文件 {str(f.get('name'))!r} 不是保全时的文件")
            return False
    return report.add("files", True, f"all {len(declared)} files are byte for byte the "
                      "preserved ones (SHA-256 in the submission entry)",
                      f"全部 {len(declared)} 个文件与保全时逐字节一致"
                      "（与提交记录中的 SHA-256 相同）")


def _check_webcapture(reader: BundleReader, submission: Entry, policy: TrustPolicy,
                      report: BundleReport) -> None:
    """docs/verdict.md section 6: the item's files by the names in its submission entry,
    checked by :func:`evidence.verify.webcapture.verify_webcapture` against the pinned
    capture nodes. Runs only after ``files`` passed, so each ``files/<sha256>`` member is
    present and hashes to its name. The files are read whole (the WACZ's WARC records
    are checked from memory); memory is the item's size, each file bounded by the
    reader's limits."""
    by_name: dict[str, bytes] = {}
    by_hash: dict[str, bytes] = {}
    for f in submission.body["files"]:
        name, digest = f.get("name"), f["sha256"]
        if not isinstance(name, str):
            report.fail(WEBCAPTURE, "the submission entry lists a file without a name",
                        "提交记录中有文件没有名称")
            return
        if name in by_name:
            report.fail(WEBCAPTURE, f"two files named {name[:100]!r}: which one the capture "
                        "manifest means cannot be told", f"有两个文件同名 {name[:100]!r}："
                        "无法确定采集清单所指的是哪一个")
            return
        if digest not in by_hash:  # two names, one content: one member, read once
            by_hash[digest] = reader.read_file(f"files/{digest}")
        by_name[name] = by_hash[digest]
    nodes = policy.capture_nodes
    result = verify_webcapture(by_name, [n.verifier for n in nodes])
    report.add(WEBCAPTURE, result.status, result.reason, result.reason_zh)
    if result.status == FAIL:
        return
    got = result.summary
    node_name = next((n.name for n in nodes if result.status == PASS
                      and n.verifier.to_string() == got.get("node")), None)
    report.webcapture = {
        **{k: got.get(k) for k in ("url", "final_url", "http_status", "title", "server_ip",
                                   "tls_subject", "tls_issuer", "started_at", "ended_at",
                                   "node")},
        "node_name": node_name, "labels": got.get("labels") or [],
        "clock_offset_seconds": None,  # from the earliest verified token, once known
        "screenshot": got.get("screenshot")}


def _clock_offset(report: BundleReport) -> float | None:
    """The capture node's clock against the TSA's (docs/evidence-kinds.md, "The node's
    clock offset"): genTime of the earliest verified token minus the manifest's
    ``ended_at``, in seconds; None unless ``timestamps`` passed and ``ended_at`` is a
    time with its zone. Negative: the node's clock was ahead by at least that much."""
    check = report.check("timestamps")
    first = earliest(report)
    ended = (report.webcapture or {}).get("ended_at")
    if (check is None or not check.ok or first is None or not isinstance(ended, str)
            or not _RFC3339.match(ended)):
        return None
    try:
        end = datetime.fromisoformat(ended.upper())
    except ValueError:  # 25:00, February 30th
        return None
    return (first - end).total_seconds()


_RFC3339 = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}"
                      r"(\.[0-9]{1,6})?([Zz]|[+-][0-9]{2}:[0-9]{2})\Z")
"""A time as the capture writes ``ended_at`` (RFC 3339 with a zone, at most microseconds):
anything else gives no offset rather than a guess."""


def _check_metadata(reader: BundleReader, submission: Entry, report: BundleReport) -> None:
    commitment = submission.body.get("metadata_commitment")
    if METADATA not in reader.infos:
        if report.purged:
            report.add("metadata", True, "metadata not included: the item was purged (the "
                       "commitment stays in the ledger)", "未包含元数据：该证据已被清除"
                       "（承诺值仍在账本中）", required=False)
        else:
            report.fail("metadata", "metadata and salt are missing", "缺少元数据与盐值")
        return
    opened = _json(reader.read(METADATA), METADATA)
    try:
        if not isinstance(opened, dict) or set(opened) != {"metadata", "salt"}:
            raise MalformedInput('metadata.json must be {"metadata": {...}, "salt": "<hex>"}')
        if not isinstance(opened["metadata"], dict) or not isinstance(opened["salt"], str):
            raise MalformedInput("metadata must be an object and salt a hex string")
        verify_commitment(str(commitment), bytes.fromhex(opened["salt"]), opened["metadata"])
    except (VerificationError, MalformedInput, TypeError, ValueError) as e:
        report.fail("metadata", f"the metadata and salt do not open the commitment: {e}",
                    "元数据与盐值无法打开承诺值（详见英文说明）")
        return
    report.metadata = opened["metadata"]
    report.add("metadata", True, "the metadata and salt open the commitment in the entry",
               "元数据与盐值可打开记录中的承诺值")


_TOKEN_FAILURES: tuple[tuple[type[TimestampError], str, str], ...] = (
    (ImprintMismatch, "it time-stamps other data than this checkpoint",
     "它所证明的不是本检查点的数据"),
    (TimestampSignatureInvalid, "its signature does not verify: the token was altered",
     "其签名验证失败：时间戳已被篡改"),
    (MissingTimestampingEKU, "its signer certificate may not sign time-stamps (no critical "
     "timeStamping key usage)", "其签名证书无权签发时间戳（缺少关键的时间戳用途扩展）"),
    (TsaCertificateExpired, "the TSA certificate was not valid at the time it states",
     "时间戳机构证书在其声明的时间无效"),
    (UntrustedTimestampChain, "its certificate chain does not verify to the pinned root",
     "其证书链无法验证至固定的根证书"),
    (MalformedTimestamp, "it is damaged or not a valid RFC 3161 token",
     "它已损坏或不是有效的 RFC 3161 时间戳"),
)


def _token_failure(e: TimestampError) -> tuple[str, str]:
    for cls, en, zh in _TOKEN_FAILURES:
        if isinstance(e, cls):
            return en, zh
    return "it does not verify", "验证未通过"


@dataclass(frozen=True)
class _Root:
    cert: x509.Certificate
    pem: bytes
    label: str


def _roots(policy: TrustPolicy, store: Sequence[bytes]) -> list[_Root]:
    out = [_Root(t.certificate, t.pem, t.name) for t in policy.tsas]
    for pem in store:
        for block in _PEM_BLOCK.findall(pem):
            with warnings.catch_warnings():  # a few store roots have non-positive serials
                warnings.simplefilter("ignore")
                try:
                    c = x509.load_pem_x509_certificate(block)
                except ValueError:  # one root this cryptography cannot read: not trusted
                    continue
            out.append(_Root(c, c.public_bytes(Encoding.PEM), "Mozilla root store"))
    return out


_PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.+?-----END CERTIFICATE-----",
                        re.S)


def _chain_ends(token: bytes) -> tuple[list[x509.Name], str] | None:
    """Where the token's certificate chain must be anchored, read structurally (nothing
    verified yet): the issuers its certificates name but do not carry, and the subjects
    of the self-signed ones it carries; with the signer's name for the reasons. None if
    the token carries no readable certificate."""
    try:
        certs = [x509.load_der_x509_certificate(d) for d in token_certificates(token)]
        subjects = [c.subject for c in certs]
        issuers = [c.issuer for c in certs]
        for c in certs:
            c.subject.rfc4514_string()
    except Exception:  # hostile bytes: whatever cryptography raises, the token is damaged
        return None
    if not certs:
        return None
    ends = [c.issuer for c in certs if c.issuer not in subjects or c.issuer == c.subject]
    leaves = [c for c in certs if c.subject not in issuers or c.issuer == c.subject]
    signer = leaves[0] if leaves else certs[0]
    return ends, signer.subject.rfc4514_string() or "an unnamed TSA"


def _check_timestamps(reader: BundleReader, manifest: Mapping[str, Any], cp: VerifiedCheckpoint,
                      policy: TrustPolicy, store: Sequence[bytes], report: BundleReport) -> None:
    """docs/verdict.md section 1, in its three steps: (1) integrity, whatever TSA made the
    token: a damaged or altered token, or one over other data, fails even beside a good
    one; (2) anchor: a token whose chain does not end at a pinned root is skipped (the
    court may trust only some TSAs), named in the reason; (3) chain rules, for a chain that
    ends at a pinned root (rfc3161-client's strict verification: signatures, validity at
    genTime, CA constraints, the timeStamping EKU): any failure fails."""
    if report.provisional:
        report.not_checked_("timestamps", "provisional bundle: the checkpoint had no RFC 3161 "
                            "timestamp yet, so the time is not proven (any token is ignored)",
                            "临时证据包：检查点尚无 RFC 3161 时间戳，时间未被证明"
                            "（其中的时间戳一概不予采用）")
        return
    listed = manifest.get("timestamps")
    if not listed:
        report.fail("timestamps", "the bundle carries no RFC 3161 timestamp and is not marked "
                    "provisional", "证据包未包含 RFC 3161 时间戳，且未标明为临时证据包")
        return
    if not isinstance(listed, list):
        raise MalformedInput("manifest timestamps must be a list")
    roots = _roots(policy, store)
    if not roots:
        report.not_checked_("timestamps", "no TSA root certificate is pinned (trust file "
                            "'#@ tsa' line, or --tsa-ca): the time is not proven",
                            "未固定任何时间戳机构根证书（信任文件的 '#@ tsa' 行或 --tsa-ca）："
                            "时间未被证明")
        return
    text = cp.note.text.encode()
    verdicts: list[tuple[TimestampVerdict, str]] = []
    untrusted: list[str] = []
    bad: list[tuple[str, str, str, str]] = []
    for i, t in enumerate(listed):
        where = t.get("token") if isinstance(t, dict) else None
        if not isinstance(where, str) or not where.endswith(".tst") or where not in reader.infos:
            bad.append((f"timestamp {i}", "the manifest names no token member",
                        "清单未指明时间戳成员", ""))
            continue
        token = reader.read(where)
        try:  # step 1, whatever TSA made it: a damaged token is tampering
            verify_token_integrity(token, text)
        except TimestampError as e:
            en, zh = _token_failure(e)
            bad.append((where, en, zh, str(e)))
            continue
        ends = _chain_ends(token)
        if ends is None:
            bad.append((where, "it is damaged or carries no certificate",
                        "它已损坏或未携带证书", ""))
            continue
        anchors, label = ends
        usable = [r for r in roots if r.cert.subject in anchors]
        if not usable:
            untrusted.append(label)
            continue
        try:
            v = verify_timestamp(token, text, [r.pem for r in usable])
        except TimestampError as e:
            en, zh = _token_failure(e)
            bad.append((where, en, zh, str(e)))
            continue
        root = next((r.label for r in usable if r.cert.subject.rfc4514_string()
                     == v.signer_issuer or r.cert.subject in anchors), usable[0].label)
        verdicts.append((v, root))
    if bad:
        where, en, zh, _ = bad[0]
        more = f" ({len(bad) - 1} more)" if len(bad) > 1 else ""
        report.fail("timestamps", f"timestamp {where} does not verify: {en}{more}",
                    f"时间戳 {where} 未通过验证：{zh}", detail="; ".join(
                        f"{w}: {d}" for w, _, _, d in bad if d) or None)
        return
    if not verdicts:
        names = "; ".join(sorted(set(untrusted)))[:200]
        report.not_checked_("timestamps", f"none of the bundle's TSAs is one the trust policy "
                            f"pins ({names}): the time is not proven",
                            f"证据包中的时间戳机构均不在信任策略之内（{names}）：时间未被证明")
        return
    for v, root in sorted(verdicts, key=lambda x: x[0].gen_time):
        report.preserved_no_later_than.append(
            {"gen_time": v.gen_time.isoformat(), "tsa": v.tsa_name or v.signer_subject,
             "signer": v.signer_subject, "issuer": v.signer_issuer, "root": root,
             "serial": str(v.serial_number), "policy": v.policy, "verifier": v.verifier})
    first = report.preserved_no_later_than[0]
    skipped = (f"; {len(untrusted)} by TSAs not pinned were not considered"
               if untrusted else "")
    report.add("timestamps", True,
               f"preserved no later than {first['gen_time']} per {first['tsa']} "
               f"({len(verdicts)} of {len(listed)} RFC 3161 timestamps verified against "
               f"pinned roots{skipped})",
               f"据 {first['tsa']}，不晚于 {first['gen_time']} 已保全"
               f"（{len(listed)} 个 RFC 3161 时间戳中 {len(verdicts)} 个经固定根证书验证）")


def _check_still_in_log(newer: NewerCheckpoint, cp: VerifiedCheckpoint, policy: TrustPolicy,
                        report: BundleReport) -> None:
    """The log's newer checkpoint extends the bundle's: nothing was dropped or rewritten."""
    old = cp.checkpoint
    try:
        log_key = policy.log_for_origin(old.origin)
        if log_key is None:  # _check_checkpoint found it: cannot happen
            raise MalformedInput(f"no pinned log key for {old.origin}")
        new = verify_checkpoint(newer.note, log_key)
    except (VerificationError, MalformedInput) as e:
        report.fail("still_in_log", f"the newer checkpoint ({newer.source}) is not signed by "
                    f"the pinned log key: {e}", f"较新的检查点（{newer.source}）未由固定的日志公钥"
                    "签名", detail=str(e))
        return
    n = new.checkpoint
    p = newer.consistency
    try:
        if n.size < old.size:
            raise MalformedInput(f"the newer checkpoint has size {n.size}, smaller than the "
                                 f"bundle's {old.size}")
        if not isinstance(p, dict) or p.get("size1") != old.size or p.get("size2") != n.size:
            raise MalformedInput(f"the consistency proof is not from size {old.size} to "
                                 f"{n.size}")
        if not isinstance(p.get("proof"), list):
            raise MalformedInput("the consistency proof has no list of hashes")
        hashes = [hash_from_hex(h, "proof hash") for h in p["proof"]]
        merkle.verify_consistency(old.size, n.size, old.root, n.root, hashes)
    except (VerificationError, MalformedInput) as e:
        report.fail("still_in_log", f"the log's checkpoint of size {n.size} ({newer.source}) "
                    f"does not extend the bundle's: {e}",
                    f"日志大小为 {n.size} 的检查点（{newer.source}）未延续证据包的检查点",
                    detail=str(e))
        return
    report.still_in_log = {"size": n.size, "root": n.root.hex(), "source": newer.source,
                           "cosigned_by": [s.name for s in new.cosignatures]}
    report.add("still_in_log", True, f"the log's checkpoint of size {n.size} ({newer.source}) "
               f"extends the bundle's checkpoint of size {old.size} (RFC 9162 consistency "
               "proof): the entries are still in the log, unchanged",
               f"日志大小为 {n.size} 的检查点（{newer.source}）延续了证据包中大小为 {old.size} "
               "的检查点（RFC 9162 一致性证明）：记录仍在日志中，未被改动")


def _check_compared(compare: Sequence[tuple[str, str]], report: BundleReport) -> None:
    """The judge's own files against the preserved ones (by the SHA-256 in the signed
    submission entry, so this holds for a purged item too)."""
    by_hash = {f.get("sha256"): f for f in report.files}
    report.compared = []
    for name, digest in compare:
        digest = digest.strip().lower()
        match = by_hash.get(digest)
        report.compared.append({"name": name, "sha256": digest,
                                "matches": None if match is None else match.get("name")})
    misses = [c for c in report.compared if c["matches"] is None]
    if not compare:
        report.fail("compared_files", "no file was given to compare", "未提供需比对的文件")
    elif misses:
        m = misses[0]
        more = f" ({len(misses) - 1} more)" if len(misses) > 1 else ""
        report.fail("compared_files", f"{str(m['name'])[:80]!r} (SHA-256 {m['sha256'][:16]}…) "
                    f"is not one of the preserved files{more}",
                    f"{str(m['name'])[:80]!r}（SHA-256 {m['sha256'][:16]}…）不是本证据保全的文件")
    else:
        names = ", ".join(repr(str(c["matches"]))[:60] for c in report.compared)[:160]
        report.add("compared_files", True, f"{len(compare)} file(s) given are byte for byte "
                   f"the preserved ones ({names})",
                   f"所提供的 {len(compare)} 个文件与保全的文件逐字节一致（{names}）")


# --- "is this file the preserved one?" ---------------------------------------------------


def file_digest(stream: IO[bytes]) -> str:
    h = hashlib.sha256()
    while chunk := stream.read(CHUNK):
        h.update(chunk)
    return h.hexdigest()


def find_file(report: BundleReport, sha256_hex: str) -> dict[str, Any] | None:
    """The preserved file with this SHA-256, if no check of the bundle failed and its
    submission entry lists one (also for a purged item: the entry keeps the hashes). The
    hashes are proven by the log's signature, so an incomplete or provisional bundle
    still answers; what it does not prove is the time."""
    if report.verdict == FAILED:
        return None
    sha256_hex = sha256_hex.strip().lower()
    return next((f for f in report.files if f.get("sha256") == sha256_hex), None)


def earliest(report: BundleReport) -> datetime | None:
    times = [datetime.fromisoformat(t["gen_time"]) for t in report.preserved_no_later_than]
    return min(times) if times else None
