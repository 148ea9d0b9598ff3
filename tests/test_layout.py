"""The layout of tests/ (issue 16, point 7): shared fixtures live in conftest files and
helpers in tests/support/ (or a helper module that is not a test module, such as
tests/verdicts/forge.py or tests/deploy/compose_env.py); no module under tests/ imports a
test module (``test_*.py``), by ``import``, ``from ... import``, a relative import, or a
string given to ``importlib.import_module`` / ``pytest.importorskip``.

Importing a test module runs its module-level code (its ``importorskip`` calls, its
fixtures land in the importer's namespace) and ties two test files together so that one
cannot be changed, moved or skipped without the other."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
TEST_STEMS = {p.stem for p in TESTS.rglob("test_*.py")}
IMPORTERS = {"import_module", "importorskip", "__import__"}


def _is_test_module(dotted: str) -> bool:
    """A dotted name that points at a test module under tests/: ``tests.x.test_y`` (or a
    name inside it), a relative ``.test_y``, or a bare ``test_y`` of a file under tests/."""
    relative = dotted.startswith(".")
    parts = [p for p in dotted.lstrip(".").split(".") if p]
    if not parts:
        return False
    if relative or parts[0] == "tests":
        return any(p.startswith("test_") for p in parts)
    return parts[0] in TEST_STEMS


def _imports(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every module name (with the line) that ``tree`` imports, as written: for ``from m
    import a`` both ``m`` and ``m.a`` (``a`` may be a module), dots kept for relative ones."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            if node.module:
                yield node.lineno, base
            for alias in node.names:
                sep = "" if base.endswith(".") or not base else "."
                yield node.lineno, f"{base}{sep}{alias.name}"
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[0]
            if name in IMPORTERS and isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                yield node.lineno, arg.value


def test_no_module_under_tests_imports_a_test_module() -> None:
    files = sorted(TESTS.rglob("*.py"))
    assert any(p.name.startswith("test_") for p in files)
    bad: dict[tuple[str, int], str] = {}
    for path in files:
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for line, name in _imports(ast.parse(text, filename=str(path))):
            if _is_test_module(name):
                where = (str(path.relative_to(ROOT)), line)
                bad.setdefault(where, f"{where[0]}:{line}: {lines[line - 1].strip()}")
    assert not bad, ("a test module (test_*.py) is imported; move what is shared to "
                     "tests/support/ (helpers) or a conftest.py (fixtures):\n"
                     + "\n".join(bad.values()))


def test_the_guard_sees_every_kind_of_import() -> None:
    for bad in ("import tests.auditor.test_x",
                "import tests.auditor.test_x as other",
                "from tests.mirror.test_y import serve",
                "from tests.mirror import test_y",
                "from .test_z import helper",
                "from . import test_z",
                "importlib.import_module('tests.ledger.test_w')",
                "pytest.importorskip('tests.ledger.test_w')",
                "import test_layout"):
        assert any(_is_test_module(n) for _, n in _imports(ast.parse(bad))), bad
    for fine in ("from tests.support.shard_world import shard_world",
                 "from tests.witness.conftest import ServedWitness",
                 "from tests.verdicts.forge import forge_bundle",
                 "from tests.deploy.compose_env import compose_env",
                 "from . import conftest",
                 "import pytest",
                 "from evidence.ledger.log import Ledger",
                 "pytest.importorskip('fpdf')"):
        assert not any(_is_test_module(n) for _, n in _imports(ast.parse(fine))), fine
