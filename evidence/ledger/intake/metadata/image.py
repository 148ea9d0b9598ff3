"""Screenshots and photos: what the image file says about itself (Pillow).

Schema of the ``"image"`` section::

    {"format": "JPEG", "width": int, "height": int, "mode": "RGB", "frames": int,
     "exif_present": bool,
     "datetime_original": FileTime | null,   # EXIF DateTimeOriginal + OffsetTimeOriginal
     "datetime_digitized": FileTime | null,  # EXIF DateTimeDigitized + OffsetTimeDigitized
     "datetime": FileTime | null,            # EXIF DateTime (last change) + OffsetTime
     "make": str | null, "model": str | null, "software": str | null,
     "gps": {"present": bool, "latitude": float | null, "longitude": float | null,
             "altitude_m": float | null},
     "text": {str: str}}                     # PNG/WebP text chunks (e.g. "Software")

``FileTime`` is described in :mod:`.timefmt`. Every value here is the capturing device's
claim: EXIF is written by software the submitter controls.
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path
from typing import Any

from evidence.ledger.intake.metadata.errors import MetadataError
from evidence.ledger.intake.metadata.timefmt import clean_text, file_time

_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_MAKE, _MODEL, _SOFTWARE, _DATETIME = 0x010F, 0x0110, 0x0131, 0x0132
_DT_ORIGINAL, _DT_DIGITIZED = 0x9003, 0x9004
_OFFSET, _OFFSET_ORIGINAL, _OFFSET_DIGITIZED = 0x9010, 0x9011, 0x9012
_EXIF_TIME = re.compile(r"^(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_MAX_TEXT_CHUNKS = 32
_NOT_TEXT = {"exif", "icc_profile", "dpi", "gamma", "transparency", "aspect", "chromaticity",
             "srgb", "interlace", "jfif", "jfif_version", "jfif_unit", "jfif_density",
             "progressive", "progression", "adobe", "adobe_transform", "loop", "duration",
             "background", "version", "extension", "compression", "xmp"}


def extract_image(path: Path) -> dict[str, Any]:
    """Describe an image file. Raises :class:`MetadataError` if it is not a readable image
    or its EXIF block cannot be parsed."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns on odd-but-readable EXIF
            with Image.open(path) as im:
                section: dict[str, Any] = {
                    "format": im.format,
                    "width": im.width,
                    "height": im.height,
                    "mode": im.mode,
                    "frames": int(getattr(im, "n_frames", 1)),
                }
                section.update(_exif(im))
                section["text"] = _text_chunks(im.info)
    except UnidentifiedImageError:
        raise MetadataError.for_file(path.name, "is not an image format we can read") from None
    except Image.DecompressionBombError as e:
        raise MetadataError.for_file(path.name, f"refused as a decompression bomb: {e}") from None
    except MetadataError:
        raise
    except OSError as e:
        raise MetadataError.for_file(path.name, f"image cannot be read: {e}") from None
    return section


def _exif(im: Any) -> dict[str, Any]:
    try:
        exif = im.getexif()
        ifd0 = dict(exif)
        sub = dict(exif.get_ifd(_EXIF_IFD))
        gps = dict(exif.get_ifd(_GPS_IFD))
    except Exception as e:  # Pillow raises many types on malformed TIFF structures
        raise MetadataError.for_file(
            Path(im.filename or "image").name, f"EXIF block is malformed ({type(e).__name__}: {e})"
        ) from None
    present = bool(ifd0 or sub or gps)
    if not present and "exif" in im.info and im.info["exif"] not in (b"", b"Exif\x00\x00"):
        raise MetadataError.for_file(
            Path(im.filename or "image").name, "EXIF block is present but could not be parsed"
        )
    return {
        "exif_present": present,
        "datetime_original": _time(sub.get(_DT_ORIGINAL), sub.get(_OFFSET_ORIGINAL)),
        "datetime_digitized": _time(sub.get(_DT_DIGITIZED), sub.get(_OFFSET_DIGITIZED)),
        "datetime": _time(ifd0.get(_DATETIME), sub.get(_OFFSET)),
        "make": clean_text(ifd0.get(_MAKE), 200),
        "model": clean_text(ifd0.get(_MODEL), 200),
        "software": clean_text(ifd0.get(_SOFTWARE), 200),
        "gps": _gps(gps),
    }


def _time(value: Any, offset: Any) -> dict[str, Any] | None:
    raw = clean_text(value, 64)
    if raw is None:
        return None
    m = _EXIF_TIME.match(raw)
    parts = tuple(int(g) for g in m.groups()) if m else None
    return file_time(raw, parts, clean_text(offset, 16))  # type: ignore[arg-type]


def _finite(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return f if math.isfinite(f) else None


def _dms(value: Any, ref: Any, negative: str) -> float | None:
    """EXIF degrees/minutes/seconds rationals -> signed decimal degrees."""
    try:
        d, m, s = (_finite(v) for v in value)
    except (TypeError, ValueError):
        return None
    if d is None or m is None or s is None:
        return None
    degrees = d + m / 60 + s / 3600
    if clean_text(ref, 4) == negative:
        degrees = -degrees
    return round(degrees, 7)


def _gps(gps: dict[int, Any]) -> dict[str, Any]:
    lat = _dms(gps.get(2), gps.get(1), "S") if 2 in gps else None
    lon = _dms(gps.get(4), gps.get(3), "W") if 4 in gps else None
    alt = _finite(gps.get(6)) if 6 in gps else None
    if alt is not None and gps.get(5) in (1, b"\x01"):
        alt = -alt
    if lat is not None and not -90 <= lat <= 90:
        lat = None
    if lon is not None and not -180 <= lon <= 180:
        lon = None
    return {
        "present": bool(gps),
        "latitude": lat,
        "longitude": lon,
        "altitude_m": round(alt, 3) if alt is not None else None,
    }


def _text_chunks(info: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in info.items():
        if len(out) >= _MAX_TEXT_CHUNKS:
            break
        if not isinstance(key, str) or key.lower() in _NOT_TEXT or not isinstance(value, str):
            continue
        text = clean_text(value, 2000)
        if text is not None:
            out[clean_text(key, 80) or "?"] = text
    return out
