"""Evidence bundles end to end: a real ledger (SQLite), intake's submissions, custody
entries, a purge, a checkpoint timestamped by a real local OpenSSL TSA and cosigned
by a witness; export, then verify every check by name; ``openssl ts -verify`` on the
bundle's token; hostile bundles, each refused with its reason and nothing written."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest

from evidence.ledger.anchor.tsa_client import request_timestamp
from evidence.ledger.blobs import BlobDamaged
from evidence.ledger.bundle.export import ExportError, NotAnchoredYet, export_bundle
from evidence.ledger.bundle.writer import BundleWriteError
from evidence.ledger.log import Ledger
from evidence.verify.bundle import (
    UNEXPECTED,
    BundleReport,
    NewerCheckpoint,
    find_file,
    verify_bundle,
)
from evidence.verify.bundle_reader import Limits
from evidence.verify.checkpoint import Checkpoint, parse_checkpoint, sign_checkpoint
from evidence.verify.note import generate_signer, parse_note
from tests.support.bundle_world import ORIGIN, World, build_world, manifest, members, rezip
from tests.support.tsa import LocalTSA

pytestmark = pytest.mark.tsa

ALL_CHECKS = ["archive", "manifest", "checkpoint", "cosignatures", "entries", "inclusion",
              "chain", "submission", "tlog_proof", "submitter", "custody", "files", "metadata",
              "timestamps"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> Iterator[World]:
    w = build_world(tmp_path_factory.mktemp("bundle"), tsa.url, tsa.ca_cert_pem,
                    tsa.ca_pem_path)
    yield w
    w.led.close()


@pytest.fixture(scope="module")
def good(world: World) -> bytes:
    return world.export(world.a)


def verify(data: bytes, world: World, **kw: Any) -> BundleReport:
    newer = kw.pop("newer", None)
    limits = kw.pop("limits", Limits())
    return verify_bundle(io.BytesIO(data), world.trust(**kw), newer=newer, limits=limits)


def failed(r: BundleReport) -> dict[str, str]:
    """The failing checks, by name -> reason. Both languages are always filled, on one
    line; a failure empties every summary claim (docs/verdict.md section 2)."""
    for c in r.checks:
        assert c.reason and c.reason_zh
        assert "\n" not in c.reason + c.reason_zh and len(c.reason) <= 300, c.reason
        assert not c.reason.startswith(UNEXPECTED), c.reason
        assert c.status in ("pass", "fail", "not-checked") and c.ok == (c.status == "pass")
    bad = {c.name: c.reason for c in r.checks if c.status == "fail"}
    assert (r.verdict == "failed") == bool(bad) and r.failed_check == next(iter(bad), None)
    if bad:
        assert r.preserved_no_later_than == [] and not any("included" in f for f in r.files)
    return bad


# --- the good path ------------------------------------------------------------------------


def test_export_then_verify_passes_every_named_check(world: World, good: bytes) -> None:
    r = verify(good, world)
    assert r.ok, failed(r)
    assert [c.name for c in r.checks] == ALL_CHECKS
    assert all(c.ok for c in r.checks)
    assert r.evidence_id == world.a
    assert r.checkpoint_size == world.anchored_size  # the timestamped one, not the latest
    assert [f["name"] for f in r.files] == ["shop.png", "chat.txt"]
    assert all(f["included"] for f in r.files)
    assert [c["type"] for c in r.custody] == ["evidence.submitted", "evidence.accessed",
                                              "evidence.shared"]
    assert r.preserved_no_later_than and r.preserved_no_later_than[0]["tsa"]
    assert "preserved no later than" in r.check("timestamps").reason
    assert r.checkpoint["cosigned_by"][0]["name"] == "witness-a.example"
    assert r.metadata is not None and "shop listing" in json.dumps(r.metadata)
    assert "acme-ip.example" in r.check("submitter").reason


def test_bundle_layout_and_manifest(world: World, good: bytes) -> None:
    m = members(good)
    man = json.loads(m["manifest.json"])
    assert man["format"] == "evidence-bundle/v2"
    assert man["log"] == {"origin": ORIGIN, "verifier_key": world.led.verifier_key}
    assert set(man["members"]) == set(m) - {"manifest.json"}
    for name, d in man["members"].items():
        assert d == {"sha256": sha256(m[name]).hexdigest(), "size": len(m[name])}
    # entries are the exact stored bytes; proofs for each entry and the leaf before it
    seqs = [man["submission_seq"], *man["custody_seqs"]]
    for s in seqs:
        assert m[f"entries/{s}.entry"] == world.led.entry(s).data
        assert f"proofs/{s}.json" in m and f"proofs/{s - 1}.json" in m
    # files byte for byte, stored (not deflated)
    with zipfile.ZipFile(io.BytesIO(good)) as z:
        for f in man["files"]:
            assert z.getinfo(f["path"]).compress_type == zipfile.ZIP_STORED
    # v2: each file in its hash's folder under its submitted name (docs/bundle.md)
    for p in world.files_a:
        assert m[f"files/{sha256(p.read_bytes()).hexdigest()}/{p.name}"] == p.read_bytes()
    assert [f["path"] for f in man["files"]] == [
        f"files/{sha256(p.read_bytes()).hexdigest()}/{p.name}" for p in world.files_a]
    index = m["index.html"].decode()
    assert "<script" not in index and all(f'href="files/{f["sha256"]}/' in index
                                          for f in man["files"])
    assert "report/report.txt" in m and "证据包报告" in m["report/report.txt"].decode()


def test_v1_export_still_verifies(world: World, good: bytes) -> None:
    """bundle_format v1, for a court whose verifier predates v2: files/<sha256>, no index
    page; the same verdict as the v2 bundle."""
    old = world.export(world.a, bundle_format="evidence-bundle/v1")
    m = members(old)
    man = json.loads(m["manifest.json"])
    assert man["format"] == "evidence-bundle/v1" and "index.html" not in m
    assert sorted(n for n in m if n.startswith("files/")) == sorted(
        f"files/{sha256(p.read_bytes()).hexdigest()}" for p in world.files_a)
    r = verify(old, world)
    assert r.verdict == "verified", [(c.name, c.reason) for c in r.checks]
    assert r.to_json()["format"] == "evidence-bundle/v1"
    assert verify(good, world).to_json()["format"] == "evidence-bundle/v2"


def test_export_is_deterministic(world: World, good: bytes) -> None:
    assert world.export(world.a) == good


def test_openssl_accepts_the_bundles_token(world: World, good: bytes, tmp_path: Path) -> None:
    m = members(good)
    text = parse_note(m["checkpoint/checkpoint.note"]).text
    (tmp_path / "tok").write_bytes(m["timestamps/0.tst"])
    (tmp_path / "data").write_bytes(text.encode())
    p = subprocess.run(["openssl", "ts", "-verify", "-in", str(tmp_path / "tok"), "-token_in",
                        "-data", str(tmp_path / "data"), "-CAfile", str(world.ca_path)],
                       capture_output=True, text=True, check=False)
    assert p.returncode == 0 and "Verification: OK" in p.stdout, p.stdout + p.stderr
    # and the chain file holds the TSA certificate the token names
    assert b"BEGIN CERTIFICATE" in m["timestamps/0.chain.pem"]


def test_purged_item_passes_without_files_and_says_purged(world: World) -> None:
    data = world.export(world.c)
    assert not [n for n in members(data) if n.startswith(("files/", "metadata/"))]
    r = verify(data, world)
    assert r.ok, failed(r)
    assert r.purged
    assert not r.check("files").required and "purged" in r.check("files").reason
    assert not r.check("metadata").required
    # the entry still proves the file's hash: "is this the preserved file?" still answers
    assert find_file(r, sha256(b"to be purged\n").hexdigest()) is not None


def test_entries_after_the_newest_timestamped_checkpoint(world: World) -> None:
    """Item b has a custody entry after the anchored checkpoint: the latest checkpoint
    covers it but carries no timestamp yet. By default the bundle is proven to the
    anchored checkpoint, the newer entry left out (warned). Exported provisional to the
    latest checkpoint, its timestamps check is not made and the verdict is provisional at
    best; with the flag stripped from the manifest (an attacker making it look final)
    the missing timestamp fails."""
    buf = io.BytesIO()
    res = export_bundle(world.led, world.store, world.b, buf)
    assert res.warnings and "not in this bundle" in res.warnings[0]
    assert manifest(buf.getvalue())["checkpoint_size"] == world.anchored_size
    assert verify(buf.getvalue(), world).ok
    data = world.export(world.b, provisional=True, checkpoint_size=world.latest_size)
    assert manifest(data)["checkpoint_size"] == world.latest_size
    r = verify(data, world, witness_quorum=0)
    assert not failed(r) and r.verdict == "provisional" and not r.ok
    assert r.check("timestamps").status == "not-checked"
    assert r.not_checked == ["cosignatures", "timestamps"]
    assert r.preserved_no_later_than == []
    m = members(data)
    man = json.loads(m["manifest.json"])
    man["provisional"] = False
    m["manifest.json"] = json.dumps(man).encode()
    r = verify(rezip(m, fix_manifest=False), world, witness_quorum=0)
    assert r.verdict == "failed" and r.failed_check == "timestamps"
    assert "no RFC 3161 timestamp" in failed(r)["timestamps"]
    # without --provisional, the unanchored latest checkpoint is refused
    with pytest.raises(NotAnchoredYet):
        world.export(world.b, checkpoint_size=world.latest_size)


def test_export_refusals(world: World, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no evidence item"):
        world.export("ev_nope")
    with pytest.raises(ExportError, match="no stored checkpoint"):
        world.export(world.a, checkpoint_size=world.anchored_size - 1)
    out = tmp_path / "x.zip"
    out.write_bytes(b"keep")
    with pytest.raises(BundleWriteError, match="exists"):
        export_bundle(world.led, world.store, world.a, out)
    assert out.read_bytes() == b"keep" and os.listdir(tmp_path) == ["x.zip"]


def test_export_stops_on_a_damaged_blob(world: World, tmp_path: Path) -> None:
    sha = sha256(world.files_a[1].read_bytes()).hexdigest()
    path = world.store.path_of(sha)
    original = path.read_bytes()
    os.chmod(path, 0o644)
    path.write_bytes(original[:-1] + b"X")
    try:
        with pytest.raises(BlobDamaged, match="damaged"):
            export_bundle(world.led, world.store, world.a, tmp_path / "b.zip")
        assert not list(tmp_path.iterdir())  # no partial file left behind
    finally:
        path.write_bytes(original)


def test_still_in_log(world: World, good: bytes) -> None:
    latest = world.led.checkpoint_at(world.latest_size)
    proof = world.led.consistency_proof(world.anchored_size, world.latest_size).to_json()
    r = verify(good, world, newer=NewerCheckpoint(latest.note.encode(), proof))
    assert r.ok, failed(r)
    assert r.checks[-1].name == "still_in_log" and r.still_in_log["size"] == world.latest_size
    # a proof between other sizes, a forged proof, an unsigned newer checkpoint
    other = world.led.consistency_proof(world.anchored_size - 1, world.latest_size).to_json()
    assert "still_in_log" in failed(verify(good, world, newer=NewerCheckpoint(
        latest.note.encode(), other)))
    bad = dict(proof, proof=[h[::-1] for h in proof["proof"]])
    assert "still_in_log" in failed(verify(good, world, newer=NewerCheckpoint(
        latest.note.encode(), bad)))
    rogue = sign_checkpoint(parse_checkpoint(parse_note(latest.note).text),
                            generate_signer(ORIGIN))
    assert "not signed by the pinned log key" in failed(verify(good, world, newer=NewerCheckpoint(
        rogue.encode(), proof)))["still_in_log"]
    # the same checkpoint again: an empty proof between equal sizes holds
    older = world.led.checkpoint_at(world.anchored_size)
    assert verify(good, world, newer=NewerCheckpoint(older.note.encode(), {
        "size1": world.anchored_size, "size2": world.anchored_size, "proof": []})).ok


# --- hostile bundles ------------------------------------------------------------------------


@pytest.fixture
def quiet_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty working directory and temp directory: verification must write nothing."""
    work, tmp = tmp_path / "cwd", tmp_path / "tmp"
    work.mkdir()
    tmp.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    yield tmp_path
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "cwd", "tmp"], "verification wrote something"


