"""Checking a server-side web capture (evidence kind ``webcapture``) from its files alone.

What is checked, in order, and why each matters to a court:

1. the capture manifest is RFC 8785 JSON of schema ``evidence.webcapture.manifest/v1``
   and its signature (``capture-manifest.sig``, a C2SP signed note over the manifest's
   SHA-256) verifies with a pinned capture-node key (trust file ``#@ capture-node``):
   the node vouches for everything the manifest says;
2. every file the manifest lists (screenshot, WACZ, PDF, DOM, text, HAR, video) is
   present with that size and SHA-256: the signature then covers them too;
3. the WACZ: ``datapackage-digest.json`` names the SHA-256 of ``datapackage.json``,
   which names the SHA-256 and size of every resource in the archive;
4. every WARC record in the WACZ: its ``WARC-Block-Digest`` and ``WARC-Payload-Digest``
   match the bytes (a small reader over gzip members; no warcio here).

Without a pinned capture-node key the file checks are still made but the result is
``not-checked``: nothing then says the files came from a capture node at all.

Pure: stdlib, ``cryptography`` (through :mod:`evidence.verify.note`) and ``rfc8785``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import rfc8785

from evidence.verify.errors import NoteError, VerificationError
from evidence.verify.note import Verifier, open_note

MANIFEST_SCHEMA = "evidence.webcapture.manifest/v1"
SIGNATURE_HEADER = "evidence.webcapture/v1"
MANIFEST_NAME = "capture-manifest.json"
SIGNATURE_NAME = "capture-manifest.sig"

PASS, FAIL, NOT_CHECKED = "pass", "fail", "not-checked"

MAX_MANIFEST = 4 << 20
_WACZ_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
MAX_DATAPACKAGE = 4 << 20  # each of datapackage.json and datapackage-digest.json, inflated
MAX_WACZ_MEMBERS = 10_000
MAX_WARC_RECORDS = 200_000
MAX_WARC_HEADER = 64 << 10
MAX_INFLATED = 8 << 30  # all WARC bytes after gunzip: a bomb stops here
_CHUNK = 1 << 16


def signed_text(manifest_sha256: str) -> str:
    """The text the capture node signs: the schema line and the manifest's SHA-256."""
    return f"{SIGNATURE_HEADER}\n{manifest_sha256}\n"


class WebcaptureError(VerificationError):
    """The capture's files do not hold together (reason in English and Chinese)."""

    def __init__(self, reason: str, reason_zh: str) -> None:
        super().__init__(reason)
        self.reason_zh = reason_zh


@dataclass(frozen=True)
class WebcaptureResult:
    """The ``webcapture`` check: ``status`` pass / fail / not-checked (no capture-node key
    pinned), one-line reasons, and on pass or not-checked what the capture shows."""

    status: str
    reason: str
    reason_zh: str
    summary: dict[str, Any] = field(default_factory=dict)
    warc_records: int = 0

    def to_check(self) -> dict[str, Any]:
        return {"name": "webcapture", "status": self.status, "ok": self.status == PASS,
                "required": True, "reason": self.reason, "reason_zh": self.reason_zh}


# --- WARC ----------------------------------------------------------------------------------


def _digest_matches(value: str, data_hash: dict[str, Any]) -> bool | None:
    """Compare ``algo:encoded`` with the computed hashes; None if the algorithm is unknown."""
    algo, _, enc = value.strip().partition(":")
    h = data_hash.get(algo.lower().replace("-", ""))
    if h is None:
        return None
    want = h.digest()
    for decode in (lambda s: base64.b32decode(s.upper()), lambda s: bytes.fromhex(s),
                   lambda s: base64.b64decode(s, validate=True)):
        try:
            if decode(enc) == want:
                return True
        except (binascii.Error, ValueError):
            continue
    return False


