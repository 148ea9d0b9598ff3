"""What the court report says about a web capture (kind ``webcapture``), in one place.

The exporter calls :func:`webcapture_report_data` once per bundle; its result goes into
``report_data["webcapture"]`` (plain JSON-able data) and both renderings read it: the
HTML/PDF report (:mod:`evidence.ledger.bundle.report`) and the text report
(:mod:`evidence.ledger.bundle.report_txt`). Every sentence a court reads about a web
capture (the rows, the labels, the clock offset, what a court can and cannot conclude)
is built here, so the renderings cannot drift apart.

The values come from the item's signed capture manifest (``capture-manifest.json``),
the same source ``evidence verify``'s ``webcapture`` check reports from
(docs/verdict.md section 6); the item's committed metadata (``stated.meta``) repeats them
and is used only when the manifest cannot be read, and the report then says so. The
report states them; the verification proves them.

The screenshot is shown as a thumbnail: its top part (at most :data:`MAX_ASPECT` times as
tall as wide, so it fits one printed page), reduced to at most :data:`THUMB_WIDTH`
pixels wide, as PNG. A full-page screenshot can be 30,000 pixels tall; the preserved file
stays in the bundle, and the report names it with its SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, BinaryIO

KIND = "webcapture"
MANIFEST_NAME = "capture-manifest.json"
MANIFEST_LIMIT = 4 << 20  # as the verifier's (docs/verdict.md section 6, rule 1)
SCREENSHOT_ROLE = "screenshot"
SCREENSHOT_NAME = "screenshot.png"
SCREENSHOT_LIMIT = 256 << 20  # bytes read at most for the thumbnail
MAX_PIXELS = 1 << 26
"""A screenshot with more pixels than this (64 M; 1920 x 30,000 is 57.6 M) gets no
thumbnail: decoding it would hold hundreds of MB in the exporter."""
THUMB_WIDTH = 900
MAX_ASPECT = 1.3  # height / width: 180 mm wide is 234 mm tall; with heading and caption
# that is within an A4 page's body (267 mm)
TEXT_LIMIT = 2000  # characters of one value (a URL, a title) that the report shows

Opener = Callable[[], BinaryIO]
Pair = tuple[str, str]  # (Chinese, English)

# --- the fixed text ---------------------------------------------------------------------

COURT_CAN: Pair = (
    "持有已固定密钥的采集节点声明：在所记录的时间，其浏览器请求了该网址，经所示跳转到达最终网址，"
    "连接了所记录的服务器 IP 地址，收到了具有所示主体与签发者的证书，并收到了 WARC 中逐字节记录的"
    "内容，截图、PDF、DOM 与文本即由这些内容生成；采集环境如所记录（全新浏览器配置、未使用代理、"
    "所记录的 DNS 解析结果与 hosts 文件）；并且，依据账本时间与 RFC 3161 时间戳，上述一切不晚于该"
    "时间已存在且未被改动。",
    "That the capture node holding the pinned key states that, at the recorded times, its "
    "browser requested this URL, was redirected as shown to the final URL, connected to the "
    "recorded server IP address, received a certificate with this subject and issuer, and was "
    "served exactly the bytes in the WARC, from which it rendered this screenshot, PDF, DOM "
    "and text; that the environment was as recorded (fresh profile, no proxy, these resolver "
    "answers, this hosts file); and, from the ledger time and the RFC 3161 timestamps, that "
    "all of this existed, unchanged, no later than then.")
COURT_CANNOT: Pair = (
    "其他访问者看到的内容（网站可能按国家或地区、语言、设备、时间、Cookie 与机器人检测而显示不同"
    "页面；本次采集只显示该节点从其网络所获得的内容）；所记录的 IP 地址或 DNS 结果对所有人都是该"
    "网站的“真实”地址（解析服务器或网络路径可能被操纵，故予以记录；位于其他法域的采集节点可相互印证）；"
    "采集节点自身的时钟准确（开始与结束时间是节点的陈述，证明时间的是账本的时间戳，其产生于采集之后）；"
    "证书主体即页面背后的经营者（DV 证书只证明对域名的控制）；内容的作者。采集清单中的陈述只与采集"
    "节点及其密钥同样可信，因此节点密钥与账本密钥分开固定。",
    "What other visitors saw (sites vary pages by country, language, device, time, cookies "
    "and bot detection; the capture shows what this node, from its network, was served); "
    "that the recorded IP address or DNS answers are the site's \"true\" ones for everyone (a "
    "resolver or network path can be manipulated, which is why they are recorded, and a "
    "capture node in another jurisdiction can corroborate); that the node's own clock was "
    "right (the start and end times are its statements; the proof of time is the ledger's "
    "timestamps, which come after the capture); that a certificate's subject identifies the "
    "operator of the business behind the page (a DV certificate proves control of the domain "
    "only); who wrote the content. The manifest's statements are as trustworthy as the "
    "capture node and its key: that is why the node key is pinned separately from the log key.")
SOURCE_NOTE: Pair = (
    "以下各项是采集节点在其签名的采集清单（capture-manifest.json）中的陈述，时间为节点时钟；"
    "“evidence verify” 的 webcapture 检查以法院固定的采集节点密钥核验该签名及每个文件。",
    "These are the capture node's statements in its signed capture manifest "
    "(capture-manifest.json); times are the node's clock. The webcapture check of `evidence "
    "verify` checks the signature with the capture-node key the court pins, and every file.")
NO_MANIFEST_NOTE: Pair = (
    "该证据没有可读取的采集清单：以下各项取自证据的已承诺元数据，而非采集节点签名的陈述；"
    "“evidence verify” 的 webcapture 检查将不通过。",
    "This item has no readable capture manifest: the values below are the item's committed "
    "metadata, not a capture node's signed statements, and the webcapture check of `evidence "
    "verify` will fail.")

LABELS: dict[str, Pair] = {
    "http-error": ("服务器返回 4xx/5xx 错误页面；该页面照常采集。",
                   "The server answered with a 4xx/5xx error page; that page was captured."),
    "never-settled": ("网络始终未进入空闲状态（最多等待 5 秒），按当时状态采集。",
                      "The network never went idle (waited at most 5 s); captured as it was."),
    "selector-not-found": ("在限定时间内未出现所等待的页面元素。",
                           "The page element waited for did not appear in time."),
    "truncated:request-limit": ("请求数达到上限，其后的请求被阻止并列于清单中。",
                                "The request limit was reached: later requests were blocked "
                                "(listed in the manifest)."),
    "truncated:byte-limit": ("数据量达到上限：越过上限的响应被截断，其后的请求被阻止。",
                             "The byte limit was reached: the body that crossed it is cut, "
                             "later requests were blocked."),
    "truncated:screenshot-height": ("页面高于 30,000 CSS 像素：截图只含顶部 30,000 像素。",
                                    "The page is taller than 30,000 CSS pixels: the screenshot "
                                    "shows the top 30,000."),
    "truncated:scroll-limit": ("滚动在 40 个视口高度后停止（无尽页面没有底部）。",
                               "Scrolling stopped after 40 viewport heights (an endless feed "
                               "has no bottom)."),
    "tls-errors-ignored": ("按要求忽略了 TLS 证书错误：证书未经浏览器验证。",
                           "TLS certificate errors were ignored on request: the certificate "
                           "was not validated by the browser."),
    "session-supplied": ("载入了用户提供的登录会话：并非全新访问者所见；WARC 的请求记录含所发送的 "
                         "Cookie。",
                         "The user's login session was loaded: not what a fresh visitor sees; "
                         "the WARC's request records carry the cookies as sent."),
    "mixed-content": ("HTTPS 页面的一部分经明文 HTTP 加载（清单的 origins 表列出来源）。",
                      "Part of the HTTPS page was loaded over plain HTTP (the manifest's "
                      "origins table shows which)."),
}
UNKNOWN_LABEL: Pair = ("（无说明，见采集清单）", "(no explanation; see the capture manifest)")

# Control characters (a title can carry newlines or terminal escapes) and the Unicode
# bidirectional controls (which can display a URL's characters in another order) are
# shown as U+FFFD, so that what the report prints is what the manifest holds, in order.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(value: Any) -> str:
    """A manifest value as the report prints it: a string, unsafe characters visible as
    U+FFFD, at most :data:`TEXT_LIMIT` characters (cut ones end in an ellipsis)."""
    text = "" if value is None else str(value)
    text = _UNSAFE.sub("\ufffd", text)
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT] + "…"


def label_explanation(label: str) -> Pair:
    """The bilingual meaning of one label (``http-error:<status>`` by its prefix)."""
    if label in LABELS:
        return LABELS[label]
    if label.startswith("http-error:"):
        return LABELS["http-error"]
    return UNKNOWN_LABEL


# --- gathering --------------------------------------------------------------------------


def _read(open_: Opener, sha256: str, limit: int) -> bytes | None:
    """The stored file if it is at most ``limit`` bytes and is the file the entry names.
    A damaged blob is not shown here; the bundle writer stops the export on it."""
    with open_() as f:
        data = f.read(limit + 1)
    if len(data) > limit or hashlib.sha256(data).hexdigest() != sha256:
        return None
    return data


def _manifest(files: Mapping[str, tuple[str, Opener]]) -> dict[str, Any] | None:
    if MANIFEST_NAME not in files:
        return None
    data = _read(files[MANIFEST_NAME][1], files[MANIFEST_NAME][0], MANIFEST_LIMIT)
    try:
        m = json.loads(data) if data is not None else None
    except ValueError:
        return None
    return m if isinstance(m, dict) else None


def _from_manifest(m: Mapping[str, Any]) -> dict[str, Any]:
    res = m.get("result") if isinstance(m.get("result"), dict) else {}
    tls = res.get("tls") if isinstance(res.get("tls"), dict) else {}
    node = m.get("node") if isinstance(m.get("node"), dict) else {}
    req = m.get("request") if isinstance(m.get("request"), dict) else {}
    redirects = res.get("redirects") if isinstance(res.get("redirects"), list) else []
    labels = res.get("labels") if isinstance(res.get("labels"), list) else []
    return {"url": req.get("url"), "final_url": res.get("final_url"),
            "redirects": redirects[:50], "http_status": res.get("http_status"),
            "title": res.get("title"), "server_ip": res.get("server_ip"),
            "server_port": res.get("server_port"), "tls_protocol": tls.get("protocol"),
            "tls_subject": tls.get("subject"), "tls_issuer": tls.get("issuer"),
            "tls_valid_from": tls.get("valid_from"), "tls_valid_to": tls.get("valid_to"),
            "started_at": m.get("started_at"), "ended_at": m.get("ended_at"),
            "node_name": node.get("name"), "node_key": node.get("key"),
            "capture_id": m.get("capture_id"), "labels": labels[:100]}


def _from_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    stated = (metadata or {}).get("stated") or {}
    meta = stated.get("meta") if isinstance(stated.get("meta"), dict) else {}
    key = meta.get("capture_node")
    return {"url": meta.get("url") or stated.get("source_url"),
            "final_url": meta.get("final_url"), "redirects": [],
            "http_status": meta.get("http_status"), "title": meta.get("page_title"),
            "server_ip": meta.get("server_ip"), "tls_subject": meta.get("tls_subject"),
            "tls_issuer": meta.get("tls_issuer"), "started_at": meta.get("started_at"),
            "ended_at": meta.get("ended_at"),
            "node_name": str(key).split("+", 1)[0] if key else None, "node_key": key,
            "capture_id": meta.get("capture_id"),
            "labels": str(meta.get("labels") or "").split()}


def _time(value: Any) -> datetime | None:
    try:
        t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


def clock_offset(gen_times: Sequence[Any], ended_at: Any) -> tuple[str | None, float | None]:
    """(earliest genTime, genTime − ended_at in seconds); None for what is missing or
    not a time with a zone. Every timestamp in a bundle is over the one checkpoint that
    includes the item's entry, so the earliest is the first one over it."""
    times = [t for t in (_time(g) for g in gen_times) if t is not None]
    if not times:
        return None, None
    first, end = min(times), _time(ended_at)
    shown = first.isoformat().replace("+00:00", "Z")
    return shown, None if end is None else (first - end).total_seconds()


