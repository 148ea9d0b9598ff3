"""The compose file's settings, for the tests that run its roles without containers.

``deploy/compose.yaml`` is read with PyYAML (merge keys and anchors as compose reads
them); ``${VAR:-default}`` takes the default, ``${VAR:?message}`` the value given here.
:func:`localize` then points the container names and paths at the throwaway processes a
test started: only addresses, ports and folders change, never a variable's name or meaning.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
ENTRYPOINT = DEPLOY / "entrypoint.sh"
HAPROXY_CFG = DEPLOY / "haproxy.cfg"

_VAR = re.compile(r"\$\{(\w+)(?::-([^}]*)|:\?[^}]*)?\}")


def load_compose() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml", reason="PyYAML not installed (it comes with the dev "
                                              "extra's schemathesis): pip install pyyaml")
    with COMPOSE.open() as f:
        return yaml.safe_load(f)


def interpolate(value: str, given: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        name, default = m[1], m[2]
        if name in given:
            return given[name]
        if default is not None:
            return default
        raise KeyError(f"compose variable {name} has no default and was not given")

    return _VAR.sub(one, value)


def service_env(compose: dict[str, Any], service: str,
                given: dict[str, str]) -> dict[str, str]:
    env = compose["services"][service].get("environment") or {}
    assert isinstance(env, dict), f"{service}: environment must be a mapping"
    return {k: interpolate(str(v), given) for k, v in env.items()}


def bind_mounts(compose: dict[str, Any], service: str) -> dict[str, str]:
    """The service's bind mounts of this checkout's files: container path -> host path."""
    out = {}
    for spec in compose["services"][service].get("volumes") or []:
        source, target = spec.split(":")[:2]
        if source.startswith("./"):
            out[target] = str((DEPLOY / source).resolve())
    return out


def localize(env: dict[str, str], replacements: dict[str, str]) -> dict[str, str]:
    """Each value with every ``old`` replaced by ``new`` (longest first)."""
    out = {}
    for k, v in env.items():
        for old in sorted(replacements, key=len, reverse=True):
            v = v.replace(old, replacements[old])
        out[k] = v
    return out