def _replace(data: bytes, **changes: bytes | None) -> bytes:
    m = members(data)
    for k, v in changes.items():
        name = k.replace("__", "/").replace("_DOT_", ".")
        if v is None:
            del m[name]
        else:
            m[name] = v
    return rezip(m)


def _entry_seqs(data: bytes) -> tuple[int, list[int]]:
    man = manifest(data)
    return man["submission_seq"], man["custody_seqs"]


def test_hostile_tampered_file_byte(world: World, good: bytes, quiet_dir: Path) -> None:
    m = members(good)
    name = next(n for n in m if n.startswith("files/"))
    m[name] = m[name][:-1] + bytes([m[name][-1] ^ 1])
    assert "manifest" in failed(verify(rezip(m, fix_manifest=False), world))
    assert "is not the preserved one" in failed(verify(rezip(m), world))["files"]


def test_hostile_tampered_entry_byte(world: World, good: bytes, quiet_dir: Path) -> None:
    m = members(good)
    sub, _ = _entry_seqs(good)
    name = f"entries/{sub}.entry"
    m[name] = m[name].replace(b"acme-ip", b"acme-iq", 1)
    assert "manifest" in failed(verify(rezip(m, fix_manifest=False), world))
    assert "inclusion" in failed(verify(rezip(m), world))


