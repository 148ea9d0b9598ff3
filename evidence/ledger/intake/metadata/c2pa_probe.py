"""The C2PA reading itself, run in a child process by :mod:`.c2pa_check` (never imported
by the service).

Why a child: ``c2pa-python`` is native code (c2pa-rs) reading hostile bytes (JUMBF boxes,
CBOR, COSE, X.509). A thread cannot be stopped in native code, so the only way to keep
intake from hanging or exhausting memory on a crafted manifest is a process with
resource limits that the parent can kill. This script therefore imports nothing of
``evidence`` (so it starts in a fresh interpreter without the service's imports) and is
run by path with ``python -I``.

Usage: ``python -I c2pa_probe.py FILE MEDIA_TYPE [TRUST_ANCHORS_PEM]``. Prints one JSON
object on stdout, shaped (and bounded) here; the parent cleans and checks it again:

* ``{"present": false}``: the reader found no manifest store;
* ``{"present": true, "error": str}``: a store is there but cannot be read;
* ``{"present": true, "validation_state": ..., ...}``: see :mod:`.c2pa_check`.

Network: never. Remote manifests and OCSP are not fetched (``verify.remote_manifest_fetch``
and ``verify.ocsp_fetch`` off, no allowed network host); trust is checked only against the
anchors passed in, and not at all without them (``verify.verify_trust`` off), so that
c2pa-rs's own defaults never decide what this service calls trusted.
"""

from __future__ import annotations

import json
import resource
import sys
from typing import Any

MEMORY_LIMIT = 1 << 30
"""Address space of the child (bytes): c2pa-rs holds a manifest store in memory; a crafted
one claiming gigabytes fails here instead of in the service."""
CPU_SECONDS = 30
"""CPU time of the child; the parent's wall-clock bound is :data:`.c2pa_check.TIMEOUT`."""

MAX_TEXT = 500
MAX_ITEMS = 50  # actions, ingredients, validation codes: the rest are counted, not listed


def _limit() -> None:
    for what, value in ((resource.RLIMIT_AS, MEMORY_LIMIT), (resource.RLIMIT_CPU, CPU_SECONDS)):
        try:
            _soft, hard = resource.getrlimit(what)
            resource.setrlimit(what, (value if hard == resource.RLIM_INFINITY
                                      else min(value, hard), hard))
        except (ValueError, OSError):  # a platform without the limit: the timeout remains
            pass


def _text(value: Any, limit: int = MAX_TEXT) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).replace("\x00", "").strip()
    text = "".join(ch for ch in text if ch.isprintable())
    return text[:limit] or None


def _agent(value: Any) -> str | None:
    """``softwareAgent``: a string (v1 actions) or ``{"name", "version"}`` (v2)."""
    if isinstance(value, dict):
        return _text(" ".join(str(value[k]) for k in ("name", "version") if value.get(k)))
    return _text(value)


def _generator(m: dict[str, Any]) -> str | None:
    info = m.get("claim_generator_info")
    if isinstance(info, dict):
        info = [info]
    if isinstance(info, list):
        parts = [_agent({"name": i.get("name"), "version": i.get("version")})
                 for i in info if isinstance(i, dict)]
        joined = "; ".join(p for p in parts if p)
        if joined:
            return _text(joined)
    return _text(m.get("claim_generator"))


