"""The bundle's claims about time and about the log today: its RFC 3161 tokens over the
checkpoint, and a newer checkpoint that must extend it.

``timestamps`` (docs/verdict.md section 1) proves "preserved no later than": each token is
checked for integrity whatever TSA made it, then against the pinned TSA roots (or the
root store the policy names). ``still_in_log`` proves, with an RFC 9162 consistency
proof, that the log has not dropped or rewritten the bundle's entries since.

Imports: stdlib, ``cryptography`` and ``evidence.verify`` only.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from evidence.verify import merkle
from evidence.verify.bundle_reader import BundleReader
from evidence.verify.checkpoint import VerifiedCheckpoint, verify_checkpoint_windowed
from evidence.verify.errors import MalformedInput, VerificationError
from evidence.verify.hashing import hash_from_hex
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
from evidence.verify.trust import TrustPolicy
from evidence.verify.verdict import BundleReport

__all__ = ["NewerCheckpoint", "check_still_in_log", "check_timestamps"]


@dataclass(frozen=True)
class NewerCheckpoint:
    """A checkpoint newer than the bundle's (from the log's public URL or a file) and
    the consistency proof from the bundle's checkpoint to it, in the JSON shape of
    ``evidence log proof consistency --json``. Neither is trusted: the note must be
    signed by the pinned log key and the proof must hold between the two roots."""

    note: bytes
    consistency: Any
    source: str = "file"


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


def check_timestamps(reader: BundleReader, manifest: Mapping[str, Any], cp: VerifiedCheckpoint,
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


def check_still_in_log(newer: NewerCheckpoint, cp: VerifiedCheckpoint, policy: TrustPolicy,
                       report: BundleReport) -> None:
    """The log's newer checkpoint extends the bundle's: nothing was dropped or rewritten."""
    old = cp.checkpoint
    try:
        mine = policy.logs_for_origin(old.origin)
        if not mine:  # _check_checkpoint found it: cannot happen
            raise MalformedInput(f"no pinned log key for {old.origin}")
        new, _ = verify_checkpoint_windowed(newer.note, [(lg.verifier, lg.window)
                                                         for lg in mine])
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
