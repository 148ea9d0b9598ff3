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

from evidence.ledger.bundle import report_c2pa as c2pa
from evidence.ledger.bundle import report_forum as forum
from evidence.ledger.bundle import report_kinds as kinds
from evidence.ledger.bundle import report_time as rtime
from evidence.ledger.bundle import report_webcapture as webcapture
from evidence.ledger.bundle.report_custody import custody_detail
from evidence.ledger.bundle.report_ers import ers_statement

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


def _value(en: str, zh: str, value: str) -> list[str]:
    """``  en / zh: value`` with a multi-line value's further lines indented."""
    lines = str(value).split("\n")
    return [f"  {en} / {zh}: {lines[0]}", *(f"      {more}" for more in lines[1:])]


def _who_lines(d: dict[str, Any]) -> list[str]:
    s = d.get("submitter") or {}
    sig = d.get("submitter_signature") or {}
    L = _value("Title", "标题", d.get("title") or "-")
    L += _value("Source URL", "来源网址", d.get("source_url") or "-")
    L += _value("Organisation", "组织", s.get("organisation") or "not recorded / 未记录")
    if s.get("display_name"):
        L += _value("Name", "名称", s["display_name"])
    if s.get("case_title"):
        L += _value("Case title", "案件名称", s["case_title"])
    state = sig.get("state")
    shown = {"signed": f"signed / 已签名: {sig.get('key')}  {sig.get('vkey') or ''}",
             "unsigned": "not signed (optional) / 未签名（可选）",
             "invalid": f"INVALID / 签名无效: {sig.get('error')}"}.get(str(state), "-")
    L += _value("Rights holder's signature", "权利人签名", shown.rstrip())
    return L


def _item_lines(d: dict[str, Any]) -> list[str]:
    """The picture, each e-mail's headers and DKIM, and what a court can conclude."""
    L: list[str] = []
    img = d.get("image")
    caption = webcapture.screenshot_caption({"screenshot": img}) if img else None
    if caption is not None:
        L += ["Picture / 图片", "-" * 60, *_both(caption), ""]
    zone = str(d.get("time_zone") or rtime.LOCAL)
    for e in d.get("email") or []:
        L += ["E-mail / 电子邮件 (the sender's claims, recorded as found / 发件方的声明，按原样记"
              "录)",
              "-" * 60]
        for en, zh, key in (("File", "文件", "file"), ("From", "发件人", "from"),
                            ("To", "收件人", "to"), ("Subject", "主题", "subject")):
            L += _value(en, zh, e.get(key) or "-")
        date = rtime.both(e["date"], zone) if e.get("date") else (e.get("date_raw") or "-")
        L += _value("Date (sender's clock)", "日期（发件方时钟）", date)
        L += _value("Message-ID", "Message-ID", e.get("message_id") or "-")
        sigs = [f"{g.get('result')} (d={g.get('domain')}, s={g.get('selector')}, key "
                f"{g.get('key_source')})" for g in e.get("dkim_signatures") or []]
        L += _value("DKIM result", "DKIM 结果", "\n".join([str(e.get("dkim_result")), *sigs]))
        L.append("")
    for c in d.get("chat") or []:
        L += ["Chat / 聊天记录", "-" * 60]
        L += _value("File", "文件", c.get("file") or "-")
        L += _value("Format", "格式", c.get("format") or "-")
        L += _value("Messages", "消息数", str(c.get("message_count")))
        L += _value("Participants", "参与者", c.get("participants") or "-")
        L += _value("First - last (device clock)", "首末消息（设备时钟）",
                    f"{c.get('first') or '-'} - {c.get('last') or '-'}")
        for m in c.get("media") or []:
            L.append(f"  attachment / 附件 {m.get('attachment')}: file / 文件 "
                     f"{m.get('file') or '-'}")
            if m.get("sha256"):
                L.append(f"    SHA-256: {m['sha256']}")
        L.append("")
    pair = kinds.conclusions(d.get("kind"))
    if pair is not None:
        L += ["What a court can and cannot conclude / 法院可以认定与不能认定", "-" * 60]
        L += _both(("法院可以认定：" + pair[0][0], "A court can conclude: " + pair[0][1]))
        L += _both(("法院不能认定：" + pair[1][0], "A court cannot conclude: " + pair[1][1]))
        L.append("")
    return L


def c2pa_lines(d: dict[str, Any]) -> list[str]:
    """Each file's C2PA content credentials, then what a court can conclude from one
    (the text is :mod:`evidence.ledger.bundle.report_c2pa`'s, shared with HTML/PDF)."""
    found = d.get("c2pa") or []
    if not found:
        return []
    L = [f"{c2pa.TITLE[1]} / {c2pa.TITLE[0]}", "-" * 60, *_both(c2pa.NOTE)]
    for e in found:
        for zh, en, value in c2pa.rows(e):
            L += _value(en, zh, value)
        L.append("")
    L += _both(("法院可以认定：" + c2pa.COURT_CAN[0], "A court can conclude: " + c2pa.COURT_CAN[1]))
    L += _both(("法院不能认定：" + c2pa.COURT_CANNOT[0],
                "A court cannot conclude: " + c2pa.COURT_CANNOT[1]))
    return [*L, ""]


