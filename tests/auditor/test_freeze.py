"""`evidence log freeze DIR` (docs/formats.md "Frozen log"): a real log, timestamped by the
local OpenSSL TSA and cosigned by a witness, frozen at its signed checkpoint, served by a
plain static file server (``python -m http.server``: no process of ours), read through HTTP
by Go's tlog tile client and, copied through HTTP file by file, audited by
scripts/audit_ledger.py; a changed byte of any file of DIR fails the audit. Bad input (a DIR
not empty, a file, a log with no signed checkpoint, a size with none) is refused with
nothing written."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from evidence.ledger.anchor.config import (
    add_tsa,
    add_witness,
    load_anchor_config,
    save_anchor_config,
)
from evidence.ledger.anchor.service import AnchorService
from evidence.ledger.audit.export_log import export_log
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.errors import LedgerError
from evidence.ledger.freeze import freeze_log
from evidence.ledger.freeze_readme import FETCH
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger
from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer
from tests.support.anchored_ledger import AnchoredLedger
from tests.support.standalone import AUDIT_SCRIPT
from tests.support.tiles_go import entries_digest, run_client
from tests.support.tsa import LocalTSA

pytestmark = pytest.mark.tsa
ORIGIN = "freeze.example/log"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from evidence.cli.main import main; main()",
                           *args], capture_output=True, text=True, timeout=300, check=False)


def audit(export: Path, trust: Path) -> dict[str, Any]:
    p = subprocess.run([sys.executable, "-I", str(AUDIT_SCRIPT), str(export), "--trust",
                        str(trust), "--json", "--workers", "1"],
                       capture_output=True, text=True, timeout=300, check=False)
    assert p.stdout.strip(), p.stderr
    report = json.loads(p.stdout)
    assert p.returncode == {"verified": 0, "failed": 1, "incomplete": 3}[report["verdict"]]
    return report


def reseal(d: Path) -> None:
    """Rewrite the manifest, canonical, for the files as they now are (a forger's move)."""
    man = json.loads((d / "manifest.json").read_bytes())
    man["files"] = {p.relative_to(d).as_posix(): {
        "sha256": hashlib.sha256(p.read_bytes()).hexdigest(), "size": p.stat().st_size}
        for p in sorted(d.rglob("*")) if p.is_file() and p.name != "manifest.json"}
    (d / "manifest.json").write_bytes((json.dumps(man, sort_keys=True, separators=(",", ":"),
                                                  ensure_ascii=False) + "\n").encode())


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in report["checks"]}


@pytest.fixture
def world(tmp_path: Path, tsa: LocalTSA):  # type: ignore[no-untyped-def]
    """Three preserved items and custody notes; the checkpoint of size 13 timestamped by the
    anchoring round (which also makes the items' evidence records) and cosigned by ``w1``;
    then two more entries that no checkpoint signs."""
    d = tmp_path / "data"
    led = Ledger.create(d, ORIGIN, checkpoint_interval=3600)
    intake = Intake(led, FilesystemBlobStore(d / "blobs"))
    ids = []
    for i, contents in enumerate([[b"contract v1"], [b"photo one", b"photo two"], [b"chat"]]):
        paths = []
        for j, c in enumerate(contents):
            (p := tmp_path / f"f{i}-{j}.bin").write_bytes(c)
            paths.append(p)
        ids.append(intake.submit(ItemSpec(files=paths, kind="document", case="C-1",
                                          principal="acme")).evidence_id)
    led.append_many([("custody.note", {"evidence_id": ids[0], "n": n, "who": "法官 judge"})
                     for n in range(10)])
    cp = led.sign_checkpoint_now()
    save_anchor_config(add_tsa(load_anchor_config(d), "local-tsa", tsa.url,
                               [tsa.ca_pem_path]))
    AnchorService(led, load_anchor_config(d)).run_once()
    w1 = generate_signer("w1.example", ALG_COSIGNATURE_V1)
    cfg = add_witness(load_anchor_config(d), "w1", "http://witness.invalid",
                      w1.verifier().to_string())
    save_anchor_config(replace(cfg, witness_quorum=1))
    AnchoredLedger(d, led, tsa.url, tsa.ca_cert_pem, {"w1": w1}).anchor(cp.size,
                                                                        witnesses=("w1",))
    led.append_many([("custody.note", {"n": n}) for n in (98, 99)])
    trust = tmp_path / "pinned-trust.txt"  # what the court holds, from outside DIR
    trust.write_bytes(AnchoredLedger(d, led, tsa.url, tsa.ca_cert_pem, {}).trust_bytes())
    yield led, cp.size, ids, trust, w1
    led.close()


