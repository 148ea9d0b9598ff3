"""Corruptions of an RFC 3161 token by region (signature, signed attributes, certificate,
genTime), found by parsing the token's DER: the page's and the package's timestamp checks
must name each the same way."""

from __future__ import annotations

from evidence.verify import der


def _signer_info(token: bytes) -> list[der.Tlv]:
    ci = der.children(token, der.parse_single(token, 0x30))
    sd = der.children(token, der.children(token, ci[1])[0])
    return der.children(token, der.children(token, sd[-1])[0])


def flip(token: bytes, at: int, mask: int = 0x01) -> bytes:
    return token[:at] + bytes([token[at] ^ mask]) + token[at + 1:]


def later_year(data: bytes) -> bytes:
    """The genTime's year, one later: still inside every validity period."""
    at = data.index(b"\x18\x0f") + 2
    return data[:at] + str(int(data[at:at + 4]) + 1).encode() + data[at + 4:]


def corrupt(token: bytes, region: str) -> bytes:
    if region == "gentime":
        return later_year(token)
    si = _signer_info(token)
    if region == "signature":
        sig = si[-1] if si[-1].tag == 0x04 else si[-2]
        return flip(token, (sig.value_start + sig.end) // 2)
    attrs = next(t for t in si if t.tag == 0xA0)
    if region in ("signed-attrs-digest", "signed-attrs-ess"):
        want = {"signed-attrs-digest": ("06092a864886f70d010904",),  # messageDigest
                "signed-attrs-ess": ("060b2a864886f70d010910022f",  # signingCertificateV2
                                     "060b2a864886f70d010910020c")}[region]  # (v1)
        for a in der.children(token, attrs):
            if token[a.value_start:a.end].hex().startswith(want):
                return flip(token, a.end - 3)
        raise AssertionError(f"no {region} attribute")
    if region == "certificate":  # a letter of the signer certificate's subject CN
        ci = der.children(token, der.parse_single(token, 0x30))
        sd = der.children(token, der.children(token, ci[1])[0])
        certs = next(t for t in sd[3:] if t.tag == 0xA0)
        at = token.index(b"TSA", certs.value_start, certs.end)
        return token[:at] + b"TSB" + token[at + 3:]
    raise AssertionError(region)


REGIONS = ["signature", "signed-attrs-digest", "signed-attrs-ess", "certificate", "gentime"]
