"""scripts/audit_ledger.py follows the log's ``key.mldsa_added`` entry (docs/formats.md
"ML-DSA-44 signatures"), as scripts/monitor_log.py does (tests/auditor/test_monitor_mldsa.py).

The log is real (SQLite): three notes, the ML-DSA-44 key added by ``Ledger.add_mldsa_key``
(entry 3, from size 4), five more notes, a checkpoint at every size, exported by ``evidence
log export``. The good export verifies with the trust file it holds (``#@ log-mldsa``) and
with one of before (the Ed25519 key alone), the report naming the key either way. A
checkpoint from size 4 on whose ML-DSA-44 line is cut fails, with or without the pin: the
entry alone makes the line required. An entry changed and signed again by both keys, with
every checkpoint signed again over the new roots (as an operator holding every key would
forge it; tests/auditor/test_key_entries.py), or a second entry, fails at the seq ``evidence
audit`` names for the same change in the database. Each verdict is the same from the quick
pass in workers, the quick pass in one process and the reference pass alone."""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from evidence.ledger.keyfile import read_private_key
from evidence.ledger.log import Ledger
from evidence.ledger.pq_key import added_body, added_message
from evidence.verify.note import ALG_MLDSA44, Signer, generate_signer, sign_note
from tests.support.cli_run import cli_stdout, failed_entries_audit
from tests.support.forged_export import (
    audit_log_only,
    export_rows,
    forge_export,
    log_check,
    row_entry,
)
from tests.support.standalone import load_audit_script

ROOT = Path(__file__).resolve().parents[2]
AUDITOR = ROOT / "scripts" / "audit_ledger.py"
ORIGIN = "pq-audit.example/log"
SEQ, FROM = 3, 4  # the key.mldsa_added entry and the first size its key signs
SIZE = 9


@dataclass
class World:
    data: Path
    export: Path
    ed: Signer
    pq: Signer
    old_trust: Path  # the trust file of before: the Ed25519 key alone

    @property
    def pq_trust(self) -> Path:
        return self.export / "trust.txt"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    tmp = tmp_path_factory.mktemp("audit-mldsa")
    d = tmp / "data"
    led = Ledger.create(d, ORIGIN, checkpoint_interval=0)
    try:
        for i in range(3):
            led.append("test.note", {"n": i})
            led.sign_checkpoint_now()
        assert led.add_mldsa_key(generate_signer(ORIGIN, ALG_MLDSA44)) == FROM
        for i in range(SIZE - FROM):
            led.append("test.note", {"m": i})
            led.sign_checkpoint_now()
        ed_vkey = led.verifier.to_string()
    finally:
        led.close()
    exp = tmp / "export"
    cli_stdout("log", "export", "--data-dir", str(d), str(exp))
    old = tmp / "old-trust.txt"
    old.write_text(f"log {ed_vkey}\nquorum none\n")
    w = World(d, exp, read_private_key(d / "log.key"), read_private_key(d / "log-mldsa.key"),
              old)
    assert f"#@ log-mldsa {w.pq.verifier().to_string()} {FROM}\n" in w.pq_trust.read_text()
    return w


def verdicts(export: Path, trust: Path) -> dict[str, tuple[int | None, str]]:
    """(first bad seq, the log check's reason) by the quick pass in two workers (a few
    entries a chunk), the quick pass in one process, and the reference pass alone."""
    out = {}
    for name, args in (("workers", ["--workers", "2", "--chunk", "700"]),
                       ("one process", ["--workers", "1"])):
        r = audit_log_only(export, trust, *args)
        assert r["exit"] == (0 if r["first_bad_seq"] is None else 1), r
        out[name] = (r["first_bad_seq"], log_check(r)["reason"])
    al = load_audit_script()
    res = al.signed_checkpoints(str(export), al.vb.parse_trust(trust.read_bytes()))
    res = al.audit_log(str(export), res, quick=False)
    out["reference"] = (res.first_bad_seq, res.reason)
    return out


def one_verdict(export: Path, trust: Path) -> tuple[int | None, str]:
    got = verdicts(export, trust)
    seqs = {seq for seq, _ in got.values()}
    assert len(seqs) == 1, got
    return got["workers"]


def forge(world: World, name: str, change: Callable[[int, dict[str, Any]], None],
          resign: Callable[[int, list[Signer]], list[Signer]] | None = None) -> Path:
    """A copy of the export with ``change(seq, entry)`` applied to its entries, chained
    again, every checkpoint signed again over the new roots by the keys that signed it
    (``resign(size, signers)`` may choose others; the ML-DSA-44 line with time 0, as the
    log signs it), the manifest written again; tiles dropped."""

    def sign(size: int, body: str, note: Any) -> str:
        signers = [s for s in (world.ed, world.pq)
                   if any(sig.key_id == s.key_id for sig in note.signatures)]
        if resign is not None:
            signers = resign(size, signers)
        text = sign_note(body, [s for s in signers if s.alg != ALG_MLDSA44])
        return text + "".join(s.signature_line(body.encode(), cosigned_at=0)
                              for s in signers if s.alg == ALG_MLDSA44)

    return forge_export(world.export, world.export.parent / f"forged-{name}", change, sign)


def package_audit(world: World, tmp: Path, seq: int, entry: dict[str, Any]) -> dict[str, Any]:
    """``evidence audit`` of a copy of the ledger whose entry ``seq`` is ``entry`` (its
    stored data and type changed, as a forger with the database would)."""
    tmp.mkdir(parents=True, exist_ok=True)
    d = tmp / "data"
    subprocess.run(["cp", "-a", str(world.data), str(d)], check=True)
    con = sqlite3.connect(d / "ledger.db")
    try:
        con.execute("UPDATE entries SET data = ?, type = ? WHERE seq = ?",
                    (json.dumps(entry, sort_keys=True, separators=(",", ":")).encode(),
                     entry["type"], seq))
        con.commit()
    finally:
        con.close()
    return failed_entries_audit(d)


