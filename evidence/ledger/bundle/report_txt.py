"""A plain-text report for the court file, Chinese and English (``report/report.txt``).

Minimal on purpose: the printable HTML/PDF report with a QR code is
:mod:`evidence.ledger.bundle.report` (``render_report``), which the exporter
calls when it exists. This one makes every bundle complete without it.

``report_data`` (built by :func:`evidence.ledger.bundle.export.gather`) is plain
JSON-able data; the keys this module reads are the ones documented on
:func:`evidence.ledger.bundle.export.report_data`. Everything in the report is
informational: a court checks the bundle with ``evidence verify`` (the commands
are printed at the end), never by reading this text.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from evidence.ledger.bundle import report_webcapture as webcapture

PROVISIONAL = "provisional: no proof of time / 临时证据包：无时间证明"


def _size(n: int) -> str:
    return f"{n:,} bytes / 字节"


WIDTH = 100  # columns of a wrapped paragraph, indent included
_TOKENS = re.compile(r"\s+|[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f]|[^\s\u2e80-\u9fff"
                     r"\uf900-\ufaff\uff00-\uffef\u3000-\u303f]+")
_NO_LINE_START = set("，。、；：！？）》」』”’")


def _columns(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _para(text: str, indent: str = "  ") -> list[str]:
    """One paragraph wrapped at :data:`WIDTH` display columns (a Chinese character is
    two). A line breaks at a space or between two Chinese characters, never inside a
    Latin word, URL or hash (one longer than a line stands alone), and never puts
    Chinese closing punctuation first."""
    lines: list[str] = []
    line = ""
    for tok in _TOKENS.findall(text):
        if tok.isspace():
            line += " " if line else ""
            continue
        if line and _columns(indent + line + tok) > WIDTH and tok not in _NO_LINE_START:
            lines.append(indent + line.rstrip())
            line = ""
        line += tok
    return [*lines, indent + line.rstrip()]


def _both(pair: tuple[str, str], indent: str = "  ") -> list[str]:
    """English, then Chinese."""
    return _para(pair[1], indent) + _para(pair[0], indent)


def webcapture_lines(wc: dict[str, Any]) -> list[str]:
    """The web capture section and what a court can and cannot conclude (the text is
    :mod:`evidence.ledger.bundle.report_webcapture`'s, shared with the HTML/PDF report)."""
    L = ["Web capture / 网页取证", "-" * 60]
    L += _both(webcapture.source_note(wc))
    for zh, en, value in webcapture.rows(wc):
        lines = value.split("\n")
        L.append(f"  {en} / {zh}: {lines[0]}")
        L += [f"      {more}" for more in lines[1:]]
    L += _both(webcapture.offset_statement(wc), "    ")
    for label, zh, en in webcapture.label_rows(wc):
        L.append(f"  label / 标签 {label}:")
        L += _both((zh, en), "    ")
    caption = webcapture.screenshot_caption(wc)
    if caption is not None:
        L.append("  Screenshot / 截图:")
        L += _both(caption, "    ")
    L += ["", "What a court can and cannot conclude / 法院可以认定与不能认定", "-" * 60]
    L += _both(("法院可以认定：" + webcapture.COURT_CAN[0],
                "A court can conclude: " + webcapture.COURT_CAN[1]))
    L += _both(("法院不能认定：" + webcapture.COURT_CANNOT[0],
                "A court cannot conclude: " + webcapture.COURT_CANNOT[1]))
    return [*L, ""]


def render_text(d: dict[str, Any]) -> str:
    L: list[str] = []
    add = L.append
    provisional = bool(d.get("provisional"))
    add("EVIDENCE BUNDLE REPORT / 证据包报告")
    add("=" * 60)
    if provisional:
        add(f"*** {PROVISIONAL} ***")
        add("  The checkpoint was not anchored yet (no RFC 3161 timestamp, or not the witness")
        add("  quorum): this bundle proves no time. Ask for the final bundle once it is.")
        add("  检查点尚未完成锚定（无 RFC 3161 时间戳或见证联署不足）：本证据包不证明任何时间。")
        add("  锚定完成后请索取正式证据包。")
        add("")
    add(f"Evidence id / 证据编号:            {d['evidence_id']}")
    add(f"Kind / 类型:                       {d.get('kind') or '-'}")
    add(f"Submitted by / 提交方:             {d.get('principal') or '-'}")
    add(f"Submitted (log time, the operator's clock) / 提交时间（日志时间，运营方时钟）: "
        f"{d['submitted_at']}  (entry / 记录 {d['submission_seq']})")
    if d.get("purged"):
        add(f"PURGED / 已清除: {d.get('purged_at') or ''} — the files and metadata were deleted;"
            " the ledger still proves their hashes / 文件与元数据已删除；账本仍证明其哈希值")
    add("")
    add("Files / 文件")
    add("-" * 60)
    for f in d["files"]:
        add(f"  {f['name']}  ({f['media_type']}, {_size(f['size'])})")
        add(f"    SHA-256: {f['sha256']}")
    add("")
    if d.get("webcapture"):
        L.extend(webcapture_lines(d["webcapture"]))
    if provisional:
        add("Proof of time / 时间证明")
        add("-" * 60)
        add(f"  {PROVISIONAL}")
    elif d["timestamps"]:
        add("Preserved no later than / 不晚于以下时间已保全")
        add("-" * 60)
        for t in d["timestamps"]:
            add(f"  {t['gen_time']}  per / 据 {t['tsa']} (RFC 3161, serial {t.get('serial')})")
    else:
        add("Proof of time / 时间证明")
        add("-" * 60)
        add("  (no RFC 3161 timestamp yet / 尚无 RFC 3161 时间戳)")
    add("")
    cp = d["checkpoint"]
    add("Checkpoint / 检查点")
    add("-" * 60)
    add(f"  log / 日志: {d['log']['origin']}   size / 大小: {cp['size']}")
    add(f"  root / 根哈希: {cp['root']}")
    add(f"  log key / 日志公钥: {d['log']['verifier_key']}")
    for w in d["witnesses"]:
        add(f"  cosigned by witness / 见证方联署: {w['name']} at {w.get('cosigned_at') or '-'}")
    add("")
    add("Custody timeline / 保管时间线")
    add("-" * 60)
    for c in d["custody"]:
        who = c.get("principal") or ""
        add(f"  #{c['seq']}  {c['time']}  {c['type']}  {who}")
    for w in d.get("warnings", []):
        add(f"  NOTE / 注意: {w}")
    add("")
    add("How to verify independently / 如何独立验证")
    add("-" * 60)
    for cmd in d["verify_commands"]:
        add(f"  {cmd}")
    add("  trust.txt and FINGERPRINT: from the operator's filing, or GET /v1/log/trust on the")
    add("  operator's server; never from this bundle.")
    add("  trust.txt 及其指纹取自运营方的书面声明，或运营方服务器的 GET /v1/log/trust；")
    add("  不得取自本证据包。")
    tool = d.get("tool")
    if tool:
        add("")
        add("Stand-alone verifier / 独立验证程序")
        add("-" * 60)
        add(f"  {tool['member']}  SHA-256: {tool['sha256']}")
        add("  Compare with the reference copy / 请与参考副本比对:")
        for ref in tool.get("reference") or []:
            add(f"    {ref}")
    add("")
    add(f"Exported / 导出时间: {d['created_at']} by {d['exporter']}")
    add("This report is informational; the checks above prove the facts. /")
    add("本报告仅供参考；事实由上述验证命令证明。")
    return "\n".join(L) + "\n"


def render_report(report_data: dict[str, Any]) -> dict[str, bytes]:
    return {"report.txt": render_text(report_data).encode("utf-8")}
