"""The court-facing pages of a frozen log: ``DIR/index.html`` and ``DIR/README.txt`` (English
and Chinese), saying what each file is and how to check them without the operator.

Both are listed in the freeze's manifest like every other file, so a changed page is found
as a changed file (tests/auditor/test_freeze.py); they tell the reader to pin the trust file
and the manifest's SHA-256 from the court record, never from the page itself.
"""

from __future__ import annotations

import html

__all__ = ["FETCH", "index_html", "readme_txt"]

Facts = dict[str, object]

_KIND = {
    "checkpoint": ("a signed checkpoint of a log that may have gone on after it (a later "
                   "freeze or the live log holds the rest, consistent with this one)",
                   "日志的一个签名检查点；此后日志可能继续增长（之后的冻结副本或在线日志包含后续条目，"
                   "并与本副本一致）"),
    "shard-final": ("the final checkpoint of a closed shard: the log takes no more entries, "
                    "its key only verifies",
                    "已关闭分片的最终检查点：该日志不再接受新条目，其密钥仅用于验证"),
}

_FILES = [
    ("manifest.json", "SHA-256 and size of every other file; \"frozen\" names the checkpoint",
     "其余每个文件的 SHA-256 与大小；\"frozen\" 字段指明冻结的检查点"),
    ("entries.jsonl", "every entry of the log up to the frozen size, exact bytes in base64",
     "冻结大小以内的全部日志条目（原始字节，base64 编码）"),
    ("checkpoints/<size>", "each signed checkpoint, with the witnesses' cosignature lines",
     "每个签名检查点，附见证人联署行"),
    ("timestamps/<size>/<tsa>.tst", "RFC 3161 timestamp tokens over that checkpoint (DER)",
     "该检查点的 RFC 3161 时间戳令牌（DER）"),
    ("timestamps/<size>/<tsa>.pem", "the certificates stored with the token (not trusted)",
     "随令牌保存的证书（不作为信任依据）"),
    ("records/<evidence id>.ers", "each item's RFC 4998 evidence record (DER), if kept",
     "每件证据的 RFC 4998 证据记录（DER，如有）"),
    ("tlog/checkpoint, tlog/tile/...", "the same log as C2SP tlog-tiles, for tiles clients",
     "同一日志的 C2SP tlog-tiles 形式，供瓦片客户端读取"),
    ("trust.txt", "the operator's trust file: a copy only, pin the one in the court record",
     "运营方的信任文件副本；请以法院卷宗中的信任文件为准"),
    ("log.vkey", "the log's verifier key (a copy: pin it from the trust file)",
     "日志验证公钥（副本，应以信任文件为准）"),
]

_TEXT_CMD = "sed -n '1,/^$/p' checkpoints/{size} | sed '$d' | sha256sum"

FETCH = """mkdir frozen-copy && cd frozen-copy && python3 - <URL>/ <<'EOF'
import json, os, sys, urllib.request as u
base = sys.argv[1]
man = u.urlopen(base + "manifest.json").read()
for p in json.loads(man)["files"]:
    assert not p.startswith("/") and ".." not in p.split("/"), p
    os.makedirs(os.path.dirname(p) or ".", exist_ok=True)
    with open(p, "wb") as f:
        f.write(u.urlopen(base + p).read())
with open("manifest.json", "wb") as f:
    f.write(man)
EOF
"""
"""Copies a served freeze: manifest.json, then every file it lists, refusing a path that
climbs out of the copy (tests/auditor/test_freeze.py runs it against a static server)."""


def _steps(f: Facts) -> list[tuple[str, str]]:
    size = f["size"]
    return [
        ("Take the trust file from the court record or the operator's filing, not from this "
         "directory, and note the SHA-256 of manifest.json here.",
         "从法院卷宗或运营方提交的材料中取得信任文件（不要使用本目录中的副本），并记录本目录 "
         "manifest.json 的 SHA-256。"),
        ("Copy every file manifest.json lists (for a served copy: the commands below, with "
         "<URL> the address of this page's directory), then run "
         "python3 audit_ledger.py DIR --trust TRUST.txt (the project's stand-alone script, with "
         "verify_bundle.py beside it; Python 3.11 and the cryptography package). It checks every "
         "file against the manifest, every entry, the tree at each checkpoint, the log key, the "
         "cosignatures, the timestamps, the evidence records and the tiles, and prints "
         "verified, failed or incomplete.",
         "复制 manifest.json 列出的全部文件（在线副本可用下方命令，<URL> 为本页所在目录的"
         "地址），然后运行 "
         "python3 audit_ledger.py DIR --trust TRUST.txt（本项目的独立脚本，与 verify_bundle.py "
         "放在同一目录；需 Python 3.11 与 cryptography 包）。它逐一核对文件与清单、每个条目、"
         "每个检查点的默克尔树、日志公钥、联署、时间戳、证据记录以及瓦片，结论为 verified（通过）、"
         "failed（失败）或 incomplete（不完整）。"),
        ("Any C2SP tlog-tiles client (for example Go's golang.org/x/mod/sumdb/tlog) reads the "
         f"log at <URL>/tlog/ with the log key and checks every entry against the root of size "
         f"{size}.",
         "任何 C2SP tlog-tiles 客户端（例如 Go 的 golang.org/x/mod/sumdb/tlog）可用日志公钥从 "
         f"<URL>/tlog/ 读取日志，并将每个条目与大小为 {size} 的根哈希核对。"),
        ("A timestamp alone: openssl ts -verify -in timestamps/N/TSA.tst -token_in -digest "
         "<HEX> -CAfile ROOT.pem, where HEX is printed by " + _TEXT_CMD.format(size="N") +
         " and ROOT.pem is the TSA root pinned in the trust file.",
         "单独核对时间戳：openssl ts -verify -in timestamps/N/TSA.tst -token_in -digest <HEX> "
         "-CAfile ROOT.pem，其中 HEX 由 " + _TEXT_CMD.format(size="N") + " 计算，ROOT.pem 为"
         "信任文件中固定的时间戳机构根证书。"),
        ("audit_ledger.py checks each evidence record against the file hashes the log "
         "lists; a record renewed to SHA-512 needs the item's files themselves: check it with "
         "the item's bundle (evidence verify, verify_bundle.py) or any RFC 4998 "
         "implementation.",
         "audit_ledger.py 依据日志所列的文件哈希核对每份证据记录；续期为 SHA-512 的证据记录须"
         "使用证据文件本身核对：请用该证据的证据包（evidence verify、verify_bundle.py）或任何 "
         "RFC 4998 实现。"),
    ]


