"""`scripts/audit_ledger.py` run as an auditor runs it (``python -I`` in a virtual
environment holding only ``cryptography``) on the complete export of a real ledger anchored
by the local OpenSSL TSA and witness keys. On each case it reaches the package's verdicts:
``evidence audit`` (evidence.ledger.audit.log_audit) for the log, and evidence.verify's checkpoint,
trust-policy and RFC 3161 functions for the cosignatures and timestamps; the exporter's own
check for a damaged export."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from evidence.ledger.anchor.config import load_anchor_config, save_anchor_config
from evidence.ledger.audit.export_log import export_log
from evidence.ledger.errors import LedgerError
from evidence.verify.checkpoint import verify_checkpoint
from evidence.verify.errors import VerificationError
from evidence.verify.note import parse_note
from evidence.verify.timestamp import (
    TimestampError,
    UntrustedTimestampChain,
    verify_timestamp,
    verify_token_integrity,
)
from evidence.verify.trust import parse_trust
from tests.support.anchored_ledger import AnchoredLedger, build_anchored_ledger

pytestmark = pytest.mark.tsa
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "audit_ledger.py"


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment with only cryptography (and what it imports) installed,
    linked from this environment: no evidence, no rfc3161-client."""
    d = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(d)], check=True)
    site = next(d.glob("lib/python3*/site-packages"))
    for name in ("cryptography", "cffi", "_cffi_backend", "pycparser"):
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        target = origin.parent if origin.name == "__init__.py" else origin
        (site / target.name).symlink_to(target)
    return d / "bin" / "python"


def audit(py: Path, export: Path, *args: str) -> tuple[int, dict[str, Any] | None, str]:
    p = subprocess.run([str(py), "-I", str(SCRIPT), str(export), *args, "--json"],
                       capture_output=True, text=True, timeout=300, check=False)
    return p.returncode, json.loads(p.stdout) if p.stdout.strip() else None, p.stderr


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in report["checks"]}


def reseal(export: Path) -> None:
    """Rewrite the manifest for the files as they now are (what a forger would do)."""
    man = json.loads((export / "manifest.json").read_bytes())
    man["files"] = {p.relative_to(export).as_posix(): {
        "sha256": hashlib.sha256(p.read_bytes()).hexdigest(), "size": p.stat().st_size}
        for p in sorted(export.rglob("*")) if p.is_file() and p.name != "manifest.json"}
    (export / "manifest.json").write_text(json.dumps(man, sort_keys=True,
                                                     separators=(",", ":")) + "\n")


def package_verdicts(w: AnchoredLedger, export: Path, trust: bytes) -> dict[str, Any]:
    """The package's answers: `evidence audit` on the ledger; evidence.verify on each
    exported checkpoint's cosignatures (a cosigned checkpoint must meet the quorum) and on
    each token (integrity, then the pinned roots: unpinned is skipped)."""
    rep = w.led.audit()
    policy = parse_trust(trust)
    log_key = policy.logs[0].verifier
    wkeys = [x.verifier for x in policy.witnesses]
    roots = [r.pem for r in policy.tsas]
    cos, cosigned, texts = "pass", 0, {}
    for f in sorted((export / "checkpoints").iterdir(), key=lambda f: int(f.name)):
        note = f.read_bytes()
        try:
            verify_checkpoint(note, log_key)
        except VerificationError:
            continue  # the log's signature does not verify: the log check names it
        texts[int(f.name)] = parse_note(note).text
        try:
            vc = verify_checkpoint(note, log_key, witness_keys=wkeys)
        except VerificationError:
            cos = "fail"
            continue
        lines = note.decode().split("\n\n", 1)[1].splitlines()
        if any(len(base64.b64decode(ln.rsplit(" ", 1)[1])) == 76 for ln in lines):
            cosigned += 1
            if not policy.satisfied(vc.cosignatures):
                cos = "fail"
    if cos == "pass" and not cosigned:
        cos = "not-checked"
    ts, good = "not-checked", 0
    for tok in sorted((export / "timestamps").rglob("*.tst")):
        text = texts.get(int(tok.parent.name))
        try:
            if text is None:
                raise TimestampError("no valid checkpoint")
            verify_token_integrity(tok.read_bytes(), text.encode())
            verify_timestamp(tok.read_bytes(), text.encode(), roots)
            good += 1
        except UntrustedTimestampChain:
            continue
        except TimestampError:
            ts = "fail"
    if ts != "fail" and good:
        ts = "pass"
    return {"log": (rep.ok, rep.first_bad_seq), "cosignatures": cos, "timestamps": ts}


