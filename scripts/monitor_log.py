#!/usr/bin/env python3
"""Follow an evidence log over its public HTTP API and verify only what is new since last time.

    python monitor_log.py URL --trust TRUST.txt [--trust-sha256 HEX] --state STATE.json
        [--token-file FILE] [--watch-id EV_ID ...] [--watch-sha256 HEX ...]
        [--anchor-grace SECONDS] [--json] [--quiet]

Run from cron by an auditor or a court abroad (docs/operations.md, "Monitoring the log"). It
imports nothing from the ``evidence`` package and needs only Python 3.11+ and
``cryptography``: the signed-note, cosignature, trust-file, entry and RFC 3161 code is that of
``verify_bundle.py``, loaded from the file beside this one (keep the two together). Each run:

1. fetches the latest checkpoint (``GET /v1/log/checkpoint``) and verifies the log's
   signature with the pinned key. A log key rotation is followed (docs/formats.md "Log key
   rotation"): every ``key.rotated`` / ``key.revoked`` entry read in step 3 is checked by
   the rules (both keys sign a rotation; the old key is the one then signing) and kept in
   STATE; from then on the new key is accepted from its first size, a checkpoint inside
   the overlap must carry both keys' signatures, and a revoked key is refused past its
   size even while the trust file still pins it. A checkpoint signed only by a key this
   monitor does not know yet is checked after the entries up to it (from the state's
   tree, or from entry 0 on a first run), if a token allows. The log's ML-DSA-44 key is
   required on every checkpoint from its first size when the trust file pins it
   (``#@ log-mldsa``, docs/verdict.md section 3) and, likewise, once the ``key.mldsa_added``
   entry that added it was read in step 3 (checked by the rules: both keys sign it);
2. compares it with the last verified checkpoint in STATE: a smaller size is a ROLLBACK, the
   same size with another root a FORK; a larger size needs an RFC 9162 consistency proof
   (``GET /v1/log/proof/consistency``) from the old size and root to the new ones, which this
   script checks itself;
3. with an auditor's or admin's token (``--token-file`` or ``$EVIDENCE_TOKEN``), fetches only
   the entries new since the last verified size (``GET /v1/log/entries``) and checks each:
   its leaf hash, canonical form, ``seq``, the ``prev`` link to the entry before it, times
   that never go back; then the RFC 9162 root recomputed from the right edge of the tree
   kept in STATE and the new entries must be the checkpoint's root (old entries are never
   fetched again). Without a token the entries are not checked (said in the report);
4. checks the anchors the server holds for the checkpoints it has seen
   (``GET /v1/log/checkpoints/{size}``): the witness cosignatures against the trust file's
   quorum, and every RFC 3161 token judged as ``verify_bundle.py`` judges one (a damaged or
   altered token, or one over another checkpoint, is a problem; a token whose chain ends at
   a root nobody pinned is skipped and named); then the newest timestamped and newest
   cosigned checkpoints the server names (``GET /v1/log/checkpoint/anchored``), each proved
   consistent with the verified one and judged the same way. A checkpoint counts as
   anchored when a verified checkpoint at least as large has a token that verified and one
   (maybe another) has the quorum (a policy with no quorum, or no TSA root pinned, needs
   none of that kind): under steady load most checkpoints are superseded before anyone
   anchors them, and a later anchored one covers their entries. One still not anchored
   ``--anchor-grace`` seconds after this script first saw it is a MISSING ANCHOR;
5. reports the entries about the watched evidence ids and file SHA-256s (submissions,
   retrievals, grants, purges: every entry whose body names the id, or whose files list or
   ``sha256`` names the hash; an item found by a file hash is watched by id from then on);
6. writes the new verified state to STATE atomically (a temporary file, then a rename). It
   names the log's origin and key: a state file of another log is refused. After a fork, a
   rollback, a bad proof or bad entries the state is left as it was, and the two signed
   checkpoints that contradict each other are written beside it (``STATE.fork-<time>.json``):
   the log's own signatures prove the fork to anyone.

Exit status:
  0  everything new verified (anchors still within the grace period are named, not a fault)
  1  a problem was found: fork, rollback, bad-proof, bad-checkpoint, bad-entries,
     bad-anchor, missing-anchor (the kind is the first word of the message and "problem" in
     the JSON report)
  2  usage: bad options, an unreadable or altered trust file (``--trust-sha256``), a state
     file that is damaged or of another log, an unreadable token file
  3  the server could not be reached or read: connection refused, time-out, an HTTP error,
     an answer that is not what the API documents (garbage), a refused token; or another
     run holds STATE's lock. Nothing was judged: run again later

One line on stdout says what was verified or what was found (``--json``: one JSON object);
progress goes to stderr during long catch-ups unless ``--quiet``, which also keeps a clean
run silent (for cron mail: only problems and watched entries are printed).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import fcntl
import hashlib
import http.client
import importlib.util
import itertools
import json
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any


def _load_verify_bundle() -> Any:
    """verify_bundle.py from this script's directory (not whatever sys.path offers)."""
    mod = sys.modules.get("verify_bundle")
    if mod is not None:
        return mod
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "verify_bundle.py")
    spec = importlib.util.spec_from_file_location("verify_bundle", path)
    if spec is None or spec.loader is None or not os.path.isfile(path):
        sys.exit(f"monitor_log.py: {path} is missing; keep verify_bundle.py beside this script")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["verify_bundle"] = mod
    spec.loader.exec_module(mod)
    return mod


vb = _load_verify_bundle()

OK, PROBLEM, USAGE, SERVER = 0, 1, 2, 3
STATE_FORMAT = "evidence-monitor-state/v1"
EMPTY_ROOT = hashlib.sha256(b"").digest()
PAGE = 1000  # entries per request: the API's largest page
MAX_NOTE = 1 << 20
MAX_JSON = 64 << 20  # a page of 1000 entries of at most 1 MiB each is far below this
MAX_PENDING = 32  # checkpoints seen and not yet anchored that a state remembers
TIMEOUT = 60.0
HEX64 = re.compile(r"\A[0-9a-f]{64}\Z")