def test_a_frozen_log_served_by_a_static_server(world, tmp_path: Path, go_client: Path,
                                                static_server) -> None:
    led, size, ids, trust, _w1 = world
    out = tmp_path / "frozen"
    r = cli("log", "freeze", "--data-dir", str(led.config.data_dir), str(out), "--json")
    assert r.returncode == 0, r.stderr
    said = json.loads(r.stdout)
    assert (said["size"], said["kind"], said["timestamps"]) == (size, "checkpoint", 1)
    assert said["anchored"] == {"timestamp": True, "cosignature": True}
    assert said["evidence_records"] == len(ids)
    man = json.loads((out / "manifest.json").read_bytes())
    assert man["frozen"] == {"kind": "checkpoint", "size": size,
                             "root": led.checkpoint_at(size).root.hex()}
    assert man["size"] == man["tiles"] == size < led.size  # the unsigned tail is left out
    assert {f"records/{e}.ers" for e in ids} <= set(man["files"])
    assert {"index.html", "README.txt", "trust.txt", "tlog/checkpoint",
            f"timestamps/{size}/local-tsa.tst"} <= set(man["files"])
    assert (out / "tlog/checkpoint").read_bytes() == (out / f"checkpoints/{size}").read_bytes()
    assert b"\n\xe2\x80\x94 w1.example " in (out / "tlog/checkpoint").read_bytes()

    base = static_server(out)
    page = httpx.get(base, timeout=10)
    assert page.status_code == 200 and "冻结的证据日志" in page.text \
        and "How to check" in page.text and str(size) in page.text
    # (a) Go's tile client, knowing only the URL and the log key
    g = run_client(go_client, base + "tlog/", led.verifier_key)
    assert g.returncode == 0, g.stderr
    got = json.loads(g.stdout)
    assert got["size"] == size and got["entries_digest"] == entries_digest(led, size)
    # (b) every file the manifest lists, fetched over HTTP with the commands the pages
    # give, then the offline audit
    assert FETCH in (out / "README.txt").read_text() and "frozen-copy" in page.text
    f = subprocess.run(["sh", "-c", FETCH.replace("<URL>/", base)], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300, check=False)
    assert f.returncode == 0, f.stderr
    copy = tmp_path / "frozen-copy"
    assert sorted(p.relative_to(copy) for p in copy.rglob("*") if p.is_file()) \
        == sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    report = audit(copy, trust)
    assert report["verdict"] == "verified", report
    assert statuses(report) == {"export": "pass", "log": "pass", "tiles": "pass",
                                "frozen": "pass", "records": "pass", "cosignatures": "pass",
                                "timestamps": "pass"}
    assert [t["checkpoint_size"] for t in report["timestamped"]] == [size]

    # a frozen log is never changed: export refuses it
    with pytest.raises(LedgerError, match="frozen log"):
        export_log(led, out)