@pytest.fixture
def world(tmp_path: Path, tsa):  # type: ignore[no-untyped-def]
    w = build_anchored_ledger(tmp_path / "w", tsa.url, tsa.ca_pem_path)
    yield w
    w.led.close()


def check_agrees(w: AnchoredLedger, py: Path, tmp_path: Path, *, mutate_export=None,
                 extra: tuple[str, ...] = (), damaged_export: bool = False) -> dict[str, Any]:
    """Export, change the export (``mutate_export``), audit it with the script and hold its
    statuses to the package's. ``damaged_export``: the export, not the ledger, was damaged
    (the script's log verdict is then not the ledger's: the caller checks it)."""
    export = tmp_path / "export"
    shutil.rmtree(export, ignore_errors=True)
    export_log(w.led, export)
    if mutate_export is not None:
        mutate_export(export)
    trust = (export / "trust.txt").read_bytes()
    assert trust == w.trust_bytes()
    before = {p: p.read_bytes() for p in export.rglob("*") if p.is_file()}
    rc, out, err = audit(py, export, "--trust", str(export / "trust.txt"), "--trust-sha256",
                         hashlib.sha256(trust).hexdigest(), *extra)
    assert out is not None, err
    assert before == {p: p.read_bytes() for p in export.rglob("*") if p.is_file()}
    ref = package_verdicts(w, export, trust)
    got = statuses(out)
    if not damaged_export:
        assert ((got["log"] == "pass"), out["first_bad_seq"]) == ref["log"], out
    assert got["cosignatures"] == ref["cosignatures"], out
    assert got["timestamps"] == ref["timestamps"], out
    assert rc == {"verified": 0, "failed": 1, "incomplete": 3}[out["verdict"]]
    return out


def test_only_cryptography_in_the_venv(venv_python: Path, tmp_path: Path) -> None:
    p = subprocess.run([str(venv_python), "-I", "-c", "import cryptography\ntry:\n import "
                        "evidence\nexcept ImportError: print('clean')"], capture_output=True,
                       text=True, check=False)
    assert p.stdout.strip() == "clean", p.stderr


@pytest.mark.parametrize("extra", [(), ("--chunk", "600", "--workers", "2"),
                                   ("--chunk", "1", "--workers", "1")])
def test_a_good_ledger(world, venv_python: Path, tmp_path: Path, extra) -> None:
    out = check_agrees(world, venv_python, tmp_path, extra=extra)
    assert out["verdict"] == "verified" and out["failed_check"] is None
    assert out["root"] == world.led.audit().root and out["size"] == 40
    assert [t["checkpoint_size"] for t in out["timestamped"]] == [10, 25]


def _sql(w: AnchoredLedger, sql: str, **params: Any) -> None:
    from sqlalchemy import text

    with w.led.engine.begin() as conn:
        conn.execute(text(sql), params)


@pytest.mark.parametrize("extra", [(), ("--chunk", "600", "--workers", "2")])
def test_a_changed_entry_byte(world, venv_python: Path, tmp_path: Path, extra) -> None:
    data = world.led.entry(17).data
    _sql(world, "UPDATE entries SET data = :d WHERE seq = 17",
         d=data.replace(b'"n":17', b'"n":18'))
    out = check_agrees(world, venv_python, tmp_path, extra=extra)
    assert (out["verdict"], out["failed_check"], out["first_bad_seq"]) == ("failed", "log", 17)


def test_a_removed_entry(world, venv_python: Path, tmp_path: Path) -> None:
    _sql(world, "DELETE FROM entries WHERE seq = 30")
    out = check_agrees(world, venv_python, tmp_path)
    assert (out["verdict"], out["first_bad_seq"]) == ("failed", 30)


