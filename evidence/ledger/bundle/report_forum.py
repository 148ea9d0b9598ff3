"""The rules of the forum, as a checklist: each rule in a line, and the facts that meet it.

The report lists, for the forum the evidence is presented in (``evidence export --forum
cn|eu|us|intl``; default all four), the rules a judge applies to electronic evidence, each
with the facts of this bundle that bear on it. Only facts the bundle carries and the
verification checks are stated (hashes, the ledger entry, timestamps, witnesses, the
submitter's signature, the custody trail, a web capture's signed manifest); whatever they
cannot show is "未确立 not established", and a TSA's eIDAS qualified status is "未确定 not
determined" unless an EU trusted-list snapshot is configured (``[eidas] trusted_lists``,
``evidence export --trusted-list``): then each TSA is qualified, not qualified or not on
the list at its token's genTime (:mod:`evidence.ledger.bundle.trusted_list`), and each
list is named with its date, sequence number and SHA-256, and as not verified by its own
signature. Whether the facts satisfy a rule is for the court: the checklist never says
"complies".

The rule texts are short paraphrases; docs/report.md gives them with their sources.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Pair = tuple[str, str]
NOT_ESTABLISHED: Pair = ("未确立", "not established")
NOT_DETERMINED: Pair = ("未确定", "not determined")


@dataclass(frozen=True)
class Rule:
    ref: str  # "Art. 16", "FRE 902(14)"
    text: Pair  # the rule, short
    facts: Callable[[dict[str, Any]], Pair | None]  # None: not established


@dataclass(frozen=True)
class Forum:
    key: str
    title: Pair
    source: str
    rules: tuple[Rule, ...]


# --- facts, from report_data ---------------------------------------------------------------


def _anchored(d: dict[str, Any]) -> bool:
    return bool(d.get("timestamps")) and not d.get("provisional")


def _integrity(d: dict[str, Any]) -> Pair | None:
    if not d.get("files") and not d.get("purged"):
        return None
    cp = d.get("checkpoint") or {}
    n, seq = len(d.get("files") or []), d.get("submission_seq")
    zh = (f"{n} 个文件的 SHA-256 记入第 {seq} 条记录（叶哈希 {d.get('leaf_hash') or '-'}），"
          f"该记录包含于大小为 {cp.get('size')} 的已签名检查点")
    en = (f"the SHA-256 of {n} file(s) is in entry {seq} (leaf hash "
          f"{d.get('leaf_hash') or '-'}), included in the signed checkpoint of size "
          f"{cp.get('size')}")
    if _anchored(d):
        zh += f"；{len(d['timestamps'])} 个 RFC 3161 时间戳证明该检查点不晚于其 genTime 已存在"
        en += (f"; {len(d['timestamps'])} RFC 3161 timestamp(s) prove the checkpoint existed "
               "no later than their genTime")
    w = d.get("witnesses") or []
    if w:
        zh += f"；{len(w)} 个见证方联署"
        en += f"; cosigned by {len(w)} witness(es)"
    return zh + "。", en + "."


def _platform(d: dict[str, Any]) -> Pair | None:
    log = d.get("log") or {}
    if not log.get("origin"):
        return None
    return (f"日志 {log['origin']}：只增不改的 Merkle 树日志（RFC 9162），检查点由日志公钥签名；"
            "该日志是否属于第 16 条所称的区块链、平台是否符合有关规定与标准，由法院判断；"
            "与当事人的利害关系未确立。",
            f"log {log['origin']}: an append-only Merkle-tree log (RFC 9162) whose checkpoints "
            "the log key signs; whether it is a blockchain in the sense of Art. 16, and whether "
            "the platform meets the rules and standards, is for the court; the platform's "
            "relation to the parties is not established.")


def _source(d: dict[str, Any]) -> Pair | None:
    wc = d.get("webcapture")
    if wc and wc.get("source") == "manifest":
        return (f"网页由采集节点 {wc.get('node_name') or '-'} 采集，其签名清单记录网址、服务器、"
                "证书与采集环境（见“网页取证”）。",
                f"the page was captured by capture node {wc.get('node_name') or '-'}, whose "
                "signed manifest records the URL, server, certificate and environment (see "
                "Web capture).")
    sig = (d.get("submitter_signature") or {}).get("state")
    if sig == "signed":
        return ("提交方以自己的密钥签署了所提交的内容；上链前数据的来源与生成未确立。",
                "the submitter signed what was submitted with its own key; the source and "
                "generation of the data before entry are not established.")
    return None


def _who(d: dict[str, Any]) -> Pair | None:
    s = d.get("submitter") or {}
    who = s.get("organisation") or s.get("display_name") or s.get("principal") \
        or d.get("principal")
    if not who:
        return None
    sig = d.get("submitter_signature") or {}
    signed = (f"，以密钥 {sig.get('key')} 签名" if sig.get("state") == "signed" else "，未签名",
              f", signed with key {sig.get('key')}" if sig.get("state") == "signed"
              else ", not signed")
    return (f"提交方 {who}{signed[0]}；提交时间（日志时间）{d.get('submitted_at')}。",
            f"submitted by {who}{signed[1]}; log time {d.get('submitted_at')}.")


def _custody(d: dict[str, Any]) -> Pair | None:
    c = d.get("custody") or []
    if not c:
        return None
    return (f"保管时间线：{len(c)} 条记录，均在同一已签名日志中，证据包附有包含证明。",
            f"custody timeline: {len(c)} entries, all in the same signed log, with inclusion "
            "proofs in the bundle.")


def _verifiable(d: dict[str, Any]) -> Pair | None:
    if not d.get("verify_commands"):
        return None
    return ("可用离线验证程序重复核验（见“如何独立验证”），哈希可用 sha256sum 复算。",
            "verification can be repeated offline (see How to verify independently); the "
            "hashes can be recomputed with sha256sum.")


def _time(d: dict[str, Any]) -> Pair | None:
    if not _anchored(d):
        return None
    ts = "; ".join(f"{t.get('tsa')} {t.get('gen_time')}" for t in d["timestamps"])
    return (f"RFC 3161 时间戳：{ts}。", f"RFC 3161 timestamps: {ts}.")


def _tsa_name(t: dict[str, Any]) -> str:
    return str(t.get("legal_name") or t.get("subject_o") or t.get("tsa"))


def _one_tsa(t: dict[str, Any]) -> Pair:
    """One TSA's eIDAS status at genTime, per the configured trusted lists."""
    name, e = _tsa_name(t), t.get("eidas") or {}
    state, g = e.get("state"), t.get("gen_time")
    where = (f"{e.get('list')}（{e.get('territory') or '-'}），服务“{e.get('service')}”，"
             f"提供方 {e.get('tsp')}",
             f"list {e.get('list')} ({e.get('territory') or '-'}), service "
             f"\"{e.get('service')}\" of {e.get('tsp')}")
    how = ("签名证书" if e.get("match") == "signer" else "签发该证书的 CA 证书",
           "its signing certificate" if e.get("match") == "signer"
           else "the CA certificate that issued its signing certificate")
    if state == "qualified":
        return (f"{name}：合格时间戳——genTime {g} 时，名单所列 QTST 服务状态为 granted（自 "
                f"{e.get('status_since')} 起）；{where[0]}；按{how[0]}匹配",
                f"{name}: qualified: at genTime {g} the listed QTST service was granted "
                f"(since {e.get('status_since')}); {where[1]}; matched by {how[1]}")
    if state == "not_qualified":
        st = (f"状态为 {e.get('status')}（{e.get('status_type')}，自 {e.get('status_since')} "
              "起）" if e.get("status") else "尚未列入",
              f"had the status {e.get('status')} ({e.get('status_type')}, since "
              f"{e.get('status_since')})" if e.get("status") else "was not listed yet")
        return (f"{name}：非合格——genTime {g} 时该服务{st[0]}；{where[0]}",
                f"{name}: not qualified: at genTime {g} the service {st[1]}; {where[1]}")
    if state == "not_listed":
        return (f"{name}：不在所配置的可信名单上（无 QTST 服务列出其签名证书或签发 CA 证书）",
                f"{name}: not on the configured trusted list(s) (no QTST service lists its "
                "signing certificate or an issuing CA's)")
    return (f"{name}：未确定（该时间戳的证书链未能按所配置的根证书重新核验）",
            f"{name}: not determined (the token's certificate chain could not be re-verified "
            "against the TSA's configured roots)")


