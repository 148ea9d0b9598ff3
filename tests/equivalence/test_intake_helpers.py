"""Intake's cheaper per-item helpers give exactly what the plain formulas gave."""

from __future__ import annotations

import mimetypes
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from evidence.ledger.intake.staging import CROCKFORD, check_text, crockford26, new_evidence_id


@settings(max_examples=500)
@given(st.integers(0, 2**130 - 1))
def test_crockford_digits_equal_the_shift_and_mask_formula(n: int) -> None:
    want = "".join(CROCKFORD[(n >> (5 * i)) & 31] for i in range(25, -1, -1))
    assert crockford26(n) == want


def test_evidence_ids_are_ulids() -> None:
    ids = [new_evidence_id() for _ in range(200)]
    assert all(re.fullmatch(r"ev_[0-9A-HJKMNP-TV-Z]{26}", i) for i in ids)
    assert len(set(ids)) == 200


@settings(max_examples=1000)
@given(st.text(st.characters(min_codepoint=0, max_codepoint=0xE000, categories=None),
               max_size=20))
def test_text_check_refuses_exactly_control_characters_and_surrogates(value: str) -> None:
    bad = any(ord(c) < 0x20 or 0xD800 <= ord(c) <= 0xDFFF for c in value)
    got = check_text("--title", value)
    assert bool(got) == bad or (value == "" and not got)
    if bad:
        assert "control characters" in got[0].reason


@settings(max_examples=1000)
@given(st.text(st.sampled_from("ab.XZ. é"), max_size=8).filter(lambda s: s not in ("", ".", "..")))
def test_by_extension_reads_the_suffix_as_pathlib_does(name: str) -> None:
    from pathlib import PurePath

    from evidence.ledger.intake.metadata import sniff

    suffix = PurePath(name).suffix.lower()
    want = sniff.EXTRA_TYPES.get(suffix) or mimetypes.guess_type(name, strict=False)[0]
    assert sniff.by_extension(name) == want
