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
import json
import random
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from evidence.verify.bundle_names import MAX_NAME_BYTES, name_part_ok, safe_name

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "verify_bundle.py"

#: (submitted name, safe name): written by hand from docs/bundle.md, never from the code
TABLE: list[tuple[Any, str]] = [
    ("shop.png", "shop.png"),
    ("买家聊天记录.txt", "买家聊天记录.txt"),
    ("e\u0301.txt", "e\u0301.txt"),                       # no normalisation
    ("\U0001f600.png", "\U0001f600.png"),
    ("../../etc/passwd", "_.._etc_passwd"),
    ("..\\..\\evil.exe", "_.._evil.exe_"),
    ("/abs/path.pdf", "_abs_path.pdf"),
    ("C:\\Users\\x.doc", "C__Users_x.doc"),
    ("..", "file"), (".", "file"), ("", "file"), ("   ", "file"), ("...", "file"),
    (None, "file"), (5, "file"), (["a"], "file"),
    (" .hidden. ", "hidden"),
    (".bashrc", "bashrc"),
    ("report.pdf. ", "report.pdf"),
    ("CON", "_CON"), ("con.txt", "_con.txt"), ("Nul .tar.gz", "_Nul .tar.gz"),
    ("COM\u00b9.log", "_COM\u00b9.log"), ("lpt9", "_lpt9"), ("CONIN$", "_CONIN$"),
    ("console.txt", "console.txt"), ("COM10", "COM10"), ("auxiliary", "auxiliary"),
    ("report.pdf.exe", "report.pdf.exe_"), ("a.LNK", "a.LNK_"), ("run.Js", "run.Js_"),
    ("install.sh", "install.sh_"), ("exe", "exe"), ("a.exe.txt", "a.exe.txt"),
    ("photo\u202egnp.exe", "photo_gnp.exe_"),             # RIGHT-TO-LEFT OVERRIDE
    ("a\u2066b\u2069c\u200ed\u061ce", "a_b_c_d_e"),       # isolates, marks
    ("zero\u200bwidth\ufeff", "zero_width_"),
    ("tab\there\nnewline\x7f\x85", "tab_here_newline__"),
    ("a:b|c?d*e<f>g\"h.txt", "a_b_c_d_e_f_g_h.txt"),
    ("x\x00y", "x_y"),
    ("\ud800lone", "_lone"), ("lone\udfff", "lone_"),
    ("\ufffe\uffff\ufdd0\U0001fffe\U0010ffff", "_____"),
    ("\U000e0041tag", "_tag"),
    ("\u2028\u2029", "__"),
    ("a" * 200 + ".jpeg", "a" * 115 + ".jpeg"),
    ("证" * 60 + ".png", "证" * 38 + ".png"),
    ("证" * 60, "证" * 40),
    ("a" * 119 + "证.txt", "a" * 116 + ".txt"),            # never half a character
    ("a." + "b" * 300, "a." + "b" * 118),                  # an "extension" over 16 bytes
    ("x " * 100 + ".txt", "x " * 58 + ".txt"),             # only the ends are stripped
    ("con" + " " * 200 + ".txt", "_con" + " " * 113 + ".txt"),  # cut, then a device name
]


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


def random_names(n: int = 20_000, seed: int = 19) -> list[str]:
    """Names drawn from the characters every step cares about, 0-150 code points, after a
    JSON round trip (as they reach a verifier from an entry)."""
    rnd = random.Random(seed)
    pool = [chr(c) for c in [*range(0x80), 0x85, 0xA0, 0xB9, 0xE9, 0x061C, 0x200B, 0x200D,
                             0x202E, 0x2066, 0x3000, 0x4E00, 0xD800, 0xDC00, 0xFDD0, 0xFEFF,
                             0xFFFD, 0xFFFE, 0xFFFF, 0x1F600, 0x1FFFE, 0xE0001, 0x10FFFF]]
    pool += ["CON", "nul", "COM\u00b9", ".exe", ".lnk", ".png", " ", ".", ".."]
    return [json.loads(json.dumps("".join(rnd.choice(pool) for _ in range(rnd.randint(0, 150)))))
            for _ in range(n)]


@pytest.mark.parametrize("name,want", TABLE, ids=[repr(n)[:40] for n, _ in TABLE])
def test_table(name: Any, want: str, script: ModuleType) -> None:
    assert safe_name(name) == want
    assert script.safe_name(name) == want
    assert name_part_ok(want) and script.name_part_ok(want)
    assert len(want.encode()) <= MAX_NAME_BYTES + 2


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