def forum_lines(d: dict[str, Any]) -> list[str]:
    """The forum checklist (:mod:`evidence.ledger.bundle.report_forum`)."""
    L = ["Rules of the forum / 适用规则核对表", "-" * 60, *_both(forum.NOTE)]
    for f, rows in forum.checklist(d):
        L += ["", f"  {f.title[1]}", f"  {f.title[0]}", f"  Source / 出处: {f.source}"]
        for rule, facts, _ in rows:
            L.append(f"  [{rule.ref}] {rule.text[1]}")
            L += _para(rule.text[0], "    ")
            for text in (facts[1], facts[0]):
                lines = _para(text, "       ")
                L += ["    -> " + lines[0].lstrip(), *lines[1:]]
    return [*L, ""]


def webcapture_lines(wc: dict[str, Any], zone: str | None = None) -> list[str]:
    """The web capture section and what a court can and cannot conclude (the text is
    :mod:`evidence.ledger.bundle.report_webcapture`'s, shared with the HTML/PDF report)."""
    L = ["Web capture / 网页取证", "-" * 60]
    L += _both(webcapture.source_note(wc))
    for zh, en, value in webcapture.rows(wc, zone):
        L += _value(en, zh, value)
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
    zone = str(d.get("time_zone") or rtime.LOCAL)

    def when(value: Any) -> str:
        return rtime.both(value, zone).replace("\n", "  ")

    add(f"Evidence id / 证据编号:            {d['evidence_id']}")
    add(f"Kind / 类型:                       {d.get('kind') or '-'}")
    add(f"Submitted by / 提交方:             {d.get('principal') or '-'}")
    L.extend(_who_lines(d))
    add(f"Submitted (log time, the operator's clock) / 提交时间（日志时间，运营方时钟）: "
        f"{when(d['submitted_at'])}  (entry / 记录 {d['submission_seq']})")
    zh, en = rtime.zone_label(zone)
    add(f"Local times are in / 当地时间所用时区: {en} / {zh}")
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
    L.extend(_item_lines(d))
    L.extend(c2pa_lines(d))
    if d.get("webcapture"):
        L.extend(webcapture_lines(d["webcapture"], zone))
    if provisional:
        add("Proof of time / 时间证明")
        add("-" * 60)
        add(f"  {PROVISIONAL}")
    elif d["timestamps"]:
        add("Preserved no later than / 不晚于以下时间已保全")
        add("-" * 60)
        for t in d["timestamps"]:
            add(f"  {when(t['gen_time'])}  per / 据 {t['tsa']} (RFC 3161, serial "
                f"{t.get('serial')})")
            if t.get("legal_name"):
                add(f"    legal name / 法定名称: {t['legal_name']}")
            if t.get("subject_o") or t.get("subject_cn"):
                how = ("re-verified at export / 导出时已重新核验" if t.get("verified")
                       else "as stored, not re-verified at export / 取自所存令牌，导出时未重新核验")
                add(f"    certificate / 证书: O={t.get('subject_o') or '-'}, "
                    f"CN={t.get('subject_cn') or '-'} ({how})")
    else:
        add("Proof of time / 时间证明")
        add("-" * 60)
        add("  (no RFC 3161 timestamp yet / 尚无 RFC 3161 时间戳)")
    if d.get("evidence_record") and not provisional:  # report_ers: never a time if provisional
        add("")
        add("Evidence record (RFC 4998) / 证据记录")
        add("-" * 60)
        L.extend(_both(ers_statement(d["evidence_record"], when)))
    add("")
    cp = d["checkpoint"]
    add("Checkpoint / 检查点")
    add("-" * 60)
    add(f"  log / 日志: {d['log']['origin']}   size / 大小: {cp['size']}")
    add(f"  root / 根哈希: {cp['root']}")
    add(f"  log key / 日志公钥: {d['log']['verifier_key']}")
    for w in d["witnesses"]:
        add(f"  cosigned by witness / 见证方联署: {w['name']} at "
            f"{when(w.get('cosigned_at')) if w.get('cosigned_at') else '-'}")
        if w.get("key_name"):
            add(f"    key name / 公钥名称: {w['key_name']}")
        if w.get("legal_name"):
            add(f"    legal name / 法定名称: {w['legal_name']}")
    add("")
    add("Custody timeline / 保管时间线")
    add("-" * 60)
    for c in d["custody"]:
        who = c.get("principal") or ""
        add(f"  #{c['seq']}  {when(c['time'])}  {c['type']}  {who}")
        if detail := custody_detail(c):
            add(f"      {detail}")
    for w in d.get("warnings", []):
        add(f"  NOTE / 注意: {w}")
    add("")
    L.extend(forum_lines(d))
    add("Offline identifiers / 离线标识")
    add("-" * 60)
    add(f"  verify page / 核验页面: {d.get('verify_url') or '(none configured / 未配置)'}")
    add(f"  evidence id / 证据编号: {d['evidence_id']}")
    add(f"  submission entry / 提交记录: {d['submission_seq']}   leaf hash / 叶哈希: "
        f"{d.get('leaf_hash') or '-'}")
    add(f"  checkpoint / 检查点: size / 大小 {cp['size']}   root / 根哈希 {cp['root']}")
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
