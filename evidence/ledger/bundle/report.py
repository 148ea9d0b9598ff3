"""The printable report for the court file: HTML and PDF, Chinese and English.

The exporter calls :func:`render_report` with its ``report_data`` (the keys are
documented on :func:`evidence.ledger.bundle.export.report_data`) and stores the
result as ``report/report.html`` and ``report/report.pdf`` in the bundle, beside
the plain-text ``report/report.txt``. The report is informational: it tells a
judge what the bundle claims and how to check it independently (the exact
commands); the verification, not this document, proves the facts.

What a page shows, each heading in Chinese and English: evidence id and status;
files with SHA-256 and size; times (log time of the submission, RFC 3161
genTimes); the checkpoint (origin, size, root, log key) and witnesses; the
custody timeline; how to verify (``evidence verify``, ``python verify_bundle.py``,
``sha256sum``) and where the court's trust file comes from; the stand-alone
verifier the bundle carries, with its SHA-256 and where the reference copy is; a
QR code carrying :func:`qr_payload`. A web capture adds its statements, what a court can
and cannot conclude from it, and a thumbnail of its screenshot
(:mod:`evidence.ledger.bundle.report_webcapture`). A provisional bundle's report opens with
"provisional: no proof of time / 临时证据包：无时间证明" and claims no time
anywhere (docs/verdict.md section 2): a court must not read one as proof of when.

Fonts (docs/report.md): the PDF embeds a subset of a CJK TrueType font found on
the machine (Debian ``fonts-wqy-zenhei`` first, ``fonts-noto-cjk`` next, or the
file named by ``EVIDENCE_REPORT_CJK_FONT``). Without one, the PDF is rendered in
English only, with every non-Latin character replaced by ``?``, and says so on
its first page; the HTML report (whose fonts are the reader's) and the text
report stay bilingual. Nothing is fetched: the HTML carries no external
resource (inline CSS, the QR code as inline SVG, a screenshot thumbnail as a ``data:`` URI).

Libraries: ``fpdf2`` (pure Python; TrueType collections via fontTools) and
``segno`` (QR codes, pure Python).
"""

from __future__ import annotations

import base64
import html
import io
import logging
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evidence.ledger.bundle import report_c2pa as c2pa
from evidence.ledger.bundle import report_ers as ers
from evidence.ledger.bundle import report_forum as forum
from evidence.ledger.bundle import report_kinds as kinds
from evidence.ledger.bundle import report_time as rtime
from evidence.ledger.bundle import report_webcapture as webcapture
from evidence.ledger.bundle.report_custody import custody_detail

try:
    import segno
    from fpdf import FPDF
    from fpdf.enums import WrapMode
    from fpdf.fonts import FontFace
except ModuleNotFoundError as _missing:  # until fpdf2 and segno are installed: see render_report
    MISSING_LIBRARY: str | None = _missing.name
    FPDF = object  # type: ignore[assignment,misc]
else:
    MISSING_LIBRARY = None

FONT_ENV = "EVIDENCE_REPORT_CJK_FONT"
"""Path of a TrueType/OpenType CJK font (or ``path.ttc#index``) to use instead of the search."""

CJK_FONTS: tuple[tuple[str, int, int], ...] = (
    # (file, face index of the regular face, face index of a monospaced face)
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0, 1),  # fonts-wqy-zenhei
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2, 7),  # fonts-noto-cjk
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0, 1),  # fonts-wqy-microhei
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0, 0),  # fonts-arphic-uming
)
"""Searched in order. Face indexes: Noto CJK's collection starts with JP, KR, SC
(index 2); its mono SC face is index 7."""

QR_SCHEME = "evidence"


@dataclass(frozen=True)
class CjkFont:
    path: Path
    regular: int
    mono: int


def find_cjk_font() -> CjkFont | None:
    """The CJK font the PDF will embed, or None (the PDF is then English only)."""
    override = os.environ.get(FONT_ENV)
    if override:
        path, _, index = override.partition("#")
        face = int(index) if index.isdigit() else 0
        if not Path(path).is_file():
            raise FileNotFoundError(f"{FONT_ENV}={override!r}: no such font file")
        return CjkFont(Path(path), face, face)
    for path, regular, mono in CJK_FONTS:
        if Path(path).is_file():
            return CjkFont(Path(path), regular, mono)
    return None


# --- content ---------------------------------------------------------------------------


def qr_payload(data: dict[str, Any]) -> str:
    """What the QR code carries: the verify page's https URL for this item
    (``https://<host>/verify/?id=<evidence_id>``, ``data["verify_url"]``, made by
    :func:`evidence.ledger.bundle.report_facts.verify_page_url`), which a phone opens.

    Without a configured verify URL (``evidence export --verify-url`` or
    ``$EVIDENCE_REPORT_VERIFY_URL``) there is no address to give, and the code carries the
    identifier ``evidence:<id>?seq=<submission entry>&sha256=<first file>`` instead. The
    offline identifiers (:func:`offline_ids`) are printed beside the code either way.
    """
    if data.get("verify_url"):
        return str(data["verify_url"])
    files = data.get("files") or []
    digest = files[0]["sha256"] if files else ""
    return f"{QR_SCHEME}:{data['evidence_id']}?seq={data.get('submission_seq')}&sha256={digest}"


