"""The reading order in ``evidence/verify/__init__.py`` is one an auditor can follow: it
names every reference module once, and each module imports only modules named before it
(so reading in that order never meets a rule not read yet)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import evidence.verify

PACKAGE = Path(evidence.verify.__file__).parent


def listed_order() -> list[str]:
    doc = evidence.verify.__doc__ or ""
    names: list[str] = []
    for line in doc.splitlines():
        if re.match(r"^\d+\.\s", line):  # a numbered step: its ``module.py`` names
            names += re.findall(r"``([a-z_]+)\.py``", line.split("  ")[0] + line)
    return list(dict.fromkeys(names))


def verify_imports(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("evidence.verify."):
                found.add(node.module.split(".")[2])
            elif node.module == "evidence.verify":
                found |= {a.name for a in node.names if (PACKAGE / f"{a.name}.py").exists()}
    return found


def test_every_reference_module_is_listed_once() -> None:
    order = listed_order()
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert sorted(order) == sorted(modules)


def test_each_module_uses_only_those_read_before_it() -> None:
    order = listed_order()
    for i, module in enumerate(order):
        later = verify_imports(module) - set(order[:i])
        assert not later, f"{module} imports {sorted(later)}, listed after it"
        assert "fast" not in verify_imports(module), f"{module} imports verify.fast"