def test_hostile_swapped_metadata_salt(world: World, good: bytes, quiet_dir: Path) -> None:
    m = members(good)
    opened = json.loads(m["metadata/metadata.json"])
    opened["salt"] = sha256(b"another salt").hexdigest()
    m["metadata/metadata.json"] = json.dumps(opened).encode()
    assert "do not open the commitment" in failed(verify(rezip(m), world))["metadata"]
    # and metadata taken from another item (with its own salt) does not open it either
    other = members(world.export(world.b, provisional=True))["metadata/metadata.json"]
    assert "metadata" in failed(verify(_replace(good, metadata__metadata_DOT_json=other),
                                       world))


def test_hostile_proof_from_another_item(world: World, good: bytes, quiet_dir: Path) -> None:
    other = world.export(world.b, provisional=True)
    sub_b, _ = _entry_seqs(other)
    sub_a, _custody_a = _entry_seqs(good)
    m = members(good)
    # b's proof put in place of a's: it proves another leaf
    p = world.led.inclusion_proof(sub_b, world.anchored_size).to_json()
    m[f"proofs/{sub_a}.json"] = json.dumps(p).encode()
    assert f"is a proof for leaf {sub_b}" in failed(verify(rezip(m), world))["inclusion"]
    p["index"] = sub_a  # relabelled: still b's leaf
    m[f"proofs/{sub_a}.json"] = json.dumps(p).encode()
    assert "for another leaf" in failed(verify(rezip(m), world))["inclusion"]
    p["leaf_hash"] = world.led.entry(sub_a).leaf_hash.hex()  # and a's leaf hash: wrong path
    m[f"proofs/{sub_a}.json"] = json.dumps(p).encode()
    assert "gives root" in failed(verify(rezip(m), world))["inclusion"]
    # b's entry and proofs smuggled in as a custody entry of a: proven, but not a's
    m = members(good)
    for i in (sub_b, sub_b - 1):
        m[f"proofs/{i}.json"] = json.dumps(world.led.inclusion_proof(
            i, world.anchored_size).to_json()).encode()
    m[f"entries/{sub_b}.entry"] = world.led.entry(sub_b).data
    assert "another evidence item" in failed(verify(rezip(m), world))["custody"]


