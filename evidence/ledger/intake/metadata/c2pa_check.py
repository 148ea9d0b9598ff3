"""C2PA content credentials of images and PDFs: read and validated at intake, recorded as
the ``"c2pa"`` section of a file's facts.

Schema of the ``"c2pa"`` section (every string cleaned, every list bounded)::

    {"present": false}                               # no manifest store found
    {"present": true, "validation_state": null,      # a store is there but cannot be read
     "error": str, "warnings": [str]}
    {"present": true,
     "validation_state": "Invalid" | "Valid" | "Trusted",   # c2pa's own terms (below)
     "validation_errors": [{"code", "explanation", "url"}], # the active manifest's failures
     "validation_errors_total": int,
     "ingredient_validation_errors": [{"code", "explanation", "url"}],
     "active_manifest": str,                         # its label (urn:c2pa:...)
     "manifests": int, "embedded": bool, "title": str | null,
     "claim_generator": str | null,                  # "name version; ..."
     "signer": {"common_name", "organisation", "algorithm", "subject", "issuer", "serial",
                "not_before", "not_after"},           # of the signing certificate
     "signing_time": str | null,                     # from a timestamp in the manifest, if any
     "trusted": bool | null,                         # null: no trust list configured
     "trust_list_sha256": hex | null,
     "actions": [{"action", "when", "software_agent", "digital_source_type", "description"}],
     "actions_total": int,
     "ingredients": [{"title", "format", "relationship", "instance_id", "document_id",
                      "hash", "active_manifest", "validation_errors": [code]}],
     "ingredients_total": int,
     "sdk": str,                                     # the c2pa-rs version that validated
     "notices": [str]}                               # only when validation found failures

The states, as c2pa defines them: ``Invalid`` -- a failure code (e.g. the file's bytes no
longer match the hash the manifest signed: ``assertion.dataHash.mismatch``; a broken claim
signature); ``Valid`` -- well formed, signature and hashes check; ``Trusted`` -- valid, and
the signing certificate chains to the configured trust list. Without a trust list
(``$EVIDENCE_C2PA_TRUST_ANCHORS``, a PEM file of anchors) trust is not checked at all and
``trusted`` is null: the service never calls a credential trusted on c2pa-rs's defaults.

What counts as what (docs/evidence-kinds.md, "C2PA content credentials"):

* a store that cannot be read (truncated JUMBF, malformed CBOR, over the memory or time
  bound) is a ``warnings`` entry: the file's facts are incomplete, so it lands in
  ``extraction_errors`` and ``--strict-metadata`` refuses the item;
* a store that reads but does not validate (``Invalid``, or ``Valid`` with failures such
  as ``signingCredential.untrusted``) is a recorded fact, told to the submitter as a
  ``notices`` entry, and never a refusal: a re-edited or tampered picture is exactly
  what someone may need to preserve;
* no store: ``{"present": false}``, recorded for every image and PDF checked (so that "not
  checked", an item older than this check, stays distinguishable: no key at all).

Finding a store: the C2PA JUMBF label ``c2pa`` appears uncompressed in every embedding
c2pa-rs writes (JPEG APP11, PNG caBX, WebP/RIFF, TIFF, ISO BMFF, PDF embedded file). The
file is scanned for it (and for ``C2PA``, as in a PDF's ``/C2PA_Manifest``) before any
reader runs, so a picture without credentials costs one scan and no child process. A PDF
whose manifest stream is compressed and whose dictionaries sit in object streams is not
found this way (c2pa-rs writes neither); remote manifests are never fetched.

The reading runs in a child process with memory and CPU limits and a wall-clock
:data:`TIMEOUT` (:mod:`.c2pa_probe`), so hostile input cannot hang or exhaust intake.
``c2pa-python`` is an optional extra (``pip install 'evidence[c2pa]'``); without it a file
carrying a store is recorded with ``error`` and a warning, never silently as absent.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import mmap
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from evidence.ledger.intake.metadata.timefmt import clean_text

ENV_TRUST_ANCHORS = "EVIDENCE_C2PA_TRUST_ANCHORS"
"""Path of a PEM file of C2PA trust anchors (e.g. the C2PA trust list's anchors). Unset:
trust is not checked and ``trusted`` is null."""
TIMEOUT = 20.0
"""Wall-clock seconds one file's reading may take before the child is killed."""
MEDIA_TYPES = frozenset({
    "image/jpeg", "image/png", "image/webp", "image/tiff", "image/gif", "image/heic",
    "image/heif", "image/avif", "image/jxl", "image/svg+xml", "image/x-adobe-dng",
    "application/pdf",
})
"""Content types checked (those c2pa-rs reads that intake's image and PDF paths see)."""
MARKERS = (b"c2pa", b"C2PA")
PROBE = Path(__file__).with_name("c2pa_probe.py")
MAX_OUTPUT = 4 << 20
_MAX_DEPTH = 6
_MAX_LIST = 60


def check_c2pa(path: Path, media_type: str) -> dict[str, Any]:
    """The ``"c2pa"`` section of one image or PDF (see the module docstring). Never raises
    for what the file contains; an unreadable store is a section with ``warnings``."""
    if media_type not in MEDIA_TYPES or not _may_carry(path):
        return {"present": False}
    if importlib.util.find_spec("c2pa") is None:
        return _unreadable("not checked: c2pa-python is not installed on this server "
                           "(pip install 'evidence[c2pa]')")
    trust_path, trust_sha = _trust_list()
    if trust_path is False:
        return _unreadable(f"not checked: the C2PA trust list ${ENV_TRUST_ANCHORS} cannot "
                           "be read")
    args = [sys.executable, "-I", str(PROBE), str(path), media_type]
    if trust_path:
        args.append(str(trust_path))
    try:
        r = subprocess.run(args, capture_output=True, timeout=TIMEOUT, check=False,
                           env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8"})
    except subprocess.TimeoutExpired:
        return _unreadable(f"reading took longer than {TIMEOUT:g} s and was stopped")
    except OSError as e:
        return _unreadable(f"the reader could not be started ({e.strerror or e})")
    if r.returncode != 0 or not r.stdout or len(r.stdout) > MAX_OUTPUT:
        return _unreadable(_failure(r.returncode, r.stderr))
    try:
        raw = json.loads(r.stdout)
    except ValueError:
        return _unreadable("the reader's answer is not JSON")
    section = _clean(raw, 0)
    if not isinstance(section, dict) or not isinstance(section.get("present"), bool):
        return _unreadable("the reader's answer has an unexpected shape")
    if not section["present"]:
        return {"present": False}
    if section.get("error") or section.get("validation_state") is None:
        return _unreadable(str(section.get("error") or "no validation state"))
    section["trust_list_sha256"] = trust_sha
    codes = [e.get("code") for e in section.get("validation_errors") or []
             if isinstance(e, dict)]
    if section["validation_state"] == "Invalid" or codes:
        shown = ", ".join(str(c) for c in codes[:10]) or "no code given"
        section["notices"] = [f"C2PA content credential: {section['validation_state']}, "
                              f"with failures: {shown}"]
    return section


def _may_carry(path: Path) -> bool:
    """Whether the file's bytes contain a C2PA label (the cheap pre-scan)."""
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return any(m.find(marker) != -1 for marker in MARKERS)
    except (OSError, ValueError):  # empty or unmappable: nothing to read there
        return False


def _trust_list() -> tuple[Path | bool | None, str | None]:
    """(path, SHA-256 of its bytes) of the configured trust anchors; (None, None) when none
    is configured; (False, None) when one is configured but cannot be read."""
    name = os.environ.get(ENV_TRUST_ANCHORS, "").strip()
    if not name:
        return None, None
    try:
        data = Path(name).read_bytes()
    except OSError:
        return False, None
    if b"-----BEGIN CERTIFICATE-----" not in data:
        return False, None
    return Path(name).resolve(), hashlib.sha256(data).hexdigest()


def _unreadable(reason: str) -> dict[str, Any]:
    reason = clean_text(reason, 500) or "unreadable"
    return {"present": True, "validation_state": None, "error": reason,
            "warnings": [f"C2PA manifest store cannot be read: {reason}"]}


def _failure(returncode: int, stderr: bytes) -> str:
    """Why the child gave no answer, from its exit status and last line of stderr."""
    if returncode < 0:
        return (f"the reader was stopped by signal {-returncode} (over its memory or CPU "
                "bound, or a crash on this input)")
    lines = [ln for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    last = clean_text(lines[-1], 200) if lines else None
    if last and "MemoryError" in last:
        return "the manifest store is larger than the reader's memory bound"
    return f"the reader failed ({last or f'exit status {returncode}'})"


def _clean(value: Any, depth: int) -> Any:
    """The child's answer as plain JSON of bounded size and printable strings: it was
    shaped from hostile bytes, so it is checked again here."""
    if depth > _MAX_DEPTH:
        return None
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if abs(value) < 1 << 53 else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return clean_text(value, 1000)
    if isinstance(value, list):
        return [_clean(v, depth + 1) for v in value[:_MAX_LIST]]
    if isinstance(value, dict):
        return {clean_text(k, 100) or "?": _clean(v, depth + 1)
                for k, v in list(value.items())[:_MAX_LIST]}
    return None