def _actions(m: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    out: list[dict[str, Any]] = []
    total = 0
    for a in m.get("assertions") or []:
        if not isinstance(a, dict) or not str(a.get("label", "")).startswith("c2pa.actions"):
            continue
        data = a.get("data") if isinstance(a.get("data"), dict) else {}
        for act in data.get("actions") or []:
            if not isinstance(act, dict):
                continue
            total += 1
            if len(out) < MAX_ITEMS:
                params = act.get("parameters") if isinstance(act.get("parameters"), dict) else {}
                out.append({
                    "action": _text(act.get("action"), 200),
                    "when": _text(act.get("when"), 100),
                    "software_agent": _agent(act.get("softwareAgent")),
                    "digital_source_type": _text(act.get("digitalSourceType"), 300),
                    "description": _text(act.get("description") or params.get("description")),
                })
    return out, total


def _ingredients(m: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    items = [i for i in m.get("ingredients") or [] if isinstance(i, dict)]
    out = []
    for i in items[:MAX_ITEMS]:
        vr = i.get("validation_results")
        active = vr.get("activeManifest") if isinstance(vr, dict) else None
        failures = active.get("failure") if isinstance(active, dict) else None
        out.append({
            "title": _text(i.get("title")),
            "format": _text(i.get("format"), 100),
            "relationship": _text(i.get("relationship"), 50),
            "instance_id": _text(i.get("instance_id"), 200),
            "document_id": _text(i.get("document_id"), 200),
            "hash": _text(i.get("hash"), 200),
            "active_manifest": _text(i.get("active_manifest"), 200),
            "validation_errors": [_text(f.get("code"), 100) for f in (failures or [])[:MAX_ITEMS]
                                  if isinstance(f, dict)],
        })
    return out, len(items)


def _dn(value: Any) -> str | None:
    """crJSON's ``{"CN": ..., "O": ...}`` as ``CN=..., O=...``."""
    if not isinstance(value, dict):
        return None
    return _text(", ".join(f"{k}={v}" for k, v in value.items()
                           if isinstance(v, (str, int)) and not isinstance(v, bool)))


def _certificate(reader: Any, label: str) -> dict[str, Any]:
    """Subject, issuer, serial and validity of the signing certificate (crJSON)."""
    try:
        doc = json.loads(reader.crjson())
    except Exception:  # crJSON is newer than the rest; the basic signer info remains
        return {}
    for m in doc.get("manifests") or []:
        if isinstance(m, dict) and m.get("label") == label:
            sig = m.get("signature") if isinstance(m.get("signature"), dict) else {}
            cert = sig.get("certificateInfo") if isinstance(sig.get("certificateInfo"),
                                                            dict) else {}
            validity = cert.get("validity") if isinstance(cert.get("validity"), dict) else {}
            return {"subject": _dn(cert.get("subject")), "issuer": _dn(cert.get("issuer")),
                    "serial": _text(cert.get("serialNumber"), 100),
                    "not_before": _text(validity.get("notBefore"), 64),
                    "not_after": _text(validity.get("notAfter"), 64)}
    return {}


def _codes(entries: Any) -> tuple[list[dict[str, Any]], int]:
    items = [e for e in entries or [] if isinstance(e, dict)]
    return [{"code": _text(e.get("code"), 100), "explanation": _text(e.get("explanation")),
             "url": _text(e.get("url"))} for e in items[:MAX_ITEMS]], len(items)


def describe(reader: Any, c2pa: Any, trusting: bool) -> dict[str, Any]:
    store = json.loads(reader.json())
    label = store.get("active_manifest")
    manifests = store.get("manifests") if isinstance(store.get("manifests"), dict) else {}
    m = manifests.get(label) if isinstance(label, str) else None
    m = m if isinstance(m, dict) else {}
    results = store.get("validation_results")
    active = results.get("activeManifest") if isinstance(results, dict) else None
    if isinstance(active, dict):
        failures, n_failures = _codes(active.get("failure"))
    else:  # older stores: the flat list holds the failures
        failures, n_failures = _codes(store.get("validation_status"))
    deltas = results.get("ingredientDeltas") if isinstance(results, dict) else None
    ingredient_failures: list[dict[str, Any]] = []
    for d in deltas or []:
        if isinstance(d, dict) and isinstance(d.get("validationDeltas"), dict):
            ingredient_failures += _codes(d["validationDeltas"].get("failure"))[0]
    sig = m.get("signature_info") if isinstance(m.get("signature_info"), dict) else {}
    actions, n_actions = _actions(m)
    ingredients, n_ingredients = _ingredients(m)
    state = _text(store.get("validation_state"), 20)
    return {
        "present": True,
        "validation_state": state,
        "validation_errors": failures,
        "validation_errors_total": n_failures,
        "ingredient_validation_errors": ingredient_failures[:MAX_ITEMS],
        "active_manifest": _text(label, 200),
        "manifests": len(manifests),
        "embedded": bool(reader.is_embedded()),
        "title": _text(m.get("title")),
        "claim_generator": _generator(m),
        "signer": {
            "common_name": _text(sig.get("common_name")),
            "organisation": _text(sig.get("issuer")),  # c2pa's "issuer" is the subject's O
            "algorithm": _text(sig.get("alg"), 20),
            **(_certificate(reader, label) if isinstance(label, str) else {}),
        },
        "signing_time": _text(sig.get("time"), 64),
        "trusted": (state == "Trusted") if trusting else None,
        "actions": actions,
        "actions_total": n_actions,
        "ingredients": ingredients,
        "ingredients_total": n_ingredients,
        "sdk": _text(c2pa.sdk_version(), 40),
    }


def main(argv: list[str]) -> int:
    _limit()
    path, media_type = argv[1], argv[2]
    anchors = None
    if len(argv) > 3:
        with open(argv[3], encoding="utf-8") as f:
            anchors = f.read()
    import c2pa

    settings: dict[str, Any] = {
        "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False,
                   "verify_trust": anchors is not None,
                   "verify_timestamp_trust": anchors is not None},
        "core": {"allowed_network_hosts": []},
    }
    if anchors is not None:
        settings["trust"] = {"trust_anchors": anchors}
    context = c2pa.Context.from_dict(settings)
    try:
        with open(path, "rb") as f:
            reader = c2pa.Reader.try_create(media_type, f, context=context)
            if reader is None:
                out: dict[str, Any] = {"present": False}
            else:
                with reader:
                    out = describe(reader, c2pa, anchors is not None)
    except c2pa.C2paError as e:
        out = {"present": True, "error": _text(str(e) or type(e).__name__.lstrip("_"))}
    except (ValueError, KeyError, TypeError, RecursionError) as e:  # malformed JSON shapes
        out = {"present": True, "error": _text(f"unreadable manifest ({type(e).__name__})")}
    sys.stdout.write(json.dumps(out, ensure_ascii=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