def test_hostile_inclusion_proof_to_another_checkpoint(world: World, good: bytes,
                                                       quiet_dir: Path) -> None:
    sub, _ = _entry_seqs(good)
    p = world.led.inclusion_proof(sub, world.latest_size).to_json()
    reason = failed(verify(_replace(good, **{f"proofs__{sub}_DOT_json": json.dumps(p).encode()}),
                           world))["inclusion"]
    assert "not to the bundle's checkpoint" in reason
    # the other tree's hashes relabelled with this checkpoint's size: the root differs
    p["tree_size"] = world.anchored_size
    assert "inclusion" in failed(verify(
        _replace(good, **{f"proofs__{sub}_DOT_json": json.dumps(p).encode()}), world))


def test_hostile_chain_link_proof_missing_or_wrong(world: World, good: bytes,
                                                   quiet_dir: Path) -> None:
    _, custody = _entry_seqs(good)
    last = custody[-1]
    # the proof of the leaf before the last entry: gone, then the wrong leaf's
    assert "chain" in failed(verify(_replace(good, **{f"proofs__{last - 1}_DOT_json": None}),
                                    world))
    wrong = world.led.inclusion_proof(last - 2, world.anchored_size).to_json()
    wrong["index"] = last - 1
    assert "chain" in failed(verify(
        _replace(good, **{f"proofs__{last - 1}_DOT_json": json.dumps(wrong).encode()}), world))


