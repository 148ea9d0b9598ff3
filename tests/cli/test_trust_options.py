"""The pinned-key options of the verifying commands: one spelling, one set of checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from evidence.cli.main import cli
from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer


def run(*args: object):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    receipts = tmp_path / "proofs.jsonl"
    receipts.write_text("")
    bundle = tmp_path / "b.zip"
    bundle.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip: never opened below
    return receipts, bundle


@pytest.mark.parametrize("command", ["verify-receipts", "verify"])
def test_witness_key_as_log_key_is_refused(inputs: tuple[Path, Path], command: str) -> None:
    witness = generate_signer("witness.example", ALG_COSIGNATURE_V1).verifier().to_string()
    target = inputs[0] if command == "verify-receipts" else inputs[1]
    r = run(command, target, "--log-key", witness)
    assert r.exit_code == 2
    assert "--log-key must be an Ed25519 log key (not a witness key)" in r.output


@pytest.mark.parametrize("command", ["verify-receipts", "verify"])
def test_keys_inline_or_from_files_and_bad_ones_named(inputs: tuple[Path, Path],
                                                      tmp_path: Path, command: str) -> None:
    target = inputs[0] if command == "verify-receipts" else inputs[1]
    missing = tmp_path / "nope.vkey"
    r = run(command, target, "--log-key", missing)
    assert r.exit_code == 2 and "--log-key" in r.output and "not a key and not a readable" \
        in r.output
    log = generate_signer("log.example/log").verifier().to_string()
    bad = tmp_path / "bad.vkey"
    bad.write_text("witness+zz+%%%")
    r = run(command, target, "--log-key", log, "--witness-key", bad)
    assert r.exit_code == 2 and "--witness-key" in r.output
    r = run(command, target, "--log-key", log, "--witness-quorum", "-1")
    assert r.exit_code == 2 and "--witness-quorum" in r.output


@pytest.mark.parametrize("command", ["verify-receipts", "verify"])
def test_trust_file_options_are_shared(inputs: tuple[Path, Path], tmp_path: Path,
                                       command: str) -> None:
    """--trust / --trust-sha256 on both commands: a bad or unpinned file, or a trust file
    beside the shorthand, is a usage error (exit 2) and nothing is verified."""
    target = inputs[0] if command == "verify-receipts" else inputs[1]
    log = generate_signer("log.example/log").verifier().to_string()
    trust = tmp_path / "trust.txt"
    trust.write_bytes(f"log {log}\nquorum none\n".encode())
    r = run(command, target, "--trust", trust, "--log-key", log)
    assert r.exit_code == 2 and "not both" in r.output
    r = run(command, target, "--trust", trust, "--trust-sha256", "ab" * 32)
    assert r.exit_code == 2 and "not the trust file the operator stated" in r.output
    trust.write_bytes(b"# no log\nquorum none\n")
    r = run(command, target, "--trust", trust)
    assert r.exit_code == 2 and "names no log key" in r.output
    trust.write_bytes(f"log {log}\r\nquorum none\r\n".encode())
    r = run(command, target, "--trust", trust)
    assert r.exit_code == 2 and "line 1: carriage return" in r.output
    r = run(command, target)
    assert r.exit_code == 2 and "--trust" in r.output


def test_verify_receipts_refuses_a_nested_quorum(inputs: tuple[Path, Path],
                                                 tmp_path: Path) -> None:
    log = generate_signer("log.example/log").verifier().to_string()
    w = [generate_signer(f"w{i}.example", ALG_COSIGNATURE_V1).verifier().to_string()
         for i in range(2)]
    trust = tmp_path / "trust.txt"
    trust.write_text(f"log {log}\nwitness a {w[0]}\nwitness b {w[1]}\ngroup g any a b\n"
                     "group top all g a\nquorum top\n")
    r = run("verify-receipts", inputs[0], "--trust", trust)
    assert r.exit_code == 2 and "nested groups" in r.output
