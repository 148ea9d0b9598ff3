"""Forgeries of one good evidence bundle, for the shared verdict vectors (docs/verdict.md).

Every forgery changes bytes *and* rewrites ``manifest.json`` consistently (each member's
SHA-256 and size, and the manifest's own ``gen_time`` where a token's time changed), as an
attacker who knows the format would: the ``manifest`` check passes and only the deep check
(the token's CMS signature, signed attributes, chain and imprint; the cosignature quorum;
the judge's own file) can catch it. The regions of an RFC 3161 token are found by walking
its DER, never by fixed offsets, so the forgeries follow whatever the TSA returned.

The honest variants (a provisional bundle, a clerk's re-zip) live here too: they are
rewrites of the same good bundle."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.support.bundle_world import members, rezip

# --- a DER walker: just enough of X.690 to find the regions of a TimeStampToken ---------


@dataclass(frozen=True)
class Tlv:
    """One DER element: where it starts, its header length and its content length."""

    tag: int
    start: int
    header: int
    length: int

    @property
    def body(self) -> int:
        return self.start + self.header

    @property
    def end(self) -> int:
        return self.body + self.length


def read_tlv(der: bytes, pos: int) -> Tlv:
    tag = der[pos]
    if tag & 0x1F == 0x1F:
        raise ValueError(f"high tag number at {pos}: not used in CMS or TSTInfo")
    first = der[pos + 1]
    if first < 0x80:
        t = Tlv(tag, pos, 2, first)
    else:
        n = first & 0x7F
        if not 1 <= n <= 4:
            raise ValueError(f"bad DER length at {pos}")
        t = Tlv(tag, pos, 2 + n, int.from_bytes(der[pos + 2:pos + 2 + n], "big"))
    if t.end > len(der):
        raise ValueError(f"element at {pos} runs past the end")
    return t


def children(der: bytes, t: Tlv) -> list[Tlv]:
    out, pos = [], t.body
    while pos < t.end:
        c = read_tlv(der, pos)
        out.append(c)
        pos = c.end
    return out


def oid_der(dotted: str) -> bytes:
    """The full DER encoding (tag, length, content) of an OBJECT IDENTIFIER."""
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(chunk))
    return bytes([0x06, len(body)]) + bytes(body)


ID_MESSAGE_DIGEST = oid_der("1.2.840.113549.1.9.4")
ID_SIGNING_CERTIFICATE = oid_der("1.2.840.113549.1.9.16.2.12")
ID_SIGNING_CERTIFICATE_V2 = oid_der("1.2.840.113549.1.9.16.2.47")

TAG_SEQUENCE, TAG_SET, TAG_OCTET_STRING, TAG_BIT_STRING = 0x30, 0x31, 0x04, 0x03
TAG_GENERALIZED_TIME, TAG_CTX0 = 0x18, 0xA0


@dataclass(frozen=True)
class TokenRegions:
    """Where each part of a TimeStampToken (ContentInfo with SignedData) sits."""

    signature: Tlv       # SignerInfo.signature OCTET STRING
    signed_attrs: Tlv    # SignerInfo [0] signedAttrs
    message_digest: Tlv  # the messageDigest attribute's OCTET STRING
    ess_cert_hash: Tlv   # certHash of the first ESSCertID(v2) in signingCertificate(V2)
    certificates: list[Tlv]
    signer_cert: Tlv     # the certificate with the id-kp-timeStamping EKU
    tst_info: Tlv        # TSTInfo SEQUENCE (inside the eContent OCTET STRING)
    gen_time: Tlv        # TSTInfo.genTime GeneralizedTime


def _one(items: list[Tlv], tag: int, what: str) -> Tlv:
    found = [t for t in items if t.tag == tag]
    if len(found) != 1:
        raise ValueError(f"expected one {what}, found {len(found)}")
    return found[0]


def _attribute(der: bytes, attrs: Tlv, oids: tuple[bytes, ...]) -> Tlv:
    """The value SET of the attribute whose type is one of ``oids``."""
    for attr in children(der, attrs):
        typ, values = children(der, attr)
        if der[typ.start:typ.end] in oids:
            return values
    raise ValueError("signed attribute not found")


def token_regions(der: bytes) -> TokenRegions:
    content_info = read_tlv(der, 0)
    _, explicit = children(der, content_info)
    signed_data = children(der, explicit)[0]
    parts = children(der, signed_data)
    encap = parts[2]
    e_content = children(der, children(der, encap)[1])[0]
    tst_info = read_tlv(der, e_content.body)
    gen_time = _one(children(der, tst_info), TAG_GENERALIZED_TIME, "genTime")
    certs_field = _one(parts[3:], TAG_CTX0, "certificates field")
    certificates = [c for c in children(der, certs_field) if c.tag == TAG_SEQUENCE]
    signer_cert = None
    for c in certificates:
        cert = x509.load_der_x509_certificate(der[c.start:c.end])
        try:
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            continue
        if ExtendedKeyUsageOID.TIME_STAMPING in eku:
            signer_cert = c
    if signer_cert is None:
        raise ValueError("the token carries no certificate with the timeStamping EKU")
    signer_infos = parts[-1]  # the last field of SignedData
    if signer_infos.tag != TAG_SET:
        raise ValueError("SignedData does not end with signerInfos")
    signer_info = children(der, signer_infos)[0]
    si = children(der, signer_info)
    signed_attrs = _one(si, TAG_CTX0, "signedAttrs")
    signature = [t for t in si if t.tag == TAG_OCTET_STRING][-1]
    digest_set = _attribute(der, signed_attrs, (ID_MESSAGE_DIGEST,))
    message_digest = children(der, digest_set)[0]
    cert_set = _attribute(der, signed_attrs, (ID_SIGNING_CERTIFICATE_V2, ID_SIGNING_CERTIFICATE))
    signing_certificate = children(der, cert_set)[0]
    ess_cert_id = children(der, children(der, signing_certificate)[0])[0]
    ess_cert_hash = next(t for t in children(der, ess_cert_id) if t.tag == TAG_OCTET_STRING)
    return TokenRegions(signature, signed_attrs, message_digest, ess_cert_hash, certificates,
                        signer_cert, tst_info, gen_time)


def gen_time(der: bytes) -> datetime:
    t = token_regions(der).gen_time
    text = der[t.body:t.end].decode("ascii").removesuffix("Z")
    whole, _, fraction = text.partition(".")
    at = datetime.strptime(whole, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    return at.replace(microsecond=int((fraction + "000000")[:6]))


def certificates_pem(der: bytes) -> bytes:
    """The token's certificates as a PEM chain, as the exporter writes ``<i>.chain.pem``."""
    return b"".join(x509.load_der_x509_certificate(der[c.start:c.end]).public_bytes(Encoding.PEM)
                    for c in token_regions(der).certificates)