def _snapshot(tl: dict[str, Any]) -> Pair:
    """A configured list: which, dated when, and that its signature was not checked."""
    seq = tl.get("sequence")
    return (f"可信名单快照 {tl.get('file')}（{tl.get('territory') or '-'}，"
            f"{tl.get('operator') or '-'}），快照日期 {tl.get('issued') or '-'}，"
            f"下次更新 {tl.get('next_update') or '-'}，序号 {seq if seq is not None else '-'}；"
            "本报告未核验该名单自身的签名；该文件由运营方配置（SHA-256 "
            f"{tl.get('sha256')}）",
            f"trusted-list snapshot {tl.get('file')} ({tl.get('territory') or '-'}, "
            f"{tl.get('operator') or '-'}), snapshot dated {tl.get('issued') or '-'}, next "
            f"update {tl.get('next_update') or '-'}, sequence number "
            f"{seq if seq is not None else '-'}; the list's own signature was not verified "
            "by this report; the operator configured this file (SHA-256 "
            f"{tl.get('sha256')})")


def _qualified(d: dict[str, Any]) -> Pair | None:
    if not _anchored(d):
        return None
    lists = d.get("eidas_trusted_list") or []
    if not lists:
        names = ", ".join(_tsa_name(t) for t in d["timestamps"])
        return (f"时间戳机构：{names}；是否为合格时间戳（欧盟可信名单）：未确定（未配置可信名单快"
                f"照）。",
                f"TSA(s): {names}; qualified (EU trusted list): not determined (no trusted-list "
                "snapshot is configured).")
    tsas = [_one_tsa(t) for t in d["timestamps"]]
    snaps = [_snapshot(tl) for tl in lists]
    return ("是否为合格时间戳（欧盟可信名单）：" + "；".join(p[0] for p in tsas) + "。"
            + "。".join(p[0] for p in snaps) + "。",
            "Qualified (EU trusted list): " + "; ".join(p[1] for p in tsas) + ". "
            + ". ".join(p[1][0].upper() + p[1][1:] for p in snaps) + ".")