class _Inflate:
    """All gzip members of a stream, one after another, with a cap on the output."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.buf = bytearray()
        self.total = 0
        self.d = zlib.decompressobj(wbits=31)
        self.eof = False

    def _fill(self, need: int) -> None:
        while len(self.buf) < need and not self.eof:
            if self.d.eof:  # one member done: the next starts in unused_data or the file
                chunk = self.d.unused_data or self.raw.read(_CHUNK)
                self.d = zlib.decompressobj(wbits=31)
                if not chunk:
                    self.eof = True
                    break
            else:
                chunk = self.d.unconsumed_tail or self.raw.read(_CHUNK)
                if not chunk:
                    raise WebcaptureError("a WARC file in the WACZ is cut short",
                                          "WACZ 中的 WARC 文件不完整（被截断）")
            try:
                out = self.d.decompress(chunk, _CHUNK * 4)
            except zlib.error:
                raise WebcaptureError("a WARC file in the WACZ is not valid gzip",
                                      "WACZ 中的 WARC 文件不是有效的 gzip 数据") from None
            self.total += len(out)
            if self.total > MAX_INFLATED:
                raise WebcaptureError("a WARC file in the WACZ inflates beyond 8 GiB",
                                      "WACZ 中的 WARC 文件解压后超过 8 GiB")
            self.buf += out

    def read_until(self, sep: bytes, limit: int) -> bytes | None:
        """The bytes up to and including ``sep``, which must end within ``limit`` bytes:
        a rule on the bytes alone, the same however the gzip members split them."""
        start = 0
        while True:
            i = self.buf.find(sep, start)
            if i >= 0 and i + len(sep) <= limit:
                out = bytes(self.buf[:i + len(sep)])
                del self.buf[:i + len(sep)]
                return out
            if i >= 0 or len(self.buf) >= limit:
                raise WebcaptureError("a WARC record header is too long",
                                      "WARC 记录头过长")
            start = max(0, len(self.buf) - len(sep))
            before = len(self.buf)
            self._fill(len(self.buf) + 1)
            if len(self.buf) == before:
                if self.buf.strip(b"\r\n"):
                    raise WebcaptureError("a WARC file ends inside a record",
                                          "WARC 文件在记录中途结束")
                return None

    def read(self, n: int) -> Iterator[bytes]:
        while n > 0:
            self._fill(min(n, _CHUNK))
            if not self.buf:
                raise WebcaptureError("a WARC record is shorter than its Content-Length",
                                      "WARC 记录短于其 Content-Length")
            take = bytes(self.buf[:min(n, _CHUNK)])
            del self.buf[:len(take)]
            n -= len(take)
            yield take


def check_warc(raw: IO[bytes], name: str) -> int:
    """Check the block and payload digests of every record of a (gzipped) WARC; returns
    the number of records. Raises :class:`WebcaptureError`."""
    src = _Inflate(raw)
    n = 0
    while True:
        head = src.read_until(b"\r\n\r\n", MAX_WARC_HEADER)
        if head is None:
            return n
        head = head.lstrip(b"\r\n")
        n += 1
        if n > MAX_WARC_RECORDS:
            raise WebcaptureError(f"{name} has more than {MAX_WARC_RECORDS} records",
                                  f"{name} 的记录数超过 {MAX_WARC_RECORDS}")
        lines = head.decode("utf-8", "replace").split("\r\n")
        if not lines[0].startswith("WARC/1."):
            raise WebcaptureError(f"{name}: record {n} is not a WARC/1.x record",
                                  f"{name}：第 {n} 条记录不是 WARC/1.x 记录")
        fields: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                k, _, v = line.partition(":")
                fields[k.strip().lower()] = v.strip()
        try:
            length = int(fields.get("content-length", ""))
            if length < 0:
                raise ValueError
        except ValueError:
            raise WebcaptureError(f"{name}: record {n} has no valid Content-Length",
                                  f"{name}：第 {n} 条记录缺少有效的 Content-Length") from None
        rtype = fields.get("warc-type", "")
        block = {"sha1": hashlib.sha1(), "sha256": hashlib.sha256()}
        payload = {"sha1": hashlib.sha1(), "sha256": hashlib.sha256()}
        http = rtype in ("response", "request") and fields.get(
            "content-type", "").startswith("application/http")
        pending = b""
        in_payload = not http
        for chunk in src.read(length):
            for h in block.values():
                h.update(chunk)
            if in_payload:
                for h in payload.values():
                    h.update(chunk)
                continue
            pending += chunk
            i = pending.find(b"\r\n\r\n")
            if i >= 0 and i + 4 <= MAX_WARC_HEADER:
                in_payload = True
                for h in payload.values():
                    h.update(pending[i + 4:])
                pending = b""
            elif i >= 0 or len(pending) >= MAX_WARC_HEADER:  # cannot end within the limit
                raise WebcaptureError(f"{name}: record {n} has an HTTP header over 64 KiB",
                                      f"{name}：第 {n} 条记录的 HTTP 头超过 64 KiB")
        if b"".join(src.read(4)) != b"\r\n\r\n":
            raise WebcaptureError(f"{name}: record {n} does not end where its Content-Length "
                                  "says", f"{name}：第 {n} 条记录未在 Content-Length 所示处结束")
        uri = fields.get("warc-target-uri", "")
        for key, hashes, what, what_zh in (("warc-block-digest", block, "block", "记录块"),
                                           ("warc-payload-digest", payload, "payload", "载荷")):
            if key not in fields:
                if key == "warc-payload-digest" and rtype == "response" and http:
                    raise WebcaptureError(
                        f"{name}: the response record for {uri[:120]} has no WARC-Payload-Digest",
                        f"{name}：{uri[:120]} 的响应记录缺少 WARC-Payload-Digest")
                continue
            if key == "warc-payload-digest" and not in_payload:
                raise WebcaptureError(f"{name}: record {n} has no end of HTTP headers",
                                      f"{name}：第 {n} 条记录的 HTTP 头没有结束")
            ok = _digest_matches(fields[key], hashes)
            if ok is None:
                raise WebcaptureError(f"{name}: record {n} uses an unknown digest algorithm",
                                      f"{name}：第 {n} 条记录使用未知的摘要算法")
            if not ok:
                raise WebcaptureError(
                    f"{name}: the {what} digest of the record for {uri[:120]} does not match "
                    "its bytes (altered)",
                    f"{name}：{uri[:120]} 记录的{what_zh}摘要与内容不符（已被改动）")


# --- WACZ ----------------------------------------------------------------------------------


def _sha256_member(z: zipfile.ZipFile, name: str) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with z.open(name) as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def check_wacz(data: bytes | IO[bytes]) -> tuple[int, list[str]]:
    """Check a WACZ's package digests and its WARC records; returns (records, WARC names)."""
    src = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    try:
        z = zipfile.ZipFile(src)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise WebcaptureError("the WACZ is not a ZIP archive", "WACZ 不是有效的 ZIP 压缩包") \
            from None
    with z:
        infos = z.infolist()
        if len(infos) > MAX_WACZ_MEMBERS:
            raise WebcaptureError("the WACZ has too many members", "WACZ 成员过多")
        names = {i.filename for i in infos}
        if len(names) != len(infos):
            raise WebcaptureError("the WACZ has two members with the same name",
                                  "WACZ 中有重名成员")
        odd = next((i for i in infos if i.compress_type not in _WACZ_METHODS), None)
        if odd is not None:  # what every verifier reads (the page has no bzip2 or LZMA)
            raise WebcaptureError(f"the WACZ member {odd.filename[:100]} is neither stored nor "
                                  "deflated", f"WACZ 成员 {odd.filename[:100]} 既非存储也非 "
                                  "deflate 压缩")
        for need in ("datapackage.json", "datapackage-digest.json"):
            if need not in names:
                raise WebcaptureError(f"the WACZ has no {need}", f"WACZ 缺少 {need}")
            if z.getinfo(need).file_size > MAX_DATAPACKAGE:  # read whole: bounded first
                raise WebcaptureError(f"the WACZ's {need} is over 4 MiB",
                                      f"WACZ 的 {need} 超过 4 MiB")
        try:
            digest_doc = json.loads(z.read("datapackage-digest.json"))
            pkg_bytes = z.read("datapackage.json")
            pkg = json.loads(pkg_bytes)
        except (ValueError, RecursionError, zipfile.BadZipFile, zlib.error):
            raise WebcaptureError("the WACZ's datapackage files are not valid JSON",
                                  "WACZ 的 datapackage 文件不是有效的 JSON") from None
        if not isinstance(digest_doc, dict):
            digest_doc = {}
        want = digest_doc.get("hash")
        if digest_doc.get("path") != "datapackage.json" or not isinstance(want, str) or \
                want.lower() != "sha256:" + hashlib.sha256(pkg_bytes).hexdigest():
            raise WebcaptureError("datapackage-digest.json does not match datapackage.json "
                                  "(altered)",
                                  "datapackage-digest.json 与 datapackage.json 不符（已被改动）")
        resources = pkg.get("resources") if isinstance(pkg, dict) else None
        if not isinstance(resources, list) or not resources:
            raise WebcaptureError("datapackage.json lists no resources",
                                  "datapackage.json 未列出任何资源")
        listed: set[str] = set()
        warcs: list[str] = []
        for r in resources:
            path = r.get("path") if isinstance(r, dict) else None
            if not isinstance(path, str) or path not in names or path in listed:
                raise WebcaptureError(f"datapackage.json lists {str(path)[:100]!r}, which the "
                                      "WACZ does not hold (once)",
                                      f"datapackage.json 列出的 {str(path)[:100]!r} 不在 WACZ 中")
            listed.add(path)
            try:
                got, size = _sha256_member(z, path)
            except (zipfile.BadZipFile, zlib.error, OSError):
                raise WebcaptureError(f"the WACZ member {path[:100]} is damaged",
                                      f"WACZ 成员 {path[:100]} 已损坏") from None
            if str(r.get("hash", "")).lower() != "sha256:" + got or r.get("bytes") != size:
                raise WebcaptureError(f"the WACZ member {path[:100]} does not match the digest "
                                      "in datapackage.json (altered)",
                                      f"WACZ 成员 {path[:100]} 与 datapackage.json 中的摘要不符"
                                      "（已被改动）")
            if path.startswith("archive/") and path.endswith((".warc.gz", ".warc")):
                warcs.append(path)
        unlisted = sorted(names - listed - {"datapackage.json", "datapackage-digest.json"})
        unlisted = [n for n in unlisted if not n.endswith("/")]
        if unlisted:
            raise WebcaptureError(f"the WACZ holds {unlisted[0][:100]}, which datapackage.json "
                                  "does not list",
                                  f"WACZ 含有 datapackage.json 未列出的 {unlisted[0][:100]}")
        if not warcs:
            raise WebcaptureError("the WACZ holds no WARC file", "WACZ 中没有 WARC 文件")
        records = 0
        for w in warcs:
            with z.open(w) as f:
                if w.endswith(".warc.gz"):
                    records += check_warc(f, w)
                else:
                    raise WebcaptureError(f"{w}: only gzipped WARC files are read",
                                          f"{w}：仅支持 gzip 压缩的 WARC 文件")
        return records, warcs


