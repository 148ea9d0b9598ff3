"""The quick pass of ``scripts/audit_ledger.py`` (whole chunks of entries.jsonl, no Python
code per entry) accepts only what its reference pass accepts, and both reach the package's
verdict (evidence.verify.log.check_entries, the rules of ``evidence audit``).

Each case puts one crafted entry (or line) into a short log whose other entries are good
and whose chain and leaf hashes are right, so only the crafted part can be at fault. Per
case: the package's verdict; the script's reference pass alone; the script with the quick
pass at several chunk sizes (one chunk, one line per chunk, a few lines per chunk); and
whether the quick pass called the chunk clean, which must imply the package accepts."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evidence.verify.entry import encode_entry
from evidence.verify.log import LogBroken, check_entries
from tests.support.standalone import load_audit_script

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "audit_ledger.py"


al = load_audit_script()
N = 6
AT = 2  # the crafted entry's seq


def entry(seq: int, prev: str, *, body: str = '{"n":1}', time: str | None = None,
          type_: str = "custody.note", v: str = "1", seq_text: str | None = None,
          prev_text: str | None = None, extra: str = "",
          raw: Callable[[bytes], bytes] | None = None) -> bytes:
    """An entry's text in the canonical layout, with any part replaced by hand."""
    t = time or f"2026-12-07T00:00:{seq:02d}.000000Z"
    text = ('{"body":' + body + ',"prev":"' + (prev if prev_text is None else prev_text)
            + '","seq":' + (str(seq) if seq_text is None else seq_text) + ',"time":"' + t
            + '","type":"' + type_ + '","v":' + v + extra + "}")
    data = text.encode("utf-8", "surrogatepass")
    return raw(data) if raw else data


def row(seq: int, data: bytes) -> bytes:
    """A line as `evidence log export` writes it."""
    lh = hashlib.sha256(b"\x00" + data).hexdigest()
    return b'{"seq": %d, "leaf_hash": "%s", "entry_b64": "%s"}\n' % (
        seq, lh.encode(), base64.b64encode(data))


def build(crafted: dict[str, Any], index: int = AT,
          line: Callable[[bytes], bytes] | None = None, n: int = N
          ) -> tuple[list[bytes], bytes]:
    """N entries, entry ``index`` made with ``crafted``; each prev is the real leaf hash
    before it. ``line`` changes the crafted entry's line. Returns (entries, file bytes)."""
    datas, lines, prev = [], [], "0" * 64
    for i in range(n):
        data = entry(i, prev, **(crafted if i == index else {}))
        text = row(i, data)
        datas.append(data)
        lines.append(line(text) if line is not None and i == index else text)
        prev = hashlib.sha256(b"\x00" + data).hexdigest()
    return datas, b"".join(lines)


def package_verdict(datas: list[bytes]) -> tuple[int | None, str | None]:
    """(first bad index, root hex) by evidence.verify: the rules `evidence audit` keeps."""
    try:
        s = check_entries(datas)
    except LogBroken as e:
        return e.index, None
    return None, bytes(s.root).hex()


def script_verdicts(directory: Path) -> dict[str, tuple[int | None, str | None]]:
    out = {}
    for name, quick, chunk in [("reference", False, al.CHUNK), ("one chunk", True, al.CHUNK),
                               ("a line a chunk", True, 1), ("two lines", True, 300)]:
        res = al.audit_log(str(directory), al.LogResult(), quick=quick, chunk=chunk)
        out[name] = (res.first_bad_seq, res.root.hex() if res.root else None)
    return out


def quick_clean(path: Path) -> bool:
    return al.scan_chunk((str(path), 0, path.stat().st_size)).clean