def _hash_902_14(d: dict[str, Any]) -> Pair | None:
    if not d.get("files"):
        return None
    return ("数字识别方法：每个文件的 SHA-256 与所保全的副本一致即可证明为同一数据；"
            "合格人员的证明书（902(11)/(12)）与事先通知：未确立。",
            "process of digital identification: the SHA-256 of each file identifies the "
            "preserved copy; the certification of a qualified person (902(11)/(12)) and the "
            "notice: not established.")


def _process_902_13(d: dict[str, Any]) -> Pair | None:
    i = _integrity(d)
    if i is None:
        return None
    return (i[0] + "系统产生准确结果的合格人员证明书：未确立。",
            i[1] + " A qualified person's certification that the system produces an accurate "
            "result: not established.")


def _url(d: dict[str, Any]) -> Pair | None:
    u = d.get("source_url")
    return None if not u else (f"来源网址：{u}。", f"source URL: {u}.")


def _acq_time(d: dict[str, Any]) -> Pair | None:
    wc = d.get("webcapture") or {}
    if wc.get("started_at"):
        return (f"采集时间（节点时钟）：{wc.get('started_at')} 至 {wc.get('ended_at')}。",
                f"acquired (node's clock): {wc.get('started_at')} to {wc.get('ended_at')}.")
    return None  # an upload's acquisition time is the submitter's, not recorded


def _tool(d: dict[str, Any]) -> Pair | None:
    wc = d.get("webcapture") or {}
    if wc.get("source") == "manifest":
        return ("采集工具：无头 Chromium 采集节点，环境记录于签名清单。",
                "tool: headless Chromium capture node, environment in the signed manifest.")
    return None


def _hashes(d: dict[str, Any]) -> Pair | None:
    files = d.get("files") or []
    if not files:
        return None
    return (f"{len(files)} 个文件的 SHA-256（见“文件”）。",
            f"SHA-256 of {len(files)} file(s) (see Files).")