def test_a_bad_checkpoint_signature(world, venv_python: Path, tmp_path: Path) -> None:
    note = world.led.checkpoint_at(25).note
    sig = note.rstrip("\n").rsplit(" ", 1)[1]
    raw = base64.b64decode(sig)
    bad = base64.b64encode(raw[:-1] + bytes([raw[-1] ^ 1])).decode()  # always a change
    _sql(world, "UPDATE checkpoints SET note = :n WHERE size = 25", n=note.replace(sig, bad))
    out = check_agrees(world, venv_python, tmp_path)
    assert (out["failed_check"], out["first_bad_seq"]) == ("log", 24)


def test_a_cosignature_by_an_unpinned_witness(world, venv_python, tmp_path: Path) -> None:
    world.anchor(40, witnesses=("stranger",))
    out = check_agrees(world, venv_python, tmp_path)
    assert out["failed_check"] == "cosignatures"
    assert "checkpoint 40 is cosigned, but not by the quorum" in statuses_reason(out)


def statuses_reason(out: dict[str, Any]) -> str:
    return next(c["reason"] for c in out["checks"] if c["status"] == "fail")


def test_too_few_cosignatures_for_the_quorum(world, venv_python, tmp_path: Path) -> None:
    save_anchor_config(replace(load_anchor_config(world.dir), witness_quorum=2))
    out = check_agrees(world, venv_python, tmp_path)
    assert out["failed_check"] == "cosignatures"
    assert "checkpoint 10 is cosigned, but not by the quorum" in statuses_reason(out)
    world.anchor(10, witnesses=("w2",))
    world.anchor(25, witnesses=("w2",))
    assert check_agrees(world, venv_python, tmp_path)["verdict"] == "verified"


def test_a_token_over_another_checkpoint(world, venv_python, tmp_path: Path) -> None:
    def swap(e: Path) -> None:
        a, b = e / "timestamps/10/local-tsa.tst", e / "timestamps/25/local-tsa.tst"
        b.write_bytes(a.read_bytes())
        reseal(e)

    out = check_agrees(world, venv_python, tmp_path, mutate_export=swap)
    assert out["failed_check"] == "timestamps"
    assert "timestamps/25/local-tsa.tst" in statuses_reason(out)


def test_a_token_whose_chain_is_not_pinned_is_skipped(world, venv_python, tmp_path: Path,
                                                      tsa_variant) -> None:
    other = tsa_variant("untrusted")
    world.anchor(40, tsa=("other-tsa", other.url, other.ca_cert_pem))
    out = check_agrees(world, venv_python, tmp_path)
    assert out["verdict"] == "verified"
    ts = next(c for c in out["checks"] if c["name"] == "timestamps")
    assert "2 of 3 RFC 3161 timestamps verified; 1 by TSAs not pinned were skipped" \
        in ts["reason"]


def test_a_truncated_entry_file(world, venv_python: Path, tmp_path: Path) -> None:
    def cut(e: Path) -> None:
        data = (e / "entries.jsonl").read_bytes()
        at = sum(len(x) for x in data.splitlines(keepends=True)[:33]) + 20
        (e / "entries.jsonl").write_bytes(data[:at])

    export = tmp_path / "export"
    out = check_agrees(world, venv_python, tmp_path, mutate_export=cut, damaged_export=True)
    assert (out["failed_check"], out["first_bad_seq"]) == ("export", 33)
    assert "entries.jsonl does not match" in statuses_reason(out)
    with pytest.raises(LedgerError, match=r"entries\.jsonl does not match"):
        export_log(world.led, export)  # the exporter sees the same damage


@pytest.mark.parametrize("how", ["extra", "missing"])
def test_an_extra_or_missing_file(world, venv_python, tmp_path: Path, how: str) -> None:
    def change(e: Path) -> None:
        if how == "extra":
            (e / "notes.txt").write_text("added")
        else:
            (e / "timestamps/25/local-tsa.pem").unlink()

    out = check_agrees(world, venv_python, tmp_path, mutate_export=change)
    assert out["failed_check"] == "export"
    want = ("notes.txt is not in the manifest" if how == "extra"
            else "timestamps/25/local-tsa.pem is missing")
    assert want in statuses_reason(out)


