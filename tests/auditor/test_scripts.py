"""The auditors' stand-alone tools, ``scripts/verify_bundle.py`` and ``scripts/audit_ledger.py``,
run as a court would run them: in a separate interpreter where only ``cryptography`` can be
imported (not ``rfc3161-client``, not ``evidence``). On many good and bad inputs they must
reach the same verdict as the package: the same named checks with the same status
(pass/fail/not-checked) and the same top verdict (``evidence.verify.bundle.verify_bundle``,
docs/verdict.md), and the same first bad seq (``evidence.ledger``'s audit rules, applied with
``evidence.verify`` to the same export).

Bundles are built here from ``evidence.verify`` primitives, byte for byte as docs/bundle.md
says, so the tests do not depend on the exporter; audits use a real SQLite ledger and
``evidence log export``.
"""

from __future__ import annotations

import base64
import copy
import json
import math
import os
import random
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence.verify import merkle
from evidence.verify.bundle import TrustRoots, verify_bundle
from evidence.verify.checkpoint import Checkpoint, sign_checkpoint
from evidence.verify.entry import encode_entry, parse_entry
from evidence.verify.errors import VerificationError
from evidence.verify.hashing import ZERO_HASH_HEX, leaf_hash, sha256
from evidence.verify.log import check_entries
from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer
from tests.support.standalone import (
    AUDIT_SCRIPT,
    EXIT,
    FILES,
    ORIGIN,
    ROOT,
    T0,
    VERIFY_SCRIPT,
    Built,
    build,
    checkpoint_text,
    load_audit_script,
    load_script_module,
    proof_json,
    run_clean,
    shim,
    with_tokens,
)

# --- a clean interpreter: cryptography (+ rfc3161-client), never evidence -----------------


@pytest.fixture(scope="module")
def clean_env(tmp_path_factory: pytest.TempPathFactory) -> Callable[[bool], dict[str, str]]:
    base = tmp_path_factory.mktemp("clean")

    def env(with_rfc3161: bool = True) -> dict[str, str]:
        # -S (below) skips site-packages and their .pth files, which is how the editable
        # `evidence` is found; PYTHONPATH then offers only the shim.
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
                "PYTHONPATH": str(shim(base, with_rfc3161)), "PYTHONIOENCODING": "utf-8"}

    return env


