"""The metadata shortcut (compact sorted json.dumps) is byte for byte the reference
``evidence.verify.commitment.canonical_metadata`` (rfc8785), refusals included."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence.verify import commitment
from evidence.verify.commitment import CommitmentMismatch, new_salt
from evidence.verify.errors import MalformedInput
from evidence.verify.fast.commitment_shortcut import canonical_metadata, verify_commitment

_any_text = st.one_of(
    st.text(max_size=12),
    st.text(st.characters(min_codepoint=0, max_codepoint=0x7F), max_size=12),  # escapes
    st.text(st.characters(min_codepoint=0xD7F0, max_codepoint=0x1F64F), max_size=4),
    st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1,
            max_size=2),  # lone surrogates: refused by both
)
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**60), 2**60),
    st.sampled_from([2**53 - 1, -(2**53 - 1), 2**53, -(2**53)]),
    st.floats(allow_nan=True, allow_infinity=True), _any_text,
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner),
                            st.dictionaries(_any_text, inner, max_size=5)),
    max_leaves=25,
)


def _reference(obj: dict[str, Any]) -> bytes | type[Exception]:
    """The reference's answer: its bytes, or the type of what it raised."""
    try:
        return commitment.canonical_metadata(obj)
    except Exception as e:  # e.g. UnicodeEncodeError sorting a lone surrogate key
        return type(e)


def test_the_reference_is_rfc8785() -> None:
    obj = {"b": [1, 2.5, None], "a": "x\u2028"}
    assert commitment.canonical_metadata(obj) == rfc8785.dumps(obj)
    with pytest.raises(MalformedInput):
        commitment.canonical_metadata({"n": float("nan")})


@pytest.mark.slow
@settings(max_examples=1500, deadline=None)
@given(st.dictionaries(_any_text, _values, max_size=6))
def test_fast_path_equals_rfc8785(obj: dict[str, Any]) -> None:
    want = _reference(obj)
    if isinstance(want, type):
        with pytest.raises(want):
            canonical_metadata(obj)
    else:
        assert canonical_metadata(obj) == want


def shortcut_or_reference(obj: dict[str, Any], monkeypatch: pytest.MonkeyPatch
                          ) -> tuple[bytes, bool]:
    """The shortcut's bytes for ``obj``, and whether it asked the reference for them."""
    asked: list[int] = []
    real = commitment.canonical_metadata

    def reference(md: Any) -> bytes:
        asked.append(1)
        return real(md)

    with monkeypatch.context() as m:
        m.setattr(commitment, "canonical_metadata", reference)
        out = canonical_metadata(obj)
    return out, bool(asked)


def test_keys_past_the_bmp_sort_by_utf16_not_by_code_point(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # U+1F600 is a surrogate pair (D83D DE00) in UTF-16: it sorts before U+FB01
    obj = {"\U0001f600": 1, "\ufb01": 2, "a": 3}
    out, by_reference = shortcut_or_reference(obj, monkeypatch)
    assert by_reference
    assert out == rfc8785.dumps(obj)
    assert out.index("\U0001f600".encode()) < out.index("\ufb01".encode())


def test_typical_metadata_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    md = {"schema": "evidence.metadata/v1", "evidence_id": "ev_01ABC", "case": "C-1",
          "title": "Zoë's screenshot \u2028 \"quoted\"\n", "extraction_errors": [],
          "stated": {"source_url": None, "captured_at": None, "meta": {"k": "v"}},
          "extracted": {"kind": "document", "files": [
              {"name": "a.txt", "size": 12, "sha256": "00" * 32, "media_type": "text/plain",
               "media_type_by_extension": None, "flag": True}]}}
    out, by_reference = shortcut_or_reference(md, monkeypatch)
    assert not by_reference
    assert out == rfc8785.dumps(md)
    with_gps = {**md, "gps": {"lat": 48.8584, "lon": 2.2945}}
    out, by_reference = shortcut_or_reference(with_gps, monkeypatch)
    assert by_reference  # floats: rfc8785 itself
    assert out == rfc8785.dumps(with_gps)


def test_verify_commitment_opens_as_the_reference_does() -> None:
    md = {"title": "Zoë", "n": 3, "gps": {"lat": 48.8584}}
    salt = new_salt()
    c = commitment.metadata_commitment(salt, md).hex()
    verify_commitment(c, salt, md)
    commitment.verify_commitment(c, salt, md)
    for bad_md, bad_salt in ((md | {"n": 4}, salt), (md, new_salt())):
        with pytest.raises(CommitmentMismatch):
            verify_commitment(c, bad_salt, bad_md)
        with pytest.raises(CommitmentMismatch):
            commitment.verify_commitment(c, bad_salt, bad_md)
