"""The bundle's claims about one evidence item, checked once the entries are proven.

Each function is one named check of docs/verdict.md section 4 (``submission``,
``submitter``, ``custody``, ``files``, ``webcapture``, ``metadata``): it reads the item's
proven ledger entries (and, for the last two, members of the bundle) and records one
:class:`~evidence.verify.verdict.Check` on the report. :func:`evidence.verify.bundle.verify_bundle`
calls them in that order; each assumes the checks before it passed.

Imports: stdlib and ``evidence.verify`` only.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from evidence.verify.bundle_names import FORMAT_V1, v2_members
from evidence.verify.bundle_reader import METADATA, BundleReader, parse_json
from evidence.verify.commitment import verify_commitment
from evidence.verify.entry import Entry
from evidence.verify.errors import MalformedInput, VerificationError
from evidence.verify.submission import verify_submission
from evidence.verify.trust import TrustPolicy
from evidence.verify.verdict import FAIL, PASS, BundleReport, earliest
from evidence.verify.webcapture import verify_webcapture

__all__ = ["PURGED", "SUBMITTED", "WEBCAPTURE", "check_custody", "check_files",
           "check_metadata", "check_submission", "check_submitter", "check_webcapture",
           "clock_offset", "file_members"]

SUBMITTED = "evidence.submitted"
# the body members a custody list shows (a grant's legal fields: docs/formats.md)
CUSTODY_SHOWN = ("principal", "action", "reason", "grantee", "text", "purpose",
                 "recipient_jurisdiction", "recipient_organisation", "legal_basis",
                 "legal_basis_ref")
PURGED = "evidence.purged"
WEBCAPTURE = "webcapture"


def check_submission(entries: Mapping[int, Entry], evidence_id: Any, report: BundleReport
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


def check_submitter(submission: Entry, report: BundleReport) -> None:
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


def check_custody(entries: Mapping[int, Entry], submission: Entry,
                  report: BundleReport) -> None:
    evidence_id = report.evidence_id
    ordered = sorted(entries.values(), key=lambda e: e.seq)
    custody = [e for e in ordered if e is not submission]
    strangers = [e.seq for e in custody if e.body.get("evidence_id") != evidence_id]
    early = [e.seq for e in custody if e.seq < submission.seq]
    backwards = [b.seq for a, b in itertools.pairwise(ordered) if b.time < a.time]
    report.purged = any(e.type == PURGED for e in custody)
    report.custody = [{"seq": e.seq, "time": e.time, "type": e.type,
                       **{k: e.body[k] for k in CUSTODY_SHOWN if k in e.body}}
                      for e in ordered]
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


def file_members(fmt: str, declared: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """SHA-256 -> the member that must hold it in format ``fmt`` (docs/bundle.md): v1
    ``files/<sha256>``; v2 ``files/<sha256>/<safe name of the first file listed with
    it>``."""
    if fmt == FORMAT_V1:
        return {f["sha256"]: f"files/{f['sha256']}" for f in declared}
    return v2_members((f["sha256"], f.get("name")) for f in declared)


def check_files(fmt: str, submission: Entry, digests: Mapping[str, str],
                report: BundleReport) -> bool:
    """True when the bundle carries the item's files and they are the preserved ones
    (the check passed, not only because the item was purged). Each file must be at the
    member ``fmt`` derives from the entry, which is also what the manifest check hashed;
    any other ``files/`` member (a v2 file renamed) is extra."""
    declared = submission.body.get("files")
    if not isinstance(declared, list) or not declared or not all(
            isinstance(f, dict) and isinstance(f.get("sha256"), str) for f in declared):
        report.fail("files", "the submission entry lists no files", "提交记录未列出任何文件")
        return False
    report.files = [{k: f.get(k) for k in ("name", "media_type", "size", "sha256")}
                    for f in declared]
    expected = file_members(fmt, declared)
    held = {name for name in digests if name.startswith("files/")}
    for f in report.files:
        f["included"] = expected[f["sha256"]] in held
    if report.purged and not held:
        report.add("files", True, "the item was purged: the bundle carries no files; the "
                   "entry still proves their SHA-256 and sizes",
                   "该证据已被清除：证据包不含文件；记录仍证明其 SHA-256 与大小",
                   required=False)
        return False
    missing = sorted(set(expected.values()) - held)
    extra = sorted(held - set(expected.values()))
    # v2: a member in the right folder under another name was renamed
    renamed = next((m for m in missing for x in extra
                    if fmt != FORMAT_V1 and x.startswith(m[:len("files/") + 65])), None)
    if renamed is not None:
        f = next(f for f in declared if expected[f["sha256"]] == renamed)
        report.fail("files", f"file {str(f.get('name'))[:80]!r} is not stored under its "
                    f"name as the entry gives it ({renamed[:160]!r}): the bundle was altered",
                    f"文件 {str(f.get('name'))[:80]!r} 未按记录中的名称保存"
                    f"（{renamed[:160]!r}）：证据包已被改动")
        return False
    if missing or extra:
        report.fail("files", f"files missing {missing[:3]}, extra {extra[:3]}",
                    f"缺少文件 {missing[:3]}，或多出文件 {extra[:3]}")
        return False
    # the member of h hashes to h (manifest check hashed it)
    for f in declared:
        got = digests[expected[f["sha256"]]]
        if got != f["sha256"]:
            report.fail("files", f"file {str(f.get('name'))!r} is not the preserved one",
                        f"文件 {str(f.get('name'))!r} 不是保全时的文件")
            return False
    return report.add("files", True, f"all {len(declared)} files are byte for byte the "
                      "preserved ones (SHA-256 in the submission entry)",
                      f"全部 {len(declared)} 个文件与保全时逐字节一致"
                      "（与提交记录中的 SHA-256 相同）")


def check_webcapture(fmt: str, reader: BundleReader, submission: Entry, policy: TrustPolicy,
                     report: BundleReport) -> None:
    """docs/verdict.md section 6: the item's files by the names in its submission entry,
    checked by :func:`evidence.verify.webcapture.verify_webcapture` against the pinned
    capture nodes. Runs only after ``files`` passed, so each file's member (``fmt``'s
    layout) is present and hashes to its SHA-256. The files are read whole (the WACZ's WARC records
    are checked from memory); memory is the item's size, each file bounded by the
    reader's limits."""
    by_name: dict[str, bytes] = {}
    by_hash: dict[str, bytes] = {}
    members = file_members(fmt, submission.body["files"])
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
            by_hash[digest] = reader.read_file(members[digest])
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


def clock_offset(report: BundleReport) -> float | None:
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


def check_metadata(reader: BundleReader, submission: Entry, report: BundleReport) -> None:
    commitment = submission.body.get("metadata_commitment")
    if METADATA not in reader.infos:
        if report.purged:
            report.add("metadata", True, "metadata not included: the item was purged (the "
                       "commitment stays in the ledger)", "未包含元数据：该证据已被清除"
                       "（承诺值仍在账本中）", required=False)
        else:
            report.fail("metadata", "metadata and salt are missing", "缺少元数据与盐值")
        return
    opened = parse_json(reader.read(METADATA), METADATA)
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
