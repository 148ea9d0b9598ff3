#!/usr/bin/env python3
"""Audit a whole evidence ledger offline from its export, trusting only what you pin.

    evidence log export DIR                                   (on the operator's side)
    python audit_ledger.py DIR --trust TRUST.txt [--trust-sha256 HEX] [--json] [--quiet]
    python audit_ledger.py DIR --log-key VKEY [--witness-key VKEY ... --witness-quorum N]
        [--tsa-ca ROOT.pem ...]                               (shorthand for a trust file)

A second, independent implementation of ``evidence audit`` for an auditor who does not want
to trust the operator's software. It imports nothing from the ``evidence`` package and needs
only Python 3.11+ and ``cryptography``: the signed-note, cosignature, trust-file and RFC 3161
code is that of ``verify_bundle.py``, loaded from the file beside this one (keep the two
together). It reads the export (docs/formats.md, "Log export"), writes nothing and uses no
network. Checks, in order, each pass, fail or not-checked:

* ``export``: every file ``manifest.json`` lists is there with its SHA-256 and size, and
  nothing else is (an export without a manifest: not-checked). The manifest is not
  signed: it finds damage and incomplete copies, the checks below find tampering.
* ``log``: every entry is canonical JSON under the house rules, ``seq`` counts up from 0
  without gaps, each ``prev`` is the leaf hash before it, times never go back, every stored
  ``leaf_hash`` is SHA-256(0x00 || entry bytes), every checkpoint is signed by a pinned log
  key for the size its file name says, and the RFC 9162 tree at that size has the root it
  signs. After a log key rotation (docs/formats.md "Log key rotation") every
  ``key.rotated`` entry is signed by both keys under the rules and every ``key.revoked``
  narrows a retired key's window, the first rotation's old key being one the trust file
  pins; each checkpoint is then checked against the key those entries make valid at its
  size too (follow_log_keys). A ``key.mldsa_added`` entry (docs/formats.md "ML-DSA-44
  signatures") is checked by the rules of ``evidence audit`` (one per log, both keys sign
  it, ``from_size`` its seq + 1) and must add the ML-DSA-44 key the trust file pins for
  the log, if it pins one; from its first size every checkpoint must carry a valid line
  by that key, pinned or not (the report names the key). It names the FIRST bad seq, as
  ``evidence audit`` does (a bad checkpoint of size N at seq N-1).
* ``tiles`` (only when the export has ``tlog/``): ``tlog/checkpoint`` is the newest exported
  checkpoint, the tiles are exactly those of its tree (none missing, none extra), every
  hash tile is the tree's (full tiles hash to the tile above, the rightmost fold into the
  signed root the log check matched), every entry bundle holds exactly the entries' bytes.
* ``frozen`` (only for a frozen log, ``evidence log freeze``): the manifest is canonical and
  freezes at the newest checkpoint's size and root, where the entries and tiles end.
* ``records`` (only with ``records/``, a frozen log's RFC 4998 evidence records): each
  verifies over the SHA-256 of the files its item's entry lists (check_records).
* ``cosignatures``: every cosignature by a
  pinned witness verifies, and every checkpoint that carries a cosignature is cosigned by
  the pinned quorum (a cosignature by an unknown witness counts for nothing).
* ``timestamps``: every token under
  ``timestamps/<size>/`` is judged in the three steps of docs/verdict.md section 1 over that
  checkpoint's text: a damaged or altered token, or one over another checkpoint, fails; one
  whose chain ends at a root nobody pinned is skipped; at least one must verify.

A check nothing was pinned for (no witness, no TSA root: ``--log-key`` alone) is
not-checked, named with why, and makes the verdict incomplete; ``--log-only`` leaves the
cosignatures and timestamps out of scope instead, and the report says so (``scope``).
Verdict and exit status as ``verify_bundle.py``: verified 0, failed 1, incomplete 3 (a check
not made, named), usage error 2. Progress goes to stderr unless ``--quiet`` or ``--json``
(as ``evidence log export`` and ``evidence audit``).
Entries are checked in worker processes (``--workers``), one chunk of about 8 MiB of
entries.jsonl each, a whole chunk per step (no Python code per entry); the tree is joined
from the chunks' aligned subtrees, and the export's files are hashed in a thread beside it.
The one-entry-at-a-time reference pass then runs only from the first chunk that is not
clean, to name the fault.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import bisect
import functools
import gc
import hashlib
import importlib.util
import itertools
import json
import operator
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any


def _load_verify_bundle() -> Any:
    """verify_bundle.py from this script's directory (not whatever sys.path offers)."""
    mod = sys.modules.get("verify_bundle")
    if mod is not None:
        return mod
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "verify_bundle.py")
    spec = importlib.util.spec_from_file_location("verify_bundle", path)
    if spec is None or spec.loader is None or not os.path.isfile(path):
        sys.exit(f"audit_ledger.py: {path} is missing; keep verify_bundle.py beside this script")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["verify_bundle"] = mod
    spec.loader.exec_module(mod)
    return mod


vb = _load_verify_bundle()
PASS, FAIL, NOT_CHECKED = vb.PASS, vb.FAIL, vb.NOT_CHECKED
EXIT = {"verified": 0, "failed": 1, "incomplete": 3}


class Fail(Exception):
    """Something the log claims does not hold; the message says what."""


# ==== hashes and the tree (RFC 9162) ======================================================

def leaf_hash(entry_bytes: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry_bytes).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


class Tree:
    """The right edge of a growing RFC 9162 tree: one perfect-subtree hash per set bit of
    the size, largest first. Appending merges equal-sized subtrees; the root folds the edge
    right to left (the tree splits at the largest power of two below the size)."""

    def __init__(self, size: int = 0, edge: list[bytes] | None = None) -> None:
        self.size, self.edge = size, list(edge or [])

    def append(self, leaf: bytes) -> None:
        h, index = leaf, self.size
        while index & 1:
            h = node_hash(self.edge.pop(), h)
            index >>= 1
        self.edge.append(h)
        self.size += 1

    def root(self) -> bytes:
        return fold(self.edge)


def fold(edge: list[bytes]) -> bytes:
    """The root of a tree given its edge (perfect subtrees, largest first)."""
    if not edge:
        return EMPTY_ROOT
    acc = edge[-1]
    for h in reversed(edge[:-1]):
        acc = node_hash(h, acc)
    return acc


# ==== entries: canonical JSON under the house rules =======================================

