"""Tampering with a stored ledger the ways an audit must catch (a changed byte, a deleted or
swapped entry, a wrong leaf hash, a forged node, checkpoint or log state), and the audit's
verdict from its reference pass and from its quick pass: tests/ledger/audit/ holds the two
to the same first bad ``seq`` with the same reason."""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update

from evidence.ledger.audit import log_audit as audit_module
from evidence.ledger.audit.log_audit import AuditReport, audit
from evidence.ledger.db.schema import checkpoints, entries, log_state, nodes
from evidence.ledger.keyfile import read_private_key
from evidence.ledger.log import Ledger
from evidence.verify.checkpoint import Checkpoint, sign_checkpoint
from evidence.verify.entry import encode_entry, parse_entry
from evidence.verify.hashing import leaf_hash

ORIGIN = "test.example/log"
N = 70  # entries: spans of 8 and 16 give whole spans and a partial last one


def tamper(led: Ledger, kind: str, k: int) -> None:
    """Change the stored ledger around entry ``k`` the way ``kind`` says."""
    e = led.entry(k) if kind not in ("none", "node extra", "node negative") else None
    with led.engine.begin() as c:
        def set_entry(seq: int, **values) -> None:  # type: ignore[no-untyped-def]
            c.execute(update(entries).where(entries.c.seq == seq).values(**values))

        if kind == "byte":
            set_entry(k, data=e.data.replace(b'"f', b'"g').replace(b'"first":t', b'"first":f'))
        elif kind == "byte+leaf":  # a changed entry with a matching leaf hash
            data = e.data.replace(b'"f', b'"g').replace(b'"first":t', b'"first":f')
            set_entry(k, data=data, leaf_hash=leaf_hash(data))
        elif kind == "delete":
            c.execute(delete(entries).where(entries.c.seq == k))
        elif kind == "swap" and k + 1 < N:
            f = led.entry(k + 1)
            set_entry(k, data=f.data, leaf_hash=f.leaf_hash)
            set_entry(k + 1, data=e.data, leaf_hash=e.leaf_hash)
        elif kind == "leaf":
            set_entry(k, leaf_hash=b"\x01" * 32)
        elif kind == "short leaf":
            set_entry(k, leaf_hash=b"\x01" * 5)
        elif kind in ("time", "seq"):
            p = parse_entry(e.data)
            time = "2001-01-01T00:00:00.000000Z" if kind == "time" else p.time
            data = encode_entry(p.seq + (kind == "seq"), time, p.prev, p.type, p.body)
            set_entry(k, data=data, leaf_hash=leaf_hash(data))
        elif kind.startswith("node"):
            level = {"node": 1, "node delete": 2, "node high": 5, "node extra": 3,
                     "node negative": 1}[kind]
            idx = k >> level
            where = (nodes.c.level == level, nodes.c.idx == idx)
            if kind == "node negative":  # caught by the end check, outside the tree
                c.execute(insert(nodes).values(level=level, idx=-1 - k, hash=b"\6" * 32))
            elif kind == "node extra":
                c.execute(insert(nodes).values(level=level, idx=(N >> level) + 1, hash=b"\2" * 32))
            elif kind == "node delete":
                c.execute(delete(nodes).where(*where))
            else:
                c.execute(update(nodes).where(*where).values(hash=b"\x03" * 32))
        elif kind == "cp zero":  # a validly signed checkpoint of the empty log, wrong root
            signer = read_private_key(led.config.key_path)
            note = sign_checkpoint(Checkpoint(ORIGIN, 0, b"\x07" * 32), signer)
            c.execute(insert(checkpoints).values(size=0, root=b"\x07" * 32, note=note,
                                                 created_at="2026-11-21T00:00:00.000000Z"))
        elif kind.startswith("cp"):
            cp = c.execute(select(checkpoints).where(checkpoints.c.size >= k + 1)
                           .order_by(checkpoints.c.size).limit(1)).first()
            if cp is None:
                return
            where = checkpoints.c.size == cp.size
            if kind == "cp signed":  # a validly signed root that is not the tree's
                signer = read_private_key(led.config.key_path)
                note = sign_checkpoint(Checkpoint(ORIGIN, cp.size, b"\x09" * 32), signer)
                c.execute(update(checkpoints).where(where).values(note=note, root=b"\x09" * 32))
            elif kind == "cp note":
                forged = cp.note.replace("\n", " \n", 1)
                c.execute(update(checkpoints).where(where).values(note=forged))
            elif kind == "cp root":
                c.execute(update(checkpoints).where(where).values(root=b"\x04" * 32))
            else:
                c.execute(update(checkpoints).where(where).values(size=N + 3))
        elif kind == "state hash":
            c.execute(update(log_state).values(last_leaf_hash=b"\x05" * 32))
        elif kind == "state size-":
            c.execute(update(log_state).values(size=N - 1))
        elif kind == "state size+":
            c.execute(update(log_state).values(size=N + 1))


def verdict(r: AuditReport) -> tuple:
    if r.ok:
        return (True, r.size, r.root, r.entries_checked, r.nodes_checked, r.checkpoints_checked)
    return (False, r.size, r.first_bad_seq, r.reason)


def reference(led: Ledger) -> tuple:
    return verdict(audit(led.engine, led.verifier, quick=False, chunk=6))


def quick(led: Ledger, span: int, **kw) -> tuple:  # type: ignore[no-untyped-def]
    """The audit with its quick pass; checks that the quick pass did its share: the
    reference pass starts at the span of the first fault (or at the log's end, for
    faults only the end checks see), not at entry 0."""
    starts: list[int] = []
    real = audit_module.quick_pass

    def spy(*args):  # type: ignore[no-untyped-def]
        start = real(*args)
        starts.append(start.size)
        return start

    audit_module.quick_pass = spy  # type: ignore[assignment]
    try:
        r = audit(led.engine, led.verifier, span=span, **kw)
    finally:
        audit_module.quick_pass = real  # type: ignore[assignment]
    # no quick pass when a checkpoint at size 0 is already wrong: the reference from 0
    (start,) = starts or [0]
    if r.ok or start == r.size:
        assert start == r.size
    else:
        assert start <= r.first_bad_seq < start + span, (start, r)
    return verdict(r)