def flip(data: bytes, pos: int, mask: int = 0x01) -> bytes:
    return data[:pos] + bytes([data[pos] ^ mask]) + data[pos + 1:]


#: the regions of a token a forger may change, each with the one byte changed in it
def _signature(r: TokenRegions) -> int:
    return r.signature.body + r.signature.length // 2


def _signed_attrs(r: TokenRegions) -> int:
    """In the ESS certHash: only the CMS signature and the signer-certificate binding see it."""
    return r.ess_cert_hash.end - 1


def _message_digest(r: TokenRegions) -> int:
    return r.message_digest.end - 1


def _certificate(r: TokenRegions, der: bytes) -> int:
    """The last byte of the signer certificate's signatureValue: it still parses."""
    sig_value = children(der, r.signer_cert)[-1]
    assert sig_value.tag == TAG_BIT_STRING
    return sig_value.end - 1


def _gen_time(r: TokenRegions) -> int:
    """The units of the seconds: still a valid time, one second off (the signature and the
    messageDigest over TSTInfo must catch it)."""
    return r.gen_time.body + 13


REGIONS = ("signature", "signed-attrs", "message-digest", "certificate", "gen-time")


def flip_region(token: bytes, region: str) -> bytes:
    r = token_regions(token)
    pos = {"signature": lambda: _signature(r), "signed-attrs": lambda: _signed_attrs(r),
           "message-digest": lambda: _message_digest(r),
           "certificate": lambda: _certificate(r, token),
           "gen-time": lambda: _gen_time(r)}[region]()
    return flip(token, pos)


# --- whole bundles ---------------------------------------------------------------------


def _manifest(m: dict[str, bytes]) -> dict:
    return json.loads(m["manifest.json"])


