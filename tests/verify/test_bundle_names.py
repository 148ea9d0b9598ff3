"""The safe names of evidence-bundle/v2 (docs/bundle.md "File names (v2)"): one table, and
20,000 random names, through the package's ``safe_name`` and the stand-alone script's; the
page's is held to the same by tests/browser/test_bundle_names_page.py.

Every verifier recomputes the member name of a file from the name in the signed entry and
requires exactly it, so the implementations must agree on every string, including lone
surrogates, noncharacters, bidi controls and names longer than the limit. Random names are
round-tripped through JSON, as a name reaches a verifier (escaped surrogate pairs join).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from evidence.verify.bundle_names import MAX_NAME_BYTES, name_part_ok, safe_name
from tests.support.bundle_names_table import TABLE, random_names

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "verify_bundle.py"

def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_bundle_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return _script()


@pytest.mark.parametrize("name,want", TABLE, ids=[repr(n)[:40] for n, _ in TABLE])
def test_table(name: Any, want: str, script: ModuleType) -> None:
    assert safe_name(name) == want
    assert script.safe_name(name) == want
    assert name_part_ok(want) and script.name_part_ok(want)
    assert len(want.encode()) <= MAX_NAME_BYTES + 2


@pytest.mark.slow  # thousands of random names through both readers: seconds
def test_random_names_agree(script: ModuleType) -> None:
    differ = []
    for name in random_names():
        a, b = safe_name(name), script.safe_name(name)
        if a != b or not name_part_ok(a) or name_part_ok(name) != script.name_part_ok(name):
            differ.append((name, a, b))
    assert not differ, differ[:5]


@pytest.mark.parametrize("part", ["", ".", "..", "a/b", "a\\b", " a", "a ", ".a", "a.",
                                  "a\u202eb", "a\x00b", "a\tb", "\ud800", "a" * 256,
                                  "证" * 86])
def test_parts_the_archive_refuses(part: str, script: ModuleType) -> None:
    assert not name_part_ok(part) and not script.name_part_ok(part)