class Found(Exception):
    """A problem with the log itself (exit 1). ``kind`` is a stable word; ``evidence`` holds
    what proves it (signed notes, a proof), written beside the state for a fork."""

    def __init__(self, kind: str, message: str, evidence: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.evidence = evidence


class Usage(Exception):
    """The caller's input is unusable (exit 2); nothing was fetched or written."""


class Unreachable(Exception):
    """The server could not be reached or its answer read (exit 3); nothing was judged."""


# ==== the Merkle tree: a right edge and RFC 9162 consistency proofs =======================

def edge_append(edge: list[bytes], size: int, leaf: bytes) -> None:
    """The right edge of a tree of ``size`` leaves (the roots of its perfect subtrees, the
    largest first: one per set bit of ``size``) becomes that of ``size + 1``."""
    h, n = leaf, size
    while n & 1:
        h = vb.node_hash(edge.pop(), h)
        n >>= 1
    edge.append(h)


def edge_root(edge: list[bytes]) -> bytes:
    """RFC 9162 root from the right edge: the subtrees joined from the right."""
    if not edge:
        return EMPTY_ROOT
    r = edge[-1]
    for h in reversed(edge[:-1]):
        r = vb.node_hash(h, r)
    return r


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes,
                       proof: list[bytes]) -> bool:
    """RFC 9162 section 2.1.4.2, step by step as the RFC states it. True when the proof
    shows that the tree of ``size2`` with ``root2`` extends the one of ``size1``/``root1``.
    As evidence.verify.merkle and transparency-dev/merkle's vectors
    (tests/auditor/test_vectors_scripts.py): no proof from the empty tree (size1 0:
    the callers need none); equal sizes compare the roots as given."""
    if not 0 < size1 <= size2 or any(len(p) != 32 for p in proof):
        return False
    if size1 == size2:
        return not proof and root1 == root2
    if not proof:
        return False
    if size1 & (size1 - 1) == 0:  # a power of two: the old root is the first node
        proof = [root1, *proof]
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = vb.node_hash(c, fr)
            sr = vb.node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = vb.node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == root1 and sr == root2


# ==== the state file =====================================================================