# --- the whole capture -----------------------------------------------------------------------


def _manifest(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_MANIFEST:
        raise WebcaptureError("the capture manifest is over 4 MiB", "采集清单超过 4 MiB")
    try:
        doc = json.loads(data)
        canonical = rfc8785.dumps(doc)
    except (ValueError, RecursionError, rfc8785.CanonicalizationError):
        raise WebcaptureError("the capture manifest is not valid JSON",
                              "采集清单不是有效的 JSON") from None
    if canonical != data:
        raise WebcaptureError("the capture manifest is not in RFC 8785 canonical form",
                              "采集清单不是 RFC 8785 规范格式")
    if not isinstance(doc, dict) or doc.get("schema") != MANIFEST_SCHEMA:
        raise WebcaptureError(f"the capture manifest is not of schema {MANIFEST_SCHEMA}",
                              f"采集清单的格式不是 {MANIFEST_SCHEMA}")
    return doc


def _obj(value: Any) -> Mapping[str, Any]:
    """A manifest member that should be an object; anything else reads as empty (the
    summary reports what the manifest says, and says nothing for a shape it lacks)."""
    return value if isinstance(value, dict) else {}


def _summary(m: Mapping[str, Any]) -> dict[str, Any]:
    res = _obj(m.get("result"))
    tls = _obj(res.get("tls"))
    labels = res.get("labels")
    return {"url": _obj(m.get("request")).get("url"), "final_url": res.get("final_url"),
            "http_status": res.get("http_status"), "title": res.get("title"),
            "server_ip": res.get("server_ip"), "tls_subject": tls.get("subject"),
            "tls_issuer": tls.get("issuer"), "started_at": m.get("started_at"),
            "ended_at": m.get("ended_at"), "node": _obj(m.get("node")).get("key"),
            "labels": list(labels) if isinstance(labels, list) else []}


def verify_webcapture(files: Mapping[str, bytes], capture_nodes: Iterable[Verifier]
                      ) -> WebcaptureResult:
    """Check a ``webcapture`` item's files (name -> bytes, names as preserved) against
    the pinned capture-node keys. Never raises for bad input: a damaged or altered
    capture is ``fail`` with the reason."""
    try:
        return _verify(files, list(capture_nodes))
    except WebcaptureError as e:
        return WebcaptureResult(FAIL, str(e)[:300], e.reason_zh[:300])
    except _DAMAGED:  # a ZIP member that cannot be read, a shape no check foresaw
        return WebcaptureResult(
            FAIL, "a capture file is damaged or malformed and cannot be read",
            "采集文件已损坏或格式错误，无法读取")


_DAMAGED = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError,
            NotImplementedError, RuntimeError, ValueError, KeyError, TypeError,
            AttributeError, IndexError)
