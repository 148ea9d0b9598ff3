"""What a court can and cannot conclude from each kind of evidence, in Chinese and English.

The English is docs/evidence-kinds.md's ("A court can conclude" / "A court cannot
conclude" of each kind), shortened only where it explains how the software works; the
Chinese says the same. Every rendering of the report (HTML, PDF, text) prints the pair for
the item's kind from here, so the three cannot drift apart; a web capture's pair is
:mod:`evidence.ledger.bundle.report_webcapture`'s (``COURT_CAN``/``COURT_CANNOT``), which
its own section already prints.

A kind this table does not know gets the generic pair (``other``): the least a bundle
proves, and nothing more.
"""

from __future__ import annotations

Pair = tuple[str, str]  # (Chinese, English)

_IMAGE: tuple[Pair, Pair] = (
    ("所保全的文件正是这幅具有所示尺寸的图像；提交时（且不晚于账本时间）其中含有所记录的 EXIF 值。",
     "The preserved file is exactly this image with these dimensions; it contained these EXIF "
     "values when it was submitted (and no later than the ledger time)."),
    ("照片拍摄于 EXIF 所载时间、GPS 所载地点或由所载相机拍摄。EXIF 由拍摄设备或任何编辑软件写入，"
     "可被任意设定，其时钟可能不准或时区不明；截图通常不含 EXIF；没有 software 字段不能说明图片未被"
     "编辑。能证明的是账本时间与 RFC 3161 时间戳：该文件不晚于该时间已存在且未被改动。",
     "That the picture was taken at the EXIF time, at the GPS location, or with that camera. "
     "EXIF is written by the capturing device or by any editor and can be set to anything; its "
     "clock may be wrong or in an unknown zone. Screenshots usually carry no EXIF at all. The "
     "absence of `software` does not show the image was not edited. What is proven is the "
     "ledger time and the RFC 3161 timestamps: the file existed, unchanged, no later than "
     "then."))

_EMAIL: tuple[Pair, Pair] = (
    ("DKIM 结果为 pass 时：签名域（d=）私钥的持有者签署了所列的头部与该正文（设有 l= 时为其前若干"
     "字节），这些部分自签名后未被改动。结果为 fail 时：已签名部分与签名不符（被改动、被邮件系统"
     "重新"
     "编码，或所提供的公钥不是签名公钥）。所列附件正是所保全邮件中的附件。",
     "With DKIM `pass`, that the holder of the private key for the signing domain (`d=`) "
     "signed exactly the listed headers and this body (or its first `body_length_limit` "
     "bytes, when `l=` is set), so those parts were not altered since signing. With `fail`, "
     "that the signed parts do not match the signature (altered, re-encoded by a mail "
     "system, or the key supplied is not the signing key). The attachments listed are "
     "exactly those in the preserved message."),
    ("From 中所列之人撰写了该邮件（DKIM 认证的是域名的邮件系统，而非个人或邮箱；未核对 DMARC 对齐"
     "时，"
     "From 甚至可以不属于该域名）；未列入已签名头部的头部（如 Received）为真实；Date 或签名时间 t"
     "= 是"
     "真实的发送时间（二者都是发件方的时钟）；所提供的公钥记录当时确实在 DNS 中公布（请将其 "
     "key_record_sha256 与独立的 DNS 存档比对）；结果为 key-unavailable 时，不能就真实性认定任何"
     "事项。"
     "设有 l= 时，签名长度之后附加的内容不受保护。",
     "That the person named in `From:` wrote the message (DKIM authenticates a domain's mail "
     "system, not a person or mailbox; `From:` need not even be in that domain unless DMARC "
     "alignment is checked); that headers not in `signed_headers` are genuine (`Received:` "
     "lines are normally unsigned); that `Date:` or `signed_at` (`t=`) is the real sending "
     "time (both are the sender's clock); that a supplied key record really was published in "
     "DNS at the time (check its `key_record_sha256` against an independent capture); or, "
     "with `key-unavailable`, anything at all about authenticity. With `l=`, content "
     "appended after the signed length is not covered."))

_CHAT: tuple[Pair, Pair] = (
    ("该导出文件按提交时的原样不晚于账本时间已存在，其中含有这些参与者的名称、这些数量的消息及文本中"
     "所示的日期。",
     "This export file, exactly as submitted, existed no later than the ledger time, and it "
     "contains these participants' names, this many messages, dated as shown in the text."),
    ("对话确如所示发生。导出文件是普通文件，导出前（在应用中删除消息）或导出后（用文本编辑器）均可被"
     "编辑；名称是导出设备上的联系人名称，并非经核实的身份；时间是导出设备的本地时钟，除 Telegram "
     "外不带时区；所列附件名只说明消息提到了该文件，不说明所示文件就是所发送的文件。需要其他来源印证："
     "对方的副本、当时保全的截图、平台记录或经公证的设备取证。",
     "That the conversation took place as shown. An export is an ordinary file: anyone can "
     "edit it, before export (deleting messages in the app) or after (in a text editor). "
     "Names are the exporting device's contact names, not verified identities. Times are the "
     "exporting device's local clock, with no time zone except Telegram's instants. A listed "
     "attachment name says a message referred to that file, not that the file shown is the "
     "one sent. Corroboration must come from elsewhere: the other party's copy, screenshots "
     "preserved at the time, the platform's records, or a notarised capture from the "
     "device."))

_DOCUMENT: tuple[Pair, Pair] = (
    ("该文档正是此文件，且提交时带有所记录的属性。",
     "The document is exactly this file, and at submission it carried these properties."),
    ("作者或成文时间。作者、日期、应用程序与编辑时长由编辑软件按电脑的用户名与时钟写入，任何工具都"
     "可改写；页数与字数是文件自述的数值，并非重新计数；PDF 签名域的数量不说明签名是否有效。",
     "Who wrote it or when. Author, dates, application and edit time are stored by the "
     "editing software from the computer's user name and clock, and any tool can rewrite "
     "them. `page_count` and `words` are what the file states, not a recount. A PDF "
     "`signature_fields` count says nothing about whether a signature is valid."))

_OTHER: tuple[Pair, Pair] = (
    ("这一确切的文件（所示类型）不晚于账本时间已存在。",
     "This exact file, of this type, existed no later than the ledger time."),
    ("网页当时对其他访问者显示的内容，录音录像的制作时间或地点。保存下来的网页只是某个浏览器某一次"
     "收到的内容，提交前可被编辑；采集情境（网址、时间、TLS 证书、采集系统）须由可信的采集程序记"
     "录，"
     "不能从文件本身推断。",
     "Anything about what a web page showed to other visitors, when a recording was made, or "
     "where. A saved page is what one browser received once; it can be edited before "
     "submission. Capture context (URL, time, TLS certificate, the capturing system) must be "
     "recorded by a trusted capture process, not inferred from the file."))

CONCLUSIONS: dict[str, tuple[Pair, Pair]] = {
    "screenshot": _IMAGE, "image": _IMAGE, "email": _EMAIL, "chat": _CHAT,
    "document": _DOCUMENT, "web": _OTHER, "video": _OTHER, "audio": _OTHER, "other": _OTHER,
}
"""Kind -> (can, cannot). ``webcapture`` is not here: its section carries its own pair."""


def conclusions(kind: str | None) -> tuple[Pair, Pair] | None:
    """(can, cannot) for ``kind``; None for a web capture (its section prints its own)."""
    if kind == "webcapture":
        return None
    return CONCLUSIONS.get(kind or "", _OTHER)
