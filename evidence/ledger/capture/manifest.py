"""The capture manifest: what was visited, how, from which machine, with what result.

It is what China's Online Litigation Rules (Art. 18) ask about a capture environment
(清洁性检查): the browser and its versions, the resolver's answers, the proxy setting,
the hosts file, the steps taken, the times. It is RFC 8785 JSON, and it lists the
SHA-256 of every output file, so the capture node's signature over the manifest
binds the screenshot, the WACZ and the rest.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import re
from pathlib import Path
from typing import Any

import rfc8785

from evidence.verify.note import Signer, sign_note
from evidence.verify.webcapture import MANIFEST_SCHEMA, signed_text

_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY",
               "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
_SECRET_IN_URL = re.compile(r"//[^/@\s]*@")


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _os_release() -> str | None:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return None


def environment(browser_version: str, chromium_path: str, args: list[str]) -> dict[str, Any]:
    return {
        "browser": {"name": "chromium", "version": browser_version, "path": chromium_path,
                    "args": args, "profile": "fresh (new context; no cookies, storage, "
                                             "extensions or service workers)"},
        "software": {"evidence": _version("evidence"), "playwright": _version("playwright"),
                     "warcio": _version("warcio"), "wacz": _version("wacz"),
                     "python": platform.python_version()},
        "os": {"platform": platform.platform(), "release": _os_release(),
               "machine": platform.machine(), "hostname": platform.node()},
    }


def _sha256_file(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def network(dns: dict[str, Any], hosts: list[str]) -> dict[str, Any]:
    """The name resolution and proxy context the browser ran in."""
    nameservers: list[str] = []
    try:
        for line in Path("/etc/resolv.conf").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                nameservers.append(parts[1])
    except OSError:
        pass
    mapped: list[str] = []
    try:
        for line in Path("/etc/hosts").read_text().splitlines():
            names = line.split("#", 1)[0].split()[1:]
            mapped += [h for h in hosts if h.lower() in (n.lower() for n in names)]
    except OSError:
        pass
    proxies = {k: _SECRET_IN_URL.sub("//***@", v) for k in _PROXY_VARS
               if (v := os.environ.get(k))}
    return {
        "dns": {h: dns[h] for h in sorted(dns)},
        "resolver": {"method": "getaddrinfo (the system resolver the browser also uses)",
                     "resolv_conf_nameservers": nameservers,
                     "resolv_conf_sha256": _sha256_file(Path("/etc/resolv.conf"))},
        "hosts_file": {"sha256": _sha256_file(Path("/etc/hosts")),
                       "maps_captured_hosts": sorted(set(mapped))},
        "proxy": {"environment": proxies,
                  "browser": "none (--no-proxy-server): the browser connected directly"},
    }


def file_entry(role: str, path: Path, media_type: str) -> dict[str, Any]:
    data = path.read_bytes()
    return {"role": role, "name": path.name, "media_type": media_type, "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest()}


def write_manifest(out: Path, manifest: dict[str, Any], signer: Signer) -> tuple[Path, Path]:
    """Write ``capture-manifest.json`` (RFC 8785 bytes) and ``capture-manifest.sig``
    (a C2SP signed note over its SHA-256 by the capture node's key)."""
    assert manifest.get("schema") == MANIFEST_SCHEMA
    data = rfc8785.dumps(manifest)
    mpath = out / "capture-manifest.json"
    mpath.write_bytes(data)
    spath = out / "capture-manifest.sig"
    spath.write_text(sign_note(signed_text(hashlib.sha256(data).hexdigest()), [signer]),
                     encoding="utf-8")
    return mpath, spath