def test_a_good_export_verifies_with_and_without_the_pin(world: World) -> None:
    key = world.pq.verifier().to_string()
    for trust, pinned in ((world.pq_trust, True), (world.old_trust, False)):
        assert {v[0] for v in verdicts(world.export, trust).values()} == {None}
        r = audit_log_only(world.export, trust)
        assert r["exit"] == 0 and log_check(r)["status"] == "pass", r
        assert r["mldsa_key"] == {"key": key, "name": ORIGIN,
                                  "key_id": f"{world.pq.key_id:08x}", "seq": SEQ,
                                  "from_size": FROM, "pinned": pinned}, r
        assert f"ML-DSA-44 key {ORIGIN}+{world.pq.key_id:08x} (entry {SEQ})" \
            in log_check(r)["reason"], r
        p = subprocess.run([sys.executable, "-I", str(AUDITOR), str(world.export), "--trust",
                            str(trust), "--log-only", "--quiet"],
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
        assert f"ML-DSA-44 key (key.mldsa_added, entry {SEQ})" in p.stdout, p.stdout
        assert key[:80] in p.stdout
        assert ("the trust file does not pin it" in p.stdout) is not pinned, p.stdout


def test_forgery_tools_alone_change_nothing(world: World) -> None:
    out = forge(world, "nothing", lambda seq, e: None)
    assert one_verdict(out, world.old_trust)[0] is None


@pytest.mark.parametrize("size", [FROM, SIZE - 2])
def test_a_checkpoint_without_its_mldsa_line_fails(world: World, size: int) -> None:
    out = forge(world, f"cut-{size}", lambda seq, e: None,
                lambda n, signers: [s for s in signers if n != size or s is not world.pq])
    for trust in (world.pq_trust, world.old_trust):  # the entry alone requires the line
        seq, reason = one_verdict(out, trust)
        assert seq == size - 1, (trust, reason)
        assert f"checkpoint of size {size} has no signature by the pinned ML-DSA-44" in reason
    # before the key's first size a checkpoint without the line is the log's own
    early = forge(world, "cut-early", lambda seq, e: None,
                  lambda n, signers: [s for s in signers if n >= FROM or s is not world.pq])
    assert one_verdict(early, world.old_trust)[0] is None


def test_a_trust_file_pinning_another_mldsa_key_fails(world: World) -> None:
    other = generate_signer(ORIGIN, ALG_MLDSA44).verifier().to_string()
    trust = world.export.parent / "other-pq-trust.txt"
    trust.write_text(world.old_trust.read_text() + f"#@ log-mldsa {other} {SIZE + 10}\n")
    seq, reason = one_verdict(world.export, trust)
    assert seq == SEQ and "but the trust file pins" in reason, reason


def _resigned(world: World, body: dict[str, Any], **change: Any) -> dict[str, Any]:
    """The body with ``change`` applied and both signatures made again over it."""
    b = {**body, **change}
    msg = added_message(b["log_key"], b["mldsa_key"], b["from_size"])
    b["log_signature"] = base64.b64encode(world.ed.sign_bytes(msg)).decode()
    b["mldsa_signature"] = base64.b64encode(world.pq.sign_bytes(msg)).decode()
    return b


def test_an_altered_entry_fails_where_evidence_audit_names_it(world: World,
                                                              tmp_path: Path) -> None:
    entry = row_entry(export_rows(world.export)[SEQ])
    assert entry["type"] == "key.mldsa_added"
    stranger = generate_signer(ORIGIN, ALG_MLDSA44)
    cases = {
        "from_size must be": _resigned(world, entry["body"], from_size=FROM + 1),
        "signature that does not verify": {**entry["body"], "mldsa_signature": base64.b64encode(
            stranger.sign_bytes(added_message(entry["body"]["log_key"],
                                              entry["body"]["mldsa_key"], FROM))).decode()},
    }
    for i, (want, body) in enumerate(cases.items()):
        def change(seq: int, e: dict[str, Any], body: dict[str, Any] = body) -> None:
            if seq == SEQ:
                e["body"] = body

        seq, reason = one_verdict(forge(world, f"entry-{i}", change), world.old_trust)
        assert seq == SEQ and want in reason, (want, reason)
        pkg = package_audit(world, tmp_path / f"pkg-{i}", SEQ, {**entry, "body": body})
        assert pkg["first_bad_seq"] == seq, pkg
        assert pkg["reason"].startswith(f"log key entries: entry {SEQ}: "), pkg  # the rule


def test_a_second_entry_fails_where_evidence_audit_names_it(world: World,
                                                            tmp_path: Path) -> None:
    at = SEQ + 2
    second = {**row_entry(export_rows(world.export)[at]), "type": "key.mldsa_added",
              "body": added_body(world.ed, world.pq, at + 1)}

    def change(seq: int, e: dict[str, Any]) -> None:
        if seq == at:
            e["type"], e["body"] = second["type"], second["body"]

    out = forge(world, "second", change)
    for trust in (world.pq_trust, world.old_trust):
        seq, reason = one_verdict(out, trust)
        assert seq == at and "a second key.mldsa_added" in reason, reason
    pkg = package_audit(world, tmp_path, at, second)
    assert pkg["first_bad_seq"] == at and "a second key.mldsa_added" in pkg["reason"], pkg