def thumbnail(png: bytes) -> dict[str, Any] | None:
    """The screenshot's top part, reduced, as base64 PNG, with the sizes; None when it is
    not an image Pillow reads or has more than :data:`MAX_PIXELS` pixels."""
    try:
        from PIL import Image
    except ModuleNotFoundError:
        return None
    try:
        with Image.open(io.BytesIO(png)) as im:
            width, height = im.size
            if width < 1 or height < 1 or width * height > MAX_PIXELS:
                return None
            shown = min(height, int(width * MAX_ASPECT))
            top = im.convert("RGB").crop((0, 0, width, shown))  # no alpha: print as seen
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    if width > THUMB_WIDTH:
        top = top.resize((THUMB_WIDTH, max(1, round(shown * THUMB_WIDTH / width))),
                         Image.Resampling.LANCZOS)
    out = io.BytesIO()
    top.save(out, "PNG", optimize=True)
    return {"width": width, "height": height, "shown_height": shown,
            "thumb_width": top.width, "thumb_height": top.height,
            "png_base64": base64.b64encode(out.getvalue()).decode("ascii")}


def _screenshot_name(m: Mapping[str, Any] | None, files: Mapping[str, Any]) -> str | None:
    for f in (m or {}).get("files") or []:
        if isinstance(f, dict) and f.get("role") == SCREENSHOT_ROLE and f.get("name") in files:
            return str(f["name"])
    return SCREENSHOT_NAME if SCREENSHOT_NAME in files else None