def test_the_clean_interpreter_cannot_import_evidence(clean_env, tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import cryptography, rfc3161_client\n"
        "try:\n    import evidence\nexcept ImportError:\n    print('no evidence')\n"
        "else:\n    print('evidence importable from', evidence.__file__)\n")
    p = run_clean(probe, [], clean_env(True), tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "no evidence"
    p = run_clean(probe, [], clean_env(False), tmp_path)
    assert "No module named 'rfc3161_client'" in p.stderr


def test_the_bundle_script_needs_only_cryptography() -> None:
    """Its imports are the standard library and cryptography (certifi only if present)."""
    import ast

    tree = ast.parse(VERIFY_SCRIPT.read_text())
    top = {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    top |= {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
            for a in n.names}
    assert top - sys.stdlib_module_names - {"__future__"} == {"cryptography", "certifi"}
    assert "needs only Python 3.11+ and ``cryptography``" in " ".join(vb.__doc__.split())


def test_scripts_import_nothing_from_evidence() -> None:
    for script in (VERIFY_SCRIPT, AUDIT_SCRIPT):
        text = script.read_text()
        assert "from evidence" not in text and "import evidence" not in text


# --- building bundles from evidence.verify primitives (docs/bundle.md) ---------------------


# --- the cases ------------------------------------------------------------------------------

Case = Callable[[Path], tuple[Path, dict[str, Any]]]
"""Builds a bundle in a directory; returns its path and the trust options."""


def _opts(b: Built, **kw: Any) -> dict[str, Any]:
    o = {"log_key": b.log.verifier().to_string(), "witness_keys": [], "quorum": 0,
         "tsa_ca": [], "require_timestamp": False}
    o.update(kw)
    return o


def case_good(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    return b.zip(d / "b.zip"), _opts(b)


def case_good_signed_witnessed(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build(signed=True, witnesses=2)
    keys = [w.verifier().to_string() for w in b.witnesses]
    return b.zip(d / "b.zip"), _opts(b, witness_keys=keys, quorum=2)


def case_quorum_not_met(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build(witnesses=1)
    other = generate_signer("witness9.test", ALG_COSIGNATURE_V1).verifier().to_string()
    return b.zip(d / "b.zip"), _opts(b, witness_keys=[b.witnesses[0].verifier().to_string(),
                                                     other], quorum=2)


def case_bad_cosignature(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build(witnesses=1)
    note = b.members["checkpoint/checkpoint.note"].decode()
    head, line = note.rsplit("\u2014 witness0.test ", 1)
    blob = bytearray(base64.b64decode(line.strip()))
    blob[-1] ^= 1
    b.members["checkpoint/checkpoint.note"] = (
        f"{head}\u2014 witness0.test {base64.b64encode(bytes(blob)).decode()}\n".encode())
    return b.zip(d / "b.zip"), _opts(b, witness_keys=[b.witnesses[0].verifier().to_string()])


def case_requires_timestamp_but_none(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    b.provisional = False
    return b.zip(d / "b.zip"), _opts(b, require_timestamp=True)


def case_wrong_log_key(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    return b.zip(d / "b.zip"), _opts(b, log_key=generate_signer(ORIGIN).verifier().to_string())


def case_other_origin_key(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    b.members["checkpoint/checkpoint.note"] = sign_checkpoint(
        Checkpoint("other.test/log", len(b.leaves), merkle.root(b.leaves)), b.log).encode()
    return b.zip(d / "b.zip"), _opts(b)


def case_tampered_file_manifest_updated(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    name = next(n for n in b.members if n.startswith("files/"))
    b.members[name] = b.members[name][:-1] + b"X"
    return b.zip(d / "b.zip"), _opts(b)


def case_tampered_file(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    man = b.manifest()
    name = next(n for n in b.members if n.startswith("files/"))
    b.members[name] = b.members[name][:-1] + b"X"
    return b.zip(d / "b.zip", manifest=man), _opts(b)


def case_tampered_entry_byte(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    e = b.members["entries/3.entry"]
    b.members["entries/3.entry"] = e.replace(b"view", b"copy")
    return b.zip(d / "b.zip"), _opts(b)


def case_non_canonical_entry(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    b.members["entries/3.entry"] = b.members["entries/3.entry"].replace(b'","', b'", "', 1)
    return b.zip(d / "b.zip"), _opts(b)


def case_float_in_entry(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    b.members["entries/3.entry"] = b.members["entries/3.entry"].replace(
        b'"seq":3', b'"seq":3.0')
    return b.zip(d / "b.zip"), _opts(b)


def case_entry_in_wrong_slot(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    b.members["entries/5.entry"] = b.members.pop("entries/4.entry")
    b.members["proofs/5.json"] = proof_json(5, b.leaves)
    return b.zip(d / "b.zip"), _opts(b)


def case_bad_proof_hash(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    p = json.loads(b.members["proofs/3.json"])
    p["proof"][0] = "00" * 32
    b.members["proofs/3.json"] = json.dumps(p).encode()
    return b.zip(d / "b.zip"), _opts(b)


def case_proof_to_other_size(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    b.members["proofs/3.json"] = proof_json(3, b.leaves[:-1])
    return b.zip(d / "b.zip"), _opts(b)


def case_proof_not_json(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    b.members["proofs/3.json"] = b"{not json"
    return b.zip(d / "b.zip"), _opts(b)


def case_proof_hashes_not_a_list(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    p = json.loads(b.members["proofs/3.json"])
    p["proof"] = 7
    b.members["proofs/3.json"] = json.dumps(p).encode()
    return b.zip(d / "b.zip"), _opts(b)


def case_missing_prev_proof(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    del b.members["proofs/1.json"]  # proves entry 2's prev link
    return b.zip(d / "b.zip"), _opts(b)


def case_stranger_custody(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build(stranger=True)  # a proven entry about another item in our bundle
    return b.zip(d / "b.zip"), _opts(b)


def case_purged(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build(purged=True)
    return b.zip(d / "b.zip"), _opts(b)


def case_purged_but_files_carried(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build(purged=True)
    data = FILES["shop.png"][0]
    b.members[f"files/{sha256(data).hex()}"] = data
    return b.zip(d / "b.zip"), _opts(b)


def case_metadata_missing(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    del b.members["metadata/metadata.json"]
    return b.zip(d / "b.zip"), _opts(b)


def case_metadata_wrong_salt(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    m = json.loads(b.members["metadata/metadata.json"])
    m["salt"] = "11" * 32
    b.members["metadata/metadata.json"] = json.dumps(m).encode()
    return b.zip(d / "b.zip"), _opts(b)


def case_metadata_changed(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    m = json.loads(b.members["metadata/metadata.json"])
    m["metadata"]["ratio"] = 1e-6
    b.members["metadata/metadata.json"] = json.dumps(m).encode()
    return b.zip(d / "b.zip"), _opts(b)


def case_metadata_tricky_numbers(d: Path) -> tuple[Path, dict[str, Any]]:
    meta = {"a": [0.1, 1e-6, 1e-7, 123456789012345680000.0, 1e21, -0.0, 5e-324,
                  1.7976931348623157e308, 2**53 - 1, -(2**53 - 1), 100.0, 0.000001234],
            "\U0001f600": "emoji key", "\ufb01": "sorts before the emoji in UTF-16",
            "ctl": "\u0000\u001f\"\\\t"}
    b = build(metadata=meta)
    return b.zip(d / "b.zip"), _opts(b)


def case_submitter_bad_signature(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build(signed=True)
    e = parse_entry(b.members["entries/2.entry"])
    body = copy.deepcopy(dict(e.body))
    body["submitter"]["key"] = generate_signer("mallory.example").verifier().to_string()
    return _rebuilt_with_body(d, b, 2, body)


def _rebuilt_with_body(d: Path, b: Built, seq: int, body: dict[str, Any]
                       ) -> tuple[Path, dict[str, Any]]:
    """Rewrite entry ``seq`` and re-sign everything after it, so that only ``body`` is wrong."""
    old = {s: parse_entry(x) for s, x in b.entries.items()}
    data: list[bytes] = []
    prev = ZERO_HASH_HEX
    for s in range(len(b.leaves)):
        e = old.get(s)
        if e is None:
            raw = encode_entry(s, T0.format(s), prev, "custody.note",
                               {"evidence_id": "ev_x", "principal": "u"})
        else:
            raw = encode_entry(s, e.time, prev, e.type, body if s == seq else dict(e.body))
        data.append(raw)
        prev = leaf_hash(raw).hex()
    b.leaves = [leaf_hash(x) for x in data]
    for s in b.entries:
        b.entries[s] = data[s]
        b.members[f"entries/{s}.entry"] = data[s]
    for name in [n for n in b.members if n.startswith("proofs/")]:
        s = int(name[7:-5])
        b.members[name] = proof_json(s, b.leaves)
    b.members["checkpoint/checkpoint.note"] = sign_checkpoint(
        Checkpoint(ORIGIN, len(b.leaves), merkle.root(b.leaves)), b.log).encode()
    return b.zip(d / "b.zip"), _opts(b)


def case_files_missing_from_submission(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    b.members["files/" + "ab" * 32] = b"not listed in the submission"
    return b.zip(d / "b.zip"), _opts(b)


def case_member_missing(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    man = b.manifest()
    del b.members["entries/3.entry"]
    return b.zip(d / "b.zip", manifest=man), _opts(b)


def case_member_unlisted(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    man = b.manifest()
    return b.zip(d / "b.zip", manifest=man, extra=[("report/report.html", b"<html>")]), _opts(b)


def case_manifest_not_json(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    return b.zip(d / "b.zip", manifest=b"\xff\xfe not json"), _opts(b)


def case_manifest_wrong_format(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    return b.zip(d / "b.zip", manifest=b.manifest(format="evidence-bundle/v9")), _opts(b)


def case_wrong_evidence_id(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    return b.zip(d / "b.zip", manifest=b.manifest(evidence_id="ev_other1")), _opts(b)


def _raw_zip(d: Path, names: list[tuple[str, bytes]], symlink: str | None = None) -> Path:
    path = d / "b.zip"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in names:
            z.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (0o120777 << 16)
            z.writestr(info, "/etc/passwd")
    return path


def case_zip_slip(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    return b.zip(d / "b.zip", extra=[("../../evil.sh", b"rm -rf /")]), _opts(b)


def case_absolute_path(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    return b.zip(d / "b.zip", extra=[("/etc/cron.d/x", b"x")]), _opts(b)


def case_duplicate_member(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    with pytest.warns(UserWarning):
        path = b.zip(d / "b.zip", extra=[("entries/3.entry", b"{}")])
    return path, _opts(b)


def case_symlink(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    return _raw_zip(d, [("manifest.json", b"{}")], symlink="files/" + "cd" * 32), _opts(b)


def case_not_a_zip(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    (d / "b.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
    return d / "b.zip", _opts(b)


def case_truncated(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    path = b.zip(d / "b.zip")
    path.write_bytes(path.read_bytes()[:-200])
    return path, _opts(b)


def case_no_manifest(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    return _raw_zip(d, [("entries/0.entry", b"{}")]), _opts(b)


def case_zip_bomb(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    return b.zip(d / "b.zip", extra=[("report/report.pdf", b"\0" * (3 << 20))]), _opts(b)


def case_damaged_member(d: Path) -> tuple[Path, dict[str, Any]]:
    b = build()
    path = b.zip(d / "b.zip")
    raw = bytearray(path.read_bytes())
    data = FILES["shop.png"][0]
    at = raw.find(data)  # stored, so the bytes are there as is: flip one (CRC now wrong)
    raw[at + 5] ^= 0xFF
    path.write_bytes(bytes(raw))
    return path, _opts(b)


BUNDLE_CASES: dict[str, Case] = {
    name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")
}


# --- running both verifiers ---------------------------------------------------------------


def _trust(o: dict[str, Any]) -> TrustRoots:
    from evidence.verify.note import parse_verifier_key

    return TrustRoots(log_key=parse_verifier_key(o["log_key"]),
                      witness_keys=[parse_verifier_key(k) for k in o["witness_keys"]],
                      witness_quorum=o["quorum"],
                      tsa_roots=[Path(p).read_bytes() for p in o["tsa_ca"]],
                      require_timestamp=o["require_timestamp"])


def reference(path: Path, o: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    """The package's top verdict and (name, status) of each check."""
    r = verify_bundle(str(path), _trust(o))
    return r.verdict, [(c.name, c.status) for c in r.checks]


def script_args(path: Path, o: dict[str, Any]) -> list[str]:
    args = [str(path), "--log-key", o["log_key"], "--json"]
    for k in o["witness_keys"]:
        args += ["--witness-key", k]
    if o["quorum"]:
        args += ["--witness-quorum", str(o["quorum"])]
    for p in o["tsa_ca"]:
        args += ["--tsa-ca", str(p)]
    if not o["require_timestamp"]:
        args.append("--no-timestamps")
    return args


def standalone(path: Path, o: dict[str, Any], env: dict[str, str], cwd: Path
               ) -> tuple[str, list[tuple[str, str]], dict[str, Any]]:
    """The script's verdict and (name, status) of each check, from its one JSON line; the
    exit status and the summary fields must say the same (docs/verdict.md section 2)."""
    p = run_clean(VERIFY_SCRIPT, script_args(path, o), env, cwd)
    assert p.stdout.count("\n") == 1, p.stdout  # JSON Lines: exactly one line
    out = json.loads(p.stdout)
    assert p.returncode == EXIT[out["verdict"]], p.stderr
    checks = [(c["name"], c["status"]) for c in out["checks"]]
    assert all(c["ok"] == (c["status"] == "pass") for c in out["checks"])
    assert out["ok"] == (out["verdict"] == "verified")
    assert out["failed_check"] == next((n for n, st in checks if st == "fail"), None)
    assert out["not_checked"] == [n for n, st in checks if st == "not-checked"]
    if out["verdict"] == "failed":  # no claim survives a failure
        assert out["preserved_no_later_than"] == []
        assert all("included" not in f for f in out["files"])
    return out["verdict"], checks, out


EXPECTED_FAILURE = {  # the check each bad case must fail (None: the bundle passes)
    "good": None, "good_signed_witnessed": None, "purged": None,
    "metadata_tricky_numbers": None, "quorum_not_met": "cosignatures",
    "bad_cosignature": "checkpoint", "requires_timestamp_but_none": "timestamps",
    "wrong_log_key": "checkpoint", "other_origin_key": "checkpoint",
    "tampered_file_manifest_updated": "files", "tampered_file": "manifest",
    "tampered_entry_byte": "inclusion", "non_canonical_entry": "entries",
    "float_in_entry": "entries", "entry_in_wrong_slot": "entries",
    "bad_proof_hash": "inclusion", "proof_to_other_size": "inclusion",
    "proof_not_json": "entries", "proof_hashes_not_a_list": "inclusion",
    "missing_prev_proof": "chain", "stranger_custody": "custody",
    "purged_but_files_carried": "files", "metadata_missing": "metadata",
    "metadata_wrong_salt": "metadata", "metadata_changed": "metadata",
    "submitter_bad_signature": "submitter", "files_missing_from_submission": "files",
    "member_missing": "manifest", "member_unlisted": "manifest", "manifest_not_json": "manifest",
    "manifest_wrong_format": "manifest", "wrong_evidence_id": "submission",
    "zip_slip": "archive", "absolute_path": "archive", "duplicate_member": "archive",
    "symlink": "archive", "not_a_zip": "archive", "truncated": "archive",
    "no_manifest": "archive", "zip_bomb": "archive", "damaged_member": "manifest",
}


def test_every_case_has_an_expectation() -> None:
    assert set(BUNDLE_CASES) == set(EXPECTED_FAILURE)


@pytest.mark.parametrize("name", sorted(BUNDLE_CASES))
def test_verify_bundle_script_agrees_with_the_package(name: str, tmp_path: Path,
                                                      clean_env) -> None:
    path, opts = BUNDLE_CASES[name](tmp_path)
    ref_verdict, ref_checks = reference(path, opts)
    verdict, checks, out = standalone(path, opts, clean_env(False), tmp_path)
    assert checks == ref_checks
    assert verdict == ref_verdict
    want = EXPECTED_FAILURE[name]
    if want is None:  # no token: provisional at best
        assert verdict == "provisional", checks
    else:
        assert verdict == "failed"
        assert out["failed_check"] == want, checks
    # nothing was written next to the bundle or in the working directory
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["b.zip"]
    if name == "good":
        assert out["evidence_id"] == "ev_01J9ZK7Q"
        assert [f["name"] for f in out["files"]] == list(FILES)
        assert [c["seq"] for c in out["custody"]] == [2, 3, 4]


CORPUS = sorted((ROOT / "tests" / "bundles").glob("*.zip"))


@pytest.mark.skipif(not CORPUS, reason="the hostile-bundle corpus (tests/bundles) is not there")
@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_hostile_corpus_agrees(path: Path, tmp_path: Path, clean_env) -> None:
    """The exporter engineer's corpus of hostile archives: both refuse each one alike."""
    o = _opts(build(), require_timestamp=True)
    ref_verdict, ref_checks = reference(path, o)
    verdict, checks, _ = standalone(path, o, clean_env(False), tmp_path)
    assert (verdict, checks) == (ref_verdict, ref_checks)
    assert verdict == "failed"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.tsa
def test_text_output_verdicts_and_exit_codes(tmp_path: Path, clean_env, tsa) -> None:
    """docs/verdict.md section 2 as a judge reads it: the top verdict last, in both
    languages; times in UTC and Asia/Shanghai; no time and no "included" after a failure."""
    from evidence.ledger.anchor.tsa_client import request_timestamp

    b = build(signed=True, witnesses=1)
    token = request_timestamp(tsa.url, checkpoint_text(b), timeout=30).token
    path = with_tokens(b, [("tsa-good", token)]).zip(tmp_path / "b.zip")
    keys = ["--log-key", b.log.verifier().to_string(),
            "--witness-key", b.witnesses[0].verifier().to_string(), "--witness-quorum", "1"]
    env = clean_env(False)

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return run_clean(VERIFY_SCRIPT, [str(path), *keys, *extra], env, tmp_path)

    p = run("--tsa-ca", str(tsa.ca_pem_path))
    assert p.returncode == 0, p.stdout + p.stderr
    out = p.stdout
    assert "RESULT: VERIFIED" in out and "结论：核验通过" in out and "FAIL" not in out
    assert "Preserved no later than" in out and " UTC (" in out and "Asia/Shanghai)" in out
    assert "(included)" in out and "（已包含）" in out
    assert all(len(line) < 400 for line in out.splitlines())
    p = run("--tsa-ca", str(tsa.ca_pem_path), "--lang", "en")
    assert "Asia/Shanghai" not in p.stdout and "通过" not in p.stdout and "PASS" in p.stdout
    p = run("--tsa-ca", str(tsa.ca_pem_path), "--lang", "zh", "--tz", "Europe/Berlin")
    assert "Europe/Berlin)" in p.stdout and "PASS" not in p.stdout and "通过" in p.stdout
    assert "RESULT" not in p.stdout and "结论：核验通过" in p.stdout
    # nothing pinned for the time: amber, the check not made named, exit 3
    p = run()
    assert p.returncode == 3, p.stdout + p.stderr
    assert "RESULT: not fully verified: not checked: timestamps (no TSA root" in p.stdout
    assert "结论：未完全核验：未检查：timestamps" in p.stdout
    assert "NOT CHECKED" in p.stdout and "未检查" in p.stdout
    # a failure: red, exit 1, the first failing check named, nothing claimed
    other = tmp_path / "other.pem"
    other.write_bytes(tsa.ca_cert_pem)
    (tmp_path / "judge.txt").write_bytes(b"not the preserved file")
    p = run("--tsa-ca", str(tsa.ca_pem_path), "--compare", str(tmp_path / "judge.txt"))
    assert p.returncode == 1, p.stdout + p.stderr
    assert "first failing check: compared_files" in p.stdout and "首个失败的检查" in p.stdout
    assert "no later than" not in p.stdout.lower() and "included" not in p.stdout
    assert "已包含" not in p.stdout and "不晚于" not in p.stdout
    # usage errors: exit 2, nothing verified
    for bad in (["--log-key", "garbage"], [], ["--tz", "Mars/Olympus"]):
        args = [str(path), *bad] if bad[:1] == ["--log-key"] or not bad else \
            [str(path), *keys, *bad]
        p = run_clean(VERIFY_SCRIPT, args, env, tmp_path)
        assert p.returncode == 2 and p.stdout == "" and len(p.stderr.splitlines()) == 1, bad


# --- timestamps: a real local TSA (OpenSSL) --------------------------------------------------


@pytest.mark.tsa
@pytest.mark.parametrize("variant,pin,over_other_data,status", [
    ("good", True, False, "pass"),
    ("quirky", True, False, "pass"),  # certificate SET out of DER order: accepted (unsigned)
    ("good", False, False, "not-checked"),  # no TSA root pinned: the time is not proven
    ("good", True, True, "fail"),  # a token over other data
    ("untrusted", True, False, "not-checked"),  # its chain ends at a root nobody pinned
    ("expired", True, False, "fail"),
    ("no-eku", True, False, "fail"),
    ("noncritical-eku", True, False, "fail"),
])
def test_timestamps_agree(variant: str, pin: bool, over_other_data: bool, status: str,
                          tmp_path: Path, clean_env, tsa, tsa_variant) -> None:
    """The script checks the CMS itself (no rfc3161-client in its interpreter) and reaches
    the package's statuses and verdict, and the same proven time."""
    from evidence.ledger.anchor.tsa_client import request_timestamp

    b = build()
    message = checkpoint_text(b) + (b"x" if over_other_data else b"")
    token = request_timestamp(tsa_variant(variant).url, message, timeout=30).token
    b = with_tokens(b, [(f"tsa-{variant}", token)])
    path = b.zip(tmp_path / "b.zip")
    o = _opts(b, require_timestamp=True, tsa_ca=[str(tsa.ca_pem_path)] if pin else [])
    ref_verdict, ref_checks = reference(path, o)
    verdict, checks, out = standalone(path, o, clean_env(False), tmp_path)
    assert (verdict, checks) == (ref_verdict, ref_checks)
    assert dict(checks)["timestamps"] == status
    ref = verify_bundle(str(path), _trust(o)).preserved_no_later_than
    assert [(t["gen_time"], t["tsa"]) for t in out["preserved_no_later_than"]] \
        == [(t["gen_time"], t["tsa"]) for t in ref]
    if status == "pass":
        assert out["preserved_no_later_than"][0]["tsa"].startswith("CN=Evidence Test TSA")
    ts = next(c for c in out["checks"] if c["name"] == "timestamps")
    assert "\n" not in ts["reason"] and len(ts["reason"]) <= 300
    if variant == "untrusted":
        assert "CN=Evidence Untrusted TSA" in ts["reason"]


# --- the script's own pieces against the package's (imported by path, in this process) ------


vb = load_script_module("verify_bundle", VERIFY_SCRIPT)
al = load_audit_script()

json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(-(2**53 - 1), 2**53 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner,
                                                                 max_size=4),
    max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_jcs_equals_rfc8785(value: Any) -> None:
    try:
        want = rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError):
        with pytest.raises((vb.Fail, UnicodeEncodeError)):
            vb.jcs(value)
        return
    assert vb.jcs(value) == want


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_number_form_equals_rfc8785(f: float) -> None:
    assert vb.jcs(f) == rfc8785.dumps(f)
    assert math.isclose(float(vb.jcs(f)), f) or f == 0


entry_bodies = st.dictionaries(st.text(max_size=5), json_values, max_size=4)


@settings(max_examples=300, deadline=None)
@given(entry_bodies, st.sampled_from([None, "space", "float", "unicode-escape", "big", "dup"]))
def test_entry_parsing_agrees(body: dict[str, Any], mutation: str | None) -> None:
    try:
        data = encode_entry(7, T0.format(7), ZERO_HASH_HEX, "custody.note", body)
    except VerificationError:
        return  # floats or non-ASCII keys: not an entry the ledger writes
    if mutation == "space":
        data = data.replace(b":", b": ", 1)
    elif mutation == "float":
        data = data.replace(b'"seq":7', b'"seq":7.0')
    elif mutation == "unicode-escape":
        data = data.replace(b'"custody', b'"\\u0063ustody')
    elif mutation == "big":
        data = data.replace(b'"seq":7', b'"seq":9007199254740992')
    elif mutation == "dup":
        data = data.replace(b'{"body"', b'{"v":1,"body"')
    try:
        parse_entry(data)
        ours = True
    except VerificationError:
        ours = False
    try:
        vb.parse_entry(data)
        theirs = True
    except vb.Fail:
        theirs = False
    try:
        al.parse_entry(data)
        audit_ok = True
    except al.Fail:
        audit_ok = False
    assert ours == theirs == audit_ok


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 300), st.data())
def test_inclusion_agrees(size: int, data: st.DataObject) -> None:
    leaves = [sha256(i.to_bytes(4, "big")) for i in range(size)]
    index = data.draw(st.integers(0, size - 1))
    proof = merkle.inclusion_proof_from_leaves(index, leaves)
    assert vb.root_from_inclusion_proof(index, size, leaves[index], proof) == merkle.root(leaves)
    if proof:
        bad = list(proof)
        bad[data.draw(st.integers(0, len(bad) - 1))] = bytes(32)
        assert vb.root_from_inclusion_proof(index, size, leaves[index], bad) != \
            merkle.root(leaves)
        with pytest.raises(vb.Fail):
            vb.root_from_inclusion_proof(index, size, leaves[index], proof[:-1])
    tree = al.Tree()
    for leaf in leaves:
        tree.append(leaf)
    assert tree.root() == merkle.root(leaves)


# --- audit_ledger.py over `evidence log export` ----------------------------------------------


@pytest.fixture(scope="module")
def ledger_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Any]:
    from evidence.ledger.audit.export_log import export_log
    from evidence.ledger.log import Ledger

    d = tmp_path_factory.mktemp("ledger")
    led = Ledger.create(d / "data", ORIGIN)
    rnd = random.Random(7)
    for i in range(70):
        led.append("custody.note", {"evidence_id": f"ev_{i % 5}", "n": i, "who": "法官 judge",
                                    "tags": ["a", "é"][: rnd.randint(0, 2)]})
        if i in (0, 6, 31, 63, 69):
            led.sign_checkpoint_now()
    export_log(led, d / "export")
    return d / "export", led.verifier_key, led


def reference_audit(export: Path, vkey: str) -> tuple[bool, int | None]:
    """evidence.ledger.audit.log_audit's rules over an export, with evidence.verify:
    checkpoint faults at size-1, entry faults at their seq, the smallest wins."""
    from evidence.verify.checkpoint import verify_checkpoint
    from evidence.verify.log import LogBroken
    from evidence.verify.note import parse_verifier_key

    key = parse_verifier_key(vkey)
    bad: list[int] = []
    roots: dict[int, bytes] = {}
    for f in (export / "checkpoints").iterdir():
        stored = int(f.name)
        try:
            v = verify_checkpoint(f.read_bytes(), key)
        except VerificationError:
            bad.append(max(stored - 1, 0))
            continue
        if v.checkpoint.size != stored:
            bad.append(max(stored - 1, 0))
            continue
        roots[stored] = v.checkpoint.root
    rows: list[dict[str, Any]] = []
    for i, line in enumerate((export / "entries.jsonl").read_bytes().splitlines()):
        try:
            rows.append(json.loads(line))
            base64.b64decode(rows[-1]["entry_b64"], validate=True)
            if rows[-1]["seq"] != i:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            bad.append(i)
            rows.pop() if len(rows) > i else None
            break
    try:
        check_entries([base64.b64decode(r["entry_b64"]) for r in rows], expected_roots=roots,
                      expected_leaf_hashes=[bytes.fromhex(r["leaf_hash"]) for r in rows])
    except LogBroken as e:
        bad.append(e.index)
    return not bad, min(bad) if bad else None


def _rewrite_rows(export: Path, fn: Callable[[list[bytes]], list[bytes]]) -> None:
    path = export / "entries.jsonl"
    rows = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(fn(rows)))


def _edit_entry(i: int, old: bytes, new: bytes) -> Callable[[list[bytes]], list[bytes]]:
    def fn(rows: list[bytes]) -> list[bytes]:
        row = json.loads(rows[i])
        data = base64.b64decode(row["entry_b64"])
        assert old in data
        row["entry_b64"] = base64.b64encode(data.replace(old, new, 1)).decode()
        rows[i] = (json.dumps(row) + "\n").encode()
        return rows
    return fn


def _edit_leaf_hash(i: int) -> Callable[[list[bytes]], list[bytes]]:
    def fn(rows: list[bytes]) -> list[bytes]:
        row = json.loads(rows[i])
        row["leaf_hash"] = ("0" if row["leaf_hash"][0] != "0" else "1") + row["leaf_hash"][1:]
        rows[i] = (json.dumps(row) + "\n").encode()
        return rows
    return fn


def _alter_checkpoint(size: int, how: str) -> Callable[[Path], None]:
    def fn(export: Path) -> None:
        path = export / "checkpoints" / str(size)
        note = path.read_text()
        text, sig = note[: note.rfind("\n\n") + 1], note[note.rfind("\n\n") + 1:]
        lines = text.split("\n")
        if how == "root":
            lines[2] = base64.b64encode(bytes(32)).decode()
            path.write_text("\n".join(lines) + sig)
        elif how == "signature":
            path.write_text(text + sig.replace(sig.strip()[-6:-2], "AAAA"))
        elif how == "size":
            path.rename(path.parent / str(size + 1))
    return fn


AUDIT_CASES: dict[str, tuple[Callable[[Path], None], int | None]] = {
    "good": (lambda e: None, None),
    "one_byte_changed": (lambda e: _rewrite_rows(e, _edit_entry(40, b'"n":40', b'"n":41')), 40),
    "non_canonical": (lambda e: _rewrite_rows(e, _edit_entry(12, b'"n":12', b'"n": 12')), 12),
    "row_deleted": (lambda e: _rewrite_rows(e, lambda r: r[:20] + r[21:]), 20),
    "rows_swapped": (lambda e: _rewrite_rows(e, lambda r: [*r[:9], r[10], r[9], *r[11:]]), 9),
    "last_row_deleted": (lambda e: _rewrite_rows(e, lambda r: r[:-1]), 69),
    "leaf_hash_column": (lambda e: _rewrite_rows(e, _edit_leaf_hash(50)), 50),
    "checkpoint_root_altered": (_alter_checkpoint(32, "root"), 31),
    "checkpoint_signature_altered": (_alter_checkpoint(7, "signature"), 6),
    "checkpoint_under_wrong_size": (_alter_checkpoint(64, "size"), 64),
    "garbage_line": (lambda e: _rewrite_rows(e, lambda r: [*r[:3], b"{oops\n", *r[4:]]), 3),
}


@pytest.mark.parametrize("name", sorted(AUDIT_CASES))
def test_audit_script_agrees(name: str, ledger_export, tmp_path: Path, clean_env) -> None:
    import shutil

    src, vkey, _ = ledger_export
    export = tmp_path / "export"
    shutil.copytree(src, export)
    mutate, want = AUDIT_CASES[name]
    mutate(export)
    before = {p: p.read_bytes() for p in export.rglob("*") if p.is_file()}
    p = run_clean(AUDIT_SCRIPT, [str(export), "--log-key", vkey, "--log-only", "--json"],
                  clean_env(False), tmp_path)
    assert p.returncode in (0, 1), p.stderr
    out = json.loads(p.stdout)
    assert (p.returncode == 0) == out["ok"]
    assert (out["ok"], out["first_bad_seq"]) == reference_audit(export, vkey)
    assert out["first_bad_seq"] == want, out
    assert before == {p: p.read_bytes() for p in export.rglob("*") if p.is_file()}


def test_audit_good_export_matches_the_ledger_audit(ledger_export, tmp_path: Path,
                                                    clean_env) -> None:
    from evidence.ledger.audit.log_audit import audit

    export, vkey, led = ledger_export
    ref = audit(led.engine, led.verifier)
    p = run_clean(AUDIT_SCRIPT, [str(export), "--log-key", vkey, "--log-only", "--json"],
                  clean_env(False), tmp_path)
    out = json.loads(p.stdout)
    assert ref.ok and out["ok"]
    assert (out["size"], out["root"]) == (ref.size, ref.root)
    assert out["checkpoints_checked"] == ref.checkpoints_checked == 5
    p = run_clean(AUDIT_SCRIPT, [str(export), "--log-key", vkey, "--log-only"], clean_env(False),
                  tmp_path)
    assert p.returncode == 0 and p.stdout.startswith("OK 通过")


def test_audit_with_another_key_fails_at_the_first_checkpoint(ledger_export, tmp_path: Path,
                                                              clean_env) -> None:
    export, _, _ = ledger_export
    other = generate_signer(ORIGIN).verifier().to_string()
    p = run_clean(AUDIT_SCRIPT, [str(export), "--log-key", other], clean_env(False), tmp_path)
    assert p.returncode == 1
    assert "first bad entry seq 0" in p.stdout
    assert "not the pinned --log-key" in p.stderr
    p = run_clean(AUDIT_SCRIPT, [str(tmp_path), "--log-key", other], clean_env(False), tmp_path)
    assert p.returncode == 2 and "not a log export" in p.stderr



# --- real bundles from the exporter (tests/support/bundle_world.py) ----------------------


@pytest.mark.tsa
def test_exported_bundles_agree(tmp_path_factory: pytest.TempPathFactory, tsa, clean_env,
                                tmp_path: Path) -> None:
    """A real ledger, intake, witness and local TSA: the exporter's bundles (signed; with a
    custody entry newer than the anchored checkpoint, which the exporter leaves for the next
    bundle; purged) get the same statuses and verdict from the script as from the package,
    with and without the witness quorum and the TSA root."""
    world_mod = pytest.importorskip("tests.support.bundle_world")
    w = world_mod.build_world(tmp_path_factory.mktemp("world"), tsa.url, tsa.ca_cert_pem,
                              tsa.ca_pem_path)
    try:
        for item in (w.a, w.b, w.c):
            path = tmp_path / f"{item}.zip"
            # b has an entry after the timestamped checkpoint: the exporter proves b to the
            # anchored checkpoint and leaves that entry for the next bundle (docs/bundle.md);
            # --provisional gives the ordinary bundle for an anchored item
            path.write_bytes(w.export(item, provisional=item == w.b))
            with zipfile.ZipFile(path) as z:
                assert {"report/report.html", "report/report.pdf"} <= set(z.namelist())
            for o in (
                _opts_for(w, quorum=1, tsa=True, require=True),
                _opts_for(w, quorum=0, tsa=False, require=False),
                _opts_for(w, quorum=2, tsa=True, require=True),
            ):
                ref = reference(path, o)
                assert standalone(path, o, clean_env(False), tmp_path)[:2] == ref, item
            verdict, checks = reference(path, _opts_for(w, quorum=1, tsa=True, require=True))
            assert verdict == "verified", checks
            if item == w.b:
                with zipfile.ZipFile(path) as z:
                    man = json.loads(z.read("manifest.json"))
                assert man["checkpoint_size"] == w.anchored_size and not man.get("provisional")
    finally:
        w.led.close()


def _opts_for(w: Any, *, quorum: int, tsa: bool, require: bool) -> dict[str, Any]:
    """Quorum 2: a second pinned witness, who never cosigned (so the quorum is not met)."""
    keys = [w.witness.verifier().to_string()]
    if quorum == 2:
        keys.append(generate_signer("witness-b.example", ALG_COSIGNATURE_V1).verifier()
                    .to_string())
    return {"log_key": w.led.verifier_key, "witness_keys": keys,
            "quorum": quorum, "tsa_ca": [str(w.ca_path)] if tsa else [],
            "require_timestamp": require}