def test_hostile_checkpoint_signed_by_a_key_not_pinned(world: World, good: bytes,
                                                       quiet_dir: Path) -> None:
    m = members(good)
    cp = parse_checkpoint(parse_note(m["checkpoint/checkpoint.note"]).text)
    rogue = sign_checkpoint(cp, generate_signer(ORIGIN))  # same name, another key
    reason = failed(verify(_replace(good, checkpoint__checkpoint_DOT_note=rogue.encode()),
                           world))["checkpoint"]
    assert "pinned log key" in reason and "no signature by a pinned key" in reason
    # pinning another key for a genuine bundle fails the same way
    assert "checkpoint" in failed(verify(good, world, log_key=generate_signer(ORIGIN).verifier()))


def test_hostile_bundle_from_another_log(world: World, good: bytes, tmp_path: Path,
                                         tsa: LocalTSA) -> None:
    other = build_world(tmp_path, tsa.url, tsa.ca_cert_pem, tsa.ca_pem_path)
    try:
        data = other.export(other.a)
        assert verify(data, other).ok  # good for its own log
        r = verify(data, world)  # but not for the log the court pinned
        assert list(failed(r)) == ["checkpoint"]
    finally:
        other.led.close()


def test_hostile_witness_quorum(world: World, good: bytes, quiet_dir: Path) -> None:
    from evidence.verify.note import ALG_COSIGNATURE_V1

    stranger = generate_signer("witness-b.example", ALG_COSIGNATURE_V1).verifier()
    r = verify(good, world, witness_keys=[stranger], witness_quorum=1)
    assert "quorum (1 of w1 (cli)) is not met" in failed(r)["cosignatures"]
    assert not r.ok and r.failed_check == "cosignatures"
    # quorum 0: cosignatures are not required, so not checked: never "pass, 0 checked"
    r = verify(good, world, witness_keys=[stranger], witness_quorum=0)
    assert not failed(r) and r.verdict == "incomplete" and r.not_checked == ["cosignatures"]
    r = verify(good, world, witness_keys=[], witness_quorum=0)
    assert r.verdict == "incomplete" and "no witness key is pinned" in r.check(
        "cosignatures").reason