def test_a_changed_byte_anywhere_fails_the_audit(world, tmp_path: Path) -> None:
    led, _size, _ids, trust, _w1 = world
    out = tmp_path / "frozen"
    freeze_log(led, out)
    assert audit(out, trust)["verdict"] == "verified"
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert "manifest.json" in files and sum(f.startswith("records/") for f in files) == 3
    for rel in files:
        bad = tmp_path / "bad"
        shutil.rmtree(bad, ignore_errors=True)
        shutil.copytree(out, bad)
        data = bytearray((bad / rel).read_bytes())
        data[len(data) // 2] ^= 0x01
        (bad / rel).write_bytes(bytes(data))
        report = audit(bad, trust)
        assert report["verdict"] == "failed", (rel, report)

    # a forger who also rewrites the manifest: the signatures still catch the change, and
    # a freeze claiming another size or kind is named by the frozen check
    bad = tmp_path / "forged"
    shutil.copytree(out, bad)
    man = json.loads((bad / "manifest.json").read_bytes())
    man["frozen"]["kind"] = "shard-final"
    (bad / "manifest.json").write_bytes((json.dumps(man, sort_keys=True, separators=(",", ":"),
                                                    ensure_ascii=False) + "\n").encode())
    report = audit(bad, trust)
    assert report["failed_check"] == "frozen" and "log.frozen" in str(report["checks"])

    # one item's record put in another's place, the manifest rewritten to match: the
    # record does not cover that item's files
    bad = tmp_path / "swapped"
    shutil.copytree(out, bad)
    a, b = sorted((bad / "records").iterdir())[:2]
    a.write_bytes(b.read_bytes())
    reseal(bad)
    report = audit(bad, trust)
    assert report["failed_check"] == "records" and a.name in str(report["checks"]), report


def test_bad_input_is_refused_and_nothing_is_written(world, tmp_path: Path) -> None:
    led, size, _ids, _trust, _w1 = world
    data = str(led.config.data_dir)
    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.txt").write_text("someone else's")
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    export = tmp_path / "export"
    export_log(led, export)
    before = sorted(tmp_path.iterdir())
    for target in (full, export):
        r = cli("log", "freeze", "--data-dir", data, str(target))
        assert r.returncode == 1, r.stderr
        assert "is not empty" in r.stderr and "nothing was written" in r.stderr
    r = cli("log", "freeze", "--data-dir", data, str(a_file))  # click's own check
    assert r.returncode == 2 and "is a file" in r.stderr
    with pytest.raises(LedgerError, match="is not a directory"):
        freeze_log(led, a_file)
    with pytest.raises(LedgerError, match=r"cannot write beside .*nothing was written"):
        freeze_log(led, a_file / "below-a-file")
    r = cli("log", "freeze", "--data-dir", data, "--at", str(size + 1), str(tmp_path / "n"))
    assert r.returncode != 0 and f"no signed checkpoint of size {size + 1}" in r.stderr
    assert (full / "notes.txt").read_text() == "someone else's"
    assert sorted(tmp_path.iterdir()) == before  # no DIR, no scratch directory left

    empty = Ledger.create(tmp_path / "empty", "empty.example/log", checkpoint_interval=3600)
    try:
        empty.append("custody.note", {"n": 1})  # entries, but nothing signed over them
        with pytest.raises(LedgerError, match="no signed checkpoint of at least one entry"):
            freeze_log(empty, tmp_path / "never")
        assert not (tmp_path / "never").exists()
        assert not [p for p in tmp_path.iterdir() if ".freezing-" in p.name]
    finally:
        empty.close()


def test_a_closed_shard_is_frozen_at_its_final_checkpoint(world, tmp_path: Path) -> None:
    """A log ended by ``log.frozen`` (docs/formats.md "Temporal shards") is frozen at its
    final checkpoint, and the manifest says so; the audit's frozen check holds it."""
    led, size, _ids, trust, _w1 = world
    if not hasattr(led, "final_checkpoint_size"):
        pytest.skip("this tree has no temporal shards yet (Ledger.final_checkpoint_size)")
    final = led.freeze(1, generate_signer("freeze.example/log-2").verifier())
    assert led.final_checkpoint_size() == final.size == size + 3
    out = tmp_path / "frozen"
    r = freeze_log(led, out)
    assert (r.kind, r.size) == ("shard-final", final.size)
    man = json.loads((out / "manifest.json").read_bytes())
    assert man["frozen"]["kind"] == "shard-final" and man["size"] == final.size
    report = audit(out, trust)
    assert statuses(report)["frozen"] == "pass" and report["verdict"] == "verified", report
    # an earlier checkpoint of the closed shard is a plain checkpoint freeze
    assert freeze_log(led, tmp_path / "earlier", at=size).kind == "checkpoint"


def test_a_closed_shard_of_a_data_directory(world, tmp_path: Path, tsa: LocalTSA) -> None:
    """`evidence log shard` closes shard 1 (final checkpoint timestamped and cosigned) and
    makes shard 2 active; `evidence log freeze --shard 1` freezes shard 1 at its final
    checkpoint, with the active trust file (which pins every shard's keys)."""
    from evidence.ledger.shards import start_shard

    led, _size, _ids, _trust, w1 = world
    d = led.config.data_dir

    def anchor(old: Ledger, size: int) -> dict[str, bool]:
        AnchoredLedger(d, old, tsa.url, tsa.ca_cert_pem, {"w1": w1}).anchor(
            size, tsa=("local-tsa", tsa.url, tsa.ca_cert_pem), witnesses=("w1",))
        return {"local-tsa": True, "w1": True}

    res = start_shard(d, "freeze.example/log-2", anchor=anchor)
    final = res.frozen.final_size
    out = tmp_path / "shard-1"
    r = cli("log", "freeze", "--data-dir", str(d), "--shard", "1", str(out), "--json")
    assert r.returncode == 0, r.stderr
    said = json.loads(r.stdout)
    assert (said["kind"], said["size"]) == ("shard-final", final)
    assert said["anchored"] == {"timestamp": True, "cosignature": True}
    with Ledger.open(d) as active:
        assert active.origin == "freeze.example/log-2"
        pinned = tmp_path / "pinned-after-shard.txt"
        pinned.write_bytes(AnchoredLedger(d, active, tsa.url, tsa.ca_cert_pem, {}).trust_bytes())
    assert (out / "trust.txt").read_bytes() == pinned.read_bytes()
    report = audit(out, pinned)
    assert report["verdict"] == "verified", report
    assert statuses(report)["frozen"] == "pass"
    r = cli("log", "freeze", "--data-dir", str(d), "--shard", "2", str(tmp_path / "no"))
    assert r.returncode == 1 and "no frozen shard 2" in r.stderr
    assert not (tmp_path / "no").exists()


def test_renewed_records_in_a_freeze(world, tmp_path: Path) -> None:
    """A timestamp renewal (RFC 4998 5.2) is checked from the entries' SHA-256 alone; a
    SHA-512 hash-tree renewal (5.3) needs the files' bytes, which a freeze does not hold:
    the records check says so (not-checked) rather than passing or failing it."""
    from evidence.ledger.anchor.ers_service import named_tsas, renew_records

    led, _size, ids, trust, _w1 = world
    d = led.config.data_dir
    assert renew_records(led, named_tsas(load_anchor_config(d))).renewed == len(ids)
    led.sign_checkpoint_now()
    freeze_log(led, tmp_path / "renewed")
    report = audit(tmp_path / "renewed", trust)
    assert statuses(report)["records"] == "pass", report
    assert report["verdict"] == "verified"

    renew_records(led, named_tsas(load_anchor_config(d)), hash_tree="sha512",
                  open_blob=FilesystemBlobStore(d / "blobs").open)
    led.sign_checkpoint_now()
    freeze_log(led, tmp_path / "sha512")
    report = audit(tmp_path / "sha512", trust)
    assert statuses(report)["records"] == "not-checked", report
    assert "chain over the files' bytes" in str(report["checks"])


def test_freezes_across_a_key_rotation(world, tmp_path: Path) -> None:
    """After `evidence log key rotate`, a freeze at a checkpoint of the old key and one at
    the newest (overlap, then the new key alone) both verify against the trust file
    `evidence trust export` writes (every key with its window)."""
    led, size, _ids, _trust, _w1 = world
    led.rotate_key(generate_signer(ORIGIN), overlap=2)
    for n in range(3):
        led.append("custody.note", {"n": 200 + n})
        led.sign_checkpoint_now()
    trust = tmp_path / "trust-after-rotation.txt"
    r = cli("trust", "export", "--data-dir", str(led.config.data_dir), "-o", str(trust))
    assert r.returncode == 0, r.stderr
    assert "#@ log-key " in trust.read_text()
    for name, at in (("old-key", size), ("newest", None)):
        freeze_log(led, tmp_path / name, at=at)
        assert (tmp_path / name / "trust.txt").read_bytes() == trust.read_bytes()
        report = audit(tmp_path / name, trust)
        assert report["verdict"] == "verified", (name, report)
        assert statuses(report)["frozen"] == "pass"