BIG = "x" * (1 << 20)
CASES: dict[str, tuple[dict[str, Any], bool | None]] = {
    # True: the quick pass must call it clean (and the package accept it);
    # False: the package refuses it (so must the quick pass); None: accepted, either way.
    "plain": ({}, True),
    "empty body": ({"body": "{}"}, True),
    "nested": ({"body": '{"a":[1,{"b":null,"c":true}],"z":false}'}, True),
    "non-ascii value": ({"body": '{"who":"法官 é"}'}, True),
    "canonical escapes": ({"body": json.dumps({"a": "\n\"\\\x01\x7f\u2028"},
                                              ensure_ascii=False)
                           .replace(" ", "")}, True),
    "negative and large ints": ({"body": '{"a":-123456789012345,"b":999999999999999}'},
                                True),
    "digits in a string": ({"body": '{"a":"x:1234567890123456"}'}, None),
    "max safe integer": ({"body": '{"a":9007199254740991}'}, None),
    "min safe integer": ({"body": '{"a":[-9007199254740991]}'}, None),
    "a string like the tail": ({"body": '{"a":"\\",\\"prev\\":\\"' + "0" * 64 + '\\""}'},
                               True),
    "whitespace": ({"body": '{"a": 1}'}, False),
    "keys out of order": ({"body": '{"b":1,"a":2}'}, False),
    "duplicate key": ({"body": '{"a":1,"a":1}'}, False),
    "float": ({"body": '{"a":1.0}'}, False),
    "exponent": ({"body": '{"a":1e5}'}, False),
    "NaN": ({"body": '{"a":NaN}'}, False),
    "unsafe integer": ({"body": '{"a":9007199254740992}'}, False),
    "unsafe negative integer": ({"body": '{"a":[-9007199254740992]}'}, False),
    "long integer": ({"body": '{"a":123456789012345678901}'}, False),
    "minus zero": ({"body": '{"a":-0}'}, False),
    "escaped e-acute": ({"body": '{"a":"\\u00e9"}'}, False),
    "escaped slash": ({"body": '{"a":"\\/"}'}, False),
    "newline as \\u000a": ({"body": '{"a":"\\u000a"}'}, False),
    "lone surrogate": ({"body": '{"a":"\\ud800"}'}, False),
    "non-ascii key": ({"body": '{"é":1}'}, False),
    "raw newline in a string": ({"body": '{"a":"x\ny"}'}, False),
    "raw tab in a string": ({"body": '{"a":"x\ty"}'}, False),
    "body is a list": ({"body": "[1]"}, False),
    "body is a string": ({"body": '"x"'}, False),
    "two values as the body": ({"body": '{"a":1},"c":{"b":2}'}, False),
    "trailing comma": ({"body": '{"a":1,}'}, False),
    "deep nesting": ({"body": '{"a":' + "[" * 100_000 + "]" * 100_000 + "}"}, False),
    "invalid UTF-8": ({"body": '{"a":"X"}', "raw": lambda d: d.replace(b"X", b"\xff")},
                      False),
    "overlong entry": ({"body": '{"a":"' + BIG + '"}'}, False),
    "no such day": ({"time": "2026-02-30T00:00:02.000000Z"}, False),
    "hour 24": ({"time": "2026-12-07T24:00:00.000000Z"}, False),
    "second 60": ({"time": "2026-12-07T00:00:60.000000Z"}, False),
    "year 0": ({"time": "0000-12-07T00:00:02.000000Z"}, False),
    "milliseconds": ({"time": "2026-12-07T00:00:02.000Z"}, False),
    "arabic digits": ({"time": "٢٠٢٦-12-07T00:00:02.000000Z"}, False),
    "time goes back": ({"time": "2026-12-06T00:00:02.000000Z"}, False),
    "type without a dot": ({"type_": "custody"}, False),
    "type in capitals": ({"type_": "Custody.note"}, False),
    "version 2": ({"v": "2"}, False),
    "version true": ({"v": "true"}, False),
    "seq off by one": ({"seq_text": "3"}, False),
    "seq with a leading zero": ({"seq_text": "02"}, False),
    "prev of another entry": ({"prev_text": "1" * 64}, False),
    "prev in capitals": ({"prev_text": "A" * 64}, False),
    "an extra field": ({"extra": ',"w":2'}, False),
}


@pytest.mark.parametrize("name", list(CASES))
def test_quick_pass_agrees_with_the_package(name: str, tmp_path: Path) -> None:
    crafted, expect = CASES[name]
    datas, text = build(crafted)
    (tmp_path / "entries.jsonl").write_bytes(text)
    want = package_verdict(datas)
    if expect is not None:
        assert (want[0] is None) == expect, want  # the case is what its name says
        if not expect:
            assert want[0] == AT
    got = script_verdicts(tmp_path)
    assert set(got.values()) == {want}, got
    clean = quick_clean(tmp_path / "entries.jsonl")
    assert not clean or want[0] is None
    if expect:
        assert clean


LINES: dict[str, tuple[Callable[[bytes], bytes], int | None]] = {
    # a changed line: (how, the first bad seq the reference pass finds, None if accepted)
    "compact row": (lambda t: json.dumps(json.loads(t), separators=(",", ":")).encode()
                    + b"\n", None),
    "keys reordered": (lambda t: json.dumps(dict(reversed(json.loads(t).items())))
                       .encode() + b"\n", None),
    "CRLF": (lambda t: t[:-1] + b"\r\n", None),
    "leaf hash in capitals": (lambda t: t[:25] + t[25:89].upper() + t[89:], AT),
    "leaf hash of 63 digits": (lambda t: t[:25] + t[26:], AT),
    "row seq wrong": (lambda t: t.replace(b'"seq": 2', b'"seq": 7'), AT),
    "base64 cut by one character": (lambda t: t[:-4] + b'"}\n', AT),
    "base64 with a space": (lambda t: t[:120] + b" " + t[120:], AT),
    "base64 with a newline escape": (lambda t: t[:120] + b"\\n" + t[120:], AT),
    "an extra key": (lambda t: t[:-2] + b', "x": 1}\n', AT),
    "garbage": (lambda t: b"{oops\n", AT),
    "blank line after": (lambda t: t + b"\n", AT + 1),
}