def test_hostile_token_over_different_data(world: World, good: bytes, quiet_dir: Path) -> None:
    other = request_timestamp(world.tsa_url, b"some other checkpoint\n", timeout=30).token
    r = verify(_replace(good, timestamps__0_DOT_tst=other), world)
    reason = failed(r)["timestamps"]
    assert "other data than this checkpoint" in reason
    detail = r.check("timestamps").detail
    assert detail and "SHA-256 of this message" in detail and "SHA-256" not in reason
    # a second, genuine token does not excuse a tampered one
    m = members(good)
    m["timestamps/1.tst"], m["timestamps/1.chain.pem"] = other, m["timestamps/0.chain.pem"]
    man = json.loads(m["manifest.json"])
    man["timestamps"].append({"tsa": "x", "token": "timestamps/1.tst",
                              "chain": "timestamps/1.chain.pem"})
    m["manifest.json"] = json.dumps(man).encode()
    assert "timestamps" in failed(verify(rezip(m), world))


def test_timestamp_roots_not_pinned(world: World, good: bytes, tsa_variant) -> None:
    untrusted = tsa_variant("untrusted").ca_cert_pem
    r = verify(good, world, tsa_roots=[untrusted])
    assert not failed(r) and r.verdict == "incomplete" and r.not_checked == ["timestamps"]
    reason = r.check("timestamps").reason
    assert "none of the bundle's TSAs is one the trust policy pins" in reason
    assert "CN=" in reason  # the bundle's TSA, named
    assert r.preserved_no_later_than == []
    r = verify(good, world, tsa_roots=[])
    assert r.verdict == "incomplete" and "--tsa-ca" in r.check("timestamps").reason
    assert verify(good, world, tsa_roots=[], require_timestamp=False).verdict == "incomplete"


def test_hostile_missing_and_extra_members(world: World, good: bytes, quiet_dir: Path) -> None:
    m = members(good)
    del m["metadata/metadata.json"]
    assert "missing" in failed(verify(rezip(m, fix_manifest=False), world))["manifest"]
    assert "metadata and salt are missing" in failed(verify(rezip(m), world))["metadata"]
    m = members(good)
    del m[next(n for n in m if n.startswith("files/"))]
    assert "files missing" in failed(verify(rezip(m), world))["files"]
    m = members(good)
    m["proofs/999999.json"] = b"{}"  # a name the format allows, not in the manifest
    assert "unlisted" in failed(verify(rezip(m, fix_manifest=False), world))["manifest"]
    m = members(good)
    m["files/" + "0" * 64 + "/extra.txt"] = b"extra"
    assert "extra" in failed(verify(rezip(m), world))["files"]
    m = members(good)
    m["files/" + "0" * 64] = b"a v1 name in a v2 bundle"
    assert "not of the evidence-bundle/v2 layout" in failed(verify(rezip(m), world))["manifest"]
    m = members(good)
    del m["manifest.json"]
    assert "no manifest" in failed(verify(rezip(m), world))["archive"]


def test_hostile_manifest_lies(world: World, good: bytes, quiet_dir: Path) -> None:
    m = members(good)
    man = json.loads(m["manifest.json"])
    man["format"] = "evidence-bundle/v9"
    m["manifest.json"] = json.dumps(man).encode()
    assert "not evidence-bundle/v2 or v1" in failed(verify(rezip(m, fix_manifest=False),
                                                           world))["manifest"]
    for bad in (b"[]", b"{", b"{\"format\": \"evidence-bundle/v1\"}", b"\xff\xfe"):
        r = verify(_replace(good, manifest_DOT_json=bad), world)
        assert not r.ok and failed(r)
    # another item's id in the manifest: no submission for it in the bundle
    man = json.loads(members(good)["manifest.json"])
    man["evidence_id"] = world.b
    m = members(good)
    m["manifest.json"] = json.dumps(man).encode()
    assert "submission" in failed(verify(rezip(m, fix_manifest=False), world))


