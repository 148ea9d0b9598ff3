"""C2SP tlog-proof@v1: an offline proof file that one entry is in the log.

A ``.tlog-proof`` file (https://c2sp.org/tlog-proof) is, line by line::

    c2sp.org/tlog-proof@v1
    extra <base64 of the exact entry bytes>        (our files always carry it)
    index <seq, ASCII decimal, no leading zeros>
    <base64 of each RFC 9162 inclusion-proof hash, leaf's sibling first>
    <empty line>
    <the checkpoint note, verbatim: the log's signature and the witnesses' cosignatures>

The leaf is ``SHA-256(0x00 || entry bytes)`` (``hashing.leaf_hash``). The spec leaves "the
leaf" to the application and lets ``extra`` carry what a verifier needs to rebuild it; our
files carry the entry itself there, so that a judge holding only the file of the evidence
can check it: the entry is bound by the inclusion proof, and its ``files`` list names the
file's SHA-256. ``extra`` is never trusted by itself.

The trust file (``trust.py``) is the tlog-policy the spec's verifier needs: the checkpoint's
origin must be the key name of a pinned ``log`` key that signed it, and the pinned witnesses
whose cosignatures verify must satisfy its ``quorum``. :func:`check_tlog_proof` makes the
spec's four steps as named checks with the verdict rule of docs/verdict.md section 2, so that
the package, ``scripts/verify_bundle.py`` and the page give one answer (tests/verdicts/).

Imports: stdlib and ``evidence.verify`` only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evidence.verify.checkpoint import (
    MissingPostQuantum,
    OutsideWindow,
    parse_checkpoint,
    verify_checkpoint_windowed,
)
from evidence.verify.entry import parse_entry
from evidence.verify.errors import MalformedInput, VerificationError
from evidence.verify.hashing import HASH_SIZE, Hash32, leaf_hash
from evidence.verify.merkle import MAX_TREE_SIZE, root_from_inclusion_proof
from evidence.verify.note import MAX_NOTE_SIZE, parse_note
from evidence.verify.trust import TrustPolicy
from evidence.verify.verdict import FAIL, FAILED, INCOMPLETE, NOT_CHECKED, PASS, VERIFIED, Check

__all__ = ["HEADER", "MalformedTlogProof", "ProofReport", "TlogProof", "check_tlog_proof",
           "parse_tlog_proof"]

HEADER = "c2sp.org/tlog-proof@v1"
MAX_HASHES = 64
"""An inclusion proof in a tree of at most 2^64 - 1 leaves has at most 64 hashes."""
MAX_EXTRA = 1 << 20
MAX_SIZE = MAX_NOTE_SIZE + 2 * MAX_EXTRA
"""The whole file: a checkpoint note, the base64 of an entry, 64 hash lines."""


class MalformedTlogProof(MalformedInput):
    """The bytes are not a tlog-proof@v1 file as this verifier reads it."""


@dataclass(frozen=True)
class TlogProof:
    index: int
    hashes: tuple[Hash32, ...]
    checkpoint: str
    """The checkpoint note verbatim (body, blank line, signature lines)."""
    extra: bytes | None = None

    def to_text(self) -> str:
        """The file, byte for byte as :func:`parse_tlog_proof` reads it back."""
        lines = [HEADER]
        if self.extra is not None:
            lines.append("extra " + base64.b64encode(self.extra).decode())
        lines.append(f"index {self.index}")
        lines += [base64.b64encode(h).decode() for h in self.hashes]
        text = "\n".join(lines) + "\n\n" + self.checkpoint
        parse_tlog_proof(text.encode())  # refuse to write what we would refuse to read
        return text


def _b64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise MalformedTlogProof(f"{what} is not standard base64") from None
    if base64.b64encode(raw).decode() != text:  # one spelling per value (padding bits zero)
        raise MalformedTlogProof(f"{what} is not canonical base64")
    return raw


def parse_tlog_proof(data: bytes) -> TlogProof:
    """Read a tlog-proof@v1 file strictly; raise :class:`MalformedTlogProof` naming the
    fault. Nothing is verified here but the shape: every line is the one the spec puts
    there, hashes are 32 bytes, and the checkpoint is a signed note of a checkpoint."""
    if not isinstance(data, bytes | bytearray):
        raise MalformedTlogProof("a tlog-proof must be bytes")
    if len(data) > MAX_SIZE:
        raise MalformedTlogProof(f"{len(data)} bytes; the limit is {MAX_SIZE}")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedTlogProof("not valid UTF-8") from None
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise MalformedTlogProof("no empty line before the checkpoint")
    lines = head.split("\n")
    if lines[0] != HEADER:
        raise MalformedTlogProof(f"the first line is not {HEADER}")
    rest = lines[1:]
    extra = None
    if rest and rest[0].startswith("extra "):
        extra = _b64(rest.pop(0)[len("extra "):], "the extra line")
        if not extra or len(extra) > MAX_EXTRA:
            raise MalformedTlogProof("the extra data is empty or larger than 1 MiB")
    if not rest or not rest[0].startswith("index "):
        raise MalformedTlogProof("no 'index <n>' line after the header (and extra)")
    n = rest.pop(0)[len("index "):]
    if not n.isascii() or not n.isdigit() or (len(n) > 1 and n[0] == "0"):
        raise MalformedTlogProof(f"index {n[:30]!r} is not a canonical decimal")
    if len(n) > 20 or int(n) >= MAX_TREE_SIZE:
        raise MalformedTlogProof("index is past any tree size")
    if len(rest) > MAX_HASHES:
        raise MalformedTlogProof(f"{len(rest)} hash lines; at most {MAX_HASHES}")
    hashes = []
    for i, line in enumerate(rest, 1):
        h = _b64(line, f"hash line {i}")
        if len(h) != HASH_SIZE:
            raise MalformedTlogProof(f"hash line {i} is {len(h)} bytes, not {HASH_SIZE}")
        hashes.append(Hash32(h))
    try:
        parse_checkpoint(parse_note(note).text)
    except (VerificationError, MalformedInput) as e:
        raise MalformedTlogProof(f"the checkpoint is not a signed checkpoint note: {e}"
                                 ) from None
    return TlogProof(int(n), tuple(hashes), note, extra)


# --- verification, as named checks -----------------------------------------------------------


@dataclass
class ProofReport:
    """The checks made on one proof file and the verdict from them alone: ``tlog_proof``,
    ``checkpoint``, ``cosignatures``, ``entries``, ``inclusion``, then ``compared_files``
    when the judge's files were given. A check that cannot run because an earlier one
    failed is not reported."""

    checks: list[Check] = field(default_factory=list)
    index: int | None = None
    checkpoint: dict[str, Any] | None = None
    entry: dict[str, Any] | None = None

    @property
    def verdict(self) -> str:
        if not self.checks or any(c.status == FAIL for c in self.checks):
            return FAILED
        return INCOMPLETE if any(c.status == NOT_CHECKED for c in self.checks) else VERIFIED

    @property
    def failed_check(self) -> str | None:
        return next((c.name for c in self.checks if c.status == FAIL), None)

    @property
    def not_checked(self) -> list[str]:
        return [c.name for c in self.checks if c.status == NOT_CHECKED]

    def add(self, name: str, status: str, reason: str, reason_zh: str) -> bool:
        self.checks.append(Check(name, status, reason[:300], reason_zh[:300]))
        return status == PASS

    def to_json(self) -> dict[str, Any]:
        failed = self.verdict == FAILED
        return {"verdict": self.verdict, "ok": self.verdict == VERIFIED,
                "failed_check": self.failed_check, "not_checked": self.not_checked,
                "format": HEADER, "index": self.index,
                "checkpoint": None if failed else self.checkpoint,
                "entry": None if failed else self.entry,
                "checks": [c.to_json() for c in self.checks]}


def check_tlog_proof(data: bytes, policy: TrustPolicy, *, entry: bytes | None = None,
                     files: Sequence[bytes] = ()) -> ProofReport:
    """The spec's verification of one proof file, as named checks (never raises on bad
    input). ``entry``: the entry bytes the judge holds (else the proof's ``extra``; both
    given must be equal); ``files``: the judge's files, each of which must be one the
    entry lists."""
    r = ProofReport()
    try:
        proof = parse_tlog_proof(data)
    except MalformedTlogProof as e:
        r.add("tlog_proof", FAIL, f"not a tlog-proof@v1 file: {e}",
              f"不是 tlog-proof@v1 文件：{e}")
        return r
    r.index = proof.index
    r.add("tlog_proof", PASS, f"a tlog-proof@v1 file for index {proof.index} with "
          f"{len(proof.hashes)} hashes", f"索引 {proof.index} 的 tlog-proof@v1 文件，"
          f"含 {len(proof.hashes)} 个哈希")
    cp = _checkpoint(proof.checkpoint, policy, r)
    if cp is None:
        return r
    held = _entry(proof, entry, r)
    if held is None:
        return r
    size, root = cp.size, cp.root
    try:
        got = root_from_inclusion_proof(proof.index, size, leaf_hash(held.data), proof.hashes)
    except (VerificationError, MalformedInput) as e:
        r.add("inclusion", FAIL, f"the inclusion proof does not fit: {e}",
              "包含证明的形式不符（索引或哈希数目不对）")
        return r
    if got != root:
        r.add("inclusion", FAIL, f"entry {proof.index} is not in the checkpoint's tree: the "
              "proof leads to another root",
              f"条目 {proof.index} 不在检查点的树中：证明得出的根不同")
        return r
    r.add("inclusion", PASS, f"entry {proof.index} is in the tree of size {size}",
          f"条目 {proof.index} 包含在大小为 {size} 的树中")
    if files:
        _compare(held.body, held.type, files, r)
    return r


def _checkpoint(note: str, policy: TrustPolicy, r: ProofReport) -> Any:
    """Step 2 and 3 of the spec, worded as the bundle's ``checkpoint`` and
    ``cosignatures`` checks (docs/verdict.md section 3)."""
    origin = parse_checkpoint(parse_note(note).text).origin  # parse_tlog_proof held it
    mine = policy.logs_for_origin(origin)
    if not mine:
        pinned = ", ".join(lg.verifier.name for lg in policy.logs)
        r.add("checkpoint", FAIL, f"the checkpoint is of the log {origin[:100]!r}, which the "
              f"trust policy does not pin (pinned: {pinned[:150]})",
              f"检查点属于日志 {origin[:100]!r}，而信任策略未固定该日志（已固定：{pinned[:150]}）")
        return None
    try:
        vc, log_key = verify_checkpoint_windowed(
            note, [(lg.verifier, lg.window) for lg in mine],
            witness_keys=policy.witness_verifiers)
    except MissingPostQuantum as e:
        r.add("checkpoint", FAIL, str(e), e.zh)
        return None
    except OutsideWindow as e:
        r.add("checkpoint", FAIL, str(e), "检查点仅由已轮换或已吊销的日志公钥签名，"
              "其大小不在该公钥的有效窗口内")
        return None
    except (VerificationError, MalformedInput) as e:
        r.add("checkpoint", FAIL, f"checkpoint not verified with the pinned log key "
              f"{origin[:100]}: {e}", f"检查点未能用固定的日志公钥 {origin[:100]} 验证")
        return None
    c = vc.checkpoint
    r.checkpoint = {"origin": c.origin, "size": c.size, "root": c.root.hex(),
                    "cosigned_by": [{"name": s.name, "cosigned_at": s.cosigned_at}
                                    for s in vc.cosignatures]}
    r.add("checkpoint", PASS, f"checkpoint of size {c.size} is signed by the pinned log key "
          f"{log_key.name}", f"大小为 {c.size} 的检查点由固定的日志公钥 {log_key.name} 签名")
    witnessed = sorted(policy.witness_names(vc.cosignatures))
    names = ", ".join(witnessed) or "none"
    if not policy.witnesses:
        r.add("cosignatures", NOT_CHECKED, "no witness key is pinned: who else saw this "
              "checkpoint is not checked", "未固定任何见证方公钥：未核验是否有其他方见证该检查点")
    elif policy.quorum is None:
        r.add("cosignatures", NOT_CHECKED, f"the trust policy's quorum is none: cosignatures "
              f"are not required ({len(witnessed)} pinned witness(es) cosigned: {names})",
              f"信任策略的法定数为 none：不要求联署（{len(witnessed)} 个固定见证方已联署："
              f"{names}）")
    elif policy.satisfied(vc.cosignatures):
        r.add("cosignatures", PASS, f"the witness quorum ({policy.describe_quorum()}) is met: "
              f"valid cosignatures by {names}",
              f"见证法定数（{policy.describe_quorum(zh=True)}）已满足：{names} 的联署有效")
    else:
        r.add("cosignatures", FAIL, f"the witness quorum ({policy.describe_quorum()}) is not "
              f"met: valid cosignatures only by {names}",
              f"见证法定数（{policy.describe_quorum(zh=True)}）未满足：仅有 {names} 的有效联署")
    return c


def _entry(proof: TlogProof, given: bytes | None, r: ProofReport) -> Any:
    """Step 1 of the spec (the leaf): the entry the judge gave, else the proof's extra."""
    if given is not None and proof.extra is not None and bytes(given) != proof.extra:
        r.add("entries", FAIL, "the entry given is not the entry the proof carries",
              "所给条目与证明文件携带的条目不同")
        return None
    data = given if given is not None else proof.extra
    if data is None:
        r.add("entries", FAIL, "the proof carries no entry (no extra line) and none was given",
              "证明文件未携带条目（无 extra 行），也未提供条目")
        return None
    try:
        e = parse_entry(bytes(data))
    except (VerificationError, MalformedInput) as err:
        r.add("entries", FAIL, f"the entry does not parse: {err}", "条目无法解析")
        return None
    if e.seq != proof.index:
        r.add("entries", FAIL, f"the proof is for index {proof.index}, the entry is entry "
              f"{e.seq}", f"证明针对索引 {proof.index}，而条目的序号是 {e.seq}")
        return None
    r.entry = {"seq": e.seq, "time": e.time, "type": e.type,
               "leaf_hash": leaf_hash(e.data).hex()}
    r.add("entries", PASS, f"entry {e.seq} ({e.type}) parses and sits at the proof's index",
          f"条目 {e.seq}（{e.type}）可解析，且位于证明所示的索引")
    return e


