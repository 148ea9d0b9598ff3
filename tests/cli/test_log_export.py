"""`evidence log export DIR`: the complete export (docs/formats.md, "Log export") of a real
ledger anchored by the local OpenSSL TSA and witness keys: entries, cosigned checkpoints,
tokens with their certificates, the trust file, the manifest; brought up to date in place,
resumed after an interruption, and refused when DIR was changed."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from evidence.ledger.anchor.status import cosigned_note
from evidence.ledger.anchor.store import list_anchors
from evidence.ledger.audit.export_log import export_log
from evidence.ledger.errors import LedgerError
from tests.support.anchored_ledger import build_anchored_ledger

pytestmark = pytest.mark.tsa


@pytest.fixture
def world(tmp_path: Path, tsa):  # type: ignore[no-untyped-def]
    w = build_anchored_ledger(tmp_path / "w", tsa.url, tsa.ca_pem_path)
    yield w
    w.led.close()


def files_of(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*"))
            if p.is_file()}


def test_the_layout_byte_for_byte(world, tmp_path: Path) -> None:
    led = world.led
    out = tmp_path / "export"
    r = export_log(led, out)
    assert (r.size, r.checkpoints, r.timestamps, r.start) == (40, 4, 2, 0)
    got = files_of(out)
    assert got["log.vkey"] == (led.verifier_key + "\n").encode()
    assert got["trust.txt"] == world.trust_bytes()
    lines = got["entries.jsonl"].split(b"\n")
    assert lines[-1] == b"" and len(lines) == 41
    for e in led.entries(0, 40):
        assert lines[e.seq] == json.dumps({"seq": e.seq, "leaf_hash": e.leaf_hash.hex(),
                                           "entry_b64": base64.b64encode(e.data).decode()
                                           }).encode()
    for size in (1, 10, 25, 40):
        want = cosigned_note(led, size) if size in (10, 25) else led.checkpoint_at(size).note
        assert got[f"checkpoints/{size}"] == want.encode()
    assert "\u2014 w1.example " in got["checkpoints/10"].decode()
    for row in list_anchors(led.engine, source="local-tsa"):
        base = f"timestamps/{row.checkpoint_size}/local-tsa"
        assert got[base + ".tst"] == row.token
        pems = x509.load_pem_x509_certificates(got[base + ".pem"])
        assert [c.public_bytes(Encoding.DER) for c in pems] == \
            list(row.certs)
    man = json.loads(got.pop("manifest.json"))
    assert man["format"] == "evidence-log-export/v1" and man["size"] == 40
    assert man["origin"] == led.origin
    assert man["files"] == {p: {"sha256": hashlib.sha256(b).hexdigest(), "size": len(b)}
                            for p, b in got.items()}
    raw = (out / "manifest.json").read_bytes()
    assert raw == (json.dumps(man, sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False) + "\n").encode()


def test_brought_up_to_date_in_place(world, tmp_path: Path) -> None:
    led = world.led
    out, fresh = tmp_path / "export", tmp_path / "fresh"
    export_log(led, out)
    before = (out / "entries.jsonl").read_bytes()
    for i in range(7):
        led.append("custody.note", {"n": 100 + i})
    led.sign_checkpoint_now()
    world.anchor(40, witnesses=("w1",))  # a cosignature that came after the export
    r = export_log(led, out)
    assert (r.start, r.size) == (40, 47)
    assert (out / "entries.jsonl").read_bytes().startswith(before)
    assert "w1.example" in (out / "checkpoints" / "40").read_text()
    export_log(led, fresh)
    assert files_of(out) == files_of(fresh)
    assert export_log(led, out).start == 47  # nothing new: nothing appended


def test_resumed_after_an_interruption(world, tmp_path: Path) -> None:
    led = world.led
    out, fresh = tmp_path / "export", tmp_path / "fresh"
    export_log(led, out)
    manifest = (out / "manifest.json").read_bytes()
    led.append_many([("custody.note", {"n": i}) for i in range(6000)])
    led.sign_checkpoint_now()

    def stop(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export_log(led, out, progress=stop)
    # cut short: entries were appended, the manifest still states the old export
    assert (out / "manifest.json").read_bytes() == manifest
    assert len((out / "entries.jsonl").read_bytes()) > json.loads(manifest)["files"][
        "entries.jsonl"]["size"]
    r = export_log(led, out)
    assert (r.start, r.size) == (40, 6040)
    export_log(led, fresh)
    assert files_of(out) == files_of(fresh)


def test_from_size_rewrites_from_there(world, tmp_path: Path) -> None:
    out, fresh = tmp_path / "export", tmp_path / "fresh"
    export_log(world.led, out)
    with open(out / "entries.jsonl", "r+b") as f:  # an interrupted tail beyond the manifest
        f.seek(0, 2)
        f.write(b'{"seq": 40, "leaf')
    r = export_log(world.led, out, start=12)
    assert (r.start, r.size) == (12, 40)
    export_log(world.led, fresh)
    assert files_of(out) == files_of(fresh)
    with pytest.raises(LedgerError, match="give a size from 0 to 40"):
        export_log(world.led, out, start=41)


def test_a_changed_export_is_refused_and_left_alone(world, tmp_path: Path) -> None:
    out = tmp_path / "export"
    export_log(world.led, out)
    note = out / "checkpoints" / "25"
    good = note.read_bytes()
    note.write_bytes(good.replace(b"\n\n", b"\n\n\n", 1))
    before = files_of(out)
    with pytest.raises(LedgerError, match="checkpoints/25 does not match"):
        export_log(world.led, out)
    assert files_of(out) == before
    note.write_bytes(good)
    (out / "timestamps" / "10" / "local-tsa.tst").unlink()
    with pytest.raises(LedgerError, match="cannot be read"):
        export_log(world.led, out)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(LedgerError, match="not a log export"):
        export_log(world.led, other)
    assert files_of(other) == {"notes.txt": b"mine"}


def evidence(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from evidence.cli.main import main; main()",
                           *args], capture_output=True, text=True, timeout=300, check=False)


def test_the_command_shows_progress_unless_quiet(world, tmp_path: Path) -> None:
    world.led.append_many([("custody.note", {"n": i}) for i in range(12_000)])
    args = ["log", "export", "--data-dir", str(world.dir)]
    r = evidence(*args, str(tmp_path / "a"))
    assert r.returncode == 0, r.stderr
    assert "exported 12,040 of 12,040 entries (100.0%)" in r.stderr
    assert "entries/s" in r.stderr
    assert "exported 12040 entries (12040 new), 4 checkpoints and 2 timestamps" in r.stdout
    r = evidence(*args, "--quiet", str(tmp_path / "b"))
    assert r.returncode == 0 and r.stderr == ""
    r = evidence(*args, "--json", "--from", "100", str(tmp_path / "b"))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert json.loads(r.stdout)["from"] == 100
    r = evidence(*args, "--from", "99999", str(tmp_path / "b"))
    assert r.returncode != 0 and "give a size from 0 to 12040" in r.stderr


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_read_in_small_batches_the_same_export(world, tmp_path: Path, batch: int) -> None:
    """Checkpoints and anchor rows are read a batch at a time (never every token at once):
    any batch size writes the same bytes, the cosigned checkpoints merged in order."""
    world.anchor(40, witnesses=("w1", "w2"))
    world.anchor(1, tsa=("local-tsa", world.tsa_url, world.ca_pem))
    world.anchor(25, tsa=("second-tsa", world.tsa_url, world.ca_pem))
    whole = export_log(world.led, tmp_path / "whole")
    small = export_log(world.led, tmp_path / "small", batch=batch)
    assert (small.checkpoints, small.timestamps) == (whole.checkpoints, whole.timestamps) \
        == (4, 4)
    got = files_of(tmp_path / "small")
    assert got == files_of(tmp_path / "whole")
    for size in (1, 10, 25, 40):
        want = cosigned_note(world.led, size) if size != 1 else world.led.checkpoint_at(1).note
        assert got[f"checkpoints/{size}"] == want.encode()
    assert {p for p in got if p.endswith(".tst")} == {
        "timestamps/1/local-tsa.tst", "timestamps/10/local-tsa.tst",
        "timestamps/25/local-tsa.tst", "timestamps/25/second-tsa.tst"}
