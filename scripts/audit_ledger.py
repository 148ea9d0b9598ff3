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
  signs. It names the FIRST bad seq, as ``evidence audit`` does (a bad checkpoint of size
  N at seq N-1).
* ``cosignatures`` (with ``--trust``, or when witnesses are pinned): every cosignature by a
  pinned witness verifies, and every checkpoint that carries a cosignature is cosigned by
  the pinned quorum (a cosignature by an unknown witness counts for nothing).
* ``timestamps`` (with ``--trust``, or ``--tsa-ca``): every token under
  ``timestamps/<size>/`` is judged in the three steps of docs/verdict.md section 1 over that
  checkpoint's text: a damaged or altered token, or one over another checkpoint, fails; one
  whose chain ends at a root nobody pinned is skipped; at least one must verify.

Verdict and exit status as ``verify_bundle.py``: verified 0, failed 1, incomplete 3 (a check
not made, named), usage error 2. Progress goes to stderr unless ``--quiet`` or ``--json``.
Entries are checked in worker processes, one span of 2^14 entries each (``--workers``), and
the tree is joined from the spans' subtree roots; the one-entry-at-a-time reference pass
then runs only from the first span that is not clean, to name the fault.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import importlib.util
import json
import mmap
import os
import re
import sys
import time
from dataclasses import dataclass, field
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



# ==== the quick pass: spans of entries in worker processes ================================
#
# Vouches only for what the reference pass (parse_entry and the loop in audit_log) accepts;
# anything it cannot vouch for makes the span "dirty" and the reference pass decides. A line
# as the exporter writes it, an entry whose fields after the body are in key order (as JCS
# writes them): only the body goes through JSON and back.

SPAN = 1 << 14
ROW_RE = re.compile(rb'\{"seq": (0|[1-9][0-9]{0,15}), "leaf_hash": "([0-9a-f]{64})", '
                    rb'"entry_b64": "([A-Za-z0-9+/]*={0,2})"\}')
TAIL_RE = re.compile(rb',"prev":"([0-9a-f]{64})","seq":(0|[1-9][0-9]{0,15}),"time":"(.{27})",'
                     rb'"type":"([a-z][a-z0-9_.]*)","v":1\}\Z', re.S)
_BODY = json.JSONDecoder(parse_float=_no_float, parse_constant=_no_float)
"""Integers parse without a hook (a hook is a Python call per integer): a body where 16
digits follow a ``:``, ``,`` or ``[`` (and maybe ``-``) goes to the reference instead, so
every integer this accepts has at most 15 digits, inside +/-(2^53-1)."""
_LONG_DIGITS = re.compile(r"[:,\[]-?[0-9]{16}")
_BODY_KEYS = json.JSONDecoder(parse_float=_no_float, parse_constant=_no_float,
                              object_pairs_hook=_ascii_keys)
_jcs = (  # json.dumps(sort_keys, separators, ensure_ascii=False) for a dict, made once
    None if json.encoder.c_make_encoder is None else json.encoder.c_make_encoder(
        None, None, json.encoder.encode_basestring, None, ":", ",", True, False, True))
_times: dict[bytes, str | None] = {}
_types: dict[bytes, bool] = {}


def _time_ok(raw: bytes) -> str | None:
    if raw not in _times:
        try:
            text = raw.decode("ascii")
            ok = bool(TIME_RE.match(text)) and bool(datetime.fromisoformat(text[:-1]))
        except ValueError:
            ok = False
        _times[raw] = text if ok else None
    return _times[raw]


def _type_ok(raw: bytes) -> bool:
    if raw not in _types:
        _types[raw] = bool(TYPE_RE.match(raw.decode("ascii")))
    return _types[raw]