def _compare(body: Any, type_: str, files: Sequence[bytes], r: ProofReport) -> None:
    listed = body.get("files") if type_ == "evidence.submitted" and isinstance(body, dict) \
        else None
    hashes = {f.get("sha256") for f in listed if isinstance(f, dict)} \
        if isinstance(listed, list) else set()
    got = [hashlib.sha256(bytes(f)).hexdigest() for f in files]
    missing = [h for h in got if h not in hashes]
    if missing:
        r.add("compared_files", FAIL, f"{len(missing)} of the {len(got)} file(s) given "
              f"(SHA-256 {missing[0][:16]}...) is not a file this entry lists",
              f"所给 {len(got)} 个文件中有 {len(missing)} 个不是该条目列出的文件")
    else:
        r.add("compared_files", PASS, f"each of the {len(got)} file(s) given is one this "
              "entry lists (same SHA-256)",
              f"所给 {len(got)} 个文件均为该条目列出的文件（SHA-256 相同）")


# --- the copy a bundle carries ---------------------------------------------------------------

BUNDLE_MEMBER = "tlog-proof/item.tlog-proof"
"""The bundle member (docs/bundle.md): the submission entry's proof to the bundle's own
checkpoint, for tools that read tlog-proof files and nothing else."""


def check_bundle_copy(data: bytes, note: bytes, size: int, root: bytes, entry: bytes
                      ) -> tuple[bool, str, str]:
    """The bundle's ``tlog_proof`` check: (passes, reason, reason_zh). The copy must prove
    the submission entry (``entry``, at its own seq) to the bundle's checkpoint (``note``,
    byte for byte, whose tree has ``size`` leaves and ``root``); the bundle's other checks
    have judged that checkpoint and entry already."""
    try:
        p = parse_tlog_proof(data)
    except MalformedTlogProof as e:
        return False, f"{BUNDLE_MEMBER} is not a tlog-proof@v1 file: {e}", \
            f"{BUNDLE_MEMBER} 不是 tlog-proof@v1 文件"
    if p.checkpoint.encode("utf-8") != bytes(note):
        return False, f"{BUNDLE_MEMBER} proves to another checkpoint than the bundle's", \
            f"{BUNDLE_MEMBER} 所证明的检查点与证据包的检查点不同"
    seq = parse_entry(bytes(entry)).seq
    if p.index != seq or (p.extra is not None and p.extra != bytes(entry)):
        return False, f"{BUNDLE_MEMBER} is about entry {p.index}, not the submission " \
            f"(entry {seq})", \
            f"{BUNDLE_MEMBER} 针对第 {p.index} 条记录，而非提交记录（第 {seq} 条）"
    try:
        got = root_from_inclusion_proof(p.index, size, leaf_hash(bytes(entry)), p.hashes)
    except (VerificationError, MalformedInput) as e:
        return False, f"{BUNDLE_MEMBER}: the inclusion proof does not fit: {e}", \
            f"{BUNDLE_MEMBER}：包含证明的形式不符"
    if got != root:
        return False, f"{BUNDLE_MEMBER}: the proof leads to another root than the " \
            "checkpoint's", f"{BUNDLE_MEMBER}：证明得出的根与检查点的根不同"
    return True, f"{BUNDLE_MEMBER} proves the submission (entry {seq}) to the bundle's " \
        "checkpoint", f"{BUNDLE_MEMBER} 证明提交记录（第 {seq} 条）包含在证据包的检查点中"
