"""The smallest DER reader that the timestamp code needs: walk TLVs, never decode values.

Why our own: the verifier must find byte ranges inside a timestamp token (the certificate SET, the
token inside a TimeStampResp) *without re-encoding anything*, so that archived bytes stay exactly
as received. Parsing of meaning (certificates, signatures, TSTInfo) is left to `cryptography` and
`rfc3161-client`; this module only answers "which bytes are this element".

Strict DER framing (X.690 section 10): definite lengths only, minimal length octets, low tag
numbers only (every tag in RFC 3161 / CMS is < 31). Anything else raises :class:`DerError`.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LENGTH_OCTETS = 4  # 4 GiB: far beyond any token; keeps hostile lengths bounded


class DerError(ValueError):
    """The bytes are not well-formed DER framing."""


@dataclass(frozen=True)
class Tlv:
    """One element: `data[start:end]` is the whole encoding, `data[value_start:end]` its value."""

    tag: int
    start: int
    value_start: int
    end: int

    @property
    def constructed(self) -> bool:
        return bool(self.tag & 0x20)


def read_tlv(data: bytes, pos: int, limit: int | None = None) -> Tlv:
    """Read the element starting at `pos`; it must end at or before `limit` (default: len)."""
    limit = len(data) if limit is None else limit
    if pos + 2 > limit:
        raise DerError(f"truncated: no tag and length at offset {pos}")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DerError(f"high tag number form at offset {pos} is not used by RFC 3161")
    first = data[pos + 1]
    if first < 0x80:
        length, value_start = first, pos + 2
    elif first == 0x80:
        raise DerError(f"indefinite length at offset {pos} is BER, not DER")
    else:
        count = first & 0x7F
        if count > MAX_LENGTH_OCTETS:
            raise DerError(f"length of {count} octets at offset {pos} is too large")
        value_start = pos + 2 + count
        if value_start > limit:
            raise DerError(f"truncated length at offset {pos}")
        octets = data[pos + 2 : value_start]
        length = int.from_bytes(octets, "big")
        if octets[0] == 0 or length < 0x80:
            raise DerError(f"non-minimal length encoding at offset {pos}")
    end = value_start + length
    if end > limit:
        raise DerError(f"truncated: element at offset {pos} needs {end - limit} more bytes")
    return Tlv(tag, pos, value_start, end)


def parse_single(data: bytes, tag: int) -> Tlv:
    """The one element that `data` must consist of, with the expected `tag`."""
    tlv = read_tlv(data, 0)
    if tlv.tag != tag:
        raise DerError(f"expected tag 0x{tag:02x}, found 0x{tlv.tag:02x}")
    if tlv.end != len(data):
        raise DerError(f"{len(data) - tlv.end} trailing bytes after the element")
    return tlv


def children(data: bytes, parent: Tlv) -> list[Tlv]:
    """The elements inside a constructed element, which must fill it exactly."""
    if not parent.constructed:
        raise DerError(f"element at offset {parent.start} is primitive, not constructed")
    out: list[Tlv] = []
    pos = parent.value_start
    while pos < parent.end:
        tlv = read_tlv(data, pos, parent.end)
        out.append(tlv)
        pos = tlv.end
    return out


def encode_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def encode_tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + encode_length(len(value)) + value


def set_of_order(elements: list[bytes]) -> list[bytes]:
    """X.690 11.6: SET OF components in ascending order of their encodings, compared as octet
    strings with the shorter one padded with trailing zero octets."""
    width = max((len(e) for e in elements), default=0)
    return sorted(elements, key=lambda e: e.ljust(width, b"\x00"))
