"""The safe names of evidence-bundle/v2 (docs/bundle.md "File names (v2)") as test data:
a table written by hand and a reproducible set of random names. The package and the
stand-alone script are held to them by tests/verify/test_bundle_names.py, the page by
tests/browser/test_bundle_names_page.py."""

from __future__ import annotations

import json
import random
from typing import Any

__all__ = ["TABLE", "random_names"]

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
