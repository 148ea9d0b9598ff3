#!/usr/bin/env python3
"""Audit a whole evidence ledger offline from its export, trusting only the log key you pin.

    evidence log export DIR            (on the operator's side)
    python audit_ledger.py DIR --log-key VKEY [--json]

This is a second, independent implementation of the ledger's audit, for an auditor who does
not want to trust the operator's software: one file, readable in an hour, that imports
nothing from the ``evidence`` package and needs only Python 3.11+ and ``cryptography``. It
reads the export (docs/formats.md, "Log export"), writes nothing, uses no network:

    DIR/log.vkey              the log's verifier key (a hint: only --log-key is trusted)
    DIR/entries.jsonl         {"seq": N, "leaf_hash": "<hex>", "entry_b64": "<base64>"} per line
    DIR/checkpoints/<size>    every signed checkpoint, as stored

and recomputes everything: every entry parses and is canonical JSON, ``seq`` counts up from 0
without gaps, each ``prev`` is the leaf hash of the entry before, times never go back, every
stored ``leaf_hash`` is SHA-256(0x00 || entry bytes), the RFC 9162 tree over all entries has,
at each checkpoint's size, exactly the root that checkpoint signs, and every checkpoint is
signed by the pinned key. It names the FIRST bad seq and why; a bad checkpoint of size N is
reported at seq N-1 (the entry that completed the tree it signs). Exit status: 0 when
everything checks, 1 when something does not, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import os
import re
import struct
import sys
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class Fail(Exception):
    """Something the log claims does not hold; the message says what."""


# ==== hashes and the tree (RFC 9162) ======================================================

def leaf_hash(entry_bytes: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry_bytes).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class Tree:
    """The right edge of a growing RFC 9162 tree: one perfect-subtree hash per set bit of
    the size. Appending merges equal-sized subtrees; the root folds the edge right to left
    (the tree splits at the largest power of two below the size)."""

    def __init__(self) -> None:
        self.size, self.edge = 0, []

    def append(self, leaf: bytes) -> None:
        h, index = leaf, self.size
        while index & 1:
            h = node_hash(self.edge.pop(), h)
            index >>= 1
        self.edge.append(h)
        self.size += 1

    def root(self) -> bytes:
        if not self.edge:
            return hashlib.sha256(b"").digest()
        acc = self.edge[-1]
        for h in reversed(self.edge[:-1]):
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


# ==== the log key and signed checkpoints (C2SP signed-note, tlog-checkpoint) ===============

def parse_key(text: str) -> tuple[str, int, bytes]:
    """``name+keyid+base64(0x01 || Ed25519 public key)`` -> (name, key id, public key)."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3 or not parts[0] or "+" in parts[0] or any(c.isspace() for c in parts[0]):
        raise Fail("a verifier key looks like name+keyid+base64key")
    name, hex_id, b64 = parts
    try:
        data = base64.b64decode(b64.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise Fail("verifier key data is not base64") from None
    if len(data) != 33 or data[0] != 0x01:
        raise Fail("the log key must be an Ed25519 (type 0x01) verifier key")
    want = struct.unpack(">I", hashlib.sha256(name.encode() + b"\n" + data[:1] + data[1:])
                         .digest()[:4])[0]
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id) or int(hex_id, 16) != want:
        raise Fail(f"verifier key id {hex_id!r} does not match its key")
    try:
        Ed25519PublicKey.from_public_bytes(data[1:])
    except ValueError:
        raise Fail("verifier key is not a valid Ed25519 public key") from None
    return name, want, data[1:]


