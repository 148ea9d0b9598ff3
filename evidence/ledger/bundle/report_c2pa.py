"""C2PA content credentials in the court report: what was found at intake, in Chinese and
English, and what a court can and cannot conclude from a credential.

:func:`c2pa_facts` turns the committed metadata's ``"c2pa"`` sections
(:mod:`evidence.ledger.intake.metadata.c2pa_check`) into ``report_data["c2pa"]``: one entry
per file that carries a manifest store (files without one are not listed). :func:`rows`
gives the (zh, en, value) rows every rendering prints (HTML, PDF and text alike), and
:data:`COURT_CAN`/:data:`COURT_CANNOT` the pair docs/evidence-kinds.md states, so the three
renderings cannot drift apart.

Every string comes from a manifest a stranger signed: it passes through
:func:`evidence.ledger.bundle.report_webcapture.clean` here, and the renderings escape it
again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evidence.ledger.bundle.report_webcapture import clean

Pair = tuple[str, str]  # (Chinese, English)

MAX_LISTED = 20  # actions, ingredients, codes shown; the report says how many more

TITLE: Pair = ("内容凭证（C2PA）", "Content credentials (C2PA)")

NOTE: Pair = (
    "以下为文件所含 C2PA 清单（内容凭证）中签名者的陈述，按原样记录；提交时由本服务离线"
    "核验（不联网，不获取远程清单），核验结果记入已承诺的元数据。",
    "These are the statements of the signer of the C2PA manifest (content credential) the "
    "file carries, recorded as found; the service validated it offline at submission (no "
    "network, no remote manifest) and committed the result with the metadata.")

COURT_CAN: Pair = (
    "结果为 Valid 或 Trusted 时：所示证书的私钥持有者签署了该清单，且文件自签名后未被改动"
    "（所签哈希与文件一致）；清单中所列的生成软件、操作记录（如创建、编辑、裁剪）与素材，正是签名者"
    "对该文件历史所作的陈述。结果为 Trusted 时，该证书还可链接到运营方配置的信任列表（见其 "
    "SHA-256）。结果为 Invalid 时：文件或清单在签名后被改动，或签名不成立（见错误代码）。",
    "With `Valid` or `Trusted`: the holder of the private key of the certificate shown "
    "signed this manifest, and the file was not changed after signing (the signed hashes "
    "match it); the claim generator, the actions (created, edited, cropped, ...) and the "
    "ingredients listed are what that signer states about the file's history. With "
    "`Trusted`, the certificate also chains to the trust list the operator configured (see "
    "its SHA-256). With `Invalid`: the file or the manifest changed after signing, or the "
    "signature does not hold (see the codes).")

COURT_CANNOT: Pair = (
    "照片由证书上所列之人拍摄或制作，或所载内容真实。内容凭证证明的是签名者对文件历史的陈述，"
    "而非谁拍摄了照片：签名者可以是相机、编辑软件或任何持有证书的人，其陈述可能不完整或不实；"
    "操作时间（when）是签名设备的时钟，除非清单带有时间戳，否则没有签名时间；未配置信任列表时，"
    "不能认定签名者身份可信（结果最多为 Valid）。没有内容凭证也不说明任何事项：大多数文件没有，"
    "社交平台和通讯软件通常会将其删除。",
    "That the person named in the certificate took or made the picture, or that what it "
    "shows is true. A content credential shows what its signer claims about the file's "
    "history; it is not proof of who made the photo: the signer may be a camera, an editing "
    "program or anyone holding a certificate, and its statements may be incomplete or "
    "false. Action times (`when`) are the signing device's clock, and there is no signing "
    "time unless the manifest carries a timestamp. Without a configured trust list, nothing "
    "can be concluded about the signer's identity (the state is at most `Valid`). The "
    "absence of a credential shows nothing: most files have none, and platforms and "
    "messengers usually strip them.")


def _t(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = clean(value).strip()
    return text or None


def c2pa_facts(metadata: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """``report_data["c2pa"]``: per file carrying a manifest store, what the report shows."""
    ex = (metadata or {}).get("extracted")
    files = ex.get("files") if isinstance(ex, dict) else None
    out = []
    for f in files or []:
        c = f.get("c2pa") if isinstance(f, dict) else None
        if not isinstance(c, dict) or c.get("present") is not True:
            continue
        signer = c.get("signer") if isinstance(c.get("signer"), dict) else {}
        errors = [e for e in c.get("validation_errors") or [] if isinstance(e, dict)]
        actions = [a for a in c.get("actions") or [] if isinstance(a, dict)]
        ingredients = [i for i in c.get("ingredients") or [] if isinstance(i, dict)]
        out.append({
            "file": _t(f.get("name")),
            "state": _t(c.get("validation_state")),
            "error": _t(c.get("error")),
            "codes": [_t(e.get("code")) or "?" for e in errors[:MAX_LISTED]],
            "codes_total": c.get("validation_errors_total") if isinstance(
                c.get("validation_errors_total"), int) else len(errors),
            "signer_subject": _t(signer.get("subject")) or _t(signer.get("common_name")),
            "signer_issuer": _t(signer.get("issuer")),
            "signer_serial": _t(signer.get("serial")),
            "claim_generator": _t(c.get("claim_generator")),
            "signing_time": _t(c.get("signing_time")),
            "trusted": c.get("trusted") if isinstance(c.get("trusted"), bool) else None,
            "trust_list_sha256": _t(c.get("trust_list_sha256")),
            "actions": [{"action": _t(a.get("action")), "software_agent":
                         _t(a.get("software_agent")), "when": _t(a.get("when"))}
                        for a in actions[:MAX_LISTED]],
            "actions_total": c.get("actions_total") if isinstance(
                c.get("actions_total"), int) else len(actions),
            "ingredients": [{"title": _t(i.get("title")), "format": _t(i.get("format")),
                             "relationship": _t(i.get("relationship"))}
                            for i in ingredients[:MAX_LISTED]],
            "ingredients_total": c.get("ingredients_total") if isinstance(
                c.get("ingredients_total"), int) else len(ingredients),
            "active_manifest": _t(c.get("active_manifest")),
            "sdk": _t(c.get("sdk")),
        })
    return out


def state_text(e: Mapping[str, Any]) -> str:
    """The validation result in both languages (two lines: Chinese, English)."""
    state = e.get("state")
    if state is None:
        reason = e.get("error") or "-"
        return f"无法读取：{reason}\nCannot be read: {reason}"
    if state == "Trusted":
        return ("Trusted（可信）：格式与签名均有效，签名证书可链接到所配置的信任列表\n"
                "Trusted: valid, and the signing certificate chains to the configured trust "
                "list")
    if state == "Valid":
        if e.get("trusted") is None:
            tail = ("；未配置信任列表，未核对签名者是否可信",
                    "; no trust list is configured, so the signer's trust was not checked")
        else:
            tail = ("；签名证书不能链接到所配置的信任列表",
                    "; the signing certificate does not chain to the configured trust list")
        return (f"Valid（有效）：清单格式完整，签名与哈希均相符{tail[0]}\n"
                f"Valid: the manifest is well formed, its signature and hashes match{tail[1]}")
    if state == "Invalid":
        return ("Invalid（无效）：文件或清单在签名后被改动，或签名不成立\n"
                "Invalid: the file or the manifest changed after signing, or the signature "
                "does not hold")
    return f"{state}"


def _more(shown: int, total: int) -> list[str]:
    return [f"… 另有 {total - shown} 项 / {total - shown} more"] if total > shown else []


def rows(e: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The rows of one file's credential: (label zh, label en, value)."""
    out = [("文件", "File", e.get("file") or "-"),
           ("核验结果", "Validation", state_text(e))]
    if e.get("state") is None:
        return out
    if e.get("codes"):
        out.append(("错误代码", "Failure codes",
                    "\n".join([*e["codes"], *_more(len(e["codes"]), e.get("codes_total", 0))])))
    signer = e.get("signer_subject") or "-"
    if e.get("signer_issuer"):
        signer += f"\n签发者 issued by: {e['signer_issuer']}"
    if e.get("signer_serial"):
        signer += f"\n序列号 serial: {e['signer_serial']}"
    out.append(("签名证书", "Signing certificate", signer))
    if e.get("trust_list_sha256"):
        out.append(("信任列表（SHA-256）", "Trust list (SHA-256)", e["trust_list_sha256"]))
    out.append(("生成软件（claim generator）", "Claim generator", e.get("claim_generator") or "-"))
    out.append(("签名时间", "Signing time", e.get("signing_time") or
                "清单中没有时间戳 / none: the manifest carries no timestamp"))
    acts = [" · ".join(x for x in (a.get("action") or "?", a.get("software_agent"),
                                   a.get("when")) if x) for a in e.get("actions") or []]
    out.append(("操作记录（签名者的陈述）", "Actions (the signer's statements)",
                "\n".join([*acts, *_more(len(acts), e.get("actions_total", 0))]) or "-"))
    ingr = [" · ".join(x for x in (i.get("title") or "?", i.get("format"),
                                   i.get("relationship")) if x)
            for i in e.get("ingredients") or []]
    if ingr:
        out.append(("素材（ingredients）", "Ingredients",
                    "\n".join([*ingr, *_more(len(ingr), e.get("ingredients_total", 0))])))
    out.append(("有效清单", "Active manifest", e.get("active_manifest") or "-"))
    if e.get("sdk"):
        out.append(("核验程序", "Validated with", f"c2pa-rs {e['sdk']}"))
    return out