@dataclass
class State:
    origin: str
    log_key: str
    size: int
    root: bytes
    note: str  # the last verified checkpoint, as signed: half of the proof of any fork
    entries_size: int | None = None  # entries verified up to here (None: never)
    edge: list[bytes] = field(default_factory=list)
    last_leaf: str = "0" * 64
    last_time: str = ""
    anchored_size: int = 0
    timestamped_size: int = 0  # the newest verified checkpoint with a token that verified
    cosigned_size: int = 0  # the newest verified checkpoint with the quorum
    pending: list[dict[str, Any]] = field(default_factory=list)  # {size, root, first_seen}
    watched_ids: dict[str, list[str]] = field(default_factory=dict)  # sha256 -> ids found
    key_entries: list[dict[str, Any]] = field(default_factory=list)  # {seq, type, body}

    def to_json(self, url: str) -> dict[str, Any]:
        return {"format": STATE_FORMAT, "origin": self.origin, "log_key": self.log_key,
                "url": url, "size": self.size, "root": self.root.hex(), "checkpoint": self.note,
                "entries": None if self.entries_size is None else {
                    "size": self.entries_size, "edge": [h.hex() for h in self.edge],
                    "last_leaf": self.last_leaf, "last_time": self.last_time},
                "anchors": {"anchored_size": self.anchored_size,
                            "timestamped_size": self.timestamped_size,
                            "cosigned_size": self.cosigned_size, "pending": self.pending},
                "watch": {"ids_by_sha256": self.watched_ids},
                "key_entries": self.key_entries,
                "written_at": now_text()}


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_state(path: str, trust: Any) -> State | None:
    """STATE as written by :func:`write_state`, or None when there is none yet. Its
    checkpoint is verified again with the pinned keys, so an edited state is refused."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_JSON + 1)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise Usage(f"cannot read the state file {path}: {e.strerror}") from None
    try:
        doc = json.loads(data)
        if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT:
            raise ValueError(f"not {STATE_FORMAT}")
        origin, log_key, note = doc["origin"], doc["log_key"], doc["checkpoint"]
        if not all(isinstance(v, str) for v in (origin, log_key, note)):
            raise ValueError("origin, log_key and checkpoint are text")
        key_entries = doc.get("key_entries", [])  # absent in states written before rotation
        if not isinstance(key_entries, list) or not all(
                isinstance(e, dict) and set(e) == {"seq", "type", "body"} for e in key_entries):
            raise ValueError("key_entries is a list of {seq, type, body}")
        try:
            known = trust_after(trust, key_entries).log_keys
        except Found as e:
            raise ValueError(str(e)) from None
        if not any(k.text == log_key for k in known):
            raise Usage(f"the state file {path} is of the log {origin[:80]!r} with key "
                        f"{log_key[:120]}, which the trust file does not pin: a state file of "
                        "another log (give each log its own state file)")
        key = vb.parse_key(log_key)  # and the ML-DSA-44 key, required from its first size
        pq = [k for k in known if k.alg == vb.ALG_MLDSA44 and k.name == key.name]
        cp = vb.verify_checkpoint(note.encode(), [key, *pq], [])
        if cp.origin != origin or cp.size != doc["size"] or cp.root.hex() != doc["root"]:
            raise ValueError("its size and root are not those of its checkpoint")
        st = State(origin, log_key, cp.size, cp.root, note)
        st.key_entries = key_entries
        ent = doc["entries"]
        if ent is not None:
            st.entries_size = _count(ent["size"])
            st.edge = [bytes.fromhex(_hex(h)) for h in ent["edge"]]
            if len(st.edge) != st.entries_size.bit_count():
                raise ValueError("the tree edge does not fit its size")
            if st.entries_size > st.size:
                raise ValueError("entries verified past the verified checkpoint")
            if st.entries_size == st.size and edge_root(st.edge) != st.root:
                raise ValueError("its tree edge does not make its checkpoint's root")
            st.last_leaf, st.last_time = _hex(ent["last_leaf"]), str(ent["last_time"])
        anchors = doc["anchors"]
        st.anchored_size = _count(anchors["anchored_size"])
        # states written before these were kept: both at least the anchored size
        st.timestamped_size = _count(anchors.get("timestamped_size", st.anchored_size))
        st.cosigned_size = _count(anchors.get("cosigned_size", st.anchored_size))
        for p in anchors["pending"]:
            st.pending.append({"size": _count(p["size"]), "root": _hex(p["root"]),
                               "first_seen": float(p["first_seen"])})
        ids = doc["watch"]["ids_by_sha256"]
        st.watched_ids = {_hex(k): [str(i) for i in v] for k, v in ids.items()}
        return st
    except Usage:
        raise
    except vb.Fail as e:
        raise Usage(f"the state file {path} is damaged: its checkpoint does not verify "
                    f"({e})") from None
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
        raise Usage(f"the state file {path} is damaged or not a monitor state "
                    f"({type(e).__name__}: {str(e)[:120]}); move it away to start afresh"
                    ) from None


def _count(v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise ValueError("a size is a non-negative integer")
    return v


def _hex(v: Any) -> str:
    if not isinstance(v, str) or not HEX64.match(v):
        raise ValueError("a hash is 64 lowercase hex digits")
    return v


# ==== the log's keys: following a rotation (docs/formats.md "Log key rotation") ===========

def key_windows(trust: Any, key_entries: list[dict[str, Any]]) -> list[Any]:
    """The log's keys with their windows, as its ``key.*`` entries (checked by
    ``verify_bundle.follow_key_entry``) make them, from the first rotation's old key,
    which the trust file must pin; [] before any. Raises :class:`Found` for an entry
    that breaks the rules."""
    key_entries = [e for e in key_entries if e["type"] in (vb.KEY_ROTATED, vb.KEY_REVOKED)]
    if not key_entries:
        return []
    first = key_entries[0]
    old = first["body"].get("old_key") if isinstance(first["body"], dict) else None
    pinned = [k for k in trust.log_keys if (k.text == old if first["type"] == vb.KEY_ROTATED
                                            else k.window is None)]
    if not pinned:
        raise Found("bad-entries", f"BAD ENTRIES: entry {first['seq']}: key.rotated's old key "
                    "is not a log key the trust file pins")
    wins = [vb.KeyWindow(replace(pinned[0], window=None), 0, None)]
    for e in key_entries:
        try:
            vb.follow_key_entry(wins, e["seq"], e["type"], e["body"])
        except vb.Fail as err:
            raise Found("bad-entries", f"BAD ENTRIES: {err}") from None
    return wins


def effective_trust(trust: Any, wins: list[Any]) -> Any:
    """The trust file's log keys, each pinned key's window narrowed to what the log's own
    key entries allow (a revocation the trust file does not know yet refuses too), and
    the keys the log rotated to, from their first size: a key is followed only through a
    key.rotated entry the key before it signed, in a log whose entries were verified."""
    if not wins:
        return trust
    by_text = {w.key.text: w for w in wins}
    out = []
    for k in trust.log_keys:
        w = by_text.pop(k.text, None)
        if w is not None and w.until_size is not None:
            lo, hi = k.window or (0, w.until_size)
            k = replace(k, window=(lo, min(hi, w.until_size)))
        out.append(k)
    out.extend(w.pinned for w in wins if w.key.text in by_text)
    return replace(trust, log_keys=out)


MLDSA_ADDED = vb.KEY_MLDSA_ADDED


def mldsa_keys(trust: Any, key_entries: list[dict[str, Any]], wins: list[Any]) -> list[Any]:
    """The log's ML-DSA-44 key from its ``key.mldsa_added`` entry (docs/formats.md
    "ML-DSA-44 signatures"), with its window from ``from_size``: required from then on,
    as a ``#@ log-mldsa`` line would make it. The entry is checked by
    ``verify_bundle.mldsa_added_key`` (the rules of evidence/ledger/pq_key.py, shared with
    audit_ledger.py; tests/auditor/test_monitor_mldsa.py), ``log_key`` one of the log's
    Ed25519 keys, pinned or rotated to. Raises :class:`Found` for an entry that breaks
    them."""
    ed = [k for k in trust.log_keys if k.alg == vb.ALG_ED25519] + [w.key for w in wins]
    try:
        added = vb.mldsa_added_key([(e["seq"], e["type"], e["body"]) for e in key_entries],
                                   ed)
    except vb.NoMLDSA as e:
        raise Usage(str(e)) from None
    except vb.Fail as e:
        raise Found("bad-entries", f"BAD ENTRIES: {e}") from None
    return [] if added is None else [added[1]]


def trust_after(trust: Any, key_entries: list[dict[str, Any]]) -> Any:
    """The trust the log's own key entries (read and checked before) make of the trust
    file: rotations and revocations (:func:`effective_trust`) and the ML-DSA-44 key the
    log added, required from its first size beside any the trust file pins."""
    wins = key_windows(trust, key_entries)
    eff = effective_trust(trust, wins)
    pq = [k for k in mldsa_keys(trust, key_entries, wins)
          if not any(p.text == k.text and p.window == k.window for p in eff.log_keys)]
    return replace(eff, log_keys=[*eff.log_keys, *pq]) if pq else eff


def check_overlap(note: bytes, size: int, wins: list[Any]) -> None:
    """A checkpoint inside a rotation's overlap (``from_size`` .. the old key's last size)
    carries both keys' signatures (docs/formats.md): holders of the old trust file and of
    the new one must both be able to check it."""
    for old, new in itertools.pairwise(wins):
        if old.until_size is not None and new.from_size <= size <= old.until_size:
            for k in (old.key, new.key):
                try:
                    vb.verify_checkpoint(note, [k], [])
                except vb.Fail:
                    raise Found("bad-checkpoint", f"the checkpoint of size {size} is inside "
                                f"the overlap {new.from_size}..{old.until_size} of the rotation "
                                f"at entry {new.seq} but has no valid signature by "
                                f"{k.name}+{k.key_id:08x}; both keys sign it",
                                {"checkpoint": note.decode("utf-8", "replace")}) from None


def unverified_checkpoint(note: bytes) -> Any | None:
    """origin, size and root of a note's text before any signature is checked: only to know
    which entries to read when following a rotation (the note is verified afterwards)."""
    try:
        origin, size, root = note.split(b"\n\n", 1)[0].decode().split("\n")[:3]
        if not vb.WINDOW_SIZE.match(size):
            return None
        return vb.Checkpoint("", origin, int(size), base64.b64decode(root, validate=True), [])
    except (ValueError, UnicodeDecodeError, binascii.Error):
        return None


def write_state(path: str, state: State, url: str) -> None:
    """Write then rename in the same directory: a reader (or the next run after a crash)
    sees the old state or the new one, never half of one."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".monitor-state-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(state.to_json(url), f, ensure_ascii=False, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # the rename itself made durable
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def save_evidence(state_path: str, found: Found) -> str | None:
    """The signed notes that contradict each other, beside the state, for whoever must be
    shown the fork (they need nothing but the log's public key to check it)."""
    if not found.evidence:
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = f"{state_path}.{found.kind}-{stamp}.json"
    try:
        with open(out, "x", encoding="utf-8") as f:
            json.dump({"problem": found.kind, "message": str(found), **found.evidence}, f,
                      ensure_ascii=False, indent=1)
            f.write("\n")
    except OSError:
        return None
    return out


# ==== HTTP ===============================================================================

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer like any other (HTTP 3xx, exit 3): following it would send
    the auditor's token to wherever the server points."""

    def redirect_request(self, *args: Any, **kw: Any) -> None:
        return None


class Api:
    """The public API of ``evidence serve``: every answer checked for the shape the API
    documents; anything else is :class:`Unreachable` (the server is broken or is not one)."""

    def __init__(self, base: str, token: str | None) -> None:
        self.base = base.rstrip("/")
        self.token = token
        self.requests = 0
        self.opener = urllib.request.build_opener(_NoRedirect)

    def get(self, path: str, *, auth: bool = False, limit: int = MAX_JSON,
            allow: tuple[int, ...] = ()) -> tuple[int, bytes]:
        headers = {"User-Agent": "evidence-monitor_log/1", "Accept": "*/*"}
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        url = self.base + path
        for attempt in range(6):
            self.requests += 1
            try:
                req = urllib.request.Request(url, headers=headers)
                with self.opener.open(req, timeout=TIMEOUT) as r:
                    body = r.read(limit + 1)
                    status = r.status
            except urllib.error.HTTPError as e:
                status = e.code
                try:
                    body = e.read(1 << 16)
                except (OSError, http.client.HTTPException):
                    body = b""
                retry = e.headers.get("Retry-After") if e.headers else None
                if status in (429, 503) and attempt < 5:
                    time.sleep(_retry_after(retry))
                    continue
            except (urllib.error.URLError, OSError, http.client.HTTPException,
                    ValueError) as e:
                reason = getattr(e, "reason", None) or e
                raise Unreachable(f"cannot reach {url}: {_one_line(str(reason))}") from None
            if len(body) > limit:
                raise Unreachable(f"{url} answered more than {limit} bytes")
            if status != 200 and status not in allow:
                raise Unreachable(f"{url} answered HTTP {status}{_problem_code(body)}")
            return status, body
        raise Unreachable(f"{url} is still busy (HTTP 429/503) after 5 retries")

    def json(self, path: str, **kw: Any) -> dict[str, Any]:
        _, body = self.get(path, **kw)
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):
            raise Unreachable(f"{self.base}{path} did not answer JSON (garbage: "
                              f"{_preview(body)})") from None
        if not isinstance(doc, dict):
            raise Unreachable(f"{self.base}{path} did not answer a JSON object")
        return doc


