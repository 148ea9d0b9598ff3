"""The evidence bundle: read it as hostile input, then check every claim it makes.

A bundle is one ZIP file (format ``evidence-bundle/v2`` or ``v1``, byte layout in
``docs/bundle.md``) that lets a court answer, offline and trusting only the
keys it pins: are these exactly the preserved files, since when, and who has
handled them? Nothing in the bundle is trusted because it is in the bundle:
the manifest only says where things are; every statement is checked against
the pinned log key, witness keys and TSA roots.

Reading is defensive and lives in :mod:`evidence.verify.bundle_reader`
(:class:`~evidence.verify.bundle_reader.BundleReader`): the archive is refused
before any check unless its structure is safe and within limits.

Verification (:func:`verify_bundle`) returns a
:class:`~evidence.verify.verdict.BundleReport` of named
:class:`~evidence.verify.verdict.Check` results, each ``pass``, ``fail`` or
``not-checked`` with a one-line reason in English and Chinese, and the top verdict
computed from them alone
(``docs/verdict.md``: failed, provisional, incomplete, verified). What is trusted
is one :class:`~evidence.verify.trust.TrustPolicy` (the court's trust file). It
never raises for a bad bundle.

This module runs the checks in order and makes those about the archive and the log
(``manifest``, ``checkpoint`` and ``cosignatures``, ``entries``, ``inclusion``, ``chain``,
``compared_files``); :mod:`evidence.verify.bundle_item` checks the item's claims,
:mod:`evidence.verify.bundle_time` its timestamps and a newer checkpoint and
:mod:`evidence.verify.bundle_ers` its RFC 4998 evidence record.

Imports: stdlib, ``cryptography`` / ``rfc8785`` / ``rfc3161-client`` (through
``evidence.verify``) and ``evidence.verify`` only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import IO, Any

from evidence.verify import merkle
from evidence.verify.bundle_ers import BUNDLE_MEMBER as ERS_MEMBER
from evidence.verify.bundle_ers import check_evidence_record
from evidence.verify.bundle_item import (
    WEBCAPTURE,
    check_custody,
    check_files,
    check_metadata,
    check_submission,
    check_submitter,
    check_webcapture,
    clock_offset,
)
from evidence.verify.bundle_names import FORMAT_V2, FORMATS
from evidence.verify.bundle_reader import (
    CHECKPOINT,
    CHUNK,
    DEFAULT_LIMITS,
    MANIFEST,
    TOOL,
    BundleError,
    BundleReader,
    Limits,
    layout_error,
    parse_json,
)
from evidence.verify.bundle_time import NewerCheckpoint, check_still_in_log, check_timestamps
from evidence.verify.checkpoint import (
    MissingPostQuantum,
    OutsideWindow,
    VerifiedCheckpoint,
    parse_checkpoint,
    verify_checkpoint_windowed,
)
from evidence.verify.entry import Entry, parse_entry
from evidence.verify.errors import MalformedInput, VerificationError
from evidence.verify.hashing import hash_from_hex
from evidence.verify.note import Verifier, parse_note
from evidence.verify.tlog_proof import BUNDLE_MEMBER as TLOG_PROOF
from evidence.verify.tlog_proof import check_bundle_copy
from evidence.verify.trust import (
    CaptureNode,
    TrustPolicy,
    mozilla_roots,
    parse_trust,
    policy_from_pins,
)
from evidence.verify.verdict import (
    FAIL,
    FAILED,
    INCOMPLETE,
    NOT_CHECKED,
    PASS,
    PROVISIONAL,
    VERIFIED,
    BundleReport,
    Check,
    earliest,
)

__all__ = ["FAIL", "FAILED", "INCOMPLETE", "NOT_CHECKED", "PASS", "PROVISIONAL", "UNEXPECTED",
           "VERIFIED", "BundleReport", "Check", "NewerCheckpoint", "TrustRoots", "earliest",
           "file_digest", "find_file", "verify_bundle", "with_capture_nodes"]

UNEXPECTED = "unexpected error"


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
    submission = check_submission(entries, evidence_id, report)
    if submission is None:
        return
    if TLOG_PROOF in reader.infos:  # docs/bundle.md: the submission's C2SP tlog-proof
        report.running = "tlog_proof"
        c = cp.checkpoint
        report.add("tlog_proof", *check_bundle_copy(reader.read(TLOG_PROOF),
                                                    reader.read(CHECKPOINT), c.size, c.root,
                                                    submission.data))
    report.running = "submitter"
    check_submitter(submission, report)
    report.running = "custody"
    check_custody(entries, submission, report)
    report.running = "files"
    fmt = manifest["format"]
    carried = check_files(fmt, submission, digests, report)
    if carried and submission.body.get("kind") == WEBCAPTURE:
        report.running = WEBCAPTURE
        check_webcapture(fmt, reader, submission, policy, report)
    report.running = "metadata"
    check_metadata(reader, submission, report)
    report.running = "timestamps"
    check_timestamps(reader, manifest, cp, policy, store, report)
    if report.webcapture is not None:
        report.webcapture["clock_offset_seconds"] = clock_offset(report)
    if ERS_MEMBER in reader.infos:  # docs/bundle.md: the item's RFC 4998 evidence record
        report.running = "evidence_record"
        check_evidence_record(reader, fmt, submission, policy, report)
    if newer is not None:
        report.running = "still_in_log"
        check_still_in_log(newer, cp, policy, report)
    if compare is not None:
        report.running = "compared_files"
        _check_compared(compare, report)


def _check_manifest(reader: BundleReader, report: BundleReport,
                    progress: Callable[[int], None] | None
                    ) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """A format this verifier reads; every member of that format's layout (v1 or v2 file
    names, docs/bundle.md); the manifest lists every member with its SHA-256 and size;
    every member is hashed here, once (files streamed)."""
    manifest = parse_json(reader.read(MANIFEST), MANIFEST)
    fmt = manifest.get("format") if isinstance(manifest, dict) else None
    if fmt not in FORMATS:
        report.fail("manifest", f"manifest format is {str(fmt)[:40]!r}, not {FORMAT_V2} or "
                    "v1 (a newer verifier may read it)",
                    f"清单格式为 {str(fmt)[:40]!r}，不是 {FORMAT_V2} 或 v1"
                    "（可能需要更新的验证程序）")
        return None, {}
    report.format = fmt
    for name in sorted(reader.infos):
        if (why := layout_error(fmt, name)) is not None:
            report.fail("manifest", why, f"成员 {name[:100]!r} 不符合 {fmt} 的布局")
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
    mine = policy.logs_for_origin(origin)
    if not mine:
        report.fail("checkpoint", f"the checkpoint is of the log {origin[:100]!r}, which the "
                    f"trust policy does not pin (pinned: {pinned[:150]})",
                    f"检查点属于日志 {origin[:100]!r}，而信任策略未固定该日志"
                    f"（已固定：{pinned[:150]}）")
        return None
    try:
        cp, log_key = verify_checkpoint_windowed(note, [(lg.verifier, lg.window) for lg in mine],
                                                 witness_keys=policy.witness_verifiers)
    except MissingPostQuantum as e:
        report.fail("checkpoint", str(e), e.zh, detail=str(e))
        return None
    except OutsideWindow as e:
        report.fail("checkpoint", str(e), "检查点仅由已轮换或已吊销的日志公钥签名，"
                    "其大小不在该公钥的有效窗口内", detail=str(e))
        return None
    except (VerificationError, MalformedInput) as e:
        report.fail("checkpoint", f"checkpoint not verified with the pinned log key "
                    f"{origin[:100]}: {e}",
                    f"检查点未能用固定的日志公钥 {origin[:100]} 验证", detail=str(e))
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
            proofs[int(name[len("proofs/"):-len(".json")])] = parse_json(reader.read(name), name)
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