def _gen_time_text(token: bytes) -> str:
    """As the exporter writes it in the manifest."""
    return gen_time(token).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def with_members(bundle: bytes, changes: dict[str, bytes | None], manifest_edit=None) -> bytes:
    """The bundle with members replaced, added (bytes) or removed (None), the manifest's
    other fields edited by ``manifest_edit`` and its member list recomputed."""
    m = members(bundle)
    for name, data in changes.items():
        if data is None:
            m.pop(name, None)
        else:
            m[name] = data
    if manifest_edit is not None:
        man = _manifest(m)
        manifest_edit(man)
        m["manifest.json"] = json.dumps(man).encode()
    return rezip(m)


def rezip_raw(m: dict[str, bytes]) -> bytes:
    """The members zipped as they are, the manifest untouched (to change the manifest
    itself)."""
    return rezip(m, fix_manifest=False)


def forge_token_region(bundle: bytes, region: str, index: int = 0) -> bytes:
    """One byte of the ``index``-th token changed in ``region``, the manifest made to agree."""
    name = f"timestamps/{index}.tst"
    forged = flip_region(members(bundle)[name], region)

    def edit(man: dict) -> None:
        if region == "gen-time":  # the forged time is what the manifest now claims
            man["timestamps"][index]["gen_time"] = _gen_time_text(forged)

    return with_members(bundle, {name: forged}, edit)


def replace_token(bundle: bytes, token: bytes, index: int = 0) -> bytes:
    """Another genuine token (e.g. over another checkpoint) in place of the ``index``-th."""
    def edit(man: dict) -> None:
        man["timestamps"][index]["gen_time"] = _gen_time_text(token)

    return with_members(bundle, {f"timestamps/{index}.tst": token}, edit)


def add_token(bundle: bytes, token: bytes, chain_pem: bytes | None = None,
              tsa: str = "tsa-local") -> bytes:
    """A further token beside the good ones, listed in the manifest like them."""
    man = manifest_of(bundle)
    i = len(man.get("timestamps", []))
    if chain_pem is None:
        chain_pem = members(bundle)["timestamps/0.chain.pem"]

    def edit(man: dict) -> None:
        man.setdefault("timestamps", []).append(
            {"tsa": tsa, "token": f"timestamps/{i}.tst", "chain": f"timestamps/{i}.chain.pem",
             "gen_time": _gen_time_text(token)})

    return with_members(bundle, {f"timestamps/{i}.tst": token,
                                 f"timestamps/{i}.chain.pem": chain_pem}, edit)


def drop_cosignature(bundle: bytes, witness_name: str) -> bytes:
    """The checkpoint note without the signature line of ``witness_name`` (the log's own
    signature still verifies: note signatures are independent of each other)."""
    name = "checkpoint/checkpoint.note"
    note = members(bundle)[name].decode()
    text, sep, sigs = note.partition("\n\n")
    lines = sigs.splitlines(keepends=True)
    kept = [ln for ln in lines if not ln.startswith(f"— {witness_name} ")]
    if len(kept) != len(lines) - 1:
        raise ValueError(f"no single cosignature line by {witness_name} in the note")
    return with_members(bundle, {name: (text + sep + "".join(kept)).encode()})


def provisional(bundle: bytes, *, keep_tokens: bool = False) -> bytes:
    """What ``evidence export --provisional`` writes for an item not yet timestamped: no
    timestamps and ``"provisional": true`` (here made from the good bundle). With
    ``keep_tokens`` the tokens stay: a provisional bundle's tokens are ignored, so they
    cannot lift it to ``verified``."""
    stamps = [] if keep_tokens else [n for n in members(bundle) if n.startswith("timestamps/")]

    def edit(man: dict) -> None:
        if not keep_tokens:
            man["timestamps"] = []
        man["provisional"] = True

    return with_members(bundle, dict.fromkeys(stamps), edit)