def _retry_after(value: str | None) -> float:
    try:
        return min(60.0, max(0.5, float(value or 1)))
    except ValueError:
        return 1.0


def _problem_code(body: bytes) -> str:
    try:
        doc = json.loads(body)
        code = doc.get("code") if isinstance(doc, dict) else None
    except (ValueError, RecursionError):
        code = None
    return f" ({str(code)[:60]})" if code else ""


def _preview(body: bytes) -> str:
    return repr(body[:40])[:60] + ("..." if len(body) > 40 else "")


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


def field_of(doc: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    v = doc.get(name)
    if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
        raise Unreachable(f"{where}: the field {name!r} is missing or not what the API "
                          "documents (garbage)")
    return v


# ==== one run ============================================================================

@dataclass
class Report:
    url: str
    log: str = ""
    previous: dict[str, Any] | None = None
    checkpoint: dict[str, Any] | None = None
    entries: dict[str, Any] = field(default_factory=lambda: {"checked": False})
    anchors: dict[str, Any] = field(default_factory=dict)
    watch: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problem: str | None = None
    message: str = ""
    evidence_file: str | None = None
    state_written: bool = False

    def to_json(self, status: int) -> dict[str, Any]:
        return {"ok": status == OK, "exit": status, "problem": self.problem,
                "message": self.message, "url": self.url, "log": self.log,
                "previous": self.previous, "checkpoint": self.checkpoint,
                "entries": self.entries, "anchors": self.anchors, "watch": self.watch,
                "notes": self.notes, "evidence_file": self.evidence_file,
                "state_written": self.state_written}


class Progress:
    def __init__(self, quiet: bool, total: int) -> None:
        self.quiet, self.total, self.last, self.start = quiet, total, 0.0, time.monotonic()

    def show(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if self.quiet or self.total < 10 * PAGE or (not final and now - self.last < 2.0):
            return
        self.last = now
        rate = done / max(now - self.start, 1e-6)
        print(f"monitor_log.py: entries {done:,}/{self.total:,} ({100 * done // self.total}%, "
              f"{rate:,.0f}/s)", file=sys.stderr, flush=True)


@dataclass
class Watch:
    ids: set[str]
    sha256s: set[str]
    found_ids: dict[str, list[str]]  # sha256 -> ids, carried in the state

    def match(self, e: Any, leaf: str) -> dict[str, Any] | None:
        body = e.body
        ev = body.get("evidence_id") if isinstance(body.get("evidence_id"), str) else None
        hashes = {body.get("sha256")} | {f.get("sha256") for f in body.get("files") or []
                                         if isinstance(f, dict)}
        hit_sha = sorted(h for h in hashes if isinstance(h, str) and h in self.sha256s)
        for h in hit_sha:
            if ev is not None and ev not in self.found_ids.setdefault(h, []):
                self.found_ids[h].append(ev)
        known = self.ids | {i for h in self.sha256s for i in self.found_ids.get(h, [])}
        if not hit_sha and (ev is None or ev not in known):
            return None
        return {"seq": e.seq, "type": e.type, "time": e.time, "evidence_id": ev,
                "leaf_hash": leaf, "matched_sha256": hit_sha, "body": body}


def verify_note(note: bytes, trust: Any, where: str) -> Any:
    if b"\n\n" not in note[:MAX_NOTE] or "\u2014 ".encode() not in note:
        raise Unreachable(f"{where} is not a signed note (garbage: {_preview(note)})")
    try:
        return vb.verify_checkpoint(note, trust.log_keys, list(trust.witnesses.values()))
    except vb.Fail as e:
        raise Found("bad-checkpoint", f"the checkpoint served at {where} does not verify "
                    f"with the pinned log key: {e}", {"checkpoint": note.decode("utf-8",
                                                                               "replace")}
                    ) from None


def run(args: argparse.Namespace, trust: Any, token: str | None, report: Report) -> int:
    api = Api(args.url, token)
    state = read_state(args.state, trust)
    base = api.base

    # 1. the latest checkpoint, signed by the pinned log key
    status, note = api.get("/v1/log/checkpoint", limit=MAX_NOTE, allow=(404,))
    if status == 404:
        if state is not None and state.size > 0:
            raise Found("rollback", f"ROLLBACK: the server has no checkpoint now; size "
                        f"{state.size} was verified before", {"verified": state.note})
        report.message = "the log has no signed checkpoint yet: nothing to verify"
        return OK
    eff = trust if state is None else trust_after(trust, state.key_entries)
    where = base + "/v1/log/checkpoint"
    followed = first_run = False
    try:
        cp = verify_note(note, eff, where)
    except Found as e:  # maybe the log rotated its key: follow it through its entries
        ucp = unverified_checkpoint(note)
        start = state if state is not None or ucp is None else State(  # a first run: from
            ucp.origin, "", 0, EMPTY_ROOT, "", entries_size=0)            # entry 0
        cp, eff = follow_rotation(api, start, note, trust, token, args, report, e)
        followed, first_run, state = True, state is None, start
    report.log = cp.origin
    report.checkpoint = {"size": cp.size, "root": cp.root.hex()}
    if state is not None and not first_run:
        report.previous = {"size": state.size, "root": state.root.hex()}
        if cp.origin != state.origin:
            raise Usage(f"the state file {args.state} is of the log {state.origin!r}, but "
                        f"{base} serves the log {cp.origin!r}: a state file of another log")
    key = next(k for k in sorted(eff.log_keys, key=lambda k: k.window is not None)
               if k.name == cp.origin and k.alg == vb.ALG_ED25519)
    new_note = note.decode("utf-8")
    if state is None:
        state = State(cp.origin, key.text, 0, EMPTY_ROOT, "")
        fresh = True
    else:
        fresh = first_run
    contradiction = {"verified": state.note, "served": new_note}

    # 2. never smaller, never another root at the same size, and a consistency proof
    if cp.size < state.size:
        raise Found("rollback", f"ROLLBACK: the log now shows size {cp.size}, smaller than "
                    f"the size {state.size} verified before (root "
                    f"{state.root.hex()[:16]}...)", contradiction)
    if cp.size == state.size and cp.root != state.root:
        raise Found("fork", f"FORK: the log signed two roots for size {cp.size}: "
                    f"{state.root.hex()[:16]}... verified before, {cp.root.hex()[:16]}... now",
                    contradiction)
    proof_ok: bool | None = None
    proof_doc: dict[str, Any] = {}
    if not fresh and 0 < state.size < cp.size:
        path = f"/v1/log/proof/consistency?size1={state.size}&size2={cp.size}"
        proof_doc = api.json(path)
        where = base + path
        hashes = field_of(proof_doc, "proof", list, where)
        if field_of(proof_doc, "size1", int, where) != state.size or \
                field_of(proof_doc, "size2", int, where) != cp.size:
            raise Unreachable(f"{where} answered a proof for other sizes (garbage)")
        try:
            proof = [vb.hash_from_hex(h, "a consistency proof hash") for h in hashes]
        except vb.Fail as e:
            raise Found("bad-proof", f"BAD PROOF: the consistency proof from {state.size} to "
                        f"{cp.size} is malformed: {e}") from None
        proof_ok = verify_consistency(state.size, cp.size, state.root, cp.root, proof)
        contradiction["consistency_proof"] = proof_doc

    # 3. the new entries, from the stored right edge of the tree
    entries_ok: bool | None = None
    if followed:
        entries_ok = True  # read and checked by follow_rotation, up to cp
    elif token:
        known = len(state.key_entries)
        entries_ok = check_entries(api, state, cp, args, report, trust)
        if entries_ok and len(state.key_entries) > known:  # a key entry: verified again
            eff = trust_after(trust, state.key_entries)
            cp = verify_note(note, eff, where)
    else:
        report.entries = {"checked": False, "why": "no token (--token-file or "
                          "$EVIDENCE_TOKEN): the entries are not read"}
        report.notes.append("entries not checked: no auditor token")
    if proof_ok is False:
        if entries_ok:
            raise Found("bad-proof", f"BAD PROOF: the server's consistency proof from size "
                        f"{state.size} to {cp.size} does not verify, although the entries "
                        "it serves do make the signed root", contradiction)
        raise Found("fork", f"FORK: the checkpoint of size {cp.size} (root "
                    f"{cp.root.hex()[:16]}...) does not extend the one verified before (size "
                    f"{state.size}, root {state.root.hex()[:16]}...): the consistency proof "
                    "fails", contradiction)
    if entries_ok is False:  # the proof (if any) held: the entries endpoint is what lies
        raise Found("bad-entries", f"BAD ENTRIES: the entries served from "
                    f"{report.entries.get('start')} do not make the root "
                    f"{cp.root.hex()[:16]}... signed for size {cp.size}", contradiction)

    wins = key_windows(trust, state.key_entries)
    check_overlap(note, cp.size, wins)
    if wins and state.log_key != wins[-1].key.text:  # signed by the key now signing
        state.log_key = wins[-1].key.text
        w = wins[-1]
        report.notes.append(f"the log rotated its key at entry {w.seq} (from size "
                            f"{w.from_size}) to {w.key.text}, which this monitor now follows; "
                            "get the operator's new trust file")
    pq = [k for k in mldsa_keys(trust, state.key_entries, wins)
          if not any(p.text == k.text for p in trust.log_keys)]
    if pq:
        report.notes.append(f"the log added an ML-DSA-44 key, required from size "
                            f"{pq[0].window[0]} on: {pq[0].text[:80]}..., which this monitor "
                            "now requires; get the operator's new trust file (#@ log-mldsa)")
    revoked = [w for w in wins if w.revoked]
    if revoked:
        report.notes.append("revoked log keys (refused past their size): " + ", ".join(
            f"{w.key.name}+{w.key.key_id:08x} after {w.until_size}" for w in revoked))

    # 4. anchors: cosignature quorum and RFC 3161 tokens, for the checkpoints seen
    state.size, state.root, state.note = cp.size, cp.root, new_note
    missing = check_anchors(api, state, cp, eff, args, report)

    # 5. record the verified state (also after a missing anchor: what verified holds)
    write_state(args.state, state, base)
    report.state_written = True
    if missing:
        raise Found("missing-anchor", missing)
    how = (f"{report.entries['count']} new entries checked" if report.entries.get("checked")
           else "entries not checked")
    grown = (f"size {report.previous['size']} -> {cp.size}" if report.previous
             else f"size {cp.size}, first run")
    report.message = f"OK: {cp.origin} {grown}, consistent; {how}; {report.anchors['summary']}"
    return OK


def follow_rotation(api: Api, state: State | None, note: bytes, trust: Any, token: str | None,
                    args: argparse.Namespace, report: Report, failed: Found
                    ) -> tuple[Any, Any]:
    """The served checkpoint does not verify with the keys known: if the entries up to it
    (read with the token, from the verified state's tree) hold a key.rotated signed by the
    key then current, and the new key signed this checkpoint over the root those entries
    make, the rotation is followed. Otherwise the first failure stands, with a hint."""
    ucp = unverified_checkpoint(note)
    if state is None or not token or state.entries_size != state.size or ucp is None \
            or ucp.origin != state.origin or ucp.size <= state.size:
        if "no signature by a pinned key" in str(failed) or "not signed by" in str(failed):
            failed.args = (f"{failed} (if the log rotated its key: give the monitor a token "
                           "to follow it through the log's key.rotated entry, or use the "
                           "operator's new trust file)",)
        raise failed
    known = len(state.key_entries)
    saved = (state.entries_size, list(state.edge), state.last_leaf, state.last_time)
    try:
        ok = check_entries(api, state, ucp, args, report, trust)
    except Unreachable:  # the unverified size is not the log's: the signature failure stands
        ok = False
    if not ok or len(state.key_entries) == known:
        state.entries_size, state.edge, state.last_leaf, state.last_time = saved
        del state.key_entries[known:]
        raise failed
    eff = trust_after(trust, state.key_entries)
    return verify_note(note, eff, api.base + "/v1/log/checkpoint"), eff


def check_entries(api: Api, state: State, cp: Any, args: argparse.Namespace,
                  report: Report, trust: Any) -> bool:
    """Entries ``state.entries_size`` .. ``cp.size - 1`` through the chain and tree checks,
    folded into the state's right edge. False when they do not make ``cp``'s root (the
    caller decides whether that is a fork); raises :class:`Found` for an entry that is
    itself wrong."""
    start = state.entries_size or 0
    if state.entries_size is None:
        state.edge, state.last_leaf, state.last_time = [], "0" * 64, ""
    edge, size, last_leaf, last_time = list(state.edge), start, state.last_leaf, state.last_time
    keys = list(state.key_entries)
    watch = Watch(set(args.watch_id), {h.lower() for h in args.watch_sha256},
                  {k: list(v) for k, v in state.watched_ids.items()})
    progress = Progress(args.quiet, cp.size - start)
    pages, hits = 0, []
    where_base = api.base + "/v1/log/entries"
    while size < cp.size:
        path = f"/v1/log/entries?start={size}&limit={min(PAGE, cp.size - size)}"
        doc = api.json(path, auth=True)
        pages += 1
        rows = field_of(doc, "entries", list, where_base)
        if not rows:
            raise Unreachable(f"{where_base} gave no entries from {size}, but the log signed "
                              f"size {cp.size}")
        for row in rows:
            if size >= cp.size:
                break
            if not isinstance(row, dict):
                raise Unreachable(f"{where_base}: an entry is not a JSON object (garbage)")
            seq = field_of(row, "seq", int, where_base)
            leaf_hex = field_of(row, "leaf_hash", str, where_base)
            try:
                data = base64.b64decode(field_of(row, "entry_b64", str, where_base),
                                        validate=True)
            except (binascii.Error, ValueError):
                raise Unreachable(f"{where_base}: entry {seq} is not base64 (garbage)") from None
            if seq != size:
                raise Found("bad-entries", f"BAD ENTRIES: asked for entry {size}, the server "
                            f"sent entry {seq}")
            leaf = vb.leaf_hash(data)
            if leaf.hex() != leaf_hex:
                raise Found("bad-entries", f"BAD ENTRIES: entry {seq}'s leaf hash is not "
                            "SHA-256(0x00 || its bytes)")
            try:
                e = vb.parse_entry(data)
            except vb.Fail as err:
                raise Found("bad-entries", f"BAD ENTRIES: entry {seq}: {err}") from None
            if e.seq != seq:
                raise Found("bad-entries", f"BAD ENTRIES: entry {seq} says seq {e.seq}")
            if e.prev != last_leaf:
                report.entries = {"checked": True, "start": start, "end": seq, "pages": pages,
                                  "count": seq - start, "root": ""}
                if seq == start and start > 0:  # the new entries hang off another history
                    return False
                raise Found("bad-entries", f"BAD ENTRIES: entry {seq}'s prev is not the leaf "
                            f"hash of entry {seq - 1}")
            if e.time < last_time:
                raise Found("bad-entries", f"BAD ENTRIES: entry {seq}'s time {e.time} is "
                            f"before entry {seq - 1}'s {last_time}")
            if e.type in (vb.KEY_ROTATED, vb.KEY_REVOKED, MLDSA_ADDED):
                keys.append({"seq": seq, "type": e.type, "body": e.body})
                trust_after(trust, keys)  # Found at once for an entry that breaks
            edge_append(edge, size, leaf)  # the rules
            size += 1
            last_leaf, last_time = leaf_hex, e.time
            hit = watch.match(e, leaf_hex)
            if hit is not None:
                hits.append(hit)
        progress.show(size - start)
    progress.show(size - start, final=True)
    root = edge_root(edge)
    report.entries = {"checked": True, "start": start, "end": cp.size, "count": cp.size - start,
                      "pages": pages, "root": root.hex()}
    if root != cp.root:
        return False
    state.entries_size, state.edge, state.last_leaf, state.last_time = \
        cp.size, edge, last_leaf, last_time
    state.key_entries = keys
    state.watched_ids = watch.found_ids
    report.watch = hits
    return True


def check_anchors(api: Api, state: State, cp: Any, trust: Any, args: argparse.Namespace,
                  report: Report) -> str | None:
    """Judge the anchors of the new checkpoint and of those seen before and still pending,
    then of the newest anchored checkpoints the server names (``GET
    /v1/log/checkpoint/anchored``, each proved consistent with ``cp``). A checkpoint is
    anchored when a verified checkpoint at least as large has a token that verified and
    one (maybe another) has the quorum: that is how a checkpoint superseded before anyone
    anchored it, as most are under steady load, is told from one not anchored yet.
    Returns the missing-anchor message, if any; raises :class:`Found` for a bad anchor."""
    now = time.time()
    tsa_needed = bool(trust.tsa_roots or trust.store_roots)
    quorum_needed = trust.quorum is not None and bool(trust.witnesses)
    sizes = sorted({p["size"] for p in state.pending if p["size"] > state.anchored_size}
                   | {cp.size})
    roots = {p["size"]: p["root"] for p in state.pending}
    roots[cp.size] = cp.root.hex()
    judged: dict[int, dict[str, Any]] = {}
    for size in sizes:
        if size == 0:
            continue
        judged[size] = view = judge_anchors(api, size, roots[size], trust)
        _count_anchors(state, view)
    server: dict[str, Any] = {}
    if tsa_needed or quorum_needed:
        server = newest_anchored(api, state, cp, trust)
    state.anchored_size = max(state.anchored_size, min(
        state.timestamped_size if tsa_needed else cp.size,
        state.cosigned_size if quorum_needed else cp.size))
    # the wait runs from this monitor's first sight of a checkpoint, or from the time the
    # server says it signed it if that is earlier (a server can only make it look older)
    seen = {p["size"]: p["first_seen"] for p in state.pending}
    for s, v in judged.items():
        seen[s] = min(seen.get(s, now), v.get("created_at") or now)
    pending = [{"size": s, "root": roots[s], "first_seen": seen.get(s, now)}
               for s in sizes if s > state.anchored_size and s > 0]
    if len(pending) > MAX_PENDING:  # the oldest (the grace period runs from it) and the newest
        pending = [pending[0], *pending[-(MAX_PENDING - 1):]]
    state.pending = pending
    latest = judged.get(cp.size, {})
    report.anchors = {"anchored_size": state.anchored_size,
                      "timestamped_size": state.timestamped_size,
                      "cosigned_size": state.cosigned_size, "server": server,
                      "grace_seconds": args.anchor_grace,
                      "pending": [{"size": p["size"], "waiting_seconds": int(now - p["first_seen"])}
                                  for p in pending],
                      "latest": latest}
    if not pending:
        detail = latest.get("detail", "") if state.anchored_size == cp.size else (
            f" (newest timestamped {state.timestamped_size}, newest cosigned "
            f"{state.cosigned_size})")
        report.anchors["summary"] = (
            f"anchored at size {state.anchored_size}{detail}"
            if latest.get("checked") else "anchors not checked: the trust file pins no "
            "witness quorum and no TSA root")
        return None
    oldest = pending[0]
    waited = now - oldest["first_seen"]
    if waited >= args.anchor_grace:
        why = judged.get(oldest["size"], {}).get("missing") or "not anchored"
        return (f"MISSING ANCHOR: the checkpoint of size {oldest['size']}, first seen "
                f"{int(waited)} s ago, is still not anchored, nor is any later checkpoint "
                f"consistent with it ({why}; newest timestamped {state.timestamped_size}, "
                f"newest cosigned {state.cosigned_size}; grace {args.anchor_grace} s); last "
                f"anchored size {state.anchored_size}")
    report.anchors["summary"] = (f"size {oldest['size']} not anchored yet ({int(waited)} s of "
                                 f"the {args.anchor_grace} s grace); last anchored size "
                                 f"{state.anchored_size}")
    return None


def _count_anchors(state: State, view: dict[str, Any]) -> None:
    if view["time_ok"]:
        state.timestamped_size = max(state.timestamped_size, view["size"])
    if view["quorum_ok"]:
        state.cosigned_size = max(state.cosigned_size, view["size"])


ANCHORED_PATH = "/v1/log/checkpoint/anchored"


def newest_anchored(api: Api, state: State, cp: Any, trust: Any) -> dict[str, Any]:
    """The server's newest timestamped and newest cosigned checkpoints, each verified (the
    log's signature, an RFC 9162 consistency proof between it and ``cp``, its tokens and
    cosignatures judged as any other) and counted. A server without the endpoint (HTTP
    404) is named, not a fault: only the checkpoints this monitor saw count then."""
    where = api.base + ANCHORED_PATH
    status, body = api.get(ANCHORED_PATH, allow=(404,))
    if status == 404:
        return {"available": False}
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise Unreachable(f"{where} did not answer JSON (garbage: {_preview(body)})") from None
    if not isinstance(doc, dict):
        raise Unreachable(f"{where} did not answer a JSON object (garbage)")
    out: dict[str, Any] = {"available": True}
    for kind in ("timestamped", "cosigned"):
        v = doc.get(kind)
        if v is None:
            out[kind] = None
            continue
        if not isinstance(v, dict):
            raise Unreachable(f"{where}: the field {kind!r} is not what the API documents "
                              "(garbage)")
        note = field_of(v, "note", str, where).encode()
        acp = verify_note(note, trust, where)
        if acp.origin != cp.origin:
            raise Found("bad-anchor", f"BAD ANCHOR: {where} names a checkpoint of the log "
                        f"{acp.origin!r}, not {cp.origin!r}")
        if acp.size > 0:
            prove_consistent(api, cp, state.note, note, acp)
            view = judge_view(v, where, acp.size, acp.root.hex(), trust)
            _count_anchors(state, view)
        out[kind] = acp.size
    return out


def prove_consistent(api: Api, cp: Any, verified_note: str, note: bytes, other: Any) -> None:
    """``other`` (signed, any size) and the verified ``cp`` are of one history: the same
    root at the same size, else an RFC 9162 consistency proof between them. A FORK if not:
    the two signed notes prove it."""
    evidence = {"verified": verified_note, "served": note.decode("utf-8", "replace")}
    if other.size == cp.size:
        if other.root != cp.root:
            raise Found("fork", f"FORK: the log signed two roots for size {cp.size}: "
                        f"{cp.root.hex()[:16]}... and, as an anchored checkpoint, "
                        f"{other.root.hex()[:16]}...", evidence)
        return
    small, big = (other, cp) if other.size < cp.size else (cp, other)
    if small.size == 0:  # the empty tree is a prefix of every tree: no proof to ask for
        if small.root != EMPTY_ROOT:
            raise Found("fork", f"FORK: the log signed a root other than the empty tree's "
                        f"for size 0 ({small.root.hex()[:16]}...)", evidence)
        return
    path = f"/v1/log/proof/consistency?size1={small.size}&size2={big.size}"
    doc = api.json(path)
    hashes = field_of(doc, "proof", list, api.base + path)
    try:
        proof = [vb.hash_from_hex(h, "a consistency proof hash") for h in hashes]
    except vb.Fail as e:
        raise Found("bad-proof", f"BAD PROOF: the consistency proof from {small.size} to "
                    f"{big.size} is malformed: {e}") from None
    if not verify_consistency(small.size, big.size, small.root, big.root, proof):
        raise Found("fork", f"FORK: the anchored checkpoint of size {other.size} (root "
                    f"{other.root.hex()[:16]}...) and the verified one of size {cp.size} "
                    "are not of one history: the consistency proof fails",
                    {**evidence, "consistency_proof": doc})


def judge_anchors(api: Api, size: int, root_hex: str, trust: Any) -> dict[str, Any]:
    path = f"/v1/log/checkpoints/{size}"
    return judge_view(api.json(path), api.base + path, size, root_hex, trust)


def judge_view(doc: dict[str, Any], where: str, size: int, root_hex: str, trust: Any
               ) -> dict[str, Any]:
    """The anchors of one checkpoint view (as ``/v1/log/checkpoints/{size}`` answers) of
    the checkpoint verified as ``size`` and ``root_hex``."""
    note = field_of(doc, "note", str, where).encode()
    cp = verify_note(note, trust, where)
    if cp.size != size or cp.root.hex() != root_hex:
        raise Found("fork", f"FORK: {where} serves root {cp.root.hex()[:16]}... for size "
                    f"{size}; {root_hex[:16]}... was verified for that size",
                    {"verified_root": root_hex, "served": note.decode("utf-8", "replace")})
    # cosignatures: the note with every cosignature line, checked by the pinned keys
    cosigned_text = field_of(doc, "cosigned_note", str, where).encode()
    names_of = {(k.name, k.key_id): n for n, k in trust.witnesses.items()}
    try:
        ccp = vb.verify_checkpoint(cosigned_text, trust.log_keys, list(trust.witnesses.values()))
    except vb.Fail as e:
        raise Found("bad-anchor", f"BAD ANCHOR: the cosigned checkpoint of size {size} does "
                    f"not verify: {e}") from None
    if ccp.text != cp.text:
        raise Found("bad-anchor", f"BAD ANCHOR: the cosigned note of size {size} is not over "
                    "the checkpoint")
    cosigned = sorted({names_of[w] for w, _ in ccp.cosigners if w in names_of})
    quorum_needed = trust.quorum is not None and bool(trust.witnesses)
    quorum_ok = not quorum_needed or trust.satisfied(trust.quorum, set(cosigned))
    # RFC 3161 tokens, each judged in the three steps of docs/verdict.md section 1
    tokens = field_of(doc, "timestamps", list, where)
    roots = [c for _, c in trust.tsa_roots]
    verified, skipped, bad = [], [], []
    for i, t in enumerate(tokens):
        b64 = t.get("token_b64") if isinstance(t, dict) else None
        try:
            der = base64.b64decode(b64 or "", validate=True)
        except (binascii.Error, ValueError):
            der = b""
        if not der:
            bad.append(f"token {i}: not base64 DER")
            continue
        try:
            v = vb.verify_timestamp(der, cp.text.encode(), roots, trust.store_roots)
            verified.append({"tsa": v.tsa, "gen_time": v.gen_time.isoformat()})
        except vb.Untrusted as e:
            skipped.append(e.tsa or f"token {i}")
        except vb.Fail as e:
            bad.append(f"token {i}: {e}")
        except Exception:  # a certificate cryptography cannot read, and the like
            bad.append(f"token {i}: damaged and cannot be read")
    if bad:
        raise Found("bad-anchor", f"BAD ANCHOR: an RFC 3161 token served for the checkpoint "
                    f"of size {size} does not verify: {'; '.join(bad)[:200]}")
    tsa_needed = bool(roots or trust.store_roots)
    time_ok = not tsa_needed or bool(verified)
    missing = []
    if not quorum_ok:
        missing.append(f"witness quorum {trust.quorum!r} not met (cosigned by "
                       f"{', '.join(cosigned) or 'no pinned witness'})")
    if not time_ok:
        missing.append("no RFC 3161 token verified against a pinned root" +
                       (f" ({len(skipped)} by TSAs not pinned skipped: "
                        f"{', '.join(sorted(set(skipped)))[:100]})" if skipped else ""))
    detail = []
    if verified:
        first = min(verified, key=lambda v: v["gen_time"])
        detail.append(f"timestamped by {first['tsa'][:80]} at {first['gen_time']}")
    elif not tsa_needed:
        detail.append("timestamps not checked: no TSA root pinned")
    if skipped:
        detail.append(f"{len(skipped)} token(s) by TSAs not pinned skipped")
    if quorum_needed and quorum_ok:
        detail.append(f"cosigned by {', '.join(cosigned)}")
    try:
        at = datetime.fromisoformat(str(doc.get("created_at")))
        created = (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()
    except (ValueError, OverflowError, OSError):
        created = None
    return {"size": size, "anchored": quorum_ok and time_ok, "created_at": created,
            "time_ok": time_ok, "quorum_ok": quorum_ok,
            "checked": quorum_needed or tsa_needed, "cosigned_by": cosigned,
            "timestamps": verified, "skipped_tsas": sorted(set(skipped)),
            "missing": "; ".join(missing), "detail": (": " + "; ".join(detail)) if detail else ""}


# ==== command line =======================================================================

def load_trust(path: str, pin: str | None) -> Any:
    try:
        with open(path, "rb") as f:
            data = f.read(vb.MAX_TRUST_FILE + 1)
    except OSError as e:
        raise Usage(f"cannot read the trust file {path}: {e.strerror}") from None
    digest = hashlib.sha256(data).hexdigest()
    if pin is not None and digest != pin.strip().lower():
        raise Usage(f"the trust file's SHA-256 is {digest}, not the pinned {pin[:64]}")
    try:
        trust = vb.parse_trust(data)
    except vb.TrustError as e:
        raise Usage(str(e)) from None
    vb.load_store_roots(trust)
    return trust


def load_token(path: str | None) -> str | None:
    if path is None:
        tok = os.environ.get("EVIDENCE_TOKEN", "").strip()
        return tok or None
    try:
        with open(path, encoding="utf-8") as f:
            tok = f.readline().strip()
    except (OSError, UnicodeDecodeError) as e:
        raise Usage(f"cannot read the token file {path}: {e}") from None
    if not tok or any(c.isspace() or not c.isprintable() for c in tok):
        raise Usage(f"the token file {path} does not hold a token on its first line")
    return tok


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="monitor_log.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Follow an evidence log over its public API and verify only what is new: "
                    "checkpoint signature, consistency with the last verified state, the new "
                    "entries, witness cosignatures and RFC 3161 timestamps.",
        epilog="exit status: 0 ok; 1 a problem was found (fork, rollback, bad-proof, "
               "bad-checkpoint, bad-entries, bad-anchor, missing-anchor); 2 usage (options, "
               "trust file, a damaged state file or one of another log, token file); 3 the "
               "server could not be reached or read (also garbage answers, a refused token, "
               "another run holding the state's lock)")
    ap.add_argument("url", help="the log's base URL, e.g. https://evidence.example")
    ap.add_argument("--trust", metavar="FILE", required=True,
                    help="the trust file (docs/verdict.md section 3)")
    ap.add_argument("--trust-sha256", metavar="HEX", help="refuse a trust file with another "
                    "SHA-256")
    ap.add_argument("--state", metavar="FILE", required=True,
                    help="the last verified state (made on the first run)")
    ap.add_argument("--token-file", metavar="FILE", help="an auditor's or admin's API token "
                    "(first line), to read and check the entries; default $EVIDENCE_TOKEN")
    ap.add_argument("--watch-id", action="append", default=[], metavar="EV_ID",
                    help="report the entries about this evidence id (repeatable)")
    ap.add_argument("--watch-sha256", action="append", default=[], metavar="HEX",
                    help="report the entries naming this file SHA-256 (repeatable)")
    ap.add_argument("--anchor-grace", type=int, default=3600, metavar="SECONDS",
                    help="how long a checkpoint may wait for its timestamp and witness "
                         "quorum before it is a missing anchor (default 3600)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--quiet", action="store_true", help="no progress; print nothing when "
                    "all is well and no watched entry appeared")
    args = ap.parse_args(argv)
    for h in args.watch_sha256:
        if not re.fullmatch(r"[0-9a-fA-F]{64}", h):
            ap.error(f"--watch-sha256 {h[:80]!r} is not 64 hex digits")
    for i in args.watch_id:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", i):
            ap.error(f"--watch-id {i[:80]!r} is not an evidence id")
    if args.anchor_grace < 0:
        ap.error("--anchor-grace must not be negative")
    parts = urllib.parse.urlsplit(args.url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        ap.error(f"{args.url[:80]!r} is not an http(s) URL")
    if (args.watch_id or args.watch_sha256) and args.token_file is None \
            and not os.environ.get("EVIDENCE_TOKEN", "").strip():
        ap.error("--watch-id and --watch-sha256 read the entries: give --token-file")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = Report(url=args.url)
    lock = None
    try:
        trust = load_trust(args.trust, args.trust_sha256)
        token = load_token(args.token_file)
        try:
            lock = open(args.state + ".lock", "a")  # noqa: SIM115 (held for the whole run)
        except OSError as e:
            raise Usage(f"cannot open {args.state}.lock: {e.strerror}") from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise Unreachable(f"another monitor run holds {args.state}.lock; try later") \
                from None
        status = run(args, trust, token, report)
    except Found as f:
        status, report.problem, report.message = PROBLEM, f.kind, _one_line(str(f))
        if f.kind != "missing-anchor":
            report.evidence_file = save_evidence(args.state, f)
    except Usage as e:
        status, report.problem, report.message = USAGE, "usage", _one_line(str(e))
    except Unreachable as e:
        status, report.problem, report.message = SERVER, "server", _one_line(str(e))
    except TimeoutError as e:
        status, report.problem, report.message = SERVER, "server", f"time-out: {e}"
    finally:
        if lock is not None:
            lock.close()
    emit(report, status, args)
    return status


def emit(report: Report, status: int, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(report.to_json(status), ensure_ascii=False, separators=(",", ":")))
        return
    for hit in report.watch:
        b = hit["body"]
        extra = " ".join(f"{k}={b[k]}" for k in ("action", "principal", "grantee", "grant_id")
                         if isinstance(b.get(k), str))
        files = ", ".join(hit["matched_sha256"])
        print(f"watch: seq {hit['seq']} {hit['type']} {hit['evidence_id'] or '-'} at "
              f"{hit['time']}{' ' + extra if extra else ''}"
              f"{f' (file sha256 {files})' if files else ''}")
    if status == OK and args.quiet:
        return
    stream = sys.stdout if status in (OK, PROBLEM) else sys.stderr
    prefix = "" if status in (OK, PROBLEM) else "monitor_log.py: "
    print(prefix + report.message, file=stream)
    if report.evidence_file:
        print(f"the signed checkpoints that prove it: {report.evidence_file}", file=stream)


if __name__ == "__main__":
    sys.exit(main())