@pytest.mark.parametrize("name", list(LINES))
def test_changed_lines(name: str, tmp_path: Path) -> None:
    how, bad = LINES[name]
    _, text = build({}, line=how)
    path = tmp_path / "entries.jsonl"
    path.write_bytes(text)
    got = script_verdicts(tmp_path)
    ref = got["reference"]
    assert set(got.values()) == {ref}, got
    assert ref[0] == bad, ref
    assert not quick_clean(path) or bad is None


def test_bodies_that_make_valid_json_only_together(tmp_path: Path) -> None:
    """Three bodies, none of them valid alone, whose texts joined with commas are the
    canonical text of three objects ('{"a":[{}' + '{"b":{}]}' + '{"c":1},{"d":2}'): the
    quick pass parses a chunk's bodies as one array, so only comparing each body with its
    own element's canonical form refuses them, as the package does."""
    datas, prev = [], "0" * 64
    for i, body in enumerate(['{"n":0}', '{"a":[{}', '{"b":{}]}', '{"c":1},{"d":2}',
                              '{"n":4}']):
        datas.append(entry(i, prev, body=body))
        prev = hashlib.sha256(b"\x00" + datas[-1]).hexdigest()
    path = tmp_path / "entries.jsonl"
    path.write_bytes(b"".join(row(i, d) for i, d in enumerate(datas)))
    assert package_verdict(datas) == (1, None)
    assert set(script_verdicts(tmp_path).values()) == {(1, None)}
    assert not quick_clean(path)


ACROSS_TEN: dict[str, tuple[Callable[[bytes], bytes] | None, bool]] = {
    # seq 12 in a chunk from seq 0: the rows' seqs change length (9 -> 10), where the quick
    # pass finds each row's base64 with the row pattern, not at one offset.
    # (how the line is changed, whether the reference pass accepts it)
    "good": (None, True),
    "leaf hash in capitals": (lambda t: t[:26] + t[26:90].upper() + t[90:], False),
    "row seq wrong": (lambda t: t.replace(b'"seq": 12', b'"seq": 13'), False),
    "base64 cut by one character": (lambda t: t[:-4] + b'"}\n', False),
    "an extra space": (lambda t: t.replace(b'"seq": 12,', b'"seq": 12 ,'), True),
}


@pytest.mark.parametrize("name", list(ACROSS_TEN))
def test_rows_whose_seqs_change_length(name: str, tmp_path: Path) -> None:
    how, accepted = ACROSS_TEN[name]
    datas, text = build({}, index=12, line=how, n=15)
    path = tmp_path / "entries.jsonl"
    path.write_bytes(text)
    got = script_verdicts(tmp_path)
    want = package_verdict(datas) if accepted else (12, None)
    assert set(got.values()) == {want}, got
    assert quick_clean(path) == (how is None)


def test_no_final_newline_and_an_empty_file(tmp_path: Path) -> None:
    datas, text = build({})
    path = tmp_path / "entries.jsonl"
    path.write_bytes(text[:-1])
    assert set(script_verdicts(tmp_path).values()) == {package_verdict(datas)}
    path.write_bytes(b"")
    assert set(script_verdicts(tmp_path).values()) == {(None, hashlib.sha256(b"").hexdigest())}


json_values = st.recursive(  # integers of 16 digits send a chunk to the reference (a case above)
    st.none() | st.booleans() | st.integers(-(10**15 - 1), 10**15 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(st.characters(max_codepoint=127), max_size=4), inner,
                      max_size=4), max_leaves=12)
bodies = st.dictionaries(st.text(st.characters(max_codepoint=127), max_size=6), json_values,
                         max_size=5)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(body=bodies, cut=st.integers(0, 10_000), byte=st.integers(0, 255))