def offline_ids(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(zh, en, value): what identifies this item without any network: the evidence id, the
    submission entry and its leaf hash, the checkpoint's size and root hash."""
    cp = data.get("checkpoint") or {}
    return [("证据编号", "Evidence ID", _s(data.get("evidence_id"))),
            ("提交记录", "Submission entry", _s(data.get("submission_seq"))),
            ("叶哈希", "Leaf hash", _s(data.get("leaf_hash"))),
            ("检查点大小", "Checkpoint size", _s(cp.get("size"))),
            ("检查点根哈希", "Checkpoint root", _s(cp.get("root")))]


def _size(n: Any) -> str:
    return f"{n:,} B" if isinstance(n, int) else str(n)


def _s(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def _commands(data: dict[str, Any]) -> list[str]:
    cmds = list(data.get("verify_commands") or [])
    for f in data.get("files") or []:
        cmds.append(f"sha256sum '{f['name']}'   # expect / 应为 {f['sha256']}")
    return cmds


@dataclass(frozen=True)
class Section:
    zh: str
    en: str
    rows: list[tuple[str, str, str]]  # (label zh, label en, value)
    table: tuple[list[tuple[str, str]], list[list[str]]] | None = None
    """Column headers (zh, en) and rows, for lists (files, custody, ...)."""
    note: tuple[str, str] | None = None
    code: list[str] | None = None
    paras: list[tuple[str, str]] | None = None
    """More bilingual paragraphs (zh, en), after the note."""
    image: tuple[bytes, tuple[str, str]] | None = None
    """A PNG to show (the web capture's screenshot thumbnail) and its caption (zh, en)."""


PROVISIONAL_EN = "provisional: no proof of time"
PROVISIONAL_ZH = "临时证据包：无时间证明"
PROVISIONAL_NOTE = (
    "本证据包为临时证据包：其检查点尚未完成锚定（无 RFC 3161 时间戳或见证联署不足），"
    "不证明任何时间；核验结论最多为“临时”。待运营方完成锚定后，请索取正式证据包。",
    "This bundle is provisional: its checkpoint was not anchored yet (no RFC 3161 timestamp, "
    "or not the witness quorum), so it proves no time, and verification can at best say "
    "\"provisional\". Ask the operator for the final bundle once the checkpoint is anchored.")
TRUST_NOTE = (
    "trust.txt 及其指纹（SHA-256）取自运营方的书面声明，或运营方服务器的 GET /v1/log/trust；"
    "不得取自本证据包。",
    "trust.txt and its fingerprint (SHA-256) come from the operator's filing, or from "
    "GET /v1/log/trust on the operator's server; never from this bundle.")


def provisional_banner() -> str:
    """The one line every surface shows for a provisional bundle (docs/verdict.md)."""
    return f"{PROVISIONAL_EN} / {PROVISIONAL_ZH}"


def _tool_section(data: dict[str, Any]) -> Section | None:
    tool = data.get("tool")
    if not tool:
        return None
    return Section("独立验证程序", "Stand-alone verifier", [
        ("证据包内文件", "Member of this bundle", _s(tool.get("member"))),
        ("SHA-256", "SHA-256", _s(tool.get("sha256"))),
    ], note=(
        "本证据包附带独立验证程序（仅依赖 Python 3.11 与 cryptography）。请勿仅凭包内副本："
        "从以下来源取得参考副本，并比对其 SHA-256 与上表一致。",
        "The bundle carries the stand-alone verifier (Python 3.11 and cryptography only). "
        "Do not rely on the copy inside the bundle alone: get the reference copy from the "
        "source below and check that its SHA-256 equals the one above."),
        code=[f"reference / 参考副本: {r}" for r in tool.get("reference") or []])


def _webcapture_sections(data: dict[str, Any]) -> list[Section]:
    """A web capture's statements, its screenshot, and what a court can conclude from it
    (the text is :mod:`evidence.ledger.bundle.report_webcapture`'s, shared with the text
    report)."""
    wc = data.get("webcapture")
    if not wc:
        return []
    offset_zh, offset_en = webcapture.offset_statement(wc)
    labels = [(f"{label}：{zh}", f"{label}: {en}") for label, zh, en in webcapture.label_rows(wc)]
    out = [Section("网页取证", "Web capture", webcapture.rows(wc, _zone(data)),
                   note=webcapture.source_note(wc),
                   paras=[*labels, ("时钟偏差：" + offset_zh, "Clock offset: " + offset_en)])]
    out.append(Section("法院可以认定与不能认定", "What a court can and cannot conclude", [],
                       paras=[("法院可以认定：" + webcapture.COURT_CAN[0],
                               "A court can conclude: " + webcapture.COURT_CAN[1]),
                              ("法院不能认定：" + webcapture.COURT_CANNOT[0],
                               "A court cannot conclude: " + webcapture.COURT_CANNOT[1])]))
    caption = webcapture.screenshot_caption(wc)
    if caption is not None:  # last: a page-high picture starts a page of its own
        png = webcapture.thumbnail_png(wc)
        out.append(Section("截图", "Screenshot", [], note=None if png else caption,
                           image=(png, caption) if png else None))
    return out


def _zone(data: dict[str, Any]) -> str:
    return str(data.get("time_zone") or rtime.LOCAL)


def _when(data: dict[str, Any], value: Any) -> str:
    """A stated UTC time and, below it, the same instant in the report's zone."""
    return rtime.both(value, _zone(data))


def _ers_paras(data: dict[str, Any]) -> list[tuple[str, str]] | None:
    """The evidence record's line (report_ers), when the bundle carries one; never in a
    provisional report, which claims no time."""
    e = data.get("evidence_record")
    if not e or data.get("provisional"):
        return None
    return [ers.ers_statement(e, lambda v: _when(data, v).replace("\n", " "))]


def _submitter(data: dict[str, Any]) -> str:
    """Who submitted: the organisation and name the operator recorded, and the principal."""
    s = data.get("submitter") or {}
    principal = _s(s.get("principal") or data.get("principal"))
    parts = [s["organisation"] if s.get("organisation") else "组织未记录 organisation not recorded"]
    if s.get("display_name"):
        parts.append(str(s["display_name"]))
    parts.append(f"账户 principal: {principal}")
    return "\n".join(parts)


def _signature(data: dict[str, Any]) -> str:
    sig = data.get("submitter_signature") or {}
    state = sig.get("state")
    if state == "signed":
        return (f"已签名 signed: {sig.get('key')}\n{_s(sig.get('vkey'))}\n"
                "请与权利人公布的公钥比对 compare with the key the rights holder published")
    if state == "unsigned":
        return "未签名（可选） not signed by the rights holder (optional)"
    if state == "invalid":
        return f"签名无效 INVALID: {_s(sig.get('error'))}"
    return "-"


def _case(data: dict[str, Any]) -> str:
    title = (data.get("submitter") or {}).get("case_title")
    return _s(data.get("case")) + (f"\n{title}" if title else "")


def _tsa_cell(t: dict[str, Any]) -> str:
    lines = [_s(t.get("tsa"))]
    if t.get("legal_name"):
        lines.append(f"法定名称 legal name: {t['legal_name']}")
    if t.get("subject_o") or t.get("subject_cn"):
        lines.append(f"证书 certificate: O={_s(t.get('subject_o'))}, CN={_s(t.get('subject_cn'))}")
        lines.append("导出时已重新核验 re-verified at export" if t.get("verified") else
                     "取自所存令牌，导出时未重新核验 as stored, not re-verified at export")
    return "\n".join(lines)


def _witness_cell(w: dict[str, Any]) -> str:
    lines = [_s(w.get("name"))]
    if w.get("key_name"):
        lines.append(f"公钥名称 key name: {w['key_name']}")
    if w.get("legal_name"):
        lines.append(f"法定名称 legal name: {w['legal_name']}")
    return "\n".join(lines)


def _email_sections(data: dict[str, Any]) -> list[Section]:
    out = []
    for e in data.get("email") or []:
        sigs = "; ".join(f"{_s(g.get('result'))} (d={_s(g.get('domain'))}, s="
                         f"{_s(g.get('selector'))}, key {_s(g.get('key_source'))})"
                         for g in e.get("dkim_signatures") or [])
        date = e.get("date") or e.get("date_raw")
        out.append(Section("电子邮件", "E-mail", [
            ("文件", "File", _s(e.get("file"))),
            ("发件人（From）", "From", _s(e.get("from"))),
            ("收件人（To）", "To", _s(e.get("to"))),
            ("主题", "Subject", _s(e.get("subject"))),
            ("日期（Date，发件方时钟）", "Date (sender's clock)",
             _when(data, date) if e.get("date") else _s(date)),
            ("Message-ID", "Message-ID", _s(e.get("message_id"))),
            ("DKIM 结果", "DKIM result", _s(e.get("dkim_result")) + (f"\n{sigs}" if sigs else "")),
        ], note=("以上为邮件自身所载的内容，即发件方的声明，按原样记录；DKIM 于提交时离线核验，"
                 "所用公钥记录于证据包的元数据中。",
                 "These are what the message itself states (the sender's claims), recorded as "
                 "found; DKIM was checked offline at submission, with the key record kept in "
                 "the bundle's metadata.")))
    return out


def _chat_sections(data: dict[str, Any]) -> list[Section]:
    out = []
    for c in data.get("chat") or []:
        media = c.get("media") or []
        out.append(Section("聊天记录", "Chat", [
            ("文件", "File", _s(c.get("file"))),
            ("格式", "Format", _s(c.get("format"))),
            ("消息数", "Messages", _s(c.get("message_count"))),
            ("参与者（导出设备上的名称）", "Participants (names on the exporting device)",
             _s(c.get("participants"))),
            ("首条与末条消息（导出设备本地时间）", "First and last message (the device's clock)",
             f"{_s(c.get('first'))} – {_s(c.get('last'))}"),
        ], table=([("消息所引用的附件", "Attachment named by a message"),
                   ("本证据中的文件", "File of this item"), ("SHA-256", "SHA-256")],
                  [[_s(m.get("attachment")), _s(m.get("file")) if m.get("file") else "—",
                    _s(m.get("sha256")) if m.get("sha256") else "—"] for m in media])
            if media else None,
            note=("附件已从导出的 ZIP 中取出，作为本证据的文件逐一保存（见“文件”）；"
                  "ZIP 本身按原样保存。“—”表示归档中没有该附件。",
                  "The attachments were taken out of the exported ZIP and preserved as files "
                  "of this item (see Files); the ZIP itself is preserved as submitted. "
                  "A \"—\": the archive does not hold that attachment.") if media else None))
    return out


def _image_section(data: dict[str, Any]) -> list[Section]:
    img = data.get("image")
    if not img:
        return []
    wc = {"screenshot": img}
    caption = webcapture.screenshot_caption(wc)
    png = webcapture.thumbnail_png(wc)
    if caption is None:
        return []
    return [Section("图片", "Picture", [], note=None if png else caption,
                    image=(png, caption) if png else None)]


def _c2pa_sections(data: dict[str, Any]) -> list[Section]:
    """One section per file carrying C2PA content credentials (:mod:`.report_c2pa`)."""
    found = data.get("c2pa") or []
    return [Section(c2pa.TITLE[0], c2pa.TITLE[1], c2pa.rows(e),
                    note=c2pa.NOTE if i == 0 else None,
                    paras=[("法院可以认定：" + c2pa.COURT_CAN[0],
                            "A court can conclude: " + c2pa.COURT_CAN[1]),
                           ("法院不能认定：" + c2pa.COURT_CANNOT[0],
                            "A court cannot conclude: " + c2pa.COURT_CANNOT[1])]
                    if i == len(found) - 1 else None)
            for i, e in enumerate(found)]


def _conclusions(data: dict[str, Any]) -> list[Section]:
    pair = kinds.conclusions(data.get("kind"))
    if pair is None:  # a web capture: its own section says it
        return []
    can, cannot = pair
    return [Section("法院可以认定与不能认定", "What a court can and cannot conclude", [],
                    paras=[("法院可以认定：" + can[0], "A court can conclude: " + can[1]),
                           ("法院不能认定："
                            "" + cannot[0], "A court cannot conclude: " + cannot[1])])]


def _forum_sections(data: dict[str, Any]) -> list[Section]:
    out = []
    for i, (f, rows) in enumerate(forum.checklist(data)):
        out.append(Section(f.title[0], f.title[1], [], table=(
            [("规则", "Rule"), ("要求（摘要）", "Requirement (summary)"),
             ("本证据包的事实", "Facts in this bundle")],
            [[rule.ref, f"{rule.text[0]}\n{rule.text[1]}", f"{facts[0]}\n{facts[1]}"]
             for rule, facts, _ in rows]),
            note=forum.NOTE if i == 0 else None, paras=[("出处："
                                                         "" + f.source, "Source: " + f.source)]))
    return out


def sections(data: dict[str, Any]) -> list[Section]:
    """The report's content, once, for both renderings."""
    cp, log = data.get("checkpoint") or {}, data.get("log") or {}
    provisional = bool(data.get("provisional"))
    status = ("已清除 PURGED: " + _s(data.get("purged_at"))) if data.get("purged") else \
        "已保全 preserved"
    if provisional:
        status += " · " + PROVISIONAL_ZH + " " + PROVISIONAL_EN
    zone_zh, zone_en = rtime.zone_label(_zone(data))
    out = [
        Section("证据概要", "Summary", [
            ("证据编号", "Evidence ID", _s(data.get("evidence_id"))),
            ("标题", "Title", _s(data.get("title"))),
            ("来源网址", "Source URL", _s(data.get("source_url"))),
            ("类型", "Kind", _s(data.get("kind"))),
            ("案件", "Case", _case(data)),
            ("提交方", "Submitted by", _submitter(data)),
            ("权利人签名", "Rights holder's signature", _signature(data)),
            ("状态", "Status", status),
            ("元数据承诺值", "Metadata commitment", _s(data.get("metadata_commitment"))),
        ], note=("元数据以加盐承诺值记入账本；证据包中附有元数据与盐值，可打开该承诺值。"
                 "标题与来源网址是提交方的陈述；组织与名称取自运营方的用户记录，不在账本上。",
                 "The ledger holds a salted commitment to the metadata; the bundle carries "
                 "the metadata and salt that open it. The title and source URL are the "
                 "submitter's statements; the organisation and name are the operator's user "
                 "records, not on the ledger.") if not data.get("purged") else (
                 "文件与元数据已依法删除；账本仍证明其 SHA-256 哈希值与大小。",
                 "The files and metadata were deleted; the ledger still proves their SHA-256 "
                 "hashes and sizes.")),
        Section("文件", "Files", [], table=(
            [("名称", "Name"), ("类型", "Media type"), ("大小", "Size"), ("SHA-256", "SHA-256")],
            [[_s(f.get("name")), _s(f.get("media_type")), _size(f.get("size")),
              _s(f.get("sha256"))] for f in data.get("files") or []])),
        *_image_section(data),
        *_email_sections(data),
        *_chat_sections(data),
        *_c2pa_sections(data),
        *_webcapture_sections(data),
        *_conclusions(data),
        Section("时间", "Times", [
            *([("时间证明", "Proof of time", provisional_banner())] if provisional else []),
            ("提交时间（日志时间，运营方时钟）", "Submitted (log time, the operator's clock)",
             _when(data, data.get("submitted_at"))),
            ("提交记录序号", "Submission entry", _s(data.get("submission_seq"))),
            ("当地时间所用时区", "Local times are in", f"{zone_zh}\n{zone_en}"),
        ], table=(
            [("时间戳机构", "TSA"), ("不晚于（genTime）", "No later than (genTime)"),
             ("序列号", "Serial")],
            [[_tsa_cell(t), _when(data, t.get("gen_time")), _s(t.get("serial"))]
             for t in data.get("timestamps") or []]),
            note=PROVISIONAL_NOTE if provisional else
            ("RFC 3161 时间戳证明：检查点（因而其中每条记录）不晚于 genTime 已存在。"
             "日志时间由运营方记录，仅供参考。时间戳机构的名称取自签发令牌的证书；法定名称是运营方的陈述。",
             "An RFC 3161 timestamp proves that the checkpoint, and so every entry in "
             "it, existed no later than its genTime. Log time is the operator's clock. A TSA's "
             "name is read from the certificate that signed its token; a legal name is the "
             "operator's statement.")
            if data.get("timestamps") else (
                  "尚无 RFC 3161 时间戳：本证据包不证明时间。",
                  "No RFC 3161 timestamp yet: this bundle does not prove a time."),
            paras=_ers_paras(data)),
        Section("检查点与见证方", "Checkpoint and witnesses", [
            ("日志", "Log (origin)", _s(log.get("origin") or cp.get("origin"))),
            ("树大小", "Tree size", _s(cp.get("size"))),
            ("根哈希", "Root hash", _s(cp.get("root"))),
            ("日志公钥", "Log verifier key", _s(log.get("verifier_key"))),
        ], table=(
            [("见证方", "Witness"), ("联署时间", "Cosigned at")],
            [[_witness_cell(w), _when(data, w.get("cosigned_at"))]
             for w in data.get("witnesses") or []]),
            note=("日志公钥须由法院从可信渠道获得并固定，不能取自本证据包。见证方名称是运营方的配置名称；"
                  "公钥名称与信任文件中的一致，法定名称是运营方的陈述。",
                  "Pin the log key from a trusted source; never take it from this bundle. A "
                  "witness is named as the operator configured it; its key name is the one in "
                  "the trust file, and a legal name is the operator's statement.")),
        Section("保管时间线", "Custody timeline", [], table=(
            [("序号", "Seq"), ("时间", "Time"), ("类型", "Type"), ("主体", "Principal"),
             ("详情", "Detail")],
            [[str(c.get("seq")), _when(data, c.get("time")), _s(c.get("type")),
              _s(c.get("principal")), custody_detail(c)] for c in data.get("custody") or []])),
        *_forum_sections(data),
    ]
    if data.get("warnings"):
        out.append(Section("注意", "Notes", [], code=list(data["warnings"])))
    out.append(Section("离线标识", "Offline identifiers", offline_ids(data), note=(
        "二维码打开核验页面；没有网络时，用以上标识在证据包与账本中查找本证据。",
        "The QR code opens the verify page; without a network, these identify the item in "
        "the bundle and the log.")))
    out.append(Section("如何独立验证", "How to verify independently", [], note=(
        "在任何离线计算机上运行以下命令；只信任法院固定的信任文件（日志公钥、见证方、"
        "时间戳机构根证书）。“evidence verify” 与独立脚本 verify_bundle.py"
        "（仅依赖 cryptography）应得出相同结论。用 sha256sum 计算文件哈希，并与上表比对。"
        + TRUST_NOTE[0],
        "Run these on any offline computer, trusting only the trust file the court pins "
        "(log key, witnesses, TSA roots). `evidence verify` and the stand-alone "
        "verify_bundle.py (needs only cryptography) must reach the same verdict. Compare "
        "sha256sum's output with the table above. " + TRUST_NOTE[1]),
        code=_commands(data)))
    tool = _tool_section(data)
    if tool is not None:
        out.append(tool)
    return out


# --- HTML ------------------------------------------------------------------------------

_CSS = """
*, *::before, *::after { box-sizing: border-box; }
body { font-family: "Noto Sans CJK SC", "WenQuanYi Zen Hei", "Microsoft YaHei",
       "PingFang SC", sans-serif; margin: 2em auto; padding: 0 1em; max-width: 60em;
       color: #111; overflow-wrap: anywhere; }
header { display: flex; flex-wrap: wrap; align-items: flex-start; gap: 1em;
         border-bottom: 2px solid #111; margin-bottom: 1em; }
/* the title takes what the QR code leaves, and never less than 12em: below that it
   moves under the code instead of wrapping one character per line */
header h1 { flex: 1 1 12em; min-width: 0; font-size: 1.5em; margin: .3em 0; }
.qr { flex: 0 1 14em; max-width: 100%; text-align: center; font-size: .75em; }
.qr svg { width: 40mm; max-width: 100%; height: auto; }
.qr code { display: block; text-align: left; }
h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #999; }
table { border-collapse: collapse; width: 100%; margin: .5em 0; table-layout: fixed; }
th, td { border: 1px solid #bbb; padding: .25em .4em; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #eee; }
.rows th { width: 30%; }
.hash, code, pre { font-family: "DejaVu Sans Mono", monospace; word-break: break-all; }
pre { background: #f4f4f4; padding: .5em; white-space: pre-wrap; }
.en { color: #444; }
.shot img { max-width: 100%; height: auto; border: 1px solid #999; }
.provisional { border: 3px solid #b36b00; background: #fff4e0; padding: .6em; }
@media (max-width: 480px) { body { margin: .5em auto; padding: 0 .5em; font-size: 15px; } }
@page { size: A4; margin: 15mm; }
@media print { body { margin: 0; padding: 0; max-width: none; } }
"""


def _h(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _cell(value: str) -> str:
    cls = ' class="hash"' if len(value) == 64 and all(c in "0123456789abcdef" for c in value) \
        else ""
    return f"<td{cls}>{_h(value).replace(chr(10), '<br>')}</td>"


def qr_svg(payload: str) -> str:
    """The QR code as inline SVG (no namespace URL, no XML declaration)."""
    return segno.make(payload, error="m").svg_inline(scale=4, border=2)


def render_html(data: dict[str, Any]) -> bytes:
    payload = qr_payload(data)
    parts = [
        '<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f"<title>证据报告 Evidence report {_h(data.get('evidence_id'))}</title>\n",
        f"<style>{_CSS}</style>\n</head>\n<body>\n",
        '<header>\n<h1>电子证据保全报告 <span lang="en" class="en">Evidence Preservation '
        "Report</span></h1>\n",
        f'<div class="qr">{qr_svg(payload)}<code>{_h(payload)}</code></div>\n</header>\n',
    ]
    if data.get("provisional"):
        parts.append(f'<p class="provisional"><strong>{_h(PROVISIONAL_ZH)}</strong><br>'
                     f'<strong lang="en">{_h(PROVISIONAL_EN)}</strong><br>'
                     f'{_h(PROVISIONAL_NOTE[0])}<br><span lang="en" class="en">'
                     f"{_h(PROVISIONAL_NOTE[1])}</span></p>\n")
    for sec in sections(data):
        parts.append(f'<h2>{_h(sec.zh)} <span lang="en" class="en">{_h(sec.en)}</span></h2>\n')
        if sec.rows:
            parts.append('<table class="rows">\n')
            for zh, en, value in sec.rows:
                parts.append(f'<tr><th>{_h(zh)} <span lang="en">{_h(en)}</span></th>'
                             f"{_cell(value)}</tr>\n")
            parts.append("</table>\n")
        if sec.table and sec.table[1]:
            heads, rows = sec.table
            parts.append("<table>\n<tr>" + "".join(
                f'<th>{_h(zh)}<br><span lang="en">{_h(en)}</span></th>' for zh, en in heads)
                + "</tr>\n")
            for row in rows:
                parts.append("<tr>" + "".join(_cell(v) for v in row) + "</tr>\n")
            parts.append("</table>\n")
        for zh, en in ([sec.note] if sec.note else []) + (sec.paras or []):
            parts.append(f"<p>{_h(zh)}<br>"
                         f'<span lang="en" class="en">{_h(en)}</span></p>\n')
        if sec.image:
            png, (zh, en) = sec.image
            # an inline data: URI: the page still loads nothing from anywhere
            parts.append('<figure class="shot"><img alt="screenshot / 截图" src="data:image/png;'
                         f'base64,{base64.b64encode(png).decode("ascii")}">'
                         f'<figcaption>{_h(zh)}<br><span lang="en" class="en">{_h(en)}'
                         "</span></figcaption></figure>\n")
        if sec.code:
            parts.append('<pre lang="en">' + "\n".join(_h(c) for c in sec.code) + "</pre>\n")
    parts.append(f"<p><small>导出 Exported {_h(data.get('created_at'))} · "
                 f"{_h(data.get('exporter'))} · 本报告仅供参考，事实由上述验证证明。"
                 '<span lang="en"> This report is informational; the verification above '
                 "proves the facts.</span></small></p>\n</body>\n</html>\n")
    return "".join(parts).encode("utf-8")


# --- PDF -------------------------------------------------------------------------------


class _Pdf(FPDF):
    def __init__(self, font: CjkFont | None) -> None:
        super().__init__(format="A4")
        self.cjk = font is not None
        self.set_auto_page_break(True, margin=15)
        self.set_margins(15, 15, 15)
        if font is not None:
            self.add_font("body", "", str(font.path), collection_font_number=font.regular)
            self.add_font("mono", "", str(font.path), collection_font_number=font.mono)
            self.body, self.mono = "body", "mono"
        else:
            self.body, self.mono = "helvetica", "courier"

    def t(self, text: str) -> str:
        """Text the current fonts can show (the fallback fonts are Latin-1 only)."""
        return text if self.cjk else text.encode("latin-1", "replace").decode("latin-1")

    def bi(self, zh: str, en: str) -> str:
        return f"{zh}  {en}" if self.cjk else en

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.body, size=7)
        self.cell(0, 5, self.t(f"{self.page_no()}/{{nb}}"), align="C")


def render_pdf(data: dict[str, Any], font: CjkFont | None = None, *,
               search: bool = True) -> bytes:
    """The PDF. ``font``: the CJK font to embed (default: :func:`find_cjk_font`);
    with none, an English-only PDF that says why on its first page."""
    if font is None and search:
        font = find_cjk_font()
    pdf = _Pdf(font)
    pdf.set_title(f"Evidence report {data.get('evidence_id')}")
    pdf.set_creator(str(data.get("exporter") or "evidence"))
    # Same pieces, same bytes: the PDF's date is the export's, not the clock's
    # (and fpdf2 derives the document ID from the content and this date).
    pdf.set_creation_date(_export_time(data))
    pdf.add_page()
    payload = qr_payload(data)
    _pdf_qr(pdf, payload, x=pdf.w - 15 - 40, y=15, size=40)
    pdf.set_font(pdf.body, size=16)
    pdf.multi_cell(pdf.w - 30 - 45, 9, pdf.bi("电子证据保全报告", "Evidence Preservation Report"),
                   new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(pdf.mono, size=7)
    pdf.multi_cell(pdf.w - 30 - 45, 4, pdf.t(f"QR: {payload}"), new_x="LMARGIN", new_y="NEXT")
    if not pdf.cjk:
        pdf.set_font(pdf.body, "B", size=9)
        pdf.multi_cell(pdf.w - 30 - 45, 5, (
            "No Chinese (CJK) font was installed where this PDF was made, so it is in English "
            "only and non-Latin characters show as '?'. The HTML and text reports in this "
            "bundle are in Chinese and English. (Install fonts-wqy-zenhei and export again.)"),
            align="L", new_x="LMARGIN", new_y="NEXT")
    if data.get("provisional"):
        pdf.set_font(pdf.body, "" if pdf.cjk else "B", size=12)
        pdf.set_text_color(160, 90, 0)
        pdf.multi_cell(pdf.w - 30 - 45, 7, pdf.t(
            f"{PROVISIONAL_ZH}\n{PROVISIONAL_EN}" if pdf.cjk else PROVISIONAL_EN),
            align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
    pdf.set_y(max(pdf.get_y(), 15 + 42))
    for sec in sections(data):
        _pdf_section(pdf, sec)
    pdf.ln(3)
    pdf.set_font(pdf.body, size=7)
    pdf.multi_cell(0, 4, pdf.t(pdf.bi(
        f"导出 {_s(data.get('created_at'))} · {_s(data.get('exporter'))} · "
        "本报告仅供参考，事实由上述验证证明。",
        "This report is informational; the verification above proves the facts.")),
        align="L", new_x="LMARGIN", new_y="NEXT")
    subset_log = logging.getLogger("fontTools.subset")
    level = subset_log.level
    subset_log.setLevel(logging.ERROR)  # "BDF NOT subset": the bitmap table is dropped, fine
    try:
        return bytes(pdf.output())
    finally:
        subset_log.setLevel(level)


def _export_time(data: dict[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(str(data.get("created_at")).replace("Z", "+00:00"))
    except ValueError:
        return datetime(1980, 1, 1, tzinfo=UTC)


def _pdf_qr(pdf: _Pdf, payload: str, *, x: float, y: float, size: float) -> None:
    """The QR code drawn as vector squares (crisp in print, no image)."""
    matrix = [list(row) for row in segno.make(payload, error="m").matrix_iter(border=2)]
    cell = size / len(matrix)
    pdf.set_fill_color(0, 0, 0)
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                pdf.rect(x + c * cell, y + r * cell, cell, cell, style="F")


def _pdf_row(pdf: _Pdf, label: str, value: str) -> None:
    """A label and its value side by side, each wrapped in its own column, kept on one
    page (a long label no longer runs into its value)."""
    width = 62 if pdf.cjk else 40
    value_width = pdf.epw - width
    is_hash = len(value) >= 40 and " " not in value
    value_font = (pdf.mono if is_hash else pdf.body, 7.5 if is_hash else 8.5)
    pdf.set_font(pdf.body, size=8)
    n_label = len(pdf.multi_cell(width, 5, label, align="L", dry_run=True, output="LINES"))
    pdf.set_font(value_font[0], size=value_font[1])
    n_value = len(pdf.multi_cell(value_width, 5, value, align="L", dry_run=True,
                                 output="LINES"))
    height = 5 * max(n_label, n_value)
    if pdf.get_y() + height > pdf.page_break_trigger:
        pdf.add_page()
    top = pdf.get_y()
    pdf.set_font(pdf.body, size=8)
    pdf.multi_cell(width, 5, label, align="L", new_x="RIGHT", new_y="TOP")
    pdf.set_font(value_font[0], size=value_font[1])
    pdf.multi_cell(value_width, 5, value, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(top + height)


def _pdf_section(pdf: _Pdf, sec: Section) -> None:
    if sec.image:  # the heading stays with its picture
        png, _ = sec.image
        if pdf.get_y() + 12 + _image_height(pdf, png) + 18 > pdf.page_break_trigger:
            pdf.add_page()
    pdf.ln(2)
    pdf.set_font(pdf.body, size=12)
    pdf.multi_cell(0, 7, pdf.bi(sec.zh, sec.en), border="B", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    for zh, en, value in sec.rows:
        _pdf_row(pdf, pdf.t(pdf.bi(zh, en)), pdf.t(value))
    if sec.table and sec.table[1]:
        heads, rows = sec.table
        widths = _widths(len(heads), heads)
        pdf.set_font(pdf.body, size=7.5)
        with pdf.table(col_widths=widths, text_align="LEFT", line_height=4.2, padding=0.8,
                       headings_style=FontFace(emphasis="", fill_color=(230, 230, 230))
                       ) as table:
            head = table.row()
            for zh, en in heads:
                head.cell(pdf.t(pdf.bi(zh, en)) if pdf.cjk else en)
            for values in rows:
                row = table.row()
                for v in values:
                    row.cell(pdf.t(v))
    for pair in ([sec.note] if sec.note else []) + (sec.paras or []):
        _pdf_para(pdf, pair)
        pdf.ln(0.8)
    if sec.image:
        _pdf_image(pdf, *sec.image)
    if sec.code:
        pdf.set_font(pdf.mono, size=7)
        pdf.set_fill_color(240, 240, 240)
        for line in sec.code:
            pdf.multi_cell(0, 4, pdf.t(line), fill=True, new_x="LMARGIN", new_y="NEXT")


def _pdf_para(pdf: _Pdf, pair: tuple[str, str]) -> None:
    """A bilingual paragraph: the Chinese wrapped at any character (it has few spaces, and
    wrapping at them leaves short ragged lines), then the English at word boundaries."""
    pdf.set_font(pdf.body, size=7.5)
    if pdf.cjk:
        pdf.multi_cell(0, 4, pair[0], align="L", new_x="LMARGIN", new_y="NEXT",
                       wrapmode=WrapMode.CHAR)
    pdf.multi_cell(0, 4, pdf.t(pair[1]), align="L", new_x="LMARGIN", new_y="NEXT")


def _image_height(pdf: _Pdf, png: bytes) -> float:
    """The thumbnail's height in mm at the page's width."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        w_px, h_px = im.size
    return pdf.epw * h_px / w_px


def _pdf_image(pdf: _Pdf, png: bytes, caption: tuple[str, str]) -> None:
    """The thumbnail at the page's width (never taller than one page's body with its
    heading and caption: report_webcapture.MAX_ASPECT), its caption below."""
    width, height = pdf.epw, _image_height(pdf, png)
    if pdf.get_y() + height + 10 > pdf.page_break_trigger:
        pdf.add_page()
    y = pdf.get_y() + 1
    pdf.image(io.BytesIO(png), x=pdf.l_margin, y=y, w=width, h=height)
    pdf.set_draw_color(150, 150, 150)
    pdf.rect(pdf.l_margin, y, width, height)
    pdf.set_draw_color(0, 0, 0)
    pdf.set_y(y + height + 1)
    _pdf_para(pdf, caption)


def _widths(n: int, heads: Iterable[tuple[str, str]]) -> tuple[int, ...]:
    names = [en for _, en in heads]
    if names and names[-1] == "SHA-256":  # files: give the hash room
        return (30, 22, 16, 62)
    if "Principal" in names:
        return (8, 30, 24, 22, 30)
    if "Requirement (summary)" in names:  # a forum's checklist
        return (16, 50, 70)
    if names and names[0] == "TSA":
        return (80, 70, 30)
    return tuple([1] * n)


# --- the exporter's seam -----------------------------------------------------------------


def render_report(data: dict[str, Any]) -> dict[str, bytes]:
    """``report/<name>`` members for the bundle: ``report.html`` and ``report.pdf``
    (``report.txt`` is :mod:`evidence.ledger.bundle.report_txt`'s).

    Without ``fpdf2`` or ``segno`` installed this warns and returns nothing: the
    bundle then carries the text report only (the report is informational)."""
    if MISSING_LIBRARY is not None:
        warnings.warn(f"the HTML/PDF report needs {MISSING_LIBRARY!r} (pip install fpdf2 "
                      "segno); the bundle carries the text report only", stacklevel=2)
        return {}
    return {"report.html": render_html(data), "report.pdf": render_pdf(data)}
