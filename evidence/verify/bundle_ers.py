"""The bundle's ``evidence_record`` check: the RFC 4998 record ``ers/item.ers`` covers the
item's files and every archive timestamp in it holds (docs/verdict.md, docs/bundle.md).

The record's documents are the submission entry's files, in its order: under SHA-256 a
file's hash is the entry's (the ``files`` check holds the carried bytes to it); under any
other hash (a chain after a hash-tree renewal) the carried file member is hashed, and a
file the bundle does not carry fails the check. Each archive timestamp is judged as a
checkpoint token is (docs/verdict.md section 1): damaged or altered fails whatever TSA
made it; a chain that ends at no pinned root is ``not-checked`` (named); otherwise the
chain rules. No pinned TSA root: ``not-checked``. The check is supplementary
(``required: false``): not made, it is listed and shown but leaves the verdict to the
checkpoint's tokens; failed, it fails the bundle. ``scripts/verify_bundle.py`` and
``static/verify/verify.js`` make the same check; ``tests/verdicts/test_ers_member.py``
holds the three to one verdict.

Imports: stdlib and ``evidence.verify`` only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from evidence.verify.bundle_item import file_members
from evidence.verify.bundle_reader import BundleReader
from evidence.verify.entry import Entry
from evidence.verify.evidence_record import (
    Document,
    EvidenceRecordError,
    verify_evidence_record,
)
from evidence.verify.trust import TrustPolicy
from evidence.verify.verdict import BundleReport

__all__ = ["BUNDLE_MEMBER", "check_evidence_record"]

BUNDLE_MEMBER = "ers/item.ers"
"""The item's RFC 4998 EvidenceRecord (DER) as the ledger held it when the bundle was made."""

_ZH = {
    "der": "不是有效的 RFC 4998 证据记录（DER 结构错误）",
    "algorithm": "证据记录的哈希算法不符合要求",
    "covers": "证据记录的哈希树未覆盖本证据的文件",
    "root": "证据记录中的时间戳所证明的不是哈希树的根",
    "timestamp": "证据记录中的时间戳已损坏、被篡改或证书链无效",
    "renewal": "证据记录的续期时间戳不成立（早于被续期者或晚于其证书到期）",
    "files": "证据记录需要的文件不在证据包中",
}


class _NotCarried(Exception):
    pass


def _documents(fmt: str, reader: BundleReader, declared: Sequence[dict]) -> list[Document]:
    members = file_members(fmt, declared)

    def doc(sha256_hex: str) -> Document:
        def digest(name: str) -> bytes:
            if name == "sha256":
                return bytes.fromhex(sha256_hex)
            member = members[sha256_hex]
            if member not in reader.infos:
                raise _NotCarried(name)
            h = hashlib.new(name)
            for chunk in reader.stream(member):
                h.update(chunk)
            return h.digest()
        return digest

    return [doc(f["sha256"]) for f in declared]


def check_evidence_record(reader: BundleReader, fmt: str, submission: Entry,
                          policy: TrustPolicy, report: BundleReport) -> None:
    name = "evidence_record"
    data = reader.read(BUNDLE_MEMBER)
    roots = [t.pem for t in policy.tsas]
    if not roots:
        report.not_checked_(name, "no TSA root certificate is pinned (trust file '#@ tsa' "
                            "line, or --tsa-ca): the evidence record is not checked",
                            "未固定任何时间戳机构根证书：未核验证据记录", required=False)
        return
    declared = submission.body.get("files")
    if not isinstance(declared, list) or not declared or not all(
            isinstance(f, dict) and isinstance(f.get("sha256"), str) for f in declared):
        report.fail(name, "the submission entry lists no files", "提交记录未列出任何文件",
                    required=False)
        return
    try:
        v = verify_evidence_record(data, _documents(fmt, reader, declared), roots)
    except _NotCarried as e:
        report.fail(name, f"{BUNDLE_MEMBER} has a {e.args[0]} chain over the files, which "
                    "the bundle does not carry", _ZH["files"], required=False)
        return
    except EvidenceRecordError as e:
        if e.rule == "untrusted":
            report.not_checked_(name, f"{BUNDLE_MEMBER}: {str(e)[len('evidence record: '):]}"
                                [:280], "证据记录的时间戳机构不是信任文件所固定的机构：未核验",
                                required=False)
        else:
            report.fail(name, f"{BUNDLE_MEMBER} does not verify ({e.rule}): "
                        f"{str(e)[len('evidence record: '):]}"[:290], _ZH[e.rule], required=False)
        return
    n = len(v.timestamps)
    report.add(name, True, f"the RFC 4998 evidence record covers the item's files; its {n} "
               f"archive timestamps ({', '.join(v.algorithms)}) verify, the first dated "
               f"{v.first_gen_time.strftime('%Y-%m-%dT%H:%M:%SZ')}",
               f"RFC 4998 证据记录覆盖本证据的文件；其 {n} 个存档时间戳均验证通过，最早的时间为 "
               f"{v.first_gen_time.strftime('%Y-%m-%dT%H:%M:%SZ')}", required=False)