ARCHIVE_CASES = ["zip_slip", "absolute_path", "backslash_path", "unknown_name", "symlink",
                 "duplicate", "ratio_bomb", "total_bomb", "overlap", "directory",
                 "encrypted_flag", "bzip2_file", "truncated", "not_a_zip", "empty"]


@pytest.mark.parametrize("case", ARCHIVE_CASES)
def test_hostile_archive_corpus(case: str, world: World, quiet_dir: Path) -> None:
    data = (Path(__file__).resolve().parents[2] / "bundles" / f"{case}.zip").read_bytes()
    r = verify(data, world)
    assert [c.name for c in r.checks] == ["archive"] and not r.ok, r.checks
    assert r.checks[0].reason


def _directory(data: bytes) -> list[tuple[str, int, int]]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [(i.filename, i.file_size, i.compress_type) for i in z.infolist()]


def test_corpus_is_what_the_script_makes() -> None:
    from tests.bundles.make_corpus import CASES, DEFLATED, make

    assert sorted(CASES) == sorted(ARCHIVE_CASES)
    for name in CASES:
        kept = (Path(__file__).resolve().parents[2] / "bundles" / f"{name}.zip").read_bytes()
        if name in DEFLATED:  # deflate bytes depend on the zlib build
            assert _directory(make(name)) == _directory(kept), name
        else:
            assert make(name) == kept, name


def test_limits_total_size_and_members(world: World, good: bytes) -> None:
    assert "expands to" in failed(verify(good, world, limits=Limits(max_total_size=1000)))[
        "archive"]
    assert "members; the limit" in failed(verify(good, world, limits=Limits(max_members=3)))[
        "archive"]
    assert "declares" in failed(verify(good, world, limits=Limits(max_small_member=100)))[
        "archive"]


def test_truncated_and_damaged_real_bundle(world: World, good: bytes, quiet_dir: Path) -> None:
    for cut in (len(good) // 2, len(good) - 30, 100):
        r = verify(good[:cut], world)
        assert not r.ok and list(failed(r)) == ["archive"]
    # damage inside a deflated member (CRC or zlib error): refused, not a crash
    z = zipfile.ZipFile(io.BytesIO(good))
    info = z.getinfo("checkpoint/checkpoint.note")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 2
    bad = bytearray(good)
    bad[start] ^= 0xFF
    r = verify(bytes(bad), world)
    assert not r.ok and failed(r)


def test_other_kinds_of_checkpoint_damage(world: World, good: bytes) -> None:
    m = members(good)
    cp = parse_checkpoint(parse_note(m["checkpoint/checkpoint.note"]).text)
    # a log signature over a checkpoint with another root (the real key is not ours to use:
    # sign with a rogue key and pin it, so only the tree can catch it)
    rogue = generate_signer(ORIGIN)
    forged = sign_checkpoint(Checkpoint(cp.origin, cp.size, sha256(b"x").digest()), rogue)
    r = verify(_replace(good, checkpoint__checkpoint_DOT_note=forged.encode()), world,
               log_key=rogue.verifier(), witness_keys=[], witness_quorum=0)
    assert "inclusion" in failed(r)


def test_verify_from_a_path_reads_and_writes_nothing_else(world: World, good: bytes,
                                                          tmp_path: Path) -> None:
    p = tmp_path / "b.zip"
    p.write_bytes(good)
    before = sorted(os.listdir(tmp_path))
    assert verify_bundle(str(p), world.trust()).ok
    assert sorted(os.listdir(tmp_path)) == before


def test_ledger_reopened_read_only_exports_the_same(world: World, good: bytes) -> None:
    cfg = world.led.config
    led = Ledger.open(cfg.data_dir, read_only=True)
    try:
        buf = io.BytesIO()
        from tests.support.bundle_world import FIXED_NOW

        export_bundle(led, world.store, world.a, buf, now=FIXED_NOW)
        assert buf.getvalue() == good
    finally:
        led.close()