def deflate_all(bundle: bytes) -> bytes:
    """A clerk unzipped the bundle and zipped it again: every member deflated by Python's
    zipfile, the contents (and so the manifest) unchanged."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members(bundle).items():
            z.writestr(name, data)
    return buf.getvalue()


def manifest_of(bundle: bytes) -> dict:
    return _manifest(members(bundle))


# --- every element of a token, for the sweep ---------------------------------------------


def _elements(der: bytes, t: Tlv, path: str, descend: set[int]) -> list[tuple[str, Tlv]]:
    out = [(path, t)]
    if t.tag & 0x20:
        for i, c in enumerate(children(der, t)):
            out += _elements(der, c, f"{path}.{i}", descend)
    elif t.start in descend:  # the eContent OCTET STRING: TSTInfo inside
        out += _elements(der, read_tlv(der, t.body), f"{path}.tstinfo", descend)
    return out


def _region_of(r: TokenRegions, pos: int) -> str:
    for name, t in (("signature", r.signature), ("signed-attrs", r.signed_attrs),
                    ("certificate", r.signer_cert), ("tst-info", r.tst_info)):
        if t.start <= pos < t.end:
            return name
    return "cms"


def token_positions(der: bytes) -> list[tuple[str, int]]:
    """One changed byte per place a verifier could overlook: the tag of every DER element
    of the token (TSTInfo included) and the first and last content byte of every primitive
    one. Labels say where (``signed-attrs 0.1.0.4.0.3.1``: the region, then the path of
    child indexes from the ContentInfo)."""
    r = token_regions(der)
    descend = {t.start for _, t in _elements(der, read_tlv(der, 0), "0", set())
               if t.tag == TAG_OCTET_STRING and t.body == r.tst_info.start}
    seen: dict[int, str] = {}
    for path, t in _elements(der, read_tlv(der, 0), "0", descend):
        spots = [t.start]
        if not t.tag & 0x20 and t.length:
            spots += [t.body, t.end - 1]
        for pos in spots:
            seen.setdefault(pos, f"{_region_of(r, pos)} {path}"
                            f" {'tag' if pos == t.start else 'content'}@{pos}")
    return sorted(((label, pos) for pos, label in seen.items()), key=lambda x: x[1])


# --- v2 file names (docs/bundle.md "File names (v2)") ------------------------------------


def rename_member(bundle: bytes, old: str, new: str) -> bytes:
    """Member ``old`` stored as ``new`` instead, the manifest's member list made to agree."""
    data = members(bundle)[old]
    return with_members(bundle, {old: None, new: data})


def with_extra_field(bundle: bytes, name: str, extra: bytes) -> bytes:
    """The bundle as it is, member ``name`` carrying ``extra`` (raw extra-field bytes) in
    its local and central headers (zipfile writes ``ZipInfo.extra`` into both)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(bundle)) as src, zipfile.ZipFile(buf, "w") as z:
        for info in src.infolist():
            out = zipfile.ZipInfo(info.filename, info.date_time)
            out.compress_type = info.compress_type
            out.external_attr = info.external_attr
            if info.filename == name:
                out.extra = extra
            z.writestr(out, src.read(info))
    return buf.getvalue()


def unicode_path_extra(name: str) -> bytes:
    """An Info-ZIP Unicode Path extra field (0x7075) naming ``name``: what unzip, bsdtar
    and 7-Zip would show instead of the member's own name."""
    import zlib

    body = b"\x01" + zlib.crc32(b"").to_bytes(4, "little") + name.encode()
    return (0x7075).to_bytes(2, "little") + len(body).to_bytes(2, "little") + body


def patch_member_name(bundle: bytes, name: str, raw: bytes | None = None,
                      utf8_flag: bool | None = None) -> bytes:
    """The member's name bytes replaced by ``raw`` (same length) and/or its UTF-8 flag
    (general purpose bit 11) set or cleared, in the local and the central header alike:
    names no ZIP library writes, made byte by byte."""
    old = name.encode()
    raw = old if raw is None else raw
    if len(raw) != len(old):
        raise ValueError("the patched name must keep its length")
    data = bytearray(bundle)
    done = 0
    for sig, flag_at, name_len_at, name_at in ((b"PK\x03\x04", 6, 26, 30),
                                               (b"PK\x01\x02", 8, 28, 46)):
        pos = 0
        while (pos := data.find(sig, pos)) >= 0:
            n = int.from_bytes(data[pos + name_len_at:pos + name_len_at + 2], "little")
            if n == len(old) and bytes(data[pos + name_at:pos + name_at + n]) == old:
                data[pos + name_at:pos + name_at + n] = raw
                if utf8_flag is not None:
                    flags = int.from_bytes(data[pos + flag_at:pos + flag_at + 2], "little")
                    flags = flags | 0x800 if utf8_flag else flags & ~0x800
                    data[pos + flag_at:pos + flag_at + 2] = flags.to_bytes(2, "little")
                done += 1
            pos += 4
    if done != 2:
        raise ValueError(f"{name!r}: found {done} headers, not 2")
    return bytes(data)