def verify_checkpoint(note: bytes, key: tuple[str, int, bytes]) -> tuple[int, bytes]:
    """(size, root) of a checkpoint note signed by the pinned key. Go's note.Open rules:
    signatures by other keys are ignored, a bad one by the pinned key rejects the note."""
    name, kid, public = key
    try:
        msg = note.decode("utf-8")
    except UnicodeDecodeError:
        raise Fail("note is not UTF-8") from None
    if len(note) > 1 << 20 or any(c < "\x20" and c != "\n" for c in msg) \
            or not msg.endswith("\n"):
        raise Fail("note is too large, has control characters or lacks its final newline")
    split = msg.rfind("\n\n")
    if split < 0 or split + 2 == len(msg):
        raise Fail("note has no signature lines after a blank line")
    text, lines = msg[: split + 1], msg[split + 2 :].split("\n")[:-1]
    if len(lines) > 100:
        raise Fail("note has more than 100 signatures")
    signed = False
    for n, line in enumerate(lines, 1):
        who, sep, b64 = line[2:].partition(" ")
        if not line.startswith("\u2014 ") or not sep or not b64 or not who or "+" in who \
                or any(c.isspace() for c in who):
            raise Fail(f"signature line {n} is not '\u2014 <name> <base64>'")
        try:
            blob = base64.b64decode(b64.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise Fail(f"signature line {n} is not base64") from None
        if len(blob) < 5:
            raise Fail(f"signature line {n} is too short to hold a key id")
        if (who, struct.unpack(">I", blob[:4])[0]) != (name, kid) or signed:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(public).verify(blob[4:], text.encode())
        except InvalidSignature:
            raise Fail(f"the signature by the log key {name} does not verify") from None
        signed = True
    if not signed:
        raise Fail(f"not signed by the pinned log key {name}")
    body = text[:-1].split("\n")
    if len(body) < 3 or not body[0]:
        raise Fail("checkpoint needs origin, size and root lines")
    origin, size_s, root_s, *ext = body
    if not (size_s.isascii() and size_s.isdigit()) or (len(size_s) > 1 and size_s[0] == "0") \
            or int(size_s) > 2**64 - 1:
        raise Fail(f"checkpoint size {size_s[:30]!r} is not a canonical decimal")
    try:
        root = base64.b64decode(root_s.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise Fail("checkpoint root is not base64") from None
    if len(root) != 32 or any(not line for line in ext):
        raise Fail("checkpoint root is not 32 bytes, or an extension line is empty")
    if origin != name:
        raise Fail(f"checkpoint origin {origin!r} is not {name!r}")
    return int(size_s), root


# ==== the audit ===========================================================================

def audit(directory: str, key: tuple[str, int, bytes]) -> dict[str, Any]:
    problems: list[tuple[int, int, str]] = []  # (seq, 0 = entry fault / 1 = checkpoint, why)

    # -- checkpoints: each signed by the pinned key, for the size its file name says
    roots: dict[int, bytes] = {}
    cp_dir = os.path.join(directory, "checkpoints")
    names = sorted(os.listdir(cp_dir), key=lambda n: (len(n), n)) if os.path.isdir(cp_dir) \
        else []
    for name in names:
        if not re.fullmatch(r"0|[1-9][0-9]*", name):
            problems.append((0, 1, f"checkpoints/{name}: not a tree size"))
            continue
        stored = int(name)
        with open(os.path.join(cp_dir, name), "rb") as f:
            note = f.read((1 << 20) + 1)
        try:
            size, root = verify_checkpoint(note, key)
        except Fail as e:
            problems.append((max(stored - 1, 0), 1, f"checkpoint at size {stored}: {e}"))
            continue
        if size != stored:
            problems.append((max(stored - 1, 0), 1, f"checkpoint stored at size {stored} "
                                                    f"signs size {size}"))
            continue
        roots[size] = root

    # -- entries, one pass: parse, chain, times, stored leaf hash, tree, checkpoint roots
    tree, prev, last_time, size = Tree(), "0" * 64, "", 0
    if 0 in roots and tree.root() != roots[0]:
        problems.append((0, 0, "a checkpoint of size 0 has a root other than the empty tree's"))
    with open(os.path.join(directory, "entries.jsonl"), "rb") as lines:
        for index, raw in enumerate(lines):
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
            size = index + 1
            if size in roots and tree.root() != roots[size]:
                problems.append((index, 0, f"tree root at size {size} differs from the "
                                           "checkpoint"))
            prev, last_time = lh.hex(), entry["time"]
    for s in roots:
        if s > size:
            problems.append((size, 1, f"a checkpoint claims size {s}; the log has {size} "
                                      "entries"))
    result = {"ok": not problems, "size": size, "root": None if problems else tree.root().hex(),
              "entries_checked": size, "checkpoints_checked": len(names),
              "first_bad_seq": None, "reason": None}
    if problems:
        seq, _, reason = min(problems)
        result.update(first_bad_seq=seq, reason=reason)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Audit an `evidence log export` directory offline "
                                 "(independent of the evidence package).")
    ap.add_argument("export_dir")
    ap.add_argument("--log-key", required=True, help="the log's verifier key name+id+key")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args(argv)
    try:
        key = parse_key(args.log_key)
        if not os.path.isfile(os.path.join(args.export_dir, "entries.jsonl")):
            raise Fail(f"{args.export_dir} has no entries.jsonl: not a log export")
        result = audit(args.export_dir, key)
    except (Fail, OSError) as e:
        print(f"audit_ledger.py: {e}", file=sys.stderr)
        return 2
    try:
        with open(os.path.join(args.export_dir, "log.vkey"), encoding="utf-8") as f:
            hint = f.read().strip()
    except OSError:
        hint = None
    result["export_log_key_matches"] = hint == args.log_key.strip()
    if args.json:
        print(json.dumps(result, indent=2))
    elif result["ok"]:
        print(f"OK 通过: {result['size']} entries, {result['checkpoints_checked']} checkpoints; "
              f"root {result['root']}")
    else:
        print(f"FAIL 失败: first bad entry seq {result['first_bad_seq']} "
              f"(第一个错误记录序号): {result['reason']}")
    if not result["export_log_key_matches"]:
        print("note: the export's log.vkey is not the pinned --log-key (only the pinned key "
              "is trusted)", file=sys.stderr)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