"""What the standard library raises for a damaged ZIP member (RuntimeError also for an
encrypted one, NotImplementedError for an unknown method) or an unforeseen shape: the
capture fails, it never crashes its verifier."""


def _verify(files: Mapping[str, bytes], nodes: list[Verifier]) -> WebcaptureResult:
    for need in (MANIFEST_NAME, SIGNATURE_NAME):
        if need not in files:
            raise WebcaptureError(f"the item has no {need}", f"该证据缺少 {need}")
    data = files[MANIFEST_NAME]
    manifest = _manifest(data)
    signed = False
    if nodes:
        try:
            opened = open_note(files[SIGNATURE_NAME], nodes)
        except NoteError:
            raise WebcaptureError(
                "the capture manifest is not signed by a pinned capture-node key",
                "采集清单没有经已固定的采集节点密钥签名") from None
        if opened.text != signed_text(hashlib.sha256(data).hexdigest()):
            raise WebcaptureError("the capture signature is over another manifest",
                                  "采集签名针对的不是本采集清单")
        signer_keys = {v.to_string() for v in nodes
                       if any(s.name == v.name and s.key_id == v.key_id
                              for s in opened.verified)}
        if (manifest.get("node") or {}).get("key") not in signer_keys:
            raise WebcaptureError("the manifest names another capture node than the one "
                                  "that signed it", "采集清单载明的采集节点与签名节点不一致")
        signed = True
    listed = manifest.get("files")
    if not isinstance(listed, list) or not listed:
        raise WebcaptureError("the capture manifest lists no files", "采集清单未列出任何文件")
    roles: dict[str, str] = {}
    for f in listed:
        if not isinstance(f, dict) or not isinstance(f.get("name"), str):
            raise WebcaptureError("the capture manifest's file list is malformed",
                                  "采集清单的文件列表格式错误")
        name = f["name"]
        if name not in files:
            raise WebcaptureError(f"the manifest lists {name[:100]}, which the item does not hold",
                                  f"采集清单列出的 {name[:100]} 不在该证据中")
        got = files[name]
        if f.get("size") != len(got) or f.get("sha256") != hashlib.sha256(got).hexdigest():
            raise WebcaptureError(f"{name[:100]} does not match its SHA-256 in the capture "
                                  "manifest (altered)",
                                  f"{name[:100]} 与采集清单中的 SHA-256 不符（已被改动）")
        roles[str(f.get("role"))] = name
    for role in ("screenshot", "wacz"):
        if role not in roles:
            raise WebcaptureError(f"the capture manifest lists no {role}",
                                  f"采集清单未列出{'截图' if role == 'screenshot' else 'WACZ'}")
    records, _ = check_wacz(files[roles["wacz"]])
    summary = {**_summary(manifest), "screenshot": roles["screenshot"]}
    if not signed:
        return WebcaptureResult(
            NOT_CHECKED,
            "files, WACZ and WARC digests hold, but no capture-node key is pinned: nothing "
            "shows which node made this capture",
            "文件、WACZ 与 WARC 摘要均一致，但未固定采集节点密钥，无法确认由哪个采集节点采集",
            summary, records)
    return WebcaptureResult(
        PASS,
        f"signed by the pinned capture node; screenshot, WACZ and {records} WARC records "
        "match their digests",
        f"经已固定的采集节点签名；截图、WACZ 及 {records} 条 WARC 记录与摘要一致",
        summary, records)
