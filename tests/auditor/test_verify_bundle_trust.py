"""The stand-alone script's trust file and command line (docs/verdict.md sections 2-4):
its parser refuses exactly what the package's refuses and reads the same policy; the quorum
by groups, several log keys, ``--trust-sha256``, ``#@ tsa`` roots, ``#@ tsa-store mozilla``
without ``certifi``, re-zipped bundles, the ``tools/verify_bundle.py`` member, ``--compare``
and ``--debug``, each run as a court runs it (a separate interpreter with ``cryptography``
only) and held equal to ``evidence.verify.bundle``."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence.verify.bundle import verify_bundle
from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer
from evidence.verify.trust import TrustFileError, parse_trust
from tests.support import trust_vectors as pkg_vectors
from tests.support.standalone import (
    EXIT,
    FILES,
    ORIGIN,
    VERIFY_SCRIPT,
    build,
    checkpoint_text,
    load_verify_script,
    run_clean,
    shim,
    with_tokens,
)

vb = load_verify_script()


@pytest.fixture(scope="module")
def clean_env(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """An interpreter environment where only cryptography can be imported (-S: no site)."""
    base = tmp_path_factory.mktemp("clean")

    def env(with_rfc3161: bool = False) -> dict[str, str]:
        assert not with_rfc3161
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
                "PYTHONPATH": str(shim(base, False)), "PYTHONIOENCODING": "utf-8"}

    return env


def ours(data: bytes) -> Any:
    try:
        return vb.parse_trust(data)
    except vb.TrustError as e:
        return e


def theirs(data: bytes) -> Any:
    try:
        return parse_trust(data)
    except TrustFileError as e:
        return e


def same_policy(mine: Any, pkg: Any) -> None:
    """Both refused, or both read the same pins."""
    assert isinstance(mine, Exception) == isinstance(pkg, Exception), (mine, pkg)
    if isinstance(mine, Exception):
        assert "\n" not in str(mine)
        return
    assert [k.text for k in mine.log_keys] == [lg.verifier.to_string() for lg in pkg.logs]
    assert {n: k.text for n, k in mine.witnesses.items()} == \
        {w.name: w.verifier.to_string() for w in pkg.witnesses}
    assert {n: (k, tuple(m)) for n, (k, m) in mine.groups.items()} == \
        {g.name: (g.k, g.members) for g in pkg.groups}
    assert mine.quorum == pkg.quorum
    assert [(n, c.public_bytes(Encoding.DER)) for n, c in mine.tsa_roots] == \
        [(t.name, t.der) for t in pkg.tsas]
    assert (mine.tsa_store == "mozilla") == pkg.tsa_store_mozilla
    assert {n: k.text for n, k in mine.capture_nodes.items()} == \
        {c.name: c.verifier.to_string() for c in pkg.capture_nodes}


# --- the parser, against the package's ------------------------------------------------------


def test_the_full_example_reads_the_same() -> None:
    mine = ours(pkg_vectors.GOOD)
    same_policy(mine, theirs(pkg_vectors.GOOD))
    assert mine.capture_nodes["shanghai-1"].name == "capture.example/shanghai-1"
    assert mine.tsa_store == "mozilla"
    assert mine.satisfied("witnesses", {"w3"}) and not mine.satisfied("witnesses", {"court-w1"})
    assert mine.satisfied("witnesses", {"court-w1", "notary-w2"})


@pytest.mark.parametrize(("data", "line", "message"), pkg_vectors.BAD,
                         ids=[m for _, _, m in pkg_vectors.BAD])
def test_the_package_refusals_are_refused(data: bytes, line: int | None, message: str) -> None:
    mine = ours(data)
    assert isinstance(mine, vb.TrustError), message
    if line is not None:
        assert f"line {line}:" in str(mine)


@pytest.mark.parametrize("text", [
    "log {L}\n#@ \t\n#@\nquorum none\n",  # a bare "#@" is a comment
    "\n  \t log\t{L}  \n\nquorum none",  # no final newline, blanks around items
    "log {L}\n#@not-an-extension\nquorum none\n",
    "log {L}\nwitness a {W0}\nwitness b {W1}\ngroup g all a b\ngroup h 1 g\nquorum h\n",
    "log {L}\nlog {L2}\nquorum none\n",
    "log {L}\nwitness a {W0}\u3000x\nquorum none\n",  # U+3000 is not a separator: 3 items
    "log {L}\nwitness a {W0}\nquorum a\nquorum a\n",
    "log {L}\nquorum none\n#@ tsa-store mozilla\n#@ tsa-store mozilla\n",
    "log {L}\nquorum none\n#@ capture-node n {L2}\n#@ capture-node n {W0}\n",
    "log {L}\nquorum none\n#@ capture-node n {L}\n",  # the log key again
])
def test_edge_cases_read_alike(text: str) -> None:
    data = text.format(L=pkg_vectors.LOG.to_string(), L2=pkg_vectors.LOG2.to_string(),
                       W0=pkg_vectors.W[0].to_string(), W1=pkg_vectors.W[1].to_string()
                       ).encode()
    same_policy(ours(data), theirs(data))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_files_are_refused_alike(data: st.DataObject) -> None:
    raw = bytearray(pkg_vectors.GOOD)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.sampled_from([0x20, 0x09, 0x0A, 0x0D, 0x00, 0x23, 0x40, 0x41,
                                            0x80, 0xE3, 0x7F, raw[(i + 7) % len(raw)]]))
    same_policy(ours(bytes(raw)), theirs(bytes(raw)))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_are_refused_alike(data: bytes) -> None:
    same_policy(ours(data), theirs(data))


# --- on bundles, in a cryptography-only interpreter -------------------------------------------


def script(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, Any, str]:
    p = run_clean(VERIFY_SCRIPT, [*args, "--json"], env, cwd)
    out = json.loads(p.stdout) if p.stdout else None
    if out is not None:
        assert p.stdout.count("\n") == 1 and p.returncode == EXIT[out["verdict"]]
    return p.returncode, out, p.stderr


def statuses(out: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["name"], c["status"]) for c in out["checks"]]


def package(path: Path, trust: bytes, compare: list[tuple[str, str]] | None = None
            ) -> tuple[str, list[tuple[str, str]]]:
    r = verify_bundle(str(path), parse_trust(trust), compare=compare, store_roots=())
    return r.verdict, [(c.name, c.status) for c in r.checks]


def trust_text(b: Any, *lines: str, logs: list[str] | None = None) -> bytes:
    logs = logs if logs is not None else [b.log.verifier().to_string()]
    return ("".join(f"log {k}\n" for k in logs) + "".join(f"{x}\n" for x in lines)).encode()


def test_quorum_by_groups_and_several_log_keys(tmp_path: Path, clean_env) -> None:
    b = build(witnesses=3)
    b.members["checkpoint/checkpoint.note"] = _drop_cosigner(b, 2)  # w2 did not cosign
    path = b.zip(tmp_path / "b.zip")
    w = [x.verifier().to_string() for x in b.witnesses]
    other_log = generate_signer("another.example/log").verifier().to_string()
    wits = [f"witness a {w[0]}", f"witness b {w[1]}", f"witness c {w[2]}"]
    cases = {
        "two of three": (["group g 2 a b c", "quorum g"], "pass"),
        "all three": (["group g all a b c", "quorum g"], "fail"),
        "nested": (["group ab all a b", "group g any ab c", "quorum g"], "pass"),
        "nested, c required": (["group ab all a b", "group g all ab c", "quorum g"], "fail"),
        "one witness": (["quorum c"], "fail"),
        "none": (["quorum none"], "not-checked"),
    }
    env = clean_env(False)
    for name, (lines, want) in cases.items():
        for logs in ([other_log, b.log.verifier().to_string()],
                     [b.log.verifier().to_string()]):
            t = tmp_path / "trust.txt"
            t.write_bytes(trust_text(b, *wits, *lines, logs=logs))
            _, out, err = script([str(path), "--trust", str(t)], env, tmp_path)
            assert out is not None, err
            assert dict(statuses(out))["cosignatures"] == want, name
            assert (out["verdict"], statuses(out)) == package(path, t.read_bytes()), name
    # a trust file that pins only another log: the checkpoint fails, naming the origin
    t.write_bytes(trust_text(b, "quorum none", logs=[other_log]))
    code, out, _ = script([str(path), "--trust", str(t)], env, tmp_path)
    assert code == 1 and out["failed_check"] == "checkpoint" and ORIGIN in \
        out["checks"][-1]["reason"]
    assert package(path, t.read_bytes())[0] == "failed"


def _drop_cosigner(b: Any, i: int) -> bytes:
    note = b.members["checkpoint/checkpoint.note"].decode()
    name = b.witnesses[i].verifier().name
    return "".join(line for line in note.splitlines(keepends=True)
                   if not line.startswith(f"\u2014 {name} ")).encode()


def test_trust_sha256_and_usage_errors(tmp_path: Path, clean_env) -> None:
    b = build()
    path = b.zip(tmp_path / "b.zip")
    t = tmp_path / "trust.txt"
    t.write_bytes(trust_text(b, "quorum none"))
    digest = hashlib.sha256(t.read_bytes()).hexdigest()
    env = clean_env(False)
    code, out, _ = script([str(path), "--trust", str(t), "--trust-sha256", digest.upper()],
                          env, tmp_path)
    assert code == 3 and out["verdict"] == "provisional"
    for args, message in [
        (["--trust", str(t), "--trust-sha256", "0" * 64], "SHA-256"),
        (["--trust-sha256", digest], "needs --trust"),
        (["--trust", str(t), "--log-key", b.log.verifier().to_string()], "not both"),
        (["--trust", str(tmp_path / "missing.txt")], "missing.txt"),
        (["--trust", str(path)], "trust file"),  # a ZIP is not a trust file
        (["--witness-quorum", "1"], "no log key"),
        (["--log-key", b.log.verifier().to_string(), "--witness-quorum", "2",
          "--witness-key", generate_signer("w.example", ALG_COSIGNATURE_V1).verifier()
          .to_string()], "needs at least 2 --witness-key"),
        (["--log-key", b.log.verifier().to_string(), "--witness-quorum", "1"],
         "needs at least 1 --witness-key"),
        (["--log-key", b.log.verifier().to_string(), "--compare", str(tmp_path / "nope")],
         "nope"),
    ]:
        code, out, err = script([str(path), *args], env, tmp_path)
        assert code == 2 and out is None, args
        assert message in err and len(err.strip().splitlines()) == 1, (args, err)
    bad = tmp_path / "bad.txt"
    for data in pkg_vectors.BAD[:8]:
        bad.write_bytes(data[0])
        code, out, err = script([str(path), "--trust", str(bad)], env, tmp_path)
        assert code == 2 and out is None and err.startswith("verify_bundle.py: "), data


@pytest.mark.tsa
def test_tsa_roots_and_the_mozilla_store(tmp_path: Path, clean_env, tsa, tsa_variant) -> None:
    from evidence.ledger.anchor.tsa_client import request_timestamp

    b = build(witnesses=1)
    tokens = [("good", request_timestamp(tsa.url, checkpoint_text(b), timeout=30).token),
              ("untrusted", request_timestamp(tsa_variant("untrusted").url, checkpoint_text(b),
                                              timeout=30).token)]
    path = with_tokens(b, tokens).zip(tmp_path / "b.zip")
    root = x509.load_pem_x509_certificate(tsa.ca_cert_pem).public_bytes(Encoding.DER)
    pin = f"#@ tsa local-test-root {base64.b64encode(root).decode()}"
    env = clean_env(False)
    w = f"witness w {b.witnesses[0].verifier().to_string()}"
    for lines, verdict, ts in [
        ([w, "quorum w", pin], "verified", "pass"),  # the untrusted token beside is skipped
        ([w, "quorum w", "#@ tsa-store mozilla"], "incomplete", "not-checked"),
        ([w, "quorum w", pin, "#@ tsa-store mozilla"], "verified", "pass"),
        ([w, "quorum w"], "incomplete", "not-checked"),
    ]:
        t = tmp_path / "trust.txt"
        t.write_bytes(trust_text(b, *lines))
        _, out, err = script([str(path), "--trust", str(t)], env, tmp_path)
        assert out is not None, err
        assert (out["verdict"], dict(statuses(out))["timestamps"]) == (verdict, ts), lines
        assert (out["verdict"], statuses(out)) == package(path, t.read_bytes()), lines
        if lines == [w, "quorum w", "#@ tsa-store mozilla"]:  # no certifi in this interpreter
            assert "certifi" in out["checks"][-1]["reason"]
        if verdict == "verified":
            assert out["preserved_no_later_than"][0]["tsa"].startswith("CN=Evidence Test TSA")
            assert "1 by TSAs not pinned were skipped" in out["checks"][-1]["reason"]
    # with certifi (in this process) the store is loaded; the local TSA is not in it
    trust = vb.parse_trust(trust_text(b, "quorum none", "#@ tsa-store mozilla"))
    vb.load_store_roots(trust)
    assert len(trust.store_roots) > 50
    report = vb.verify_bundle(str(path), trust)
    assert next(c for c in report.checks if c["name"] == "timestamps")["status"] == \
        "not-checked"


@pytest.mark.tsa
def test_damaged_token_reason_is_one_line_and_debug_has_detail(tmp_path: Path, clean_env,
                                                               tsa) -> None:
    from evidence.ledger.anchor.tsa_client import request_timestamp

    b = build()
    token = bytearray(request_timestamp(tsa.url, checkpoint_text(b), timeout=30).token)
    token[-1] ^= 1  # the last byte of the CMS signature value
    path = with_tokens(b, [("good", bytes(token))]).zip(tmp_path / "b.zip")
    args = [str(path), "--log-key", b.log.verifier().to_string(), "--tsa-ca",
            str(tsa.ca_pem_path)]
    code, out, err = script(args, clean_env(False), tmp_path)
    ts = out["checks"][-1]
    assert code == 1 and ts["name"] == "timestamps" and ts["status"] == "fail"
    assert ts["reason"] == "token 0: the CMS signature does not verify"
    assert "\n" not in ts["reason_zh"] and err == ""
    # a certificate in the token replaced by garbage of the same length: one plain line
    tok = bytes(token)
    sd = vb.der_parse(tok, vb.SEQ).children()[1].children()[0].children()
    cert = next(t for t in sd[3:-1] if t.tag == vb.CTX0).children()[0]
    inner = cert.children()[0]  # tbsCertificate: its bytes become an OCTET STRING's
    broken = tok[:inner.start] + b"\x04" + tok[inner.start + 1:]
    b.members["timestamps/0.tst"] = broken
    path = b.zip(tmp_path / "c.zip")
    args[0] = str(path)
    p = run_clean(VERIFY_SCRIPT, [*args, "--debug", "--json"], clean_env(False), tmp_path)
    out = json.loads(p.stdout)
    assert out["failed_check"] == "timestamps", out["checks"]
    assert out["checks"][-1]["reason"].startswith("token 0: ")
    assert "\n" not in out["checks"][-1]["reason"] and p.returncode == 1


def _rezip(src: Path, dst: Path, how: str) -> Path:
    with zipfile.ZipFile(src) as z:
        members = [(i.filename, z.read(i)) for i in z.infolist()]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        if how == "folder entries":
            for d in sorted({n.rsplit("/", 1)[0] + "/" for n, _ in members if "/" in n}):
                z.writestr(d, b"")
        for name, data in members:
            z.writestr(f"bundle/{name}" if how == "top folder" else name, data,
                       compress_type=zipfile.ZIP_DEFLATED if how != "folder entries"
                       or not name.startswith("files/") else zipfile.ZIP_STORED)
    dst.write_bytes(buf.getvalue())
    return dst


@pytest.mark.parametrize("how", ["deflated", "folder entries", "top folder"])
def test_a_rezipped_bundle_is_named(how: str, tmp_path: Path, clean_env) -> None:
    b = build()
    path = _rezip(b.zip(tmp_path / "b.zip"), tmp_path / "r.zip", how)
    code, out, _ = script([str(path), "--log-key", b.log.verifier().to_string()],
                          clean_env(False), tmp_path)
    assert code == 1 and statuses(out) == [("archive", "fail")]
    assert out["checks"][0]["reason"] == "not the original bundle file: ask for the original"
    assert out["checks"][0]["reason_zh"] == "不是原始证据包文件：请索取原件"
    p = run_clean(VERIFY_SCRIPT, [str(path), "--log-key", b.log.verifier().to_string(),
                                  "--lang", "zh"], clean_env(False), tmp_path)
    assert "不是原始证据包文件：请索取原件" in p.stdout and "ask for" not in p.stdout


def test_tool_member_and_compare(tmp_path: Path, clean_env) -> None:
    b = build()
    b.members["tools/verify_bundle.py"] = VERIFY_SCRIPT.read_bytes()
    path = b.zip(tmp_path / "b.zip")
    same = tmp_path / "shop.png"
    same.write_bytes(next(iter(FILES.values()))[0])
    other = tmp_path / "other.png"
    other.write_bytes(same.read_bytes() + b"!")
    base = [str(path), "--log-key", b.log.verifier().to_string()]
    env = clean_env(False)
    code, out, _ = script([*base, "--compare", str(same)], env, tmp_path)
    assert out["verdict"] == "provisional" and out["checks"][-1]["name"] == "compared_files"
    assert out["checks"][-1]["status"] == "pass"
    assert out["tool"]["sha256"] == hashlib.sha256(VERIFY_SCRIPT.read_bytes()).hexdigest()
    assert out["compared"] == [{"name": str(same), "sha256": hashlib.sha256(
        same.read_bytes()).hexdigest(), "matches": next(iter(FILES))}]
    trust = trust_text(b, "quorum none")
    sha = [(str(same), hashlib.sha256(same.read_bytes()).hexdigest())]
    assert (out["verdict"], statuses(out)) == package(path, trust, sha)
    code, out, _ = script([*base, "--compare", str(same), "--compare", str(other)], env,
                          tmp_path)
    assert code == 1 and out["failed_check"] == "compared_files"
    assert all("included" not in f for f in out["files"])
    sha.append((str(other), hashlib.sha256(other.read_bytes()).hexdigest()))
    assert (out["verdict"], statuses(out)) == package(path, trust, sha)
    p = run_clean(VERIFY_SCRIPT, base, env, tmp_path)
    assert hashlib.sha256(VERIFY_SCRIPT.read_bytes()).hexdigest() in p.stdout
    assert "scripts/verify_bundle.py" in p.stdout


def test_the_script_runs_alone_as_the_bundle_carries_it(tmp_path: Path, clean_env) -> None:
    """tools/verify_bundle.py is this file copied alone: it needs nothing beside it."""
    alone = tmp_path / "tools" / "verify_bundle.py"
    alone.parent.mkdir()
    alone.write_bytes(VERIFY_SCRIPT.read_bytes())
    b = build()
    path = b.zip(tmp_path / "b.zip")
    p = subprocess.run(["python3", "-S", str(alone), str(path), "--log-key",
                        b.log.verifier().to_string(), "--json"], env=clean_env(False),
                       cwd=alone.parent, capture_output=True, text=True, check=False)
    assert p.returncode == 3, p.stderr
    assert json.loads(p.stdout)["verdict"] == "provisional"


@pytest.mark.tsa
def test_a_damaged_token_from_an_unpinned_tsa_fails(tmp_path: Path, clean_env, tsa,
                                                    tsa_variant) -> None:
    """The token's own integrity (structure, signed attributes, signature, imprint) is
    checked before its chain, as the verify page does: a damaged token is a sign of
    tampering even when its TSA is not one the court pinned. A genuine token of that TSA
    is skipped (not-checked)."""
    from evidence.ledger.anchor.tsa_client import request_timestamp

    b = build()
    token = request_timestamp(tsa_variant("untrusted").url, checkpoint_text(b), timeout=30).token
    args = ["--log-key", b.log.verifier().to_string(), "--tsa-ca", str(tsa.ca_pem_path)]
    env = clean_env(False)
    path = with_tokens(b, [("untrusted", token)]).zip(tmp_path / "b.zip")
    code, out, _ = script([str(path), *args], env, tmp_path)
    assert code == 3 and dict(statuses(out))["timestamps"] == "not-checked"
    assert "CN=Evidence Untrusted TSA" in out["checks"][-1]["reason"]
    b.members["timestamps/0.tst"] = token[:-1] + bytes([token[-1] ^ 1])
    code, out, _ = script([str(b.zip(tmp_path / "c.zip")), *args], env, tmp_path)
    assert code == 1 and out["checks"][-1]["reason"] == \
        "token 0: the CMS signature does not verify"