FORUMS: dict[str, Forum] = {
    "cn": Forum("cn", ("中国：《人民法院在线诉讼规则》第16-18条；《最高人民法院关于互联网法院审理"
                       "案件若干问题的规定》第11条",
                       "China: Online Litigation Rules of the People's Courts Art. 16-18; "
                       "Internet Courts Provisions Art. 11"),
                "法释〔2021〕12号；法释〔2018〕16号", (
        Rule("第16条 Art. 16", ("存储后经技术核验一致的，可认定上链后未经篡改（有相反证据的除外）"
                              "。",
                                "Data found consistent on technical verification: the court may "
                                "find it unaltered since entry, unless rebutted."), _integrity),
        Rule("第17条 Art. 17", ("上链后真实性有异议的，审查平台资质、利害关系、系统与存证过程是否"
                              "符合标准。",
                                "On a challenge after entry: the platform, its relation to the "
                                "parties, its systems and the process against the standards."),
             _platform),
        Rule("第18条 Art. 18", ("上链前真实性有异议的，审查数据的来源、生成机制、存储过程及印证。",
                                "On a challenge before entry: the data's source, how it was "
                                "generated and stored, and corroboration."), _source),
        Rule("互联网法院规定第11条 Art. 11", (
            "审查生成、收集、存储、传输的真实性；经电子签名、可信时间戳、哈希值校验、区块链等技术手段"
            "能证明真实性的，应当确认。",
            "Authenticity of generation, collection, storage and transmission; confirmed where "
            "e-signatures, trusted timestamps, hash checks or blockchain prove it."),
             lambda d: _join(_who(d), _integrity(d), _custody(d), _verifiable(d))),
    )),
    "eu": Forum("eu", ("欧盟：eIDAS 条例第41-42条（电子时间戳）",
                       "EU: eIDAS Regulation Art. 41-42 (electronic time stamps)"),
                "Regulation (EU) No 910/2014", (
        Rule("Art. 41(1)", ("电子时间戳不得仅因其为电子形式或非合格而被否定法律效力与证据资格。",
                            "A time stamp is not denied legal effect or admissibility solely "
                            "for being electronic or not qualified."), _time),
        Rule("Art. 41(2), 42", ("合格电子时间戳推定其日期时间准确、所绑定的数据完整。",
                                "A qualified time stamp is presumed accurate in date and time "
                                "and in the integrity of the data bound to it."), _qualified),
    )),
    "us": Forum("us", ("美国：《联邦证据规则》第902(13)-(14)条", "US: Federal Rules of Evidence "
                       "902(13)-(14)"), "Fed. R. Evid. 902", (
        Rule("902(13)", ("由电子程序或系统产生、经合格人员证明产生准确结果的记录，可自我认证。",
                         "A record generated by an electronic process or system shown, by a "
                         "qualified person's certification, to produce an accurate result."),
             _process_902_13),
        Rule("902(14)", ("经数字识别方法（如哈希）认证、并有合格人员证明的复制数据，可自我认证。",
                         "Data copied from a device, medium or file, authenticated by a "
                         "process of digital identification (e.g. hash), as certified by a "
                         "qualified person."), _hash_902_14),
    )),
    "intl": Forum("intl", ("国际：伯克利议定书与 ISO/IEC 27037 的取证记录要素",
                           "International: acquisition record of the Berkeley Protocol and "
                           "ISO/IEC 27037"),
                  "Berkeley Protocol on Digital Open Source Investigations (OHCHR, 2022); "
                  "ISO/IEC 27037:2012", (
        Rule("source / 来源", ("来源（网址或位置）。", "Source (URL or location)."), _url),
        Rule("time / 时间", ("采集日期与时间。", "Date and time of acquisition."),
             lambda d: _join(_acq_time(d), _time(d))),
        Rule("who / 人员", ("采集人员或机构。", "Who acquired it."), _who),
        Rule("tool / 工具", ("所用工具与方法。", "Tools and method used."), _tool),
        Rule("hash / 哈希", ("哈希值。", "Hash values."), _hashes),
        Rule("custody / 保管", ("保管链。", "Chain of custody."), _custody),
    )),
}


def _join(*parts: Pair | None) -> Pair | None:
    got = [p for p in parts if p is not None]
    if not got:
        return None
    return "".join(p[0] for p in got), " ".join(p[1] for p in got)


def checklist(data: dict[str, Any]) -> list[tuple[Forum, list[tuple[Rule, Pair, bool]]]]:
    """For each forum chosen (``data["forum"]``, default all): each rule, the facts that
    bear on it (or "not established") and whether any fact was found."""
    out = []
    for key in data.get("forum") or list(FORUMS):
        forum = FORUMS[key]
        rows = []
        for rule in forum.rules:
            facts = rule.facts(data)
            rows.append((rule, facts if facts is not None else NOT_ESTABLISHED,
                         facts is not None))
        out.append((forum, rows))
    return out


NOTE: Pair = (
    "以下各项只列出本证据包所载、并经核验程序检查的事实；无此类事实的，注明“未确立”。是否符合各项"
    "规则由法院判断。规则文本为摘要，全文及出处见 docs/report.md。",
    "Each line states only facts this bundle carries and the verification checks; where "
    "there are none it says \"not established\". Whether they meet a rule is for the court. "
    "The rules are summarised; docs/report.md gives the texts and their sources.")