_PROVES = (
    "What proves what: the log key's signatures bind the entries to each checkpoint; witness "
    "cosignatures show there is one history; RFC 3161 tokens show a checkpoint existed no later "
    "than their time; evidence records keep that proof valid when certificates expire. The "
    "manifest is not signed: it finds damaged or incomplete copies, the signatures find "
    "tampering.",
    "各项证明的作用：日志密钥签名把条目与各检查点绑定；见证人联署证明只有一份历史；RFC 3161 "
    "时间戳证明检查点不晚于其时间已存在；证据记录使证明在证书过期后仍然有效。清单本身未经签名："
    "它用于发现损坏或不完整的副本，篡改由签名发现。")


def readme_txt(f: Facts) -> str:
    """Plain text, English then Chinese, LF line ends."""
    en_kind, zh_kind = _KIND.get(str(f["kind"]), (str(f["kind"]), str(f["kind"])))
    lines = ["FROZEN EVIDENCE LOG / 冻结的证据日志", "",
             f"log / 日志: {f['origin']}", f"size / 大小: {f['size']}",
             f"root (SHA-256) / 根哈希: {f['root']}", f"log key / 日志公钥: {f['log_key']}", "",
             f"This directory holds the log as of its signed checkpoint of size {f['size']}: "
             f"{en_kind}. Nothing here changes, and no server of the operator is needed to "
             "check it: any web server, or a copy on disk, will do.", "",
             "Files:"]
    lines += [f"  {p:34} {en}" for p, en, _ in _FILES]
    lines += ["", "How to check:"]
    lines += [f"  {i}. {en}" for i, (en, _) in enumerate(_steps(f), 1)]
    lines += ["", "Copying a served freeze / 复制在线的冻结副本:", "", FETCH]
    lines += [_PROVES[0], "", "-" * 60, "",
              f"本目录保存该日志截至大小为 {f['size']} 的签名检查点的全部内容：{zh_kind}。"
              "目录内容不再改变；核对时无需运营方的任何服务器，任何网页服务器或本地副本均可。", "",
              "文件："]
    lines += [f"  {p:34} {zh}" for p, _, zh in _FILES]
    lines += ["", "核对方法："]
    lines += [f"  {i}. {zh}" for i, (_, zh) in enumerate(_steps(f), 1)]
    lines += ["", _PROVES[1], ""]
    return "\n".join(lines)


def index_html(f: Facts) -> str:
    """One static page, no script, no external resource."""
    e = html.escape
    en_kind, zh_kind = _KIND.get(str(f["kind"]), (str(f["kind"]), str(f["kind"])))
    facts = "".join(f"<tr><th>{e(k)}</th><td><code>{e(str(v))}</code></td></tr>" for k, v in (
        ("log / 日志", f["origin"]), ("size / 大小", f["size"]), ("root / 根哈希", f["root"]),
        ("log key / 日志公钥", f["log_key"])))

    def files(col: int) -> str:
        return "".join(f"<tr><td><code>{e(row[0])}</code></td><td>{e(row[col])}</td></tr>"
                       for row in _FILES)

    def steps(col: int) -> str:
        return "".join(f"<li>{e(s[col])}</li>" for s in _steps(f))

    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Frozen evidence log / 冻结的证据日志 — {e(str(f["origin"]))}</title></head>
<body>
<h1>Frozen evidence log / 冻结的证据日志</h1>
<table>{facts}</table>
<section lang="en">
<h2>What this is</h2>
<p>This directory holds the log as of its signed checkpoint of size {e(str(f["size"]))}:
{e(en_kind)}. Nothing here changes, and no server of the operator is needed to check it:
any web server, or a copy on disk, will do.</p>
<table>{files(1)}</table>
<h2>How to check</h2>
<ol>{steps(0)}</ol>
<pre>{e(FETCH)}</pre>
<p>{e(_PROVES[0])}</p>
<p><a href="manifest.json">manifest.json</a> · <a href="README.txt">README.txt</a> ·
<a href="trust.txt">trust.txt</a></p>
</section>
<section lang="zh-CN">
<h2>说明</h2>
<p>本目录保存该日志截至大小为 {e(str(f["size"]))} 的签名检查点的全部内容：{e(zh_kind)}。
目录内容不再改变；核对时无需运营方的任何服务器，任何网页服务器或本地副本均可。</p>
<table>{files(2)}</table>
<h2>核对方法</h2>
<ol>{steps(1)}</ol>
<p>复制在线副本的命令见上文英文部分。</p>
<p>{e(_PROVES[1])}</p>
</section>
</body></html>
"""