def webcapture_report_data(kind: str | None, metadata: Mapping[str, Any] | None,
                           files: Sequence[tuple[str, str, Opener]],
                           gen_times: Sequence[Any]) -> dict[str, Any] | None:
    """``report_data["webcapture"]`` for an item of kind ``webcapture``, else None.

    ``files``: (name, SHA-256, opener) of each preserved file (none once purged);
    ``gen_times``: the genTimes of the bundle's RFC 3161 tokens (none in a provisional
    bundle, which then states no offset). A purged item (no metadata, no files) gets
    None: nothing of the capture is left to show."""
    if kind != KIND or (metadata is None and not files):
        return None
    by_name = {name: (sha, open_) for name, sha, open_ in files}
    manifest = _manifest(by_name)
    fields = _from_manifest(manifest) if manifest is not None else _from_metadata(metadata)
    out: dict[str, Any] = {k: (v if isinstance(v, int) and not isinstance(v, bool)
                               else None if v is None else clean(v))
                           for k, v in fields.items() if k not in ("redirects", "labels")}
    out["redirects"] = [clean(u) for u in fields["redirects"]]
    out["labels"] = [clean(label) for label in fields["labels"]]
    out["source"] = "manifest" if manifest is not None else "metadata"
    out["first_gen_time"], out["clock_offset_seconds"] = clock_offset(
        gen_times, fields.get("ended_at"))
    shot = _screenshot_name(manifest, by_name)
    out["screenshot"] = None
    if shot is not None:
        sha, open_ = by_name[shot]
        png = _read(open_, sha, SCREENSHOT_LIMIT)
        thumb = None if png is None else thumbnail(png)
        out["screenshot"] = {"name": clean(shot), "sha256": sha, **(thumb or {})}
    return out