def test_random_bodies_and_one_changed_byte(tmp_path: Path, body: dict[str, Any], cut: int,
                                            byte: int) -> None:
    """A canonical entry of any body is clean; the same entry with one byte changed gets
    the package's verdict in every pass."""
    datas, prev = [], "0" * 64
    for i in range(4):
        data = encode_entry(i, f"2026-12-07T00:00:{i:02d}.000000Z", prev, "custody.note",
                            body if i == 1 else {"i": i})
        datas.append(data)
        prev = hashlib.sha256(b"\x00" + data).hexdigest()
    path = tmp_path / "entries.jsonl"
    path.write_bytes(b"".join(row(i, d) for i, d in enumerate(datas)))
    assert quick_clean(path)
    assert set(script_verdicts(tmp_path).values()) == {package_verdict(datas)}
    d = bytearray(datas[1])
    d[cut % len(d)] = byte
    datas[1] = bytes(d)
    path.write_bytes(b"".join(row(i, x) for i, x in enumerate(datas)))
    want = package_verdict(datas)
    assert set(script_verdicts(tmp_path).values()) == {want}
    assert not quick_clean(path) or want[0] is None


def test_the_tree_is_joined_across_chunks(tmp_path: Path) -> None:
    """Chunks of every size from one line up give the same root as one chunk, with
    checkpoints inside chunks and on their edges (the aligned subtrees of each chunk)."""
    datas, prev = [], "0" * 64
    for i in range(37):
        datas.append(entry(i, prev, body=f'{{"n":{i}}}'))
        prev = hashlib.sha256(b"\x00" + datas[-1]).hexdigest()
    path = tmp_path / "entries.jsonl"
    path.write_bytes(b"".join(row(i, d) for i, d in enumerate(datas)))
    roots = {s: bytes(check_entries(datas[:s]).root) for s in (1, 2, 5, 8, 16, 17, 31, 37)}
    want = bytes(check_entries(datas).root)
    line = len(row(0, datas[0]))
    for chunk in [1, line, 2 * line, 3 * line, 5 * line + 7, 8 * line, 1 << 20]:
        res = al.LogResult(checkpoints={s: _cp(r) for s, r in roots.items()})
        al.audit_log(str(tmp_path), res, chunk=chunk)
        assert (res.first_bad_seq, res.root) == (None, want), chunk
        bad = al.LogResult(checkpoints={**res.checkpoints, 17: _cp(bytes(32))})
        al.audit_log(str(tmp_path), bad, chunk=chunk)
        assert bad.first_bad_seq == 16, chunk


def _cp(root: bytes) -> Any:
    return type("Cp", (), {"root": root})()


@pytest.mark.parametrize("workers", [1, 2])
def test_many_checkpoints_checked_in_the_workers(tmp_path: Path, workers: int) -> None:
    """A checkpoint at every size (three batches of signatures, checked in the workers
    with --workers 2): all verify; one bad signature, one root that is not the tree's and
    one note stored under another size are each found, the first at its seq."""
    from evidence.verify.checkpoint import Checkpoint, sign_checkpoint
    from evidence.verify.merkle import root as merkle_root
    from evidence.verify.note import generate_signer

    signer = generate_signer("quick.example/log")
    datas, prev = [], "0" * 64
    for i in range(600):
        datas.append(entry(i, prev, body=f'{{"n":{i}}}',
                           time=f"2026-12-07T00:{i // 60:02d}:{i % 60:02d}.000000Z"))
        prev = hashlib.sha256(b"\x00" + datas[-1]).hexdigest()
    (tmp_path / "entries.jsonl").write_bytes(b"".join(row(i, d) for i, d in enumerate(datas)))
    cps = tmp_path / "checkpoints"
    cps.mkdir()
    leaves = [hashlib.sha256(b"\x00" + d).digest() for d in datas]
    for s in range(1, 601):
        root = merkle_root(leaves[:s])
        (cps / str(s)).write_text(sign_checkpoint(Checkpoint("quick.example/log", s, root),
                                                  signer))
    trust = al.vb.shorthand_trust(signer.verifier().to_string(), [], 0, [])
    rep = al.audit(str(tmp_path), trust, anchoring=(False, False), workers=workers)
    assert (rep["verdict"], rep["checkpoints_checked"]) == ("incomplete", 600)  # no manifest
    assert rep["first_bad_seq"] is None and rep["root"] == bytes(check_entries(datas).root).hex()

    for bad, want in ((550, 549), (420, 419), (300, 299)):
        note = (cps / str(bad)).read_text()
        if bad == 550:  # a signature that does not verify
            sig = note.rstrip("\n").rsplit(" ", 1)[1]
            raw = base64.b64decode(sig)
            note = note.replace(sig, base64.b64encode(raw[:-1] + bytes([raw[-1] ^ 1])).decode())
        elif bad == 420:  # signed, but over a root that is not the tree's at 420
            note = sign_checkpoint(Checkpoint("quick.example/log", 420, bytes(32)), signer)
        else:  # the note of size 301 stored as 300
            note = (cps / "301").read_text()
        (cps / str(bad)).write_text(note)
        rep = al.audit(str(tmp_path), trust, anchoring=(False, False), workers=workers)
        assert rep["first_bad_seq"] == want, (bad, rep["reason"])
