"""The evidence bundle: read it as hostile input, then check every claim it makes.

A bundle is one ZIP file (format ``evidence-bundle/v1``, byte layout in
``docs/bundle.md``) that lets a court answer, offline and trusting only the
keys it pins: are these exactly the preserved files, since when, and who has
handled them? Nothing in the bundle is trusted because it is in the bundle:
the manifest only says where things are; every statement is checked against
the pinned log key, witness keys and TSA roots.

Reading is defensive (:class:`BundleReader`): only known member names (so no
path can leave anywhere: nothing is extracted at all), no symlinks, no
duplicates, no encryption, bounded counts, sizes and compression ratios, and
member bytes are streamed and hashed, never trusted by their headers.

Verification (:func:`verify_bundle`) returns a :class:`BundleReport` of named
:class:`Check` results, each with a reason in English and Chinese; the bundle
is good only if every required check passed.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from evidence.verify import merkle
from evidence.verify.checkpoint import VerifiedCheckpoint, verify_checkpoint
from evidence.verify.commitment import verify_commitment
from evidence.verify.entry import Entry, parse_entry
from evidence.verify.errors import MalformedInput, VerificationError
from evidence.verify.hashing import hash_from_hex, sha256
from evidence.verify.note import Verifier
from evidence.verify.timestamp import TimestampVerdict, verify_timestamp

FORMAT = "evidence-bundle/v1"
MANIFEST = "manifest.json"
CHECKPOINT = "checkpoint/checkpoint.note"
METADATA = "metadata/metadata.json"
CHUNK = 1 << 20

_MEMBER_PATTERNS = (
    re.compile(r"\Amanifest\.json\Z"),
    re.compile(r"\Aentries/(0|[1-9][0-9]{0,15})\.entry\Z"),
    re.compile(r"\Aproofs/(0|[1-9][0-9]{0,15})\.json\Z"),
    re.compile(r"\Acheckpoint/checkpoint\.note\Z"),
    re.compile(r"\Atimestamps/(0|[1-9][0-9]{0,2})\.(tst|chain\.pem)\Z"),
    re.compile(r"\Ametadata/metadata\.json\Z"),
    re.compile(r"\Afiles/[0-9a-f]{64}\Z"),
    re.compile(r"\Areport/report\.(html|txt|pdf)\Z"),
)


class BundleError(VerificationError):
    """The archive cannot be read safely: it is refused before any check."""


@dataclass(frozen=True)
class Limits:
    """Bounds for hostile archives. Evidence files may be large (video); the
    structure members never are."""

    max_members: int = 20_000
    max_file_size: int = 64 << 30
    max_total_size: int = 256 << 30
    max_small_member: int = 16 << 20
    max_ratio: int = 200
    """Largest uncompressed/compressed ratio accepted for members over 1 MiB."""


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    reason: str
    reason_zh: str
    required: bool = True


@dataclass
class BundleReport:
    checks: list[Check] = field(default_factory=list)
    evidence_id: str | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    checkpoint_size: int | None = None
    submitted_at: str | None = None
    preserved_no_later_than: list[dict[str, str]] = field(default_factory=list)
    custody: list[dict[str, Any]] = field(default_factory=list)
    purged: bool = False

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks if c.required)

    def add(self, name: str, ok: bool, reason: str, reason_zh: str, *,
            required: bool = True) -> bool:
        self.checks.append(Check(name, ok, reason, reason_zh, required))
        return ok

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "evidence_id": self.evidence_id,
            "checkpoint_size": self.checkpoint_size,
            "submitted_at": self.submitted_at,
            "preserved_no_later_than": self.preserved_no_later_than,
            "purged": self.purged,
            "files": self.files,
            "custody": self.custody,
            "checks": [c.__dict__ for c in self.checks],
        }


# --- reading -------------------------------------------------------------------------


class BundleReader:
    """A ZIP opened for reading with every structural check done up front."""

    def __init__(self, source: str | IO[bytes], limits: Limits = Limits()) -> None:
        self.limits = limits
        try:
            self._zip = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            raise BundleError(f"not a readable ZIP archive: {e}") from None
        try:
            self.infos = self._check_structure(self._zip.infolist())
        except BundleError:
            self._zip.close()
            raise

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> BundleReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_structure(self, infos: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
        lim = self.limits
        if len(infos) > lim.max_members:
            raise BundleError(f"archive has {len(infos)} members; the limit is {lim.max_members}")
        out: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            name = info.filename
            if not any(p.match(name) for p in _MEMBER_PATTERNS):
                raise BundleError(f"unexpected member {name[:100]!r} (not part of the format; "
                                  "absolute paths, '..' and unknown names are refused)")
            if name in out:
                raise BundleError(f"duplicate member {name!r}")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise BundleError(f"member {name!r} is a symbolic link")
            if info.flag_bits & 0x1:
                raise BundleError(f"member {name!r} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise BundleError(f"member {name!r} uses an unsupported compression method")
            cap = lim.max_file_size if name.startswith("files/") else lim.max_small_member
            if info.file_size > cap:
                raise BundleError(f"member {name!r} declares {info.file_size} bytes; limit {cap}")
            if (info.file_size > 1 << 20 and info.compress_size
                    and info.file_size / info.compress_size > lim.max_ratio):
                raise BundleError(f"member {name!r} expands {info.file_size // info.compress_size}"
                                  f"x (zip bomb?); the limit is {lim.max_ratio}x")
            total += info.file_size
            out[name] = info
        if total > lim.max_total_size:
            raise BundleError(f"archive expands to {total} bytes; limit {lim.max_total_size}")
        if MANIFEST not in out:
            raise BundleError("archive has no manifest.json")
        return out

    def read(self, name: str) -> bytes:
        """A small member, whole. Its size is bounded by the structure check, and
        zipfile stops at the declared size and checks the CRC."""
        info = self.infos.get(name)
        if info is None:
            raise BundleError(f"member {name!r} is missing")
        try:
            with self._zip.open(info) as f:
                data = f.read(self.limits.max_small_member + 1)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
            raise BundleError(f"member {name!r} is damaged: {e}") from None
        if len(data) != info.file_size:
            raise BundleError(f"member {name!r} is not the size its header declares")
        return data

    def digest(self, name: str, progress: Callable[[int], None] | None = None
               ) -> tuple[str, int]:
        """SHA-256 and size of a member, streamed (flat memory for large files)."""
        info = self.infos.get(name)
        if info is None:
            raise BundleError(f"member {name!r} is missing")
        h, n = hashlib.sha256(), 0
        try:
            with self._zip.open(info) as f:
                while chunk := f.read(CHUNK):
                    h.update(chunk)
                    n += len(chunk)
                    if n > info.file_size:
                        raise BundleError(f"member {name!r} is longer than declared")
                    if progress:
                        progress(len(chunk))
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
            raise BundleError(f"member {name!r} is damaged: {e}") from None
        return h.hexdigest(), n

    def open(self, name: str) -> IO[bytes]:
        return self._zip.open(self.infos[name])


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedInput(f"{what} is not UTF-8 JSON") from None


# --- verification -------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustRoots:
    """What the verifier is told to trust. Nothing else is."""

    log_key: Verifier
    witness_keys: Sequence[Verifier] = ()
    witness_quorum: int = 0
    tsa_roots: Sequence[bytes] = ()
    """PEM bytes of the TSA root CAs the court accepts."""
    require_timestamp: bool = True


def verify_bundle(source: str | IO[bytes], trust: TrustRoots, *, limits: Limits = Limits(),
                  progress: Callable[[int], None] | None = None) -> BundleReport:
    """Check a bundle against pinned keys; never raises for a bad bundle, reports it."""
    report = BundleReport()
    try:
        reader = BundleReader(source, limits)
    except BundleError as e:
        report.add("archive", False, str(e), f"归档文件不安全或已损坏：{e}")
        return report
    with reader:
        try:
            _verify(reader, trust, report, progress)
        except (VerificationError, MalformedInput, KeyError, TypeError, ValueError) as e:
            # A structural surprise after the archive checks: report, never crash.
            report.add("bundle", False, f"bundle is malformed: {e}", f"证据包格式错误：{e}")
    return report


def _verify(reader: BundleReader, trust: TrustRoots, report: BundleReport,
            progress: Callable[[int], None] | None) -> None:
    report.add("archive", True, "archive structure is safe and within limits",
               "归档结构安全，且未超出限制")

    # 1. manifest: the list of members and their digests
    manifest = _json(reader.read(MANIFEST), "manifest.json")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        report.add("manifest", False, f"manifest is not {FORMAT}", f"清单不是 {FORMAT} 格式")
        return
    members = manifest.get("members")
    if not isinstance(members, dict):
        report.add("manifest", False, "manifest has no member list", "清单缺少成员列表")
        return
    present = set(reader.infos) - {MANIFEST}
    listed = set(members)
    if present != listed:
        missing, extra = sorted(listed - present), sorted(present - listed)
        report.add("manifest", False, f"members missing {missing[:5]}, unlisted {extra[:5]}",
                   f"缺少成员 {missing[:5]}，或存在未列出的成员 {extra[:5]}")
        return
    digests: dict[str, str] = {}
    bad = []
    for name in sorted(listed):
        want = members[name]
        got_hex, got_size = reader.digest(name, progress if name.startswith("files/") else None)
        digests[name] = got_hex
        if not isinstance(want, dict) or want.get("sha256") != got_hex or want.get(
                "size") != got_size:
            bad.append(name)
    if bad:
        report.add("manifest", False, f"members differ from the manifest: {bad[:5]}",
                   f"成员与清单不符：{bad[:5]}")
        return
    report.add("manifest", True, f"all {len(listed)} members match the manifest's SHA-256",
               f"全部 {len(listed)} 个成员与清单中的 SHA-256 一致")

    # 2. checkpoint: signed by the pinned log key, cosigned by pinned witnesses
    cp = _check_checkpoint(reader, trust, report)
    if cp is None:
        return
    size, root = cp.checkpoint.size, cp.checkpoint.root
    report.checkpoint_size = size

    # 3. entries: each parses and is included in the checkpoint's tree
    entries = _check_entries(reader, size, root, report)
    if entries is None:
        return

    # 4. which item, and its submission
    evidence_id = manifest.get("evidence_id")
    report.evidence_id = evidence_id if isinstance(evidence_id, str) else None
    sub = [e for e in entries.values() if e.type == "evidence.submitted"
           and e.body.get("evidence_id") == evidence_id]
    if len(sub) != 1:
        report.add("submission", False, "the bundle holds no (or several) submission entries "
                   f"for {evidence_id!r}", f"证据包中没有（或有多个）{evidence_id!r} 的提交记录")
        return
    submission = sub[0]
    report.submitted_at = submission.time
    report.add("submission", True, f"evidence {evidence_id} was submitted as entry "
               f"{submission.seq} at {submission.time} (log time)",
               f"证据 {evidence_id} 于 {submission.time}（日志时间）"
               f"作为第 {submission.seq} 条记录提交")
    _check_submitter(submission, report)

    # 5. custody: every other entry is about this item, in order
    custody = [e for e in sorted(entries.values(), key=lambda e: e.seq) if e is not submission]
    strangers = [e.seq for e in custody if e.body.get("evidence_id") != evidence_id]
    later = [e.seq for e in custody if e.seq < submission.seq]
    report.purged = any(e.type == "evidence.purged" for e in custody)
    report.custody = [{"seq": e.seq, "time": e.time, "type": e.type,
                       **{k: e.body[k] for k in ("principal", "action", "reason", "grantee")
                          if k in e.body}} for e in sorted(entries.values(), key=lambda e: e.seq)]
    if strangers or later:
        report.add("custody", False, f"entries {strangers or later} are not custody of this "
                   "item", f"记录 {strangers or later} 不属于本证据的保管链")
    else:
        report.add("custody", True, f"{len(custody)} custody entries, all about this item and "
                   "after its submission", f"{len(custody)} 条保管记录，均关于本证据且在提交之后")

    # 6. files: exactly the preserved bytes
    _check_files(manifest, submission, digests, report)

    # 7. metadata: the salted commitment opens
    _check_metadata(reader, submission, report)

    # 8. timestamps: the checkpoint existed no later than genTime
    _check_timestamps(reader, manifest, cp, trust, report)


def _check_checkpoint(reader: BundleReader, trust: TrustRoots, report: BundleReport
                      ) -> VerifiedCheckpoint | None:
    try:
        cp = verify_checkpoint(reader.read(CHECKPOINT), trust.log_key,
                               witness_keys=trust.witness_keys, quorum=trust.witness_quorum)
    except (VerificationError, MalformedInput) as e:
        report.add("checkpoint", False, f"checkpoint not verified with the pinned log key: {e}",
                   f"检查点未能用固定的日志公钥验证：{e}")
        return None
    report.add("checkpoint", True, f"checkpoint of size {cp.checkpoint.size} is signed by the "
               f"pinned log key {trust.log_key.name}",
               f"大小为 {cp.checkpoint.size} 的检查点由固定的日志公钥 {trust.log_key.name} 签名")
    names = ", ".join(c.name for c in cp.cosignatures) or "none"
    report.add("cosignatures", True, f"{len(cp.cosignatures)} pinned witness cosignature(s) "
               f"({names}); quorum {trust.witness_quorum}",
               f"{len(cp.cosignatures)} 个固定见证方的联署（{names}）；"
               f"法定数 {trust.witness_quorum}",
               required=trust.witness_quorum > 0)
    return cp


def _check_entries(reader: BundleReader, size: int, root: bytes, report: BundleReport
                   ) -> dict[int, Entry] | None:
    entries: dict[int, Entry] = {}
    proofs: dict[int, dict[str, Any]] = {}
    for name in reader.infos:
        if name.startswith("entries/"):
            seq = int(name[len("entries/"):-len(".entry")])
            try:
                e = parse_entry(reader.read(name))
            except VerificationError as err:
                report.add("entries", False, f"{name}: {err}", f"{name}：记录格式错误 {err}")
                return None
            if e.seq != seq:
                report.add("entries", False, f"{name} holds entry {e.seq}",
                           f"{name} 中的记录序号为 {e.seq}")
                return None
            entries[seq] = e
        elif name.startswith("proofs/"):
            proofs[int(name[len("proofs/"):-len(".json")])] = _json(reader.read(name), name)
    if not entries:
        report.add("entries", False, "the bundle holds no entries", "证据包中没有任何记录")
        return None

    def included(index: int, leaf: bytes) -> str | None:
        p = proofs.get(index)
        if not isinstance(p, dict):
            return f"no inclusion proof for leaf {index}"
        try:
            if p.get("index") != index or p.get("tree_size") != size:
                return f"proof for leaf {index} is not to the bundle's checkpoint"
            if p.get("leaf_hash") != leaf.hex():
                return f"proof for leaf {index} is for another leaf"
            hashes = [hash_from_hex(h, "proof hash") for h in p.get("proof", [])]
            merkle.verify_inclusion(index, size, leaf, hashes, root)
        except (VerificationError, MalformedInput, TypeError) as err:
            return f"leaf {index}: {err}"
        return None

    for seq, e in sorted(entries.items()):
        if err := included(seq, e.leaf_hash):
            report.add("inclusion", False, err, f"包含证明失败：{err}")
            return None
    report.add("inclusion", True, f"all {len(entries)} entries are in the tree of the "
               f"checkpoint (RFC 9162 inclusion proofs)",
               f"全部 {len(entries)} 条记录均包含在检查点的默克尔树中（RFC 9162 包含证明）")
    # chain links: each entry's prev is the leaf just before it, proven in the same tree
    for seq, e in sorted(entries.items()):
        if seq == 0:
            ok = e.prev == "0" * 64
            err = None if ok else "entry 0 must have a zero prev"
        else:
            err = included(seq - 1, bytes.fromhex(e.prev))
        if err:
            report.add("chain", False, f"entry {seq}'s prev link: {err}",
                       f"第 {seq} 条记录的前序链接：{err}")
            return None
    report.add("chain", True, "each entry's prev hash is the leaf before it in the same tree",
               "每条记录的前序哈希均为同一棵树中前一个叶子")
    return entries


def _check_submitter(submission: Entry, report: BundleReport) -> None:
    if "submitter" not in submission.body:
        report.add("submitter", True, "not signed by the submitter (optional)",
                   "提交方未签名（可选）", required=False)
        return
    try:
        from evidence.verify.submission import verify_submission

        who = verify_submission(submission.body)
    except (VerificationError, MalformedInput) as e:
        report.add("submitter", False, f"submitter signature does not verify: {e}",
                   f"提交方签名验证失败：{e}")
        return
    report.add("submitter", True, f"signed by the submitter's key {who}",
               f"由提交方密钥 {who} 签名")


def _check_files(manifest: dict[str, Any], submission: Entry, digests: dict[str, str],
                 report: BundleReport) -> None:
    declared = submission.body.get("files")
    if not isinstance(declared, list) or not declared:
        report.add("files", False, "the submission lists no files", "提交记录未列出任何文件")
        return
    report.files = [{k: f.get(k) for k in ("name", "media_type", "size", "sha256")}
                    for f in declared if isinstance(f, dict)]
    present = {name[len("files/"):] for name in digests if name.startswith("files/")}
    wanted = {f.get("sha256") for f in declared if isinstance(f, dict)}
    if report.purged and not present:
        report.add("files", True, "the item was purged; the bundle proves the commitment "
                   "without the files", "该证据已被清除；证据包在不含文件的情况下证明承诺",
                   required=False)
        return
    missing = sorted(h for h in wanted if h not in present)
    extra = sorted(present - wanted)
    if missing or extra:
        report.add("files", False, f"files missing {missing[:3]}, extra {extra[:3]}",
                   f"缺少文件 {missing[:3]}，或多出文件 {extra[:3]}")
        return
    for f in declared:
        got = digests.get(f"files/{f.get('sha256')}")
        info_size = manifest["members"][f"files/{f['sha256']}"]["size"]
        if got != f.get("sha256") or info_size != f.get("size"):
            report.add("files", False, f"file {f.get('name')!r} differs from the submission",
                       f"文件 {f.get('name')!r} 与提交记录不符")
            return
    report.add("files", True, f"all {len(declared)} files are byte for byte the preserved "
               "ones (SHA-256 and size)",
               f"全部 {len(declared)} 个文件与保全时逐字节一致（SHA-256 与大小）")


def _check_metadata(reader: BundleReader, submission: Entry, report: BundleReport) -> None:
    commitment = submission.body.get("metadata_commitment")
    if METADATA not in reader.infos:
        report.add("metadata", report.purged, "metadata not included" + (
            " (purged)" if report.purged else ""), "未包含元数据" + ("（已清除）" if report.purged
                                                              else ""),
                   required=not report.purged)
        return
    opened = _json(reader.read(METADATA), METADATA)
    try:
        salt = bytes.fromhex(opened["salt"])
        verify_commitment(str(commitment), salt, opened["metadata"])
    except (VerificationError, MalformedInput, KeyError, TypeError, ValueError) as e:
        report.add("metadata", False, f"metadata does not open the commitment: {e}",
                   f"元数据无法打开承诺值：{e}")
        return
    report.add("metadata", True, "the metadata and salt open the commitment in the ledger",
               "元数据与盐值可打开账本中的承诺值")


def _check_timestamps(reader: BundleReader, manifest: dict[str, Any], cp: VerifiedCheckpoint,
                      trust: TrustRoots, report: BundleReport) -> None:
    listed = manifest.get("timestamps") or []
    if not listed:
        report.add("timestamps", not trust.require_timestamp,
                   "the bundle carries no RFC 3161 timestamp", "证据包未包含 RFC 3161 时间戳",
                   required=trust.require_timestamp)
        return
    if not trust.tsa_roots:
        report.add("timestamps", not trust.require_timestamp,
                   "no TSA root certificate pinned (--tsa-ca); the time is not proven",
                   "未固定时间戳机构根证书（--tsa-ca）；时间未被证明",
                   required=trust.require_timestamp)
        return
    text = cp.note.text.encode()
    verdicts: list[tuple[str, TimestampVerdict]] = []
    failures: list[str] = []
    for t in listed:
        name = str(t.get("tsa", "?")) if isinstance(t, dict) else "?"
        try:
            token = reader.read(str(t["token"]))
            verdicts.append((name, verify_timestamp(token, text, list(trust.tsa_roots))))
        except (VerificationError, MalformedInput, KeyError, TypeError) as e:
            failures.append(f"{name}: {e}")
    for name, v in verdicts:
        report.preserved_no_later_than.append(
            {"tsa": name, "gen_time": v.gen_time.isoformat(), "signer": v.signer_subject,
             "verifier": v.verifier})
    if not verdicts:
        report.add("timestamps", False, "no timestamp verified: " + "; ".join(failures),
                   "没有时间戳通过验证：" + "；".join(failures), required=trust.require_timestamp)
        return
    first = min(verdicts, key=lambda nv: nv[1].gen_time)
    extra = f"; not verified: {'; '.join(failures)}" if failures else ""
    report.add("timestamps", True,
               f"preserved no later than {first[1].gen_time.isoformat()} per {first[0]} "
               f"({len(verdicts)} of {len(listed)} timestamps verified){extra}",
               f"据 {first[0]}，不晚于 {first[1].gen_time.isoformat()} 已保全"
               f"（{len(listed)} 个时间戳中 {len(verdicts)} 个通过验证）")


# --- "is this file the preserved one?" ---------------------------------------------------


def file_digest(stream: IO[bytes]) -> str:
    h = hashlib.sha256()
    while chunk := stream.read(CHUNK):
        h.update(chunk)
    return h.hexdigest()


def find_file(report: BundleReport, sha256_hex: str) -> dict[str, Any] | None:
    """The preserved file with this SHA-256, if the (verified) bundle lists one."""
    sha256_hex = sha256_hex.lower()
    return next((f for f in report.files if f.get("sha256") == sha256_hex), None)


def earliest(report: BundleReport) -> datetime | None:
    times = [datetime.fromisoformat(t["gen_time"]) for t in report.preserved_no_later_than]
    return min(times) if times else None


def member_digests(names_and_bytes: Iterable[tuple[str, bytes]]) -> dict[str, dict[str, Any]]:
    """Manifest member entries for the exporter: the same rule the reader checks."""
    return {name: {"sha256": sha256(data).hex(), "size": len(data)}
            for name, data in names_and_bytes}