# --- what the renderings print -----------------------------------------------------------


def _v(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def _seconds(x: float) -> str:
    return f"{x:+,.3f} s"


def offset_statement(wc: Mapping[str, Any]) -> Pair:
    """The clock offset (genTime of the first timestamp − ended_at) and what its sign
    shows, as docs/evidence-kinds.md (webcapture) explains it."""
    d = wc.get("clock_offset_seconds")
    if d is None:
        if not wc.get("first_gen_time"):
            return ("无法计算：本证据包没有 RFC 3161 时间戳，不证明任何时间。",
                    "Not available: this bundle has no RFC 3161 timestamp and proves no time.")
        return ("无法计算：结束时间不是带时区的时间。",
                "Not available: the end time is not a time with a zone.")
    head = (f"{_seconds(d)}（第一个时间戳的 genTime {wc['first_gen_time']} - 结束时间 "
            f"{wc.get('ended_at')}）。",
            f"{_seconds(d)} (genTime of the first timestamp {wc['first_gen_time']} - "
            f"ended_at {wc.get('ended_at')}).")
    if d < 0:
        return (head[0] + f"负数：在时间戳声明的精度内，证明采集节点的时钟至少快了 {-d:,.3f} 秒"
                "（清单所称的结束时间晚于时间戳机构担保采集已存在的时间）。",
                head[1] + f" Negative: within the token's stated accuracy, this proves the "
                f"capture node's clock was ahead by at least {-d:,.3f} s (the manifest claims "
                "an end after a time the TSA vouches the capture already existed).")
    return (head[0] + "零或正数：时钟准确时即为采集结束到第一个时间戳的间隔；它只说明节点时钟"
            f"最多慢了 {d:,.3f} 秒，不能证明时钟准确，也不能为开始时间给出下限"
            "（时间戳只证明“不晚于”）。",
            head[1] + f" Zero or positive: with a correct clock, the delay from the end of the "
            f"capture to the first timestamp. It shows only that the node's clock was at most "
            f"{d:,.3f} s behind; it cannot show the clock was right, and nothing bounds "
            "started_at from below (a timestamp proves \"no later than\", never \"no earlier "
            "than\").")


def rows(wc: Mapping[str, Any], zone: str | None = None) -> list[tuple[str, str, str]]:
    """(label zh, label en, value) rows of the web capture section; with ``zone``
    (:mod:`evidence.ledger.bundle.report_time`) the start and end also in that zone."""
    from evidence.ledger.bundle import report_time

    def when(value: Any) -> str:
        return _v(value) if zone is None else report_time.both(value, zone)

    tls = _v(wc.get("tls_protocol"))
    port = f" (port / 端口 {wc['server_port']})" if wc.get("server_port") else ""
    node = _v(wc.get("node_name"))
    validity = (f"{_v(wc.get('tls_valid_from'))} – {_v(wc.get('tls_valid_to'))}"
                if wc.get("tls_valid_from") or wc.get("tls_valid_to") else "-")
    redirects = wc.get("redirects") or []
    return [
        ("网址", "URL", _v(wc.get("url"))),
        ("最终网址（跳转后）", "Final URL (after redirects)", _v(wc.get("final_url"))),
        ("跳转链", "Redirect chain",
         "\n".join(f"{i}. {u}" for i, u in enumerate(redirects, 1)) if len(redirects) > 1
         else "无跳转 none"),
        ("HTTP 状态码", "HTTP status", _v(wc.get("http_status"))),
        ("页面标题", "Page title", _v(wc.get("title"))),
        ("服务器 IP", "Server IP", _v(wc.get("server_ip")) + port),
        ("TLS 协议", "TLS protocol", tls),
        ("证书主体", "Certificate subject", _v(wc.get("tls_subject"))),
        ("证书签发者", "Certificate issuer", _v(wc.get("tls_issuer"))),
        ("证书有效期", "Certificate validity", validity),
        ("开始时间（节点时钟，UTC）", "Started (node's clock, UTC)", when(wc.get("started_at"))),
        ("结束时间（节点时钟，UTC）", "Ended (node's clock, UTC)", when(wc.get("ended_at"))),
        ("采集节点", "Capture node", node),
        ("采集节点公钥", "Capture node key", _v(wc.get("node_key"))),
        ("采集编号", "Capture id", _v(wc.get("capture_id"))),
        ("标签", "Labels", " ".join(wc.get("labels") or []) or "无 none"),
        # ASCII "-": the CJK fonts the PDF embeds may have no U+2212 minus sign
        ("时钟偏差（第一个时间戳 - 结束时间）", "Clock offset (first timestamp - ended_at)",
         "-" if wc.get("clock_offset_seconds") is None
         else _seconds(wc["clock_offset_seconds"])),
    ]


def label_rows(wc: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(label, meaning zh, meaning en) for each label the capture carries."""
    return [(label, *label_explanation(label)) for label in wc.get("labels") or []]


def source_note(wc: Mapping[str, Any]) -> Pair:
    return SOURCE_NOTE if wc.get("source") == "manifest" else NO_MANIFEST_NOTE


def screenshot_caption(wc: Mapping[str, Any]) -> Pair | None:
    """What the thumbnail is (or why there is none), or None without a screenshot."""
    s = wc.get("screenshot")
    if not s:
        return None
    if not s.get("png_base64"):
        return (f"截图 {s['name']}（SHA-256 {s['sha256']}）未能在此显示缩略图（不是可读取的图像，"
                "或像素过多）；请打开证据包中的文件。",
                f"The screenshot {s['name']} (SHA-256 {s['sha256']}) could not be shown here "
                "(not a readable image, or too many pixels); open the file in the bundle.")
    part = ("全图" if s["shown_height"] >= s["height"] else f"顶部 {s['shown_height']:,} 像素",
            "whole" if s["shown_height"] >= s["height"] else f"top {s['shown_height']:,} px")
    return (f"缩略图，由导出程序生成（{part[0]}，原图 {s['width']:,}×{s['height']:,} 像素）。"
            f"作为证据的是证据包中的文件 {s['name']}（SHA-256 {s['sha256']}）。",
            f"Thumbnail made by the exporter ({part[1]} of {s['width']:,}×{s['height']:,} px). "
            f"The evidence is the file {s['name']} in the bundle (SHA-256 {s['sha256']}).")


def thumbnail_png(wc: Mapping[str, Any]) -> bytes | None:
    s = wc.get("screenshot") or {}
    return base64.b64decode(s["png_base64"]) if s.get("png_base64") else None