def test_usage_errors_and_the_log_key_shorthand(world, venv_python, tmp_path: Path) -> None:
    export = tmp_path / "export"
    export_log(world.led, export)
    rc, out, err = audit(venv_python, export, "--trust", str(export / "trust.txt"),
                         "--trust-sha256", "00" * 32)
    assert rc == 2 and out is None and "SHA-256" in err
    w1 = world.witnesses["w1"].verifier().to_string()
    rc, out, _ = audit(venv_python, export, "--log-key", world.led.verifier_key,
                       "--witness-key", w1, "--tsa-ca", str(tmp_path / "nothing.pem"))
    assert rc == 2


def test_the_log_key_alone_is_incomplete_not_verified(world, venv_python, tmp_path: Path
                                                      ) -> None:
    """With --log-key alone the anchoring is named not-checked and the verdict is
    incomplete (exit 3), as docs/operations.md says; --log-only narrows the scope
    explicitly (exit 0, and the report says so); pinning each part fills it in."""
    export = tmp_path / "export"
    export_log(world.led, export)
    vkey = world.led.verifier_key
    rc, out, _ = audit(venv_python, export, "--log-key", vkey)
    assert (rc, out["verdict"], out["ok"]) == (3, "incomplete", False)
    assert statuses(out) == {"export": "pass", "log": "pass", "cosignatures": "not-checked",
                             "timestamps": "not-checked"}
    assert out["not_checked"] == ["cosignatures", "timestamps"] and out["scope"] == "full"
    reasons = " ".join(c["reason"] for c in out["checks"])
    assert "--witness-key" in reasons and "--tsa-ca" in reasons
    p = subprocess.run([str(venv_python), "-I", str(SCRIPT), str(export), "--log-key", vkey,
                        "--quiet"], capture_output=True, text=True, check=False)
    assert p.returncode == 3
    assert p.stdout.startswith("INCOMPLETE 未完全核验: cosignatures, timestamps")
    assert "--log-only audits the log alone" in p.stdout

    rc, out, _ = audit(venv_python, export, "--log-key", vkey, "--log-only")
    assert (rc, out["verdict"], out["scope"]) == (0, "verified", "log-only")
    assert [c["name"] for c in out["checks"]] == ["export", "log"]
    p = subprocess.run([str(venv_python), "-I", str(SCRIPT), str(export), "--log-key", vkey,
                        "--log-only", "--quiet"], capture_output=True, text=True, check=False)
    assert p.returncode == 0 and p.stdout.startswith("OK 通过 (log only / 仅日志): 40 entries")
    assert "--log-only: the anchoring (cosignatures, timestamps) was not audited" in p.stdout

    w1 = world.witnesses["w1"].verifier().to_string()
    rc, out, _ = audit(venv_python, export, "--log-key", vkey, "--witness-key", w1)
    assert rc == 3 and statuses(out)["cosignatures"] == "pass"
    assert out["not_checked"] == ["timestamps"]
    ca = tmp_path / "tsa-ca.pem"
    ca.write_bytes(world.ca_pem)
    rc, out, _ = audit(venv_python, export, "--log-key", vkey, "--witness-key", w1,
                       "--tsa-ca", str(ca))
    assert (rc, out["verdict"]) == (0, "verified"), out
    assert statuses(out) == dict.fromkeys(("export", "log", "cosignatures", "timestamps"),
                                          "pass")


def test_progress_and_quiet(world, venv_python, tmp_path: Path) -> None:
    export = tmp_path / "export"
    export_log(world.led, export)
    p = subprocess.run([str(venv_python), "-I", str(SCRIPT), str(export), "--log-key",
                        world.led.verifier_key, "--log-only", "--chunk", "4000"],
                       capture_output=True, text=True, check=False)
    assert p.returncode == 0 and p.stdout.startswith("OK 通过 (log only / 仅日志): 40 entries")
    assert "audited 40 entries (100.0% of entries.jsonl)" in p.stderr
    p = subprocess.run([str(venv_python), "-I", str(SCRIPT), str(export), "--log-key",
                        world.led.verifier_key, "--log-only", "--quiet", "--json"],
                       capture_output=True, text=True, check=False)
    assert p.returncode == 0 and p.stderr == "" and json.loads(p.stdout)["ok"]