def _canonical_body(text: str) -> bool:
    """Whether ``text`` is a JSON object under the house rules, in canonical form."""
    if _LONG_DIGITS.search(text):
        return False
    try:
        body, end = (_BODY if text.isascii() else _BODY_KEYS).raw_decode(text)
    except (ValueError, RecursionError, Fail):
        return False
    if end != len(text) or type(body) is not dict:
        return False
    again = ("".join(_jcs(body, 0)) if _jcs is not None else
             json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
    return again == text


@dataclass
class Span:
    start: int
    end: int
    clean: bool
    first_prev: bytes = b""
    first_time: str = ""
    last_leaf: bytes = b""
    last_time: str = ""
    edge: list[bytes] = field(default_factory=list)  # the span's perfect subtrees
    at: dict[int, list[bytes]] = field(default_factory=dict)  # size -> subtrees from start


def scan_span(job: tuple[str, int, int, int, list[int]]) -> Span:
    """Entries ``start``.. of the span at bytes ``lo:hi`` of entries.jsonl: clean or not,
    with what the parent needs to join spans (the first prev and time, the last leaf and
    time, the span's subtrees and, per checkpoint size inside it, those up to that size).

    Per line: the row as the exporter writes it; the entry starts with its body and ends
    with the other fields in key order (as JCS writes them), whose values need no escapes,
    so only the body goes through JSON and back; seq, prev, time (never going back) and
    type are read from the tail and checked as parse_entry and the reference loop do."""
    path, lo, hi, start, sizes = job
    with open(path, "rb") as f:
        f.seek(lo)
        block = f.read(hi - lo)
    lines = block.split(b"\n")
    if lines[-1] != b"":
        return Span(start, start, False)
    lines.pop()
    end = start + len(lines)
    dirty = Span(start, end, False)
    leaves: list[bytes] = []
    prev: bytes | None = None
    first_prev, first_time, last_time = b"", "", ""
    seq = start
    a2b, sha, row_match, tail_match = (binascii.a2b_base64, hashlib.sha256, ROW_RE.fullmatch,
                                       TAIL_RE.match)
    times, types, canonical = _times, _types, _canonical_body
    for line in lines:
        m = row_match(line)
        if m is None or int(m.group(1)) != seq:
            return dirty
        try:
            data = a2b(m.group(3), strict_mode=True)
        except binascii.Error:
            return dirty
        cut = data.rfind(b',"prev":"')
        t_m = tail_match(data, cut)
        if t_m is None or not data.startswith(b'{"body":') or len(data) > 1 << 20:
            return dirty
        e_prev, e_seq, e_time, e_type = t_m.groups()
        if int(e_seq) != seq or (prev is not None and e_prev != prev):
            return dirty
        t = times.get(e_time) or _time_ok(e_time)
        if t is None or t < last_time or not (types.get(e_type) or _type_ok(e_type)):
            return dirty
        try:
            if not canonical(data[8:cut].decode("utf-8")):
                return dirty
        except UnicodeError:
            return dirty
        if prev is None:
            first_prev, first_time = e_prev, t
        lh = sha(b"\x00" + data).digest()
        hx = lh.hex().encode()
        if hx != m.group(2):
            return dirty
        leaves.append(lh)
        prev, last_time, seq = hx, t, seq + 1
    levels = [leaves]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([sha(b"\x01" + below[i] + below[i + 1]).digest()
                       for i in range(0, len(below) - 1, 2)])
    return Span(start, end, True, first_prev, first_time, prev or b"", last_time,
                _subtrees(levels, end - start), {s: _subtrees(levels, s - start) for s in sizes
                                                if s <= end})


def _subtrees(levels: list[list[bytes]], n: int) -> list[bytes]:
    """The perfect subtrees over the first ``n`` leaves of a span, largest first."""
    out, pos = [], 0
    for level in range(len(levels) - 1, -1, -1):
        if n & (1 << level):
            out.append(levels[level][pos >> level])
            pos += 1 << level
    return out


def span_bounds(path: str, span: int = SPAN) -> list[tuple[int, int, int]]:
    """(first seq, byte start, byte end) of each span of ``span`` lines of entries.jsonl; the
    last span ends at the end of the file (with or without a final newline)."""
    out: list[tuple[int, int, int]] = []
    size = os.path.getsize(path)
    if size == 0:
        return out
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        pos, seq = 0, 0
        while pos < size:
            need, end = span, pos
            while need and end < size:  # skip whole blocks by counting, then find the rest
                block = mm[end:end + (1 << 22)]
                n = block.count(b"\n")
                if n < need:
                    need, end = need - n, end + len(block)
                    continue
                cut = -1
                for _ in range(need):
                    cut = block.find(b"\n", cut + 1)
                need, end = 0, end + cut + 1
            end = min(end, size)
            out.append((seq, pos, end))
            pos, seq = end, seq + span
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


def _signed_checkpoints(directory: str, trust: Any, problems: list[tuple[int, int, str]],
                        res: LogResult) -> None:
    """Each checkpoints/<size>: signed by a pinned log key, for the size its name says."""
    cp_dir = os.path.join(directory, "checkpoints")
    names = sorted(os.listdir(cp_dir), key=lambda n: (len(n), n)) if os.path.isdir(cp_dir) \
        else []
    res.checkpoint_files = len(names)
    for name in names:
        if not re.fullmatch(r"0|[1-9][0-9]*", name):
            problems.append((0, 1, f"checkpoints/{name}: not a tree size"))
            continue
        stored = int(name)
        with open(os.path.join(cp_dir, name), "rb") as f:
            note = f.read((1 << 20) + 1)
        try:
            cp = vb.verify_checkpoint(note, trust.log_keys, [])
        except vb.Fail as e:
            problems.append((max(stored - 1, 0), 1, f"checkpoint at size {stored}: {e}"))
            continue
        if cp.size != stored:
            problems.append((max(stored - 1, 0), 1, f"checkpoint stored at size {stored} "
                                                    f"signs size {cp.size}"))
            continue
        res.checkpoints[stored], res.notes[stored] = cp, note


def audit_log(directory: str, trust: Any, *, workers: int = 1, progress: Any = None,
              span: int = SPAN) -> LogResult:
    """The ``log`` check; see the module docstring."""
    res = LogResult()
    problems: list[tuple[int, int, str]] = []  # (seq, 0 = entry / 1 = checkpoint, why)
    _signed_checkpoints(directory, trust, problems, res)
    roots = {s: cp.root for s, cp in res.checkpoints.items()}
    path = os.path.join(directory, "entries.jsonl")
    bounds = span_bounds(path, span)
    total = bounds[-1][0] + _count_lines(path, bounds[-1][1]) if bounds else 0
    start, prev, last_time, tree = 0, "0" * 64, "", Tree()
    offset = 0
    if 0 in roots and roots[0] != EMPTY_ROOT:
        problems.append((0, 0, "a checkpoint of size 0 has a root other than the empty tree's"))
    elif bounds:
        start, prev, last_time, tree, offset = _quick_pass(path, bounds, roots, workers,
                                                           total, progress, span)
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
            res.size = index + 1
            if res.size in roots and tree.root() != roots[res.size]:
                problems.append((index, 0, f"tree root at size {res.size} differs from the "
                                           "checkpoint"))
            prev, last_time = lh.hex(), entry["time"]
            if progress is not None and res.size % span == 0:
                progress(res.size, total)
    for s in roots:
        if s > res.size:
            problems.append((res.size, 1, f"a checkpoint claims size {s}; the log has "
                                          f"{res.size} entries"))
    if problems:
        res.first_bad_seq, _, res.reason = min(problems)
    else:
        res.root = tree.root()
    if progress is not None:
        progress(res.size, total)
    return res


def _count_lines(path: str, offset: int) -> int:
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read()
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _quick_pass(path: str, bounds: list[tuple[int, int, int]], roots: dict[int, bytes],
                workers: int, total: int, progress: Any, span: int
                ) -> tuple[int, str, str, Tree, int]:
    """Where the reference pass must start: (seq, prev hex, last time, tree, byte offset)
    at the start of the first span that is not clean, else at the end of the log."""
    jobs = [(path, lo, hi, seq, sorted(s for s in roots if seq < s <= seq + span))
            for seq, lo, hi in bounds]
    pool = _pool(min(workers, len(jobs)))
    above: list[bytes] = []  # the tree over whole spans before this one, largest first
    prev, last_time, done, offset = b"0" * 64, "", 0, 0
    try:
        results = pool.imap(scan_span, jobs) if pool is not None else map(scan_span, jobs)
        for (seq, lo, hi), sp in zip(bounds, results, strict=True):
            if not (sp.clean and sp.first_prev == prev and sp.first_time >= last_time
                    and all(fold(above + sub) == roots[s] for s, sub in sp.at.items())):
                return seq, prev.decode(), last_time, Tree(seq, above), lo
            done, offset = sp.end, hi
            if sp.end - sp.start == span:  # a whole span: its root joins the tree above
                t = Tree(seq, above)
                _push(t, sp.edge[0], span.bit_length() - 1)
                above = t.edge
            else:  # the last span: its subtrees end the log's edge
                above = above + sp.edge
            prev, last_time = sp.last_leaf, sp.last_time
            if progress is not None:
                progress(done, total)
    finally:
        if pool is not None:
            pool.terminate()
    return done, prev.decode(), last_time, Tree(done, above), offset


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


def check_export(directory: str, size: int | None) -> tuple[str, str]:
    """(status, reason) of the ``export`` check; ``size``: the entries the log check
    found (None when it failed: the manifest's count is then not compared)."""
    path = os.path.join(directory, MANIFEST)
    if not os.path.isfile(path):
        return NOT_CHECKED, "the export has no manifest.json: its files are not checked " \
                            "against one"
    try:
        with open(path, "rb") as f:
            man = json.loads(f.read(64 << 20))
        listed = man["files"]
        if not isinstance(listed, dict) or not isinstance(man.get("size"), int):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        return FAIL, "manifest.json is not a log export manifest"
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
    if size is not None and man["size"] != size and not problems:
        problems.append(f"the manifest lists {man['size']} entries; entries.jsonl holds {size}")
    if problems:
        more = f" ({len(problems) - 1} more)" if len(problems) > 1 else ""
        return FAIL, problems[0] + more
    return PASS, f"{len(listed)} files match manifest.json"


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
        return NOT_CHECKED, "no witness quorum is pinned (quorum none)"
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
        return NOT_CHECKED, "no TSA root is pinned ('#@ tsa' or --tsa-ca)", []
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


# ==== the audit and the command line ======================================================

ZH = {PASS: "通过", FAIL: "失败", NOT_CHECKED: "未检查"}


def audit(directory: str, trust: Any, *, anchoring: tuple[bool, bool] = (True, True),
          workers: int = 1, progress: Any = None, span: int = SPAN) -> dict[str, Any]:
    """The report: checks ``export``, ``log`` and, as asked by ``anchoring`` (cosignatures,
    timestamps), the anchoring checks; verdict as verify_bundle.py's."""
    log = audit_log(directory, trust, workers=workers, progress=progress, span=span)
    checks: list[dict[str, Any]] = []

    def add(name: str, status: str, reason: str) -> None:
        checks.append({"name": name, "status": status, "ok": status == PASS,
                       "reason": vb.one_line(reason)})

    add("export", *check_export(directory, log.size if log.first_bad_seq is None else None))
    if log.first_bad_seq is None:
        add("log", PASS, f"{log.size} entries and {len(log.checkpoints)} checkpoints; root "
                         f"{log.root.hex() if log.root else ''}")
    else:
        add("log", FAIL, f"first bad entry seq {log.first_bad_seq}: {log.reason}")
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
            "first_bad_seq": log.first_bad_seq, "reason": log.reason,
            "timestamped": [{"checkpoint_size": s, "gen_time": v.gen_time.isoformat(),
                             "tsa": v.tsa} for s, v in sorted(good, key=lambda g: g[0])],
            "checks": checks}


