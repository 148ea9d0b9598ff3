"""C2SP tlog-proof@v1 files: written from a real ledger's receipts, read back strictly, and
checked against the trust file as the spec's tlog-policy (verify/tlog_proof.py).

The ledger is real (SQLite in a temp dir), the witnesses' cosignatures are stored as
anchoring stores them (tests/support/anchored_ledger.py), and every hostile variant is a
byte edit of a genuine file, each failing at the check the contract names."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path

import pytest

from evidence.ledger.anchor.config import add_witness, load_anchor_config, save_anchor_config
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger
from evidence.ledger.tlog_proof import proof_file, tlog_proof_text
from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer
from evidence.verify.tlog_proof import (
    HEADER,
    MalformedTlogProof,
    check_tlog_proof,
    parse_tlog_proof,
)
from evidence.verify.trust import parse_trust
from tests.support.anchored_ledger import AnchoredLedger


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("tlogproof")
    d = tmp / "data"
    led = Ledger.create(d, "tlogproof.example/log", checkpoint_interval=3600)
    intake = Intake(led, FilesystemBlobStore(d / "blobs"))
    signers = {n: generate_signer(f"{n}.example", ALG_COSIGNATURE_V1) for n in ("w1", "w2")}
    cfg = load_anchor_config(d)
    for name, s in signers.items():
        cfg = add_witness(cfg, name, "http://witness.invalid", s.verifier().to_string())
    cfg = replace(cfg, witness_quorum=2)
    save_anchor_config(cfg)
    anchored = AnchoredLedger(d, led, "", b"", signers)
    ids, files = [], []
    for i in range(7):
        f = tmp / f"f{i}.txt"
        f.write_bytes(f"file {i}".encode())
        files.append(f)
        ids.append(intake.submit(ItemSpec(files=[f], kind="document", case="C-1",
                                          principal="acme")).evidence_id)
        if i in (4, 6):
            led.sign_checkpoint_now()
    anchored.anchor(5, witnesses=("w1", "w2"))
    anchored.anchor(7, witnesses=("w1",))  # below the quorum of two
    trust = anchored.trust_bytes()
    other = Ledger.create(tmp / "other", "tlogproof.example/log", checkpoint_interval=3600)
    other.append("test.note", {"n": 1})
    other.sign_checkpoint_now()
    yield {"led": led, "intake": intake, "cfg": cfg, "ids": ids, "files": files,
           "trust": trust, "other": other}
    other.close()
    led.close()


def _file(w: dict, i: int) -> bytes:
    pf = proof_file(w["intake"].receipt(w["ids"][i]), w["led"], w["cfg"])
    assert pf.text is not None
    return pf.text.encode()


def _states(report) -> dict[str, str]:
    return {c.name: c.status for c in report.checks}


def test_the_file_is_the_spec_layout_and_proves_to_the_witnessed_checkpoint(world) -> None:
    pf = proof_file(world["intake"].receipt(world["ids"][1]), world["led"], world["cfg"])
    assert pf.witnessed and pf.text is not None
    lines = pf.text.split("\n")
    assert lines[0] == HEADER and lines[1].startswith("extra ") and lines[2] == "index 1"
    p = parse_tlog_proof(pf.text.encode())
    assert p.extra == world["led"].entry(1).data
    assert p.checkpoint.startswith("tlogproof.example/log\n5\n")  # not the latest (7)
    r = check_tlog_proof(pf.text.encode(), parse_trust(world["trust"]),
                         files=[world["files"][1].read_bytes()])
    assert r.verdict == "verified", r.to_json()
    assert list(_states(r)) == ["tlog_proof", "checkpoint", "cosignatures", "entries",
                                "inclusion", "compared_files"]


def test_falls_back_to_the_latest_checkpoint_with_a_note(world) -> None:
    pf = proof_file(world["intake"].receipt(world["ids"][5]), world["led"], world["cfg"])
    assert not pf.witnessed and "not witnessed" in pf.note and pf.text is not None
    r = check_tlog_proof(pf.text.encode(), parse_trust(world["trust"]))
    assert r.verdict == "failed" and r.failed_check == "cosignatures"
    plain = tlog_proof_text(world["intake"].receipt(world["ids"][5]))
    assert plain == pf.text


def test_without_the_extra_line_the_entry_must_be_given(world) -> None:
    data = _file(world, 2)
    rest = data.partition(b"\nindex ")[2]
    bare = HEADER.encode() + b"\nindex " + rest
    policy = parse_trust(world["trust"])
    assert check_tlog_proof(bare, policy).failed_check == "entries"
    entry = world["led"].entry(2).data
    assert check_tlog_proof(bare, policy, entry=entry).verdict == "verified"
    assert check_tlog_proof(data, policy, entry=world["led"].entry(3).data
                            ).failed_check == "entries"


def _edit(data: bytes, old: bytes, new: bytes) -> bytes:
    assert old in data
    return data.replace(old, new, 1)


def _line(lines: list[bytes], i: int, new: bytes | None) -> bytes:
    """The file with line ``i`` replaced by ``new`` (removed for None)."""
    return b"\n".join([*lines[:i], *([] if new is None else [new]), *lines[i + 1:]])


def test_hostile_files_fail_at_the_named_check(world) -> None:
    good = _file(world, 3)
    policy = parse_trust(world["trust"])
    lines = good.split(b"\n")
    hash_at = 3  # header, extra, index, first hash
    first = base64.b64decode(lines[hash_at])
    flipped = base64.b64encode(bytes([first[0] ^ 1]) + first[1:])
    other_cp = world["other"].latest_checkpoint().note.encode()
    cp_at = good.index(b"\n\n") + 2
    cases = {
        "wrong index": (_edit(good, b"\nindex 3\n", b"\nindex 2\n"), "entries"),
        "a hash removed": (_line(lines, hash_at, None), "inclusion"),
        "a hash truncated": (_line(lines, hash_at, lines[hash_at][:-4]), "tlog_proof"),
        "a hash changed": (_line(lines, hash_at, flipped), "inclusion"),
        "a checkpoint of another log": (good[:cp_at] + other_cp, "checkpoint"),
        "an extra line before the blank": (_edit(good, b"\n\n", b"\nnot a hash\n\n"),
                                           "tlog_proof"),
        "an extra line after the checkpoint": (good + b"trailing\n", "tlog_proof"),
        "a second extra line": (_edit(good, b"\nindex", b"\nextra AAAA\nindex"),
                                "tlog_proof"),
        "CRLF": (good.replace(b"\n", b"\r\n"), "tlog_proof"),
        "wrong header": (_edit(good, b"@v1", b"@v2"), "tlog_proof"),
        "index with a leading zero": (_edit(good, b"\nindex 3\n", b"\nindex 03\n"),
                                      "tlog_proof"),
        "not canonical base64": (_line(lines, hash_at, lines[hash_at][:-2] + b"B="),
                                 "tlog_proof"),
    }
    for why, (data, check) in cases.items():
        r = check_tlog_proof(data, policy)
        assert (r.verdict, r.failed_check) == ("failed", check), (why, r.to_json())


def test_cosignatures_below_quorum_and_quorum_none(world) -> None:
    good = _file(world, 0)
    w2 = next(line for line in good.split(b"\n") if line.startswith("— w2".encode()))
    below = good.replace(w2 + b"\n", b"")
    r = check_tlog_proof(below, parse_trust(world["trust"]))
    assert r.failed_check == "cosignatures"
    none = b"\n".join(line for line in world["trust"].split(b"\n")
                      if not line.startswith((b"group", b"quorum"))) + b"quorum none\n"
    none = none.replace(b"\n\nquorum", b"\nquorum")
    r = check_tlog_proof(below, parse_trust(none))
    assert r.verdict == "incomplete" and r.not_checked == ["cosignatures"]


def test_parse_refuses_junk() -> None:
    for data in (b"", b"c2sp.org/tlog-proof@v1\n", b"\xff\n\n", b"x" * (4 << 20),
                 b"c2sp.org/tlog-proof@v1\nindex 1\n\nnot a note\n"):
        with pytest.raises(MalformedTlogProof):
            parse_tlog_proof(data)


def test_the_judges_file_must_be_listed(world, tmp_path: Path) -> None:
    r = check_tlog_proof(_file(world, 1), parse_trust(world["trust"]), files=[b"other"])
    assert r.failed_check == "compared_files"