@pytest.mark.parametrize("how", ["garbage", "gone"])
def test_a_damaged_or_missing_manifest(world, venv_python, tmp_path: Path, how: str) -> None:
    """A manifest that is not one fails the export check; no manifest at all leaves the
    files unchecked against one (named, incomplete): neither is read as a good export."""
    def change(e: Path) -> None:
        if how == "garbage":
            (e / "manifest.json").write_bytes(b"\x00{not json")
        else:
            (e / "manifest.json").unlink()

    out = check_agrees(world, venv_python, tmp_path, mutate_export=change)
    export = next(c for c in out["checks"] if c["name"] == "export")
    if how == "garbage":
        assert out["failed_check"] == "export" and out["verdict"] == "failed"
        assert "manifest.json is not a log export manifest" in export["reason"]
    else:
        assert (out["verdict"], out["not_checked"]) == ("incomplete", ["export"])
        assert "no manifest.json" in export["reason"]
    assert statuses(out)["log"] == "pass"


# --- DIR/tlog/: the tlog-tiles the export copies from the tile store ------------------------


def _with_tiles(w: AnchoredLedger) -> None:
    """Grow the ledger past one full tile and bring its tile store up to date (what the
    follower in `evidence serve` does)."""
    from evidence.ledger.tiles import open_configured_store, sync_tiles

    w.led.append_many([("custody.note", {"n": i}) for i in range(300)])
    w.led.sign_checkpoint_now()
    sync_tiles(w.led, open_configured_store(w.dir))


def _flip(p: Path, at: int) -> None:
    data = bytearray(p.read_bytes())
    data[at] ^= 1
    p.write_bytes(bytes(data))


TILE_FAULTS = {
    "tampered full tile": (lambda e: _flip(e / "tlog/tile/0/000", 100),
                           "tlog/tile/0/000 does not hash to its hash in the tile above"),
    "tampered partial tile": (lambda e: _flip(e / "tlog/tile/0/001.p/84", 5),
                              "do not fold into the signed root"),
    "tampered entry bundle": (lambda e: _flip(e / "tlog/tile/entries/000", 40),
                              "tlog/tile/entries/000 does not hold exactly the entries"),
    "missing tile": (lambda e: (e / "tlog/tile/1/000.p/1").unlink(),
                     "tlog/tile/1/000.p/1 is missing"),
    "extra tile file": (lambda e: (e / "tlog/tile/0/001.p/83").write_bytes(
        (e / "tlog/tile/0/001.p/84").read_bytes()[:83 * 32]),
        "tlog/tile/0/001.p/83 is not a tile of the tree of size 340"),
    "another checkpoint": (lambda e: (e / "tlog/checkpoint").write_bytes(
        (e / "checkpoints/40").read_bytes()),
        "tlog/checkpoint is not the newest exported checkpoint (size 340)"),
}


def test_tiles_of_a_good_export_pass(world, venv_python: Path, tmp_path: Path) -> None:
    _with_tiles(world)
    out = check_agrees(world, venv_python, tmp_path)
    assert statuses(out)["tiles"] == "pass" and out["verdict"] == "verified", out
    assert "hash tiles and 2 entry bundles are those of the tree of size 340" in next(
        c["reason"] for c in out["checks"] if c["name"] == "tiles")


def test_no_tlog_no_tiles_check(world, venv_python: Path, tmp_path: Path) -> None:
    out = check_agrees(world, venv_python, tmp_path)  # the store never caught up: no tlog/
    assert "tiles" not in statuses(out) and out["verdict"] == "verified"
    man = json.loads((tmp_path / "export/manifest.json").read_bytes())
    assert man["tiles"] is None and "tiles_reason" in man


@pytest.mark.parametrize("fault", sorted(TILE_FAULTS))
def test_a_bad_tile_is_a_named_failure(world, venv_python: Path, tmp_path: Path,
                                       fault: str) -> None:
    _with_tiles(world)
    change, reason = TILE_FAULTS[fault]

    def mutate(e: Path) -> None:
        change(e)
        reseal(e)  # a forger's manifest: the export check passes, the tiles check must not

    out = check_agrees(world, venv_python, tmp_path, mutate_export=mutate)
    assert out["failed_check"] == "tiles" and statuses(out)["export"] == "pass", out
    assert statuses(out)["log"] == "pass"  # the entries are untouched: evidence audit agrees
    assert reason in statuses_reason(out), out