class Progress:
    """Entries done, percent and entries/s on stderr, at most twice a second."""

    def __init__(self) -> None:
        self.t0 = self.last = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done == self.shown or (now - self.last < (0.5 if self.tty else 5.0)
                                  and done < total):
            return
        self.last, self.shown = now, done
        rate = done / max(now - self.t0, 1e-9)
        pct = 100.0 * done / total if total else 100.0
        head, tail = ("\r", "") if self.tty else ("", "\n")
        sys.stderr.write(f"{head}audited {done:,} of {total:,} entries ({pct:.1f}%), "
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
    ap.add_argument("--span", type=int, default=SPAN, help=argparse.SUPPRESS)  # tests: 2^k
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    ap.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = ap.parse_args(argv)
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
            anchoring = (True, True)
        elif args.trust_sha256:
            raise vb.TrustError("--trust-sha256 needs --trust FILE")
        else:
            quorum = args.witness_quorum
            if quorum is None:
                quorum = len(args.witness_key)
            trust = vb.shorthand_trust(args.log_key, args.witness_key, quorum, args.tsa_ca)
            anchoring = (bool(args.witness_key) or args.witness_quorum is not None,
                         bool(args.tsa_ca))
        vb.load_store_roots(trust)
        if not os.path.isfile(os.path.join(args.export_dir, "entries.jsonl")):
            raise vb.TrustError(f"{args.export_dir} has no entries.jsonl: not a log export")
    except (vb.TrustError, vb.Fail, OSError, ValueError) as e:
        print(f"audit_ledger.py: {vb.one_line(str(e))}", file=sys.stderr)
        return 2
    if args.span < 1 or args.span & (args.span - 1):
        print("audit_ledger.py: --span must be a power of two", file=sys.stderr)
        return 2
    bar = None if args.quiet or args.json else Progress()
    result = audit(args.export_dir, trust, anchoring=anchoring, workers=max(1, args.workers),
                   progress=bar, span=args.span)
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
            print(f"OK 通过: {result['size']} entries, {result['checkpoints_checked']} "
                  f"checkpoints; root {result['root']}")
        elif result["first_bad_seq"] is not None:
            print(f"FAIL 失败: first bad entry seq {result['first_bad_seq']} "
                  f"(第一个错误记录序号): {result['reason']}")
        else:
            print(f"{'FAIL 失败' if result['verdict'] == 'failed' else 'INCOMPLETE 未完全核验'}"
                  f": {result['failed_check'] or ', '.join(result['not_checked'])}")
        for c in result["checks"]:
            print(f"  {c['name']}: {c['status'].upper()} {ZH[c['status']]}: {c['reason']}")
        if not any(anchoring):
            print("  (the anchoring was not audited: pin witnesses and TSA roots with --trust "
                  "FILE to audit it / 未审计锚定：请用 --trust 固定见证方与时间戳根证书)")
    if not result["export_log_key_matches"]:
        print("note: the export's log.vkey is not the pinned --log-key or a trust file's log "
              "key (only the pinned key is trusted)", file=sys.stderr)
    return EXIT[result["verdict"]]


if __name__ == "__main__":
    sys.exit(main())