MAX_SAFE_INTEGER = 2**53 - 1
ENTRY_FIELDS = {"v", "seq", "time", "prev", "type", "body"}
KEY_TYPES = (vb.KEY_ROTATED, vb.KEY_REVOKED, vb.KEY_MLDSA_ADDED)  # what follow_log_keys checks
_KEY_TYPE_SET = frozenset(KEY_TYPES)
TIME_RE = re.compile(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z\Z")
TYPE_RE = re.compile(r"\A[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+\Z")
HEX64_RE = re.compile(r"\A[0-9a-f]{64}\Z")


def _no_float(text: str) -> Any:
    raise Fail(f"floating-point number {text[:30]} is not allowed in entries")


def _safe_int(text: str) -> int:
    if abs(value := int(text)) > MAX_SAFE_INTEGER:
        raise Fail(f"integer {text[:30]} is outside +/-(2^53-1)")
    return value


def _ascii_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    for key, _ in pairs:
        if not key.isascii():
            raise Fail(f"object key {key[:30]!r} is not ASCII")
    return dict(pairs)


def parse_entry(data: bytes) -> dict[str, Any]:
    """The entry object, after checking that ``data`` is its canonical form.

    Without floats, with ASCII keys and integers in +/-(2^53-1), RFC 8785 JCS equals
    Python's ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``.
    """
    if len(data) > 1 << 20:
        raise Fail(f"entry is {len(data)} bytes; the limit is 1 MiB")
    try:
        obj = json.loads(data.decode("utf-8"), parse_float=_no_float, parse_int=_safe_int,
                         parse_constant=_no_float, object_pairs_hook=_ascii_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise Fail(f"entry is not UTF-8 JSON: {e}") from None
    if not isinstance(obj, dict) or set(obj) != ENTRY_FIELDS:
        raise Fail(f"entry must be an object with exactly the fields {sorted(ENTRY_FIELDS)}")
    v, seq = obj["v"], obj["seq"]
    if v != 1 or isinstance(v, bool):
        raise Fail(f"entry version {v!r} is not 1")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_SAFE_INTEGER:
        raise Fail(f"entry seq {seq!r} is not a non-negative integer")
    if not isinstance(obj["time"], str) or not TIME_RE.match(obj["time"]):
        raise Fail("entry time is not RFC 3339 UTC with microseconds")
    try:
        datetime.fromisoformat(obj["time"][:-1])
    except ValueError:
        raise Fail("entry time is not a valid date and time") from None
    if not isinstance(obj["prev"], str) or not HEX64_RE.match(obj["prev"]):
        raise Fail("entry prev is not 64 lowercase hex digits")
    if not isinstance(obj["type"], str) or not TYPE_RE.match(obj["type"]):
        raise Fail("entry type is not a dotted lowercase name")
    if not isinstance(obj["body"], dict):
        raise Fail("entry body is not a JSON object")
    try:
        canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate such as "\ud800"
        canonical = b""
    if canonical != data:
        raise Fail("entry bytes are not RFC 8785 canonical JSON")
    return obj



# ==== the quick pass: chunks of entries.jsonl in worker processes =========================
#
# Vouches only for what the reference pass (parse_entry and the loop in audit_log) accepts;
# anything it cannot vouch for makes the chunk "dirty" and the reference pass decides from
# there. Every step works on a whole chunk at once (a regular expression over the block,
# map() over built-in functions, one comparison of joined strings), so the interpreter
# runs no bytecode per entry: that is what makes it fast. The reference decides whatever
# the quick pass does not recognise, so the quick pass may be stricter, never laxer.

CHUNK = 8 << 20
"""Bytes of entries.jsonl per job (about 16,000 entries of the usual size)."""
_ROWS = re.compile(rb'^\{"seq": (0|[1-9][0-9]{0,15}), "leaf_hash": "([0-9a-f]{64})", '
                   rb'"entry_b64": "([A-Za-z0-9+/]*={0,2})"\}$', re.M)
"""A line as the exporter writes it (json.dumps's default form of the row)."""
_ROW = b'{"seq": %d, "leaf_hash": "%s", "entry_b64": "%s"}\n'
"""The same line, to rebuild: a block equal to its rebuilt self is the exporter's."""
_B64_AT = len(b'{"seq": , "leaf_hash": "') + 64 + len(b'", "entry_b64": "')
"""Where a row's base64 starts, less the digits of its seq."""
_ENTRIES = re.compile(
    r'^\{"body":(\{.*\}),"prev":"([0-9a-f]{64})","seq":(0|[1-9][0-9]{0,15}),'
    r'"time":"(([0-9]{4}-[0-9]{2}-[0-9]{2})T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]'
    r'\.[0-9]{6}Z)","type":"([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+)","v":1\}$', re.M)
"""An entry in JCS form, one per line: the body first, then the other fields in key
order, whose values need no escapes. Any text this matches, whose body is canonical, is
the canonical form of its object (parse_entry's test). Hours, minutes and seconds are
matched in range; the date is checked once per distinct day."""
_BODY = json.JSONDecoder(parse_float=_no_float, parse_constant=_no_float)
_BODY_KEYS = json.JSONDecoder(parse_float=_no_float, parse_constant=_no_float,
                              object_pairs_hook=_ascii_keys)
_LONG_DIGITS = re.compile(r"[:,\[]-?[0-9]{16}")
"""Integers parse without a hook (a hook is a Python call per integer): when 16 digits
follow a ``:``, ``,`` or ``[`` (and maybe ``-``) anywhere in a chunk's bodies the chunk
goes to the reference instead, so every integer the quick pass accepts has at most 15
digits, inside +/-(2^53-1). (The digits may be inside a string: stricter, never laxer.)"""
_jcs = (  # json.dumps(sort_keys, separators, ensure_ascii=False) of a dict, made once
    None if json.encoder.c_make_encoder is None else json.encoder.c_make_encoder(
        None, None, json.encoder.encode_basestring, None, ":", ",", True, False, True))
_A2B = functools.partial(binascii.a2b_base64, strict_mode=True)
_SHA = hashlib.sha256
_DIGEST = operator.methodcaller("digest")
_SIZES: list[int] = []
"""Checkpoint sizes, sorted; set before the workers fork, so each inherits them."""


@dataclass
class Chunk:
    start: int
    end: int
    clean: bool
    first_prev: bytes = b""
    first_time: str = ""
    last_leaf: bytes = b""
    last_time: str = ""
    pieces: list[tuple[bytes, int]] = field(default_factory=list)
    """Aligned perfect subtrees (hash, height) covering [start, end), left to right."""
    at: dict[int, list[tuple[bytes, int]]] = field(default_factory=dict)
    """Per checkpoint size in (start, end]: the pieces covering [start, size)."""
    keys: list[tuple[int, str, Any]] = field(default_factory=list)
    """The chunk's key.rotated / key.revoked / key.mldsa_added entries: (seq, type, body)."""


_DIRTY = Chunk(-1, -1, False)


def scan_chunk(job: tuple[str, int, int]) -> Chunk:
    """See _scan_chunk; with the cyclic garbage collector paused, which would otherwise
    walk the chunk's hundred thousand fresh tuples and dicts again and again (they hold
    no cycles: reference counting frees them)."""
    was = gc.isenabled()
    gc.disable()
    try:
        return _scan_chunk(job)
    finally:
        if was:
            gc.enable()


def _scan_chunk(job: tuple[str, int, int]) -> Chunk:
    """The lines at bytes ``lo:hi`` of entries.jsonl (whole lines): clean or not, with what
    the parent needs to join chunks. The first seq is read from the first line; the parent
    checks that it follows the chunk before.

    Checks, each over the whole chunk: the block is exactly the lines the exporter writes
    for these entries (the row's seq counting up by one, the leaf hash computed here, the
    base64 read from the line: rebuilt and compared as one string), each entry decodes and
    is in canonical form (_ENTRIES and _bodies_canonical), entry seqs are the row seqs,
    times never go back and are valid dates, each prev is the leaf hash before it."""
    path, lo, hi = job
    with open(path, "rb") as f:
        f.seek(lo)
        block = f.read(hi - lo)
    n = block.count(b"\n")
    first = _ROWS.match(block)
    if n == 0 or not block.endswith(b"\n") or first is None:
        return _DIRTY
    start = int(first.group(1))
    end = start + n
    if len(str(start)) == len(str(end - 1)):  # every row's base64 starts at one offset
        lines = block.split(b"\n")
        lines.pop()
        b64s = list(map(operator.itemgetter(slice(_B64_AT + len(str(start)), -2)), lines))
    else:
        rows = _ROWS.findall(block)
        if len(rows) != n:  # at most one match per line, so every line is a row
            return _DIRTY
        b64s = [b for _, _, b in rows]
    try:
        datas = list(map(_A2B, b64s))
    except binascii.Error:
        return _DIRTY
    joined = b"\n".join(datas)
    if joined.count(b"\n") != n - 1 or max(map(len, datas)) > 1 << 20:
        return _DIRTY  # a raw newline inside an entry (never canonical), or too long
    try:
        text = joined.decode("utf-8")
    except UnicodeDecodeError:
        return _DIRTY
    found = _ENTRIES.findall(text)
    if len(found) != n:
        return _DIRTY
    bodies, prevs, eseqs, times, days, types = zip(*found, strict=True)
    if " ".join(eseqs) != " ".join(map(str, range(start, end))) \
            or list(times) != sorted(times):
        return _DIRTY
    for day in set(days):
        try:
            datetime.fromisoformat(day + "T00:00:00")
        except ValueError:
            return _DIRTY
    if not _bodies_canonical(bodies, text.isascii()):
        return _DIRTY
    leaves = list(map(_DIGEST, map(_SHA, map(b"\x00".__add__, datas))))
    rebuilt = b"".join(map(_ROW.__mod__, zip(range(start, end),
                                             map(binascii.hexlify, leaves), b64s, strict=True)))
    leaf_hex = b"".join(leaves).hex()
    if rebuilt != block or "".join(prevs)[64:] != leaf_hex[:-64]:
        return _DIRTY
    levels = _levels(leaves, start)
    lo_i, hi_i = bisect.bisect_right(_SIZES, start), bisect.bisect_right(_SIZES, end)
    keys = [] if _KEY_TYPE_SET.isdisjoint(types) else [  # rare; the test costs ~1 ms a chunk
        (int(f[2]), f[5], json.loads(f[0])) for f in found if f[5] in KEY_TYPES]
    return Chunk(start, end, True, prevs[0].encode(), times[0], leaf_hex[-64:].encode(),
                 times[-1], _pieces(levels, start, end),
                 {s: _pieces(levels, start, s) for s in _SIZES[lo_i:hi_i]}, keys)


def _bodies_canonical(bodies: tuple[str, ...], ascii_only: bool) -> bool:
    """Whether each text is a JSON object under the house rules, in canonical form.

    One parse of all of them as a JSON array (the C scanner, no hook per value; through
    the hook that refuses non-ASCII keys when any text is not ASCII), then each text must
    be the canonical dump of its element. That comparison alone decides: a text equal to
    the canonical dump of a dict is that dict's canonical form, however the array's
    element boundaries fell (the parse only supplies candidates; a text that is not one
    JSON object matches no element). Floats and constants anywhere fail the parse;
    integers are bounded by _LONG_DIGITS over the same text."""
    text = "[" + ",".join(bodies) + "]"
    if _LONG_DIGITS.search(text):
        return False
    try:
        objs, end = (_BODY if ascii_only else _BODY_KEYS).scan_once(text, 0)
    except (StopIteration, ValueError, RecursionError, Fail):
        return False
    if end != len(text) or type(objs) is not list or len(objs) != len(bodies):
        return False
    if _jcs is not None:
        again = map("".join, map(_jcs, objs, itertools.repeat(0)))
    else:
        again = map(functools.partial(json.dumps, sort_keys=True, separators=(",", ":"),
                                      ensure_ascii=False), objs)
    return tuple(again) == bodies


def _levels(leaves: list[bytes], start: int) -> list[tuple[int, list[bytes]]]:
    """Per height k, (index of the first node, hashes) of every aligned node of height k
    whose leaves all lie in [start, start + len(leaves)): node j covers leaves
    [j * 2^k, (j + 1) * 2^k)."""
    levels = [(start, leaves)]
    first, cur = start, leaves
    while len(cur) - (off := first & 1) >= 2:
        left, right = cur[off::2], cur[off + 1::2]
        cur = list(map(_DIGEST, map(_SHA, map(b"\x01".__add__,
                                                 map(bytes.__add__, left, right)))))
        first = (first + off) >> 1
        levels.append((first, cur))
    return levels


def _pieces(levels: list[tuple[int, list[bytes]]], a: int, b: int) -> list[tuple[bytes, int]]:
    """The largest aligned perfect subtrees covering leaves [a, b), left to right."""
    out = []
    top = len(levels) - 1
    while a < b:
        k = min(top, (b - a).bit_length() - 1,
                (a & -a).bit_length() - 1 if a else top)
        first, hashes = levels[k]
        out.append((hashes[(a >> k) - first], k))
        a += 1 << k
    return out


def chunk_bounds(path: str, chunk: int = CHUNK) -> list[tuple[int, int]]:
    """(byte start, byte end) of jobs of about ``chunk`` bytes of entries.jsonl, each ending
    just after a newline (the last at the end of the file)."""
    size = os.path.getsize(path)
    out: list[tuple[int, int]] = []
    with open(path, "rb") as f:
        pos = 0
        while pos < size:
            f.seek(min(pos + chunk, size) - 1)
            end = f.tell()
            while True:  # the first newline at or after the cut
                block = f.read(1 << 16)
                at = block.find(b"\n")
                if at >= 0:
                    end += at + 1
                    break
                if not block:
                    break
                end += len(block)
            end = min(end, size)
            out.append((pos, end))
            pos = end
    return out


def _pool(workers: int) -> Any:
    """A pool of forked workers, or None where fork is not available (one process then)."""
    if workers <= 1:
        return None
    import multiprocessing

    try:
        return multiprocessing.get_context("fork").Pool(workers)
    except (ValueError, OSError, NotImplementedError):
        return None


# ==== the log check =======================================================================

@dataclass
class LogResult:
    size: int = 0
    root: bytes | None = None
    first_bad_seq: int | None = None
    reason: str | None = None
    checkpoints: dict[int, Any] = field(default_factory=dict)  # size -> vb.Checkpoint
    notes: dict[int, bytes] = field(default_factory=dict)  # size -> the note as exported
    checkpoint_files: int = 0
    key_entries: list[tuple[int, str, Any]] = field(default_factory=list)  # (seq, type, body)
    mldsa: tuple[int, Any] | None = None
    """(seq, key) of the key.mldsa_added entry that added the log's ML-DSA-44 key."""
    problems: list[tuple[int, int, str]] = field(default_factory=list)
    """(seq, 0 = entry / 1 = checkpoint, why): the smallest is the first bad seq."""


SIZE_NAME = re.compile(r"0|[1-9][0-9]*")
_TRUST: list[Any] = []
"""The pinned keys, set before the workers fork (as _SIZES)."""
CP_BATCH = 256


def checkpoint_names(directory: str) -> list[str]:
    cp_dir = os.path.join(directory, "checkpoints")
    return sorted(os.listdir(cp_dir), key=lambda n: (len(n), n)) if os.path.isdir(cp_dir) \
        else []


def _verify_checkpoints(job: tuple[str, list[str]]) -> list[tuple[int, Any, bytes, str]]:
    """(size, checkpoint or None, note, problem) of each name: signed by a pinned log key
    (_TRUST), for the size its name says. In a worker: an Ed25519 signature costs as much
    as a few dozen entries, and a lightly used log signs a checkpoint per batch."""
    directory, names = job
    out = []
    for name in names:
        stored = int(name)
        with open(os.path.join(directory, "checkpoints", name), "rb") as f:
            note = f.read((1 << 20) + 1)
        try:
            cp = vb.verify_checkpoint(note, _TRUST[0].log_keys, [])
        except vb.Fail as e:
            out.append((stored, None, b"", f"checkpoint at size {stored}: {e}"))
            continue
        if cp.size != stored:
            out.append((stored, None, b"", f"checkpoint stored at size {stored} signs size "
                                           f"{cp.size}"))
            continue
        out.append((stored, cp, note, ""))
    return out


def signed_checkpoints(directory: str, trust: Any, pool: Any = None) -> LogResult:
    """Each checkpoints/<size>: signed by a pinned log key, for the size its name says
    (checked in ``pool``'s workers when given, forked after _TRUST was set)."""
    res = LogResult()
    problems = res.problems
    names = checkpoint_names(directory)
    res.checkpoint_files = len(names)
    sizes = []
    for name in names:
        if SIZE_NAME.fullmatch(name):
            sizes.append(name)
        else:
            problems.append((0, 1, f"checkpoints/{name}: not a tree size"))
    _TRUST[:] = [trust]
    jobs = [(directory, sizes[i:i + CP_BATCH]) for i in range(0, len(sizes), CP_BATCH)]
    batches = pool.imap(_verify_checkpoints, jobs) if pool is not None and len(jobs) > 1 \
        else map(_verify_checkpoints, jobs)
    for batch in batches:
        for stored, cp, note, problem in batch:
            if cp is None:
                problems.append((max(stored - 1, 0), 1, problem))
            else:
                res.checkpoints[stored], res.notes[stored] = cp, note
    return res


def audit_log(directory: str, res: LogResult, *, pool: Any = None, progress: Any = None,
              chunk: int = CHUNK, quick: bool = True) -> LogResult:
    """The ``log`` check over the checkpoints ``res`` holds (signed_checkpoints); see the
    module docstring. ``pool``: worker processes forked after _SIZES was set. ``quick``:
    False runs the reference pass alone (the tests compare the two)."""
    problems = res.problems
    roots = {s: cp.root for s, cp in res.checkpoints.items()}
    path = os.path.join(directory, "entries.jsonl")
    total = os.path.getsize(path)
    start, prev, last_time, tree, offset = 0, "0" * 64, "", Tree(), 0
    if 0 in roots and roots[0] != EMPTY_ROOT:
        problems.append((0, 0, "a checkpoint of size 0 has a root other than the empty tree's"))
    elif total and quick:
        if not set(roots) <= set(_SIZES):  # called alone (tests): no workers forked yet
            _SIZES[:] = sorted(roots)
        start, prev, last_time, tree, offset = _quick_pass(path, roots, pool, total,
                                                           progress, chunk, res.key_entries)
    res.size = start
    with open(path, "rb") as lines:
        lines.seek(offset)
        for index, raw in enumerate(lines, start):
            if problems and min(problems)[0] < index:
                break  # the first bad seq is known: stop reading
            try:
                row = json.loads(raw)
                if not isinstance(row, dict) or set(row) != {"seq", "leaf_hash", "entry_b64"}:
                    raise Fail("line is not {seq, leaf_hash, entry_b64}")
                data = base64.b64decode(row["entry_b64"], validate=True)
                entry = parse_entry(data)
                if entry["seq"] != index or row["seq"] != index:
                    raise Fail(f"seq is {entry['seq']}, expected {index} (gap, swap or "
                               "duplicate)")
                if entry["prev"] != prev:
                    raise Fail("prev does not match the leaf hash of the entry before it")
                if entry["time"] < last_time:
                    raise Fail(f"time {entry['time']} is earlier than the entry before "
                               f"({last_time})")
                lh = leaf_hash(data)
                if row["leaf_hash"] != lh.hex():
                    raise Fail("stored leaf hash does not match the entry bytes")
            except (Fail, ValueError, TypeError, binascii.Error) as e:
                problems.append((index, 0, str(e)))
                break
            tree.append(lh)
            offset += len(raw)
            res.size = index + 1
            if entry["type"] in KEY_TYPES:
                res.key_entries.append((index, entry["type"], entry["body"]))
            if res.size in roots and tree.root() != roots[res.size]:
                problems.append((index, 0, f"tree root at size {res.size} differs from the "
                                           "checkpoint"))
            prev, last_time = lh.hex(), entry["time"]
            if progress is not None and res.size % 16384 == 0:
                progress(res.size, offset, total)
    for s in roots:
        if s > res.size:
            problems.append((res.size, 1, f"a checkpoint claims size {s}; the log has "
                                          f"{res.size} entries"))
    if res.key_entries:
        follow_log_keys(res, _TRUST[0], pool)
    if problems:
        res.first_bad_seq, _, res.reason = min(problems)
    else:
        res.root = tree.root()
    if progress is not None:
        progress(res.size, total, total)
    return res


def follow_log_keys(res: LogResult, trust: Any, pool: Any = None) -> None:
    """The log's own key entries (docs/formats.md "Log key rotation", "ML-DSA-44
    signatures"): each key.rotated signed by both keys under the rules, each key.revoked
    narrowing a retired key, the first rotation's old key pinned by the trust file; the
    key.mldsa_added entry checked by the rules of evidence/ledger/pq_key.py (one per log;
    ``verify_bundle.mldsa_added_key``) and, if the trust file pins an ML-DSA-44 key for
    the log, the same key; then every checkpoint verified again against the windows those
    entries give (the key valid at its size, and the ML-DSA-44 key's line from its first
    size), so a trust file older than a revocation or the ML-DSA-44 key still refuses what
    the log itself revoked or requires. A problem is the entry's seq (or the checkpoint's
    size - 1); a broken rotation stops there, as ``evidence audit`` does (it then reads no
    ML-DSA-44 key). Held by tests/auditor/test_key_entries.py and
    tests/auditor/test_audit_ledger_mldsa.py."""
    rotations = [e for e in res.key_entries if e[1] != vb.KEY_MLDSA_ADDED]
    origins = {cp.origin for cp in res.checkpoints.values()}
    if rotations and rotations[0][1] == vb.KEY_ROTATED:
        first_seq, _, first_body = rotations[0]
        old = first_body.get("old_key") if isinstance(first_body, dict) else None
        pinned = [k for k in trust.log_keys if k.text == old]
        if not pinned:
            res.problems.append((first_seq, 0, f"entry {first_seq}: key.rotated's old key is "
                                               "not a log key the trust file pins"))
            return
    else:  # the log's one key (the pinned key named after its origin, if any is)
        ed = [k for k in trust.log_keys if k.alg == vb.ALG_ED25519]
        pinned = sorted([k for k in ed if k.name in origins] or ed,
                        key=lambda k: k.window is not None)
    wins = [vb.KeyWindow(replace(pinned[0], window=None), 0, None)]
    for seq, typ, body in rotations:
        try:
            vb.follow_key_entry(wins, seq, typ, body)
        except vb.Fail as e:
            res.problems.append((seq, 0, str(e)))
            return
    keys = [w.pinned for w in wins]
    try:
        res.mldsa = vb.mldsa_added_key(res.key_entries, [w.key for w in wins])
    except vb.KeyEntryFail as e:
        res.problems.append((e.seq, 0, str(e)))
    if res.mldsa is not None:
        seq, pq = res.mldsa
        pin = next((k for k in trust.log_keys if k.alg == vb.ALG_MLDSA44
                    and k.name == pq.name), None)
        if pin is not None and pin.text != pq.text:
            res.problems.append((seq, 0, f"entry {seq}: {vb.KEY_MLDSA_ADDED} adds the "
                                         f"ML-DSA-44 key {pq.name}+{pq.key_id:08x}, but the "
                                         f"trust file pins {pin.name}+{pin.key_id:08x} for "
                                         "this log"))
        keys.append(pq)
    notes = sorted(res.notes.items())
    jobs = [(keys, notes[i:i + CP_BATCH]) for i in range(0, len(notes), CP_BATCH)]
    found = pool.imap(_verify_notes, jobs) if pool is not None and len(jobs) > 1 \
        else map(_verify_notes, jobs)
    for fault in found:
        if fault is not None:
            size, why = fault
            res.problems.append((max(size - 1, 0), 1, f"checkpoint at size {size}, against "
                                                       f"the log's own key entries: {why}"))
            return


def _verify_notes(job: tuple[list[Any], list[tuple[int, bytes]]]) -> tuple[int, str] | None:
    """The first (size, fault) of the notes that ``keys`` do not verify, or None (in a
    worker when there are many: an ML-DSA-44 line costs as much as a few Ed25519 ones)."""
    keys, notes = job
    for size, note in notes:
        try:
            vb.verify_checkpoint(note, keys, [])
        except vb.Fail as e:
            return size, str(e)
    return None


def _quick_pass(path: str, roots: dict[int, bytes], pool: Any, total: int, progress: Any,
                chunk: int, keys: list[tuple[int, str, Any]]
                ) -> tuple[int, str, str, Tree, int]:
    """Where the reference pass must start: (seq, prev hex, last time, tree, byte offset)
    at the start of the first chunk that is not clean, else at the end of the log."""
    jobs = [(path, lo, hi) for lo, hi in chunk_bounds(path, chunk)]
    tree = Tree()
    prev, last_time, offset = b"0" * 64, "", 0
    results = pool.imap(scan_chunk, jobs) if pool is not None else map(scan_chunk, jobs)
    for (_, _, hi), ch in zip(jobs, results, strict=True):
        if not (ch.clean and ch.start == tree.size and ch.first_prev == prev
                and ch.first_time >= last_time):
            break
        if any(_root_after(tree, sub) != roots[s] for s, sub in ch.at.items() if s in roots):
            break  # (a size whose checkpoint did not verify is a problem already)
        for h, k in ch.pieces:
            _push(tree, h, k)
        offset, prev, last_time = hi, ch.last_leaf, ch.last_time
        keys.extend(ch.keys)
        if progress is not None:
            progress(tree.size, hi, total)
    return tree.size, prev.decode(), last_time, tree, offset


def _root_after(tree: Tree, pieces: list[tuple[bytes, int]]) -> bytes:
    """The root of ``tree`` with ``pieces`` appended (``tree`` is left as it was)."""
    t = Tree(tree.size, tree.edge)
    for h, k in pieces:
        _push(t, h, k)
    return t.root()


def _push(tree: Tree, h: bytes, level: int) -> None:
    """Append a perfect subtree of 2^level leaves to a tree whose size is a multiple of it."""
    index = tree.size >> level
    while index & 1:
        h = node_hash(tree.edge.pop(), h)
        index >>= 1
    tree.edge.append(h)
    tree.size += 1 << level


# ==== the export's files, cosignatures and timestamps =====================================

MANIFEST = "manifest.json"


def check_export(directory: str) -> tuple[str, str, int | None]:
    """(status, reason, entries the manifest lists) of the ``export`` check, before the
    manifest's count is compared with the log's (finish_export_check). Run beside the log
    check: hashing entries.jsonl takes a core's worth of time the workers do not need."""
    path = os.path.join(directory, MANIFEST)
    if not os.path.isfile(path):
        return NOT_CHECKED, "the export has no manifest.json: its files are not checked " \
                            "against one", None
    try:
        with open(path, "rb") as f:
            man = json.loads(f.read(64 << 20))
        listed = man["files"]
        if not isinstance(listed, dict) or type(man.get("size")) is not int:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        return FAIL, "manifest.json is not a log export manifest", None
    found = set()
    for root, _, names in os.walk(directory):
        for n in names:
            rel = os.path.relpath(os.path.join(root, n), directory).replace(os.sep, "/")
            if rel != MANIFEST:
                found.add(rel)
    problems = [f"{p} is missing" for p in sorted(set(listed) - found)]
    problems += [f"{p} is not in the manifest" for p in sorted(found - set(listed))]
    for p in sorted(set(listed) & found):
        want = listed[p]
        got = vb.file_sha256(os.path.join(directory, p))
        if not isinstance(want, dict) or want.get("sha256") != got \
                or want.get("size") != os.path.getsize(os.path.join(directory, p)):
            problems.append(f"{p} does not match its SHA-256 or size in the manifest")
    if problems:
        more = f" ({len(problems) - 1} more)" if len(problems) > 1 else ""
        return FAIL, problems[0] + more, None
    return PASS, f"{len(listed)} files match manifest.json", man["size"]


def _export_check_into(directory: str, out: list[tuple[str, str, int | None]]) -> None:
    try:
        out.append(check_export(directory))
    except OSError as e:
        out.append((FAIL, f"a file of the export cannot be read: {e.strerror}", None))


def finish_export_check(found: tuple[str, str, int | None], size: int | None
                        ) -> tuple[str, str]:
    """The ``export`` check's result; ``size``: the entries the log check found (None when
    it failed: the manifest's count is then not compared)."""
    status, reason, listed = found
    if status == PASS and size is not None and listed != size:
        return FAIL, f"the manifest lists {listed} entries; entries.jsonl holds {size}"
    return status, reason


def carries_cosignature(note: bytes) -> bool:
    """Whether a note has a signature line of the cosignature/v1 shape (key id, time and
    signature: 76 bytes), whoever made it."""
    text = note.decode("utf-8", "replace")
    for line in text[text.rfind("\n\n") + 2:].split("\n"):
        b64 = line.rpartition(" ")[2]
        try:
            if len(base64.b64decode(b64, validate=True)) == 76:
                return True
        except (binascii.Error, ValueError):
            continue
    return False


def check_cosignatures(log: LogResult, trust: Any) -> tuple[str, str]:
    if trust.quorum is None or not trust.witnesses:
        return NOT_CHECKED, ("no witness and quorum are pinned (a trust file's witnesses, "
                             "or --witness-key): the cosignatures were not checked")
    names = {(k.name, k.key_id): n for n, k in trust.witnesses.items()}
    cosigned = met = 0
    for size in sorted(log.notes):
        note = log.notes[size]
        try:
            cp = vb.verify_checkpoint(note, trust.log_keys, list(trust.witnesses.values()))
        except vb.Fail as e:
            return FAIL, f"checkpoint {size}: {e}"
        if not carries_cosignature(note):
            continue
        cosigned += 1
        who = {names[k] for k, _ in cp.cosigners if k in names}
        if not trust.satisfied(trust.quorum, who):
            return FAIL, (f"checkpoint {size} is cosigned, but not by the quorum "
                          f"{trust.quorum!r} (valid cosignatures by pinned witnesses: "
                          f"{', '.join(sorted(who)) or 'none'})")
        met += 1
    if not cosigned:
        return NOT_CHECKED, "no checkpoint in the export carries a cosignature"
    return PASS, f"{met} cosigned checkpoints meet the quorum {trust.quorum!r}"


def check_timestamps(directory: str, log: LogResult, trust: Any) -> tuple[str, str, list]:
    if not trust.tsa_roots and not trust.store_roots:
        return NOT_CHECKED, ("no TSA root is pinned ('#@ tsa' in a trust file, or --tsa-ca): "
                             "the timestamps were not checked"), []
    roots = [c for _, c in trust.tsa_roots]
    ts_dir = os.path.join(directory, "timestamps")
    tokens = []
    for size_name in sorted(os.listdir(ts_dir), key=lambda n: (len(n), n)) \
            if os.path.isdir(ts_dir) else []:
        sub = os.path.join(ts_dir, size_name)
        for n in sorted(os.listdir(sub)) if os.path.isdir(sub) else []:
            if n.endswith(".tst"):
                tokens.append((size_name, f"timestamps/{size_name}/{n}"))
    good, untrusted, bad = [], [], []
    for size_name, rel in tokens:
        cp = log.checkpoints.get(int(size_name)) if size_name.isdigit() else None
        if cp is None:
            bad.append(f"{rel}: there is no valid checkpoint of that size")
            continue
        with open(os.path.join(directory, rel), "rb") as f:
            token = f.read(1 << 20)
        try:
            v = vb.verify_timestamp(token, cp.text.encode(), roots, trust.store_roots)
            good.append((int(size_name), v))
        except vb.Untrusted as e:
            untrusted.append(e.tsa or rel)
        except vb.Fail as e:
            bad.append(f"{rel}: {e}")
        except Exception:  # a certificate cryptography cannot read, and the like
            bad.append(f"{rel}: it is damaged and cannot be read")
    if bad:
        more = f" ({len(bad) - 1} more)" if len(bad) > 1 else ""
        return FAIL, f"timestamp {bad[0]}{more}", []
    if not good:
        if not tokens:
            return NOT_CHECKED, "the export holds no RFC 3161 timestamp", []
        return NOT_CHECKED, (f"no timestamp chains to a pinned TSA root (TSAs: "
                             f"{'; '.join(sorted(set(untrusted)))[:200]})"), []
    newest = max(good, key=lambda g: g[0])
    skipped = f"; {len(untrusted)} by TSAs not pinned were skipped" if untrusted else ""
    return PASS, (f"{len(good)} of {len(tokens)} RFC 3161 timestamps verified{skipped}; the "
                  f"newest timestamped checkpoint is of size {newest[0]}, genTime "
                  f"{newest[1].gen_time.isoformat()}"), good


# ==== the tlog-tiles of the export (DIR/tlog/) ============================================

TILE_W = 256


def _tile_path(level: int | str, index: int, width: int = TILE_W) -> str:
    """``tile/<L>/<N>[.p/<W>]``, N in 3-digit groups, all but the last prefixed ``x``."""
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    return (f"tile/{level}/{'/'.join(reversed(groups))}"
            + ("" if width == TILE_W else f".p/{width}"))


def _expected_tiles(size: int) -> dict[str, tuple[int | str, int, int]]:
    """path -> (level or "entries", index, width) of every tile of a tree of ``size``."""
    out: dict[str, tuple[int | str, int, int]] = {}
    level = 0
    while (count := size >> (8 * level)) > 0:
        for lvl in ((0, "entries") if level == 0 else (level,)):
            for n in range(-(-count // TILE_W)):
                w = min(count - n * TILE_W, TILE_W)
                out[_tile_path(lvl, n, w)] = (lvl, n, w)
        level += 1
    return out


def _perfect(hashes: list[bytes]) -> bytes:
    while len(hashes) > 1:
        hashes = list(map(_DIGEST, map(_SHA, map(b"\x01".__add__, map(
            bytes.__add__, hashes[0::2], hashes[1::2])))))
    return hashes[0]


def _split(data: bytes) -> list[bytes]:
    return [data[i:i + 32] for i in range(0, len(data), 32)]


def _long_entry_in(directory: str, lo: int, hi: int) -> bool:
    """Whether an entry of seq lo..hi-1 is longer than an entry bundle can hold (65,535
    bytes: its bundle is left out by design). Read only when a bundle is absent."""
    with open(os.path.join(directory, "entries.jsonl"), "rb") as f:
        for seq, line in enumerate(f):
            if seq >= hi:
                break
            if seq >= lo and len(line) > 87_400 and len(base64.b64decode(
                    json.loads(line)["entry_b64"])) > 0xFFFF:
                return True
    return False


def check_tiles(directory: str, log: LogResult, pool: Any = None
                ) -> tuple[str, str] | None:
    """The ``tiles`` check of ``DIR/tlog/`` (None: the export has none; no check then).
    ``tlog/checkpoint`` must be the bytes of the newest ``checkpoints/<c>``; the tiles must
    be exactly those of the tree of size ``c`` (none missing, none extra); each full hash
    tile must hash to its hash one level up and the rightmost tiles fold into the signed
    root of ``c``, which the log check matched against the entries: so every level-0 hash
    is the leaf hash of its entry, every higher one the subtree root over them; each entry
    bundle must hold exactly the entries whose leaf hashes its level-0 tile lists. Run
    after the log check, outside its quick pass (about two hashes per entry), level 0 in
    ``pool``'s workers when given."""
    tdir = os.path.join(directory, "tlog")
    if not os.path.isdir(tdir):
        return None
    sizes = [int(n) for n in checkpoint_names(directory) if SIZE_NAME.fullmatch(n)]
    try:
        with open(os.path.join(tdir, "checkpoint"), "rb") as f:
            note = f.read(1 << 20)
    except OSError:
        return FAIL, "tlog/ has no checkpoint"
    if not sizes:
        return FAIL, "tlog/ is present but the export holds no checkpoint"
    c = max(sizes)
    with open(os.path.join(directory, "checkpoints", str(c)), "rb") as f:
        if f.read(1 << 20) != note:
            return FAIL, f"tlog/checkpoint is not the newest exported checkpoint (size {c})"
    cp = log.checkpoints.get(c)
    if cp is None:
        return FAIL, f"the checkpoint of size {c} does not verify (see the log check)"
    want = _expected_tiles(c)
    found = set()
    for root, _, names in os.walk(os.path.join(tdir, "tile")):
        for n in names:
            found.add(os.path.relpath(os.path.join(root, n), tdir).replace(os.sep, "/"))
    extra = sorted(found - set(want))
    if extra:
        return FAIL, (f"tlog/{extra[0]} is not a tile of the tree of size {c}"
                      + (f" ({len(extra) - 1} more)" if len(extra) > 1 else ""))
    parts: dict[int, list[bytes]] = {}
    for path, (lvl, _n, w) in sorted(want.items(), key=lambda kv: (str(kv[1][0]), kv[1][1])):
        if lvl == "entries":
            continue
        try:
            with open(os.path.join(tdir, path), "rb") as f:
                data = f.read(TILE_W * 32 + 1)
        except OSError:
            return FAIL, f"tlog/{path} is missing"
        if len(data) != w * 32:
            return FAIL, f"tlog/{path} is {len(data)} bytes, not {w * 32}"
        parts.setdefault(int(lvl), []).append(data)
    levels = {lvl: b"".join(p) for lvl, p in parts.items()}
    for lvl in sorted(levels)[1:]:
        data, above = levels[lvl], levels.get(lvl + 1, b"")
        got = b"".join(
            _perfect(_split(data[n * TILE_W * 32:(n + 1) * TILE_W * 32]))
            for n in range(len(data) // (TILE_W * 32)))
        if got != above[:len(got)]:
            n = next(i for i in range(0, len(got), 32) if got[i:i + 32] != above[i:i + 32])
            return FAIL, (f"tlog/{_tile_path(lvl, n // 32)} does not hash to its hash in the "
                          f"tile above (a tampered tile)")
    pieces, a = [], 0
    while a < c:
        k = (c - a).bit_length() - 1
        lvl, r = divmod(k, 8)
        i = (a >> k) << r
        pieces.append(_perfect(_split(levels[lvl][i * 32:(i + (1 << r)) * 32])))
        a += 1 << k
    if fold(pieces) != cp.root:
        return FAIL, f"the tiles do not fold into the signed root of size {c} (a tampered tile)"
    c0 = -(-(c) // TILE_W)  # level-0 tiles (and bundles): checked in the workers
    jobs = [(tdir, n, levels[0][n * TILE_W * 32:(n + TILE_JOB) * TILE_W * 32],
             levels.get(1, b"")[n * 32:(n + TILE_JOB) * 32]) for n in range(0, c0, TILE_JOB)]
    results = pool.imap(_tiles_job, jobs) if pool is not None and len(jobs) > 1 \
        else map(_tiles_job, jobs)
    bundles = 0
    for bad, missing, n_bundles in results:
        if bad is not None:
            return FAIL, bad
        for n, w in missing:
            if not _long_entry_in(directory, n * TILE_W, n * TILE_W + w):
                return FAIL, f"tlog/{_tile_path('entries', n, w)} is missing"
        bundles += n_bundles
    return PASS, (f"{len(want) - sum(1 for v in want.values() if v[0] == 'entries')} hash "
                  f"tiles and {bundles} entry bundles are those of the tree of size {c}")


TILE_JOB = 64
"""Level-0 tiles (16,384 entries) per worker job of the tiles check."""


def _tiles_job(job: tuple[str, int, bytes, bytes]) -> tuple[str | None, list, int]:
    """Level-0 tiles ``first ..`` (their bytes and level 1's hashes above them given): the
    subtree root of each full one against level 1, then each entry bundle against the leaf
    hashes of its tile. Returns (first fault or None, absent bundles (index, width),
    bundles checked)."""
    tdir, first, data, above = job
    missing, checked = [], 0
    for k in range(-(-len(data) // (TILE_W * 32))):
        n = first + k
        leaves = data[k * TILE_W * 32:(k + 1) * TILE_W * 32]
        w = len(leaves) // 32
        if w == TILE_W and _perfect(_split(leaves)) != above[k * 32:(k + 1) * 32]:
            return (f"tlog/{_tile_path(0, n)} does not hash to its hash in the tile above "
                    "(a tampered tile)"), [], 0
        path = _tile_path("entries", n, w)
        try:
            with open(os.path.join(tdir, path), "rb") as f:
                bundle = f.read()
        except OSError:
            missing.append((n, w))
            continue
        pos, got = 0, []
        while pos < len(bundle):
            ln = int.from_bytes(bundle[pos:pos + 2], "big")
            got.append(bundle[pos + 2:pos + 2 + ln])
            pos += 2 + ln
        if pos != len(bundle) or len(got) != w or b"".join(map(_DIGEST, map(_SHA, map(
                b"\x00".__add__, got)))) != leaves:
            return f"tlog/{path} does not hold exactly the entries' bytes", [], 0
        checked += 1
    return None, missing, checked


FROZEN_KINDS = ("checkpoint", "shard-final")


def check_frozen(directory: str, log: LogResult) -> tuple[str, str] | None:
    """The ``frozen`` check, only for a frozen log (``evidence log freeze``: a manifest with
    ``"frozen"``; docs/formats.md "Frozen log"): the manifest is in its one canonical form
    (a changed byte of it is found, not only of the files it lists), and the size and root it
    freezes at are those of the newest checkpoint, which the log check verified and which
    ends the entries and the tiles."""
    try:
        with open(os.path.join(directory, MANIFEST), "rb") as f:
            raw = f.read(64 << 20)
        man = json.loads(raw)
    except (OSError, ValueError):
        return None  # the export check says what is wrong with it
    if not isinstance(man, dict) or "frozen" not in man:
        return None
    fr = man["frozen"]
    canon = (json.dumps(man, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
             + "\n").encode()
    if raw != canon:
        return FAIL, "manifest.json is not in the canonical form a freeze writes"
    if not isinstance(fr, dict) or fr.get("kind") not in FROZEN_KINDS \
            or type(fr.get("size")) is not int or not isinstance(fr.get("root"), str):
        return FAIL, "manifest.json's \"frozen\" is not {kind, size, root}"
    newest = max(log.checkpoints, default=None)
    if newest is None or fr["size"] != newest:
        return FAIL, f"the freeze names size {fr['size']}, the newest verified checkpoint is " \
                     f"{newest}"
    if fr["root"] != log.checkpoints[newest].root.hex():
        return FAIL, f"the freeze names another root than the checkpoint of size {newest}"
    if log.first_bad_seq is None and (log.size, man.get("size"), man.get("tiles")) \
            != (newest, newest, newest):
        return FAIL, f"a freeze at size {newest} holds {log.size} entries and tiles of " \
                     f"size {man.get('tiles')}: it must end at its checkpoint"
    if fr["kind"] == "shard-final" and _last_entry_type(directory) != "log.frozen":
        return FAIL, "the freeze says a closed shard's final checkpoint, but the last entry " \
                     "is not log.frozen"
    return PASS, f"frozen at the signed checkpoint of size {newest} ({fr['kind']})"


def _last_entry_type(directory: str) -> str | None:
    """The ``type`` of the last line of entries.jsonl (the log check has checked them all)."""
    with open(os.path.join(directory, "entries.jsonl"), "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(f.tell() - (4 << 20), 0))
        lines = f.read().rstrip(b"\n").rsplit(b"\n", 1)
    try:
        return parse_entry(base64.b64decode(json.loads(lines[-1])["entry_b64"])).get("type")
    except (ValueError, KeyError, TypeError, Fail):
        return None


class _NeedsFiles(Exception):
    """A chain under another hash than SHA-256: its documents are the files' bytes."""


def check_records(directory: str, trust: Any) -> tuple[str, str] | None:
    """The ``records`` check, only when DIR has ``records/`` (a frozen log's RFC 4998
    evidence records; docs/formats.md "Frozen log"): each ``records/<id>.ers`` verifies as
    verify_bundle.py verifies a bundle's ``ers/item.ers``, its documents the SHA-256 of the
    files the item's ``evidence.submitted`` entry lists. A record whose tokens chain to no
    pinned root, or with a chain under another hash (it needs the files' bytes: check it
    with the item's bundle), is skipped; any other fault fails; at least one must verify."""
    folder = os.path.join(directory, "records")
    if not os.path.isdir(folder):
        return None
    names = sorted(os.listdir(folder))
    want = {n[:-4]: n for n in names if n.endswith(".ers")}
    if len(want) != len(names):
        return FAIL, "records/ holds a file that is not <evidence id>.ers"
    roots = [cert for _, cert in trust.tsa_roots]
    if not roots:
        return NOT_CHECKED, "no TSA root is pinned: the evidence records were not checked"
    files: dict[str, list[str]] = {}
    with open(os.path.join(directory, "entries.jsonl"), "rb") as f:
        for line in f:
            try:
                e = parse_entry(base64.b64decode(json.loads(line)["entry_b64"]))
            except (ValueError, KeyError, TypeError, Fail):
                continue  # the log check names it
            body = e.get("body")
            if e.get("type") == "evidence.submitted" and isinstance(body, dict) \
                    and body.get("evidence_id") in want and isinstance(body.get("files"), list):
                files[body["evidence_id"]] = [str(x.get("sha256")) for x in body["files"]
                                              if isinstance(x, dict)]
    good = skipped = 0
    for eid, name in sorted(want.items()):
        if eid not in files:
            return FAIL, f"records/{name} names an item the log's entries do not hold"

        def documents(alg: str, ha: bytes | None, hexes: list[str] = files[eid]) -> list[bytes]:
            if alg != "sha256":
                raise _NeedsFiles
            hs = [bytes.fromhex(h) for h in hexes]
            return hs if ha is None else [hashlib.sha256(h + ha).digest() for h in hs]

        with open(os.path.join(folder, name), "rb") as f:
            data = f.read((16 << 20) + 1)
        try:
            vb.verify_evidence_record(data, documents, roots)
            good += 1
        except (vb.ErsUntrusted, _NeedsFiles):
            skipped += 1
        except (vb.Fail, ValueError) as e:
            return FAIL, f"records/{name} does not verify: {e}"
    if not good:
        return NOT_CHECKED, f"none of the {skipped} evidence records could be checked here " \
                            "(a TSA not pinned, or a chain over the files' bytes)"
    more = f"; {skipped} skipped (a TSA not pinned, or a chain over the files' bytes)" \
        if skipped else ""
    return PASS, f"{good} evidence records cover their items' files and verify{more}"


# ==== the audit and the command line ======================================================

ZH = {PASS: "通过", FAIL: "失败", NOT_CHECKED: "未检查"}


def audit(directory: str, trust: Any, *, anchoring: tuple[bool, bool] = (True, True),
          workers: int = 1, progress: Any = None, chunk: int = CHUNK) -> dict[str, Any]:
    """The report: checks ``export``, ``log`` and, as asked by ``anchoring`` (cosignatures,
    timestamps), the anchoring checks; verdict as verify_bundle.py's.

    Order: the checkpoint sizes (from the file names) and the pinned keys are set first,
    for the workers to inherit when they fork; the export's files are hashed in a thread
    beside the checkpoints' signatures and the log check, both in the workers."""
    _SIZES[:] = sorted(int(n) for n in checkpoint_names(directory) if SIZE_NAME.fullmatch(n))
    _TRUST[:] = [trust]
    pool = _pool(workers)
    found: list[tuple[str, str, int | None]] = []
    hasher = threading.Thread(target=_export_check_into, args=(directory, found), daemon=True)
    hasher.start()
    try:
        log = signed_checkpoints(directory, trust, pool)
        audit_log(directory, log, pool=pool, progress=progress, chunk=chunk)
        tiles = check_tiles(directory, log, pool)
    finally:
        if pool is not None:
            pool.terminate()
    hasher.join()
    checks: list[dict[str, Any]] = []

    def add(name: str, status: str, reason: str) -> None:
        checks.append({"name": name, "status": status, "ok": status == PASS,
                       "reason": vb.one_line(reason)})

    add("export", *finish_export_check(found[0], log.size if log.first_bad_seq is None
                                       else None))
    mldsa = mldsa_report(log, trust)
    if log.first_bad_seq is None:
        add("log", PASS, f"{log.size} entries and {len(log.checkpoints)} checkpoints; root "
                         f"{log.root.hex() if log.root else ''}"
                         + ("" if mldsa is None else f"; ML-DSA-44 key {mldsa['name']}+"
                            f"{mldsa['key_id']} (entry {mldsa['seq']}) on every checkpoint "
                            f"from size {mldsa['from_size']}"))
    else:
        add("log", FAIL, f"first bad entry seq {log.first_bad_seq}: {log.reason}")
    if tiles is not None:
        add("tiles", *tiles)
    frozen = check_frozen(directory, log)
    if frozen is not None:
        add("frozen", *frozen)
    records = check_records(directory, trust) if anchoring[1] else None
    if records is not None:
        add("records", *records)
    good: list = []
    if anchoring[0]:
        add("cosignatures", *check_cosignatures(log, trust))
    if anchoring[1]:
        status, reason, good = check_timestamps(directory, log, trust)
        add("timestamps", status, reason)
    failed = next((c["name"] for c in checks if c["status"] == FAIL), None)
    not_checked = [c["name"] for c in checks if c["status"] == NOT_CHECKED]
    verdict = "failed" if failed else "incomplete" if not_checked else "verified"
    return {"verdict": verdict, "ok": verdict == "verified", "failed_check": failed,
            "not_checked": not_checked, "size": log.size,
            "root": None if log.root is None else log.root.hex(),
            "entries_checked": log.size, "checkpoints_checked": log.checkpoint_files,
            "first_bad_seq": log.first_bad_seq, "reason": log.reason, "mldsa_key": mldsa,
            "scope": "log-only" if not any(anchoring) else "full",
            "timestamped": [{"checkpoint_size": s, "gen_time": v.gen_time.isoformat(),
                             "tsa": v.tsa} for s, v in sorted(good, key=lambda g: g[0])],
            "checks": checks}


def mldsa_report(log: LogResult, trust: Any) -> dict[str, Any] | None:
    """The ML-DSA-44 key the log's key.mldsa_added entry added (as monitor_log.py names
    it): the key, the entry, the first size it signs, whether the trust file pins it."""
    if log.mldsa is None:
        return None
    seq, key = log.mldsa
    return {"key": key.text, "name": key.name, "key_id": f"{key.key_id:08x}", "seq": seq,
            "from_size": key.window[0],
            "pinned": any(k.text == key.text for k in trust.log_keys)}


class Progress:
    """Entries done, percent of entries.jsonl and entries/s on stderr: at most twice a
    second on a terminal (one line, rewritten), else one line every five seconds."""

    def __init__(self) -> None:
        self.t0 = self.last = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.shown = -1

    def __call__(self, done: int, at: int, total: int) -> None:
        now = time.monotonic()
        if done == self.shown or (now - self.last < (0.5 if self.tty else 5.0)
                                  and at < total):
            return
        self.last, self.shown = now, done
        rate = done / max(now - self.t0, 1e-9)
        pct = 100.0 * at / total if total else 100.0
        head, tail = ("\r", "") if self.tty else ("", "\n")
        sys.stderr.write(f"{head}audited {done:,} entries ({pct:.1f}% of entries.jsonl), "
                         f"{rate:,.0f} entries/s{tail}")
        sys.stderr.flush()

    def end(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Audit an `evidence log export` directory offline "
                                 "(independent of the evidence package).")
    ap.add_argument("export_dir")
    ap.add_argument("--trust", metavar="FILE", help="the trust file (docs/verdict.md sec. 3)")
    ap.add_argument("--trust-sha256", metavar="HEX", help="refuse a trust file with another "
                    "SHA-256")
    ap.add_argument("--log-key", help="shorthand: the log's verifier key name+id+key")
    ap.add_argument("--witness-key", action="append", default=[], help="shorthand: a witness")
    ap.add_argument("--witness-quorum", type=int, default=None, help="shorthand: how many "
                    "pinned witnesses must have cosigned each cosigned checkpoint")
    ap.add_argument("--tsa-ca", action="append", default=[], help="PEM file of a TSA root CA")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="processes checking entries (default: one per core)")
    ap.add_argument("--chunk", type=int, default=CHUNK, help=argparse.SUPPRESS)  # tests: bytes
    ap.add_argument("--json", action="store_true", help="print the report as JSON (no "
                    "progress)")
    ap.add_argument("--quiet", action="store_true", help="no progress on stderr")
    ap.add_argument("--log-only", action="store_true", help="audit the export and the log "
                    "alone: the cosignatures and timestamps are out of scope (verified, exit "
                    "0, says so); without it, a check nothing was pinned for is not-checked "
                    "and the verdict incomplete (exit 3)")
    args = ap.parse_args(argv)
    anchoring = (False, False) if args.log_only else (True, True)
    try:
        if args.trust:
            if args.log_key or args.witness_key or args.witness_quorum is not None \
                    or args.tsa_ca:
                raise vb.TrustError("give either --trust or the pin options (--log-key, "
                                    "--witness-key, --witness-quorum, --tsa-ca), not both")
            with open(args.trust, "rb") as f:
                data = f.read(vb.MAX_TRUST_FILE + 1)
            got = hashlib.sha256(data).hexdigest()
            if args.trust_sha256 is not None and got != args.trust_sha256.strip().lower():
                raise vb.TrustError(f"the trust file's SHA-256 is {got}, not the pinned "
                                    f"{args.trust_sha256[:64]}")
            trust = vb.parse_trust(data)
        elif args.trust_sha256:
            raise vb.TrustError("--trust-sha256 needs --trust FILE")
        else:
            quorum = args.witness_quorum
            if quorum is None:
                quorum = len(args.witness_key)
            trust = vb.shorthand_trust(args.log_key, args.witness_key, quorum, args.tsa_ca)
        vb.load_store_roots(trust)
        if not os.path.isfile(os.path.join(args.export_dir, "entries.jsonl")):
            raise vb.TrustError(f"{args.export_dir} has no entries.jsonl: not a log export")
    except (vb.TrustError, vb.Fail, OSError, ValueError) as e:
        print(f"audit_ledger.py: {vb.one_line(str(e))}", file=sys.stderr)
        return 2
    if args.chunk < 1:
        print("audit_ledger.py: --chunk must be at least 1", file=sys.stderr)
        return 2
    bar = None if args.quiet or args.json else Progress()
    try:
        result = audit(args.export_dir, trust, anchoring=anchoring,
                       workers=max(1, args.workers), progress=bar, chunk=args.chunk)
    except vb.NoMLDSA as e:  # the log's ML-DSA-44 key cannot be checked with this Python
        print(f"audit_ledger.py: {vb.one_line(str(e))}", file=sys.stderr)
        return 2
    if bar is not None:
        bar.end()
    try:
        with open(os.path.join(args.export_dir, "log.vkey"), encoding="utf-8") as f:
            hint = f.read().strip()
    except OSError:
        hint = None
    result["export_log_key_matches"] = hint in [k.text for k in trust.log_keys]
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        if result["ok"]:
            scope = " (log only / 仅日志)" if args.log_only else ""
            print(f"OK 通过{scope}: {result['size']} entries, {result['checkpoints_checked']} "
                  f"checkpoints; root {result['root']}")
        elif result["first_bad_seq"] is not None:
            print(f"FAIL 失败: first bad entry seq {result['first_bad_seq']} "
                  f"(第一个错误记录序号): {result['reason']}")
        else:
            print(f"{'FAIL 失败' if result['verdict'] == 'failed' else 'INCOMPLETE 未完全核验'}"
                  f": {result['failed_check'] or ', '.join(result['not_checked'])}")
        for c in result["checks"]:
            print(f"  {c['name']}: {c['status'].upper()} {ZH[c['status']]}: {c['reason']}")
        pq = result["mldsa_key"]
        if pq is not None:
            print(f"  the log added an ML-DSA-44 key (key.mldsa_added, entry {pq['seq']}), "
                  f"required on every checkpoint from size {pq['from_size']} / 日志的 "
                  f"ML-DSA-44 公钥: {pq['key'][:80]}..."
                  + ("" if pq["pinned"] else " (the trust file does not pin it: get the "
                                             "operator's new trust file, #@ log-mldsa / "
                                             "信任文件未固定该公钥)"))
        if args.log_only:
            print("  (--log-only: the anchoring (cosignatures, timestamps) was not audited / "
                  "仅审计日志：未审计联署与时间戳)")
        elif result["not_checked"]:
            print("  (to audit the anchoring, pin the witnesses and TSA roots the operator "
                  "filed: --trust FILE, or --witness-key/--witness-quorum/--tsa-ca; "
                  "--log-only audits the log alone / 如需审计锚定，请固定运营方备案的见证方与"
                  "时间戳根证书；--log-only 仅审计日志)")
    if not result["export_log_key_matches"]:
        print("note: the export's log.vkey is not the pinned --log-key or a trust file's log "
              "key (only the pinned key is trusted)", file=sys.stderr)
    return EXIT[result["verdict"]]


if __name__ == "__main__":
    sys.exit(main())
